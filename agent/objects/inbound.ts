// How traffic from outside the cluster reaches a pod, as plain data: the proxies that can
// stand in front (Ingress, Gateway API routes and their Gateways). What a Service exposes
// (type, externalTrafficPolicy, a cloud load balancer's targets) is part of the Service, in
// objects/model.ts. A leaf: the readers (cluster/inbound-objects.ts) and the inbound analysis
// (inbound/) share it, so cluster/ need not import inbound/.

import type { SourceLocation } from "./model.js";

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
