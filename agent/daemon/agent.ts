// The agent: edges from the config and the cluster state, probed on schedule, each
// outcome judged against policy and intent, exported as metrics, results and logs.
// Config and cluster state can change at any time; the last good of each is kept.

import { type IpAddress, parseIp } from "../addresses/ip.js";
import { manifestFiles, loadManifests } from "../cluster/manifests.js";
import { type ClusterSnapshot, EMPTY_SNAPSHOT } from "../cluster/snapshot.js";
import { BUILTIN_CONFIG, BUILTIN_CONFIG_NAME } from "../config/builtin.js";
import { type ConfigLoad, loadConfigFile, parseConfig } from "../config/load.js";
import type { AgentConfig, TargetConfig } from "../config/model.js";
import { formatInputError, type InputError } from "../documents/located.js";
import { AgentMetrics } from "../metrics/registry.js";
import { buildPolicyIndex, type PolicyIndex } from "../policy/engine.js";
import { type ProbeOutcome, runProbe } from "../probes/index.js";
import { systemDnsServers } from "../probes/resolver.js";
import { type Job, Scheduler } from "../schedule/scheduler.js";
import { StarvationMonitor } from "../schedule/starvation.js";
import { type Edge, expandEdges } from "../targets/edges.js";
import { type EdgeRecord, newEdgeRecord, type StatusChange, withOutcome, withPolicy } from "../verdicts/edge-state.js";
import { type EdgePolicy, policyForEdge, type SourceIdentity } from "../verdicts/policy.js";
import type { SelfIdentity } from "./identity.js";
import type { Logger } from "./log.js";
import { type FileWatch, watchFiles } from "./watch.js";

export interface AgentOptions {
  /** undefined: the built-in standalone configuration. */
  readonly configFile?: string;
  /** Static cluster state from manifest files; undefined and no live cluster: the agent is outside any cluster. */
  readonly manifests?: readonly string[];
  readonly identity: SelfIdentity;
  readonly logger: Logger;
  readonly metrics?: AgentMetrics;
  /** Poll config and manifest files for changes (milliseconds; 0 disables). */
  readonly watchIntervalMs?: number;
  /** Every probe is judged on its own sample (netcanary once). */
  readonly singleSample?: boolean;
}

export type AgentStart = { ok: true; agent: Agent } | { ok: false; errors: readonly InputError[] };

export interface ResultEntry {
  readonly id: string;
  readonly probe: string;
  readonly source: string;
  readonly sourceNamespace: string;
  readonly sourceNode: string;
  readonly target: string;
  readonly targetKind: string;
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
  private index: PolicyIndex | undefined;
  private edges = new Map<string, Edge>();
  private records = new Map<string, EdgeRecord>();
  private readonly scheduler: Scheduler;
  private readonly starvation: StarvationMonitor;
  private readonly watches: FileWatch[] = [];
  private readonly log: Logger;
  private firstRoundPending = new Set<string>();

  private constructor(
    private readonly options: AgentOptions,
    config: AgentConfig,
    snapshot: ClusterSnapshot | undefined,
  ) {
    this.log = options.logger;
    this.metrics = options.metrics ?? new AgentMetrics();
    this.config = options.singleSample ? withSingleSample(config) : config;
    this.index = snapshot ? buildPolicyIndex(snapshot) : undefined;
    this.starvation = new StarvationMonitor({ thresholdMs: config.agent.starvationThresholdMs });
    this.scheduler = new Scheduler({
      maxConcurrent: config.agent.maxConcurrentProbes,
      hooks: {
        onStart: (_id, late) => this.metrics.schedulerDelay.observe(late),
        onSkip: () => this.metrics.schedulerSkipped.inc(),
      },
    });
    this.metrics.configReloadSuccessful.set(1);
    this.metrics.configReloadSuccessTimestamp.set(Date.now() / 1000);
    this.rebuildEdges();
  }

  /** Loads config and manifests; refuses to start on bad input (there is no last good yet). */
  static async create(options: AgentOptions): Promise<AgentStart> {
    const config = await loadConfig(options.configFile);
    const errors: InputError[] = config.ok ? [] : [...config.errors];
    let snapshot: ClusterSnapshot | undefined = EMPTY_SNAPSHOT;
    if (options.manifests && options.manifests.length > 0) {
      const load = await loadManifests(options.manifests);
      errors.push(...load.errors);
      snapshot = load.snapshot;
    }
    if (!config.ok || errors.length > 0) return { ok: false, errors };
    return { ok: true, agent: new Agent(options, config.config, snapshot) };
  }

