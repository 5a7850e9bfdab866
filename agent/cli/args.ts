// Command-line options, parsed with node:util parseArgs; a mistyped option gets the
// nearest known one suggested, so that every command answers a typo the same way.

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./command.js";
import { nearest, suggestion } from "./suggest.js";

/** The option parseArgs names in its "Unknown option '--x'" message. */
function unknownOption(error: unknown): string | undefined {
  if ((error as NodeJS.ErrnoException).code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION") return undefined;
  return /'(-[^']*)'/.exec((error as Error).message)?.[1];
}

/** "unknown option --manifest (did you mean --manifests?)", or undefined for another error. */
export function describeUnknownOption(error: unknown, known: readonly string[]): string | undefined {
  const option = unknownOption(error);
  if (option === undefined) return undefined;
  const name = option.replace(/^--?/, "").split("=")[0] ?? "";
  const guess = option.startsWith("--") || name.length > 1 ? nearest(name, known) : undefined;
  return `unknown option ${option}${suggestion(guess, "option")}`;
}

/** parseArgs, with an unknown option reported as a usage error that suggests the nearest known one. */
export function parseOptions<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const message = describeUnknownOption(error, Object.keys(config.options ?? {}));
    if (message !== undefined) throw new UsageError(message);
    throw error;
  }
}
