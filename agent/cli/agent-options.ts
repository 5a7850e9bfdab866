// Options shared by the commands that run probes (agent, once).

import { parseArgs } from "node:util";
import { createLogger, LOG_LEVELS, type LogLevel, type Logger } from "../daemon/log.js";
import { UsageError } from "./command.js";

export interface ProbeRunOptions {
  readonly configFile?: string;
  readonly manifests: readonly string[];
  readonly logger: Logger;
  readonly values: Record<string, string | boolean | string[] | undefined>;
}

export const PROBE_RUN_USAGE = `  --config <file>        configuration file (default: the built-in standalone config)
  --manifests <path>...  cluster state from manifest files or directories (repeatable);
                         the agent's identity is the pod POD_NAMESPACE/POD_NAME in them
  --log-level <level>    ${LOG_LEVELS.join(", ")}`;

export function parseProbeRunArgs(
  argv: readonly string[],
  extra: Record<string, { type: "string" | "boolean"; default?: string | boolean }>,
  logDestination?: NodeJS.WritableStream,
  defaultLogLevel: LogLevel = "info",
): ProbeRunOptions {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: "string" },
      manifests: { type: "string", multiple: true },
      "log-level": { type: "string", default: defaultLogLevel },
      ...extra,
    },
  });
  const level = values["log-level"] as string;
  if (!LOG_LEVELS.includes(level as LogLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  // "--manifests a b": extra paths arrive as positionals.
  const manifests = [...((values["manifests"] as string[] | undefined) ?? []), ...positionals];
  if (positionals.length > 0 && !values["manifests"]) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  return {
    ...(typeof values["config"] === "string" ? { configFile: values["config"] } : {}),
    manifests,
    logger: createLogger(level as LogLevel, logDestination),
    values: values as ProbeRunOptions["values"],
  };
}
