// The Grafana dashboards in dashboards/. First the files themselves: Grafana's export form,
// unique panel ids, every panel on the datasource variable, a layout inside 24 columns
// without overlaps, every variable defined and used. Then every panel's query, run against
// real Prometheus servers scraping a real agent. The agent (the built CLI, as in a pod) reads
// its cluster from the wire-true API test server and probes loopback listeners (open and
// refused), a local DNS server, and, from a labelled "pod" (a network namespace the test
// makes), a listener inside that pod; it fetches Zscaler feeds from a local stand-in.
// NetworkPolicy changes through the API move one edge's verdict back and forth so policy
// propagation is measured; a watch expiry, a refused feed and a changed feed give the
// failure and change counters series. Each panel query, interpolated the way Grafana does
// (variables at All, and at the agent's own values), must come back without error and with
// data: from a Prometheus that labels the target with a cluster, and from one that does not.
// Rule coverage adds up across agents: a third Prometheus also scrapes a second agent, on
// another node, whose probes exercise an egress rule the first agent's probes never cross,
// and reach the first agent's pod: ingress rules only the second agent sees.

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliPath } from "../support/cli.js";
import {
  allPanels,
  type Builtins,
  type Dashboard,
  dataPanels,
  formatVariable,
  type GridPos,
  interpolate,
  loadDashboards,
  type Panel,
  type PanelQuery,
  panelQueries,
  parseLabelValues,
  referencedVariables,
  type Selection,
  type Variable,
  variableQuery,
} from "../support/dashboards.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { Lab, LAB_COMMANDS, type LabProcess, startProcess, waitFor } from "../support/lab.js";
import { acceptingEndpoint, closedPort, type Endpoint } from "../support/listeners.js";
import { CheckPageServer } from "../support/check-page-server.js";
import { describeWith } from "../support/prerequisites.js";
import { fixturePayload, ZSCALER_PATHS, ZscalerServer } from "../support/zscaler-server.js";

const NODE = "node-a";
const CLUSTER = "lab-cluster";
const AGENT_IP = "127.0.0.10";
const NODE_B = "node-b";
const AGENT_B_IP = "127.0.0.11";
/** The agent policy's egress rules: [0] exercised by the first agent, [1] only by the second, [2] by none. */
const RULE = (i: number) => `netcanary/agent-egress spec.egress[${i}]`;
/** Its ingress rules, seen only by the second agent (its probe reaches the first agent's pod): [0] exercised, [1] not. */
const INGRESS = (i: number) => `netcanary/agent-egress spec.ingress[${i}]`;


// ---------------------------------------------------------------------------------------
// Prometheus HTTP API

interface PromSeries {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
  readonly values?: [number, string][];
}

interface PromAnswer<T> {
  readonly status: "success" | "error";
  readonly data?: T;
  readonly errorType?: string;
  readonly error?: string;
}

class PrometheusApi {
  constructor(readonly base: string) {}

  async get<T>(path: string, params: Record<string, string | string[]>): Promise<PromAnswer<T>> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) for (const one of Array.isArray(value) ? value : [value]) search.append(key, one);
    const response = await fetch(`${this.base}${path}?${search.toString()}`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    try {
      return JSON.parse(text) as PromAnswer<T>;
    } catch {
      return { status: "error", error: `HTTP ${response.status}: ${text.slice(0, 300)}` };
    }
  }

  instant(expr: string, time: number): Promise<PromAnswer<{ resultType: string; result: PromSeries[] | [number, string] }>> {
    return this.get("/api/v1/query", { query: expr, time: String(time) });
  }

  range(expr: string, startSeconds: number, endSeconds: number, step: number): Promise<PromAnswer<{ resultType: string; result: PromSeries[] }>> {
    return this.get("/api/v1/query_range", { query: expr, start: String(startSeconds), end: String(endSeconds), step: String(step) });
  }

  labelValues(label: string, match: string, startSeconds: number, endSeconds: number): Promise<PromAnswer<string[]>> {
    return this.get(`/api/v1/label/${encodeURIComponent(label)}/values`, { "match[]": match, start: String(startSeconds), end: String(endSeconds) });
  }

  /** Instant vector results of an expression (throws on an error answer). */
  async vector(expr: string): Promise<PromSeries[]> {
    const answer = await this.instant(expr, Date.now() / 1000);
    if (answer.status !== "success" || !answer.data) throw new Error(`${expr}: ${answer.error}`);
    return answer.data.result as PromSeries[];
  }
}

// ---------------------------------------------------------------------------------------
// The cluster the agent sees

/** An agent pod of the DaemonSet, on a node. */
const agentPod = (name: string, node: string, ip: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    namespace: "netcanary",
    name,
    labels: { app: "netcanary" },
    uid: `u-${name}`,
    ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "netcanary", uid: "u-ds", controller: true }],
  },
  spec: { nodeName: node, containers: [{ name: "agent", image: "netcanary" }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});
const AGENT_POD = agentPod("netcanary-x1b2c", NODE, AGENT_IP);
const AGENT_POD_B = agentPod("netcanary-k7m4p", NODE_B, AGENT_B_IP);

/** The labeled source pod, at its address in the test's lab, with the UID its processes' cgroup names. */
const sourcePod = (podIP: string, uid: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    namespace: "shop",
    name: "checkout-5d8f7c9b4-q2x7v",
    labels: { app: "checkout", "pod-template-hash": "5d8f7c9b4", "netcanary.io/probe": "true" },
    uid,
    ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "checkout-5d8f7c9b4", uid: "u-rs", controller: true }],
  },
  spec: { nodeName: NODE, containers: [{ name: "checkout", image: "checkout" }] },
  status: { phase: "Running", podIP, podIPs: [{ ip: podIP }] },
});

const BACKEND_PORT = 9000;

/** A pod of shop on another node, which checkout connects to (the API names its address). */
const backendPod = (podIP: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    namespace: "shop",
    name: "backend-0",
    labels: { app: "backend", "statefulset.kubernetes.io/pod-name": "backend-0" },
    uid: "u-backend-0",
    ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "backend", uid: "u-sts", controller: true }],
  },
  spec: { nodeName: "node-b", containers: [{ name: "backend", image: "backend" }] },
  status: { phase: "Running", podIP, podIPs: [{ ip: podIP }] },
});

