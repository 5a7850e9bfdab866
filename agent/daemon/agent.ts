// The agent: edges from the config and the cluster state, probed on schedule, each
// outcome judged against policy and intent, exported as metrics, results and logs.
// Config and cluster state can change at any time; the last good of each is kept.

import { type IpAddress, jsonOf, parseIp } from "../addresses/ip.js";
import type { ClusterSource } from "../cluster/live.js";
import { targetScopeOf } from "../cluster/scope.js";
import type { ClusterSnapshot } from "../cluster/snapshot.js";
import { ManifestCluster, NoCluster } from "../cluster/static.js";
import { BUILTIN_CONFIG, BUILTIN_CONFIG_NAME } from "../config/builtin.js";
import { type ConfigLoad, loadConfigFile, parseConfig } from "../config/load.js";
import type { AgentConfig } from "../config/model.js";
import { formatInputError, type InputError } from "../documents/located.js";
import { AgentMetrics } from "../metrics/registry.js";
import { buildPolicyIndex, type PolicyIndex, withoutPolicy as withoutIndexedPolicy, withPolicy as withIndexedPolicy } from "../policy/engine.js";
import { type ProbeOutcome, runCall } from "../probes/index.js";
import { agentError } from "../probes/prober.js";
import { type Job, Scheduler } from "../schedule/scheduler.js";
import { StarvationMonitor } from "../schedule/starvation.js";
import { startTimer, type Timer } from "../schedule/timers.js";
import { type Edge, type EdgeLabels, expandEdges } from "../targets/edges.js";
import { type ProbeGap, probeGaps } from "../targets/empty.js";
import { PodBatches, type PodProbeRunner, type PodProbeSettings } from "../sources/batches.js";
import { namedByWorkload, podSourceIdentities, type PodSourceConfig, workloadOf } from "../sources/identities.js";
import { createPodProbeRunner } from "../sources/pods.js";
import { type LiveFeeds, ZscalerSeam } from "../zscaler/seam.js";
import { type EdgeRecord, newEdgeRecord, type StatusChange, withOutcome, withPolicy } from "../verdicts/edge-state.js";
import { isSignal } from "../verdicts/judge.js";
import { type EdgePolicy, policyForEdge, type SourceIdentity, unknownPolicy } from "../verdicts/policy.js";
import type { SelfIdentity } from "./identity.js";
import type { Logger } from "./log.js";
import { type FileWatch, watchFiles } from "../documents/watch.js";

export interface AgentOptions {
  /** undefined: the built-in standalone configuration. */
  readonly configFile?: string;
  /** Where cluster state comes from (the API, files). Default: manifests if given, else no cluster. */
  readonly cluster?: ClusterSource;
  /** Shorthand for a ManifestCluster over these files. */
  readonly manifests?: readonly string[];
  readonly identity: SelfIdentity;
  readonly logger: Logger;
  readonly metrics?: AgentMetrics;
  /** Poll config and manifest files for changes (milliseconds; 0 disables). */
  readonly watchIntervalMs?: number;
  /** Every probe is judged on its own sample (netcanary once). */
  readonly singleSample?: boolean;
  /** Where status changes go as Kubernetes Events (live mode), on the source pod. */
  readonly events?: StatusChangeSink;
  /** Runs probes inside labeled pods (tests); default: workers entered with nsenter (sources/pods.ts). */
  readonly podProbes?: PodProbeRunner;
  /** Zscaler's published ranges, kept current (data centres, answersIn: zscaler:<cloud>). */
  readonly feeds?: LiveFeeds;
}

export interface StatusChangeSink {
  recordStatusChange(change: StatusChange, pod: { readonly namespace: string; readonly name: string }): unknown;
  close(): Promise<void>;
}

export type AgentStart = { ok: true; agent: Agent } | { ok: false; errors: readonly InputError[] };

