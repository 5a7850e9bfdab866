// The admin tiers around NetworkPolicy: AdminNetworkPolicy (ANP) before it, and the
// BaselineAdminNetworkPolicy (BANP) after it (policy.networking.k8s.io/v1alpha1).
// For one direction of a connection (the source's egress, the destination's ingress):
//   1. ANPs selecting the subject pod, by priority (lower number first): the first rule
//      that matches decides. Allow and Deny are final; Pass skips the remaining ANP rules.
//   2. No ANP match, or Pass: NetworkPolicy. A pod isolated for the direction is decided
//      by its NetworkPolicies (allowed by some rule, else denied), and that is final.
//   3. Not isolated: the BANP's first matching rule decides (Allow or Deny); no match: allowed.
// Pure functions over the index, like the engine.

import { type Cidr, cidrContainsIp, type IpAddress, type IpFamily } from "../addresses/ip.js";
import type { PodInfo, Protocol } from "../objects/model.js";
import type {
  AdminAction,
  AdminNetworkPolicy,
  AdminPeer,
  AdminPodSet,
  AdminPort,
  AdminRule,
  BaselineAdminNetworkPolicy,
} from "./admin-model.js";
import type { ConnectionQuery, PolicyIndex } from "./engine.js";
import { describeEndpoint, type Endpoint, labelsOfNamespace, resolveNamedPort } from "./endpoints.js";
import { formatNamedRule } from "./explain.js";
import type { Direction, DirectionVerdict, NoteCode, RuleRef, TierStep, VerdictNote } from "./model.js";
import { compileSelector, formatSelector, type LabelMatcher } from "./selectors.js";

export type AdminKind = "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy";

interface CompiledPodSet {
  readonly namespaces: LabelMatcher;
  /** null: every pod of the selected namespaces. */
  readonly pods: LabelMatcher | null;
}

type CompiledPeer =
  | ({ readonly kind: "pods" } & CompiledPodSet)
  | { readonly kind: "nodes"; readonly selector: string }
  | { readonly kind: "networks"; readonly networks: readonly Cidr[] }
  | { readonly kind: "domainNames"; readonly domainNames: readonly string[] };

interface CompiledAdminRule {
  readonly index: number;
  readonly name: string | null;
  readonly action: AdminAction;
  readonly peers: readonly CompiledPeer[];
  readonly ports: readonly AdminPort[] | null;
}

export interface CompiledAdminPolicy {
  readonly kind: AdminKind;
  readonly name: string;
  /** The BANP, which has no priority, sorts after every ANP. */
  readonly priority: number;
  readonly subject: CompiledPodSet;
  readonly ingress: readonly CompiledAdminRule[];
  readonly egress: readonly CompiledAdminRule[];
}

export interface AdminTiers {
  /** ANPs by precedence: priority, then name (Kubernetes leaves equal priorities unordered). */
  readonly admin: readonly CompiledAdminPolicy[];
  readonly baseline: CompiledAdminPolicy | null;
}

function compilePodSet(set: AdminPodSet): CompiledPodSet {
  return {
    namespaces: compileSelector(set.namespaceSelector),
    pods: set.kind === "pods" ? compileSelector(set.podSelector) : null,
  };
}

function compilePeer(peer: AdminPeer): CompiledPeer {
  switch (peer.kind) {
    case "namespaces":
    case "pods":
      return { kind: "pods", ...compilePodSet(peer) };
    case "nodes":
      return { kind: "nodes", selector: formatSelector(peer.nodeSelector) };
    case "networks":
      return { kind: "networks", networks: peer.networks };
    case "domainNames":
      return { kind: "domainNames", domainNames: peer.domainNames };
  }
}

function compileRules(rules: readonly AdminRule<AdminAction>[]): CompiledAdminRule[] {
  return rules.map((rule, index) => ({ index, name: rule.name, action: rule.action, peers: rule.peers.map(compilePeer), ports: rule.ports }));
}

