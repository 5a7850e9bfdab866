// The path check end to end, on loopback: the agent's http check with zscalerPath reads the
// check page through the Zscaler-like gateway (which adds X-Forwarded-For, so the page in
// "auto" mode says via), then, its config changed so that the edge bypasses the proxy, reads
// the not-via page straight from the server: direct, and after failureThreshold rounds the
// unexpected_path signal in the results, the metrics and the log; the proxy restored, the path
// is via again and no signal is left.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onceExitCode, untested } from "../../agent/cli/once.js";
import { Agent, type ResultEntry } from "../../agent/daemon/agent.js";
import { formatInputError } from "../../agent/documents/located.js";
import { createLogger } from "../../agent/log/log.js";
import type { FeedData, FeedKind } from "../../agent/zscaler/feeds.js";
import type { LiveFeeds } from "../../agent/zscaler/seam.js";
import { CheckPageServer } from "../support/check-page-server.js";
import { ZscalerGateway } from "../support/zscaler-gateway.js";
import { FIXTURES, fixtureText, mustParse } from "../zscaler/helpers.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const cenr = mustParse("cenr", fixtureText(FIXTURES.cenr));
const feeds: LiveFeeds = {
  current: (cloud: string, kind: FeedKind): FeedData | undefined => (cloud === "zscaler.net" && kind === "cenr" ? cenr : undefined),
  onChange: () => () => undefined,
};

let dir: string;
let page: CheckPageServer;
let gateway: ZscalerGateway;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-path-"));
  page = await CheckPageServer.start("auto");
  gateway = await ZscalerGateway.start({ upstreams: { "ip.zscaler.com": { host: "127.0.0.1", port: page.listenPort } } });
});
afterAll(async () => {
  await gateway.close();
  await page.close();
  await rm(dir, { recursive: true, force: true });
});

/** The probe's http block: through the gateway to ip.zscaler.com, or straight to the page server. */
function config(http: string): string {
  return `defaults: {interval: 300ms, timeout: 250ms, failureThreshold: 2, successThreshold: 1}
zscaler: {clouds: [zscaler.net]}
sources: [{name: self, self: true}]
probes:
  - {name: egress, sources: [self], http: ${http}}
`;
}