  /** Starts probing on schedule, and watching the config and manifest files. */
  async start(): Promise<void> {
    this.starvation.start();
    this.scheduler.setJobs(this.jobs());
    const pollMs = this.options.watchIntervalMs ?? 1000;
    if (pollMs > 0 && this.options.configFile !== undefined) {
      const file = this.options.configFile;
      this.watches.push(await watchFiles(async () => [file], () => this.reloadConfig(), pollMs));
    }
    if (pollMs > 0 && this.options.manifests && this.options.manifests.length > 0) {
      const paths = this.options.manifests;
      this.watches.push(await watchFiles(async () => (await manifestFiles(paths)).files, () => this.reloadManifests(), pollMs));
    }
  }

  stop(): void {
    for (const watch of this.watches) watch.close();
    this.watches.length = 0;
    this.scheduler.stop();
    this.starvation.stop();
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
    if (this.firstRoundPending.size > 0) return { ready: false, reason: `first round: ${this.firstRoundPending.size} of ${this.edges.size} edges not probed yet` };
    return { ready: true };
  }

  edgeRecords(): EdgeRecord[] {
    return [...this.records.values()].sort((a, b) => (a.edge.id < b.edge.id ? -1 : 1));
  }

  results(): { results: ResultEntry[] } {
    return { results: this.edgeRecords().map(toResult) };
  }

  /** Applies a new config (from a file reload, or a test); edges that did not change keep their state. */
  applyConfig(config: AgentConfig): void {
    this.config = this.options.singleSample ? withSingleSample(config) : config;
    this.rebuildEdges();
    this.scheduler.setJobs(this.jobs());
  }

  /** Applies new cluster state: every edge's policy is re-evaluated, changed ones probed at once. */
  applySnapshot(snapshot: ClusterSnapshot | undefined): void {
    this.index = snapshot ? buildPolicyIndex(snapshot) : undefined;
    const known = new Set(this.records.keys());
    // The agent's own pod may have appeared, gone or been relabeled: identities first.
    this.rebuildEdges();
    for (const id of known) {
      const record = this.records.get(id);
      const edge = this.edges.get(id);
      if (!record || !edge) continue;
      const before = record.policy.stance;
      const { record: next, change } = withPolicy(record, this.policyFor(edge, record.address));
      this.store(next, change);
      // A verdict that changed is put to the test at once, not at the next interval.
      if (next.policy.stance !== before) this.scheduler.runNow(id);
    }
  }

  private async reloadConfig(): Promise<void> {
    const file = this.options.configFile as string;
    const loaded = await loadConfigFile(file);
    if (!loaded.ok) {
      this.metrics.configReloadSuccessful.set(0);
      for (const error of loaded.errors) this.log.error({ file: error.file, line: error.line, field: error.field }, `config not reloaded, keeping the last good one: ${formatInputError(error)}`);
      return;
    }
    this.applyConfig(loaded.config);
    this.metrics.configReloadSuccessful.set(1);
    this.metrics.configReloadSuccessTimestamp.set(Date.now() / 1000);
    this.log.info({ file, edges: this.edges.size }, "config reloaded");
  }

  private async reloadManifests(): Promise<void> {
    const paths = this.options.manifests ?? [];
    const load = await loadManifests(paths);
    if (load.errors.length > 0) {
      for (const error of load.errors) this.log.error({ file: error.file, line: error.line, field: error.field }, `manifests not reloaded, keeping the last good cluster state: ${formatInputError(error)}`);
      return;
    }
    this.applySnapshot(load.snapshot);
    this.log.info({ pods: load.snapshot.pods.length, policies: load.snapshot.policies.length }, "cluster state reloaded from manifests");
  }

  /** The identities each configured source stands for. */
  private identities(): (sourceName: string) => SourceIdentity[] {
    const self = this.options.identity;
    const pod =
      self.podNamespace && self.podName ? this.index?.podsByKey.get(`${self.podNamespace}/${self.podName}`) : undefined;
    return (sourceName) => [
      {
        name: sourceName,
        ...(pod ? { pod } : {}),
        ...(self.podIp ? { ip: self.podIp } : {}),
        ...(self.podNamespace ? { namespace: self.podNamespace } : {}),
        node: self.nodeName,
      },
    ];
  }

