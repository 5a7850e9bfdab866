// The metrics registry: edge series come and go with their edge, status and info
// series are replaced, names and labels follow the conventions; durations go to a gauge per
// edge and a histogram per source and target kind, per-edge histograms only when asked for.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { parseConfig } from "../../agent/config/load.js";
import type { ProbeConfig } from "../../agent/config/model.js";
import { AgentMetrics, aggregateGroup, PHASE_DURATION_BUCKETS } from "../../agent/metrics/registry.js";
import { runCall } from "../../agent/probes/index.js";
import type { ProbeOutcome, ProbeReason } from "../../agent/probes/prober.js";
import { concreteTargets, type Edge, edgeFor } from "../../agent/targets/edges.js";
import { type EdgeRecord, newEdgeRecord, withOutcome, withPolicy } from "../../agent/verdicts/edge-state.js";
import type { EdgePolicy } from "../../agent/verdicts/policy.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { parseSamples, samplesOf } from "../support/exposition.js";
import { acceptingEndpoint, closedPort, type Endpoint } from "../support/listeners.js";

function probe(name: string, overrides: Partial<ProbeConfig> = {}): ProbeConfig {
  const ip = parseIp("192.0.2.10");
  if (!ip.ok) throw new Error(ip.reason);
  return {
    name,
    sources: ["self"],
    expect: null,
    schedule: { kind: "interval", intervalMs: 1000 },
    timeoutMs: 500,
    failureThreshold: 1,
    successThreshold: 1,
    target: { kind: "tcp", ip: ip.value, port: 443 },
    ...overrides,
  };
}

function edge(config: ProbeConfig): Edge {
  const [target] = concreteTargets(config.target, undefined);
  if (!target) throw new Error("no concrete target");
  return edgeFor(config, { name: "self", namespace: "mon", node: "n1" }, target);
}

function policy(stance: EdgePolicy["stance"], egressRule = "none"): EdgePolicy {
  return { stance, summary: stance, lines: [stance], egressRule, ingressRule: "not_isolated", cniDependent: false };
}

function outcome(reason: ProbeReason, durationSeconds = 0.02): ProbeOutcome {
  const phases = reason === "ok" ? { resolve: 0.001, connect: durationSeconds - 0.001 } : { connect: durationSeconds };
  return { reason, durationSeconds, phases, address: "192.0.2.10" };
}

class EdgeDriver {
  record: EdgeRecord;
  constructor(
    private readonly metrics: AgentMetrics,
    name: string,
    stance: EdgePolicy["stance"] = "allow",
  ) {
    this.record = newEdgeRecord(edge(probe(name)), policy(stance));
    metrics.recordState(this.record);
  }
  sample(reason: ProbeReason, starved = false, durationSeconds = 0.02): this {
    const result = outcome(reason, durationSeconds);
    this.record = withOutcome(this.record, result, starved, this.record.policy, undefined, new Date()).record;
    this.metrics.recordState(this.record);
    this.metrics.recordOutcome(this.record, result);
    return this;
  }
  policy(next: EdgePolicy): this {
    this.record = withPolicy(this.record, next).record;
    this.metrics.recordState(this.record);
    return this;
  }
}

