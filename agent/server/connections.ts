// Bounds on the agent's HTTP connections, so that no client, careless or hostile, can hold
// its memory or file descriptors, and health checks keep working whatever else is connected.
//
// - At most maxConnections are open. A new connection beyond that closes the connection that
//   has been idle longest (no request in progress), not itself: a flood of idle connections
//   cannot lock out the kubelet's /healthz or a scraper. Only when every connection is busy
//   with a request is the new one refused (closed at once); requests end within
//   requestTimeoutMs, so that does not last.
// - A connection with no request in progress is closed idleTimeoutMs after it opened or after
//   its last response (keep-alive included).
// - A request must be answered within requestTimeoutMs, slow readers included.
// One timer per server sweeps the connections; at most maxConnections are looked at.

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Time the client has to send a request's headers (Node's headersTimeout; at most requestTimeoutMs). */
  readonly headersTimeoutMs: number;
}

/**
 * Who connects: one or two Prometheus servers, the kubelet's probes, a person with a
 * port-forward. 64 leaves room for all of them many times over; an idle connection costs
 * about 8 KiB (docs/benchmarks.md).
 */
export const CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 64,
  idleTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
};

interface Connection {
  readonly socket: Socket;
  /** Requests in progress on it (pipelining may give more than one). */
  active: number;
  /** When it last became idle, or when its oldest request in progress started. */
  since: number;
}

export interface ConnectionGuard {
  /** Call first for each request: the connection is busy until the response ends. */
  request(request: IncomingMessage, response: ServerResponse): void;
  /** Connections open now, and those of them with a request in progress. */
  count(): { open: number; busy: number };
  stop(): void;
}

export function guardConnections(server: Server, limits: ConnectionLimits, now: () => number = () => performance.now()): ConnectionGuard {
  const open = new Map<Socket, Connection>();
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);

  server.on("connection", (socket: Socket) => {
    if (open.size >= limits.maxConnections) {
      let idlest: Connection | undefined;
      for (const connection of open.values()) {
        if (connection.active === 0 && (idlest === undefined || connection.since < idlest.since)) idlest = connection;
      }
      if (!idlest) {
        socket.destroy();
        return;
      }
      open.delete(idlest.socket);
      idlest.socket.destroy();
    }
    open.set(socket, { socket, active: 0, since: now() });
    socket.once("close", () => open.delete(socket));
  });

  const sweep = setInterval(
    () => {
      const at = now();
      for (const connection of open.values()) {
        const limit = connection.active === 0 ? limits.idleTimeoutMs : limits.requestTimeoutMs;
        if (at - connection.since >= limit) {
          open.delete(connection.socket);
          connection.socket.destroy();
        }
      }
    },
    Math.max(10, Math.min(1000, Math.min(limits.idleTimeoutMs, limits.requestTimeoutMs) / 5)),
  );
  sweep.unref();

  return {
    request(request, response) {
      const connection = open.get(request.socket);
      if (!connection) return;
      if (connection.active === 0) connection.since = now();
      connection.active++;
      response.once("close", () => {
        connection.active--;
        if (connection.active === 0) connection.since = now();
      });
    },
    count: () => ({ open: open.size, busy: [...open.values()].filter((connection) => connection.active > 0).length }),
    stop: () => clearInterval(sweep),
  };
}
