// Zscaler feed size against the agent's heap: how large a feed the shipped agent can take,
// which sets zscaler.maxBytes (its default and its maximum, in agent/zscaler/fetch.ts).
//
//   make build && node bench/zscaler-feed-memory.mjs [--node-options "<flags>"] [--ballast-mib 53] \
//     [--memory-limit 256]      # as root: each measured process in a memory cgroup, as in the pod
//
// 1. The real feeds (test/fixtures/zscaler): bytes and ranges of each.
// 2. CENR payloads built from the real one's rows (every row's range made unique) at sizes from
//    the real one up to 24 MiB. For each, a fresh Node process with the agent's flags (and, as
//    root, the DaemonSet's memory limit: --memory-limit, 0 for none) holds a
//    ballast standing for the rest of the agent's heap (--ballast-mib: 53 MiB is the heap used
//    by the agent with 1,000 edges and a 10,000-pod cluster cache, docs/benchmarks.md), then
//    runs the agent's own feed updater (fetch over HTTP from this process, parse, checks, cache
//    write) twice: payload A, then payload B with 1% of the ranges changed, so that the old
//    data is held while the new one is parsed, as on a real refresh. It reports the heap the
//    feed keeps (after a GC), the process's peak RSS (file-backed pages of the node binary
//    included), the memory its cgroup was charged at most (what the pod's limit counts), the
//    longest event-loop stall, and the time; or that it ran out of heap or was OOM-killed.
//    Nothing here is a pass/fail goal: the figures choose the limits.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    child: { type: "boolean", default: false },
    "node-options": { type: "string", default: "--max-semi-space-size=8 --max-old-space-size=160" },
    "ballast-mib": { type: "string", default: "53" },
    "memory-limit": { type: "string", default: process.getuid?.() === 0 ? "256" : "0" },
    "base-url": { type: "string" },
    "cache-dir": { type: "string" },
  },
});

const MiB = 1024 * 1024;
/** Measured processes so far: each gets a cgroup of its own. */
let measured = 0;

if (values.child) await child();
else await parent();

/** Inside the measured process: ballast, then the updater on the two payloads; one JSON line out. */
async function child() {
  const { ZscalerFeeds } = await import("../dist/zscaler/updater.js");
  const { createLogger } = await import("../dist/log/log.js");
  const { monitorEventLoopDelay } = await import("node:perf_hooks");
  const gc = globalThis.gc;
  if (typeof gc !== "function") throw new Error("the child needs --expose-gc");
  gc();
  // The rest of the agent: many small live objects, as edge records and the cluster cache are.
  const ballast = [];
  const target = Number(values["ballast-mib"]) * MiB;
  while (process.memoryUsage().heapUsed < target) {
    for (let i = 0; i < 10_000; i++) ballast.push({ name: `pod-${ballast.length}-${"x".repeat(24)}`, labels: { app: `a${i % 97}` }, n: i });
    if (ballast.length % 200_000 === 0) gc();
  }
  gc();
  const before = process.memoryUsage().heapUsed;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const feeds = new ZscalerFeeds({
    clouds: ["zscaler.net"],
    kinds: ["cenr"],
    fetch: { baseUrl: values["base-url"], timeoutMs: 120_000, maxBytes: 1024 * MiB, retries: 0, retryBaseMs: 10 },
    refreshMs: 3_600_000,
    cacheDir: values["cache-dir"],
    maxShrinkFraction: 0.5,
    removalGraceMs: 86_400_000,
    logger: createLogger("silent"),
  });
  const started = performance.now();
  await feeds.refreshNow();
  const first = feeds.current("zscaler.net", "cenr")?.cidrs.length ?? 0;
  await feeds.refreshNow();
  const second = feeds.current("zscaler.net", "cenr")?.cidrs.length ?? 0;
  const seconds = (performance.now() - started) / 1000;
  delay.disable();
  gc();
  const after = process.memoryUsage().heapUsed;
  const error = feeds.status("zscaler.net", "cenr").lastError;
  await feeds.stop();
  const { maxRSS } = process.resourceUsage();
  process.stdout.write(
    `${JSON.stringify({
      ranges: [first, second],
      keptMiB: (after - before) / MiB,
      baseMiB: before / MiB,
      peakRssMiB: maxRSS / 1024,
      maxStallMs: delay.max / 1e6,
      seconds,
      error: error === undefined ? undefined : `${error.reason}: ${error.message}`,
      ballast: ballast.length,
    })}\n`,
  );
}

