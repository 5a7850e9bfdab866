// The agent composed from its real parts, probing real loopback listeners: results,
// verdicts against manifests, readiness, metrics, and config reload from a watched file.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rename, rm, truncate, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { Writable } from "node:stream";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent, type AgentOptions, type ResultEntry } from "../../agent/daemon/agent.js";
import { createLogger } from "../../agent/log/log.js";
import { EMPTY_SNAPSHOT } from "../../agent/cluster/snapshot.js";
import { parseConfig } from "../../agent/config/load.js";
import { formatInputError } from "../../agent/documents/located.js";
import { DENYING_CLUSTER } from "../support/deny-cluster.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

async function listen(host: string): Promise<Listener> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: 0 }, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function closedPort(host: string): Promise<number> {
  const l = await listen(host);
  await l.close();
  return l.port;
}

let dir: string;
let open: Listener;
let open2: Listener;
let closed: number;
const agents: Agent[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-agent-"));
  open = await listen("127.0.0.1");
  open2 = await listen("127.0.0.2");
  closed = await closedPort("127.0.0.1");
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});
afterAll(async () => {
  await open.close();
  await open2.close();
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
async function file(text: string, name = `f${fileCount++}.yaml`): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function create(options: Partial<AgentOptions> & { configFile: string }): Promise<Agent> {
  const started = await Agent.create({ identity: { nodeName: "test" }, logger: createLogger("silent"), watchIntervalMs: 0, ...options });
  if (!started.ok) throw new Error(started.errors.map(formatInputError).join("\n"));
  agents.push(started.agent);
  return started.agent;
}

function byProbe(agent: Agent): Record<string, ResultEntry> {
  return Object.fromEntries(agent.results().results.map((r) => [r.probe, r]));
}

async function metricLines(agent: Agent, prefix: string): Promise<string[]> {
  return (await agent.metrics.registry.metrics()).split("\n").filter((line) => line.startsWith(prefix));
}

async function gauge(agent: Agent): Promise<number | undefined> {
  return (await agent.metrics.configReloadSuccessful.get()).values[0]?.value;
}

describe("Agent without cluster state", () => {
  it("an open port is ok; a refused one becomes unexpected_block after failureThreshold rounds", async () => {
    const config = await file(`defaults: {interval: 30s, timeout: 1s, failureThreshold: 2, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: open, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}}
  - {name: closed, sources: [self], tcp: {ip: 127.0.0.1, port: ${closed}}}
`);
    const agent = await create({ configFile: config });
    expect(agent.readiness()).toEqual({ ready: false, reason: "first round: 2 of 2 edges not probed yet" });
    const fresh = byProbe(agent);
    expect([fresh["open"]?.status, fresh["open"]?.observed, fresh["open"]?.policy.verdict]).toEqual(["pending", null, "allow"]);

    await agent.runRound();
    let r = byProbe(agent);
    expect([r["open"]?.status, r["open"]?.observed?.reason]).toEqual(["ok", "ok"]);
    expect([r["closed"]?.status, r["closed"]?.observed?.reason]).toEqual(["pending", "refused"]);
    expect(agent.readiness()).toEqual({ ready: true });

    await agent.runRound();
    r = byProbe(agent);
    expect([r["closed"]?.status, r["closed"]?.signals, r["closed"]?.observed?.reason]).toEqual(["unexpected_block", ["unexpected_block"], "refused"]);
    expect(r["open"]?.status).toBe("ok");

    // The results document, in full for one edge.
    expect(r["closed"]).toEqual({
      id: `closed|self||127.0.0.1|${closed}|TCP|`,
      probe: "closed",
      source: "self",
      sourceNamespace: "",
      sourceNode: "test",
      sourceWorkload: "",
      target: "127.0.0.1",
      targetKind: "ip",
      address: "127.0.0.1",
      port: closed,
      protocol: "TCP",
      intent: null,
      policy: {
        verdict: "allow",
        expectedFrom: "policy",
        explanation: {
          summary: "allow: the cluster state has no NetworkPolicy",
          lines: ["allow: the cluster state has no NetworkPolicy"],
          egressRule: "not_isolated",
          ingressRule: "not_isolated",
          cniDependent: false,
        },
      },
      observed: { reason: "refused", durationSeconds: expect.any(Number), at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), address: "127.0.0.1", detail: expect.any(String) },
      signals: ["unexpected_block"],
      status: "unexpected_block",
    });
    expect(r["closed"]?.observed?.durationSeconds).toBeLessThan(1);
    expect(Date.now() - Date.parse(r["closed"]?.observed?.at ?? "")).toBeLessThan(10_000);

    const status = await metricLines(agent, "netcanary_edge_status{");
    expect(status.filter((line) => line.includes('probe="closed"'))).toEqual([expect.stringContaining('status="unexpected_block"')]);
    expect(status.filter((line) => line.includes('probe="open"'))).toEqual([expect.stringContaining('status="ok"')]);
    expect(await metricLines(agent, "netcanary_edges ")).toEqual(["netcanary_edges 2"]);
    const totals = await metricLines(agent, "netcanary_probes_total{");
    expect(totals.find((line) => line.includes('probe="closed"') && line.includes('reason="refused"'))?.endsWith(" 2")).toBe(true);
  });

  it("refuses to start on a bad config, naming file, line and field", async () => {
    const config = await file(`sources: [{name: self, self: true}]\nprobes:\n  - {name: a, sources: [self], tcp: {ip: 127.0.0.1, port: 70000}}\n`);
    const started = await Agent.create({ configFile: config, identity: { nodeName: "test" }, logger: createLogger("silent") });
    expect(started.ok).toBe(false);
    if (!started.ok) expect(started.errors.map(formatInputError)).toEqual([`${config}:3:53: probes[0].tcp.port: must be a port number (1-65535)`]);
  });
});


describe("Agent with manifests", () => {
  const identity = { nodeName: "test", podNamespace: "ns", podName: "agent" };

  it("policy deny: a connection that gets through is unexpected_allow; intent allow is intent_violation at once", async () => {
    const manifests = await file(DENYING_CLUSTER, "cluster.yaml");
    const config = await file(`defaults: {interval: 30s, timeout: 1s, failureThreshold: 2, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: leaky, sources: [self], tcp: {ip: 127.0.0.2, port: ${open2.port}}}
  - {name: required, sources: [self], tcp: {ip: 127.0.0.2, port: ${open2.port}}, expect: allow}
`);
    const agent = await create({ configFile: config, manifests: [manifests], identity });
    let r = byProbe(agent);
    expect(r["leaky"]?.policy.verdict).toBe("deny");
    expect(r["leaky"]?.policy.explanation.egressRule).toBe("none");
    expect(r["leaky"]?.policy.explanation.lines.some((line) => line.includes("ns/default-deny-egress"))).toBe(true);
    expect(r["leaky"]?.sourceNamespace).toBe("ns");
    expect([r["leaky"]?.status, r["leaky"]?.signals]).toEqual(["pending", []]);
    // Intent contradicted by policy: no probe needed.
    expect([r["required"]?.status, r["required"]?.signals, r["required"]?.intent]).toEqual(["intent_violation", ["intent_violation"], "allow"]);

    await agent.runRound();
    r = byProbe(agent);
    expect([r["leaky"]?.status, r["leaky"]?.observed?.reason]).toEqual(["pending", "ok"]);
    await agent.runRound();
    r = byProbe(agent);
    expect([r["leaky"]?.status, r["leaky"]?.signals]).toEqual(["unexpected_allow", ["unexpected_allow"]]);
    // The network signal outranks the intent violation.
    expect([r["required"]?.status, r["required"]?.signals]).toEqual(["unexpected_allow", ["unexpected_allow", "intent_violation"]]);
    const mismatch = await metricLines(agent, "netcanary_probe_mismatch{");
    expect(mismatch.filter((line) => line.includes('probe="required"') && line.endsWith(" 1"))).toHaveLength(2);
    expect(await metricLines(agent, "netcanary_probe_expected_success{")).toEqual([expect.stringMatching(/probe="leaky".* 0$/), expect.stringMatching(/probe="required".* 0$/)]);
  });

  it("a closed port on a deny edge is consistent with policy: ok, not a signal", async () => {
    const manifests = await file(DENYING_CLUSTER, "cluster-2.yaml");
    const closed2 = await closedPort("127.0.0.2");
    const config = await file(`defaults: {interval: 30s, timeout: 1s, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: denied, sources: [self], tcp: {ip: 127.0.0.2, port: ${closed2}}}
`);
    const agent = await create({ configFile: config, manifests: [manifests], identity });
    await agent.runRound();
    const r = byProbe(agent);
    expect([r["denied"]?.policy.verdict, r["denied"]?.observed?.reason, r["denied"]?.status, r["denied"]?.signals]).toEqual(["deny", "refused", "ok", []]);
  });

  it("probing the agent's own pod IP: undefined by NetworkPolicy, so the edge is unknown", async () => {
    const manifests = await file(DENYING_CLUSTER, "cluster-3.yaml");
    const config = await file(`defaults: {interval: 30s, timeout: 1s, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: itself, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}}
`);
    const agent = await create({ configFile: config, manifests: [manifests], identity });
    await agent.runRound();
    const r = byProbe(agent);
    expect([r["itself"]?.policy.verdict, r["itself"]?.observed?.reason, r["itself"]?.status, r["itself"]?.policy.expectedFrom]).toEqual(["unknown", "ok", "unknown", null]);
  });
});

describe("Agent with manifests that change", () => {
  it("keeps the last good cluster state when a manifest becomes a FIFO or grows past 4 MiB, and applies the next good one", async () => {
    const identity = { nodeName: "test", podNamespace: "ns", podName: "agent" };
    const clusterDir = join(dir, "watched-cluster");
    await mkdir(clusterDir);
    await writeFile(join(clusterDir, "cluster.yaml"), DENYING_CLUSTER);
    const policyFile = join(clusterDir, "zz-allow.yaml");
    const config = await file(`defaults: {interval: 30s, timeout: 1s}
sources: [{name: self, self: true}]
probes:
  - {name: out, sources: [self], tcp: {ip: 127.0.0.2, port: ${open2.port}}}
`);
    const logged: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logged.push((JSON.parse(line) as { msg: string }).msg);
        done();
      },
    });
    const agent = await create({ configFile: config, manifests: [clusterDir], identity, watchIntervalMs: 40, logger: createLogger("error", sink) });
    await agent.start();
    expect(byProbe(agent)["out"]?.policy.verdict).toBe("deny");

    const pipe = join(dir, "manifest.fifo");
    execFileSync("mkfifo", [pipe]);
    await rename(pipe, policyFile);
    await waitFor(() => logged.includes(`manifests not reloaded, keeping the last good cluster state: ${policyFile}: a FIFO, not a regular file`), 3000, "the refused FIFO");
    expect(byProbe(agent)["out"]?.policy.verdict).toBe("deny");

    await rm(policyFile);
    await writeFile(policyFile, "");
    await truncate(policyFile, 5 * 1024 * 1024);
    await waitFor(() => logged.includes(`manifests not reloaded, keeping the last good cluster state: ${policyFile}: 5 MiB, over the limit of 4 MiB`), 3000, "the refused large file");
    expect(byProbe(agent)["out"]?.policy.verdict).toBe("deny");

    await rm(policyFile);
    await writeFile(policyFile, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-out, namespace: ns}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{}]\n");
    await waitFor(() => byProbe(agent)["out"]?.policy.verdict === "allow", 3000, "the good reload");
  });
});

