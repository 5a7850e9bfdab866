// The traffic map's Grafana panels (the overview dashboard's "Traffic map" row), their queries run
// against a real Prometheus scraping the traffic metric families. The families are filled
// from the recorded shop maps, judged against the policies in force and the staged ones, and
// served over HTTP on loopback as the agent serves /metrics. The node graph's two frames must
// come back as Grafana's node graph reads them: nodes with an id each, edges with id, source
// and target (after the panel's renaming), one edge per client and server whichever end saw it.
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadManifests } from "../../agent/cluster/manifests.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";
import { mergeFlowMaps } from "../../agent/traffic/map-file.js";
import { TrafficMetrics, trafficSeries } from "../../agent/traffic/metrics.js";
import { trafficReport } from "../../agent/traffic/report.js";
import { loadStagedPolicies } from "../../agent/traffic/staged-files.js";
import { dashboardsDir, interpolate, type Panel } from "../support/dashboards.js";
import { type LabProcess, startProcess, waitFor } from "../support/lab.js";
import { closedPort } from "../support/listeners.js";
import { describeWith } from "../support/prerequisites.js";
import { fixtureDir, fixtureMap } from "../traffic/helpers.js";

interface PromSeries {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

const CLUSTER = "lab-cluster";
let dir: string;
let server: Server;
let prometheus: LabProcess | undefined;
let promBase: string;
let panels: Panel[];

async function query(expr: string): Promise<PromSeries[]> {
  const url = `${promBase}/api/v1/query?${new URLSearchParams({ query: expr, time: String(Date.now() / 1000) }).toString()}`;
  const answer = (await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).json()) as { status: string; error?: string; data?: { result: PromSeries[] } };
  if (answer.status !== "success" || !answer.data) throw new Error(`${expr}: ${answer.error}`);
  return answer.data.result;
}

function panelExpr(title: string, refId: string, cluster: string): string {
  const panel = panels.find((p) => p.title === title);
  const target = panel?.targets?.find((t) => t.refId === refId);
  if (!target?.expr) throw new Error(`no query ${refId} in panel "${title}"`);
  return interpolate(target.expr, new Map([["cluster", cluster]]), { rateInterval: "4s", interval: "1s", rangeSeconds: 60 });
}

/** The panel's organize transformation, as Grafana applies it to a table frame's columns. */
function renamed(title: string, column: string): string {
  const panel = panels.find((p) => p.title === title) as Panel & { transformations?: { id: string; options: { renameByName?: Record<string, string> } }[] };
  return panel.transformations?.find((t) => t.id === "organize")?.options.renameByName?.[column] ?? column;
}

describeWith({ commands: ["prometheus"] }, "the traffic map panels against real Prometheus", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "netcanary-traffic-panels-"));
    panels = (JSON.parse(await readFile(join(dashboardsDir, "netcanary-overview.json"), "utf8")) as { panels: Panel[] }).panels;

    const map = mergeFlowMaps([fixtureMap("shop-node-a.json"), fixtureMap("shop-node-b.json")]);
    const load = await loadManifests([join(fixtureDir, "in-force")]);
    const staged = await loadStagedPolicies([join(fixtureDir, "staged")]);
    if (!staged.ok) throw new Error(JSON.stringify(staged.errors));
    const judged = trafficReport(buildPolicyIndex(load.snapshot), map, staged.policies);
    const registry = new Registry();
    const metrics = new TrafficMetrics(registry);
    metrics.publishFlows(trafficSeries(map.flows, judged.judgements));
    metrics.publishStaged(judged.staged);

    server = createServer((_, response) => {
      void registry.metrics().then((text) => response.writeHead(200, { "content-type": registry.contentType }).end(text));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no address");

    const port = await closedPort();
    const configFile = join(dir, "prometheus.yml");
    await writeFile(
      configFile,
      `global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: netcanary\n    static_configs: [{targets: ["127.0.0.1:${address.port}"], labels: {cluster: ${CLUSTER}}}]\n`,
    );
    prometheus = startProcess("prometheus", ["prometheus", `--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"]);
    promBase = `http://127.0.0.1:${port}`;
    await waitFor(
      "Prometheus to scrape the traffic metrics",
      async () => {
        if (!prometheus?.running) throw new Error(`prometheus exited:\n${prometheus?.output()}`);
        return (await query("netcanary_traffic_flows")).length > 0 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("draws a node for every workload and destination the flows name, for the cluster chosen and for All", async () => {
    for (const cluster of [CLUSTER, ".*"]) {
      const nodes = await query(panelExpr("Traffic map: observed flows", "nodes", cluster));
      expect(nodes.map((s) => s.metric["id"]).sort()).toEqual(
        [
          "deployment/shop/api",
          "deployment/shop/web",
          "external/other",
          "external/partner",
          "node/node-a",
          "service/kube-system/kube-dns",
          "statefulset/payments/ledger",
          "zscaler/zscaler.net/Frankfurt",
        ].sort(),
      );
    }
    expect(await query(panelExpr("Traffic map: observed flows", "nodes", "elsewhere"))).toEqual([]);
  });

  it("draws one edge per client and server with id, source and target, a connection seen from both ends once", async () => {
    const edges = await query(panelExpr("Traffic map: observed flows", "edges", CLUSTER));
    const frame = edges.map((s) => ({ id: s.metric["id"], [renamed("Traffic map: observed flows", "client")]: s.metric["client"], [renamed("Traffic map: observed flows", "server")]: s.metric["server"], flows: Number(s.value[1]) }));
    expect(frame).toContainEqual({ id: "deployment/shop/web -> deployment/shop/api", source: "deployment/shop/web", target: "deployment/shop/api", flows: 1 });
    expect(frame).toContainEqual({ id: "node/node-a -> deployment/shop/web", source: "node/node-a", target: "deployment/shop/web", flows: 1 });
    expect(frame).toHaveLength(8);
    expect(new Set(frame.map((e) => e.id)).size).toBe(frame.length);
  });

  it("lists the flow the policies deny that was seen, and each staged policy's would-deny count", async () => {
    const denied = await query(panelExpr("Flows the policies deny that were seen (not enforced)", "A", CLUSTER));
    expect(denied.map((s) => [s.metric["client"], s.metric["server"], s.metric["verdict"], s.value[1]])).toEqual([["statefulset/payments/ledger", "deployment/shop/api", "deny", "1"]]);
    const staged = await query(panelExpr("Staged policies: observed flows they would deny", "A", CLUSTER));
    expect(staged.map((s) => [s.metric["policy_namespace"], s.metric["policy"], s.value[1]]).sort()).toEqual([["shop", "default-deny-egress", "7"], ["shop", "web-egress", "1"]]);
  });
});
