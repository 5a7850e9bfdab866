// Targets from the cluster (Services by cluster IP or endpoints, pods by selector) and
// verdicts that follow changes of every kind, through the agent on the wire-true API server.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LiveCluster } from "../../agent/cluster/live.js";
import { Agent, type ResultEntry } from "../../agent/daemon/agent.js";
import { createLogger } from "../../agent/log/log.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { waitFor } from "../support/wait.js";

let server: KubeApiServer;
let agent: Agent | undefined;
let metrics: AgentMetrics;
let dir: string;
const listeners: Server[] = [];

const ns = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
function pod(namespace: string, name: string, ip: string, labels: Record<string, string>, ports: { name: string; containerPort: number }[] = []) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name, labels },
    spec: { nodeName: "node-a", containers: [{ name: "c", image: "x", ports }] },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}
const policy = (namespace: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace, name }, spec });

async function listen(host: string): Promise<number> {
  const listener = createServer((socket) => socket.destroy());
  listeners.push(listener);
  await new Promise<void>((resolve) => listener.listen(0, host, resolve));
  return (listener.address() as { port: number }).port;
}

async function startAgent(probes: string): Promise<Agent> {
  const config = join(dir, "config.yaml");
  await writeFile(config, `defaults: {interval: 200ms, timeout: 150ms, failureThreshold: 1, successThreshold: 1}\nsources: [{name: self, self: true}]\nprobes:\n${probes}`);
  metrics = new AgentMetrics({ defaultMetrics: false });
  const logger = createLogger("silent");
  const cluster = new LiveCluster({ kubeConfig: server.kubeConfig(), nodeName: "node-a", logger, metrics, debounceMs: 20, reflector: { backoffBaseMs: 50, backoffMaxMs: 200 } });
  const started = await Agent.create({
    configFile: config,
    cluster,
    identity: { podNamespace: "client", podName: "agent", nodeName: "node-a" },
    logger,
    metrics,
    watchIntervalMs: 0,
  });
  if (!started.ok) throw new Error(JSON.stringify(started.errors));
  agent = started.agent;
  await agent.start();
  return agent;
}

const results = (probe: string): ResultEntry[] => agent?.results({ probe }).results ?? [];

