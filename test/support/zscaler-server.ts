// A local stand-in for config.zscaler.com: plain HTTP on 127.0.0.1 serving the fixture payloads
// of test/fixtures/zscaler at the real paths (/api/<cloud>/cenr/json, ...), with per-path
// faults for the fetcher and updater tests:
//   ETag and Last-Modified with 304 handling (either can be turned off), forced statuses
//   (persistent or a queue for the next requests, with Retry-After), a delay before the headers,
//   a body that trickles in chunks, an HTML page with 200, a truncated body, an inflated (10x)
//   payload, gzip, and replacing a payload at runtime. Every request is recorded with its
//   headers, the status sent, the body bytes written and whether the client went away first.
// Also a tiny forward proxy (absolute-URI GETs over plain HTTP, no CONNECT) for proxy tests.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

/** The real API paths and the fixture each serves. */
export const ZSCALER_PATHS = {
  cenr: "/api/zscaler.net/cenr/json",
  "hubs-required": "/api/zscaler.net/hubs/cidr/json/required",
  "hubs-recommended": "/api/zscaler.net/hubs/cidr/json/recommended",
  future: "/api/zscaler.net/future/json",
  svpn: "/api/zscaler.net/svpn/json",
  zpa: "/api/private.zscaler.com/zpa/json",
} as const;

const FIXTURE_FILES: Record<string, string> = {
  [ZSCALER_PATHS.cenr]: "cenr-zscaler.net.json",
  [ZSCALER_PATHS["hubs-required"]]: "hubs-cidr-json-required-zscaler.net.json",
  [ZSCALER_PATHS["hubs-recommended"]]: "hubs-cidr-json-recommended-zscaler.net.EXTENDED.json",
  [ZSCALER_PATHS.future]: "future-zscaler.net.json",
  [ZSCALER_PATHS.svpn]: "svpn-zscaler.net.EXTENDED.json",
  [ZSCALER_PATHS.zpa]: "SYNTHETIC-zpa-private.zscaler.com.json",
};

export function fixturePayload(path: string): string {
  const file = FIXTURE_FILES[path];
  if (!file) throw new Error(`no fixture for ${path}`);
  return readFileSync(join(import.meta.dirname, "..", "fixtures", "zscaler", file), "utf8");
}

export interface PathControl {
  /** Answer every request with this status (an HTML error page as body). */
  status?: number;
  /** Statuses for the next requests, one each, then normal service. */
  statusQueue?: number[];
  /** Retry-After header on forced statuses. */
  retryAfter?: string;
  /** Send an ETag (default true: a hash of the body) and honour If-None-Match. */
  etag?: boolean;
  /** Send Last-Modified (default true) and honour If-Modified-Since. */
  lastModified?: boolean;
  /** Wait this long before sending the status line and headers. */
  headerDelayMs?: number;
  /** Send the body in chunks of chunkBytes every intervalMs (no Content-Length). */
  trickle?: { chunkBytes: number; intervalMs: number };
  /** Answer 200 with an HTML page (a login or error page in front of the API). */
  html?: boolean;
  /** Send only this fraction (0 to 1) of the body, with a matching Content-Length. */
  truncate?: number;
  /** Pad the (valid JSON) body with whitespace to this many times its size. */
  inflate?: number;
  /** gzip the body (Content-Encoding: gzip). */
  gzip?: boolean;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly at: number;
  status?: number;
  /** Body bytes handed to the socket. */
  bytesSent: number;
  /** Body bytes this response would have sent in full. */
  bodyBytes: number;
  /** The whole response was written. */
  completed: boolean;
  /** The client closed the connection before the response was complete. */
  closedEarly: boolean;
}

interface PathState {
  body: string;
  lastModified: Date;
  control: PathControl;
}

export class ZscalerServer {
  private readonly server: Server;
  private readonly paths = new Map<string, PathState>();
  private readonly records: RecordedRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private port = 0;
  private active = 0;
  /** The most requests in progress at once since start (or clearRequests). */
  maxConcurrent = 0;

  private constructor() {
    this.server = createServer((req, res) => this.handle(req.method ?? "GET", req.url ?? "/", req.headers, res));
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    for (const path of Object.values(ZSCALER_PATHS)) {
      this.paths.set(path, { body: fixturePayload(path), lastModified: new Date(Date.UTC(2026, 7, 21, 10, 0, 0)), control: {} });
    }
  }

  static async start(): Promise<ZscalerServer> {
    const server = new ZscalerServer();
    await new Promise<void>((resolve) => server.server.listen(0, "127.0.0.1", resolve));
    server.port = (server.server.address() as AddressInfo).port;
    return server;
  }

  /** http://127.0.0.1:<port>/api: the base URL for FetchOptions. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Replaces what a path serves (a new ETag and Last-Modified follow). */
  setPayload(path: string, body: string): void {
    const state = this.state(path);
    state.body = body;
    state.lastModified = new Date(Math.max(Date.now(), state.lastModified.getTime() + 1000));
  }

  payload(path: string): string {
    return this.state(path).body;
  }

  /** Merges faults into a path's control; pass undefined values to clear single ones. */
  control(path: string, control: PathControl): void {
    const state = this.state(path);
    state.control = { ...state.control, ...control };
  }

  /** Back to normal service of the current payload. */
  reset(path?: string): void {
    for (const [key, state] of this.paths) if (path === undefined || key === path) state.control = {};
  }

  requests(path?: string): RecordedRequest[] {
    return this.records.filter((r) => path === undefined || r.path === path);
  }

  count(path?: string): number {
    return this.requests(path).length;
  }

  clearRequests(): void {
    this.records.length = 0;
    this.maxConcurrent = this.active;
  }

