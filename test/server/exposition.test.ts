// /metrics with an agent's worth of edges, on real parts: the agent's metrics registry with
// 5,000 edges (per-edge histograms on: the most series a config can ask for), the real HTTP
// server on loopback, four scrapers at once (two taking gzip, as Prometheus does, two not),
// and real TCP probes running meanwhile, each judged by the agent's starvation monitor at
// the default threshold exactly as the agent judges its probes.
// Scrapes must not make a single probe sample the agent's fault, and every scrape must be
// the registry's own text, byte for byte.
// The monitor reads this thread's CPU time (support/thread-clock.ts), not the wall clock: what
// is asked is whether the scrapes' work blocks the loop past the threshold, and on a loaded
// machine every tick is late in wall time whatever this process does (there, the agent rightly
// blames itself). In CPU time, a stall is only this thread running without a break.
// For the same reason the connection guard's wall-clock limits are the test's own: on a loaded
// machine a scrape written afresh (some 29 MiB of text) can take longer than the agent's 30 s
// request deadline; the scrapers here, in this process, can leave their output untaken for
// more than the second after which a client that holds the uncompressed turn while another
// waits is closed; and they can still be reading the end of an answer (in the kernel's
// buffers) when a connection idle for 5 s is reset. None of that is what this test is about
// (connections.test.ts and slow-readers.test.ts are).
import { createHash } from "node:crypto";
import { request } from "node:http";
import { createGunzip } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { runCall } from "../../agent/probes/index.js";
import { StarvationMonitor } from "../../agent/schedule/starvation.js";
import { CONNECTION_LIMITS } from "../../agent/server/connections.js";
import { startServer } from "../../agent/server/http.js";
import { SharedExposition } from "../../agent/server/exposition.js";
import { Slices } from "../../agent/schedule/slices.js";
import { withOutcome } from "../../agent/verdicts/edge-state.js";
import { ALLOW, NODE_NAME, recordEdges, tcpEdge } from "../support/edges.js";
import { newEdgeRecord } from "../../agent/verdicts/edge-state.js";
import { closedPort } from "../support/listeners.js";
import { threadCpuMs } from "../support/thread-clock.js";

const EDGES = 5000;
/** The four scrapers' test may take this long; no scrape's deadline ends it before. */
const SCRAPERS_TIMEOUT_MS = 120_000;
/** The agent's default agent.starvationThreshold. */
const THRESHOLD_MS = 250;

interface Scrape {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  sha256: string;
  bytes: number;
}

/** GET /metrics; the body (decompressed if it came compressed) is hashed as it arrives, never held whole. */
function scrape(port: number, gzip: boolean, method = "GET"): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path: "/metrics", headers: gzip ? { "accept-encoding": "gzip" } : {}, timeout: SCRAPERS_TIMEOUT_MS }, (res) => {
      const hash = createHash("sha256");
      let bytes = 0;
      const body = res.headers["content-encoding"] === "gzip" && method !== "HEAD" ? res.pipe(createGunzip()) : res;
      body.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      body.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, sha256: hash.digest("hex"), bytes }));
      body.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("scrape timed out")));
    req.on("error", reject);
    req.end();
  });
}

