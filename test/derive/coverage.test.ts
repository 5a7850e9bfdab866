// Rule coverage over plain records (agent/derive/coverage.ts): egress rules of the policies
// selecting the sources, ingress rules of those selecting the pods probed, exercised by samples
// of the window only; the gate never passes on nothing.

import { describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import type { ProbeConfig } from "../../agent/config/model.js";
import { type Coverage, describeCoverage, gateCoverage, queryCoverage, ruleCoverage } from "../../agent/derive/coverage.js";
import { evaluateConnection } from "../../agent/policy/engine.js";
import type { ProbeReason } from "../../agent/probes/prober.js";
import type { SourceIdentity } from "../../agent/sources/identity.js";
import { concreteTargets, edgeFor } from "../../agent/targets/edges.js";
import { type EdgeRecord, newEdgeRecord, withOutcome } from "../../agent/verdicts/edge-state.js";
import { policyForEdge } from "../../agent/verdicts/policy.js";
import { adminCluster, namespace, networkPolicy, pod } from "../policy-admin/helpers.js";

const NOW = Date.parse("2026-01-01T12:00:00Z");
const HOUR = 3_600_000;

function shop() {
  return adminCluster(
    namespace("shop"),
    pod("shop/web", { labels: { app: "web" }, ips: ["10.0.0.10"] }),
    pod("shop/api", { labels: { app: "api" }, ips: ["10.0.0.20"], ports: [{ port: 8080 }] }),
    pod("shop/db", { labels: { app: "db" }, ips: ["10.0.0.30"], ports: [{ port: 5432 }] }),
    networkPolicy("shop/web-egress", {
      podSelector: { matchLabels: { app: "web" } },
      policyTypes: ["Egress"],
      egress: [
        { to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8080 }] },
        { to: [{ podSelector: { matchLabels: { app: "db" } } }], ports: [{ port: 5432 }] },
        { ports: [{ port: 53, protocol: "UDP" }] },
      ],
    }),
    networkPolicy("shop/api-ingress", { podSelector: { matchLabels: { app: "api" } }, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }] }),
  );
}

function record(cluster: ReturnType<typeof shop>, source: SourceIdentity, probe: string, ip: string, port: number, at: number, reason: ProbeReason = "ok"): EdgeRecord {
  const address = parseIp(ip);
  if (!address.ok) throw new Error(ip);
  const config: ProbeConfig = { name: probe, sources: [source.name], expect: null, schedule: { kind: "interval", intervalMs: 30_000 }, timeoutMs: 1000, failureThreshold: 1, successThreshold: 1, target: { kind: "tcp", ip: address.value, port } };
  const [target] = concreteTargets(config.target, cluster.snapshot);
  if (!target) throw new Error("no target");
  const policy = policyForEdge(cluster.index, source, address.value, port, "TCP");
  const fresh = newEdgeRecord(edgeFor(config, source, target), policy, address.value);
  return withOutcome(fresh, { reason, durationSeconds: 0.001, phases: {} }, false, policy, address.value, new Date(at)).record;
}

function webSource(cluster: ReturnType<typeof shop>): SourceIdentity {
  const web = cluster.snapshot.pods.find((p) => p.name === "web");
  return { name: "web", pod: web!, namespace: "shop" };
}

const rulesOf = (coverage: Coverage) => coverage.policies.map((p) => `${p.policy} ${p.exercised}/${p.total}: ${p.rules.map((r) => `${r.rule.split(" ")[1]}=${r.exercised ? r.by.join("+") : "-"}`).join(" ")}`);

