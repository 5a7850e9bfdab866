// Worker cost: what one labeled-pod source costs per round. A round for a pod source is one
// short-lived worker: `nsenter --net=/proc/<pid>/ns/net -- node dist/probes/worker.js`,
// here running 10 TCP probes to a listener in another namespace, then exiting. Measured
// over --runs sequential runs through the real WorkerPool (dist/sources/workers.js):
//   - worker CPU: the children's user+system time this process collects when it reaps them
//     (cutime+cstime in /proc/self/stat: nsenter execs node, so one process per run);
//   - agent CPU: this process's own CPU over the runs (spawn, pipes, parsing), from
//     process.cpuUsage();
//   - wall: spawn to exit, as the pool reports it per run.
// For scale: the same 10 probes run in-process (the agent's "self" source) --runs times, and
// the floor any Node worker pays, `node -e 0`.
//
//   node bench/worker-cost.mjs   (as root) [--runs 50] [--probes 10] [--warmup 3] [--node-args "<flags>"]
//
// Needs root, iproute2 and util-linux nsenter. It makes two namespaces nc-bench-<hex>-pod
// and -srv joined by one veth (10.219.9.0/24, nothing else), and deletes them on exit.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { parseArgs } from "node:util";
import { runProbe } from "../dist/probes/index.js";
import { WorkerPool } from "../dist/sources/workers.js";
import { CLK_TCK, fmt, reportHeader, startProcess, waitFor } from "./support.mjs";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "50" },
    probes: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    "node-args": { type: "string", default: "" },
  },
});
const RUNS = Number(values.runs);
const PROBES = Number(values.probes);
const WARMUP = Number(values.warmup);
const NODE_ARGS = values["node-args"].split(/\s+/).filter(Boolean);
for (const [name, value] of Object.entries({ RUNS, PROBES })) if (!Number.isInteger(value) || value <= 0) throw new Error(`bad --${name.toLowerCase()}: ${value}`);
if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces, nsenter)");

const say = (line = "") => console.log(line);
for (const line of reportHeader(`netcanary worker cost: one pod source's round (spawn a worker in its namespace, ${PROBES} TCP probes, exit)`)) say(line);
say(`nsenter:  ${execFileSync("nsenter", ["--version"], { encoding: "utf8" }).trim()}`);
say(`worker node flags: ${NODE_ARGS.length > 0 ? NODE_ARGS.join(" ") : "(none)"}`);
say();

// ----- two namespaces: the pod and a server, one veth between them

const id = randomBytes(3).toString("hex");
const POD = `nc-bench-${id}-pod`;
const SRV = `nc-bench-${id}-srv`;
const POD_IP = "10.219.9.2";
const SRV_IP = "10.219.9.3";
const made = [];
const ip = (...args) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
function cleanup() {
  for (const netns of made.splice(0).reverse()) {
    try {
      ip("netns", "del", netns);
    } catch {
      // already gone
    }
  }
}
process.on("exit", cleanup); // support.mjs kills the processes first, on every way out

