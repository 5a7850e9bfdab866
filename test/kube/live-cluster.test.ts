// The live cluster layer against the wire-true API test server, through the real
// @kubernetes/client-node: sync, every kind changing the snapshot, malformed objects,
// 403, 410, a server restart, and the agent following a NetworkPolicy change.

import { createServer, type Server } from "node:net";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LiveCluster } from "../../agent/cluster/live.js";
import type { ClusterSnapshot } from "../../agent/cluster/snapshot.js";
import { Agent } from "../../agent/daemon/agent.js";
import { createLogger } from "../../agent/log/log.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { waitFor } from "../support/wait.js";

const ns = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
const pod = (namespace: string, name: string, ip: string, labels: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { namespace, name, labels },
  spec: { nodeName: "node-a", containers: [{ name: "c", image: "x", ports: [{ name: "http", containerPort: 8080 }] }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});
const denyEgress = (namespace: string, name: string, selector: Record<string, string>) => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { namespace, name },
  spec: { podSelector: { matchLabels: selector }, policyTypes: ["Egress"] },
});

function memoryLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger("info", stream), lines };
}

let server: KubeApiServer;
let cluster: LiveCluster | undefined;
let agent: Agent | undefined;
let listener: Server | undefined;

beforeEach(async () => {
  server = await KubeApiServer.start({ bookmarkIntervalMs: 200 });
  server.apply(ns("shop", { team: "shop" }));
  server.apply(pod("shop", "agent", "127.0.0.1", { app: "agent" }));
  server.apply(pod("shop", "web", "127.0.0.2", { app: "web" }));
});

afterEach(async () => {
  await agent?.stop();
  await cluster?.stop();
  agent = undefined;
  cluster = undefined;
  await new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
  listener = undefined;
  await server.stop();
});

function startCluster(options: { metrics?: AgentMetrics; log?: ReturnType<typeof memoryLog> } = {}) {
  const snapshots: ClusterSnapshot[] = [];
  const log = options.log ?? memoryLog();
  cluster = new LiveCluster({
    kubeConfig: server.kubeConfig(),
    nodeName: "node-a",
    logger: log.logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    debounceMs: 20,
    reflector: { backoffBaseMs: 50, backoffMaxMs: 200, recheckMs: 200 },
  });
  // A target Service: its Service, its EndpointSlices and the pods behind it are watched too.
  cluster.setTargets({ services: [{ namespace: "shop", name: "web" }], pods: [] });
  void cluster.start((snapshot) => snapshots.push(snapshot));
  return { snapshots, log };
}

const podNames = (snapshot: ClusterSnapshot | undefined) => (snapshot?.pods ?? []).map((p) => `${p.namespace}/${p.name}`).sort();

