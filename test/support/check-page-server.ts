// A stand-in for Zscaler's check page (ip.zscaler.com) on loopback (or a lab pod's address): plain HTTP serving the
// fixture pages of test/fixtures/zscaler-check-page. In mode "via" it serves the via page,
// in "not_via" the not-via page, and in "auto" it decides as the old page did: via when the
// request carries an X-Forwarded-For header (which the lab gateway adds), else not via.
// "?json" serves the JSON form when via (404 otherwise: its not-via shape is not known).
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";

export type CheckPageMode = "via" | "not_via" | "auto";

export function checkPageFixture(name: string): string {
  return readFileSync(join(import.meta.dirname, "..", "fixtures", "zscaler-check-page", name), "utf8");
}

export class CheckPageServer {
  mode: CheckPageMode;
  readonly requests: { readonly url: string; readonly headers: IncomingHttpHeaders; served: "via" | "not_via" | "none" }[] = [];
  private readonly sockets = new Set<Socket>();
  private port = 0;

  private constructor(
    private readonly server: Server,
    mode: CheckPageMode,
  ) {
    this.mode = mode;
  }

  /** host: the address it listens on (default 127.0.0.1; a lab pod's address inside its namespace). */
  static async start(mode: CheckPageMode = "auto", host = "127.0.0.1"): Promise<CheckPageServer> {
    const pages = { via: checkPageFixture("via.html"), not_via: checkPageFixture("not-via.html"), json: checkPageFixture("via.json") };
    const server = createServer();
    const checkPage = new CheckPageServer(server, mode);
    server.on("connection", (socket: Socket) => {
      checkPage.sockets.add(socket);
      socket.on("close", () => checkPage.sockets.delete(socket));
    });
    server.on("request", (request, response) => {
      const via = checkPage.mode === "via" || (checkPage.mode === "auto" && request.headers["x-forwarded-for"] !== undefined);
      const record = { url: request.url ?? "", headers: request.headers, served: "none" as "via" | "not_via" | "none" };
      checkPage.requests.push(record);
      const json = (request.url ?? "").endsWith("?json");
      if (json && !via) {
        response.writeHead(404).end();
        return;
      }
      record.served = via ? "via" : "not_via";
      if (json) response.writeHead(200, { "content-type": "application/json" }).end(pages.json);
      else response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(via ? pages.via : pages.not_via);
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    checkPage.port = (server.address() as AddressInfo).port;
    return checkPage;
  }

  get listenPort(): number {
    return this.port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
