// The agent's lifecycle: edges from the config and the cluster state, probed on schedule,
// each outcome judged against policy and intent, exported as metrics, results and logs.
// Config, cluster state and Zscaler data can change at any time; the last good of each is
// kept. The parts: the edge table (daemon/edge-table.ts), the probe runner
// (daemon/probe-runner.ts), the results view (daemon/results.ts), the sources' identities
// (daemon/source-identities.ts) and the Zscaler seam (zscaler/seam.ts).

import { type IpAddress, parseIp } from "../addresses/ip.js";
import type { ClusterSource } from "../cluster/live.js";
import { targetScopeOf } from "../cluster/scope.js";
import type { ClusterSnapshot } from "../cluster/snapshot.js";
import { ManifestCluster, NoCluster } from "../cluster/static.js";
import { type Coverage, ruleCoverage } from "../derive/coverage.js";
import { type DerivedScope, derivedPodScope, MAX_DERIVED_WATCHES } from "../derive/scope.js";
import { BUILTIN_CONFIG, BUILTIN_CONFIG_NAME } from "../config/builtin.js";
import { type ConfigLoad, loadConfigFile, parseConfig } from "../config/load.js";
import type { AgentConfig } from "../config/model.js";
import { formatInputError, type InputError } from "../documents/located.js";
import { type FileWatch, watchFiles } from "../documents/watch.js";
import { AgentMetrics } from "../metrics/registry.js";
import { buildPolicyIndex, type PolicyIndex, withoutPolicy as withoutIndexedPolicy, withPolicy as withIndexedPolicy } from "../policy/engine.js";
import { type Job, Scheduler } from "../schedule/scheduler.js";
import { StarvationMonitor } from "../schedule/starvation.js";
import type { PodProbeRunner } from "../sources/batches.js";
import { type DerivedGap, type Edge, expandEdges } from "../targets/edges.js";
import { type ProbeGap, probeGaps } from "../targets/empty.js";
import { type EdgeRecord, type StatusChange, withOutcome } from "../verdicts/edge-state.js";
import { type EdgePolicy, namedByWorkload, policyForEdge, type SourceIdentity, unknownPolicy } from "../verdicts/policy.js";
import { type LiveFeeds, ZscalerSeam } from "../zscaler/seam.js";
import type { FlowMap } from "../traffic/flow.js";
import { TrafficMetrics, trafficSeries } from "../traffic/metrics.js";
import { ObserverMetrics } from "../traffic/observer-metrics.js";
import { TrafficObserver } from "../traffic/observer.js";
import { JudgementCache } from "../traffic/judge-cache.js";
import type { JudgedFlowMap } from "../traffic/report.js";
import { StagedSource } from "../traffic/staged-source.js";
import { EdgeTable } from "./edge-table.js";
import type { SelfIdentity } from "./identity.js";
import type { Logger } from "../log/log.js";
import { ProbeRunner } from "./probe-runner.js";
import { type ResultEntry, type ResultFilter, resultsOf } from "./results.js";
import { SourceIdentities } from "./source-identities.js";
import { type StatusDocument, StatusBook, statusDocument } from "./status-book.js";
import { reportStatusChange, type StatusChangeSink } from "./status-changes.js";

export type { ResultEntry, ResultFilter } from "./results.js";

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

export type { StatusChangeSink } from "./status-changes.js";

export type AgentStart = { ok: true; agent: Agent } | { ok: false; errors: readonly InputError[] };

function loadConfig(file: string | undefined): Promise<ConfigLoad> {
  return file === undefined ? Promise.resolve(parseConfig(BUILTIN_CONFIG, BUILTIN_CONFIG_NAME)) : loadConfigFile(file);
}

function withSingleSample(config: AgentConfig): AgentConfig {
  // The defaults too: derived edges take their timings from them.
  const single = { failureThreshold: 1, successThreshold: 1 };
  return { ...config, defaults: { ...config.defaults, ...single }, probes: config.probes.map((probe) => ({ ...probe, ...single })) };
}

