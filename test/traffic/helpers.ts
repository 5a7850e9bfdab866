// Test helpers for the traffic map: workloads, peers and flows as plain data, and the recorded
// fixture maps (test/fixtures/traffic).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FlowMap, FlowPeer, FlowWorkload, ObservedFlow } from "../../agent/traffic/flow.js";
import { parseFlowMap } from "../../agent/traffic/map-file.js";

export const fixtureDir = join(import.meta.dirname, "..", "fixtures", "traffic");

export function workload(ref: string, labels: Record<string, string>, kind = "deployment"): FlowWorkload {
  const [namespace, name] = ref.split("/") as [string, string];
  return { namespace, kind, name, labels };
}

export function toWorkload(w: FlowWorkload): FlowPeer {
  return { kind: "workload", workload: w };
}

export function flow(local: FlowWorkload, peer: FlowPeer, port: number, options: Partial<ObservedFlow> = {}): ObservedFlow {
  return {
    direction: "outbound",
    protocol: "TCP",
    local,
    peer,
    port,
    remoteAddresses: [],
    localAddresses: [],
    firstSeen: "2026-12-07T08:00:00Z",
    lastSeen: "2026-12-07T08:10:00Z",
    observations: 1,
    evidence: ["socket-table"],
    ...options,
  };
}

export function flowMap(flows: readonly ObservedFlow[], namespaces: FlowMap["namespaces"] = []): FlowMap {
  return {
    apiVersion: "netcanary/v1",
    kind: "FlowMap",
    from: "2026-12-07T08:00:00Z",
    until: "2026-12-07T09:00:00Z",
    namespaces,
    flows,
    coverage: { podsSelected: 1, podsObserved: 1, missed: [], sources: [], droppedFlows: 0 },
  };
}

/** A fixture map, read and checked as the CLI reads it. */
export function fixtureMap(name: string): FlowMap {
  const file = join(fixtureDir, name);
  const read = parseFlowMap(readFileSync(file, "utf8"), file);
  if (!read.ok) throw new Error(JSON.stringify(read.errors));
  return read.map;
}