/** Sample lines of the exposition, without comments. */
async function series(metrics: AgentMetrics): Promise<string[]> {
  return (await metrics.registry.metrics()).split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

const withProbe = (lines: string[], name: string) => lines.filter((line) => line.includes(`probe="${name}"`));

describe("AgentMetrics", () => {
  it("removeGroup removes every series the label set created, and only those", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    metrics.configure({ perEdgeHistograms: true });
    const a = new EdgeDriver(metrics, "edge-a");
    a.sample("ok").sample("refused").sample("timeout").sample("agent_error", true).sample("ok");
    a.policy(policy("deny", "mon/deny spec.egress[0]")).sample("ok");
    const b = new EdgeDriver(metrics, "edge-b").sample("refused");
    const before = await series(metrics);
    // Every family an edge touches is there for edge-a.
    for (const family of [
      "netcanary_probe_success",
      "netcanary_probe_last_duration_seconds",
      "netcanary_probe_duration_seconds_bucket",
      "netcanary_probe_duration_seconds_sum",
      "netcanary_probe_duration_seconds_count",
      "netcanary_probes_total",
      "netcanary_probe_expected_success",
      "netcanary_probe_mismatch",
      "netcanary_edge_status",
      "netcanary_probe_policy_info",
    ]) {
      expect(withProbe(before, "edge-a").some((line) => line.startsWith(`${family}{`))).toBe(true);
    }
    const bBefore = withProbe(before, "edge-b");
    // The per-source histogram: both edges' probes in one series per phase.
    const perSource = (lines: string[]) => lines.filter((line) => line.startsWith("netcanary_probe_phase_duration_seconds_count{"));
    expect(perSource(before)).toEqual([expect.stringMatching(/phase="resolve"\} 3$/), expect.stringMatching(/phase="connect"\} 6$/)]);
    expect(metrics.trackedGroups().sort()).toEqual([a.record.edge.seriesKey, b.record.edge.seriesKey].sort());
    // A propagation sample for edge-a: its series goes with the label set too.
    const { probe, source, source_node } = a.record.edge.labels;
    metrics.observePropagation({ probe, source, source_node }, 0.3);

    metrics.removeGroup(a.record.edge.labels);
    const after = await series(metrics);
    expect(withProbe(after, "edge-a")).toEqual([]);
    expect(withProbe(after, "edge-b")).toEqual(bBefore);
    // edge-b still stands behind the per-source series: they stay, counts and all.
    expect(perSource(after)).toEqual(perSource(before));
    expect(metrics.trackedGroups()).toEqual([b.record.edge.seriesKey]);
    metrics.removeGroup({ ...b.record.edge.labels, probe: "no such probe" });
    metrics.removeGroup(b.record.edge.labels);
    const none = await series(metrics);
    expect(none.filter((line) => line.includes('probe="') || line.includes('source="'))).toEqual([]);
  });

  it("keeps exactly one status series per edge, the current one", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const driver = new EdgeDriver(metrics, "flappy");
    const statuses: string[] = [];
    for (const reason of ["refused", "ok", "refused", "ok"] as const) {
      driver.sample(reason);
      statuses.push(driver.record.status);
      const lines = withProbe(await series(metrics), "flappy").filter((line) => line.startsWith("netcanary_edge_status{"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`status="${driver.record.status}"`);
      expect(lines[0]?.endsWith(" 1")).toBe(true);
    }
    expect(statuses).toEqual(["unexpected_block", "ok", "unexpected_block", "ok"]);
  });

  it("counts verdict changes: a new status, expectation or mismatch, a removed edge; not a probe that changes none", () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const driver = new EdgeDriver(metrics, "counted");
    const before = metrics.verdictChanges;
    driver.sample("refused");
    const blocked = metrics.verdictChanges;
    expect(blocked).toBeGreaterThan(before);
    driver.sample("refused").sample("refused");
    expect(metrics.verdictChanges).toBe(blocked);
    driver.policy(policy("deny", "ns/p spec.egress[0]"));
    const denied = metrics.verdictChanges;
    expect(denied).toBeGreaterThan(blocked);
    // Refused is now what the policy says: the status goes to ok, once.
    driver.sample("refused");
    const ok = metrics.verdictChanges;
    expect(driver.record.status).toBe("ok");
    expect(ok).toBeGreaterThan(denied);
    driver.sample("refused");
    expect(metrics.verdictChanges).toBe(ok);
    metrics.removeGroup(driver.record.edge.labels);
    expect(metrics.verdictChanges).toBe(ok + 1);
  });

  it("keeps exactly one policy info series per edge, replaced when the policy changes", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const driver = new EdgeDriver(metrics, "info");
    driver.policy(policy("deny", "ns/p spec.egress[0]")).policy(policy("unknown", "unknown"));
    const info = withProbe(await series(metrics), "info").filter((line) => line.startsWith("netcanary_probe_policy_info{"));
    expect(info).toHaveLength(1);
    expect(info[0]).toContain('policy="unknown"');
    expect(info[0]).toContain('expected_from="none"');
    expect(info[0]).toContain('egress_rule="unknown"');
  });

  it("mismatch gauges: one per signal kind, 1 only for the active ones", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const driver = new EdgeDriver(metrics, "mm");
    driver.record = newEdgeRecord(edge(probe("mm", { expect: "deny" })), policy("allow"));
    metrics.recordState(driver.record);
    driver.sample("refused");
    const lines = withProbe(await series(metrics), "mm").filter((line) => line.startsWith("netcanary_probe_mismatch{"));
    const value = (kind: string) => lines.find((line) => line.includes(`kind="${kind}"`))?.split(" ").at(-1);
    expect(lines).toHaveLength(3);
    expect([value("unexpected_block"), value("unexpected_allow"), value("intent_violation")]).toEqual(["1", "0", "1"]);
  });

  it("expected success is absent while the policy is unknown; an invalid sample leaves probe_success alone", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const driver = new EdgeDriver(metrics, "exp", "unknown");
    let lines = withProbe(await series(metrics), "exp");
    expect(lines.filter((line) => line.startsWith("netcanary_probe_expected_success{"))).toEqual([]);
    driver.sample("ok");
    driver.sample("agent_error");
    lines = withProbe(await series(metrics), "exp");
    expect(lines.find((line) => line.startsWith("netcanary_probe_success{"))?.endsWith(" 1")).toBe(true);
    const totals = lines.filter((line) => line.startsWith("netcanary_probes_total{"));
    expect(totals.some((line) => line.includes('result="invalid"') && line.includes('reason="agent_error"'))).toBe(true);
    driver.policy(policy("deny"));
    lines = withProbe(await series(metrics), "exp");
    expect(lines.find((line) => line.startsWith("netcanary_probe_expected_success{"))?.endsWith(" 0")).toBe(true);
  });

  it("names and labels follow the conventions, default metrics included", async () => {
    const metrics = new AgentMetrics();
    new EdgeDriver(metrics, "conv").sample("ok").sample("refused");
    metrics.configReloadSuccessful.set(1);
    const families = await metrics.registry.getMetricsAsJSON();
    const forbidden = new Set(["instance", "job", "namespace", "pod", "node"]);
    const labelNames = new Set<string>();
    for (const family of families) {
      for (const value of family.values) for (const name of Object.keys(value.labels)) labelNames.add(name);
    }
    expect(labelNames.size).toBeGreaterThan(8);
    for (const name of labelNames) {
      expect(name).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      expect(forbidden.has(name)).toBe(false);
    }
    // Default process_* / nodejs_* metrics are kept.
    expect(families.some((f) => f.name.startsWith("process_"))).toBe(true);
    expect(families.some((f) => f.name === "nodejs_eventloop_lag_seconds")).toBe(true);
    const own = families.filter((f) => f.name.startsWith("netcanary_"));
    for (const family of own) {
      expect(family.help.length).toBeGreaterThan(0);
      expect(family.name.endsWith("_total")).toBe(String(family.type) === "counter");
    }
    const text = await metrics.registry.metrics();
    for (const family of own) {
      expect(text).toContain(`# HELP ${family.name} `);
      expect(text).toContain(`# TYPE ${family.name} ${family.type}`);
    }
    expect(text).toMatch(/^netcanary_build_info\{version="[^"]+",nodejs_version="v\d+\.\d+\.\d+"\} 1$/m);
  });

  it("edges sharing one label set: one status (the most urgent), success only if all got through, one info per distinct explanation", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const one = new EdgeDriver(metrics, "shared");
    const other = new EdgeDriver(metrics, "shared");
    other.record = { ...other.record, edge: { ...other.record.edge, id: `${other.record.edge.id}other` } };
    one.sample("ok");
    other.sample("refused");
    other.policy(policy("allow", "ns/p spec.egress[1]"));
    expect([one.record.status, other.record.status]).toEqual(["ok", "unexpected_block"]);
    expect(aggregateGroup([one.record, other.record])).toMatchObject({ success: 0, expected: 1, status: "unexpected_block" });
    metrics.recordGroup([one.record, other.record]);
    let lines = withProbe(await series(metrics), "shared");
    expect(lines.filter((line) => line.startsWith("netcanary_edge_status{"))).toEqual([expect.stringContaining('status="unexpected_block"')]);
    expect(lines.filter((line) => line.startsWith("netcanary_probe_success{"))).toEqual([expect.stringMatching(/ 0$/)]);
    expect(lines.filter((line) => line.startsWith("netcanary_probe_policy_info{"))).toHaveLength(2);
    // Differing stances: no single expected value.
    const denied = { ...other.record, policy: policy("deny") };
    expect(aggregateGroup([one.record, denied]).expected).toBeUndefined();
    metrics.recordGroup([one.record, denied]);
    lines = withProbe(await series(metrics), "shared");
    expect(lines.filter((line) => line.startsWith("netcanary_probe_expected_success{"))).toEqual([]);
    // Back to one member: a single info series again.
    metrics.recordGroup([one.record]);
    lines = withProbe(await series(metrics), "shared");
    expect(lines.filter((line) => line.startsWith("netcanary_probe_policy_info{"))).toHaveLength(1);
    expect(lines.filter((line) => line.startsWith("netcanary_edge_status{"))).toEqual([expect.stringContaining('status="ok"')]);
    metrics.removeGroup(one.record.edge.labels);
    expect(withProbe(await series(metrics), "shared")).toEqual([]);
    expect(metrics.trackedGroups()).toEqual([]);
  });

  it("per-edge histograms: none by default; turned on, they start with the next probe; turned off, they go at once", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const driver = new EdgeDriver(metrics, "hist").sample("ok").sample("refused");
    const perEdge = async () => withProbe(await series(metrics), "hist").filter((line) => line.startsWith("netcanary_probe_duration_seconds_"));
    expect(await perEdge()).toEqual([]);
    metrics.configure({ perEdgeHistograms: true });
    expect(await perEdge()).toEqual([]);
    driver.sample("ok");
    // Eight buckets, +Inf, sum and count, for each phase the probe ran.
    expect(await perEdge()).toHaveLength(2 * 11);
    expect((await perEdge()).filter((line) => line.startsWith("netcanary_probe_duration_seconds_count{"))).toEqual([
      expect.stringMatching(/phase="resolve"\} 1$/),
      expect.stringMatching(/phase="connect"\} 1$/),
    ]);
    metrics.configure({ perEdgeHistograms: false });
    expect(await perEdge()).toEqual([]);
    driver.sample("ok");
    expect(await perEdge()).toEqual([]);
    // The per-source histogram counted every valid probe throughout.
    const counts = (await series(metrics)).filter((line) => line.startsWith("netcanary_probe_phase_duration_seconds_count{"));
    expect(counts).toEqual([expect.stringMatching(/phase="resolve"\} 3$/), expect.stringMatching(/phase="connect"\} 4$/)]);
  });

  it("the last duration gauge: absent before a valid probe, then the last valid one's duration, the slowest edge's for a shared label set", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const gauge = async (name: string) => withProbe(await series(metrics), name).filter((line) => line.startsWith("netcanary_probe_last_duration_seconds{"));
    const driver = new EdgeDriver(metrics, "last");
    expect(await gauge("last")).toEqual([]);
    driver.sample("agent_error");
    expect(await gauge("last")).toEqual([]);
    driver.sample("ok", false, 0.125);
    expect(await gauge("last")).toEqual([expect.stringMatching(/ 0\.125$/)]);
    driver.sample("timeout", false, 2);
    expect(await gauge("last")).toEqual([expect.stringMatching(/ 2$/)]);
    // The agent's own fault (a failure while it was starved) says nothing about the path.
    driver.sample("timeout", true, 7);
    expect(await gauge("last")).toEqual([expect.stringMatching(/ 2$/)]);

    const one = new EdgeDriver(metrics, "pair").sample("ok", false, 0.003);
    const other = new EdgeDriver(metrics, "pair");
    other.record = { ...other.record, edge: { ...other.record.edge, id: `${other.record.edge.id}other` } };
    other.sample("ok", false, 0.04);
    metrics.recordGroup([one.record, other.record]);
    expect(await gauge("pair")).toEqual([expect.stringMatching(/ 0\.04$/)]);
    metrics.removeGroup(one.record.edge.labels);
    expect(await gauge("pair")).toEqual([]);
  });
});