export class Agent {
  readonly metrics: AgentMetrics;
  private config: AgentConfig;
  private snapshot: ClusterSnapshot | undefined;
  private index: PolicyIndex | undefined;
  /** Bumped on every cluster change: a probe that straddles one is not judged. */
  private generation = 0;
  private readonly table: EdgeTable;
  private readonly runner: ProbeRunner;
  private readonly sourceIdentities: SourceIdentities;
  private readonly scheduler: Scheduler;
  private readonly starvation: StarvationMonitor;
  private readonly watches: FileWatch[] = [];
  /** Zscaler: its feeds, the coverage audit, its annotations of edges (zscaler/seam.ts). */
  private readonly zscaler: ZscalerSeam;
  /** After stop(), probes still in flight change nothing (no record, metric, log or Event). */
  private stopped = false;
  private readonly log: Logger;
  /** Probing on schedule (between start and stop); runRound alone never schedules. */
  private scheduling = false;
  /** What the status page shows beyond the results: config, feeds, health counters. */
  private readonly book: StatusBook;
  /** The traffic map (traffic/observer.ts): made when the config first turns it on, sampling while it is on. */
  private traffic: TrafficObserver | undefined;
  /** Made once (their families stay registered): the observer's own, and the judged map's (traffic/metrics.ts). */
  private trafficMetrics: { observer: ObserverMetrics; map: TrafficMetrics } | undefined;
  /** Rules of deriving sources' policies that got no derived edge, and why (coverage says it). */
  private unfilled: readonly DerivedGap[] = [];
  /** The scope last given to the cluster source. */
  private scopeKey = "";
  /** Rules whose pods are beyond the derived watches' limit (derive/scope.ts): derivation says so. */
  private unwatched: ReadonlySet<string> = new Set();
  /** How many derived watches were left out when it was last logged: a warning once per change, never per cycle. */
  private watchesLeftOut = 0;
  /** The staged policies `traffic.staged` names, followed while the map is on (traffic/staged-source.ts). */
  private staged: StagedSource | undefined;
  /** The map as judged at the last sample (/api/v1/flows?judged). */
  private judged: JudgedFlowMap | undefined;

  private constructor(
    private readonly options: AgentOptions,
    config: AgentConfig,
    private readonly cluster: ClusterSource,
    zscaler: ZscalerSeam,
    metrics: AgentMetrics,
    book: StatusBook,
  ) {
    this.book = book;
    this.zscaler = zscaler;
    this.log = options.logger;
    this.metrics = metrics;
    this.config = options.singleSample ? withSingleSample(config) : config;
    // A source that holds only part of the cluster fetches what the targets need.
    this.updateScope();
    this.snapshot = cluster.current();
    this.index = this.snapshot ? buildPolicyIndex(this.snapshot) : undefined;
    this.starvation = new StarvationMonitor({ thresholdMs: config.agent.starvationThresholdMs });
    this.scheduler = new Scheduler({
      maxConcurrent: config.agent.maxConcurrentProbes,
      hooks: {
        onStart: (_id, late) => this.metrics.schedulerDelay.observe(late),
        onSkip: () => {
          this.metrics.schedulerSkipped.inc();
          this.book.skippedRun();
        },
      },
    });
    this.metrics.configure(config.metrics);
    this.metrics.configReloadSuccessful.set(1);
    this.metrics.configReloadSuccessTimestamp.set(Date.now() / 1000);
    this.metrics.setEventLoopDelaySource(() => this.starvation.takeWorstDelayMs() / 1000);
    this.metrics.setCoverageSource(() => this.coverage());
    this.table = new EdgeTable(metrics, (edge, address) => this.judgePolicy(edge, address), () => this.generation);
    this.runner = new ProbeRunner(config, {
      ...(options.podProbes ? { podProbes: options.podProbes } : {}),
      logger: options.logger,
      metrics,
      annotate: (edge, outcome) => this.zscaler.annotateOutcome(edge, outcome),
    });
    this.sourceIdentities = new SourceIdentities(options.identity, options.logger);
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
    const book = new StatusBook(options.configFile);
    const zscaler = await ZscalerSeam.create(config.config.zscaler, {
      logger: options.logger,
      metrics: { uncovered: metrics.zscalerUncovered, feeds: book.feedSink(metrics.zscalerSink()) },
      ...(options.feeds ? { feeds: options.feeds } : {}),
    });
    return { ok: true, agent: new Agent(options, config.config, cluster, zscaler, metrics, book) };
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
    this.followTraffic();
  }

