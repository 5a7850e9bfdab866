// Traffic map cost: what observing the node's pods costs the agent, per sample.
//
// Part 1, the agent's side: the real observer (dist/traffic/observer.js) samples --pods pods
// over a proc tree on tmpfs laid out as the kernel's (each pod a process in its own network
// namespace and its pod cgroup, its fib_trie, and tcp/tcp6/udp/udp6 tables of
// --connections established connections to distinct external addresses, so each is a flow):
// locating each pod's namespace, reading and parsing its tables, naming every peer,
// aggregating, updating the metrics. Reported: CPU per sample (process.cpuUsage, median of --samples after
// --warmup), per pod and per 1,000 flows, and the heap the held flows take (after a full GC,
// with --expose-gc), per 1,000 flows.
//
// Part 2, the kernel's side (root only): /proc/<pid>/net/tcp is generated on read by walking
// the host's TCP hash tables and skipping other namespaces' sockets, so reading one pod's
// table costs time with every socket on the node. Measured: the time to read the (empty)
// table of a process in a fresh namespace (unshare -n) while this process holds 0 and then
// --host-sockets loopback connections in the host namespace.
//
//   make build && node --expose-gc bench/traffic.mjs [--pods 20] [--connections 50] [--samples 20] [--warmup 3] [--host-sockets 5000]

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseIp } from "../dist/addresses/ip.js";
import { createLogger } from "../dist/log/log.js";
import { buildPolicyIndex } from "../dist/policy/engine.js";
import { TrafficMetrics } from "../dist/traffic/metrics.js";
import { TrafficObserver } from "../dist/traffic/observer.js";
import { Registry } from "prom-client";
import { fmt, reportHeader, sleep } from "./support.mjs";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "20" },
    connections: { type: "string", default: "50" },
    samples: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    "host-sockets": { type: "string", default: "5000" },
  },
});
const PODS = Number(values.pods);
const CONNECTIONS = Number(values.connections);
const SAMPLES = Number(values.samples);
const WARMUP = Number(values.warmup);
const HOST_SOCKETS = Number(values["host-sockets"]);
for (const [name, value] of Object.entries({ PODS, CONNECTIONS, SAMPLES, HOST_SOCKETS })) if (!Number.isInteger(value) || value <= 0) throw new Error(`bad --${name.toLowerCase()}: ${value}`);
if (typeof globalThis.gc !== "function") throw new Error("run with node --expose-gc");

const say = (line = "") => console.log(line);
for (const line of reportHeader(`netcanary traffic map cost: ${PODS} pods x ${CONNECTIONS} connections (${PODS * CONNECTIONS} flows)`)) say(line);
say();

// ----- part 1: a proc tree of PODS pods

