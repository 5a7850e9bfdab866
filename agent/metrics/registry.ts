// netcanary's Prometheus metrics. One prefix, bounded snake_case labels, seconds, _total
// only on counters. Every series an edge creates is tracked so it disappears with the edge.

import { readFileSync } from "node:fs";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ProbeOutcome, ProbePhase } from "../probes/prober.js";
import type { EdgeLabels } from "../targets/edges.js";
import type { EdgeRecord } from "../verdicts/edge-state.js";
import { SIGNAL_KINDS } from "../verdicts/judge.js";

const EDGE_LABELS = ["probe", "source", "source_namespace", "source_node", "target", "target_kind", "port", "protocol"] as const;
type EdgeLabelName = (typeof EDGE_LABELS)[number];
type Labels<Extra extends string> = Partial<Record<EdgeLabelName | Extra, string>>;

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function packageVersion(): string {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    return (JSON.parse(text) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Label sets an edge has created beyond its base labels, to remove them with the edge. */
interface EdgeSeries {
  base: EdgeLabels;
  totals: Set<string>;
  phases: Set<ProbePhase>;
  status?: string;
  info?: Labels<string>;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly series = new Map<string, EdgeSeries>();

  readonly probeSuccess = new Gauge({
    name: "netcanary_probe_success",
    help: "1 if the last probe of the edge got through (reason ok), else 0.",
    labelNames: EDGE_LABELS,
    registers: [this.registry],
  });
  readonly probeDuration = new Histogram({
    name: "netcanary_probe_duration_seconds",
    help: "Time each probe phase took (resolve, connect).",
    labelNames: [...EDGE_LABELS, "phase"],
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly probesTotal = new Counter({
    name: "netcanary_probes_total",
    help: "Probes run, by result (success, failure, invalid = the agent's own fault) and reason.",
    labelNames: [...EDGE_LABELS, "result", "reason"],
    registers: [this.registry],
  });
  readonly expectedSuccess = new Gauge({
    name: "netcanary_probe_expected_success",
    help: "What policy says about the edge: 1 allow, 0 deny. Absent while the policy verdict is unknown.",
    labelNames: EDGE_LABELS,
    registers: [this.registry],
  });
  readonly mismatch = new Gauge({
    name: "netcanary_probe_mismatch",
    help: "1 while a signal is active on the edge: unexpected_block, unexpected_allow or intent_violation.",
    labelNames: [...EDGE_LABELS, "kind"],
    registers: [this.registry],
  });
  readonly edgeStatus = new Gauge({
    name: "netcanary_edge_status",
    help: "1 for the edge's current status (ok, pending, unexpected_block, unexpected_allow, intent_violation, unknown).",
    labelNames: [...EDGE_LABELS, "status"],
    registers: [this.registry],
  });
  readonly policyInfo = new Gauge({
    name: "netcanary_probe_policy_info",
    help: "The policy verdict of the edge and the rules that decided it (value always 1).",
    labelNames: [...EDGE_LABELS, "policy", "expected_from", "egress_rule", "ingress_rule", "cni_dependent"],
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: "netcanary_build_info",
    help: "netcanary's version and the Node.js running it (value always 1).",
    labelNames: ["version", "nodejs_version"],
    registers: [this.registry],
  });
  readonly configReloadSuccessful = new Gauge({
    name: "netcanary_config_last_reload_successful",
    help: "1 if the last attempt to load the configuration succeeded.",
    registers: [this.registry],
  });
  readonly configReloadSuccessTimestamp = new Gauge({
    name: "netcanary_config_last_reload_success_timestamp_seconds",
    help: "When the configuration was last loaded successfully (Unix time).",
    registers: [this.registry],
  });
  readonly edges = new Gauge({
    name: "netcanary_edges",
    help: "Probe edges this agent runs.",
    registers: [this.registry],
  });
  readonly edgesDropped = new Gauge({
    name: "netcanary_edges_dropped",
    help: "Edges the configuration asks for beyond agent.maxEdges (the series budget): not probed, not exported.",
    registers: [this.registry],
  });
  readonly schedulerDelay = new Histogram({
    name: "netcanary_scheduler_delay_seconds",
    help: "How late probes start after their due time (waiting for a free slot included).",
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
    registers: [this.registry],
  });
  readonly schedulerSkipped = new Counter({
    name: "netcanary_scheduler_skipped_total",
    help: "Runs skipped because the previous run of the same edge was still going.",
    registers: [this.registry],
  });
  readonly eventLoopDelayMax = new Gauge({
    name: "netcanary_event_loop_delay_max_seconds",
    help: "Largest event-loop delay seen since the last scrape; failed probes during delays over the threshold are invalid.",
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version: packageVersion(), nodejs_version: process.version }, 1);
  }

  private seriesOf(id: string, base: EdgeLabels): EdgeSeries {
    let entry = this.series.get(id);
    if (!entry) {
      entry = { base, totals: new Set(), phases: new Set() };
      this.series.set(id, entry);
    }
    return entry;
  }

  recordOutcome(record: EdgeRecord, outcome: ProbeOutcome): void {
    const base = record.edge.labels;
    const entry = this.seriesOf(record.edge.id, base);
    const observed = record.observed;
    if (!observed) return;
    const result = observed.reason === "ok" ? "success" : observed.reason === "agent_error" ? "invalid" : "failure";
    // An invalid sample says nothing about the network: the success gauge keeps its last value.
    if (result !== "invalid") this.probeSuccess.set(base, result === "success" ? 1 : 0);
    this.probesTotal.inc({ ...base, result, reason: observed.reason });
    entry.totals.add(`${result}|${observed.reason}`);
    for (const [phase, seconds] of Object.entries(outcome.phases) as [ProbePhase, number][]) {
      this.probeDuration.observe({ ...base, phase }, seconds);
      entry.phases.add(phase);
    }
  }

  recordState(record: EdgeRecord): void {
    const base = record.edge.labels;
    const entry = this.seriesOf(record.edge.id, base);
    if (record.policy.stance === "unknown") this.expectedSuccess.remove(base);
    else this.expectedSuccess.set(base, record.policy.stance === "allow" ? 1 : 0);
    for (const kind of SIGNAL_KINDS) this.mismatch.set({ ...base, kind }, record.signals.includes(kind) ? 1 : 0);
    if (entry.status !== record.status) {
      if (entry.status !== undefined) this.edgeStatus.remove({ ...base, status: entry.status });
      this.edgeStatus.set({ ...base, status: record.status }, 1);
      entry.status = record.status;
    }
    const info: Labels<string> = {
      ...base,
      policy: record.policy.stance,
      expected_from: record.expectedFrom ?? "none",
      egress_rule: record.policy.egressRule,
      ingress_rule: record.policy.ingressRule,
      cni_dependent: String(record.policy.cniDependent),
    };
    if (entry.info && JSON.stringify(entry.info) !== JSON.stringify(info)) this.policyInfo.remove(entry.info);
    this.policyInfo.set(info, 1);
    entry.info = info;
  }

  /** The edge is gone: every series it created goes with it. */
  removeEdge(id: string): void {
    const entry = this.series.get(id);
    if (!entry) return;
    const base = entry.base;
    this.probeSuccess.remove(base);
    this.expectedSuccess.remove(base);
    for (const key of entry.totals) {
      const [result = "", reason = ""] = key.split("|");
      this.probesTotal.remove({ ...base, result, reason });
    }
    for (const phase of entry.phases) this.probeDuration.remove({ ...base, phase });
    for (const kind of SIGNAL_KINDS) this.mismatch.remove({ ...base, kind });
    if (entry.status !== undefined) this.edgeStatus.remove({ ...base, status: entry.status });
    if (entry.info) this.policyInfo.remove(entry.info);
    this.series.delete(id);
  }

  trackedEdges(): string[] {
    return [...this.series.keys()];
  }
}
