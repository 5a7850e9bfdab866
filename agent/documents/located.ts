// YAML and JSON documents that remember where each value came from, so that an
// error can name the file, the line and the field. Read as Kubernetes reads them
// (kubernetes-yaml.ts); JSON is read as YAML, which it is.
//
// Reading is bounded whatever the text says (DOCUMENT_LIMITS): a document's size and nesting
// are checked as it is parsed, before its syntax tree grows past them; what aliases may add is
// counted across the files of one load; and at most 100 errors a file are built and located,
// the rest counted, so that a file of 20,000 broken documents costs no more heap than a good one.

import { type CST, Composer, type Document, isMap, isNode, isPair, isScalar, isSeq, Lexer, LineCounter, Parser, parseDocument } from "yaml";
import { readBoundedFile, type ReadLimits } from "../files/read.js";
import { printable } from "../text/printable.js";
import { KUBERNETES_YAML_OPTIONS, kubernetesYamlProblems, YAML_BOUNDS } from "./kubernetes-yaml.js";

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

/** What reading documents may cost (docs/cluster.md; bench/manifest-heap.mjs measures it). */
export const DOCUMENT_LIMITS = {
  /**
   * Tokens in one document (words, punctuation, line breaks: a manifest has about 0.43 per
   * byte, so some 700 KB). While a document is parsed its syntax tokens take 144 to 241 bytes
   * of heap per token (bench/manifest-heap.mjs), its tree some 70 more: what the agent's heap
   * holds beside everything else, with room to spare.
   */
  documentTokens: 300_000,
  /** Errors built and shown per file; the rest are counted. */
  errorsPerFile: 100,
  /** Values that expanding aliases may add to what one load reads, all its files together. */
  aliasValues: 100_000,
} as const;

/**
 * The errors found while reading, at most DOCUMENT_LIMITS.errorsPerFile shown per file: the
 * rest are counted and summed up in one line per file, never built (locating an error may parse
 * its document again).
 */
export class InputErrors {
  private readonly shown: InputError[] = [];
  private readonly counts = new Map<string, number>();
  private readonly perFile = DOCUMENT_LIMITS.errorsPerFile;

  /** Counts an error of the file, and builds it with make() only if it is to be shown. */
  add(file: string, make: () => InputError): void {
    const count = (this.counts.get(file) ?? 0) + 1;
    this.counts.set(file, count);
    if (count <= this.perFile) this.shown.push(make());
  }

  /** Errors already built. */
  push(errors: readonly InputError[]): void {
    for (const error of errors) this.add(error.file, () => error);
  }

  /** An error at a field of a document, located only if it is to be shown. */
  at(doc: LocatedDocument, path: FieldPath, message: string): void {
    this.add(doc.file, () => errorAt(doc, path, message));
  }

  /** The errors shown, in the order found, then one line per file whose errors were not all shown. */
  list(): InputError[] {
    const more: InputError[] = [];
    for (const [file, count] of this.counts) {
      if (count > this.perFile) more.push({ file, message: `and ${(count - this.perFile).toLocaleString("en-US")} more problems in this file (the first ${this.perFile} are shown)` });
    }
    return [...this.shown, ...more];
  }
}

/** What the files of one load share while they are read: their errors, and what aliases may still add. */
export class Reading {
  readonly errors = new InputErrors();
  private aliasValuesLeft: number = DOCUMENT_LIMITS.aliasValues;

  /** Takes what a document's aliases add from what the load may still add: false once it is spent. */
  spendAliasValues(values: number): boolean {
    this.aliasValuesLeft -= values;
    return this.aliasValuesLeft >= 0;
  }
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/**
 * The syntax tree of a document, to locate errors in it: the tree the document was read from
 * while it is handed on (readDocumentsInto's onDocument), and after that parsed again from its
 * own span of the text, only when an error in it must be located. A tree costs about 37 bytes of
 * heap per byte of YAML, the values about 6 (bench/manifest-heap.mjs), so a file keeps its
 * values, its text, where each line and each document starts, and the tree of the last
 * document located (errors are located as they are found, a document's together).
 */
class SourceTrees {
  private readonly spans = new Map<number, readonly [number, number]>();
  private last: { readonly index: number; readonly doc: Document.Parsed; readonly offset: number } | undefined;

