// netcanary's Prometheus metrics. One prefix, bounded snake_case labels, seconds, _total
// only on counters. Every series an edge creates is tracked so it disappears with the edge.
// The families that grow with the edges are series.ts families (lean, written in slices);
// the rest, and prom-client's default process_/nodejs_ metrics, are prom-client's. All of
// them are in one Registry, in one order.
//
// Series are the agent's memory and every scraper's: an edge has only the series a per-edge
// question needs (success, verdict, mismatch, status, explanation, probes by reason, and the
// last probe's duration, as blackbox_exporter's probe_duration_seconds). Latency
// distributions are per source and target kind; per-edge histograms are opt-in
// (metrics.perEdgeHistograms), as they cost 11 series per phase and edge.

import { readFileSync } from "node:fs";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ClusterMetricsSink } from "../cluster/live.js";
import type { FailureKind } from "../cluster/reflector.js";
import type { MetricsSettings } from "../config/model.js";
import type { Coverage } from "../derive/coverage.js";
import type { ProbeOutcome, ProbePhase } from "../probes/prober.js";
import type { EdgeLabels } from "../targets/edges.js";
import type { EdgeRecord } from "../verdicts/edge-state.js";
import { EDGE_SIGNAL_KINDS, type EdgeStatus, SIGNAL_KINDS, type SignalKind } from "../verdicts/judge.js";
import type { WorkerFailureKind } from "../sources/workers.js";
import type { PathObservation } from "../zscaler/path.js";
import { CounterFamily, GaugeFamily, HistogramFamily, type HistogramSeries, type LabelSet, labelSet, type NumberSeries } from "./series.js";

/** Policies exported with their rule coverage: beyond this, a series budget. */
export const MAX_COVERAGE_POLICIES = 200;

const EDGE_LABELS = ["probe", "source", "source_namespace", "source_node", "source_workload", "target", "target_kind", "port", "protocol"] as const;

/**
 * In-cluster connects take about a millisecond, WAN paths (a Zscaler gateway) tens to
 * hundreds, timeouts seconds. Eight buckets: every edge pays for each one, per phase
 * (the opt-in per-edge histograms).
 */
