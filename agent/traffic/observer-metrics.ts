// The traffic observer's own metrics: what the budget dropped, which selected pods it could
// read, and what a sample costs. The map's flows are published apart (traffic/metrics.ts,
// by client, server and verdict). Families on the agent's registry; docs/metrics.md lists them.

import { Counter, Gauge, type Registry } from "prom-client";
import type { SampleReport } from "./observer.js";

export class ObserverMetrics {
  private readonly dropped: Counter;
  private readonly pods: Gauge;
  private readonly duration: Gauge;
  private readonly malformed: Counter;

  constructor(registry: Registry) {
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

  sampled(report: SampleReport): void {
    if (report.dropped > 0) this.dropped.inc(report.dropped);
    if (report.malformedLines > 0) this.malformed.inc(report.malformedLines);
    this.pods.set({ state: "selected" }, report.podsSelected);
    this.pods.set({ state: "observed" }, report.podsObserved);
    this.duration.set(report.durationMs / 1000);
  }
}
