// Runs the whole vitest suite and ends with the line "N passed, N failed",
// counted from vitest's JSON report (not from its console summary).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const reportDir = join(root, ".cache");
const report = join(reportDir, "vitest-report.json");
mkdirSync(reportDir, { recursive: true });
rmSync(report, { force: true });

const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
const run = spawnSync(
  process.execPath,
  [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: "inherit" },
);

let passed = 0;
let failed = 0;
let skipped = 0;
let readable = true;
try {
  const json = JSON.parse(readFileSync(report, "utf8"));
  for (const file of json.testResults ?? []) {
    // A file that failed to load has no assertions but is a failure.
    if (file.status === "failed" && (file.assertionResults ?? []).length === 0) failed += 1;
    for (const test of file.assertionResults ?? []) {
      if (test.status === "passed") passed += 1;
      else if (test.status === "failed") failed += 1;
      else skipped += 1;
    }
  }
} catch (error) {
  readable = false;
  console.error(`No readable vitest JSON report at ${report}: ${error.message}`);
}
if (!readable || (run.status !== 0 && failed === 0)) failed += 1; // vitest itself failed: never report green
if (skipped > 0) console.log(`${skipped} skipped (each skip says what is missing)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
