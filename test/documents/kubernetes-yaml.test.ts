// YAML read as Kubernetes reads it. test/fixtures/kubernetes-yaml/oracle.json records what
// sigs.k8s.io/yaml's YAMLToJSON (go-yaml v2, what kubectl and the API server use) made of
// each snippet of scripts/yaml-oracle/snippets.mjs, produced by the Go program beside it.
// Every snippet must read to the same JSON here, or be refused: where Kubernetes refuses, and
// where netcanary refuses on purpose (the list below, each with its reason).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolvePlainScalar } from "../../agent/documents/kubernetes-yaml.js";
import { formatInputError, parseDocuments } from "../../agent/documents/located.js";

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
  if (yaml === "a: 1\na: 2") return /Map keys must be unique/;
  if (yaml === "base: &b {a: 1}\nx:\n  a: 2\n  <<: *b") return /x\.a: is set before the merge key \(<<\) that also sets it/;
  if (yaml.includes("<<: *a\n  <<: *b")) return /x\.<<: a second merge key in one map/;
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
    const text = "a: 1\n---\nb: 2\n--- {c: 3, d: [4, {e: 5}]}\n---\n# comment\nkind: X\nitems:\n  - {f: 6}\n  - g: 7\n...\n%YAML 1.2\n---\nh:\n  i: &x 8\n  j: *x\n";
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

