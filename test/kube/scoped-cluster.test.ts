// The agent against the wire-true API test server, scoped (DESIGN.md section 11): it asks
// for its node's pods, its targets' Services, EndpointSlices and pods, namespaces as metadata
// and the policy kinds, and looks up any other address a verdict needs. The requests are
// checked as the server recorded them, what they cost as the server counted it, and the
// verdicts where the scoped state must still be right: a target pod in another namespace, an
// ipBlock that covers a pod's address, a Service whose pods change, a pod that moves to
// another node, a slow lookup. And a target of many pods, of which each agent probes its share.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT } from "../../agent/cluster/api.js";
import { LiveCluster } from "../../agent/cluster/live.js";
import { parseConfig } from "../../agent/config/load.js";
import { ClusterTrafficMetrics } from "../../agent/cluster/traffic-metrics.js";
import { Agent, type ResultEntry } from "../../agent/daemon/agent.js";
import { createLogger } from "../../agent/log/log.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { chooseByRendezvous } from "../../agent/hashing/rendezvous.js";
import { KubeApiServer, type RequestRecord } from "../support/kube-api-server.js";
import { waitFor } from "../support/wait.js";

let server: KubeApiServer;
let agent: Agent | undefined;
let metrics: AgentMetrics;
let dir: string;

const ns = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
function pod(namespace: string, name: string, ip: string, labels: Record<string, string>, node = "node-a") {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name, labels },
    spec: { nodeName: node, containers: [{ name: "c", image: "x", ports: [{ name: "http", containerPort: 8080 }] }] },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}
const policy = (namespace: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace, name }, spec });
const service = (namespace: string, name: string, clusterIP: string, selector: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { namespace, name },
  spec: { clusterIP, selector, ports: [{ name: "http", port: 80, targetPort: "http" }] },
});

async function startAgent(probes: string, agentSettings = ""): Promise<Agent> {
  const config = join(dir, "config.yaml");
  await writeFile(config, `defaults: {interval: 30s, timeout: 150ms, failureThreshold: 1, successThreshold: 1}\n${agentSettings}sources: [{name: self, self: true}]\nprobes:\n${probes}`);
  metrics = new AgentMetrics({ defaultMetrics: false });
  const logger = createLogger("silent");
  const cluster = new LiveCluster({
    kubeConfig: server.kubeConfig(),
    nodeName: "node-a",
    logger,
    metrics,
    traffic: new ClusterTrafficMetrics(metrics.registry),
    debounceMs: 20,
    reflector: { backoffBaseMs: 50, backoffMaxMs: 200 },
  });
  const started = await Agent.create({ configFile: config, cluster, identity: { podNamespace: "client", podName: "agent", nodeName: "node-a" }, logger, metrics, watchIntervalMs: 0 });
  if (!started.ok) throw new Error(JSON.stringify(started.errors));
  agent = started.agent;
  await agent.start();
  return agent;
}

const results = (probe: string): ResultEntry[] => agent?.results({ probe }).results ?? [];
const verdictOf = (probe: string) => results(probe)[0]?.policy;

/** Every list or watch of pods, Services or EndpointSlices the agent made. */
const scopedRequests = () => server.requests.filter((r) => (r.verb === "list" || r.verb === "watch") && ["pods", "services", "endpointslices"].includes(r.resource ?? ""));
const describeRequest = (r: RequestRecord) => [r.verb, r.path, r.query["labelSelector"] ?? "", r.query["fieldSelector"] ?? ""].join(" ").trim();

