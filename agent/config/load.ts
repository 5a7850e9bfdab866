// Reading a configuration file: YAML in, a validated config or located errors out.

import { type InputError, InputErrors, type LocatedDocument, Reading, readDocumentsInto, readInputFile } from "../documents/located.js";
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
  // At most 100 shown, each located as it is found (documents/located.ts).
  const errors = new InputErrors();
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((part): part is string | number => typeof part !== "symbol");
      // An unknown field is reported at the field itself, one error per field.
      const keys = issue.code === "unrecognized_keys" ? issue.keys : [undefined];
      for (const key of keys) errors.at(doc, key === undefined ? path : [...path, key], zodMessage(issue as never));
    }
    return { ok: false, errors: errors.list() };
  }
  const resolved = resolveConfig(parsed.data);
  if (!resolved.config) {
    for (const issue of resolved.issues) errors.at(doc, issue.path, issue.message);
    return { ok: false, errors: errors.list() };
  }
  return { ok: true, config: resolved.config };
}

export function parseConfig(text: string, file: string): ConfigLoad {
  // The first document is validated as soon as it is read, while the tree it was read from
  // still locates its errors: a second syntax tree of a large config is never built.
  const reading = new Reading();
  let documents = 0;
  let first: ConfigLoad | undefined;
  readDocumentsInto(text, file, reading, (doc) => {
    if (documents++ === 0) first = validateConfigDocument(doc);
  });
  const errors = reading.errors.list();
  if (errors.length > 0) return { ok: false, errors };
  if (documents !== 1 || first === undefined) {
    return { ok: false, errors: [{ file, line: 1, message: `expected exactly one YAML document, found ${documents}` }] };
  }
  return first;
}

/**
 * Reads a config file of at most 1 MiB, what a ConfigMap can hold: anything larger, or
 * anything that is not a regular file (a FIFO, a device), is refused without being read.
 */
export async function loadConfigFile(file: string): Promise<ConfigLoad> {
  const read = await readInputFile(file, { maxBytes: CONFIGMAP_MAX_BYTES });
  return read.ok ? parseConfig(read.text, file) : { ok: false, errors: [read.error] };
}