for (const netns of [POD, SRV]) {
  ip("netns", "add", netns);
  made.push(netns);
  ip("-n", netns, "link", "set", "lo", "up");
}
ip("-n", POD, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", SRV);
ip("-n", POD, "addr", "add", `${POD_IP}/24`, "dev", "eth0");
ip("-n", SRV, "addr", "add", `${SRV_IP}/24`, "dev", "eth0");
ip("-n", POD, "link", "set", "eth0", "up");
ip("-n", SRV, "link", "set", "eth0", "up");

// The pod's "pause" process, and a listener that accepts and closes.
const pause = startProcess("ip", ["netns", "exec", POD, "sleep", "3600"], { name: "pause" });
let listening = false;
const listener = startProcess(
  "ip",
  [
    "netns",
    "exec",
    SRV,
    process.execPath,
    "-e",
    `const s = require("node:net").createServer((c) => { c.on("error", () => {}); c.end(); });
     s.listen(8080, "${SRV_IP}", () => console.log("listening"));
     process.stdin.on("end", () => process.exit(0)); process.stdin.resume();`,
  ],
  { name: "listener", stdin: "pipe", onLine: (line) => (listening ||= line === "listening") },
);
await waitFor("the listener", () => listening, { timeoutMs: 10_000 });
await waitFor("the pause process in its namespace", () => readFileSync(`/proc/${pause.pid}/comm`, "utf8").trim() === "sleep", { timeoutMs: 5000 });

// ----- measure

function childrenCpuSeconds() {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK; // cutime, cstime (fields 16, 17)
}

const requests = Array.from({ length: PROBES }, (_, i) => ({ id: `p${i}`, call: { kind: "tcp", target: { ip: SRV_IP, port: 8080 } }, timeoutMs: 1000 }));
const pool = new WorkerPool({ maxWorkers: 1, nodeArgs: NODE_ARGS });

// As the agent calls it: with the namespace and the pod IP the worker checks before probing.
const netnsInode = readlinkSync(`/proc/${pause.pid}/ns/net`);

async function oneRun() {
  const run = await pool.runDetailed(pause.pid, requests, { netnsInode, sourceIp: POD_IP });
  const bad = [...run.outcomes.values()].filter((outcome) => outcome.reason !== "ok");
  if (bad.length > 0) throw new Error(`a probe failed: ${JSON.stringify(bad[0])}`);
  return run.report;
}

for (let i = 0; i < WARMUP; i++) await oneRun();

const walls = [];
const childrenBefore = childrenCpuSeconds();
const selfBefore = process.cpuUsage();
const started = performance.now();
for (let i = 0; i < RUNS; i++) walls.push((await oneRun()).spawnToExitMs);
const elapsed = performance.now() - started;
const self = process.cpuUsage(selfBefore);
const workerCpu = childrenCpuSeconds() - childrenBefore;
const agentCpu = (self.user + self.system) / 1e6;

// The same probes in this process, for scale (no namespace: the server is not reachable from
// here, so a listener on loopback stands in; the connect work is the same).
const local = startProcess(process.execPath, ["-e", `require("node:net").createServer((c) => { c.on("error", () => {}); c.end(); }).listen(0, "127.0.0.1", function () { console.log("port " + this.address().port); });`], {
  name: "loopback listener",
  onLine: (line) => {
    if (line.startsWith("port ")) localPort = Number(line.slice(5));
  },
});
let localPort;
await waitFor("the loopback listener", () => localPort, { timeoutMs: 10_000 });
const inProcessBefore = process.cpuUsage();
const inProcessStarted = performance.now();
for (let i = 0; i < RUNS; i++) {
  const outcomes = await Promise.all(requests.map(() => runProbe("tcp", { ip: "127.0.0.1", port: localPort }, { timeoutMs: 1000 })));
  if (outcomes.some((outcome) => outcome.reason !== "ok")) throw new Error("an in-process probe failed");
}
const inProcessWall = performance.now() - inProcessStarted;
const inProcess = process.cpuUsage(inProcessBefore);
await local.stop();

// The floor: Node's own start-up and exit, nothing loaded (node -e 0, no namespace).
const floorBefore = childrenCpuSeconds();
const floorStarted = performance.now();
for (let i = 0; i < RUNS; i++) execFileSync(process.execPath, [...NODE_ARGS, "-e", "0"], { env: { PATH: process.env.PATH } });
const floorWall = performance.now() - floorStarted;
const floorCpu = childrenCpuSeconds() - floorBefore;

walls.sort((a, b) => a - b);
const pct = (q) => walls[Math.min(walls.length - 1, Math.floor(q * walls.length))];
const perRunMs = (seconds) => (seconds * 1000) / RUNS;
say(`runs: ${RUNS} sequential (after ${WARMUP} warm-up), ${PROBES} TCP probes each, all ok`);
say();
say("per pod source per round                 CPU ms      wall ms");
say(`  worker process (nsenter + node)      ${fmt(perRunMs(workerCpu), 1).padStart(8)}`);
say(`  agent side (spawn, pipes, parsing)   ${fmt(perRunMs(agentCpu), 1).padStart(8)}`);
say(`  total                                ${fmt(perRunMs(workerCpu + agentCpu), 1).padStart(8)}   p50 ${fmt(pct(0.5), 1)}  p95 ${fmt(pct(0.95), 1)}  max ${fmt(walls.at(-1), 1)}  mean ${fmt(elapsed / RUNS, 1)}`);
say(`  floor: node -e 0 (Node's start-up)    ${fmt(perRunMs(floorCpu), 1).padStart(8)}   mean ${fmt(floorWall / RUNS, 1)}`);
say(`  same ${PROBES} probes in-process (self)     ${fmt(((inProcess.user + inProcess.system) / 1000) / RUNS, 2).padStart(8)}   mean ${fmt(inProcessWall / RUNS, 2)}`);
say();
say(`CPU-seconds per pod source per round: ${fmt((workerCpu + agentCpu) / RUNS, 3)}; at a 10 s interval, 10 pod sources on a node use ${fmt((((workerCpu + agentCpu) / RUNS) * 10 * 100) / 10, 1)}% of one CPU.`);
say(`pool stats: ${JSON.stringify(pool.stats())}`);
await pool.stop();
process.exit(0);