export interface ResultEntry {
  readonly id: string;
  readonly probe: string;
  readonly source: string;
  readonly sourceNamespace: string;
  readonly sourceNode: string;
  /** The source pod's workload, "kind/name" (a pod source is never named by its pod). */
  readonly sourceWorkload: string;
  readonly target: string;
  readonly targetKind: string;
  /** The pod behind a Service endpoint or a pod target, "namespace/name". */
  readonly endpoint?: string;
  /**
   * For a target of many endpoints (pods, a Service via endpoints): how many this agent
   * probes of how many there are (agent.maxEndpointsPerTarget, its share by rendezvous hashing).
   */
  readonly selection?: { readonly chosen: number; readonly of: number };
  /** The address probed (last resolved, for names). */
  readonly address?: string;
  readonly port: number;
  readonly protocol: string;
  readonly intent: "allow" | "deny" | null;
  readonly policy: {
    readonly verdict: "allow" | "deny" | "unknown";
    readonly expectedFrom: "policy" | "intent" | null;
    readonly explanation: { readonly summary: string; readonly lines: readonly string[]; readonly egressRule: string; readonly ingressRule: string; readonly cniDependent: boolean };
  };
  readonly observed: { readonly reason: string; readonly durationSeconds: number; readonly at: string; readonly address?: string; readonly detail?: string } | null;
  readonly signals: readonly string[];
  readonly status: string;
}

function loadConfig(file: string | undefined): Promise<ConfigLoad> {
  return file === undefined ? Promise.resolve(parseConfig(BUILTIN_CONFIG, BUILTIN_CONFIG_NAME)) : loadConfigFile(file);
}

function withSingleSample(config: AgentConfig): AgentConfig {
  return { ...config, probes: config.probes.map((probe) => ({ ...probe, failureThreshold: 1, successThreshold: 1 })) };
}

export class Agent {
  readonly metrics: AgentMetrics;
  private config: AgentConfig;
  private snapshot: ClusterSnapshot | undefined;
  private index: PolicyIndex | undefined;
  /** Bumped on every cluster change: a probe that straddles one is not judged. */
  private generation = 0;
  /** Each edge's policy for (generation, address): recomputed only when either changes. */
  private readonly policyCache = new Map<string, { key: string; policy: EdgePolicy }>();
  private edges = new Map<string, Edge>();
  /** Edges sharing one metric label set, by series key. */
  private groups = new Map<string, Set<string>>();
  private records = new Map<string, EdgeRecord>();
  private readonly scheduler: Scheduler;
  private readonly starvation: StarvationMonitor;
  private readonly watches: FileWatch[] = [];
  /** Zscaler: its feeds, the coverage audit, its annotations of edges (zscaler/seam.ts). */
  private readonly zscaler: ZscalerSeam;
  /** Batches of probes per source pod, run in one worker inside the pod; made at first use. */
  private batches: PodBatches | undefined;
  /** Host-network pods already said to be skipped as sources. */
  private readonly skippedHostNetwork = new Set<string>();
  /** After stop(), probes still in flight change nothing (no record, metric, log or Event). */
  private stopped = false;
  private readonly log: Logger;
  private firstRoundPending = new Set<string>();
  /** Probing on schedule (between start and stop); runRound alone never schedules. */
  private scheduling = false;

  private constructor(
    private readonly options: AgentOptions,
    config: AgentConfig,
    private readonly cluster: ClusterSource,
    zscaler: ZscalerSeam,
    metrics: AgentMetrics,
  ) {
    this.zscaler = zscaler;
    this.log = options.logger;
    this.metrics = metrics;
    this.config = options.singleSample ? withSingleSample(config) : config;
    // A source that holds only part of the cluster fetches what the targets need.
    cluster.setTargets?.(targetScopeOf(this.config));
    this.snapshot = cluster.current();
    this.index = this.snapshot ? buildPolicyIndex(this.snapshot) : undefined;
    this.starvation = new StarvationMonitor({ thresholdMs: config.agent.starvationThresholdMs });
    this.scheduler = new Scheduler({
      maxConcurrent: config.agent.maxConcurrentProbes,
      hooks: {
        onStart: (_id, late) => this.metrics.schedulerDelay.observe(late),
        onSkip: () => this.metrics.schedulerSkipped.inc(),
      },
    });
    this.metrics.configure(config.metrics);
    this.metrics.configReloadSuccessful.set(1);
    this.metrics.configReloadSuccessTimestamp.set(Date.now() / 1000);
    this.metrics.setEventLoopDelaySource(() => this.starvation.takeWorstDelayMs() / 1000);
    const identities = this.identities();
    this.runAudit(identities);
    this.rebuildEdges(identities);
  }

