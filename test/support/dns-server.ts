// A small, real DNS server for tests: UDP and TCP on the same loopback port, with its own
// minimal wire encoding (RFC 1035). Behaviour is configured per (name, type): answers,
// an error rcode, NODATA, `drop` (never answer, so the client times out) and `delayMs`.
// Every query it receives is recorded so tests can assert what was asked and how.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import { parseIp } from "../../agent/addresses/ip.js";

export type DnsType = "A" | "NS" | "CNAME" | "SOA" | "MX" | "TXT" | "AAAA" | "SRV" | "OPT" | "ANY";

const TYPE_CODES: Record<DnsType, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
};

export type DnsRcode = "NOERROR" | "FORMERR" | "SERVFAIL" | "NXDOMAIN" | "NOTIMP" | "REFUSED";

const RCODES: Record<DnsRcode, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

/**
 * One resource record in an answer. `value` by type: A/AAAA an address; CNAME/NS a name;
 * TXT the text (split into 255-byte strings); MX "preference exchange";
 * SRV "priority weight port target". `name` defaults to the queried name.
 */
export interface DnsRecord {
  readonly type: "A" | "AAAA" | "CNAME" | "NS" | "TXT" | "MX" | "SRV";
  readonly value: string;
  readonly ttl?: number;
  readonly name?: string;
}

export interface DnsBehaviour {
  /** Records for the answer section. An empty list (or none) with NOERROR is NODATA. */
  readonly answers?: readonly DnsRecord[];
  /** Response code; NOERROR by default. */
  readonly rcode?: DnsRcode;
  /** Never answer (the query is still recorded). */
  readonly drop?: boolean;
  /** Wait this long before answering. */
  readonly delayMs?: number;
}

export interface DnsRule extends DnsBehaviour {
  readonly name: string;
  readonly type: DnsType;
}

export interface ReceivedQuery {
  /** Lower case, without the trailing dot. */
  readonly name: string;
  /** The type mnemonic, or "TYPE<n>" for types this server does not know. */
  readonly type: string;
  readonly transport: "udp" | "tcp";
}

export interface TestDnsServer {
  readonly host: string;
  readonly port: number;
  /** "127.0.0.1:port": usable with dns.Resolver#setServers and as a probe target's server. */
  readonly address: string;
  /** Replaces the behaviour for (name, type). */
  set(name: string, type: DnsType, behaviour: DnsBehaviour): void;
  /** A copy of every query received so far, in arrival order. */
  queries(): ReceivedQuery[];
  clearQueries(): void;
  close(): Promise<void>;
}

export interface DnsServerOptions {
  readonly rules?: readonly DnsRule[];
}

// ---------------------------------------------------------------------------------------
// Wire format

interface Question {
  readonly name: string; // as received (case preserved), no trailing dot
  readonly typeCode: number;
  readonly classCode: number;
}

interface ParsedQuery {
  readonly id: number;
  readonly flags: number;
  readonly question: Question;
  readonly hasEdns: boolean;
  readonly ednsPayload: number;
}

class WireError extends Error {}

