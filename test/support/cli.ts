// Runs the compiled netcanary CLI as a user would; many runs at once, a few at a time.
//
// Each start of the CLI costs about half a CPU-second of module loading. A test that checks
// many invocations one after the other takes N times that, and on a loaded machine (other
// suites on the two cores) many times more: runCliCases starts them a few at a time instead,
// each with its own deadline (which names the invocation), and says how long a test of that
// many cases may take at worst, so the test's limit follows its work.
import { join } from "node:path";
import { runCommand } from "./lab.ts";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const cliPath = join(repoRoot, "dist", "cli", "main.js");

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CliRun> {
  const { code, stdout, stderr } = await runCommand([process.execPath, cliPath, ...args], {
    cwd: options.cwd ?? repoRoot,
    timeoutMs: options.timeoutMs ?? 15_000,
    ...(options.env ? { env: options.env } : {}),
  });
  return { code, stdout, stderr };
}

/** How many CLI processes runCliCases runs at once. */
export const CLI_CONCURRENCY = 4;
/** Each invocation's deadline in runCliCases: the check that a run does not hang. */
export const CLI_CASE_TIMEOUT_MS = 20_000;

/** Runs `run` over every case, at most CLI_CONCURRENCY at a time; the results in the cases' order. */
export async function runCliCases<Case>(cases: readonly Case[], run: (item: Case) => Promise<CliRun>): Promise<CliRun[]> {
  const results: CliRun[] = new Array<CliRun>(cases.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < cases.length) {
      const index = next++;
      results[index] = await run(cases[index] as Case);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CLI_CONCURRENCY, cases.length) }, lane));
  return results;
}

/** The test timeout for runCliCases over `count` cases: every lane's runs each at their deadline, and a margin. */
export function cliCasesTimeoutMs(count: number): number {
  return Math.ceil(count / CLI_CONCURRENCY) * CLI_CASE_TIMEOUT_MS + 10_000;
}