/** backend admits nobody: checkout's connection, seen all the same, is evidence the policy is not enforced. */
const BACKEND_INGRESS = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { namespace: "shop", name: "backend-ingress" },
  spec: { podSelector: { matchLabels: { app: "backend" } }, policyTypes: ["Ingress"] },
};

/** Staged (never applied): checkout may send nothing. */
const STAGED_CHECKOUT_EGRESS = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: checkout-egress, namespace: shop}
spec: {podSelector: {matchLabels: {app: checkout}}, policyTypes: [Egress]}
`;

/** Listens on (host, port) and holds every connection it accepts open until stdin closes. */
const HOLDING_SERVER = `
const held = [];
require("node:net").createServer((socket) => held.push(socket)).listen(Number(process.argv[2]), process.argv[1], () => process.stdout.write("listening\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** Holds one TCP connection open (host, port) until stdin closes. */
const HOLDING_CLIENT = `
const socket = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) }, () => process.stdout.write("connected\\n"));
socket.on("error", (error) => process.stdout.write("failed " + error.message + "\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/**
 * The agents' egress: loopback, except the addresses listed (denied); then the second agent's
 * own destination on its port (its probe crosses [0] and [1]); then a database nobody probes.
 * Their ingress: from loopback (the second agent's probe of the first agent's pod), and from a
 * range nothing probes from.
 */
function egressPolicy(denied: readonly string[], secondPort: number): Record<string, unknown> {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: "netcanary", name: "agent-egress" },
    spec: {
      podSelector: { matchLabels: { app: "netcanary" } },
      policyTypes: ["Egress", "Ingress"],
      egress: [
        { to: [{ ipBlock: { cidr: "127.0.0.0/8", except: denied.map((ip) => `${ip}/32`) } }] },
        { to: [{ ipBlock: { cidr: "127.0.0.7/32" } }], ports: [{ protocol: "TCP", port: secondPort }] },
        { to: [{ ipBlock: { cidr: "10.99.0.0/16" } }], ports: [{ protocol: "TCP", port: 5432 }] },
      ],
      ingress: [{ from: [{ ipBlock: { cidr: "127.0.0.0/8" } }] }, { from: [{ ipBlock: { cidr: "10.98.0.0/16" } }] }],
    },
  };
}

// ---------------------------------------------------------------------------------------
// Grafana's side: variables resolved through Prometheus, queries interpolated and run

/** The time range a dashboard is looked at with; Grafana sends instant queries at `end`. */
interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

/** The scrape interval (1 s): Grafana's $__interval for this range, and $__rate_interval = max($__interval + scrape, 4 × scrape). */
function builtinsFor(window: TimeWindow): Builtins {
  return { interval: "1s", rateInterval: "4s", rangeSeconds: Math.max(1, Math.round(window.end - window.start)) };
}

/** What each variable is set to: "All", one value, or (absent) Grafana's default (All when offered, else the first value). */
type Choices = Readonly<Record<string, string>>;

interface ResolvedVariables {
  /** name -> the text that replaces $name in queries. */
  readonly values: Map<string, string>;
  /** name -> the values the variable's query offered. */
  readonly options: Map<string, string[]>;
}

class NotYet extends Error {}

/** Runs each query variable in order (later ones see earlier ones' values), as Grafana does on load. */
async function resolveVariables(prom: PrometheusApi, dashboard: Dashboard, choices: Choices, window: TimeWindow): Promise<ResolvedVariables> {
  const values = new Map<string, string>();
  const options = new Map<string, string[]>();
  for (const variable of dashboard.templating.list) {
    if (variable.type === "datasource") continue;
    if (variable.type !== "query") throw new Error(`variable ${variable.name}: type ${variable.type} is not handled by this test`);
    const { match, label } = parseLabelValues(interpolate(variableQuery(variable), values, builtinsFor(window)));
    const answer = await prom.labelValues(label, match, window.start, window.end);
    if (answer.status !== "success" || !answer.data) throw new Error(`variable ${variable.name}: ${variableQuery(variable)}: ${answer.error}`);
    const offered = [...answer.data].sort();
    options.set(variable.name, offered);
    values.set(variable.name, formatVariable(variable, select(variable, offered, choices[variable.name])));
  }
  return { values, options };
}

function select(variable: Variable, offered: readonly string[], choice: string | undefined): Selection {
  if (choice === "All" || (choice === undefined && variable.includeAll)) {
    if (!variable.includeAll) throw new Error(`variable ${variable.name} offers no All option`);
    return { all: true, options: offered };
  }
  const value = choice ?? offered[0];
  if (value === undefined || !offered.includes(value)) throw new NotYet(`variable ${variable.name}: ${value ?? "a value"} not offered yet (offered: ${offered.join(", ") || "nothing"})`);
  return { all: false, values: [value] };
}

interface Outcome {
  readonly query: PanelQuery;
  readonly expr: string;
  readonly error?: string;
  /** Series (or scalars) returned. */
  readonly series: PromSeries[];
  /** At least one sample with a finite value: what a panel can draw. */
  readonly hasData: boolean;
}

function finite(value: string): boolean {
  return Number.isFinite(Number(value));
}

async function runPanelQuery(prom: PrometheusApi, query: PanelQuery, values: ReadonlyMap<string, string>, window: TimeWindow): Promise<Outcome> {
  const expr = interpolate(query.expr, values, builtinsFor(window));
  if (query.instant) {
    const answer = await prom.instant(expr, window.end);
    if (answer.status !== "success" || !answer.data) return { query, expr, error: `${answer.errorType ?? "error"}: ${answer.error}`, series: [], hasData: false };
    const { resultType, result } = answer.data;
    if (resultType === "scalar") {
      const scalar = result as [number, string];
      return { query, expr, series: [{ metric: {}, value: scalar }], hasData: finite(scalar[1]) };
    }
    const series = result as PromSeries[];
    return { query, expr, series, hasData: series.some((s) => s.value !== undefined && finite(s.value[1])) };
  }
  const answer = await prom.range(expr, window.start, window.end, 1);
  if (answer.status !== "success" || !answer.data) return { query, expr, error: `${answer.errorType ?? "error"}: ${answer.error}`, series: [], hasData: false };
  const series = answer.data.result;
  return { query, expr, series, hasData: series.some((s) => (s.values ?? []).some(([, value]) => finite(value))) };
}

function describeOutcome(file: string, outcome: Outcome): string {
  const what = outcome.error ?? (outcome.series.length === 0 ? "no series" : `${outcome.series.length} series, no finite value`);
  return `${file} › "${outcome.query.panel}" (${outcome.query.panelType}, ${outcome.query.refId}): ${what}\n    ${outcome.expr.replace(/\s+/g, " ")}`;
}

/**
 * Every panel query of the dashboard, with the variables chosen: polls (bounded) until all
 * return data. A query Prometheus rejects fails at once; one still empty at the deadline
 * fails naming its panel.
 */
async function everyPanelWithData(prom: PrometheusApi, file: string, dashboard: Dashboard, choices: Choices, since: number, timeoutMs = 60_000): Promise<Map<string, Outcome>> {
  const queries = panelQueries(dashboard);
  const deadline = Date.now() + timeoutMs;
  let pending: string[] = [];
  for (;;) {
    const window = { start: since, end: Date.now() / 1000 };
    let resolved: ResolvedVariables | undefined;
    try {
      resolved = await resolveVariables(prom, dashboard, choices, window);
    } catch (error) {
      if (!(error instanceof NotYet)) throw error;
      pending = [error.message];
    }
    if (resolved) {
      const outcomes = await Promise.all(queries.map((query) => runPanelQuery(prom, query, resolved.values, window)));
      const rejected = outcomes.filter((o) => o.error !== undefined);
      if (rejected.length > 0) throw new Error(`Prometheus rejected panel queries:\n${rejected.map((o) => describeOutcome(file, o)).join("\n")}`);
      const empty = outcomes.filter((o) => !o.hasData);
      if (empty.length === 0) return new Map(outcomes.map((o) => [`${o.query.panel}/${o.query.refId}`, o]));
      pending = empty.map((o) => describeOutcome(file, o));
    }
    if (Date.now() >= deadline) throw new Error(`panels without data after ${timeoutMs / 1000} s:\n${pending.join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The series of one panel target. */
function seriesOf(outcomes: ReadonlyMap<string, Outcome>, panel: string, refId = "A"): PromSeries[] {
  const outcome = outcomes.get(`${panel}/${refId}`);
  if (!outcome) throw new Error(`no panel "${panel}" (${refId}); panels: ${[...new Set([...outcomes.values()].map((o) => o.query.panel))].join(", ")}`);
  return outcome.series;
}

const lastValue = (series: PromSeries): number => Number(series.value?.[1] ?? series.values?.at(-1)?.[1]);

/** The overview's table of rules no probe exercised: "rule agents", sorted. */
const unexercisedRules = (outcomes: ReadonlyMap<string, Outcome>): string[] =>
  seriesOf(outcomes, "Rules no probe exercised (cluster)")
    .map((s) => {
      expect(s.metric).toMatchObject({ policy: "netcanary/agent-egress", direction: String(s.metric["rule"]).includes("ingress") ? "ingress" : "egress" });
      return `${s.metric["rule"]} ${lastValue(s)}`;
    })
    .sort();

// ---------------------------------------------------------------------------------------
// The files themselves (no Prometheus needed)

const PANEL_TYPES = new Set(["row", "timeseries", "stat", "table", "state-timeline", "heatmap", "bargauge", "nodeGraph"]);
/** Panels Grafana asks for one value (instant); the others draw a range. */
const INSTANT_TYPES = new Set(["stat", "table", "bargauge", "nodeGraph"]);

/** Every {type, uid} datasource reference anywhere in a dashboard. */
function datasourceRefs(value: unknown): { type?: unknown; uid?: unknown }[] {
  if (Array.isArray(value)) return value.flatMap(datasourceRefs);
  if (value === null || typeof value !== "object") return [];
  const record = value as Record<string, unknown>;
  const own = Object.entries(record).flatMap(([key, inner]) => (key === "datasource" && inner !== null && typeof inner === "object" ? [inner as { type?: unknown; uid?: unknown }] : []));
  return [...own, ...Object.entries(record).flatMap(([key, inner]) => (key === "datasource" ? [] : datasourceRefs(inner)))];
}

describe("the dashboard files", () => {
  const files = loadDashboards();

  it("are the overview and the node view, with stable uids, in Grafana's export form", () => {
    expect(files.map((f) => [f.file, f.dashboard.uid])).toEqual([
      ["netcanary-node.json", "netcanary-node"],
      ["netcanary-overview.json", "netcanary-overview"],
    ]);
    for (const { file, dashboard } of files) {
      const raw = dashboard as unknown as Record<string, unknown>;
      expect(dashboard.title, file).toMatch(/^netcanary \/ /);
      expect(dashboard.uid, file).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(dashboard.schemaVersion, file).toBeGreaterThanOrEqual(39);
      expect(Number.isInteger(dashboard.version), file).toBe(true);
      expect(raw["id"], file).toBeNull();
      expect(dashboard.tags, file).toContain("netcanary");
      expect(dashboard.time, file).toEqual({ from: expect.stringMatching(/^now-\d+[mhd]$/), to: "now" });
      expect(dashboard.refresh, file).toMatch(/^\d+[sm]$/);
      // The plain form with a datasource variable: no __inputs to fill in, nothing bound to one datasource.
      expect(raw["__inputs"], file).toBeUndefined();
      expect(JSON.stringify(dashboard), file).not.toContain("${DS_");
      const refs = datasourceRefs(dashboard).filter((ref) => ref.type !== "grafana");
      expect(refs.length, file).toBeGreaterThan(0);
      for (const ref of refs) expect(ref, file).toEqual({ type: "prometheus", uid: "${datasource}" });
    }
  });

  it("have unique panel ids and titles, and every data panel queries Prometheus through the datasource variable", () => {
    for (const { file, dashboard } of files) {
      const panels = allPanels(dashboard);
      const ids = panels.map((p) => p.id);
      expect(ids.every((id) => Number.isInteger(id)), file).toBe(true);
      expect(new Set(ids).size, `${file}: duplicate panel ids ${ids.join(",")}`).toBe(ids.length);
      const titles = dataPanels(dashboard).map((p) => p.title);
      expect(new Set(titles).size, `${file}: duplicate titles`).toBe(titles.length);
      for (const panel of panels) {
        const where = `${file} › ${panel.title}`;
        expect(PANEL_TYPES.has(panel.type ?? ""), `${where}: type ${panel.type}`).toBe(true);
        expect(panel.title, where).toBeTruthy();
        if (panel.type === "row") continue;
        expect(panel.datasource, where).toEqual({ type: "prometheus", uid: "${datasource}" });
        const targets = panel.targets ?? [];
        expect(targets.length, where).toBeGreaterThan(0);
        expect(new Set(targets.map((t) => t.refId)).size, `${where}: refIds`).toBe(targets.length);
        for (const target of targets) {
          expect(target.datasource ?? panel.datasource, where).toEqual({ type: "prometheus", uid: "${datasource}" });
          expect(target.expr?.trim(), where).toBeTruthy();
          // Tables and stats show one value (instant); graphs a range.
          expect(target.instant === true && target.range !== true, `${where} ${target.refId}: instant`).toBe(INSTANT_TYPES.has(panel.type ?? ""));
        }
      }
    }
  });

  it("lay panels out inside 24 columns without overlaps", () => {
    const overlaps = (a: GridPos, b: GridPos) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    for (const { file, dashboard } of files) {
      const levels: Panel[][] = [dashboard.panels as Panel[], ...dashboard.panels.map((p) => (p.panels ?? []) as Panel[])];
      for (const level of levels) {
        for (const [i, panel] of level.entries()) {
          const pos = panel.gridPos;
          const where = `${file} › ${panel.title}`;
          expect(pos, where).toBeDefined();
          if (!pos) continue;
          for (const value of [pos.x, pos.y, pos.w, pos.h]) expect(Number.isInteger(value) && value >= 0, `${where}: ${JSON.stringify(pos)}`).toBe(true);
          expect(pos.w >= 1 && pos.h >= 1 && pos.x + pos.w <= 24, `${where}: ${JSON.stringify(pos)}`).toBe(true);
          if (panel.type === "row") expect(pos, where).toMatchObject({ x: 0, w: 24, h: 1 });
          for (const other of level.slice(i + 1)) {
            expect(other.gridPos && overlaps(pos, other.gridPos), `${where} overlaps ${other.title}`).toBeFalsy();
          }
        }
      }
    }
  });

  it("offer datasource, cluster, namespace, node and source variables, each one used, and only those in queries", () => {
    for (const { file, dashboard } of files) {
      const variables = dashboard.templating.list;
      const byName = new Map(variables.map((v) => [v.name, v]));
      expect([...byName.keys()], file).toEqual(expect.arrayContaining(["datasource", "cluster", "namespace", "node", "source"]));
      expect(byName.get("datasource"), file).toMatchObject({ type: "datasource", query: "prometheus" });
      // No cluster label at all: the variable offers nothing, All (.*) still matches every series.
      expect(byName.get("cluster"), file).toMatchObject({ type: "query", includeAll: true, allValue: ".*" });
      for (const variable of variables) {
        if (variable.type === "datasource") continue;
        expect(variable.type, `${file} › $${variable.name}`).toBe("query");
        expect(variable.datasource, `${file} › $${variable.name}`).toEqual({ type: "prometheus", uid: "${datasource}" });
        expect(() => parseLabelValues(variableQuery(variable)), `${file} › $${variable.name}`).not.toThrow();
      }
      const exprs = panelQueries(dashboard).map((q) => q.expr);
      const used = new Set([...exprs, ...variables.map(variableQuery)].flatMap(referencedVariables));
      for (const name of used) expect(byName.has(name), `${file}: $${name} is not a variable`).toBe(true);
      for (const name of byName.keys()) if (name !== "datasource") expect(used.has(name), `${file}: $${name} is never used`).toBe(true);
      // Every query is scoped to the chosen cluster.
      for (const query of panelQueries(dashboard)) expect(query.expr, `${file} › ${query.panel}`).toContain('cluster=~"$cluster"');
    }
  });
});

// ---------------------------------------------------------------------------------------

describeWith({ root: true, commands: [...LAB_COMMANDS, "prometheus", "nsenter"] }, "Grafana dashboards against a real Prometheus scraping a running agent", () => {
  const dashboards = loadDashboards();
  const byFile = (file: string): Dashboard => {
    const found = dashboards.find((d) => d.file === file);
    if (!found) throw new Error(`dashboards/${file} is missing`);
    return found.dashboard;
  };
  let dir: string;
  let api: KubeApiServer | undefined;
  let zscaler: ZscalerServer | undefined;
  let dns: TestDnsServer | undefined;
  /** Zscaler's check page saying "not via": the path check expecting via finds direct. */
  let checkPage: CheckPageServer | undefined;
  let lab: Lab | undefined;
  const listeners: Endpoint[] = [];
  const processes: LabProcess[] = [];
  let agentAddress: string;
  let agent: LabProcess;
  /** The second agent, on NODE_B: scraped, with the first, only by `pair`. */
  let agentB: LabProcess;
  let agentBAddress: string;
  let second: Endpoint;
  /** A listener on the first agent's pod address, which the second agent probes. */
  let agentPodListener: Endpoint;
  /** Scrapes the agent with a cluster label on the target. */
  let labelled: PrometheusApi;
  /** Scrapes the same agent without one (a single-cluster Prometheus). */
  let plain: PrometheusApi;
  /** Scrapes both agents, with a cluster label: the cluster-wide view of rule coverage. */
  let pair: PrometheusApi;
  let since: number;
  let refusedPort: number;

  async function results(): Promise<{ probe: string; status: string; policy: { verdict: string } }[]> {
    const response = await fetch(`http://${agentAddress}/api/v1/results`, { signal: AbortSignal.timeout(2000) });
    return ((await response.json()) as { results: { probe: string; status: string; policy: { verdict: string } }[] }).results;
  }

  async function startPrometheus(name: string, labels: Record<string, string>, targets = [agentAddress]): Promise<PrometheusApi> {
    const home = join(dir, name);
    const port = await closedPort();
    const configFile = join(dir, `${name}.yml`);
    const targetLabels = Object.keys(labels).length > 0 ? `, labels: ${JSON.stringify(labels)}` : "";
    await writeFile(
      configFile,
      `global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
scrape_configs:
  - job_name: netcanary
    static_configs: [{targets: ${JSON.stringify(targets)}${targetLabels}}]
`,
    );
    const server = startProcess(name, ["prometheus", `--config.file=${configFile}`, `--storage.tsdb.path=${home}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"]);
    processes.push(server);
    const prom = new PrometheusApi(`http://127.0.0.1:${port}`);
    await waitFor(
      `${name} to scrape the agent`,
      async () => {
        if (!server.running) throw new Error(`${name} exited:\n${server.output()}`);
        const up = await prom.vector("up");
        return up.filter((s) => s.value?.[1] === "1").length === targets.length ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    return prom;
  }

  /**
   * Polls an instant query on both Prometheus servers until check() accepts both results.
   * (Each must scrape every step: a histogram whose first scraped count is already 2 never
   * shows an increase.)
   */
  async function untilPrometheus(what: string, expr: string, check: (series: PromSeries[]) => boolean, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      what,
      async () => {
        if (!agent.running) throw new Error(`the agent exited:\n${agent.output()}`);
        const answers = await Promise.all([labelled.vector(expr), plain.vector(expr)]);
        return answers.every(check) ? true : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "netcanary-dashboards-"));

    // The source pod: a namespace held by a "pause" process, a listener on its own loopback.
    lab = await Lab.create((at) => ({ pods: [{ name: "checkout", ip: at.ip(2) }, { name: "backend", ip: at.ip(3) }] }));
    lab.startProcess(lab.pod("checkout"), "sleep", ["3600"], { name: "pause checkout" });
    await lab.tcpListener(lab.pod("checkout"), "127.0.0.1", [8080]);
    // The traffic map's flow: checkout holds a connection to backend's pod, which a policy in
    // force denies (the lab enforces none: seen although denied).
    await lab
      .startProcess(lab.pod("backend"), process.execPath, ["-e", HOLDING_SERVER, lab.pod("backend").ip, String(BACKEND_PORT)], { name: "backend's listener" })
      .waitForOutput(/^listening$/m);
    await lab
      .startProcess(lab.pod("checkout"), process.execPath, ["-e", HOLDING_CLIENT, lab.pod("backend").ip, String(BACKEND_PORT)], { name: "checkout's connection to backend" })
      .waitForOutput(/^connected$/m);

    const web = await acceptingEndpoint("127.0.0.2");
    const leaky = await acceptingEndpoint("127.0.0.5");
    const flip = await acceptingEndpoint("127.0.0.6");
    second = await acceptingEndpoint("127.0.0.7");
    agentPodListener = await acceptingEndpoint(AGENT_IP);
    listeners.push(web, leaky, flip, second, agentPodListener);
    refusedPort = await closedPort();

    dns = await startDnsServer({ rules: [{ name: "api.partner.test", type: "A", answers: [{ type: "A", value: "192.0.2.80" }] }] });
    zscaler = await ZscalerServer.start();
    checkPage = await CheckPageServer.start("not_via");
    // One feed refused upstream: a failure series for the feed panels.
    zscaler.control(ZSCALER_PATHS.svpn, { status: 404 });

    api = await KubeApiServer.start({ bookmarkIntervalMs: 500 });
    api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "netcanary", labels: { "kubernetes.io/metadata.name": "netcanary" } } });
    api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { "kubernetes.io/metadata.name": "shop" } } });
    api.apply(AGENT_POD);
    api.apply(AGENT_POD_B);
    api.apply(sourcePod(lab.pod("checkout").ip, lab.pod("checkout").uid));
    api.apply(backendPod(lab.pod("backend").ip));
    api.apply(BACKEND_INGRESS);
    await mkdir(join(dir, "staged"));
    await writeFile(join(dir, "staged", "checkout-egress.yaml"), STAGED_CHECKOUT_EGRESS);
    // web, backend and the DNS server allowed; leaky and flip denied (both get through: unexpected_allow).
    api.apply(egressPolicy(["127.0.0.5", "127.0.0.6"], second.port));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, api.kubeconfigYaml());

    const config = join(dir, "netcanary.yaml");
    await writeFile(
      config,
      `defaults: {interval: 500ms, timeout: 400ms, failureThreshold: 2, successThreshold: 1}
traffic: {enabled: true, interval: 1s, staged: ${join(dir, "staged")}}
zscaler:
  clouds: [zscaler.net]
  baseUrl: ${zscaler.baseUrl}
  cacheDir: ${join(dir, "zscaler-cache")}
  refreshInterval: 2s
  removalGrace: "0"
  timeout: 2s
  audit: {feeds: [future, hubs-recommended], ports: [443]}
sources:
  - {name: self, self: true}
  - {name: checkout, podSelector: {matchLabels: {netcanary.io/probe: "true"}}}
probes:
  - {name: web, sources: [self], tcp: {ip: 127.0.0.2, port: ${web.port}}}
  - {name: backend, sources: [self], tcp: {ip: 127.0.0.3, port: ${refusedPort}}, expect: allow}
  - {name: leaky, sources: [self], tcp: {ip: 127.0.0.5, port: ${leaky.port}}}
  - {name: flip, sources: [self], tcp: {ip: 127.0.0.6, port: ${flip.port}}}
  - {name: partner-dns, sources: [self], dns: {query: api.partner.test, server: "${dns.address}"}}
  - {name: missing-dns, sources: [self], dns: {query: gone.partner.test, server: "${dns.address}"}}
  - {name: sidecar, sources: [checkout], tcp: {ip: 127.0.0.1, port: 8080}}
  - {name: egress-path, sources: [self], http: {zscalerPath: {expect: via, page: "http://127.0.0.1:${checkPage.listenPort}/"}}}
`,
    );
    agentAddress = `127.0.0.1:${await closedPort()}`;
    agent = startProcess("netcanary agent", [process.execPath, cliPath, "agent", "--config", config, "--kubeconfig", kubeconfig, "--listen", agentAddress, "--log-level", "info"], {
      env: {
        NODE_NAME: NODE,
        POD_NAMESPACE: "netcanary",
        POD_NAME: AGENT_POD.metadata.name,
        POD_IP: AGENT_IP,
        KUBERNETES_SERVICE_HOST: "",
        KUBECONFIG: "",
      },
    });
    processes.push(agent);
    await waitFor(
      "the agent's /readyz",
      async () => {
        if (!agent.running) throw new Error(`the agent exited:\n${agent.output()}`);
        const response = await fetch(`http://${agentAddress}/readyz`, { signal: AbortSignal.timeout(1000) });
        return response.status === 200 ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    since = Math.floor(Date.now() / 1000);
    [labelled, plain] = await Promise.all([startPrometheus("prometheus-labelled", { cluster: CLUSTER }), startPrometheus("prometheus-plain", {})]);

    // Policy propagation: flip's verdict goes deny -> allow (its open port agrees at once:
    // one sample), back to deny (the probes disagree: no sample), and to allow again (a
    // second sample).
    await untilPrometheus("flip's unexpected_allow in Prometheus", 'netcanary_edge_status{probe="flip", status="unexpected_allow"}', (s) => s.length === 1);
    await untilPrometheus("egress-path's unexpected_path in Prometheus", 'netcanary_edge_status{probe="egress-path", status="unexpected_path"}', (s) => s.length === 1);
    api.apply(egressPolicy(["127.0.0.5"], second.port));
    await untilPrometheus("the first propagation sample in both Prometheus servers", 'netcanary_policy_propagation_seconds_count{probe="flip"}', (s) => s.some((one) => lastValue(one) >= 1));
    api.apply(egressPolicy(["127.0.0.5", "127.0.0.6"], second.port));
    await waitFor("flip denied again", async () => ((await results()).find((r) => r.probe === "flip")?.policy.verdict === "deny" ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    api.apply(egressPolicy(["127.0.0.5"], second.port));
    await untilPrometheus("the second propagation sample in both Prometheus servers", 'netcanary_policy_propagation_seconds_count{probe="flip"}', (s) => s.some((one) => lastValue(one) >= 2));

    // A watch that expires (410 Gone): the agent relists, and counts the failure. (Namespaces:
    // every agent watches them; Services only where a probe targets one.)
    api.expireNextWatch({ resource: "namespaces" });
    api.dropWatches({ match: { resource: "namespaces" } });
    await untilPrometheus("a watch failure in Prometheus", "netcanary_cluster_watch_failures_total", (s) => s.length > 0);

    // A real change of a feed (one range replaced): the change counters get series.
    zscaler.setPayload(ZSCALER_PATHS.future, fixturePayload(ZSCALER_PATHS.future).replace("58.220.95.0/24", "58.220.96.0/24"));
    await untilPrometheus("a feed change in Prometheus", "netcanary_zscaler_feed_changes_total", (s) => s.length > 0);
    await untilPrometheus("a feed failure in Prometheus", "netcanary_zscaler_feed_failures_total", (s) => s.length > 0);
    // The traffic map: checkout's connection named (looked up through the API) and judged.
    await untilPrometheus("the observed flow, judged, in Prometheus", 'netcanary_traffic_flows{verdict="deny"}', (s) => s.length === 1, 30_000).catch(async (error: unknown) => {
      const judged = await fetch(`http://${agentAddress}/api/v1/flows?judged`).then((r) => r.text(), (e: unknown) => String(e));
      throw new Error(`${String(error)}\njudged map: ${judged.slice(0, 3000)}`);
    });
    await untilPrometheus("the staged policy's would-deny count in Prometheus", "netcanary_staged_policy_would_deny_flows", (s) => s.length === 1);

    // The second agent (started last: the faults above are for the first): its own node, a
    // probe to the destination only rule [1] names, and one to the first agent's pod.
    const configB = join(dir, "netcanary-b.yaml");
    await writeFile(
      configB,
      `defaults: {interval: 500ms, timeout: 400ms, failureThreshold: 2, successThreshold: 1}
sources:
  - {name: self, self: true}
probes:
  - {name: second, sources: [self], tcp: {ip: 127.0.0.7, port: ${second.port}}}
  - {name: first-agent, sources: [self], tcp: {ip: ${AGENT_IP}, port: ${agentPodListener.port}}}
`,
    );
    agentBAddress = `127.0.0.1:${await closedPort()}`;
    agentB = startProcess("netcanary agent b", [process.execPath, cliPath, "agent", "--config", configB, "--kubeconfig", kubeconfig, "--listen", agentBAddress, "--log-level", "info"], {
      env: { NODE_NAME: NODE_B, POD_NAMESPACE: "netcanary", POD_NAME: AGENT_POD_B.metadata.name, POD_IP: AGENT_B_IP, KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "" },
    });
    processes.push(agentB);
    await waitFor(
      "the second agent's /readyz",
      async () => {
        if (!agentB.running) throw new Error(`the second agent exited:\n${agentB.output()}`);
        const response = await fetch(`http://${agentBAddress}/readyz`, { signal: AbortSignal.timeout(1000) });
        return response.status === 200 ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    pair = await startPrometheus("prometheus-pair", { cluster: CLUSTER }, [agentAddress, agentBAddress]);
  }, 180_000);

  afterAll(async () => {
    for (const started of processes.splice(0).reverse()) await started.stop();
    await Promise.all(listeners.splice(0).map((l) => l.close()));
    await dns?.close();
    await checkPage?.close();
    await zscaler?.close();
    await api?.stop();
    await lab?.teardown();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("the variables offer what the agent reports, and nothing for a cluster label that does not exist", async () => {
    const window = { start: since, end: Date.now() / 1000 };
    const overview = await resolveVariables(labelled, byFile("netcanary-overview.json"), {}, window);
    expect(Object.fromEntries(overview.options)).toEqual({ cluster: [CLUSTER], namespace: ["netcanary", "shop"], node: [NODE], source: ["checkout", "self"] });
    const node = await resolveVariables(labelled, byFile("netcanary-node.json"), { node: NODE }, window);
    expect(Object.fromEntries(node.options)).toEqual({ cluster: [CLUSTER], node: [NODE], instance: [agentAddress], namespace: ["netcanary", "shop"], source: ["checkout", "self"] });
    // The hidden instance variable at All: the node's agents as an escaped regex.
    expect(node.values.get("instance")).toBe(agentAddress.replaceAll(".", "\\\\."));
    // Chained: a namespace narrows the sources.
    const narrowed = await resolveVariables(labelled, byFile("netcanary-overview.json"), { namespace: "shop" }, window);
    expect(narrowed.options.get("source")).toEqual(["checkout"]);
    // Without a cluster label the cluster variable offers nothing; All still matches.
    const unlabelled = await resolveVariables(plain, byFile("netcanary-overview.json"), {}, window);
    expect(unlabelled.options.get("cluster")).toEqual([]);
    expect(unlabelled.values.get("cluster")).toBe(".*");
    expect(unlabelled.options.get("node")).toEqual([NODE]);
  });

  it("every panel of the overview has data with every variable at All, and shows the agent's state", async () => {
    const outcomes = await everyPanelWithData(labelled, "netcanary-overview.json", byFile("netcanary-overview.json"), {}, since);

    const single = (panel: string, refId = "A"): number => {
      const series = seriesOf(outcomes, panel, refId);
      expect(series, panel).toHaveLength(1);
      return lastValue(series[0] as PromSeries);
    };
    expect(single("Edges")).toBe(8);
    expect(single("Unexpected blocks")).toBe(2); // backend (refused), missing-dns (NXDOMAIN)
    expect(single("Unexpected allows")).toBe(1); // leaky
    expect(single("Intent violations")).toBe(0);
    // egress-path: the page, read directly, says not via where via is expected.
    const path = seriesOf(outcomes, "Zscaler path").map((s) => s.metric);
    expect(path).toEqual([expect.objectContaining({ probe: "egress-path", source: "self", source_node: NODE, expect: "via", path: "direct" })]);
    expect(single("Nodes probing")).toBe(1);
    expect(single("Verdict changes enforced")).toBeGreaterThanOrEqual(1);

    // The matrix: a cell per source and target:port, worst status as a code.
    const matrix = Object.fromEntries(seriesOf(outcomes, "Source × target").map((s) => [`${s.metric["source"]} ${s.metric["destination"]}`, lastValue(s)]));
    expect(matrix).toMatchObject({
      [`self 127.0.0.3:${refusedPort}`]: 6,
      "checkout 127.0.0.1:8080": 0,
      [`self 127.0.0.1:${checkPage?.listenPort}`]: 3,
    });
    expect(Object.entries(matrix).filter(([key]) => key.startsWith("self 127.0.0.5:")).map(([, code]) => code)).toEqual([5]);
    expect(Object.entries(matrix).filter(([key]) => key.startsWith("self 127.0.0.6:")).map(([, code]) => code)).toEqual([0]);

    // Mismatches carry the rule that decided the verdict.
    const mismatches = seriesOf(outcomes, "Active mismatches").map((s) => ({ probe: s.metric["probe"], kind: s.metric["kind"], egress: s.metric["egress_rule"], workload: s.metric["source_workload"] }));
    expect(mismatches).toEqual(
      expect.arrayContaining([
        { probe: "backend", kind: "unexpected_block", egress: "netcanary/agent-egress spec.egress[0]", workload: "daemonset/netcanary" },
        { probe: "leaky", kind: "unexpected_allow", egress: "none", workload: "daemonset/netcanary" },
        { probe: "egress-path", kind: "unexpected_path", egress: "netcanary/agent-egress spec.egress[0]", workload: "daemonset/netcanary" },
      ]),
    );
    expect(mismatches).toHaveLength(4);

    expect(seriesOf(outcomes, "DNS outcomes").map((s) => s.metric["reason"])).toEqual(expect.arrayContaining(["dns_nxdomain", "ok"]));
    // Each DNS probe's last answer time, from the per-edge gauge; latency from the per-source histogram.
    expect(seriesOf(outcomes, "DNS answer time").map((s) => s.metric["probe"]).sort()).toEqual(["missing-dns", "partner-dns"]);
    expect(seriesOf(outcomes, "Probe latency", "B").map((s) => s.metric["phase"]).sort()).toEqual(["connect", "processing", "resolve"]);
    const propagation = seriesOf(outcomes, "Propagation by probe").map((s) => [s.metric["probe"], lastValue(s)]);
    expect(propagation).toEqual([["flip", expect.any(Number)]]);
    expect(propagation[0]?.[1]).toBeGreaterThanOrEqual(2);
    const uncovered = Object.fromEntries(seriesOf(outcomes, "Coverage: uncovered Zscaler ranges").map((s) => [`${s.metric["source"]} ${s.metric["feed"]}`, lastValue(s)]));
    expect(uncovered["self future"]).toBeGreaterThan(0); // egress allows only 127.0.0.0/8
    expect(uncovered["checkout future"]).toBe(0); // no policy in shop: not isolated
    expect(seriesOf(outcomes, "Feed age").map((s) => s.metric["feed"]).sort()).toEqual(["cenr", "future", "hubs-recommended", "hubs-required"]);
    expect(seriesOf(outcomes, "Feed failures and changes").map((s) => `${s.metric["feed"]} ${s.metric["reason"]}`)).toContain("svpn http_status");
    // The traffic map: the two workloads as nodes, checkout's connection as the edge between them.
    expect(seriesOf(outcomes, "Traffic map: observed flows", "nodes").map((s) => s.metric["id"]).sort()).toEqual(["deployment/shop/checkout", "statefulset/shop/backend"]);
    expect(seriesOf(outcomes, "Traffic map: observed flows", "edges").map((s) => s.metric["id"])).toEqual(["deployment/shop/checkout -> statefulset/shop/backend"]);
    expect(seriesOf(outcomes, "Flows the policies deny that were seen (not enforced)").map((s) => [s.metric["client"], s.metric["server"], s.metric["verdict"], lastValue(s)])).toEqual([["deployment/shop/checkout", "statefulset/shop/backend", "deny", 1]]);
    // Staged: it would deny nothing more (the one flow is denied in force already).
    expect(seriesOf(outcomes, "Staged policies: observed flows they would deny").map((s) => [s.metric["policy_namespace"], s.metric["policy"], lastValue(s)])).toEqual([["shop", "checkout-egress", 0]]);

    // Rule coverage, this agent alone: its probes cross the first of the three rules.
    expect(seriesOf(outcomes, "Rule coverage by policy (cluster)").map((s) => [s.metric["policy"], lastValue(s)])).toEqual([["netcanary/agent-egress", 1 / 3]]);
    expect(unexercisedRules(outcomes)).toEqual([`${RULE(1)} 1`, `${RULE(2)} 1`]);
  }, 90_000);

  it("adds rule coverage up across agents: a rule one agent exercised is exercised, whatever the others report", async () => {
    // Each agent on its own: the first reports [1] unexercised, the second exercised it; only
    // the second sees the ingress rules (the first agent's probes reach no pod).
    await waitFor("both agents' coverage in the pair's Prometheus", async () => ((await pair.vector("netcanary_rule_coverage_ratio")).length === 2 ? true : undefined), { timeoutMs: 20_000, intervalMs: 250 });
    /** "a <rule>" (a rule series) or "b 0.667" (a ratio), by agent: a (the first) or b. */
    const perAgent = async (metric: string) => (await pair.vector(metric)).map((s) => `${s.metric["instance"] === agentAddress ? "a" : "b"} ${s.metric["rule"] ?? lastValue(s).toFixed(3)}`).sort();
    expect(await perAgent("netcanary_rule_unexercised_info")).toEqual([`a ${RULE(1)}`, `a ${RULE(2)}`, `b ${RULE(2)}`, `b ${INGRESS(1)}`]);
    expect(await perAgent("netcanary_rule_exercised_info")).toEqual([`a ${RULE(0)}`, `b ${RULE(0)}`, `b ${RULE(1)}`, `b ${INGRESS(0)}`]);
    expect(await perAgent("netcanary_rule_coverage_ratio")).toEqual(["a 0.333", "b 0.600"]);

    // The cluster: egress [0] and [1] and ingress [0] exercised; egress [2] by nobody (both
    // agents see it), ingress [1] by nobody (only the second sees it: still listed, though
    // the first agent reports the policy too).
    const overview = byFile("netcanary-overview.json");
    const coverageRow = overview.panels.findIndex((p) => p.type === "row" && p.title === "Rule coverage");
    const coverageOnly: Dashboard = { ...overview, panels: overview.panels.slice(coverageRow).filter((p, i) => i === 0 || p.type !== "row") };
    const outcomes = await everyPanelWithData(pair, "netcanary-overview.json", coverageOnly, {}, since);
    expect(seriesOf(outcomes, "Rule coverage by policy (cluster)").map((s) => [s.metric["cluster"], s.metric["policy"], lastValue(s)])).toEqual([[CLUSTER, "netcanary/agent-egress", 3 / 5]]);
    expect(unexercisedRules(outcomes)).toEqual([`${RULE(2)} 2`, `${INGRESS(1)} 1`]);
  }, 90_000);

  it("every panel of the node view has data for the agent's node, and shows that agent", async () => {
    const outcomes = await everyPanelWithData(labelled, "netcanary-node.json", byFile("netcanary-node.json"), { node: NODE }, since);
    expect(lastValue(seriesOf(outcomes, "Edges")[0] as PromSeries)).toBe(8);
    expect(lastValue(seriesOf(outcomes, "Failing edges")[0] as PromSeries)).toBe(4);
    expect(lastValue(seriesOf(outcomes, "Config")[0] as PromSeries)).toBe(1);
    expect(seriesOf(outcomes, "Version")[0]?.metric["version"]).toMatch(/^\d+\.\d+\.\d+/);
    const failing = seriesOf(outcomes, "Failing edges and their rules").map((s) => `${s.metric["probe"]} ${s.metric["status"]} ${s.metric["policy"]}`).sort();
    expect(failing).toEqual(["backend unexpected_block allow", "egress-path unexpected_path allow", "leaky unexpected_allow deny", "missing-dns unexpected_block allow"]);
    // Every edge has its last duration; the table shows the ten slowest (here all eight).
    const slowest = seriesOf(outcomes, "Slowest edges");
    expect(slowest.map((s) => s.metric["probe"]).sort()).toEqual(["backend", "egress-path", "flip", "leaky", "missing-dns", "partner-dns", "sidecar", "web"]);
    for (const edge of slowest) expect(lastValue(edge)).toBeGreaterThan(0);
    expect(seriesOf(outcomes, "Probe latency (p95)").map((s) => `${s.metric["source"]} ${s.metric["target_kind"]} ${s.metric["phase"]}`).sort()).toEqual([
      "checkout ip connect",
      "self dns resolve",
      "self ip connect",
      "self ip processing",
    ]);
    expect(seriesOf(outcomes, "Pod worker runs").map((s) => s.metric["result"])).toContain("ok");
    const synced = Object.fromEntries(seriesOf(outcomes, "Cluster sync").map((s) => [s.metric["resource"], lastValue(s)]));
    expect(synced).toMatchObject({ pods: 1, namespaces: 1, networkpolicies: 1 });
    expect(seriesOf(outcomes, "Watch failures").map((s) => s.metric["resource"])).toContain("namespaces");
    expect(seriesOf(outcomes, "Kubernetes Events").map((s) => s.metric["result"])).toContain("posted");
  }, 90_000);

  it("every panel has data with the variables at the agent's own values", async () => {
    const choices = { cluster: CLUSTER, namespace: "netcanary", node: NODE, source: "self" };
    const overview = await everyPanelWithData(labelled, "netcanary-overview.json", byFile("netcanary-overview.json"), choices, since);
    // The pod source is filtered out; the agent's own edges remain.
    expect(lastValue(seriesOf(overview, "Edges")[0] as PromSeries)).toBe(7);
    expect(seriesOf(overview, "Source × target").every((s) => s.metric["source"] === "self")).toBe(true);
    const node = await everyPanelWithData(labelled, "netcanary-node.json", byFile("netcanary-node.json"), choices, since);
    expect(seriesOf(node, "Edge status").every((s) => s.metric["source"] === "self")).toBe(true);
  }, 150_000);

  it("every panel has data from a Prometheus without a cluster label", async () => {
    await everyPanelWithData(plain, "netcanary-overview.json", byFile("netcanary-overview.json"), {}, since);
    await everyPanelWithData(plain, "netcanary-node.json", byFile("netcanary-node.json"), { node: NODE }, since);
  }, 150_000);
});
