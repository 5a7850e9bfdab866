// The socket-table parser: on tables captured from a real network namespace
// (test/fixtures/proc/sockets-*.txt, README there says what was open), on the live table of a
// fresh namespace holding real sockets, and on hostile text (huge, binary, truncated).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connectionsOf, MAX_TABLE_BYTES, MAX_TABLE_LINES, parseSocketAddress, parseSocketTable, SOCKET_TABLES, type SocketLine } from "../../agent/traffic/sockets.js";
import { describeWith } from "../support/prerequisites.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "proc");
const table = (name: (typeof SOCKET_TABLES)[number]): string => readFileSync(join(FIXTURES, `sockets-${name}.txt`), "utf8");
const allLines = (): SocketLine[] => SOCKET_TABLES.flatMap((name) => parseSocketTable(table(name), name).lines);
const brief = (line: SocketLine) => `${line.protocol} ${line.local.text}:${line.localPort} ${line.remote.text}:${line.remotePort} ${line.state}`;

describe("parseSocketAddress", () => {
  it("reads the kernel's per-word byte order for IPv4 and IPv6, and IPv4-mapped IPv6 as IPv4", () => {
    expect(parseSocketAddress("0100630A:1F90")).toEqual({ ip: expect.objectContaining({ family: 4, text: "10.99.0.1" }), port: 8080 });
    expect(parseSocketAddress("B80D0120000000000000000002000000:B843")).toEqual({ ip: expect.objectContaining({ family: 6, text: "2001:db8::2" }), port: 47171 });
    expect(parseSocketAddress("0000000000000000FFFF00000100630A:2382")).toEqual({ ip: expect.objectContaining({ family: 4, text: "10.99.0.1" }), port: 9090 });
    expect(parseSocketAddress("00000000000000000000000000000000:0000")?.ip.text).toBe("::");
  });

  it("refuses anything else", () => {
    for (const text of ["", "0100630A", "0100630A:1F9", "0100630G:1F90", "0100630A:1F90:00", "0100630A1:1F90", "B80D012000000000000000000200000:B843", " 0100630A:1F90"]) {
      expect(parseSocketAddress(text), text).toBeUndefined();
    }
  });
});

describe("parseSocketTable on captured tables", () => {
  it("reads every line of each table with its state, skipping the header", () => {
    expect(parseSocketTable(table("tcp"), "tcp").lines.map(brief)).toEqual([
      "TCP 10.99.0.1:8080 0.0.0.0:0 LISTEN",
      "TCP 10.99.0.2:60735 10.99.0.1:8080 ESTABLISHED",
      "TCP 10.99.0.1:48006 10.99.1.5:443 SYN_SENT",
      "TCP 10.99.0.2:34303 10.99.0.1:9090 ESTABLISHED",
      "TCP 10.99.0.1:8080 10.99.0.2:60735 ESTABLISHED",
      "TCP 10.99.0.2:46607 10.99.0.1:8080 TIME_WAIT",
    ]);
    expect(parseSocketTable(table("tcp6"), "tcp6").lines.map(brief)).toEqual([
      "TCP :::9090 :::0 LISTEN",
      "TCP 2001:db8::2:47171 2001:db8::1:9090 ESTABLISHED",
      "TCP 10.99.0.1:9090 10.99.0.2:34303 ESTABLISHED",
      "TCP 2001:db8::1:9090 2001:db8::2:47171 ESTABLISHED",
    ]);
    expect(parseSocketTable(table("udp"), "udp").lines.map(brief)).toEqual(["UDP 0.0.0.0:5353 0.0.0.0:0 UNCONNECTED", "UDP 10.99.0.1:56306 10.99.1.53:53 CONNECTED"]);
    expect(parseSocketTable(table("udp6"), "udp6").lines.map(brief)).toEqual(["UDP 2001:db8::2:38092 2001:db8:1::53:53 CONNECTED"]);
    for (const name of SOCKET_TABLES) expect(parseSocketTable(table(name), name)).toMatchObject({ malformed: 0, truncated: 0 });
  });
});

