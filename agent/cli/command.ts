// The shape every subcommand shares, the exit codes they agree on, and the one way they print.
// Everything printed is one line at a time, its control characters escaped (a newline too):
// names and messages from outside cannot forge a line of a CI log, whichever call site prints
// them. Text of several lines (a usage text, a table, JSON) is split by the one who prints it.

import { printable } from "../text/printable.js";

/**
 * 0: everything tested holds. 1: a finding (a signal, a failed expectation). 2: unusable
 * input (arguments, files, an unsupported Node.js). 3: inconclusive: something asked for was
 * not tested (a probe with nothing to probe, a cluster whose state could not be read).
 */
export const EXIT = { ok: 0, failed: 1, unusable: 2, inconclusive: 3 } as const;

/** Where a command prints: one line per call, without its newline. */
export interface Output {
  stdout(line: string): void;
  stderr(line: string): void;
}

/**
 * A subcommand, as its module exports it. Its name and one-line summary are in netcanary.ts's
 * list of commands, which loads a command's module only when that command runs.
 */
export interface Command {
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

/**
 * The output every command gets: each line printed with its control characters escaped,
 * newlines included, so that whatever a line holds it stays one line.
 */
export function escapingOutput(output: Output): Output {
  return { stdout: (line) => output.stdout(printable(line)), stderr: (line) => output.stderr(printable(line)) };
}

/** Text of several lines (a usage text, a report), printed a line at a time. */
export function printLines(print: (line: string) => void, text: string): void {
  for (const line of text.split("\n")) print(line);
}
