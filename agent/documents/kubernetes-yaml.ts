// YAML read the way Kubernetes reads it. kubectl, the API server and Helm turn YAML into JSON
// with sigs.k8s.io/yaml, which parses with go-yaml v2: YAML 1.1 types, not YAML 1.2's. Read
// as YAML 1.2 (the yaml library's default), `port: 0755` would be 755 where Kubernetes sees
// 493, `<<: *defaults` would be a field named "<<" where Kubernetes merges the defaults in,
// and `env: on` a string where Kubernetes sees true: `check` would judge a different object
// from the one the cluster runs. So:
//
// - A plain (unquoted, untagged) scalar resolves exactly as go-yaml v2's resolve() does:
//   y/yes/on/n/no/off in their three spellings are booleans; 0755 is octal, 0x1F and 0b101
//   are hex and binary, underscores are dropped from numbers, 1e3 is a float, and
//   timestamps stay strings (as go-yaml v2 leaves them for untyped values).
// - Merge keys (`<<`) are applied. Where go-yaml v2 and the YAML merge rule (which
//   kustomize's go-yaml v3 follows) disagree, the document is refused rather than read one
//   way: a key written before a `<<` that also provides it (go-yaml v2 lets the merged value
//   win, v3 and the YAML rule the explicit one), and two `<<` keys in one map.
// - What cannot be read the same way is refused: explicit tags other than !!str, !!map and
//   !!seq, map keys that are collections or null, and keys Kubernetes would turn into
//   strings differently (floats, integers beyond 2^53), duplicate keys, and an alias inside the
//   node it names (go-yaml v2: "anchor value contains itself").
// - Aliases are bounded before anything expands them: a document whose aliases would resolve
//   more than YAML_BOUNDS.aliasExpansions times written out (nested `<<: [*a, *a]` doubles at
//   each level: a kilobyte can stand for 2^30 maps), or nest deeper than YAML_BOUNDS.depth, is
//   refused at the alias that passes the bound. The check visits each node once and keeps what
//   an anchored node expands to, so it costs time in proportion to the text, whatever the
//   aliases say (the yaml library's own duplicate-key check and alias lookup do not: keys are
//   checked here, with a set per map).
//
// Numbers beyond 2^53 are kept as the nearest double: no field the engine reads goes near.

import { type Alias, type Document, isAlias, isMap, isScalar, isSeq, type Node, type ParseOptions, type DocumentOptions, type SchemaOptions, type ScalarTag, type Tags } from "yaml";

export type PlainValue = string | number | boolean | null;

/** go-yaml v2's table of words: booleans, nulls, infinities and NaN, in their YAML 1.1 spellings. */
const WORDS: ReadonlyMap<string, PlainValue> = new Map<string, PlainValue>([
  ...["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"].map((w): [string, PlainValue] => [w, true]),
  ...["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"].map((w): [string, PlainValue] => [w, false]),
  ...["", "~", "null", "Null", "NULL"].map((w): [string, PlainValue] => [w, null]),
  ...[".nan", ".NaN", ".NAN"].map((w): [string, PlainValue] => [w, Number.NaN]),
  ...[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].map((w): [string, PlainValue] => [w, Number.POSITIVE_INFINITY]),
  ...["-.inf", "-.Inf", "-.INF"].map((w): [string, PlainValue] => [w, Number.NEGATIVE_INFINITY]),
]);

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const MAX_UINT64 = (1n << 64n) - 1n;
const MIN_INT64 = -(1n << 63n);
const MAX_INT64 = (1n << 63n) - 1n;

type IntParse = { ok: true; value: bigint } | { ok: false; range: boolean };

function digitValue(c: string): number {
  const code = c.toLowerCase().charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  return 99;
}

