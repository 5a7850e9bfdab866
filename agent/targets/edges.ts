// Probe edges: one per (probe, source identity, target). The config says what to probe
// from which source; this expands it into the edges the scheduler runs and the metrics name.

import type { Protocol } from "../cluster/snapshot.js";
import type { AgentConfig, ProbeConfig, TargetConfig } from "../config/model.js";
import type { SourceIdentity } from "../verdicts/policy.js";

/**
 * Metric labels of an edge. Bounded: the source by its config name, namespace and node,
 * never a pod name; the target as configured, never an address found at run time.
 */
export interface EdgeLabels {
  readonly probe: string;
  readonly source: string;
  readonly source_namespace: string;
  readonly source_node: string;
  readonly target: string;
  readonly target_kind: string;
  readonly port: string;
  readonly protocol: Protocol;
}

export interface Edge {
  readonly id: string;
  readonly probe: ProbeConfig;
  readonly source: SourceIdentity;
  readonly target: TargetConfig;
  readonly port: number;
  readonly protocol: Protocol;
  readonly labels: EdgeLabels;
}

function describeTarget(target: TargetConfig): { name: string; kind: string; port: number; protocol: Protocol } {
  if (target.kind === "dns") {
    return { name: target.query, kind: "dns", port: target.server.kind === "address" ? target.server.server.port : 53, protocol: "UDP" };
  }
  if (target.host !== undefined) return { name: target.host, kind: "host", port: target.port, protocol: "TCP" };
  return { name: target.ip?.text ?? "", kind: "ip", port: target.port, protocol: "TCP" };
}

export function edgeFor(probe: ProbeConfig, source: SourceIdentity): Edge {
  const target = describeTarget(probe.target);
  const labels: EdgeLabels = {
    probe: probe.name,
    source: source.name,
    source_namespace: source.namespace ?? "",
    source_node: source.node ?? "",
    target: target.name,
    target_kind: target.kind,
    port: String(target.port),
    protocol: target.protocol,
  };
  return {
    id: [labels.probe, labels.source, source.workload ?? "", labels.target, labels.port, labels.protocol].join("|"),
    probe,
    source,
    target: probe.target,
    port: target.port,
    protocol: target.protocol,
    labels,
  };
}

/**
 * Every edge the config asks for, given the identities each source stands for on this
 * node. Sorted by id so that the budget (maxEdges) always keeps the same ones.
 */
export function expandEdges(config: AgentConfig, identities: (sourceName: string) => readonly SourceIdentity[]): { edges: Edge[]; dropped: number } {
  const edges: Edge[] = [];
  for (const probe of config.probes) {
    for (const sourceName of probe.sources) {
      for (const identity of identities(sourceName)) edges.push(edgeFor(probe, identity));
    }
  }
  edges.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const kept = edges.slice(0, config.agent.maxEdges);
  return { edges: kept, dropped: edges.length - kept.length };
}
