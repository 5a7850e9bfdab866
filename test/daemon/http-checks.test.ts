// The agent with HTTP checks, composed from its real parts and serving its real endpoints, on
// loopback: a plain origin, an HTTPS origin under a public-like test CA, a TLS-inspecting hop
// whose CA is named like Zscaler's intermediate (on its own port, as behind a tunnel, and
// behind the gateway), and a Zscaler-like explicit proxy (CONNECT, a block page). Each edge's
// reason and phases as /api/v1/results and /metrics show them, and its judgement under a
// policy that allows (no NetworkPolicy) and one that denies (a default-deny egress).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent, type ResultEntry } from "../../agent/daemon/agent.js";
import { formatInputError } from "../../agent/documents/located.js";
import { createLogger } from "../../agent/log/log.js";
import { startServer } from "../../agent/server/http.js";
import { parseSamples } from "../support/exposition.js";
import { startHttpOrigin, type HttpOrigin } from "../support/http-origin.js";
import { closedPort } from "../support/listeners.js";
import { describeWith } from "../support/prerequisites.js";
import { createTestCa, PUBLIC_LIKE_CA_SUBJECT, type TestCa } from "../support/test-ca.js";
import { TlsInspector } from "../support/tls-inspector.js";
import { ZscalerGateway } from "../support/zscaler-gateway.js";
import { DENYING_CLUSTER } from "../support/deny-cluster.js";

/** A YAML block scalar of a PEM, indented for a probe line. */
function pem(text: string, indent: string): string {
  return `|\n${text.trimEnd().split("\n").map((line) => `${indent}${line}`).join("\n")}`;
}

