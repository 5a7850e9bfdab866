// Engine benchmark: a synthetic cluster of 10,000 pods, 2,000 policies and 500
// namespaces. Measures verdicts per second, the index update after one policy
// change, and a naive evaluator (every policy scanned for every query) in the same run.
//
//   make build && node --expose-gc bench/engine.mjs [--queries N] [--seed S]

import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { parseCidr, parseIp, cidrContainsIp } from "../dist/addresses/ip.js";
import { buildPolicyIndex, evaluateConnection, withPolicy } from "../dist/policy/engine.js";

const { values } = parseArgs({
  options: {
    queries: { type: "string", default: "200000" },
    seed: { type: "string", default: "42" },
    namespaces: { type: "string", default: "500" },
    pods: { type: "string", default: "10000" },
    policies: { type: "string", default: "2000" },
  },
});
const QUERIES = Number(values.queries);
const NAMESPACES = Number(values.namespaces);
const PODS = Number(values.pods);
const POLICIES = Number(values.policies);

// Deterministic pseudo-random numbers (mulberry32).
let state = Number(values.seed) >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const cidr = (text) => parseCidr(text).value;
const ip = (text) => parseIp(text).value;

const APPS = ["web", "api", "db", "cache", "worker", "queue", "auth", "search", "mail", "batch"];
const TEAMS = ["a", "b", "c", "d", "e"];
const TIERS = ["frontend", "backend", "data"];

function buildCluster() {
  const namespaces = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const name = `ns-${n}`;
    namespaces.push({ name, labels: { "kubernetes.io/metadata.name": name, team: pick(TEAMS), env: random() < 0.5 ? "prod" : "dev" } });
  }
  const pods = [];
  for (let p = 0; p < PODS; p++) {
    const namespace = namespaces[p % NAMESPACES].name;
    const app = pick(APPS);
    pods.push({
      namespace,
      name: `${app}-${p}`,
      labels: { app, tier: pick(TIERS), ...(random() < 0.3 ? { canary: "true" } : {}) },
      ips: [ip(`10.${(p >> 16) & 255}.${(p >> 8) & 255}.${p & 255}`)],
      ports: [
        { name: "http", port: 8000 + (p % 3), protocol: "TCP" },
        { name: "metrics", port: 9090, protocol: "TCP" },
        { name: "dns", port: 53, protocol: "UDP" },
      ],
      node: `node-${p % 50}`,
      hostNetwork: false,
    });
  }
  const policies = [];
  for (let i = 0; i < POLICIES; i++) {
    const namespace = namespaces[i % NAMESPACES].name;
    const kind = i % 4;
    const app = pick(APPS);
    const selector = (labels, expressions = []) => ({ matchLabels: labels, matchExpressions: expressions });
    let policy;
    if (kind === 0) {
      policy = { podSelector: selector({}), ingressIsolation: true, egressIsolation: true, ingress: [], egress: [] };
    } else if (kind === 1) {
      policy = {
        podSelector: selector({ app }),
        ingressIsolation: true,
        egressIsolation: false,
        ingress: [
          {
            peers: [
              { kind: "pods", namespaceSelector: null, podSelector: selector({ app: pick(APPS) }) },
              { kind: "pods", namespaceSelector: selector({ team: pick(TEAMS) }, [{ key: "env", operator: "In", values: ["prod"] }]), podSelector: selector({ tier: pick(TIERS) }) },
            ],
            ports: [{ protocol: "TCP", port: "http", endPort: null }, { protocol: "TCP", port: 9090, endPort: null }],
          },
        ],
        egress: [],
      };
    } else if (kind === 2) {
      policy = {
        podSelector: selector({}, [{ key: "tier", operator: "NotIn", values: ["data"] }]),
        ingressIsolation: false,
        egressIsolation: true,
        ingress: [],
        egress: [
          { peers: [{ kind: "pods", namespaceSelector: selector({ "kubernetes.io/metadata.name": "ns-0" }), podSelector: null }], ports: [{ protocol: "UDP", port: 53, endPort: null }] },
          { peers: [{ kind: "ipBlock", cidr: cidr("0.0.0.0/0"), except: [cidr("10.0.0.0/8")] }], ports: [{ protocol: "TCP", port: 443, endPort: null }] },
          { peers: [{ kind: "pods", namespaceSelector: selector({ team: pick(TEAMS) }), podSelector: selector({ app: pick(APPS) }) }], ports: [{ protocol: "TCP", port: 8000, endPort: 8002 }] },
        ],
      };
    } else {
      policy = {
        podSelector: selector({ app }, [{ key: "canary", operator: "DoesNotExist", values: [] }]),
        ingressIsolation: true,
        egressIsolation: false,
        ingress: [{ peers: [{ kind: "ipBlock", cidr: cidr("10.0.0.0/16"), except: [cidr("10.0.1.0/24")] }], ports: null }],
        egress: [],
      };
    }
    policies.push({ namespace, name: `policy-${i}`, ...policy });
  }
  return { namespaces, pods, policies, services: [] };
}

