// Runs the compiled netcanary CLI as a user would.
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
