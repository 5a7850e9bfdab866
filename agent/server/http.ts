// The agent's HTTP endpoints. Read-only: no endpoint takes a probe target (or anything
// else that makes the agent send traffic) from a request. What grows with the edges (/metrics,
// /api/v1/results) is written in slices of the event loop, never in one block, so serving it
// cannot starve the probes: compressed /metrics builds are shared by all scrapers
// (exposition.ts); uncompressed ones and results documents are streamed, a few at a time
// (each results document holds a copy of every edge's result while it is written), with a
// bounded line: a request beyond it is answered 503 at once (gate.ts). Connections are
// bounded in number and in idle time, and a new one always gets in: the one that does least
// for its client makes room (connections.ts, which also says what is left). So /healthz,
// /readyz and a gzip /metrics scrape are answered whatever else is connected. The status
// page ("/", page.ts) is small static files, answered like /healthz; its JSON
// (/api/v1/status) grows with the edges and takes its turn in the results gate.

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer } from "../runtime/http.js";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { slices } from "../schedule/slices.js";
import { PacedWriter } from "./chunks.js";
import { CONNECTION_LIMITS, type ConnectionGuard, type ConnectionLimits, guardConnections } from "./connections.js";
import { SharedExposition } from "./exposition.js";
import { Gate, type Turn } from "./gate.js";
import { writeJson } from "./json.js";
import { PAGE_HEADERS, pageFile } from "./page.js";

/**
 * The JSON endpoints this server answers: the status document lists them, so the status page
 * asks only for what is there (a route added below is added here).
 */
export const JSON_ENDPOINTS: readonly string[] = ["/api/v1/results", "/api/v1/status", "/api/v1/coverage"];
/** Listed beside them while it answers (traffic mapping on), so the page draws the map only then. */
export const FLOWS_ENDPOINT = "/api/v1/flows";

/** The JSON endpoints that answer now (asked without building the map: the page polls this). */
export function jsonEndpoints(sources: Pick<ServerSources, "trafficOn">): readonly string[] {
  return sources.trafficOn?.() === true ? [...JSON_ENDPOINTS, FLOWS_ENDPOINT] : JSON_ENDPOINTS;
}

/** Results documents written at once; more requests wait their turn. */
export const RESULTS_AT_ONCE = 2;
/**
 * Requests that may wait their turn, per gate; more are answered 503 at once. Room for a few
 * people and tools asking at once (each waiting request costs only its connection, and
 * waiting ones are the first closed when connections run short).
 */
export const RESULTS_WAITING = 8;
/** Uncompressed /metrics texts written at once (each is a build of its own). */
export const PLAIN_METRICS_AT_ONCE = 1;
export const PLAIN_METRICS_WAITING = 8;

export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not. */
  readonly reason?: string;
}

export interface ServerSources {
  readonly registry: Registry;
  /** A count that grows when a verdict changes: /metrics follows it sooner (exposition.ts). */
  readonly verdictChanges?: () => number;
  readiness(): Readiness;
  /** The /api/v1/results document, optionally only the edges of one probe or in one status. */
  results(filter?: ResultsFilter): unknown;
  /** The /api/v1/status document (the status page's), optionally one probe's; absent, the endpoint answers 404. */
  status?(filter: { readonly probe?: string }): unknown;
  /**
   * The /api/v1/flows document: the map as recorded (traffic/flow.ts FlowMap), or with
   * ?judged, as judged at the last sample (traffic/report.ts JudgedFlowMap); undefined while
   * traffic mapping is off (or, judged, before its first sample).
   */
  flows?(view: FlowsView): unknown;
  /** Whether traffic mapping is on: cheap, unlike flows() (which copies and sorts every flow). */
  trafficOn?(): boolean;
  /** The /api/v1/coverage document (derive/coverage.ts); without it, 404. */
  coverage?(): unknown;
  /** The /api/v1/inbound document (agent --inbound); absent: not enabled. */
  inbound?(): unknown;
}

