// Cluster benchmark: the compiled agent against clusters of growing size, served by the
// wire-true test API server, each with 500 namespaces, 2,000 NetworkPolicies and 1,000
// probe edges from the agent's own node. By default two clusters in one run: 10,000 pods and
// 150,000 pods (5,000 nodes); both put the same 30 pods on the agent's node, so everything
// that differs between them is on other nodes. For each cluster:
//  - agent RSS (anonymous, file-backed and shared apart, from /proc/<pid>/status) and heap
//    (the agent's own nodejs_* metrics), after 25 s of probing and at their peak over the
//    whole run: through sync, churn and policy changes (goal: under 100 MiB in both, and
//    less than 10 MiB between them);
//  - what the agent received from the API server (objects and bytes, by resource) at sync and
//    per minute of churn, pods created and deleted on other nodes (default 100 a second for a
//    minute), counted by the agent (netcanary_cluster_received_*) and by the API server's
//    request accounting, side by side (goal: independent of the pods on other nodes);
//  - from a NetworkPolicy change to the new verdict in /api/v1/results and to the mismatch
//    metric (goal: p95 under 2 s), repeated;
//  - the agent's CPU seconds per phase, from /proc/<pid>/stat;
//  - for where the memory goes: a bare Node process, and the agent without a cluster (1 edge,
//    then every edge), under the same flags and limit.
// Goal checks are printed last, one line each, with the ratio to the goal and PASS or FAIL.
//
//   make build && node --experimental-transform-types --no-warnings bench/cluster.mts
//     [--pods 10000,150000 | --pods N] [--pods-per-node 30] [--policies 2000] [--namespaces 500]
//     [--edges 1000] [--flips 20] [--churn-seconds 60] [--churn-rate 100]
//     [--memory-limit MiB] [--node-options "..."] [--no-references]
//
// --pods takes one count (one cluster, as before) or several, comma-separated (default: the two
// clusters). The nodes are as many as put --pods-per-node pods on each (150,000: 5,000 nodes).
// With NETCANARY_BENCH_SNAPSHOT=<file> and --node-options="--heapsnapshot-signal=SIGUSR2", a
// heap snapshot of the agent is taken after the 25 s of probing and copied to <file> (one
// cluster) or <file>-<pods> (several).

import { copyFileSync, readdirSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { KubeApiServer } from "../test/support/kube-api-server.ts";
import { parseSamples, type Sample } from "../test/support/exposition.ts";
// @ts-expect-error: a plain .mjs helper
import { allocatorSettings, cpuSeconds, imageEnv, reportHeader, sleep, startAgent, startProcess, tempFile } from "./support.mjs";

// ---------------------------------------------------------------------------------
// Options

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "10000,150000" },
    "pods-per-node": { type: "string", default: "30" },
    policies: { type: "string", default: "2000" },
    namespaces: { type: "string", default: "500" },
    edges: { type: "string", default: "1000" },
    flips: { type: "string", default: "20" },
    "churn-seconds": { type: "string", default: "60" },
    "churn-rate": { type: "string", default: "100" },
    "node-options": { type: "string", default: "" },
    /** Run the agent under this memory limit (MiB), as the shipped DaemonSet does. */
    "memory-limit": { type: "string" },
    /** --no-references: skip the bare Node process and the agent without a cluster. */
    references: { type: "boolean", default: true },
  },
  allowNegative: true,
});

function count(option: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`bench/cluster.mts: --${option} ${text}: expected a whole number of at least ${min}`);
    process.exit(2);
  }
  return value;
}

const CLUSTERS = values.pods.split(",").map((text) => count("pods", text.trim(), 1));
const PODS_PER_NODE = count("pods-per-node", values["pods-per-node"], 1);
const POLICIES = count("policies", values.policies, 0);
const NAMESPACES = count("namespaces", values.namespaces, 1);
const EDGES = count("edges", values.edges, 1);
const FLIPS = count("flips", values.flips, 1);
const CHURN_SECONDS = count("churn-seconds", values["churn-seconds"], 0);
const CHURN_RATE = count("churn-rate", values["churn-rate"], 1);
const MEMORY_LIMIT = values["memory-limit"] === undefined ? undefined : count("memory-limit", values["memory-limit"], 32);
const NODE_ARGS = values["node-options"].split(/\s+/).filter(Boolean);
const OLD_SPACE_MIB = Number(/--max-old-space-size=(\d+)/.exec(values["node-options"])?.[1] ?? Number.NaN);

/** The node the measured agent runs on; every other node is "elsewhere". */
const AGENT_NODE = "node-0";
const APPS = ["web", "api", "db", "cache", "worker", "queue", "auth", "search", "mail", "batch"];
const pick = <T,>(list: readonly T[], i: number): T => list[i % list.length] as T;
const MiB = 1048576;

