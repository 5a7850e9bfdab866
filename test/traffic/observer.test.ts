// The observer end to end below the agent: the cluster state and address lookups from the
// wire-true API test server (a LiveCluster scoped to node-a), the pods' processes and socket
// tables from a fake /proc tree (plain files and symlinks, as in test/sources/netns.test.ts),
// and the map it answers: peers named by the state, by lookups (unnamed while they run, with
// the reason, then folded into the named flow), by the Zscaler placer and by configured
// ranges; coverage saying which selected pods were not read and why (a FIFO for a table, a
// host-network pod, a pod without a process), never a byte of a table's text.
import { execFileSync } from "node:child_process";
import { Writable } from "node:stream";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseCidr } from "../../agent/addresses/ip.js";
import { LiveCluster } from "../../agent/cluster/live.js";
import type { ClusterSnapshot } from "../../agent/cluster/snapshot.js";
import { createLogger } from "../../agent/log/log.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";
import type { TrafficSettings } from "../../agent/config/traffic.js";
import { MAX_ASKED_PER_SAMPLE, SOCKET_TABLE_LIMITS, TRAFFIC_LOOKUP, type TrafficInputs, TrafficObserver } from "../../agent/traffic/observer.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { waitFor } from "../support/wait.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "proc");
const POD_FIB = readFileSync(join(FIXTURES, "pod-fib_trie.txt"), "utf8"); // 10.244.1.7 local

const CLIENT_UID = "7f0c2a9e-1d3b-4c5a-8e6f-0a1b2c3d4e5f";
const HOSTILE_UID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
const GHOST_UID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";

/** An IPv4 socket address as the kernel prints it on a little-endian machine. */
const hex = (ip: string, port: number) =>
  `${ip
    .split(".")
    .reverse()
    .map((octet) => Number(octet).toString(16).padStart(2, "0").toUpperCase())
    .join("")}:${port.toString(16).padStart(4, "0").toUpperCase()}`;
const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
const line = (i: number, local: string, remote: string, state: string) => `   ${i}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${1000 + i} 1 0\n`;

const CLIENT_TCP =
  HEADER +
  line(0, hex("10.244.1.7", 8080), hex("0.0.0.0", 0), "0A") +
  line(1, hex("10.244.1.7", 8080), hex("10.244.1.20", 50000), "01") + // inbound from web (node-a, in the state)
  line(2, hex("10.244.1.7", 40001), hex("10.244.2.30", 5432), "01") + // db on node-b: looked up
  line(3, hex("10.244.1.7", 40002), hex("10.96.5.5", 80), "01") + // a Service no target names: looked up
  line(4, hex("10.244.1.7", 40003), hex("165.225.10.1", 443), "01") + // Zscaler
  line(5, hex("10.244.1.7", 40004), hex("203.0.113.9", 443), "06") + // a partner range, in TIME_WAIT
  line(6, hex("10.244.1.7", 40005), hex("198.51.100.7", 22), "02"); // an attempt nobody answered
const SECRET = "do-not-echo-this-table-text";

const pod = (name: string, uid: string, ip: string, labels: Record<string, string>, extra: { node?: string; hostNetwork?: boolean; owner?: string } = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    namespace: name === "db-0" ? "data" : "shop",
    name,
    uid,
    labels,
    ...(extra.owner ? { ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: extra.owner, uid: `${extra.owner}-uid`, controller: true }] } : {}),
  },
  spec: { nodeName: extra.node ?? "node-a", hostNetwork: extra.hostNetwork ?? false, containers: [{ name: "c", image: "x" }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});