async function parent() {
  const { fmt, reportHeader } = await import("./support.mjs");
  const { parseFeed } = await import("../dist/zscaler/feeds.js");
  console.log(reportHeader("netcanary Zscaler feed size against the agent's heap").join("\n"));
  const limit = Number(values["memory-limit"]);
  console.log(`agent flags: ${values["node-options"]}; other agent state (ballast): ${values["ballast-mib"]} MiB of heap`);
  console.log(limit > 0 ? `memory limit: ${limit} MiB (a cgroup per measured process, as the DaemonSet's)` : "memory limit: none (run as root for the DaemonSet's 256 MiB)");

  // 1. The real feeds.
  const fixtures = path.join(import.meta.dirname, "..", "test", "fixtures", "zscaler");
  const real = [
    ["cenr", "cenr-zscaler.net.json", "zscaler.net"],
    ["hubs-required", "hubs-cidr-json-required-zscaler.net.json", "zscaler.net"],
    ["hubs-recommended", "hubs-cidr-json-recommended-zscaler.net.EXTENDED.json", "zscaler.net"],
    ["future", "future-zscaler.net.json", "zscaler.net"],
    ["svpn", "svpn-zscaler.net.EXTENDED.json", "zscaler.net"],
    ["zpa", "SYNTHETIC-zpa-private.zscaler.com.json", "private.zscaler.com"],
  ];
  console.log("\nreal feeds (test/fixtures/zscaler):");
  for (const [kind, file, cloud] of real) {
    const text = readFileSync(path.join(fixtures, file), "utf8");
    const parsed = parseFeed(kind, cloud, text);
    const ranges = parsed.ok ? parsed.value.cidrs.length : `refused: ${parsed.reason.message}`;
    console.log(`  ${kind.padEnd(17)} ${String(Buffer.byteLength(text)).padStart(9)} bytes  ${ranges} ranges`);
  }

  // 2. Synthetic CENR payloads from the real rows.
  const cenr = JSON.parse(readFileSync(path.join(fixtures, "cenr-zscaler.net.json"), "utf8"));
  const rows = [];
  for (const [continent, cities] of Object.entries(cenr["zscaler.net"])) {
    for (const [city, list] of Object.entries(cities)) for (const row of list) rows.push({ continent, city, row });
  }
  const realBytes = Buffer.byteLength(JSON.stringify(cenr));
  const bytesPerRow = realBytes / rows.length;
  /** About `bytes` of CENR JSON; `shift` moves 1% of the ranges (payload B). */
  const payload = (bytes, shift) => {
    const count = Math.max(rows.length, Math.round(bytes / bytesPerRow));
    const out = { "zscaler.net": {}, svpnIPs: cenr.svpnIPs };
    for (let n = 0; n < count; n++) {
      const { continent, city, row } = rows[n % rows.length];
      const copy = Math.floor(n / rows.length);
      const cities = (out["zscaler.net"][continent] ??= {});
      const list = (cities[copy === 0 ? city : `${city} ${copy}`] ??= []);
      const m = shift && n % 100 === 0 ? n + 4_000_000 : n;
      list.push({ ...row, range: `${11 + (m >> 16)}.${(m >> 8) & 255}.${m & 255}.0/24` });
    }
    return JSON.stringify(out);
  };

  const sizes = [realBytes, 0.5, 1, 2, 3, 4, 6, 8, 10, 12, 16, 24].map((s) => (s < 1024 ? s * MiB : s));
  console.log(`\nCENR payloads built from the real one's ${rows.length} rows (${fmt(bytesPerRow, 0)} bytes a row), A then B (1% of ranges changed):`);
  console.log("  payload      rows  kept heap  peak RSS  cgroup peak  longest stall  time   outcome");
  const tmp = mkdtempSync(path.join(os.tmpdir(), "netcanary-bench-feed-"));
  try {
    for (const size of sizes) {
      const a = payload(size, false);
      const b = payload(size, true);
      const result = await measure(a, b, tmp);
      const label = size === realBytes ? "real" : `${size / MiB} MiB`;
      const rowCount = Math.max(rows.length, Math.round(size / bytesPerRow));
      if (result.ok) {
        const r = result.value;
        const ok = r.error === undefined && r.ranges[0] > 0 ? `accepted (${r.ranges[0]}, then ${r.ranges[1]} ranges)` : `NOT ACCEPTED: ${r.error ?? "no data"}`;
        console.log(
          `  ${label.padEnd(9)} ${String(rowCount).padStart(7)}  ${fmt(r.keptMiB, 1).padStart(6)} MiB  ${fmt(r.peakRssMiB, 0).padStart(4)} MiB  ${fmt(r.cgroupPeakMiB, 0).padStart(7)} MiB  ${fmt(r.maxStallMs, 0).padStart(8)} ms  ${fmt(r.seconds, 1).padStart(5)} s  ${ok}`,
        );
      } else {
        console.log(`  ${label.padEnd(9)} ${String(rowCount).padStart(7)}  ${result.reason}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** One child process on payloads A then B; its report (with the cgroup's peak), or why it died. */
async function measure(a, b, tmp) {
  let served = 0;
  const server = http.createServer((request, response) => {
    const body = served++ === 0 ? a : b;
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), etag: `"v${served}"` });
    response.end(body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${server.address().port}/api`;
  const cacheDir = mkdtempSync(path.join(tmp, "cache-"));
  const flags = values["node-options"].split(/\s+/).filter(Boolean);
  const args = [...flags, "--expose-gc", process.argv[1], "--child", "--base-url", baseUrl, "--cache-dir", cacheDir, "--ballast-mib", values["ballast-mib"]];
  const limit = Number(values["memory-limit"]);
  const { inMemoryLimit } = await import("./cgroup.mjs");
  const cgroup = limit > 0 ? inMemoryLimit(limit, process.execPath, args, `-feed-${++measured}`) : undefined;
  const child = spawn(cgroup?.command ?? process.execPath, cgroup?.args ?? args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, 300_000);
  const { code, signal } = await new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  clearTimeout(killer);
  const cgroupPeakMiB = cgroup?.peakMiB() ?? Number.NaN;
  cgroup?.remove();
  await new Promise((resolve) => server.close(resolve));
  if (code === 0) return { ok: true, value: { ...JSON.parse(stdout.trim().split("\n").at(-1)), cgroupPeakMiB } };
  if (timedOut) return { ok: false, reason: "no result within 300 s (killed)" };
  if (/heap limit|out of memory/i.test(stderr)) return { ok: false, reason: "OUT OF HEAP: the process died (FATAL ERROR: heap limit)" };
  if (signal === "SIGKILL" && cgroup) return { ok: false, reason: `OOM-KILLED at the ${limit} MiB memory limit` };
  return { ok: false, reason: `died: code ${code}, signal ${signal}: ${stderr.trim().split("\n").slice(-3).join(" | ")}` };
}
