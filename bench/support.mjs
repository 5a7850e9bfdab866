// Shared pieces of the process-level benchmarks (probe-cost.mjs, schedule.mjs); not a
// benchmark itself. Every process started here is killed when the benchmark exits, however
// it exits (normal end, error, SIGINT/SIGTERM); every wait is bounded; temporary files live
// in one directory that is removed on exit.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inMemoryLimit } from "./cgroup.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const AGENT_MAIN = path.join(ROOT, "dist", "cli", "main.js");
export const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/**
 * The allocator settings the image gives the agent (the Dockerfile's `ENV MALLOC_...` lines),
 * so that every agent a benchmark starts runs as the shipped one does. A variable set in the
 * benchmark's own environment wins (to measure another setting); BENCH_ALLOCATOR=default
 * leaves them out (glibc's defaults).
 */
export const IMAGE_ENV = Object.freeze(process.env["BENCH_ALLOCATOR"] === "default" ? {} : imageAllocatorSettings());

function imageAllocatorSettings() {
  const settings = Object.fromEntries(
    readFileSync(path.join(ROOT, "Dockerfile"), "utf8")
      .split("\n")
      .filter((line) => line.startsWith("ENV "))
      .flatMap((line) => [...line.matchAll(/\b(MALLOC_[A-Z_]+)=(\d+)/g)].map((m) => [m[1], m[2]])),
  );
  if (Object.keys(settings).length === 0) throw new Error("the Dockerfile sets no MALLOC_ variable on an ENV line: the benchmarks would not run the agent as the image does (BENCH_ALLOCATOR=default to measure glibc's defaults)");
  return settings;
}

/** The environment of a process measured as the image runs it: the image's settings, then this process's, then `extra`. */
export function imageEnv(extra = {}) {
  return { ...IMAGE_ENV, ...process.env, ...extra };
}

/** The allocator settings an agent started here runs with, as one line for a report. */
export function allocatorSettings() {
  const env = imageEnv();
  const names = Object.keys(env).filter((name) => name.startsWith("MALLOC_")).sort();
  return names.length ? names.map((name) => `${name}=${env[name]}`).join(" ") : "the allocator's defaults";
}

const children = new Set();
/** Run after the children are killed (removing their cgroups); each must be synchronous. */
const cleanups = new Set();
let tempDir;

function killAll(signal = "SIGKILL") {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const cleanup of cleanups) cleanup();
  cleanups.clear();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}

