// The agent's port under scrapers, and memory by edge count: what one /metrics build costs,
// how long it blocks the agent's event loop, whether scrapes turn probes into agent_error, and
// the agent's memory with N edges (for agent.maxEdges).
//
//   npm run build && node bench/exposition.mjs [--edges 1000,2500,5000] [--scrapers 1,4]
//     [--scrape-interval 2s] [--scrapes 10] [--interval 30s] [--node-options "<V8 flags>"]
//     [--memory-limit <MiB>]   (as root: the agent in a memory cgroup, as in a pod)
//     [--flood 10000]          (idle connections opened at the end; 0: none)
//     [--per-edge-histograms]  (metrics: {perEdgeHistograms: true}: the per-edge duration histograms too)
//     [--slow-readers 0] [--slow-seconds 20]    (with the largest edge count; needs python3; 0: none)
//
// For each edge count: the real agent (`node dist/cli/main.js agent`) with that many TCP
// edges, half to loopback listeners (ok), half to a closed port (refused: a failure, which
// the agent turns into agent_error if its event loop was blocked while it ran). Label values
// are as long as in a cluster (node, namespace, workload and target names). Once every edge
// has been probed (/readyz), each scraper count runs in turn: that many scrapers, each
// GETting /metrics every --scrape-interval (spread evenly), --scrapes times each, asking for
// gzip as Prometheus does. Read from the agent's own /metrics: the largest event-loop delay
// (netcanary_event_loop_delay_max_seconds, the largest since the previous scrape: every
// build's block shows in the next scrape), and invalid probes (result="invalid") during the
// window. Then four plain (uncompressed) GETs of /metrics at once, /api/v1/results three
// times, and a reload of a config in which every probe changed (every edge starts afresh,
// the old ones go: the most a reload holds at once). Memory: VmRSS and VmHWM (peak RSS, over
// all of it, start-up included) from /proc, heap from the agent's own nodejs_heap_size_used_bytes.
// Series: the samples in /metrics, and those of the edges (the ones with a probe label) per edge.
// With the largest edge count, --slow-readers clients (one per loopback address, each with
// the smallest receive buffer, test/support/slow-readers.py) ask for /api/v1/results, then a
// gzip /metrics, then a plain /metrics, and never read, reconnecting as soon as the agent
// closes them, --slow-seconds each, while /healthz, /readyz and a gzip scrape are asked twice a
// second: how many were answered and how fast, what the agent held (descriptors, RSS), its
// largest event-loop delay, and invalid probes meanwhile.
// Last, with one edge: --flood idle connections opened to the agent (sending nothing), and
// what the agent then holds (descriptors, RSS) and whether /healthz still answers.

import { spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import { parseDuration } from "../dist/config/duration.js";
import { MAX_EDGES } from "../dist/config/schema.js";
import {
  assertAlive,
  fmt,
  freePort,
  httpGet,
  memoryMiB,
  parseMetrics,
  reportHeader,
  ROOT,
  sleep,
  startAgent,
  startTargets,
  sumOf,
  tempFile,
  waitFor,
} from "./support.mjs";

const { values } = parseArgs({
  options: {
    edges: { type: "string", default: "1000,2500,5000" },
    scrapers: { type: "string", default: "1,4" },
    "scrape-interval": { type: "string", default: "2s" },
    scrapes: { type: "string", default: "10" },
    interval: { type: "string", default: "30s" },
    listeners: { type: "string", default: "8" },
    "node-options": { type: "string", default: "" },
    "memory-limit": { type: "string" },
    flood: { type: "string", default: "10000" },
    "per-edge-histograms": { type: "boolean", default: false },
    "slow-readers": { type: "string", default: "0" },
    "slow-seconds": { type: "string", default: "20" },
  },
});
const list = (text, what) =>
  text.split(",").map((part) => {
    const value = Number(part);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`bad value in --${what}: ${part}`);
    return value;
  });
