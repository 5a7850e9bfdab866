// The snapshot of a scoped agent (scope.ts): the cluster-wide kinds, every watch's objects
// and every address lookup's answer (addresses.ts), each object once, for the unchanged
// engine. A synced watch is the truth for what it selects: an object a lookup found that a
// synced watch covers but does not hold is gone or changed, so that answer is left out and
// asked again. Also what the result says addresses are, for deciding what to look up. Pure.

import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from "../policy/admin-model.js";
import type { NetworkPolicy } from "../policy/model.js";
import type { AddressState, LookupAnswer } from "./addresses.js";
import { backendSpec, podMatcher, specSelectsService, type WatchSpec } from "./scope.js";
import { type ClusterSnapshot, type EndpointSliceInfo, type NamespaceInfo, type PodInfo, podKey, type ServiceInfo } from "./snapshot.js";
import type { IpAddress, IpFamily } from "../addresses/ip.js";

/** One watch: what it asks for, whether it has synced, what it holds. */
export interface WatchedObjects {
  readonly spec: WatchSpec;
  readonly synced: boolean;
  readonly objects: Iterable<PodInfo | ServiceInfo | EndpointSliceInfo>;
}

export interface ScopedParts {
  readonly namespaces: readonly NamespaceInfo[];
  readonly policies: readonly NetworkPolicy[];
  readonly adminPolicies: readonly AdminNetworkPolicy[];
  readonly baselinePolicy?: BaselineAdminNetworkPolicy;
  readonly watches: readonly WatchedObjects[];
}

/** What an assembled snapshot says addresses are. */
export interface KnownAddresses {
  /** Addresses of pods not on the host network (a host-network pod's is its node's). */
  readonly podIps: ReadonlySet<string>;
  /** Cluster IPs, with whether the Service is watched (else it was looked up, with its pods). */
  readonly services: ReadonlyMap<string, { readonly service: ServiceInfo; readonly watched: boolean }>;
  /** A dual-stack pod's address families, first first; undefined: single-stack as far as seen. */
  readonly familyOrder?: readonly [IpFamily, IpFamily];
}

export interface Assembled {
  readonly snapshot: ClusterSnapshot;
  readonly known: KnownAddresses;
  /** Addresses whose answers a synced watch contradicts: to be asked again. */
  readonly contradicted: ReadonlySet<string>;
}

export function assembleSnapshot(parts: ScopedParts, answers: ReadonlyMap<string, LookupAnswer>): Assembled {
  const pods = new Map<string, PodInfo>();
  const services = new Map<string, ServiceInfo>();
  const slices = new Map<string, EndpointSliceInfo>();
  const podCoverage: ((pod: PodInfo) => boolean)[] = [];
  const serviceCoverage: WatchSpec[] = [];
  for (const { spec, synced, objects } of parts.watches) {
    for (const object of objects) {
      if (spec.resource === "pods") pods.set(podKey(object as PodInfo), object as PodInfo);
      else if (spec.resource === "services") services.set(`${object.namespace}/${object.name}`, object as ServiceInfo);
      else slices.set(`${object.namespace}/${object.name}`, object as EndpointSliceInfo);
    }
    if (!synced) continue;
    if (spec.resource === "pods") podCoverage.push(podMatcher(spec));
    if (spec.resource === "services") serviceCoverage.push(spec);
  }
  const watched = new Set(services.keys());
  const contradicted = new Set<string>();
  for (const [address, answer] of answers) {
    for (const service of answer.services) {
      const key = `${service.namespace}/${service.name}`;
      if (services.has(key)) continue;
      if (serviceCoverage.some((spec) => specSelectsService(spec, service))) contradicted.add(address);
      else services.set(key, service);
    }
    for (const pod of answer.pods) {
      const key = podKey(pod);
      if (pods.has(key)) continue;
      if (podCoverage.some((covers) => covers(pod))) contradicted.add(address);
      else pods.set(key, pod);
    }
  }
  const podIps = new Set<string>();
  let familyOrder: [IpFamily, IpFamily] | undefined;
  for (const pod of pods.values()) {
    if (pod.hostNetwork) continue;
    for (const ip of pod.ips) podIps.add(ip.text);
    const [first, second] = pod.ips;
    if (first && second && !familyOrder) familyOrder = [first.family, second.family];
  }
  const byIp = new Map<string, { service: ServiceInfo; watched: boolean }>();
  for (const [key, service] of services) for (const ip of service.clusterIps) byIp.set(ip.text, { service, watched: watched.has(key) });
  return {
    snapshot: {
      namespaces: parts.namespaces,
      // In key order, as the API lists them: where the engine names one of several pods (the
      // first backend of a Service), it is the same one whichever watch or lookup brought it.
      pods: sortedValues(pods),
      policies: parts.policies,
      services: sortedValues(services),
      endpointSlices: sortedValues(slices),
      adminPolicies: parts.adminPolicies,
      ...(parts.baselinePolicy ? { baselinePolicy: parts.baselinePolicy } : {}),
    },
    known: { podIps, services: byIp, ...(familyOrder ? { familyOrder } : {}) },
    contradicted,
  };
}

/**
 * What the assembled state knows of an address: known (a pod's, a Service's whose pods are
 * all held, or settled by a lookup), pending (a watched Service's pods are still being
 * fetched), or to be looked up. A pod address from a watch is enough: pod IPs are unique in
 * a cluster, and a cluster IP is never a pod's.
 */
export function addressKnowledge(known: KnownAddresses, ip: IpAddress, backendsSynced: (spec: WatchSpec) => boolean): AddressState | "lookup" {
  if (known.podIps.has(ip.text)) return { kind: "known" };
  const at = known.services.get(ip.text);
  if (!at) return "lookup";
  const spec = at.watched ? backendSpec(at.service) : undefined;
  if (spec && !backendsSynced(spec)) return { kind: "pending", reason: `fetching the pods behind Service ${at.service.namespace}/${at.service.name}` };
  return { kind: "known" };
}

function sortedValues<T>(map: ReadonlyMap<string, T>): T[] {
  return [...map.keys()].sort().map((key) => map.get(key) as T);
}
