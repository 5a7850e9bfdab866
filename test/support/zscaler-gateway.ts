// An explicit proxy that behaves like a Zscaler gateway (gateway.<cloud>:80/9400) for the
// HTTP prober and the lab:
// - CONNECT host:port: a tunnel to the upstream the test maps the name to (200 Connection
//   established, then bytes both ways), or, for inspected hosts, the tunnel handed to a
//   TlsInspector; 502 when the upstream cannot be reached;
// - absolute-form requests ("GET http://host/path"): forwarded to the upstream with an
//   X-Forwarded-For header added (as a Zscaler location can be set to), the answer relayed;
// - blocked hosts: HTTP 403 with a Zscaler-like block page, for CONNECT and plain requests;
// - a forced CONNECT status (407 with Proxy-Authenticate, 502, ...) for proxy failures.
// Names are never resolved: the test maps each one to a loopback upstream. Every request is
// recorded; close() destroys every socket, client and upstream.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, isIP, type AddressInfo, type Socket } from "node:net";
import type { TlsInspector, Upstream } from "./tls-inspector.js";
import { zscalerBlockPageHtml } from "./zscaler-block-page.js";

export interface GatewayOptions {
  /** Host name (as the client asks for it) to where the gateway connects. IP literals go as given. */
  readonly upstreams: Readonly<Record<string, Upstream>>;
  /** Hosts answered with the block page. */
  readonly blocked?: readonly string[];
  /** Hosts whose CONNECT tunnels the inspector terminates. */
  readonly inspect?: { readonly inspector: TlsInspector; readonly hosts: readonly string[] };
  /** The address it listens on (default 127.0.0.1; a lab pod's address inside its namespace). */
  readonly host?: string;
}

export interface GatewayRequest {
  readonly kind: "connect" | "forward";
  /** "host:port" for CONNECT, the absolute URL for a forwarded request. */
  readonly target: string;
  readonly headers: IncomingMessage["headers"];
  /** What the gateway did: "tunnel", "inspect", "blocked", "forwarded", or the status it answered. */
  outcome: string;
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway", 503: "Service Unavailable" };

export class ZscalerGateway {
  readonly requests: GatewayRequest[] = [];
  /** When set, every CONNECT is answered with this status. */
  connectStatus: number | undefined;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: GatewayOptions,
  ) {}

  static async start(options: GatewayOptions): Promise<ZscalerGateway> {
    const server = createServer();
    const gateway = new ZscalerGateway(server, options);
    server.on("connection", (socket: Socket) => gateway.track(socket));
    server.on("request", (request: IncomingMessage, response: ServerResponse) => gateway.forward(request, response));
    server.on("connect", (request: IncomingMessage, socket: Socket, head: Buffer) => gateway.tunnel(request, socket, head));
    server.on("clientError", (_error, socket: Socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, options.host ?? "127.0.0.1", resolve));
    gateway.port = (server.address() as AddressInfo).port;
    return gateway;
  }

  get listenPort(): number {
    return this.port;
  }

  /** "http://<host>:<port>": the prober's proxy setting. */
  get proxyUrl(): string {
    return `http://${this.options.host ?? "127.0.0.1"}:${this.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  }

  private upstreamOf(host: string, port: number): Upstream | undefined {
    const bare = host.startsWith("[") ? host.slice(1, -1) : host;
    if (isIP(bare) !== 0) return { host: bare, port };
    return this.options.upstreams[bare.toLowerCase()];
  }

  private blocked(host: string): boolean {
    return (this.options.blocked ?? []).includes(host.toLowerCase());
  }

  private tunnel(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const authority = request.url ?? "";
    const record: GatewayRequest = { kind: "connect", target: authority, headers: request.headers, outcome: "" };
    this.requests.push(record);
    const colon = authority.lastIndexOf(":");
    const host = colon > 0 ? authority.slice(0, colon) : authority;
    const port = Number(authority.slice(colon + 1));
    const answer = (status: number, extra: Record<string, string> = {}, body = ""): void => {
      record.outcome = String(status);
      const headers = Object.entries({ ...extra, "content-length": String(Buffer.byteLength(body)), connection: "close" })
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("");
      socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\n${headers}\r\n${body}`);
    };
    if (this.connectStatus !== undefined) {
      answer(this.connectStatus, this.connectStatus === 407 ? { "proxy-authenticate": 'Basic realm="lab"' } : {}, "proxy says no\n");
      return;
    }
    if (this.blocked(host)) {
      answer(403, { "content-type": "text/html" }, zscalerBlockPageHtml(host));
      record.outcome = "blocked";
      return;
    }
    const inspect = this.options.inspect;
    if (inspect !== undefined && inspect.hosts.includes(host.toLowerCase())) {
      record.outcome = "inspect";
      socket.write("HTTP/1.1 200 Connection established\r\n\r\n");
      inspect.inspector.inspect(socket, head);
      return;
    }
    const upstream = Number.isInteger(port) ? this.upstreamOf(host, port) : undefined;
    if (upstream === undefined) {
      answer(502, {}, "no upstream\n");
      return;
    }
    const origin = connect(upstream.port, upstream.host);
    this.track(origin);
    origin.once("connect", () => {
      record.outcome = "tunnel";
      socket.write("HTTP/1.1 200 Connection established\r\n\r\n");
      if (head.length > 0) origin.write(head);
      socket.pipe(origin);
      origin.pipe(socket);
    });
    origin.once("error", () => {
      if (record.outcome === "") answer(502, {}, "upstream unreachable\n");
    });
    origin.on("close", () => socket.destroy());
    socket.on("close", () => origin.destroy());
  }

  private forward(request: IncomingMessage, response: ServerResponse): void {
    const target = request.url ?? "";
    const record: GatewayRequest = { kind: "forward", target, headers: request.headers, outcome: "" };
    this.requests.push(record);
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      record.outcome = "400";
      response.writeHead(400).end("absolute-form requests only\n");
      return;
    }
    if (this.blocked(url.hostname)) {
      record.outcome = "blocked";
      response.writeHead(403, { "content-type": "text/html" }).end(zscalerBlockPageHtml(url.hostname));
      return;
    }
    const upstream = this.upstreamOf(url.hostname, url.port === "" ? 80 : Number(url.port));
    if (upstream === undefined) {
      record.outcome = "502";
      response.writeHead(502).end("no upstream\n");
      return;
    }
    const client = request.socket.remoteAddress ?? "127.0.0.1";
    const upstreamRequest = httpRequest({ host: upstream.host, port: upstream.port, method: request.method, path: `${url.pathname}${url.search}`, headers: { ...request.headers, "x-forwarded-for": client } });
    upstreamRequest.on("socket", (socket: Socket) => this.track(socket));
    upstreamRequest.on("response", (upstreamResponse: IncomingMessage) => {
      record.outcome = "forwarded";
      response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
      upstreamResponse.pipe(response);
    });
    upstreamRequest.on("error", () => {
      record.outcome = "502";
      if (!response.headersSent) response.writeHead(502).end("upstream unreachable\n");
      else response.destroy();
    });
    request.pipe(upstreamRequest);
  }
}
