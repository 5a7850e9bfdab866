// The cluster as the policy engine sees it: slim, plain data. Loaded from
// manifest files (static mode) or kept current from the API (live mode).

import type { IpAddress } from "../addresses/ip.js";
import type { InboundObjects, ServiceExposure } from "../inbound/model.js";
import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from "../policy/admin-model.js";
import type { NetworkPolicy } from "../policy/model.js";

export type Protocol = "TCP" | "UDP" | "SCTP";
export const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];

export type Labels = Readonly<Record<string, string>>;

/** The API server sets this label on every namespace to the namespace's name. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Labels;
}

export interface ContainerPort {
  readonly name?: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface WorkloadRef {
  /** Lower-case kind: deployment, statefulset, daemonset, replicaset, job, cronjob. */
  readonly kind: string;
  readonly name: string;
}

export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  /**
   * What the pod's cgroup is named by (sources/netns.ts): metadata.uid, or for the mirror of a
   * static pod the kubelet's config hash. Absent for workload templates and manifests without one.
   */
  readonly uid?: string;
  readonly labels: Labels;
  /** Pod IPs, at most one per family. Empty before scheduling and for workload templates. */
  readonly ips: readonly IpAddress[];
  readonly ports: readonly ContainerPort[];
  readonly node?: string;
  readonly hostNetwork: boolean;
  readonly phase?: string;
  /** Set when this entry stands for the pods a workload's template will create. */
  readonly workload?: WorkloadRef;
  /** A running pod's controlling workload (its Deployment, StatefulSet, DaemonSet, ...). */
  readonly owner?: WorkloadRef;
  /** Being deleted (metadata.deletionTimestamp set). */
  readonly terminating?: boolean;
}

export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Number, or the name of a container port on the backends. */
  readonly targetPort: number | string;
}

export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  readonly clusterIps: readonly IpAddress[];
  /** Absent for Services without a selector (endpoints managed by hand). */
  readonly selector?: Labels;
  readonly ports: readonly ServicePort[];
  /** Set when traffic from outside can address it (NodePort, LoadBalancer, externalIPs). */
  readonly exposure?: ServiceExposure;
}

export interface EndpointInfo {
  readonly addresses: readonly IpAddress[];
  readonly ready: boolean;
  /** The backing pod, "namespace/name", when the slice says. */
  readonly pod?: string;
  readonly node?: string;
}

export interface EndpointSliceInfo {
  readonly namespace: string;
  readonly name: string;
  /** The Service it belongs to (label kubernetes.io/service-name). */
  readonly service: string;
  readonly ports: readonly { readonly name?: string; readonly port: number; readonly protocol: Protocol }[];
  readonly endpoints: readonly EndpointInfo[];
}

export interface ClusterSnapshot {
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly policies: readonly NetworkPolicy[];
  readonly services: readonly ServiceInfo[];
  /** AdminNetworkPolicies (cluster-scoped), evaluated before NetworkPolicies. */
  readonly adminPolicies?: readonly AdminNetworkPolicy[];
  /** The BaselineAdminNetworkPolicy singleton ("default"), evaluated when NetworkPolicies do not isolate. */
  readonly baselinePolicy?: BaselineAdminNetworkPolicy;
  readonly endpointSlices?: readonly EndpointSliceInfo[];
  /** Ingresses, Gateways and routes (manifests only): the proxies in front of pods. */
  readonly inbound?: InboundObjects;
}

export const EMPTY_SNAPSHOT: ClusterSnapshot = { namespaces: [], pods: [], policies: [], services: [] };

export function podKey(pod: Pick<PodInfo, "namespace" | "name" | "workload">): string {
  return pod.workload ? `${pod.workload.kind}/${pod.namespace}/${pod.workload.name}` : `${pod.namespace}/${pod.name}`;
}

/** Namespace labels as the API server keeps them: the name label is always present and right. */
export function namespaceLabels(name: string, labels: Labels = {}): Labels {
  return { ...labels, [NAMESPACE_NAME_LABEL]: name };
}
