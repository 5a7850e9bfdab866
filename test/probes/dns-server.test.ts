// The test DNS server itself, asked by node:dns and (where installed) by dig.
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readName, startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { describeWith } from "../support/prerequisites.js";

let server: TestDnsServer;

beforeAll(async () => {
  server = await startDnsServer({
    rules: [
      { name: "web.test", type: "A", answers: [{ type: "A", value: "10.1.2.3", ttl: 30 }, { type: "A", value: "10.1.2.4" }] },
      { name: "web.test", type: "AAAA", answers: [{ type: "AAAA", value: "fd00::1:2" }] },
      { name: "alias.test", type: "CNAME", answers: [{ type: "CNAME", value: "web.test" }] },
      { name: "txt.test", type: "TXT", answers: [{ type: "TXT", value: "v=spf1 -all" }] },
      { name: "mx.test", type: "MX", answers: [{ type: "MX", value: "10 mail.test" }] },
      { name: "_http._tcp.srv.test", type: "SRV", answers: [{ type: "SRV", value: "1 5 8080 web.test" }] },
      { name: "zone.test", type: "NS", answers: [{ type: "NS", value: "ns1.zone.test" }] },
      { name: "gone.test", type: "A", rcode: "NXDOMAIN" },
      { name: "broken.test", type: "A", rcode: "SERVFAIL" },
      { name: "private.test", type: "A", rcode: "REFUSED" },
      { name: "empty.test", type: "A", answers: [] },
      { name: "drop.test", type: "A", drop: true },
      { name: "slow.test", type: "A", delayMs: 300, answers: [{ type: "A", value: "10.9.9.9" }] },
    ],
  });
});
afterAll(() => server.close());
beforeEach(() => server.clearQueries());

function resolver(timeout = 1000): Resolver {
  const r = new Resolver({ timeout, tries: 1 });
  r.setServers([server.address]);
  return r;
}

async function errorCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
}

