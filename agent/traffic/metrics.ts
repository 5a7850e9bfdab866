// The traffic map's metrics: flows per local workload, peer kind and direction (bounded by
// the workloads observed on the node, six peer kinds and two directions: never a peer's
// name or address), what the budget dropped, and the observer's coverage and cost. Families
// on the agent's registry; docs/metrics.md lists them.

import { Counter, Gauge, type Registry } from "prom-client";
import type { SampleReport, TrafficMetricsSink } from "./observer.js";

export class TrafficMetrics implements TrafficMetricsSink {
  private readonly flows: Gauge;
  private readonly dropped: Counter;
  private readonly pods: Gauge;
  private readonly duration: Gauge;
  private readonly malformed: Counter;

  constructor(registry: Registry) {
    this.flows = new Gauge({
      name: "netcanary_traffic_flows",
      help: "Flows in the traffic map, by local workload (namespace and kind/name), peer kind and direction.",
      labelNames: ["local_namespace", "local_workload", "peer_kind", "direction"],
      registers: [registry],
    });
    this.dropped = new Counter({
      name: "netcanary_traffic_flows_dropped_total",
      help: "Flows seen but not recorded because traffic.maxFlows was reached (each sample counts each such flow once).",
      registers: [registry],
    });
    this.pods = new Gauge({
      name: "netcanary_traffic_pods",
      help: "Pods on the node the traffic config selects (state=selected) and those whose socket tables were read in the last sample (state=observed).",
      labelNames: ["state"],
      registers: [registry],
    });
    this.duration = new Gauge({
      name: "netcanary_traffic_sample_duration_seconds",
      help: "How long the last traffic sample took (finding pods' namespaces, reading and naming their connections).",
      registers: [registry],
    });
    this.malformed = new Counter({
      name: "netcanary_traffic_malformed_lines_total",
      help: "Socket-table lines that were not what the kernel writes, skipped.",
      registers: [registry],
    });
  }

  sampled(report: SampleReport, flows: readonly { local: { namespace: string; kind: string; name: string }; peerKind: string; direction: string }[]): void {
    const counts = new Map<string, { labels: Record<string, string>; count: number }>();
    for (const flow of flows) {
      const labels = { local_namespace: flow.local.namespace, local_workload: `${flow.local.kind}/${flow.local.name}`, peer_kind: flow.peerKind, direction: flow.direction };
      const key = JSON.stringify(labels);
      const entry = counts.get(key) ?? { labels, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
    // Workloads that went from the map go from the metrics.
    this.flows.reset();
    for (const { labels, count } of counts.values()) this.flows.set(labels, count);
    if (report.dropped > 0) this.dropped.inc(report.dropped);
    if (report.malformedLines > 0) this.malformed.inc(report.malformedLines);
    this.pods.set({ state: "selected" }, report.podsSelected);
    this.pods.set({ state: "observed" }, report.podsObserved);
    this.duration.set(report.durationMs / 1000);
  }
}
