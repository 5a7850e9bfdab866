// The agent's duration series, on real parts: the agent probing loopback listeners and a
// local DNS server, its config reloaded from a watched file. By default an edge has a gauge
// of its last probe's duration and the durations go to one histogram per source and target
// kind; metrics.perEdgeHistograms adds the per-edge histograms, and turning it off in a
// reload removes them at once. Every count is the probes the agent ran; promtool accepts
// the exposition either way.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent, type ResultEntry } from "../../agent/daemon/agent.js";
import { createLogger } from "../../agent/log/log.js";
import { formatInputError } from "../../agent/documents/located.js";
import { DURATION_BUCKETS } from "../../agent/metrics/registry.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { parseSamples, type Sample, samplesOf } from "../support/exposition.js";
import { runCommand } from "../support/lab.js";
import { acceptingEndpoint, closedPort, type Endpoint } from "../support/listeners.js";
import { describeWith } from "../support/prerequisites.js";

let dir: string;
let open: Endpoint;
let refused: number;
let dns: TestDnsServer;
const agents: Agent[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-edge-series-"));
  open = await acceptingEndpoint("127.0.0.1");
  refused = await closedPort("127.0.0.1");
  dns = await startDnsServer({
    rules: [
      { name: "fast.test", type: "A", answers: [{ type: "A", value: "192.0.2.1" }] },
      { name: "slow.test", type: "A", answers: [{ type: "A", value: "192.0.2.2" }], delayMs: 300 },
    ],
  });
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});
afterAll(async () => {
  await open?.close();
  await dns?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Five edges from the agent's own identity: three TCP (two open, one refused), two DNS (one slow). */
const config = (interval: string, metrics = "") => `defaults: {interval: ${interval}, timeout: 500ms, failureThreshold: 1, successThreshold: 1}
${metrics}
sources: [{name: self, self: true}]
probes:
  - {name: open-a, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}}
  - {name: open-b, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}}
  - {name: refused, sources: [self], tcp: {ip: 127.0.0.1, port: ${refused}}}
  - {name: fast, sources: [self], dns: {query: fast.test, server: "${dns.address}"}}
  - {name: slow, sources: [self], dns: {query: slow.test, server: "${dns.address}"}}
`;
const PROBES = ["fast", "open-a", "open-b", "refused", "slow"];

async function create(text: string, watchIntervalMs = 0): Promise<{ agent: Agent; file: string }> {
  const file = join(dir, `config-${agents.length}.yaml`);
  await writeFile(file, text);
  const started = await Agent.create({ configFile: file, identity: { nodeName: "node-1" }, logger: createLogger("silent"), watchIntervalMs });
  if (!started.ok) throw new Error(started.errors.map(formatInputError).join("\n"));
  agents.push(started.agent);
  return { agent: started.agent, file };
}

async function samples(agent: Agent): Promise<Sample[]> {
  return parseSamples(await agent.metrics.registry.metrics());
}

function byProbe(agent: Agent): Record<string, ResultEntry> {
  return Object.fromEntries(agent.results().results.map((r) => [r.probe, r]));
}

/** The probes that have per-edge histogram series, with how many lines each. */
function perEdgeLines(all: readonly Sample[]): Record<string, number> {
  const lines: Record<string, number> = {};
  for (const sample of all) {
    if (!sample.name.startsWith("netcanary_probe_duration_seconds_")) continue;
    const probe = sample.labels["probe"] ?? "";
    lines[probe] = (lines[probe] ?? 0) + 1;
  }
  return lines;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("the agent's duration series", () => {
  it("count every probe run: the per-source histogram, the per-edge gauge, and the per-edge histograms when asked for", async () => {
    const { agent } = await create(config("30s", "metrics: {perEdgeHistograms: true}"));
    const durations: Record<string, number[]> = {};
    for (let round = 0; round < 3; round++) {
      await agent.runRound();
      const results = byProbe(agent);
      expect(Object.keys(results).sort()).toEqual(PROBES);
      for (const [probe, result] of Object.entries(results)) (durations[probe] ??= []).push(result.observed?.durationSeconds ?? Number.NaN);
      // The gauge is the last probe's duration, exactly as the results say.
      const all = await samples(agent);
      for (const probe of PROBES) {
        expect(samplesOf(all, "netcanary_probe_last_duration_seconds", { probe }).map((s) => s.value), probe).toEqual([results[probe]?.observed?.durationSeconds]);
      }
    }
    expect(Object.values(byProbe(agent)).map((r) => `${r.probe} ${r.observed?.reason}`).sort()).toEqual(["fast ok", "open-a ok", "open-b ok", "refused refused", "slow ok"]);

    const all = await samples(agent);
    const source = { source: "self", source_namespace: "", source_node: "node-1" };
    const perSource = (kind: string, phase: string, suffix: "count" | "sum") =>
      samplesOf(all, `netcanary_probe_phase_duration_seconds_${suffix}`, { ...source, target_kind: kind, phase }).map((s) => s.value);
    // Three rounds: three TCP edges connect, two DNS edges resolve; nothing else.
    expect(samplesOf(all, "netcanary_probe_phase_duration_seconds_count").map((s) => `${s.labels["target_kind"]} ${s.labels["phase"]} ${s.value}`).sort()).toEqual(["dns resolve 6", "ip connect 9"]);
    // Each phase is part of its probe: the sums stay within the probes' whole durations.
    const total = (probes: string[]) => probes.flatMap((probe) => durations[probe] ?? []).reduce((a, b) => a + b, 0);
    expect(perSource("dns", "resolve", "sum")[0]).toBeLessThanOrEqual(total(["fast", "slow"]));
    expect(perSource("dns", "resolve", "sum")[0]).toBeGreaterThan(3 * 0.25);
    expect(perSource("ip", "connect", "sum")[0]).toBeLessThanOrEqual(total(["open-a", "open-b", "refused"]));
    // The slow answers are above 0.25 s, the bucket boundary shows them.
    const slowBucket = samplesOf(all, "netcanary_probe_phase_duration_seconds_bucket", { ...source, target_kind: "dns", phase: "resolve", le: "0.25" });
    expect(slowBucket.map((s) => s.value)[0]).toBeLessThanOrEqual(3);

    // The per-edge histograms add up to the per-source one, at every bound both have.
    for (const [kind, phase] of [["ip", "connect"], ["dns", "resolve"]] as const) {
      const perEdge = (name: string, labels: Record<string, string> = {}) =>
        samplesOf(all, name, { target_kind: kind, phase, ...labels })
          .filter((s) => s.labels["probe"] !== undefined)
          .reduce((sum, s) => sum + s.value, 0);
      expect(perEdge("netcanary_probe_duration_seconds_count")).toBe(perSource(kind, phase, "count")[0]);
      expect(perEdge("netcanary_probe_duration_seconds_sum")).toBeCloseTo(perSource(kind, phase, "sum")[0] ?? Number.NaN, 9);
      for (const le of [...DURATION_BUCKETS.filter((bound) => bound !== 0.002).map(String), "+Inf"]) {
        const shared = samplesOf(all, "netcanary_probe_phase_duration_seconds_bucket", { ...source, target_kind: kind, phase, le }).map((s) => s.value);
        expect([le, perEdge("netcanary_probe_duration_seconds_bucket", { le })]).toEqual([le, shared[0]]);
      }
    }
    expect(perEdgeLines(all)).toEqual({ "open-a": 11, "open-b": 11, refused: 11, fast: 11, slow: 11 });
  });

  it("per-edge histograms follow the config across reloads: off by default, on, off again (gone at once), and a bad value keeps the last good config", async () => {
    const { agent, file } = await create(config("500ms"), 30);
    await agent.start();
    const reloaded = async () => (await agent.metrics.configReloadSuccessTimestamp.get()).values[0]?.value ?? 0;
    const reloadSuccessful = async () => (await agent.metrics.configReloadSuccessful.get()).values[0]?.value;

    // Off: every edge has its gauge, the per-source histogram has its series, no per-edge histogram.
    let all = await until("every edge's duration gauge", async () => {
      const now = await samples(agent);
      return samplesOf(now, "netcanary_probe_last_duration_seconds").length === 5 ? now : undefined;
    });
    expect(perEdgeLines(all)).toEqual({});
    expect(samplesOf(all, "netcanary_probe_phase_duration_seconds_count").length).toBe(2);
    const statesBefore = Object.values(byProbe(agent)).map((r) => `${r.probe} ${r.status}`).sort();

    // On: each edge's histogram appears with its next probe.
    await writeFile(file, config("500ms", "metrics: {perEdgeHistograms: true}"));
    all = await until("every edge's histogram", async () => {
      const now = await samples(agent);
      return Object.keys(perEdgeLines(now)).length === 5 ? now : undefined;
    });
    expect(perEdgeLines(all)).toEqual({ "open-a": 11, "open-b": 11, refused: 11, fast: 11, slow: 11 });
    // The edges did not change: they kept their state through the reloads.
    expect(Object.values(byProbe(agent)).map((r) => `${r.probe} ${r.status}`).sort()).toEqual(statesBefore);

    // A string, not a boolean: refused, the last good config (histograms on) stays.
    const before = await reloaded();
    await writeFile(file, config("500ms", `metrics: {perEdgeHistograms: "true"}`));
    await until("the refused reload", async () => ((await reloadSuccessful()) === 0 ? true : undefined));
    expect(await reloaded()).toBe(before);
    expect(Object.keys(perEdgeLines(await samples(agent))).length).toBe(5);

    // Off again: gone with the reload, and they do not come back with later probes.
    await writeFile(file, config("500ms", "metrics: {perEdgeHistograms: false}"));
    await until("the good reload", async () => ((await reloaded()) > before && (await reloadSuccessful()) === 1 ? true : undefined));
    expect(perEdgeLines(await samples(agent))).toEqual({});
    const counted = samplesOf(await samples(agent), "netcanary_probe_phase_duration_seconds_count").reduce((sum, s) => sum + s.value, 0);
    await until("more probes", async () => (samplesOf(await samples(agent), "netcanary_probe_phase_duration_seconds_count").reduce((sum, s) => sum + s.value, 0) >= counted + 10 ? true : undefined));
    all = await samples(agent);
    expect(perEdgeLines(all)).toEqual({});
    expect(samplesOf(all, "netcanary_probe_last_duration_seconds").length).toBe(5);
  });
});

describeWith({ commands: ["promtool"] }, "the exposition with the duration series", () => {
  it("passes promtool check metrics with and without per-edge histograms", async () => {
    for (const metrics of ["", "metrics: {perEdgeHistograms: true}"]) {
      const { agent } = await create(config("30s", metrics));
      await agent.runRound();
      // netcanary's own families (prom-client's default ones are flagged for their names).
      const own = (await agent.metrics.registry.metrics())
        .split("\n")
        .filter((line) => (line.startsWith("# ") ? (line.split(" ")[2] ?? "") : line).startsWith("netcanary_"))
        .join("\n");
      expect(own).toContain("netcanary_probe_last_duration_seconds{");
      expect(own.includes("netcanary_probe_duration_seconds_bucket{")).toBe(metrics !== "");
      const lint = await runCommand(["promtool", "check", "metrics"], { input: `${own}\n`, timeoutMs: 10_000 });
      expect([lint.code, lint.stdout + lint.stderr]).toEqual([0, ""]);
    }
  });
});
