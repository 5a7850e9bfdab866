// netcanary agent: the long-running agent (the DaemonSet's process).

import { EventRecorder } from "../daemon/events.js";
import { Agent } from "../daemon/agent.js";
import { identityFromEnvironment } from "../daemon/identity.js";
import { formatInputError } from "../documents/located.js";
import { type ListenAddress, parseListen, startServer } from "../server/http.js";
import { AgentMetrics } from "../metrics/registry.js";
import { readDataplaneObservations } from "../inbound/dataplane-reader.js";
import { InboundMonitor } from "../inbound/monitor.js";
import { clusterSourceFor, parseProbeRunArgs, PROBE_RUN_USAGE } from "./agent-options.js";
import { type Command, EXIT, UsageError } from "./command.js";

export const DEFAULT_LISTEN = ":9714";

const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: "address already in use",
  EACCES: "permission denied (a port below 1024 needs privileges)",
  EADDRNOTAVAIL: "no such address on this machine",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name cannot be resolved now",
};

/** "cannot listen on 0.0.0.0:9714: address already in use", for the errors a user can fix; undefined for others. */
export function listenProblem(error: unknown, listen: ListenAddress): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === undefined ? undefined : LISTEN_ERRORS[code];
  if (reason === undefined) return undefined;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  return `cannot listen on ${host}:${listen.port}: ${reason}`;
}

const USAGE = `Usage: netcanary agent [--config <file>] [--manifests <path>... | --kubeconfig <file>] [--listen <host:port>]
                       [--log-level <level>] [--log-format <format>]

Runs the probes on schedule, judges each outcome against the NetworkPolicy verdict
and the declared intent, and serves:
  /                  the status page: edges by source and target, coloured by status,
                     with explanations, and what the verdicts rest on (read-only)
  /metrics           Prometheus metrics
  /healthz           liveness
  /readyz            ready once the cluster state is synced and every edge has been probed once
  /api/v1/results    every edge: intent, policy verdict and explanation, observation, status
                     (?probe=<name> and ?status=<status> narrow it down)
  /api/v1/status     each edge's status since when and its last observations; cluster
                     sync, config reloads, Zscaler feeds and the agent's own health
  /api/v1/inbound    with --inbound: the dataplane and, per exposed Service, whether traffic
                     from outside keeps its source address

The config file (and the manifests) are watched: a valid change applies without a
restart; an invalid one is logged and the last good one keeps running.

Options:
${PROBE_RUN_USAGE}
  --listen <host:port>   where to serve (default: ${DEFAULT_LISTEN}, all IPv4 interfaces;
                         [::]:9714 for IPv6 and IPv4)
  --inbound              read which dataplane handles Services (kube-proxy, Cilium and Calico
                         objects; needs the RBAC addition manifests/components/inbound-dataplane)

Environment (the downward API in a pod): POD_NAMESPACE, POD_NAME, POD_IP, NODE_NAME.`;

export const agentCommand: Command = {
  name: "agent",
  summary: "run the probing agent and serve metrics (the DaemonSet's process)",
  usage: USAGE,
  async run(argv, out) {
    const options = parseProbeRunArgs(argv, { listen: { type: "string", default: DEFAULT_LISTEN }, inbound: { type: "boolean", default: false } });
    const listen = parseListen(options.values["listen"] as string);
    if (!listen) throw new UsageError(`--listen must be host:port, :port or [v6]:port`);
    const metrics = new AgentMetrics();
    const identity = identityFromEnvironment();
    const cluster = await clusterSourceFor(options, metrics, identity);
    if (!cluster.ok) {
      for (const error of cluster.errors) out.stderr(formatInputError(error));
      return EXIT.unusable;
    }
    // Events only where there is an API to post them to.
    const events = cluster.kubeConfig
      ? new EventRecorder({
          kubeConfig: cluster.kubeConfig,
          component: "netcanary",
          host: identity.nodeName,
          logger: options.logger,
          onResult: (result, count) => metrics.eventsTotal.inc({ result }, count),
        })
      : undefined;
    const started = await Agent.create({
      ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
      cluster: cluster.source,
      ...(events ? { events } : {}),
      identity,
      logger: options.logger,
      metrics,
    });
    if (!started.ok) {
      for (const error of started.errors) out.stderr(formatInputError(error));
      return EXIT.unusable;
    }
    const agent = started.agent;
    const kubeConfig = cluster.kubeConfig;
    const inbound =
      options.values["inbound"] === true && kubeConfig
        ? new InboundMonitor({
            read: () => readDataplaneObservations(kubeConfig),
            snapshot: () => cluster.source.current(),
            metrics: { dataplane: metrics.inboundDataplane, service: metrics.inboundService },
            logger: options.logger,
          })
        : undefined;
    if (options.values["inbound"] === true && !inbound) options.logger.warn({}, "--inbound needs a cluster (--kubeconfig or in-cluster): not enabled");
    let server;
    try {
      server = await startServer(
        {
          registry: agent.metrics.registry,
          verdictChanges: () => agent.metrics.verdictChanges,
          readiness: () => agent.readiness(),
          results: (filter) => agent.results(filter),
          status: (filter) => agent.status(filter),
          flows: (view) => (view === "judged" ? agent.judgedFlowMap() : agent.flowMap()),
          coverage: () => agent.coverage(),
          ...(inbound ? { inbound: () => inbound.document() } : {}),
        },
        listen,
      );
    } catch (error) {
      const problem = listenProblem(error, listen);
      if (problem === undefined) throw error;
      await agent.stop();
      out.stderr(`netcanary agent: ${problem}`);
      return EXIT.unusable;
    }
    await agent.start();
    await inbound?.start();
    const where = `http://${server.address.family === "IPv6" ? `[${server.address.address}]` : server.address.address}:${server.address.port}`;
    options.logger.info(
      { config: options.configFile ?? "built-in", cluster: cluster.kind, edges: agent.edgeRecords().length, listen: where },
      `netcanary agent serving ${where}/metrics and ${where}/api/v1/results`,
    );
    return new Promise<number>((resolve) => {
      const shutdown = (signal: string) => {
        options.logger.info({ signal }, "shutting down");
        inbound?.stop();
        void Promise.all([agent.stop(), server.close()]).then(() => resolve(EXIT.ok));
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
    });
  },
};