/** Go's strconv.ParseUint(s, base, 64); base 0 reads the prefix (0x, 0o, 0b, or 0 for octal). */
function parseUint(text: string, base: number, limit: bigint | undefined = MAX_UINT64): IntParse {
  let s = text;
  if (s === "") return { ok: false, range: false };
  const base0 = base === 0;
  if (base0) {
    base = 10;
    if (s[0] === "0") {
      const prefix = s.length >= 3 ? s[1]?.toLowerCase() : undefined;
      if (prefix === "b") [base, s] = [2, s.slice(2)];
      else if (prefix === "o") [base, s] = [8, s.slice(2)];
      else if (prefix === "x") [base, s] = [16, s.slice(2)];
      else [base, s] = [8, s.slice(1)];
    }
  }
  let n = 0n;
  for (const c of s) {
    // Underscores were removed before any call with base 0; with another base they are errors.
    const d = digitValue(c);
    if (d >= base) return { ok: false, range: false };
    n = n * BigInt(base) + BigInt(d);
    // Go stops at the first overflow, whatever follows.
    if (limit !== undefined && n > limit) return { ok: false, range: true };
  }
  return { ok: true, value: n };
}

/** Go's strconv.ParseInt(s, base, 64). */
function parseInt64(text: string, base: number): IntParse {
  if (text === "") return { ok: false, range: false };
  const negative = text[0] === "-";
  const digits = text[0] === "+" || text[0] === "-" ? text.slice(1) : text;
  const parsed = parseUint(digits, base);
  if (!parsed.ok) return parsed;
  const value = negative ? -parsed.value : parsed.value;
  if (value > MAX_INT64 || value < MIN_INT64) return { ok: false, range: true };
  return { ok: true, value };
}

/** Go's underscoreOK: underscores only between digits (or after a base prefix). */
function underscoresOk(text: string): boolean {
  let s = text;
  if (s[0] === "-" || s[0] === "+") s = s.slice(1);
  let saw = "^";
  let i = 0;
  let hex = false;
  if (s.length >= 2 && s[0] === "0" && "box".includes(s[1]?.toLowerCase() ?? "")) {
    i = 2;
    saw = "0";
    hex = s[1]?.toLowerCase() === "x";
  }
  for (; i < s.length; i++) {
    const c = s[i] as string;
    if ((c >= "0" && c <= "9") || (hex && /[a-f]/i.test(c))) {
      saw = "0";
      continue;
    }
    if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
      continue;
    }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}

/** A Go float64 from text already known to be decimal; undefined where Go reports a range error. */
function finite(text: string): number | undefined {
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** A scalar starting with ".": Go's strconv.ParseFloat on the text as written. */
function resolveDotted(text: string): PlainValue {
  if (!/^\.[0-9_]*[0-9][0-9_]*([eE][-+]?[0-9_]*[0-9][0-9_]*)?$/.test(text) || !underscoresOk(text)) return text;
  return finite(text.replaceAll("_", "")) ?? text;
}

/** A scalar starting with a digit or a sign: int, uint, float, binary, big int, or string. */
function resolveNumeric(text: string): PlainValue {
  const plain = text.replaceAll("_", "");
  const asInt = parseInt64(plain, 0);
  if (asInt.ok) return Number(asInt.value);
  const asUint = parseUint(plain, 0);
  if (asUint.ok) return Number(asUint.value);
  if (YAML_STYLE_FLOAT.test(plain)) {
    const value = finite(plain);
    if (value !== undefined) return value;
  }
  if (plain.startsWith("0b")) {
    const binary = parseInt64(plain.slice(2), 2);
    if (binary.ok) return Number(binary.value);
    const unsigned = parseUint(plain.slice(2), 2);
    if (unsigned.ok) return Number(unsigned.value);
  } else if (plain.startsWith("-0b")) {
    const binary = parseInt64(`-${plain.slice(3)}`, 2);
    if (binary.ok) return Number(binary.value);
  }
  // Too large for 64 bits but well-formed: go-yaml keeps it as a big integer.
  if (!asUint.ok && asUint.range) {
    const negative = plain[0] === "-";
    const big = parseUint(plain[0] === "+" || negative ? plain.slice(1) : plain, 0, undefined);
    if (big.ok) return Number(negative ? -big.value : big.value);
  }
  return text;
}

/** What go-yaml v2 makes of a plain scalar (its resolve() with no tag). */
export function resolvePlainScalar(text: string): PlainValue {
  const word = WORDS.get(text);
  if (word !== undefined) return word;
  const first = text[0] ?? "";
  if (first === ".") return resolveDotted(text);
  if (first === "+" || first === "-" || (first >= "0" && first <= "9")) return resolveNumeric(text);
  return text;
}

/** Plain scalars that may be something other than a string go through resolvePlainScalar. */
const plainScalarTag: ScalarTag = {
  tag: "tag:yaml.org,2002:kubernetes-plain",
  default: true,
  test: /^(?:[-+0-9.yYnNtTfFoO~]|$)/,
  resolve: (text: string) => resolvePlainScalar(text),
  identify: () => false,
};

/** Options for the yaml library so that it reads as go-yaml v2 does (see the header). */
export const KUBERNETES_YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  // Checked by kubernetesYamlProblems with a set per map: the library compares each key with
  // every earlier one, which takes minutes for a map of 100,000 keys.
  uniqueKeys: false,
  merge: true,
  schema: "core",
  resolveKnownTags: false,
  // Maps, lists and !!str as usual; every other scalar type replaced by go-yaml v2's resolution.
  customTags: (tags: Tags) => [
    ...tags.filter((tag) => typeof tag !== "string" && (("collection" in tag && tag.collection !== undefined) || tag.tag === "tag:yaml.org,2002:str")),
    plainScalarTag,
  ],
};


