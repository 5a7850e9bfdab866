// The real PodProbeRunner: find the pod's network namespace by its IP (netns.ts), read the
// pod's own resolvers, and run the batch in one worker inside that namespace (workers.ts).
// Everything that goes wrong here is the agent's fault, reported as agent_error with the
// reason, so a missing capability never reads as a network that drops packets.

import { isIpLiteral } from "../addresses/ip.js";
import type { ProbeRequest } from "../probes/index.js";
import { agentError, type ProbeOutcome } from "../probes/prober.js";
import type { PodProbeRunner, PodProbeSettings, SourcePod } from "./batches.js";
import { createNetnsLocator, podNameservers } from "./netns.js";
import { WorkerPool, type WorkerLogger, type WorkerRunReport } from "./workers.js";

export interface PodProbeRunnerOptions extends PodProbeSettings {
  readonly logger?: WorkerLogger;
  readonly sink?: { run(result: "ok" | "failed" | "killed", seconds: number): void };
  /** Overrides for tests: a fake /proc, the built worker, another nsenter. */
  readonly procRoot?: string;
  readonly workerScript?: string | URL;
  readonly nsenterPath?: string;
}

/** Whether a probe resolves through the source's own resolvers ("cluster" DNS, a TCP host name). */
function usesPodResolvers(request: ProbeRequest): boolean {
  const { call } = request;
  if (call.kind === "dns") return call.target.server === "cluster";
  return call.target.ip === undefined && call.target.dnsServer === undefined && call.target.host !== undefined && !isIpLiteral(call.target.host);
}

function resultOf(report: WorkerRunReport): "ok" | "failed" | "killed" {
  if (report.killed) return "killed";
  return report.failure !== undefined ? "failed" : "ok";
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
    onRun: (report) => options.sink?.run(resultOf(report), report.spawnToExitMs / 1000),
  });

  let starvationThresholdMs = options.starvationThresholdMs;
  return {
    configure(settings: PodProbeSettings): void {
      pool.setMaxWorkers(settings.maxWorkers);
      starvationThresholdMs = settings.starvationThresholdMs;
    },
    async run(pod: SourcePod, requests: readonly ProbeRequest[]): Promise<Map<string, ProbeOutcome>> {
      const outcomes = new Map<string, ProbeOutcome>();
      const found = await locator.find(pod.ip);
      if (!found.ok) {
        const failure = agentError(`cannot enter the network namespace of ${pod.key}: ${found.reason}`);
        for (const request of requests) outcomes.set(request.id, failure);
        return outcomes;
      }
      let runnable = requests;
      let dnsServers: readonly string[] | undefined;
      if (requests.some(usesPodResolvers)) {
        const resolvers = await podNameservers(found.pids, procRoot);
        if (resolvers.ok) dnsServers = resolvers.nameservers;
        else {
          // The agent's own resolvers are not the pod's (dnsPolicy, dnsConfig): judging the
          // pod's DNS path with them would be a guess, so those probes are not run.
          const failure = agentError(`${pod.key}: ${resolvers.reason}`);
          for (const request of requests) if (usesPodResolvers(request)) outcomes.set(request.id, failure);
          runnable = requests.filter((request) => !usesPodResolvers(request));
        }
      }
      const ran = await pool.run(found.pid, runnable, { ...(dnsServers ? { dnsServers } : {}), netnsInode: found.inode, sourceIp: pod.ip, starvationThresholdMs });
      for (const [id, outcome] of ran) outcomes.set(id, outcome);
      return outcomes;
    },
    stop: () => pool.stop(),
  };
}
