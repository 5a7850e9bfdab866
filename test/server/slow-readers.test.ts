// The agent's port against clients that ask for a large answer and never read it, on real
// sockets: a helper process holds the connections, each with a receive buffer as small as the
// kernel allows, so that the server's output backs up after a few KiB (the documents are far
// larger than the sockets' buffers), and replaces each connection the server closes at once.
// Meanwhile /healthz, /readyz and a gzip /metrics scrape (what the kubelet and Prometheus ask)
// must keep answering within the kubelet's probe timeout, and the server must stay within its
// bounds: connections, descriptors, memory, event-loop delay.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { request } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { gunzipSync } from "node:zlib";
import { Gauge } from "prom-client";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { CONNECTION_LIMITS, type ConnectionLimits } from "../../agent/server/connections.js";
import { RESULTS_AT_ONCE, RESULTS_WAITING, startServer } from "../../agent/server/http.js";
import { recordEdges } from "../support/edges.js";
import { describeWith } from "../support/prerequisites.js";
import { waitFor } from "../support/wait.js";

const HELPER = fileURLToPath(new URL("../support/slow-readers.py", import.meta.url));
/** The agent's livenessProbe and readinessProbe timeoutSeconds (manifests/base/daemonset.yaml). */
const KUBELET_TIMEOUT_MS = 3000;
/** How long each attack is kept up while the health checks and scrapes go on, and the fewest rounds of them. */
const ATTACK_MS = 6000;
const ROUNDS = 8;
/** Prometheus's default scrape_timeout. */
const SCRAPE_TIMEOUT_MS = 10_000;
/**
 * Live memory the server may gain under attack: the kept compressed text and one being built
 * (4.5 MB each here), the texts held for the clients within their grace or among the few
 * allowed to be behind (a few versions), two results documents being written. An answer held
 * per connection would be 64 times 4.5 MB.
 */
const MEMORY_BOUND = 48 * 2 ** 20;

setFlagsFromString("--expose-gc");
/** A full garbage collection, so that what is measured is what is kept. */
const collectGarbage = runInNewContext("gc") as () => void;

/** Heap and external memory in use after a full collection (twice: freed buffers' memory is returned after the first). */
async function liveMemory(): Promise<number> {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 20));
  collectGarbage();
  const memory = process.memoryUsage();
  return memory.heapUsed + memory.external;
}

type Running = Awaited<ReturnType<typeof startServer>>;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

function get(port: number, path: string, headers: Record<string, string> = {}, timeoutMs = KUBELET_TIMEOUT_MS): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started });
      });
      res.on("error", reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no full answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`GET ${path}: ${error.message}`));
    });
    req.end();
  });
}

interface AttackStats {
  open: number;
  opened: number;
  dropped: number;
  failed: number;
}

interface Attack {
  latest(): AttackStats;
  stop(): Promise<void>;
}

const attacks: Attack[] = [];