// ---------------------------------------------------------------------------------
// The cluster's objects, made one at a time as they are served (the API server keeps its copy)

/** A pod as the API serves it, pod number i (its address is 10.x.y.z from i). */
function pod(i: number, nodeName: string) {
  const namespace = `ns-${i % NAMESPACES}`;
  const app = pick(APPS, i * 7);
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      namespace,
      name: `${app}-${i}-7d9f8c6b5-x${i.toString(36)}`,
      labels: { app, "pod-template-hash": "7d9f8c6b5", tier: pick(["frontend", "backend", "data"], i) },
      annotations: { "kubectl.kubernetes.io/restartedAt": "2026-11-01T10:00:00Z", "prometheus.io/scrape": "true" },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: `${app}-7d9f8c6b5`, uid: `uid-${i}`, controller: true }],
    },
    spec: {
      nodeName,
      serviceAccountName: "default",
      containers: [
        {
          name: app,
          image: `registry.example.com/${app}:1.2.3`,
          ports: [{ name: "http", containerPort: 8080 }, { name: "metrics", containerPort: 9090 }],
          env: Array.from({ length: 8 }, (_, k) => ({ name: `ENV_${k}`, value: `value-${k}-${i}` })),
          resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
          volumeMounts: [{ name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
        },
      ],
      volumes: [{ name: "kube-api-access", projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }] } }],
    },
    status: {
      phase: "Running",
      podIP: ip,
      podIPs: [{ ip }],
      hostIP: `192.168.${(i >> 8) & 255}.${i & 255}`,
      conditions: ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({ type, status: "True", lastTransitionTime: "2026-11-01T10:00:00Z" })),
      containerStatuses: [{ name: app, ready: true, restartCount: 0, image: `registry.example.com/${app}:1.2.3`, imageID: `sha256:${"a".repeat(64)}`, containerID: `containerd://${"b".repeat(64)}`, started: true }],
    },
  };
}

function policy(i: number) {
  const namespace = `ns-${i % NAMESPACES}`;
  const app = pick(APPS, i * 3);
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace, name: `policy-${i}` },
    spec: {
      podSelector: i % 4 === 0 ? {} : { matchLabels: { app } },
      policyTypes: i % 2 === 0 ? ["Ingress"] : ["Ingress", "Egress"],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: pick(APPS, i) } } }, { namespaceSelector: { matchLabels: { team: pick(["a", "b"], i) } } }], ports: [{ port: "http" }] }],
      ...(i % 2 === 1 ? { egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] } }], ports: [{ port: 443 }] }] } : {}),
    },
  };
}

const DENY_EGRESS = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace: "netcanary", name: "deny-egress" }, spec: { podSelector: {}, policyTypes: ["Egress"] } };

interface Cluster {
  readonly pods: number;
  readonly nodes: number;
  /** Pods on the agent's node (its own pod not counted). */
  readonly nodePods: number;
}

function clusterOf(pods: number): Cluster {
  const nodes = Math.max(2, Math.ceil(pods / PODS_PER_NODE));
  return { pods, nodes, nodePods: Math.ceil(pods / nodes) };
}

function populate(server: KubeApiServer, cluster: Cluster): void {
  for (let n = 0; n < NAMESPACES; n++) server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: `ns-${n}`, labels: { team: pick(["a", "b"], n) } } });
  for (let i = 0; i < cluster.pods; i++) server.apply(pod(i, `node-${i % cluster.nodes}`));
  for (let i = 0; i < POLICIES; i++) server.apply(policy(i));
  // The agent's own pod, on loopback, in a namespace of its own.
  server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "netcanary" } });
  server.apply({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: "netcanary", name: "agent", labels: { app: "netcanary" } },
    spec: { nodeName: AGENT_NODE, containers: [{ name: "agent", image: "netcanary" }] },
    status: { phase: "Running", podIP: "127.0.0.1", podIPs: [{ ip: "127.0.0.1" }] },
  });
}

/**
 * Pods created on other nodes at `rate` a second, each deleted about a second later; the
 * last ones are deleted at the end, so the cluster ends as it began. Churned pods get
 * addresses above 10.128.0.0, apart from the cluster's own.
 */
async function churn(server: KubeApiServer, cluster: Cluster, seconds: number, rate: number): Promise<{ created: number; deleted: number }> {
  const total = Math.round(seconds * rate);
  const alive: { namespace: string; name: string }[] = [];
  let created = 0;
  let deleted = 0;
  const start = performance.now();
  while (created < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    for (; created < due; created++) {
      const object = pod(0x800000 + created, `node-${1 + (created % (cluster.nodes - 1))}`);
      object.metadata.name = `churn-${created}`;
      server.apply(object);
      alive.push({ namespace: object.metadata.namespace, name: object.metadata.name });
      if (alive.length > rate) {
        const old = alive.shift() as { namespace: string; name: string };
        if (server.remove("Pod", old.namespace, old.name)) deleted++;
      }
    }
    await sleep(10);
  }
  for (const old of alive) if (server.remove("Pod", old.namespace, old.name)) deleted++;
  return { created, deleted };
}