process.on("exit", () => killAll());
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping every process this benchmark started\n`);
    killAll();
    process.exit(130);
  });
}
process.on("uncaughtException", (error) => {
  process.stderr.write(`benchmark failed: ${error?.stack ?? error}\n`);
  killAll();
  process.exit(1);
});
process.on("unhandledRejection", (error) => {
  process.stderr.write(`benchmark failed: ${error?.stack ?? error}\n`);
  killAll();
  process.exit(1);
});

export function tempFile(name, text) {
  tempDir ??= mkdtempSync(path.join(os.tmpdir(), "netcanary-bench-"));
  const file = path.join(tempDir, name);
  writeFileSync(file, text);
  return file;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until check() returns a truthy value; throws after timeoutMs. */
export async function waitFor(what, check, { timeoutMs = 30_000, everyMs = 100 } = {}) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

/**
 * Starts a process that is killed when the benchmark ends. Keeps the tail of its output
 * (for error messages) and calls onLine for each stdout line.
 */
export function startProcess(command, args, { onLine, name = path.basename(command), stdin = "ignore", env, cwd = ROOT } = {}) {
  const child = spawn(command, args, { stdio: [stdin, "pipe", "pipe"], cwd, ...(env ? { env: { ...process.env, ...env } } : {}) });
  children.add(child);
  const tail = [];
  const keep = (line) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
  };
  let partial = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      keep(line);
      onLine?.(line);
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    for (const line of chunk.split("\n")) if (line) keep(line);
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.once("exit", () => children.delete(child));
  return {
    child,
    pid: child.pid,
    name,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    tail: () => tail.join("\n"),
    /** SIGTERM, then SIGKILL if it has not exited within graceMs. */
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Fails with the process's output if it has died. */
export function assertAlive(proc) {
  if (!proc.alive()) throw new Error(`${proc.name} (pid ${proc.pid}) exited early:\n${proc.tail()}`);
}

/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses: fields are counted after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  return { user: utime / CLK_TCK, system: stime / CLK_TCK, total: (utime + stime) / CLK_TCK };
}

/** Resident memory in MiB from /proc/<pid>/status: current (VmRSS) and peak (VmHWM). */
export function memoryMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) / 1024 : NaN;
  };
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** A port that was free a moment ago on 127.0.0.1 (for servers that cannot report theirs). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GET a URL; resolves { status, body }. Bounded by timeoutMs. */
export function httpGet(url, { agent, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, timeout: timeoutMs }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode, body }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    request.on("error", reject);
  });
}

/**
 * Listeners on 127.0.0.1 in their own process (their CPU counts for neither side). tcp: they
 * accept, and close when the prober closes. http: a web server answering every request with
 * 200 and a 3-byte body, closing the connection when the client asks for it.
 */
export async function startTargets(count, kind = "tcp") {
  const serverOf =
    kind === "http"
      ? `require("node:http").createServer((request, response) => {
          response.writeHead(200, { "content-type": "text/plain", "content-length": "3" });
          response.end("ok\\n");
        })`
      : `net.createServer((socket) => {
          socket.on("error", () => {});
          socket.on("end", () => socket.end());
          socket.resume();
        })`;
  const code = `
    const net = require("node:net");
    const ports = [];
    let pending = ${count};
    for (let i = 0; i < ${count}; i++) {
      const server = ${serverOf};
      server.on("clientError", (error, socket) => socket.destroy());
      server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
        ports.push(server.address().port);
        if (--pending === 0) console.log("PORTS " + JSON.stringify(ports));
      });
    }
    // Orphaned (the benchmark was killed outright): exit too.
    const parent = process.ppid;
    setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();
  `;
  let ports;
  const proc = startProcess(process.execPath, ["-e", code], {
    name: "targets",
    onLine: (line) => {
      if (line.startsWith("PORTS ")) ports = JSON.parse(line.slice(6));
    },
  });
  await waitFor("the target listeners", () => {
    assertAlive(proc);
    return ports;
  }, { timeoutMs: 15_000 });
  return { proc, ports };
}

/** The agent config: `edges` TCP probes (or HTTP GETs of "/") spread over the target ports. */
export function agentConfig({ ports, edges, interval, timeout, maxConcurrentProbes, check = "tcp" }) {
  const lines = [
    "# generated by a netcanary benchmark",
    `defaults: {interval: ${interval}, timeout: ${timeout}, failureThreshold: 3, successThreshold: 1}`,
    `agent: {maxEdges: ${Math.max(edges, 1)}${maxConcurrentProbes ? `, maxConcurrentProbes: ${maxConcurrentProbes}` : ""}}`,
    "sources:",
    "  - {name: self, self: true}",
    "probes:",
  ];
  const width = String(edges - 1).length;
  for (let i = 0; i < edges; i++) {
    const port = ports[i % ports.length];
    const target = check === "http" ? `http: {url: "http://127.0.0.1:${port}/"}` : `tcp: {ip: 127.0.0.1, port: ${port}}`;
    lines.push(`  - {name: bench-${String(i).padStart(width, "0")}, sources: [self], ${target}}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Starts `node dist/cli/main.js agent --config <file> --listen 127.0.0.1:0` and learns
 * its port from its own start-up log line. env: added to this process's environment;
 * memoryLimitMiB: in a memory cgroup of its own with that limit, as in a pod (needs root);
 * cwd: its working directory (where a heap snapshot goes; default the checkout).
 */
