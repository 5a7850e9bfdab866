// A live agent with a deriving source holds the pods its rules name: the agent's scope (its
// node's pods, its targets') grows by a scoped watch per pod peer of the egress rules that
// select its source (derive/scope.ts), on the wire-true API server, and follows the policy.
// Beyond the limit of such watches, the same ones are always left out, and the rules they
// would serve say so in rule coverage (never "no destination"), with one warning in the log.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PassThrough } from "node:stream";
import { LiveCluster } from "../../agent/cluster/live.js";
import { Agent } from "../../agent/daemon/agent.js";
import { MAX_DERIVED_WATCHES, NOT_WATCHED_REASON } from "../../agent/derive/scope.js";
import { createLogger } from "../../agent/log/log.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { waitFor } from "../support/wait.js";

let server: KubeApiServer;
let agent: Agent | undefined;
let dir: string;
const listeners: Server[] = [];

const ns = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
function pod(namespace: string, name: string, ip: string, node: string, labels: Record<string, string>, port?: number) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name, labels },
    spec: { nodeName: node, containers: [{ name: "c", image: "x", ports: port === undefined ? [] : [{ name: "serve", containerPort: port }] }] },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}
function egressTo(app: string) {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: "client", name: "agent-egress" },
    spec: { podSelector: { matchLabels: { app: "agent" } }, policyTypes: ["Egress"], egress: [{ to: [{ namespaceSelector: { matchLabels: { team: "shop" } }, podSelector: { matchLabels: { app } } }], ports: [{ port: "serve" }] }] },
  };
}

/** One policy for the agent with a rule per app, each to that app's pods in the shop namespace. */
function egressToEach(apps: readonly string[]) {
  const rule = (app: string) => ({ to: [{ namespaceSelector: { matchLabels: { team: "shop" } }, podSelector: { matchLabels: { app } } }], ports: [{ port: "serve" }] });
  return { ...egressTo(""), spec: { podSelector: { matchLabels: { app: "agent" } }, policyTypes: ["Egress"], egress: apps.map(rule) } };
}

async function listen(host: string): Promise<number> {
  const listener = createServer((socket) => socket.destroy());
  listeners.push(listener);
  await new Promise<void>((resolve) => listener.listen(0, host, resolve));
  return (listener.address() as { port: number }).port;
}

/** The agent on node-a, as the pod client/agent, reading the test API server. */
async function startAgent(config: string, logger: ReturnType<typeof createLogger>): Promise<LiveCluster> {
  const metrics = new AgentMetrics({ defaultMetrics: false });
  const cluster = new LiveCluster({ kubeConfig: server.kubeConfig(), nodeName: "node-a", logger, metrics, debounceMs: 20, reflector: { backoffBaseMs: 50, backoffMaxMs: 200 } });
  const started = await Agent.create({ configFile: config, cluster, identity: { podNamespace: "client", podName: "agent", nodeName: "node-a" }, logger, metrics, watchIntervalMs: 0 });
  if (!started.ok) throw new Error(JSON.stringify(started.errors));
  agent = started.agent;
  await agent.start();
  return cluster;
}

const derived = () => (agent?.results({ probe: "derived" }).results ?? []).map((r) => `${r.target} ${r.endpoint ?? ""} ${r.status}`);
const podWatches = () => server.requests.filter((r) => r.resource === "pods" && r.watch).map((r) => `${r.namespace ?? "*"} ${r.query["labelSelector"] ?? ""} ${r.query["fieldSelector"] ?? ""}`.trim());

