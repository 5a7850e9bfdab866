// Probe cost: CPU-seconds and peak RSS per 10,000 TCP probes, netcanary side by side with
// blackbox_exporter (the Debian package), on the same loopback targets, in one run. Then
// netcanary's RSS with 1,000 edges after a few rounds. With --check http, the same for HTTP
// probes: netcanary's http check (a GET of "/", a new connection each, as it always makes)
// against blackbox_exporter's http_2xx module and a bare Node http.get(), on loopback web
// servers; the RSS footprint run is left out.
//
//   npm run build && node bench/probe-cost.mjs [--check tcp|http] [--probes 10000] [--edges 500] [--interval 1s]
//     [--listeners 8] [--concurrency 32] [--warmup 500] [--blackbox-rate same|max|<per second>]
//     [--rss-edges 1000] [--rss-interval 1s] [--rss-rounds 5] [--node-options "<V8 flags>"]
//
// The targets are TCP listeners on 127.0.0.1 in a process of their own. netcanary is the
// real agent (`node dist/cli/main.js agent`) probing its edges on its own schedule; its probes
// are counted from its own /metrics. blackbox_exporter is driven through /probe, as
// Prometheus drives it, from this process: by default at the same number of probes per
// second as netcanary did (CPU per probe depends on the pace: a process woken for every
// probe pays more per probe than one kept busy), at most --concurrency at a time. A third,
// reference row does the same connects from a bare Node process (net.connect, then destroy,
// at the same pace): the floor for any Node prober on this machine. Each side's CPU is its own
// process's utime+stime (/proc/<pid>/stat) over the probes counted, after a warm-up; memory
// is VmRSS and VmHWM (peak) from /proc/<pid>/status. The sides run one after the other.

import { execFileSync } from "node:child_process";
import http from "node:http";
import { parseArgs } from "node:util";
import { parseDuration } from "../dist/config/duration.js";
import {
  agentConfig,
  assertAlive,
  cpuSeconds,
  fmt,
  freePort,
  httpGet,
  memoryMiB,
  paced,
  parseMetrics,
  reportHeader,
  sleep,
  startAgent,
  startProcess,
  startTargets,
  sumOf,
  tempFile,
  waitFor,
} from "./support.mjs";

const { values } = parseArgs({
  options: {
    probes: { type: "string", default: "10000" },
    edges: { type: "string", default: "500" },
    interval: { type: "string", default: "1s" },
    timeout: { type: "string", default: "500ms" },
    listeners: { type: "string", default: "8" },
    concurrency: { type: "string", default: "32" },
    warmup: { type: "string", default: "500" },
    "blackbox-rate": { type: "string", default: "same" },
    "rss-edges": { type: "string", default: "1000" },
    "rss-interval": { type: "string", default: "1s" },
    "rss-rounds": { type: "string", default: "5" },
    "node-options": { type: "string", default: "" },
    blackbox: { type: "string", default: "prometheus-blackbox-exporter" },
    check: { type: "string", default: "tcp" },
  },
});
const CHECK = values.check;
if (CHECK !== "tcp" && CHECK !== "http") throw new Error("--check must be tcp or http");
const KIND = CHECK === "http" ? "HTTP" : "TCP";
/** blackbox_exporter's module and target for one port: its own tcp_connect, or its http_2xx. */
const BLACKBOX = CHECK === "http"
  ? { module: "http_2xx", config: "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http: {preferred_ip_protocol: ip4}\n", target: (port) => `http://127.0.0.1:${port}/` }
  : { module: "tcp_connect", config: "modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n", target: (port) => `127.0.0.1:${port}` };
const PROBES = Number(values.probes);
const EDGES = Number(values.edges);
const INTERVAL_MS = parseDuration(values.interval);
const LISTENERS = Number(values.listeners);
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);
const RSS_EDGES = Number(values["rss-edges"]);
const RSS_INTERVAL_MS = parseDuration(values["rss-interval"]);
const RSS_ROUNDS = Number(values["rss-rounds"]);
const NODE_OPTIONS = values["node-options"].split(/\s+/).filter(Boolean);
for (const [name, value] of Object.entries({ PROBES, EDGES, INTERVAL_MS, LISTENERS, CONCURRENCY, RSS_EDGES, RSS_INTERVAL_MS, RSS_ROUNDS })) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`bad value for --${name.toLowerCase().replaceAll("_", "-")}: ${value}`);
}
if (!Number.isFinite(WARMUP) || WARMUP < 0) throw new Error(`bad value for --warmup: ${WARMUP}`);
const BLACKBOX_RATE = values["blackbox-rate"];
if (BLACKBOX_RATE !== "same" && BLACKBOX_RATE !== "max" && !(Number(BLACKBOX_RATE) > 0)) throw new Error("--blackbox-rate must be same, max or a number of probes per second");

