// The whole project is strict TypeScript, not only what `npm run build` compiles: the tests,
// their support code, the scripts and the benchmarks (test/tsconfig.json includes them all).
// Vitest and Node's type stripping run them without checking a single type, so this does.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "../support/cli.js";

const TSC = join(repoRoot, "node_modules", "typescript", "bin", "tsc");

// tsconfig.json is what the build compiles (with noUnusedLocals); tsconfig.page.json the status
// page's script, the only code checked against the browser's types (the agent's never is);
// test/tsconfig.json adds the tests (with the browser's types, for what they run in Chromium),
// scripts and benchmarks.
it.each(["tsconfig.json", "tsconfig.page.json", "test/tsconfig.json"])("%s type-checks under the strict settings", (config) => {
  const tsc = spawnSync(process.execPath, [TSC, "-p", join(repoRoot, config), "--noEmit", "--pretty", "false"], { encoding: "utf8", timeout: 180_000 });
  expect(tsc.error).toBeUndefined();
  expect(tsc.stdout + tsc.stderr).toBe("");
  expect(tsc.status).toBe(0);
}, 200_000);
