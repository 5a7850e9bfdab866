// Many edges for tests that need an agent's worth of them: TCP edges from the agent's own pod
// with label values as long as a cluster's, each with one probe outcome recorded in the
// metrics as the agent records it (state, counter, durations, status, info).
import { parseIp } from "../../agent/addresses/ip.js";
import type { ProbeConfig } from "../../agent/config/model.js";
import type { AgentMetrics } from "../../agent/metrics/registry.js";
import type { ProbeOutcome } from "../../agent/probes/prober.js";
import { concreteTargets, type Edge, edgeFor } from "../../agent/targets/edges.js";
import { type EdgeRecord, newEdgeRecord, withOutcome } from "../../agent/verdicts/edge-state.js";
import type { EdgePolicy } from "../../agent/verdicts/policy.js";

export const NODE_NAME = "ip-10-120-33-187.eu-central-1.compute.internal";

export function tcpEdge(name: string, ip = "192.0.2.10", port = 443): Edge {
  const address = parseIp(ip);
  if (!address.ok) throw new Error(address.reason);
  const probe: ProbeConfig = {
    name,
    sources: ["self"],
    expect: null,
    schedule: { kind: "interval", intervalMs: 30_000 },
    timeoutMs: 2000,
    failureThreshold: 3,
    successThreshold: 1,
    target: { kind: "tcp", ip: address.value, port },
  };
  const [target] = concreteTargets(probe.target, undefined);
  if (!target) throw new Error("no concrete target");
  return edgeFor(probe, { name: "self", namespace: "netcanary", node: NODE_NAME, workload: "daemonset/netcanary" }, target);
}

export const ALLOW: EdgePolicy = { stance: "allow", summary: "allow", lines: ["not isolated"], egressRule: "not_isolated", ingressRule: "not_applicable", cniDependent: false };

/** `count` edges, each probed once (ok), recorded in the metrics; their records. */
export function recordEdges(metrics: AgentMetrics, count: number): EdgeRecord[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => {
    const outcome: ProbeOutcome = { reason: "ok", durationSeconds: 0.0012, phases: { connect: 0.0012 }, address: "192.0.2.10" };
    const fresh = newEdgeRecord(tcpEdge(`checkout-api-to-payments-${String(i).padStart(width, "0")}`), ALLOW);
    const { record } = withOutcome(fresh, outcome, false, ALLOW, undefined, new Date());
    metrics.recordState(record);
    metrics.recordOutcome(record, outcome);
    return record;
  });
}