describe("the per-source duration histogram, fed by real probes", () => {
  let open: Endpoint;
  let refused: number;
  let dns: TestDnsServer;

  beforeAll(async () => {
    open = await acceptingEndpoint("127.0.0.1");
    refused = await closedPort("127.0.0.1");
    dns = await startDnsServer({
      rules: [
        { name: "fast.test", type: "A", answers: [{ type: "A", value: "192.0.2.1" }] },
        { name: "slow.test", type: "A", answers: [{ type: "A", value: "192.0.2.2" }], delayMs: 300 },
      ],
    });
  });
  afterAll(async () => {
    await open?.close();
    await dns?.close();
  });

  it("holds every valid probe's phase durations, bucket by bucket, one series per source, target kind and phase", async () => {
    const text = `sources: [{name: self, self: true}]
probes:
  - {name: open-a, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}, timeout: 2s}
  - {name: open-b, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}, timeout: 2s}
  - {name: refused, sources: [self], tcp: {ip: 127.0.0.1, port: ${refused}}, timeout: 2s}
  - {name: fast, sources: [self], dns: {query: fast.test, server: "${dns.address}"}, timeout: 2s}
  - {name: slow, sources: [self], dns: {query: slow.test, server: "${dns.address}"}, timeout: 2s}
`;
    const loaded = parseConfig(text, "durations.yaml");
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const edges = loaded.config.probes.map((config) => {
      const [target] = concreteTargets(config.target, undefined);
      if (!target) throw new Error(`no target for ${config.name}`);
      return edgeFor(config, { name: "self", namespace: "mon", node: "n1" }, target);
    });
    const metrics = new AgentMetrics({ defaultMetrics: false });
    let records = edges.map((e) => newEdgeRecord(e, policy("allow")));
    for (const record of records) metrics.recordState(record);
    // What the probes measured, by "target_kind phase".
    const measured = new Map<string, number[]>();
    for (let round = 0; round < 3; round++) {
      records = await Promise.all(
        records.map(async (record) => {
          const result = await runCall(record.edge.call, { timeoutMs: 2000 });
          const next = withOutcome(record, result, false, record.policy, undefined, new Date()).record;
          metrics.recordState(next);
          metrics.recordOutcome(next, result);
          for (const [phase, seconds] of Object.entries(result.phases)) {
            const key = `${record.edge.labels.target_kind} ${phase}`;
            measured.set(key, [...(measured.get(key) ?? []), seconds]);
          }
          return next;
        }),
      );
    }
    expect(records.map((r) => r.observed?.reason)).toEqual(["ok", "ok", "refused", "ok", "ok"]);
    expect([...measured.keys()].sort()).toEqual(["dns resolve", "ip connect"]);
    expect(measured.get("ip connect")).toHaveLength(9);
    expect(measured.get("dns resolve")).toHaveLength(6);
    // The slow answers took at least their delay: the histogram shows them above 0.25 s.
    expect((measured.get("dns resolve") ?? []).filter((seconds) => seconds > 0.25)).toHaveLength(3);

    const samples = parseSamples(await metrics.registry.metrics());
    const base = { source: "self", source_namespace: "mon", source_node: "n1" };
    expect(samplesOf(samples, "netcanary_probe_phase_duration_seconds_count")).toHaveLength(2);
    for (const [key, values] of measured) {
      const [kind, phase] = key.split(" ") as [string, string];
      const labels = { ...base, target_kind: kind, phase };
      const buckets = samplesOf(samples, "netcanary_probe_phase_duration_seconds_bucket", labels);
      expect(buckets.map((b) => b.labels["le"])).toEqual([...PHASE_DURATION_BUCKETS.map(String), "+Inf"]);
      expect(buckets.map((b) => b.value)).toEqual([...PHASE_DURATION_BUCKETS.map((le) => values.filter((v) => v <= le).length), values.length]);
      expect(samplesOf(samples, "netcanary_probe_phase_duration_seconds_count", labels).map((s) => s.value)).toEqual([values.length]);
      expect(samplesOf(samples, "netcanary_probe_phase_duration_seconds_sum", labels).map((s) => s.value)).toEqual([values.reduce((a, b) => a + b, 0)]);
      // Exactly these labels: nothing per edge.
      expect(Object.keys(buckets[0]?.labels ?? {}).sort()).toEqual(["le", "phase", "source", "source_namespace", "source_node", "target_kind"]);
    }
    // And each edge's gauge is its last probe's duration.
    for (const record of records) {
      const gauge = samplesOf(samples, "netcanary_probe_last_duration_seconds", { probe: record.edge.labels.probe });
      expect(gauge.map((s) => s.value)).toEqual([record.observed?.durationSeconds]);
    }
  });
});
