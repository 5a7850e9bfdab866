// Bounds on the agent's HTTP connections, so that no client, careless or hostile, can hold
// its memory or file descriptors, and no set of clients can keep the kubelet's /healthz and
// /readyz or a Prometheus scrape (gzip /metrics) from being answered.
//
// - At most maxConnections are open, and a new connection is never refused: when all are
//   open, it closes the one that does least for its client, chosen in this order:
//   1. one of a peer address that holds more than peerShare connections, so that a single
//      address cannot crowd out the others;
//   2. one whose request waits its turn in a gate (gate.ts: it has cost nothing yet);
//   3. one whose client has fallen behind: output waits for it and none has been taken up
//      for graceMs (a client that asks for a large answer and reads it slowly or never);
//   4. one with no request for graceMs;
//   5. the others: just connected, or answered and keeping up.
//   Within each class, the one whose last sign of life (connected, asked, was written to, took
//   up output) is oldest goes first; a connection whose answer the agent is still working on
//   (no output waits for the client) shows life all the while: the agent's own time never
//   counts against a client.
// - At most maxBehind connections may be behind at once: beyond that the sweep closes the
//   ones behind longest, even with room to spare. So what the agent holds for clients that do
//   not read (each the rest of one answer) stays a few answers' worth.
// - A connection with no request in progress is closed idleTimeoutMs after it opened or after
//   its last response (keep-alive included).
// - A request must be answered within requestTimeoutMs, slow readers included.
//
// Why evict rather than refuse, or keep slots in reserve for short requests: a refused kubelet
// fails its probe; what a connection will ask is known only once its request is read, but the
// slot is needed from the moment it connects; and a short request (gzip /metrics) becomes a
// long one when its client does not read. So a slot goes to whoever uses it. A client that
// does not read keeps its slot while nobody else needs it, and for graceMs once someone does.
// The kubelet's probe connection, whose request is on its way, is closed only if no other
// is in an earlier class and every other showed life more recently. With peerShare, that
// takes as many addresses as there are slots, each connecting within that round trip. A
// scrape is closed likewise only if every other connection showed life more recently than
// its last taking-up of output. Few connections can wait on the agent (and so count as
// alive): gates bound the large documents, and a scrape during a build gets the previous
// text at once (exposition.ts).
//
// One timer per server sweeps the connections every graceMs/4 or more often (at most
// maxConnections are looked at). The agent closes a connection with a reset: the kernel may
// still hold output for a client that does not read (up to its send buffer, even once the
// response is done), which a plain close leaves to the kernel until it gives up on the
// client, counted against the agent's memory all the while.

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ChunkOutput } from "./chunks.js";
import type { TurnKeeper } from "./gate.js";

export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Time the client has to send a request's headers (Node's headersTimeout; at most requestTimeoutMs). */
  readonly headersTimeoutMs: number;
  /** How long output may wait for a client, or a connection stay without a request, before it is among the first to go when room is needed. */
  readonly graceMs: number;
  /** Connections a peer address may hold before its own are the first to go when room is needed. */
  readonly peerShare: number;
  /** Connections that may be behind at once; beyond that, the one behind longest is closed. */
  readonly maxBehind: number;
}

/**
 * Who connects: one or two Prometheus servers, the kubelet's probes, a person with a
 * port-forward. 64 leaves room for all of them many times over; an idle connection costs
 * about 8 KiB (docs/benchmarks.md). A client takes up a scrape of 5,000 edges (0.54 MiB
 * compressed) on the cluster's network in milliseconds; one that takes up nothing for a
 * second is not reading.
 */
export const CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 64,
  idleTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  graceMs: 1_000,
  peerShare: 8,
  maxBehind: 8,
};

interface Connection {
  readonly socket: Socket;
  readonly peer: string;
  /** Requests in progress on it (pipelining may give more than one). */
  active: number;
  /** Of those, the ones waiting their turn in a gate. */
  waiting: number;
  /** When it last became idle, or when its oldest request in progress started: for the timeouts. */
  since: number;
  /** Its last sign of life: connected, asked, was written to, or took up output. */
  movedAt: number;
}

/** The order in which connections are closed to make room: the lower, the sooner. */
const STANDING = { waiting: 0, behind: 1, idle: 2, working: 3 } as const;
type Standing = keyof typeof STANDING;

export interface ConnectionGuard extends TurnKeeper {
  /** Call first for each request: the connection is busy until the response ends. */
  request(request: IncomingMessage, response: ServerResponse): void;
  /** The response as an output of chunks (chunks.ts), whose taking-up is watched: large answers are written through it. */
  output(response: ServerResponse): ChunkOutput;
  /** Connections open now, and those of them with a request in progress. */
  count(): { open: number; busy: number };
  stop(): void;
}

function close(connection: Connection): void {
  if (!connection.socket.destroyed) connection.socket.resetAndDestroy();
}