describe("connectionsOf", () => {
  it("tells inbound from outbound by the namespace's listening ports, with the destination port", () => {
    const seen = connectionsOf(allLines()).map((c) => `${c.direction} ${c.protocol} ${c.local.text} ${c.remote.text} ${c.port}${c.attempt ? " attempt" : ""}`);
    expect(seen).toEqual([
      "outbound TCP 10.99.0.2 10.99.0.1 8080",
      "outbound TCP 10.99.0.1 10.99.1.5 443 attempt",
      "outbound TCP 10.99.0.2 10.99.0.1 9090",
      "inbound TCP 10.99.0.1 10.99.0.2 8080",
      // The client closed first: TIME_WAIT keeps the connection visible for 60 s.
      "outbound TCP 10.99.0.2 10.99.0.1 8080",
      "outbound TCP 2001:db8::2 2001:db8::1 9090",
      // Accepted by the dual-stack [::]:9090 listener from an IPv4 client.
      "inbound TCP 10.99.0.1 10.99.0.2 9090",
      "inbound TCP 2001:db8::1 2001:db8::2 9090",
      "outbound UDP 10.99.0.1 10.99.1.53 53",
      "outbound UDP 2001:db8::2 2001:db8:1::53 53",
    ]);
  });

  it("leaves out loopback, listeners, closed sockets and unconnected UDP", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1F90 0100007F:ED3F 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0",
      "   1: 0100630A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0",
      "   2: 0100630A:1F91 0200630A:1F92 07 00000000:00000000 00:00000000 00000000     0        0 3 1 0",
      "   3: 0100630A:1F93 0100007F:1F94 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0",
    ].join("\n");
    expect(connectionsOf(parseSocketTable(text, "tcp").lines)).toEqual([]);
    const udp = "   1: 0100630A:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2 2 0 0\n";
    expect(connectionsOf(parseSocketTable(udp, "udp").lines)).toEqual([]);
  });

  it("counts a UDP connection on a port a server socket is bound to as inbound", () => {
    const text = ["   1: 00000000:14E9 00000000:0000 07 0 0 0 0 0 1 2 0 0", "   2: 0100630A:14E9 0200630A:C350 01 0 0 0 0 0 2 2 0 0"].join("\n");
    expect(connectionsOf(parseSocketTable(text, "udp").lines)).toEqual([expect.objectContaining({ direction: "inbound", protocol: "UDP", port: 5353 })]);
  });
});

describe("parseSocketTable on hostile text", () => {
  it("counts binary junk and cut lines as malformed, never throwing and never keeping them", () => {
    const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString("latin1");
    const parsed = parseSocketTable(junk, "tcp");
    expect(parsed.lines).toEqual([]);
    expect(parsed.malformed).toBeGreaterThan(0);
    // A read that ended inside the fourth line (in the remote address).
    const lines = table("tcp").split("\n");
    const cut = `${lines.slice(0, 3).join("\n")}\n${(lines[3] ?? "").slice(0, 30)}`;
    expect(parseSocketTable(cut, "tcp")).toEqual({ lines: [expect.objectContaining({ state: "LISTEN" }), expect.objectContaining({ state: "ESTABLISHED" })], malformed: 1, truncated: 0 });
  });

  it("refuses lines whose state is not a kernel state or whose two addresses differ in family", () => {
    const text = [
      "   0: 0100630A:1F90 0200630A:ED3F FF 00000000:00000000 00:00000000 00000000 0 0 1 1 0",
      "   1: 0100630A:1F90 B80D0120000000000000000002000000:B843 01 0 0 0 0 0 1 1 0",
      "   2: 0100630A:1F90 0200630A:ED3F 1 0 0 0 0 0 1 1 0",
      "   x: 0100630A:1F90 0200630A:ED3F 01 0 0 0 0 0 1 1 0",
    ].join("\n");
    expect(parseSocketTable(text, "tcp")).toEqual({ lines: [], malformed: 4, truncated: 0 });
  });

  it("looks at no more than MAX_TABLE_LINES lines of a huge table, and says how many it left", () => {
    const line = "   1: 0100630A:1F90 0200630A:ED3F 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0\n";
    const parsed = parseSocketTable(line.repeat(MAX_TABLE_LINES + 500), "tcp");
    expect(parsed.lines).toHaveLength(MAX_TABLE_LINES);
    expect(parsed.truncated).toBe(500);
    // What one table may be: about the cap's worth of lines.
    expect(line.length * MAX_TABLE_LINES).toBeLessThan(MAX_TABLE_BYTES);
  });
});

/** In a fresh network namespace: a listener and a client on 127.0.0.1, then the namespace's tcp table, ports first. */
const LIVE_TABLE = `
const net = require("node:net");
const fs = require("node:fs");
const server = net.createServer(() => {
  const { port } = server.address();
  process.stdout.write(JSON.stringify({ port, client: client.localPort, table: fs.readFileSync("/proc/self/net/tcp", "utf8") }));
  process.exit(0);
}).listen(0, "127.0.0.1");
let client;
server.on("listening", () => { client = net.connect(server.address().port, "127.0.0.1"); });
`;

describeWith({ root: true, commands: ["unshare", "ip"] }, "parseSocketTable on a live table", () => {
  it("finds a real listener and both ends of a real connection", () => {
    // A namespace of its own: the host's table holds whatever else runs on the machine.
    const output = execFileSync("unshare", ["-n", "sh", "-c", 'ip link set lo up && exec "$0" -e "$1"', process.execPath, LIVE_TABLE], { encoding: "utf8", timeout: 20_000 });
    const { port, client, table } = JSON.parse(output) as { port: number; client: number; table: string };
    const lines = parseSocketTable(table, "tcp").lines.map(brief);
    expect(lines).toContain(`TCP 127.0.0.1:${port} 0.0.0.0:0 LISTEN`);
    expect(lines).toContain(`TCP 127.0.0.1:${client} 127.0.0.1:${port} ESTABLISHED`);
    expect(lines).toContain(`TCP 127.0.0.1:${port} 127.0.0.1:${client} ESTABLISHED`);
  });
});
