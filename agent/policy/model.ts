// NetworkPolicy (networking.k8s.io/v1) after the API's defaults are applied, and
// the engine's answer. Plain data: no behaviour lives here.

import type { Cidr } from "../addresses/ip.js";
import type { Protocol, SourceLocation } from "../objects/model.js";

export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface SelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

/** metav1.LabelSelector. An empty selector ({}) selects everything. */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly SelectorRequirement[];
}

export type PolicyPeer =
  | {
      readonly kind: "pods";
      /** null: the policy's own namespace. */
      readonly namespaceSelector: LabelSelector | null;
      /** null: every pod in the selected namespaces. */
      readonly podSelector: LabelSelector | null;
    }
  | { readonly kind: "ipBlock"; readonly cidr: Cidr; readonly except: readonly Cidr[] };

export interface PolicyPort {
  readonly protocol: Protocol;
  /** null: every port of the protocol; a string: a named container port on the destination pod. */
  readonly port: number | string | null;
  /** Inclusive upper end of a numeric port range. */
  readonly endPort: number | null;
}

export interface PolicyRule {
  /** null: the rule admits every peer (from/to empty or absent). */
  readonly peers: readonly PolicyPeer[] | null;
  /** null: the rule admits every port (ports empty or absent). */
  readonly ports: readonly PolicyPort[] | null;
}

export interface NetworkPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: LabelSelector;
  /** policyTypes after defaulting: does this policy isolate its pods for ingress / egress? */
  readonly ingressIsolation: boolean;
  readonly egressIsolation: boolean;
  /** Only meaningful when the matching isolation flag is set. */
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
  readonly definedAt?: SourceLocation;
}

export type Direction = "ingress" | "egress";

export interface RuleRef {
  /** "namespace/name"; for the admin tiers (kind set), the cluster-scoped policy's name. */
  readonly policy: string;
  readonly direction: Direction;
  /** 0-based, as in spec.ingress[0]. */
  readonly rule: number;
  /** Set for a rule of an admin tier; absent for a NetworkPolicy rule. */
  readonly kind?: "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy";
  /** The admin rule's name, when it has one. */
  readonly ruleName?: string;
}

/** A policy tier, in evaluation order: AdminNetworkPolicy, NetworkPolicy, BaselineAdminNetworkPolicy. */
export type PolicyTier = "admin" | "networkpolicy" | "baseline";

/**
 * What one tier did for one direction. Allow and Deny are final; Pass (admin only) skips the
 * remaining AdminNetworkPolicy rules; NoMatch (no rule matched, or for NetworkPolicy: the pod
 * is not isolated) goes on to the next tier.
 */
export interface TierStep {
  readonly tier: PolicyTier;
  readonly action: "Allow" | "Deny" | "Pass" | "NoMatch";
  /** admin and baseline: the policy whose rule matched. */
  readonly policy?: string;
  /** admin: that policy's priority. */
  readonly priority?: number;
  /** admin and baseline: the 0-based index of the matching rule. */
  readonly rule?: number;
  readonly ruleName?: string;
}

export type NoteKind =
  /** Kubernetes leaves this case undefined: no verdict can be promised. */
  | "undefined"
  /** The input lacks what the verdict depends on (e.g. IPs of pods not yet created). */
  | "unknown"
  /** Conformant verdict given; some network plugins behave differently here. */
  | "cni_dependent";

export type NoteCode =
  | "self_traffic"
  | "host_network"
  | "service_ip"
  | "ipblock_matches_pod_ip"
  | "ipblock_unknown_ip"
  | "source_may_be_rewritten"
  /** Inbound queries (inbound/query.ts): no way in from outside in the manifests. */
  | "inbound_no_path"
  /** Inbound: the dataplane decides whether the client's address survives (externalTrafficPolicy: Cluster). */
  | "inbound_dataplane"
  /** Inbound: a node, a load balancer or a proxy replaces the client's address before the policy. */
  | "inbound_source_rewritten"

  /** Two AdminNetworkPolicies of equal priority match the connection and disagree. */
  | "admin_same_priority"
  /** An AdminNetworkPolicy or BaselineAdminNetworkPolicy networks peer against an IP not known yet. */
  | "admin_unknown_ip"
  /** A nodes peer: the snapshot has no Node objects, so node addresses are not known. */
  | "admin_node_peer"
  /** A domainNames peer: which IPs the names resolve to is not known. */
  | "admin_domain_peer";

export interface VerdictNote {
  readonly code: NoteCode;
  readonly kind: NoteKind;
  readonly message: string;
}

export interface DirectionVerdict {
  readonly direction: Direction;
  /** Who this direction belongs to: the source for egress, the destination for ingress. */
  readonly subject: string;
  /** false when no NetworkPolicy can apply (outside the cluster, host network). */
  readonly applies: boolean;
  readonly isolated: boolean;
  /** Policies that select the subject for this direction, as "namespace/name". */
  readonly policies: readonly string[];
  /** Every rule that admits this connection (an admin tier's rule: only the one that decided). */
  readonly allowedBy: readonly RuleRef[];
  readonly allowed: boolean;
  /** The admin-tier rule that denied this connection (a NetworkPolicy denies by isolation, not by a rule). */
  readonly deniedBy?: RuleRef;
  /**
   * The path through the tiers, present when the cluster has AdminNetworkPolicies or a
   * BaselineAdminNetworkPolicy and they can apply to the subject.
   */
  readonly tiers?: readonly TierStep[];
}

export type Verdict = "allow" | "deny";

export interface PolicyVerdict {
  readonly verdict: Verdict;
  /** false when a note of kind "undefined" or "unknown" applies. */
  readonly determinate: boolean;
  readonly cniDependent: boolean;
  readonly egress: DirectionVerdict;
  readonly ingress: DirectionVerdict;
  readonly notes: readonly VerdictNote[];
}