  /** Starts or stops the traffic map as the config says (while the agent runs on schedule). */
  private followTraffic(): void {
    this.followStaged();
    if (this.config.traffic && !this.traffic && this.scheduling && !this.stopped) {
      const metrics = (this.trafficMetrics ??= { observer: new ObserverMetrics(this.metrics.registry), map: new TrafficMetrics(this.metrics.registry) });
      const lookupAddress = this.cluster.lookupAddress?.bind(this.cluster);
      // Judgements of flows unchanged since the last sample are reused (traffic/judge-cache.ts); dropped when the map is turned off.
      const judgements = new JudgementCache();
      const observer = new TrafficObserver({
        nodeName: this.options.identity.nodeName,
        logger: this.log,
        metrics: {
          // Each sample: the observer's figures, and the map judged by the policies in force now and the staged ones.
          sampled: (report, map) => {
            // A sample that was still reading when the map was turned off (or replaced) publishes nothing.
            if (this.traffic !== observer) return;
            metrics.observer.sampled(report);
            const index = this.index;
            const current = index ? map() : undefined;
            const staged = this.staged?.state();
            const judged = index && current ? judgements.judgedFlowMap(index, current, staged ? { directory: this.staged?.directory ?? "", ...staged } : undefined) : undefined;
            this.judged = judged?.document;
            metrics.map.publishFlows(current && judged ? trafficSeries(current.flows, judged.judgements) : []);
            metrics.map.publishStaged(judged?.staged);
          },
        },
        ...(lookupAddress ? { lookupAddress } : {}),
      });
      this.traffic = observer;
      observer.start(() => {
        const settings = this.config.traffic;
        return settings ? { settings, snapshot: this.snapshot, index: this.index, sources: this.config.sources, zscaler: this.zscaler.placer() } : undefined;
      });
      this.log.info({ pods: this.config.traffic.pods.kind, intervalMs: this.config.traffic.intervalMs }, "traffic map on");
    } else if (!this.config.traffic && this.traffic) {
      void this.traffic.stop();
      this.traffic = undefined;
      this.judged = undefined;
      this.trafficMetrics?.map.publishFlows([]);
      this.trafficMetrics?.map.publishStaged(undefined);
      this.log.info({}, "traffic map off");
    }
  }

  /** Follows the staged policies' directory while the map is on and one is configured; a new path, a new set. */
  private followStaged(): void {
    const wanted = this.scheduling && !this.stopped ? this.config.traffic?.staged : undefined;
    if (this.staged && this.staged.directory === wanted) return;
    this.staged?.stop();
    this.staged = undefined;
    if (wanted === undefined) return;
    const staged = new StagedSource(wanted, this.log);
    this.staged = staged;
    staged.start(this.options.watchIntervalMs ?? 1000).catch((error: unknown) => this.log.error({ file: wanted, err: error }, "staged policies not read; none is evaluated"));
  }

  /** Whether the traffic map is on (cheap: for the endpoints list the status page polls). */
  trafficOn(): boolean {
    return this.traffic !== undefined;
  }

  /** The traffic map now (/api/v1/flows); undefined while traffic mapping is off. */
  flowMap(): FlowMap | undefined {
    return this.traffic?.map();
  }

  /** The traffic map as judged at the last sample (/api/v1/flows?judged); undefined while off or before a sample. */
  judgedFlowMap(): JudgedFlowMap | undefined {
    return this.traffic ? this.judged : undefined;
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
    this.staged?.stop();
    this.staged = undefined;
    await this.traffic?.stop();
    this.scheduler.stop();
    this.starvation.stop();
    await Promise.all([this.cluster.stop(), this.options.events?.close(), this.runner.stop()]);
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
    return this.table.someAddress((address) => {
      const state = addressState(address);
      return state?.kind === "pending" && state.final !== true;
    });
  }

  /** Probes every edge once (bounded concurrency) and resolves when all are done. */
  async runRound(): Promise<void> {
    this.starvation.start();
    const queue = this.table.allEdges();
    const workers = Array.from({ length: Math.min(this.config.agent.maxConcurrentProbes, queue.length) }, async () => {
      for (let edge = queue.shift(); edge; edge = queue.shift()) await this.probe(edge);
    });
    await Promise.all(workers);
  }

