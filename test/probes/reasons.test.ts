// Each prober declares its reasons (what proves packets passed, what means "never tried"):
// the declaration must cover every reason the prober can report, mapped or observed.
import dns from "node:dns";
import { constants } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DNS_REASON_DECLARATION } from "../../agent/probes/dns.js";
import { Stopwatch } from "../../agent/probes/deadline.js";
import { proberModules, runCall, type ProbeCall, type ProbeKind } from "../../agent/probes/index.js";
import { PROBE_REASONS } from "../../agent/probes/prober.js";
import { dnsReasonFor } from "../../agent/probes/resolver.js";
import { TCP_REASON_DECLARATION, tcpReasonFor, type TcpReason } from "../../agent/probes/tcp.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { acceptingEndpoint, closedPort, resettingEndpoint, unansweredEndpoint, type Endpoint } from "../support/listeners.js";

// Every errno name of this system and every c-ares error code node:dns exports, plus none.
const ERRNO_CODES = Object.keys(constants.errno);
const CARES_CODES = Object.entries(dns)
  .filter(([name, value]) => /^[A-Z]+$/.test(name) && typeof value === "string" && value.startsWith("E"))
  .map(([, value]) => value as string);
const CODES: readonly (string | undefined)[] = [undefined, "", ...ERRNO_CODES, ...CARES_CODES];

describe("reason declarations", () => {
  it("the registry's modules each declare ok and agent_error, only known reasons, passed among reported, none both passed and never tried", () => {
    expect(Object.keys(proberModules).sort()).toEqual(["dns", "http", "tcp"]);
    for (const [kind, module] of Object.entries(proberModules)) {
      const { reports, passed, notTried } = module.reasons;
      expect(reports, kind).toContain("ok");
      expect(reports, kind).toContain("agent_error");
      for (const reason of reports) expect(PROBE_REASONS, `${kind}: ${reason}`).toContain(reason);
      for (const reason of passed) expect(reports, `${kind}: ${reason}`).toContain(reason);
      for (const reason of passed) expect(notTried, `${kind}: ${reason}`).not.toContain(reason);
      expect(new Set(reports).size, kind).toBe(reports.length);
    }
  });

  it("every reason the mappings give is declared: TCP's connect and resolve phases, DNS's answers", () => {
    expect(CARES_CODES.length).toBeGreaterThan(10);
    for (const code of CODES) {
      expect(TCP_REASON_DECLARATION.reports, `tcp connect ${String(code)}`).toContain(tcpReasonFor(code));
      expect(TCP_REASON_DECLARATION.reports, `tcp resolve ${String(code)}`).toContain(dnsReasonFor(code, "resolver"));
      expect(DNS_REASON_DECLARATION.reports, `dns ${String(code)}`).toContain(dnsReasonFor(code, "target"));
    }
  });

  it("a prober's clock takes only the reasons its module declares (checked by tsc)", () => {
    const clock = new Stopwatch<TcpReason>();
    // @ts-expect-error a TCP probe never reports dns_unexpected_answer: its clock refuses it
    const wrong = () => clock.outcome("dns_unexpected_answer");
    expect(typeof wrong).toBe("function");
    expect(clock.outcome("refused").reason).toBe("refused");
  });
});

describe("reasons seen on real sockets are declared by their prober", () => {
  let open: Endpoint;
  let resetting: Endpoint;
  let unanswered: Endpoint;
  let closed: number;
  let server: TestDnsServer;

  beforeAll(async () => {
    [open, resetting, unanswered, closed] = await Promise.all([acceptingEndpoint(), resettingEndpoint(), unansweredEndpoint(), closedPort()]);
    server = await startDnsServer({
      rules: [
        { name: "web.test", type: "A", answers: [{ type: "A", value: "127.0.0.1" }] },
        { name: "gone.test", type: "A", rcode: "NXDOMAIN" },
        { name: "broken.test", type: "A", rcode: "SERVFAIL" },
        { name: "private.test", type: "A", rcode: "REFUSED" },
        { name: "drop.test", type: "A", drop: true },
      ],
    });
  });
  afterAll(async () => {
    await Promise.all([open.close(), resetting.close(), unanswered.close(), server.close()]);
  });

  it("tcp, dns and http outcomes, each reason among its kind's declared ones", async () => {
    const tcp = (target: { readonly ip?: string; readonly host?: string; readonly port: number }): ProbeCall => ({ kind: "tcp", target: { ...target, dnsServer: server.address } });
    const calls: ProbeCall[] = [
      tcp({ ip: "127.0.0.1", port: open.port }),
      tcp({ ip: "127.0.0.1", port: resetting.port }),
      tcp({ ip: "127.0.0.1", port: closed }),
      tcp({ ip: unanswered.host, port: unanswered.port }),
      tcp({ host: "gone.test", port: open.port }),
      tcp({ host: "broken.test", port: open.port }),
      tcp({ host: "private.test", port: open.port }),
      tcp({ host: "drop.test", port: open.port }),
      tcp({ ip: "not an address", port: 1 }),
      ...["web.test", "gone.test", "broken.test", "private.test", "drop.test"].map((query): ProbeCall => ({ kind: "dns", target: { query, type: "A", server: server.address } })),
      { kind: "dns", target: { query: "web.test", type: "A", server: `127.0.0.1:${closed}` } },
      { kind: "dns", target: { query: "web.test", type: "A", server: server.address, answersIn: [] } },
      { kind: "http", target: { url: `http://127.0.0.1:${closed}/` } },
      { kind: "http", target: { url: `http://${unanswered.host}:${unanswered.port}/` } },
      { kind: "http", target: { url: `http://127.0.0.1:${resetting.port}/` } },
      { kind: "http", target: { url: `http://127.0.0.1:${open.port}/` } },
      { kind: "http", target: { url: `http://gone.test:${open.port}/`, dnsServer: server.address } },
      { kind: "http", target: { url: "ftp://127.0.0.1/" } },
    ];
    const seen = new Map<ProbeKind, Set<string>>();
    for (const call of calls) {
      const outcome = await runCall(call, { timeoutMs: 300 });
      expect(proberModules[call.kind].reasons.reports, `${call.kind} ${JSON.stringify(call.target)}`).toContain(outcome.reason);
      seen.set(call.kind, (seen.get(call.kind) ?? new Set()).add(outcome.reason));
    }
    // The calls above reach most of each declaration: a declaration wider than its prober stays visible.
    expect([...(seen.get("tcp") ?? [])].sort()).toEqual(["agent_error", "dns_nxdomain", "dns_refused", "dns_servfail", "dns_timeout", "ok", "refused", "timeout"]);
    expect([...(seen.get("dns") ?? [])].sort()).toEqual(["dns_nxdomain", "dns_refused", "dns_servfail", "dns_timeout", "dns_unexpected_answer", "ok", "refused"]);
    // The rest of HTTP's reasons need servers that speak HTTP and TLS: test/probes/http.test.ts.
    expect([...(seen.get("http") ?? [])].sort()).toEqual(["agent_error", "dns_nxdomain", "http_error", "http_timeout", "refused", "timeout"]);
  });
});