describe("Agent scheduling", () => {
  it("cluster and config changes before start() do not start probing on schedule", async () => {
    const text = `defaults: {interval: 200ms, timeout: 100ms}\nsources: [{name: self, self: true}]\nprobes:\n  - {name: a, sources: [self], tcp: {ip: 127.0.0.1, port: ${closed}}}\n`;
    const agent = await create({ configFile: await file(text) });
    agent.applySnapshot(EMPTY_SNAPSHOT);
    const parsed = parseConfig(text.replace("name: a,", "name: b,"), "inline.yaml");
    if (!parsed.ok) throw new Error("bad inline config");
    agent.applyConfig(parsed.config);
    await sleep(500);
    expect(agent.results().results.map((r) => [r.probe, r.observed])).toEqual([["b", null]]);
  });

  it("a changed policy verdict is probed at once, not at the next interval", async () => {
    const manifests = await file(DENYING_CLUSTER.replace("policyTypes: [Egress]", "policyTypes: [Ingress]"), "cluster-4.yaml");
    const config = await file(`defaults: {interval: 60s, timeout: 500ms, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: watched, sources: [self], tcp: {ip: 127.0.0.2, port: ${open2.port}}}
`);
    const agent = await create({ configFile: config, manifests: [manifests], identity: { nodeName: "test", podNamespace: "ns", podName: "agent" }, watchIntervalMs: 40 });
    await agent.start();
    await agent.runRound();
    expect([byProbe(agent)["watched"]?.policy.verdict, byProbe(agent)["watched"]?.status]).toEqual(["allow", "ok"]);
    const changedAt = Date.now();
    await writeFile(manifests, DENYING_CLUSTER);
    // The interval is 60 s: only a probe run at once on the new verdict raises the signal this soon.
    await waitFor(() => byProbe(agent)["watched"]?.status === "unexpected_allow", 2500, "a probe judged against the new verdict");
    expect(byProbe(agent)["watched"]?.policy.verdict).toBe("deny");
    expect(Date.parse(byProbe(agent)["watched"]?.observed?.at ?? "")).toBeGreaterThanOrEqual(changedAt);
  });
});