/** What a document may make of aliases and nesting (see the header). */
export const YAML_BOUNDS = {
  /** Lists and maps inside one another, as written or through aliases. */
  depth: 200,
  /** Alias resolutions in one document, as if every alias were written out (the yaml library's maxAliasCount). */
  aliasExpansions: 100,
} as const;

const ALLOWED_TAGS = new Set(["tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"]);
const MERGE_KEY = "<<";

export interface YamlProblem {
  /** Offset in the text. */
  readonly offset: number;
  /** The field it concerns, as map keys and list indexes. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export interface YamlCheck {
  readonly problems: YamlProblem[];
  /** The values (scalars, lists and maps) that expanding the document's aliases adds to it. */
  readonly aliasValues: number;
}

/** What a node stands for once its aliases are written out. */
interface Expansion {
  /** Alias resolutions inside it. */
  readonly aliases: number;
  /** Scalars, lists and maps. */
  readonly values: number;
  /** Lists and maps inside one another (0 for a scalar). */
  readonly depth: number;
}

const SCALAR: Expansion = { aliases: 0, values: 1, depth: 0 };

function isMergeKeyNode(key: unknown): boolean {
  return isScalar(key) && key.type === "PLAIN" && key.tag === undefined && key.source === MERGE_KEY;
}

function shortTag(tag: string): string {
  return tag.startsWith("tag:yaml.org,2002:") ? `!!${tag.slice("tag:yaml.org,2002:".length)}` : tag;
}

function keyProblem(key: unknown): string | undefined {
  if (!isScalar(key)) return "a map key must be written out as text (Kubernetes refuses collection and alias keys)";
  const value = key.value;
  if (value === null) return "a map key must not be null (Kubernetes refuses it; quote it)";
  if (typeof value === "number" && (!Number.isSafeInteger(value) || Object.is(value, -0))) {
    return `this key is read as the number ${value} by Kubernetes (YAML 1.1), and turned into text differently; quote it`;
  }
  return undefined;
}

function offsetOf(node: unknown): number {
  return (node as Node | null)?.range?.[0] ?? 0;
}

/**
 * One pass over a document in the order it is written: anchors are known when their aliases
 * come, so each alias is resolved once, and what an anchored node expands to is kept for its
 * aliases. The recursion follows the written tree, whose depth the reader bounds
 * (documents/located.ts), never an alias.
 */
