// Loopback TCP endpoints with known behaviour, for prober tests.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, Socket, type AddressInfo, type Server } from "node:net";

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** How many connections the endpoint has seen (accepting endpoints only). */
  accepted(): number;
  close(): Promise<void>;
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((done) => server.close(() => done()));
}

async function listen(host: string, onConnection: (socket: Socket) => void): Promise<Endpoint> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host }, () => resolve());
  });
  return {
    host,
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    close: () => closeServer(server, sockets),
  };
}

/** Accepts and leaves the connection to the client (which closes it). */
export function acceptingEndpoint(host = "127.0.0.1"): Promise<Endpoint> {
  return listen(host, () => undefined);
}

/** Accepts, then at once resets the connection (RST, not FIN). */
export function resettingEndpoint(host = "127.0.0.1"): Promise<Endpoint> {
  return listen(host, (socket) => socket.resetAndDestroy());
}

/** A port nothing listens on: bound, read, released. */
export async function closedPort(host = "127.0.0.1"): Promise<number> {
  const endpoint = await acceptingEndpoint(host);
  await endpoint.close();
  return endpoint.port;
}

/**
 * A listener whose SYNs go unanswered, so connects hang until the client gives up, made
 * without root: a child process listens with backlog 1 and then blocks its event loop, so it
 * never accepts. Two connections fill the accept queue; after that Linux drops further SYNs.
 * The child exits by itself after 120 s if it is ever left behind.
 */
export async function unansweredEndpoint(): Promise<Endpoint> {
  const script = `
    const net = require("node:net");
    const server = net.createServer().listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
      process.stdout.write(server.address().port + "\\n");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
      process.exit(0);
    });`;
  const child: ChildProcess = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const stdout = child.stdout;
  if (stdout === null) throw new Error("no stdout from the child");
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("child did not report its port in 10 s")), 10_000);
    stdout.once("data", (data: Buffer) => {
      clearTimeout(timer);
      resolve(Number(String(data).trim()));
    });
    child.once("exit", () => reject(new Error("child exited early")));
  });
  // Fill the accept queue: connect until a connect hangs (bounded).
  const fillers: Socket[] = [];
  let hung = false;
  for (let attempt = 0; attempt < 16 && !hung; attempt++) {
    const socket = new Socket();
    socket.on("error", () => undefined);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 250);
      socket.connect({ host: "127.0.0.1", port }, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (connected) fillers.push(socket);
    else {
      socket.destroy();
      hung = true;
    }
  }
  const close = async (): Promise<void> => {
    for (const socket of fillers) socket.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
    }
  };
  if (!hung) {
    await close();
    throw new Error("could not fill the listener's accept queue");
  }
  return { host: "127.0.0.1", port, accepted: () => 0, close };
}