beforeEach(async () => {
  // Bookmarks rarely: bytes sent on quiet watches stay put, for the accounting.
  server = await KubeApiServer.start({ bookmarkIntervalMs: 60_000 });
  dir = await mkdtemp(join(tmpdir(), "netcanary-scoped-"));
  server.apply(ns("client", { team: "a" }));
  server.apply(ns("shop", { team: "shop" }));
  server.apply(ns("bank", { team: "bank" }));
  server.apply(pod("client", "agent", "127.0.0.1", { app: "agent" }));
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("what the agent asks the API server for", () => {
  it("its node's pods, its targets by name, label and selector, namespaces as metadata: no Pod, Service or EndpointSlice of the whole cluster", async () => {
    server.apply(pod("shop", "web-1", "127.0.0.21", { app: "web" }, "node-b"));
    server.apply(pod("shop", "web-2", "127.0.0.22", { app: "web" }, "node-c"));
    server.apply(service("shop", "web", "127.0.0.20", { app: "web" }));
    server.apply({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { namespace: "shop", name: "web-x", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: [
        { addresses: ["127.0.0.21"], conditions: { ready: true }, targetRef: { kind: "Pod", namespace: "shop", name: "web-1" } },
        { addresses: ["127.0.0.22"], conditions: { ready: true }, targetRef: { kind: "Pod", namespace: "shop", name: "web-2" } },
      ],
    });
    server.apply(pod("bank", "db-1", "127.0.0.31", { app: "db" }, "node-b"));
    server.apply(pod("bank", "stray", "127.0.0.40", { app: "stray" }, "node-c"));
    for (let i = 0; i < 10; i++) server.apply(pod("bank", `other-${i}`, `127.0.1.${i}`, { app: "other" }, "node-b"));
    server.apply(policy("bank", "db-ingress", { podSelector: { matchLabels: { app: "db" } }, policyTypes: ["Ingress"], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "a" } } }] }] }));
    await startAgent(
      [
        `  - {name: web, sources: [self], tcp: {service: {namespace: shop, name: web, port: http}, via: endpoints}}`,
        `  - {name: db, sources: [self], tcp: {pods: {namespace: bank, selector: {matchExpressions: [{key: app, operator: In, values: [db, cache]}]}}, port: http}}`,
        `  - {name: stray, sources: [self], tcp: {ip: 127.0.0.40, port: 8080}}`,
        "",
      ].join("\n"),
    );
    await waitFor(() => ["web", "db", "stray"].every((probe) => results(probe).length > 0 && results(probe).every((r) => r.policy.verdict === "allow")), 5000, "every verdict");
    expect(results("web").map((r) => r.endpoint)).toEqual(["shop/web-1", "shop/web-2"]);
    expect(results("db").map((r) => r.endpoint)).toEqual(["bank/db-1"]);

    const watches = new Set(scopedRequests().filter((r) => r.verb === "watch").map(describeRequest));
    expect([...watches].sort()).toEqual(
      [
        "watch /api/v1/pods  spec.nodeName=node-a",
        "watch /api/v1/namespaces/shop/services  metadata.name=web",
        "watch /apis/discovery.k8s.io/v1/namespaces/shop/endpointslices kubernetes.io/service-name=web",
        "watch /api/v1/namespaces/shop/pods app=web",
        "watch /api/v1/namespaces/bank/pods app in (cache,db)",
      ].sort(),
    );
    for (const request of scopedRequests()) {
      const lookup = request.verb === "list" && request.query["resourceVersion"] === "0" && /^(status\.podIP|spec\.clusterIP)=/.test(request.query["fieldSelector"] ?? "");
      const scoped = request.namespace !== undefined && (request.query["labelSelector"] ?? request.query["fieldSelector"]) !== undefined;
      const node = request.query["fieldSelector"] === "spec.nodeName=node-a";
      expect({ request: describeRequest(request), allowed: lookup || scoped || node }).toEqual({ request: describeRequest(request), allowed: true });
    }
    // The one address no watch explains was looked up: Services by cluster IP first, then pods by address.
    const lookups = scopedRequests().filter((r) => r.query["resourceVersion"] === "0").map(describeRequest);
    expect(lookups).toEqual(["list /api/v1/services  spec.clusterIP=127.0.0.40", "list /api/v1/pods  status.podIP=127.0.0.40"]);
    // Namespaces as metadata only, lists and watches.
    const namespaceRequests = server.requests.filter((r) => r.resource === "namespaces" && (r.verb === "list" || r.verb === "watch"));
    expect(namespaceRequests.length).toBeGreaterThanOrEqual(2);
    for (const request of namespaceRequests) {
      expect(request.representation).toBe("metadata");
      expect(request.headers.accept).toBe(request.verb === "list" ? METADATA_LIST_ACCEPT : METADATA_WATCH_ACCEPT);
    }
    // What the agent received, counted by resource, and what it keeps open.
    const exposition = await metrics.registry.metrics();
    expect(exposition).toMatch(/netcanary_cluster_received_objects_total\{resource="pods"\} [1-9]/);
    expect(exposition).toMatch(/netcanary_cluster_received_bytes_total\{resource="namespaces"\} [1-9]/);
    expect(exposition).toMatch(/netcanary_cluster_address_lookups_total\{result="pod"\} 1/);
    expect(exposition).toMatch(/netcanary_cluster_watches\{resource="pods"\} 3/);
    // The agent's cache holds its node's pod, the targets' pods and the one looked up: not the other ten.
    expect(exposition).toMatch(/netcanary_cluster_objects\{resource="pods"\} 5/);
  });

  it("pods created and deleted on other nodes cost the agent nothing: the server sends it no object, no byte", async () => {
    server.apply(pod("shop", "web-1", "127.0.0.21", { app: "web" }, "node-b"));
    server.apply(service("shop", "web", "127.0.0.20", { app: "web" }));
    server.apply(policy("client", "open", { podSelector: {}, policyTypes: ["Egress"], egress: [{}] }));
    await startAgent(`  - {name: web, sources: [self], tcp: {service: {namespace: shop, name: web, port: http}}}\n`);
    await waitFor(() => verdictOf("web")?.verdict === "allow", 5000, "the Service verdict");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = server.sent();
    for (let i = 0; i < 25; i++) server.apply(pod(i % 2 === 0 ? "shop" : "bank", `churn-${i}`, `127.0.2.${i}`, { app: "batch" }, i % 3 === 0 ? "node-b" : "node-c"));
    for (let i = 0; i < 25; i += 2) server.remove("Pod", i % 2 === 0 ? "shop" : "bank", `churn-${i}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = server.sent();
    expect({ objects: after.objects, bytes: after.bytes }).toEqual({ objects: before.objects, bytes: before.bytes });
    // A pod the target selects does reach it (the watch is live, not idle).
    server.apply(pod("shop", "web-2", "127.0.0.22", { app: "web" }, "node-c"));
    await waitFor(() => server.sent().objects === before.objects + 1, 3000, "the new backend sent");
  });
});

describe("the scope follows the config", () => {
  it("a reload starts the watches a new target needs and stops those of a target gone; the others go on without a new list", async () => {
    server.apply(pod("shop", "web-1", "127.0.0.21", { app: "web" }, "node-b"));
    server.apply(service("shop", "web", "127.0.0.20", { app: "web" }));
    server.apply(pod("bank", "db-1", "127.0.0.31", { app: "db" }, "node-b"));
    const web = `  - {name: web, sources: [self], tcp: {service: {namespace: shop, name: web, port: http}}}\n`;
    const db = `  - {name: db, sources: [self], tcp: {pods: {namespace: bank, selector: {matchLabels: {app: db}}}, port: 8080}}\n`;
    const started = await startAgent(web);
    await waitFor(() => results("web").length === 1, 5000, "the Service edge");
    const load = async (probes: string) => {
      const loaded = parseConfig(`sources: [{name: self, self: true}]\nprobes:\n${probes}`, "reload.yaml");
      if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
      started.applyConfig(loaded.config);
    };
    const lists = () => scopedRequests().filter((r) => r.verb === "list" && r.query["resourceVersion"] !== "0").map(describeRequest);
    const before = lists();
    await load(web + db);
    await waitFor(() => results("db").length === 1, 5000, "the new target's edge");
    // Only the new target was listed.
    expect(lists().slice(before.length)).toEqual(["list /api/v1/namespaces/bank/pods app=db"]);
    expect(server.openWatches({ path: "/api/v1/namespaces/bank/pods" })).toBe(1);
    // The Service target goes: its three watches close; the node's and the pods target's stay.
    await load(db);
    await waitFor(() => server.openWatches({ path: "/api/v1/namespaces/shop/services" }) + server.openWatches({ path: "/api/v1/namespaces/shop/pods" }) === 0, 3000, "the Service's watches closed");
    expect(server.openWatches({ path: "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices" })).toBe(0);
    expect(server.openWatches({ path: "/api/v1/pods" })).toBe(1);
    expect(server.openWatches({ path: "/api/v1/namespaces/bank/pods" })).toBe(1);
    expect(lists().length).toBe(before.length + 1);
  });
});

describe("verdicts from the scoped state", () => {
  it("a target pod in another namespace, on another node: judged by its namespace's policies and the source namespace's labels", async () => {
    server.apply(pod("bank", "db-1", "127.0.0.31", { app: "db" }, "node-b"));
    server.apply(policy("bank", "db-ingress", { podSelector: { matchLabels: { app: "db" } }, policyTypes: ["Ingress"], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "a" } } }] }] }));
    await startAgent(`  - {name: db, sources: [self], tcp: {pods: {namespace: bank, selector: {matchLabels: {app: db}}}, port: 8080}}\n`);
    await waitFor(() => verdictOf("db")?.verdict === "allow", 5000, "allow from team a");
    expect(verdictOf("db")?.explanation.lines.join("\n")).toContain("bank/db-ingress");
    // The source namespace loses the label the policy admits (namespaces are watched as metadata).
    server.apply(ns("client", { team: "b" }));
    await waitFor(() => verdictOf("db")?.verdict === "deny", 3000, "deny once the namespace label changed");
  });

  it("an ipBlock that covers a pod's address: the address is looked up, found to be a pod, and the verdict says it depends on the network plugin", async () => {
    server.apply(pod("bank", "stray", "127.0.0.40", { app: "stray" }, "node-c"));
    server.apply(policy("client", "egress-block", { podSelector: { matchLabels: { app: "agent" } }, policyTypes: ["Egress"], egress: [{ to: [{ ipBlock: { cidr: "127.0.0.32/28" } }] }] }));
    await startAgent(`  - {name: stray, sources: [self], tcp: {ip: 127.0.0.40, port: 8080}}\n`);
    await waitFor(() => verdictOf("stray")?.verdict === "allow", 5000, "the verdict");
    const judged = verdictOf("stray");
    // Judged as the pod it is: allowed only by an ipBlock containing a pod's IP.
    expect(judged?.explanation.cniDependent).toBe(true);
    expect(judged?.explanation.lines.join("\n")).toContain("ipBlock containing the IP of pod bank/stray");
  });

  it("a Service whose pods change: pods added and removed, and the Service's selector edited, are followed", async () => {
    server.apply(pod("shop", "api-1", "127.0.0.51", { app: "api" }, "node-b"));
    server.apply(service("shop", "api", "127.0.0.50", { app: "api" }));
    server.apply(policy("shop", "lock", { podSelector: { matchLabels: { locked: "yes" } }, policyTypes: ["Ingress"] }));
    await startAgent(`  - {name: api, sources: [self], tcp: {service: {namespace: shop, name: api, port: http}}}\n`);
    await waitFor(() => verdictOf("api")?.verdict === "allow", 5000, "allow: the one backend is open");
    server.apply(pod("shop", "api-2", "127.0.0.52", { app: "api", locked: "yes" }, "node-c"));
    await waitFor(() => verdictOf("api")?.explanation.summary.includes("its backends disagree") === true, 3000, "a locked backend added: they disagree");
    // The selector now picks other pods, which the agent did not hold: they are asked for anew.
    server.apply(pod("shop", "gate-1", "127.0.0.53", { role: "gate", locked: "yes" }, "node-c"));
    server.apply(service("shop", "api", "127.0.0.50", { role: "gate" }));
    await waitFor(() => verdictOf("api")?.verdict === "deny", 3000, "deny: the only backend is locked");
    expect(verdictOf("api")?.explanation.lines.join("\n")).toContain("shop/gate-1");
    expect(server.requests.some((r) => r.verb === "list" && r.path === "/api/v1/namespaces/shop/pods" && r.query["labelSelector"] === "role=gate")).toBe(true);
    // The pods behind the old selector are no longer watched.
    await waitFor(() => server.openWatches({ path: "/api/v1/namespaces/shop/pods" }) === 1, 3000, "one backend watch left");
    server.remove("Pod", "shop", "gate-1");
    await waitFor(() => verdictOf("api")?.explanation.summary.includes("selects no pods") === true, 3000, "no backend left");
    expect(verdictOf("api")?.verdict).toBe("unknown");
  });

  it("a target pod that moves to another node: its address leaves the node's watch, is looked up, and the new pod decides", async () => {
    server.apply(pod("shop", "mover", "127.0.0.60", { app: "mover" }));
    server.apply(policy("shop", "lock", { podSelector: { matchLabels: { locked: "yes" } }, policyTypes: ["Ingress"] }));
    await startAgent(`  - {name: mover, sources: [self], tcp: {ip: 127.0.0.60, port: 8080}}\n`);
    await waitFor(() => verdictOf("mover")?.verdict === "allow", 5000, "allow: an open pod on this node");
    // On this node the watch knew the pod: no lookup was needed.
    expect(scopedRequests().filter((r) => r.query["resourceVersion"] === "0")).toEqual([]);
    server.remove("Pod", "shop", "mover");
    server.apply(pod("shop", "mover-2", "127.0.0.60", { app: "mover", locked: "yes" }, "node-b"));
    await waitFor(() => verdictOf("mover")?.verdict === "deny", 5000, "deny: the pod now holding the address is locked");
    expect(verdictOf("mover")?.explanation.lines.join("\n")).toContain("shop/mover-2");
  });

  it("a slow lookup: unknown with the reason while it runs, then the right verdict, probed again at once", async () => {
    server.apply(pod("bank", "slow", "127.0.0.70", { locked: "yes" }, "node-b"));
    server.apply(policy("bank", "lock", { podSelector: { matchLabels: { locked: "yes" } }, policyTypes: ["Ingress"] }));
    const hold = server.hold({ resource: "services", verb: "list" });
    await startAgent(`  - {name: slow, sources: [self], tcp: {ip: 127.0.0.70, port: 8080}}\n`);
    await waitFor(() => hold.waiting === 1, 5000, "the lookup held");
    await waitFor(() => results("slow")[0]?.observed !== null, 3000, "the first probe");
    expect(verdictOf("slow")).toMatchObject({ verdict: "unknown", explanation: { summary: "looking up whether 127.0.0.70 is a pod or a Service" } });
    const firstProbe = results("slow")[0]?.observed?.at;
    hold.release();
    await waitFor(() => verdictOf("slow")?.verdict === "deny", 3000, "the verdict once the answer came");
    // Probed again at once (the interval is 30 s), against the new verdict.
    await waitFor(() => results("slow")[0]?.observed?.at !== firstProbe, 3000, "a probe right after the verdict changed");
  });
});

describe("what the API cannot say", () => {
  it("an API server without Service lookups by cluster IP (before Kubernetes 1.31): pods are still found; an address that is no pod stays unknown, saying why", async () => {
    server.apply(pod("bank", "far", "127.0.0.90", { app: "far" }, "node-b"));
    server.apply(policy("bank", "lock", { podSelector: { matchLabels: { locked: "yes" } }, policyTypes: ["Ingress"] }));
    server.failWith({ resource: "services", verb: "list" }, 400, { reason: "BadRequest", message: "field label not supported: spec.clusterIP" });
    await startAgent(`  - {name: far, sources: [self], tcp: {ip: 127.0.0.90, port: 8080}}\n  - {name: nowhere, sources: [self], tcp: {ip: 127.0.0.99, port: 8080}}\n`);
    await waitFor(() => verdictOf("far")?.verdict === "allow", 5000, "the pod found");
    await waitFor(() => verdictOf("nowhere")?.explanation.summary.includes("cannot look Services up by cluster IP") === true, 5000, "the reason");
    expect(verdictOf("nowhere")?.verdict).toBe("unknown");
    // The refusal is remembered: no address is asked about Services again (both were in flight at most).
    expect(server.countRequests({ resource: "services", verb: "list" })).toBeLessThanOrEqual(2);
    expect(server.countRequests({ resource: "pods", verb: "list", path: "/api/v1/pods" })).toBeGreaterThanOrEqual(3);
  });

  it("on a dual-stack cluster, an address of the second family that no pod's first address is stays unknown: the API finds pods by their first address only", async () => {
    server.apply({ ...pod("client", "agent", "127.0.0.1", { app: "agent" }), status: { phase: "Running", podIP: "127.0.0.1", podIPs: [{ ip: "127.0.0.1" }, { ip: "fd00::1" }] } });
    server.apply({ ...pod("bank", "dual", "127.0.0.91", { app: "dual" }, "node-b"), status: { phase: "Running", podIP: "127.0.0.91", podIPs: [{ ip: "127.0.0.91" }, { ip: "fd00::91" }] } });
    const cluster = new LiveCluster({ kubeConfig: server.kubeConfig(), nodeName: "node-a", logger: createLogger("silent"), debounceMs: 20 });
    const snapshots: unknown[] = [];
    await cluster.start((snapshot) => snapshots.push(snapshot));
    try {
      await waitFor(() => snapshots.length > 0, 5000, "the first snapshot");
      const address = (text: string) => {
        const parsed = parseIp(text);
        if (!parsed.ok) throw new Error(parsed.reason);
        return parsed.value;
      };
      // The agent's own addresses, both families: its node's watch has them.
      expect(cluster.addressState(address("fd00::1"))).toEqual({ kind: "known" });
      // The other pod's first address is found; its second cannot be.
      expect(cluster.addressState(address("127.0.0.91")).kind).toBe("pending");
      expect(cluster.addressState(address("fd00::91")).kind).toBe("pending");
      await waitFor(() => cluster.addressState(address("127.0.0.91")).kind === "known", 5000, "the first address found");
      await waitFor(() => (cluster.addressState(address("fd00::91")) as { final?: boolean }).final === true, 5000, "the second address undecidable");
      expect(cluster.addressState(address("fd00::91"))).toMatchObject({
        kind: "pending",
        reason: "whether fd00::91 is a pod or a Service is not known: it is of the cluster's second address family, and the API finds pods and Services by their first address only",
      });
    } finally {
      await cluster.stop();
    }
  });
});

describe("a target of many pods", () => {
  it("each agent probes its share (agent.maxEndpointsPerTarget, by rendezvous hashing on its node), shown in the results, kept as pods come and go", async () => {
    const names = ["db-0", "db-1", "db-2", "db-3", "db-4"];
    names.forEach((name, i) => server.apply(pod("bank", name, `127.0.0.${80 + i}`, { app: "db" }, "node-b")));
    await startAgent(`  - {name: db, sources: [self], tcp: {pods: {namespace: bank, selector: {matchLabels: {app: db}}}, port: 8080}}\n`, "agent: {maxEndpointsPerTarget: 2}\n");
    await waitFor(() => results("db").length === 2, 5000, "two edges");
    const expected = chooseByRendezvous(names.map((name) => `bank/${name}`), (key) => key, "node-a", 2);
    expect(results("db").map((r) => r.endpoint)).toEqual(expected);
    expect(results("db").map((r) => r.selection)).toEqual([{ chosen: 2, of: 5 }, { chosen: 2, of: 5 }]);
    // A pod this agent does not probe goes: its choice stays, of one fewer.
    const other = names.find((name) => !expected.includes(`bank/${name}`)) as string;
    server.remove("Pod", "bank", other);
    await waitFor(() => results("db")[0]?.selection?.of === 4, 3000, "of 4");
    expect(results("db").map((r) => r.endpoint)).toEqual(expected);
    // One it probes goes: one other takes its place.
    server.remove("Pod", "bank", (expected[0] as string).split("/")[1] as string);
    await waitFor(() => results("db")[0]?.selection?.of === 3, 3000, "of 3");
    expect(results("db").map((r) => r.endpoint)).toContain(expected[1]);
    expect(results("db")).toHaveLength(2);
  });
});
