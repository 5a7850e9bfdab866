// Options shared by the commands that read recorded traffic maps (map, advise): the map files
// as arguments, --manifests, --output in one of two formats, and printing the result in the
// format asked for. One place, so both refuse and print the same way.

import type { ParseArgsOptionsConfig } from "node:util";
import { printableJson } from "../text/printable.js";
import { parseOptions } from "./args.js";
import { type Output, UsageError } from "./command.js";

/** --manifests, placed by each command among its own options (their order orders the typo suggestions). */
export const MANIFESTS_OPTION = { manifests: { type: "string", multiple: true } } as const;

/**
 * The command's options, then --output (default: the first format); at least one map file, and
 * an --output among the formats, or a usage error.
 */
export function parseFlowArgs<const O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O, formats: readonly [string, "json"]) {
  const parsed = parseOptions({
    args: [...argv],
    allowPositionals: true,
    options: { ...options, output: { type: "string", default: formats[0] } },
  });
  if (parsed.positionals.length === 0) throw new UsageError("a map file is required (the JSON the agent records)");
  const output = (parsed.values as Record<string, unknown>)["output"] as string;
  if (output !== formats[0] && output !== formats[1]) throw new UsageError(`--output must be ${formats[0]} or ${formats[1]}, got "${output}"`);
  return { ...parsed, output };
}

/** The result as one JSON document, or as the command's text. */
export function printResult(out: Output, output: string, json: unknown, printText: () => void): void {
  if (output === "json") for (const line of printableJson(json)) out.stdout(line);
  else printText();
}