describeWith({ commands: ["openssl"] }, "the agent with HTTP checks", () => {
  let dir: string;
  let publicCa: TestCa;
  let plain: HttpOrigin;
  let secure: HttpOrigin;
  let inspector: TlsInspector;
  let gateway: ZscalerGateway;
  /** The same gateway's twin at 127.0.0.2, where the default-deny policy applies. */
  let deniedGateway: ZscalerGateway;
  let closed: number;
  const agents: Agent[] = [];
  const servers: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "netcanary-http-agent-"));
    publicCa = await createTestCa(PUBLIC_LIKE_CA_SUBJECT);
    [plain, secure, closed] = await Promise.all([startHttpOrigin(), startHttpOrigin({ tls: await publicCa.issue("origin.test") }), closedPort("127.0.0.2")]);
    const origin = { host: "127.0.0.1", port: secure.port };
    inspector = await TlsInspector.start({ upstream: (sni) => (sni === "inspected.test" || sni === "origin.test" ? origin : undefined) });
    const upstreams = { "origin.test": origin, "plain.test": { host: "127.0.0.1", port: plain.port } };
    gateway = await ZscalerGateway.start({ upstreams, blocked: ["blocked.test"], inspect: { inspector, hosts: ["inspected.test"] } });
    deniedGateway = await ZscalerGateway.start({ upstreams, blocked: ["blocked.test"], host: "127.0.0.2" });
  });

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  });

  afterAll(async () => {
    await Promise.all([plain?.close(), secure?.close(), gateway?.close(), deniedGateway?.close()]);
    await inspector?.close();
    await publicCa?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** An agent on the config (and manifests), its endpoints served on a loopback port. */
  async function serve(config: string, manifests?: string): Promise<{ agent: Agent; get: (path: string) => Promise<string> }> {
    const configFile = join(dir, `config-${agents.length}.yaml`);
    await writeFile(configFile, config);
    const extra: { manifests?: string[] } = {};
    if (manifests !== undefined) {
      const file = join(dir, `cluster-${agents.length}.yaml`);
      await writeFile(file, manifests);
      extra.manifests = [file];
    }
    const started = await Agent.create({
      configFile,
      identity: { nodeName: "test", podNamespace: "ns", podName: "agent" },
      logger: createLogger("silent"),
      watchIntervalMs: 0,
      ...extra,
    });
    if (!started.ok) throw new Error(started.errors.map(formatInputError).join("\n"));
    const { agent } = started;
    agents.push(agent);
    const server = await startServer({ registry: agent.metrics.registry, readiness: () => agent.readiness(), results: (filter) => agent.results(filter) }, { host: "127.0.0.1", port: 0 });
    servers.push(server);
    const get = async (path: string): Promise<string> => {
      const response = await fetch(`http://127.0.0.1:${server.address.port}${path}`);
      expect(response.status, path).toBe(200);
      return response.text();
    };
    return { agent, get };
  }

  async function resultsOf(get: (path: string) => Promise<string>): Promise<Record<string, ResultEntry>> {
    const document = JSON.parse(await get("/api/v1/results")) as { results: ResultEntry[] };
    return Object.fromEntries(document.results.map((result) => [result.probe, result]));
  }

  it("policy allows: ok plain, direct and inspected; a bypassed inspection and a block page are unexpected blocks with their reasons and phases", async () => {
    const { agent, get } = await serve(`defaults: {interval: 30s, timeout: 2s, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - name: plain
    sources: [self]
    http: {url: 'http://127.0.0.1:${plain.port}/'}
  - name: direct
    sources: [self]
    http:
      url: 'https://127.0.0.1:${secure.port}/'
      tls:
        sni: origin.test
        expectIssuer: {not: zscaler}
        caPem: ${pem(publicCa.certPem, "          ")}
  - name: tunnel-inspected
    sources: [self]
    http:
      url: 'https://127.0.0.1:${inspector.listenPort}/'
      tls:
        sni: inspected.test
        expectIssuer: zscaler
        caPem: ${pem(inspector.caPem, "          ")}
  - name: proxy-inspected
    sources: [self]
    http:
      url: 'https://inspected.test/'
      proxy: ${gateway.proxyUrl}
      tls:
        expectIssuer: zscaler
        caPem: ${pem(inspector.caPem, "          ")}
  - name: proxy-bypassed
    sources: [self]
    http:
      url: 'https://origin.test/'
      proxy: ${gateway.proxyUrl}
      tls:
        expectIssuer: zscaler
        caPem: ${pem(publicCa.certPem, "          ")}
  - name: proxy-plain
    sources: [self]
    http: {url: 'http://plain.test/', proxy: '${gateway.proxyUrl}'}
  - name: blocked
    sources: [self]
    http: {url: 'https://blocked.test/', proxy: '${gateway.proxyUrl}'}
`);
    await agent.runRound();
    const results = await resultsOf(get);
    const seen = Object.fromEntries(Object.entries(results).map(([probe, result]) => [probe, [result.policy.verdict, result.observed?.reason, result.status]]));
    expect(seen).toEqual({
      plain: ["allow", "ok", "ok"],
      direct: ["allow", "ok", "ok"],
      "tunnel-inspected": ["allow", "ok", "ok"],
      "proxy-inspected": ["allow", "ok", "ok"],
      "proxy-bypassed": ["allow", "tls_issuer_mismatch", "unexpected_block"],
      "proxy-plain": ["allow", "ok", "ok"],
      blocked: ["allow", "zscaler_blocked", "unexpected_block"],
    });
    expect(results["proxy-bypassed"]?.observed?.detail).toBe('issuer CN "Netcanary Test Public CA R1" O "Netcanary Test Trust", expected Zscaler');
    expect(results["blocked"]?.observed?.detail).toBe("Zscaler block page in answer to CONNECT (status 403)");
    // Through the proxy, the edge is the connection to the proxy: its port and address.
    expect(results["proxy-inspected"]).toMatchObject({ target: "inspected.test", targetKind: "host", port: gateway.listenPort, address: "127.0.0.1" });
    expect(results["plain"]).toMatchObject({ target: "127.0.0.1", targetKind: "ip", port: plain.port });
    // The requests really took those ways.
    expect(gateway.requests.map((request) => `${request.kind} ${request.target} ${request.outcome}`).sort()).toEqual([
      "connect blocked.test:443 blocked",
      "connect inspected.test:443 inspect",
      "connect origin.test:443 tunnel",
      "forward http://plain.test/ forwarded",
    ]);
    expect(inspector.inspected.sort()).toEqual(["inspected.test", "inspected.test"]);

    const samples = parseSamples(await get("/metrics"));
    const probes = (name: string, labels: Record<string, string>) =>
      samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
    expect(probes("netcanary_probes_total", { probe: "blocked" }).map((sample) => [sample.labels["result"], sample.labels["reason"], sample.value])).toEqual([["failure", "zscaler_blocked", 1]]);
    expect(probes("netcanary_probes_total", { probe: "proxy-bypassed" }).map((sample) => [sample.labels["result"], sample.labels["reason"], sample.value])).toEqual([["failure", "tls_issuer_mismatch", 1]]);
    expect(probes("netcanary_probe_success", { probe: "proxy-inspected" }).map((sample) => sample.value)).toEqual([1]);
    // Phases: resolve for none (addresses, and proxies given as addresses); every edge connects;
    // tls for the https edges whose tunnel opened (not the block page, refused at CONNECT);
    // processing for those that got that far (not the bypassed inspection, refused at the issuer).
    const counts = Object.fromEntries(
      ["resolve", "connect", "tls", "processing"].map((phase) => [phase, probes("netcanary_probe_phase_duration_seconds_count", { source: "self", phase }).reduce((sum, sample) => sum + sample.value, 0)]),
    );
    expect(counts).toEqual({ resolve: 0, connect: 7, tls: 4, processing: 5 });
    const lastDuration = probes("netcanary_probe_last_duration_seconds", { probe: "direct" });
    expect(lastDuration).toHaveLength(1);
    expect(lastDuration[0]?.value).toBeGreaterThan(0);
  });

  it("policy denies: a block page through the proxy proves packets passed (unexpected_allow), a refused port does not", async () => {
    const { agent, get } = await serve(
      `defaults: {interval: 30s, timeout: 2s, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: blocked, sources: [self], http: {url: 'https://blocked.test/', proxy: '${deniedGateway.proxyUrl}'}}
  - {name: closed, sources: [self], http: {url: 'http://127.0.0.2:${closed}/'}}
  - {name: status, sources: [self], http: {url: 'http://plain.test/nothing-here', proxy: '${deniedGateway.proxyUrl}'}, expect: deny}
`,
      DENYING_CLUSTER,
    );
    await agent.runRound();
    const results = await resultsOf(get);
    const seen = Object.fromEntries(Object.entries(results).map(([probe, result]) => [probe, [result.policy.verdict, result.observed?.reason, result.status]]));
    expect(seen).toEqual({
      blocked: ["deny", "zscaler_blocked", "unexpected_allow"],
      closed: ["deny", "refused", "ok"],
      status: ["deny", "http_status", "unexpected_allow"],
    });
    expect(results["blocked"]).toMatchObject({ port: deniedGateway.listenPort, address: "127.0.0.2" });
    expect(results["blocked"]?.policy.explanation.lines.some((line) => line.includes("ns/default-deny-egress"))).toBe(true);
    const samples = parseSamples(await get("/metrics"));
    const mismatch = samples.filter((sample) => sample.name === "netcanary_probe_mismatch" && sample.labels["kind"] === "unexpected_allow" && sample.value === 1);
    expect(mismatch.map((sample) => sample.labels["probe"]).sort()).toEqual(["blocked", "status"]);
  });
});
