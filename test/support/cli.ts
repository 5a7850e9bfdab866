// Runs the compiled netcanary CLI as a user would; many runs at once, a few at a time; or one
// run with every module it loads recorded (loadedModules).
//
// Each start of the CLI costs CPU, most of it module loading: 0.1 to 0.35 CPU-seconds for
// --help and the offline commands (a start loads only its command), about half a second for a
// run of once or agent (docs/benchmarks.md, "CLI start"). A test that checks
// many invocations one after the other takes N times that, and on a loaded machine (other
// suites on the two cores) many times more: runCliCases starts them a few at a time instead,
// each with its own deadline (which names the invocation), and says how long a test of that
// many cases may take at worst, so the test's limit follows its work.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
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

/** What one CLI start loaded: files under dist/ (as "cli/main.js") and the npm packages. */
export interface LoadedModules {
  readonly run: CliRun;
  readonly dist: readonly string[];
  readonly packages: readonly string[];
}

/** Runs the CLI with every module it loads recorded (test/support/module-trace.mjs). */
export async function loadedModules(args: readonly string[]): Promise<LoadedModules> {
  const dir = mkdtempSync(join(tmpdir(), "netcanary-modules-"));
  try {
    const trace = join(dir, "modules.txt");
    const hook = pathToFileURL(join(import.meta.dirname, "module-trace.mjs")).href;
    const { code, stdout, stderr } = await runCommand([process.execPath, "--import", hook, cliPath, ...args], {
      cwd: repoRoot,
      timeoutMs: 15_000,
      env: { NETCANARY_MODULE_TRACE: trace },
    });
    const files = readFileSync(trace, "utf8")
      .split("\n")
      .filter((url) => url.startsWith("file:"))
      .map((url) => fileURLToPath(url));
    const dist = join(repoRoot, "dist");
    const packages = files.flatMap((file) => /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(file)?.[1] ?? []);
    return {
      run: { code, stdout, stderr },
      dist: [...new Set(files.filter((file) => !relative(dist, file).startsWith("..")).map((file) => relative(dist, file).split("\\").join("/")))].sort(),
      packages: [...new Set(packages)].sort(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
