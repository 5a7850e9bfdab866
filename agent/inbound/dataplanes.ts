// Which dataplanes keep a client's source address on the way from a node to a pod, when a
// Service's externalTrafficPolicy is Cluster. The NetworkPolicy API leaves undefined whether
// ipBlock sees the original or the rewritten address; in practice the dataplane decides, and
// this table says what each one does (sources in docs/zscaler.md, "Inbound from Zscaler").
// Pure data and one lookup: the offline check, the agent and the docs share it.

import type { Protocol } from "../cluster/snapshot.js";

export type Dataplane = "kube-proxy" | "calico-iptables" | "calico-ebpf" | "cilium-snat" | "cilium-dsr" | "cilium-hybrid";

export interface DataplaneFacts {
  readonly name: Dataplane;
  /** What it is, for a person. */
  readonly description: string;
  /** With externalTrafficPolicy: Cluster, does the pod see the client's address (per protocol)? */
  readonly keepsSourceWithCluster: (protocol: Protocol) => boolean;
}

export const DATAPLANES: readonly DataplaneFacts[] = [
  {
    name: "kube-proxy",
    description: "kube-proxy in iptables, ipvs or nftables mode (also Flannel, the AWS VPC CNI and others that leave Services to it)",
    keepsSourceWithCluster: () => false,
  },
  { name: "calico-iptables", description: "Calico's iptables dataplane (Services left to kube-proxy)", keepsSourceWithCluster: () => false },
  { name: "calico-ebpf", description: "Calico's eBPF dataplane (its own Service handling)", keepsSourceWithCluster: () => true },
  { name: "cilium-snat", description: "Cilium's kube-proxy replacement, load balancer mode snat (its default)", keepsSourceWithCluster: () => false },
  { name: "cilium-dsr", description: "Cilium's kube-proxy replacement, load balancer mode dsr", keepsSourceWithCluster: () => true },
  { name: "cilium-hybrid", description: "Cilium's kube-proxy replacement, load balancer mode hybrid (DSR for TCP, SNAT for UDP)", keepsSourceWithCluster: (protocol) => protocol === "TCP" },
];

export const DATAPLANE_NAMES: readonly Dataplane[] = DATAPLANES.map((d) => d.name);

export function dataplaneFacts(name: Dataplane): DataplaneFacts {
  return DATAPLANES.find((d) => d.name === name) as DataplaneFacts;
}

/** "kept by calico-ebpf, cilium-dsr; replaced by the node's address with kube-proxy, ...", for a protocol. */
export function describeClusterPolicyOutcome(protocol: Protocol): string {
  const keep = DATAPLANES.filter((d) => d.keepsSourceWithCluster(protocol)).map((d) => d.name);
  const lose = DATAPLANES.filter((d) => !d.keepsSourceWithCluster(protocol)).map((d) => d.name);
  return `kept by ${keep.join(", ")}; replaced by a node's address with ${lose.join(", ")}`;
}
