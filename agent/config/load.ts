// Reading a configuration file: YAML in, a validated config or located errors out.

import { errorAt, type InputError, type LocatedDocument, parseDocuments, readInputFile } from "../documents/located.js";
import { CONFIGMAP_MAX_BYTES } from "../files/read.js";
import type { AgentConfig } from "./model.js";
import { configSchema, resolveConfig } from "./schema.js";

export type ConfigLoad = { readonly ok: true; readonly config: AgentConfig } | { readonly ok: false; readonly errors: readonly InputError[] };

function zodMessage(issue: { code: string; message: string; keys?: string[] }): string {
  if (issue.code === "unrecognized_keys") return "unknown field";
  // Zod's generic wording, made plain.
  return issue.message
    .replace(/^Invalid input: expected \w+, received undefined$/, "is required")
    .replace(/^Invalid input: /, "")
    .replace(/^expected (\w+), received (\w+)$/, "must be $1, got $2")
    .replace(/^Too small: expected number to be >=(\S+)$/, "must be at least $1")
    .replace(/^Too big: expected number to be <=(\S+)$/, "must be at most $1")
    .replace(/^Too small: expected array to have >=1 items$/, "must not be empty");
}

export function validateConfigDocument(doc: LocatedDocument): ConfigLoad {
  const parsed = configSchema.safeParse(doc.value ?? {});
  if (!parsed.success) {
    const errors: InputError[] = [];
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((part): part is string | number => typeof part !== "symbol");
      // An unknown field is reported at the field itself, one error per field.
      const keys = issue.code === "unrecognized_keys" ? issue.keys : [undefined];
      for (const key of keys) errors.push(errorAt(doc, key === undefined ? path : [...path, key], zodMessage(issue as never)));
    }
    return { ok: false, errors };
  }
  const resolved = resolveConfig(parsed.data);
  if (!resolved.config) return { ok: false, errors: resolved.issues.map((issue) => errorAt(doc, issue.path, issue.message)) };
  return { ok: true, config: resolved.config };
}

export function parseConfig(text: string, file: string): ConfigLoad {
  const { documents, errors } = parseDocuments(text, file);
  if (errors.length > 0) return { ok: false, errors };
  if (documents.length !== 1) {
    return { ok: false, errors: [{ file, line: 1, message: `expected exactly one YAML document, found ${documents.length}` }] };
  }
  return validateConfigDocument(documents[0] as LocatedDocument);
}

/**
 * Reads a config file of at most 1 MiB, what a ConfigMap can hold: anything larger, or
 * anything that is not a regular file (a FIFO, a device), is refused without being read.
 */
export async function loadConfigFile(file: string): Promise<ConfigLoad> {
  const read = await readInputFile(file, { maxBytes: CONFIGMAP_MAX_BYTES });
  return read.ok ? parseConfig(read.text, file) : { ok: false, errors: [read.error] };
}