// The naive evaluator: every policy scanned and every selector interpreted for every
// query. Same semantics, no index and no compilation.
function naiveSelects(selector, labels) {
  for (const [key, value] of Object.entries(selector.matchLabels)) if (labels[key] !== value) return false;
  for (const { key, operator, values: vals } of selector.matchExpressions) {
    const has = Object.hasOwn(labels, key);
    if (operator === "In" && !(has && vals.includes(labels[key]))) return false;
    if (operator === "NotIn" && has && vals.includes(labels[key])) return false;
    if (operator === "Exists" && !has) return false;
    if (operator === "DoesNotExist" && has) return false;
  }
  return true;
}
function naiveDirection(cluster, subject, other, direction, port, protocol, destination) {
  if (subject.kind !== "pod") return true;
  let isolated = false;
  for (const policy of cluster.policies) {
    if (policy.namespace !== subject.pod.namespace) continue;
    if (!(direction === "ingress" ? policy.ingressIsolation : policy.egressIsolation)) continue;
    if (!naiveSelects(policy.podSelector, subject.pod.labels)) continue;
    isolated = true;
    for (const rule of direction === "ingress" ? policy.ingress : policy.egress) {
      const portOk =
        rule.ports === null ||
        rule.ports.some(
          (p) =>
            p.protocol === protocol &&
            (p.port === null ||
              (typeof p.port === "number" ? (p.endPort === null ? port === p.port : port >= p.port && port <= p.endPort) : destination.kind === "pod" && destination.pod.ports.some((c) => c.name === p.port && c.protocol === protocol && c.port === port))),
        );
      if (!portOk) continue;
      if (rule.peers === null) return true;
      for (const peer of rule.peers) {
        if (peer.kind === "ipBlock") {
          const address = other.kind === "ip" ? other.ip : other.pod.ips[0];
          if (address && cidrContainsIp(peer.cidr, address) && !peer.except.some((e) => cidrContainsIp(e, address))) return true;
          continue;
        }
        if (other.kind !== "pod") continue;
        const nsLabels = cluster.namespaces.find((n) => n.name === other.pod.namespace).labels;
        const nsOk = peer.namespaceSelector === null ? other.pod.namespace === policy.namespace : naiveSelects(peer.namespaceSelector, nsLabels);
        if (nsOk && (peer.podSelector === null || naiveSelects(peer.podSelector, other.pod.labels))) return true;
      }
    }
  }
  return !isolated;
}
function naiveEvaluate(cluster, query) {
  const egress = naiveDirection(cluster, query.from, query.to, "egress", query.port, query.protocol, query.to);
  const ingress = naiveDirection(cluster, query.to, query.from, "ingress", query.port, query.protocol, query.to);
  return egress && ingress ? "allow" : "deny";
}

