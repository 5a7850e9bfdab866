// Hostile YAML through the real CLI, under the heap the image gives it (the Dockerfile's
// NODE_OPTIONS): merge keys and aliases that would expand 2^30 times, lists nested 100,000
// deep, a document of 4 MiB, a file with an error in every document, maps and lists as large
// as a document may hold. Each is answered at once with its exit status and a located message,
// never a hang or a heap abort; a hang fails a test through runCli's timeout.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliRun, repoRoot, runCli } from "../support/cli.js";

const IMAGE_NODE_OPTIONS = /ENV NODE_OPTIONS="([^"]+)"/.exec(readFileSync(join(repoRoot, "Dockerfile"), "utf8"))?.[1] ?? "";
const AS_IN_THE_IMAGE = { env: { NODE_OPTIONS: IMAGE_NODE_OPTIONS }, timeoutMs: 10_000 };
const MiB = 1024 * 1024;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nc-yaml-bounds-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
function file(text: string, name = `f-${count++}.yaml`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Exit 2, nothing on stdout, and exactly these lines on stderr. */
function refused(run: CliRun, lines: readonly string[]): void {
  expect(run.stdout).toBe("");
  expect(run.stderr.trimEnd().split("\n")).toEqual(lines);
  expect(run.code).toBe(2);
}

/** m_k merges m_(k-1) twice: m_29 stands for 2^29 maps, in about 1 KB. */
function mergeBomb(indent: string, levels = 30): string {
  let text = `${indent}m0: &m0 {a: "1"}\n`;
  for (let k = 1; k < levels; k++) text += `${indent}m${k}: &m${k} {<<: [*m${k - 1}, *m${k - 1}], k${k}: "1"}\n`;
  return text;
}

const BOMB_MESSAGE = "aliases in this document would be resolved more than 100 times written out (an alias bomb, or anchors reused too much); write the values out";

describe("aliases that would expand without end are refused at once, at the alias that passes the bound", () => {
  it("check: a ConfigMap whose merge keys double at each of 30 levels", async () => {
    const path = file(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\ndata:\n${mergeBomb("  ")}`);
    expect(readFileSync(path).length).toBeLessThan(1300);
    refused(await runCli(["check", "--manifests", path], AS_IN_THE_IMAGE), [`${path}:10:22: data.m5.<<[1]: ${BOMB_MESSAGE}`]);
  });

  it("once: a config file whose merge keys double at each of 30 levels", async () => {
    const path = file(`sources: [{name: self, self: true}]\nprobes: []\nanchors:\n${mergeBomb("  ")}`);
    refused(await runCli(["once", "--config", path], AS_IN_THE_IMAGE), [`${path}:9:22: anchors.m5.<<[1]: ${BOMB_MESSAGE}`]);
  });

  it("check: lists of aliases to lists, ten to a level (a billion laughs without merge keys)", async () => {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\nl0: &l0 [a, a, a, a, a, a, a, a, a, a]\n";
    for (let k = 1; k < 9; k++) text += `l${k}: &l${k} [${Array.from({ length: 10 }, () => `*l${k - 1}`).join(", ")}]\n`;
    const path = file(text);
    refused(await runCli(["check", "--manifests", path], AS_IN_THE_IMAGE), [`${path}:6:50: l2[8]: ${BOMB_MESSAGE}`]);
  });

  it("check: an alias inside the node it names (Kubernetes refuses it; read as JSON it would never end)", async () => {
    const path = file("apiVersion: v1\nkind: Namespace\nmetadata: &m {name: shop, annotations: {again: *m}}\n");
    refused(await runCli(["check", "--manifests", path], AS_IN_THE_IMAGE), [
      `${path}:3:48: metadata.annotations.again: invalid YAML/JSON: the alias *m is inside the node it names (Kubernetes refuses an anchor whose value contains itself)`,
    ]);
  });
});

describe("a document is bounded while it is parsed", () => {
  it("check: a list nested 100,000 deep is refused past 200 levels, not parsed to the end", async () => {
    const path = file(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\ndata: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`);
    const run = await runCli(["check", "--manifests", path], AS_IN_THE_IMAGE);
    expect(run.stderr).toMatch(new RegExp(`^${path}:4:\\d+: nested more than 200 lists and maps deep; the rest of the file is not read\\n$`));
    expect(run.code).toBe(2);
  });

  it("check: a List of 4 MiB in one document is refused at its start, not parsed to the end", async () => {
    let text = "apiVersion: v1\nkind: List\nitems:\n";
    for (let i = 0; text.length < 4 * MiB - 1024; i++) {
      text += `  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: np-${i}, namespace: shop}, spec: {podSelector: {}}}\n`;
    }
    const path = file(text);
    refused(await runCli(["check", "--manifests", path], AS_IN_THE_IMAGE), [
      `${path}:1:1: a document of more than 300,000 YAML tokens (about 700 KB of manifests; put its objects in documents of their own, separated by ---); the rest of the file is not read`,
    ]);
  });

  it("check: a map of 35,000 keys and lists of 99,000 items are read within the image's heap, in time proportional to their size", async () => {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keys, namespace: shop}\ndata:\n";
    for (let i = 0; i < 35_000; i++) text += `  k${i}: v\n`;
    for (let d = 0; d < 3; d++) text += `---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: items-${d}, namespace: shop}\nitems: [${"1,".repeat(99_000)}1]\n`;
    // Before: comparing each key with every earlier one, and finding each item's index in its
    // list again for each item, took tens of seconds, and the whole file's syntax tree ran
    // out of the image's heap.
    const run = await runCli(["check", "--manifests", file(text)], { ...AS_IN_THE_IMAGE, timeoutMs: 20_000 });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  }, 30_000);
});

describe("a file with an error in every document", () => {
  it("check: 4 MiB of NetworkPolicies each with a misspelt field gives the first 100 errors and a count of the rest, under the image's heap", async () => {
    let text = "";
    let documents = 0;
    const policy = (i: number) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np-${i}, namespace: shop}\nspec:\n  podSelecter: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n---\n`;
    while (text.length + policy(documents).length < 4 * MiB) text += policy(documents++);
    const path = file(text);
    const run = await runCli(["check", "--manifests", path], { ...AS_IN_THE_IMAGE, timeoutMs: 60_000 });
    expect(documents).toBeGreaterThan(20_000);
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(101);
    lines.slice(0, 100).forEach((line, i) => {
      expect(line).toBe(`${path}:${7 * i + 5}:3: spec.podSelecter: unknown field (the API server refuses it); did you mean "podSelector"?`);
    });
    expect(lines[100]).toBe(`${path}: and ${(documents - 100).toLocaleString("en-US")} more problems in this file (the first 100 are shown)`);
    expect(run.stdout).toBe("");
    expect(run.code).toBe(2);
  }, 90_000);
});

describe("YAML directives, which kubectl cannot read", () => {
  it.each([["%YAML 1.2"], ["%YAML 1.1"], ["%TAG !e! tag:example.com,2000:"]])("check: %s before a document is refused, naming its line", async (directive) => {
    const namespace = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`;
    const path = file(`${directive}\n---\n${namespace("shop")}...\n${directive}\n---\n${namespace("ops")}`);
    const message = `the directive ${directive} is refused: kubectl splits a file at its --- lines and reads the directive alone, which it refuses (and %YAML other than 1.1 is refused whole); remove it`;
    refused(await runCli(["check", "--manifests", path], AS_IN_THE_IMAGE), [`${path}:1:1: ${message}`, `${path}:7:1: ${message}`]);
  });
});
