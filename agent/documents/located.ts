// YAML and JSON documents that remember where each value came from, so that an
// error can name the file, the line and the field. Read as Kubernetes reads them
// (kubernetes-yaml.ts); JSON is read as YAML, which it is.

import { Composer, type Document, isMap, isNode, isPair, isScalar, isSeq, LineCounter, Parser, parseDocument } from "yaml";
import { readBoundedFile, type ReadLimits } from "../files/read.js";
import { printable } from "../text/printable.js";
import { KUBERNETES_YAML_OPTIONS, kubernetesYamlProblems } from "./kubernetes-yaml.js";

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

/** One line, whatever the file name, field or message hold (control characters escaped). */
export function formatInputError(error: InputError): string {
  const where = [error.file, error.line, error.column].filter((part) => part !== undefined).join(":");
  return printable(error.field ? `${where}: ${error.field}: ${error.message}` : `${where}: ${error.message}`);
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

/**
 * The syntax tree of a document, parsed again from its own span of the text only when an error
 * in it must be located: a tree costs about 37 bytes of heap per byte of YAML, the values
 * about 6 (bench/manifest-heap.mjs), so a file keeps its values, its text, where each line and
 * each document starts, and the trees of the documents that had errors.
 */
class SourceTrees {
  private readonly spans = new Map<number, readonly [number, number]>();
  private readonly trees = new Map<number, Document.Parsed>();

  constructor(
    private readonly text: string,
    readonly lineCounter: LineCounter,
  ) {}

  addSpan(index: number, start: number, end: number): void {
    this.spans.set(index, [start, end]);
  }

  /** The document's tree, its ranges relative to offset. */
  document(index: number): { doc: Document.Parsed; offset: number } | undefined {
    const span = this.spans.get(index);
    if (!span) return undefined;
    let doc = this.trees.get(index);
    if (!doc) {
      doc = parseDocument(this.text.slice(span[0], span[1]), KUBERNETES_YAML_OPTIONS) as Document.Parsed;
      this.trees.set(index, doc);
    }
    return { doc, offset: span[0] };
  }
}

function position(lineCounter: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/**
 * Parses YAML (or JSON) documents as Kubernetes reads them (documents/kubernetes-yaml.ts).
 * Documents are composed one at a time and only their values kept.
 */
export function parseDocuments(
  text: string,
  file: string,
): { documents: LocatedDocument[]; errors: InputError[] } {
  const lineCounter = new LineCounter();
  const trees = new SourceTrees(text, lineCounter);
  const errors: InputError[] = [];
  const documents: LocatedDocument[] = [];
  // The parser marks an error it cannot place with offset -1.
  const at = (offset: number | undefined): { line?: number; column?: number } => (offset === undefined || offset < 0 ? {} : position(lineCounter, offset));
  const composer = new Composer(KUBERNETES_YAML_OPTIONS);
  let index = 0;
  for (const doc of composer.compose(new Parser(lineCounter.addNewLine).parse(text), true)) {
    const docIndex = index++;
    if (doc.range) trees.addSpan(docIndex, doc.range[0], doc.range[2]);
    if (doc.errors.length > 0) {
      for (const error of doc.errors) errors.push({ file, ...at(error.pos[0]), message: `invalid YAML/JSON: ${firstLine(error.message)}` });
      continue;
    }
    const problems = kubernetesYamlProblems(doc);
    if (problems.length > 0) {
      for (const problem of problems) {
        const field = formatFieldPath(problem.path);
        errors.push({ file, ...at(problem.offset), ...(field ? { field } : {}), message: problem.message });
      }
      continue;
    }
    if (doc.contents === null) continue; // an empty document between "---" separators
    try {
      const value: unknown = doc.toJS({ maxAliasCount: 100 });
      documents.push(locatedDocument(value, file, docIndex, trees, objectStarts(doc, lineCounter)));
    } catch (error) {
      // toJS throws on an alias to no anchor, a bad merge source, too many alias expansions.
      errors.push({ file, ...at(doc.contents.range?.[0]), message: `invalid YAML/JSON: ${firstLine(error instanceof Error ? error.message : String(error))}` });
    }
  }
  return { documents, errors };
}

/** The key of a path whose location objectStarts() keeps: the document, or an item of its list. */
function startKey(path: FieldPath): string | undefined {
  if (path.length === 0) return "";
  return path.length === 2 && path[0] === "items" && typeof path[1] === "number" ? `items.${path[1]}` : undefined;
}

/**
 * Where each object of a document starts: the document itself, or each item of a List. Every
 * object's place is wanted (a policy says where it is defined), so these are kept as the
 * document is parsed, and locating them never costs a syntax tree.
 */
function objectStarts(doc: Document.Parsed, lineCounter: LineCounter): Map<string, Location> {
  const starts = new Map<string, Location>();
  const root = doc.contents;
  if (root?.range) starts.set("", position(lineCounter, root.range[0]));
  const items = isMap(root) ? root.items.find((pair) => isScalar(pair.key) && pair.key.value === "items")?.value : undefined;
  if (isSeq(items)) {
    items.items.forEach((item, i) => {
      if (isNode(item) && item.range) starts.set(`items.${i}`, position(lineCounter, item.range[0]));
    });
  }
  return starts;
}

function locatedDocument(value: unknown, file: string, index: number, trees: SourceTrees, starts: ReadonlyMap<string, Location>): LocatedDocument {
  return {
    file,
    index,
    value,
    locate(path) {
      const start = startKey(path);
      if (start !== undefined && starts.has(start)) return starts.get(start);
      const parsed = trees.document(index);
      if (!parsed) return undefined;
      let node: unknown = parsed.doc.contents;
      let found = node;
      for (const key of path) {
        if (isMap(node)) {
          const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(key));
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
      return position(trees.lineCounter, parsed.offset + found.range[0]);
    },
  };
}

/** A file named by the user, read with a size cap (files/read.ts): its text, or one located error. */
export async function readInputFile(file: string, limits: ReadLimits): Promise<{ ok: true; text: string; bytes: number } | { ok: false; error: InputError }> {
  const read = await readBoundedFile(file, limits);
  if (read.ok) return { ok: true, text: read.text, bytes: read.bytes };
  // The reader's message starts with the path, which the error carries on its own.
  const prefix = `${file}: `;
  return { ok: false, error: { file, message: read.message.startsWith(prefix) ? read.message.slice(prefix.length) : read.message } };
}

/** A file of YAML or JSON documents, read with a size cap. */
export async function readDocuments(file: string, limits: ReadLimits): Promise<{ documents: LocatedDocument[]; errors: InputError[] }> {
  const read = await readInputFile(file, limits);
  return read.ok ? parseDocuments(read.text, file) : { documents: [], errors: [read.error] };
}