export const DURATION_BUCKETS = [0.002, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * The per-source histogram has few series (sources x target kinds x phases on a node), so it
 * affords a finer scale: from half a millisecond (a connect on the node) to 10 s.
 */
export const PHASE_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The labels of the per-source duration histogram (with phase): bounded by the config and the node, never by the edges. */
const PHASE_GROUP_LABELS = ["source", "source_namespace", "source_node", "target_kind"] as const;

/** The labels of the policy propagation histogram. */
const PROPAGATION_LABELS = ["probe", "source", "source_node"] as const;

export function packageVersion(): string {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    return (JSON.parse(text) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * The series of one label set: its labels rendered once (shared by all its series), every
 * series it created (to write to it without a lookup, and to remove it with the label set),
 * and what was last written (an unchanged gauge is not written again).
 */
interface GroupSeries {
  readonly labels: LabelSet;
  readonly totals: Map<string, NumberSeries>;
  /** Per-edge duration histograms, per phase: only with metrics.perEdgeHistograms (made with the first). */
  phases?: Map<ProbePhase, HistogramSeries>;
  readonly success: NumberSeries;
  lastSuccess?: number;
  /** The last valid probe's duration; absent until there is one. */
  duration?: NumberSeries;
  expected?: NumberSeries;
  readonly mismatch: Map<SignalKind, NumberSeries>;
  lastSignals?: string;
  status?: { readonly value: EdgeStatus; readonly series: NumberSeries };
  infos: Map<string, NumberSeries>;
  /** A path check's last path (netcanary_zscaler_path): one series, relabelled as the path changes. */
  path?: { readonly key: string; readonly series: NumberSeries };
}

/** Status precedence when several edges share one label set: the most urgent wins. */
const STATUS_ORDER: readonly EdgeStatus[] = ["unexpected_block", "unexpected_allow", "intent_violation", "unexpected_path", "pending", "unknown", "ok"];

export interface GroupState {
  /** 1 if every edge's last valid sample got through, 0 if any did not; undefined: none yet. */
  readonly success: 0 | 1 | undefined;
  /** The longest of the edges' last valid samples, in seconds; undefined: none yet. */
  readonly duration: number | undefined;
  /** The shared policy verdict as 1/0; undefined when unknown or when the edges differ. */
  readonly expected: 0 | 1 | undefined;
  readonly signals: ReadonlySet<SignalKind>;
  readonly status: EdgeStatus;
  /** The path checks' path: the unexpected one if any edge sees one, else the expected one, else unknown; undefined before any. */
  readonly path: (Pick<PathObservation, "path" | "cloud" | "city"> & { readonly expect: string }) | undefined;
}

/**
 * Histogram series that several label sets share, by some of their labels (a source and a
 * target kind on this node; a probe and a source): made on first use, removed with the last
 * label set that uses them, as an edge's own series are.
 */
class SharedHistograms<K extends keyof EdgeLabels> {
  /** Per key: how many label sets use it, and (from the first observation) its labels and series. */
  private readonly entries = new Map<string, { users: number; labels?: LabelSet; series?: Map<LabelSet, HistogramSeries> }>();

  constructor(
    private readonly family: HistogramFamily,
    private readonly labelNames: readonly K[],
  ) {}

  private key(base: Pick<EdgeLabels, K>): string {
    return JSON.stringify(this.labelNames.map((name) => base[name]));
  }

  /** A label set with these labels appeared. */
  use(base: Pick<EdgeLabels, K>): void {
    const key = this.key(base);
    const entry = this.entries.get(key);
    if (entry) entry.users++;
    else this.entries.set(key, { users: 1 });
  }

  /** A label set went: the shared series go with the last one. */
  release(base: Pick<EdgeLabels, K>): void {
    const key = this.key(base);
    const entry = this.entries.get(key);
    if (!entry) return;
    if (--entry.users > 0) return;
    for (const series of entry.series?.values() ?? []) this.family.remove(series);
    this.entries.delete(key);
  }

  /** One observation; nothing when no label set uses these labels (the edge is gone). */
  observe(base: Pick<EdgeLabels, K>, seconds: number, own?: Readonly<Record<string, string>>): void {
    const entry = this.entries.get(this.key(base));
    if (!entry) return;
    // Made on first use: most label sets of the propagation histogram never see a change.
    entry.labels ??= labelSet(Object.fromEntries(this.labelNames.map((name) => [name, base[name]])));
    entry.series ??= new Map();
    const ownLabels = this.family.own(own ?? {});
    let series = entry.series.get(ownLabels);
    if (!series) {
      series = this.family.add(entry.labels, ownLabels);
      entry.series.set(ownLabels, series);
    }
    this.family.observe(series, seconds);
  }
}

/** A sample that says something about the network (not the agent's own fault). */
function isValid(member: EdgeRecord): boolean {
  return member.observed !== undefined && member.observed.reason !== "agent_error";
}

/** Pure: what one label set shows when several edges stand behind it. */
export function aggregateGroup(members: readonly EdgeRecord[]): GroupState {
  const valid = members.filter(isValid);
  const success = valid.length === 0 ? undefined : valid.every((m) => m.observed?.reason === "ok") ? 1 : 0;
  const duration = valid.length === 0 ? undefined : valid.reduce((longest, m) => Math.max(longest, m.observed?.durationSeconds ?? 0), 0);
  const stances = new Set(members.map((m) => m.policy.stance));
  const [only] = stances;
  const expected = stances.size === 1 && only !== "unknown" && only !== undefined ? (only === "allow" ? 1 : 0) : undefined;
  const signals = new Set(members.flatMap((m) => m.signals));
  const statuses = new Set(members.map((m) => m.status));
  const status = STATUS_ORDER.find((candidate) => statuses.has(candidate)) ?? "unknown";
  return { success, duration, expected, signals, status, path: groupPath(members) };
}

/** Which edge's path a label set shows: one on the unexpected path first, then the expected one, then unknown. */
function groupPath(members: readonly EdgeRecord[]): GroupState["path"] {
  const rank = (path: PathObservation["path"], expect: string) => (path === "unknown" ? 2 : path === expect ? 1 : 0);
  let best: GroupState["path"];
  for (const { path } of members) {
    if (path?.observed === undefined) continue;
    const { observed, expect } = path;
    if (best === undefined || rank(observed.path, expect) < rank(best.path, best.expect)) best = { expect, path: observed.path, cloud: observed.cloud, city: observed.city };
  }
  return best;
}

export class AgentMetrics implements ClusterMetricsSink {
  readonly registry = new Registry();
  private readonly groups = new Map<string, GroupSeries>();
  /** metrics.perEdgeHistograms: off until the config says otherwise. */
  private perEdgeHistograms = false;
  private syncAges: () => ReadonlyMap<string, number | undefined> = () => new Map();
  private verdictChangeCount = 0;

  /**
   * How many times an edge's expected success, mismatch signals or status have changed, or
   * its series gone: what an alert reads. The exposition builds sooner after one (server/exposition.ts).
   */
  get verdictChanges(): number {
    return this.verdictChangeCount;
  }

  readonly probeSuccess = new GaugeFamily({
    name: "netcanary_probe_success",
    help: "1 if the last probe of the edge got through (reason ok), else 0.",
    labelNames: EDGE_LABELS,
    registers: [this.registry],
  });
  readonly probeLastDuration = new GaugeFamily({
    name: "netcanary_probe_last_duration_seconds",
    help: "How long the edge's last valid probe took, all phases (as blackbox_exporter's probe_duration_seconds).",
    labelNames: EDGE_LABELS,
    registers: [this.registry],
  });
  readonly probeDuration = new HistogramFamily({
    name: "netcanary_probe_duration_seconds",
    help: "Time each probe phase took (resolve, connect, tls, processing), per edge; only with metrics.perEdgeHistograms.",
    labelNames: [...EDGE_LABELS, "phase"],
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly phaseDuration = new HistogramFamily({
    name: "netcanary_probe_phase_duration_seconds",
    help: "Time each probe phase took (resolve, connect, tls, processing), over all edges of a source and target kind.",
    labelNames: [...PHASE_GROUP_LABELS, "phase"],
    buckets: PHASE_DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly phaseDurations = new SharedHistograms(this.phaseDuration, PHASE_GROUP_LABELS);
  readonly probesTotal = new CounterFamily({
    name: "netcanary_probes_total",
    help: "Probes run, by result (success, failure, invalid = the agent's own fault) and reason.",
    labelNames: [...EDGE_LABELS, "result", "reason"],
    registers: [this.registry],
  });
  readonly expectedSuccess = new GaugeFamily({
    name: "netcanary_probe_expected_success",
    help: "What policy says about the edge: 1 allow, 0 deny. Absent while the policy verdict is unknown.",
    labelNames: EDGE_LABELS,
    registers: [this.registry],
  });
  readonly mismatch = new GaugeFamily({
    name: "netcanary_probe_mismatch",
    help: "1 while a signal is active on the edge: unexpected_block, unexpected_allow, intent_violation or (path checks) unexpected_path.",
    labelNames: [...EDGE_LABELS, "kind"],
    registers: [this.registry],
  });
  readonly edgeStatus = new GaugeFamily({
    name: "netcanary_edge_status",
    help: "1 for the edge's current status (ok, pending, unexpected_block, unexpected_allow, intent_violation, unexpected_path, unknown).",
    labelNames: [...EDGE_LABELS, "status"],
    registers: [this.registry],
  });
  readonly zscalerPath = new GaugeFamily({
    name: "netcanary_zscaler_path",
    help: "A path check's last path (value always 1): expect and path via, direct or unknown, the Zscaler cloud and the published city of the egress address.",
    labelNames: [...EDGE_LABELS, "expect", "path", "cloud", "city"],
    registers: [this.registry],
  });
  readonly policyInfo = new GaugeFamily({
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
  readonly policyPropagation = new HistogramFamily({
    name: "netcanary_policy_propagation_seconds",
    help: "From the agent seeing a change of an edge's policy verdict to the first probe whose outcome agrees with it.",
    labelNames: PROPAGATION_LABELS,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private readonly propagation = new SharedHistograms(this.policyPropagation, PROPAGATION_LABELS);

  /** A policy change reached the probes of (probe, source, source_node) after this long. */
  observePropagation(labels: Pick<EdgeLabels, (typeof PROPAGATION_LABELS)[number]>, seconds: number): void {
    this.propagation.observe(labels, seconds);
  }
  private eventLoopDelay: (() => number) | undefined;
  readonly eventLoopDelayMax = new Gauge({
    name: "netcanary_event_loop_delay_max_seconds",
    help: "Largest event-loop delay seen since the last scrape; failed probes during delays over the threshold are invalid.",
    registers: [this.registry],
    collect: () => {
      if (this.eventLoopDelay) this.eventLoopDelayMax.set(this.eventLoopDelay());
    },
  });

  setEventLoopDelaySource(source: () => number): void {
    this.eventLoopDelay = source;
  }

  /** Rule coverage (derive/coverage.ts), read at each scrape: per policy, and the rules not exercised (bounded). */
  readonly ruleCoverage = new Gauge({
    name: "netcanary_rule_coverage_ratio",
    help: "Share of the policy's rules exercised by a probe in the coverage window (egress: policies selecting this agent's sources; ingress: those its probes cross).",
    labelNames: ["policy"],
    registers: [this.registry],
    collect: () => this.collectCoverage(),
  });
  readonly ruleUnexercised = new Gauge({
    name: "netcanary_rule_unexercised_info",
    help: "A rule no probe exercised in the coverage window (value always 1).",
    labelNames: ["policy", "direction", "rule"],
    registers: [this.registry],
  });
  /** The other half: with it, Prometheus tells a rule another agent exercised from one outside this agent's view. */
  readonly ruleExercised = new Gauge({
    name: "netcanary_rule_exercised_info",
    help: "A rule a probe of this agent exercised in the coverage window (value always 1).",
    labelNames: ["policy", "direction", "rule"],
    registers: [this.registry],
  });
  private coverage: (() => Coverage) | undefined;

  setCoverageSource(source: () => Coverage): void {
    this.coverage = source;
  }

  private collectCoverage(): void {
    if (!this.coverage) return;
    const coverage = this.coverage();
    this.ruleCoverage.reset();
    this.ruleUnexercised.reset();
    this.ruleExercised.reset();
    // A series budget: policies beyond it are left out (their rules are in /api/v1/coverage).
    for (const policy of coverage.policies.slice(0, MAX_COVERAGE_POLICIES)) {
      this.ruleCoverage.set({ policy: policy.policy }, policy.ratio);
      for (const rule of policy.rules) (rule.exercised ? this.ruleExercised : this.ruleUnexercised).set({ policy: policy.policy, direction: rule.direction, rule: rule.rule }, 1);
    }
  }

  readonly zscalerRanges = new Gauge({
    name: "netcanary_zscaler_ranges",
    help: "Ranges in the current (effective) data of each Zscaler feed.",
    labelNames: ["cloud", "feed"],
    registers: [this.registry],
  });
  readonly zscalerLastSuccess = new Gauge({
    name: "netcanary_zscaler_feed_last_success_timestamp_seconds",
    help: "When each Zscaler feed was last fetched successfully (fresh or not modified), Unix time.",
    labelNames: ["cloud", "feed"],
    registers: [this.registry],
  });
  readonly zscalerFailures = new Counter({
    name: "netcanary_zscaler_feed_failures_total",
    help: "Failed or refused fetches of a Zscaler feed, by reason (timeout, connection, http_status, too_large, not_json, wrong_shape, wrong_cloud, empty, bad_rows, shrunk).",
    labelNames: ["cloud", "feed", "reason"],
    registers: [this.registry],
  });
  readonly zscalerChanges = new Counter({
    name: "netcanary_zscaler_feed_changes_total",
    help: "Ranges added to or removed from a Zscaler feed (set differences; reordering is no change).",
    labelNames: ["cloud", "feed", "change"],
    registers: [this.registry],
  });
  readonly zscalerInfo = new Gauge({
    name: "netcanary_zscaler_feed_info",
    help: "The content hash of each Zscaler feed's current data (value always 1).",
    labelNames: ["cloud", "feed", "hash"],
    registers: [this.registry],
  });
  readonly zscalerUncovered = new Gauge({
    name: "netcanary_zscaler_uncovered_ranges",
    help: "Published ranges of a Zscaler cloud that the source's egress policies do not allow on the audited ports.",
    labelNames: ["source", "cloud", "feed"],
    registers: [this.registry],
  });
  readonly inboundDataplane = new Gauge({
    name: "netcanary_inbound_dataplane_info",
    help: "The dataplane handling Services, as read from the cluster (agent --inbound; unknown when not settled), value always 1.",
    labelNames: ["dataplane"],
    registers: [this.registry],
  });
  readonly inboundService = new Gauge({
    name: "netcanary_inbound_service_source_address",
    help: "Per exposed Service the agent holds: whether traffic from outside keeps its source address (outcome preserved, rewritten or dataplane), value always 1.",
    labelNames: ["service", "outcome"],
    registers: [this.registry],
  });
  readonly inboundSourceEcho = new Gauge({
    name: "netcanary_inbound_source_echo",
    help: "Per Service path tested (agent --source-echo-target): whether a peer agent's source echo saw this agent's own address (outcome preserved, rewritten or failed), value always 1.",
    labelNames: ["service", "outcome"],
    registers: [this.registry],
  });
  private readonly zscalerHashes = new Map<string, string>();

  /** Where the Zscaler feeds report (the updater's metrics sink). */
  zscalerSink() {
    return {
      setRanges: (cloud: string, feed: string, count: number) => this.zscalerRanges.set({ cloud, feed }, count),
      setLastSuccess: (cloud: string, feed: string, epochSeconds: number) => this.zscalerLastSuccess.set({ cloud, feed }, epochSeconds),
      failure: (cloud: string, feed: string, reason: string) => this.zscalerFailures.inc({ cloud, feed, reason }),
      changes: (cloud: string, feed: string, added: number, removed: number) => {
        if (added > 0) this.zscalerChanges.inc({ cloud, feed, change: "added" }, added);
        if (removed > 0) this.zscalerChanges.inc({ cloud, feed, change: "removed" }, removed);
      },
      setInfo: (cloud: string, feed: string, hash: string) => {
        const key = `${cloud}|${feed}`;
        const previous = this.zscalerHashes.get(key);
        if (previous === hash) return;
        if (previous !== undefined) this.zscalerInfo.remove({ cloud, feed, hash: previous });
        this.zscalerInfo.set({ cloud, feed, hash }, 1);
        this.zscalerHashes.set(key, hash);
      },
    };
  }

  readonly eventsTotal = new Counter({
    name: "netcanary_events_total",
    help: "Kubernetes Events about edge status changes, by result (posted, patched, coalesced, dropped, failed).",
    labelNames: ["result"],
    registers: [this.registry],
  });
  readonly clusterObjects = new Gauge({
    name: "netcanary_cluster_objects",
    help: "Objects of each resource in the agent's cluster cache (slim copies).",
    labelNames: ["resource"],
    registers: [this.registry],
  });
  readonly clusterSynced = new Gauge({
    name: "netcanary_cluster_synced",
    help: "1 while the resource's watch is current, 0 while it is failing, forbidden or absent.",
    labelNames: ["resource"],
    registers: [this.registry],
  });
  readonly clusterSyncAge = new Gauge({
    name: "netcanary_cluster_sync_age_seconds",
    help: "Seconds since the resource's data was last known current (a list, a watch event or a bookmark).",
    labelNames: ["resource"],
    registers: [this.registry],
    collect: () => {
      for (const [resource, age] of this.syncAges()) {
        if (age === undefined) this.clusterSyncAge.remove({ resource });
        else this.clusterSyncAge.set({ resource }, age);
      }
    },
  });
  readonly clusterWatchFailures = new Counter({
    name: "netcanary_cluster_watch_failures_total",
    help: "Failed lists and watches, by resource and reason (forbidden, absent, gone, timeout, connection, server_error, client_error).",
    labelNames: ["resource", "reason"],
    registers: [this.registry],
  });
  readonly clusterObjectsSkipped = new Counter({
    name: "netcanary_cluster_objects_skipped_total",
    help: "Malformed API objects skipped, by resource.",
    labelNames: ["resource"],
    registers: [this.registry],
  });

  readonly podWorkerRuns = new Counter({
    name: "netcanary_pod_worker_runs_total",
    help: "Probe workers run inside source pods' network namespaces, by result (ok, failed, killed).",
    labelNames: ["result"],
    registers: [this.registry],
  });
  readonly podWorkerFailures = new Counter({
    name: "netcanary_pod_worker_failures_total",
    help: "Probe worker runs that lost results, by kind (spawn, nsenter, wrong_namespace, invalid_input, exit, output, deadline).",
    labelNames: ["kind"],
    registers: [this.registry],
  });
  readonly podWorkerDuration = new Histogram({
    name: "netcanary_pod_worker_duration_seconds",
    help: "From starting a probe worker in a pod's network namespace to its exit.",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** Where the pod probe runner reports each worker it ran. */
  podWorkerSink() {
    return {
      run: (result: "ok" | "failed" | "killed", seconds: number, failure?: WorkerFailureKind) => {
        this.podWorkerRuns.inc({ result });
        if (failure !== undefined) this.podWorkerFailures.inc({ kind: failure });
        this.podWorkerDuration.observe(seconds);
      },
    };
  }

  setObjects(resource: string, count: number): void {
    this.clusterObjects.set({ resource }, count);
    this.clusterState(resource).objects = count;
  }
  setSynced(resource: string, synced: boolean): void {
    this.clusterSynced.set({ resource }, synced ? 1 : 0);
    this.clusterState(resource).synced = synced;
  }
  /** Each resource's sync state as last reported, with its age now (the status page's). */
  clusterSync(): { resource: string; synced: boolean; objects: number | null; ageSeconds: number | null }[] {
    const ages = this.syncAges();
    return [...this.clusterResources.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([resource, state]) => ({ resource, synced: state.synced, objects: state.objects, ageSeconds: ages.get(resource) ?? null }));
  }
  private readonly clusterResources = new Map<string, { synced: boolean; objects: number | null }>();
  private clusterState(resource: string): { synced: boolean; objects: number | null } {
    let state = this.clusterResources.get(resource);
    if (!state) {
      state = { synced: false, objects: null };
      this.clusterResources.set(resource, state);
    }
    return state;
  }
  setSyncAgeSource(ages: () => ReadonlyMap<string, number | undefined>): void {
    this.syncAges = ages;
  }
  failure(resource: string, kind: FailureKind): void {
    this.clusterWatchFailures.inc({ resource, reason: kind });
  }
  skipped(resource: string): void {
    this.clusterObjectsSkipped.inc({ resource });
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version: packageVersion(), nodejs_version: process.version }, 1);
  }

  /** What the config says about the metrics; per-edge histograms turned off go at once. */
  configure(settings: MetricsSettings): void {
    if (!settings.perEdgeHistograms) {
      for (const group of this.groups.values()) {
        for (const histogram of group.phases?.values() ?? []) this.probeDuration.remove(histogram);
        delete group.phases;
      }
    }
    this.perEdgeHistograms = settings.perEdgeHistograms;
  }

  private groupOf(key: string, base: EdgeLabels, record: EdgeRecord): GroupSeries {
    // An edge without a path check never has unexpected_path: it gets no series for it.
    const kinds = record.edge.pathExpect !== undefined ? SIGNAL_KINDS : EDGE_SIGNAL_KINDS;
    let group = this.groups.get(key);
    if (!group) {
      this.propagation.use(base);
      this.phaseDurations.use(base);
      const labels = labelSet(base);
      group = { labels, totals: new Map(), success: this.probeSuccess.add(labels), mismatch: new Map(), infos: new Map() };
      this.groups.set(key, group);
    }
    // The kinds follow the probe (one redefined with or without a path check keeps its labels).
    if (group.mismatch.size !== kinds.length) {
      for (const [kind, gauge] of group.mismatch) {
        if (kinds.includes(kind)) continue;
        this.mismatch.remove(gauge);
        group.mismatch.delete(kind);
      }
      for (const kind of kinds) if (!group.mismatch.has(kind)) group.mismatch.set(kind, this.mismatch.add(group.labels, this.mismatch.own({ kind })));
      delete group.lastSignals;
    }
    return group;
  }

  /**
   * Counters and histograms: every probe counts, whichever edge of its label set ran it. The
   * durations of a sample that is the agent's own fault (agent_error) are not the network's:
   * they are left out.
   */
  recordOutcome(record: EdgeRecord, outcome: ProbeOutcome): void {
    const observed = record.observed;
    if (!observed) return;
    const { labels: base, seriesKey } = record.edge;
    const group = this.groupOf(seriesKey, base, record);
    const result = observed.reason === "ok" ? "success" : observed.reason === "agent_error" ? "invalid" : "failure";
    const totalKey = `${result}|${observed.reason}`;
    let total = group.totals.get(totalKey);
    if (!total) {
      total = this.probesTotal.add(group.labels, this.probesTotal.own({ result, reason: observed.reason }));
      group.totals.set(totalKey, total);
    }
    this.probesTotal.inc(total);
    if (result === "invalid") return;
    for (const phase in outcome.phases) {
      const seconds = outcome.phases[phase as ProbePhase];
      if (seconds === undefined) continue;
      this.phaseDurations.observe(base, seconds, { phase });
      if (!this.perEdgeHistograms) continue;
      group.phases ??= new Map();
      let histogram = group.phases.get(phase as ProbePhase);
      if (!histogram) {
        histogram = this.probeDuration.add(group.labels, this.probeDuration.own({ phase }));
        group.phases.set(phase as ProbePhase, histogram);
      }
      this.probeDuration.observe(histogram, seconds);
    }
  }

  /** Gauges of one label set, from every edge that stands behind it (usually one). */
  recordGroup(members: readonly EdgeRecord[]): void {
    const first = members[0];
    if (!first) return;
    const { labels: base, seriesKey } = first.edge;
    const group = this.groupOf(seriesKey, base, first);
    const state = aggregateGroup(members);
    // An invalid sample says nothing about the network: the success gauge keeps its last value.
    if (state.success !== undefined && state.success !== group.lastSuccess) {
      group.success.value = state.success;
      group.lastSuccess = state.success;
    }
    if (state.duration !== undefined) {
      if (group.duration) group.duration.value = state.duration;
      else group.duration = this.probeLastDuration.add(group.labels, undefined, state.duration);
    }
    if (group.expected?.value !== state.expected) this.verdictChangeCount++;
    if (state.expected === undefined) {
      if (group.expected) this.expectedSuccess.remove(group.expected);
      delete group.expected;
    } else if (group.expected) group.expected.value = state.expected;
    else group.expected = this.expectedSuccess.add(group.labels, undefined, state.expected);
    const signals = [...state.signals].sort().join();
    if (signals !== group.lastSignals) {
      for (const [kind, gauge] of group.mismatch) gauge.value = state.signals.has(kind) ? 1 : 0;
      group.lastSignals = signals;
      this.verdictChangeCount++;
    }
    if (group.status?.value !== state.status) {
      this.verdictChangeCount++;
      const own = this.edgeStatus.own({ status: state.status });
      // The one status series changes its label: a scrape never sees two, or none.
      if (group.status) this.edgeStatus.relabel(group.status.series, own);
      group.status = { value: state.status, series: group.status?.series ?? this.edgeStatus.add(group.labels, own, 1) };
    }
    if (state.path === undefined) {
      if (group.path) this.zscalerPath.remove(group.path.series);
      delete group.path;
    } else {
      const key = JSON.stringify(state.path);
      if (group.path?.key !== key) {
        const own = this.zscalerPath.own({ expect: state.path.expect, path: state.path.path, cloud: state.path.cloud, city: state.path.city });
        if (group.path) this.zscalerPath.relabel(group.path.series, own);
        group.path = { key, series: group.path?.series ?? this.zscalerPath.add(group.labels, own, 1) };
      }
    }
    // One info series per distinct explanation among the edges (bounded by the rules that exist).
    const infos = new Map<string, NumberSeries>();
    for (const member of members) {
      const { key, own } = this.infoOf(member);
      if (infos.has(key)) continue;
      infos.set(key, group.infos.get(key) ?? this.policyInfo.add(group.labels, own, 1));
    }
    for (const [key, info] of group.infos) if (!infos.has(key)) this.policyInfo.remove(info);
    group.infos = infos;
  }

  /** The info labels of an edge (beyond its edge labels), made once per policy object (not on every probe). */
  private readonly infoCache = new WeakMap<object, { expectedFrom: string | null; key: string; own: LabelSet }>();
  private infoOf(member: EdgeRecord): { key: string; own: LabelSet } {
    const cached = this.infoCache.get(member.policy);
    if (cached && cached.expectedFrom === member.expectedFrom) return cached;
    const labels = {
      policy: member.policy.stance,
      expected_from: member.expectedFrom ?? "none",
      egress_rule: member.policy.egressRule,
      ingress_rule: member.policy.ingressRule,
      cni_dependent: String(member.policy.cniDependent),
    };
    // Not interned: rule names are as many as the policies.
    const entry = { expectedFrom: member.expectedFrom, key: JSON.stringify(labels), own: this.policyInfo.own(labels, false) };
    this.infoCache.set(member.policy, entry);
    return entry;
  }

  /** One edge standing alone behind its label set. */
  recordState(record: EdgeRecord): void {
    this.recordGroup([record]);
  }

  /** The label set is gone: every series it created goes with it. */
  removeGroup(base: EdgeLabels): void {
    const key = JSON.stringify(base);
    const group = this.groups.get(key);
    if (!group) return;
    this.probeSuccess.remove(group.success);
    if (group.duration) this.probeLastDuration.remove(group.duration);
    if (group.expected) this.expectedSuccess.remove(group.expected);
    for (const total of group.totals.values()) this.probesTotal.remove(total);
    for (const histogram of group.phases?.values() ?? []) this.probeDuration.remove(histogram);
    for (const gauge of group.mismatch.values()) this.mismatch.remove(gauge);
    if (group.status) this.edgeStatus.remove(group.status.series);
    for (const info of group.infos.values()) this.policyInfo.remove(info);
    if (group.path) this.zscalerPath.remove(group.path.series);
    this.groups.delete(key);
    this.verdictChangeCount++;
    this.propagation.release(base);
    this.phaseDurations.release(base);
  }

  /** Label sets with series, as their keys. */
  trackedGroups(): string[] {
    return [...this.groups.keys()];
  }
}
