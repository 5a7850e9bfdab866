// What reading manifests costs, to size the limits in agent/cluster/manifests.ts
// (MANIFEST_LIMITS) and agent/documents/located.ts (DOCUMENT_LIMITS): the heap a parsed file
// keeps per byte of YAML, with its syntax tree and with its values only (what netcanary keeps),
// the syntax tree's heap per token while a document is parsed, and a real `netcanary check`
// under the agent's heap settings over manifests at the limits: good ones, ones with an error
// in every document, documents at the token limit, and dense documents (flow lists of numbers,
// the most tokens per byte), each again with 30 MiB less heap to show the room left. Prints the
// command, the machine and the date.
//
// Usage: make build && node --expose-gc bench/manifest-heap.mjs

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { parseDocuments } = await import(path.join(ROOT, "dist", "documents", "located.js"));
const { DOCUMENT_LIMITS } = await import(path.join(ROOT, "dist", "documents", "located.js"));
const { parseAllDocuments, LineCounter, Lexer, Parser } = await import("yaml");
const AGENT_NODE_OPTIONS = "--max-semi-space-size=8 --max-old-space-size=160";
const MiB = 1024 * 1024;

if (typeof globalThis.gc !== "function") {
  console.error("run with node --expose-gc");
  process.exit(2);
}