beforeEach(async () => {
  server = await KubeApiServer.start({ bookmarkIntervalMs: 200 });
  dir = await mkdtemp(join(tmpdir(), "netcanary-derive-scope-"));
  server.apply(ns("client"));
  server.apply(ns("shop", { team: "shop" }));
  server.apply(pod("client", "agent", "127.0.0.1", "node-a", { app: "agent" }));
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  for (const listener of listeners.splice(0)) listener.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("a deriving source on a live cluster", () => {
  it("watches the pods its rules name on other nodes, derives their edges, and follows the policy to other pods", async () => {
    const apiPort = await listen("127.0.0.2");
    const dbPort = await listen("127.0.0.3");
    // On another node: outside the agent's own pod watch.
    server.apply(pod("shop", "api-0", "127.0.0.2", "node-b", { app: "api" }, apiPort));
    server.apply(pod("shop", "db-0", "127.0.0.3", "node-b", { app: "db" }, dbPort));
    server.apply(egressTo("api"));
    const config = join(dir, "config.yaml");
    await writeFile(config, "defaults: {interval: 200ms, timeout: 150ms, failureThreshold: 1, successThreshold: 1}\nsources: [{name: self, self: true, derive: {deny: false}}]\nprobes: []\n");
    await startAgent(config, createLogger("silent"));

    await waitFor(() => derived().includes("client/agent-egress spec.egress[0] shop/api-0 ok"), 8000, "the derived edge to shop/api-0, ok");
    // One watch for the peer, in the namespace its selector picks, by its pod selector; never every pod.
    expect(podWatches()).toContain("shop app=api");
    expect(podWatches().some((w) => w.startsWith("*") && !w.includes("spec.nodeName=node-a"))).toBe(false);

    // The rule now names db: the api watch goes, a db watch comes, and the edge follows.
    server.apply(egressTo("db"));
    await waitFor(() => derived().includes("client/agent-egress spec.egress[0] shop/db-0 ok"), 8000, "the derived edge to shop/db-0, ok");
    expect(derived()).toHaveLength(1);
    expect(podWatches()).toContain("shop app=db");
    await waitFor(() => server.openWatches({ resource: "pods", namespace: "shop" }) === 1, 3000, "one pod watch left in shop");
  });

  it(`beyond ${MAX_DERIVED_WATCHES} derived watches, opens the first by key, and the rules of the others say "not watched" in coverage, warned once`, async () => {
    // Six more apps than the limit, each with a pod on another node declaring the port: every
    // rule has a destination, but the agent sees only the pods it watches.
    const apps = Array.from({ length: MAX_DERIVED_WATCHES + 6 }, (_, i) => `dest-${String(i).padStart(2, "0")}`);
    const port = await listen("127.0.0.1");
    apps.forEach((app, i) => server.apply(pod("shop", `${app}-0`, `127.0.1.${i + 1}`, "node-b", { app }, port)));
    // Listed in reverse: which ones are left out follows the watches' keys, not the rules' order.
    server.apply(egressToEach([...apps].reverse()));
    const ruleOf = (app: string) => `client/agent-egress spec.egress[${apps.length - 1 - apps.indexOf(app)}]`;
    const config = join(dir, "config.yaml");
    await writeFile(config, "defaults: {interval: 1s, timeout: 150ms, failureThreshold: 1, successThreshold: 1}\nagent: {coverageWindow: 1m}\nsources: [{name: self, self: true, derive: {deny: false, maxPerPolicy: 100, maxEdges: 100}}]\nprobes: []\n");
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter((line) => line !== "")));
    const cluster = await startAgent(config, createLogger("warn", sink, "json"));

    const kept = apps.slice(0, MAX_DERIVED_WATCHES);
    const leftOut = apps.slice(MAX_DERIVED_WATCHES);
    const reasons = () => new Map(agent?.coverage().policies.flatMap((p) => p.rules.map((r) => [r.rule, r.reason ?? (r.exercised ? "exercised" : "filled")] as const)) ?? []);
    // As many derived edges as watches (one pod per watch, one rule per pod), and the coverage of that cycle.
    await waitFor(() => derived().length === MAX_DERIVED_WATCHES, 20_000, `${MAX_DERIVED_WATCHES} derived edges`);
    // Within the limit every rule found its pod; past it, none was looked for: "not watched", never "no destination".
    expect(kept.filter((app) => !derived().some((line) => line.startsWith(`${ruleOf(app)} shop/${app}-0 `)))).toEqual([]);
    const coverage = reasons();
    expect(kept.filter((app) => coverage.get(ruleOf(app)) === NOT_WATCHED_REASON || coverage.get(ruleOf(app))?.startsWith("no destination"))).toEqual([]);
    expect(leftOut.map((app) => [app, coverage.get(ruleOf(app))])).toEqual(leftOut.map((app) => [app, NOT_WATCHED_REASON]));
    expect(NOT_WATCHED_REASON).toBe(`not watched: the agent's limit of ${MAX_DERIVED_WATCHES} derived pod watches is reached, so some or all of the pods this rule names were not looked at`);
    // The watches opened: the first 64 apps by key, never one of the others (asked for, listed or watched).
    await waitFor(() => server.openWatches({ resource: "pods", namespace: "shop" }) === MAX_DERIVED_WATCHES, 10_000, `${MAX_DERIVED_WATCHES} pod watches open in shop`);
    const asked = new Set(server.requests.filter((r) => r.resource === "pods" && r.namespace === "shop").map((r) => r.query["labelSelector"] ?? ""));
    expect([...asked].sort()).toEqual(kept.map((app) => `app=${app}`));

    // More cluster changes, more cycles: still the one warning.
    server.apply(pod("shop", "dest-00-1", "127.0.2.1", "node-b", { app: "dest-00" }, port));
    await waitFor(() => cluster.current()?.pods.some((p) => p.name === "dest-00-1") === true, 5000, "the new pod in the agent's state");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(reasons().get(ruleOf(leftOut[0] as string))).toBe(NOT_WATCHED_REASON);
    const warnings = lines.map((line) => JSON.parse(line) as { level: number; msg: string; leftOut?: number; limit?: number }).filter((entry) => entry.msg.includes("derived pod watches"));
    expect(warnings).toEqual([expect.objectContaining({ leftOut: 6, limit: MAX_DERIVED_WATCHES, msg: expect.stringContaining("6 left out") })]);
  }, 60_000);
});
