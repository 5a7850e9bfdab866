// The traffic map inside the agent: on from the config, off and on again with reloads (its
// metric families registered once), and its map served while on.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Agent } from "../../agent/daemon/agent.js";
import { createLogger } from "../../agent/log/log.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { load } from "../support/config-text.js";
import { waitFor } from "../support/wait.js";

const BASE = "sources: [{name: self, self: true}]\nprobes: []\n";
const ON = `traffic: {enabled: true, interval: 1s}\n${BASE}`;

describe("the traffic map in the agent", () => {
  let agent: Agent | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("follows the config: on, off (the map goes), on again (a new map, the same metric families)", async () => {
    dir = await mkdtemp(join(tmpdir(), "nc-traffic-agent-"));
    const configFile = join(dir, "netcanary.yaml");
    await writeFile(configFile, ON);
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const started = await Agent.create({ configFile, identity: { nodeName: "node-a" }, logger: createLogger("silent"), metrics, watchIntervalMs: 0 });
    if (!started.ok) throw new Error(JSON.stringify(started.errors));
    agent = started.agent;
    expect(agent.flowMap()).toBeUndefined();
    await agent.start();
    await waitFor(async () => (await metrics.registry.getSingleMetricAsString("netcanary_traffic_pods")).includes('state="selected"'), 5000, "a first sample");
    expect(agent.flowMap()).toMatchObject({ apiVersion: "netcanary/v1", kind: "FlowMap", node: "node-a", flows: [], coverage: { podsSelected: 0, podsObserved: 0, missed: [], droppedFlows: 0 } });

    agent.applyConfig(load(BASE));
    expect(agent.flowMap()).toBeUndefined();
    agent.applyConfig(load(ON));
    expect(agent.flowMap()?.flows).toEqual([]);
    expect((await metrics.registry.getMetricsAsJSON()).filter((family) => /^netcanary_(traffic|staged)_/.test(family.name)).map((family) => family.name).sort()).toEqual([
      "netcanary_staged_policies_would_deny_flows",
      "netcanary_staged_policy_would_deny_flows",
      "netcanary_traffic_flows",
      "netcanary_traffic_flows_dropped_total",
      "netcanary_traffic_malformed_lines_total",
      "netcanary_traffic_pods",
      "netcanary_traffic_sample_duration_seconds",
    ]);
  });

  it("evaluates the staged policies traffic.staged names, publishes each one's would-deny count, keeps the last good set on a bad reload and serves the judged map", async () => {
    dir = await mkdtemp(join(tmpdir(), "nc-traffic-agent-"));
    const stagedDir = join(dir, "staged");
    await mkdir(stagedDir);
    const policy = (name: string, types = "[Egress]") => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: shop}\nspec: {podSelector: {}, policyTypes: ${types}}\n`;
    await writeFile(join(stagedDir, "deny.yaml"), policy("deny-egress"));
    const configFile = join(dir, "netcanary.yaml");
    await writeFile(configFile, `traffic: {enabled: true, interval: 1s, staged: ${JSON.stringify(stagedDir)}}\n${BASE}`);
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const started = await Agent.create({ configFile, identity: { nodeName: "node-a" }, logger: createLogger("silent"), metrics, watchIntervalMs: 100 });
    if (!started.ok) throw new Error(JSON.stringify(started.errors));
    agent = started.agent;
    await agent.start();
    const staged = () => metrics.registry.getSingleMetricAsString("netcanary_staged_policy_would_deny_flows");
    await waitFor(async () => (await staged()).includes('policy="deny-egress"'), 5000, "the staged policy's series");
    expect(await staged()).toContain('netcanary_staged_policy_would_deny_flows{policy_namespace="shop",policy="deny-egress"} 0');
    expect(await metrics.registry.getSingleMetricAsString("netcanary_staged_policies_would_deny_flows")).toContain("netcanary_staged_policies_would_deny_flows 0");
    expect(agent.judgedFlowMap()).toMatchObject({ apiVersion: "netcanary/v1", kind: "JudgedFlowMap", node: "node-a", flows: [], staged: { policies: [{ policy: "shop/deny-egress", wouldDeny: [] }] }, stagedSet: { directory: stagedDir, policies: 1, errors: [], errorCount: 0 } });

    // A bad file: refused with file, line and field; the last good set is still evaluated.
    await writeFile(join(stagedDir, "deny.yaml"), policy("deny-egress", "[Sideways]"));
    await waitFor(() => (agent?.judgedFlowMap()?.stagedSet?.errorCount ?? 0) > 0, 5000, "the bad set refused");
    expect(agent.judgedFlowMap()?.stagedSet?.errors.join("\n")).toMatch(/deny\.yaml:4:\d+: spec\.policyTypes\[0\]/);
    expect(agent.judgedFlowMap()?.staged?.policies.map((p) => p.policy)).toEqual(["shop/deny-egress"]);

    // Fixed, with another policy: both are evaluated.
    await writeFile(join(stagedDir, "deny.yaml"), policy("deny-egress") + "---\n" + policy("deny-ingress", "[Ingress]"));
    await waitFor(async () => (await staged()).includes('policy="deny-ingress"'), 5000, "the fixed set");
    expect(agent.judgedFlowMap()?.stagedSet).toMatchObject({ policies: 2, errors: [], errorCount: 0 });

    // Traffic off: no map, no judged map, no staged series.
    agent.applyConfig(load(BASE));
    expect(agent.judgedFlowMap()).toBeUndefined();
    expect(await staged()).not.toContain("deny-egress");
  });

  it("registers no traffic family and serves no map while the config leaves it off", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const started = await Agent.create({ identity: { nodeName: "node-a" }, logger: createLogger("silent"), metrics, watchIntervalMs: 0 });
    if (!started.ok) throw new Error(JSON.stringify(started.errors));
    agent = started.agent;
    await agent.start();
    expect(agent.flowMap()).toBeUndefined();
    expect((await metrics.registry.getMetricsAsJSON()).some((family) => family.name.startsWith("netcanary_traffic_"))).toBe(false);
  });
});
