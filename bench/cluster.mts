// Cluster benchmark: the compiled agent watching a 10,000-pod / 2,000-policy / 500-namespace
// cluster (served by the wire-true test API server), with 1,000 probe edges.
//  - RSS of the agent process once synced and probing (goal: under 100 MiB);
//  - from a NetworkPolicy change to the new verdict in /api/v1/results and the mismatch
//    metric (goal: under 2 seconds), repeated.
//
//   make build && node --experimental-transform-types --no-warnings bench/cluster.mts [--pods N] [--policies N] [--edges N] [--flips N]

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KubeApiServer } from "../test/support/kube-api-server.ts";
// @ts-expect-error: a plain .mjs helper
import { inMemoryLimit } from "./cgroup.mjs";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "10000" },
    policies: { type: "string", default: "2000" },
    namespaces: { type: "string", default: "500" },
    edges: { type: "string", default: "1000" },
    flips: { type: "string", default: "20" },
    "node-options": { type: "string", default: "" },
    /** Run the agent under this memory limit (MiB), as the shipped DaemonSet does. */
    "memory-limit": { type: "string" },
  },
});
const PODS = Number(values.pods);
const POLICIES = Number(values.policies);
const NAMESPACES = Number(values.namespaces);
const EDGES = Number(values.edges);
const FLIPS = Number(values.flips);
const root = join(import.meta.dirname, "..");

const APPS = ["web", "api", "db", "cache", "worker", "queue", "auth", "search", "mail", "batch"];
const pick = <T,>(list: readonly T[], i: number): T => list[i % list.length] as T;

/** A pod as the API serves it: the agent must cope with the whole object and keep little of it. */
function pod(i: number) {
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
      nodeName: `node-${i % 50}`,
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
      hostIP: `192.168.0.${i % 50}`,
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

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0);
  return { rss: kib("VmRSS") / 1024, hwm: kib("VmHWM") / 1024 };
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const server = await KubeApiServer.start({ bookmarkIntervalMs: 5000, historyLimit: 1000 });
const dir = await mkdtemp(join(tmpdir(), "netcanary-bench-cluster-"));
let agent: ChildProcess | undefined;
let removeLimit = () => {};
const listeners: Server[] = [];
const cleanup = async () => {
  agent?.kill("SIGKILL");
  await new Promise((resolve) => setTimeout(resolve, 200));
  removeLimit();
  for (const l of listeners) l.close();
  await server.stop();
  if (process.env["NETCANARY_BENCH_SNAPSHOT"]) {
    const { readdirSync, copyFileSync } = await import("node:fs");
    for (const f of readdirSync(dir)) if (f.endsWith(".heapsnapshot")) copyFileSync(join(dir, f), process.env["NETCANARY_BENCH_SNAPSHOT"]);
  }
  await rm(dir, { recursive: true, force: true });
};
process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