describe("rule coverage", () => {
  it("counts the egress rules of the source's policies and the ingress rules of the pods it probes, exercised in the window", () => {
    const cluster = shop();
    const web = webSource(cluster);
    const records = [record(cluster, web, "to-api", "10.0.0.20", 8080, NOW - 60_000), record(cluster, web, "to-db", "10.0.0.30", 5432, NOW - 2 * HOUR)];
    const coverage = ruleCoverage({ index: cluster.index, sources: [web], records, now: NOW, windowMs: HOUR, unfilled: [{ rule: "shop/web-egress spec.egress[2]", reason: "it admits no TCP port (only TCP is probed)" }] });
    expect(rulesOf(coverage)).toEqual(["shop/api-ingress 1/1: spec.ingress[0]=to-api", "shop/web-egress 1/3: spec.egress[0]=to-api spec.egress[1]=- spec.egress[2]=-"]);
    expect(coverage).toMatchObject({ windowSeconds: 3600, exercised: 2, total: 4, ratio: 0.5 });
    expect(coverage.policies[1]?.rules[2]?.reason).toBe("it admits no TCP port (only TCP is probed)");
    expect(describeCoverage(coverage)).toBe("rule coverage: 2 of 4 rules exercised (50%) in 2 policies; not exercised: shop/web-egress spec.egress[1], shop/web-egress spec.egress[2]");
    // A longer window takes the old sample in.
    expect(ruleCoverage({ index: cluster.index, sources: [web], records, now: NOW, windowMs: 3 * HOUR }).exercised).toBe(3);
  });

  it("does not count a sample that never tried (agent_error), and counts a failed one (the rule was put to the test)", () => {
    const cluster = shop();
    const web = webSource(cluster);
    const errored = ruleCoverage({ index: cluster.index, sources: [web], records: [record(cluster, web, "to-api", "10.0.0.20", 8080, NOW, "agent_error")], now: NOW, windowMs: HOUR });
    expect(errored.exercised).toBe(0);
    const blocked = ruleCoverage({ index: cluster.index, sources: [web], records: [record(cluster, web, "to-api", "10.0.0.20", 8080, NOW, "timeout")], now: NOW, windowMs: HOUR });
    expect(blocked.exercised).toBe(2);
  });

  it("has no ratio when there is no rule at all, and a gate on it never passes", () => {
    const cluster = adminCluster(namespace("shop"), pod("shop/web", { labels: { app: "web" }, ips: ["10.0.0.10"] }));
    const coverage = ruleCoverage({ index: cluster.index, sources: [webSource(cluster as ReturnType<typeof shop>)], records: [], now: NOW, windowMs: HOUR });
    expect(coverage).toMatchObject({ total: 0, ratio: null });
    expect(gateCoverage(coverage, 0).result).toBe("nothing");
    expect(ruleCoverage({ index: undefined, sources: [], records: [], now: NOW, windowMs: HOUR }).ratio).toBeNull();
    expect(describeCoverage(coverage)).toBe("rule coverage: no policy selects a source or a probed pod: no rule to exercise");
  });

  it("passes a gate at or above its threshold and fails it below", () => {
    const half: Coverage = { windowSeconds: 0, exercised: 1, total: 2, ratio: 0.5, policies: [] };
    expect(gateCoverage(half, 50).result).toBe("pass");
    expect(gateCoverage(half, 50.1)).toEqual({ result: "fail", message: "rule coverage 50% is below --min-rule-coverage 50.1 (1 of 2 rules not exercised)" });
    expect(gateCoverage({ ...half, exercised: 2, ratio: 1 }, 100).result).toBe("pass");
  });

  it("counts, for check, every rule of every policy against the verdicts of the queries", () => {
    const cluster = shop();
    const from = { kind: "pod" as const, pod: webSource(cluster).pod! };
    const to = { kind: "pod" as const, pod: cluster.snapshot.pods.find((p) => p.name === "api")! };
    const verdict = evaluateConnection(cluster.index, { from, to, port: 8080, protocol: "TCP" });
    const coverage = queryCoverage(cluster.index, [{ query: "shop/web -> shop/api:8080/TCP", verdict }]);
    expect(rulesOf(coverage)).toEqual(["shop/api-ingress 1/1: spec.ingress[0]=shop/web -> shop/api:8080/TCP", "shop/web-egress 1/3: spec.egress[0]=shop/web -> shop/api:8080/TCP spec.egress[1]=- spec.egress[2]=-"]);
  });
});
