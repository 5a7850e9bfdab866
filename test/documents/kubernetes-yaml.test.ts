// YAML read as Kubernetes reads it. test/fixtures/kubernetes-yaml/oracle.json records what
// sigs.k8s.io/yaml's YAMLToJSON (go-yaml v2, what kubectl and the API server use) made of
// each snippet of scripts/yaml-oracle/snippets.mjs, produced by the Go program beside it.
// Every snippet must read to the same JSON here, or be refused: where Kubernetes refuses, and
// where netcanary refuses on purpose (the list below, each with its reason).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolvePlainScalar } from "../../agent/documents/kubernetes-yaml.js";
import { formatInputError, InputErrors, type LocatedDocument, parseDocuments } from "../../agent/documents/located.js";

interface Outcome {
  readonly yaml: string;
  readonly json?: unknown;
  readonly error?: string;
}

const oracle = JSON.parse(readFileSync(join(import.meta.dirname, "..", "fixtures", "kubernetes-yaml", "oracle.json"), "utf8")) as Outcome[];

function read(yaml: string): { value?: unknown; errors: string[] } {
  const parsed = parseDocuments(yaml, "t.yaml");
  return { value: parsed.documents[0]?.value ?? null, errors: parsed.errors.map(formatInputError) };
}

/** Keys in a canonical order, so that only content is compared. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]));
  }
  return value;
}

/** Refused on purpose although Kubernetes reads them, and why. */
function deliberateRefusal(outcome: Outcome): RegExp | undefined {
  const { yaml } = outcome;
  if (/: !/.test(yaml) && !yaml.includes("!!str")) return /the explicit tag \S+ is not supported \(only !!str\)/;
  if (yaml === "a: 1\na: 2") return /a: is set twice in this map \(Kubernetes refuses duplicate keys\)/;
  if (yaml === "base: &b {a: 1}\nx:\n  a: 2\n  <<: *b") return /x\.a: is set before the merge key \(<<\) that also sets it/;
  if (yaml.includes("<<: *a\n  <<: *b")) return /x\.<<: a second merge key in one map/;
  // Two keys that are one field name in JSON: Kubernetes keeps the last, silently.
  if (yaml === 'x: {1: a, "1": b}') return /x\.1: is set twice in this map/;
  // go-yaml v2 reads these directives in a snippet, but kubectl splits a file at its --- lines
  // and hands go-yaml the directive alone, which it refuses (recorded as "%YAML 1.1\n").
  if (/^%(YAML 1\.1|TAG .*)\n---\n/.test(yaml)) return /the directive %\S+ .* is refused: kubectl splits a file at its --- lines/;
  // A number as a key (as the same scalar in a value shows: a number, or .inf and .nan, which
  // JSON cannot hold): Kubernetes turns it into text; only integers JavaScript holds exactly are read.
  const key = yaml.endsWith(": v") ? yaml.slice(0, -3) : undefined;
  const asValue = key === undefined ? undefined : oracle.find((o) => o.yaml === `v: ${key}`);
  const isNumber = asValue !== undefined && (typeof (asValue.json as { v?: unknown } | undefined)?.v === "number" || /unsupported value/.test(asValue.error ?? ""));
  if (isNumber && outcome.json !== undefined) {
    const text = Object.keys(outcome.json as object)[0] ?? "";
    if (!(/^-?[0-9]+$/.test(text) && Number.isSafeInteger(Number(text)) && text !== "-0")) return /: this key is read as the number .* by Kubernetes \(YAML 1\.1\)/;
  }
  return undefined;
}