describe("/metrics with 5,000 edges", () => {
  // No default metrics: the text stays the same from scrape to scrape, to compare byte for byte.
  const metrics = new AgentMetrics({ defaultMetrics: false });
  let server: Awaited<ReturnType<typeof startServer>>;
  let reference: { sha256: string; bytes: number; text: string };

  beforeAll(async () => {
    // The most series per edge a config can ask for: with the per-edge histograms.
    metrics.configure({ perEdgeHistograms: true });
    recordEdges(metrics, EDGES);
    const text = await metrics.registry.metrics();
    reference = { sha256: createHash("sha256").update(text).digest("hex"), bytes: Buffer.byteLength(text), text };
    const limits = { ...CONNECTION_LIMITS, requestTimeoutMs: SCRAPERS_TIMEOUT_MS, graceMs: SCRAPERS_TIMEOUT_MS, idleTimeoutMs: SCRAPERS_TIMEOUT_MS };
    server = await startServer({ registry: metrics.registry, readiness: () => ({ ready: true }), results: () => ({ results: [] }) }, { host: "127.0.0.1", port: 0 }, { limits });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it("four scrapers at once make no probe sample the agent's fault, and each gets the registry's text", async () => {
    const monitor = new StarvationMonitor({ thresholdMs: THRESHOLD_MS, now: threadCpuMs });
    monitor.start();
    const port = await closedPort();
    // Probes as the agent runs them: real connects (refused: a failure, which a stall would
    // turn into agent_error), judged over the time each one ran (on the monitor's clock).
    let probing = true;
    const samples: string[] = [];
    const prober = async () => {
      let record = newEdgeRecord(tcpEdge("witness", "127.0.0.1", port), ALLOW);
      while (probing) {
        const started = threadCpuMs();
        const outcome = await runCall(record.edge.call, { timeoutMs: 2000 });
        const starved = monitor.starvedDuring(started, threadCpuMs());
        record = withOutcome(record, outcome, starved, ALLOW, undefined, new Date()).record;
        samples.push(record.observed?.reason ?? "none");
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const probers = Array.from({ length: 8 }, prober);
    const scrapers = Array.from({ length: 4 }, async (_, k) => {
      const results: Array<Scrape | Error> = [];
      for (let round = 0; round < 3; round++) results.push(await scrape(server.address.port, k % 2 === 0).catch((error: Error) => error));
      return results;
    });
    const scrapes = (await Promise.all(scrapers)).flat();
    probing = false;
    await Promise.all(probers);
    monitor.stop();

    expect(samples.length).toBeGreaterThan(100);
    expect(samples.filter((reason) => reason !== "refused")).toEqual([]);
    for (const result of scrapes) {
      if (result instanceof Error) throw result;
      expect(result.status).toBe(200);
      expect({ sha256: result.sha256, bytes: result.bytes }).toEqual({ sha256: reference.sha256, bytes: reference.bytes });
    }
    const compressed = scrapes.filter((s) => !(s instanceof Error) && s.headers["content-encoding"] === "gzip");
    expect(compressed).toHaveLength(6);
    // The compressed scrapes shared builds: fewer builds than scrapes.
    expect(server.exposition.builds).toBeLessThan(compressed.length);
  }, SCRAPERS_TIMEOUT_MS);

  it("compressed, says how long the body is (GET and HEAD alike); uncompressed, streams it", async () => {
    const get = await scrape(server.address.port, true);
    const head = await scrape(server.address.port, true, "HEAD");
    expect(head.bytes).toBe(0);
    expect(head.headers["content-length"]).toBe(get.headers["content-length"]);
    expect(Number(get.headers["content-length"])).toBeLessThan(reference.bytes / 20);
    for (const reply of [get, head]) expect([reply.headers["content-encoding"], reply.headers["vary"]]).toEqual(["gzip", "Accept-Encoding"]);
    const plain = await scrape(server.address.port, false);
    expect([plain.headers["content-length"], plain.headers["transfer-encoding"], plain.headers["content-encoding"]]).toEqual([undefined, "chunked", undefined]);
    expect(plain.bytes).toBe(reference.bytes);
    const plainHead = await scrape(server.address.port, false, "HEAD");
    expect([plainHead.status, plainHead.bytes, plainHead.headers["content-type"]]).toEqual([200, 0, metrics.registry.contentType]);
  });

  it("the text carries every edge's series, and the families in the registry's order", () => {
    const families = [...reference.text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]);
    expect(families).toEqual(metrics.registry.getMetricsAsArray().map((metric) => metric.name));
    expect(reference.text.match(/^netcanary_probe_success\{/gm)).toHaveLength(EDGES);
    expect(reference.text.match(/^netcanary_probe_last_duration_seconds\{/gm)).toHaveLength(EDGES);
    expect(reference.text.match(/^netcanary_probe_duration_seconds_count\{/gm)).toHaveLength(EDGES);
    // One source, one target kind, one phase: one series for all the edges.
    expect(reference.text.match(/^netcanary_probe_phase_duration_seconds_count\{.*\} (\d+)$/gm)).toEqual([
      `netcanary_probe_phase_duration_seconds_count{source="self",source_namespace="netcanary",source_node="${NODE_NAME}",target_kind="ip",phase="connect"} ${EDGES}`,
    ]);
  });
});

describe("SharedExposition", () => {
  it("callers during a build share it; a finished text is served again only while fresh", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    recordEdges(metrics, 50);
    let clock = 0;
    const exposition = new SharedExposition(metrics.registry, { slices: new Slices(), minAgeMs: 1000, now: () => clock });
    const [a, b] = await Promise.all([exposition.text(), exposition.text()]);
    expect(a).toBe(b);
    expect(exposition.builds).toBe(1);
    clock = 999;
    expect(await exposition.text()).toBe(a);
    clock = 1000;
    const c = await exposition.text();
    expect(c).not.toBe(a);
    expect(exposition.builds).toBe(2);
    // A change shows in the next build.
    metrics.edges.set(42);
    clock = 5000;
    const text = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const gunzip = createGunzip();
      gunzip.on("data", (chunk: Buffer) => chunks.push(chunk));
      gunzip.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      gunzip.on("error", reject);
      void exposition.text().then((latest) => {
        for (const chunk of latest.gzip) gunzip.write(chunk);
        gunzip.end();
      });
    });
    expect(text).toMatch(/^netcanary_edges 42$/m);
    expect(text).toBe(await metrics.registry.metrics());
  });

  it("a changed verdict shortens how long a text is served again, to what its build took, never below the least age", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    recordEdges(metrics, 50);
    let clock = 0;
    let changes = 0;
    const exposition = new SharedExposition(metrics.registry, { slices: new Slices(), minAgeMs: 10, now: () => clock, verdictChanges: () => changes });
    // A build that took 100 (the clock moves while it runs).
    const building = exposition.text();
    clock = 100;
    const first = await building;
    // Unchanged: served for 4 builds' time.
    clock = 499;
    expect(await exposition.text()).toBe(first);
    expect(exposition.builds).toBe(1);
    // A verdict changes: served only for 1 build's time from when it finished.
    changes = 1;
    clock = 199;
    expect(await exposition.text()).toBe(first);
    clock = 200;
    const second = exposition.text();
    clock = 300;
    expect(await second).not.toBe(first);
    expect(exposition.builds).toBe(2);
    // That build began after the change: it is served for 4 builds' time again.
    clock = 699;
    expect(await exposition.text()).toBe(await second);
    expect(exposition.builds).toBe(2);
    // Scrapes alone never shorten it, and the least age holds however short the build.
    const quick = new SharedExposition(metrics.registry, { slices: new Slices(), minAgeMs: 1000, now: () => clock, verdictChanges: () => changes });
    clock = 0;
    const a = await quick.text();
    changes = 2;
    clock = 999;
    expect(await quick.text()).toBe(a);
    expect(quick.builds).toBe(1);
  });

  it("a caller while a later build runs gets the previous text at once; the one that started the build waits for it", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    recordEdges(metrics, 50);
    let clock = 0;
    const exposition = new SharedExposition(metrics.registry, { slices: new Slices(), minAgeMs: 1000, now: () => clock });
    const first = await exposition.text();
    clock = 1000;
    let built = false;
    const building = exposition.text().then((text) => {
      built = true;
      return text;
    });
    const during = await exposition.text();
    expect(during).toBe(first);
    expect(built).toBe(false);
    const fresh = await building;
    expect(fresh).not.toBe(first);
    expect(exposition.builds).toBe(2);
    // Once built, the new text is the one served.
    expect(await exposition.text()).toBe(fresh);
  });
});
