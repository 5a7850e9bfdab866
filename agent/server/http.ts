// The agent's HTTP endpoints. Read-only: no endpoint takes a probe target (or anything
// else that makes the agent send traffic) from a request.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not. */
  readonly reason?: string;
}

export interface ServerSources {
  readonly registry: Registry;
  readiness(): Readiness;
  /** The /api/v1/results document, optionally only the edges of one probe or in one status. */
  results(filter?: ResultsFilter): unknown;
}

export interface ResultsFilter {
  readonly probe?: string;
  readonly status?: string;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** "host:port", ":port" (all interfaces) or "[v6]:port". */
export function parseListen(text: string): ListenAddress | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  response.end(body);
}

async function handle(sources: ServerSources, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("allow", "GET, HEAD");
    send(response, 405, "text/plain; charset=utf-8", "method not allowed\n");
    return;
  }
  const url = new URL(request.url ?? "/", "http://localhost");
  switch (url.pathname) {
    case "/metrics": {
      const body = await sources.registry.metrics();
      send(response, 200, sources.registry.contentType, body);
      return;
    }
    case "/healthz":
      send(response, 200, "text/plain; charset=utf-8", "ok\n");
      return;
    case "/readyz": {
      const readiness = sources.readiness();
      send(response, readiness.ready ? 200 : 503, "text/plain; charset=utf-8", readiness.ready ? "ready\n" : `not ready: ${readiness.reason ?? "starting"}\n`);
      return;
    }
    case "/api/v1/results": {
      // Filters narrow what is shown; nothing in a request changes what is probed.
      const probe = url.searchParams.get("probe");
      const status = url.searchParams.get("status");
      const filter: ResultsFilter = { ...(probe !== null ? { probe } : {}), ...(status !== null ? { status } : {}) };
      send(response, 200, "application/json", `${JSON.stringify(sources.results(filter), null, 2)}\n`);
      return;
    }
    case "/":
      send(response, 200, "text/plain; charset=utf-8", "netcanary\n\n/metrics\n/healthz\n/readyz\n/api/v1/results\n");
      return;
    default:
      send(response, 404, "text/plain; charset=utf-8", "not found\n");
  }
}

export async function startServer(sources: ServerSources, listen: ListenAddress): Promise<{ server: Server; address: AddressInfo; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    handle(sources, request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, "text/plain; charset=utf-8", `internal error: ${error instanceof Error ? error.message : String(error)}\n`);
      else response.destroy();
    });
  });
  // Slow or idle clients must not hold sockets forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