describe("live cluster state", () => {
  it("syncs every resource, slim, and reports ready only then", async () => {
    const { snapshots } = startCluster();
    expect(cluster?.status().ready).toBe(false);
    await waitFor(() => snapshots.length > 0, 5000, "the first snapshot");
    expect(cluster?.status()).toEqual({ ready: true });
    const first = snapshots[0];
    expect(podNames(first)).toEqual(["shop/agent", "shop/web"]);
    // Slim: only what the engine needs, nothing of the API object besides.
    expect(first?.pods.find((p) => p.name === "web")).toEqual({
      namespace: "shop",
      name: "web",
      labels: { app: "web" },
      ips: [expect.objectContaining({ text: "127.0.0.2" })],
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      hostNetwork: false,
      node: "node-a",
      phase: "Running",
      // No controller in the fixture: the pod is its own workload.
      owner: { kind: "pod", name: "web" },
      // What its cgroup is named by (pod mode finds its network namespace through it).
      uid: server.get("Pod", "shop", "web")?.metadata.uid,
    });
    expect(first?.namespaces).toEqual([{ name: "shop", labels: { team: "shop", "kubernetes.io/metadata.name": "shop" } }]);
  });

  it("follows add, modify and delete of each kind", async () => {
    const { snapshots } = startCluster();
    await waitFor(() => snapshots.length > 0, 5000, "the first snapshot");
    const last = () => snapshots[snapshots.length - 1];

    server.apply(denyEgress("shop", "deny", { app: "agent" }));
    await waitFor(() => (last()?.policies.length ?? 0) === 1, 3000, "the policy");
    expect(last()?.policies[0]).toMatchObject({ namespace: "shop", name: "deny", egressIsolation: true, ingressIsolation: false });
    server.apply({ ...denyEgress("shop", "deny", { app: "other" }) });
    await waitFor(() => last()?.policies[0]?.podSelector.matchLabels["app"] === "other", 3000, "the modified policy");
    server.remove({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy" }, "shop", "deny");
    await waitFor(() => last()?.policies.length === 0, 3000, "the deleted policy");

    server.apply(pod("shop", "web", "127.0.0.2", { app: "web", version: "2" }));
    await waitFor(() => last()?.pods.find((p) => p.name === "web")?.labels["version"] === "2", 3000, "the relabeled pod");
    server.remove("Pod", "shop", "web");
    await waitFor(() => podNames(last()).join() === "shop/agent", 3000, "the deleted pod");

    server.apply(ns("shop", { team: "payments" }));
    await waitFor(() => last()?.namespaces[0]?.labels["team"] === "payments", 3000, "the relabeled namespace");

    server.apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "shop", name: "web" },
      spec: { clusterIP: "10.96.0.20", selector: { app: "web" }, ports: [{ port: 80, targetPort: "http" }] },
    });
    await waitFor(() => last()?.services.length === 1, 3000, "the service");
    expect(last()?.services[0]).toMatchObject({ name: "web", selector: { app: "web" }, ports: [{ port: 80, targetPort: "http", protocol: "TCP" }] });

    server.apply({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { namespace: "shop", name: "web-abc", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv4",
      ports: [{ name: "", port: 8080, protocol: "TCP" }],
      endpoints: [
        { addresses: ["127.0.0.2"], conditions: { ready: true }, targetRef: { kind: "Pod", namespace: "shop", name: "web" }, nodeName: "node-a" },
        { addresses: ["127.0.0.3"], conditions: { ready: false } },
      ],
    });
    await waitFor(() => (last()?.endpointSlices?.length ?? 0) === 1, 3000, "the endpoint slice");
    expect(last()?.endpointSlices?.[0]).toMatchObject({
      service: "web",
      ports: [{ port: 8080, protocol: "TCP" }],
      endpoints: [
        { ready: true, pod: "shop/web", node: "node-a" },
        { ready: false },
      ],
    });
  });

  it("drops finished pods: their IPs may already belong to new pods", async () => {
    server.apply({ ...pod("shop", "job-1", "127.0.0.9"), status: { phase: "Succeeded", podIP: "127.0.0.9" } });
    const { snapshots } = startCluster();
    await waitFor(() => snapshots.length > 0, 5000, "the first snapshot");
    expect(podNames(snapshots[0])).toEqual(["shop/agent", "shop/web"]);
  });

  it("a list page over the response bound (16 MiB): the same page asked again in smaller pages, and every pod arrives", async () => {
    // 600 pods on the node with 40 KB of annotations each: a page of 500 is about 20 MB.
    const note = "x".repeat(40_000);
    for (let i = 0; i < 600; i++) server.apply({ ...pod("shop", `big-${i}`, `127.0.${10 + (i >> 8)}.${i & 255}`), metadata: { namespace: "shop", name: `big-${i}`, annotations: { note } } });
    const { snapshots } = startCluster();
    await waitFor(() => snapshots.length > 0, 20_000, "the first snapshot");
    expect(snapshots.at(-1)?.pods.filter((p) => p.name.startsWith("big-")).length).toBe(600);
    const limits = server.requests.filter((r) => r.resource === "pods" && r.verb === "list" && r.query["fieldSelector"] === "spec.nodeName=node-a").map((r) => r.query["limit"]);
    expect(limits.slice(0, 2)).toEqual(["500", "125"]);
  }, 30_000);

  it("skips and counts a malformed object, and keeps going", async () => {
    server.apply({ ...pod("shop", "broken", "not-an-ip") });
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const { snapshots, log } = startCluster({ metrics });
    await waitFor(() => snapshots.length > 0, 5000, "the first snapshot");
    expect(podNames(snapshots[0])).toEqual(["shop/agent", "shop/web"]);
    expect(log.lines.some((line) => line["msg"] === "malformed object skipped" && line["object"] === "shop/broken")).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString("netcanary_cluster_objects_skipped_total")).toContain('netcanary_cluster_objects_skipped_total{resource="pods"} 1');
  });

  it("a resource forbidden by RBAC: a clear log line, a metric, the rest keeps syncing", async () => {
    const handle = server.forbid({ resource: "networkpolicies" });
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const { snapshots, log } = startCluster({ metrics });
    await waitFor(() => log.lines.some((line) => String(line["msg"]).includes("cannot read networkpolicies: forbidden by RBAC")), 5000, "the RBAC log line");
    await waitFor(async () => (await metrics.registry.getSingleMetricAsString("netcanary_cluster_synced")).includes('resource="pods"} 1'), 3000, "pods synced");
    expect(cluster?.status().ready).toBe(false);
    expect(cluster?.status().reason).toContain("networkpolicies (forbidden)");
    expect(snapshots).toEqual([]); // no verdicts from a partial picture
    expect(await metrics.registry.getSingleMetricAsString("netcanary_cluster_watch_failures_total")).toContain('resource="networkpolicies",reason="forbidden"');
    // Said once, not on every retry.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(log.lines.filter((line) => String(line["msg"]).includes("forbidden by RBAC")).length).toBe(1);
    handle.remove();
    await waitFor(() => snapshots.length > 0, 5000, "the snapshot once access is granted");
  });

  it("a hung API server is a failure (timeout), not a quiet watch: counted, not synced", async () => {
    const hold = server.hold({ resource: "pods" });
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const log = memoryLog();
    cluster = new LiveCluster({
      kubeConfig: server.kubeConfig(),
      nodeName: "node-a",
      logger: log.logger,
      metrics,
      debounceMs: 20,
      requestTimeoutMs: 300,
      reflector: { backoffBaseMs: 50, backoffMaxMs: 200 },
    });
    void cluster.start(() => undefined);
    await waitFor(async () => (await metrics.registry.getSingleMetricAsString("netcanary_cluster_watch_failures_total")).includes('resource="pods",reason="timeout"'), 5000, "a timeout failure");
    expect(cluster.status()).toMatchObject({ ready: false, reason: expect.stringContaining("pods") });
    expect(log.lines.some((line) => String(line["msg"]).startsWith("lost pods"))).toBe(true);
    hold.release();
  });

  it("410 Gone on the watch: relists and ends up right", async () => {
    const { snapshots } = startCluster();
    await waitFor(() => snapshots.length > 0, 5000, "the first snapshot");
    const lists = server.countRequests({ resource: "pods", verb: "list" });
    server.expireNextWatch({ resource: "pods" });
    server.dropWatches({ match: { resource: "pods" } });
    server.apply(pod("shop", "api", "127.0.0.4"));
    await waitFor(() => server.countRequests({ resource: "pods", verb: "list" }) > lists, 5000, "a relist");
    await waitFor(() => podNames(snapshots[snapshots.length - 1]).includes("shop/api"), 5000, "the new pod after the relist");
  });

  it("server stopped and restarted: sees what changed while it was down", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const { snapshots } = startCluster({ metrics });
    await waitFor(() => snapshots.length > 0, 5000, "the first snapshot");
    await server.stop();
    server.apply(pod("shop", "late", "127.0.0.5"));
    server.remove("Pod", "shop", "web");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.start();
    await waitFor(() => podNames(snapshots[snapshots.length - 1]).join() === "shop/agent,shop/late", 8000, "the state after the restart");
    expect(await metrics.registry.getSingleMetricAsString("netcanary_cluster_watch_failures_total")).toMatch(/resource="pods",reason="(connection|server_error)"/);
  });
});