/** A Deployment and a NetworkPolicy, as a repository of manifests holds them. */
function objects(i) {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-${i}
  namespace: shop
  labels: {app: web-${i}, tier: frontend}
spec:
  replicas: 2
  selector: {matchLabels: {app: web-${i}}}
  template:
    metadata:
      labels: {app: web-${i}, tier: frontend}
    spec:
      containers:
        - name: web
          image: registry.example/web:1.2.3
          ports:
            - {name: http, containerPort: 8080, protocol: TCP}
            - {name: metrics, containerPort: 9090}
          env:
            - {name: MODE, value: "production"}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np-${i}, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web-${i}}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - podSelector: {matchLabels: {role: client}}
          namespaceSelector: {matchLabels: {team: a}}
      ports: [{port: 8080, protocol: TCP}]
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
---
`;
}

function manifests(bytes, from = 0) {
  let text = "";
  for (let i = from; text.length < bytes; i++) text += objects(i);
  return text;
}

function retained(keep) {
  globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  const kept = keep();
  globalThis.gc();
  const after = process.memoryUsage().heapUsed;
  return { kept, bytes: after - before };
}

console.log(`command: node --expose-gc bench/manifest-heap.mjs`);
console.log(`machine: ${os.cpus().length} vCPU (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 1024 ** 3)} GiB RAM, Node ${process.version}`);
console.log(`date: ${new Date().toISOString().slice(0, 10)}\n`);

const text = manifests(MiB);
const tree = retained(() => {
  const lineCounter = new LineCounter();
  return parseAllDocuments(text, { lineCounter, uniqueKeys: true }).map((doc) => [doc, doc.toJS()]);
});
const values = retained(() => parseDocuments(text, "bench.yaml"));
console.log(`1 MiB of manifests (${values.kept.documents.length} documents), heap kept per byte of YAML:`);
console.log(`  syntax trees and values: ${(tree.bytes / text.length).toFixed(1)} bytes`);
console.log(`  values only (netcanary): ${(values.bytes / text.length).toFixed(1)} bytes\n`);

/** Tokens in a text, as the reader counts them. */
function tokens(text) {
  let count = 0;
  for (const _ of new Lexer().lex(text)) count++;
  return count;
}

const cst = retained(() => [...new Parser().parse(text)]);
const perToken = tokens(text) / text.length;
console.log(`tokens: ${perToken.toFixed(2)} per byte of these manifests; a syntax tree being parsed holds ${(cst.bytes / tokens(text)).toFixed(0)} bytes of heap per token`);
const dense = `v: [${"1,".repeat(100_000)}1]\n`;
const denseCst = retained(() => [...new Parser().parse(dense)]);
console.log(`  and ${(denseCst.bytes / tokens(dense)).toFixed(0)} per token for a flow list of numbers (${(tokens(dense) / dense.length).toFixed(2)} tokens per byte)\n`);

/** NetworkPolicies each with a misspelt field: every document is an error. */
function allErrors(bytes) {
  let out = "";
  for (let i = 0; out.length < bytes - 400; i++) {
    out += `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np-${i}, namespace: shop}\nspec:\n  podSelecter: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n---\n`;
  }
  return out;
}

/** Lists of NetworkPolicies, each document just under the token limit, the last item of each misspelt when bad. */
function largestDocuments(bytes, from, bad = false) {
  let out = "";
  let i = from;
  while (out.length < bytes - 64 * 1024) {
    let doc = "apiVersion: v1\nkind: List\nitems:\n";
    let count = tokens(doc);
    for (;;) {
      const item = `  - apiVersion: networking.k8s.io/v1\n    kind: NetworkPolicy\n    metadata: {name: np-${i++}, namespace: shop}\n    spec:\n      podSelector: {matchLabels: {app: web}}\n      ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}}], ports: [{port: 8080}]}]\n`;
      const itemTokens = tokens(item);
      if (count + 2 * itemTokens > DOCUMENT_LIMITS.documentTokens) {
        doc += bad ? item.replace("podSelector", "podSelecter") : item;
        break;
      }
      doc += item;
      count += itemTokens;
    }
    if (out.length + doc.length > bytes) break;
    out += `${doc}---\n`;
  }
  return out;
}

/** ConfigMap-like documents of flow lists of numbers, each just under the token limit. */
function denseDocuments(bytes, from) {
  // Each number is three tokens: the scalar's marker, the scalar and the comma.
  const numbers = Math.floor((DOCUMENT_LIMITS.documentTokens - 100) / 3);
  let out = "";
  for (let i = from; out.length < bytes - (2 * numbers + 200); i++) {
    out += `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c-${i}, namespace: shop}\nnumbers: [${"7,".repeat(numbers)}7]\n---\n`;
  }
  return out;
}

/** `netcanary check` over these files, under the agent's NODE_OPTIONS or a smaller heap. */
function check(dir, oldSpaceMiB) {
  const options = AGENT_NODE_OPTIONS.replace("--max-old-space-size=160", `--max-old-space-size=${oldSpaceMiB}`);
  const command = [process.execPath, path.join(ROOT, "dist", "cli", "main.js"), "check", "--manifests", dir];
  const started = process.hrtime.bigint();
  const run = spawnSync("/usr/bin/time", ["-f", "%M", ...command], { env: { ...process.env, NODE_OPTIONS: options }, encoding: "utf8", maxBuffer: 64 * MiB });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // /usr/bin/time adds its own lines: the peak RSS last, "Command exited ..." before it.
  const lines = run.stderr.trim().split("\n");
  const peakKiB = Number(lines.at(-1));
  const stderr = lines.slice(0, -1).filter((line) => !/^Command (exited|terminated)/.test(line));
  // /usr/bin/time exits 128 + the signal when the command is killed: 134 is SIGABRT, V8's out of heap.
  const outcome = run.status === 134 ? "aborted: out of heap" : `exit ${run.status}`;
  return { outcome, seconds, peakMiB: peakKiB / 1024, stderr };
}

function scenario(label, files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nc-manifest-heap-"));
  try {
    files.forEach((text, i) => writeFileSync(path.join(dir, `${i}.yaml`), text));
    const sizes = files.map((text) => `${(text.length / MiB).toFixed(1)}`).join(" + ");
    const run = check(dir, 160);
    console.log(`${label} (${sizes} MiB):`);
    console.log(`  ${run.outcome}, ${run.seconds.toFixed(1)} s, peak RSS ${run.peakMiB.toFixed(0)} MiB, ${run.stderr.length} lines on stderr`);
    const shown = run.stderr.length > 3 ? [...run.stderr.slice(0, 2), "...", run.stderr.at(-1)] : run.stderr;
    for (const line of shown) console.log(`    ${line.replace(dir, "<dir>").slice(0, 150)}`);
    // The room left: the same run with 30 MiB less old space.
    const smaller = check(dir, 130);
    console.log(`  with --max-old-space-size=130 instead: ${smaller.outcome}, peak RSS ${smaller.peakMiB.toFixed(0)} MiB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const LIMIT = 4 * MiB - 64 * 1024;
console.log(`netcanary check under NODE_OPTIONS="${AGENT_NODE_OPTIONS}", 8 MiB of manifests (2 files of 4 MiB) at most:`);
scenario("good manifests", [manifests(LIMIT, 0), manifests(LIMIT, 100_000)]);
scenario("an error in every document, then good manifests", [allErrors(LIMIT), manifests(LIMIT, 100_000)]);
scenario("documents at the token limit", [largestDocuments(LIMIT, 0), largestDocuments(LIMIT, 100_000)]);
scenario("documents at the token limit, an error at the end of each", [largestDocuments(LIMIT, 0, true), largestDocuments(LIMIT, 100_000, true)]);
scenario("dense documents at the token limit", [denseDocuments(LIMIT, 0), denseDocuments(LIMIT, 100_000)]);