describe("test DNS server, asked by node:dns", () => {
  it("binds an ephemeral loopback port", () => {
    expect(server.host).toBe("127.0.0.1");
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
  });

  it("answers A and AAAA with the configured records and TTLs", async () => {
    expect(await resolver().resolve4("web.test", { ttl: true })).toEqual([
      { address: "10.1.2.3", ttl: 30 },
      { address: "10.1.2.4", ttl: 60 },
    ]);
    expect(await resolver().resolve6("web.test")).toEqual(["fd00::1:2"]);
    expect(server.queries()).toEqual([
      { name: "web.test", type: "A", transport: "udp" },
      { name: "web.test", type: "AAAA", transport: "udp" },
    ]);
  });

  it("matches names case-insensitively and ignores a trailing dot", async () => {
    expect(await resolver().resolve4("WEB.Test.")).toEqual(["10.1.2.3", "10.1.2.4"]);
  });

  it("answers CNAME and follows it for A", async () => {
    expect(await resolver().resolveCname("alias.test")).toEqual(["web.test"]);
    expect(await resolver().resolve4("alias.test")).toEqual(["10.1.2.3", "10.1.2.4"]);
  });

  it("answers TXT, MX, SRV and NS", async () => {
    expect(await resolver().resolveTxt("txt.test")).toEqual([["v=spf1 -all"]]);
    // Node 24 adds a `type` field to MX and SRV results.
    expect(await resolver().resolveMx("mx.test")).toMatchObject([{ priority: 10, exchange: "mail.test" }]);
    expect(await resolver().resolveSrv("_http._tcp.srv.test")).toMatchObject([{ priority: 1, weight: 5, port: 8080, name: "web.test" }]);
    expect(await resolver().resolveNs("zone.test")).toEqual(["ns1.zone.test"]);
  });

  it("gives the configured rcodes, NXDOMAIN for unknown names and NODATA for unknown types", async () => {
    expect(await errorCode(resolver().resolve4("gone.test"))).toBe("ENOTFOUND");
    expect(await errorCode(resolver().resolve4("nowhere.test"))).toBe("ENOTFOUND");
    expect(await errorCode(resolver().resolve4("broken.test"))).toBe("ESERVFAIL");
    expect(await errorCode(resolver().resolve4("private.test"))).toBe("EREFUSED");
    expect(await errorCode(resolver().resolve4("empty.test"))).toBe("ENODATA");
    expect(await errorCode(resolver().resolveTxt("web.test"))).toBe("ENODATA");
  });

  it("never answers a dropped query, but records it", async () => {
    const started = performance.now();
    expect(await errorCode(resolver(200).resolve4("drop.test"))).toBe("ETIMEOUT");
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(server.queries()).toEqual([{ name: "drop.test", type: "A", transport: "udp" }]);
  });

  it("delays an answer by delayMs", async () => {
    const started = performance.now();
    expect(await resolver(2000).resolve4("slow.test")).toEqual(["10.9.9.9"]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("takes new behaviour with set()", async () => {
    server.set("later.test", "A", { answers: [{ type: "A", value: "192.0.2.7" }] });
    expect(await resolver().resolve4("later.test")).toEqual(["192.0.2.7"]);
    server.set("later.test", "A", { rcode: "SERVFAIL" });
    expect(await errorCode(resolver().resolve4("later.test"))).toBe("ESERVFAIL");
  });
});

describe("test DNS server wire handling", () => {
  function rawQuery(message: Buffer): Promise<Buffer> {
    const socket = createSocket("udp4");
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error("no answer in 2 s"));
      }, 2000);
      socket.once("message", (reply: Buffer) => {
        clearTimeout(timer);
        socket.close();
        resolve(reply);
      });
      socket.send(message, server.port, server.host);
    });
  }

  it("reads compressed names", () => {
    // "web.test" at 12, then "www" + pointer to 12.
    const message = Buffer.from([...Array<number>(12).fill(0), 3, 119, 101, 98, 4, 116, 101, 115, 116, 0, 3, 119, 119, 119, 0xc0, 12]);
    expect(readName(message, 12)).toEqual({ name: "web.test", next: 22 });
    expect(readName(message, 22)).toEqual({ name: "www.web.test", next: 28 });
  });

  it("rejects compression loops instead of spinning", () => {
    const message = Buffer.from([...Array<number>(12).fill(0), 0xc0, 12]);
    expect(() => readName(message, 12)).toThrow(/loop/);
  });

  it("answers a query whose question name is a compression pointer", async () => {
    // Header: id 0x1234, RD, one question. Question name: "web" at 12, then a pointer (16-17)
    // to "test" at 22, which sits after the type (18-19) and class (20-21).
    const header = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    const message = Buffer.from([...header, 3, 119, 101, 98, 0xc0, 22, 0, 1, 0, 1, 4, 116, 101, 115, 116, 0]);
    const reply = await rawQuery(message);
    expect(reply.readUInt16BE(0)).toBe(0x1234);
    expect(reply.readUInt16BE(2) & 0x000f).toBe(0); // NOERROR
    expect(reply.readUInt16BE(6)).toBe(2); // two A records
    expect(server.queries()).toEqual([{ name: "web.test", type: "A", transport: "udp" }]);
  });

  it("answers FORMERR to a message with no question", async () => {
    const reply = await rawQuery(Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(reply.readUInt16BE(0)).toBe(0xabcd);
    expect(reply.readUInt16BE(2) & 0x800f).toBe(0x8001);
  });
});

describeWith({ commands: ["dig"] }, "test DNS server, asked by dig", () => {
  function dig(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile("dig", ["@127.0.0.1", "-p", String(server.port), "+time=2", "+tries=1", ...args], { timeout: 10_000 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      );
    });
  }

  it("answers A over UDP", async () => {
    expect((await dig("+short", "web.test", "A")).trim().split("\n")).toEqual(["10.1.2.3", "10.1.2.4"]);
    expect(server.queries()).toEqual([{ name: "web.test", type: "A", transport: "udp" }]);
  });

  it("answers A over TCP", async () => {
    expect((await dig("+tcp", "+short", "web.test", "A")).trim().split("\n")).toEqual(["10.1.2.3", "10.1.2.4"]);
    expect(server.queries()).toEqual([{ name: "web.test", type: "A", transport: "tcp" }]);
  });

  it("answers AAAA and follows CNAME", async () => {
    expect((await dig("+short", "web.test", "AAAA")).trim()).toBe("fd00::1:2");
    expect((await dig("+short", "alias.test", "A")).trim().split("\n")).toEqual(["web.test.", "10.1.2.3", "10.1.2.4"]);
  });

  it("reports NXDOMAIN, SERVFAIL and REFUSED in the header", async () => {
    expect(await dig("gone.test", "A")).toMatch(/status: NXDOMAIN/);
    expect(await dig("broken.test", "A")).toMatch(/status: SERVFAIL/);
    expect(await dig("private.test", "A")).toMatch(/status: REFUSED/);
    expect(await dig("empty.test", "A")).toMatch(/status: NOERROR.*\n.*ANSWER: 0/);
  });
});
