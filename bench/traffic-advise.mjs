// Traffic map benchmark: what judging a recorded map, staging policies against it and writing
// (and checking) the least-privilege suggestion cost, on a synthetic map of a cluster: 50
// namespaces, 500 workloads, flows between them (each pod-to-pod flow recorded at both ends),
// to Services with recorded backends, to external ranges and to Zscaler; a default-deny ingress
// and a same-namespace allow per namespace in force; 10 staged default-deny egress policies.
// Then the agent's judged map at later samples (judge-cache.ts): the same flows seen again, and
// with 1% of them replaced by new ones, against the whole map judged afresh; the script fails
// if the cached document differs from the one judged afresh.
//
//   make build && node --expose-gc bench/traffic-advise.mjs [--flows N] [--seed S]

import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { buildPolicyIndex } from "../dist/policy/engine.js";
import { snapshotFromDocuments } from "../dist/cluster/manifests.js";
import { parseDocuments } from "../dist/documents/located.js";
import { advise, adviceYaml, checkAdvice } from "../dist/traffic/advise.js";
import { judgeFlows } from "../dist/traffic/judge.js";
import { JudgementCache } from "../dist/traffic/judge-cache.js";
import { judgedFlowMap } from "../dist/traffic/report.js";
import { stagedVerdicts } from "../dist/traffic/staged.js";
import { isDeepStrictEqual } from "node:util";
import { fmt, reportHeader } from "./support.mjs";

const { values } = parseArgs({
  options: {
    flows: { type: "string", default: "10000" },
    seed: { type: "string", default: "42" },
  },
});
const FLOWS = Number(values.flows);
const NAMESPACES = 50;
const WORKLOADS = 500;

let state = Number(values.seed) >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];

const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `ns-${i}`);
const workloads = Array.from({ length: WORKLOADS }, (_, i) => ({
  namespace: namespaces[i % NAMESPACES],
  kind: "deployment",
  name: `app-${i}`,
  labels: { app: `app-${i}`, team: `t-${i % 7}` },
}));
const address = (i) => `10.${(i >> 8) & 255}.${i & 255}.${(i % 200) + 10}`;
const PORTS = [80, 443, 5432, 6379, 8080, 9090];
const time = "2026-12-07T08:00:00Z";

function flow(direction, local, peer, port, remote, localIp, protocol = "TCP") {
  return { direction, protocol, local, peer, port, remoteAddresses: remote, localAddresses: [localIp], firstSeen: time, lastSeen: time, observations: 1, evidence: ["socket-table"] };
}

// 1% more flows than the map holds: the new ones of a later sample.
const NEW = Math.max(1, Math.round(FLOWS / 100));
const flows = new Map();
const add = (f) => flows.set(`${f.direction}|${f.protocol}|${f.local.namespace}/${f.local.name}|${JSON.stringify(f.peer)}|${f.port}`, f);
while (flows.size < FLOWS + NEW) {
  const li = Math.floor(random() * WORKLOADS);
  const local = workloads[li];
  const r = random();
  if (r < 0.7) {
    const pi = Math.floor(random() * WORKLOADS);
    const peer = workloads[pi];
    const port = pick(PORTS);
    add(flow("outbound", local, { kind: "workload", workload: peer }, port, [address(pi)], address(li)));
    add(flow("inbound", peer, { kind: "workload", workload: local }, port, [address(li)], address(pi)));
  } else if (r < 0.8) {
    const dns = workloads[0];
    add(flow("outbound", local, { kind: "service", namespace: dns.namespace, name: "dns", backends: [{ workload: dns, port: 53 }] }, 53, ["10.96.0.10"], address(li), "UDP"));
  } else if (r < 0.95) {
    const host = Math.floor(random() * 4000);
    add(flow("outbound", local, { kind: "external", range: `203.${host >> 8}.${host & 255}.7/32` }, 443, [`203.${host >> 8}.${host & 255}.7`], address(li)));
  } else {
    add(flow("outbound", local, { kind: "zscaler", cloud: "zscaler.net", range: "165.225.0.0/17" }, 443, [`165.225.${Math.floor(random() * 128)}.9`], address(li)));
  }
}
const map = {
  apiVersion: "netcanary/v1",
  kind: "FlowMap",
  from: time,
  until: time,
  namespaces: namespaces.map((name) => ({ name, labels: { "kubernetes.io/metadata.name": name } })),
  flows: [...flows.values()].slice(0, FLOWS),
  coverage: { podsSelected: WORKLOADS, podsObserved: WORKLOADS, missed: [], sources: [], droppedFlows: 0 },
};

function policies(text) {
  const load = snapshotFromDocuments(parseDocuments(text, "bench.yaml").documents);
  if (load.errors.length > 0) throw new Error(JSON.stringify(load.errors.slice(0, 3)));
  return load.snapshot.policies;
}
const inForce = policies(
  namespaces
    .map((ns) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: same-namespace, namespace: ${ns}}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{from: [{podSelector: {}}]}]\n`)
    .join("---\n"),
);
const staged = policies(
  namespaces
    .slice(0, 10)
    .map((ns) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-egress, namespace: ${ns}}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n`)
    .join("---\n"),
);
const index = buildPolicyIndex({ namespaces: map.namespaces, pods: [], services: [], policies: inForce });
const empty = buildPolicyIndex({ namespaces: [], pods: [], services: [], policies: [] });

