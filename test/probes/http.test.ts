// HTTP(S) prober against real loopback servers: an origin (HTTP and HTTPS, certificates from
// a CA made with openssl), a Zscaler-like explicit proxy, a TLS-inspecting hop with a CA
// named like Zscaler's intermediate, the test DNS server and the check page stand-in. Every
// reason the prober reports is produced here for real.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { globMatches, HTTP_REASON_DECLARATION, HTTP_REASONS, httpExchange, httpProber, issuerMeets, parseStatusSpec, type HttpOutcome, type HttpTarget } from "../../agent/probes/http.js";
import { packetProof } from "../../agent/probes/prober.js";
import { parseCheckPage } from "../../agent/zscaler/check-page.js";
import { CheckPageServer } from "../support/check-page-server.js";
import { repoRoot } from "../support/cli.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { startHttpOrigin, type HttpOrigin } from "../support/http-origin.js";
import { closedPort, resettingEndpoint, unansweredEndpoint, type Endpoint } from "../support/listeners.js";
import { describeWith } from "../support/prerequisites.js";
import { createTestCa, PUBLIC_LIKE_CA_SUBJECT, type TestCa } from "../support/test-ca.js";
import { TlsInspector } from "../support/tls-inspector.js";
import { waitFor } from "../support/wait.js";
import { ZscalerGateway } from "../support/zscaler-gateway.js";

const context = { timeoutMs: 3000 };

