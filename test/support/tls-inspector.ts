// A TLS-inspecting hop, like Zscaler's SSL inspection: it terminates the client's TLS with a
// certificate it issues on the fly for the SNI name (from a CA named like Zscaler's
// intermediate, made at start with openssl), opens its own TLS connection to the origin,
// and relays the decrypted bytes both ways. Used on its own port (transparent, as behind a
// tunnel) or handed CONNECT tunnels by the lab gateway (explicit proxy).
//
// Every socket is tracked and destroyed by close(), which also removes the CA's keys.
import type { AddressInfo, Socket } from "node:net";
import { connect as tlsConnect, createSecureContext, createServer, type SecureContext, type Server, type TLSSocket } from "node:tls";
import { createTestCa, ZSCALER_LIKE_CA_SUBJECT, type TestCa } from "./test-ca.js";

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

export interface InspectorOptions {
  /** Where the origin for a SNI name is (undefined name: a client that sent no SNI). */
  readonly upstream: (sni: string | undefined) => Upstream | undefined;
  /** CA subject (default: Zscaler's intermediate naming). */
  readonly caSubject?: string;
  /** The address it listens on (default 127.0.0.1; a lab pod's address inside its namespace). */
  readonly host?: string;
}

export class TlsInspector {
  /** SNI names of the connections inspected ("" for none). */
  readonly inspected: string[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly contexts = new Map<string, Promise<SecureContext>>();
  private port = 0;

  private constructor(
    private readonly ca: TestCa,
    private readonly server: Server,
    private readonly upstream: InspectorOptions["upstream"],
  ) {}

  static async start(options: InspectorOptions): Promise<TlsInspector> {
    const ca = await createTestCa(options.caSubject ?? ZSCALER_LIKE_CA_SUBJECT);
    const fallback = await ca.issue("127.0.0.1");
    let inspector: TlsInspector | undefined;
    const server = createServer({
      cert: fallback.certPem,
      key: fallback.keyPem,
      SNICallback: (name, callback) => {
        if (inspector === undefined) return callback(new Error("not started"));
        inspector.contextFor(name).then(
          (context) => callback(null, context),
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
      },
    });
    inspector = new TlsInspector(ca, server, options.upstream);
    const started = inspector;
    server.on("connection", (socket: Socket) => started.track(socket));
    server.on("secureConnection", (client: TLSSocket) => started.relay(client));
    server.on("tlsClientError", (_error, socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, options.host ?? "127.0.0.1", resolve));
    inspector.port = (server.address() as AddressInfo).port;
    return inspector;
  }

  /** The inspecting CA's certificate: what a client must trust for inspected connections to verify. */
  get caPem(): string {
    return this.ca.certPem;
  }

  get listenPort(): number {
    return this.port;
  }

  /** Takes a raw client socket (a CONNECT tunnel) and inspects the TLS inside it. */
  inspect(socket: Socket, head: Buffer): void {
    if (head.length > 0) socket.unshift(head);
    this.server.emit("connection", socket);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.ca.close();
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  }

  private contextFor(name: string): Promise<SecureContext> {
    let context = this.contexts.get(name);
    if (context === undefined) {
      context = this.ca.issue(name).then((leaf) => createSecureContext({ cert: leaf.certPem, key: leaf.keyPem }));
      this.contexts.set(name, context);
    }
    return context;
  }

  private relay(client: TLSSocket): void {
    this.track(client);
    const name = typeof client.servername === "string" ? client.servername : undefined;
    this.inspected.push(name ?? "");
    const target = this.upstream(name);
    if (target === undefined) {
      client.destroy();
      return;
    }
    // The hop's own connection to the origin: verifying the origin is the hop's business, not the test's.
    const origin = tlsConnect({ host: target.host, port: target.port, ...(name !== undefined ? { servername: name } : {}), rejectUnauthorized: false });
    this.track(origin);
    origin.once("secureConnect", () => {
      client.pipe(origin);
      origin.pipe(client);
    });
    origin.on("close", () => client.destroy());
    client.on("close", () => origin.destroy());
  }
}