try {
  const t0 = Date.now();
  for (let n = 0; n < NAMESPACES; n++) server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: `ns-${n}`, labels: { team: pick(["a", "b"], n) } } });
  for (let i = 0; i < PODS; i++) server.apply(pod(i));
  for (let i = 0; i < POLICIES; i++) server.apply(policy(i));
  // The agent's own pod, on loopback, in a namespace of its own.
  server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "netcanary" } });
  server.apply({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: "netcanary", name: "agent", labels: { app: "netcanary" } },
    spec: { nodeName: "node-0", containers: [{ name: "agent", image: "netcanary" }] },
    status: { phase: "Running", podIP: "127.0.0.1", podIPs: [{ ip: "127.0.0.1" }] },
  });
  const populateSeconds = (Date.now() - t0) / 1000;

  // 1,000 edges: 10 listeners on 127.0.0.2, 100 probes each (distinct names), 10 s interval.
  const ports: number[] = [];
  for (let k = 0; k < 10; k++) {
    const listener = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.2", resolve));
    listeners.push(listener);
    ports.push((listener.address() as { port: number }).port);
  }
  const probes = Array.from({ length: EDGES }, (_, i) => `  - {name: edge-${i}, sources: [self], tcp: {ip: 127.0.0.2, port: ${ports[i % ports.length]}}}`);
  const config = join(dir, "config.yaml");
  await writeFile(config, `defaults: {interval: 10s, timeout: 1s, failureThreshold: 1, successThreshold: 1}\nagent: {maxEdges: ${EDGES + 10}}\nsources: [{name: self, self: true}]\nprobes:\n${probes.join("\n")}\n`);
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, server.kubeconfigYaml());
  const port = 19000 + Math.floor(Math.random() * 1000);
  const started = Date.now();
  const nodeArgs = values["node-options"].split(/\s+/).filter(Boolean);
  const agentArgs = [...nodeArgs, join(root, "dist/cli/main.js"), "agent", "--config", config, "--kubeconfig", kubeconfig, "--listen", `127.0.0.1:${port}`, "--log-level", "warn"];
  const limited = values["memory-limit"] ? inMemoryLimit(Number(values["memory-limit"]), process.execPath, agentArgs) : undefined;
  removeLimit = () => limited?.remove();
  agent = spawn(limited ? limited.command : process.execPath, limited ? limited.args : agentArgs, {
    cwd: dir,
    env: { ...process.env, POD_NAMESPACE: "netcanary", POD_NAME: "agent", POD_IP: "127.0.0.1", NODE_NAME: "node-0", KUBERNETES_SERVICE_HOST: "" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (path: string) => {
    try {
      const response = await fetch(base + path);
      return { status: response.status, text: await response.text() };
    } catch {
      return undefined;
    }
  };
  await until("the agent to be ready", 120_000, async () => ((await get("/readyz"))?.status === 200 ? true : undefined));
  const readySeconds = (Date.now() - started) / 1000;
  // Let it probe a few rounds with the full cache in place.
  await new Promise((resolve) => setTimeout(resolve, 25_000));
  const pid = agent.pid as number;
  if (process.env["NETCANARY_BENCH_SNAPSHOT"]) {
    agent.kill("SIGUSR2");
    await new Promise((resolve) => setTimeout(resolve, 8000));
  }
  const memory = procStatus(pid);
  // Where the resident memory is: anonymous (heap, malloc) vs file-backed (the node binary, libraries).
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
  const breakdown = `anonymous ${kb("Anonymous").toFixed(1)} MiB, file-backed ${(kb("Rss") - kb("Anonymous")).toFixed(1)} MiB; largest: ${top}`;
  const metrics = (await get("/metrics"))?.text ?? "";
  const gauge = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, "m").exec(metrics)?.[1] ?? 0) / 1048576;
  const heap = `heap used ${gauge("nodejs_heap_size_used_bytes").toFixed(1)} MiB, heap total ${gauge("nodejs_heap_size_total_bytes").toFixed(1)} MiB, external ${gauge("nodejs_external_memory_bytes").toFixed(1)} MiB`;
  const cached = (resource: string) => Number(new RegExp(`netcanary_cluster_objects\\{resource="${resource}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);

  // Propagation: a default-deny egress policy on the agent's pod flips edge-0 to deny
  // (observed ok: unexpected_allow); removing it flips back.
  const verdictOf = async () => {
    const body = (await get("/api/v1/results?probe=edge-0"))?.text;
    if (!body) return undefined;
    const results = (JSON.parse(body) as { results: { probe: string; policy: { verdict: string }; status: string }[] }).results;
    return results.find((r) => r.probe === "edge-0");
  };
  const flips: number[] = [];
  const metricFlips: number[] = [];
  for (let f = 0; f < FLIPS; f++) {
    const deny = f % 2 === 0;
    const changedAt = Date.now();
    if (deny) {
      server.apply({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace: "netcanary", name: "deny-egress" }, spec: { podSelector: {}, policyTypes: ["Egress"] } });
    } else {
      server.remove({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy" }, "netcanary", "deny-egress");
    }
    const want = deny ? "deny" : "allow";
    await until(`the ${want} verdict`, 10_000, async () => ((await verdictOf())?.policy.verdict === want ? true : undefined));
    flips.push(Date.now() - changedAt);
    const mismatch = new RegExp(`netcanary_probe_mismatch\\{probe="edge-0",[^}]*kind="unexpected_allow"\\} ${deny ? 1 : 0}`);
    await until("the mismatch metric", 10_000, async () => {
      if (mismatch.test((await get("/metrics"))?.text ?? "")) return true;
      // /metrics is a few MiB with a thousand edges: polled like a client, not in a tight loop.
      await new Promise((resolve) => setTimeout(resolve, 90));
      return undefined;
    });
    metricFlips.push(Date.now() - changedAt);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const sorted = (list: number[]) => [...list].sort((a, b) => a - b);
  const pct = (list: number[], p: number) => sorted(list)[Math.min(list.length - 1, Math.floor((p / 100) * list.length))] ?? 0;

  console.log(
    [
      `date ${new Date().toISOString()}, node ${process.version}, ${cpus()[0]?.model ?? "cpu"} x${cpus().length}`,
      `command: node --experimental-transform-types bench/cluster.mts --pods ${PODS} --policies ${POLICIES} --edges ${EDGES} --flips ${FLIPS}${nodeArgs.length ? ` --node-options="${nodeArgs.join(" ")}"` : ""}${values["memory-limit"] ? ` --memory-limit ${values["memory-limit"]}` : ""}`,
      `agent process: ${limited ? limited.describe : "no memory limit"}${nodeArgs.length ? `, node ${nodeArgs.join(" ")}` : ""}`,
      `cluster: ${NAMESPACES} namespaces, ${PODS} pods (full API objects), ${POLICIES} NetworkPolicies; served in ${populateSeconds.toFixed(1)} s`,
      `agent ready (synced and first round probed) after ${readySeconds.toFixed(1)} s; cached pods ${cached("pods")}, policies ${cached("networkpolicies")}`,
      `agent RSS with ${EDGES} edges and the cluster cache, after 25 s of probing: ${memory.rss.toFixed(1)} MiB (peak ${memory.hwm.toFixed(1)} MiB); goal < 100 MiB`,
      `agent ${heap}; /metrics is ${(metrics.length / 1048576).toFixed(1)} MiB of text`,
      `agent resident memory: ${breakdown}`,
      `NetworkPolicy change -> /api/v1/results: p50 ${pct(flips, 50)} ms, p95 ${pct(flips, 95)} ms, max ${Math.max(...flips)} ms over ${FLIPS} changes; goal < 2000 ms`,
      `NetworkPolicy change -> mismatch metric:  p50 ${pct(metricFlips, 50)} ms, p95 ${pct(metricFlips, 95)} ms, max ${Math.max(...metricFlips)} ms (polled every 100 ms)`,
    ].join("\n"),
  );
} finally {
  await cleanup();
}
