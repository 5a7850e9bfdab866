// The agent's port under connection floods, on real sockets: more idle connections than the
// bound cannot lock out /healthz, the server never holds more than the bound, idle ones are
// closed after the idle timeout, a new connection is never refused (one that does less for its
// client makes room), and busy ones get their request deadline. Clients that never read are in
// slow-readers.test.ts.
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { CONNECTION_LIMITS, type ConnectionLimits } from "../../agent/server/connections.js";
import { startServer } from "../../agent/server/http.js";
import { waitFor } from "../support/wait.js";

type Running = Awaited<ReturnType<typeof startServer>>;
type Client = Socket & { closedAt?: number };
const running: Running[] = [];
const sockets: Client[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(running.splice(0).map((server) => server.close()));
});

async function serve(limits?: ConnectionLimits, results: () => unknown = () => ({ results: [] })): Promise<Running> {
  const server = await startServer({ registry: new Registry(), readiness: () => ({ ready: true }), results }, { host: "127.0.0.1", port: 0 }, limits ? { limits } : {});
  running.push(server);
  return server;
}

/** A connection that sends nothing, from a loopback address (all of 127/8 is local on Linux); resolves once connected. */
function idleConnection(port: number, localAddress = "127.0.0.1"): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket: Client = connect({ host: "127.0.0.1", port, localAddress }, () => resolve(socket));
    socket.on("error", () => undefined); // a reset from the server is expected
    socket.once("close", () => (socket.closedAt = performance.now()));
    socket.once("error", reject);
    sockets.push(socket);
  });
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer`)));
    req.on("error", reject);
    req.end();
  });
}

function serverConnections(server: Running): Promise<number> {
  return new Promise((resolve, reject) => server.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

describe("the agent's connections", () => {
  it(`a flood of 1,000 idle connections (the bound is ${CONNECTION_LIMITS.maxConnections}) leaves /healthz answering and the server within its bound`, async () => {
    const server = await serve();
    const port = server.address.port;
    for (let i = 0; i < 1000; i++) {
      await idleConnection(port);
      if (i % 250 === 249) expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    }
    // The server closed the idlest ones to make room: it holds at most the bound.
    await waitFor(async () => (await serverConnections(server)) <= CONNECTION_LIMITS.maxConnections, 5000, "the server within its bound");
    expect(sockets.filter((socket) => socket.closedAt !== undefined).length).toBeGreaterThanOrEqual(1000 - CONNECTION_LIMITS.maxConnections);
    for (let i = 0; i < 5; i++) expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await serverConnections(server)).toBeLessThanOrEqual(CONNECTION_LIMITS.maxConnections);
  }, 60_000);

  it("idle connections, fresh or kept alive after a response, are closed after the idle timeout", async () => {
    const limits: ConnectionLimits = { ...CONNECTION_LIMITS, maxConnections: 16, idleTimeoutMs: 600, requestTimeoutMs: 5000, headersTimeoutMs: 2000 };
    const server = await serve(limits);
    const port = server.address.port;
    const opened = performance.now();
    const idle = await Promise.all(Array.from({ length: 8 }, () => idleConnection(port)));
    // A keep-alive connection that made one request and then stays idle.
    const kept = await idleConnection(port);
    const answered = new Promise<number>((resolve) => kept.once("data", () => resolve(performance.now())));
    kept.write("GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: keep-alive\r\n\r\n");
    const answeredAt = await answered;
    await waitFor(async () => (await serverConnections(server)) === 0, 5000, "every idle connection closed");
    await waitFor(() => [...idle, kept].every((socket) => socket.closedAt !== undefined), 5000, "the clients to see their connections closed");
    for (const socket of idle) expect((socket.closedAt as number) - opened).toBeGreaterThanOrEqual(limits.idleTimeoutMs - 50);
    expect((kept.closedAt as number) - answeredAt).toBeGreaterThanOrEqual(limits.idleTimeoutMs - 50);
  });

  it("a new connection beyond the bound closes one of an address that holds more than its share, before older ones of other addresses", async () => {
    const limits: ConnectionLimits = { ...CONNECTION_LIMITS, maxConnections: 16, peerShare: 4 };
    const server = await serve(limits);
    const port = server.address.port;
    const others: Client[] = [];
    for (let i = 0; i < 8; i++) others.push(await idleConnection(port, `127.0.0.${10 + i}`));
    const crowd: Client[] = [];
    for (let i = 0; i < 8; i++) crowd.push(await idleConnection(port, "127.0.0.2"));
    await waitFor(async () => (await serverConnections(server)) === limits.maxConnections, 5000, "every slot taken");
    await idleConnection(port, "127.0.0.30");
    await waitFor(() => crowd.some((socket) => socket.closedAt !== undefined), 2000, "one of the crowding address's closed");
    expect(crowd.map((socket) => socket.closedAt !== undefined)).toEqual([true, false, false, false, false, false, false, false]);
    expect(others.every((socket) => socket.closedAt === undefined)).toBe(true);
  });

  it("when every connection is busy, a new one is let in and closes one whose request waits its turn; the others end at their request deadline", async () => {
    // A long grace: no client is taken to have fallen behind within this test.
    const limits: ConnectionLimits = { ...CONNECTION_LIMITS, maxConnections: 4, idleTimeoutMs: 5000, requestTimeoutMs: 1500, headersTimeoutMs: 1000, graceMs: 60_000 };
    // A document far larger than the sockets' buffers (40 MB), requested by clients that never
    // read it: their responses cannot finish (two are written at once, the others wait their turn).
    const explanation = "x".repeat(2000);
    const big = { results: Array.from({ length: 20_000 }, (_, i) => ({ id: `edge-${i}`, explanation })) };
    const server = await serve(limits, () => big);
    const port = server.address.port;
    const stuck: Client[] = [];
    for (let i = 0; i < limits.maxConnections; i++) {
      const client = await idleConnection(port);
      client.pause();
      client.write("GET /api/v1/results HTTP/1.1\r\nHost: agent\r\n\r\n");
      stuck.push(client);
      await waitFor(() => server.connections.count().busy === i + 1, 5000, `request ${i + 1} in progress`);
    }
    expect(await serverConnections(server)).toBe(limits.maxConnections);
    // Let in: the first two requests are being written, so one of the two waiting is closed.
    const newcomer = await idleConnection(port);
    await waitFor(() => stuck.some((client) => client.closedAt !== undefined), 1000, "a waiting request closed");
    expect(stuck.map((client) => client.closedAt !== undefined)).toEqual([false, false, true, false]);
    expect(newcomer.closedAt).toBeUndefined();
    expect(server.connections.count()).toEqual({ open: limits.maxConnections, busy: limits.maxConnections - 1 });
    // A health check gets in the same way (the other waiting request makes room), well before any deadline.
    expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(stuck.map((client) => client.closedAt !== undefined)).toEqual([false, false, true, true]);
    // The deadline ends the requests being written (their connections close).
    await waitFor(() => server.connections.count().busy === 0, 5000, "the stuck requests ended by their deadline");
    expect(await serverConnections(server)).toBe(1); // the newcomer, idle
    expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
  });
});