// ---------------------------------------------------------------------------------
// Reading the agent: /proc and its metrics

interface ProcMemory {
  readonly rss: number;
  readonly hwm: number;
  readonly anon: number;
  readonly file: number;
  readonly shmem: number;
}

function procMemory(pid: number): ProcMemory {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN) / 1024;
  return { rss: mib("VmRSS"), hwm: mib("VmHWM"), anon: mib("RssAnon"), file: mib("RssFile"), shmem: mib("RssShmem") };
}

/** Where the resident memory is, mapping by mapping (the node binary, libraries, anonymous). */
function residentBreakdown(pid: number): string {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? 0) / 1024;
  const mappings = new Map<string, number>();
  let current = "";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) current = head[1] || "[anonymous]";
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) mappings.set(current, (mappings.get(current) ?? 0) + Number(rss[1]) / 1024);
  }
  const top = [...mappings.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([name, mib]) => `${name.split("/").pop()} ${mib.toFixed(1)}`).join(", ");
  return `anonymous ${kb("Anonymous").toFixed(1)} MiB, file-backed ${(kb("Rss") - kb("Anonymous")).toFixed(1)} MiB; largest: ${top}`;
}

interface Heap {
  readonly used: number;
  readonly total: number;
  readonly external: number;
}

function heapOf(metrics: string): Heap | undefined {
  const gauge = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, "m").exec(metrics)?.[1] ?? Number.NaN) / MiB;
  const heap = { used: gauge("nodejs_heap_size_used_bytes"), total: gauge("nodejs_heap_size_total_bytes"), external: gauge("nodejs_external_memory_bytes") };
  return Number.isFinite(heap.used) ? heap : undefined;
}

/** Objects and bytes by resource. */
type Traffic = Map<string, { objects: number; bytes: number }>;

/** What the agent counted it received, from netcanary_cluster_received_{objects,bytes}_total. */
function receivedByAgent(samples: readonly Sample[]): Traffic {
  const traffic: Traffic = new Map();
  for (const sample of samples) {
    const field = sample.name === "netcanary_cluster_received_objects_total" ? "objects" : sample.name === "netcanary_cluster_received_bytes_total" ? "bytes" : undefined;
    const resource = sample.labels["resource"];
    if (!field || resource === undefined) continue;
    const entry = traffic.get(resource) ?? { objects: 0, bytes: 0 };
    entry[field] += sample.value;
    traffic.set(resource, entry);
  }
  return traffic;
}

/** What the API server sent for the agent's reads (lists, watches, lookups), by resource. */
function sentByServer(server: KubeApiServer): Traffic {
  const traffic: Traffic = new Map();
  for (const request of server.requests) {
    if (request.method !== "GET" || request.resource === undefined) continue;
    const entry = traffic.get(request.resource) ?? { objects: 0, bytes: 0 };
    entry.objects += request.objects;
    entry.bytes += request.bytes;
    traffic.set(request.resource, entry);
  }
  return traffic;
}

function minus(later: Traffic, earlier: Traffic): Traffic {
  const delta: Traffic = new Map();
  for (const [resource, { objects, bytes }] of later) {
    const before = earlier.get(resource) ?? { objects: 0, bytes: 0 };
    delta.set(resource, { objects: objects - before.objects, bytes: bytes - before.bytes });
  }
  return delta;
}

function totalOf(traffic: Traffic): { objects: number; bytes: number } {
  let objects = 0;
  let bytes = 0;
  for (const entry of traffic.values()) {
    objects += entry.objects;
    bytes += entry.bytes;
  }
  return { objects, bytes };
}

