// DNS prober against the real test DNS server on loopback.
import dns from "node:dns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCidr, type Cidr } from "../../agent/addresses/ip.js";
import { dnsProber, type DnsTarget } from "../../agent/probes/dns.js";
import { dnsReasonFor, parseDnsServer } from "../../agent/probes/resolver.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { closedPort } from "../support/listeners.js";

let server: TestDnsServer;

beforeAll(async () => {
  server = await startDnsServer({
    rules: [
      { name: "web.test", type: "A", answers: [{ type: "A", value: "10.1.2.3" }, { type: "A", value: "10.1.2.4" }] },
      { name: "web.test", type: "AAAA", answers: [{ type: "AAAA", value: "fd00::1:2" }] },
      { name: "mixed.test", type: "A", answers: [{ type: "A", value: "10.1.2.3" }, { type: "A", value: "172.16.0.9" }] },
      { name: "alias.test", type: "CNAME", answers: [{ type: "CNAME", value: "web.test" }] },
      { name: "txt.test", type: "TXT", answers: [{ type: "TXT", value: "hello world" }] },
      { name: "mx.test", type: "MX", answers: [{ type: "MX", value: "10 mail.test" }] },
      { name: "_dns._udp.srv.test", type: "SRV", answers: [{ type: "SRV", value: "0 10 53 ns.test" }] },
      { name: "zone.test", type: "NS", answers: [{ type: "NS", value: "ns1.zone.test" }] },
      { name: "gone.test", type: "A", rcode: "NXDOMAIN" },
      { name: "broken.test", type: "A", rcode: "SERVFAIL" },
      { name: "private.test", type: "A", rcode: "REFUSED" },
      { name: "empty.test", type: "A", answers: [] },
      { name: "drop.test", type: "A", drop: true },
      { name: "slow.test", type: "A", delayMs: 150, answers: [{ type: "A", value: "10.7.7.7" }] },
    ],
  });
});
afterAll(() => server.close());