/** Reads a possibly compressed name starting at offset; returns the name and the offset after it. */
export function readName(message: Buffer, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let offset = start;
  let next = -1;
  for (let jumps = 0; ; ) {
    if (offset >= message.length) throw new WireError("name runs past the message");
    const length = message[offset] ?? 0;
    if ((length & 0xc0) === 0xc0) {
      if (offset + 1 >= message.length) throw new WireError("truncated compression pointer");
      if (++jumps > 32) throw new WireError("compression loop");
      if (next < 0) next = offset + 2;
      offset = ((length & 0x3f) << 8) | (message[offset + 1] ?? 0);
      continue;
    }
    if ((length & 0xc0) !== 0) throw new WireError("unsupported label type");
    if (length === 0) {
      if (next < 0) next = offset + 1;
      break;
    }
    if (offset + 1 + length > message.length) throw new WireError("label runs past the message");
    labels.push(message.toString("latin1", offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  return { name: labels.join("."), next };
}

function encodeName(name: string): Buffer {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const parts: Buffer[] = [];
  if (trimmed !== "") {
    for (const label of trimmed.split(".")) {
      const bytes = Buffer.from(label, "latin1");
      if (bytes.length === 0 || bytes.length > 63) throw new Error(`bad DNS label in "${name}"`);
      parts.push(Buffer.from([bytes.length]), bytes);
    }
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function parseQuery(message: Buffer): ParsedQuery {
  if (message.length < 12) throw new WireError("short header");
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  const qdcount = message.readUInt16BE(4);
  const ancount = message.readUInt16BE(6);
  const nscount = message.readUInt16BE(8);
  const arcount = message.readUInt16BE(10);
  if (qdcount !== 1) throw new WireError(`expected one question, got ${qdcount}`);
  const { name, next } = readName(message, 12);
  if (next + 4 > message.length) throw new WireError("truncated question");
  const question = { name, typeCode: message.readUInt16BE(next), classCode: message.readUInt16BE(next + 2) };
  // Walk the other sections to find an OPT record (EDNS) among the additional records.
  let offset = next + 4;
  let hasEdns = false;
  let ednsPayload = 512;
  const records = ancount + nscount + arcount;
  for (let i = 0; i < records; i++) {
    const owner = readName(message, offset);
    offset = owner.next;
    if (offset + 10 > message.length) throw new WireError("truncated record");
    const type = message.readUInt16BE(offset);
    const rdlength = message.readUInt16BE(offset + 8);
    if (type === TYPE_CODES.OPT && i >= ancount + nscount) {
      hasEdns = true;
      ednsPayload = Math.max(512, message.readUInt16BE(offset + 2));
    }
    offset += 10 + rdlength;
    if (offset > message.length) throw new WireError("record data runs past the message");
  }
  return { id, flags, question, hasEdns, ednsPayload };
}

function typeName(code: number): string {
  for (const [name, value] of Object.entries(TYPE_CODES)) if (value === code) return name;
  return `TYPE${code}`;
}

function encodeRdata(record: DnsRecord): Buffer {
  switch (record.type) {
    case "A":
    case "AAAA": {
      const parsed = parseIp(record.value);
      const family = record.type === "A" ? 4 : 6;
      if (!parsed.ok || parsed.value.family !== family) throw new Error(`${record.type} record needs an IPv${family} address, got "${record.value}"`);
      const bytes = Buffer.alloc(family === 4 ? 4 : 16);
      let value = parsed.value.value;
      for (let i = bytes.length - 1; i >= 0; i--) {
        bytes[i] = Number(value & 0xffn);
        value >>= 8n;
      }
      return bytes;
    }
    case "CNAME":
    case "NS":
      return encodeName(record.value);
    case "TXT": {
      const text = Buffer.from(record.value, "utf8");
      const chunks: Buffer[] = [];
      for (let i = 0; i < text.length || i === 0; i += 255) {
        const chunk = text.subarray(i, i + 255);
        chunks.push(Buffer.from([chunk.length]), chunk);
      }
      return Buffer.concat(chunks);
    }
    case "MX": {
      const [preference = "", exchange = ""] = record.value.split(/\s+/);
      const head = Buffer.alloc(2);
      head.writeUInt16BE(Number(preference));
      return Buffer.concat([head, encodeName(exchange)]);
    }
    case "SRV": {
      const [priority = "", weight = "", port = "", target = ""] = record.value.split(/\s+/);
      const head = Buffer.alloc(6);
      head.writeUInt16BE(Number(priority), 0);
      head.writeUInt16BE(Number(weight), 2);
      head.writeUInt16BE(Number(port), 4);
      return Buffer.concat([head, encodeName(target)]);
    }
  }
}

function encodeRecord(owner: string, record: DnsRecord): Buffer {
  const rdata = encodeRdata(record);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE_CODES[record.type], 0);
  fixed.writeUInt16BE(1, 2); // IN
  fixed.writeUInt32BE(record.ttl ?? 60, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(record.name ?? owner), fixed, rdata]);
}

function encodeResponse(
  query: ParsedQuery,
  rcode: number,
  answers: readonly DnsRecord[],
  transport: "udp" | "tcp",
): Buffer {
  const question = Buffer.concat([encodeName(query.question.name), Buffer.alloc(4)]);
  question.writeUInt16BE(query.question.typeCode, question.length - 4);
  question.writeUInt16BE(query.question.classCode, question.length - 2);
  const opt = query.hasEdns ? Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]) : Buffer.alloc(0); // payload 1232
  const build = (records: readonly DnsRecord[], truncated: boolean): Buffer => {
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.id, 0);
    const opcode = query.flags & 0x7800;
    const rd = query.flags & 0x0100;
    header.writeUInt16BE(0x8000 | opcode | 0x0400 /* AA */ | (truncated ? 0x0200 : 0) | rd | 0x0080 /* RA */ | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    header.writeUInt16BE(0, 8);
    header.writeUInt16BE(query.hasEdns ? 1 : 0, 10);
    return Buffer.concat([header, question, ...records.map((r) => encodeRecord(query.question.name, r)), opt]);
  };
  const full = build(answers, false);
  if (transport === "udp" && full.length > query.ednsPayload) return build([], true);
  return full;
}

function errorResponse(message: Buffer, rcode: number): Buffer | undefined {
  if (message.length < 12) return undefined;
  const header = Buffer.from(message.subarray(0, 12));
  header.writeUInt16BE(0x8000 | (message.readUInt16BE(2) & 0x7900) | rcode, 2);
  header.writeUInt32BE(0, 4);
  header.writeUInt32BE(0, 8);
  return header;
}

// ---------------------------------------------------------------------------------------
// Server

function normalizeName(name: string): string {
  return (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
}

interface Resolution {
  readonly rcode: number;
  readonly answers: readonly DnsRecord[];
  readonly drop: boolean;
  readonly delayMs: number;
}

export async function startDnsServer(options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const rules = new Map<string, Map<string, DnsBehaviour>>();
  const received: ReceivedQuery[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const connections = new Set<Socket>();
  let closed = false;

  const set = (name: string, type: DnsType, behaviour: DnsBehaviour): void => {
    const key = normalizeName(name);
    let byType = rules.get(key);
    if (byType === undefined) rules.set(key, (byType = new Map()));
    byType.set(type, behaviour);
  };
  for (const rule of options.rules ?? []) set(rule.name, rule.type, rule);

  /** Looks (name, type) up, following CNAMEs inside the configured rules like an authoritative server. */
  const resolve = (name: string, typeCode: number): Resolution => {
    const type = typeName(typeCode);
    const answers: DnsRecord[] = [];
    let current = normalizeName(name);
    for (let hops = 0; hops < 8; hops++) {
      const byType = rules.get(current);
      if (byType === undefined) return { rcode: hops === 0 ? RCODES.NXDOMAIN : RCODES.NOERROR, answers, drop: false, delayMs: 0 };
      const exact = byType.get(type);
      if (exact !== undefined) {
        const rcode = RCODES[exact.rcode ?? "NOERROR"];
        const own = (exact.answers ?? []).map((r) => (hops === 0 || r.name !== undefined ? r : { ...r, name: current }));
        return { rcode, answers: [...answers, ...own], drop: exact.drop ?? false, delayMs: exact.delayMs ?? 0 };
      }
      const alias = byType.get("CNAME")?.answers?.find((r) => r.type === "CNAME");
      if (alias === undefined || type === "CNAME") return { rcode: RCODES.NOERROR, answers, drop: false, delayMs: 0 };
      answers.push({ ...alias, name: current });
      current = normalizeName(alias.value);
    }
    return { rcode: RCODES.SERVFAIL, answers: [], drop: false, delayMs: 0 };
  };

  const answer = (message: Buffer, transport: "udp" | "tcp", reply: (response: Buffer) => void): void => {
    let query: ParsedQuery;
    try {
      query = parseQuery(message);
    } catch {
      const response = errorResponse(message, RCODES.FORMERR);
      if (response !== undefined) reply(response);
      return;
    }
    received.push({ name: normalizeName(query.question.name), type: typeName(query.question.typeCode), transport });
    const resolution = resolve(query.question.name, query.question.typeCode);
    if (resolution.drop) return;
    let response: Buffer;
    try {
      response = encodeResponse(query, resolution.rcode, resolution.answers, transport);
    } catch {
      response = encodeResponse(query, RCODES.SERVFAIL, [], transport);
    }
    if (resolution.delayMs <= 0) {
      reply(response);
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) reply(response);
    }, resolution.delayMs);
    timers.add(timer);
  };

  const host = "127.0.0.1";
  // UDP and TCP must share a port (clients retry over TCP on truncation). Bind UDP to an
  // ephemeral port, then TCP to the same number; retry a bounded number of times if taken.
  let udp: UdpSocket | undefined;
  let tcp: Server | undefined;
  for (let attempt = 0; attempt < 20 && tcp === undefined; attempt++) {
    const candidate = createSocket("udp4");
    await new Promise<void>((resolveBind, rejectBind) => {
      candidate.once("error", rejectBind);
      candidate.bind(0, host, () => {
        candidate.off("error", rejectBind);
        resolveBind();
      });
    });
    const port = candidate.address().port;
    const server = createServer((socket) => serveTcp(socket));
    const listening = await new Promise<boolean>((resolveListen) => {
      server.once("error", () => resolveListen(false));
      server.listen({ port, host, exclusive: true }, () => resolveListen(true));
    });
    if (listening) {
      udp = candidate;
      tcp = server;
    } else {
      await new Promise<void>((done) => candidate.close(() => done()));
    }
  }
  if (udp === undefined || tcp === undefined) throw new Error("could not bind UDP and TCP to one loopback port");
  const udpSocket = udp;
  const tcpServer = tcp;

  udpSocket.on("message", (message: Buffer, remote: RemoteInfo) => {
    answer(message, "udp", (response) => {
      if (!closed) udpSocket.send(response, remote.port, remote.address);
    });
  });
  udpSocket.on("error", () => {
    /* a send to a vanished client: nothing to do */
  });

  function serveTcp(socket: Socket): void {
    connections.add(socket);
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        answer(message, "tcp", (response) => {
          if (socket.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(response.length);
          socket.write(Buffer.concat([prefix, response]));
        });
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => connections.delete(socket));
  }

  const port = udpSocket.address().port;
  return {
    host,
    port,
    address: `${host}:${port}`,
    set,
    queries: () => [...received],
    clearQueries: () => {
      received.length = 0;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of connections) socket.destroy();
      await Promise.all([
        new Promise<void>((done) => udpSocket.close(() => done())),
        new Promise<void>((done) => tcpServer.close(() => done())),
      ]);
    },
  };
}
