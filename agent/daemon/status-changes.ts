// An edge's status change, told: a log line (a warning for a signal), and a Kubernetes Event
// on the source pod where there is one (live mode), never on a pod outside the cluster.

import type { StatusChange } from "../verdicts/edge-state.js";
import { isSignal } from "../verdicts/judge.js";
import type { Logger } from "../log/log.js";

/** Where status changes go as Kubernetes Events (daemon/events.ts), on the source pod. */
export interface StatusChangeSink {
  recordStatusChange(change: StatusChange, pod: { readonly namespace: string; readonly name: string }): unknown;
  close(): Promise<void>;
}

export function reportStatusChange({ from, to, record }: StatusChange, log: Logger, events: StatusChangeSink | undefined): void {
  const fields = {
    ...record.edge.labels,
    from,
    to,
    reason: record.observed?.reason,
    policy: record.policy.stance,
    expectedFrom: record.expectedFrom,
    explanation: record.policy.lines,
    ...(record.observed?.detail ? { detail: record.observed.detail } : {}),
    ...(record.path ? { path: { expect: record.path.expect, ...record.path.observed } } : {}),
  };
  // A derived edge is named by the rule it exercises (docs/derive.md).
  const rule = record.edge.labels.target_kind === "rule" ? ` exercising ${record.edge.labels.target}` : "";
  const message = `edge ${record.edge.labels.probe} from ${record.edge.labels.source}${rule}: ${from} -> ${to}`;
  if (isSignal(to)) log.warn(fields, message);
  else log.info(fields, message);
  // An Event needs a pod to hang on: sources outside the cluster get only the log line.
  const pod = record.edge.source.pod;
  if (pod && !pod.workload) events?.recordStatusChange({ from, to, record }, { namespace: pod.namespace, name: pod.name });
}