describe("the traffic observer over a fake /proc and the API test server", () => {
  let server: KubeApiServer;
  let cluster: LiveCluster;
  let root: string;
  let observer: TrafficObserver | undefined;

  beforeEach(async () => {
    server = await KubeApiServer.start();
    root = mkdtempSync(join(tmpdir(), "nc-traffic-proc-"));
    server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { team: "shop" } } });
    server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "data", labels: { team: "data" } } });
    server.apply(pod("client-0", CLIENT_UID, "10.244.1.7", { app: "client", "statefulset.kubernetes.io/pod-name": "client-0" }, { owner: "client" }));
    server.apply(pod("web-0", "11111111-2222-4333-8444-555555555555", "10.244.1.20", { app: "web" }, { owner: "web" }));
    server.apply(pod("hostile-0", HOSTILE_UID, "10.244.1.8", { app: "hostile" }));
    server.apply(pod("ghost-0", GHOST_UID, "10.244.1.9", { app: "ghost" }));
    server.apply(pod("agent-node", "aaaaaaaa-2222-4333-8444-555555555555", "192.168.1.10", { app: "node-thing" }, { hostNetwork: true }));
    server.apply(pod("db-0", "bbbbbbbb-2222-4333-8444-555555555555", "10.244.2.30", { app: "db" }, { node: "node-b", owner: "db" }));
    server.apply({ apiVersion: "v1", kind: "Service", metadata: { namespace: "data", name: "db-api" }, spec: { clusterIP: "10.96.5.5", selector: { app: "nothing" }, ports: [{ port: 80 }] } });
    cluster = new LiveCluster({ kubeConfig: server.kubeConfig(), nodeName: "node-a", logger: createLogger("silent"), debounceMs: 10 });
  });

  afterEach(async () => {
    await observer?.stop();
    observer = undefined;
    await cluster.stop();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  });

  function proc(pid: number | "self", inode: number, uid: string | undefined, files: Record<string, string | "fifo"> = {}): void {
    const dir = join(root, String(pid));
    mkdirSync(join(dir, "ns"), { recursive: true });
    mkdirSync(join(dir, "net"), { recursive: true });
    symlinkSync(`net:[${inode}]`, join(dir, "ns", "net"));
    writeFileSync(join(dir, "cgroup"), uid ? `0::/kubepods/besteffort/pod${uid}/${"f".repeat(64)}\n` : "0::/system.slice/containerd.service\n");
    for (const [name, text] of Object.entries(files)) {
      if (text === "fifo") execFileSync("mkfifo", [join(dir, name)]);
      else writeFileSync(join(dir, name), text);
    }
  }

  const partner = parseCidr("203.0.113.0/24");
  if (!partner.ok) throw new Error(partner.reason);
  const settings: TrafficSettings = { pods: { kind: "all" }, intervalMs: 1000, maxFlows: 100, expireAfterMs: 60_000, ranges: [{ name: "partner", cidr: partner.value }] };
  const inputs = (snapshot: ClusterSnapshot): TrafficInputs => ({
    settings,
    snapshot,
    index: buildPolicyIndex(snapshot),
    sources: [],
    zscaler: (ip) => (ip.text.startsWith("165.225.") ? { cloud: "zscaler.net", city: "Lab City", range: "165.225.0.0/16" } : undefined),
  });

  it("names every peer, lookups included, and says which pods it could not read and why", async () => {
    proc("self", 4026531833, undefined);
    proc(1, 4026531833, undefined, { comm: "systemd\n", "net/tcp": "fifo" });
    proc(2, 4026531833, undefined, { comm: "kthreadd\n" });
    proc(300, 4026532200, CLIENT_UID, { "net/fib_trie": POD_FIB, "net/tcp": CLIENT_TCP, "net/tcp6": HEADER, "net/udp": "", "net/udp6": "" });
    // A tenant that made its table a FIFO: refused at once, never opened for reading.
    proc(400, 4026532300, HOSTILE_UID, { "net/fib_trie": POD_FIB.replace("10.244.1.7", "10.244.1.8"), "net/tcp": "fifo", "net/tcp6": `${SECRET}\n` });
    await cluster.start(() => undefined);
    await waitFor(() => cluster.status().ready, 5000, "the cluster state");
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString());
        done();
      },
    });
    observer = new TrafficObserver({ nodeName: "node-a", logger: createLogger("info", sink, "json"), procRoot: root, lookupAddress: (ip, signal) => cluster.lookupAddress(ip, signal) });

    const snapshot = () => cluster.current() as ClusterSnapshot;
    await observer.sample(inputs(snapshot()));
    const first = observer.map();
    const peers = (map: typeof first) => map.flows.map((flow) => `${flow.direction} ${flow.port} ${JSON.stringify(flow.peer)}${flow.attemptOnly ? " attempt" : ""}`).sort();
    expect(peers(first)).toEqual(
      [
        `inbound 8080 {"kind":"workload","workload":{"namespace":"shop","kind":"statefulset","name":"web","labels":{"app":"web"}}}`,
        `outbound 22 {"kind":"unnamed","address":"198.51.100.7","reason":"looking up whether 198.51.100.7 is a pod or a Service"} attempt`,
        `outbound 443 {"kind":"unnamed","address":"203.0.113.9","reason":"looking up whether 203.0.113.9 is a pod or a Service"}`,
        `outbound 443 {"kind":"zscaler","cloud":"zscaler.net","city":"Lab City","range":"165.225.0.0/16"}`,
        `outbound 5432 {"kind":"unnamed","address":"10.244.2.30","reason":"looking up whether 10.244.2.30 is a pod or a Service"}`,
        `outbound 80 {"kind":"unnamed","address":"10.96.5.5","reason":"looking up whether 10.96.5.5 is a pod or a Service"}`,
      ].sort(),
    );

    // The lookups answer (scoped requests: field selectors on one address each); the next sample names them.
    await waitFor(
      () => server.requests.filter((r) => r.verb === "list" && /^status\.podIP=/.test(r.query["fieldSelector"] ?? "")).length >= 3,
      5000,
      "the address lookups",
    );
    await waitFor(async () => {
      await observer?.sample(inputs(snapshot()));
      return (observer?.map().flows ?? []).every((flow) => flow.peer.kind !== "unnamed");
    }, 8000, "every peer named");
    const second = observer.map();
    expect(peers(second)).toEqual(
      [
        `inbound 8080 {"kind":"workload","workload":{"namespace":"shop","kind":"statefulset","name":"web","labels":{"app":"web"}}}`,
        `outbound 22 {"kind":"external","range":"198.51.100.7/32"} attempt`,
        `outbound 443 {"kind":"external","range":"203.0.113.0/24","name":"partner"}`,
        `outbound 443 {"kind":"zscaler","cloud":"zscaler.net","city":"Lab City","range":"165.225.0.0/16"}`,
        `outbound 5432 {"kind":"workload","workload":{"namespace":"data","kind":"statefulset","name":"db","labels":{"app":"db"}}}`,
        `outbound 80 {"kind":"service","namespace":"data","name":"db-api"}`,
      ].sort(),
    );
    // Folded, not left behind: the named flows carry the unnamed ones' first sighting.
    expect(second.flows.map((flow) => flow.firstSeen)).toEqual(second.flows.map(() => first.until));
    // The window: from the observer's start (nothing expired yet) to the last sample.
    expect(Date.parse(second.from)).toBeLessThanOrEqual(Date.parse(first.until));
    expect(second.until).toBe(second.flows.map((flow) => flow.lastSeen).sort().at(-1));
    expect(Math.min(...second.flows.map((flow) => flow.observations))).toBeGreaterThanOrEqual(2);
    const client = second.flows.find((flow) => flow.port === 5432);
    expect(client).toMatchObject({ local: { namespace: "shop", kind: "statefulset", name: "client", labels: { app: "client" } }, localAddresses: ["10.244.1.7"], remoteAddresses: ["10.244.2.30"], evidence: ["socket-table"] });
    expect(second.namespaces).toEqual([
      { name: "data", labels: { team: "data", "kubernetes.io/metadata.name": "data" } },
      { name: "shop", labels: { team: "shop", "kubernetes.io/metadata.name": "shop" } },
    ]);

    expect(second.coverage).toMatchObject({ podsSelected: 5, podsObserved: 1, droppedFlows: 0, sources: [{ evidence: "socket-table", limits: SOCKET_TABLE_LIMITS }] });
    const missed = Object.fromEntries(second.coverage.missed.map((entry) => [entry.pod, entry.reason]));
    expect(Object.keys(missed).sort()).toEqual(["shop/agent-node", "shop/ghost-0", "shop/hostile-0", "shop/web-0"]);
    expect(missed["shop/hostile-0"]).toBe("tcp table: a FIFO, not a regular file");
    expect(missed["shop/agent-node"]).toMatch(/^uses the host network/);
    expect(missed["shop/ghost-0"]).toMatch(/^no process of pod 3c4d5e6f/);
    expect(JSON.stringify(second)).not.toContain(SECRET);
    // Each missed pod is logged once with its reason, however many samples missed it.
    const warned = logs.map((line) => JSON.parse(line) as { msg: string; pod?: string; reason?: string }).filter((entry) => entry.msg.startsWith("traffic map: a selected pod"));
    expect(warned.map((entry) => entry.pod).sort()).toEqual(["shop/agent-node", "shop/ghost-0", "shop/hostile-0", "shop/web-0"]);
    expect(warned.find((entry) => entry.pod === "shop/hostile-0")?.reason).toBe("tcp table: a FIFO, not a regular file");
    expect(logs.join("")).not.toContain(SECRET);
  });

  it("asks about at most MAX_ASKED_PER_SAMPLE unknown addresses a sample, the rest unnamed saying why, at the book's pace", async () => {
    const extra = 44;
    let table = HEADER;
    for (let i = 0; i < MAX_ASKED_PER_SAMPLE + extra; i++) table += line(i, hex("10.244.1.7", 30000 + i), hex(`198.18.${i >> 8}.${i & 255}`, 443), "01");
    proc("self", 4026531833, undefined);
    proc(1, 4026531833, undefined, { comm: "systemd\n" });
    proc(2, 4026531833, undefined, { comm: "kthreadd\n" });
    proc(300, 4026532200, CLIENT_UID, { "net/fib_trie": POD_FIB, "net/tcp": table, "net/tcp6": HEADER, "net/udp": "", "net/udp6": "" });
    await cluster.start(() => undefined);
    await waitFor(() => cluster.status().ready, 5000, "the cluster state");
    const asked: string[] = [];
    observer = new TrafficObserver({
      nodeName: "node-a",
      logger: createLogger("silent"),
      procRoot: root,
      lookupAddress: (ip) => {
        asked.push(ip.text);
        return Promise.resolve({ pods: [], services: [] });
      },
    });
    const snapshot = cluster.current() as ClusterSnapshot;
    const wide = (): TrafficInputs => ({ ...inputs(snapshot), settings: { ...settings, maxFlows: 2000 } });
    await observer.sample(wide());
    const reasons = (map: ReturnType<TrafficObserver["map"]>) => map.flows.flatMap((flow) => (flow.peer.kind === "unnamed" ? [flow.peer.reason.replace(/198\.18\.\d+\.\d+/, "<address>")] : []));
    const first = reasons(observer.map());
    expect(first.filter((reason) => reason.startsWith("not looked up yet"))).toHaveLength(extra);
    expect(first.filter((reason) => reason.startsWith("looking up"))).toHaveLength(MAX_ASKED_PER_SAMPLE);
    // The book paces what it was given: a burst, then its rate, however many are waiting.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(asked.length).toBeGreaterThanOrEqual(TRAFFIC_LOOKUP.burst);
    expect(asked.length).toBeLessThanOrEqual(TRAFFIC_LOOKUP.burst + 2 * TRAFFIC_LOOKUP.ratePerSecond);
    // Answered addresses are named at the next sample, and no longer count against the budget.
    await observer.sample(wide());
    const named = observer.map().flows.filter((flow) => flow.peer.kind === "external");
    expect(named.map((flow) => flow.remoteAddresses[0]).sort()).toEqual([...new Set(asked)].sort());
  }, 30_000);
});
