// The probe runner: one edge's probe, run in this process or, for a pod source, in a worker
// inside the pod's network namespace (batched per pod), always bounded by a watchdog, and
// its outcome annotated (the Zscaler seam: data centre cities of DNS answers). It judges
// nothing: the agent (daemon/agent.ts) does, with the edge table.

import type { AgentConfig } from "../config/model.js";
import type { AgentMetrics } from "../metrics/registry.js";
import { type ProbeOutcome, runCall } from "../probes/index.js";
import { agentError } from "../probes/prober.js";
import { startTimer, type Timer } from "../schedule/timers.js";
import { PodBatches, type PodProbeRunner, type PodProbeSettings } from "../sources/batches.js";
import { createPodProbeRunner } from "../sources/pods.js";
import type { Edge } from "../targets/edges.js";
import type { Logger } from "../log/log.js";

export interface ProbeRunnerOptions {
  /** Runs probes inside labeled pods (tests); default: workers entered with nsenter (sources/pods.ts). */
  readonly podProbes?: PodProbeRunner;
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
  /** What is added to an outcome once it is in (its detail). */
  readonly annotate: (edge: Edge, outcome: ProbeOutcome) => ProbeOutcome;
}

function podProbeSettings(config: AgentConfig): PodProbeSettings {
  return { maxWorkers: config.agent.maxProbeWorkers, starvationThresholdMs: config.agent.starvationThresholdMs };
}

export class ProbeRunner {
  /** Batches of probes per source pod, run in one worker inside the pod; made at first use. */
  private batches: PodBatches | undefined;
  private settings: PodProbeSettings;

  constructor(
    config: AgentConfig,
    private readonly options: ProbeRunnerOptions,
  ) {
    this.settings = podProbeSettings(config);
  }

  /** The worker pool follows the config (agent.maxProbeWorkers, the starvation threshold). */
  configure(config: AgentConfig): void {
    this.settings = podProbeSettings(config);
    this.batches?.configure(this.settings);
  }

  /** The prober bounds itself; this watchdog guarantees it, whatever happens. */
  async run(edge: Edge): Promise<ProbeOutcome> {
    // Nothing to judge the answer against yet: the agent's limitation, not the network's.
    if (edge.unjudgeable) return agentError(edge.unjudgeable);
    return this.options.annotate(edge, await this.runWatched(edge));
  }

  async stop(): Promise<void> {
    await this.batches?.stop();
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
        createPodProbeRunner({ ...this.settings, logger: this.options.logger, sink: this.options.metrics.podWorkerSink() }),
    );
    return this.batches;
  }
}
