// netcanary's Prometheus metrics. One prefix, bounded snake_case labels, seconds, _total
// only on counters. Every series an edge creates is tracked so it disappears with the edge.

import { readFileSync } from "node:fs";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ClusterMetricsSink } from "../cluster/live.js";
import type { FailureKind } from "../cluster/reflector.js";
import type { ProbeOutcome, ProbePhase } from "../probes/prober.js";
import type { EdgeLabels } from "../targets/edges.js";
import type { EdgeRecord } from "../verdicts/edge-state.js";
import { type EdgeStatus, SIGNAL_KINDS, type SignalKind } from "../verdicts/judge.js";

const EDGE_LABELS = ["probe", "source", "source_namespace", "source_node", "source_workload", "target", "target_kind", "port", "protocol"] as const;
type EdgeLabelName = (typeof EDGE_LABELS)[number];
type Labels<Extra extends string> = Partial<Record<EdgeLabelName | Extra, string>>;

/**
 * In-cluster connects take about a millisecond, WAN paths (a Zscaler gateway) tens to
 * hundreds, timeouts seconds. Eight buckets: every edge pays for each one, per phase.
 */
export const DURATION_BUCKETS = [0.002, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function packageVersion(): string {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    return (JSON.parse(text) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * The series of one label set: prom-client children bound to its labels (no label object
 * built per probe), what was last written (an unchanged gauge is not written again), and the
 * label sets it created beyond its base labels, to remove them with it.
 */
interface GroupSeries {
  base: EdgeLabels;
  totals: Map<string, Counter.Internal>;
  phases: Map<ProbePhase, Histogram.Internal<string>>;
  success: Gauge.Internal<string>;
  lastSuccess?: number;
  lastExpected?: number;
  mismatch: Map<SignalKind, Gauge.Internal<string>>;
  lastSignals?: string;
  status?: string;
  infos: Map<string, Labels<string>>;
}

/** Status precedence when several edges share one label set: the most urgent wins. */
const STATUS_ORDER: readonly EdgeStatus[] = ["unexpected_block", "unexpected_allow", "intent_violation", "pending", "unknown", "ok"];

export interface GroupState {
  /** 1 if every edge's last valid sample got through, 0 if any did not; undefined: none yet. */
  readonly success: 0 | 1 | undefined;
  /** The shared policy verdict as 1/0; undefined when unknown or when the edges differ. */
  readonly expected: 0 | 1 | undefined;
  readonly signals: ReadonlySet<SignalKind>;
  readonly status: EdgeStatus;
}

function propagationKey(base: EdgeLabels): string {
  return `${base.probe}|${base.source}|${base.source_node}`;
}

/** Pure: what one label set shows when several edges stand behind it. */
export function aggregateGroup(members: readonly EdgeRecord[]): GroupState {
  const valid = members.filter((m) => m.observed !== undefined && m.observed.reason !== "agent_error");
  const success = valid.length === 0 ? undefined : valid.every((m) => m.observed?.reason === "ok") ? 1 : 0;
  const stances = new Set(members.map((m) => m.policy.stance));
  const [only] = stances;
  const expected = stances.size === 1 && only !== "unknown" && only !== undefined ? (only === "allow" ? 1 : 0) : undefined;
  const signals = new Set(members.flatMap((m) => m.signals));
  const statuses = new Set(members.map((m) => m.status));
  const status = STATUS_ORDER.find((candidate) => statuses.has(candidate)) ?? "unknown";
  return { success, expected, signals, status };
}

export class AgentMetrics implements ClusterMetricsSink {
  readonly registry = new Registry();
  private readonly groups = new Map<string, GroupSeries>();
  /** Label sets per (probe, source, source_node): the propagation histogram's series go with the last. */
  private readonly propagationUsers = new Map<string, number>();
  private syncAges: () => ReadonlyMap<string, number | undefined> = () => new Map();

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
  readonly policyPropagation = new Histogram({
    name: "netcanary_policy_propagation_seconds",
    help: "From the agent seeing a change of an edge's policy verdict to the first probe whose outcome agrees with it.",
    labelNames: ["probe", "source", "source_node"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
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
  readonly podWorkerDuration = new Histogram({
    name: "netcanary_pod_worker_duration_seconds",
    help: "From starting a probe worker in a pod's network namespace to its exit.",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** Where the pod probe runner reports each worker it ran. */
  podWorkerSink() {
    return {
      run: (result: "ok" | "failed" | "killed", seconds: number) => {
        this.podWorkerRuns.inc({ result });
        this.podWorkerDuration.observe(seconds);
      },
    };
  }

  setObjects(resource: string, count: number): void {
    this.clusterObjects.set({ resource }, count);
  }
  setSynced(resource: string, synced: boolean): void {
    this.clusterSynced.set({ resource }, synced ? 1 : 0);
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

  private groupOf(key: string, base: EdgeLabels): GroupSeries {
    let group = this.groups.get(key);
    if (!group) {
      const user = propagationKey(base);
      this.propagationUsers.set(user, (this.propagationUsers.get(user) ?? 0) + 1);
      const mismatch = new Map(SIGNAL_KINDS.map((kind) => [kind, this.mismatch.labels({ ...base, kind })]));
      group = { base, totals: new Map(), phases: new Map(), success: this.probeSuccess.labels(base), mismatch, infos: new Map() };
      this.groups.set(key, group);
    }
    return group;
  }

  /** Counters and histograms: every probe counts, whichever edge of its label set ran it. */
  recordOutcome(record: EdgeRecord, outcome: ProbeOutcome): void {
    const observed = record.observed;
    if (!observed) return;
    const { labels: base, seriesKey } = record.edge;
    const group = this.groupOf(seriesKey, base);
    const result = observed.reason === "ok" ? "success" : observed.reason === "agent_error" ? "invalid" : "failure";
    const totalKey = `${result}|${observed.reason}`;
    let total = group.totals.get(totalKey);
    if (!total) {
      total = this.probesTotal.labels({ ...base, result, reason: observed.reason });
      group.totals.set(totalKey, total);
    }
    total.inc();
    for (const phase in outcome.phases) {
      const seconds = outcome.phases[phase as ProbePhase];
      if (seconds === undefined) continue;
      let histogram = group.phases.get(phase as ProbePhase);
      if (!histogram) {
        histogram = this.probeDuration.labels({ ...base, phase });
        group.phases.set(phase as ProbePhase, histogram);
      }
      histogram.observe(seconds);
    }
  }

  /** Gauges of one label set, from every edge that stands behind it (usually one). */
  recordGroup(members: readonly EdgeRecord[]): void {
    const first = members[0];
    if (!first) return;
    const { labels: base, seriesKey } = first.edge;
    const group = this.groupOf(seriesKey, base);
    const state = aggregateGroup(members);
    // An invalid sample says nothing about the network: the success gauge keeps its last value.
    if (state.success !== undefined && state.success !== group.lastSuccess) {
      group.success.set(state.success);
      group.lastSuccess = state.success;
    }
    if (state.expected !== group.lastExpected) {
      if (state.expected === undefined) this.expectedSuccess.remove(base);
      else this.expectedSuccess.set(base, state.expected);
      group.lastExpected = state.expected;
    }
    const signals = [...state.signals].sort().join();
    if (signals !== group.lastSignals) {
      for (const [kind, gauge] of group.mismatch) gauge.set(state.signals.has(kind) ? 1 : 0);
      group.lastSignals = signals;
    }
    if (group.status !== state.status) {
      if (group.status !== undefined) this.edgeStatus.remove({ ...base, status: group.status });
      this.edgeStatus.set({ ...base, status: state.status }, 1);
      group.status = state.status;
    }
    // One info series per distinct explanation among the edges (bounded by the rules that exist).
    const infos = new Map<string, Labels<string>>();
    for (const member of members) {
      const { key, labels } = this.infoOf(member);
      infos.set(key, labels);
    }
    for (const [key, info] of group.infos) if (!infos.has(key)) this.policyInfo.remove(info);
    for (const [key, info] of infos) if (!group.infos.has(key)) this.policyInfo.set(info, 1);
    group.infos = infos;
  }

  /** The info labels of an edge, built once per policy object (not on every probe). */
  private readonly infoCache = new WeakMap<object, { expectedFrom: string | null; key: string; labels: Labels<string> }>();
  private infoOf(member: EdgeRecord): { key: string; labels: Labels<string> } {
    const cached = this.infoCache.get(member.policy);
    if (cached && cached.expectedFrom === member.expectedFrom) return cached;
    const labels: Labels<string> = {
      ...member.edge.labels,
      policy: member.policy.stance,
      expected_from: member.expectedFrom ?? "none",
      egress_rule: member.policy.egressRule,
      ingress_rule: member.policy.ingressRule,
      cni_dependent: String(member.policy.cniDependent),
    };
    const entry = { expectedFrom: member.expectedFrom, key: JSON.stringify(labels), labels };
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
    this.probeSuccess.remove(base);
    this.expectedSuccess.remove(base);
    for (const combination of group.totals.keys()) {
      const [result = "", reason = ""] = combination.split("|");
      this.probesTotal.remove({ ...base, result, reason });
    }
    for (const phase of group.phases.keys()) this.probeDuration.remove({ ...base, phase });
    for (const kind of SIGNAL_KINDS) this.mismatch.remove({ ...base, kind });
    if (group.status !== undefined) this.edgeStatus.remove({ ...base, status: group.status });
    for (const info of group.infos.values()) this.policyInfo.remove(info);
    this.groups.delete(key);
    const user = propagationKey(base);
    const users = (this.propagationUsers.get(user) ?? 1) - 1;
    if (users > 0) this.propagationUsers.set(user, users);
    else {
      this.propagationUsers.delete(user);
      this.policyPropagation.remove({ probe: base.probe, source: base.source, source_node: base.source_node });
    }
  }

  /** Label sets with series, as their keys. */
  trackedGroups(): string[] {
    return [...this.groups.keys()];
  }
}