function compileAdminPolicy(kind: AdminKind, policy: AdminNetworkPolicy | BaselineAdminNetworkPolicy, priority: number): CompiledAdminPolicy {
  return {
    kind,
    name: policy.name,
    priority,
    subject: compilePodSet(policy.subject),
    ingress: compileRules(policy.ingress),
    egress: compileRules(policy.egress),
  };
}

/** The admin tiers for the index; undefined when the cluster has neither ANPs nor a BANP. */
export function compileAdminTiers(
  adminPolicies: readonly AdminNetworkPolicy[] | undefined,
  baselinePolicy: BaselineAdminNetworkPolicy | undefined,
): AdminTiers | undefined {
  if ((adminPolicies === undefined || adminPolicies.length === 0) && baselinePolicy === undefined) return undefined;
  const admin = (adminPolicies ?? [])
    .map((policy) => compileAdminPolicy("AdminNetworkPolicy", policy, policy.priority))
    .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const baseline = baselinePolicy ? compileAdminPolicy("BaselineAdminNetworkPolicy", baselinePolicy, Number.POSITIVE_INFINITY) : null;
  return { admin, baseline };
}

// ---- matching ----

type Match =
  | { readonly kind: "yes" }
  | { readonly kind: "no" }
  /** Depends on what the snapshot does not know (an IP not assigned yet, node or DNS addresses). */
  | { readonly kind: "unknown"; readonly code: NoteCode; readonly why: string };

const YES: Match = { kind: "yes" };
const NO: Match = { kind: "no" };

/** Host-network pods are never selected by a subject, a namespaces peer or a pods peer. */
function podSetSelects(set: CompiledPodSet, pod: PodInfo, index: PolicyIndex): boolean {
  if (pod.hostNetwork) return false;
  return set.namespaces(labelsOfNamespace(index, pod.namespace)) && (set.pods === null || set.pods(pod.labels));
}

function portsMatch(ports: readonly AdminPort[] | null, query: ConnectionQuery): boolean {
  // No ports: the rule does not filter by port.
  if (ports === null) return true;
  return ports.some((entry) => {
    switch (entry.kind) {
      case "portNumber":
        return entry.protocol === query.protocol && entry.port === query.port;
      // A range includes both ends.
      case "portRange":
        return entry.protocol === query.protocol && query.port >= entry.start && query.port <= entry.end;
      // A named port resolves on the destination pod, by name, to its number and protocol;
      // an address outside the cluster has no named ports.
      case "namedPort": {
        const destination = query.to;
        return destination.kind === "pod" && resolveNamedPort(destination.pod, entry.name, query.protocol) === query.port;
      }
    }
  });
}

function peerMatches(peer: CompiledPeer, other: Endpoint, otherAddress: IpAddress | undefined, family: IpFamily, index: PolicyIndex): Match {
  switch (peer.kind) {
    case "pods":
      return other.kind === "pod" && podSetSelects(peer, other.pod, index) ? YES : NO;
    case "networks": {
      // CIDRs match any address, pod IPs included: "cluster-internal traffic will be checked
      // against the rule as well" (v1alpha1 AdminNetworkPolicyEgressPeer.Networks).
      if (otherAddress === undefined) {
        // Pods not created yet have no IP: a CIDR of the connection's family may or may not hold it.
        const possible = other.kind === "pod" && other.pod.ips.length === 0 && peer.networks.some((cidr) => cidr.family === family);
        return possible ? { kind: "unknown", code: "admin_unknown_ip", why: `the IP of ${describeEndpoint(other)} is not known (pods not created yet)` } : NO;
      }
      return peer.networks.some((cidr) => cidrContainsIp(cidr, otherAddress)) ? YES : NO;
    }
    case "nodes": {
      // Nodes peers match node addresses. A pod on the pod network never has one; an
      // address outside the pod network, or a host-network pod, might.
      if (other.kind === "pod" && !other.pod.hostNetwork) return NO;
      return {
        kind: "unknown",
        code: "admin_node_peer",
        why: `whether ${describeEndpoint(other)} is the address of a node labelled ${peer.selector} is not known (the cluster state has no Node objects)`,
      };
    }
    case "domainNames":
      if (other.kind === "pod") return NO;
      return {
        kind: "unknown",
        code: "admin_domain_peer",
        why: `whether ${describeEndpoint(other)} is an address of ${peer.domainNames.join(", ")} is not known (depends on DNS answers)`,
      };
  }
}

