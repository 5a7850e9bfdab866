// The HTTP endpoints on a real loopback socket, with fake sources.
import { request } from "node:http";
import { Gauge, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptsGzip, parseListen, type Readiness, startServer } from "../../agent/server/http.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}

describe("HTTP server", () => {
  const registry = new Registry();
  new Gauge({ name: "netcanary_test_gauge", help: "A test gauge.", registers: [registry] }).set(7);
  let readiness: Readiness = { ready: false, reason: "first round: 2 of 3 edges not probed yet" };
  let results: unknown = { results: [{ probe: "web", status: "ok" }] };
  let flows: unknown = undefined;
  let judged: unknown = undefined;
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    server = await startServer({ registry, readiness: () => readiness, results: () => results, flows: (view) => (view === "judged" ? judged : flows), trafficOn: () => flows !== undefined }, { host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  it("listens on the loopback address it was given", () => {
    expect(server.address.address).toBe("127.0.0.1");
    expect(server.address.port).toBeGreaterThan(0);
  });

  it("/metrics: the registry in the Prometheus text format", async () => {
    const reply = await call(server.address.port, "GET", "/metrics");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe(registry.contentType);
    expect(reply.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(reply.body).toContain("# HELP netcanary_test_gauge A test gauge.\n# TYPE netcanary_test_gauge gauge\nnetcanary_test_gauge 7\n");
  });

  it("/healthz: ok", async () => {
    const reply = await call(server.address.port, "GET", "/healthz");
    expect([reply.status, reply.headers["content-type"], reply.body]).toEqual([200, "text/plain; charset=utf-8", "ok\n"]);
  });

  it("/readyz: 503 with the reason, then 200", async () => {
    readiness = { ready: false, reason: "first round: 2 of 3 edges not probed yet" };
    const notReady = await call(server.address.port, "GET", "/readyz");
    expect([notReady.status, notReady.headers["content-type"], notReady.body]).toEqual([503, "text/plain; charset=utf-8", "not ready: first round: 2 of 3 edges not probed yet\n"]);
    readiness = { ready: false };
    expect((await call(server.address.port, "GET", "/readyz")).body).toBe("not ready: starting\n");
    readiness = { ready: true };
    const ready = await call(server.address.port, "GET", "/readyz");
    expect([ready.status, ready.body]).toEqual([200, "ready\n"]);
  });

  it("/api/v1/results: the results document as JSON, not cached", async () => {
    results = { results: [{ probe: "web", status: "unexpected_block", signals: ["unexpected_block"] }] };
    const reply = await call(server.address.port, "GET", "/api/v1/results?pretty=1");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/json");
    expect(reply.headers["cache-control"]).toBe("no-store");
    expect(JSON.parse(reply.body)).toEqual(results);
  });

  it("/api/v1/flows: 404 saying so while traffic mapping is off, then the map as JSON", async () => {
    flows = undefined;
    const off = await call(server.address.port, "GET", "/api/v1/flows");
    expect([off.status, off.body]).toEqual([404, "traffic mapping is off (traffic.enabled in the config, docs/traffic.md)\n"]);
    flows = { apiVersion: "netcanary/v1", kind: "FlowMap", flows: [{ port: 443 }] };
    const on = await call(server.address.port, "GET", "/api/v1/flows");
    expect([on.status, on.headers["content-type"], on.headers["cache-control"]]).toEqual([200, "application/json", "no-store"]);
    expect(JSON.parse(on.body)).toEqual(flows);
  });

  it("/api/v1/flows?judged: the map as judged, 404 saying why before the first judgement and while mapping is off", async () => {
    flows = undefined;
    judged = undefined;
    const off = await call(server.address.port, "GET", "/api/v1/flows?judged");
    expect([off.status, off.body]).toEqual([404, "traffic mapping is off (traffic.enabled in the config, docs/traffic.md)\n"]);
    flows = { apiVersion: "netcanary/v1", kind: "FlowMap", flows: [] };
    const early = await call(server.address.port, "GET", "/api/v1/flows?judged");
    expect([early.status, early.body]).toEqual([404, "the traffic map has not been judged yet (after its first sample)\n"]);
    judged = { apiVersion: "netcanary/v1", kind: "JudgedFlowMap", flows: [], summary: { flows: 0 } };
    const on = await call(server.address.port, "GET", "/api/v1/flows?judged");
    expect([on.status, on.headers["content-type"]]).toEqual([200, "application/json"]);
    expect(JSON.parse(on.body)).toEqual(judged);
    expect(JSON.parse((await call(server.address.port, "GET", "/api/v1/flows")).body)).toEqual(flows);
  });

  it("/: the status page, which links every endpoint (its policy and files: page.test.ts)", async () => {
    const reply = await call(server.address.port, "GET", "/");
    expect([reply.status, reply.headers["content-type"]]).toEqual([200, "text/html; charset=utf-8"]);
    for (const endpoint of ["/metrics", "/healthz", "/readyz", "/api/v1/results"]) expect(reply.body).toContain(`href="${endpoint}"`);
  });

  it("unknown paths: 404", async () => {
    for (const path of ["/nope", "/metrics/", "/api/v1/results/x", "/api/v1/probe?target=10.0.0.1:22"]) {
      const reply = await call(server.address.port, "GET", path);
      expect([path, reply.status, reply.body]).toEqual([path, 404, "not found\n"]);
    }
  });

  it("methods other than GET and HEAD: 405 with Allow", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      const reply = await call(server.address.port, method, "/metrics");
      expect([method, reply.status, reply.headers["allow"], reply.body]).toEqual([method, 405, "GET, HEAD", "method not allowed\n"]);
    }
    const head = await call(server.address.port, "HEAD", "/healthz");
    expect([head.status, head.body]).toEqual([200, ""]);
  });

  it("a source that throws gives a 500, and the server keeps serving", async () => {
    const broken = await startServer(
      {
        registry,
        readiness: () => ({ ready: true }),
        results: () => {
          throw new Error("results exploded");
        },
      },
      { host: "127.0.0.1", port: 0 },
    );
    try {
      const reply = await call(broken.address.port, "GET", "/api/v1/results");
      expect([reply.status, reply.body]).toEqual([500, "internal error: results exploded\n"]);
      expect((await call(broken.address.port, "GET", "/healthz")).status).toBe(200);
    } finally {
      await broken.close();
    }
  });

  it("refuses to start on a port in use", async () => {
    await expect(startServer({ registry, readiness: () => readiness, results: () => results }, { host: "127.0.0.1", port: server.address.port })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe("parseListen", () => {
  it.each([
    [":9714", { host: "0.0.0.0", port: 9714 }],
    ["127.0.0.1:0", { host: "127.0.0.1", port: 0 }],
    ["localhost:8080", { host: "localhost", port: 8080 }],
    ["[::1]:9714", { host: "::1", port: 9714 }],
    ["[::]:80", { host: "::", port: 80 }],
  ])("%s", (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each(["9714", "::1:9714", "host:", "host:65536", "host:-1", "[::1]", "a:b:1", "host:80x", ""])("%j is refused", (text) => {
    expect(parseListen(text)).toBeUndefined();
  });
});

describe("acceptsGzip", () => {
  it.each(["gzip", "gzip, deflate, br", "deflate, GZIP;q=0.5", "x-gzip", "*", "identity, *;q=0.1", "br;q=1, gzip;q=0.001"])("%j takes gzip", (header) => {
    expect(acceptsGzip(header)).toBe(true);
  });

  it.each([undefined, "", "identity", "deflate, br", "gzip;q=0", "gzip;q=0.0, *", "*;q=0", "gzipped", "gzip;q=nonsense"])("%j does not", (header) => {
    expect(acceptsGzip(header)).toBe(false);
  });
});
