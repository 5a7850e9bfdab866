// The path signal: a path check's pages, placed by the Zscaler seam in the published data
// centres, counted against the edge's thresholds into unexpected_path; its status, its
// series (netcanary_zscaler_path, the mismatch kind), its Event and its results entry.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import type { ProbeConfig } from "../../agent/config/model.js";
import { messageForChange, reasonForChange } from "../../agent/daemon/events.js";
import { resultsOf } from "../../agent/daemon/results.js";
import { createLogger } from "../../agent/log/log.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import type { ProbeOutcome, ProbeReason } from "../../agent/probes/prober.js";
import { concreteTargets, type Edge, edgeFor } from "../../agent/targets/edges.js";
import { type EdgeRecord, newEdgeRecord, type StatusChange, withOutcome, withPolicy } from "../../agent/verdicts/edge-state.js";
import { activeSignals, count, initialHysteresis } from "../../agent/verdicts/judge.js";
import type { EdgePolicy } from "../../agent/verdicts/policy.js";
import { parseCheckPage } from "../../agent/zscaler/check-page.js";
import type { FeedData, FeedKind } from "../../agent/zscaler/feeds.js";
import type { PathExpectation } from "../../agent/zscaler/path.js";
import { type LiveFeeds, ZscalerSeam } from "../../agent/zscaler/seam.js";
import { parseSamples, samplesOf } from "../support/exposition.js";
import { FIXTURES, fixtureText, mustParse } from "../zscaler/helpers.js";

const VIA = (egress: string) => `<p>You are accessing the Internet via Zscaler Cloud: Frankfurt IV in the zscaler.net cloud.</p><p>Your request is arriving at this server from the IP address ${egress}</p>`;
const DIRECT = "<p>The request received from you didn't come from a Zscaler IP therefore you are not going through the Zscaler proxy service.</p><p>Your request is arriving at this server from the IP address 192.0.2.44</p>";
const PORTAL = "<html><body>Accept the terms to use the Wi-Fi</body></html>";

const cenr = mustParse("cenr", fixtureText(FIXTURES.cenr));
const feeds: LiveFeeds = {
  current: (cloud: string, kind: FeedKind): FeedData | undefined => (cloud === "zscaler.net" && kind === "cenr" ? cenr : undefined),
  onChange: () => () => undefined,
};
const silent = createLogger("error", new Writable({ write: (_chunk, _encoding, done) => done() }), "json");

async function seamFor(clouds: readonly string[]): Promise<ZscalerSeam> {
  const seam = await ZscalerSeam.create(null, { logger: silent, metrics: { uncovered: { set: () => undefined, remove: () => undefined }, feeds: {} as never }, feeds });
  seam.configure({ clouds, baseUrl: "http://127.0.0.1:1", refreshMs: 60_000, timeoutMs: 1000, maxBytes: 1 << 20, maxShrinkFraction: 0.5, removalGraceMs: 0, feeds: ["cenr"], audit: null });
  return seam;
}

function probe(overrides: Partial<ProbeConfig> = {}): ProbeConfig {
  const ip = parseIp("192.0.2.10");
  if (!ip.ok) throw new Error(ip.reason);
  return {
    name: "egress",
    sources: ["self"],
    expect: null,
    schedule: { kind: "interval", intervalMs: 1000 },
    timeoutMs: 500,
    failureThreshold: 3,
    successThreshold: 2,
    target: { kind: "tcp", ip: ip.value, port: 80 },
    ...overrides,
  };
}

function pathEdge(expect: PathExpectation | undefined, name = "egress"): Edge {
  const config = probe({ name });
  const [target] = concreteTargets(config.target, undefined);
  if (!target) throw new Error("no concrete target");
  const edge = edgeFor(config, { name: "self", namespace: "mon", node: "n1" }, target);
  return expect === undefined ? edge : { ...edge, pathExpect: expect };
}

function policy(stance: EdgePolicy["stance"]): EdgePolicy {
  return { stance, summary: stance, lines: [stance], egressRule: "none", ingressRule: "none", cniDependent: false };
}

/** What the prober returns for a page (or none), before the seam places it. */
function fetched(page: string | undefined, reason: ProbeReason = "ok"): ProbeOutcome {
  return { reason, durationSeconds: 0.01, phases: { connect: 0.005 }, address: "192.0.2.10", ...(page !== undefined ? { checkPage: parseCheckPage(page) } : {}) };
}

/** Samples through the seam and the judgement, as the agent runs them; every status change on the way. */
async function drive(start: EdgeRecord, pages: readonly (string | undefined)[], metrics?: AgentMetrics) {
  const seam = await seamFor(["zscaler.net"]);
  let record = start;
  const changes: StatusChange[] = [];
  for (const page of pages) {
    const outcome = seam.annotateOutcome(record.edge, fetched(page, page === undefined ? "timeout" : "ok"));
    const step = withOutcome(record, outcome, false, record.policy, undefined, new Date("2030-01-01T00:00:00Z"));
    record = step.record;
    metrics?.recordOutcome(record, outcome);
    metrics?.recordState(record);
    if (step.change) changes.push(step.change);
  }
  return { record, changes, steps: changes.map((change) => `${change.from}->${change.to}`) };
}

