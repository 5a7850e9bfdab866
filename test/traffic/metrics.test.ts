// The traffic map's metric families on a registry: the series the judged shop maps give,
// replaced whole when the map changes (a flow gone takes its series with it), bounded labels
// (no address, no port), and an exposition promtool accepts.
import { join } from "node:path";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { loadManifests } from "../../agent/cluster/manifests.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";
import { mergeFlowMaps } from "../../agent/traffic/map-file.js";
import { TrafficMetrics, trafficSeries } from "../../agent/traffic/metrics.js";
import { trafficReport } from "../../agent/traffic/report.js";
import { loadStagedPolicies } from "../../agent/traffic/staged-files.js";
import { parseSamples, samplesOf } from "../support/exposition.js";
import { runCommand } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";
import { fixtureDir, fixtureMap } from "./helpers.js";

const map = mergeFlowMaps([fixtureMap("shop-node-a.json"), fixtureMap("shop-node-b.json")]);

async function judged() {
  const load = await loadManifests([join(fixtureDir, "in-force")]);
  const staged = await loadStagedPolicies([join(fixtureDir, "staged")]);
  if (!staged.ok) throw new Error(JSON.stringify(staged.errors));
  return trafficReport(buildPolicyIndex(load.snapshot), map, staged.policies);
}

async function published() {
  const registry = new Registry();
  const metrics = new TrafficMetrics(registry);
  const { judgements, staged } = await judged();
  metrics.publishFlows(trafficSeries(map.flows, judgements));
  metrics.publishStaged(staged);
  return { registry, metrics, judgements };
}

describe("netcanary_traffic_flows", () => {
  it("counts flows per client, server, direction and verdict, with the denied-but-seen flow as verdict deny", async () => {
    const { registry } = await published();
    const samples = parseSamples(await registry.metrics());
    const flows = samplesOf(samples, "netcanary_traffic_flows");
    expect(flows.reduce((n, s) => n + s.value, 0)).toBe(9);
    expect(samplesOf(samples, "netcanary_traffic_flows", { verdict: "deny" })).toEqual([
      {
        name: "netcanary_traffic_flows",
        labels: { client: "statefulset/payments/ledger", server: "deployment/shop/api", client_namespace: "payments", server_namespace: "shop", peer_kind: "workload", direction: "inbound", verdict: "deny" },
        value: 1,
      },
    ]);
    expect(samplesOf(samples, "netcanary_traffic_flows", { client: "deployment/shop/web", server: "service/kube-system/kube-dns" })[0]?.value).toBe(1);
    expect(samplesOf(samples, "netcanary_traffic_flows", { server: "zscaler/zscaler.net/Frankfurt" })).toHaveLength(1);
    // Unnamed external addresses share one node; no label holds an address or a port.
    expect(samplesOf(samples, "netcanary_traffic_flows", { server: "external/other" })[0]?.value).toBe(1);
    expect(samplesOf(samples, "netcanary_traffic_flows", { server: "external/partner" })[0]?.value).toBe(1);
    for (const s of flows) for (const value of Object.values(s.labels)) expect(value).not.toMatch(/\d+\.\d+\.\d+\.\d+|:\d+$/);
  });

  it("replaces the series whole when the map changes: a flow gone takes its series with it", async () => {
    const { registry, metrics, judgements } = await published();
    metrics.publishFlows(trafficSeries(map.flows.slice(0, 1), judgements.slice(0, 1)));
    const flows = samplesOf(parseSamples(await registry.metrics()), "netcanary_traffic_flows");
    expect(flows).toHaveLength(1);
  });
});

describe("netcanary_staged_policy_would_deny_flows", () => {
  it("gives each staged policy the number of observed flows it would deny, and all together theirs", async () => {
    const { registry, metrics } = await published();
    const samples = parseSamples(await registry.metrics());
    expect(samplesOf(samples, "netcanary_staged_policy_would_deny_flows").map((s) => [s.labels, s.value])).toEqual([
      [{ policy_namespace: "shop", policy: "default-deny-egress" }, 7],
      [{ policy_namespace: "shop", policy: "web-egress" }, 1],
    ]);
    expect(samplesOf(samples, "netcanary_staged_policies_would_deny_flows")[0]?.value).toBe(5);
    metrics.publishStaged(undefined);
    expect(samplesOf(parseSamples(await registry.metrics()), "netcanary_staged_policy_would_deny_flows")).toEqual([]);
  });
});

describeWith({ commands: ["promtool"] }, "the traffic exposition", () => {
  it("passes promtool check metrics", async () => {
    const { registry } = await published();
    const lint = await runCommand(["promtool", "check", "metrics"], { input: await registry.metrics(), timeoutMs: 10_000 });
    expect([lint.code, lint.stdout + lint.stderr]).toEqual([0, ""]);
  });
});