  readiness(): { ready: boolean; reason?: string } {
    const cluster = this.cluster.status();
    if (!cluster.ready) return cluster;
    if (this.table.unprobed > 0) return { ready: false, reason: `first round: ${this.table.unprobed} of ${this.table.size} edges not probed yet` };
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
    for (const edge of this.table.allEdges()) edges.set(edge.probe.name, (edges.get(edge.probe.name) ?? 0) + 1);
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

  /** Which rules of the policies this agent's probes cross were exercised in the coverage window (derive/coverage.ts). */
  coverage(now: number = Date.now()): Coverage {
    const identities = this.identities();
    const sources = this.config.sources.flatMap((source) => identities(source.name));
    return ruleCoverage({ index: this.index, sources, records: this.table.sortedRecords(), now, windowMs: this.config.agent.coverageWindowMs, unfilled: this.unfilled });
  }

  edgeRecords(): EdgeRecord[] {
    return this.table.sortedRecords();
  }

  results(filter: ResultFilter = {}): { results: ResultEntry[] } {
    return resultsOf(this.edgeRecords(), filter);
  }

  /**
   * The /api/v1/status document: each edge's status since when, and what the verdicts rest on;
   * narrowed to one probe, with its edges' last observations.
   */
  status(filter: { readonly probe?: string } = {}, now: number = Date.now()): StatusDocument {
    const cluster = this.cluster.status();
    const delays = this.starvation.delays();
    return statusDocument({
      node: this.options.identity.nodeName,
      records: this.edgeRecords(),
      history: this.table.history,
      book: this.book,
      cluster: { ready: cluster.ready, ...(cluster.reason !== undefined ? { reason: cluster.reason } : {}), resources: this.metrics.clusterSync() },
      health: { eventLoopDelayMs: delays.lastMs, eventLoopDelayWorstMs: delays.recentWorstMs, starvationThresholdMs: delays.thresholdMs },
      now,
      ...(filter.probe !== undefined ? { probe: filter.probe } : {}),
    });
  }

  /** Applies a new config (from a file reload, or a test); edges that did not change keep their state. */
  applyConfig(config: AgentConfig): void {
    this.config = this.options.singleSample ? withSingleSample(config) : config;
    this.zscaler.configure(config.zscaler);
    this.scheduler.setMaxConcurrent(config.agent.maxConcurrentProbes);
    this.starvation.setThreshold(config.agent.starvationThresholdMs);
    this.metrics.configure(config.metrics);
    this.runner.configure(config);
    // refresh() gives the cluster source the new scope.
    this.refresh(Date.now());
    this.followTraffic();
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
    const known = this.table.recordIds();
    const identities = this.identities();
    this.updateScope(identities);
    this.runAudit(identities);
    this.rebuildEdges(identities);
    if (this.scheduling) this.scheduler.setJobs(this.jobs());
    // Every known edge's policy again; a verdict that changed is put to the test at once.
    this.table.rejudge(known, seenAt, (change) => this.logChange(change), (id) => this.scheduler.runNow(id));
    // What was looked up for addresses no edge points at any more is forgotten.
    if (this.cluster.retainAddresses) this.cluster.retainAddresses(this.table.addresses());
  }

  /**
   * What a source holding part of the cluster must fetch: the targets' objects, and the pods
   * the deriving sources' rules name (derive/scope.ts). Told only when it changed.
   */
  private updateScope(identities?: (sourceName: string) => SourceIdentity[]): void {
    const base = targetScopeOf(this.config);
    const deriving = identities && this.index && this.snapshot ? this.config.sources.filter((source) => source.derive).flatMap((source) => identities(source.name)) : [];
    const derivedScope = deriving.length > 0 && this.index && this.snapshot ? derivedPodScope(this.index, this.snapshot, deriving) : undefined;
    const derived = derivedScope?.watches ?? [];
    // Only a source holding part of the cluster watches: with the whole state (manifests), nothing is left unseen.
    // Without a cluster state (not yet, or lost), what is left out is not known: the last word stands.
    if (identities && this.index && this.snapshot) this.noteUnwatched(this.cluster.setTargets ? derivedScope : undefined);
    const scope = derived.length > 0 ? { ...base, pods: [...base.pods, ...derived] } : base;
    const key = JSON.stringify(scope);
    if (key === this.scopeKey) return;
    this.scopeKey = key;
    this.cluster.setTargets?.(scope);
  }

  /** Keeps the rules the derived watches' limit leaves unseen; warns when how many watches are left out changes. */
  private noteUnwatched(derived: DerivedScope | undefined): void {
    this.unwatched = derived?.unwatchedRules ?? new Set();
    const leftOut = derived?.leftOut ?? 0;
    if (leftOut === this.watchesLeftOut) return;
    this.watchesLeftOut = leftOut;
    if (leftOut > 0) {
      this.log.warn({ leftOut, limit: MAX_DERIVED_WATCHES, rules: this.unwatched.size }, `derived pod watches beyond the limit of ${MAX_DERIVED_WATCHES} are not opened: ${leftOut} left out; the rules they serve show "not watched" in rule coverage`);
    } else {
      this.log.info({ limit: MAX_DERIVED_WATCHES }, "every derived pod watch is open again");
    }
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
      this.book.configRefused(loaded.errors);
      for (const error of loaded.errors) this.log.error({ file: error.file, line: error.line, field: error.field }, `config not reloaded, keeping the last good one: ${formatInputError(error)}`);
      return;
    }
    await this.zscaler.replaceFeeds(loaded.config.zscaler);
    this.applyConfig(loaded.config);
    this.metrics.configReloadSuccessful.set(1);
    this.metrics.configReloadSuccessTimestamp.set(Date.now() / 1000);
    this.book.configLoaded();
    this.log.info({ file, edges: this.table.size }, "config reloaded");
  }