function ruleMatches(
  rule: CompiledAdminRule,
  other: Endpoint,
  otherAddress: IpAddress | undefined,
  family: IpFamily,
  query: ConnectionQuery,
  index: PolicyIndex,
): Match {
  if (!portsMatch(rule.ports, query)) return NO;
  // Peers are ORed: a certain match wins over one that depends on unknown facts.
  let unknown: Match | undefined;
  for (const peer of rule.peers) {
    const match = peerMatches(peer, other, otherAddress, family, index);
    if (match.kind === "yes") return YES;
    if (match.kind === "unknown" && unknown === undefined) unknown = match;
  }
  return unknown ?? NO;
}

function rulesOf(policy: CompiledAdminPolicy, direction: Direction): readonly CompiledAdminRule[] {
  return direction === "ingress" ? policy.ingress : policy.egress;
}

function ruleRef(policy: CompiledAdminPolicy, direction: Direction, rule: CompiledAdminRule): RuleRef {
  return { policy: policy.name, direction, rule: rule.index, kind: policy.kind, ...(rule.name !== null ? { ruleName: rule.name } : {}) };
}

function ruleStep(policy: CompiledAdminPolicy, rule: CompiledAdminRule): TierStep {
  return {
    tier: policy.kind === "AdminNetworkPolicy" ? "admin" : "baseline",
    action: rule.action,
    policy: policy.name,
    ...(policy.kind === "AdminNetworkPolicy" ? { priority: policy.priority } : {}),
    rule: rule.index,
    ...(rule.name !== null ? { ruleName: rule.name } : {}),
  };
}

interface Hit {
  readonly policy: CompiledAdminPolicy;
  readonly rule: CompiledAdminRule;
}

interface Walk {
  /** The first rule that matches for certain. */
  readonly decided: Hit | undefined;
  /** Rules before it whose match depends on unknown facts: any of them might decide instead. */
  readonly maybe: readonly (Hit & { readonly match: Match & { kind: "unknown" } })[];
}

/** First match over the policies' rules, in order. */
function walkRules(
  policies: readonly CompiledAdminPolicy[],
  direction: Direction,
  other: Endpoint,
  otherAddress: IpAddress | undefined,
  family: IpFamily,
  query: ConnectionQuery,
  index: PolicyIndex,
): Walk {
  const maybe: (Hit & { match: Match & { kind: "unknown" } })[] = [];
  for (const policy of policies) {
    for (const rule of rulesOf(policy, direction)) {
      const match = ruleMatches(rule, other, otherAddress, family, query, index);
      if (match.kind === "yes") return { decided: { policy, rule }, maybe };
      if (match.kind === "unknown") maybe.push({ policy, rule, match });
    }
  }
  return { decided: undefined, maybe };
}

interface Outcome {
  readonly allowed: boolean;
  readonly steps: readonly TierStep[];
  readonly allowedBy: readonly RuleRef[];
  readonly deniedBy?: RuleRef;
  readonly notes: readonly VerdictNote[];
}

function unknownNote(direction: Direction, subject: string, hit: Hit & { match: Match & { kind: "unknown" } }, action: string): VerdictNote {
  return {
    code: hit.match.code,
    kind: "unknown",
    message: `${direction} of ${subject}: ${formatNamedRule(ruleRef(hit.policy, direction, hit.rule))} would ${action.toLowerCase()} this connection, but ${hit.match.why}`,
  };
}

