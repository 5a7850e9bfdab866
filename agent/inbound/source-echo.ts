// The source echo (agent --source-echo-port, opt-in): a TCP listener that answers each
// connection with the peer address and port it saw, one line ("10.0.3.7 41822\n"), and closes.
// Peer agents connect to it through a Service's path (a NodePort, a LoadBalancer) and compare
// the address echoed with the one they sent from: whether the cluster's own nodes keep source
// addresses is then measured, not inferred (inbound/source-check.ts). The echo reads nothing
// (whatever a client sends is never looked at) and takes no target from anyone: it only writes
// to the socket that connected. Bounded: at most ECHO_MAX_CONNECTIONS at once, each closed
// after ECHO_SOCKET_MS at the latest. The asking side reads at most ECHO_MAX_ANSWER bytes.

import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { type IpAddress, parseIp } from "../addresses/ip.js";
import { startTimer } from "../schedule/timers.js";

export const ECHO_MAX_CONNECTIONS = 32;
export const ECHO_SOCKET_MS = 2000;
/** "<IPv6 text> <port>\n" is at most 46 bytes. */
export const ECHO_MAX_ANSWER = 64;

/** Node names IPv4 peers of a dual-stack socket ::ffff:a.b.c.d; the echo says a.b.c.d. */
function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice("::ffff:".length) : address;
}

/** The echo's one line. */
export function formatEcho(address: string, port: number): string {
  return `${plainAddress(address)} ${port}\n`;
}

export type EchoAnswer = { readonly ok: true; readonly ip: IpAddress; readonly port: number } | { readonly ok: false; readonly reason: string };

/** The echo's line, checked: an address, a space, a port, a newline; nothing else. */
export function parseEcho(text: string): EchoAnswer {
  const match = /^(\S{1,45}) (\d{1,5})\n$/.exec(text);
  if (!match) return { ok: false, reason: "the echo's answer is not \"<address> <port>\"" };
  const ip = parseIp(match[1] ?? "");
  const port = Number(match[2]);
  if (!ip.ok) return { ok: false, reason: `the echo's answer: ${ip.reason}` };
  if (port < 1 || port > 65535) return { ok: false, reason: `the echo's answer: port ${port} is out of range` };
  return { ok: true, ip: ip.value, port };
}

export interface SourceEcho {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

function answer(socket: Socket): void {
  socket.on("error", () => undefined);
  const limit = startTimer(() => socket.destroy(), ECHO_SOCKET_MS, { unref: true });
  socket.once("close", () => limit.cancel());
  // Never read: what a client sends is not looked at; the kernel's buffer fills, then the close drops it.
  socket.pause();
  if (socket.remoteAddress === undefined || socket.remotePort === undefined) {
    socket.destroy();
    return;
  }
  socket.end(formatEcho(socket.remoteAddress, socket.remotePort));
}

/** Listens on host:port (port 0: any free one) and answers every connection. */
export async function startSourceEcho(host: string, port: number): Promise<SourceEcho> {
  const open = new Set<Socket>();
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    answer(socket);
  });
  server.maxConnections = ECHO_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
}

export interface EchoReply {
  /** The address this side sent from (the socket's local address, before any NAT). */
  readonly sent: string;
  readonly answer: EchoAnswer;
}

/** Connects to an echo, reads its line (at most ECHO_MAX_ANSWER bytes, within timeoutMs). */
export function askEcho(host: string, port: number, timeoutMs: number): Promise<EchoReply> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let text = "";
    let sent = "";
    let settled = false;
    const finish = (answer: EchoAnswer): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      socket.destroy();
      resolve({ sent, answer });
    };
    const timer = startTimer(() => finish({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs, { unref: true });
    socket.setEncoding("latin1");
    socket.on("connect", () => {
      sent = plainAddress(socket.localAddress ?? "");
    });
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (text.length > ECHO_MAX_ANSWER) finish({ ok: false, reason: `the echo's answer is longer than ${ECHO_MAX_ANSWER} bytes` });
      else if (text.includes("\n")) finish(parseEcho(text));
    });
    socket.on("end", () => finish(text === "" ? { ok: false, reason: "the echo closed without an answer" } : parseEcho(text)));
    socket.on("error", (error: NodeJS.ErrnoException) => finish({ ok: false, reason: `connecting: ${error.code ?? error.message}` }));
  });
}