beforeEach(async () => {
  server = await KubeApiServer.start({ bookmarkIntervalMs: 200 });
  dir = await mkdtemp(join(tmpdir(), "netcanary-targets-"));
  server.apply(ns("client", { team: "a" }));
  server.apply(ns("shop"));
  server.apply(pod("client", "agent", "127.0.0.1", { app: "agent" }));
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  for (const listener of listeners.splice(0)) listener.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("Service targets", () => {
  it("via clusterIP: probes the Service address and judges it against the backends, which may disagree", async () => {
    const port = await listen("127.0.0.20"); // stands in for the ClusterIP
    server.apply(pod("shop", "web-1", "127.0.0.21", { app: "web" }, [{ name: "http", containerPort: 8080 }]));
    // Some policy exists (else nothing is isolated anywhere and no backend needs judging).
    server.apply(policy("client", "open-egress", { podSelector: {}, policyTypes: ["Egress"], egress: [{}] }));
    server.apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "shop", name: "web" },
      spec: { clusterIP: "127.0.0.20", selector: { app: "web" }, ports: [{ name: "http", port, targetPort: "http" }] },
    });
    await startAgent(`  - {name: web, sources: [self], tcp: {service: {namespace: shop, name: web, port: http}}}\n`);
    await waitFor(() => results("web")[0]?.status === "ok", 5000, "the Service edge ok");
    const [edge] = results("web");
    expect(edge).toMatchObject({ target: "shop/web", targetKind: "service", address: "127.0.0.20", port, policy: { verdict: "allow" } });
    expect(edge?.policy.explanation.lines.join("\n")).toContain("127.0.0.20 is Service shop/web: judged against its backends");

    // A second backend that denies all ingress: the backends disagree, the verdict is unknown.
    server.apply(pod("shop", "web-2", "127.0.0.22", { app: "web", locked: "yes" }, [{ name: "http", containerPort: 8080 }]));
    server.apply(policy("shop", "lock", { podSelector: { matchLabels: { locked: "yes" } }, policyTypes: ["Ingress"] }));
    await waitFor(() => results("web")[0]?.policy.verdict === "unknown", 3000, "backends disagree");
    const lines = results("web")[0]?.policy.explanation.lines.join("\n") ?? "";
    expect(lines).toContain("backend shop/web-1: allow");
    expect(lines).toContain("backend shop/web-2: deny");
    expect(results("web")[0]?.policy.explanation.summary).toContain("its backends disagree (probe each endpoint to see which)");
  });

  it("via endpoints: one edge per ready endpoint, one metric label set, and the slice's changes followed", async () => {
    const port = await listen("127.0.0.31"); // only the first endpoint listens: the second is refused
    server.apply(pod("shop", "api-1", "127.0.0.31", { app: "api" }));
    server.apply(pod("shop", "api-2", "127.0.0.32", { app: "api" }));
    server.apply({ apiVersion: "v1", kind: "Service", metadata: { namespace: "shop", name: "api" }, spec: { clusterIP: "127.0.0.30", selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: port }] } });
    const slice = (endpoints: Record<string, unknown>[]) => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { namespace: "shop", name: "api-x", labels: { "kubernetes.io/service-name": "api" } },
      addressType: "IPv4",
      ports: [{ name: "http", port, protocol: "TCP" }],
      endpoints,
    });
    const ready = (ip: string, name: string, isReady = true) => ({ addresses: [ip], conditions: { ready: isReady }, targetRef: { kind: "Pod", namespace: "shop", name } });
    server.apply(slice([ready("127.0.0.31", "api-1"), ready("127.0.0.32", "api-2"), ready("127.0.0.33", "api-3", false)]));
    await startAgent(`  - {name: api, sources: [self], tcp: {service: {namespace: shop, name: api, port: 80}, via: endpoints}}\n`);
    await waitFor(() => results("api").length === 2 && results("api").every((r) => r.observed !== null), 5000, "both endpoints probed");
    expect(results("api").map((r) => [r.endpoint, r.address, r.observed?.reason, r.status])).toEqual([
      ["shop/api-1", "127.0.0.31", "ok", "ok"],
      ["shop/api-2", "127.0.0.32", "refused", "unexpected_block"],
    ]);
    // One label set: success only if every endpoint succeeded; a signal if any has it.
    const exposition = await metrics.registry.metrics();
    const series = exposition.split("\n").filter((line) => line.startsWith("netcanary_probe_success{") && line.includes('probe="api"'));
    expect(series).toEqual([`netcanary_probe_success{probe="api",source="self",source_namespace="client",source_node="node-a",source_workload="pod/agent",target="shop/api",target_kind="service_endpoint",port="${port}",protocol="TCP"} 0`]);
    expect(exposition).toMatch(/netcanary_edge_status\{probe="api"[^}]*status="unexpected_block"\} 1/);

    // The refused endpoint leaves the slice: its edge goes, the label set stays with one edge, now ok.
    server.apply(slice([ready("127.0.0.31", "api-1")]));
    await waitFor(() => results("api").length === 1, 3000, "the endpoint gone");
    await waitFor(async () => /netcanary_probe_success\{probe="api"[^}]*\} 1/.test(await metrics.registry.metrics()), 3000, "success 1");
    expect(await metrics.registry.metrics()).toMatch(/netcanary_edge_status\{probe="api"[^}]*status="ok"\} 1/);
  });
});

describe("pod targets", () => {
  it("one edge per running pod the selector picks, with the named port resolved on each", async () => {
    const portA = await listen("127.0.0.41");
    const portB = await listen("127.0.0.42");
    server.apply(pod("shop", "db-0", "127.0.0.41", { app: "db" }, [{ name: "postgres", containerPort: portA }]));
    server.apply(pod("shop", "db-1", "127.0.0.42", { app: "db" }, [{ name: "postgres", containerPort: portB }]));
    server.apply(pod("shop", "web-0", "127.0.0.43", { app: "web" }, [{ name: "postgres", containerPort: 1 }]));
    await startAgent(`  - {name: dbs, sources: [self], tcp: {pods: {namespace: shop, selector: {app: db}}, port: postgres}}\n`);
    await waitFor(() => results("dbs").length === 2 && results("dbs").every((r) => r.status === "ok"), 5000, "both pods ok");
    const byPod = [...results("dbs")].sort((a, b) => String(a.endpoint).localeCompare(String(b.endpoint)));
    expect(byPod.map((r) => [r.endpoint, r.port, r.target, r.targetKind])).toEqual([
      ["shop/db-0", portA, "shop/app=db", "pods"],
      ["shop/db-1", portB, "shop/app=db", "pods"],
    ]);
    // A relabeled pod leaves the target.
    server.apply(pod("shop", "db-1", "127.0.0.42", { app: "retired" }, [{ name: "postgres", containerPort: portB }]));
    await waitFor(() => results("dbs").length === 1, 3000, "the relabeled pod gone");
    expect(results("dbs")[0]?.endpoint).toBe("shop/db-0");
  });
});