describe("Agent config reload", () => {
  it("keeps the last good config on a broken file, applies the next valid one", async () => {
    const config = await file(`defaults: {interval: 200ms, timeout: 100ms, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: first, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}}
`);
    const agent = await create({ configFile: config, watchIntervalMs: 40 });
    await agent.start();
    expect(await gauge(agent)).toBe(1);
    await waitFor(() => byProbe(agent)["first"]?.status === "ok", 3000, "the first probe");

    await writeFile(config, `sources: [{name: self, self: true}]\nprobes:\n  - {name: broken, sources: [self], tcp: {ip: 127.0.0.1}}\n`);
    await waitFor(async () => (await gauge(agent)) === 0, 3000, "the failed reload");
    expect(Object.keys(byProbe(agent))).toEqual(["first"]);
    // Still probing on the old config.
    const before = byProbe(agent)["first"]?.observed?.at;
    await waitFor(() => byProbe(agent)["first"]?.observed?.at !== before, 3000, "another probe of the old edge");

    await writeFile(
      config,
      `defaults: {interval: 200ms, timeout: 100ms, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: second, sources: [self], tcp: {ip: 127.0.0.1, port: ${closed}}}
`,
    );
    await waitFor(async () => (await gauge(agent)) === 1, 3000, "the good reload");
    expect(Object.keys(byProbe(agent))).toEqual(["second"]);
    await waitFor(() => byProbe(agent)["second"]?.status === "unexpected_block", 3000, "the new edge probed");
    // The old edge's series went with it.
    expect((await agent.metrics.registry.metrics()).includes('probe="first"')).toBe(false);
    expect(await metricLines(agent, "netcanary_edges ")).toEqual(["netcanary_edges 1"]);
    const reloadedAt = (await agent.metrics.configReloadSuccessTimestamp.get()).values[0]?.value ?? 0;
    expect(Date.now() / 1000 - reloadedAt).toBeLessThan(10);

    await agent.stop();
    const stoppedAt = byProbe(agent)["second"]?.observed?.at;
    await sleep(450);
    expect(byProbe(agent)["second"]?.observed?.at).toBe(stoppedAt);
  });

  it("keeps the last good config when the file becomes a FIFO or grows past 1 MiB, logging why, and applies the next good one", async () => {
    const text = (probe: string, port: number) => `defaults: {interval: 200ms, timeout: 100ms, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: ${probe}, sources: [self], tcp: {ip: 127.0.0.1, port: ${port}}}
`;
    const config = await file(text("first", open.port));
    const logged: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logged.push((JSON.parse(line) as { msg: string }).msg);
        done();
      },
    });
    const agent = await create({ configFile: config, watchIntervalMs: 40, logger: createLogger("error", sink) });
    await agent.start();
    await waitFor(() => byProbe(agent)["first"]?.status === "ok", 3000, "the first probe");

    // A FIFO swapped in (as a ConfigMap update swaps files): reading it would wait for ever.
    const pipe = join(dir, "config.fifo");
    execFileSync("mkfifo", [pipe]);
    await rename(pipe, config);
    await waitFor(() => logged.includes(`config not reloaded, keeping the last good one: ${config}: a FIFO, not a regular file`), 3000, "the refused FIFO");
    expect(await gauge(agent)).toBe(0);
    let before = byProbe(agent)["first"]?.observed?.at;
    await waitFor(() => byProbe(agent)["first"]?.observed?.at !== before, 3000, "another probe on the old config");

    // A file over what a ConfigMap can hold (sparse: it takes no disk).
    await rm(config);
    await writeFile(config, "");
    await truncate(config, 2 * 1024 * 1024);
    await waitFor(() => logged.includes(`config not reloaded, keeping the last good one: ${config}: 2 MiB, over the limit of 1 MiB`), 3000, "the refused large file");
    expect(Object.keys(byProbe(agent))).toEqual(["first"]);
    before = byProbe(agent)["first"]?.observed?.at;
    await waitFor(() => byProbe(agent)["first"]?.observed?.at !== before, 3000, "another probe on the old config");

    await rm(config);
    await writeFile(config, text("second", open.port));
    await waitFor(async () => (await gauge(agent)) === 1, 3000, "the good reload");
    expect(Object.keys(byProbe(agent))).toEqual(["second"]);
  });

  it("keeps the last good config when the file becomes a 1 KB alias bomb, at once, and applies the next good one", async () => {
    const text = (probe: string) => `defaults: {interval: 200ms, timeout: 100ms, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: ${probe}, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}}
`;
    const config = await file(text("first"));
    const logged: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logged.push((JSON.parse(line) as { msg: string }).msg);
        done();
      },
    });
    const agent = await create({ configFile: config, watchIntervalMs: 40, logger: createLogger("error", sink) });
    await agent.start();
    await waitFor(() => byProbe(agent)["first"]?.status === "ok", 3000, "the first probe");

    // Merge keys doubling at each of 30 levels: 2^29 maps written out. Reading it used to
    // block the event loop for hours; the bound refuses it at the sixth level.
    let bomb = `${text("bomb")}anchors:\n  m0: &m0 {a: "1"}\n`;
    for (let k = 1; k < 30; k++) bomb += `  m${k}: &m${k} {<<: [*m${k - 1}, *m${k - 1}], k${k}: "1"}\n`;
    await writeFile(config, bomb);
    await waitFor(
      () => logged.includes(`config not reloaded, keeping the last good one: ${config}:11:22: anchors.m5.<<[1]: aliases in this document would be resolved more than 100 times written out (an alias bomb, or anchors reused too much); write the values out`),
      3000,
      "the refused alias bomb",
    );
    expect(await gauge(agent)).toBe(0);
    expect(Object.keys(byProbe(agent))).toEqual(["first"]);
    const before = byProbe(agent)["first"]?.observed?.at;
    await waitFor(() => byProbe(agent)["first"]?.observed?.at !== before, 3000, "another probe on the old config");

    await writeFile(config, text("second"));
    await waitFor(async () => (await gauge(agent)) === 1, 3000, "the good reload");
    expect(Object.keys(byProbe(agent))).toEqual(["second"]);
  });

  it("an edge whose probe did not change keeps its state across a reload", async () => {
    const text = (extra: string) => `defaults: {interval: 200ms, timeout: 100ms, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: stays, sources: [self], tcp: {ip: 127.0.0.1, port: ${closed}}}
${extra}`;
    const config = await file(text(""));
    const agent = await create({ configFile: config, watchIntervalMs: 40 });
    await agent.start();
    await waitFor(() => byProbe(agent)["stays"]?.status === "unexpected_block", 3000, "the signal");
    await writeFile(config, text(`  - {name: added, sources: [self], tcp: {ip: 127.0.0.1, port: ${open.port}}}\n`));
    await waitFor(() => byProbe(agent)["added"] !== undefined, 3000, "the reload");
    // Not reset to pending by the reload.
    expect(byProbe(agent)["stays"]?.status).toBe("unexpected_block");
    await waitFor(() => byProbe(agent)["added"]?.status === "ok", 3000, "the added edge probed");
  });
});
