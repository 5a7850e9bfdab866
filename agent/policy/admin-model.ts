// AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1)
// after the API's validation and defaults. Plain data: no behaviour lives here.
// Reference: kubernetes-sigs/network-policy-api apis/v1alpha1 (adminnetworkpolicy_types.go,
// baselineadminnetworkpolicy_types.go, shared_types.go).

import type { Cidr } from "../addresses/ip.js";
import type { Protocol, SourceLocation } from "../objects/model.js";
import type { LabelSelector } from "./model.js";

export const ADMIN_API_VERSION = "policy.networking.k8s.io/v1alpha1";

/** Allow and Deny are final; Pass skips the remaining ANP rules and goes to NetworkPolicy. */
export type AdminAction = "Allow" | "Deny" | "Pass";
/** A BaselineAdminNetworkPolicy has no Pass. */
export type BaselineAction = "Allow" | "Deny";

/** spec.subject, and the namespaces / pods peers: exactly one form is set. */
export type AdminPodSet =
  /** Every pod in the selected namespaces. */
  | { readonly kind: "namespaces"; readonly namespaceSelector: LabelSelector }
  /** The selected pods in the selected namespaces (both selectors are required; {} selects all). */
  | { readonly kind: "pods"; readonly namespaceSelector: LabelSelector; readonly podSelector: LabelSelector };

export type AdminPeer =
  | AdminPodSet
  /** Egress only: the IPs of the selected nodes (node.status.addresses). */
  | { readonly kind: "nodes"; readonly nodeSelector: LabelSelector }
  /** Egress only: CIDRs; they match pod IPs too ("cluster-internal traffic will be checked"). */
  | { readonly kind: "networks"; readonly networks: readonly Cidr[] }
  /** Egress only, ANP Allow rules only: domain names, exact or "*." wildcard. */
  | { readonly kind: "domainNames"; readonly domainNames: readonly string[] };

export type AdminPort =
  | { readonly kind: "portNumber"; readonly protocol: Protocol; readonly port: number }
  /** A named container port of the destination pod (its protocol is the container port's). */
  | { readonly kind: "namedPort"; readonly name: string }
  /** Inclusive range, start < end. */
  | { readonly kind: "portRange"; readonly protocol: Protocol; readonly start: number; readonly end: number };

export interface AdminRule<A extends string> {
  /** spec.ingress[i].name, at most 100 characters; null when unset. */
  readonly name: string | null;
  readonly action: A;
  /** from (ingress) or to (egress): at least one peer; peers are ORed. */
  readonly peers: readonly AdminPeer[];
  /** null: the rule does not filter by port. */
  readonly ports: readonly AdminPort[] | null;
}

export interface AdminNetworkPolicy {
  /** Cluster-scoped: a name, no namespace. */
  readonly name: string;
  /** 0-1000; a lower number has higher precedence. Equal priorities have no defined order. */
  readonly priority: number;
  readonly subject: AdminPodSet;
  /** Evaluated in order: the first rule that matches decides. */
  readonly ingress: readonly AdminRule<AdminAction>[];
  readonly egress: readonly AdminRule<AdminAction>[];
  readonly definedAt?: SourceLocation;
}

export interface BaselineAdminNetworkPolicy {
  /** A singleton: always "default". */
  readonly name: string;
  readonly subject: AdminPodSet;
  readonly ingress: readonly AdminRule<BaselineAction>[];
  readonly egress: readonly AdminRule<BaselineAction>[];
  readonly definedAt?: SourceLocation;
}
