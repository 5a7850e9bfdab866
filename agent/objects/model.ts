// Kubernetes objects as plain data, the vocabulary the cluster readers, the policy engine and
// the analyses all speak: protocols, labels, namespaces, pods, Services (with what they expose to
// outside traffic) and EndpointSlices. A leaf: it imports neither the cluster readers nor the
// policy engine, so those folders do not import each other in circles.

import type { IpAddress } from "../addresses/ip.js";

export type Protocol = "TCP" | "UDP" | "SCTP";
export const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];

export type Labels = Readonly<Record<string, string>>;

/** Where an object was read from: its manifest file and line (absent for objects from the API). */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
}

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

export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
export const SERVICE_TYPES: readonly ServiceType[] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

export type ExternalTrafficPolicy = "Cluster" | "Local";

/**
 * What an AWS load balancer's annotations say about how it reaches the pods: through the
 * nodes' NodePorts ("instance" targets, kube-proxy in the path) or straight to the pod IPs ("ip").
 * preserveClientIp: the target group attribute preserve_client_ip.enabled when the
 * annotations set it; absent: the AWS default (on for instance targets, off for IP targets on TCP).
 */
export interface AwsLoadBalancer {
  readonly provider: "aws";
  readonly targets: "instance" | "ip";
  readonly preserveClientIp?: boolean;
}

/** Set on a Service that traffic from outside can address: NodePort, LoadBalancer, or externalIPs. */
export interface ServiceExposure {
  readonly type: ServiceType;
  readonly externalTrafficPolicy: ExternalTrafficPolicy;
  readonly externalIps: boolean;
  readonly loadBalancer?: AwsLoadBalancer;
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

export function podKey(pod: Pick<PodInfo, "namespace" | "name" | "workload">): string {
  return pod.workload ? `${pod.workload.kind}/${pod.namespace}/${pod.workload.name}` : `${pod.namespace}/${pod.name}`;
}

/** Namespace labels as the API server keeps them: the name label is always present and right. */
export function namespaceLabels(name: string, labels: Labels = {}): Labels {
  return { ...labels, [NAMESPACE_NAME_LABEL]: name };
}