  constructor(
    private readonly text: string,
    readonly lineCounter: LineCounter,
  ) {}

  addSpan(index: number, start: number, end: number): void {
    this.spans.set(index, [start, end]);
  }

  /** The tree a document was just read from, used until release(). */
  live(index: number, doc: Document.Parsed): void {
    this.last = { index, doc, offset: 0 };
  }

  release(index: number): void {
    if (this.last?.index === index) this.last = undefined;
  }

  /** The document's tree, its ranges relative to offset. */
  document(index: number): { doc: Document.Parsed; offset: number } | undefined {
    if (this.last?.index === index) return this.last;
    const span = this.spans.get(index);
    if (!span) return undefined;
    this.last = undefined; // the previous tree may go before the next is built
    const doc = parseDocument(this.text.slice(span[0], span[1]), KUBERNETES_YAML_OPTIONS) as Document.Parsed;
    this.last = { index, doc, offset: span[0] };
    return this.last;
  }
}

function position(lineCounter: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/** The parser's stack holds one or two entries per list or map: past this, a document nests deeper than YAML_BOUNDS.depth. */
const MAX_PARSER_STACK = 2 * YAML_BOUNDS.depth + 8;

/** Why reading a file stopped before its end, and where. */
interface Stop {
  readonly offset: number;
  readonly message: string;
}

/**
 * Parses the text lexeme by lexeme, handing each top-level syntax token (a document, a
 * directive, ...) to onToken and calling settle after each step, once the parser has let go of
 * the tokens it handed on. Stops as soon as a document is larger or deeper than the bounds,
 * and says why: the syntax tree is built as the text is parsed, so the bounds must hold while
 * it grows, not after.
 */
function parseBounded(text: string, lineCounter: LineCounter, onToken: (token: CST.Token) => void, settle: () => void): Stop | undefined {
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0);
  let documentStart = 0;
  let tokens = 0;
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) {
      documentStart = parser.offset;
      tokens = 0;
      onToken(token);
    }
    settle();
    if (parser.stack.length > MAX_PARSER_STACK) {
      return { offset: parser.offset, message: `nested more than ${YAML_BOUNDS.depth} lists and maps deep; the rest of the file is not read` };
    }
    if (++tokens > DOCUMENT_LIMITS.documentTokens) {
      const limit = DOCUMENT_LIMITS.documentTokens.toLocaleString("en-US");
      return { offset: documentStart, message: `a document of more than ${limit} YAML tokens (about 700 KB of manifests; put its objects in documents of their own, separated by ---); the rest of the file is not read` };
    }
  }
  for (const token of parser.end()) onToken(token);
  settle();
  return undefined;
}

/** Anything but a comment after a document-end marker (...): where it is, and what. */
function documentEndProblem(token: CST.DocumentEnd): { offset: number; message: string } | undefined {
  const unexpected = token.end?.find((part) => part.type !== "space" && part.type !== "comment" && part.type !== "newline");
  return unexpected ? { offset: unexpected.offset, message: `invalid YAML/JSON: unexpected ${unexpected.type} after the document end marker (...)` } : undefined;
}

/** A YAML directive (%YAML, %TAG): refused, since kubectl cannot read a file that has one. */
function directiveProblem(token: CST.Directive): { offset: number; message: string } {
  const message = `the directive ${token.source.trim()} is refused: kubectl splits a file at its --- lines and reads the directive alone, which it refuses (and %YAML other than 1.1 is refused whole); remove it`;
  return { offset: token.offset, message };
}

type Report = (offset: number | undefined, message: string, field?: string) => void;