function makeQueries(cluster, count) {
  const external = [ip("203.0.113.10"), ip("198.51.100.7"), ip("10.0.1.5")];
  const queries = [];
  for (let i = 0; i < count; i++) {
    const from = { kind: "pod", pod: pick(cluster.pods) };
    const to = random() < 0.1 ? { kind: "ip", ip: pick(external) } : { kind: "pod", pod: pick(cluster.pods) };
    const [port, protocol] = pick([[8000, "TCP"], [8001, "TCP"], [9090, "TCP"], [443, "TCP"], [53, "UDP"], [5432, "TCP"]]);
    queries.push({ from, to, port, protocol });
  }
  return queries;
}

function heapMiB() {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 1048576;
}

const heapBefore = heapMiB();
const cluster = buildCluster();
const heapCluster = heapMiB();
let t0 = performance.now();
let index = buildPolicyIndex(cluster);
const buildMs = performance.now() - t0;
const heapIndex = heapMiB();
const queries = makeQueries(cluster, QUERIES);

// Warm up, then measure.
for (let i = 0; i < Math.min(20000, QUERIES); i++) evaluateConnection(index, queries[i]);
t0 = performance.now();
let allowed = 0;
for (const query of queries) if (evaluateConnection(index, query).verdict === "allow") allowed++;
const engineMs = performance.now() - t0;

const naiveCount = Math.min(QUERIES, 20000);
t0 = performance.now();
let disagreements = 0;
for (let i = 0; i < naiveCount; i++) {
  if (naiveEvaluate(cluster, queries[i]) !== evaluateConnection(index, queries[i]).verdict) disagreements++;
}
const naiveMs = performance.now() - t0 - (engineMs / QUERIES) * naiveCount;

// One policy changes (a different one each time): patch the index, then re-judge
// 1,000 edges, as the agent does on a watch event.
const updates = [];
const recomputes = [];
const edges = queries.slice(0, 1000);
for (let i = 0; i < 50; i++) {
  const original = cluster.policies[(i * 37) % cluster.policies.length];
  const changed = { ...original, ingress: i % 2 === 0 ? [{ peers: null, ports: null }] : original.ingress };
  t0 = performance.now();
  index = withPolicy(index, changed);
  updates.push(performance.now() - t0);
  t0 = performance.now();
  for (const query of edges) evaluateConnection(index, query);
  recomputes.push(performance.now() - t0);
}
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const worst = (list) => Math.max(...list);

const perVerdictUs = (engineMs * 1000) / QUERIES;
const naivePerVerdictUs = (naiveMs * 1000) / naiveCount;
const lines = [
  `node ${process.version}, ${NAMESPACES} namespaces, ${PODS} pods, ${POLICIES} policies, ${QUERIES} queries (${((allowed / QUERIES) * 100).toFixed(1)}% allowed)`,
  `index build (from scratch):        ${buildMs.toFixed(1)} ms`,
  `engine verdicts:                   ${perVerdictUs.toFixed(2)} us/verdict (${Math.round(QUERIES / (engineMs / 1000)).toLocaleString("en")} verdicts/s)`,
  `naive evaluator (same queries):    ${naivePerVerdictUs.toFixed(2)} us/verdict over ${naiveCount} queries; disagreements with the engine: ${disagreements}`,
  `index update after one policy:     median ${median(updates).toFixed(3)} ms, max ${worst(updates).toFixed(3)} ms (50 changes)`,
  `re-judge 1,000 edges after it:     median ${median(recomputes).toFixed(2)} ms, max ${worst(recomputes).toFixed(2)} ms`,
  `heap: cluster data ${(heapCluster - heapBefore).toFixed(1)} MiB, index ${(heapIndex - heapCluster).toFixed(1)} MiB`,
];
console.log(lines.join("\n"));
if (disagreements > 0) {
  console.error("the engine and the naive evaluator disagree: investigate before trusting these figures");
  process.exitCode = 1;
}
