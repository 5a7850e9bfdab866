// The status document (/api/v1/status) from a real agent probing real loopback listeners:
// since when each status holds (the clock starts only when the status changes), the last
// observations (newest first, bounded), a refused config reload with its file, line and field
// (cleared by the next good one), the Zscaler feeds as their sink reports them (ranges, age,
// the last refusal kept after a success), and the health counters.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/daemon/agent.js";
import { OBSERVATIONS_KEPT, StatusBook } from "../../agent/daemon/status-book.js";
import { formatInputError } from "../../agent/documents/located.js";
import { createLogger } from "../../agent/log/log.js";
import type { ZscalerMetricsSink } from "../../agent/zscaler/updater.js";
import { waitFor } from "../support/wait.js";

let dir: string;
let server: Server;
let port: number;
const agents: Agent[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-status-"));
  server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const configText = (expect: "allow" | "deny") => `defaults: {interval: 1h, timeout: 300ms, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: web, sources: [self], tcp: {ip: 127.0.0.1, port: ${port}}, expect: ${expect}}
`;

async function agentWith(text: string, watchIntervalMs = 0): Promise<{ agent: Agent; file: string }> {
  const file = join(dir, `config-${agents.length}.yaml`);
  await writeFile(file, text);
  const started = await Agent.create({ configFile: file, identity: { nodeName: "node-a" }, logger: createLogger("silent"), watchIntervalMs });
  if (!started.ok) throw new Error(started.errors.map(formatInputError).join("\n"));
  agents.push(started.agent);
  return { agent: started.agent, file };
}

describe("the status document", () => {
  it("keeps since when each status holds, and the last observations newest first, no more than the bound, shown for one probe at a time", async () => {
    const { agent } = await agentWith(configText("allow"));
    const before = agent.status({ probe: "web" }).edges[0];
    expect(before).toMatchObject({ probe: "web", source: "self", target: "127.0.0.1", status: "pending", reason: null, observations: [] });
    await agent.runRound();
    const first = agent.status({ probe: "web" }).edges[0];
    // No policy, intent allow, the port answers: ok, since that sample.
    expect(first).toMatchObject({ status: "ok", reason: "ok" });
    expect(Date.parse(first?.since ?? "")).toBeGreaterThanOrEqual(Date.parse(before?.since ?? ""));
    expect(first?.observations).toHaveLength(1);
    for (let round = 0; round < OBSERVATIONS_KEPT + 2; round++) await agent.runRound();
    const later = agent.status({ probe: "web" }).edges[0];
    // The same status: its clock did not restart.
    expect(later?.since).toBe(first?.since);
    const observations = later?.observations ?? [];
    expect(observations).toHaveLength(OBSERVATIONS_KEPT);
    const times = observations.map((observation) => Date.parse(observation.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(new Set(times).size).toBe(OBSERVATIONS_KEPT);
    expect(observations[0]).toMatchObject({ reason: "ok", at: expect.stringMatching(/Z$/), durationSeconds: expect.any(Number) });
    // The whole document: every edge, since when, the last reason, but no observations.
    const whole = agent.status().edges[0];
    expect(whole).toMatchObject({ id: later?.id, since: later?.since, reason: "ok" });
    expect(whole).not.toHaveProperty("observations");
    expect(agent.status({ probe: "other" }).edges).toEqual([]);
  });

  it("shows a refused config reload with file, line and field while the last good one runs, and clears it on the next good one", async () => {
    const { agent, file } = await agentWith(configText("allow"), 30);
    await agent.start();
    const loaded = agent.status().config;
    expect(loaded).toMatchObject({ file, refusedAt: null, errors: [] });
    await writeFile(file, `${configText("allow")}  - {name: stray, sources: [nobody], tcp: {ip: 127.0.0.1, port: 1}}\n`);
    await waitFor(() => agent.status().config.refusedAt !== null, 5000, "the reload refused");
    const refused = agent.status().config;
    expect(refused.errors).toEqual([{ file, line: 5, field: "probes[1].sources[0]", message: expect.stringContaining("nobody") }]);
    expect(refused.loadedAt).toBe(loaded.loadedAt);
    expect(agent.status().edges.map((edge) => edge.probe)).toEqual(["web"]);
    await writeFile(file, configText("deny"));
    await waitFor(() => agent.status().config.refusedAt === null, 5000, "the next good reload");
    expect(Date.parse(agent.status().config.loadedAt)).toBeGreaterThan(Date.parse(loaded.loadedAt));
    expect(agent.status().config.errors).toEqual([]);
  });

  it("tells the health counters and the cluster's state", async () => {
    const { agent } = await agentWith(configText("allow"));
    await agent.start();
    await agent.runRound();
    const status = agent.status();
    expect(status.node).toBe("node-a");
    expect(status.cluster).toEqual({ ready: true, reason: null, resources: [] });
    expect(status.health).toMatchObject({ skippedRuns: 0, invalidSamples: 0, starvationThresholdMs: expect.any(Number) });
    expect(status.health.eventLoopDelayWorstMs).toBeGreaterThanOrEqual(status.health.eventLoopDelayMs);
  });
});

describe("the status book's feed sink", () => {
  it("passes every report on and keeps, per cloud and feed, the ranges, the age and the last refusal", () => {
    const calls: string[] = [];
    const inner: ZscalerMetricsSink = {
      setRanges: (cloud, feed, count) => calls.push(`ranges ${cloud} ${feed} ${count}`),
      setLastSuccess: (cloud, feed, at) => calls.push(`success ${cloud} ${feed} ${at}`),
      failure: (cloud, feed, reason) => calls.push(`failure ${cloud} ${feed} ${reason}`),
      changes: (cloud, feed, added, removed) => calls.push(`changes ${cloud} ${feed} ${added} ${removed}`),
      setInfo: (cloud, feed, hash) => calls.push(`info ${cloud} ${feed} ${hash}`),
    };
    const book = new StatusBook(undefined, 0);
    let now = 1_000_000;
    const sink = book.feedSink(inner, () => now);
    sink.setRanges("zscaler.net", "cenr", 42);
    sink.setLastSuccess("zscaler.net", "cenr", 900);
    sink.failure("zscaler.net", "cenr", "shrunk");
    now = 1_010_000;
    sink.setLastSuccess("zscaler.net", "cenr", 1005);
    sink.changes("zscaler.net", "cenr", 1, 0);
    sink.setInfo("zscaler.net", "cenr", "abc");
    expect(calls).toEqual([
      "ranges zscaler.net cenr 42",
      "success zscaler.net cenr 900",
      "failure zscaler.net cenr shrunk",
      "success zscaler.net cenr 1005",
      "changes zscaler.net cenr 1 0",
      "info zscaler.net cenr abc",
    ]);
    // The refusal is kept after the success that followed it: the page says what went wrong last.
    expect(book.feedStates()).toEqual([{ cloud: "zscaler.net", feed: "cenr", ranges: 42, lastSuccess: 1005, lastRefusal: { reason: "shrunk", at: 1000 } }]);
  });
});
