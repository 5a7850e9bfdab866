// The shape every subcommand shares, and the exit codes they agree on.

/**
 * 0: everything tested holds. 1: a finding (a signal, a failed expectation). 2: unusable
 * input (arguments, files, an unsupported Node.js). 3: inconclusive: something asked for was
 * not tested (a probe with nothing to probe, a cluster whose state could not be read).
 */
export const EXIT = { ok: 0, failed: 1, unusable: 2, inconclusive: 3 } as const;

export interface Output {
  stdout(line: string): void;
  stderr(line: string): void;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** Resolves to the process exit code. */
  run(argv: readonly string[], out: Output): Promise<number>;
}

/** Bad arguments: the usage text is printed and the exit code is 2. */
export class UsageError extends Error {}

export const consoleOutput: Output = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};