/**
 * One direction of a connection through the tiers. networkPolicyTier is the plain
 * NetworkPolicy evaluation of that direction (it adds its notes to the array it is given).
 * Without admin policies in the index, the NetworkPolicy verdict is returned as it is.
 */
export function evaluateTiers(
  index: PolicyIndex,
  query: ConnectionQuery,
  direction: Direction,
  family: IpFamily,
  notes: VerdictNote[],
  networkPolicyTier: (notes: VerdictNote[]) => DirectionVerdict,
): DirectionVerdict {
  const tiers = index.admin;
  if (tiers === undefined) return networkPolicyTier(notes);
  const subject = direction === "egress" ? query.from : query.to;
  // Endpoints outside the cluster carry no policy; host-network pods are never a subject.
  if (subject.kind !== "pod" || subject.pod.hostNetwork) return networkPolicyTier(notes);
  const pod = subject.pod;
  const other = direction === "egress" ? query.to : query.from;
  const otherAddress = other.kind === "ip" ? other.ip : other.pod.ips.find((ip) => ip.family === family);
  const npNotes: VerdictNote[] = [];
  const np = networkPolicyTier(npNotes);

  // Tiers 2 and 3, computed when needed (after Pass or no ANP match, or to weigh alternatives).
  let lower: Outcome | undefined;
  const lowerTiers = (): Outcome => {
    if (lower) return lower;
    // A pod its NetworkPolicies isolate for this direction is decided by them; the BANP is not consulted.
    if (np.isolated) {
      lower = { allowed: np.allowed, steps: [{ tier: "networkpolicy", action: np.allowed ? "Allow" : "Deny" }], allowedBy: np.allowedBy, notes: npNotes };
      return lower;
    }
    const steps: TierStep[] = [{ tier: "networkpolicy", action: "NoMatch" }];
    const baseline = tiers.baseline;
    if (baseline === null) {
      lower = { allowed: true, steps, allowedBy: [], notes: npNotes };
      return lower;
    }
    const walk = podSetSelects(baseline.subject, pod, index) ? walkRules([baseline], direction, other, otherAddress, family, query, index) : { decided: undefined, maybe: [] };
    const decided = walk.decided;
    // No BANP rule matches: allowed.
    const allowed = decided === undefined || decided.rule.action === "Allow";
    const baselineNotes = walk.maybe.filter((hit) => (hit.rule.action === "Allow") !== allowed).map((hit) => unknownNote(direction, np.subject, hit, hit.rule.action));
    if (decided === undefined) {
      lower = { allowed, steps: [...steps, { tier: "baseline", action: "NoMatch", policy: baseline.name }], allowedBy: [], notes: [...npNotes, ...baselineNotes] };
    } else {
      const ref = ruleRef(baseline, direction, decided.rule);
      lower = {
        allowed,
        steps: [...steps, ruleStep(baseline, decided.rule)],
        allowedBy: allowed ? [ref] : [],
        ...(allowed ? {} : { deniedBy: ref }),
        notes: [...npNotes, ...baselineNotes],
      };
    }
    return lower;
  };
  const allowedAfter = (action: AdminAction): boolean => (action === "Pass" ? lowerTiers().allowed : action === "Allow");

  // Tier 1: the ANPs that select the subject, highest precedence first.
  const selecting = tiers.admin.filter((policy) => podSetSelects(policy.subject, pod, index));
  const walk = walkRules(selecting, direction, other, otherAddress, family, query, index);
  const decided = walk.decided;
  let outcome: Outcome;
  if (decided !== undefined && decided.rule.action !== "Pass") {
    // Allow and Deny are final: NetworkPolicy and the BANP are not consulted.
    const ref = ruleRef(decided.policy, direction, decided.rule);
    const allowed = decided.rule.action === "Allow";
    outcome = { allowed, steps: [ruleStep(decided.policy, decided.rule)], allowedBy: allowed ? [ref] : [], ...(allowed ? {} : { deniedBy: ref }), notes: [] };
  } else {
    const rest = lowerTiers();
    const first: TierStep = decided !== undefined ? ruleStep(decided.policy, decided.rule) : { tier: "admin", action: "NoMatch" };
    outcome = { ...rest, steps: [first, ...rest.steps] };
  }

  const tierNotes: VerdictNote[] = [...outcome.notes];
  // A rule before the deciding one that might match would decide instead: say so when it would decide otherwise.
  for (const hit of walk.maybe) {
    if (allowedAfter(hit.rule.action) !== outcome.allowed) tierNotes.push(unknownNote(direction, np.subject, hit, hit.rule.action));
  }
  // Between ANPs of equal priority the order is undefined: any of them may decide.
  if (decided !== undefined) {
    for (const policy of selecting) {
      if (policy === decided.policy || policy.priority !== decided.policy.priority) continue;
      const rival = walkRules([policy], direction, other, otherAddress, family, query, index).decided;
      if (rival === undefined || allowedAfter(rival.rule.action) === outcome.allowed) continue;
      tierNotes.push({
        code: "admin_same_priority",
        kind: "undefined",
        message:
          `${direction} of ${np.subject}: AdminNetworkPolicies ${decided.policy.name} and ${policy.name} share priority ${policy.priority} and disagree ` +
          `(${formatNamedRule(ruleRef(decided.policy, direction, decided.rule))}: ${decided.rule.action}; ${formatNamedRule(ruleRef(policy, direction, rival.rule))}: ${rival.rule.action}); ` +
          "Kubernetes does not define which one applies",
      });
    }
  }
  notes.push(...tierNotes);
  return {
    ...np,
    allowed: outcome.allowed,
    allowedBy: outcome.allowedBy,
    ...(outcome.deniedBy !== undefined ? { deniedBy: outcome.deniedBy } : {}),
    tiers: outcome.steps,
  };
}

