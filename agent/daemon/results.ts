// The results view: each edge's record as the results API and `netcanary once` show it
// (what was probed, from where, what policy and intent say, what was seen, its status).
// Pure: records in, plain JSON-ready entries out.

import type { EdgeRecord } from "../verdicts/edge-state.js";
import type { PathExpectation, PathObservation } from "../zscaler/path.js";

export interface ResultEntry {
  readonly id: string;
  readonly probe: string;
  readonly source: string;
  readonly sourceNamespace: string;
  readonly sourceNode: string;
  /** The source pod's workload, "kind/name" (a pod source is never named by its pod). */
  readonly sourceWorkload: string;
  readonly target: string;
  readonly targetKind: string;
  /** The pod behind a Service endpoint or a pod target, "namespace/name". */
  readonly endpoint?: string;
  /**
   * For a target of many endpoints (pods, a Service via endpoints): how many this agent
   * probes of how many there are (agent.maxEndpointsPerTarget, its share by rendezvous hashing).
   */
  readonly selection?: { readonly chosen: number; readonly of: number };
  /** The address probed (last resolved, for names). */
  readonly address?: string;
  readonly port: number;
  readonly protocol: string;
  readonly intent: "allow" | "deny" | null;
  readonly policy: {
    readonly verdict: "allow" | "deny" | "unknown";
    readonly expectedFrom: "policy" | "intent" | null;
    readonly explanation: { readonly summary: string; readonly lines: readonly string[]; readonly egressRule: string; readonly ingressRule: string; readonly cniDependent: boolean };
  };
  readonly observed: { readonly reason: string; readonly durationSeconds: number; readonly at: string; readonly address?: string; readonly detail?: string } | null;
  /**
   * A path check's state: what it expects, the last path seen (cloud and city as labelled,
   * the data centre as the page names it, the egress address) and whether unexpected_path is raised.
   */
  readonly path?: {
    readonly expect: PathExpectation;
    readonly raised: boolean;
    readonly observed: PathObservation | null;
  };
  readonly signals: readonly string[];
  readonly status: string;
}

/** Which results to show: one probe's, and/or those of one status. */
export interface ResultFilter {
  readonly probe?: string;
  readonly status?: string;
}

/** The records (sorted by edge id) that pass the filter, as entries. */
export function resultsOf(records: readonly EdgeRecord[], filter: ResultFilter = {}): { results: ResultEntry[] } {
  const chosen = records.filter(
    (record) => (filter.probe === undefined || record.edge.labels.probe === filter.probe) && (filter.status === undefined || record.status === filter.status),
  );
  return { results: chosen.map(toResult) };
}

function toResult(record: EdgeRecord): ResultEntry {
  const { labels } = record.edge;
  return {
    id: record.edge.id,
    probe: labels.probe,
    source: labels.source,
    sourceNamespace: labels.source_namespace,
    sourceNode: labels.source_node,
    sourceWorkload: labels.source_workload,
    target: labels.target,
    targetKind: labels.target_kind,
    ...(record.edge.endpoint !== undefined ? { endpoint: record.edge.endpoint } : {}),
    ...(record.edge.selection !== undefined ? { selection: record.edge.selection } : {}),
    ...(record.address ? { address: record.address.text } : {}),
    port: record.edge.port,
    protocol: labels.protocol,
    intent: record.edge.probe.expect,
    policy: {
      verdict: record.policy.stance,
      expectedFrom: record.expectedFrom,
      explanation: {
        summary: record.policy.summary,
        lines: record.policy.lines,
        egressRule: record.policy.egressRule,
        ingressRule: record.policy.ingressRule,
        cniDependent: record.policy.cniDependent,
      },
    },
    observed: record.observed
      ? {
          reason: record.observed.reason,
          durationSeconds: record.observed.durationSeconds,
          at: record.observed.at,
          ...(record.observed.address !== undefined ? { address: record.observed.address } : {}),
          ...(record.observed.detail !== undefined ? { detail: record.observed.detail } : {}),
        }
      : null,
    ...(record.path !== undefined ? { path: { expect: record.path.expect, raised: record.path.raised, observed: record.path.observed ?? null } } : {}),
    signals: record.signals,
    status: record.status,
  };
}
