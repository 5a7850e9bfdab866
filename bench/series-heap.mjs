// What the edges' series cost the agent's heap, and what one /metrics build writes: for N
// edges (TCP to an IP, label values as long as a cluster's; half of them ok, half refused,
// as in exposition.mjs), the heap the metrics registry holds after recording each edge's
// probes, measured after full garbage collections, with the edges themselves already
// allocated, so the figure is the series alone. With metrics.perEdgeHistograms off (the
// default) and on. Runs on any build: on one from before the setting existed, one row, what
// that build exports. Prints the command, the machine and the date.
//
// Usage: make build && node --expose-gc bench/series-heap.mjs [--edges 1000,5000] [--probes 3]

import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fmt, reportHeader } from "./support.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (file) => import(path.join(ROOT, "dist", file));
const { AgentMetrics } = await dist("metrics/registry.js");
const { concreteTargets, edgeFor } = await dist("targets/edges.js");
const { newEdgeRecord, withOutcome } = await dist("verdicts/edge-state.js");
const { parseIp } = await dist("addresses/ip.js");

if (typeof globalThis.gc !== "function") {
  console.error("run with node --expose-gc");
  process.exit(2);
}

const { values } = parseArgs({ options: { edges: { type: "string", default: "1000,5000" }, probes: { type: "string", default: "3" } } });
const EDGE_COUNTS = values.edges.split(",").map(Number);
const PROBES = Number(values.probes);
if (EDGE_COUNTS.some((n) => !Number.isInteger(n) || n <= 0) || !Number.isInteger(PROBES) || PROBES <= 0) throw new Error("bad --edges or --probes");

const NODE_NAME = "ip-10-120-33-187.eu-central-1.compute.internal";
const ALLOW = { stance: "allow", summary: "allow", lines: ["not isolated"], egressRule: "not_isolated", ingressRule: "not_applicable", cniDependent: false };

function edges(count) {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => {
    const ip = parseIp(`10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    const probe = {
      name: `checkout-api-to-payments-${String(i).padStart(width, "0")}`,
      sources: ["self"],
      expect: null,
      schedule: { kind: "interval", intervalMs: 30_000 },
      timeoutMs: 2000,
      failureThreshold: 3,
      successThreshold: 1,
      target: { kind: "tcp", ip: ip.value, port: 443 },
    };
    const [target] = concreteTargets(probe.target, undefined);
    return edgeFor(probe, { name: "self", namespace: "netcanary", node: NODE_NAME, workload: "daemonset/netcanary" }, target);
  });
}

function heapUsed() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

/** The registry's heap with `count` edges, each probed PROBES times; its series and text. */
async function measure(count, perEdgeHistograms) {
  const all = edges(count);
  // The probes' outcomes and the edges' records, made first: only the series are measured.
  const rounds = [];
  let current = all.map((edge) => newEdgeRecord(edge, ALLOW));
  for (let round = 0; round < PROBES; round++) {
    current = current.map((record, i) => {
      const seconds = 0.0008 + (i % 7) * 0.0003;
      const outcome = { reason: i % 2 === 0 ? "ok" : "refused", durationSeconds: seconds, phases: { connect: seconds } };
      return { outcome, record: withOutcome(record.record ?? record, outcome, false, ALLOW, undefined, new Date()).record };
    });
    rounds.push(current);
  }
  const before = heapUsed();
  const metrics = new AgentMetrics({ defaultMetrics: false });
  if (perEdgeHistograms !== undefined) metrics.configure({ perEdgeHistograms });
  for (const round of rounds) {
    for (const { record, outcome } of round) {
      metrics.recordState(record);
      metrics.recordOutcome(record, outcome);
    }
  }
  const after = heapUsed();
  const text = await metrics.registry.metrics();
  const lines = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
  const edgeSeries = lines.filter((line) => /[{,]probe="/.test(line)).length;
  // Everything stays alive until measured.
  if (rounds.length !== PROBES || all.length !== count) throw new Error("lost edges");
  return { heapMiB: (after - before) / 2 ** 20, bytesPerEdge: (after - before) / count, series: lines.length, perEdge: edgeSeries / count, textMiB: Buffer.byteLength(text) / 2 ** 20 };
}

for (const line of reportHeader("netcanary series: what the edges' series cost the heap, and the /metrics text")) console.log(line);
console.log(`edges: TCP to an IP, half ok, half refused, each probed ${PROBES} times; heap after full GCs, the edges themselves excluded\n`);
console.log("| edges | metrics.perEdgeHistograms | series (per edge) | heap held by the series | per edge | /metrics text |");
console.log("|---|---|---|---|---|---|");
// A build from before the setting: one row, what it exports.
const settings = typeof AgentMetrics.prototype.configure === "function" ? [false, true] : [undefined];
for (const count of EDGE_COUNTS) {
  for (const perEdgeHistograms of settings) {
    const row = await measure(count, perEdgeHistograms);
    console.log(
      `| ${count.toLocaleString("en")} | ${perEdgeHistograms ?? "(before the setting)"} | ${row.series.toLocaleString("en")} (${fmt(row.perEdge, 1)}) | ${fmt(row.heapMiB, 2)} MiB | ${fmt(row.bytesPerEdge, 0)} B | ${fmt(row.textMiB, 1)} MiB |`,
    );
  }
}
