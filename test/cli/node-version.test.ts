// Every command checks the Node.js it runs on before loading anything that may fail on an
// older one, and says plainly what it needs. The check as a pure function, and the compiled
// CLI on a real older Node.js (the system's, where there is one).

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { minimumVersion, nodeVersionProblem, packageInfo } from "../../agent/cli/version.js";
import { runCommand } from "../support/lab.js";
import { cliPath, repoRoot } from "../support/cli.js";
import { describeWith } from "../support/prerequisites.js";

const RANGE = ">=22.19.0";

describe("the Node.js version check", () => {
  it("accepts the minimum and anything newer", () => {
    for (const version of ["22.19.0", "22.19.1", "22.20.0", "23.0.0", "24.21.0", "100.0.0"]) expect(nodeVersionProblem(version, RANGE), version).toBeUndefined();
  });

  it("refuses anything older in one plain line naming both versions", () => {
    expect(nodeVersionProblem("20.20.2", RANGE)).toBe("netcanary needs Node.js >= 22.19 (this is 20.20.2); install a newer Node.js (the container image has one)");
    for (const version of ["22.18.9", "22.9.0", "21.99.99", "18.0.0", "0.10.48"]) expect(nodeVersionProblem(version, RANGE), version).toContain(`(this is ${version})`);
  });

  it("compares numerically, not as text", () => {
    expect(nodeVersionProblem("22.100.0", ">=22.19.0")).toBeUndefined();
    expect(nodeVersionProblem("9.0.0", ">=22.19.0")).toBeDefined();
  });

  it("refuses a version it cannot read, and says nothing for a range it does not understand", () => {
    expect(nodeVersionProblem("banana", RANGE)).toContain("(this is banana)");
    expect(nodeVersionProblem("20.0.0", "^22 || ^24")).toBeUndefined();
    expect(minimumVersion(">= 22")).toEqual([22, 0, 0]);
  });

  it("reads its range from package.json's engines", () => {
    const json = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string; engines: { node: string } };
    expect(packageInfo()).toEqual({ version: json.version, nodeRange: json.engines.node });
  });
});

/** A Node.js older than package.json allows, on PATH or where Debian puts it; undefined if none. */
function olderNode(): { path: string; version: string } | undefined {
  const range = packageInfo().nodeRange;
  const candidates = new Set(["/usr/bin/node", "/usr/local/bin/node"]);
  try {
    for (const line of execFileSync("sh", ["-c", "which -a node"], { encoding: "utf8" }).split("\n")) if (line.trim()) candidates.add(line.trim());
  } catch {
    // no node on PATH at all
  }
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    try {
      const version = execFileSync(path, ["-p", "process.versions.node"], { encoding: "utf8", timeout: 10_000 }).trim();
      if (nodeVersionProblem(version, range)) return { path, version };
    } catch {
      // not runnable: try the next one
    }
  }
  return undefined;
}

const older = olderNode();

describeWith({ found: { [`a Node.js older than ${packageInfo().nodeRange} (on PATH, /usr/bin or /usr/local/bin)`]: older !== undefined } }, "the compiled CLI on an older Node.js", () => {
  // Each of these crashed with an internal TypeError on Node 20 (undici loads only on some paths).
  it.each(
    [["--help"], ["--version"], ["zscaler", "ranges", "--cloud", "zscaler.net"], ["once", "--kubeconfig", "/nonexistent/kubeconfig"], ["agent"]].map((args) => ({ command: `netcanary ${args.join(" ")}`, args })),
  )(
    "$command: one plain line, exit 2, nothing run",
    async ({ args }) => {
      const run = await runCommand([older?.path ?? "", cliPath, ...args], { cwd: repoRoot, timeoutMs: 15_000 });
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe(`netcanary needs Node.js >= 22.19 (this is ${older?.version}); install a newer Node.js (the container image has one)\n`);
      expect(run.code).toBe(2);
    },
  );
});
