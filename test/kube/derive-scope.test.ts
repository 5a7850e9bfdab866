// A live agent with a deriving source holds the pods its rules name: the agent's scope (its
// node's pods, its targets') grows by a scoped watch per pod peer of the egress rules that
// select its source (derive/scope.ts), on the wire-true API server, and follows the policy.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LiveCluster } from "../../agent/cluster/live.js";
import { Agent } from "../../agent/daemon/agent.js";
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

async function listen(host: string): Promise<number> {
  const listener = createServer((socket) => socket.destroy());
  listeners.push(listener);
  await new Promise<void>((resolve) => listener.listen(0, host, resolve));
  return (listener.address() as { port: number }).port;
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
    const logger = createLogger("silent");
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const cluster = new LiveCluster({ kubeConfig: server.kubeConfig(), nodeName: "node-a", logger, metrics, debounceMs: 20, reflector: { backoffBaseMs: 50, backoffMaxMs: 200 } });
    const started = await Agent.create({ configFile: config, cluster, identity: { podNamespace: "client", podName: "agent", nodeName: "node-a" }, logger, metrics, watchIntervalMs: 0 });
    if (!started.ok) throw new Error(JSON.stringify(started.errors));
    agent = started.agent;
    await agent.start();

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
});
