// The version of this build and the Node.js it needs, both from package.json (next to
// dist/ in the package and the image, next to agent/ in a checkout). This module imports
// nothing but node:fs, so that it can run on any Node.js before anything else is loaded.

import { readFileSync } from "node:fs";

interface PackageInfo {
  readonly version: string;
  readonly nodeRange: string;
}

let cached: PackageInfo | undefined;

/** The version and engines.node of this package ("unknown" and "" where package.json says nothing). */
export function packageInfo(): PackageInfo {
  if (cached) return cached;
  let json: { version?: unknown; engines?: { node?: unknown } } = {};
  try {
    json = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as typeof json;
  } catch {
    // an unusual install without package.json: say "unknown" rather than fail
  }
  cached = {
    version: typeof json.version === "string" ? json.version : "unknown",
    nodeRange: typeof json.engines?.node === "string" ? json.engines.node : "",
  };
  return cached;
}

/** The oldest Node.js version a range such as ">=22.19.0" allows; undefined when it is not of that form. */
export function minimumVersion(range: string): readonly number[] | undefined {
  const match = /^\s*>=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range);
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
}

function parseVersion(text: string): readonly number[] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/**
 * One plain line when this Node.js is older than the range allows (or unreadable), else
 * undefined. Pure: version strings in, a message out.
 */
export function nodeVersionProblem(running: string, range: string): string | undefined {
  const minimum = minimumVersion(range);
  if (!minimum) return undefined;
  const wanted = minimum.join(".").replace(/\.0$/, "");
  const have = parseVersion(running);
  const message = `netcanary needs Node.js >= ${wanted} (this is ${running}); install a newer Node.js (the container image has one)`;
  if (!have) return message;
  for (let i = 0; i < 3; i++) {
    const [a, b] = [have[i] ?? 0, minimum[i] ?? 0];
    if (a !== b) return a > b ? undefined : message;
  }
  return undefined;
}