  /** Loads the config (and manifests); refuses to start on bad input (there is no last good yet). */
  static async create(options: AgentOptions): Promise<AgentStart> {
    const config = await loadConfig(options.configFile);
    const errors: InputError[] = config.ok ? [] : [...config.errors];
    let cluster: ClusterSource = options.cluster ?? new NoCluster();
    if (!options.cluster && options.manifests && options.manifests.length > 0) {
      const load = await ManifestCluster.load(options.manifests, options.logger, options.watchIntervalMs ?? 1000);
      if (load.ok) cluster = load.source;
      else errors.push(...load.errors);
    }
    if (!config.ok || errors.length > 0) return { ok: false, errors };
    const metrics = options.metrics ?? new AgentMetrics();
    const zscaler = await ZscalerSeam.create(config.config.zscaler, {
      logger: options.logger,
      metrics: { uncovered: metrics.zscalerUncovered, feeds: metrics.zscalerSink() },
      ...(options.feeds ? { feeds: options.feeds } : {}),
    });
    return { ok: true, agent: new Agent(options, config.config, cluster, zscaler, metrics) };
  }

  /** Published data the targets expand with (Zscaler's feeds). */
  private get feeds() {
    return this.zscaler.feeds;
  }

  /** Starts probing on schedule, and following the config file and the cluster state. */
  async start(): Promise<void> {
    this.starvation.start();
    this.scheduling = true;
    this.scheduler.setJobs(this.jobs());
    const pollMs = this.options.watchIntervalMs ?? 1000;
    if (pollMs > 0 && this.options.configFile !== undefined) {
      const file = this.options.configFile;
      this.watches.push(
        await watchFiles(async () => [file], () => this.reloadConfig(), pollMs, (error) => this.log.error({ file, err: error }, "config reload failed; the last good config keeps running")),
      );
    }
    await this.cluster.start((snapshot, seenAt, changed) => this.applySnapshot(snapshot, seenAt, changed));
    await this.zscaler.start(() => this.applyFeeds());
  }

  /** For one round (netcanary once): the Zscaler data as fresh as the deadline allows. */
  async refreshFeeds(deadlineMs: number): Promise<void> {
    if (await this.zscaler.refreshOnce(deadlineMs)) this.applyFeeds();
  }

  /** Zscaler data changed: data centres, answer ranges and the coverage audit follow. */
  applyFeeds(): void {
    this.refresh(Date.now());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.zscaler.stop();
    for (const watch of this.watches) watch.close();
    this.watches.length = 0;
    this.scheduling = false;
    this.scheduler.stop();
    this.starvation.stop();
    await Promise.all([this.cluster.stop(), this.options.events?.close(), this.batches?.stop()]);
  }

