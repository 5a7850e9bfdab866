// `netcanary once` with HTTP checks: the compiled CLI against a loopback origin and a
// Zscaler-like explicit proxy. A request that gets its expected status passes (exit 0); one
// answered with Zscaler's block page is a signal (exit 1), its reason in the report.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { startHttpOrigin, type HttpOrigin } from "../support/http-origin.js";
import { ZscalerGateway } from "../support/zscaler-gateway.js";

let dir: string;
let origin: HttpOrigin;
let gateway: ZscalerGateway;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-once-http-"));
  origin = await startHttpOrigin();
  gateway = await ZscalerGateway.start({ upstreams: { "plain.test": { host: "127.0.0.1", port: origin.port } }, blocked: ["blocked.test"] });
});
afterAll(async () => {
  await Promise.all([origin.close(), gateway.close()]);
  await rm(dir, { recursive: true, force: true });
});

// Outside a pod, with no $KUBECONFIG: no cluster, so no NetworkPolicy: every edge is expected to get through.
const env = { ...process.env, KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "", NODE_NAME: "node-a" };

async function once(probes: string, ...args: string[]) {
  const config = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(config, `defaults: {timeout: 2s}\nsources: [{name: self, self: true}]\nprobes:\n${probes}`);
  return runCli(["once", "--config", config, ...args], { env });
}

describe("netcanary once with http probes", () => {
  it("exits 0 when every request gets its expected status, directly and through the proxy", async () => {
    const run = await once(
      `  - {name: web, sources: [self], http: {url: 'http://127.0.0.1:${origin.port}/'}}\n  - {name: via-proxy, sources: [self], http: {url: 'http://plain.test/status/204', proxy: '${gateway.proxyUrl}', expectStatus: 204}}\n`,
      "--output",
      "json",
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { results: { probe: string; observed: { reason: string } | null; status: string }[] };
    expect(report.results.map((result) => [result.probe, result.observed?.reason, result.status])).toEqual([
      ["via-proxy", "ok", "ok"],
      ["web", "ok", "ok"],
    ]);
    expect(origin.requests.map((request) => request.url).sort()).toEqual(["/", "/status/204"]);
  });

  it("exits 1 when the proxy answers with Zscaler's block page, naming the reason", async () => {
    const run = await once(`  - {name: blocked, sources: [self], http: {url: 'https://blocked.test/', proxy: '${gateway.proxyUrl}'}}\n`);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/blocked .*zscaler_blocked.*unexpected_block/);
  });

  it("exits 1 for a status outside expectStatus", async () => {
    const run = await once(`  - {name: missing, sources: [self], http: {url: 'http://127.0.0.1:${origin.port}/status/404'}}\n`);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/missing .*http_status.*unexpected_block/);
  });
});
