// A loopback origin web server (HTTP, or HTTPS with a given certificate) with routes of known
// behaviour, for the HTTP prober and the lab:
//   /                 200 "netcanary origin"
//   /status/<n>       status n with a short body
//   /redirect         302 to a URL that carries credentials and a token (which must not be echoed)
//   /bytes/<n>        n bytes of body, written in 16 KiB chunks as the client reads
//   /hang             accepts the request and never answers
//   /trickle          sends the head, then one byte every 50 ms until the client goes
//   /secret-header    200 with a header value full of control characters
//   /huge-head        200 with a 20 KiB header (over the prober's head limit)
//   /blockpage        403 with a Zscaler-like block page (as a proxy's inspection would serve)
// Every request is recorded: method, URL, headers, body bytes written, whether the client
// went away before the body was complete. close() destroys every socket and timer.
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { zscalerBlockPageHtml } from "./zscaler-block-page.js";

export interface OriginRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  bytesWritten: number;
  closedEarly: boolean;
}

export interface HttpOrigin {
  readonly port: number;
  /** "http://127.0.0.1:<port>" or "https://..." */
  readonly url: string;
  readonly requests: OriginRequest[];
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(16 * 1024, 0x61);

export async function startHttpOrigin(options: { readonly tls?: { readonly certPem: string; readonly keyPem: string }; readonly host?: string } = {}): Promise<HttpOrigin> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const requests: OriginRequest[] = [];
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    const record: OriginRequest = { method: request.method ?? "", url: request.url ?? "", headers: request.headers, bytesWritten: 0, closedEarly: false };
    requests.push(record);
    response.on("close", () => {
      if (!response.writableFinished) record.closedEarly = true;
    });
    const url = record.url;
    const status = /^\/status\/(\d{3})$/.exec(url);
    const bytes = /^\/bytes\/(\d{1,9})$/.exec(url);
    if (url === "/") {
      response.writeHead(200, { "content-type": "text/plain" }).end("netcanary origin\n");
    } else if (status) {
      response.writeHead(Number(status[1]), { "content-type": "text/plain" }).end(`status ${status[1]}\n`);
    } else if (url === "/redirect") {
      response.writeHead(302, { location: "https://user:hunter2@login.example/next?token=s3cret" }).end();
    } else if (bytes) {
      const total = Number(bytes[1]);
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(total) });
      const pump = (): void => {
        while (record.bytesWritten < total) {
          const size = Math.min(CHUNK.length, total - record.bytesWritten);
          record.bytesWritten += size;
          if (!response.write(CHUNK.subarray(0, size))) {
            response.once("drain", pump);
            return;
          }
        }
        response.end();
      };
      if (request.method === "HEAD") response.end();
      else pump();
    } else if (url === "/hang") {
      // Never answers; close() destroys the socket.
    } else if (url === "/trickle") {
      response.writeHead(200, { "content-type": "text/plain" });
      const timer = setInterval(() => {
        record.bytesWritten += 1;
        response.write("x");
      }, 50);
      timers.add(timer);
      response.on("close", () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    } else if (url === "/secret-header") {
      response.writeHead(200, { "x-note": "line\u0007bell", "content-type": "text/plain" }).end("ok\n");
    } else if (url === "/huge-head") {
      response.writeHead(200, { "x-filler": "f".repeat(20 * 1024) }).end("ok\n");
    } else if (url === "/blockpage") {
      response.writeHead(403, { "content-type": "text/html" }).end(zscalerBlockPageHtml("origin.test"));
    } else {
      response.writeHead(404).end();
    }
  };
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handler) : createHttpServer(handler);
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // The raw TCP sockets too (a TLS handshake that never completes is still a socket).
  if (options.tls) {
    server.on("connection", (socket: Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
  }
  server.on("clientError", (_error, socket: Socket) => socket.destroy());
  server.on("tlsClientError", () => undefined);
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${options.tls ? "https" : "http"}://${host}:${port}`,
    requests,
    async close(): Promise<void> {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
