// The long-running agent in a lab pod: its /metrics pass the real promtool, a real
// Prometheus scrapes it across the lab bridge, and config reloads (bad, then good) show in
// its metrics and results as they should.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { cliPath } from "../support/cli.js";
import { Lab, LAB_COMMANDS, type LabProcess, runCommand, waitFor } from "../support/lab.js";
import { parseSamples } from "../support/exposition.js";
import { describeWith } from "../support/prerequisites.js";

/** Where things are in the test's lab (addresses of the slot it claimed). */
interface Where {
  readonly web: string;
  /** The "Zscaler" range the gateway is in. */
  readonly zscalerRange: string;
}

const baseConfig = ({ web, zscalerRange }: Where) => `defaults: {interval: 500ms, timeout: 300ms, failureThreshold: 2, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: web, sources: [self], tcp: {ip: ${web}, port: 8080}}
  - {name: web-dropped, sources: [self], tcp: {ip: ${web}, port: 8443}}
  - {name: gateway-dns, sources: [self], dns: {query: gateway.zscaler.lab.test, server: cluster, answersIn: [${zscalerRange}]}}
`;

// One problem only: a probe names a source that does not exist.
const invalidConfig = ({ web }: Where) => `defaults: {interval: 500ms, timeout: 300ms}
sources: [{name: self, self: true}]
probes:
  - {name: web, sources: [nobody], tcp: {ip: ${web}, port: 8080}}
`;

// web stays as it was (its edge and series carry on); the other two go; gateway is new.
const newConfig = ({ web }: Where) => `defaults: {interval: 500ms, timeout: 300ms, failureThreshold: 2, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: web, sources: [self], tcp: {ip: ${web}, port: 8080}}
  - {name: gateway, sources: [self], tcp: {host: gateway.zscaler.lab.test, port: 443}}
`;