describe("admin network policies on a live cluster", () => {
  const anp = {
    apiVersion: "policy.networking.k8s.io/v1alpha1",
    kind: "AdminNetworkPolicy",
    metadata: { name: "deny-shop-egress" },
    spec: {
      priority: 10,
      subject: { namespaces: { matchLabels: { team: "shop" } } },
      egress: [{ name: "deny-all", action: "Deny", to: [{ namespaces: {} }] }],
    },
  };

  it("absent API: ignored, said once, verdicts not held up", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const { snapshots, log } = startCluster({ metrics });
    await waitFor(() => snapshots.length > 0, 5000, "the first snapshot");
    expect(snapshots[0]?.adminPolicies).toEqual([]);
    await waitFor(() => log.lines.filter((line) => String(line["msg"]).includes("not served by this cluster")).length === 2, 3000, "one line per admin resource");
    await new Promise((resolve) => setTimeout(resolve, 500)); // several rechecks at 200 ms
    expect(log.lines.filter((line) => String(line["msg"]).startsWith("adminnetworkpolicies not served")).length).toBe(1);
    // Not a failure to alert on.
    expect(await metrics.registry.getSingleMetricAsString("netcanary_cluster_watch_failures_total")).not.toContain("adminnetworkpolicies");
  });

  it("served: AdminNetworkPolicy and BaselineAdminNetworkPolicy reach the snapshot and follow changes", async () => {
    server.setAdminNetworkPoliciesServed(true);
    server.apply(anp);
    const { snapshots } = startCluster();
    await waitFor(() => (snapshots[snapshots.length - 1]?.adminPolicies?.length ?? 0) === 1, 5000, "the ANP");
    expect(snapshots[snapshots.length - 1]?.adminPolicies?.[0]).toMatchObject({ name: "deny-shop-egress", priority: 10 });
    server.apply({
      apiVersion: "policy.networking.k8s.io/v1alpha1",
      kind: "BaselineAdminNetworkPolicy",
      metadata: { name: "default" },
      spec: { subject: { namespaces: {} }, ingress: [{ name: "deny", action: "Deny", from: [{ namespaces: {} }] }] },
    });
    await waitFor(() => snapshots[snapshots.length - 1]?.baselinePolicy !== undefined, 3000, "the BANP");
    server.remove({ apiVersion: "policy.networking.k8s.io/v1alpha1", kind: "AdminNetworkPolicy" }, undefined, "deny-shop-egress");
    await waitFor(() => snapshots[snapshots.length - 1]?.adminPolicies?.length === 0, 3000, "the ANP deleted");
  });
});

