// The traffic map as Prometheus series, for the live agent: how many observed flows connect
// each client to each server with each verdict, and how many observed flows each staged
// policy would deny. The series are computed from plain data (trafficSeries, stagedSeries:
// pure) and published by TrafficMetrics on the agent's registry, replacing the last set whole.
//
// Labels are bounded by the cluster, never by addresses: a client or server is a workload
// ("kind/namespace/name"), a Service ("service/namespace/name"), a node ("node/name"), a Zscaler
// cloud and city ("zscaler/cloud/city"), a configured external range by its name
// ("external/name") and every other external address as "external/other"; an unnamed peer is
// "unnamed". No port, no address. The flow budget of the observer bounds the workloads.

import { Gauge, type Registry } from "prom-client";
import type { FlowPeer, ObservedFlow } from "./flow.js";
import { workloadKey } from "./flow.js";
import type { FlowJudgement, FlowVerdict } from "./judge.js";
import type { StagedResult } from "./staged.js";

export const TRAFFIC_FLOW_LABELS = ["client", "server", "client_namespace", "server_namespace", "peer_kind", "direction", "verdict"] as const;
export type TrafficFlowLabel = (typeof TRAFFIC_FLOW_LABELS)[number];
export const STAGED_LABELS = ["policy_namespace", "policy"] as const;
export type StagedLabel = (typeof STAGED_LABELS)[number];

export interface Series<L extends string> {
  readonly labels: Readonly<Record<L, string>>;
  readonly value: number;
}

/** A peer as a node of the map: bounded, never an address. */
export function peerNode(peer: FlowPeer): { name: string; namespace: string } {
  switch (peer.kind) {
    case "workload":
      return { name: workloadKey(peer.workload), namespace: peer.workload.namespace };
    case "service":
      return { name: `service/${peer.namespace}/${peer.name}`, namespace: peer.namespace };
    case "node":
      return { name: `node/${peer.name}`, namespace: "" };
    case "zscaler":
      return { name: `zscaler/${peer.cloud}/${peer.city ?? "unlisted"}`, namespace: "" };
    case "external":
      return { name: `external/${peer.name ?? "other"}`, namespace: "" };
    case "unnamed":
      return { name: "unnamed", namespace: "" };
  }
}

/** One series per (client, server, direction, verdict): the number of flows (ports and protocols) in it. Pure. */
export function trafficSeries(flows: readonly ObservedFlow[], judgements: readonly FlowJudgement[]): Series<TrafficFlowLabel>[] {
  const groups = new Map<string, { labels: Record<TrafficFlowLabel, string>; value: number }>();
  flows.forEach((flow, i) => {
    const verdict: FlowVerdict = judgements[i]?.verdict ?? "unknown";
    const local = { name: workloadKey(flow.local), namespace: flow.local.namespace };
    const peer = peerNode(flow.peer);
    const [client, server] = flow.direction === "outbound" ? [local, peer] : [peer, local];
    const labels: Record<TrafficFlowLabel, string> = {
      client: client.name,
      server: server.name,
      client_namespace: client.namespace,
      server_namespace: server.namespace,
      peer_kind: flow.peer.kind,
      direction: flow.direction,
      verdict,
    };
    const key = TRAFFIC_FLOW_LABELS.map((l) => labels[l]).join("\u0000");
    const group = groups.get(key) ?? { labels, value: 0 };
    group.value += 1;
    groups.set(key, group);
  });
  return [...groups.values()];
}

/** One series per staged policy: the observed flows it would deny if applied. Pure. */
export function stagedSeries(staged: StagedResult): Series<StagedLabel>[] {
  return staged.policies.map((report) => ({ labels: { policy_namespace: report.namespace ?? "", policy: report.name ?? report.policy }, value: report.wouldDeny.length }));
}

export class TrafficMetrics {
  readonly flows: Gauge<TrafficFlowLabel>;
  readonly stagedWouldDeny: Gauge<StagedLabel>;
  readonly stagedAllWouldDeny: Gauge;

  constructor(registry: Registry) {
    this.flows = new Gauge({
      name: "netcanary_traffic_flows",
      help: "Observed flows (distinct ports and protocols) from client to server, by where they were seen (direction) and the verdict the policies in force give them (allow, deny, mixed, unknown).",
      labelNames: TRAFFIC_FLOW_LABELS,
      registers: [registry],
    });
    this.stagedWouldDeny = new Gauge({
      name: "netcanary_staged_policy_would_deny_flows",
      help: "Observed flows a staged NetworkPolicy would deny if applied alone on top of the policies in force.",
      labelNames: STAGED_LABELS,
      registers: [registry],
    });
    this.stagedAllWouldDeny = new Gauge({
      name: "netcanary_staged_policies_would_deny_flows",
      help: "Observed flows the staged NetworkPolicies would deny if all were applied together.",
      registers: [registry],
    });
  }

  /** Replaces the map's series with these (a flow gone from the map loses its series). */
  publishFlows(series: readonly Series<TrafficFlowLabel>[]): void {
    this.flows.reset();
    for (const s of series) this.flows.set(s.labels, s.value);
  }

  /** Replaces the staged series; undefined: nothing is staged (no series). */
  publishStaged(staged: StagedResult | undefined): void {
    this.stagedWouldDeny.reset();
    this.stagedAllWouldDeny.reset();
    if (!staged) return;
    for (const s of stagedSeries(staged)) this.stagedWouldDeny.set(s.labels, s.value);
    this.stagedAllWouldDeny.set(staged.all.wouldDeny.length);
  }
}