describe("the path signal's counts", () => {
  it("count() raises after failureThreshold inconsistent samples and clears after successThreshold consistent ones, skipping inconclusive ones", () => {
    const thresholds = { failureThreshold: 2, successThreshold: 2 };
    let state = initialHysteresis("allow");
    for (const judgement of ["inconsistent", "inconclusive", "inconsistent"] as const) state = count(state, judgement, thresholds);
    expect(state.raised).toBe(true);
    state = count(state, "consistent", thresholds);
    expect(state.raised).toBe(true);
    state = count(state, "consistent", thresholds);
    expect(state.raised).toBe(false);
  });

  it("activeSignals adds unexpected_path last, after the network signals", () => {
    const blocked = { ...initialHysteresis("allow"), raised: true, settled: true };
    expect(activeSignals(blocked, "allow", null, false, true)).toEqual(["unexpected_block", "unexpected_path"]);
    expect(activeSignals(initialHysteresis("allow"), "allow", null, false, false)).toEqual([]);
  });
});

describe("an edge with a path check", () => {
  it("goes to unexpected_path after failureThreshold direct pages when it expects via, and back to ok after successThreshold via pages", async () => {
    const start = newEdgeRecord(pathEdge("via"), policy("allow"));
    const { record, steps } = await drive(start, [VIA("147.161.234.10"), VIA("147.161.234.10"), DIRECT, DIRECT, DIRECT, VIA("147.161.234.10"), VIA("147.161.234.10")]);
    expect(steps).toEqual(["pending->ok", "ok->unexpected_path", "unexpected_path->ok"]);
    expect(record.path).toMatchObject({ expect: "via", raised: false, observed: { path: "via", cloud: "zscaler.net", city: "Frankfurt IV", egressIp: "147.161.234.10" } });
  });

  it("turns the signal on for the reverse too: via Zscaler where it must go direct", async () => {
    const { record, steps } = await drive(newEdgeRecord(pathEdge("direct"), policy("allow")), [VIA("147.161.234.10"), VIA("147.161.234.10"), VIA("147.161.234.10")]);
    // The page came each time (the edge is ok as a connection), the path was the other one.
    expect(steps).toEqual(["pending->ok", "ok->unexpected_path"]);
    expect(record.signals).toEqual(["unexpected_path"]);
  });

  it("never counts an unreadable page or a failed request as direct: the signal neither rises nor clears", async () => {
    const quiet = await drive(newEdgeRecord(pathEdge("via"), policy("allow")), [PORTAL, PORTAL, PORTAL, PORTAL, "", ""]);
    expect(quiet.record.signals).toEqual([]);
    expect(quiet.record.path).toMatchObject({ raised: false, consecutiveInconsistent: 0, observed: { path: "unknown", reason: "empty" } });
    const raised = await drive(newEdgeRecord(pathEdge("via"), policy("allow")), [DIRECT, DIRECT, DIRECT, PORTAL, undefined, PORTAL]);
    expect(raised.record.signals).toEqual(["unexpected_path"]);
    expect(raised.record.path?.observed).toMatchObject({ path: "unknown", reason: "not_a_check_page" });
    // A failed request has no page at all.
    const failed = await drive(newEdgeRecord(pathEdge("via"), policy("allow")), [undefined]);
    expect(failed.record.path?.observed).toMatchObject({ path: "unknown", reason: "no_page", detail: "no check page: timeout" });
  });

  it("keeps its path state through a policy change: the path does not depend on policy", async () => {
    const { record } = await drive(newEdgeRecord(pathEdge("via"), policy("allow")), [DIRECT, DIRECT, DIRECT]);
    const { record: after } = withPolicy(record, policy("deny"), Date.now());
    expect(after.signals).toContain("unexpected_path");
  });

  it("an edge without a path check has no path state and never this signal", async () => {
    const { record } = await drive(newEdgeRecord(pathEdge(undefined), policy("allow")), [DIRECT, DIRECT, DIRECT]);
    expect(record.path).toBeUndefined();
    expect(record.signals).toEqual([]);
  });
});