describe("the agent on a live cluster", () => {
  async function listen(host: string): Promise<number> {
    listener = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listener?.listen(0, host, resolve));
    const address = listener.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    return address.port;
  }

  it("probes with unknown verdicts until the first sync, then follows a NetworkPolicy change within 2 s", async () => {
    const port = await listen("127.0.0.2");
    const { writeFile, mkdtemp } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "netcanary-live-"));
    const config = join(dir, "config.yaml");
    await writeFile(
      config,
      `defaults: {interval: 200ms, timeout: 150ms, failureThreshold: 2, successThreshold: 1}\nsources: [{name: self, self: true}]\nprobes:\n  - {name: web, sources: [self], tcp: {ip: 127.0.0.2, port: ${port}}}\n`,
    );
    // The API is down at start: probes must still run.
    const hold = server.hold({});
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const log = memoryLog();
    const live = new LiveCluster({ kubeConfig: server.kubeConfig(), nodeName: "node-a", logger: log.logger, metrics, debounceMs: 20, reflector: { backoffBaseMs: 50, backoffMaxMs: 200 } });
    const started = await Agent.create({
      configFile: config,
      cluster: live,
      identity: { podNamespace: "shop", podName: "agent", nodeName: "node-a" },
      logger: log.logger,
      metrics,
      watchIntervalMs: 0,
    });
    if (!started.ok) throw new Error(JSON.stringify(started.errors));
    agent = started.agent;
    await agent.start();
    await waitFor(() => agent?.results().results[0]?.observed !== null, 3000, "a probe before the first sync");
    expect(agent.results().results[0]).toMatchObject({ observed: { reason: "ok" }, policy: { verdict: "unknown" }, status: "unknown" });
    expect(agent.readiness()).toMatchObject({ ready: false, reason: expect.stringContaining("waiting for the cluster state") });

    hold.release();
    await waitFor(() => agent?.results().results[0]?.policy.verdict === "allow", 5000, "the first verdict");
    await waitFor(() => agent?.results().results[0]?.status === "ok", 3000, "status ok");

    // A default-deny egress policy arrives: the verdict flips at once, the edge is probed
    // again at once, and the connection still passing is an unexpected allow.
    const changedAt = Date.now();
    server.apply(denyEgress("shop", "deny-egress", { app: "agent" }));
    await waitFor(() => agent?.results().results[0]?.policy.verdict === "deny", 2000, "the deny verdict within 2 s");
    await waitFor(() => agent?.results().results[0]?.status === "unexpected_allow", 2000, "unexpected_allow");
    expect(Date.now() - changedAt).toBeLessThan(2000);
    const exposition = await metrics.registry.metrics();
    expect(exposition).toMatch(/netcanary_probe_mismatch\{[^}]*probe="web"[^}]*kind="unexpected_allow"\} 1/);
    expect(agent.results().results[0]?.policy.explanation.summary).toContain("isolated by shop/deny-egress");

    // Removed again: allow, and the first agreeing probe is the propagation sample.
    server.remove({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy" }, "shop", "deny-egress");
    await waitFor(() => agent?.results().results[0]?.status === "ok", 2000, "ok again");
    expect(await metrics.registry.getSingleMetricAsString("netcanary_policy_propagation_seconds")).toMatch(/netcanary_policy_propagation_seconds_count\{probe="web",source="self",source_node="node-a"\} [1-9]/);
  });
});