class DocumentCheck {
  readonly problems: YamlProblem[] = [];
  aliasValues = 0;
  private aliases = 0;
  private stopped = false;
  /** The last node written with each anchor so far. */
  private readonly anchors = new Map<string, Node>();
  /** Anchored nodes whose walk is done, and what they expand to. */
  private readonly expansions = new Map<Node, Expansion>();
  /** What each alias met so far names (absent: unresolved, or inside its own anchor). */
  private readonly targets = new Map<Alias, Node>();
  /** The keys each map provides, its merges included. */
  private readonly keys = new Map<Node, ReadonlySet<string> | undefined>();

  private report(node: unknown, path: readonly (string | number)[], message: string): void {
    this.problems.push({ offset: offsetOf(node), path: [...path], message });
  }

  private stop(node: unknown, path: readonly (string | number)[], message: string): Expansion {
    this.report(node, path, message);
    this.stopped = true;
    return SCALAR;
  }

  walk(node: unknown, path: (string | number)[], depth: number): Expansion {
    if (this.stopped || node === null || node === undefined) return SCALAR;
    const written = node as Node;
    if (depth > YAML_BOUNDS.depth) return this.stop(node, path, `nested more than ${YAML_BOUNDS.depth} lists and maps deep`);
    if (written.tag !== undefined && !ALLOWED_TAGS.has(written.tag)) {
      this.report(node, path, `the explicit tag ${shortTag(written.tag)} is not supported (only !!str); write the value without it`);
    }
    if (isAlias(node)) return this.alias(node, path, depth);
    const anchor = "anchor" in written && typeof written.anchor === "string" ? written.anchor : undefined;
    if (anchor !== undefined) this.anchors.set(anchor, written);
    const expansion = isMap(node) ? this.map(node, path, depth) : isSeq(node) ? this.seq(node, path, depth) : this.scalar(node, path);
    if (anchor !== undefined) this.expansions.set(written, expansion);
    return expansion;
  }

  private alias(node: Alias, path: readonly (string | number)[], depth: number): Expansion {
    const target = this.anchors.get(node.source);
    if (target === undefined) {
      this.report(node, path, `invalid YAML/JSON: the alias *${node.source} refers to no anchor before it in this document (anchors do not reach across ---)`);
      return SCALAR;
    }
    const expansion = this.expansions.get(target);
    if (expansion === undefined) {
      this.report(node, path, `invalid YAML/JSON: the alias *${node.source} is inside the node it names (Kubernetes refuses an anchor whose value contains itself)`);
      return SCALAR;
    }
    this.targets.set(node, target);
    this.aliases += 1 + expansion.aliases;
    if (this.aliases > YAML_BOUNDS.aliasExpansions) {
      return this.stop(node, path, `aliases in this document would be resolved more than ${YAML_BOUNDS.aliasExpansions} times written out (an alias bomb, or anchors reused too much); write the values out`);
    }
    if (depth + expansion.depth > YAML_BOUNDS.depth) {
      return this.stop(node, path, `the alias *${node.source} nests the document more than ${YAML_BOUNDS.depth} lists and maps deep`);
    }
    this.aliasValues += expansion.values;
    return { aliases: 1 + expansion.aliases, values: expansion.values, depth: expansion.depth };
  }

  private scalar(node: unknown, path: readonly (string | number)[]): Expansion {
    if (isScalar(node) && typeof node.value === "number" && !Number.isFinite(node.value)) {
      this.report(node, path, `${node.source} is read as ${node.value} by Kubernetes (YAML 1.1), which JSON cannot hold; quote it`);
    }
    return SCALAR;
  }

  private seq(node: { items: unknown[] }, path: (string | number)[], depth: number): Expansion {
    let aliases = 0;
    let values = 1;
    let deepest = 0;
    node.items.forEach((item, i) => {
      path.push(i);
      const inner = this.walk(item, path, depth + 1);
      path.pop();
      aliases += inner.aliases;
      values += inner.values;
      deepest = Math.max(deepest, inner.depth);
    });
    return { aliases, values, depth: deepest + 1 };
  }