  /** Client connections open right now. */
  openConnections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private state(path: string): PathState {
    let state = this.paths.get(path);
    if (!state) {
      state = { body: "", lastModified: new Date(Date.UTC(2026, 7, 21, 10, 0, 0)), control: {} };
      this.paths.set(path, state);
    }
    return state;
  }

  private later(ms: number, action: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private handle(method: string, url: string, headers: IncomingHttpHeaders, res: ServerResponse): void {
    const path = new URL(url, "http://localhost").pathname;
    const record: RecordedRequest = { method, path, headers, at: Date.now(), bytesSent: 0, bodyBytes: 0, completed: false, closedEarly: false };
    this.records.push(record);
    this.active++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.active);
    res.on("close", () => {
      this.active--;
      if (!record.completed) record.closedEarly = true;
    });
    const state = this.paths.get(path);
    const control = state?.control ?? {};
    const send = (): void => {
      if (res.destroyed) return;
      if (!state) return this.respond(res, record, 404, {}, errorPage(404, "Not Found"));
      const forced = control.statusQueue?.shift() ?? control.status;
      if (forced !== undefined) {
        return this.respond(res, record, forced, control.retryAfter ? { "retry-after": control.retryAfter } : {}, errorPage(forced, "Error"));
      }
      if (method !== "GET") return this.respond(res, record, 405, { allow: "GET" }, errorPage(405, "Method Not Allowed"));

      let body = control.html ? loginPage() : state.body;
      if (control.inflate && control.inflate > 1) body = body + " ".repeat(Math.ceil(body.length * (control.inflate - 1)));
      let bytes: Buffer = Buffer.from(body, "utf8");
      if (control.gzip) bytes = gzipSync(bytes);
      if (control.truncate !== undefined) bytes = bytes.subarray(0, Math.floor(bytes.length * control.truncate));
      // The tag names what is sent, so a broken variant is a different entity from the good one.
      const etag = `"${createHash("sha1").update(bytes).digest("hex").slice(0, 16)}"`;
      const validators: Record<string, string> = {};
      if (control.etag !== false) validators["etag"] = etag;
      if (control.lastModified !== false) validators["last-modified"] = state.lastModified.toUTCString();
      const ifNoneMatch = headers["if-none-match"];
      const ifModifiedSince = headers["if-modified-since"];
      if (control.etag !== false && ifNoneMatch !== undefined) {
        if (ifNoneMatch.split(",").some((tag) => tag.trim() === etag || tag.trim() === "*")) return this.respond(res, record, 304, validators, "");
      } else if (control.lastModified !== false && ifModifiedSince !== undefined) {
        const since = Date.parse(ifModifiedSince);
        if (!Number.isNaN(since) && Math.floor(state.lastModified.getTime() / 1000) <= Math.floor(since / 1000)) {
          return this.respond(res, record, 304, validators, "");
        }
      }
      const extra: Record<string, string> = { ...validators, "content-type": control.html ? "text/html; charset=utf-8" : "application/json" };
      if (control.gzip) extra["content-encoding"] = "gzip";
      if (control.trickle) return this.trickle(res, record, extra, bytes, control.trickle);
      return this.respond(res, record, 200, extra, bytes);
    };
    if (control.headerDelayMs) this.later(control.headerDelayMs, send);
    else send();
  }

  private respond(res: ServerResponse, record: RecordedRequest, status: number, headers: Record<string, string>, body: string | Buffer): void {
    const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
    record.status = status;
    record.bodyBytes = bytes.length;
    res.writeHead(status, { ...headers, ...(status === 304 ? {} : { "content-length": String(bytes.length) }) });
    res.end(status === 304 ? undefined : bytes, () => {
      record.bytesSent = bytes.length;
      record.completed = true;
    });
  }

  private trickle(res: ServerResponse, record: RecordedRequest, headers: Record<string, string>, bytes: Buffer, trickle: { chunkBytes: number; intervalMs: number }): void {
    record.status = 200;
    record.bodyBytes = bytes.length;
    res.writeHead(200, headers);
    let offset = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (offset >= bytes.length) {
        res.end(() => {
          record.completed = true;
        });
        return;
      }
      const chunk = bytes.subarray(offset, offset + trickle.chunkBytes);
      offset += chunk.length;
      res.write(chunk, (error) => {
        if (!error) record.bytesSent += chunk.length;
      });
      this.later(trickle.intervalMs, next);
    };
    next();
  }
}

function errorPage(status: number, text: string): string {
  return `<!DOCTYPE html>\n<html><head><title>${status} ${text}</title></head><body><h1>${status} ${text}</h1><p>The server could not complete your request.</p></body></html>\n`;
}

function loginPage(): string {
  return `<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head><body><form method="post"><input name="user"></form></body></html>\n`;
}

// ---------------------------------------------------------------------------------------------

export interface ForwardProxy {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** The request targets it received ("http://127.0.0.1:1234/api/..."), in order. */
  readonly targets: string[];
  /** Proxy-Authorization headers received. */
  readonly authorizations: (string | undefined)[];
  close(): Promise<void>;
}

/** A forward proxy for plain HTTP: takes absolute-URI requests and relays them (no CONNECT). */
export async function startForwardProxy(): Promise<ForwardProxy> {
  const targets: string[] = [];
  const authorizations: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    const target = req.url ?? "";
    targets.push(target);
    authorizations.push(req.headers["proxy-authorization"]);
    let url: URL;
    try {
      url = new URL(target);
      if (url.protocol !== "http:") throw new Error("only http");
    } catch {
      res.writeHead(400).end("absolute http URI expected");
      return;
    }
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    const upstream = httpRequest(url, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  server.on("connect", (_req, socket: Socket) => {
    socket.end("HTTP/1.1 405 Method Not Allowed\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    targets,
    authorizations,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