describe("a path check on the agent", () => {
  it("via through the gateway, direct when the edge bypasses it (the signal on), via again when restored (the signal gone)", async () => {
    const viaGateway = `{zscalerPath: {expect: via}, proxy: '${gateway.proxyUrl}'}`;
    const bypass = `{zscalerPath: {expect: via, page: 'http://127.0.0.1:${page.listenPort}/'}}`;
    const file = join(dir, "netcanary.yaml");
    await writeFile(file, config(viaGateway));
    const logged: { msg: string; to?: string; path?: { path?: string } }[] = [];
    const logger = createLogger("info", new Writable({ write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logged.push(JSON.parse(line) as { msg: string });
      done();
    } }), "json");
    const started = await Agent.create({ configFile: file, identity: { nodeName: "test" }, logger, watchIntervalMs: 40, feeds });
    if (!started.ok) throw new Error(started.errors.map(formatInputError).join("\n"));
    const agent = started.agent;
    const egress = (): ResultEntry | undefined => agent.results().results.find((result) => result.probe === "egress");
    const lines = async (prefix: string) => (await agent.metrics.registry.metrics()).split("\n").filter((line) => line.startsWith(prefix));
    try {
      await agent.start();

      // Through the gateway: the page saw X-Forwarded-For and says via.
      await waitFor(() => egress()?.status === "ok" && egress()?.path?.observed?.path === "via", 5000, "the via page through the gateway");
      let result = egress();
      expect(result).toMatchObject({ target: "ip.zscaler.com", targetKind: "host", port: gateway.listenPort, observed: { reason: "ok", address: "127.0.0.1" } });
      // The fixture's egress address (a documentation address) is in no published range.
      expect(result?.path).toEqual({ expect: "via", raised: false, observed: { path: "via", cloud: "zscaler.net", city: "unlisted", dataCentre: "Frankfurt IV", egressIp: "198.51.100.23", detail: "egress 198.51.100.23 is in no published range of zscaler.net" } });
      expect(gateway.requests.some((request) => request.kind === "forward" && request.target === "http://ip.zscaler.com/" && request.outcome === "forwarded")).toBe(true);
      expect(page.requests.some((request) => request.served === "via")).toBe(true);
      expect(await lines("netcanary_zscaler_path{")).toEqual([expect.stringMatching(/probe="egress".*expect="via",path="via",cloud="zscaler.net",city="unlisted"} 1$/)]);
      expect((await lines("netcanary_probe_mismatch{")).filter((line) => line.includes('kind="unexpected_path"'))).toEqual([expect.stringMatching(/ 0$/)]);

      // The edge bypasses the proxy: the page, reached directly, says not via.
      await writeFile(file, config(bypass));
      await waitFor(() => egress()?.status === "unexpected_path", 5000, "the unexpected_path signal");
      result = egress();
      expect(result).toMatchObject({ target: "127.0.0.1", port: page.listenPort, signals: ["unexpected_path"], observed: { reason: "ok" } });
      expect(result?.path).toEqual({ expect: "via", raised: true, observed: { path: "direct", cloud: "", city: "", egressIp: "192.0.2.44", detail: "egress 192.0.2.44" } });
      expect(page.requests.some((request) => request.served === "not_via" && request.headers["x-forwarded-for"] === undefined)).toBe(true);
      expect(await lines("netcanary_zscaler_path{")).toEqual([expect.stringMatching(/target="127.0.0.1".*expect="via",path="direct",cloud="",city=""} 1$/)]);
      expect((await lines("netcanary_probe_mismatch{")).filter((line) => line.includes('kind="unexpected_path"'))).toEqual([expect.stringMatching(/target="127.0.0.1".* 1$/)]);
      expect(await lines("netcanary_edge_status{")).toEqual([expect.stringContaining('status="unexpected_path"')]);
      const warned = logged.find((line) => line.to === "unexpected_path");
      expect(warned?.msg).toBe("edge egress from self: ok -> unexpected_path");
      expect(warned?.path).toMatchObject({ expect: "via", path: "direct" });

      // Restored: via the gateway again, nothing raised anywhere.
      await writeFile(file, config(viaGateway));
      await waitFor(() => egress()?.target === "ip.zscaler.com" && egress()?.status === "ok", 5000, "the restored path");
      expect(egress()?.path).toMatchObject({ raised: false, observed: { path: "via" } });
      expect(await lines("netcanary_zscaler_path{")).toEqual([expect.stringMatching(/path="via"/)]);
      expect((await lines("netcanary_probe_mismatch{")).filter((line) => line.includes('kind="unexpected_path"'))).toEqual([expect.stringMatching(/target="ip.zscaler.com".* 0$/)]);
      expect(await lines("netcanary_edge_status{")).toEqual([expect.stringContaining('status="ok"')]);
    } finally {
      await agent.stop();
    }
  });

  it("a page the agent cannot read is unknown, never direct: no signal however long it lasts", async () => {
    const file = join(dir, "unreadable.yaml");
    // The page server's JSON form is answered 404 when not via: no page to read.
    await writeFile(file, config(`{zscalerPath: {expect: via, page: 'http://127.0.0.1:${page.listenPort}/?json'}}`));
    const started = await Agent.create({ configFile: file, identity: { nodeName: "test" }, logger: createLogger("silent"), watchIntervalMs: 0, feeds });
    if (!started.ok) throw new Error(started.errors.map(formatInputError).join("\n"));
    const agent = started.agent;
    try {
      for (let round = 0; round < 4; round++) await agent.runRound();
      const [result] = agent.results().results;
      expect(result?.observed?.reason).toBe("http_status");
      expect(result?.path).toMatchObject({ raised: false, observed: { path: "unknown", reason: "empty" } });
      expect(result?.signals).toEqual(["unexpected_block"]);
    } finally {
      await agent.stop();
    }
  });

  it("netcanary once: a path check whose page could not be read did not test its path (exit 3), one that read it did", async () => {
    const file = join(dir, "once.yaml");
    const run = async (http: string) => {
      await writeFile(file, config(http));
      const started = await Agent.create({ configFile: file, identity: { nodeName: "test" }, logger: createLogger("silent"), watchIntervalMs: 0, feeds, singleSample: true });
      if (!started.ok) throw new Error(started.errors.map(formatInputError).join("\n"));
      try {
        await started.agent.runRound();
        const { results } = started.agent.results();
        const gaps = untested({ cluster: { ready: true } as never, syncSeconds: 0, probes: 1, probeGaps: [], results });
        return { results, gaps, exit: onceExitCode(results, gaps) };
      } finally {
        await started.agent.stop();
      }
    };
    // The connection is fine (200), the page is a captive portal's: the path is untested.
    const portal = createServer((_request, response) => response.end("<html><body>Accept the terms to use the Wi-Fi</body></html>"));
    await new Promise<void>((resolve) => portal.listen(0, "127.0.0.1", resolve));
    let unreadable: Awaited<ReturnType<typeof run>>;
    try {
      unreadable = await run(`{zscalerPath: {expect: via, page: 'http://127.0.0.1:${(portal.address() as AddressInfo).port}/'}}`);
    } finally {
      portal.closeAllConnections();
      await new Promise<void>((resolve) => portal.close(() => resolve()));
    }
    expect(unreadable.results[0]?.status).toBe("ok");
    expect(unreadable.gaps.map((gap) => gap.reason)).toEqual([expect.stringMatching(/^probe egress from self to 127\.0\.0\.1:\d+\/TCP did not test its path \(expected via\): its check page showed no path \(not_a_check_page: neither known sentence\)$/)]);
    expect(unreadable.exit).toBe(3);
    const through = await run(`{zscalerPath: {expect: via}, proxy: '${gateway.proxyUrl}'}`);
    expect([through.results[0]?.status, through.gaps, through.exit]).toEqual(["ok", [], 0]);
    const bypassed = await run(`{zscalerPath: {expect: via, page: 'http://127.0.0.1:${page.listenPort}/'}}`);
    expect([bypassed.results[0]?.status, bypassed.exit]).toEqual(["unexpected_path", 1]);
  });
});
