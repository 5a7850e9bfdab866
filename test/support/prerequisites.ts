// Tests that need root or Debian tools: they run where those exist. Elsewhere they
// skip and say what is missing; under CI=true a missing prerequisite is a failure.
import { execFileSync } from "node:child_process";
import { describe, it } from "vitest";

export interface Prerequisites {
  readonly root?: boolean;
  readonly commands?: readonly string[];
  /** Anything else a test needs, by what it is called in the skip message: found or not. */
  readonly found?: Readonly<Record<string, boolean>>;
}

function hasCommand(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function missingPrerequisites(needs: Prerequisites): string[] {
  const missing: string[] = [];
  if (needs.root && process.getuid?.() !== 0) missing.push("root");
  for (const command of needs.commands ?? []) if (!hasCommand(command)) missing.push(`command ${command}`);
  for (const [what, present] of Object.entries(needs.found ?? {})) if (!present) missing.push(what);
  return missing;
}

export const inCI = process.env["CI"] === "true";

/** describe() that skips (with the reason in its name) or, in CI, fails when prerequisites are missing. */
export function describeWith(needs: Prerequisites, name: string, body: () => void): void {
  const missing = missingPrerequisites(needs);
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const reason = `needs ${missing.join(", ")}`;
  if (inCI) {
    describe(name, () => {
      it("has its prerequisites", () => {
        throw new Error(`${name}: ${reason} (CI=true: a missing prerequisite is a failure)`);
      });
    });
    return;
  }
  console.warn(`SKIP ${name}: ${reason}`);
  describe.skip(`${name} [skipped: ${reason}]`, body);
}
