// A running agent that derives its probes from its policies: real listeners on loopback
// addresses standing for the pods, manifests in a watched file, the HTTP server serving
// /api/v1/coverage and /metrics. Derived edges follow the cluster: a rule's only destination
// going away takes its edge with it and coverage drops (metric and document); a new rule gets
// its edge without a restart.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/daemon/agent.js";
import type { Coverage } from "../../agent/derive/coverage.js";
import { createLogger } from "../../agent/log/log.js";
import { startServer } from "../../agent/server/http.js";
import { agentEgressManifests } from "../support/agent-egress.js";
import { parseSamples, samplesOf } from "../support/exposition.js";
import { acceptingEndpoint, type Endpoint } from "../support/listeners.js";

const RULE = (i: number) => `shop/agent-egress spec.egress[${i}]`;

let dir: string;
let api: Endpoint, db: Endpoint, cache: Endpoint;
let agent: Agent;
let server: Awaited<ReturnType<typeof startServer>>;
let cluster: string;

function manifests(options: { cache: boolean; dbAgain?: boolean }): string {
  return agentEgressManifests({
    namespace: "shop",
    node: "node-a",
    pods: [
      { name: "agent", ip: "127.0.0.1", port: 1 },
      { name: "api", ip: "127.0.0.2", port: api.port },
      { name: "db", ip: "127.0.0.3", port: db.port },
      ...(options.cache ? [{ name: "cache", ip: "127.0.0.4", port: cache.port }] : []),
    ],
    rules: [
      { app: "api", port: "serve" },
      { app: "db", port: db.port },
      { app: "cache", port: cache.port },
      ...(options.dbAgain ? [{ app: "db" }] : []),
    ],
  });
}

async function waitFor<T>(read: () => Promise<T> | T, done: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const get = async (path: string) => (await fetch(`http://127.0.0.1:${server.address.port}${path}`)).text();
const coverage = async () => JSON.parse(await get("/api/v1/coverage")) as Coverage;
const derivedTargets = () => agent.results().results.filter((r) => r.probe === "derived").map((r) => `${r.target} ${r.status}`).sort();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-derive-agent-"));
  [api, db, cache] = await Promise.all([acceptingEndpoint("127.0.0.2"), acceptingEndpoint("127.0.0.3"), acceptingEndpoint("127.0.0.4")]);
  cluster = join(dir, "cluster.yaml");
  await writeFile(cluster, manifests({ cache: true }));
  const config = join(dir, "netcanary.yaml");
  await writeFile(config, "defaults: {interval: 200ms, timeout: 150ms, failureThreshold: 1}\nagent: {coverageWindow: 1m}\nsources: [{name: self, self: true, derive: {deny: false}}]\nprobes: []\n");
  const started = await Agent.create({
    configFile: config,
    manifests: [cluster],
    identity: { nodeName: "node-a", podNamespace: "shop", podName: "agent", podIp: { family: 4, value: 0x7f000001n, text: "127.0.0.1" } },
    logger: createLogger("silent"),
    watchIntervalMs: 50,
  });
  if (!started.ok) throw new Error(JSON.stringify(started.errors));
  agent = started.agent;
  await agent.start();
  server = await startServer({ registry: agent.metrics.registry, readiness: () => agent.readiness(), results: () => agent.results(), coverage: () => agent.coverage() }, { host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await server?.close();
  await agent?.stop();
  await Promise.all([api?.close(), db?.close(), cache?.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe("a running agent with a deriving source", () => {
  it("probes one derived edge per rule and reports every rule exercised, by document and metric", async () => {
    await waitFor(derivedTargets, (t) => t.length === 3 && t.every((line) => line.endsWith(" ok")), "three derived edges, ok");
    expect(derivedTargets()).toEqual([`${RULE(0)} ok`, `${RULE(1)} ok`, `${RULE(2)} ok`]);
    const document = await waitFor(coverage, (c) => c.exercised === 3, "full coverage");
    expect(document).toMatchObject({ windowSeconds: 60, exercised: 3, total: 3, ratio: 1 });
    expect(document.policies[0]?.rules.map((r) => [r.rule, r.by])).toEqual([
      [RULE(0), ["derived"]],
      [RULE(1), ["derived"]],
      [RULE(2), ["derived"]],
    ]);
    const samples = parseSamples(await get("/metrics"));
    expect(samplesOf(samples, "netcanary_rule_coverage_ratio", { policy: "shop/agent-egress" })).toEqual([expect.objectContaining({ value: 1 })]);
    expect(samplesOf(samples, "netcanary_rule_unexercised_info")).toEqual([]);
    expect(samplesOf(samples, "netcanary_rule_exercised_info").map((s) => s.labels["rule"])).toEqual([RULE(0), RULE(1), RULE(2)]);
  });

  it("drops the edge and the coverage when a rule's only destination disappears, and derives a new rule's edge without a restart", async () => {
    await writeFile(cluster, manifests({ cache: false }));
    await waitFor(derivedTargets, (t) => t.length === 2, "the cache rule's edge gone");
    const document = await waitFor(coverage, (c) => c.total === 3 && c.exercised === 2, "coverage 2 of 3");
    expect(document.policies[0]?.rules.find((r) => r.rule === RULE(2))).toMatchObject({ exercised: false, reason: `no destination the cluster state or the config names is admitted by it on ${cache.port}` });
    // A scrape may be served a text a few hundred milliseconds old (server/exposition.ts).
    const ratio = (samples: ReturnType<typeof parseSamples>) => samplesOf(samples, "netcanary_rule_coverage_ratio", { policy: "shop/agent-egress" })[0]?.value;
    const samples = await waitFor(async () => parseSamples(await get("/metrics")), (s) => ratio(s) !== 1, "the ratio to drop");
    expect(ratio(samples)).toBeCloseTo(2 / 3, 5);
    expect(samplesOf(samples, "netcanary_rule_unexercised_info").map((s) => s.labels)).toEqual([{ policy: "shop/agent-egress", direction: "egress", rule: RULE(2) }]);
    expect(samplesOf(samples, "netcanary_rule_exercised_info").map((s) => s.labels["rule"])).toEqual([RULE(0), RULE(1)]);

    await writeFile(cluster, manifests({ cache: false, dbAgain: true }));
    await waitFor(derivedTargets, (t) => t.includes(`${RULE(3)} ok`), "the new rule's edge, probed");
    expect(await waitFor(coverage, (c) => c.total === 4 && c.exercised === 3, "coverage 3 of 4")).toMatchObject({ exercised: 3, total: 4 });
  });
});
