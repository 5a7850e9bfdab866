// netcanary agent: the long-running agent (the DaemonSet's process).

import { EventRecorder } from "../daemon/events.js";
import { Agent } from "../daemon/agent.js";
import { identityFromEnvironment } from "../daemon/identity.js";
import { formatInputError } from "../documents/located.js";
import { type ListenAddress, parseListen, startServer } from "../server/http.js";
import { AgentMetrics } from "../metrics/registry.js";
import { readDataplaneObservations } from "../inbound/dataplane-reader.js";
import { InboundMonitor } from "../inbound/monitor.js";
import { type EchoTarget, MAX_ECHO_TARGETS, parseEchoTarget, SourceCheck } from "../inbound/source-check.js";
import { type SourceEcho, startSourceEcho } from "../inbound/source-echo.js";
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
                       [--inbound] [--source-echo-port <port>] [--source-echo-target <ns/svc=host:port>]...
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
                     from outside keeps its source address; with --source-echo-target: what
                     the peer's source echo saw (sourceEcho)

The config file (and the manifests) are watched: a valid change applies without a
restart; an invalid one is logged and the last good one keeps running.

Options:
${PROBE_RUN_USAGE}
  --listen <host:port>   where to serve (default: ${DEFAULT_LISTEN}, all IPv4 interfaces;
                         [::]:9714 for IPv6 and IPv4)
  --inbound              read which dataplane handles Services (kube-proxy, Cilium and Calico
                         objects; needs the RBAC addition manifests/components/inbound-dataplane)
  --source-echo-port <port>
                         answer TCP connections on this port (on the --listen host) with the
                         address and port the connection came from, one line, then close
                         (at most 32 at once; nothing read); peers test Services with it
  --source-echo-target <namespace/service>=<host>:<port>
                         test that Service's path: connect to a peer's source echo through
                         it (a node address and NodePort, a LoadBalancer address) every
                         minute and compare the address it saw with this agent's own
                         (repeatable, at most ${MAX_ECHO_TARGETS}; per Service one address is asked,
                         chosen by node name, not this node's own: HOST_IP)

Environment (the downward API in a pod): POD_NAMESPACE, POD_NAME, POD_IP, NODE_NAME, HOST_IP.`;

/** The --source-echo-* options, checked. */
export function sourceEchoOptions(values: Record<string, unknown>): { port?: number; targets: EchoTarget[] } {
  const portText = values["source-echo-port"];
  let port: number | undefined;
  if (typeof portText === "string") {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new UsageError(`--source-echo-port must be a port number (1-65535), not "${portText}"`);
  }
  const texts = (values["source-echo-target"] as string[] | undefined) ?? [];
  if (texts.length > MAX_ECHO_TARGETS) throw new UsageError(`--source-echo-target: at most ${MAX_ECHO_TARGETS}, not ${texts.length}`);
  const targets = texts.map((text) => {
    const parsed = parseEchoTarget(text);
    if (!parsed.ok) throw new UsageError(parsed.reason);
    return parsed.target;
  });
  return { ...(port !== undefined ? { port } : {}), targets };
}

export const agentCommand: Command = {
  usage: USAGE,
  async run(argv, out) {
    const options = parseProbeRunArgs(argv, {
      listen: { type: "string", default: DEFAULT_LISTEN },
      inbound: { type: "boolean", default: false },
      "source-echo-port": { type: "string" },
      "source-echo-target": { type: "string", multiple: true },
    });
    const listen = parseListen(options.values["listen"] as string);
    if (!listen) throw new UsageError(`--listen must be host:port, :port or [v6]:port`);
    const echoOptions = sourceEchoOptions(options.values);
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
    const sourceCheck =
      echoOptions.targets.length > 0
        ? new SourceCheck({
            targets: echoOptions.targets,
            nodeName: identity.nodeName,
            ...(process.env["HOST_IP"] ? { ownNodeAddress: process.env["HOST_IP"] } : {}),
            gauge: metrics.inboundSourceEcho,
            logger: options.logger,
          })
        : undefined;
    const inboundDocument =
      inbound || sourceCheck
        ? () => ({
            ...(inbound?.document() ?? { dataplane: "unknown", evidence: ["not read: --inbound is off"], checkedAt: null, services: [] }),
            ...(sourceCheck ? { sourceEcho: sourceCheck.document() } : {}),
          })
        : undefined;
    let server;
    let echo: SourceEcho | undefined;
    try {
      if (echoOptions.port !== undefined) echo = await startSourceEcho(listen.host, echoOptions.port);
      server = await startServer(
        {
          registry: agent.metrics.registry,
          verdictChanges: () => agent.metrics.verdictChanges,
          readiness: () => agent.readiness(),
          results: (filter) => agent.results(filter),
          status: (filter) => agent.status(filter),
          flows: (view) => (view === "judged" ? agent.judgedFlowMap() : agent.flowMap()),
          trafficOn: () => agent.trafficOn(),
          coverage: () => agent.coverage(),
          ...(inboundDocument ? { inbound: inboundDocument } : {}),
        },
        listen,
      );
    } catch (error) {
      const echoFailed = echoOptions.port !== undefined && echo === undefined;
      const problem = listenProblem(error, echoFailed ? { ...listen, port: echoOptions.port as number } : listen);
      if (problem === undefined) throw error;
      await Promise.all([agent.stop(), echo?.close()]);
      out.stderr(`netcanary agent: ${problem}`);
      return EXIT.unusable;
    }
    await agent.start();
    await inbound?.start();
    await sourceCheck?.start();
    const where = `http://${server.address.family === "IPv6" ? `[${server.address.address}]` : server.address.address}:${server.address.port}`;
    options.logger.info(
      { config: options.configFile ?? "built-in", cluster: cluster.kind, edges: agent.edgeRecords().length, listen: where },
      `netcanary agent serving ${where}/metrics and ${where}/api/v1/results`,
    );
    return new Promise<number>((resolve) => {
      const shutdown = (signal: string) => {
        options.logger.info({ signal }, "shutting down");
        inbound?.stop();
        sourceCheck?.stop();
        void Promise.all([agent.stop(), server.close(), echo?.close()]).then(() => resolve(EXIT.ok));
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
    });
  },
};