export type FlowsView = "map" | "judged";

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

/** Does an Accept-Encoding header admit gzip (RFC 9110: by name or by *, with q above 0)? */
export function acceptsGzip(header: string | undefined): boolean {
  const weights = new Map<string, number>();
  for (const part of (header ?? "").split(",")) {
    const [coding = "", ...parameters] = part.split(";").map((piece) => piece.trim().toLowerCase());
    if (coding === "") continue;
    const q = parameters.find((parameter) => parameter.startsWith("q="));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(coding === "x-gzip" ? "gzip" : coding, Number.isFinite(weight) ? weight : 0);
  }
  return (weights.get("gzip") ?? weights.get("*") ?? 0) > 0;
}

/**
 * To a client that takes gzip (Prometheus does), the shared compressed exposition as it is:
 * never copied, whoever asks. To one that does not, the text written afresh straight into
 * the response, paced, one such response at a time: memory stays a few chunks whatever the
 * text's size (decompressing the kept text instead cost tens of MiB for a few such clients).
 */
async function sendExposition(request: IncomingMessage, response: ServerResponse, { exposition, plainMetrics: plain, guard }: Handlers, gone: () => boolean): Promise<void> {
  const headers = { "content-type": exposition.contentType, "cache-control": "no-store", vary: "Accept-Encoding" };
  if (acceptsGzip(request.headers["accept-encoding"])) {
    const text = await exposition.text();
    response.writeHead(200, { ...headers, "content-length": text.gzipBytes, "content-encoding": "gzip" });
    if (request.method !== "HEAD") {
      const output = guard.output(response);
      for (const chunk of text.gzip) output.write(chunk, () => undefined);
    }
    response.end();
    return;
  }
  if (request.method === "HEAD") {
    response.writeHead(200, headers);
    response.end();
    return;
  }
  const turn = await plain.run(response, async () => {
    if (gone()) return;
    response.writeHead(200, headers);
    const writer = new PacedWriter(slices, guard.output(response));
    await exposition.render(writer);
    writer.end();
    response.end();
  });
  answerTurn(turn, response, plain, "texts");
}

/** A request that found no room in its gate: 503 at once, saying why; the others are answered already. */
function answerTurn(turn: Turn, response: ServerResponse, gate: Gate, what: string): void {
  switch (turn) {
    case "done":
    case "gone":
      return;
    case "full":
      response.setHeader("retry-after", "1");
      send(response, 503, "text/plain; charset=utf-8", `busy: ${gate.turns} ${what} being written and ${gate.places} waiting; try again later\n`);
      return;
  }
}

/** A document that grows with the edges (results, status), streamed (chunked) as it is written, paced. */
async function sendDocument({ guard }: Handlers, build: () => unknown, response: ServerResponse, gone: () => boolean): Promise<void> {
  // The client may have gone while waiting its turn: nothing to write, then.
  if (gone()) return;
  const document = build();
  response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
  if (response.req.method === "HEAD") {
    response.end();
    return;
  }
  const writer = new PacedWriter(slices, guard.output(response));
  await writeJson(document, writer);
  writer.write("\n");
  writer.end();
  response.end();
}

interface Handlers {
  readonly sources: ServerSources;
  readonly exposition: SharedExposition;
  readonly results: Gate;
  readonly plainMetrics: Gate;
  readonly guard: ConnectionGuard;
}

