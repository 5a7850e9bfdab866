// Derivation benchmark (docs/derive.md): the time to derive one source pod's probes, what each
// refresh (a change of policies, pods or feeds) costs per deriving pod. A synthetic cluster: the
// source's egress policy has 10 rules (pod peers by label and namespace, a numeric port, a named
// port, a range, no ports, an ipBlock with 50 configured destinations, a UDP-only rule), every
// namespace has an ingress policy (so each candidate's verdict weighs both directions), and the
// pods are what a scoped agent holds (500) or what `once --manifests` reads (10,000).
//
//   make build && node --expose-gc bench/derive.mjs [--pods N] [--runs R] [--seed S]

import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { parseCidr, parseIp } from "../dist/addresses/ip.js";
import { deriveTargets } from "../dist/derive/derive.js";
import { buildPolicyIndex } from "../dist/policy/engine.js";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "500,10000" },
    runs: { type: "string", default: "30" },
    seed: { type: "string", default: "42" },
  },
});
const RUNS = Number(values.runs);

let state = Number(values.seed) >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const ip = (text) => parseIp(text).value;
const cidr = (text) => parseCidr(text).value;
const selector = (labels) => ({ matchLabels: labels, matchExpressions: [] });
const APPS = ["web", "api", "db", "cache", "worker", "queue", "auth", "search", "mail", "batch"];
const TEAMS = ["a", "b", "c", "d", "e"];

function cluster(podCount) {
  const namespaceCount = Math.max(10, Math.floor(podCount / 20));
  const namespaces = Array.from({ length: namespaceCount }, (_, n) => ({ name: `ns-${n}`, labels: { "kubernetes.io/metadata.name": `ns-${n}`, team: pick(TEAMS) } }));
  const pods = Array.from({ length: podCount }, (_, p) => {
    const app = pick(APPS);
    return {
      namespace: namespaces[p % namespaceCount].name,
      name: `${app}-${p}`,
      labels: { app },
      ips: [ip(`10.${(p >> 16) & 255}.${(p >> 8) & 255}.${p & 255}`)],
      ports: [
        { name: "http", port: 8000 + (p % 3), protocol: "TCP" },
        { name: "metrics", port: 9090, protocol: "TCP" },
      ],
      hostNetwork: false,
    };
  });
  const source = { namespace: "ns-0", name: "client", labels: { app: "client" }, ips: [ip("10.255.0.1")], ports: [], hostNetwork: false };
  const pods_ = [...pods, source];
  const rule = (peers, ports) => ({ peers, ports });
  const podsPeer = (labels, namespaceLabels) => ({ kind: "pods", namespaceSelector: namespaceLabels ? selector(namespaceLabels) : null, podSelector: selector(labels) });
  const tcp = (port, endPort = null) => ({ protocol: "TCP", port, endPort });
  const egress = {
    namespace: "ns-0",
    name: "client-egress",
    podSelector: selector({ app: "client" }),
    ingressIsolation: false,
    egressIsolation: true,
    ingress: [],
    egress: [
      rule([podsPeer({ app: "api" }, { team: "a" })], [tcp(8000)]),
      rule([podsPeer({ app: "db" }, {})], [tcp("http")]),
      rule([podsPeer({ app: "cache" }, { team: "b" })], [tcp(8000, 8002)]),
      rule([podsPeer({ app: "auth" }, {})], null),
      rule([podsPeer({ app: "search" }, { team: "c" })], [tcp(9090), tcp("http")]),
      rule([podsPeer({ app: "queue" })], [tcp(8001)]),
      rule([{ kind: "ipBlock", cidr: cidr("203.0.113.0/24"), except: [cidr("203.0.113.0/28")] }], [tcp(443)]),
      rule([{ kind: "ipBlock", cidr: cidr("198.51.100.0/24"), except: [] }], [tcp(8443)]),
      rule([podsPeer({ app: "mail" }, {})], [tcp(9090)]),
      rule(null, [{ protocol: "UDP", port: 53, endPort: null }]),
    ],
  };
  const ingress = namespaces.map((ns) => ({
    namespace: ns.name,
    name: "ingress",
    podSelector: selector({ app: pick(APPS) }),
    ingressIsolation: true,
    egressIsolation: false,
    ingress: [rule([podsPeer({}, {})], null)],
    egress: [],
  }));
  const snapshot = { namespaces, pods: pods_, policies: [egress, ...ingress], services: [] };
  const destinations = Array.from({ length: 50 }, (_, i) => ({ ip: ip(`203.0.113.${i + 1}`), port: 443 }));
  return { snapshot, source, destinations };
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

console.log(`command: node --expose-gc bench/derive.mjs --pods ${values.pods} --runs ${RUNS} --seed ${values.seed}`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? "?"}, Node ${process.version}; date: ${new Date().toISOString()}`);
for (const podCount of values.pods.split(",").map(Number)) {
  const { snapshot, source, destinations } = cluster(podCount);
  const index = buildPolicyIndex(snapshot);
  const settings = { maxPerPolicy: 8, maxEdges: 32, deny: true, destinations, zscalerRanges: false };
  const identity = { name: "client", pod: source, namespace: "ns-0", workload: "deployment/client" };
  const times = [];
  let result;
  for (let run = 0; run < RUNS; run++) {
    globalThis.gc?.();
    const started = performance.now();
    result = deriveTargets({ index, snapshot, source: identity, settings });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${podCount} pods, ${snapshot.policies.length} policies: ${result.targets.length} derived edges, ${result.unfilled.length} unfilled; ` +
      `derive one source pod: median ${quantile(times, 0.5).toFixed(1)} ms, p95 ${quantile(times, 0.95).toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms`,
  );
}