function cidrs(...texts: string[]): Cidr[] {
  return texts.map((text) => {
    const parsed = parseCidr(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.value;
  });
}

const probe = (target: Partial<DnsTarget>, timeoutMs = 2000) =>
  dnsProber({ query: "web.test", type: "A", server: server.address, ...target }, { timeoutMs });

describe("dns prober", () => {
  it("answers ok with the answers, the server asked and a resolve phase", async () => {
    const outcome = await probe({});
    expect(outcome.reason).toBe("ok");
    expect(outcome.answers).toEqual(["10.1.2.3", "10.1.2.4"]);
    expect(outcome.address).toBe("127.0.0.1");
    expect(outcome.phases.resolve).toBeGreaterThan(0);
    expect(outcome.phases.connect).toBeUndefined();
    expect(outcome.durationSeconds).toBeGreaterThanOrEqual(outcome.phases.resolve ?? Infinity);
  });

  it("renders every record type as text", async () => {
    expect((await probe({ type: "AAAA" })).answers).toEqual(["fd00::1:2"]);
    expect((await probe({ query: "alias.test", type: "CNAME" })).answers).toEqual(["web.test"]);
    expect((await probe({ query: "alias.test", type: "A" })).answers).toEqual(["10.1.2.3", "10.1.2.4"]);
    expect((await probe({ query: "txt.test", type: "TXT" })).answers).toEqual(["hello world"]);
    expect((await probe({ query: "mx.test", type: "MX" })).answers).toEqual(["10 mail.test"]);
    expect((await probe({ query: "_dns._udp.srv.test", type: "SRV" })).answers).toEqual(["0 10 53 ns.test"]);
    expect((await probe({ query: "zone.test", type: "NS" })).answers).toEqual(["ns1.zone.test"]);
  });

  it("passes answersIn when every answer is inside a CIDR", async () => {
    const outcome = await probe({ answersIn: cidrs("192.168.0.0/16", "10.1.2.0/24") });
    expect(outcome.reason).toBe("ok");
    const v6 = await probe({ type: "AAAA", answersIn: cidrs("fd00::/8") });
    expect(v6.reason).toBe("ok");
  });

  it("fails answersIn when any answer is outside, and reports the answers", async () => {
    const outcome = await probe({ query: "mixed.test", answersIn: cidrs("10.0.0.0/8") });
    expect(outcome.reason).toBe("dns_unexpected_answer");
    expect(outcome.answers).toEqual(["10.1.2.3", "172.16.0.9"]);
    expect(outcome.detail).toContain("172.16.0.9");
    expect(outcome.detail).not.toContain("10.1.2.3");
  });

  it("keeps families apart in answersIn", async () => {
    expect((await probe({ type: "AAAA", answersIn: cidrs("0.0.0.0/0") })).reason).toBe("dns_unexpected_answer");
    expect((await probe({ answersIn: [] })).reason).toBe("dns_unexpected_answer");
  });

  it("maps NXDOMAIN, NODATA, SERVFAIL and REFUSED", async () => {
    expect((await probe({ query: "gone.test" })).reason).toBe("dns_nxdomain");
    expect((await probe({ query: "unknown.test" })).reason).toBe("dns_nxdomain");
    expect((await probe({ query: "empty.test" })).reason).toBe("dns_nodata");
    expect((await probe({ query: "web.test", type: "TXT" })).reason).toBe("dns_nodata");
    const servfail = await probe({ query: "broken.test" });
    expect(servfail.reason).toBe("dns_servfail");
    expect(servfail.detail).toBe("ESERVFAIL");
    expect((await probe({ query: "private.test" })).reason).toBe("dns_refused");
  });

  it("asks exactly one question per probe (tries: 1, even on SERVFAIL)", async () => {
    server.clearQueries();
    await probe({ query: "broken.test" });
    expect(server.queries()).toEqual([{ name: "broken.test", type: "A", transport: "udp" }]);
  });

  it("ends a dropped query at the deadline, not at c-ares' doubled timeout", async () => {
    const timeoutMs = 400;
    const started = performance.now();
    const outcome = await probe({ query: "drop.test" }, timeoutMs);
    const elapsed = performance.now() - started;
    expect(outcome.reason).toBe("dns_timeout");
    expect(elapsed).toBeLessThan(timeoutMs + 100);
    expect(outcome.durationSeconds * 1000).toBeGreaterThanOrEqual(timeoutMs - 5);
    expect(outcome.durationSeconds * 1000).toBeLessThan(timeoutMs + 100);
  });

  it("waits for a slow answer that comes within the deadline", async () => {
    const outcome = await probe({ query: "slow.test" }, 1000);
    expect(outcome.reason).toBe("ok");
    expect(outcome.phases.resolve).toBeGreaterThanOrEqual(0.14);
  });

  it("times out a slow answer that comes after the deadline", async () => {
    const outcome = await probe({ query: "slow.test" }, 50);
    expect(outcome.reason).toBe("dns_timeout");
    expect(outcome.durationSeconds).toBeLessThan(0.15);
  });

  it("gives refused when the server's port is closed", async () => {
    const port = await closedPort();
    const outcome = await probe({ server: `127.0.0.1:${port}` });
    expect(outcome.reason).toBe("refused");
    expect(outcome.detail).toBe("ECONNREFUSED");
  });

  it("ends at once with agent_error when the caller aborts", async () => {
    const controller = new AbortController();
    const pending = dnsProber({ query: "drop.test", type: "A", server: server.address }, { timeoutMs: 5000, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const outcome = await pending;
    expect(outcome).toMatchObject({ reason: "agent_error", detail: "aborted" });
    expect(outcome.durationSeconds).toBeLessThan(1);
  });

  it("uses the process's resolver for server \"cluster\", read at probe time", async () => {
    // dns.setServers through the default export: ESM named imports of getServers go stale.
    const saved = dns.getServers();
    try {
      dns.setServers([server.address]);
      expect(dns.getServers()).toEqual([server.address]); // nothing may leave loopback
      const outcome = await probe({ server: "cluster" });
      expect(outcome.reason).toBe("ok");
      expect(outcome.answers).toEqual(["10.1.2.3", "10.1.2.4"]);
      expect(outcome.address).toBe("127.0.0.1");
    } finally {
      dns.setServers(saved);
    }
  });

  it("never throws on garbage input: agent_error with a detail", async () => {
    const garbage: unknown[] = [
      { query: "", type: "A", server: server.address },
      { query: "web.test", type: "PTR", server: server.address },
      { query: "web.test", type: "A", server: "not-an-address" },
      { query: "web.test", type: "A", server: "127.0.0.1:0" },
      { query: "web.test", type: "A", server: "[127.0.0.1]:53" },
      { query: "web.test", type: "TXT", server: server.address, answersIn: [] },
      { query: "web.test", type: "A", server: server.address, answersIn: "10.0.0.0/8" },
      { query: 42, type: "A", server: server.address },
      null,
      undefined,
    ];
    for (const target of garbage) {
      const outcome = await dnsProber(target as DnsTarget, { timeoutMs: 500 });
      expect(outcome.reason, JSON.stringify(target)).toBe("agent_error");
      expect(outcome.detail, JSON.stringify(target)).toBeTruthy();
    }
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect((await dnsProber({ query: "web.test", type: "A", server: server.address }, { timeoutMs })).reason).toBe("agent_error");
    }
    expect((await dnsProber({ query: "web.test", type: "A", server: server.address }, null as unknown as { timeoutMs: number })).reason).toBe(
      "agent_error",
    );
  });
});

describe("DNS server addresses", () => {
  it("parses addr, addr:port and [v6]:port", () => {
    expect(parseDnsServer("10.96.0.10")).toEqual({ ok: true, value: { ip: "10.96.0.10", port: 53, setting: "10.96.0.10:53" } });
    expect(parseDnsServer("127.0.0.1:5353")).toEqual({ ok: true, value: { ip: "127.0.0.1", port: 5353, setting: "127.0.0.1:5353" } });
    expect(parseDnsServer("[::1]:5353")).toEqual({ ok: true, value: { ip: "::1", port: 5353, setting: "[::1]:5353" } });
    expect(parseDnsServer("[fd00::10]")).toEqual({ ok: true, value: { ip: "fd00::10", port: 53, setting: "[fd00::10]:53" } });
    expect(parseDnsServer("fd00::10")).toEqual({ ok: true, value: { ip: "fd00::10", port: 53, setting: "[fd00::10]:53" } });
  });

  it("refuses names, bad ports and scoped addresses", () => {
    for (const text of ["kube-dns", "kube-dns:53", "1.2.3.4:70000", "1.2.3.4:", "[::1]:x", "fe80::1%eth0", "[fe80::1%eth0]:53", ""]) {
      expect(parseDnsServer(text).ok, text).toBe(false);
    }
  });
});

describe("c-ares code mapping", () => {
  it("maps each code to its reason", () => {
    expect(dnsReasonFor("ENOTFOUND", "target")).toBe("dns_nxdomain");
    expect(dnsReasonFor("ENODATA", "target")).toBe("dns_nodata");
    expect(dnsReasonFor("ESERVFAIL", "target")).toBe("dns_servfail");
    expect(dnsReasonFor("EREFUSED", "target")).toBe("dns_refused");
    expect(dnsReasonFor("ETIMEOUT", "target")).toBe("dns_timeout");
    expect(dnsReasonFor("ECANCELLED", "target")).toBe("dns_timeout");
    expect(dnsReasonFor("ECONNREFUSED", "target")).toBe("refused");
    expect(dnsReasonFor("ECONNREFUSED", "resolver")).toBe("dns_refused");
    expect(dnsReasonFor("EBADRESP", "target")).toBe("agent_error");
    expect(dnsReasonFor(undefined, "target")).toBe("agent_error");
  });
});
