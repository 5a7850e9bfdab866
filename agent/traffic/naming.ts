// Who is at the other end of a connection, and which workload this end is: pure functions
// over what the agent knows. The remote address is named, in this order:
// 1. a pod or Service the agent's cluster state holds (its node's pods, its targets'), a
//    host-network pod's address being its node's;
// 2. an address in a followed Zscaler cloud's published ranges: the cloud, the data centre's
//    city (when the CENR feed places it in exactly one), the smallest published range;
// 3. what the scoped address lookup (cluster/addresses.ts: status.podIP and spec.clusterIP
//    field selectors, cached with a TTL, rate-bounded) said: a pod, a Service, or neither;
//    while it has not answered the peer is "unnamed" with the reason, never a guess;
// 4. neither a pod nor a Service: the smallest configured range (traffic.ranges) holding it,
//    else the address itself as a /32 or /128.
// Without address lookups (a static cluster from files, or none), the state is all there is
// to know, and step 3 is skipped.

import { type Cidr, cidrContainsIp, type IpAddress, makeCidr } from "../addresses/ip.js";
import type { LookupAnswer } from "../cluster/addresses.js";
import type { Labels, PodInfo, ServiceInfo } from "../cluster/snapshot.js";
import type { TrafficRange } from "../config/traffic.js";
import type { FlowLabels, FlowPeer, FlowWorkload } from "./flow.js";

/** A Zscaler cloud's published range holding an address (zscaler/seam.ts places it). */
export interface ZscalerPlace {
  readonly cloud: string;
  readonly city?: string;
  readonly range: string;
}

/** What the address lookup knows of an address: an answer, or why there is none yet. */
export type PeerLookup = { readonly kind: "answer"; readonly answer: LookupAnswer } | { readonly kind: "pending"; readonly reason: string };

export interface NamingContext {
  /** The cluster state's pods (not on the host network) and Services by address (the policy index's), and nodes (nodeAddresses). */
  readonly pods: ReadonlyMap<string, PodInfo>;
  readonly services: ReadonlyMap<string, ServiceInfo>;
  readonly nodes: ReadonlyMap<string, string>;
  readonly zscaler: (ip: IpAddress) => ZscalerPlace | undefined;
  /** Configured ranges, smallest first (sortRanges). */
  readonly ranges: readonly TrafficRange[];
  /** Absent: the cluster state is all there is to know (no lookups). */
  readonly lookup?: (ip: IpAddress) => PeerLookup;
}

/**
 * Labels that differ between pods of one workload: they would make a policy select one pod,
 * and make a workload's labels change with every rollout. job-name is per Job: kept for a
 * Job, left out for a CronJob's pods (every run is a new Job).
 */
export const PER_POD_LABELS: readonly string[] = [
  "pod-template-hash",
  "controller-revision-hash",
  "statefulset.kubernetes.io/pod-name",
  "apps.kubernetes.io/pod-index",
  "batch.kubernetes.io/controller-uid",
  "controller-uid",
  "batch.kubernetes.io/job-completion-index",
];
const PER_RUN_LABELS: readonly string[] = ["job-name", "batch.kubernetes.io/job-name"];

/** A pod's labels as its workload's: without the per-pod ones. */
export function workloadLabels(labels: Labels, kind: string): FlowLabels {
  const dropped = kind === "cronjob" ? [...PER_POD_LABELS, ...PER_RUN_LABELS] : PER_POD_LABELS;
  const kept: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) if (!dropped.includes(key)) kept[key] = labels[key] as string;
  return kept;
}

/** The workload a pod belongs to, as the map names it. */
export function workloadOfPod(pod: PodInfo): FlowWorkload {
  const kind = pod.owner?.kind ?? "pod";
  return { namespace: pod.namespace, kind, name: pod.owner?.name ?? pod.name, labels: workloadLabels(pod.labels, kind) };
}

/** The labels two observations of one workload share (a rollout between samples changes some). */
export function commonLabels(a: FlowLabels, b: FlowLabels): FlowLabels {
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(a)) if (b[key] === value) kept[key] = value;
  return kept;
}

/** Smallest first, then by address: the first range holding an address is the one to name. */
export function sortRanges<T extends { readonly cidr: Cidr }>(ranges: readonly T[]): T[] {
  return [...ranges].sort((a, b) => b.cidr.prefix - a.cidr.prefix || (a.cidr.base < b.cidr.base ? -1 : a.cidr.base > b.cidr.base ? 1 : 0));
}

/** Addresses of nodes: a host-network pod's address is its node's. */
export function nodeAddresses(pods: Iterable<PodInfo>): Map<string, string> {
  const nodes = new Map<string, string>();
  for (const pod of pods) if (pod.hostNetwork && pod.node !== undefined && !pod.workload) for (const ip of pod.ips) nodes.set(ip.text, pod.node);
  return nodes;
}

function podPeer(pod: PodInfo): FlowPeer {
  if (pod.hostNetwork) return { kind: "node", name: pod.node ?? "unknown" };
  return { kind: "workload", workload: workloadOfPod(pod) };
}

function servicePeer(service: ServiceInfo): FlowPeer {
  return { kind: "service", namespace: service.namespace, name: service.name };
}

function externalPeer(ip: IpAddress, ranges: readonly TrafficRange[]): FlowPeer {
  const named = ranges.find((range) => cidrContainsIp(range.cidr, ip));
  if (named) return { kind: "external", range: named.cidr.text, name: named.name };
  return { kind: "external", range: makeCidr(ip.family, ip.value, ip.family === 4 ? 32 : 128).text };
}

/** The remote end of a connection. */
export function namePeer(ip: IpAddress, context: NamingContext): FlowPeer {
  const pod = context.pods.get(ip.text);
  if (pod) return podPeer(pod);
  const service = context.services.get(ip.text);
  if (service) return servicePeer(service);
  const node = context.nodes.get(ip.text);
  if (node !== undefined) return { kind: "node", name: node };
  const zscaler = context.zscaler(ip);
  if (zscaler) return { kind: "zscaler", cloud: zscaler.cloud, ...(zscaler.city !== undefined ? { city: zscaler.city } : {}), range: zscaler.range };
  if (context.lookup) {
    const found = context.lookup(ip);
    if (found.kind === "pending") return { kind: "unnamed", address: ip.text, reason: found.reason };
    const [first] = [...found.answer.services].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    if (first) return servicePeer(first);
    const owner = found.answer.pods.find((candidate) => candidate.ips.some((held) => held.text === ip.text));
    if (owner) return podPeer(owner);
    if (found.answer.undecidable !== undefined) return { kind: "unnamed", address: ip.text, reason: found.answer.undecidable };
  }
  return externalPeer(ip, context.ranges);
}
