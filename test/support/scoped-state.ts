// The state a scoped agent ends up with, computed without a server: the full cluster state
// filtered by exactly the watches the agent asks for (agent/cluster/scope.ts), plus the
// answers the API server gives to its address lookups (status.podIP and spec.clusterIP field
// selectors: the first address only, as kube-apiserver selects; a Service's pods by its
// selector), assembled by the agent's own code (agent/cluster/assemble.ts). And the verdicts
// an agent computes for every edge it probes, from any snapshot. For differential tests:
// the verdicts from the full state and from the scoped one must be the same.

import type { IpAddress } from "../../agent/addresses/ip.js";
import type { LookupAnswer } from "../../agent/cluster/addresses.js";
import { addressKnowledge, assembleSnapshot, type ScopedParts, type WatchedObjects } from "../../agent/cluster/assemble.js";
import { backendSpec, nodePodsSpec, podMatcher, specSelectsService, specSelectsSlice, targetScopeOf, targetSpecs, uniqueSpecs, type WatchSpec } from "../../agent/cluster/scope.js";
import type { ClusterSnapshot, PodInfo } from "../../agent/cluster/snapshot.js";
import type { AgentConfig } from "../../agent/config/model.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";
import { podSourceIdentities, workloadOf } from "../../agent/sources/identities.js";
import { expandEdges } from "../../agent/targets/edges.js";
import { type EdgePolicy, policyForEdge, type SourceIdentity } from "../../agent/verdicts/policy.js";

export interface Identity {
  readonly podNamespace: string;
  readonly podName: string;
  readonly nodeName: string;
}

/** What the API server answers a lookup of ip with, from the full state. */
export function answerFrom(full: ClusterSnapshot, ip: IpAddress): LookupAnswer {
  const services = full.services.filter((service) => service.clusterIps[0]?.text === ip.text);
  if (services.length > 0) {
    const pods: PodInfo[] = [];
    for (const service of services) {
      const spec = backendSpec(service);
      if (spec) pods.push(...full.pods.filter(podMatcher(spec)));
    }
    return { pods, services };
  }
  return { pods: full.pods.filter((pod) => !pod.workload && pod.ips[0]?.text === ip.text), services: [] };
}

/** The watches an agent on identity.nodeName keeps for this config, and what each holds. */
export function scopedWatches(full: ClusterSnapshot, config: AgentConfig, nodeName: string): WatchedObjects[] {
  const first = [nodePodsSpec(nodeName), ...targetSpecs(targetScopeOf(config))];
  const services = full.services.filter((service) => first.some((spec) => specSelectsService(spec, service)));
  const specs: WatchSpec[] = [...first, ...services.flatMap((service) => backendSpec(service) ?? [])];
  return [...uniqueSpecs(specs).values()].map((spec) => ({
    spec,
    synced: true,
    objects:
      spec.resource === "pods"
        ? full.pods.filter(podMatcher(spec))
        : spec.resource === "services"
          ? full.services.filter((service) => specSelectsService(spec, service))
          : (full.endpointSlices ?? []).filter((slice) => specSelectsSlice(spec, slice)),
  }));
}

export interface ScopedState {
  readonly snapshot: ClusterSnapshot;
  /** The addresses that were looked up. */
  readonly lookedUp: readonly string[];
  /** Lookup answers a watch contradicted (none, from one consistent state). */
  readonly contradicted: readonly string[];
}

/** The scoped agent's snapshot: its watches, then a lookup of every address they leave unknown. */
export function scopedState(full: ClusterSnapshot, config: AgentConfig, identity: Identity): ScopedState {
  const parts: ScopedParts = {
    namespaces: full.namespaces,
    policies: full.policies,
    adminPolicies: full.adminPolicies ?? [],
    ...(full.baselinePolicy ? { baselinePolicy: full.baselinePolicy } : {}),
    watches: scopedWatches(full, config, identity.nodeName),
  };
  const watched = assembleSnapshot(parts, new Map());
  const answers = new Map<string, LookupAnswer>();
  // The agent asks about addresses only when a verdict needs them: some policy exists.
  const needed = buildPolicyIndex(watched.snapshot).hasPolicies;
  for (const { address } of judge(watched.snapshot, config, identity)) {
    if (!needed || address === undefined || answers.has(address.text)) continue;
    if (addressKnowledge(watched.known, address, () => true) === "lookup") answers.set(address.text, answerFrom(full, address));
  }
  const assembled = assembleSnapshot(parts, answers);
  return { snapshot: assembled.snapshot, lookedUp: [...answers.keys()], contradicted: [...assembled.contradicted] };
}

export interface JudgedEdge {
  readonly id: string;
  readonly address?: IpAddress;
  readonly endpoint?: string;
  readonly selection?: { readonly chosen: number; readonly of: number };
  readonly policy: EdgePolicy;
}

/** Every edge the agent probes from this snapshot, with its policy verdict (as agent.ts judges it). */
export function judge(snapshot: ClusterSnapshot, config: AgentConfig, identity: Identity): JudgedEdge[] {
  const index = buildPolicyIndex(snapshot);
  const own = index.podsByKey.get(`${identity.podNamespace}/${identity.podName}`);
  const identities = (name: string): SourceIdentity[] => {
    const source = config.sources.find((s) => s.name === name);
    if (source?.kind === "pods") return podSourceIdentities(index, source, identity.nodeName).identities;
    return [{ name, ...(own ? { pod: own, workload: workloadOf(own) } : {}), ...(own?.ips[0] ? { ip: own.ips[0] } : {}), namespace: identity.podNamespace, node: identity.nodeName }];
  };
  const { edges } = expandEdges(config, identities, snapshot, undefined, identity.nodeName);
  return edges.map((edge) => ({
    id: edge.id,
    ...(edge.address ? { address: edge.address } : {}),
    ...(edge.endpoint !== undefined ? { endpoint: edge.endpoint } : {}),
    ...(edge.selection ? { selection: edge.selection } : {}),
    policy: policyForEdge(index, edge.source, edge.address, edge.port, edge.protocol),
  }));
}

/** Pods of the full state the scoped one leaves out (for checking that scoping happened). */
export function podsLeftOut(full: ClusterSnapshot, scoped: ClusterSnapshot): PodInfo[] {
  const kept = new Set(scoped.pods.map((pod) => `${pod.namespace}/${pod.name}`));
  return full.pods.filter((pod) => !kept.has(`${pod.namespace}/${pod.name}`));
}