const EDGE_COUNTS = list(values.edges, "edges");
// The agent refuses more (agent.maxEdges); the figures above it in docs/benchmarks.md were taken before the cap.
if (EDGE_COUNTS.some((edges) => edges > MAX_EDGES)) throw new Error(`--edges: at most ${MAX_EDGES} (agent.maxEdges' maximum)`);
const SCRAPER_COUNTS = list(values.scrapers, "scrapers");
const SCRAPE_INTERVAL_MS = parseDuration(values["scrape-interval"]);
const SCRAPES = Number(values.scrapes);
const LISTENERS = Number(values.listeners);
const NODE_OPTIONS = values["node-options"].split(/\s+/).filter(Boolean);
const MEMORY_LIMIT = values["memory-limit"] === undefined ? undefined : Number(values["memory-limit"]);
if (!Number.isFinite(SCRAPE_INTERVAL_MS) || !(SCRAPES > 0) || !(LISTENERS > 0)) throw new Error("bad --scrape-interval, --scrapes or --listeners");
if (MEMORY_LIMIT !== undefined && !(MEMORY_LIMIT > 0)) throw new Error("bad --memory-limit");
if (MEMORY_LIMIT !== undefined && process.getuid?.() !== 0) throw new Error("--memory-limit needs root (a memory cgroup)");

const say = (line = "") => console.log(line);
for (const line of reportHeader("netcanary exposition: the agent's /metrics under scrapers, and memory by edge count")) say(line);

/** Names as long as a cluster's: the labels are most of the exposition's bytes. */
const NODE_NAME = "ip-10-120-33-187.eu-central-1.compute.internal";
/** The edges' config; `timeout` differs between the first and the reloaded config, so that every probe changes. */
function config(edges, ports, closedPort, timeout = "2s") {
  const lines = [
    "# generated by bench/exposition.mjs",
    `defaults: {interval: ${values.interval}, timeout: ${timeout}, failureThreshold: 3, successThreshold: 1}`,
    `agent: {maxEdges: ${edges}}`,
    ...(values["per-edge-histograms"] ? ["metrics: {perEdgeHistograms: true}"] : []),
    "sources:",
    "  - {name: self, self: true}",
    "probes:",
  ];
  const width = String(edges - 1).length;
  for (let i = 0; i < edges; i++) {
    const port = i % 2 === 0 ? ports[i % ports.length] : closedPort;
    lines.push(`  - {name: checkout-api-to-payments-${String(i).padStart(width, "0")}, sources: [self], tcp: {ip: 127.0.0.1, port: ${port}}}`);
  }
  return `${lines.join("\n")}\n`;
}