  private map(node: { items: { key: unknown; value: unknown }[] }, path: (string | number)[], depth: number): Expansion {
    let aliases = 0;
    let values = 1;
    let deepest = 0;
    const add = (inner: Expansion) => {
      aliases += inner.aliases;
      values += inner.values;
      deepest = Math.max(deepest, inner.depth);
    };
    const explicitBefore = new Map<string, unknown>();
    let merges = 0;
    for (const pair of node.items) {
      if (this.stopped) break;
      const field = isScalar(pair.key) ? String(pair.key.value) : "?";
      if (isMergeKeyNode(pair.key)) {
        path.push(MERGE_KEY);
        add(this.walk(pair.value, path, depth + 1));
        if (++merges > 1) this.report(pair.key, path, "a second merge key in one map; merge a list instead: <<: [*first, *second]");
        else this.checkMerge(pair.value, path, explicitBefore);
        path.pop();
        continue;
      }
      add(this.walk(pair.key, path, depth + 1));
      const problem = keyProblem(pair.key);
      if (problem) this.report(pair.key, [...path, isScalar(pair.key) ? String(pair.key.source) : "?"], problem);
      else if (explicitBefore.has(field)) this.report(pair.key, [...path, field], "is set twice in this map (Kubernetes refuses duplicate keys)");
      if (isScalar(pair.key)) explicitBefore.set(field, pair.key);
      path.push(field);
      add(this.walk(pair.value, path, depth + 1));
      path.pop();
    }
    return { aliases, values, depth: deepest + 1 };
  }

  /** A merge key's value: a source Kubernetes accepts, not overriding a key written before it. */
  private checkMerge(value: unknown, path: readonly (string | number)[], explicitBefore: ReadonlyMap<string, unknown>): void {
    if (this.stopped || (isAlias(value) && !this.targets.has(value))) return; // reported at the alias
    const keys = this.mergeSourceKeys(value);
    if (!keys) {
      this.report(value, path, "a merge key needs a map, an alias to a map, or a list of those");
      return;
    }
    const mapPath = path.slice(0, -1);
    for (const [name, keyNode] of explicitBefore) {
      if (keys.has(name)) {
        this.report(keyNode, [...mapPath, name], "is set before the merge key (<<) that also sets it: kubectl (go-yaml v2) takes the merged value, kustomize and the YAML rule this one; write << first");
      }
    }
  }

  /** The keys a map (or an alias to one) provides, its own merges included; undefined: not a map. */
  private mapKeys(node: unknown): ReadonlySet<string> | undefined {
    const target = isAlias(node) ? this.targets.get(node) : node;
    if (!isMap(target)) return undefined;
    if (this.keys.has(target)) return this.keys.get(target);
    const keys = new Set<string>();
    for (const pair of target.items) {
      // An invalid inner merge is reported where it is written.
      if (isMergeKeyNode(pair.key)) for (const key of this.mergeSourceKeys(pair.value) ?? []) keys.add(key);
      else if (isScalar(pair.key)) keys.add(String(pair.key.value));
    }
    this.keys.set(target, keys);
    return keys;
  }

  /**
   * The keys a merge key's value provides: a map, an alias to a map, or a list (written out,
   * not an alias) of those, as go-yaml v2 accepts them.
   */
  private mergeSourceKeys(value: unknown): ReadonlySet<string> | undefined {
    if (!isSeq(value)) return this.mapKeys(value);
    const keys = new Set<string>();
    for (const item of value.items) {
      const itemKeys = this.mapKeys(item);
      if (!itemKeys) return undefined;
      for (const key of itemKeys) keys.add(key);
    }
    return keys;
  }
}

/**
 * What in a parsed document Kubernetes would read differently, or refuse: explicit tags,
 * unusual or repeated keys, merge keys whose outcome depends on the YAML library, aliases
 * past YAML_BOUNDS; and the values its aliases add. Pure; time in proportion to the document.
 */
export function kubernetesYamlProblems(doc: Document): YamlCheck {
  const check = new DocumentCheck();
  check.walk(doc.contents, [], 0);
  return { problems: check.problems, aliasValues: check.aliasValues };
}
