// --min-rule-coverage, shared by `once` and `check`: the share of rules a run must exercise
// (derive/coverage.ts). A run with no rule at all proves nothing: that never passes.

import { type Coverage, gateCoverage } from "../derive/coverage.js";
import { EXIT } from "./command.js";
import { UsageError } from "./command.js";

export const MIN_RULE_COVERAGE_USAGE = `  --min-rule-coverage <percent>
                         fail (exit 1) when fewer than this share of the rules (0-100) were
                         exercised; no rule at all is inconclusive (exit 3)`;

/** The option's value as a percentage, or undefined when not given. */
export function parseMinRuleCoverage(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const percent = typeof value === "string" && /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(percent >= 0 && percent <= 100)) throw new UsageError("--min-rule-coverage must be a percentage from 0 to 100");
  return percent;
}

/** The exit code the gate asks for (undefined: it passes, or there is none), and what it says on stderr. */
export function coverageExit(coverage: Coverage, minPercent: number | undefined): { exit?: number; message?: string } {
  if (minPercent === undefined) return {};
  const gate = gateCoverage(coverage, minPercent);
  if (gate.result === "pass") return { message: gate.message };
  return { exit: gate.result === "fail" ? EXIT.failed : EXIT.inconclusive, message: gate.message };
}