describe("YAML as Kubernetes reads it, against go-yaml v2 (sigs.k8s.io/yaml)", () => {
  it("the oracle covers scalars, keys, tags, aliases and merge keys", () => {
    expect(oracle.length).toBeGreaterThan(300);
    expect(oracle.filter((o) => o.error !== undefined).length).toBeGreaterThan(20);
  });

  it.each(oracle.map((o) => [JSON.stringify(o.yaml), o] as const))("%s", (_name, outcome) => {
    const ours = read(outcome.yaml);
    const refusal = deliberateRefusal(outcome);
    if (outcome.error !== undefined) {
      expect(ours.errors.length, `Kubernetes refuses it (${outcome.error})`).toBeGreaterThan(0);
    } else if (refusal) {
      expect(ours.errors.join("\n")).toMatch(refusal);
    } else {
      expect(ours.errors).toEqual([]);
      expect(canonical(ours.value)).toEqual(canonical(outcome.json));
    }
  });

  it("reads YAML 1.1 scalars where YAML 1.2 would not (the cases that change a manifest)", () => {
    expect([resolvePlainScalar("0755"), resolvePlainScalar("on"), resolvePlainScalar("No"), resolvePlainScalar("1_000"), resolvePlainScalar("0b101"), resolvePlainScalar("0x1F")]).toEqual([493, true, false, 1000, 5, 31]);
    expect([resolvePlainScalar("08"), resolvePlainScalar("1:30"), resolvePlainScalar("2001-12-14"), resolvePlainScalar("1e400")]).toEqual([8, "1:30", "2001-12-14", "1e400"]);
  });

  it("locates a refusal at its line and column", () => {
    expect(read("metadata:\n  labels:\n    <<: {a: y, b: z}\n    a: x\n")).toEqual({ value: { metadata: { labels: { a: "x", b: "z" } } }, errors: [] });
    expect(read("x: &x {a: 1}\nm:\n  a: 2\n  <<: *x\n").errors).toEqual([
      't.yaml:3:3: m.a: is set before the merge key (<<) that also sets it: kubectl (go-yaml v2) takes the merged value, kustomize and the YAML rule this one; write << first',
    ]);
  });
});

describe("locating fields in files of several documents", () => {
  it("finds a field's line and column in any document, however the documents are marked", () => {
    const text = "a: 1\n---\nb: 2\n--- {c: 3, d: [4, {e: 5}]}\n---\n# comment\nkind: X\nitems:\n  - {f: 6}\n  - g: 7\n...\n# a comment\n---\nh:\n  i: &x 8\n  j: *x\n";
    const { documents, errors } = parseDocuments(text, "m.yaml");
    expect(errors).toEqual([]);
    const where = (index: number, path: (string | number)[]) => documents.find((doc) => doc.index === index)?.locate(path);
    expect(where(0, ["a"])).toEqual({ line: 1, column: 1 });
    expect(where(1, ["b"])).toEqual({ line: 3, column: 1 });
    expect(where(2, ["d", 1, "e"])).toEqual({ line: 4, column: 20 });
    expect(where(3, ["items", 1])).toEqual({ line: 10, column: 5 });
    expect(where(3, ["items", 1, "g"])).toEqual({ line: 10, column: 5 });
    expect(where(3, [])).toEqual({ line: 7, column: 1 });
    expect(where(4, ["h", "j"])).toEqual({ line: 16, column: 3 });
    // An absent field: its nearest ancestor.
    expect(where(4, ["h", "k", "l"])).toEqual({ line: 14, column: 1 });
  });
});


