// The whole project is strict TypeScript, not only what `npm run build` compiles: the tests,
// their support code, the scripts and the benchmarks (test/tsconfig.json includes them all).
// Vitest and Node's type stripping run them without checking a single type, so this does.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "../support/cli.js";

it("the agent, tests, scripts and benchmarks type-check under the strict settings", () => {
  const tsc = spawnSync(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", join(repoRoot, "test", "tsconfig.json"), "--noEmit", "--pretty", "false"], {
    encoding: "utf8",
    timeout: 180_000,
  });
  expect(tsc.error).toBeUndefined();
  expect(tsc.stdout + tsc.stderr).toBe("");
  expect(tsc.status).toBe(0);
}, 200_000);
