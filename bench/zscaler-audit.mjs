// Zscaler coverage audit benchmark: the real CENR ranges plus future + hubs-recommended
// (~800 ranges) on the gateway's 5 ports, for a few sources, against a namespace with a
// default deny, the generated Zscaler policy, ipBlock rules with excepts and an
// AdminNetworkPolicy with networks peers. Goal: well under 100 ms per source.
//
//   make build && node bench/zscaler-audit.mjs [--rounds N]

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { parseCidr } from "../dist/addresses/ip.js";
import { snapshotFromDocuments } from "../dist/cluster/manifests.js";
import { parseDocuments } from "../dist/documents/located.js";
import { buildPolicyIndex } from "../dist/policy/engine.js";
import { SMALLEST_ZIA_ALLOWLIST, zscalerAllowlist } from "../dist/zscaler/allowlist.js";
import { auditCoverage, verdictBoundaries, verdictIntervals } from "../dist/zscaler/audit.js";
import { parseFeed } from "../dist/zscaler/feeds.js";
import { toYaml, zscalerNetworkPolicy } from "../dist/zscaler/policy.js";
import { reportHeader } from "./support.mjs";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "50" } } });
const ROUNDS = Number(values.rounds);
console.log(reportHeader("netcanary Zscaler coverage audit: uncovered ranges per source").join("\n"));

const fixtures = join(import.meta.dirname, "..", "test", "fixtures", "zscaler");
const feed = (kind, file) => {
  const parsed = parseFeed(kind, "zscaler.net", readFileSync(join(fixtures, file), "utf8"));
  if (!parsed.ok) throw new Error(parsed.reason.message);
  return parsed.value;
};
const cenr = feed("cenr", "cenr-zscaler.net.json");
const future = feed("future", "future-zscaler.net.json");
const hubsRecommended = feed("hubs-recommended", "hubs-cidr-json-recommended-zscaler.net.EXTENDED.json");
const cidr = (text) => parseCidr(text).value;
const ranges = [...new Set([...cenr.cidrs, ...future.cidrs, ...hubsRecommended.cidrs])].map(cidr);
const allowlist = zscalerAllowlist({ future, hubsRecommended }, SMALLEST_ZIA_ALLOWLIST).value;
const generated = zscalerNetworkPolicy({
  cloud: "zscaler.net",
  namespace: "shop",
  podSelector: { app: "web" },
  cidrs: allowlist.cidrs.map(cidr),
  ports: [80, 443, 9400, 9480, 9443],
  feeds: ["future", "hubs-recommended"],
}).value;

const objects = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
  { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "default-deny", namespace: "shop" }, spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
  {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "api-egress", namespace: "shop" },
    spec: {
      podSelector: { matchLabels: { app: "api" } },
      policyTypes: ["Egress"],
      egress: [
        { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["165.225.8.0/23", "136.226.64.0/20", "10.0.0.0/8"] } }], ports: [{ port: 443 }] },
        { to: [{ ipBlock: { cidr: "165.225.0.0/16" } }, { ipBlock: { cidr: "2a03:eec0::/32", except: ["2a03:eec0:3220::/44"] } }], ports: [{ port: 9400, endPort: 9480 }] },
      ],
    },
  },
  {
    apiVersion: "policy.networking.k8s.io/v1alpha1",
    kind: "AdminNetworkPolicy",
    metadata: { name: "no-risky-ranges" },
    spec: {
      priority: 10,
      subject: { namespaces: {} },
      egress: [
        { name: "deny-part", action: "Deny", to: [{ networks: ["185.46.212.88/29", "2605:4300:1400::/40"] }] },
        { name: "pass-rest", action: "Pass", to: [{ networks: ["0.0.0.0/0", "::/0"] }] },
      ],
    },
  },
];
for (let i = 0; i < 5; i++) {
  objects.push({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `pod-${i}`, namespace: "shop", labels: { app: ["web", "api", "db", "web", "api"][i] } },
    spec: { containers: [{ name: "main", image: "busybox" }] },
    status: { phase: "Running", podIPs: [{ ip: `10.0.0.${i + 10}` }] },
  });
}
const text = [...objects.map((o) => JSON.stringify(o)), toYaml(generated)].join("\n---\n");
const built = snapshotFromDocuments(parseDocuments(text, "bench.yaml").documents);
if (built.errors.length > 0) throw new Error(JSON.stringify(built.errors));
const index = buildPolicyIndex(built.snapshot);
const sources = built.snapshot.pods.map((pod) => ({ kind: "pod", pod }));
const ports = [80, 443, 9400, 9480, 9443];

for (const source of sources.slice(0, 3)) auditCoverage(index, source, ranges, ports); // warm up

const perSource = [];
let evaluations = 0;
const start = performance.now();
for (let round = 0; round < ROUNDS; round++) {
  for (const source of sources) {
    const t0 = performance.now();
    const audit = auditCoverage(index, source, ranges, ports);
    perSource.push(performance.now() - t0);
    evaluations += audit.evaluations;
  }
}
const total = performance.now() - start;
perSource.sort((a, b) => a - b);
const pct = (p) => perSource[Math.min(perSource.length - 1, Math.floor((p / 100) * perSource.length))].toFixed(2);
const intervals = sources.map((source) => verdictIntervals(ranges, verdictBoundaries(index, source)).length);
console.log(`ranges: ${ranges.length} (${ranges.filter((r) => r.family === 4).length} IPv4, ${ranges.filter((r) => r.family === 6).length} IPv6); ports: ${ports.length}; sources: ${sources.length}`);
console.log(`intervals per source: ${intervals.join(", ")}`);
console.log(`auditCoverage per source: median ${pct(50)} ms, p95 ${pct(95)} ms, max ${perSource.at(-1).toFixed(2)} ms`);
console.log(`all ${sources.length} sources: ${(total / ROUNDS).toFixed(2)} ms; ${((total * 1000) / evaluations).toFixed(2)} µs per engine verdict`);
console.log(`goal: well under 100 ms per source (p95): ${Number(pct(95)) < 100 ? "met" : "NOT met"}`);