describeWith({ commands: ["openssl"] }, "http prober on real loopback servers", () => {
  let publicCa: TestCa;
  let plain: HttpOrigin;
  let secure: HttpOrigin;
  let selfSigned: HttpOrigin;
  let inspector: TlsInspector;
  let gateway: ZscalerGateway;
  let checkPage: CheckPageServer;
  let dns: TestDnsServer;
  let unanswered: Endpoint;
  let resetting: Endpoint;
  let garbage: Server;
  let garbagePort: number;

  beforeAll(async () => {
    publicCa = await createTestCa(PUBLIC_LIKE_CA_SUBJECT);
    const [originCert, selfCert] = await Promise.all([publicCa.issue("origin.test"), publicCa.selfSigned("origin.test")]);
    [plain, secure, selfSigned, checkPage, unanswered, resetting] = await Promise.all([
      startHttpOrigin(),
      startHttpOrigin({ tls: originCert }),
      startHttpOrigin({ tls: selfCert }),
      CheckPageServer.start("auto"),
      unansweredEndpoint(),
      resettingEndpoint(),
    ]);
    inspector = await TlsInspector.start({ upstream: (sni) => (sni === "inspected.test" || sni === "origin.test" ? { host: "127.0.0.1", port: secure.port } : undefined) });
    gateway = await ZscalerGateway.start({
      upstreams: {
        "origin.test": { host: "127.0.0.1", port: secure.port },
        "plain.test": { host: "127.0.0.1", port: plain.port },
        "ip.zscaler.test": { host: "127.0.0.1", port: checkPage.listenPort },
      },
      blocked: ["blocked.test"],
      inspect: { inspector, hosts: ["inspected.test"] },
    });
    dns = await startDnsServer({
      rules: [
        { name: "origin.test", type: "A", answers: [{ type: "A", value: "127.0.0.1" }] },
        { name: "proxy.test", type: "A", answers: [{ type: "A", value: "127.0.0.1" }] },
        { name: "gone.test", type: "A", rcode: "NXDOMAIN" },
        { name: "blockdns.test", type: "A", answers: [{ type: "A", value: "34.215.46.88" }] },
      ],
    });
    // Answers every connection with bytes that are not HTTP.
    garbage = createServer((socket: Socket) => {
      socket.on("error", () => socket.destroy());
      socket.resume(); // reads the client's FIN, so the socket closes when the client goes
      socket.end("NOT HTTP AT ALL\r\n\r\n");
    });
    await new Promise<void>((resolve) => garbage.listen(0, "127.0.0.1", resolve));
    garbagePort = (garbage.address() as { port: number }).port;
  });

  afterAll(async () => {
    await Promise.all([plain?.close(), secure?.close(), selfSigned?.close(), checkPage?.close(), unanswered?.close(), resetting?.close(), dns?.close()]);
    await gateway?.close();
    await inspector?.close();
    await publicCa?.close();
    await new Promise<void>((resolve) => (garbage ? garbage.close(() => resolve()) : resolve()));
  });

  const direct = (path: string, extra: Partial<HttpTarget> = {}): HttpTarget => ({ url: `http://127.0.0.1:${plain.port}${path}`, ...extra });
  const tlsOrigin = (extra: Partial<HttpTarget> = {}): HttpTarget => ({ url: `https://origin.test:${secure.port}/`, ip: "127.0.0.1", tls: { caPem: publicCa.certPem }, ...extra });

  describe("direct requests", () => {
    it("gets 200 from a plain HTTP origin: ok, connect and processing timed, the body counted", async () => {
      const outcome = await httpProber(direct("/"), context);
      expect(outcome).toMatchObject({ reason: "ok", status: 200, address: "127.0.0.1", bodyBytes: 17 });
      expect(outcome.phases.connect).toBeGreaterThan(0);
      expect(outcome.phases.processing).toBeGreaterThan(0);
      expect(outcome.phases.tls).toBeUndefined();
      expect(outcome.phases.resolve).toBeUndefined();
      expect(plain.requests.at(-1)).toMatchObject({ method: "GET", url: "/" });
      expect(plain.requests.at(-1)?.headers.host).toBe(`127.0.0.1:${plain.port}`);
    });

    it("gets 200 over verified TLS with the name from the URL and the trusted extra CA: the issuer is reported", async () => {
      const outcome = await httpProber(tlsOrigin(), context);
      expect(outcome).toMatchObject({ reason: "ok", status: 200, tls: { authorized: true, zscalerIssuer: false, issuerCn: "Netcanary Test Public CA R1", issuerO: "Netcanary Test Trust" } });
      expect(outcome.phases.tls).toBeGreaterThan(0);
      expect(secure.requests.at(-1)?.headers.host).toBe(`origin.test:${secure.port}`);
    });

    it("reports a status outside the expected ones as http_status, and accepts it when listed", async () => {
      const bad = await httpProber(direct("/status/503"), context);
      expect(bad).toMatchObject({ reason: "http_status", status: 503, detail: "status 503, expected 200-299" });
      const listed = await httpProber(direct("/status/503", { expectStatus: [{ from: 500, to: 503 }] }), context);
      expect(listed).toMatchObject({ reason: "ok", status: 503 });
    });

    it("names a redirect's location in the detail without its credentials or token", async () => {
      const outcome = await httpProber(direct("/redirect"), context);
      expect(outcome.reason).toBe("http_status");
      expect(outcome.detail).toContain("location https://***@login.example/next?token=***");
      expect(outcome.detail).not.toMatch(/hunter2|s3cret/);
    });

    it("never puts body text in the detail", async () => {
      const outcome = await httpProber(direct("/status/500"), context);
      expect(outcome.reason).toBe("http_status");
      expect(outcome.detail).not.toContain("status 500\n");
      expect(JSON.stringify(outcome)).not.toContain("status 500\\n");
    });

    it("sends HEAD and reads no body", async () => {
      const outcome = await httpProber(direct("/bytes/5000", { method: "HEAD" }), context);
      expect(outcome).toMatchObject({ reason: "ok", status: 200, bodyBytes: 0 });
      expect(plain.requests.at(-1)).toMatchObject({ method: "HEAD", url: "/bytes/5000" });
    });

    it("reads at most maxBodyBytes of a large body and stops reading there", async () => {
      const total = 64 * 1024 * 1024;
      const exchange = await httpExchange(direct(`/bytes/${total}`, { maxBodyBytes: 1024 }), context, { captureBody: true });
      expect(exchange.outcome).toMatchObject({ reason: "ok", status: 200, bodyBytes: 1024 });
      expect(exchange.body).toBe("a".repeat(1024));
      const record = plain.requests.at(-1);
      await waitFor(() => record?.closedEarly === true, 3000, "the origin to see the client go");
      // The server could not push the whole body: the client stopped reading and closed.
      expect(record?.bytesWritten ?? total).toBeLessThan(total);
    });

    it("sends the configured headers and its own Host and User-Agent", async () => {
      const outcome = await httpProber(direct("/", { headers: { "X-Probe": "netcanary", accept: "text/plain" }, hostHeader: "virtual.test" }), context);
      expect(outcome.reason).toBe("ok");
      const headers = plain.requests.at(-1)?.headers;
      expect(headers).toMatchObject({ "x-probe": "netcanary", accept: "text/plain", host: "virtual.test", "user-agent": "netcanary" });
    });

    it("recognises a Zscaler block page served by an inspecting hop as zscaler_blocked", async () => {
      const outcome = await httpProber(direct("/blockpage"), context);
      expect(outcome).toMatchObject({ reason: "zscaler_blocked", status: 403 });
      expect(outcome.detail).toBe("Zscaler block page (status 403)");
    });
  });

  describe("failures before and after the connection", () => {
    it("gives refused for a closed port, in the connect phase", async () => {
      const port = await closedPort();
      const outcome = await httpProber({ url: `http://127.0.0.1:${port}/` }, context);
      expect(outcome).toMatchObject({ reason: "refused", detail: "ECONNREFUSED", address: "127.0.0.1" });
      expect(outcome.phases.connect).toBeGreaterThan(0);
      expect(outcome.phases.processing).toBeUndefined();
    });

    it("gives timeout when the connection is never made", async () => {
      const outcome = await httpProber({ url: `http://127.0.0.1:${unanswered.port}/` }, { timeoutMs: 300 });
      expect(outcome).toMatchObject({ reason: "timeout", detail: "deadline" });
      expect(outcome.durationSeconds).toBeGreaterThanOrEqual(0.29);
    });

    it("gives http_timeout when connected but no answer comes", async () => {
      const outcome = await httpProber(direct("/hang"), { timeoutMs: 400 });
      expect(outcome).toMatchObject({ reason: "http_timeout", detail: "deadline before the response head" });
      expect(outcome.phases.processing).toBeGreaterThan(0.3);
    });

    it("gives http_timeout naming the status when the body trickles past the deadline", async () => {
      const outcome = await httpProber(direct("/trickle"), { timeoutMs: 400 });
      expect(outcome.reason).toBe("http_timeout");
      expect(outcome.detail).toMatch(/^deadline while reading the body \(status 200, \d+ bytes\)$/);
    });

    it("gives http_error for a server that resets the connection and for one that does not speak HTTP", async () => {
      const reset = await httpProber({ url: `http://127.0.0.1:${resetting.port}/` }, context);
      expect(reset.reason).toBe("http_error");
      const notHttp = await httpProber({ url: `http://127.0.0.1:${garbagePort}/` }, context);
      expect(notHttp).toMatchObject({ reason: "http_error" });
      expect(notHttp.detail).toMatch(/^HPE_/);
    });

    it("gives http_error for a response head over the limit", async () => {
      const outcome = await httpProber(direct("/huge-head"), context);
      expect(outcome).toMatchObject({ reason: "http_error", detail: "HPE_HEADER_OVERFLOW" });
    });

    it("gives agent_error, not a network reason, when the caller aborts the probe", async () => {
      const controller = new AbortController();
      const pending = httpProber(direct("/hang"), { timeoutMs: 3000, signal: controller.signal });
      await waitFor(() => plain.requests.at(-1)?.url === "/hang", 2000, "the request to arrive");
      controller.abort();
      expect(await pending).toMatchObject({ reason: "agent_error", detail: "aborted" });
    });

    it("gives tls_error when the server does not speak TLS", async () => {
      const outcome = await httpProber({ url: `https://127.0.0.1:${plain.port}/` }, context);
      expect(outcome.reason).toBe("tls_error");
      expect(outcome.phases.tls).toBeGreaterThan(0);
      expect(outcome.phases.processing).toBeUndefined();
    });

    it("gives tls_untrusted for a chain it does not trust, and ok with verification off", async () => {
      const untrusted = await httpProber(tlsOrigin({ tls: {} }), context);
      expect(untrusted).toMatchObject({ reason: "tls_untrusted", tls: { authorized: false, issuerCn: "Netcanary Test Public CA R1" } });
      expect(untrusted.detail).toContain("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
      expect(secure.requests.length).toBeGreaterThan(0);
      const unverified = await httpProber(tlsOrigin({ tls: { verify: false } }), context);
      expect(unverified).toMatchObject({ reason: "ok", tls: { authorized: false } });
    });

    it("gives tls_untrusted for a self-signed certificate and for a name the certificate does not hold", async () => {
      const self = await httpProber({ url: `https://origin.test:${selfSigned.port}/`, ip: "127.0.0.1", tls: { caPem: publicCa.certPem } }, context);
      expect(self.reason).toBe("tls_untrusted");
      expect(self.detail).toContain("DEPTH_ZERO_SELF_SIGNED_CERT");
      const wrongName = await httpProber(tlsOrigin({ tls: { caPem: publicCa.certPem, sni: "other.test" } }), context);
      expect(wrongName.reason).toBe("tls_untrusted");
      expect(wrongName.detail).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
    });
  });

  describe("name resolution", () => {
    it("resolves the URL's host through the given DNS server, in the resolve phase", async () => {
      const outcome = await httpProber({ url: `http://origin.test:${plain.port}/`, dnsServer: dns.address }, context);
      expect(outcome).toMatchObject({ reason: "ok", address: "127.0.0.1" });
      expect(outcome.phases.resolve).toBeGreaterThan(0);
      expect(dns.queries().some((query) => query.name === "origin.test")).toBe(true);
    });

    it("reports a name that does not exist as dns_nxdomain without connecting", async () => {
      const outcome = await httpProber({ url: "http://gone.test/", dnsServer: dns.address }, context);
      expect(outcome.reason).toBe("dns_nxdomain");
      expect(outcome.phases.connect).toBeUndefined();
    });

    it("reports Zscaler's DNS block answer as dns_zscaler_block and never connects to it", async () => {
      const outcome = await httpProber({ url: "http://blockdns.test/", dnsServer: dns.address }, context);
      expect(outcome).toMatchObject({ reason: "dns_zscaler_block", detail: "blockdns.test resolved to Zscaler's DNS block address 34.215.46.88" });
      expect(outcome.phases.connect).toBeUndefined();
      expect(outcome.address).toBeUndefined();
    });
  });

  describe("through the explicit proxy", () => {
    const viaProxy = (url: string, extra: Partial<HttpTarget> = {}): HttpTarget => ({ url, proxy: gateway.proxyUrl, ...extra });

    it("tunnels HTTPS with CONNECT: ok, the origin's own issuer, the proxy's address", async () => {
      const before = gateway.requests.length;
      const outcome = await httpProber(viaProxy("https://origin.test/", { tls: { caPem: publicCa.certPem } }), context);
      expect(outcome).toMatchObject({ reason: "ok", status: 200, address: "127.0.0.1", tls: { authorized: true, zscalerIssuer: false } });
      expect(gateway.requests.slice(before)).toMatchObject([{ kind: "connect", target: "origin.test:443", outcome: "tunnel" }]);
    });

    it("sends plain HTTP in absolute form through the proxy", async () => {
      const before = gateway.requests.length;
      const outcome = await httpProber(viaProxy("http://plain.test/"), context);
      expect(outcome).toMatchObject({ reason: "ok", status: 200 });
      expect(gateway.requests.slice(before)).toMatchObject([{ kind: "forward", target: "http://plain.test/", outcome: "forwarded" }]);
      expect(plain.requests.at(-1)?.headers["x-forwarded-for"]).toBe("127.0.0.1");
    });

    it("resolves a proxy given by name", async () => {
      const outcome = await httpProber(viaProxy("http://plain.test/", { proxy: `http://proxy.test:${gateway.listenPort}`, dnsServer: dns.address }), context);
      expect(outcome.reason).toBe("ok");
      expect(outcome.phases.resolve).toBeGreaterThan(0);
    });

    it("gives refused when nothing listens at the proxy's port", async () => {
      const port = await closedPort();
      const outcome = await httpProber({ url: "https://origin.test/", proxy: `http://127.0.0.1:${port}` }, context);
      expect(outcome).toMatchObject({ reason: "refused", address: "127.0.0.1" });
    });

    it("gives proxy_error for a CONNECT answered 407 and for one answered 502", async () => {
      gateway.connectStatus = 407;
      try {
        const auth = await httpProber(viaProxy("https://origin.test/"), context);
        expect(auth).toMatchObject({ reason: "proxy_error", status: 407, detail: "proxy answered CONNECT with 407" });
      } finally {
        gateway.connectStatus = undefined;
      }
      const unknownHost = await httpProber(viaProxy("https://nowhere.test/"), context);
      expect(unknownHost).toMatchObject({ reason: "proxy_error", status: 502, detail: "proxy answered CONNECT with 502" });
      expect(gateway.requests.at(-1)).toMatchObject({ kind: "connect", target: "nowhere.test:443", outcome: "502" });
    });

    it("gives proxy_error when the proxy closes the connection without answering CONNECT", async () => {
      const outcome = await httpProber({ url: "https://origin.test/", proxy: `http://127.0.0.1:${resetting.port}` }, context);
      expect(outcome.reason).toBe("proxy_error");
    });

    it("recognises the block page in answer to CONNECT and to a plain request as zscaler_blocked", async () => {
      const tunnelled = await httpProber(viaProxy("https://blocked.test/"), context);
      expect(tunnelled).toMatchObject({ reason: "zscaler_blocked", status: 403 });
      const plainBlocked = await httpProber(viaProxy("http://blocked.test/"), context);
      expect(plainBlocked).toMatchObject({ reason: "zscaler_blocked", status: 403 });
      expect(plainBlocked.detail).not.toContain("permission");
    });
  });

  describe("inspection: the expected issuer", () => {
    const inspected = (extra: Partial<HttpTarget> = {}): HttpTarget => ({ url: "https://inspected.test/", proxy: gateway.proxyUrl, tls: { caPem: inspector.caPem, expectIssuer: { issuer: "zscaler" } }, ...extra });

    it("passes when the inspecting hop re-signed the connection with a Zscaler-named CA", async () => {
      const outcome = await httpProber(inspected(), context);
      expect(outcome).toMatchObject({ reason: "ok", status: 200, tls: { authorized: true, zscalerIssuer: true, zscalerCloud: "zscaler.net", issuerO: "Zscaler Inc." } });
      expect(inspector.inspected).toContain("inspected.test");
    });

    it("gives tls_issuer_mismatch when a Zscaler issuer is expected and the origin's own certificate arrives", async () => {
      const outcome = await httpProber({ url: "https://origin.test/", proxy: gateway.proxyUrl, tls: { caPem: publicCa.certPem, expectIssuer: { issuer: "zscaler" } } }, context);
      expect(outcome).toMatchObject({ reason: "tls_issuer_mismatch", tls: { zscalerIssuer: false } });
      expect(outcome.detail).toBe('issuer CN "Netcanary Test Public CA R1" O "Netcanary Test Trust", expected Zscaler');
    });

    it("with the reverse expectation, passes without inspection and fails with it", async () => {
      const bypassed = await httpProber({ url: "https://origin.test/", proxy: gateway.proxyUrl, tls: { caPem: publicCa.certPem, expectIssuer: { issuer: "zscaler", absent: true } } }, context);
      expect(bypassed.reason).toBe("ok");
      const stillInspected = await httpProber(inspected({ tls: { caPem: inspector.caPem, expectIssuer: { issuer: "zscaler", absent: true } } }), context);
      expect(stillInspected).toMatchObject({ reason: "tls_issuer_mismatch" });
      expect(stillInspected.detail).toContain("expected not Zscaler");
    });

    it("matches a CN pattern against the issuer", async () => {
      const matched = await httpProber(inspected({ tls: { caPem: inspector.caPem, expectIssuer: { issuer: { cn: "zscaler intermediate root ca (*)*" } } } }), context);
      expect(matched.reason).toBe("ok");
      const other = await httpProber(inspected({ tls: { caPem: inspector.caPem, expectIssuer: { issuer: { cn: "Corp Inspection CA*" } } } }), context);
      expect(other.reason).toBe("tls_issuer_mismatch");
    });

    it("checks the issuer even with verification off, and reports an untrusted inspecting CA as tls_untrusted", async () => {
      const unverified = await httpProber(inspected({ tls: { verify: false, expectIssuer: { issuer: "zscaler" } } }), context);
      expect(unverified).toMatchObject({ reason: "ok", tls: { authorized: false, zscalerIssuer: true } });
      const untrusted = await httpProber(inspected({ tls: { expectIssuer: { issuer: "zscaler" } } }), context);
      expect(untrusted).toMatchObject({ reason: "tls_untrusted", tls: { zscalerIssuer: true } });
    });
  });

  describe("the check page through the prober", () => {
    it("reads via through the gateway (which adds X-Forwarded-For) and direct without it", async () => {
      const through = await httpExchange({ url: "http://ip.zscaler.test/", proxy: gateway.proxyUrl }, context, { captureBody: true });
      expect(through.outcome.reason).toBe("ok");
      expect(parseCheckPage(through.body ?? "")).toMatchObject({ path: "via", cloud: "zscaler.net", dataCentre: "Frankfurt IV" });
      const bypass = await httpExchange({ url: `http://127.0.0.1:${checkPage.listenPort}/` }, context, { captureBody: true });
      expect(parseCheckPage(bypass.body ?? "")).toMatchObject({ path: "direct", egressIp: "192.0.2.44" });
      expect(checkPage.requests.map((request) => request.served).slice(-2)).toEqual(["via", "not_via"]);
    });
  });

  describe("bad targets", () => {
    const cases: [string, HttpTarget, string][] = [
      ["credentials in the URL", { url: "http://user:pw@127.0.0.1/" }, "credentials in the URL are not supported"],
      ["a header value with a line break", { url: "http://127.0.0.1/", headers: { "x-a": "1\r\nx-b: 2" } }, "without control characters"],
      ["a Host header", { url: "http://127.0.0.1/", headers: { Host: "x" } }, "header host is set by the prober"],
      ["TLS options on plain HTTP", { url: "http://127.0.0.1/", tls: { verify: false } }, "tls options need an https target"],
      ["an ip with a proxy", { url: "http://a.test/", ip: "127.0.0.1", proxy: "http://127.0.0.1:1" }, "ip and proxy cannot be combined"],
      ["credentials in the proxy URL", { url: "http://a.test/", proxy: "http://u:p@127.0.0.1:1" }, "credentials in the proxy URL are not supported"],
      ["a method other than GET or HEAD", { url: "http://127.0.0.1/", method: "POST" as "GET" }, 'method must be "GET" or "HEAD"'],
      ["a body cap over the limit", { url: "http://127.0.0.1/", maxBodyBytes: 1e9 }, "maxBodyBytes must be an integer"],
    ];
    for (const [name, target, detail] of cases) {
      it(`refuses ${name} as agent_error without sending anything`, async () => {
        const outcome: HttpOutcome = await httpProber(target, context);
        expect(outcome.reason).toBe("agent_error");
        expect(outcome.detail).toContain(detail);
        expect(outcome.detail).not.toMatch(/pw@|:p@/);
        expect(outcome.phases).toEqual({});
      });
    }
  });

  describe("bounds", () => {
    function openFds(): number {
      return readdirSync("/proc/self/fd").length;
    }

    it("leaves no socket behind after probes that end at the deadline or in an error", async () => {
      // Warm up (lazy handles of the runtime), then measure.
      await httpProber(direct("/hang"), { timeoutMs: 100 });
      await waitFor(() => plain.requests.length > 0, 1000);
      const before = openFds();
      const targets: [HttpTarget, number][] = [
        [direct("/hang"), 150],
        [direct("/trickle"), 150],
        [{ url: `https://127.0.0.1:${plain.port}/` }, 1000],
        [{ url: "https://origin.test/", proxy: gateway.proxyUrl, tls: { caPem: publicCa.certPem, expectIssuer: { issuer: "zscaler" } } }, 1000],
        [{ url: "https://blocked.test/", proxy: gateway.proxyUrl }, 1000],
      ];
      for (let round = 0; round < 6; round++) {
        await Promise.all(targets.map(([target, timeoutMs]) => httpProber(target, { timeoutMs })));
      }
      await waitFor(() => openFds() <= before, 3000, `open descriptors back to ${before} (now ${openFds()})`);
    });
  });
});

describe("http prober vocabulary", () => {
  it("declares, for every reason, whether it proves that packets passed", () => {
    expect([...HTTP_REASON_DECLARATION.reports].sort()).toEqual([...HTTP_REASONS].sort());
    // Everything after a TCP connection was established proves the path; nothing before it does.
    const passed = HTTP_REASONS.filter((reason) => packetProof(HTTP_REASON_DECLARATION, reason) === "passed");
    expect(passed.sort()).toEqual(["http_error", "http_status", "http_timeout", "ok", "proxy_error", "tls_error", "tls_issuer_mismatch", "tls_untrusted", "zscaler_blocked"]);
    const stopped = HTTP_REASONS.filter((reason) => packetProof(HTTP_REASON_DECLARATION, reason) === "stopped");
    expect(stopped.sort()).toEqual(["host_unreachable", "net_unreachable", "refused", "timeout"]);
  });

  it("is documented: docs/http-checks.md lists every reason with the same declaration", () => {
    const documented = new Map<string, string>();
    for (const line of readFileSync(join(repoRoot, "docs", "http-checks.md"), "utf8").split("\n")) {
      const row = /^\| `([a-z_]+)` \|.*\| (passed|stopped|inconclusive) \|$/.exec(line);
      if (row?.[1] !== undefined && row[2] !== undefined) documented.set(row[1], row[2]);
    }
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(HTTP_REASONS.map((reason) => [reason, packetProof(HTTP_REASON_DECLARATION, reason)])));
  });

  it("parses status lists, ranges and classes, and refuses anything else", () => {
    expect(parseStatusSpec("200, 301-302,4xx")).toEqual({ ok: true, value: [{ from: 200, to: 200 }, { from: 301, to: 302 }, { from: 400, to: 499 }] });
    expect(parseStatusSpec([204, "5xx"])).toEqual({ ok: true, value: [{ from: 204, to: 204 }, { from: 500, to: 599 }] });
    for (const bad of ["", "600", "299-200", "2xy", "abc"]) expect(parseStatusSpec(bad).ok).toBe(false);
  });

  it("matches issuer globs case-insensitively, whole-string", () => {
    expect(globMatches("Zscaler * CA (*)*", "zscaler intermediate root ca (zscalertwo.net) (t) ")).toBe(true);
    expect(globMatches("Zscaler*", "Not Zscaler")).toBe(false);
    expect(globMatches("*", "")).toBe(true);
    expect(globMatches("a*b*c", "a".repeat(200))).toBe(false);
    expect(issuerMeets({ issuer: "zscaler" }, { cn: "Zscaler Root CA" })).toBe(true);
    expect(issuerMeets({ issuer: "zscaler" }, { o: "Zscaler Inc." })).toBe(true);
    expect(issuerMeets({ issuer: "zscaler", absent: true }, { cn: "DigiCert Global G2 TLS RSA SHA256 2020 CA1", o: "DigiCert Inc" })).toBe(true);
  });
});
