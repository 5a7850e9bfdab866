// Tests that start the CLI run the compiled build; make sure it is current.
import { execFileSync } from "node:child_process";
import { statSync, readdirSync } from "node:fs";
import { join } from "node:path";

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  const root = join(import.meta.dirname, "..", "..");
  let built = 0;
  try {
    built = statSync(join(root, "dist", "cli", "main.js")).mtimeMs;
  } catch {
    built = 0;
  }
  if (built < newestMtime(join(root, "agent"))) {
    try {
      execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.json")], {
        stdio: "inherit",
      });
    } catch {
      // tsc still emits on type errors. `make test` builds first and fails on them; here, a
      // partial edit elsewhere should not stop every test from running.
      console.warn("global setup: tsc reported type errors (see above); testing what it emitted");
    }
  }
}