/** `count` connections that ask `path` and never read, from the given source addresses, renewed when closed. */
async function attack(port: number, count: number, sources: readonly string[], path: string, headers = "", renew = true): Promise<Attack> {
  const options = { host: "127.0.0.1", port, count, sources, rcvbuf: 1, renew, request: `GET ${path} HTTP/1.1\r\nHost: agent\r\n${headers}\r\n` };
  const child: ChildProcessWithoutNullStreams = spawn("python3", [HELPER, JSON.stringify(options)], { stdio: "pipe" });
  let stats: AttackStats = { open: 0, opened: 0, dropped: 0, failed: 0 };
  let buffered = "";
  let errors = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (text: string) => {
    buffered += text;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") stats = JSON.parse(line) as AttackStats;
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => (errors += text));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const running: Attack = {
    latest: () => stats,
    stop: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  attacks.push(running);
  await waitFor(() => stats.opened >= count || child.exitCode !== null, 20_000, `${count} hostile connections`);
  if (child.exitCode !== null) throw new Error(`the slow readers exited: ${errors}`);
  return running;
}

function addresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`);
}

function descriptors(): number {
  return readdirSync("/proc/self/fd").length;
}

function serverConnections(server: Running): Promise<number> {
  return new Promise((resolve, reject) => server.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

/** A results document of about 5 MB, as the agent's for 5,000 edges (docs/benchmarks.md); a new copy per request, as the agent's. */
function resultsDocument(): unknown {
  const explanation = "policy: allowed by shop/allow-checkout-to-payments (egress rule 1) and payments/allow-from-shop (ingress rule 2); ".repeat(2);
  return { results: Array.from({ length: 20_000 }, (_, i) => ({ probe: `checkout-to-payments-${i}`, status: "ok", explanation })) };
}

describeWith({ commands: ["python3"] }, "the agent's port against slow readers", () => {
  const metrics = new AgentMetrics({ defaultMetrics: false });
  let server: Running;
  let port: number;
  let expectedMetrics: string;

  beforeAll(async () => {
    // 1,000 edges (5 MiB of text), and a family that does not compress (6 MB, about 4.5 MB
    // compressed), so that even the compressed text is larger than what the kernel buffers
    // for a client that does not read (up to about 2 MB on loopback, whose segments are 64 KiB).
    recordEdges(metrics, 1000);
    const blobs = new Gauge({ name: "test_incompressible", help: "random label values", labelNames: ["blob"], registers: [metrics.registry] });
    for (let i = 0; i < 2400; i++) blobs.set({ blob: randomBytes(1875).toString("base64") }, i);
    expectedMetrics = await metrics.registry.metrics();
    server = await startServer({ registry: metrics.registry, readiness: () => ({ ready: true }), results: resultsDocument }, { host: "127.0.0.1", port: 0 });
    port = server.address.port;
  }, 60_000);

  afterEach(async () => {
    await Promise.all(attacks.splice(0).map((running) => running.stop()));
    // The server sheds the attackers' connections (their deadline at the latest) before the next case.
    await waitFor(async () => (await serverConnections(server)) === 0, CONNECTION_LIMITS.requestTimeoutMs + 5000, "the attackers' connections gone");
  }, CONNECTION_LIMITS.requestTimeoutMs + 10_000);

  afterAll(async () => {
    await server?.close();
  });

  /** A health check, a readiness check and a gzip scrape at once, as the kubelet and Prometheus make them; how long each took. The bodies are not kept. */
  async function checkRound(): Promise<{ healthz: number; readyz: number; metrics: number }> {
    const [healthz, readyz, scrape] = await Promise.all([get(port, "/healthz"), get(port, "/readyz"), get(port, "/metrics", { "accept-encoding": "gzip" }, SCRAPE_TIMEOUT_MS)]);
    expect([healthz.status, healthz.body.toString()]).toEqual([200, "ok\n"]);
    expect([readyz.status, readyz.body.toString()]).toEqual([200, "ready\n"]);
    expect([scrape.status, scrape.headers["content-encoding"]]).toEqual([200, "gzip"]);
    expect(gunzipSync(scrape.body).toString() === expectedMetrics).toBe(true);
    return { healthz: healthz.ms, readyz: readyz.ms, metrics: scrape.ms };
  }

  /** Health checks and scrapes, as the kubelet and Prometheus make them, while the attack goes on; the bounds checked meanwhile. */
  async function keepsAnswering(running: Attack, fdsBefore: number, memoryBefore: number): Promise<void> {
    // The loop's delay, over the windows between the forced garbage collections (which are the test's, not the server's).
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    let longestDelay = 0;
    const slowest = { healthz: 0, readyz: 0, metrics: 0 };
    let mostConnections = 0;
    let mostDescriptors = 0;
    let mostMemory = 0;
    const until = performance.now() + ATTACK_MS;
    let rounds = 0;
    while (rounds < ROUNDS || performance.now() < until) {
      const took = await checkRound();
      slowest.healthz = Math.max(slowest.healthz, took.healthz);
      slowest.readyz = Math.max(slowest.readyz, took.readyz);
      slowest.metrics = Math.max(slowest.metrics, took.metrics);
      mostConnections = Math.max(mostConnections, await serverConnections(server));
      mostDescriptors = Math.max(mostDescriptors, descriptors());
      longestDelay = Math.max(longestDelay, delay.max);
      mostMemory = Math.max(mostMemory, (await liveMemory()) - memoryBefore);
      delay.reset();
      rounds++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    longestDelay = Math.max(longestDelay, delay.max);
    delay.disable();
    const stats = running.latest();
    console.log(
      `${rounds} rounds; slowest healthz ${slowest.healthz.toFixed(0)} ms, readyz ${slowest.readyz.toFixed(0)} ms, gzip metrics ${slowest.metrics.toFixed(0)} ms;` +
        ` attack ${JSON.stringify(stats)}; connections at most ${mostConnections}; descriptors ${fdsBefore} -> at most ${mostDescriptors};` +
        ` memory +${(mostMemory / 2 ** 20).toFixed(1)} MiB; event-loop delay max ${(longestDelay / 1e6).toFixed(0)} ms`,
    );
    // The attack was real: the attackers held connections throughout, and were closed and came back.
    expect(stats.open).toBeGreaterThan(CONNECTION_LIMITS.maxConnections / 2);
    expect(stats.dropped).toBeGreaterThan(0);
    expect(stats.opened).toBeGreaterThan(stats.dropped);
    // Bounds: connections and descriptors (the server's, the health checks' own and the helper's pipes), memory, the loop.
    expect(mostConnections).toBeLessThanOrEqual(CONNECTION_LIMITS.maxConnections);
    expect(mostDescriptors - fdsBefore).toBeLessThanOrEqual(CONNECTION_LIMITS.maxConnections + 16);
    expect(mostMemory).toBeLessThan(MEMORY_BOUND);
    expect(longestDelay / 1e6).toBeLessThan(1000);
  }

  it(`64 clients from 64 addresses that ask for /api/v1/results and never read, renewed when closed, leave /healthz, /readyz and gzip /metrics answering`, async () => {
    const [fds, memory] = [descriptors(), await liveMemory()];
    const running = await attack(port, 64, addresses(64), "/api/v1/results");
    await waitFor(async () => (await serverConnections(server)) >= CONNECTION_LIMITS.maxConnections - 1, 10_000, "the attackers holding the connections");
    await keepsAnswering(running, fds, memory);
  }, 60_000);

  it("128 clients from one address that ask for uncompressed /metrics and never read leave /healthz, /readyz and gzip /metrics answering", async () => {
    const [fds, memory] = [descriptors(), await liveMemory()];
    const running = await attack(port, 128, ["127.0.0.1"], "/metrics");
    await keepsAnswering(running, fds, memory);
  }, 60_000);

  it("64 clients from 64 addresses that ask for gzip /metrics and never read leave /healthz, /readyz and gzip /metrics answering", async () => {
    const [fds, memory] = [descriptors(), await liveMemory()];
    const running = await attack(port, 64, addresses(64), "/metrics", "Accept-Encoding: gzip\r\n");
    await waitFor(async () => (await serverConnections(server)) >= CONNECTION_LIMITS.maxConnections - 1, 10_000, "the attackers holding the connections");
    await keepsAnswering(running, fds, memory);
  }, 60_000);

  it("clients that never read are closed beyond the few that may be behind at once, with a reset, even with room to spare", async () => {
    const count = 3 * CONNECTION_LIMITS.maxBehind;
    const running = await attack(port, count, addresses(count), "/metrics", "Accept-Encoding: gzip\r\n", false);
    // The clients see their connections closed although the output waiting for them was not
    // taken: the agent reset them (a plain close would wait behind that output).
    await waitFor(() => running.latest().dropped >= count - CONNECTION_LIMITS.maxBehind, 10_000, "the clients beyond the few closed");
    expect(running.latest().dropped).toBe(count - CONNECTION_LIMITS.maxBehind);
    expect(await serverConnections(server)).toBe(CONNECTION_LIMITS.maxBehind);
  }, 30_000);
});

describeWith({ commands: ["python3"] }, "the results gate against slow readers", () => {
  const running: Running[] = [];

  afterEach(async () => {
    await Promise.all(attacks.splice(0).map((attackers) => attackers.stop()));
    await Promise.all(running.splice(0).map((server) => server.close()));
  });

  async function serve(limits: ConnectionLimits): Promise<Running> {
    const server = await startServer({ registry: new AgentMetrics({ defaultMetrics: false }).registry, readiness: () => ({ ready: true }), results: resultsDocument }, { host: "127.0.0.1", port: 0 }, { limits });
    running.push(server);
    return server;
  }

  it("a request for /api/v1/results that finds every turn taken and the line full is answered 503 at once", async () => {
    // A long grace: the clients holding the turns are not yet taken to have fallen behind.
    const server = await serve({ ...CONNECTION_LIMITS, graceMs: 60_000 });
    const port = server.address.port;
    await attack(port, RESULTS_AT_ONCE + RESULTS_WAITING, ["127.0.0.1"], "/api/v1/results");
    await waitFor(() => server.connections.count().busy === RESULTS_AT_ONCE + RESULTS_WAITING, 10_000, "every turn and place in line taken");
    const reply = await get(port, "/api/v1/results", {}, 2000);
    expect([reply.status, reply.headers["retry-after"], reply.body.toString()]).toEqual([
      503,
      "1",
      `busy: ${RESULTS_AT_ONCE} documents being written and ${RESULTS_WAITING} waiting; try again later\n`,
    ]);
    // Clients that leave free their turns and places (their connections are reset): the next one is answered.
    await Promise.all(attacks.splice(0).map((attackers) => attackers.stop()));
    await waitFor(() => server.connections.count().open === 0, 5000, "the clients gone");
    expect((await get(port, "/api/v1/results", {}, 10_000)).status).toBe(200);
  }, 30_000);

  it("clients that hold the turns of /api/v1/results and never read give them up to one that waits in line", async () => {
    const limits: ConnectionLimits = { ...CONNECTION_LIMITS, graceMs: 500 };
    const server = await serve(limits);
    const port = server.address.port;
    const attackers = await attack(port, RESULTS_AT_ONCE, ["127.0.0.1"], "/api/v1/results", "", false);
    await waitFor(() => server.connections.count().busy === RESULTS_AT_ONCE, 10_000, "the turns taken");
    // Well within the deadline that would otherwise free a turn (requestTimeoutMs, 30 s).
    const reply = await get(port, "/api/v1/results", {}, 10_000);
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe(`${JSON.stringify(resultsDocument(), null, 2)}\n`);
    await waitFor(() => attackers.latest().dropped >= 1, 5000, "a client that never reads closed");
  }, 30_000);
});