export function guardConnections(server: Server, limits: ConnectionLimits, now: () => number = () => performance.now()): ConnectionGuard {
  const open = new Map<Socket, Connection>();
  const peers = new Map<string, number>();
  const sweepMs = Math.max(10, Math.min(1000, limits.idleTimeoutMs / 5, limits.requestTimeoutMs / 5, limits.graceMs / 4));
  // Idle connections are closed by the sweep (with a reset); Node's own timer, which closes
  // without one, only backs it up.
  server.keepAliveTimeout = limits.idleTimeoutMs + 2 * sweepMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);

  const forget = (connection: Connection) => {
    if (!open.delete(connection.socket)) return;
    const left = (peers.get(connection.peer) ?? 1) - 1;
    if (left > 0) peers.set(connection.peer, left);
    else peers.delete(connection.peer);
  };
  const drop = (connection: Connection) => {
    forget(connection);
    close(connection);
  };

  const standing = (connection: Connection, at: number): Standing => {
    if (connection.waiting > 0) return "waiting";
    if (connection.active > 0 && connection.socket.writableLength > 0 && at - connection.movedAt >= limits.graceMs) return "behind";
    if (connection.active === 0 && at - connection.since >= limits.graceMs) return "idle";
    return "working";
  };

  const lastSignOfLife = (connection: Connection, at: number): number =>
    connection.active > connection.waiting && connection.socket.writableLength === 0 ? at : connection.movedAt;

  /** The connection to close to make room: the least useful by the order above. */
  const leastUseful = (at: number): Connection | undefined => {
    let chosen: Connection | undefined;
    let chosenKey: readonly [number, number, number] = [Infinity, Infinity, Infinity];
    for (const connection of open.values()) {
      const key = [(peers.get(connection.peer) ?? 0) > limits.peerShare ? 0 : 1, STANDING[standing(connection, at)], lastSignOfLife(connection, at)] as const;
      if (key[0] < chosenKey[0] || (key[0] === chosenKey[0] && (key[1] < chosenKey[1] || (key[1] === chosenKey[1] && key[2] < chosenKey[2])))) {
        chosen = connection;
        chosenKey = key;
      }
    }
    return chosen;
  };

  server.on("connection", (socket: Socket) => {
    const at = now();
    if (open.size >= limits.maxConnections) {
      const victim = leastUseful(at);
      if (victim) drop(victim);
    }
    const peer = socket.remoteAddress ?? "unknown";
    const connection: Connection = { socket, peer, active: 0, waiting: 0, since: at, movedAt: at };
    open.set(socket, connection);
    peers.set(peer, (peers.get(peer) ?? 0) + 1);
    socket.once("close", () => forget(connection));
  });

  const sweep = setInterval(() => {
    const at = now();
    const behind: Connection[] = [];
    for (const connection of open.values()) {
      const limit = connection.active === 0 ? limits.idleTimeoutMs : limits.requestTimeoutMs;
      if (at - connection.since >= limit) drop(connection);
      else if (standing(connection, at) === "behind") behind.push(connection);
    }
    if (behind.length > limits.maxBehind) {
      behind.sort((a, b) => a.movedAt - b.movedAt);
      for (const connection of behind.slice(0, behind.length - limits.maxBehind)) drop(connection);
    }
  }, sweepMs);
  sweep.unref();

  const connectionOf = (response: ServerResponse) => open.get(response.req.socket);
  const moved = (connection: Connection | undefined) => {
    if (connection) connection.movedAt = now();
  };

  return {
    request(request, response) {
      const connection = open.get(request.socket);
      if (!connection) return;
      const at = now();
      if (connection.active === 0) connection.since = at;
      connection.movedAt = at;
      connection.active++;
      response.once("close", () => {
        connection.active--;
        if (connection.active === 0) connection.since = connection.movedAt = now();
      });
    },
    output(response) {
      const connection = connectionOf(response);
      return {
        write(chunk, done) {
          moved(connection);
          return response.write(chunk, (error) => {
            if (!error) moved(connection);
            done(error);
          });
        },
        once(event, listener) {
          return response.once(event, listener);
        },
      };
    },
    waiting(response) {
      const connection = connectionOf(response);
      if (!connection) return () => undefined;
      connection.waiting++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        connection.waiting--;
        moved(connection);
      };
    },
    behind(response) {
      const connection = connectionOf(response);
      return connection !== undefined && standing(connection, now()) === "behind";
    },
    evict(response) {
      const connection = connectionOf(response);
      if (connection) drop(connection);
      else if (response.socket && !response.socket.destroyed) response.socket.resetAndDestroy();
    },
    reviewMs: sweepMs,
    count: () => ({ open: open.size, busy: [...open.values()].filter((connection) => connection.active > 0).length }),
    stop: () => clearInterval(sweep),
  };
}
