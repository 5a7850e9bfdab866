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
//   strings differently (floats, integers beyond 2^53).
//
// Numbers beyond 2^53 are kept as the nearest double: no field the engine reads goes near.

import { Document, isAlias, isMap, isPair, isScalar, isSeq, type Node, type ParseOptions, type DocumentOptions, type SchemaOptions, type ScalarTag, type Tags, visit } from "yaml";

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
  uniqueKeys: true,
  merge: true,
  schema: "core",
  resolveKnownTags: false,
  // Maps, lists and !!str as usual; every other scalar type replaced by go-yaml v2's resolution.
  customTags: (tags: Tags) => [
    ...tags.filter((tag) => typeof tag !== "string" && (("collection" in tag && tag.collection !== undefined) || tag.tag === "tag:yaml.org,2002:str")),
    plainScalarTag,
  ],
};

const ALLOWED_TAGS = new Set(["tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"]);
const MERGE_KEY = "<<";

export interface YamlProblem {
  /** Offset in the text. */
  readonly offset: number;
  /** The field it concerns, as map keys and list indexes. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

function isMergeKeyNode(key: unknown): boolean {
  return isScalar(key) && key.type === "PLAIN" && key.tag === undefined && key.source === MERGE_KEY;
}

function shortTag(tag: string): string {
  return tag.startsWith("tag:yaml.org,2002:") ? `!!${tag.slice("tag:yaml.org,2002:".length)}` : tag;
}

/** The keys a map (or an alias to one) provides, its own merges included; undefined: not a map. */
function mapKeys(doc: Document, node: unknown, depth: number): Set<string> | undefined {
  const target = isAlias(node) ? node.resolve(doc) : node;
  if (!isMap(target) || depth > 32) return undefined;
  const keys = new Set<string>();
  for (const pair of target.items) {
    if (isMergeKeyNode(pair.key)) {
      // An invalid inner merge is reported where it is written.
      for (const key of mergeSourceKeys(doc, pair.value, depth + 1) ?? []) keys.add(key);
    } else if (isScalar(pair.key)) keys.add(String(pair.key.value));
  }
  return keys;
}

/**
 * The keys a merge key's value provides: a map, an alias to a map, or a list (written out,
 * not an alias) of those, as go-yaml v2 accepts them.
 */
function mergeSourceKeys(doc: Document, value: unknown, depth = 0): Set<string> | undefined {
  if (!isSeq(value)) return mapKeys(doc, value, depth);
  const keys = new Set<string>();
  for (const item of value.items) {
    const itemKeys = mapKeys(doc, item, depth);
    if (!itemKeys) return undefined;
    for (const key of itemKeys) keys.add(key);
  }
  return keys;
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

/** The field path of a node, from the ancestors visit() passes: map keys and list indexes. */
function fieldPath(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const path: (string | number)[] = [];
  for (let i = 0; i < ancestors.length; i++) {
    const ancestor = ancestors[i];
    const child = ancestors[i + 1] ?? node;
    if (isPair(ancestor) && child === ancestor.value && isScalar(ancestor.key)) path.push(String(ancestor.key.value));
    else if (isSeq(ancestor)) path.push(ancestor.items.indexOf(child as never));
  }
  return path;
}

/**
 * What in a parsed document Kubernetes would read differently, or refuse: explicit tags,
 * unusual keys, merge keys whose outcome depends on the YAML library. Pure.
 */
export function kubernetesYamlProblems(doc: Document): YamlProblem[] {
  const problems: YamlProblem[] = [];
  const at = (node: unknown): number => ((node as Node | null)?.range?.[0] ?? 0);
  visit(doc, {
    Node(_key, node, ancestors) {
      const path = fieldPath(ancestors, node);
      const report = (where: unknown, field: readonly (string | number)[], message: string) => problems.push({ offset: at(where), path: field, message });
      if (node.tag !== undefined && !ALLOWED_TAGS.has(node.tag)) {
        report(node, path, `the explicit tag ${shortTag(node.tag)} is not supported (only !!str); write the value without it`);
      }
      if (isAlias(node) && node.resolve(doc) === undefined) {
        report(node, path, `invalid YAML/JSON: the alias *${node.source} refers to no anchor before it in this document (anchors do not reach across ---)`);
        return;
      }
      if (isScalar(node) && typeof node.value === "number" && !Number.isFinite(node.value)) {
        report(node, path, `${node.source} is read as ${node.value} by Kubernetes (YAML 1.1), which JSON cannot hold; quote it`);
      }
      if (!isMap(node)) return;
      const explicitBefore = new Map<string, unknown>();
      let merges = 0;
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        if (isMergeKeyNode(pair.key)) {
          merges++;
          if (merges > 1) {
            report(pair.key, [...path, MERGE_KEY], "a second merge key in one map; merge a list instead: <<: [*first, *second]");
            continue;
          }
          const keys = mergeSourceKeys(doc, pair.value);
          if (isAlias(pair.value) && pair.value.resolve(doc) === undefined) continue; // reported at the alias
          if (!keys) {
            report(pair.value, [...path, MERGE_KEY], "a merge key needs a map, an alias to a map, or a list of those");
            continue;
          }
          for (const [name, keyNode] of explicitBefore) {
            if (keys.has(name)) {
              report(keyNode, [...path, name], "is set before the merge key (<<) that also sets it: kubectl (go-yaml v2) takes the merged value, kustomize and the YAML rule this one; write << first");
            }
          }
          continue;
        }
        const problem = keyProblem(pair.key);
        if (problem) report(pair.key, [...path, isScalar(pair.key) ? String(pair.key.source) : "?"], problem);
        if (isScalar(pair.key)) explicitBefore.set(String(pair.key.value), pair.key);
      }
    },
  });
  return problems;
}