export async function startAgent(configFile, { logLevel = "info", nodeArgs = [], env, memoryLimitMiB, cwd } = {}) {
  const args = [...nodeArgs, AGENT_MAIN, "agent", "--config", configFile, "--listen", "127.0.0.1:0", "--log-level", logLevel];
  // The port is learnt from an info line: a quieter level would hide it.
  if (!["info", "debug", "trace"].includes(logLevel)) throw new Error("startAgent needs log level info or lower to learn the port");
  let url;
  const limited = memoryLimitMiB === undefined ? undefined : inMemoryLimit(memoryLimitMiB, process.execPath, args);
  const proc = startProcess(limited?.command ?? process.execPath, limited?.args ?? args, {
    env: imageEnv(env),
    cwd,
    name: "netcanary agent",
    onLine: (line) => {
      if (url || !line.startsWith("{")) return;
      try {
        const entry = JSON.parse(line);
        if (typeof entry.listen === "string") url = entry.listen;
      } catch {
        // not a log line
      }
    },
  });
  // The cgroup goes once the agent has exited (it cannot be removed while a process is in it).
  if (limited) {
    const remove = () => {
      // Killed a moment ago, the process may still be leaving the cgroup: a bounded wait.
      for (let attempt = 0; attempt < 50 && !limited.remove(); attempt++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    };
    cleanups.add(remove);
    void proc.exited.then(() => {
      cleanups.delete(remove);
      remove();
    });
  }
  await waitFor("the agent to serve", () => {
    assertAlive(proc);
    return url;
  }, { timeoutMs: 30_000 });
  const command = `node ${args.map((a) => (a === AGENT_MAIN ? "dist/cli/main.js" : a)).join(" ")}`;
  return {
    proc,
    url,
    command: limited ? `${command} (${limited.describe})` : command,
    /** The memory cgroup's limit and most memory charged (MiB), when there is one. */
    cgroup: limited ? { describe: limited.describe, peakMiB: () => limited.peakMiB() } : undefined,
  };
}

/** Prometheus text format into [{ name, labels, value }]: the tests' reader. */
export { parseSamples as parseMetrics } from "../test/support/exposition.ts";

export function sumOf(samples, name, filter = () => true) {
  return samples.filter((s) => s.name === name && filter(s.labels)).reduce((total, s) => total + s.value, 0);
}

/** Cumulative histogram buckets [{ le, count }] (le ascending, +Inf last). */
export function histogram(samples, name) {
  return samples
    .filter((s) => s.name === `${name}_bucket`)
    .map((s) => ({ le: s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), count: s.value }))
    .sort((a, b) => a.le - b.le);
}

/** later - earlier, bucket by bucket (a window of a cumulative histogram). */
export function histogramDelta(later, earlier) {
  return later.map((bucket, i) => ({ le: bucket.le, count: bucket.count - (earlier[i]?.count ?? 0) }));
}

/**
 * A quantile from cumulative buckets: the bucket it falls in, and the estimate
 * Prometheus' histogram_quantile() gives (linear within the bucket).
 */
export function quantile(buckets, q) {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return { estimate: NaN, upTo: NaN, total };
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return { estimate: lower, upTo: Infinity, total };
      const inBucket = bucket.count - below;
      const estimate = inBucket === 0 ? bucket.le : lower + ((bucket.le - lower) * (rank - below)) / inBucket;
      return { estimate, upTo: bucket.le, total };
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return { estimate: lower, upTo: Infinity, total };
}

/** The lines every report starts with: what ran where, when. */
export function reportHeader(title) {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const script = path.relative(process.cwd(), process.argv[1] ?? "") || process.argv[1];
  let revision = "unknown (not a git checkout)";
  try {
    const git = (...args) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 }).trim();
    const dirty = git("status", "--porcelain", "--", "agent").length > 0;
    revision = `${git("rev-parse", "--short", "HEAD")}${dirty ? " with uncommitted changes in agent/" : ""}`;
  } catch {
    // no git, or not a checkout
  }
  return [
    title,
    `date:     ${new Date().toISOString()}`,
    `command:  node ${[script, ...process.argv.slice(2)].join(" ")}`,
    `node:     ${process.version}`,
    `netcanary: ${revision} (dist/ as built by npm run build)`,
    `cpu:      ${model} (${os.cpus().length} CPUs online), ${os.type()} ${os.release()}`,
    `load:     ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (1/5/15 min averages at start; figures are only comparable on an idle machine)`,
  ];
}

export const fmt = (value, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : String(value));

/**
 * Calls run(i) for i < total, the i-th at start + i/rate seconds (rate Infinity: at once),
 * never more than `concurrency` at a time. run must not reject.
 */
export async function paced(total, { rate, concurrency }, run) {
  const start = performance.now();
  let inFlight = 0;
  let wake;
  const all = [];
  for (let i = 0; i < total; i++) {
    if (Number.isFinite(rate)) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait >= 1) await sleep(wait);
    }
    while (inFlight >= concurrency) await new Promise((resolve) => (wake = resolve));
    inFlight++;
    all.push(
      run(i).finally(() => {
        inFlight--;
        const waiting = wake;
        wake = undefined;
        waiting?.();
      }),
    );
  }
  await Promise.all(all);
}
