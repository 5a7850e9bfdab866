// The status page's HTTP side, on real sockets: "/" and its files come with a strict
// Content-Security-Policy and hold no inline script or style; /api/v1/status is the agent's
// status document, written in turns like the results (a request that finds every turn and
// place taken is answered 503 at once) while the page's files are still answered; the page is
// read-only (other methods: 405) and bounded like every other route (a flood of idle
// connections does not keep it from being answered). The page in a browser: test/system/status-page.test.ts.
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { CONNECTION_LIMITS, type ConnectionLimits } from "../../agent/server/connections.js";
import { JSON_ENDPOINTS, RESULTS_AT_ONCE, RESULTS_WAITING, startServer } from "../../agent/server/http.js";
import { waitFor } from "../support/wait.js";

type Running = Awaited<ReturnType<typeof startServer>>;
const running: Running[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(running.splice(0).map((server) => server.close()));
});

async function serve(status: (filter?: unknown) => unknown, limits?: ConnectionLimits, results: () => unknown = () => ({ results: [] })): Promise<Running> {
  const server = await startServer({ registry: new Registry(), readiness: () => ({ ready: true }), results, status }, { host: "127.0.0.1", port: 0 }, limits ? { limits } : {});
  running.push(server);
  return server;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function call(port: number, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.on("error", reject);
    req.end();
  });
}

/** A raw connection, connected, that sends `text` (if any) and then reads nothing. */
function rawClient(port: number, text?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.pause();
      if (text !== undefined) socket.write(text);
      resolve(socket);
    });
    socket.on("error", () => undefined); // a reset from the server is expected
    socket.once("error", reject);
    sockets.push(socket);
  });
}

/** The Content-Security-Policy's directives, by name. */
function directives(header: unknown): Map<string, string[]> {
  expect(typeof header).toBe("string");
  return new Map(
    (header as string)
      .split(";")
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name = "", ...values]) => [name, values]),
  );
}

const STATUS = { generatedAt: "2026-01-01T00:00:00.000Z", node: "n1", edges: [{ id: "e1", status: "ok" }] };

