// Probing from labeled pods: the probes of one pod that come due together run as one batch,
// in one short-lived worker inside the pod's network namespace. A failure to find the
// namespace or to run the worker is the agent's own (agent_error), never a network fault.

import type { ProbeRequest } from "../probes/index.js";
import { agentError, type ProbeOutcome } from "../probes/prober.js";

/** The pod to probe from: "namespace/name" (for messages), its IP and UID (to find its namespace). */
export interface SourcePod {
  readonly key: string;
  readonly ip: string;
  readonly uid: string | undefined;
}

/** The agent's settings a runner follows across config reloads. */
export interface PodProbeSettings {
  /** Worker processes alive at once (agent.maxProbeWorkers). */
  readonly maxWorkers: number;
  /** agent.starvationThreshold, for the workers' own starvation check. */
  readonly starvationThresholdMs: number;
}

/** What running probes inside a pod takes (sources/pods.ts; tests inject their own). */
export interface PodProbeRunner {
  /** Every request gets an outcome, by id; never rejects. */
  run(pod: SourcePod, requests: readonly ProbeRequest[]): Promise<Map<string, ProbeOutcome>>;
  /** New settings from a config reload. */
  configure?(settings: PodProbeSettings): void;
  /** Kills workers in flight; later runs fail at once. */
  stop(): Promise<void>;
}

interface Pending {
  readonly request: ProbeRequest;
  readonly resolve: (outcome: ProbeOutcome) => void;
}

export class PodBatches {
  private readonly pending = new Map<string, { pod: SourcePod; items: Pending[]; timer: NodeJS.Timeout }>();
  /** Probes (by id) waiting for or running in a worker. */
  private readonly inFlight = new Set<string>();

  /** windowMs: how long a batch waits for the other probes of its pod that come due with it. */
  constructor(
    private readonly runner: PodProbeRunner,
    private readonly windowMs = 50,
  ) {}

  probe(pod: SourcePod, request: ProbeRequest): Promise<ProbeOutcome> {
    // The agent's watchdog gave up on the previous run of this probe, but its worker still
    // holds it: never two runs of one probe at once, and no queue that grows every round.
    if (this.inFlight.has(request.id)) return Promise.resolve(agentError(`the previous run of this probe from ${pod.key} is still waiting for or running in its worker`));
    this.inFlight.add(request.id);
    return new Promise<ProbeOutcome>((resolve) => {
      const batch = this.pending.get(pod.key);
      if (batch) {
        batch.items.push({ request, resolve });
        return;
      }
      const timer = setTimeout(() => void this.flush(pod.key), this.windowMs);
      timer.unref();
      this.pending.set(pod.key, { pod, items: [{ request, resolve }], timer });
    });
  }

  private async flush(key: string): Promise<void> {
    const batch = this.pending.get(key);
    if (!batch) return;
    this.pending.delete(key);
    let results: Map<string, ProbeOutcome>;
    try {
      results = await this.runner.run(
        batch.pod,
        batch.items.map((item) => item.request),
      );
    } catch (error) {
      results = new Map();
      const failure = agentError(`probe worker for ${key}: ${error instanceof Error ? error.message : String(error)}`);
      for (const item of batch.items) results.set(item.request.id, failure);
    }
    for (const item of batch.items) {
      this.inFlight.delete(item.request.id);
      item.resolve(results.get(item.request.id) ?? agentError("the probe worker returned no result for this probe"));
    }
  }

  configure(settings: PodProbeSettings): void {
    this.runner.configure?.(settings);
  }

  /** Settles whatever still waits, and stops the runner (the agent is stopping). */
  async stop(): Promise<void> {
    for (const [key, batch] of this.pending) {
      clearTimeout(batch.timer);
      for (const item of batch.items) item.resolve(agentError(`the agent stopped before ${key} was probed`));
    }
    this.pending.clear();
    this.inFlight.clear();
    await this.runner.stop();
  }
}
