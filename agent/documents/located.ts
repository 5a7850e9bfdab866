// YAML and JSON documents that remember where each value came from, so that an
// error can name the file, the line and the field (JSON is parsed as YAML 1.2).

import { readFile } from "node:fs/promises";
import { type Document, isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseAllDocuments } from "yaml";

export type FieldPath = readonly (string | number)[];

/** An error in user input, located as precisely as we can. */
export interface InputError {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** Dotted path of the field, e.g. "spec.ingress[0].ports[1].endPort". */
  readonly field?: string;
  readonly message: string;
}

export interface Location {
  readonly line: number;
  readonly column: number;
}

export interface LocatedDocument {
  readonly file: string;
  /** 0-based position of this document within a multi-document file. */
  readonly index: number;
  readonly value: unknown;
  /** Where the field at this path is written; the nearest existing ancestor when it is absent. */
  locate(path: FieldPath): Location | undefined;
}

export function formatFieldPath(path: FieldPath): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else text += text === "" ? part : `.${part}`;
  }
  return text;
}

export function formatInputError(error: InputError): string {
  const where = [error.file, error.line, error.column].filter((part) => part !== undefined).join(":");
  return error.field ? `${where}: ${error.field}: ${error.message}` : `${where}: ${error.message}`;
}

/** An error located at a field of a document. */
export function errorAt(doc: LocatedDocument, path: FieldPath, message: string): InputError {
  const location = doc.locate(path);
  const field = formatFieldPath(path);
  return {
    file: doc.file,
    ...(location ? { line: location.line, column: location.column } : {}),
    ...(field ? { field } : {}),
    message,
  };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

export function parseDocuments(
  text: string,
  file: string,
): { documents: LocatedDocument[]; errors: InputError[] } {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const all = Array.isArray(parsed) ? parsed : [];
  const errors: InputError[] = [];
  const documents: LocatedDocument[] = [];
  all.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const position = error.linePos?.[0];
        errors.push({
          file,
          ...(position ? { line: position.line, column: position.col } : {}),
          message: `invalid YAML/JSON: ${firstLine(error.message).replace(/ at line \d+, column \d+:?$/, "")}`,
        });
      }
      return;
    }
    if (doc.contents === null) return; // an empty document between "---" separators
    try {
      documents.push(locatedDocument(doc, file, index, lineCounter));
    } catch (error) {
      // toJS throws on an alias to no anchor and on too many alias expansions.
      const position = doc.contents.range ? lineCounter.linePos(doc.contents.range[0]) : undefined;
      errors.push({
        file,
        ...(position ? { line: position.line, column: position.col } : {}),
        message: `invalid YAML/JSON: ${firstLine(error instanceof Error ? error.message : String(error))}`,
      });
    }
  });
  return { documents, errors };
}

function locatedDocument(doc: Document.Parsed, file: string, index: number, lineCounter: LineCounter): LocatedDocument {
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  return {
    file,
    index,
    value,
    locate(path) {
      let node: unknown = doc.contents;
      let found = node;
      for (const key of path) {
        if (isMap(node)) {
          const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === key);
          if (!pair) break;
          // A field that is present is located at its key; descend into its value.
          found = pair.key ?? pair.value;
          node = pair.value;
          if (node === null || node === undefined) break;
        } else if (isSeq(node) && typeof key === "number") {
          const item = node.items[key];
          if (item === undefined) break;
          found = item;
          node = item;
        } else {
          break;
        }
      }
      if (!isNode(found) || !found.range) return undefined;
      const position = lineCounter.linePos(found.range[0]);
      return { line: position.line, column: position.col };
    },
  };
}

export async function readDocuments(
  file: string,
): Promise<{ documents: LocatedDocument[]; errors: InputError[] }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    return { documents: [], errors: [{ file, message: `cannot read file (${code})` }] };
  }
  return parseDocuments(text, file);
}