/** The value of a composed document; none (an empty document) or undefined once its problems are reported. */
function documentValue(doc: Document.Parsed, reading: Reading, report: Report): { value: unknown } | undefined {
  if (doc.errors.length > 0) {
    for (const error of doc.errors) report(error.pos[0], `invalid YAML/JSON: ${firstLine(error.message)}`);
    return undefined;
  }
  const checked = kubernetesYamlProblems(doc);
  if (checked.problems.length > 0) {
    for (const problem of checked.problems) report(problem.offset, problem.message, formatFieldPath(problem.path));
    return undefined;
  }
  if (doc.contents === null) return undefined; // an empty document between "---" separators
  if (!reading.spendAliasValues(checked.aliasValues)) {
    report(doc.contents.range?.[0], `aliases would add more than ${DOCUMENT_LIMITS.aliasValues.toLocaleString("en-US")} values written out, in the files read together; write the values out`);
    return undefined;
  }
  try {
    return { value: doc.toJS({ maxAliasCount: YAML_BOUNDS.aliasExpansions }) as unknown };
  } catch (error) {
    // toJS throws on an alias to no anchor, a bad merge source, too many alias expansions.
    report(doc.contents.range?.[0], `invalid YAML/JSON: ${firstLine(error instanceof Error ? error.message : String(error))}`);
    return undefined;
  }
}

/**
 * Parses YAML (or JSON) documents as Kubernetes reads them (documents/kubernetes-yaml.ts),
 * within DOCUMENT_LIMITS. Documents are composed one at a time and only their values kept.
 */
export function parseDocuments(text: string, file: string): { documents: LocatedDocument[]; errors: InputError[] } {
  const reading = new Reading();
  const documents = readDocumentsInto(text, file, reading);
  return { documents, errors: reading.errors.list() };
}

/**
 * The documents of one file of a load; their errors go to the reading the load's files share.
 * With onDocument, each document is handed on as soon as it is read, while the tree it was read
 * from still locates its errors for free, and none is returned: the caller keeps what it takes.
 */
export function readDocumentsInto(text: string, file: string, reading: Reading, onDocument?: (doc: LocatedDocument) => void): LocatedDocument[] {
  const lineCounter = new LineCounter();
  const trees = new SourceTrees(text, lineCounter);
  const documents: LocatedDocument[] = [];
  // The parser marks an error it cannot place with offset -1.
  const at = (offset: number | undefined): { line?: number; column?: number } => (offset === undefined || offset < 0 ? {} : position(lineCounter, offset));
  const report: Report = (offset, message, field) => reading.errors.add(file, () => ({ file, ...at(offset), ...(field ? { field } : {}), message }));
  let index = 0;
  const take = (doc: Document.Parsed): void => {
    const docIndex = index++;
    if (doc.range) trees.addSpan(docIndex, doc.range[0], doc.range[2]);
    const read = documentValue(doc, reading, report);
    if (!read) return;
    const located = locatedDocument(read.value, file, docIndex, trees, objectStarts(doc, lineCounter));
    if (!onDocument) {
      documents.push(located);
      return;
    }
    trees.live(docIndex, doc);
    onDocument(located);
    trees.release(docIndex);
  };
  // Each document is composed as soon as it is parsed and taken once the parser has let go of
  // its syntax tokens: one document's tokens and tree are held at a time, never two. (The
  // composer would hold a document until the next one starts, to give it the comments and
  // the "..." marker that follow; neither changes its value.)
  const composer = new Composer(KUBERNETES_YAML_OPTIONS);
  const composed: Document.Parsed[] = [];
  const onToken = (token: CST.Token): void => {
    const problem = token.type === "doc-end" ? documentEndProblem(token) : token.type === "directive" ? directiveProblem(token) : undefined;
    if (problem) report(problem.offset, problem.message);
    if (token.type === "doc-end") return;
    for (const doc of composer.next(token)) composed.push(doc);
    if (token.type === "document") for (const doc of composer.end(false)) composed.push(doc);
  };
  const stop = parseBounded(text, lineCounter, onToken, () => {
    for (const doc of composed.splice(0)) take(doc);
  });
  // Errors after the last document, or an empty stream.
  for (const doc of composer.end(true)) take(doc);
  if (stop) report(stop.offset, stop.message);
  return documents;
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
  // An empty document (a lone "..."): where the document starts.
  const start = root?.range?.[0] ?? doc.range[0];
  starts.set("", position(lineCounter, start));
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
      if (!parsed) return starts.get("");
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
      if (!isNode(found) || !found.range) return starts.get("");
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