describe("a pod that keeps its name but gets a new address", () => {
  it("is judged at its new address at once: no false intent violation in between", async () => {
    const port = await listen("127.0.0.72");
    server.apply(pod("shop", "db-0", "127.0.0.71", { app: "db" }, [{ name: "postgres", containerPort: port }]));
    // The agent may reach the database pods, by selector, and nothing else.
    server.apply(policy("client", "to-db", { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: "db" } } }] }] }));
    await startAgent(`  - {name: db, sources: [self], tcp: {pods: {namespace: shop, selector: {app: db}}, port: postgres}, expect: allow}\n`);
    await waitFor(() => results("db")[0]?.policy.verdict === "allow", 5000, "allow at the first address");
    const seen: string[] = [];
    const watch = setInterval(() => seen.push(...results("db").map((r) => `${r.address}:${r.policy.verdict}:${r.signals.join("+")}`)), 5);
    // Rescheduled (a StatefulSet pod keeps its name): a new IP.
    server.apply(pod("shop", "db-0", "127.0.0.72", { app: "db" }, [{ name: "postgres", containerPort: port }]));
    await waitFor(() => results("db")[0]?.address === "127.0.0.72" && results("db")[0]?.status === "ok", 3000, "ok at the new address");
    clearInterval(watch);
    // Never judged against the old address (which is no pod any more, so the policy would deny it).
    expect(seen.filter((entry) => entry.includes("deny") || entry.includes("intent_violation"))).toEqual([]);
  });
});

describe("verdicts follow changes of every kind", () => {
  it("a namespace relabeled, then the source pod relabeled", async () => {
    const port = await listen("127.0.0.51");
    server.apply(pod("shop", "web", "127.0.0.51", { app: "web" }));
    // web admits only namespaces labeled team=b.
    server.apply(policy("shop", "from-team-b", { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "b" } } }] }] }));
    // agent pods may not talk at all, unless labeled free=yes.
    server.apply(policy("client", "quiet", { podSelector: { matchExpressions: [{ key: "free", operator: "DoesNotExist" }] }, policyTypes: ["Egress"] }));
    await startAgent(`  - {name: web, sources: [self], tcp: {ip: 127.0.0.51, port: ${port}}}\n`);
    const verdict = () => results("web")[0]?.policy.verdict;
    await waitFor(() => verdict() === "deny", 5000, "deny at first");
    expect(results("web")[0]?.policy.explanation.lines.join("\n")).toMatch(/egress of client\/agent: denied[\s\S]*ingress of shop\/web: denied/);

    // The namespace: the agent's namespace joins team b; egress still denied.
    server.apply(ns("client", { team: "b" }));
    await waitFor(() => results("web")[0]?.policy.explanation.lines.some((line) => line.startsWith("ingress of shop/web: allowed by shop/from-team-b")) ?? false, 3000, "ingress now allowed");
    expect(verdict()).toBe("deny");
    // The pod: relabeled free=yes, no longer selected by the egress policy: allowed, and ok on the wire.
    server.apply(pod("client", "agent", "127.0.0.1", { app: "agent", free: "yes" }));
    await waitFor(() => verdict() === "allow", 3000, "allow after the relabel");
    await waitFor(() => results("web")[0]?.status === "ok", 3000, "ok");
  });

  it("a Service whose port changes: its edge follows to the new port", async () => {
    const oldPort = await listen("127.0.0.61");
    const newPort = await listen("127.0.0.61");
    server.apply(pod("shop", "web", "127.0.0.62", { app: "web" }));
    const service = (port: number) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "shop", name: "svc" },
      spec: { clusterIP: "127.0.0.61", selector: { app: "web" }, ports: [{ name: "http", port, targetPort: 8080 }] },
    });
    server.apply(service(oldPort));
    await startAgent(`  - {name: svc, sources: [self], tcp: {service: {namespace: shop, name: svc, port: http}}}\n`);
    await waitFor(() => results("svc")[0]?.port === oldPort && results("svc")[0]?.status === "ok", 5000, "the edge on the old port");
    server.apply(service(newPort));
    await waitFor(() => results("svc").length === 1 && results("svc")[0]?.port === newPort && results("svc")[0]?.observed !== null, 3000, "the edge on the new port");
    expect(results("svc")[0]?.status).toBe("ok");
  });
});