  private rebuildEdges(): void {
    const { edges, dropped } = expandEdges(this.config, this.identities());
    this.metrics.edgesDropped.set(dropped);
    if (dropped > 0) this.log.warn({ dropped, maxEdges: this.config.agent.maxEdges }, "more edges than agent.maxEdges: the excess is not probed");
    const next = new Map(edges.map((edge) => [edge.id, edge]));
    for (const id of this.edges.keys()) {
      if (!next.has(id)) {
        this.records.delete(id);
        this.firstRoundPending.delete(id);
        this.metrics.removeEdge(id);
      }
    }
    for (const edge of edges) {
      const existing = this.records.get(edge.id);
      // A changed probe definition (thresholds, intent, target) starts that edge afresh.
      if (existing && JSON.stringify(existing.edge.probe) === JSON.stringify(edge.probe)) {
        this.records.set(edge.id, { ...existing, edge });
        continue;
      }
      const address = staticAddress(edge.target);
      const record = newEdgeRecord(edge, this.policyFor(edge, address), address);
      this.records.set(edge.id, record);
      if (!existing) this.firstRoundPending.add(edge.id);
      this.metrics.recordState(record);
    }
    this.edges = next;
    this.metrics.edges.set(this.edges.size);
  }

  private jobs(): Job[] {
    // Jobs look the edge up when they run: cluster changes replace Edge objects.
    return [...this.edges.values()].map((edge) => ({
      id: edge.id,
      schedule: edge.probe.schedule,
      run: async () => {
        const current = this.edges.get(edge.id);
        if (current) await this.probe(current);
      },
    }));
  }

  private policyFor(edge: Edge, address: IpAddress | undefined): EdgePolicy {
    return policyForEdge(this.index, edge.source, address, edge.port, edge.protocol);
  }

  private async probe(edge: Edge): Promise<void> {
    const started = Date.now();
    const outcome = await this.runBounded(edge);
    const finished = Date.now();
    const current = this.records.get(edge.id);
    // The edge went away, or its probe was redefined, while it was being probed.
    if (!current || this.edges.get(edge.id)?.probe !== edge.probe) return;
    const starved = this.starvation.starvedDuring(started, finished);
    const probed = outcome.address !== undefined ? parseIp(outcome.address) : undefined;
    const address = probed?.ok ? probed.value : current.address;
    const policy = this.policyFor(edge, address);
    const { record, change } = withOutcome({ ...current, edge: this.edges.get(edge.id) ?? edge }, outcome, starved, policy, address, new Date(finished));
    this.store(record, change);
    this.metrics.recordOutcome(record, outcome);
    this.firstRoundPending.delete(edge.id);
  }

  /** The prober bounds itself; this watchdog guarantees it, whatever happens. */
  private runBounded(edge: Edge): Promise<ProbeOutcome> {
    const limit = edge.probe.timeoutMs + 1000;
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<ProbeOutcome>((resolve) => {
      timer = setTimeout(() => resolve({ reason: "agent_error", durationSeconds: limit / 1000, phases: {}, detail: "prober overran its deadline" }), limit);
    });
    const probe = runProbeFor(edge.target, edge.probe.timeoutMs).catch(
      (error: unknown): ProbeOutcome => ({ reason: "agent_error", durationSeconds: 0, phases: {}, detail: error instanceof Error ? error.message : String(error) }),
    );
    return Promise.race([probe, watchdog]).finally(() => clearTimeout(timer));
  }

  private store(record: EdgeRecord, change: StatusChange | undefined): void {
    this.records.set(record.edge.id, record);
    this.metrics.recordState(record);
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
    if (to === "unexpected_block" || to === "unexpected_allow" || to === "intent_violation") this.log.warn(fields, message);
    else this.log.info(fields, message);
  }
}

/** The address a target is known to have before probing (not for names to resolve). */
function staticAddress(target: TargetConfig): IpAddress | undefined {
  if (target.kind === "tcp") return target.ip;
  if (target.server.kind === "address") {
    const parsed = parseIp(target.server.server.ip);
    return parsed.ok ? parsed.value : undefined;
  }
  // The cluster resolver: the first server this process uses.
  const first = systemDnsServers()[0];
  if (!first?.ok) return undefined;
  const parsed = parseIp(first.value.ip);
  return parsed.ok ? parsed.value : undefined;
}

function runProbeFor(target: TargetConfig, timeoutMs: number): Promise<ProbeOutcome> {
  if (target.kind === "tcp") {
    return runProbe("tcp", { ...(target.host !== undefined ? { host: target.host } : {}), ...(target.ip ? { ip: target.ip.text } : {}), port: target.port }, { timeoutMs });
  }
  return runProbe(
    "dns",
    {
      query: target.query,
      type: target.type,
      server: target.server.kind === "cluster" ? "cluster" : target.server.server.setting,
      ...(target.answersIn.length > 0 ? { answersIn: target.answersIn } : {}),
    },
    { timeoutMs },
  );
}

function toResult(record: EdgeRecord): ResultEntry {
  const { labels } = record.edge;
  return {
    id: record.edge.id,
    probe: labels.probe,
    source: labels.source,
    sourceNamespace: labels.source_namespace,
    sourceNode: labels.source_node,
    target: labels.target,
    targetKind: labels.target_kind,
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