  /** The identities each configured source stands for, as the cluster state is now. */
  private identities(): (sourceName: string) => SourceIdentity[] {
    return this.sourceIdentities.of(this.config.sources, this.index);
  }

  private rebuildEdges(identities: (sourceName: string) => SourceIdentity[]): void {
    const { edges, dropped, unfilled } = expandEdges(this.config, identities, this.snapshot, this.feeds, this.options.identity.nodeName, this.index, this.unwatched);
    this.unfilled = unfilled;
    this.metrics.edgesDropped.set(dropped);
    if (dropped > 0) this.log.warn({ dropped, maxEdges: this.config.agent.maxEdges }, "more edges than agent.maxEdges: the excess is not probed");
    this.table.replace(edges);
  }

  private jobs(): Job[] {
    // Jobs look the edge up when they run: cluster changes replace Edge objects. A pod
    // source's edges share a group: they come due together and run in one worker.
    return this.table.allEdges().map((edge) => ({
      id: edge.id,
      schedule: edge.probe.schedule,
      ...(edge.source.podSource !== undefined ? { group: edge.source.podSource } : {}),
      run: async () => {
        const current = this.table.edge(edge.id);
        if (current) await this.probe(current);
      },
    }));
  }

  /** An edge's policy for an address, as the cluster state says it now (the edge table caches it). */
  private judgePolicy(edge: Edge, address: IpAddress | undefined): EdgePolicy {
    // An address the cluster state cannot place yet (it is being looked up): no guess.
    const state = address && this.index?.hasPolicies ? this.cluster.addressState?.(address) : undefined;
    const judged = state?.kind === "pending" ? unknownPolicy(state.reason) : policyForEdge(this.index, edge.source, address, edge.port, edge.protocol);
    const named = namedByWorkload(judged, edge.source);
    // A derived edge says first which rule it exercises, and with what.
    const target = edge.probe.target;
    const base = target.kind === "rule" ? { ...named, lines: [`derived from ${target.rule}: ${target.endpoint} port ${target.port}`, ...named.lines] } : named;
    const gap = this.zscaler.coverageGap(edge);
    return gap ? { ...base, coverageGap: gap, lines: [...base.lines, gap] } : base;
  }

  private async probe(edge: Edge): Promise<void> {
    const started = Date.now();
    const generation = this.generation;
    const stanceBefore = this.table.record(edge.id)?.policy.stance;
    const outcome = await this.runner.run(edge);
    const finished = Date.now();
    const current = this.table.record(edge.id);
    // The agent stopped, or the edge went away or was redefined, while it was being probed.
    if (this.stopped || !current || this.table.edge(edge.id)?.probe !== edge.probe) return;
    const starved = this.starvation.starvedDuring(started, finished);
    const address = outcome.address === undefined || outcome.address === current.address?.text ? current.address : parsedAddress(outcome.address, current.address);
    const policy = this.table.policyFor(edge, address);
    // The verdict changed while the probe ran: its packets met the old policy or the new
    // one, nobody knows which. Show the sample, judge the next one, at once.
    const straddled = generation !== this.generation && policy.stance !== stanceBefore;
    const { record, change, propagationSeconds } = withOutcome(current, outcome, starved, policy, address, new Date(finished), !straddled);
    this.table.store(record);
    if (record.observed?.reason === "agent_error") this.book.invalidSample();
    if (change) this.logChange(change);
    if (straddled) setImmediate(() => this.scheduler.runNow(edge.id));
    if (propagationSeconds !== undefined) {
      const { probe, source, source_node } = record.edge.labels;
      this.metrics.observePropagation({ probe, source, source_node }, propagationSeconds);
    }
    this.metrics.recordOutcome(record, outcome);
    this.table.probed(edge.id);
  }

  private logChange(change: StatusChange): void {
    reportStatusChange(change, this.log, this.options.events);
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

function parsedAddress(text: string, fallback: IpAddress | undefined): IpAddress | undefined {
  const parsed = parseIp(text);
  return parsed.ok ? parsed.value : fallback;
}