const root = mkdtempSync(join(tmpdir(), "nc-bench-traffic-"));
process.on("exit", () => rmSync(root, { recursive: true, force: true }));
const hex = (ip, port) => `${ip.split(".").reverse().map((octet) => Number(octet).toString(16).padStart(2, "0").toUpperCase()).join("")}:${port.toString(16).padStart(4, "0").toUpperCase()}`;
const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
const uid = (i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
const podIp = (i) => `10.${100 + (i >> 8)}.${i & 255}.7`;

function proc(pid, inode, podUid, files = {}) {
  const dir = join(root, String(pid));
  mkdirSync(join(dir, "ns"), { recursive: true });
  mkdirSync(join(dir, "net"), { recursive: true });
  symlinkSync(`net:[${inode}]`, join(dir, "ns", "net"));
  writeFileSync(join(dir, "cgroup"), podUid ? `0::/kubepods/besteffort/pod${podUid}/${"f".repeat(64)}\n` : "0::/system.slice/containerd.service\n");
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}
proc("self", 4026531833);
proc(1, 4026531833, undefined, { comm: "systemd\n" });
proc(2, 4026531833, undefined, { comm: "kthreadd\n" });
const pods = [];
for (let i = 0; i < PODS; i++) {
  const ip = podIp(i);
  let tcp = HEADER;
  for (let c = 0; c < CONNECTIONS; c++) {
    // Distinct peers: every connection is a flow of its own (an external /32).
    const peer = `198.${18 + (i >> 8)}.${i & 255}.${c % 250}`;
    tcp += `   ${c}: ${hex(ip, 40000 + c)} ${hex(peer, 443 + Math.floor(c / 250))} 01 00000000:00000000 00:00000000 00000000     0        0 ${10000 + c} 1 0\n`;
  }
  proc(1000 + i, 4026540000 + i, uid(i), { "net/fib_trie": `Local:\n  |-- ${ip}\n     /32 host LOCAL\n`, "net/tcp": tcp, "net/tcp6": HEADER, "net/udp": HEADER, "net/udp6": HEADER });
  const parsed = parseIp(ip);
  pods.push({ namespace: "bench", name: `pod-${i}`, uid: uid(i), labels: { app: `app-${i % 10}` }, ips: [parsed.value], ports: [], hostNetwork: false, phase: "Running", node: "bench-node", owner: { kind: "deployment", name: `app-${i % 10}` } });
}
const snapshot = { namespaces: [{ name: "bench", labels: {} }], pods, policies: [], services: [] };
const inputs = { settings: { pods: { kind: "all" }, intervalMs: 1000, maxFlows: 50_000, expireAfterMs: 3_600_000, ranges: [] }, snapshot, index: buildPolicyIndex(snapshot), sources: [], zscaler: () => undefined };

gc();
const heapBefore = process.memoryUsage().heapUsed;
// With the metrics the agent keeps (their update is part of every sample).
const observer = new TrafficObserver({ nodeName: "bench-node", logger: createLogger("silent"), procRoot: root, metrics: new TrafficMetrics(new Registry()) });
const cpu = [];
let report;
for (let i = 0; i < WARMUP + SAMPLES; i++) {
  const started = process.cpuUsage();
  report = await observer.sample(inputs);
  const used = process.cpuUsage(started);
  if (i >= WARMUP) cpu.push((used.user + used.system) / 1000);
}
const map = observer.map();
if (map.flows.length !== PODS * CONNECTIONS || map.coverage.podsObserved !== PODS) throw new Error(`expected ${PODS * CONNECTIONS} flows from ${PODS} pods, got ${map.flows.length} from ${map.coverage.podsObserved}: ${JSON.stringify(map.coverage.missed.slice(0, 3))}`);
gc();
const heapHeld = process.memoryUsage().heapUsed - heapBefore;
const json = Buffer.byteLength(JSON.stringify(map));
cpu.sort((a, b) => a - b);
const median = cpu[Math.floor(cpu.length / 2)];
const flows = PODS * CONNECTIONS;
say(`part 1: one sample of ${PODS} pods, ${flows} flows (proc tree on ${root.startsWith("/tmp") ? "/tmp" : "a temporary directory"})`);
say(`  CPU per sample:      median ${fmt(median, 1)} ms, min ${fmt(cpu[0], 1)}, max ${fmt(cpu[cpu.length - 1], 1)} (${SAMPLES} samples after ${WARMUP} warm-up)`);
say(`  per pod:             ${fmt(median / PODS, 2)} ms CPU (${CONNECTIONS} connections each)`);
say(`  per 1,000 flows:     ${fmt((median / flows) * 1000, 1)} ms CPU`);
say(`  heap held by the map: ${fmt(heapHeld / 1024 / 1024, 2)} MiB, ${fmt(heapHeld / flows / 1024 * 1000 / 1024, 2)} MiB per 1,000 flows`);
say(`  /api/v1/flows body:  ${fmt(json / 1024 / 1024, 2)} MiB (${fmt(json / flows, 0)} bytes a flow)`);
say(`  last sample:         ${report.durationMs} ms wall, ${report.connections} connections`);
await observer.stop();
say();

// ----- part 2: the kernel's cost of one namespace's table, as the host's sockets grow

if (process.getuid?.() !== 0) {
  say("part 2: skipped (needs root: unshare -n)");
  process.exit(0);
}
const holder = spawn("unshare", ["-n", "sleep", "600"], { stdio: "ignore" });
process.on("exit", () => holder.kill("SIGKILL"));
await sleep(200);
const table = `/proc/${holder.pid}/net/tcp`;
async function readCost() {
  const times = [];
  for (let i = 0; i < 50; i++) {
    const started = process.hrtime.bigint();
    await readFile(table, "utf8");
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
const empty = await readCost();
const server = createServer(() => undefined);
const held = [];
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();
for (let i = 0; i < HOST_SOCKETS; i++) {
  const socket = createConnection({ host: "127.0.0.1", port });
  socket.on("error", () => undefined);
  held.push(socket);
  if (i % 500 === 499) await sleep(50);
}
const establishedNow = () => Number(execFileSync("sh", ["-c", "ss -tn state established | wc -l"], { encoding: "utf8" }).trim());
// Both ends of every connection established (bounded wait: the figure says how many were).
for (let waited = 0; waited < 20_000 && establishedNow() < HOST_SOCKETS * 2; waited += 250) await sleep(250);
const established = establishedNow();
const loaded = await readCost();
say(`part 2: reading an empty namespace's /proc/<pid>/net/tcp (median of 50 reads)`);
say(`  host with no extra sockets:            ${fmt(empty, 3)} ms`);
say(`  host with ${HOST_SOCKETS} more connections (${HOST_SOCKETS * 2} sockets; ss counts ${established} established lines): ${fmt(loaded, 3)} ms`);
for (const socket of held) socket.destroy();
server.close();
process.exit(0);
