// The registry: one prober per target kind, typed by kind.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dnsProber, httpProber, probers, runProbe, tcpProber, type DnsTarget, type TcpTarget } from "../../agent/probes/index.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { acceptingEndpoint, type Endpoint } from "../support/listeners.js";

let endpoint: Endpoint;
let dnsServer: TestDnsServer;

beforeAll(async () => {
  endpoint = await acceptingEndpoint();
  dnsServer = await startDnsServer({ rules: [{ name: "web.test", type: "A", answers: [{ type: "A", value: "127.0.0.1" }] }] });
});
afterAll(async () => {
  await Promise.all([endpoint.close(), dnsServer.close()]);
});

describe("prober registry", () => {
  it("holds exactly the tcp, dns and http probers", () => {
    expect(Object.keys(probers).sort()).toEqual(["dns", "http", "tcp"]);
    expect(probers.http).toBe(httpProber);
    expect(probers.tcp).toBe(tcpProber);
    expect(probers.dns).toBe(dnsProber);
  });

  it("runs a probe by kind", async () => {
    const tcp: TcpTarget = { ip: "127.0.0.1", port: endpoint.port };
    const dns: DnsTarget = { query: "web.test", type: "A", server: dnsServer.address };
    expect((await runProbe("tcp", tcp, { timeoutMs: 1000 })).reason).toBe("ok");
    const outcome = await runProbe("dns", dns, { timeoutMs: 1000 });
    expect(outcome).toMatchObject({ reason: "ok", answers: ["127.0.0.1"] });
  });

  it("types targets by kind", () => {
    const dns: DnsTarget = { query: "web.test", type: "A", server: "127.0.0.1" };
    // @ts-expect-error a DNS target is not a TCP target (checked by tsc, not at run time)
    const wrong = () => runProbe("tcp", dns, { timeoutMs: 1 });
    expect(typeof wrong).toBe("function");
  });
});
