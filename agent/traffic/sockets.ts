// A network namespace's socket tables, as /proc/<pid>/net/{tcp,tcp6,udp,udp6} print them,
// parsed into the connections a traffic map needs. Pure: the observer (traffic/observer.ts)
// does the bounded reading. The tables come from a pod's namespace, which its tenant controls
// (with NET_ADMIN, or by opening sockets), so nothing here trusts them: every line is checked
// field by field, a malformed line is counted and skipped (never echoed), and the number of
// lines looked at is capped.
//
// A line: "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
// inode ...". Addresses are hex in the kernel's byte order per 32-bit word ("0100007F:0277" is
// 127.0.0.1:631 on a little-endian machine; IPv6 is four such words); ports are big-endian hex.
// What counts:
// - TCP: every state of a connection with a peer (ESTABLISHED, the closing states, TIME_WAIT,
//   which the kernel keeps for 60 s after the local side closed, so short connections that
//   this side ended stay visible a while), and SYN_SENT / SYN_RECV as attempts. LISTEN
//   sockets tell which local ports accept: a connection on a listening port is inbound,
//   any other outbound.
// - UDP: connected sockets (state 01, a peer set with connect()) only. An unconnected socket
//   (a server, or a client using sendto) has no peer in the table: its traffic is not seen.
// - Loopback peers (127/8, ::1) never leave the pod: left out. IPv4-mapped IPv6 addresses
//   (::ffff:a.b.c.d, a dual-stack socket talking IPv4) are read as the IPv4 address.

import { endianness } from "node:os";
import { formatIp, type IpAddress, type IpFamily } from "../addresses/ip.js";
import type { FlowDirection, FlowProtocol } from "./flow.js";

/** The tables of one namespace, in the order they are read. */
export const SOCKET_TABLES = ["tcp", "tcp6", "udp", "udp6"] as const;
export type SocketTable = (typeof SOCKET_TABLES)[number];

/**
 * The most of one table read: about 150 bytes a line, so some 7,000 sockets per table. A pod
 * with more open at once is a proxy or a load generator; what is past the cap is not seen,
 * and the coverage says so.
 */
export const MAX_TABLE_BYTES = 1024 * 1024;
/** Lines looked at per table (the same bound in lines: a table of short junk lines stays cheap). */
export const MAX_TABLE_LINES = 8192;

/** TCP states (include/net/tcp_states.h). */
const TCP_STATES: Readonly<Record<number, string>> = {
  0x01: "ESTABLISHED",
  0x02: "SYN_SENT",
  0x03: "SYN_RECV",
  0x04: "FIN_WAIT1",
  0x05: "FIN_WAIT2",
  0x06: "TIME_WAIT",
  0x07: "CLOSE",
  0x08: "CLOSE_WAIT",
  0x09: "LAST_ACK",
  0x0a: "LISTEN",
  0x0b: "CLOSING",
  0x0c: "NEW_SYN_RECV",
};

export interface SocketLine {
  readonly protocol: FlowProtocol;
  readonly local: IpAddress;
  readonly localPort: number;
  readonly remote: IpAddress;
  readonly remotePort: number;
  /** The state's name (TCP), or "CONNECTED" / "UNCONNECTED" for UDP. */
  readonly state: string;
}

/** One connection of the namespace, as the map sees it. */
export interface SocketConnection {
  readonly direction: FlowDirection;
  readonly protocol: FlowProtocol;
  readonly local: IpAddress;
  readonly remote: IpAddress;
  /** The destination port: the remote's for outbound, the local one for inbound. */
  readonly port: number;
  /** Only an attempt so far (SYN_SENT): no answer seen, so no evidence traffic got through. */
  readonly attempt: boolean;
}

export interface TableParse {
  readonly lines: readonly SocketLine[];
  /** Lines that are not a socket line (counted, never repeated). */
  readonly malformed: number;
  /** Lines past MAX_TABLE_LINES, not looked at. */
  readonly truncated: number;
}

const LITTLE_ENDIAN = endianness() === "LE";

/** One 32-bit word as the kernel printed it (host byte order), as a network-order value. */
function word(hex: string): bigint {
  const value = BigInt(`0x${hex}`);
  if (!LITTLE_ENDIAN) return value;
  return ((value & 0xffn) << 24n) | ((value & 0xff00n) << 8n) | ((value >> 8n) & 0xff00n) | ((value >> 24n) & 0xffn);
}

const V4_MAPPED = 0xffffn << 32n;