/** GET with Accept-Encoding: gzip, as Prometheus scrapes; the body decompressed if it came compressed. */
function get(url, timeoutMs) {
  return new Promise((resolve, reject) => {
    // A connection per request: a keep-alive connection the agent closed as idle while this
    // process was busy would fail the next request (Prometheus retries those; this does not).
    const request = http.get(url, { agent: false, headers: { "accept-encoding": "gzip" }, timeout: timeoutMs }, (response) => {
      const chunks = [];
      let wire = 0;
      response.on("data", (chunk) => {
        chunks.push(chunk);
        wire += chunk.length;
      });
      response.on("end", () => {
        const raw = Buffer.concat(chunks);
        const body = response.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
        resolve({ status: response.statusCode, body: body.toString("utf8"), wire });
      });
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    request.on("error", reject);
  });
}

async function scrape(url, timeoutMs = 60_000) {
  const started = performance.now();
  const { status, body, wire } = await get(`${url}/metrics`, timeoutMs);
  if (status !== 200) throw new Error(`GET ${url}/metrics: HTTP ${status}`);
  // Only the families read here are parsed (the text is tens of MiB).
  const lines = body.split("\n");
  const wanted = lines.filter((line) => /^(netcanary_event_loop_delay_max_seconds|netcanary_probes_total|nodejs_heap_size_used_bytes|netcanary_config_last_reload_success_timestamp_seconds)[{ ]/.test(line));
  let series = 0;
  let edgeSeries = 0;
  for (const line of lines) {
    if (line === "" || line.startsWith("#")) continue;
    series++;
    if (/[{,]probe="/.test(line)) edgeSeries++;
  }
  return { ms: performance.now() - started, bytes: Buffer.byteLength(body), wire, series, edgeSeries, samples: parseMetrics(wanted.join("\n")) };
}

/** Four plain GETs of /metrics at once (as curl or promtool would: no gzip): time and memory. */
async function plainScrapes(agent) {
  const started = performance.now();
  const plain = () =>
    new Promise((resolve, reject) => {
      const request = http.get(`${agent.url}/metrics`, { agent: false, timeout: 120_000 }, (response) => {
        let bytes = 0;
        response.on("data", (chunk) => (bytes += chunk.length));
        response.on("end", () => (response.statusCode === 200 ? resolve(bytes) : reject(new Error(`GET /metrics: HTTP ${response.statusCode}`))));
        response.on("error", reject);
      });
      request.on("timeout", () => request.destroy(new Error("plain GET /metrics: no answer")));
      request.on("error", reject);
    });
  const sizes = await Promise.all([plain(), plain(), plain(), plain()]);
  return { plainMs: performance.now() - started, plainBytes: sizes[0] };
}

/** The config rewritten with every probe changed (all edges start afresh); done once the agent says it reloaded. */
async function reloadAll(agent, file, edges, ports, closedPort) {
  const reloads = async () => sumOf((await scrape(agent.url)).samples, "netcanary_config_last_reload_success_timestamp_seconds");
  const before = await reloads();
  const started = performance.now();
  writeFileSync(file, config(edges, ports, closedPort, "1900ms"));
  await waitFor("the reloaded config", async () => {
    assertAlive(agent.proc);
    return (await reloads()) > before;
  }, { timeoutMs: 120_000, everyMs: 500 });
  const reloadS = (performance.now() - started) / 1000;
  // The new edges' first round.
  await sleep(Math.min(parseDuration(values.interval), 10_000) + 2000);
  assertAlive(agent.proc);
  return { reloadS };
}

/** GET /api/v1/results a few times: its time and size, and the largest event-loop delay meanwhile. */
async function resultsWindow(agent) {
  await scrape(agent.url); // resets the agent's largest-delay gauge
  const times = [];
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const { status, body } = await get(`${agent.url}/api/v1/results`, 60_000);
    if (status !== 200) throw new Error(`GET /api/v1/results: HTTP ${status}`);
    times.push(performance.now() - started);
    bytes = Buffer.byteLength(body);
  }
  const after = await scrape(agent.url);
  return { resultsMs: Math.max(...times), resultsBytes: bytes, resultsDelayMs: sumOf(after.samples, "netcanary_event_loop_delay_max_seconds") * 1000 };
}

/** scrapers × scrapes GETs of /metrics, spread evenly over each interval; the agent's own figures. */
async function scrapeWindow(agent, scrapers) {
  const before = await scrape(agent.url);
  const times = [];
  let worstDelay = 0;
  const note = (result) => {
    times.push(result.ms);
    worstDelay = Math.max(worstDelay, sumOf(result.samples, "netcanary_event_loop_delay_max_seconds"));
  };
  await Promise.all(
    Array.from({ length: scrapers }, async (_, k) => {
      await sleep((k * SCRAPE_INTERVAL_MS) / scrapers);
      for (let i = 0; i < SCRAPES; i++) {
        const start = performance.now();
        assertAlive(agent.proc);
        note(await scrape(agent.url));
        await sleep(Math.max(0, SCRAPE_INTERVAL_MS - (performance.now() - start)));
      }
    }),
  );
  // The last build's block shows in the next scrape.
  const after = await scrape(agent.url);
  note(after);
  const invalid = (samples) => sumOf(samples, "netcanary_probes_total", (l) => l.result === "invalid");
  const probes = (samples) => sumOf(samples, "netcanary_probes_total");
  times.sort((a, b) => a - b);
  return {
    scrapes: times.length,
    p50: times[Math.floor(times.length / 2)],
    max: times.at(-1),
    worstDelayMs: worstDelay * 1000,
    invalid: invalid(after.samples) - invalid(before.samples),
    probes: probes(after.samples) - probes(before.samples),
    bytes: after.bytes,
    wire: after.wire,
    series: after.series,
    edgeSeries: after.edgeSeries,
    heapMiB: sumOf(after.samples, "nodejs_heap_size_used_bytes") / 2 ** 20,
  };
}

const SLOW_READERS = Number(values["slow-readers"]);
const SLOW_SECONDS = Number(values["slow-seconds"]);
if (!(SLOW_READERS >= 0 && SLOW_READERS <= 250) || !(SLOW_SECONDS > 0)) throw new Error("bad --slow-readers (0 to 250) or --slow-seconds");

/** Clients that ask and never read, renewed when closed; stopped by closing their stdin. */
function startSlowReaders(port, count, request) {
  const options = { host: "127.0.0.1", port, count, sources: Array.from({ length: count }, (_, i) => `127.0.1.${i + 1}`), rcvbuf: 1, renew: true, request };
  const child = spawn("python3", [path.join(ROOT, "test", "support", "slow-readers.py"), JSON.stringify(options)], { stdio: ["pipe", "pipe", "inherit"] });
  let latest = { open: 0, opened: 0, dropped: 0, failed: 0 };
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (text) => {
    const lines = (buffered + text).split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") latest = JSON.parse(line);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    latest: () => latest,
    stop: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** What the kubelet and Prometheus get while slow readers hold on to the agent's port. */
async function slowReaders(agent, edges) {
  const { port } = new URL(agent.url);
  const descriptors = () => readdirSync(`/proc/${agent.proc.pid}/fd`).length;
  const kinds = [
    ["/api/v1/results", "GET /api/v1/results HTTP/1.1\r\nHost: agent\r\n\r\n"],
    ["gzip /metrics", "GET /metrics HTTP/1.1\r\nHost: agent\r\nAccept-Encoding: gzip\r\n\r\n"],
    ["plain /metrics", "GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n"],
  ];
  const found = [];
  for (const [kind, request] of kinds) {
    const before = await scrape(agent.url);
    const fdsBefore = descriptors();
    const readers = startSlowReaders(Number(port), SLOW_READERS, request);
    const checks = { healthz: [], readyz: [], scrape: [] };
    let failures = 0;
    let mostFds = 0;
    let mostRss = 0;
    let worstDelay = 0;
    const timed = async (what, run) => {
      const started = performance.now();
      try {
        const result = await run();
        checks[what].push(performance.now() - started);
        return result;
      } catch {
        failures++;
        return undefined;
      }
    };
    const until = performance.now() + SLOW_SECONDS * 1000;
    while (performance.now() < until) {
      assertAlive(agent.proc);
      const [, , scraped] = await Promise.all([
        timed("healthz", async () => {
          if ((await httpGet(`${agent.url}/healthz`, { agent: false, timeoutMs: 3000 })).status !== 200) throw new Error("healthz");
        }),
        timed("readyz", async () => {
          if ((await httpGet(`${agent.url}/readyz`, { agent: false, timeoutMs: 3000 })).status !== 200) throw new Error("readyz");
        }),
        timed("scrape", () => scrape(agent.url, 10_000)),
      ]);
      if (scraped) worstDelay = Math.max(worstDelay, sumOf(scraped.samples, "netcanary_event_loop_delay_max_seconds"));
      mostFds = Math.max(mostFds, descriptors());
      mostRss = Math.max(mostRss, memoryMiB(agent.proc.pid).rss);
      await sleep(500);
    }
    const attack = readers.latest();
    await readers.stop();
    const after = await scrape(agent.url);
    const invalid = (samples) => sumOf(samples, "netcanary_probes_total", (l) => l.result === "invalid");
    const probes = (samples) => sumOf(samples, "netcanary_probes_total");
    const slowest = (times) => (times.length === 0 ? NaN : Math.max(...times));
    const row = {
      kind,
      answered: checks.healthz.length + checks.readyz.length + checks.scrape.length,
      failures,
      healthz: slowest(checks.healthz),
      readyz: slowest(checks.readyz),
      scrape: slowest(checks.scrape),
      fds: `${fdsBefore} -> ${mostFds}`,
      rss: mostRss,
      hwm: memoryMiB(agent.proc.pid).hwm,
      delayMs: worstDelay * 1000,
      invalid: invalid(after.samples) - invalid(before.samples),
      probes: probes(after.samples) - probes(before.samples),
      attack,
    };
    found.push(row);
    say(
      `${edges} edges, ${SLOW_READERS} slow readers of ${kind} for ${SLOW_SECONDS} s (${attack.opened} connections opened, ${attack.dropped} closed by the agent): ` +
        `${row.answered} answered, ${failures} failed; slowest /healthz ${fmt(row.healthz, 0)} ms, /readyz ${fmt(row.readyz, 0)} ms, gzip scrape ${fmt(row.scrape, 0)} ms; ` +
        `agent descriptors ${row.fds}, RSS at most ${fmt(row.rss, 1)} MiB (peak ${fmt(row.hwm, 1)} MiB); largest event-loop delay ${fmt(row.delayMs, 0)} ms; invalid probes ${row.invalid} of ${row.probes}`,
    );
  }
  return found;
}

const targets = await startTargets(LISTENERS);
const closedPort = await freePort();
say(`targets:  ${LISTENERS} TCP listeners on 127.0.0.1 (pid ${targets.proc.pid}); port ${closedPort} closed (refused)`);
say(`scrapes:  each scraper every ${values["scrape-interval"]}, ${SCRAPES} times, scrapers spread evenly; probe interval ${values.interval}`);
say("");

const rows = [];
const memoryRows = [];
const slowRows = [];
for (const edges of EDGE_COUNTS) {
  const file = tempFile(`exposition-${edges}.yaml`, config(edges, targets.ports, closedPort));
  let agent;
  try {
    agent = await startAgent(file, { nodeArgs: NODE_OPTIONS, env: { NODE_NAME }, ...(MEMORY_LIMIT !== undefined ? { memoryLimitMiB: MEMORY_LIMIT } : {}) });
    if (rows.length === 0) say(`agent:    ${agent.command}`);
    const started = performance.now();
    await waitFor("every edge probed once (/readyz)", async () => {
      assertAlive(agent.proc);
      return (await httpGet(`${agent.url}/readyz`, { timeoutMs: 30_000 })).status === 200;
    }, { timeoutMs: 120_000, everyMs: 500 });
    const readyS = (performance.now() - started) / 1000;
    await sleep(2000);
    const idle = memoryMiB(agent.proc.pid);
    say(`${edges} edges: ready after ${fmt(readyS, 1)} s; before any scrape RSS ${fmt(idle.rss, 1)} MiB (peak ${fmt(idle.hwm, 1)} MiB)`);
    for (const scrapers of SCRAPER_COUNTS) {
      const window = await scrapeWindow(agent, scrapers);
      const memory = memoryMiB(agent.proc.pid);
      rows.push({ edges, scrapers, readyS, ...window, rss: memory.rss, hwm: memory.hwm });
      say(
        `${edges} edges, ${scrapers} scraper(s): /metrics ${fmt(window.bytes / 2 ** 20, 1)} MiB (${fmt(window.wire / 2 ** 20, 2)} MiB on the wire), scrape p50 ${fmt(window.p50, 0)} ms max ${fmt(window.max, 0)} ms; ` +
          `series ${window.series} (${fmt(window.edgeSeries / edges, 1)} per edge); largest event-loop delay ${fmt(window.worstDelayMs, 0)} ms; invalid probes ${window.invalid} of ${window.probes}; ` +
          `RSS ${fmt(memory.rss, 1)} MiB, peak ${fmt(memory.hwm, 1)} MiB, heap used ${fmt(window.heapMiB, 1)} MiB`,
      );
    }
    const scraped = memoryMiB(agent.proc.pid);
    const plain = await plainScrapes(agent);
    const afterPlain = memoryMiB(agent.proc.pid);
    say(`${edges} edges, 4 plain (uncompressed) GETs of /metrics at once: ${fmt(plain.plainMs, 0)} ms; RSS ${fmt(afterPlain.rss, 1)} MiB, peak ${fmt(afterPlain.hwm, 1)} MiB`);
    const results = await resultsWindow(agent);
    const afterResults = memoryMiB(agent.proc.pid);
    say(`${edges} edges, /api/v1/results: ${fmt(results.resultsBytes / 2 ** 20, 1)} MiB in ${fmt(results.resultsMs, 0)} ms (slowest of 3); largest event-loop delay ${fmt(results.resultsDelayMs, 0)} ms; peak RSS now ${fmt(afterResults.hwm, 1)} MiB`);
    const reload = await reloadAll(agent, file, edges, targets.ports, closedPort);
    const afterReload = memoryMiB(agent.proc.pid);
    const heap = sumOf((await scrape(agent.url)).samples, "nodejs_heap_size_used_bytes") / 2 ** 20;
    say(`${edges} edges, a reload that changes every probe: applied after ${fmt(reload.reloadS, 1)} s; RSS ${fmt(afterReload.rss, 1)} MiB, peak ${fmt(afterReload.hwm, 1)} MiB`);
    memoryRows.push({ edges, ...results, idle, scraped, afterPlain, afterReload, heap });
    if (SLOW_READERS > 0 && edges === Math.max(...EDGE_COUNTS)) slowRows.push(...(await slowReaders(agent, edges)).map((row) => ({ edges, ...row })));
  } catch (error) {
    const exited = agent && !agent.proc.alive() ? await agent.proc.exited : undefined;
    const how = exited ? ` (agent exited: ${exited.signal ?? `code ${exited.code}`}; ${/heap out of memory|Reached heap limit/.test(agent.proc.tail()) ? "V8 heap out of memory" : exited.signal === "SIGKILL" ? "killed: the memory cgroup's OOM killer" : "see its output"})` : "";
    say(`${edges} edges: FAILED${how}: ${error.message.split("\n")[0]}`);
    rows.push({ edges, failed: true });
    memoryRows.push({ edges, failed: true });
  } finally {
    await agent?.proc.stop();
  }
}
/** Idle connections to a one-edge agent: what it holds, and whether /healthz still answers. */
async function flood(count) {
  const file = tempFile("flood.yaml", config(1, targets.ports, closedPort));
  const agent = await startAgent(file, { nodeArgs: NODE_OPTIONS, env: { NODE_NAME }, ...(MEMORY_LIMIT !== undefined ? { memoryLimitMiB: MEMORY_LIMIT } : {}) });
  const sockets = [];
  try {
    const { port } = new URL(agent.url);
    const descriptors = () => readdirSync(`/proc/${agent.proc.pid}/fd`).length;
    await sleep(1000);
    const before = { fds: descriptors(), ...memoryMiB(agent.proc.pid) };
    let refused = 0;
    for (let i = 0; i < count; i++) {
      await new Promise((resolve) => {
        const socket = net.connect({ host: "127.0.0.1", port: Number(port) }, () => resolve());
        socket.on("error", () => {
          refused++;
          resolve();
        });
        sockets.push(socket);
      });
    }
    await sleep(1000);
    assertAlive(agent.proc);
    const after = { fds: descriptors(), ...memoryMiB(agent.proc.pid) };
    const health = await httpGet(`${agent.url}/healthz`, { timeoutMs: 10_000 }).catch((error) => ({ status: `no answer (${error.message})` }));
    const open = sockets.filter((socket) => !socket.destroyed && socket.readyState === "open").length;
    say(
      `flood: ${count.toLocaleString("en")} idle connections (${refused} refused at connect): agent descriptors ${before.fds} -> ${after.fds}, RSS ${fmt(before.rss, 1)} -> ${fmt(after.rss, 1)} MiB; ` +
        `still open on the client side: ${open}; /healthz: ${health.status}`,
    );
  } catch (error) {
    say(`flood: FAILED: ${error.message.split("\n")[0]}`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await agent.proc.stop();
  }
}

const FLOOD = Number(values.flood);
if (FLOOD > 0) await flood(FLOOD);
await targets.proc.stop();

say("");
say("| edges | scrapers | series (per edge) | /metrics (on the wire) | scrape p50 / max | largest event-loop delay | invalid probes | RSS (peak) | heap used |");
say("|---|---|---|---|---|---|---|---|---|");
for (const row of rows) {
  if (row.failed) say(`| ${row.edges.toLocaleString("en")} | | | failed | | | | | |`);
  else
    say(
      `| ${row.edges.toLocaleString("en")} | ${row.scrapers} | ${row.series.toLocaleString("en")} (${fmt(row.edgeSeries / row.edges, 1)}) | ${fmt(row.bytes / 2 ** 20, 1)} MiB (${fmt(row.wire / 2 ** 20, 2)}) | ${fmt(row.p50, 0)} / ${fmt(row.max, 0)} ms | ${fmt(row.worstDelayMs, 0)} ms | ${row.invalid} of ${row.probes.toLocaleString("en")} | ${fmt(row.rss, 0)} (${fmt(row.hwm, 0)}) MiB | ${fmt(row.heapMiB, 0)} MiB |`,
    );
}
say("");
say("| edges | RSS before any scrape | after the scrapes | after 4 plain GETs | after a full reload | peak RSS (all of it) | heap used at the end | /api/v1/results (time, largest event-loop delay) |");
say("|---|---|---|---|---|---|---|---|");
for (const row of memoryRows) {
  if (row.failed) say(`| ${row.edges.toLocaleString("en")} | failed | | | | | | |`);
  else
    say(
      `| ${row.edges.toLocaleString("en")} | ${fmt(row.idle.rss, 0)} MiB | ${fmt(row.scraped.rss, 0)} MiB | ${fmt(row.afterPlain.rss, 0)} MiB | ${fmt(row.afterReload.rss, 0)} MiB | ${fmt(row.afterReload.hwm, 0)} MiB | ${fmt(row.heap, 0)} MiB | ${fmt(row.resultsBytes / 2 ** 20, 1)} MiB: ${fmt(row.resultsMs, 0)} ms, ${fmt(row.resultsDelayMs, 0)} ms |`,
    );
}
if (slowRows.length > 0) {
  say("");
  say("| edges | slow readers of | answered (failed) | slowest /healthz, /readyz, gzip scrape | agent descriptors | RSS at most (peak) | largest event-loop delay | invalid probes |");
  say("|---|---|---|---|---|---|---|---|");
  for (const row of slowRows)
    say(
      `| ${row.edges.toLocaleString("en")} | ${row.kind} | ${row.answered} (${row.failures}) | ${fmt(row.healthz, 0)}, ${fmt(row.readyz, 0)}, ${fmt(row.scrape, 0)} ms | ${row.fds} | ${fmt(row.rss, 0)} (${fmt(row.hwm, 0)}) MiB | ${fmt(row.delayMs, 0)} ms | ${row.invalid} of ${row.probes.toLocaleString("en")} |`,
    );
}