/** An admin-tier rule of a policy whose subject selects a pod (policy/rules.ts lists them). */
export interface AdminRuleOf {
  readonly ref: RuleRef;
  readonly action: AdminAction;
  readonly ports: readonly AdminPort[] | null;
  /** The rule alone matches this peer on this port (named ports on `destination`): not a verdict (earlier rules and tiers aside). */
  readonly matches: (peer: Endpoint, destination: Endpoint, port: number, protocol: Protocol) => boolean;
}

/** The rules, for one direction, of every ANP and the BANP whose subject selects the pod (no pod: of all of them), in tier order. */
export function adminRulesFor(index: PolicyIndex, pod: PodInfo | undefined, direction: Direction): AdminRuleOf[] {
  const tiers = index.admin;
  if (tiers === undefined || pod?.hostNetwork) return [];
  const policies = [...tiers.admin, ...(tiers.baseline ? [tiers.baseline] : [])].filter((policy) => pod === undefined || podSetSelects(policy.subject, pod, index));
  return policies.flatMap((policy) =>
    rulesOf(policy, direction).map((rule) => ({
      ref: ruleRef(policy, direction, rule),
      action: rule.action,
      ports: rule.ports,
      matches: (peer: Endpoint, destination: Endpoint, port: number, protocol: Protocol) => {
        const family: IpFamily = peer.kind === "ip" ? peer.ip.family : peer.pod.ips.some((ip) => ip.family === 4) || peer.pod.ips.length === 0 ? 4 : 6;
        const address = peer.kind === "ip" ? peer.ip : peer.pod.ips.find((ip) => ip.family === family);
        return ruleMatches(rule, peer, address, family, { from: peer, to: destination, port, protocol }, index).kind === "yes";
      },
    })),
  );
}
