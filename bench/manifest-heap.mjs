// What reading manifests costs, to size the limits in agent/cluster/manifests.ts
// (MANIFEST_LIMITS): the heap a parsed file keeps per byte of YAML, with its syntax tree and
// with its values only (what netcanary keeps), and a real `netcanary check` over manifests at
// the limits under the agent's heap settings. Prints the command, the machine and the date.
//
// Usage: make build && node --expose-gc bench/manifest-heap.mjs

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { parseDocuments } = await import(path.join(ROOT, "dist", "documents", "located.js"));
const { parseAllDocuments, LineCounter } = await import("yaml");
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

const dir = mkdtempSync(path.join(os.tmpdir(), "nc-manifest-heap-"));
try {
  // At the limits: two files of 4 MiB (8 MiB together).
  for (const [name, from] of [["a.yaml", 0], ["b.yaml", 100_000]]) writeFileSync(path.join(dir, name), manifests(4 * MiB - 64 * 1024, from));
  const command = [process.execPath, path.join(ROOT, "dist", "cli", "main.js"), "check", "--manifests", dir];
  const started = process.hrtime.bigint();
  const run = spawnSync("/usr/bin/time", ["-f", "%M", ...command], { env: { ...process.env, NODE_OPTIONS: AGENT_NODE_OPTIONS }, encoding: "utf8", maxBuffer: 64 * MiB });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakKiB = Number(run.stderr.trim().split("\n").at(-1));
  console.log(`netcanary check over 8 MiB of manifests (2 files of 4 MiB), NODE_OPTIONS="${AGENT_NODE_OPTIONS}":`);
  console.log(`  exit ${run.status}, ${seconds.toFixed(1)} s, peak RSS ${(peakKiB / 1024).toFixed(0)} MiB`);
  if (run.status !== 0) console.log(run.stderr.split("\n").slice(0, 5).join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

