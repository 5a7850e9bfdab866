// Logs (pino): one JSON object per line for machines (a pipe, a file, a container's log),
// or one readable line per entry on a terminal. The text form is a view of the same JSON
// entry, so both carry the same fields; anything from outside (a pod name, a DNS answer, an
// error message) may hold control characters, and they are escaped before reaching a terminal
// (text/printable.ts, the one escaping every printed text goes through).

import { pino, type DestinationStream, type Logger } from "pino";
import { printable } from "../text/printable.js";

export type { Logger };

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** json, text, or auto: text when the destination is a terminal, JSON otherwise. */
export const LOG_FORMATS = ["auto", "json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
/** Fields every entry has, shown in the line's head or not at all. */
const HEAD_FIELDS = new Set(["level", "time", "msg", "app", "pid", "hostname"]);

function formatValue(value: unknown): string {
  if (typeof value === "string") return /^[\w.:/@+,-]+$/.test(value) ? value : printable(JSON.stringify(value));
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return printable(JSON.stringify(value) ?? String(value));
}

/**
 * One JSON log entry as a line for people: time, level, message, then key=value fields. An
 * error's stack follows on indented lines. Input that is not a JSON object is shown escaped.
 */
export function formatLogLine(json: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(json);
  } catch {
    return `${printable(json.replace(/\n$/, ""))}\n`;
  }
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return `${printable(json.replace(/\n$/, ""))}\n`;
  const record = entry as Record<string, unknown>;
  const level = typeof record["level"] === "number" ? (LEVEL_NAMES[record["level"]] ?? String(record["level"])) : "?";
  const time = typeof record["time"] === "string" ? record["time"] : typeof record["time"] === "number" ? new Date(record["time"]).toISOString() : "";
  const message = typeof record["msg"] === "string" ? printable(record["msg"]) : "";
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(record)) {
    if (HEAD_FIELDS.has(key)) continue;
    // pino's error serializer: {type, message, stack}; the message as the field, the stack below.
    if (key === "err" && typeof value === "object" && value !== null && typeof (value as { message?: unknown }).message === "string") {
      const error = value as { message: string; stack?: unknown };
      fields.push(`err=${formatValue(error.message)}`);
      if (typeof error.stack === "string") stack = error.stack;
      continue;
    }
    fields.push(`${printable(key)}=${formatValue(value)}`);
  }
  const head = [printable(time), level.padEnd(5), message].filter((part) => part !== "").join(" ");
  const line = fields.length > 0 ? `${head}  ${fields.join(" ")}` : head;
  const below = stack === undefined ? "" : stack.split("\n").slice(1).map((frame) => `\n    ${printable(frame.trim())}`).join("");
  return `${line}${below}\n`;
}

/** Whether entries are written as text: asked for, or auto on a terminal. */
export function writesText(format: LogFormat, destination: { readonly isTTY?: boolean }): boolean {
  return format === "text" || (format === "auto" && destination.isTTY === true);
}

/** A logger writing to the destination (default: stdout), as JSON or text (see LogFormat). */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream, format: LogFormat = "auto"): Logger {
  const options = { level, base: { app: "netcanary" }, timestamp: pino.stdTimeFunctions.isoTime };
  const target = destination ?? process.stdout;
  if (writesText(format, target as { isTTY?: boolean })) {
    const text: DestinationStream = { write: (line: string) => void target.write(formatLogLine(line)) };
    return pino(options, text);
  }
  return destination ? pino(options, destination) : pino(options);
}
