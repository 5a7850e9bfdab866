// The rules that apply to one pod for one direction, of every tier (AdminNetworkPolicy,
// NetworkPolicy, BaselineAdminNetworkPolicy), each with its ports as plain slots: what probe
// derivation (derive/derive.ts) fills with destinations and rule coverage (derive/coverage.ts)
// counts. Pure, over the engine's index.

import type { PodInfo, Protocol } from "../objects/model.js";
import type { AdminPort } from "./admin-model.js";
import { adminRulesFor } from "./admin.js";
import { type Endpoint, type PolicyIndex, ruleAdmitsPeer, selectingPolicies } from "./engine.js";
import { formatRule } from "./explain.js";
import type { Direction, PolicyPort, RuleRef } from "./model.js";

/** One allowed port entry of a rule: every port, an inclusive range (one port: from = to), or a named container port. */
export type PortSlot =
  | { readonly kind: "any"; readonly protocol: Protocol }
  | { readonly kind: "range"; readonly protocol: Protocol; readonly from: number; readonly to: number }
  /** protocol null: an admin rule's named port takes the container port's protocol. */
  | { readonly kind: "named"; readonly protocol: Protocol | null; readonly name: string };

export interface RuleOf {
  readonly ref: RuleRef;
  /** formatRule(ref): how the rule is named in edges, metrics and coverage. */
  readonly name: string;
  /** The policy as coverage groups it: "namespace/name", or "AdminNetworkPolicy name". */
  readonly policy: string;
  /** NetworkPolicy rules allow; admin rules say. */
  readonly action: "Allow" | "Deny" | "Pass";
  /** Every port of every protocol when the rule gives none. */
  readonly slots: readonly PortSlot[];
  /**
   * The rule alone admits (an admin rule: matches) this peer on this port, a named port resolved
   * on `destination`. Not a verdict: other policies and tiers may decide otherwise; a cheap first
   * look before the engine's verdict.
   */
  readonly matches: (peer: Endpoint, destination: Endpoint, port: number, protocol: Protocol) => boolean;
}

const EVERY_PORT: readonly PortSlot[] = [
  { kind: "any", protocol: "TCP" },
  { kind: "any", protocol: "UDP" },
  { kind: "any", protocol: "SCTP" },
];

function slotOfPolicyPort(port: PolicyPort): PortSlot {
  if (port.port === null) return { kind: "any", protocol: port.protocol };
  if (typeof port.port === "string") return { kind: "named", protocol: port.protocol, name: port.port };
  return { kind: "range", protocol: port.protocol, from: port.port, to: port.endPort ?? port.port };
}

function slotOfAdminPort(port: AdminPort): PortSlot {
  switch (port.kind) {
    case "portNumber":
      return { kind: "range", protocol: port.protocol, from: port.port, to: port.port };
    case "portRange":
      return { kind: "range", protocol: port.protocol, from: port.start, to: port.end };
    case "namedPort":
      return { kind: "named", protocol: null, name: port.name };
  }
}

/** The policy part of a rule's name: "namespace/name" or "AdminNetworkPolicy name". */
export function policyOfRule(ref: RuleRef): string {
  return ref.kind !== undefined ? `${ref.kind} ${ref.policy}` : ref.policy;
}

function ruleOf(ref: RuleRef, action: RuleOf["action"], slots: readonly PortSlot[], matches: RuleOf["matches"]): RuleOf {
  return { ref, name: formatRule(ref), policy: policyOfRule(ref), action, slots, matches };
}

/**
 * Every rule for the pod and direction (no pod: of every policy in the index): admin rules first
 * (in tier order), then the NetworkPolicies', then the baseline's.
 */
export function rulesFor(index: PolicyIndex, pod: PodInfo | undefined, direction: Direction): RuleOf[] {
  if (pod?.hostNetwork) return [];
  const admin = adminRulesFor(index, pod, direction).map((rule) => ruleOf(rule.ref, rule.action, rule.ports === null ? EVERY_PORT : rule.ports.map(slotOfAdminPort), rule.matches));
  const policies = pod ? selectingPolicies(index, pod, direction) : [...index.policiesByNamespace.values()].flat();
  const networkPolicy = policies.flatMap((policy) =>
    (direction === "egress" ? policy.egress : policy.ingress).map((rule) =>
      ruleOf({ policy: policy.id, direction, rule: rule.index }, "Allow", rule.ports === null ? EVERY_PORT : rule.ports.map(slotOfPolicyPort), ruleAdmitsPeer(index, policy, direction, rule.index)),
    ),
  );
  const baseline = admin.filter((rule) => rule.ref.kind === "BaselineAdminNetworkPolicy");
  return [...admin.filter((rule) => rule.ref.kind !== "BaselineAdminNetworkPolicy"), ...networkPolicy, ...baseline];
}

/** Whether a port of a protocol on a destination fills the slot (named: the destination's port of that name). */
export function slotHolds(slot: PortSlot, port: number, protocol: Protocol, named: (name: string, protocol: Protocol) => number | undefined): boolean {
  if (slot.protocol !== null && slot.protocol !== protocol) return false;
  switch (slot.kind) {
    case "any":
      return true;
    case "range":
      return port >= slot.from && port <= slot.to;
    case "named":
      return named(slot.name, protocol) === port;
  }
}
