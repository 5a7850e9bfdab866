// How traffic from outside the cluster reaches a pod, as plain data: what a Service exposes
// (type, externalTrafficPolicy, what a cloud load balancer's annotations say of its targets),
// and the proxies that can stand in front (Ingress, Gateway API routes and their Gateways).
// A leaf: the manifest reader, the live reader and the inbound analysis share it, so "a
// LoadBalancer with Cluster" means the same thing wherever it came from.

import type { SourceLocation } from "../policy/model.js";

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

/** A Service a proxy sends traffic to: its namespace and name (port left out: any port counts). */
export interface BackendService {
  readonly namespace: string;
  readonly name: string;
}

export interface IngressInfo {
  readonly namespace: string;
  readonly name: string;
  readonly className?: string;
  /** The hosts its rules name ("*" for a rule without a host). */
  readonly hosts: readonly string[];
  readonly backends: readonly BackendService[];
  readonly definedAt?: SourceLocation;
}

export interface GatewayInfo {
  readonly namespace: string;
  readonly name: string;
  readonly className: string;
  readonly definedAt?: SourceLocation;
}

export type RouteKind = "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute" | "UDPRoute";
export const ROUTE_KINDS: readonly RouteKind[] = ["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"];

export interface RouteInfo {
  readonly kind: RouteKind;
  readonly namespace: string;
  readonly name: string;
  readonly hostnames: readonly string[];
  /** The Gateways it attaches to ("namespace/name"). */
  readonly gateways: readonly string[];
  readonly backends: readonly BackendService[];
  readonly definedAt?: SourceLocation;
}

/** The proxies of the cluster that can stand between a client outside and a pod. */
export interface InboundObjects {
  readonly ingresses: readonly IngressInfo[];
  readonly gateways: readonly GatewayInfo[];
  readonly routes: readonly RouteInfo[];
}

export const NO_INBOUND_OBJECTS: InboundObjects = { ingresses: [], gateways: [], routes: [] };
