// The real PodProbeRunner: find the pod's network namespace by its IP (netns.ts) and run the
// batch in one worker inside that namespace (workers.ts); the worker reads the pod's own
// resolvers from the pod's root (the agent never opens a file of the pod's).
// Everything that goes wrong here is the agent's fault, reported as agent_error with the
// reason, so a missing capability never reads as a network that drops packets.

import type { ProbeRequest } from "../probes/index.js";
import { agentError, type ProbeOutcome } from "../probes/prober.js";
import type { PodProbeRunner, PodProbeSettings, SourcePod } from "./batches.js";
import { createNetnsLocator } from "./netns.js";
import { type WorkerFailureKind, WorkerPool, type WorkerLogger, type WorkerRunReport } from "./workers.js";

export interface PodProbeRunnerOptions extends PodProbeSettings {
  readonly logger?: WorkerLogger;
  readonly sink?: WorkerRunSink;
  /** Overrides for tests: a fake /proc, the built worker, another nsenter. */
  readonly procRoot?: string;
  readonly workerScript?: string | URL;
  readonly nsenterPath?: string;
}

/** Where each worker run is counted: its result, its spawn-to-exit time, and what failed (never a pool that stopped). */
export interface WorkerRunSink {
  run(result: "ok" | "failed" | "killed", seconds: number, failure?: WorkerFailureKind): void;
}

function resultOf(report: WorkerRunReport): "ok" | "failed" | "killed" {
  if (report.killed) return "killed";
  return report.failure !== undefined ? "failed" : "ok";
}

/** The pool's onRun for a sink: one count per run, and its failure's kind unless the pool was stopping. */
export function recordWorkerRun(sink: WorkerRunSink): (report: WorkerRunReport) => void {
  return (report) => {
    const failure = report.failure !== undefined && report.failure.kind !== "stopped" ? report.failure.kind : undefined;
    sink.run(resultOf(report), report.spawnToExitMs / 1000, failure);
  };
}

export function createPodProbeRunner(options: PodProbeRunnerOptions): PodProbeRunner {
  const procRoot = options.procRoot ?? "/proc";
  const locator = createNetnsLocator({ procRoot });
  const pool = new WorkerPool({
    maxWorkers: options.maxWorkers,
    procRoot,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.workerScript !== undefined ? { workerScript: options.workerScript } : {}),
    ...(options.nsenterPath !== undefined ? { nsenterPath: options.nsenterPath } : {}),
    ...(options.sink ? { onRun: recordWorkerRun(options.sink) } : {}),
  });

  let starvationThresholdMs = options.starvationThresholdMs;
  return {
    configure(settings: PodProbeSettings): void {
      pool.setMaxWorkers(settings.maxWorkers);
      starvationThresholdMs = settings.starvationThresholdMs;
    },
    async run(pod: SourcePod, requests: readonly ProbeRequest[]): Promise<Map<string, ProbeOutcome>> {
      const outcomes = new Map<string, ProbeOutcome>();
      const found = await locator.find({ ip: pod.ip, uid: pod.uid });
      if (!found.ok) {
        const failure = agentError(`cannot enter the network namespace of ${pod.key}: ${found.reason}`);
        for (const request of requests) outcomes.set(request.id, failure);
        return outcomes;
      }
      const resolvConfRoots = found.pids.map((pid) => `${procRoot}/${pid}/root`);
      const ran = await pool.run(found.pid, requests, { resolvConfRoots, netnsInode: found.inode, sourceIp: pod.ip, starvationThresholdMs });
      for (const [id, outcome] of ran) outcomes.set(id, outcome);
      return outcomes;
    },
    stop: () => pool.stop(),
  };
}