describe("the status page over HTTP", () => {
  it("/ is the page: HTML under a policy that admits only the agent's own files, and no inline script, style or handler", async () => {
    const server = await serve(() => STATUS);
    const reply = await call(server.address.port, "GET", "/");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("text/html; charset=utf-8");
    const csp = directives(reply.headers["content-security-policy"]);
    expect(csp.get("default-src")).toEqual(["'none'"]);
    for (const directive of ["script-src", "style-src", "connect-src", "img-src"]) expect([directive, csp.get(directive)]).toEqual([directive, ["'self'"]]);
    expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
    expect(csp.get("base-uri")).toEqual(["'none'"]);
    expect(csp.get("form-action")).toEqual(["'none'"]);
    expect([reply.headers["x-content-type-options"], reply.headers["x-frame-options"], reply.headers["referrer-policy"], reply.headers["cache-control"]]).toEqual(["nosniff", "DENY", "no-referrer", "no-store"]);
    const html = reply.body;
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBe(1);
    for (const [, attributes = "", body] of scripts) {
      expect(attributes).toMatch(/\bsrc="\/status\.js"/);
      expect(body).toBe("");
    }
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle\s*=/i);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/javascript:/i);
    // Every file the page loads is the agent's own: a path on this origin, none elsewhere.
    const references = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((match) => match[1] ?? "");
    expect(references.length).toBeGreaterThan(3);
    for (const reference of references) expect(reference).toMatch(/^\/[a-z0-9/._-]*$/);
    for (const endpoint of ["/metrics", "/healthz", "/readyz", "/api/v1/results", "/api/v1/status"]) expect(references).toContain(endpoint);
  });

  it("the page's stylesheet, script and icon are served with the same policy, their types, and nosniff", async () => {
    const server = await serve(() => STATUS);
    const port = server.address.port;
    for (const [path, type] of [
      ["/status.css", "text/css; charset=utf-8"],
      ["/status.js", "text/javascript; charset=utf-8"],
      ["/favicon.svg", "image/svg+xml"],
    ] as const) {
      const reply = await call(port, "GET", path);
      expect([path, reply.status, reply.headers["content-type"], reply.headers["x-content-type-options"]]).toEqual([path, 200, type, "nosniff"]);
      expect(reply.headers["content-security-policy"]).toBe((await call(port, "GET", "/")).headers["content-security-policy"]);
      expect(Number(reply.headers["content-length"])).toBe(Buffer.byteLength(reply.body));
    }
    const head = await call(port, "HEAD", "/");
    expect([head.status, head.body, head.headers["content-security-policy"] !== undefined]).toEqual([200, "", true]);
  });

  it("the page is read-only: every method but GET and HEAD is refused, on the page and on its JSON", async () => {
    const server = await serve(() => STATUS);
    for (const path of ["/", "/status.js", "/api/v1/status"]) {
      for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
        const reply = await call(server.address.port, method, path);
        expect([path, method, reply.status, reply.headers["allow"]]).toEqual([path, method, 405, "GET, HEAD"]);
      }
    }
  });

  it("/api/v1/status: the status document as JSON, with the JSON endpoints the agent serves, not cached; ?probe= narrows it and nothing else is taken", async () => {
    const asked: unknown[] = [];
    const server = await serve((filter?: unknown) => (asked.push(filter), STATUS));
    const reply = await call(server.address.port, "GET", "/api/v1/status?target=10.0.0.1:22");
    expect([reply.status, reply.headers["content-type"], reply.headers["cache-control"]]).toEqual([200, "application/json", "no-store"]);
    expect(JSON.parse(reply.body)).toEqual({ ...STATUS, endpoints: [...JSON_ENDPOINTS] });
    expect((await call(server.address.port, "GET", "/api/v1/status?probe=web%20one&url=http://10.0.0.1/")).status).toBe(200);
    expect(asked).toEqual([{}, { probe: "web one" }]);
    expect(JSON_ENDPOINTS).toContain("/api/v1/status");
  });

  it("/api/v1/status lists /api/v1/flows while the traffic map answers, and not while it is off (404)", async () => {
    let map: unknown = undefined;
    // Building the map copies and sorts every flow: the page's poll of /api/v1/status never does it.
    let built = 0;
    const flows = () => {
      built++;
      return map;
    };
    const server = await startServer({ registry: new Registry(), readiness: () => ({ ready: true }), results: () => ({ results: [] }), status: () => STATUS, flows, trafficOn: () => map !== undefined }, { host: "127.0.0.1", port: 0 });
    running.push(server);
    const endpoints = async () => (JSON.parse((await call(server.address.port, "GET", "/api/v1/status")).body) as { endpoints: string[] }).endpoints;
    expect(await endpoints()).toEqual([...JSON_ENDPOINTS]);
    expect((await call(server.address.port, "GET", "/api/v1/flows")).status).toBe(404);
    map = { apiVersion: "netcanary/v1", kind: "FlowMap", flows: [] };
    expect(await endpoints()).toEqual([...JSON_ENDPOINTS, "/api/v1/flows"]);
    expect(built).toBe(0);
    expect((await call(server.address.port, "GET", "/api/v1/flows")).status).toBe(200);
    expect(built).toBe(1);
  });

  it("/api/v1/status is not found on a server given no status source", async () => {
    const server = await startServer({ registry: new Registry(), readiness: () => ({ ready: true }), results: () => ({ results: [] }) }, { host: "127.0.0.1", port: 0 });
    running.push(server);
    const reply = await call(server.address.port, "GET", "/api/v1/status");
    expect([reply.status, reply.body]).toEqual([404, "not found\n"]);
  });

  it("/api/v1/status takes its turn with the results: with every turn and place taken by clients that do not read, it is answered 503 at once, and the page still loads", async () => {
    // Documents far larger than the sockets' buffers (40 MB): clients that never read cannot
    // finish theirs. A long grace: none of them is taken to have fallen behind within the test.
    const explanation = "x".repeat(2000);
    const big = { edges: Array.from({ length: 20_000 }, (_, i) => ({ id: `edge-${i}`, explanation })) };
    const server = await serve(() => big, { ...CONNECTION_LIMITS, graceMs: 60_000 }, () => ({ results: big.edges }));
    const port = server.address.port;
    const holders = RESULTS_AT_ONCE + RESULTS_WAITING;
    for (let i = 0; i < holders; i++) {
      await rawClient(port, `GET ${i % 2 === 0 ? "/api/v1/status" : "/api/v1/results"} HTTP/1.1\r\nHost: agent\r\n\r\n`);
      await waitFor(() => server.connections.count().busy === i + 1, 10_000, `request ${i + 1} in progress`);
    }
    const busy = await call(port, "GET", "/api/v1/status");
    expect([busy.status, busy.headers["retry-after"], busy.body]).toEqual([503, "1", `busy: ${RESULTS_AT_ONCE} documents being written and ${RESULTS_WAITING} waiting; try again later\n`]);
    const page = await call(port, "GET", "/");
    expect([page.status, page.headers["content-type"]]).toEqual([200, "text/html; charset=utf-8"]);
    expect((await call(port, "GET", "/status.js")).status).toBe(200);
  }, 30_000);

  it(`a flood of idle connections beyond the bound (${CONNECTION_LIMITS.maxConnections}) does not keep the page from loading, and the server stays within it`, async () => {
    const limits: ConnectionLimits = { ...CONNECTION_LIMITS, maxConnections: 16 };
    const server = await serve(() => STATUS, limits);
    const port = server.address.port;
    for (let i = 0; i < 3 * limits.maxConnections; i++) await rawClient(port);
    for (const path of ["/", "/status.css", "/status.js", "/api/v1/status"]) expect([path, (await call(port, "GET", path)).status]).toEqual([path, 200]);
    const open = await new Promise<number>((resolve, reject) => server.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    expect(open).toBeLessThanOrEqual(limits.maxConnections);
  });
});