/** The exposition restricted to the families whose names start with prefix (HELP, TYPE and samples). */
function familiesWithPrefix(text: string, prefix: string): string {
  const kept = text.split("\n").filter((line) => {
    const name = line.startsWith("# ") ? (line.split(" ")[2] ?? "") : line.split(/[{ ]/)[0];
    return name !== undefined && name.startsWith(prefix);
  });
  return `${kept.join("\n")}\n`;
}

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "dnsmasq", "promtool", "prometheus"] }, "netcanary agent in the lab", () => {
  let lab: Lab;
  let agent: LabProcess | undefined;
  let prometheus: LabProcess | undefined;
  let where: Where;
  let LISTEN: string;

  beforeAll(async () => {
    lab = await Lab.create((at) => ({
      pods: [
        { name: "agent", ip: at.ip(2), routes: [{ to: at.testNet1.cidr, via: at.ip(50) }], nameservers: [at.ip(53)] },
        { name: "prometheus", ip: at.ip(9) },
        { name: "web", ip: at.ip(20) },
        { name: "zscaler", ip: at.ip(50), addresses: [at.testNet1.at(2)] },
        { name: "dns", ip: at.ip(53) },
      ],
    }));
    const [web, dns, gateway] = [lab.pod("web").ip, lab.pod("dns").ip, lab.addresses.testNet1.at(2)];
    where = { web, zscalerRange: lab.addresses.testNet1.cidr };
    LISTEN = `${lab.pod("agent").ip}:9714`;
    await Promise.all([
      lab.tcpListener(lab.pod("web"), web, [8080, 8443]),
      lab.tcpListener(lab.pod("zscaler"), gateway, [443]),
      lab.dnsmasq(lab.pod("dns"), { listen: dns, records: { "gateway.zscaler.lab.test": gateway }, local: ["lab.test"] }),
    ]);
    // The network drops web:8443 from the agent: that edge times out.
    await lab.dropTo(lab.pod("agent"), web, 8443);
  });

  afterEach(async () => {
    await Promise.all([agent?.stop(), prometheus?.stop()]);
  });

  afterAll(async () => {
    await lab?.teardown();
  });

  async function startAgent(configText: string): Promise<{ process: LabProcess; configFile: string }> {
    const configFile = join(lab.dir, "netcanary.yaml");
    await writeFile(configFile, configText);
    agent = lab.startProcess(lab.pod("agent"), process.execPath, [cliPath, "agent", "--config", configFile, "--listen", LISTEN, "--log-level", "info"], {
      env: { NODE_NAME: "lab-node" },
      name: "netcanary agent",
    });
    const running = agent;
    // Ready once every edge has been probed once; asked from another pod, across the bridge.
    await waitFor(
      "the agent's /readyz to answer 200",
      async () => {
        if (!running.running) throw new Error(`the agent exited:\n${running.output()}`);
        return (await lab.httpGet(lab.pod("prometheus"), `http://${LISTEN}/readyz`, 1000)).status === 200 ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    return { process: running, configFile };
  }

  async function metrics(): Promise<string> {
    const response = await lab.httpGet(lab.pod("prometheus"), `http://${LISTEN}/metrics`);
    expect(response.status, response.error).toBe(200);
    return response.body;
  }

  async function resultProbes(): Promise<string[]> {
    const response = await lab.httpGet(lab.pod("prometheus"), `http://${LISTEN}/api/v1/results`);
    expect(response.status, response.error).toBe(200);
    return (JSON.parse(response.body) as { results: { probe: string }[] }).results.map((r) => r.probe).sort();
  }

  it("serves metrics that promtool accepts and that a real Prometheus scrapes", async () => {
    const { process: running } = await startAgent(baseConfig(where));

    // promtool on netcanary's own families. (prom-client's default process_/nodejs_
    // families are left out: promtool flags some of their counters for missing _total.)
    const own = familiesWithPrefix(await metrics(), "netcanary_");
    for (const family of ["netcanary_probe_success", "netcanary_probe_last_duration_seconds", "netcanary_probe_phase_duration_seconds", "netcanary_probes_total", "netcanary_probe_mismatch", "netcanary_edge_status"]) {
      expect(own).toContain(`# TYPE ${family} `);
    }
    // Durations: a gauge per edge, a histogram per source and target kind; no per-edge histogram by default.
    const samples = parseSamples(own);
    expect(samples.filter((s) => s.name === "netcanary_probe_last_duration_seconds").map((s) => s.labels["probe"]).sort()).toEqual(["gateway-dns", "web", "web-dropped"]);
    expect(samples.filter((s) => s.name === "netcanary_probe_phase_duration_seconds_count").map((s) => `${s.labels["target_kind"]} ${s.labels["phase"]}`).sort()).toEqual(["dns resolve", "ip connect"]);
    expect(samples.filter((s) => s.name.startsWith("netcanary_probe_duration_seconds"))).toEqual([]);
    const lint = await runCommand(["promtool", "check", "metrics"], { input: own, timeoutMs: 10_000 });
    expect(lint.stdout + lint.stderr).toBe("");
    expect(lint.code).toBe(0);

    // Prometheus in its own pod, scraping the agent across the bridge every second.
    const dataDir = join(lab.dir, "prometheus");
    await mkdir(dataDir);
    const promConfig = join(lab.dir, "prometheus.yml");
    await writeFile(
      promConfig,
      `global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
scrape_configs:
  - job_name: netcanary
    static_configs: [{targets: ["${LISTEN}"]}]
`,
    );
    prometheus = lab.startProcess(
      lab.pod("prometheus"),
      "prometheus",
      [`--config.file=${promConfig}`, `--storage.tsdb.path=${dataDir}`, "--web.listen-address=127.0.0.1:9090", "--log.level=warn"],
      { name: "prometheus" },
    );
    const prom = prometheus;
    interface Series {
      metric: Record<string, string>;
      value: [number, string];
    }
    const query = async (promql: string): Promise<Series[]> => {
      if (!prom.running) throw new Error(`prometheus exited:\n${prom.output()}`);
      const response = await lab.httpGet(lab.pod("prometheus"), `http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent(promql)}`, 1000);
      if (response.status !== 200) throw new Error(`query ${promql}: ${response.status} ${response.error ?? response.body}`);
      return (JSON.parse(response.body) as { data: { result: Series[] } }).data.result;
    };
    const byProbe = (series: Series[]) => Object.fromEntries(series.map((s) => [s.metric["probe"], Number(s.value[1])]));

    const success = await waitFor(
      "netcanary_probe_success for all three edges in Prometheus",
      async () => {
        const series = await query("netcanary_probe_success");
        return series.length === 3 ? series : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    expect(byProbe(success)).toEqual({ web: 1, "web-dropped": 0, "gateway-dns": 1 });
    for (const series of success) {
      // Scrape labels are Prometheus's own: netcanary's labels never collide with them.
      expect(series.metric).toMatchObject({ job: "netcanary", instance: LISTEN, source: "self", source_node: "lab-node" });
      expect(Object.keys(series.metric).filter((label) => label.startsWith("exported_"))).toEqual([]);
    }
    expect((await query("up")).map((s) => [s.metric["instance"], s.value[1]])).toEqual([[LISTEN, "1"]]);
    // Two consecutive timeouts (failureThreshold: 2) raise the signal on the dropped edge only.
    const blocked = await waitFor(
      "the unexpected_block signal on web-dropped",
      async () => {
        const series = await query('netcanary_probe_mismatch{kind="unexpected_block"} == 1');
        return series.length > 0 ? series : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 250 },
    );
    expect(blocked.map((s) => s.metric["probe"])).toEqual(["web-dropped"]);
    expect(byProbe(await query('netcanary_probes_total{reason="timeout"} > 0'))).toHaveProperty("web-dropped");

    await prom.stop();
    await running.stop();
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.output()).toContain("shutting down");
  });

  it("keeps the last good config on a bad reload, and drops the old edges' series on a good one", async () => {
    const { configFile, process: running } = await startAgent(baseConfig(where));
    const value = (text: string, name: string, labels: Record<string, string> = {}): number | undefined =>
      parseSamples(text).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    const before = await metrics();
    expect(value(before, "netcanary_config_last_reload_successful")).toBe(1);
    expect(value(before, "netcanary_probe_success", { probe: "web" })).toBe(1);

    await writeFile(configFile, invalidConfig(where));
    const afterBad = await waitFor(
      "netcanary_config_last_reload_successful 0",
      async () => {
        const text = await metrics();
        return value(text, "netcanary_config_last_reload_successful") === 0 ? text : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    // The old edges keep running and reporting.
    expect(await resultProbes()).toEqual(["gateway-dns", "web", "web-dropped"]);
    expect(value(afterBad, "netcanary_probe_success", { probe: "web" })).toBe(1);
    expect(value(afterBad, "netcanary_edges")).toBe(3);
    expect(running.output()).toMatch(/config not reloaded, keeping the last good one: .*no source named \\?"nobody\\?"/);

    await writeFile(configFile, newConfig(where));
    const afterGood = await waitFor(
      "the new config's edge in /metrics",
      async () => {
        const text = await metrics();
        return value(text, "netcanary_probe_success", { probe: "gateway" }) === 1 ? text : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    expect(value(afterGood, "netcanary_config_last_reload_successful")).toBe(1);
    expect(value(afterGood, "netcanary_edges")).toBe(2);
    // Every series of the removed edges is gone, in every family.
    const probesInSeries = new Set(parseSamples(afterGood).flatMap((s) => (s.labels["probe"] !== undefined ? [s.labels["probe"]] : [])));
    expect([...probesInSeries].sort()).toEqual(["gateway", "web"]);
    // The unchanged edge kept its state and counters across the reload.
    const webTotal = (text: string) => value(text, "netcanary_probes_total", { probe: "web", result: "success", reason: "ok" }) ?? 0;
    expect(webTotal(afterGood)).toBeGreaterThanOrEqual(webTotal(afterBad));
    expect(value(afterGood, "netcanary_edge_status", { probe: "web", status: "ok" })).toBe(1);
    expect(await resultProbes()).toEqual(["gateway", "web"]);
    expect(running.running).toBe(true);
  });
});