/** "0100007F:0277" -> 127.0.0.1 and 631; undefined when it is not that shape. */
export function parseSocketAddress(text: string): { ip: IpAddress; port: number } | undefined {
  const match = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(text);
  if (!match) return undefined;
  const [, hex = "", portHex = ""] = match;
  let family: IpFamily = 4;
  let value = word(hex);
  if (hex.length === 32) {
    value = 0n;
    for (let i = 0; i < 32; i += 8) value = (value << 32n) | word(hex.slice(i, i + 8));
    family = 6;
    if (value >> 32n === 0xffffn) {
      family = 4;
      value = value & ~V4_MAPPED;
    }
  }
  return { ip: { family, value, text: formatIp(family, value) }, port: parseInt(portHex, 16) };
}

/** One table's lines (the header and malformed lines skipped and counted). */
export function parseSocketTable(text: string, table: SocketTable): TableParse {
  const protocol: FlowProtocol = table.startsWith("tcp") ? "TCP" : "UDP";
  const lines: SocketLine[] = [];
  let malformed = 0;
  let truncated = 0;
  let seen = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const raw = text.slice(start, end);
    start = end + 1;
    if (raw.trim() === "") continue;
    if (seen++ >= MAX_TABLE_LINES) {
      truncated++;
      continue;
    }
    const fields = raw.trim().split(/\s+/, 5);
    const [slot = "", localText = "", remoteText = "", stateHex = ""] = fields;
    if (slot === "sl") continue;
    const local = parseSocketAddress(localText);
    const remote = parseSocketAddress(remoteText);
    if (!/^\d+:$/.test(slot) || !local || !remote || !/^[0-9A-Fa-f]{2}$/.test(stateHex) || local.ip.family !== remote.ip.family) {
      malformed++;
      continue;
    }
    const code = parseInt(stateHex, 16);
    const state = protocol === "TCP" ? TCP_STATES[code] : code === 0x01 ? "CONNECTED" : "UNCONNECTED";
    if (state === undefined) {
      malformed++;
      continue;
    }
    lines.push({ protocol, local: local.ip, localPort: local.port, remote: remote.ip, remotePort: remote.port, state });
  }
  return { lines, malformed, truncated };
}

function isLoopback(ip: IpAddress): boolean {
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n;
}

function isUnspecified(ip: IpAddress): boolean {
  return ip.value === 0n;
}

/** States of a TCP socket that has (or had, a moment ago) a peer. */
const CONNECTED_TCP = new Set(["ESTABLISHED", "SYN_SENT", "SYN_RECV", "NEW_SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK", "CLOSING"]);

/**
 * The namespace's connections from all its tables' lines: TCP with a peer and connected UDP,
 * loopback left out, each one's direction from the listening ports (a TCP listener, or for
 * UDP an unconnected socket bound to the same port, which is how servers that connect() per
 * client look).
 */
export function connectionsOf(lines: readonly SocketLine[]): SocketConnection[] {
  // "TCP|10.99.0.1|8080", or "TCP|*|8080" for a wildcard: an IPv6 wildcard listener takes
  // IPv4 connections too (dual-stack), whose sockets show IPv4-mapped addresses.
  const listening = new Set<string>();
  for (const line of lines) {
    if ((line.protocol === "TCP" && line.state === "LISTEN") || (line.protocol === "UDP" && line.state === "UNCONNECTED" && isUnspecified(line.remote))) {
      listening.add(`${line.protocol}|${isUnspecified(line.local) ? "*" : line.local.text}|${line.localPort}`);
    }
  }
  const listens = (line: SocketLine) => listening.has(`${line.protocol}|${line.local.text}|${line.localPort}`) || listening.has(`${line.protocol}|*|${line.localPort}`);
  const found: SocketConnection[] = [];
  for (const line of lines) {
    const withPeer = line.protocol === "TCP" ? CONNECTED_TCP.has(line.state) : line.state === "CONNECTED";
    if (!withPeer || isUnspecified(line.remote) || line.remotePort === 0 || isLoopback(line.remote) || isLoopback(line.local)) continue;
    // A SYN_RECV socket is always the accepting side.
    const inbound = line.state === "SYN_RECV" || line.state === "NEW_SYN_RECV" || listens(line);
    found.push({
      direction: inbound ? "inbound" : "outbound",
      protocol: line.protocol,
      local: line.local,
      remote: line.remote,
      port: inbound ? line.localPort : line.remotePort,
      attempt: line.state === "SYN_SENT",
    });
  }
  return found;
}
