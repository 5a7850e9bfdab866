// The agent with Zscaler's feeds (served by a local stand-in for config.zscaler.com from
// the real payloads): metrics, data-centre targets, the coverage audit turning uncovered
// ranges into intent violations, and DNS answers checked against a cloud's ranges.
// Traffic stays on loopback: TCP edges to Zscaler names are judged, never probed here.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cidrContainsCidr, parseCidr } from "../../agent/addresses/ip.js";
import { Agent } from "../../agent/daemon/agent.js";
import { createLogger } from "../../agent/log/log.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { type CenrFeed, parseFeed } from "../../agent/zscaler/feeds.js";
import { DEFAULT_FEED_MAX_BYTES } from "../../agent/zscaler/fetch.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { fixturePayload, ZSCALER_PATHS, ZscalerServer } from "../support/zscaler-server.js";

let server: ZscalerServer;
let dns: TestDnsServer | undefined;
let agent: Agent | undefined;
let dir: string;
let cenr: CenrFeed;
/** An IPv4 data centre with a ZEN host name, and an address inside its first range. */
let centre: { city: string; continent: string; hostname: string; range: string; address: string };

beforeAll(() => {
  const parsed = parseFeed("cenr", "zscaler.net", fixturePayload(ZSCALER_PATHS.cenr));
  if (!parsed.ok) throw new Error(parsed.reason.message);
  cenr = parsed.value;
  const found = cenr.dataCentres.find((c) => c.hostname !== null && c.ranges.some((r) => !r.includes(":")));
  if (!found?.hostname) throw new Error("no IPv4 data centre with a host name in the fixture");
  const range = found.ranges.find((r) => !r.includes(":")) as string;
  const cidr = parseCidr(range);
  if (!cidr.ok) throw new Error(cidr.reason);
  const base = range.split("/")[0]?.split(".").map(Number) ?? [];
  centre = { city: found.city, continent: found.continent, hostname: found.hostname, range, address: `${base[0]}.${base[1]}.${base[2]}.${(base[3] ?? 0) + 1}` };
});