const size = (bytes: number) => (Math.abs(bytes) >= MiB ? `${(bytes / MiB).toFixed(2)} MiB` : Math.abs(bytes) >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${Math.round(bytes)} B`);

/** "pods 31 objects 98.3 KiB | 31 98.3 KiB; ..." scaled by `factor` (1 for totals, 60/s for per minute). */
function trafficLine(agent: Traffic, server: Traffic, factor = 1): string {
  const resources = [...new Set([...agent.keys(), ...server.keys()])].sort();
  const one = (traffic: Traffic, resource: string) => {
    const entry = traffic.get(resource) ?? { objects: 0, bytes: 0 };
    return `${Math.round(entry.objects * factor)} objects ${size(entry.bytes * factor)}`;
  };
  const parts = resources.map((resource) => `${resource} ${one(agent, resource)} | ${one(server, resource)}`);
  const a = totalOf(agent);
  const s = totalOf(server);
  parts.push(`total ${Math.round(a.objects * factor)} objects ${size(a.bytes * factor)} | ${Math.round(s.objects * factor)} objects ${size(s.bytes * factor)}`);
  return parts.join("; ");
}

/**
 * The agent's and the server's counts agree: the same objects, and bytes within 1 % or 1 KiB.
 * The agent's /metrics text may be up to a few seconds old (it is reused for 4 times what a
 * build took, at least 0.5 s), so the bookmarks sent meanwhile (100 to 200 bytes each, one per
 * watch every 5 s here) may be missing from it; objects arrive only with the changes made here.
 */
function agreement(agent: Traffic, server: Traffic): string {
  const a = totalOf(agent);
  const s = totalOf(server);
  const bytes = a.bytes - s.bytes;
  const agree = a.objects === s.objects && Math.abs(bytes) <= Math.max(0.01 * s.bytes, 1024);
  return `${agree ? "they agree" : "THEY DISAGREE"} (objects ${a.objects} vs ${s.objects}, bytes differ by ${bytes} B${s.bytes > 0 ? `, ${((Math.abs(bytes) / s.bytes) * 100).toFixed(2)} %` : ""})`;
}

// ---------------------------------------------------------------------------------
// One cluster

interface Peaks {
  rss: number;
  anon: number;
  file: number;
  shmem: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

interface ClusterResult {
  readonly cluster: Cluster;
  readonly steady: ProcMemory;
  readonly steadyHeap: Heap | undefined;
  readonly peaks: Peaks;
  readonly hwm: number;
  readonly cgroupPeak: number;
  readonly sync: { readonly agent: Traffic; readonly server: Traffic };
  readonly churn: { readonly agent: Traffic; readonly server: Traffic; readonly seconds: number };
  readonly flips: readonly number[];
  readonly metricFlips: readonly number[];
}

const sorted = (list: readonly number[]) => [...list].sort((a, b) => a - b);
const pct = (list: readonly number[], p: number) => sorted(list)[Math.min(list.length - 1, Math.floor((p / 100) * list.length))] ?? Number.NaN;

async function runCluster(cluster: Cluster, index: number, config: string, dir: string): Promise<ClusterResult> {
  const out = (line: string) => console.log(line);
  // History enough for a watch to resume after a minute of churn without a relist.
  const server = await KubeApiServer.start({ bookmarkIntervalMs: 5000, historyLimit: 20 * CHURN_RATE });
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const t0 = Date.now();
    populate(server, cluster);
    const populateSeconds = (Date.now() - t0) / 1000;
    const bench = process.memoryUsage();
    out(`\ncluster ${index + 1} of ${CLUSTERS.length}: ${cluster.pods} pods (full API objects) on ${cluster.nodes} nodes, ${cluster.nodePods} of them on the agent's node; ${NAMESPACES} namespaces, ${POLICIES} NetworkPolicies`);
    out(`served in ${populateSeconds.toFixed(1)} s; this benchmark process (the API server's store): RSS ${(bench.rss / MiB).toFixed(0)} MiB, heap used ${(bench.heapUsed / MiB).toFixed(0)} MiB`);

    const kubeconfig = tempFile(`kubeconfig-${index}`, server.kubeconfigYaml()) as string;
    const started = Date.now();
    agent = await startAgent(config, {
      nodeArgs: NODE_ARGS,
      cwd: dir,
      env: { KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: "", POD_NAMESPACE: "netcanary", POD_NAME: "agent", POD_IP: "127.0.0.1", NODE_NAME: AGENT_NODE },
      ...(MEMORY_LIMIT !== undefined ? { memoryLimitMiB: MEMORY_LIMIT } : {}),
    });
    const { proc, url } = agent as { proc: { pid: number; alive(): boolean; tail(): string }; url: string };
    const pid = proc.pid;
    const alive = () => {
      if (!proc.alive()) throw new Error(`the agent exited:\n${proc.tail()}`);
    };

    // Peaks over the whole run: /proc every 250 ms, the heap at every read of /metrics.
    const peaks: Peaks = { rss: 0, anon: 0, file: 0, shmem: 0, heapUsed: 0, heapTotal: 0, external: 0 };
    const sample = () => {
      try {
        const m = procMemory(pid);
        peaks.rss = Math.max(peaks.rss, m.rss);
        peaks.anon = Math.max(peaks.anon, m.anon);
        peaks.file = Math.max(peaks.file, m.file);
        peaks.shmem = Math.max(peaks.shmem, m.shmem);
      } catch {
        // gone: the next step says so
      }
    };
    sampler = setInterval(sample, 250);
    const get = async (path: string) => {
      try {
        const response = await fetch(url + path, { signal: AbortSignal.timeout(10_000) });
        return { status: response.status, text: await response.text() };
      } catch {
        return undefined;
      }
    };
    const metrics = async () => {
      const text = (await get("/metrics"))?.text ?? "";
      const heap = heapOf(text);
      if (heap) {
        peaks.heapUsed = Math.max(peaks.heapUsed, heap.used);
        peaks.heapTotal = Math.max(peaks.heapTotal, heap.total);
        peaks.external = Math.max(peaks.external, heap.external);
      }
      return { text, heap };
    };
    const until = async <T,>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        alive();
        const value = await check();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
      }
    };
    const cpu = () => (cpuSeconds(pid) as { total: number }).total;

    await until("the agent to be ready", 300_000, async () => ((await get("/readyz"))?.status === 200 ? true : undefined));
    const readySeconds = (Date.now() - started) / 1000;
    const cpuReady = cpu();
    // What the sync cost: the lists, the first watch events and the first lookups, once quiet.
    await sleep(2000);
    const syncServer = sentByServer(server);
    const syncMetrics = await metrics();
    const syncAgent = receivedByAgent(parseSamples(syncMetrics.text));
    const cached = (resource: string) => Number(new RegExp(`netcanary_cluster_objects\\{resource="${resource}"\\} (\\d+)`).exec(syncMetrics.text)?.[1] ?? 0);
    out(`agent ready (synced and first round probed) after ${readySeconds.toFixed(1)} s; cached pods ${cached("pods")}, policies ${cached("networkpolicies")}, namespaces ${cached("namespaces")}`);
    out(`received at sync, by resource (agent's counters | API server's accounting): ${trafficLine(syncAgent, syncServer)}; ${agreement(syncAgent, syncServer)}`);

    // Probing with the cache in place, then the figures the line below has always given.
    const probeStart = Date.now();
    while (Date.now() - probeStart < 25_000) {
      await sleep(5000);
      alive();
      await metrics();
    }
    if (process.env["NETCANARY_BENCH_SNAPSHOT"]) {
      (agent.proc as { child: { kill(signal: string): void } }).child.kill("SIGUSR2");
      await sleep(8000);
      const snapshot = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot"));
      const target = CLUSTERS.length === 1 ? process.env["NETCANARY_BENCH_SNAPSHOT"] : `${process.env["NETCANARY_BENCH_SNAPSHOT"]}-${cluster.pods}`;
      if (snapshot) copyFileSync(join(dir, snapshot), target);
      for (const f of readdirSync(dir)) if (f.endsWith(".heapsnapshot")) await rm(join(dir, f));
    }
    const steady = procMemory(pid);
    sample();
    const steadyMetrics = await metrics();
    const cpuSteady = cpu();
    out(`agent RSS with ${EDGES} edges and the cluster cache, after 25 s of probing: ${steady.rss.toFixed(1)} MiB (peak ${steady.hwm.toFixed(1)} MiB); goal < 100 MiB`);
    out(`agent RSS by kind (/proc status): anonymous ${steady.anon.toFixed(1)} MiB, file-backed ${steady.file.toFixed(1)} MiB, shared memory ${steady.shmem.toFixed(1)} MiB`);
    const h = steadyMetrics.heap;
    out(`agent heap used ${h?.used.toFixed(1)} MiB, heap total ${h?.total.toFixed(1)} MiB, external ${h?.external.toFixed(1)} MiB; /metrics is ${(steadyMetrics.text.length / MiB).toFixed(1)} MiB of text`);
    out(`agent resident memory: ${residentBreakdown(pid)}`);

    // Churn on other nodes: nothing of it should reach the agent.
    const churnServerBefore = sentByServer(server);
    const churnAgentBefore = receivedByAgent(parseSamples((await metrics()).text));
    const churnStart = Date.now();
    let churning = true;
    const heapWatch = (async () => {
      while (churning) {
        await sleep(5000);
        if (churning) await metrics();
      }
    })();
    const churned = await churn(server, cluster, CHURN_SECONDS, CHURN_RATE);
    // Whatever was on its way arrives.
    await sleep(2000);
    churning = false;
    await heapWatch;
    const churnServer = minus(sentByServer(server), churnServerBefore);
    const churnAgent = minus(receivedByAgent(parseSamples((await metrics()).text)), churnAgentBefore);
    const churnSeconds = (Date.now() - churnStart) / 1000;
    const cpuChurn = cpu();
    alive();
    out(`churn on other nodes: ${churned.created} pods created and ${churned.deleted} deleted in ${CHURN_SECONDS} s (${CHURN_RATE}/s each way); received over ${churnSeconds.toFixed(1)} s, per minute (agent | API server): ${trafficLine(churnAgent, churnServer, 60 / churnSeconds)}; ${agreement(churnAgent, churnServer)}`);

    // Propagation: a default-deny egress policy on the agent's pod flips edge-0 to deny
    // (observed ok: unexpected_allow); removing it flips back.
    const verdictOf = async () => {
      const body = (await get("/api/v1/results?probe=edge-0"))?.text;
      if (!body) return undefined;
      const results = (JSON.parse(body) as { results: { probe: string; policy: { verdict: string }; status: string }[] }).results;
      return results.find((r) => r.probe === "edge-0");
    };
    // This process's own stalls (the API server's garbage collection over its store of every
    // object) delay events to the agent and the polls alike: measured, to tell them apart.
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    const ownCpu = process.cpuUsage();
    const flipsStart = Date.now();
    const flips: number[] = [];
    const metricFlips: number[] = [];
    for (let f = 0; f < FLIPS; f++) {
      const deny = f % 2 === 0;
      const changedAt = Date.now();
      if (deny) server.apply(DENY_EGRESS);
      else server.remove({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy" }, "netcanary", "deny-egress");
      const want = deny ? "deny" : "allow";
      await until(`the ${want} verdict`, 10_000, async () => ((await verdictOf())?.policy.verdict === want ? true : undefined));
      flips.push(Date.now() - changedAt);
      const mismatch = new RegExp(`netcanary_probe_mismatch\\{probe="edge-0",[^}]*kind="unexpected_allow"\\} ${deny ? 1 : 0}`);
      await until("the mismatch metric", 10_000, async () => {
        if (mismatch.test((await metrics()).text)) return true;
        // /metrics is a few MiB with a thousand edges: polled like a client, not in a tight loop.
        await sleep(90);
        return undefined;
      });
      metricFlips.push(Date.now() - changedAt);
      await sleep(300);
    }
    const cpuFlips = cpu();
    stalls.disable();
    const ownCpuSeconds = (({ user, system }) => (user + system) / 1e6)(process.cpuUsage(ownCpu));
    const flipsSeconds = (Date.now() - flipsStart) / 1000;
    sample();
    const end = procMemory(pid);
    const cgroupPeak = (agent.cgroup as { peakMiB(): number } | undefined)?.peakMiB() ?? Number.NaN;
    out(`NetworkPolicy change -> /api/v1/results: p50 ${pct(flips, 50)} ms, p95 ${pct(flips, 95)} ms, max ${Math.max(...flips)} ms over ${FLIPS} changes; goal < 2000 ms`);
    out(`NetworkPolicy change -> mismatch metric:  p50 ${pct(metricFlips, 50)} ms, p95 ${pct(metricFlips, 95)} ms, max ${Math.max(...metricFlips)} ms (polled every 100 ms)`);
    out(`this benchmark process (the API server, the polls) while the policies changed: event loop delay p99 ${(stalls.percentile(99) / 1e6).toFixed(0)} ms, max ${(stalls.max / 1e6).toFixed(0)} ms; CPU ${ownCpuSeconds.toFixed(2)} s over ${flipsSeconds.toFixed(0)} s (the agent: ${(cpuFlips - cpuChurn).toFixed(2)} s)`);
    out(
      `peaks over the run (RSS from /proc every 250 ms, heap at each /metrics read): RSS ${peaks.rss.toFixed(1)} MiB (VmHWM ${end.hwm.toFixed(1)}), anonymous ${peaks.anon.toFixed(1)}, file-backed ${peaks.file.toFixed(1)}, shared ${peaks.shmem.toFixed(1)}; heap used ${peaks.heapUsed.toFixed(1)} MiB${Number.isFinite(OLD_SPACE_MIB) ? ` (old space limit ${OLD_SPACE_MIB} MiB)` : ""}, heap total ${peaks.heapTotal.toFixed(1)}, external ${peaks.external.toFixed(1)}${Number.isFinite(cgroupPeak) ? `; cgroup memory peak ${cgroupPeak.toFixed(1)} MiB` : ""}`,
    );
    out(`at the end: RSS ${end.rss.toFixed(1)} MiB (anonymous ${end.anon.toFixed(1)}, file-backed ${end.file.toFixed(1)})`);
    out(
      `agent CPU: ${cpuReady.toFixed(2)} s start to ready, ${(cpuSteady - cpuReady).toFixed(2)} s for 25 s of probing, ${(cpuChurn - cpuSteady).toFixed(2)} s during churn, ${(cpuFlips - cpuChurn).toFixed(2)} s for ${FLIPS} policy changes; ${cpuFlips.toFixed(2)} s in all over ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    return {
      cluster,
      steady,
      steadyHeap: h,
      peaks,
      hwm: end.hwm,
      cgroupPeak,
      sync: { agent: syncAgent, server: syncServer },
      churn: { agent: churnAgent, server: churnServer, seconds: churnSeconds },
      flips,
      metricFlips,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    await (agent?.proc as { stop(graceMs?: number): Promise<void> } | undefined)?.stop(2000);
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------
// References: what Node takes with nothing to do, and the agent without a cluster, under the
// same flags and limit, read the same way (after 25 s of probing, /metrics read every 5 s)

interface Reference {
  readonly memory: ProcMemory;
  readonly heap: Heap | undefined;
}

async function standalone(config: string): Promise<Reference> {
  const agent = await startAgent(config, {
    nodeArgs: NODE_ARGS,
    env: { KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "", NODE_NAME: AGENT_NODE },
    ...(MEMORY_LIMIT !== undefined ? { memoryLimitMiB: MEMORY_LIMIT } : {}),
  });
  const { proc, url } = agent as { proc: { pid: number; stop(graceMs?: number): Promise<void> }; url: string };
  const metrics = async () => heapOf(await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text());
  try {
    const deadline = Date.now() + 60_000;
    while ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined))?.status !== 200) {
      if (Date.now() > deadline) throw new Error("the standalone agent did not get ready within 60 s");
      await sleep(50);
    }
    for (let i = 0; i < 5; i++) {
      await sleep(5000);
      await metrics();
    }
    return { memory: procMemory(proc.pid), heap: await metrics() };
  } finally {
    await proc.stop(2000);
  }
}

async function bareNode(): Promise<ProcMemory> {
  const bare = startProcess(process.execPath, [...NODE_ARGS, "-e", "setInterval(() => {}, 1000)"], { name: "bare node", env: imageEnv() }) as { pid: number; stop(graceMs?: number): Promise<void> };
  try {
    await sleep(2000);
    return procMemory(bare.pid);
  } finally {
    await bare.stop(1000);
  }
}

// ---------------------------------------------------------------------------------
// Goals

function describe(memory: ProcMemory, heap?: Heap): string {
  return `RSS ${memory.rss.toFixed(1)} MiB (anonymous ${memory.anon.toFixed(1)}, file-backed ${memory.file.toFixed(1)})${heap ? `, heap used ${heap.used.toFixed(1)} MiB of ${heap.total.toFixed(1)}` : ""}`;
}

function goals(results: readonly ClusterResult[]): string[] {
  const lines: string[] = ["", "goals"];
  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  const ratio = (value: number, goal: number) => `${(value / goal).toFixed(2)}x of the goal`;
  for (const r of results) {
    lines.push(`  RSS < 100 MiB at ${r.cluster.pods} pods, after probing: ${r.steady.rss.toFixed(1)} MiB (${ratio(r.steady.rss, 100)}): ${verdict(r.steady.rss < 100)}`);
    lines.push(`  RSS < 100 MiB at ${r.cluster.pods} pods, peak over the run: ${r.hwm.toFixed(1)} MiB (${ratio(r.hwm, 100)}): ${verdict(r.hwm < 100)}`);
  }
  if (results.length > 1) {
    const steady = results.map((r) => r.steady.rss);
    const peak = results.map((r) => r.hwm);
    const spread = (list: number[]) => Math.max(...list) - Math.min(...list);
    lines.push(`  RSS between the clusters < 10 MiB, after probing: ${spread(steady).toFixed(1)} MiB (${ratio(spread(steady), 10)}): ${verdict(spread(steady) < 10)}`);
    lines.push(`  RSS between the clusters < 10 MiB, peak over the run: ${spread(peak).toFixed(1)} MiB (${ratio(spread(peak), 10)}): ${verdict(spread(peak) < 10)}`);
  }
  for (const r of results) {
    if (Number.isFinite(OLD_SPACE_MIB)) {
      const share = r.peaks.heapUsed / OLD_SPACE_MIB;
      lines.push(`  heap never near its limit at ${r.cluster.pods} pods: peak heap used ${r.peaks.heapUsed.toFixed(1)} MiB of ${OLD_SPACE_MIB} (${(share * 100).toFixed(0)} %; passes under 50 %): ${verdict(share < 0.5)}`);
    }
  }
  // Received: the same at sync whatever the pods elsewhere, and nothing of the churn.
  const syncs = results.map((r) => totalOf(r.sync.server));
  const churnPods = results.map((r) => r.churn.server.get("pods")?.objects ?? 0);
  const objectsEqual = syncs.every((s) => s.objects === syncs[0]?.objects);
  const bytes = syncs.map((s) => s.bytes);
  const bytesSpread = (Math.max(...bytes) - Math.min(...bytes)) / Math.min(...bytes);
  const agree = results.every((r) => agreement(r.sync.agent, r.sync.server).startsWith("they agree") && agreement(r.churn.agent, r.churn.server).startsWith("they agree"));
  const atSync =
    results.length > 1
      ? `at sync ${syncs.map((s) => `${s.objects} objects ${size(s.bytes)}`).join(" vs ")} (bytes ${(bytesSpread * 100).toFixed(1)} % apart; passes when the objects are equal and the bytes within 5 %); `
      : "(one cluster: at sync, nothing to compare with); ";
  lines.push(
    `  received independent of the pods on other nodes: ${atSync}pod objects sent during churn ${churnPods.join(" vs ")} (passes at 0); agent and API server counts agree: ${agree ? "yes" : "no"}: ${verdict(objectsEqual && bytesSpread <= 0.05 && churnPods.every((n) => n === 0) && agree)}`,
  );
  for (const r of results) {
    const p95 = pct(r.flips, 95);
    const m95 = pct(r.metricFlips, 95);
    lines.push(`  NetworkPolicy change -> /api/v1/results p95 < 2000 ms at ${r.cluster.pods} pods: ${p95} ms (${ratio(p95, 2000)}): ${verdict(p95 < 2000)}`);
    lines.push(`  NetworkPolicy change -> mismatch metric p95 < 2000 ms at ${r.cluster.pods} pods: ${m95} ms (${ratio(m95, 2000)}): ${verdict(m95 < 2000)}`);
  }
  return lines;
}

async function references(results: readonly ClusterResult[], config: string, firstProbe: string): Promise<void> {
  const bare = await bareNode();
  const one = tempFile("config-1.yaml", `defaults: {interval: 10s, timeout: 1s, failureThreshold: 1, successThreshold: 1}\nsources: [{name: self, self: true}]\nprobes:\n${firstProbe}\n`);
  const oneEdge = await standalone(one);
  const allEdges = await standalone(config);
  const last = results.at(-1) as ClusterResult;
  console.log("\nwhere the resident memory goes (each read after 25 s of probing, same flags and limit)");
  console.log(`  Node alone, \`node ${NODE_ARGS.length ? `${NODE_ARGS.join(" ")} ` : ""}-e 'setInterval(() => {}, 1000)'\`: ${describe(bare)}`);
  console.log(`  the agent without a cluster, 1 edge: ${describe(oneEdge.memory, oneEdge.heap)}`);
  console.log(`  the agent without a cluster, ${EDGES} edges: ${describe(allEdges.memory, allEdges.heap)}`);
  for (const r of results) console.log(`  the agent with ${EDGES} edges and the ${r.cluster.pods}-pod cluster: ${describe(r.steady, r.steadyHeap)}`);
  console.log(`  so at ${last.cluster.pods} pods: the runtime ${bare.rss.toFixed(1)} MiB, the agent's code and libraries ${(oneEdge.memory.rss - bare.rss).toFixed(1)}, ${EDGES} edges ${(allEdges.memory.rss - oneEdge.memory.rss).toFixed(1)}, the cluster ${(last.steady.rss - allEdges.memory.rss).toFixed(1)}`);
}

// ---------------------------------------------------------------------------------

const listeners: Server[] = [];
try {
  for (const line of reportHeader("bench/cluster.mts: the agent against clusters of growing size") as string[]) console.log(line);
  console.log(
    `agent process: ${MEMORY_LIMIT !== undefined ? `memory limit ${MEMORY_LIMIT} MiB (a cgroup of its own)` : "no memory limit"}, node ${NODE_ARGS.length ? NODE_ARGS.join(" ") : "without flags"}, ${allocatorSettings()}; ${EDGES} edges from its own pod at a 10 s interval`,
  );
  // The edges: 10 listeners on 127.0.0.2, EDGES probes spread over them (distinct names).
  const ports: number[] = [];
  for (let k = 0; k < 10; k++) {
    const listener = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.2", resolve));
    listeners.push(listener);
    ports.push((listener.address() as { port: number }).port);
  }
  const probes = Array.from({ length: EDGES }, (_, i) => `  - {name: edge-${i}, sources: [self], tcp: {ip: 127.0.0.2, port: ${ports[i % ports.length]}}}`);
  // Files in the helpers' temporary directory, removed however the script ends.
  const config = tempFile("config.yaml", `defaults: {interval: 10s, timeout: 1s, failureThreshold: 1, successThreshold: 1}\nagent: {maxEdges: ${EDGES + 10}}\nsources: [{name: self, self: true}]\nprobes:\n${probes.join("\n")}\n`);

  const results: ClusterResult[] = [];
  for (const [index, pods] of CLUSTERS.entries()) results.push(await runCluster(clusterOf(pods), index, config, dirname(config)));
  if (values.references) await references(results, config, probes[0] as string);
  for (const line of goals(results)) console.log(line);
  console.log(`this benchmark process: peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (the API server's store of every cluster's objects)`);
} finally {
  for (const listener of listeners) listener.close();
}