describe("aliases, keys and nesting are checked in one pass, within bounds", () => {
  it("refuses merge keys that double at each level, at the alias that passes 100 resolutions", () => {
    let text = "m0: &m0 {a: 1}\n";
    for (let k = 1; k < 30; k++) text += `m${k}: &m${k} {<<: [*m${k - 1}, *m${k - 1}], k${k}: 1}\n`;
    expect(read(text).errors).toEqual([
      "t.yaml:6:20: m5.<<[1]: aliases in this document would be resolved more than 100 times written out (an alias bomb, or anchors reused too much); write the values out",
    ]);
  });

  it("reads merge keys that share anchors as long as they stay under the bound", () => {
    let text = "m0: &m0 {a: 1}\n";
    for (let k = 1; k < 5; k++) text += `m${k}: &m${k} {<<: [*m${k - 1}, *m${k - 1}], k${k}: ${k}}\n`;
    const { value, errors } = read(text);
    expect(errors).toEqual([]);
    expect((value as Record<string, unknown>)["m4"]).toEqual({ a: 1, k1: 1, k2: 2, k3: 3, k4: 4 });
  });

  it("refuses an alias inside the node it names, as Kubernetes does (anchor value contains itself)", () => {
    expect(read("a: &a [1, *a]\n").errors).toEqual([
      "t.yaml:1:11: a[1]: invalid YAML/JSON: the alias *a is inside the node it names (Kubernetes refuses an anchor whose value contains itself)",
    ]);
  });

  it("refuses an alias that nests the document deeper than 200 lists and maps", () => {
    const deep = `${"[".repeat(150)}1${"]".repeat(150)}`;
    expect(read(`a: &a ${deep}\nb: ${"[".repeat(60)}*a${"]".repeat(60)}\n`).errors).toEqual([
      "t.yaml:2:64: b[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: the alias *a nests the document more than 200 lists and maps deep",
    ]);
    expect(read(`a: &a ${deep}\nb: ${"[".repeat(40)}*a${"]".repeat(40)}\n`).errors).toEqual([]);
  });

  it("refuses aliases that add more than 100,000 values, in the files of one read together", () => {
    const anchor = `a: &a [${Array.from({ length: 2_000 }, (_, i) => i).join(", ")}]`;
    const uses = (n: number) => `b: [${Array.from({ length: n }, () => "*a").join(", ")}]`;
    expect(read(`${anchor}\n${uses(40)}\n`).errors).toEqual([]);
    const parsed = parseDocuments(`${anchor}\n${uses(40)}\n---\n${anchor}\n${uses(20)}\n`, "t.yaml");
    expect(parsed.documents.map((doc) => doc.index)).toEqual([0]);
    expect(parsed.errors.map(formatInputError)).toEqual([
      "t.yaml:4:1: aliases would add more than 100,000 values written out, in the files read together; write the values out",
    ]);
  });

  it("refuses a key written twice, or two keys Kubernetes turns into the same field name", () => {
    expect(read("a: 1\nb: 2\na: 3\n").errors).toEqual(["t.yaml:3:1: a: is set twice in this map (Kubernetes refuses duplicate keys)"]);
    expect(read('x: {1: a, "1": b}\n').errors).toEqual(["t.yaml:1:11: x.1: is set twice in this map (Kubernetes refuses duplicate keys)"]);
  });

  it("refuses YAML directives and anything but a comment after a document end marker", () => {
    expect(read("%YAML 1.1\n---\na: 1\n").errors).toEqual([
      "t.yaml:1:1: the directive %YAML 1.1 is refused: kubectl splits a file at its --- lines and reads the directive alone, which it refuses (and %YAML other than 1.1 is refused whole); remove it",
    ]);
    expect(read("a: 1\n... # end\n").errors).toEqual([]);
    expect(read("a: 1\n... b\n").errors).toEqual(["t.yaml:2:5: invalid YAML/JSON: unexpected scalar after the document end marker (...)"]);
  });

  it("refuses a document nested more than 200 deep while parsing it, and reads no further", () => {
    const parsed = parseDocuments(`a: 1\n---\nb: ${"[".repeat(1_000)}${"]".repeat(1_000)}\n---\nc: 1\n`, "t.yaml");
    expect(parsed.documents.map((doc) => doc.value)).toEqual([{ a: 1 }]);
    expect(parsed.errors.map(formatInputError)).toEqual(["t.yaml:3:411: nested more than 200 lists and maps deep; the rest of the file is not read"]);
  });
});

describe("errors are bounded per file", () => {
  it("shows the first 100 errors of a file, located, and counts the rest in one line", () => {
    const text = Array.from({ length: 250 }, (_, i) => `a${i}: [\n`).join("---\n");
    const parsed = parseDocuments(text, "t.yaml");
    const lines = parsed.errors.map(formatInputError);
    expect(lines).toHaveLength(101);
    expect(lines[0]).toMatch(/^t\.yaml:2:1: invalid YAML\/JSON: /);
    expect(lines[100]).toBe("t.yaml: and 150 more problems in this file (the first 100 are shown)");
  });

  it("locates only the errors it shows: one past the first 100 is counted, never located", () => {
    const errors = new InputErrors();
    let located = 0;
    const doc: LocatedDocument = {
      file: "t.yaml",
      index: 0,
      value: {},
      locate: () => {
        located++;
        return { line: 1, column: 1 };
      },
    };
    for (let i = 0; i < 1_000; i++) errors.at(doc, ["spec", i], "is wrong");
    errors.push([{ file: "u.yaml", message: "cannot read" }]);
    expect(located).toBe(100);
    expect(errors.list().map(formatInputError).slice(99)).toEqual([
      "t.yaml:1:1: spec[99]: is wrong",
      "u.yaml: cannot read",
      "t.yaml: and 900 more problems in this file (the first 100 are shown)",
    ]);
  });
});