function timed(run) {
  global.gc?.();
  const start = performance.now();
  const value = run();
  return { value, ms: performance.now() - start };
}

const heapBefore = (global.gc?.(), process.memoryUsage().heapUsed);
const judged = timed(() => judgeFlows(index, map));
const stagedRun = timed(() => stagedVerdicts(index, map, staged));
const input = { map, index: empty };
const advised = timed(() => advise(input));
const yaml = timed(() => adviceYaml(advised.value, map.flows.length));
const checked = timed(() => checkAdvice(yaml.value, input, { namespaces: [], pods: [], services: [], policies: [] }));
const heapAfter = process.memoryUsage().heapUsed;

// The agent at later samples: every flow a new object seen again (lastSeen, observations);
// the same flows as the sample before, or 1% of them replaced (alternating between the map and
// the changed one, so each switch brings 1% new flows). Medians of ROUNDS samples each.
const ROUNDS = 5;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const stagedSet = { directory: "staged", policies: staged, errors: [], errorCount: 0 };
const seenAt = (m, sample) => ({ ...m, flows: m.flows.map((f) => ({ ...f, lastSeen: new Date(Date.parse(time) + (sample + 1) * 15000).toISOString(), observations: f.observations + sample + 1 })) });
const changedMap = { ...map, flows: [...map.flows.slice(0, FLOWS - NEW), ...[...flows.values()].slice(FLOWS, FLOWS + NEW)] };
const cache = new JudgementCache();
const counted = (run) => {
  const before = { ...cache.counts };
  const result = timed(run);
  return { ...result, base: cache.counts.base - before.base, staged: cache.counts.staged - before.staged };
};
const freshRuns = Array.from({ length: 3 }, (_, r) => timed(() => judgedFlowMap(index, seenAt(map, r), stagedSet)).ms);
const first = counted(() => cache.judgedFlowMap(index, map, stagedSet));
const unchangedRuns = [];
const onePercentRuns = [];
let last;
for (let round = 0; round < ROUNDS; round++) {
  const current = round % 2 === 0 ? changedMap : map;
  const switched = seenAt(current, 2 * round);
  onePercentRuns.push(counted(() => cache.judgedFlowMap(index, switched, stagedSet)));
  last = seenAt(current, 2 * round + 1);
  unchangedRuns.push(counted(() => cache.judgedFlowMap(index, last, stagedSet)));
}
const summarize = (runs) => ({ ms: median(runs.map((r) => r.ms)), base: median(runs.map((r) => r.base)), staged: median(runs.map((r) => r.staged)) });
const unchanged = summarize(unchangedRuns);
const onePercent = summarize(onePercentRuns);
const same = isDeepStrictEqual(unchangedRuns.at(-1).value, judgedFlowMap(index, last, stagedSet));
// What the cache holds between samples (the judgements and each flow's judged inputs), the map aside.
global.gc?.();
const heapBeforeCache = process.memoryUsage().heapUsed;
const held = new JudgementCache();
held.judgedFlowMap(index, map, stagedSet);
global.gc?.();
const cacheHeap = process.memoryUsage().heapUsed - heapBeforeCache;


const denied = judged.value.filter((j) => j.verdict === "deny").length;
for (const line of reportHeader("traffic map: judge, stage, advise")) console.log(line);
console.log(`map:      ${map.flows.length} flows, ${WORKLOADS} workloads in ${NAMESPACES} namespaces; ${inForce.length} policies in force, ${staged.length} staged`);
console.log(`judge:    ${fmt(judged.ms)} ms, ${fmt((judged.ms / map.flows.length) * 1000)} ms per 1,000 flows (${denied} denied by the policies in force)`);
console.log(`staged:   ${fmt(stagedRun.ms)} ms for ${staged.length} policies alone and together, ${fmt(stagedRun.ms / (staged.length + 1))} ms per evaluation (all together: ${stagedRun.value.all.wouldDeny.length} flows would be denied)`);
console.log(`advise:   ${fmt(advised.ms)} ms to write ${advised.value.policies.length} policies, ${fmt(yaml.ms)} ms to YAML (${(yaml.value.length / 1024).toFixed(0)} KiB)`);
console.log(`check:    ${fmt(checked.ms)} ms (read back, every flow and the unobserved probes judged); failures: ${checked.value.length}`);
console.log(`heap:     ${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB held after the run (map, judgements, suggestion)`);
const judgedLine = (name, run) => console.log(`  ${name.padEnd(42)}${fmt(run.ms)} ms (${run.base} flows judged, ${run.staged} staged evaluations of a flow)`);
console.log(`agent:    the judged map with the staged set, afresh: ${fmt(median(freshRuns))} ms (median of ${freshRuns.length})`);
judgedLine("cached, first sample:", first);
judgedLine(`cached, the same flows (median of ${ROUNDS}):`, unchanged);
judgedLine(`cached, ${NEW} new flows (1%, median of ${ROUNDS}):`, onePercent);
console.log(`  the cached document equals the map judged afresh: ${same}`);
console.log(`  the cache holds ${(cacheHeap / 1048576).toFixed(1)} MiB of heap for ${held.size} flows${global.gc ? "" : " (run with --expose-gc for this figure)"}`);
if (!same) {
  console.error("the cached judgement differs from the map judged afresh");
  process.exit(1);
}
if (checked.value.length > 0) {
  console.error(`the suggestion's check failed: ${checked.value.slice(0, 3).map((f) => f.flow).join("; ")}`);
  process.exit(1);
}