beforeEach(async () => {
  server = await ZscalerServer.start();
  dir = await mkdtemp(join(tmpdir(), "netcanary-zscaler-agent-"));
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await dns?.close();
  dns = undefined;
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function create(config: string, manifests?: string): Promise<{ agent: Agent; metrics: AgentMetrics }> {
  const configFile = join(dir, "config.yaml");
  await writeFile(configFile, config);
  const metrics = new AgentMetrics({ defaultMetrics: false });
  const files: string[] = [];
  if (manifests) {
    files.push(join(dir, "cluster.yaml"));
    await writeFile(files[0] as string, manifests);
  }
  const started = await Agent.create({
    configFile,
    ...(files.length > 0 ? { manifests: files } : {}),
    identity: { podNamespace: "edge", podName: "agent", nodeName: "node-a" },
    logger: createLogger((process.env["DEBUG_LOG"] as "debug" | undefined) ?? "silent"),
    metrics,
    watchIntervalMs: 0,
  });
  if (!started.ok) throw new Error(JSON.stringify(started.errors));
  agent = started.agent;
  return { agent: started.agent, metrics };
}

const cluster = (egress: string) => `
kind: Namespace
metadata: {name: edge}
---
kind: Pod
metadata: {name: agent, namespace: edge, labels: {app: agent}}
status: {phase: Running, podIP: 127.0.0.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: edge}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
${egress}
`;

describe("the agent with Zscaler's feeds", () => {
  it("keeps the feeds as metrics, expands data centres, and turns uncovered ranges into intent violations", async () => {
    const config = `zscaler: {baseUrl: "${server.baseUrl}", clouds: [zscaler.net], cacheDir: "${dir}/cache", audit: {feeds: [future, hubs-recommended], ports: [443]}}
sources: [{name: self, self: true}]
probes:
  - name: dcs
    sources: [self]
    tcp: {zscaler: {cloud: zscaler.net, endpoints: [dc], cities: ["${centre.city.toUpperCase()}"], ports: [443]}}
    expect: allow
`;
    // Egress to everything (IPv4 and IPv6) on 443 except one published range of a data centre.
    const { agent, metrics } = await create(config, cluster(`    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [${centre.range}]}}, {ipBlock: {cidr: "::/0"}}]\n      ports: [{port: 443}]`));
    await agent.refreshFeeds(10_000);

    const exposition = await metrics.registry.metrics();
    expect(exposition).toMatch(/netcanary_zscaler_ranges\{cloud="zscaler.net",feed="cenr"\} 673/);
    expect(exposition).toMatch(/netcanary_zscaler_feed_last_success_timestamp_seconds\{cloud="zscaler.net",feed="future"\} \d/);
    expect(exposition).toMatch(/netcanary_zscaler_feed_info\{cloud="zscaler.net",feed="hubs-required",hash="sha256:[0-9a-f]{64}"\} 1/);
    // The future feed holds the data centre's range: exactly that much is uncovered.
    expect(exposition).toMatch(/netcanary_zscaler_uncovered_ranges\{source="self",cloud="zscaler.net",feed="future"\} [1-9]/);

    const results = agent.results({ probe: "dcs" }).results;
    // The city matched case-insensitively; every edge is a ZEN host of that city.
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => r.targetKind === "zscaler" && r.target.endsWith(".sme.zscaler.net"))).toBe(true);
    expect(results.map((r) => r.target)).toContain(centre.hostname);
    // Intent to reach Zscaler, some of its ranges uncovered: an intent violation at once, explained.
    expect(results.every((r) => r.status === "intent_violation")).toBe(true);
    // Exactly the future prefix holding that data centre's range is uncovered.
    const future = parseFeed("future", "zscaler.net", fixturePayload(ZSCALER_PATHS.future));
    if (!future.ok) throw new Error(future.reason.message);
    const holding = future.value.cidrs.filter((prefix) => {
      const outer = parseCidr(prefix);
      const inner = parseCidr(centre.range);
      return outer.ok && inner.ok && cidrContainsCidr(outer.value, inner.value);
    });
    expect(holding).toHaveLength(1);
    expect(exposition).toMatch(/netcanary_zscaler_uncovered_ranges\{source="self",cloud="zscaler.net",feed="future"\} 1\n/);
    expect(results[0]?.policy.explanation.lines.join("\n")).toMatch(
      new RegExp(`leave \\d+ published range\\(s\\) of zscaler\\.net uncovered on ports 443 \\(future(, hubs-recommended)?\\): .*${(holding[0] as string).replaceAll(".", "\\.")}`),
    );
  });

  it("with the default size cap, a feed of exactly 2 MiB is taken, one byte more is refused (too_large) and the last good data kept", async () => {
    const config = `zscaler: {baseUrl: "${server.baseUrl}", clouds: [zscaler.net], feeds: [cenr], audit: false}
sources: [{name: self, self: true}]
probes: []
`;
    const { agent, metrics } = await create(config);
    const series = async (name: string) => (await metrics.registry.metrics()).split("\n").filter((line) => line.startsWith(name));
    const real = fixturePayload(ZSCALER_PATHS.cenr);
    // A real change (one range fewer), padded with whitespace to the cap: valid JSON, accepted.
    const changed = real.replace(`"range":"${centre.range}"`, `"range":""`);
    expect(changed).not.toBe(real);
    const atCap = changed + " ".repeat(DEFAULT_FEED_MAX_BYTES - Buffer.byteLength(changed));
    expect(Buffer.byteLength(atCap)).toBe(2 * 1024 * 1024);
    server.setPayload(ZSCALER_PATHS.cenr, atCap);
    await agent.refreshFeeds(10_000);
    expect(await series('netcanary_zscaler_feed_failures_total{cloud="zscaler.net",feed="cenr"')).toEqual([]);
    const taken = await series('netcanary_zscaler_ranges{cloud="zscaler.net",feed="cenr"}');
    expect(taken).toHaveLength(1);

    // The real payload again, one byte over the cap: refused before it is parsed.
    server.setPayload(ZSCALER_PATHS.cenr, real + " ".repeat(DEFAULT_FEED_MAX_BYTES + 1 - Buffer.byteLength(real)));
    await agent.refreshFeeds(10_000);
    expect(await series('netcanary_zscaler_feed_failures_total{cloud="zscaler.net",feed="cenr"')).toEqual([
      'netcanary_zscaler_feed_failures_total{cloud="zscaler.net",feed="cenr",reason="too_large"} 1',
    ]);
    expect(await series('netcanary_zscaler_ranges{cloud="zscaler.net",feed="cenr"}')).toEqual(taken);
  });

  it("clears the violation when the policy covers every range again, and serves the last good data from the cache", async () => {
    const config = `zscaler: {baseUrl: "${server.baseUrl}", clouds: [zscaler.net], cacheDir: "${dir}/cache", audit: {feeds: [future], ports: [443]}}
sources: [{name: self, self: true}]
probes:
  - {name: gw, sources: [self], tcp: {zscaler: {cloud: zscaler.net, endpoints: [gateway]}}, expect: allow}
`;
    const open = cluster(`    - to: [{ipBlock: {cidr: 0.0.0.0/0}}, {ipBlock: {cidr: "::/0"}}]`);
    const first = await create(config, open);
    await first.agent.refreshFeeds(10_000);
    // The gateway's five ports; nothing uncovered with egress open to 0.0.0.0/0.
    expect(first.agent.results({ probe: "gw" }).results.map((r) => r.port).sort((a, b) => a - b)).toEqual([80, 443, 9400, 9443, 9480]);
    expect(await first.metrics.registry.metrics()).toMatch(/netcanary_zscaler_uncovered_ranges\{source="self",cloud="zscaler.net",feed="future"\} 0/);
    expect(first.agent.results({ probe: "gw" }).results.some((r) => r.status === "intent_violation")).toBe(false);
    await first.agent.stop();
    agent = undefined;

    // The feed server is gone; a new agent still has the data, from the cache.
    await server.close();
    const second = await create(config, open);
    await second.agent.refreshFeeds(3_000);
    expect(await second.metrics.registry.metrics()).toMatch(/netcanary_zscaler_uncovered_ranges\{source="self",cloud="zscaler.net",feed="future"\} 0/);
    server = await ZscalerServer.start(); // for afterEach
  });

  it("applies the cached feeds as soon as it starts, before any fetch succeeds", async () => {
    // A cron schedule that does not come due during the test: nothing is probed, only judged.
    const config = `zscaler: {baseUrl: "${server.baseUrl}", clouds: [zscaler.net], cacheDir: "${dir}/cache", audit: {feeds: [future], ports: [443]}}
sources: [{name: self, self: true}]
probes:
  - {name: gw, sources: [self], tcp: {zscaler: {cloud: zscaler.net, endpoints: [gateway]}}, schedule: "0 0 1 1 *"}
`;
    const open = cluster(`    - to: [{ipBlock: {cidr: 0.0.0.0/0}}, {ipBlock: {cidr: "::/0"}}]`);
    const first = await create(config, open);
    await first.agent.refreshFeeds(10_000);
    await first.agent.stop();
    agent = undefined;

    // The feed server is gone: what the agent knows after start() comes from the cache alone.
    await server.close();
    const second = await create(config, open);
    await second.agent.start();
    expect(second.agent.results({ probe: "gw" }).results.map((r) => r.port).sort((a, b) => a - b)).toEqual([80, 443, 9400, 9443, 9480]);
    expect(await second.metrics.registry.metrics()).toMatch(/netcanary_zscaler_uncovered_ranges\{source="self",cloud="zscaler.net",feed="future"\} 0/);
    server = await ZscalerServer.start(); // for afterEach
  });

  it("checks DNS answers against the cloud's published ranges and names the data centre", async () => {
    dns = await startDnsServer({
      rules: [
        { name: "gateway.zscaler.net", type: "A", answers: [{ type: "A", value: centre.address }] },
        { name: "shifted.zscaler.net", type: "A", answers: [{ type: "A", value: "203.0.113.7" }] },
      ],
    });
    const config = `zscaler: {baseUrl: "${server.baseUrl}", clouds: [zscaler.net], audit: false}
sources: [{name: self, self: true}]
probes:
  - {name: gateway, sources: [self], dns: {query: gateway.zscaler.net, server: "${dns.address}", answersIn: "zscaler:zscaler.net"}}
  - {name: shifted, sources: [self], dns: {query: shifted.zscaler.net, server: "${dns.address}", answersIn: ["zscaler:zscaler.net"]}}
`;
    const { agent } = await create(config);
    // Before the ranges are loaded, answers cannot be checked: the agent's limit, not a network fault.
    await agent.runRound();
    expect(agent.results({ probe: "gateway" }).results[0]?.observed).toMatchObject({ reason: "agent_error", detail: expect.stringContaining("not loaded yet") });

    await agent.refreshFeeds(10_000);
    await agent.runRound();
    const [gateway] = agent.results({ probe: "gateway" }).results;
    expect(gateway?.observed).toMatchObject({ reason: "ok", detail: `${centre.address} in ${centre.city} (${centre.continent})` });
    const [shifted] = agent.results({ probe: "shifted" }).results;
    expect(shifted?.observed?.reason).toBe("dns_unexpected_answer");
    expect(shifted?.observed?.detail).toContain("203.0.113.7 in no published data centre");
  });
});
