// The monitoring components: the ServiceMonitor finds the agents' Service and port and names
// the job "netcanary" (the alert rules' job="netcanary"); the PrometheusRule's expressions
// select that job; the dashboards ship as ConfigMaps the Grafana sidecar picks up, exactly
// the repository's dashboards/*.json, kept in step by scripts/sync-dashboards.mjs.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeWith } from "../support/prerequisites.js";
import { find, type KubeObject, kustomize, manifestsDir, render, renderOverlay, repoRoot, schemaProblems } from "./render.js";

const SYNC = join(repoRoot, "scripts", "sync-dashboards.mjs");

interface ServiceMonitor {
  spec: {
    jobLabel?: string;
    selector: { matchLabels?: Record<string, string> };
    namespaceSelector?: { matchNames?: string[]; any?: boolean };
    endpoints: Array<{ port?: string; path?: string }>;
  };
  metadata: KubeObject["metadata"];
}
interface Service {
  metadata: KubeObject["metadata"];
  spec: { clusterIP?: string; selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: string | number }> };
}

/** The job label Prometheus gives a ServiceMonitor's targets, and what is wrong, per the operator's rules. */
function scrape(monitor: ServiceMonitor, service: Service): { job: string | undefined; problems: string[] } {
  const problems: string[] = [];
  const selects = Object.entries(monitor.spec.selector.matchLabels ?? {}).every(([k, v]) => service.metadata.labels?.[k] === v);
  if (!selects || Object.keys(monitor.spec.selector.matchLabels ?? {}).length === 0) problems.push("the selector does not pick the Service");
  const inNamespace = monitor.spec.namespaceSelector?.any === true || (monitor.spec.namespaceSelector?.matchNames ?? [monitor.metadata.namespace]).includes(service.metadata.namespace);
  if (!inNamespace) problems.push("the Service is outside the namespaces it watches");
  for (const endpoint of monitor.spec.endpoints) {
    if (!service.spec.ports.some((p) => p.name === endpoint.port)) problems.push(`no Service port named ${String(endpoint.port)}`);
    if ((endpoint.path ?? "/metrics") !== "/metrics") problems.push(`path ${String(endpoint.path)}`);
  }
  // jobLabel: the value of that Service label; without it, or without the label, the Service name.
  const job = monitor.spec.jobLabel !== undefined ? (service.metadata.labels?.[monitor.spec.jobLabel] ?? service.metadata.name) : service.metadata.name;
  return { job, problems };
}