describe("the path signal's series", () => {
  it("exports netcanary_zscaler_path with the expectation, the path, cloud and city, and the unexpected_path mismatch", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const start = newEdgeRecord(pathEdge("via"), policy("allow"));
    metrics.recordState(start);
    const before = parseSamples(await metrics.registry.metrics());
    expect(samplesOf(before, "netcanary_zscaler_path")).toEqual([]);
    expect(samplesOf(before, "netcanary_probe_mismatch").map((s) => s.labels.kind).sort()).toEqual(["intent_violation", "unexpected_allow", "unexpected_block", "unexpected_path"]);

    const { record } = await drive(start, [VIA("147.161.234.10")], metrics);
    let samples = parseSamples(await metrics.registry.metrics());
    expect(samplesOf(samples, "netcanary_zscaler_path").map((s) => [s.labels, s.value])).toEqual([
      [expect.objectContaining({ probe: "egress", source: "self", expect: "via", path: "via", cloud: "zscaler.net", city: "Frankfurt IV" }), 1],
    ]);

    await drive(record, [DIRECT, DIRECT, DIRECT], metrics);
    samples = parseSamples(await metrics.registry.metrics());
    // One series, relabelled: never two paths for one edge.
    expect(samplesOf(samples, "netcanary_zscaler_path").map((s) => [s.labels.path, s.labels.cloud, s.labels.city])).toEqual([["direct", "", ""]]);
    expect(samplesOf(samples, "netcanary_probe_mismatch").find((s) => s.labels.kind === "unexpected_path")?.value).toBe(1);
    expect(samplesOf(samples, "netcanary_edge_status").map((s) => s.labels.status)).toEqual(["unexpected_path"]);

    metrics.removeGroup(record.edge.labels);
    samples = parseSamples(await metrics.registry.metrics());
    expect(samplesOf(samples, "netcanary_zscaler_path")).toEqual([]);
    expect(samplesOf(samples, "netcanary_probe_mismatch")).toEqual([]);
  });

  it("an edge without a path check gets neither the path series nor an unexpected_path mismatch", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    await drive(newEdgeRecord(pathEdge(undefined), policy("allow")), [DIRECT], metrics);
    const samples = parseSamples(await metrics.registry.metrics());
    expect(samplesOf(samples, "netcanary_zscaler_path")).toEqual([]);
    expect(samplesOf(samples, "netcanary_probe_mismatch").map((s) => s.labels.kind).sort()).toEqual(["intent_violation", "unexpected_allow", "unexpected_block"]);
  });

  it("a probe redefined with or without a path check under the same labels gains or loses the kind and the path series", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const kinds = async () => samplesOf(parseSamples(await metrics.registry.metrics()), "netcanary_probe_mismatch").map((s) => s.labels.kind).sort();
    metrics.recordState(newEdgeRecord(pathEdge(undefined), policy("allow")));
    expect(await kinds()).not.toContain("unexpected_path");
    const { record } = await drive(newEdgeRecord(pathEdge("via"), policy("allow")), [DIRECT, DIRECT, DIRECT], metrics);
    expect(await kinds()).toContain("unexpected_path");
    expect(record.signals).toEqual(["unexpected_path"]);
    metrics.recordState(newEdgeRecord(pathEdge(undefined), policy("allow")));
    expect(await kinds()).toEqual(["intent_violation", "unexpected_allow", "unexpected_block"]);
    expect(samplesOf(parseSamples(await metrics.registry.metrics()), "netcanary_zscaler_path")).toEqual([]);
  });
});

describe("the path signal told", () => {
  it("is a Warning Event UnexpectedPath whose message names the path seen, the cloud, the data centre and the egress", async () => {
    const { changes } = await drive(newEdgeRecord(pathEdge("direct"), policy("allow")), [VIA("147.161.234.10"), VIA("147.161.234.10"), VIA("147.161.234.10")]);
    const change = changes.at(-1);
    if (!change) throw new Error("no status change");
    expect([change.from, change.to]).toEqual(["ok", "unexpected_path"]);
    expect(reasonForChange(change.from, change.to)).toEqual({ reason: "UnexpectedPath", type: "Warning" });
    expect(reasonForChange("unexpected_path", "ok")).toEqual({ reason: "EdgeRecovered", type: "Normal" });
    expect(messageForChange(change)).toContain("path via Zscaler (zscaler.net, Frankfurt IV), egress 147.161.234.10, expected direct (egress 147.161.234.10 in Frankfurt IV (EMEA))");
  });

  it("shows in the results: the expectation, the path seen and whether the signal is raised", async () => {
    const { record } = await drive(newEdgeRecord(pathEdge("via"), policy("allow")), [DIRECT, DIRECT, DIRECT]);
    const [entry] = resultsOf([record]).results;
    expect(entry?.status).toBe("unexpected_path");
    expect(entry?.path).toEqual({ expect: "via", raised: true, observed: { path: "direct", cloud: "", city: "", egressIp: "192.0.2.44", detail: "egress 192.0.2.44" } });
    expect(resultsOf([newEdgeRecord(pathEdge(undefined), policy("allow"))]).results[0]).not.toHaveProperty("path");
  });
});