// The report is printed as it is made.
const say = (line = "") => console.log(line);
for (const line of reportHeader(`netcanary probe cost: CPU and memory per 10,000 ${KIND} probes, netcanary vs blackbox_exporter`)) say(line);
const count = (n) => Math.round(n).toLocaleString("en");
const pace = (rate) => (Number.isFinite(rate) ? `paced at ${count(rate)} probes/s` : "as fast as it answers");

async function scrape(url) {
  const { status, body } = await httpGet(`${url}/metrics`, { timeoutMs: 15_000 });
  if (status !== 200) throw new Error(`GET ${url}/metrics: HTTP ${status}`);
  return { samples: parseMetrics(body), bytes: Buffer.byteLength(body) };
}

async function waitReady(agent, intervalMs) {
  await waitFor("the agent's first round (/readyz)", async () => {
    assertAlive(agent.proc);
    return (await httpGet(`${agent.url}/readyz`, { timeoutMs: 5000 })).status === 200;
  }, { timeoutMs: 2 * intervalMs + 30_000, everyMs: 200 });
}

/** Runs the agent until it has done PROBES probes after its first round; CPU and memory over them. */
async function measureNetcanary(ports) {
  const config = tempFile("netcanary-cost.yaml", agentConfig({ ports, edges: EDGES, interval: values.interval, timeout: values.timeout, check: CHECK }));
  const agent = await startAgent(config, { nodeArgs: NODE_OPTIONS });
  const pid = agent.proc.pid;
  say(`netcanary agent (pid ${pid}): ${agent.command}`);
  say(`  ${EDGES} edges over the ${LISTENERS} targets, interval ${values.interval}, timeout ${values.timeout}; measured after the first round and one more interval`);
  await waitReady(agent, INTERVAL_MS);
  await sleep(INTERVAL_MS); // warm-up
  assertAlive(agent.proc);

  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  let scrapes = 1;
  const first = (await scrape(agent.url)).samples;
  const probes0 = sumOf(first, "netcanary_probes_total");
  const bad0 = sumOf(first, "netcanary_probes_total", (l) => l.result !== "success");
  const skipped0 = sumOf(first, "netcanary_scheduler_skipped_total");

  const expectedRate = EDGES / (INTERVAL_MS / 1000);
  const deadline = Date.now() + (3 * PROBES * 1000) / expectedRate + 30_000;
  let last = first;
  const done = () => sumOf(last, "netcanary_probes_total") - probes0;
  while (done() < PROBES) {
    if (Date.now() > deadline) throw new Error(`netcanary did only ${done()} probes before the deadline`);
    await sleep(Math.max(500, (((PROBES - done()) * 1000) / expectedRate) * 1.02));
    assertAlive(agent.proc);
    last = (await scrape(agent.url)).samples;
    scrapes++;
  }
  const cpu1 = cpuSeconds(pid);
  const seconds = (performance.now() - t0) / 1000;
  const memory = memoryMiB(pid);
  const probes = done();
  const bad = sumOf(last, "netcanary_probes_total", (l) => l.result !== "success") - bad0;
  const skipped = sumOf(last, "netcanary_scheduler_skipped_total") - skipped0;
  await agent.proc.stop();

  const cpu = cpu1.total - cpu0.total;
  const per10k = (cpu / probes) * 10_000;
  say(`  startup and warm-up: ${fmt(cpu0.total)} CPU-s (not counted)`);
  say(`  measured: ${count(probes)} probes in ${fmt(seconds, 1)} s (${count(probes / seconds)}/s), ${bad} not successful, ${skipped} skipped runs`);
  say(`  CPU: ${fmt(cpu)} s (user ${fmt(cpu1.user - cpu0.user)}, system ${fmt(cpu1.system - cpu0.system)}), the ${scrapes} /metrics scrapes made meanwhile included`);
  say(`  => ${fmt(per10k, 2)} CPU-seconds per 10,000 probes; RSS ${fmt(memory.rss, 1)} MiB, peak (VmHWM) ${fmt(memory.hwm, 1)} MiB`);
  if (bad > 0) say(`  WARNING: ${bad} probes did not succeed: loopback targets should always accept`);
  return { per10k, memory, probes, bad, rate: probes / seconds };
}