describeWith({ commands: ["kubectl"] }, "the prometheus-operator component", () => {
  const objects = () => renderOverlay(["base"], ["components/prometheus-operator"]);

  it("the ServiceMonitor picks the agents' headless Service and its metrics port, as job netcanary", () => {
    const rendered = objects();
    const monitor = find(rendered, "ServiceMonitor") as unknown as ServiceMonitor;
    const service = find(rendered, "Service", "netcanary") as unknown as Service;
    expect(scrape(monitor, service)).toEqual({ job: "netcanary", problems: [] });
    // Headless, so each agent pod is a target; the port leads to the container's metrics port.
    expect(service.spec.clusterIP).toBe("None");
    expect(service.spec.ports).toEqual([{ name: "metrics", port: 9714, targetPort: "metrics", protocol: "TCP" }]);
    const pod = (find(rendered, "DaemonSet") as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
    for (const [k, v] of Object.entries(service.spec.selector)) expect(pod[k]).toBe(v);
  });

  it("the job stays netcanary when an overlay renames the objects", () => {
    const rendered = renderOverlay(["base"], ["components/prometheus-operator"], "namePrefix: team-a-\n");
    const service = find(rendered, "Service") as unknown as Service;
    expect(service.metadata.name).toBe("team-a-netcanary");
    expect(scrape(find(rendered, "ServiceMonitor") as unknown as ServiceMonitor, service).job).toBe("netcanary");
  });

  it("negative controls: a wrong port name, a selector that misses, no jobLabel under a prefix", () => {
    const rendered = objects();
    const monitor = find(rendered, "ServiceMonitor") as unknown as ServiceMonitor;
    const service = find(rendered, "Service") as unknown as Service;
    const wrongPort = structuredClone(monitor);
    (wrongPort.spec.endpoints[0] as { port?: string }).port = "http-metrics";
    expect(scrape(wrongPort, service).problems).toEqual(["no Service port named http-metrics"]);
    const misses = structuredClone(monitor);
    misses.spec.selector.matchLabels = { "app.kubernetes.io/name": "netcanary-agent" };
    expect(scrape(misses, service).problems).toEqual(["the selector does not pick the Service"]);
    const noJobLabel = structuredClone(monitor);
    delete noJobLabel.spec.jobLabel;
    expect(scrape(noJobLabel, { ...service, metadata: { ...service.metadata, name: "team-a-netcanary" } }).job).toBe("team-a-netcanary");
  });

  it("the PrometheusRule lives with the agent, and every job selector in its rules is job=\"netcanary\"", () => {
    const rule = find(objects(), "PrometheusRule") as unknown as { metadata: KubeObject["metadata"]; spec: { groups: Array<{ name: string; rules?: Array<{ alert?: string; record?: string; expr: string | number }> }> } };
    expect(rule.metadata.namespace).toBe("netcanary");
    expect(schemaProblems(rule as unknown as KubeObject)).toEqual([]);
    const jobSelectors = rule.spec.groups.flatMap((g) => (g.rules ?? []).flatMap((r) => [...String(r.expr).matchAll(/\bjob\s*(=~|!=|!~|=)\s*"([^"]*)"/g)].map((m) => `${m[1]}"${m[2]}"`)));
    for (const selector of jobSelectors) expect(selector).toBe('="netcanary"');
  });
});

describe("scripts/sync-dashboards.mjs", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const temp = () => {
    const dir = mkdtempSync(join(tmpdir(), "netcanary-dashboards-"));
    dirs.push(dir);
    return dir;
  };
  const sync = (...args: string[]) => spawnSync(process.execPath, [SYNC, ...args], { encoding: "utf8", timeout: 30_000 });

  it("--check passes on the repository: the component holds exactly dashboards/*.json", () => {
    const run = sync("--check");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const source = readdirSync(join(repoRoot, "dashboards")).filter((f) => f.endsWith(".json")).sort();
    const dest = join(manifestsDir, "components", "grafana", "dashboards");
    expect(readdirSync(dest).filter((f) => f.endsWith(".json")).sort()).toEqual(source);
    for (const file of source) expect(readFileSync(join(dest, file)).equals(readFileSync(join(repoRoot, "dashboards", file)))).toBe(true);
  });

  it("copies, writes the generator list, removes what left the source; --check says what is stale", () => {
    const source = temp();
    const dest = temp();
    writeFileSync(join(source, "netcanary-overview.json"), JSON.stringify({ title: "Overview", panels: [] }));
    writeFileSync(join(source, "Zscaler_Coverage.json"), JSON.stringify({ title: "Zscaler" }));
    writeFileSync(join(source, "notes.txt"), "not a dashboard");
    // Out of date before the first sync.
    let run = sync("--check", "--source", source, "--dest", dest);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/missing: .*netcanary-overview\.json/);
    expect(sync("--source", source, "--dest", dest).status).toBe(0);
    expect(readdirSync(dest).sort()).toEqual(["Zscaler_Coverage.json", "kustomization.yaml", "netcanary-overview.json"].sort());
    const kustomization = readFileSync(join(dest, "kustomization.yaml"), "utf8");
    expect(kustomization).toContain("name: netcanary-dashboard-overview");
    expect(kustomization).toContain("name: netcanary-dashboard-zscaler-coverage");
    expect(sync("--check", "--source", source, "--dest", dest).status).toBe(0);

    // A changed dashboard, and one removed from the source.
    writeFileSync(join(source, "netcanary-overview.json"), JSON.stringify({ title: "Overview", panels: [{ id: 1 }] }));
    rmSync(join(source, "Zscaler_Coverage.json"));
    run = sync("--check", "--source", source, "--dest", dest);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/differs: .*netcanary-overview\.json/);
    expect(run.stderr).toMatch(/not in the source: .*Zscaler_Coverage\.json/);
    expect(run.stderr).toMatch(/differs: .*kustomization\.yaml/);
    expect(sync("--source", source, "--dest", dest).status).toBe(0);
    expect(readdirSync(dest).sort()).toEqual(["kustomization.yaml", "netcanary-overview.json"]);
    expect(sync("--check", "--source", source, "--dest", dest).status).toBe(0);
  });

  it("refuses unusable dashboards with exit status 2 and writes nothing", () => {
    const source = temp();
    const dest = temp();
    writeFileSync(join(source, "broken.json"), '{"title": "Broken", ');
    writeFileSync(join(source, "list.json"), "[]");
    writeFileSync(join(source, "untitled.json"), "{}");
    writeFileSync(join(source, "Node Detail.json"), JSON.stringify({ title: "Node detail" }));
    const run = sync("--source", source, "--dest", dest);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/broken\.json: not valid JSON/);
    expect(run.stderr).toMatch(/list\.json: a dashboard must be a JSON object/);
    expect(run.stderr).toMatch(/untitled\.json: a dashboard needs a "title"/);
    expect(run.stderr).toMatch(/Node Detail\.json: the file name must be a ConfigMap key/);
    expect(readdirSync(dest)).toEqual([]);
  });

  describeWith({ commands: ["kubectl"] }, "rendered", () => {
    it("the component's ConfigMaps carry the sidecar label and each holds one dashboard's JSON, as in the repository", () => {
      const dashboards = renderOverlay(["base"], ["components/grafana"]).filter((o) => o.kind === "ConfigMap" && o.metadata.name !== "netcanary-config");
      const files = readdirSync(join(repoRoot, "dashboards")).filter((f) => f.endsWith(".json"));
      expect(dashboards).toHaveLength(files.length);
      for (const configMap of dashboards) {
        expect(configMap.metadata.labels?.["grafana_dashboard"]).toBe("1");
        expect(configMap.metadata.namespace).toBe("netcanary");
        const data = (configMap as unknown as { data: Record<string, string> }).data;
        expect(Object.keys(data)).toHaveLength(1);
        const [file, text] = Object.entries(data)[0] as [string, string];
        expect(files).toContain(file);
        const dashboard = JSON.parse(text) as { title?: unknown };
        expect(typeof dashboard.title).toBe("string");
        expect(text).toBe(readFileSync(join(repoRoot, "dashboards", file), "utf8"));
      }
    });

    it("a synced copy of the component renders the dashboards it was given (and a stale one does not)", () => {
      // The component copied next to a copy of the base, fed two fixture dashboards.
      const root = temp();
      cpSync(join(manifestsDir, "base"), join(root, "base"), { recursive: true });
      cpSync(join(manifestsDir, "components", "grafana"), join(root, "grafana"), { recursive: true });
      const source = join(root, "source");
      mkdirSync(source);
      writeFileSync(join(source, "one.json"), JSON.stringify({ title: "One" }));
      writeFileSync(join(source, "two.json"), JSON.stringify({ title: "Two", panels: [] }));
      const overlay = join(root, "overlay");
      mkdirSync(overlay);
      writeFileSync(join(overlay, "kustomization.yaml"), `resources: [${relative(overlay, join(root, "base"))}]\ncomponents: [${relative(overlay, join(root, "grafana"))}]\n`);
      const labeled = () => kustomize(overlay).filter((o) => o.metadata.labels?.["grafana_dashboard"] === "1");

      expect(execFileSync(process.execPath, [SYNC, "--source", source, "--dest", join(root, "grafana", "dashboards")], { encoding: "utf8" })).toMatch(/2 dashboard\(s\)/);
      const rendered = labeled();
      expect(rendered.map((o) => o.metadata.name).sort()).toEqual(["netcanary-dashboard-one", "netcanary-dashboard-two"]);
      expect(rendered.map((o) => JSON.parse(Object.values((o as unknown as { data: Record<string, string> }).data)[0] as string).title).sort()).toEqual(["One", "Two"]);

      // A dashboard added to the source but not synced is not shipped, and --check says so.
      writeFileSync(join(source, "three.json"), JSON.stringify({ title: "Three" }));
      expect(labeled()).toHaveLength(2);
      expect(spawnSync(process.execPath, [SYNC, "--check", "--source", source, "--dest", join(root, "grafana", "dashboards")]).status).toBe(1);
    });
  });
});