  /** Follows the cluster state without probing on schedule; resolves once it is known or at the deadline. */
  async startClusterAndWait(timeoutMs: number): Promise<{ ready: boolean; reason?: string }> {
    await this.cluster.start((snapshot, seenAt, changed) => this.applySnapshot(snapshot, seenAt, changed));
    const deadline = Date.now() + timeoutMs;
    while (!this.cluster.status().ready && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    // The listener may not have delivered the latest state yet (it is debounced); a state it
    // (or the constructor) already applied is not applied twice.
    const current = this.cluster.current();
    if (current && current !== this.snapshot) this.applySnapshot(current);
    const status = this.cluster.status();
    if (status.ready) await this.settleAddresses(deadline - Date.now());
    return status;
  }

  /**
   * Waits (bounded) until no edge's verdict waits for an address to be looked up, then takes
   * the latest cluster state: one round (netcanary once) is judged on what can be known.
   */
  async settleAddresses(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.waitingForAddresses() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const current = this.cluster.current();
    if (current && current !== this.snapshot) this.applySnapshot(current);
  }

  private waitingForAddresses(): boolean {
    const addressState = this.cluster.addressState?.bind(this.cluster);
    if (!addressState || !this.index?.hasPolicies) return false;
    for (const record of this.records.values()) {
      const state = record.address ? addressState(record.address) : undefined;
      if (state?.kind === "pending" && state.final !== true) return true;
    }
    return false;
  }

  /** Probes every edge once (bounded concurrency) and resolves when all are done. */
  async runRound(): Promise<void> {
    this.starvation.start();
    const queue = [...this.edges.values()];
    const workers = Array.from({ length: Math.min(this.config.agent.maxConcurrentProbes, queue.length) }, async () => {
      for (let edge = queue.shift(); edge; edge = queue.shift()) await this.probe(edge);
    });
    await Promise.all(workers);
  }

  readiness(): { ready: boolean; reason?: string } {
    const cluster = this.cluster.status();
    if (!cluster.ready) return cluster;
    if (this.firstRoundPending.size > 0) return { ready: false, reason: `first round: ${this.firstRoundPending.size} of ${this.edges.size} edges not probed yet` };
    return { ready: true };
  }

  /** How many probes the config defines. */
  probeCount(): number {
    return this.config.probes.length;
  }

  /**
   * What the configured probes leave untested now, each with why (targets/empty.ts): a probe
   * with no edge, a source that could run nowhere, edges beyond the budget. A round that
   * probed every edge still tested nothing for them.
   */
  untestedProbes(): ProbeGap[] {
    const edges = new Map<string, number>();
    for (const edge of this.edges.values()) edges.set(edge.probe.name, (edges.get(edge.probe.name) ?? 0) + 1);
    const context = {
      sources: this.config.sources,
      identities: this.identities(),
      snapshot: this.snapshot,
      index: this.index,
      feeds: this.feeds,
      nodeName: this.options.identity.nodeName,
      maxEdges: this.config.agent.maxEdges,
    };
    return this.config.probes.flatMap((probe) => probeGaps(probe, context, edges.get(probe.name) ?? 0));
  }

  edgeRecords(): EdgeRecord[] {
    return [...this.records.values()].sort((a, b) => (a.edge.id < b.edge.id ? -1 : 1));
  }

  results(filter: { probe?: string; status?: string } = {}): { results: ResultEntry[] } {
    const records = this.edgeRecords().filter(
      (record) => (filter.probe === undefined || record.edge.labels.probe === filter.probe) && (filter.status === undefined || record.status === filter.status),
    );
    return { results: records.map(toResult) };
  }

  /** Applies a new config (from a file reload, or a test); edges that did not change keep their state. */
  applyConfig(config: AgentConfig): void {
    this.config = this.options.singleSample ? withSingleSample(config) : config;
    this.zscaler.configure(config.zscaler);
    this.scheduler.setMaxConcurrent(config.agent.maxConcurrentProbes);
    this.starvation.setThreshold(config.agent.starvationThresholdMs);
    this.metrics.configure(config.metrics);
    this.batches?.configure(podProbeSettings(config));
    this.cluster.setTargets?.(targetScopeOf(this.config));
    this.refresh(Date.now());
  }

  /**
   * Applies new cluster state: every edge's policy is re-evaluated, changed ones probed at
   * once. seenAt: when the change reached the agent, for the propagation measurement.
   */
  applySnapshot(snapshot: ClusterSnapshot | undefined, seenAt: number = Date.now(), changed?: ReadonlySet<string>): void {
    const previous = this.snapshot;
    this.snapshot = snapshot;
    // Only NetworkPolicies changed: patch the index; anything else: build it again.
    const onlyPolicies = changed !== undefined && changed.size > 0 && [...changed].every((resource) => resource === "networkpolicies");
    this.index = snapshot && this.index && previous && onlyPolicies ? patchPolicies(this.index, previous, snapshot) : snapshot ? buildPolicyIndex(snapshot) : undefined;
    this.refresh(seenAt);
  }

  /**
   * After a change of config, cluster state or Zscaler data: the audit, then the edges
   * (identities, such as the agent's own pod or the labeled pods, and cluster targets follow
   * the change first), then every known edge's policy again. seenAt: when the change reached
   * the agent, for the propagation measurement.
   */
  private refresh(seenAt: number): void {
    this.generation++;
    const known = new Set(this.records.keys());
    const identities = this.identities();
    this.runAudit(identities);
    this.rebuildEdges(identities);
    if (this.scheduling) this.scheduler.setJobs(this.jobs());
    this.rejudge(known, seenAt);
    // What was looked up for addresses no edge points at any more is forgotten.
    if (this.cluster.retainAddresses) {
      const addresses = new Set<string>();
      for (const record of this.records.values()) {
        if (record.address) addresses.add(record.address.text);
        if (record.edge.address) addresses.add(record.edge.address.text);
      }
      this.cluster.retainAddresses(addresses);
    }
  }

  /** Every known edge's policy again; a verdict that changed is put to the test at once. */
  private rejudge(known: ReadonlySet<string>, seenAt: number): void {
    // Edges of one label set share their series: each set is published once, after all.
    const touched = new Set<string>();
    for (const id of known) {
      const record = this.records.get(id);
      const edge = this.edges.get(id);
      if (!record || !edge) continue;
      const before = record.policy.stance;
      const { record: next, change } = withPolicy(record, this.policyFor(edge, record.address), seenAt);
      this.records.set(id, next);
      touched.add(next.edge.seriesKey);
      if (change) this.logChange(change);
      if (next.policy.stance !== before) this.scheduler.runNow(id);
    }
    for (const key of touched) this.publish(key);
  }

  /** The coverage audit (zscaler/seam.ts) over every identity of every source. */
  private runAudit(identities: (sourceName: string) => SourceIdentity[]): void {
    this.zscaler.audit(this.index, () => this.config.sources.flatMap((source) => identities(source.name)));
  }

  private async reloadConfig(): Promise<void> {
    const file = this.options.configFile as string;
    const loaded = await loadConfigFile(file);
    if (!loaded.ok) {
      this.metrics.configReloadSuccessful.set(0);
      for (const error of loaded.errors) this.log.error({ file: error.file, line: error.line, field: error.field }, `config not reloaded, keeping the last good one: ${formatInputError(error)}`);
      return;
    }
    await this.zscaler.replaceFeeds(loaded.config.zscaler);
    this.applyConfig(loaded.config);
    this.metrics.configReloadSuccessful.set(1);
    this.metrics.configReloadSuccessTimestamp.set(Date.now() / 1000);
    this.log.info({ file, edges: this.edges.size }, "config reloaded");
  }

  /**
   * The identities each configured source stands for, as the cluster state is now; each
   * source's worked out once (a pod source scans every pod), however many probes name it.
   */
  private identities(): (sourceName: string) => SourceIdentity[] {
    const self = this.options.identity;
    const own = self.podNamespace && self.podName ? this.index?.podsByKey.get(`${self.podNamespace}/${self.podName}`) : undefined;
    const sources = new Map(this.config.sources.map((source) => [source.name, source]));
    const identitiesOf = (sourceName: string): SourceIdentity[] => {
      const source = sources.get(sourceName);
      if (source?.kind === "pods") return this.podIdentities(source);
      return [
        {
          name: sourceName,
          ...(own ? { pod: own, workload: workloadOf(own) } : {}),
          ...(self.podIp ? { ip: self.podIp } : {}),
          ...(self.podNamespace ? { namespace: self.podNamespace } : {}),
          node: self.nodeName,
        },
      ];
    };
    const known = new Map<string, SourceIdentity[]>();
    return (sourceName) => {
      let found = known.get(sourceName);
      if (found === undefined) {
        found = identitiesOf(sourceName);
        known.set(sourceName, found);
      }
      return found;
    };
  }

  /** A pod source's pods on this node (sources/identities.ts); a host-network pod is said once. */
  private podIdentities(source: PodSourceConfig): SourceIdentity[] {
    if (!this.index) return [];
    const { identities, hostNetwork } = podSourceIdentities(this.index, source, this.options.identity.nodeName);
    for (const key of hostNetwork) {
      if (this.skippedHostNetwork.has(key)) continue;
      this.skippedHostNetwork.add(key);
      this.log.warn({ source: source.name, pod: key }, "labeled pod uses the host network: not a probe source (it has no network namespace of its own)");
    }
    // Forget pods that are gone or left the host network: the set stays as small as the cluster.
    for (const key of this.skippedHostNetwork) if (!this.index.podsByKey.get(key)?.hostNetwork) this.skippedHostNetwork.delete(key);
    return identities;
  }

  private rebuildEdges(identities: (sourceName: string) => SourceIdentity[]): void {
    const { edges, dropped } = expandEdges(this.config, identities, this.snapshot, this.feeds, this.options.identity.nodeName);
    this.metrics.edgesDropped.set(dropped);
    if (dropped > 0) this.log.warn({ dropped, maxEdges: this.config.agent.maxEdges }, "more edges than agent.maxEdges: the excess is not probed");
    const next = new Map(edges.map((edge) => [edge.id, edge]));
    const touched = new Set<string>();
    for (const [id, edge] of this.edges) {
      if (next.has(id)) continue;
      this.records.delete(id);
      this.policyCache.delete(id);
      this.firstRoundPending.delete(id);
      this.groups.get(edge.seriesKey)?.delete(id);
      touched.add(edge.seriesKey);
    }
    for (const fresh of edges) {
      const existing = this.records.get(fresh.id);
      // Same id, other labels (a probe redefined): the old label set loses this edge.
      if (existing && existing.edge.seriesKey !== fresh.seriesKey) {
        this.groups.get(existing.edge.seriesKey)?.delete(fresh.id);
        touched.add(existing.edge.seriesKey);
      }
      // An unchanged probe keeps its state, and its identity, so probes in flight still
      // count; a changed definition (thresholds, intent, target) starts the edge afresh.
      const sameProbe =
        existing !== undefined &&
        (existing.edge.probe === fresh.probe || jsonOf(existing.edge.probe) === jsonOf(fresh.probe));
      let edge = fresh;
      if (existing && sameProbe) {
        edge = { ...fresh, probe: existing.edge.probe };
        // The address known before probing may have moved: a pod's new IP, a Service's new cluster IP.
        this.records.set(edge.id, { ...existing, edge, ...(fresh.address ? { address: fresh.address } : {}) });
      } else {
        this.records.set(edge.id, newEdgeRecord(edge, this.policyFor(edge, edge.address), edge.address));
        if (!existing) this.firstRoundPending.add(edge.id);
        touched.add(edge.seriesKey);
      }
      next.set(edge.id, edge);
      const members = this.groups.get(edge.seriesKey) ?? new Set<string>();
      if (!members.has(edge.id)) {
        members.add(edge.id);
        this.groups.set(edge.seriesKey, members);
        touched.add(edge.seriesKey);
      }
    }
    this.edges = next;
    for (const key of touched) this.publish(key);
    this.metrics.edges.set(this.edges.size);
  }

  /** Pushes a label set's gauges, or removes its series when no edge is left behind it. */
  private publish(seriesKey: string): void {
    const members = [...(this.groups.get(seriesKey) ?? [])].flatMap((id) => this.records.get(id) ?? []);
    if (members.length > 0) {
      this.metrics.recordGroup(members);
      return;
    }
    this.groups.delete(seriesKey);
    this.metrics.removeGroup(JSON.parse(seriesKey) as EdgeLabels);
  }

  private jobs(): Job[] {
    // Jobs look the edge up when they run: cluster changes replace Edge objects. A pod
    // source's edges share a group: they come due together and run in one worker.
    return [...this.edges.values()].map((edge) => ({
      id: edge.id,
      schedule: edge.probe.schedule,
      ...(edge.source.podSource !== undefined ? { group: edge.source.podSource } : {}),
      run: async () => {
        const current = this.edges.get(edge.id);
        if (current) await this.probe(current);
      },
    }));
  }

  private policyFor(edge: Edge, address: IpAddress | undefined): EdgePolicy {
    const key = `${this.generation}|${address?.text ?? ""}`;
    const cached = this.policyCache.get(edge.id);
    if (cached?.key === key) return cached.policy;
    // An address the cluster state cannot place yet (it is being looked up): no guess.
    const state = address && this.index?.hasPolicies ? this.cluster.addressState?.(address) : undefined;
    const judged = state?.kind === "pending" ? unknownPolicy(state.reason) : policyForEdge(this.index, edge.source, address, edge.port, edge.protocol);
    const base = namedByWorkload(judged, edge.source);
    const gap = this.zscaler.coverageGap(edge);
    const policy = gap ? { ...base, coverageGap: gap, lines: [...base.lines, gap] } : base;
    this.policyCache.set(edge.id, { key, policy });
    return policy;
  }

  private async probe(edge: Edge): Promise<void> {
    const started = Date.now();
    const generation = this.generation;
    const stanceBefore = this.records.get(edge.id)?.policy.stance;
    const outcome = await this.runBounded(edge);
    const finished = Date.now();
    const current = this.records.get(edge.id);
    // The agent stopped, or the edge went away or was redefined, while it was being probed.
    if (this.stopped || !current || this.edges.get(edge.id)?.probe !== edge.probe) return;
    const starved = this.starvation.starvedDuring(started, finished);
    const address = outcome.address === undefined || outcome.address === current.address?.text ? current.address : parsedAddress(outcome.address, current.address);
    const policy = this.policyFor(edge, address);
    // The verdict changed while the probe ran: its packets met the old policy or the new
    // one, nobody knows which. Show the sample, judge the next one, at once.
    const straddled = generation !== this.generation && policy.stance !== stanceBefore;
    const { record, change, propagationSeconds } = withOutcome(current, outcome, starved, policy, address, new Date(finished), !straddled);
    this.store(record, change);
    if (straddled) setImmediate(() => this.scheduler.runNow(edge.id));
    if (propagationSeconds !== undefined) {
      const { probe, source, source_node } = record.edge.labels;
      this.metrics.observePropagation({ probe, source, source_node }, propagationSeconds);
    }
    this.metrics.recordOutcome(record, outcome);
    this.firstRoundPending.delete(edge.id);
  }

  /** The prober bounds itself; this watchdog guarantees it, whatever happens. */
  private async runBounded(edge: Edge): Promise<ProbeOutcome> {
    // Nothing to judge the answer against yet: the agent's limitation, not the network's.
    if (edge.unjudgeable) return agentError(edge.unjudgeable);
    return this.zscaler.annotateOutcome(edge, await this.runWatched(edge));
  }

  private runWatched(edge: Edge): Promise<ProbeOutcome> {
    // A probe from a pod waits for a free worker (agent.maxProbeWorkers), for the probes
    // batched before it, and for Node to start in the pod; the pool kills every worker at its
    // own deadline, so this only catches a bug. If it fires anyway, PodBatches answers the
    // next run of this edge at once until the abandoned one is done.
    const limit = edge.probe.timeoutMs + (edge.source.podSource !== undefined ? 60_000 : 1000);
    let timer: Timer | undefined;
    const watchdog = new Promise<ProbeOutcome>((resolve) => {
      timer = startTimer(() => resolve(agentError("prober overran its deadline", limit / 1000)), limit);
    });
    const probe = this.runProbeFor(edge).catch(
      (error: unknown): ProbeOutcome => agentError(error instanceof Error ? error.message : String(error)),
    );
    return Promise.race([probe, watchdog]).finally(() => timer?.cancel());
  }

  /** In this process, or for a pod source, in a worker inside the pod's network namespace. */
  private runProbeFor(edge: Edge): Promise<ProbeOutcome> {
    const { call } = edge;
    const timeoutMs = edge.probe.timeoutMs;
    const pod = edge.source.podSource;
    if (pod === undefined) return runCall(call, { timeoutMs });
    if (!edge.source.ip) return Promise.resolve(agentError(`pod ${pod} has no IP yet`));
    return this.podBatches().probe({ key: pod, ip: edge.source.ip.text, uid: edge.source.pod?.uid }, { id: edge.id, call, timeoutMs });
  }

  private podBatches(): PodBatches {
    this.batches ??= new PodBatches(
      this.options.podProbes ??
        createPodProbeRunner({ ...podProbeSettings(this.config), logger: this.log, sink: this.metrics.podWorkerSink() }),
    );
    return this.batches;
  }

  private store(record: EdgeRecord, change: StatusChange | undefined): void {
    this.records.set(record.edge.id, record);
    this.publish(record.edge.seriesKey);
    if (change) this.logChange(change);
  }

  private logChange({ from, to, record }: StatusChange): void {
    const fields = {
      ...record.edge.labels,
      from,
      to,
      reason: record.observed?.reason,
      policy: record.policy.stance,
      expectedFrom: record.expectedFrom,
      explanation: record.policy.lines,
      ...(record.observed?.detail ? { detail: record.observed.detail } : {}),
    };
    const message = `edge ${record.edge.labels.probe} from ${record.edge.labels.source}: ${from} -> ${to}`;
    if (isSignal(to)) this.log.warn(fields, message);
    else this.log.info(fields, message);
    // An Event needs a pod to hang on: sources outside the cluster get only the log line.
    const pod = record.edge.source.pod;
    if (pod && !pod.workload) this.options.events?.recordStatusChange({ from, to, record }, { namespace: pod.namespace, name: pod.name });
  }
}

/** The index patched for the NetworkPolicies that differ between two snapshots (by object identity). */
function patchPolicies(index: PolicyIndex, previous: ClusterSnapshot, next: ClusterSnapshot): PolicyIndex {
  const key = (policy: { namespace: string; name: string }) => `${policy.namespace}/${policy.name}`;
  const before = new Map(previous.policies.map((policy) => [key(policy), policy]));
  let patched = index;
  for (const policy of next.policies) {
    if (before.get(key(policy)) !== policy) patched = withIndexedPolicy(patched, policy);
    before.delete(key(policy));
  }
  for (const gone of before.values()) patched = withoutIndexedPolicy(patched, gone.namespace, gone.name);
  return patched;
}

function podProbeSettings(config: AgentConfig): PodProbeSettings {
  return { maxWorkers: config.agent.maxProbeWorkers, starvationThresholdMs: config.agent.starvationThresholdMs };
}

function parsedAddress(text: string, fallback: IpAddress | undefined): IpAddress | undefined {
  const parsed = parseIp(text);
  return parsed.ok ? parsed.value : fallback;
}

function toResult(record: EdgeRecord): ResultEntry {
  const { labels } = record.edge;
  return {
    id: record.edge.id,
    probe: labels.probe,
    source: labels.source,
    sourceNamespace: labels.source_namespace,
    sourceNode: labels.source_node,
    sourceWorkload: labels.source_workload,
    target: labels.target,
    targetKind: labels.target_kind,
    ...(record.edge.endpoint !== undefined ? { endpoint: record.edge.endpoint } : {}),
    ...(record.edge.selection !== undefined ? { selection: record.edge.selection } : {}),
    ...(record.address ? { address: record.address.text } : {}),
    port: record.edge.port,
    protocol: labels.protocol,
    intent: record.edge.probe.expect,
    policy: {
      verdict: record.policy.stance,
      expectedFrom: record.expectedFrom,
      explanation: {
        summary: record.policy.summary,
        lines: record.policy.lines,
        egressRule: record.policy.egressRule,
        ingressRule: record.policy.ingressRule,
        cniDependent: record.policy.cniDependent,
      },
    },
    observed: record.observed
      ? {
          reason: record.observed.reason,
          durationSeconds: record.observed.durationSeconds,
          at: record.observed.at,
          ...(record.observed.address !== undefined ? { address: record.observed.address } : {}),
          ...(record.observed.detail !== undefined ? { detail: record.observed.detail } : {}),
        }
      : null,
    signals: record.signals,
    status: record.status,
  };
}