async function handle(handlers: Handlers, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const { sources, results } = handlers;
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("allow", "GET, HEAD");
    send(response, 405, "text/plain; charset=utf-8", "method not allowed\n");
    return;
  }
  const url = new URL(request.url ?? "/", "http://localhost");
  // Long answers may wait their turn: one whose client has gone is not written.
  let closed = false;
  response.once("close", () => (closed = true));
  const gone = () => closed;
  switch (url.pathname) {
    case "/metrics":
      await sendExposition(request, response, handlers, gone);
      return;
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
      answerTurn(await results.run(response, () => sendDocument(handlers, () => sources.results(filter), response, gone)), response, results, "documents");
      return;
    }
    case "/api/v1/coverage": {
      const coverage = sources.coverage?.bind(sources);
      if (coverage) answerTurn(await results.run(response, () => sendDocument(handlers, coverage, response, gone)), response, results, "documents");
      else send(response, 404, "text/plain; charset=utf-8", "not found\n");
      return;
    }
    case "/api/v1/inbound": {
      // Grows with the exposed Services the agent holds: in its turn and paced, as the other documents.
      const inbound = sources.inbound?.bind(sources);
      if (inbound) answerTurn(await results.run(response, () => sendDocument(handlers, inbound, response, gone)), response, results, "documents");
      else send(response, 404, "text/plain; charset=utf-8", "not enabled (netcanary agent --inbound)\n");
      return;
    }
    case "/api/v1/status": {
      const status = sources.status?.bind(sources);
      if (!status) break;
      const probe = url.searchParams.get("probe");
      const document = () => ({ ...(status(probe !== null ? { probe } : {}) as object), endpoints: jsonEndpoints(sources) });
      answerTurn(await results.run(response, () => sendDocument(handlers, document, response, gone)), response, results, "documents");
      return;
    }
    case FLOWS_ENDPOINT: {
      const view: FlowsView = url.searchParams.has("judged") ? "judged" : "map";
      const flows = sources.flows?.bind(sources);
      if (!flows || sources.trafficOn?.() !== true) {
        send(response, 404, "text/plain; charset=utf-8", "traffic mapping is off (traffic.enabled in the config, docs/traffic.md)\n");
        return;
      }
      // The map is built (every flow copied and sorted) only in its turn, never for a request turned away.
      const outcome = await results.run(response, async () => {
        if (gone()) return;
        const map = flows(view);
        if (map === undefined) send(response, 404, "text/plain; charset=utf-8", "the traffic map has not been judged yet (after its first sample)\n");
        else await sendDocument(handlers, () => map, response, gone);
      });
      answerTurn(outcome, response, results, "documents");
      return;
    }
  }
  // The status page (page.ts): static files with their own headers; the rest is not found.
  const page = pageFile(url.pathname);
  if (page) {
    response.writeHead(200, { ...PAGE_HEADERS, "content-type": page.type, "content-length": Buffer.byteLength(page.body) });
    response.end(request.method === "HEAD" ? undefined : page.body);
    return;
  }
  send(response, 404, "text/plain; charset=utf-8", "not found\n");
}

export interface ServerOptions {
  /** Bounds on connections (default CONNECTION_LIMITS); tests use smaller ones. */
  readonly limits?: ConnectionLimits;
}

export async function startServer(
  sources: ServerSources,
  listen: ListenAddress,
  options: ServerOptions = {},
): Promise<{ server: Server; address: AddressInfo; exposition: SharedExposition; connections: ConnectionGuard; close(): Promise<void> }> {
  const limits = options.limits ?? CONNECTION_LIMITS;
  const exposition = new SharedExposition(sources.registry, sources.verdictChanges ? { verdictChanges: sources.verdictChanges } : {});
  const server = createServer();
  const guard = guardConnections(server, limits);
  const handlers: Handlers = {
    sources,
    exposition,
    results: new Gate(RESULTS_AT_ONCE, RESULTS_WAITING, guard),
    plainMetrics: new Gate(PLAIN_METRICS_AT_ONCE, PLAIN_METRICS_WAITING, guard),
    guard,
  };
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    guard.request(request, response);
    handle(handlers, request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, "text/plain; charset=utf-8", `internal error: ${error instanceof Error ? error.message : String(error)}\n`);
      else response.destroy();
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(listen.port, listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    guard.stop();
    throw error;
  }
  return {
    server,
    address: server.address() as AddressInfo,
    exposition,
    connections: guard,
    close: () =>
      new Promise<void>((resolve) => {
        guard.stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