/** `total` /probe requests at `rate` per second; counts answers without probe_success 1. */
async function driveBlackbox(base, ports, total, rate) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let failed = 0;
  let firstFailure;
  try {
    await paced(total, { rate, concurrency: CONCURRENCY }, async (i) => {
      const target = BLACKBOX.target(ports[i % ports.length]);
      // No gzip: Prometheus asks for it, which would cost blackbox more CPU, not less.
      const { status, body } = await httpGet(`${base}/probe?module=${BLACKBOX.module}&target=${encodeURIComponent(target)}`, { agent, timeoutMs: 15_000 }).catch(
        (error) => ({ status: 0, body: error.message }),
      );
      if (status !== 200 || !/^probe_success 1$/m.test(body)) {
        failed++;
        firstFailure ??= `HTTP ${status}: ${body.slice(0, 300)}`;
      }
    });
  } finally {
    agent.destroy();
  }
  return { failed, firstFailure };
}

async function measureBlackbox(ports, rate) {
  let version = "unknown version";
  try {
    const text = execFileSync(values.blackbox, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
    version = /version (\S+)/.exec(text)?.[1] ?? version;
  } catch (error) {
    if (error.code === "ENOENT") throw new Error(`${values.blackbox} is not installed (Debian package prometheus-blackbox-exporter)`);
    version = /version (\S+)/.exec(`${error.stdout ?? ""}${error.stderr ?? ""}`)?.[1] ?? version;
  }
  const config = tempFile("blackbox.yml", BLACKBOX.config);
  const port = await freePort();
  const args = [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`];
  const proc = startProcess(values.blackbox, args, { name: "blackbox_exporter" });
  const base = `http://127.0.0.1:${port}`;
  await waitFor("blackbox_exporter to serve", async () => {
    assertAlive(proc);
    return (await httpGet(`${base}/metrics`, { timeoutMs: 5000 })).status === 200;
  }, { timeoutMs: 30_000, everyMs: 200 });
  say(`blackbox_exporter ${version} (pid ${proc.pid}): ${values.blackbox} ${args.join(" ")}`);
  say(`  GET /probe?module=${BLACKBOX.module}&target=${BLACKBOX.target("<port>")} over keep-alive connections, ${pace(rate)}, at most ${CONCURRENCY} at a time, after ${WARMUP} warm-up requests`);

  if (WARMUP > 0) await driveBlackbox(base, ports, WARMUP, rate);
  assertAlive(proc);
  const cpu0 = cpuSeconds(proc.pid);
  const t0 = performance.now();
  const { failed, firstFailure } = await driveBlackbox(base, ports, PROBES, rate);
  const cpu1 = cpuSeconds(proc.pid);
  const seconds = (performance.now() - t0) / 1000;
  assertAlive(proc);
  const memory = memoryMiB(proc.pid);
  await proc.stop();

  const cpu = cpu1.total - cpu0.total;
  const per10k = (cpu / PROBES) * 10_000;
  say(`  measured: ${count(PROBES)} probes in ${fmt(seconds, 1)} s (${count(PROBES / seconds)}/s), ${failed} without probe_success 1`);
  say(`  CPU: ${fmt(cpu)} s (user ${fmt(cpu1.user - cpu0.user)}, system ${fmt(cpu1.system - cpu0.system)})`);
  say(`  => ${fmt(per10k, 2)} CPU-seconds per 10,000 probes; RSS ${fmt(memory.rss, 1)} MiB, peak (VmHWM) ${fmt(memory.hwm, 1)} MiB`);
  if (failed > 0) say(`  WARNING: ${failed} probes failed; first: ${firstFailure}`);
  return { per10k, memory, failed };
}

/** The floor: net.connect + destroy (or one http.get, the body read) from a bare Node process, nothing else, at the same pace. */
async function measureBareNode(ports, rate) {
  const probeOnce =
    CHECK === "http"
      ? `(i) => new Promise((resolve) => {
          const request = http.get({ host: "127.0.0.1", port: ports[i % ports.length], path: "/", agent: false, headers: { connection: "close" } }, (response) => {
            response.resume();
            response.once("end", () => resolve(response.statusCode === 200));
            response.once("error", () => resolve(false));
          });
          request.once("error", () => resolve(false));
        })`
      : `(i) => new Promise((resolve) => {
          const socket = net.connect({ host: "127.0.0.1", port: ports[i % ports.length] });
          socket.once("connect", () => { socket.destroy(); resolve(true); });
          socket.once("error", () => { socket.destroy(); resolve(false); });
        })`;
  const code = `
    import http from "node:http";
    import net from "node:net";
    import { paced } from ${JSON.stringify(new URL("./support.mjs", import.meta.url).href)};
    const [ports, total, rate, concurrency] = JSON.parse(process.argv[1]);
    const connect = ${probeOnce};
    let failed = 0;
    const run = (n) => paced(n, { rate: rate ?? Infinity, concurrency }, async (i) => { if (!(await connect(i))) failed++; });
    await run(Math.min(500, total)); // warm-up
    console.log("READY");
    process.stdin.once("data", async () => {
      failed = 0;
      await run(total);
      console.log("DONE " + failed);
      setInterval(() => {}, 60_000); // stays to be measured, then killed
    });
  `;
  const lines = [];
  // The same V8 flags as the agent: the floor for the same runtime settings.
  const args = [...NODE_OPTIONS, "--input-type=module", "-e", code, JSON.stringify([ports, PROBES, Number.isFinite(rate) ? rate : null, CONCURRENCY])];
  const proc = startProcess(process.execPath, args, { name: "bare node prober", stdin: "pipe", onLine: (line) => lines.push(line) });
  await waitFor("the bare Node prober to warm up", () => (assertAlive(proc), lines.includes("READY")), { timeoutMs: 60_000, everyMs: 20 });
  say(`bare Node reference (pid ${proc.pid}): ${CHECK === "http" ? "http.get() of / on a new connection, the body read" : "net.connect() then destroy()"}, ${pace(rate)}, at most ${CONCURRENCY} at a time, after 500 warm-up connects`);
  const cpu0 = cpuSeconds(proc.pid);
  const t0 = performance.now();
  proc.child.stdin.write("go\n");
  const doneLine = await waitFor("the bare Node prober", () => (assertAlive(proc), lines.find((l) => l.startsWith("DONE "))), {
    timeoutMs: (Number.isFinite(rate) ? (3 * PROBES * 1000) / rate : 0) + 60_000,
    everyMs: 10,
  });
  const cpu1 = cpuSeconds(proc.pid);
  const seconds = (performance.now() - t0) / 1000;
  const memory = memoryMiB(proc.pid);
  await proc.stop();
  const failed = Number(doneLine.slice(5));
  const per10k = ((cpu1.total - cpu0.total) / PROBES) * 10_000;
  say(`  measured: ${count(PROBES)} connects in ${fmt(seconds, 1)} s, ${failed} failed; CPU ${fmt(cpu1.total - cpu0.total)} s (user ${fmt(cpu1.user - cpu0.user)}, system ${fmt(cpu1.system - cpu0.system)})`);
  say(`  => ${fmt(per10k, 2)} CPU-seconds per 10,000 probes; RSS ${fmt(memory.rss, 1)} MiB, peak (VmHWM) ${fmt(memory.hwm, 1)} MiB`);
  return { per10k, memory, failed };
}

/** netcanary with RSS_EDGES edges, after RSS_ROUNDS more rounds, before and after a /metrics scrape. */
async function measureFootprint(ports) {
  const config = tempFile("netcanary-rss.yaml", agentConfig({ ports, edges: RSS_EDGES, interval: values["rss-interval"], timeout: values.timeout }));
  const agent = await startAgent(config, { nodeArgs: NODE_OPTIONS });
  const serving = memoryMiB(agent.proc.pid); // modules loaded, config read, few probes yet
  say(`netcanary agent (pid ${agent.proc.pid}): ${agent.command}`);
  say(`  ${RSS_EDGES} edges, interval ${values["rss-interval"]}: memory after the first round and ${RSS_ROUNDS} more intervals, then after one /metrics scrape`);
  await waitReady(agent, RSS_INTERVAL_MS);
  await sleep(RSS_ROUNDS * RSS_INTERVAL_MS);
  assertAlive(agent.proc);
  const before = memoryMiB(agent.proc.pid);
  const { samples, bytes } = await scrape(agent.url);
  const after = memoryMiB(agent.proc.pid);
  const probes = sumOf(samples, "netcanary_probes_total");
  const mib = (name, filter) => sumOf(samples, name, filter) / 1048576;
  const heapTotal = mib("nodejs_heap_size_total_bytes");
  const young = mib("nodejs_heap_space_size_total_bytes", (l) => l.space === "new");
  await agent.proc.stop();
  say(`  ${count(probes)} probes done (${fmt(probes / RSS_EDGES, 1)} per edge); /metrics: ${count(samples.length)} samples, ${fmt(bytes / 1048576, 1)} MiB`);
  say(`  V8 heap: ${fmt(heapTotal, 1)} MiB committed (young generation ${fmt(young, 1)} MiB), ${fmt(mib("nodejs_heap_size_used_bytes"), 1)} MiB used (live objects and garbage not yet collected)`);
  say(`  RSS when it started serving (modules loaded, first round just begun): ${fmt(serving.rss, 1)} MiB`);
  say(`  => before the scrape: RSS ${fmt(before.rss, 1)} MiB; after it: RSS ${fmt(after.rss, 1)} MiB, peak (VmHWM) ${fmt(after.hwm, 1)} MiB`);
  return after;
}

const targets = await startTargets(LISTENERS, CHECK);
say(`targets:  ${LISTENERS} ${CHECK === "http" ? "HTTP servers" : "TCP listeners"} on 127.0.0.1 (ports ${targets.ports.join(", ")}) in a separate process (pid ${targets.proc.pid}); their CPU counts for neither side`);
if (NODE_OPTIONS.length > 0) say(`agent node options: ${NODE_OPTIONS.join(" ")}`);
say("");
const netcanary = await measureNetcanary(targets.ports);
const rate = BLACKBOX_RATE === "same" ? netcanary.rate : BLACKBOX_RATE === "max" ? Infinity : Number(BLACKBOX_RATE);
say("");
const blackbox = await measureBlackbox(targets.ports, rate);
say("");
const bare = await measureBareNode(targets.ports, rate);
if (CHECK === "tcp") say("");
const footprint = CHECK === "tcp" ? await measureFootprint(targets.ports) : undefined;
await targets.proc.stop();

const ratio = blackbox.per10k / netcanary.per10k;
say("");
say(`summary (CPU-seconds per 10,000 ${KIND} probes, ${pace(rate)}; peak RSS):`);
say(`  netcanary agent        ${fmt(netcanary.per10k, 2).padStart(7)}   ${fmt(netcanary.memory.hwm, 1)} MiB (${EDGES} edges)`);
say(`  blackbox_exporter      ${fmt(blackbox.per10k, 2).padStart(7)}   ${fmt(blackbox.memory.hwm, 1)} MiB`);
say(`  bare Node ${CHECK === "http" ? "http.get() " : "connects    "} ${fmt(bare.per10k, 2).padStart(7)}   ${fmt(bare.memory.hwm, 1)} MiB (reference: the floor for a Node prober)`);
say(`  blackbox_exporter / netcanary: ${fmt(ratio, 2)}; bare Node / netcanary: ${fmt(bare.per10k / netcanary.per10k, 2)} (CPU per probe)`);
if (footprint !== undefined) {
  say(`  netcanary is ${fmt(ratio, 2)}x cheaper per probe than blackbox_exporter; goal at least 5x: ${ratio >= 5 ? "met" : "NOT met"}`);
  say(`  netcanary with ${RSS_EDGES} edges: peak RSS ${fmt(footprint.hwm, 1)} MiB; goal under 100 MiB: ${footprint.hwm < 100 ? "met" : "NOT met"}`);
}
say("");
if (CHECK === "http") {
  say("fairness: each side makes one HTTP GET of / per probe, on a new TCP connection, to the same loopback");
  say("  web servers, reads the 3-byte answer and closes, at the same pace. blackbox_exporter also handles");
  say("  one /probe request per probe (parse, route,");
} else {
  say("fairness: each side does one TCP connect per probe to the same loopback listeners, and closes it,");
  say("  at the same pace. blackbox_exporter also handles one HTTP request per probe (parse, route,");
}
say("  render the probe's metrics): that is how Prometheus uses it, and exactly the comparison asked");
say("  for. netcanary also runs its scheduler, judges each outcome against policy and intent and");
say("  updates its metrics, and its figure includes the /metrics scrapes made while it was measured.");
say("  Only the measured processes' own CPU is counted: not the targets', not this driver's.");
if (netcanary.bad > 0 || blackbox.failed > 0 || bare.failed > 0) {
  say("WARNING: some probes failed; the figures are not comparable until every probe succeeds");
  process.exitCode = 1;
}
