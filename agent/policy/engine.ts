// The NetworkPolicy verdict engine: for one connection (source -> destination:port/protocol),
// does the source's egress and the destination's ingress admit it, and why.
// Pure functions over plain data; the index is rebuilt on cluster changes, or patched when
// only NetworkPolicies changed.

import { type Cidr, cidrContainsIp, type IpAddress, type IpFamily } from "../addresses/ip.js";
import { type NamespaceInfo, type PodInfo, podKey, type Protocol, type ServiceInfo } from "../objects/model.js";
import type {
  Direction,
  DirectionVerdict,
  NetworkPolicy,
  PolicyPort,
  PolicyVerdict,
  RuleRef,
  VerdictNote,
} from "./model.js";
import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from "./admin-model.js";
import { type AdminTiers, compileAdminTiers, evaluateTiers } from "./admin.js";
import { describeEndpoint, type Endpoint, labelsOfNamespace, resolveNamedPort } from "./endpoints.js";
import { compileSelector, type LabelMatcher } from "./selectors.js";

export { describeEndpoint, type Endpoint, resolveNamedPort } from "./endpoints.js";

export interface ConnectionQuery {
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly port: number;
  readonly protocol: Protocol;
}

type CompiledPeer =
  | { readonly kind: "pods"; readonly namespaces: LabelMatcher | null; readonly pods: LabelMatcher | null }
  | { readonly kind: "ipBlock"; readonly cidr: Cidr; readonly except: readonly Cidr[] };

interface CompiledRule {
  readonly index: number;
  readonly peers: readonly CompiledPeer[] | null;
  readonly ports: readonly PolicyPort[] | null;
}

export interface CompiledPolicy {
  readonly policy: NetworkPolicy;
  readonly id: string;
  readonly selects: LabelMatcher;
  readonly ingress: readonly CompiledRule[];
  readonly egress: readonly CompiledRule[];
}

export interface PolicyIndex {
  /** Any NetworkPolicy or admin-tier policy at all: without one, nothing is isolated anywhere. */
  readonly hasPolicies: boolean;
  readonly namespaces: ReadonlyMap<string, NamespaceInfo>;
  /** NetworkPolicies select pods in their own namespace only, so they are grouped by it. */
  readonly policiesByNamespace: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly podsByIp: ReadonlyMap<string, PodInfo>;
  readonly podsByKey: ReadonlyMap<string, PodInfo>;
  readonly servicesByIp: ReadonlyMap<string, ServiceInfo>;
  /** AdminNetworkPolicies and the BaselineAdminNetworkPolicy; absent when the cluster has neither. */
  readonly admin?: AdminTiers;
}

function compileRules(rules: NetworkPolicy["ingress"]): CompiledRule[] {
  return rules.map((rule, index) => ({
    index,
    ports: rule.ports,
    peers:
      rule.peers === null
        ? null
        : rule.peers.map((peer): CompiledPeer =>
            peer.kind === "ipBlock"
              ? peer
              : {
                  kind: "pods",
                  namespaces: peer.namespaceSelector ? compileSelector(peer.namespaceSelector) : null,
                  pods: peer.podSelector ? compileSelector(peer.podSelector) : null,
                },
          ),
  }));
}

export function compilePolicy(policy: NetworkPolicy): CompiledPolicy {
  return {
    policy,
    id: `${policy.namespace}/${policy.name}`,
    selects: compileSelector(policy.podSelector),
    ingress: policy.ingressIsolation ? compileRules(policy.ingress) : [],
    egress: policy.egressIsolation ? compileRules(policy.egress) : [],
  };
}

/** What the engine reads of the cluster (a ClusterSnapshot is one). */
export interface PolicyInputs {
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly policies: readonly NetworkPolicy[];
  readonly services: readonly ServiceInfo[];
  /** AdminNetworkPolicies (cluster-scoped), evaluated before NetworkPolicies. */
  readonly adminPolicies?: readonly AdminNetworkPolicy[];
  /** The BaselineAdminNetworkPolicy singleton ("default"), evaluated when NetworkPolicies do not isolate. */
  readonly baselinePolicy?: BaselineAdminNetworkPolicy;
}

export function buildPolicyIndex(snapshot: PolicyInputs): PolicyIndex {
  const namespaces = new Map(snapshot.namespaces.map((ns) => [ns.name, ns]));
  const policiesByNamespace = new Map<string, CompiledPolicy[]>();
  for (const policy of snapshot.policies) {
    const list = policiesByNamespace.get(policy.namespace) ?? [];
    list.push(compilePolicy(policy));
    policiesByNamespace.set(policy.namespace, list);
  }
  const podsByIp = new Map<string, PodInfo>();
  const podsByKey = new Map<string, PodInfo>();
  for (const pod of snapshot.pods) {
    podsByKey.set(podKey(pod), pod);
    // Host-network pods share the node's address; that address does not identify them.
    if (!pod.hostNetwork) for (const ip of pod.ips) podsByIp.set(ip.text, pod);
  }
  const servicesByIp = new Map<string, ServiceInfo>();
  for (const service of snapshot.services) for (const ip of service.clusterIps) servicesByIp.set(ip.text, service);
  const admin = compileAdminTiers(snapshot.adminPolicies, snapshot.baselinePolicy);
  return { hasPolicies: snapshot.policies.length > 0 || admin !== undefined, namespaces, policiesByNamespace, podsByIp, podsByKey, servicesByIp, ...(admin ? { admin } : {}) };
}

function withPolicies(index: PolicyIndex, policiesByNamespace: Map<string, readonly CompiledPolicy[]>): PolicyIndex {
  const hasPolicies = index.admin !== undefined || [...policiesByNamespace.values()].some((list) => list.length > 0);
  return { ...index, policiesByNamespace, hasPolicies };
}

/**
 * The index with one NetworkPolicy added or replaced: only that policy is compiled and only
 * its namespace's list rebuilt (what the agent does when a batch of changes holds only
 * NetworkPolicies).
 */
export function withPolicy(index: PolicyIndex, policy: NetworkPolicy): PolicyIndex {
  const id = `${policy.namespace}/${policy.name}`;
  const current = index.policiesByNamespace.get(policy.namespace) ?? [];
  const policiesByNamespace = new Map(index.policiesByNamespace);
  policiesByNamespace.set(policy.namespace, [...current.filter((p) => p.id !== id), compilePolicy(policy)]);
  return withPolicies(index, policiesByNamespace);
}

export function withoutPolicy(index: PolicyIndex, namespace: string, name: string): PolicyIndex {
  const id = `${namespace}/${name}`;
  const current = index.policiesByNamespace.get(namespace) ?? [];
  const policiesByNamespace = new Map(index.policiesByNamespace);
  policiesByNamespace.set(namespace, current.filter((p) => p.id !== id));
  return withPolicies(index, policiesByNamespace);
}

/** Which address family the connection uses: the one the query names, else IPv4 when possible. */
function connectionFamily(query: ConnectionQuery): IpFamily {
  if (query.to.kind === "ip") return query.to.ip.family;
  if (query.from.kind === "ip") return query.from.ip.family;
  const families = (pod: PodInfo) => new Set(pod.ips.map((ip) => ip.family));
  const a = families(query.from.pod);
  const b = families(query.to.pod);
  if ((a.size === 0 || a.has(4)) && (b.size === 0 || b.has(4))) return 4;
  return 6;
}

function addressOf(endpoint: Endpoint, family: IpFamily): IpAddress | undefined {
  return endpoint.kind === "ip" ? endpoint.ip : endpoint.pod.ips.find((ip) => ip.family === family);
}

function portsAdmit(ports: readonly PolicyPort[] | null, port: number, protocol: Protocol, destination: Endpoint): boolean {
  // An empty or absent port list admits every port and protocol.
  if (ports === null) return true;
  for (const entry of ports) {
    // A rule's port entry matches its own protocol only (TCP when unset).
    if (entry.protocol !== protocol) continue;
    // No port: every port of that protocol.
    if (entry.port === null) return true;
    if (typeof entry.port === "number") {
      // endPort makes an inclusive range.
      if (entry.endPort !== null ? port >= entry.port && port <= entry.endPort : port === entry.port) return true;
      continue;
    }
    // A named port is looked up on the destination pod, by name and protocol; an
    // address outside the cluster has no named ports.
    if (destination.kind === "pod" && resolveNamedPort(destination.pod, entry.port, protocol) === port) return true;
  }
  return false;
}

type PeerMatch = "yes" | "no" | "via_ipblock" | "unknown_ip";

function peerMatches(
  peer: CompiledPeer,
  policyNamespace: string,
  other: Endpoint,
  otherAddress: IpAddress | undefined,
  family: IpFamily,
  index: PolicyIndex,
): PeerMatch {
  if (peer.kind === "ipBlock") {
    const { cidr, except } = peer;
    if (otherAddress === undefined) {
      // A workload whose pods are not created yet has no IP: the block may or may not match it,
      // unless the block is of the other address family than the connection.
      return other.kind === "pod" && other.pod.ips.length === 0 && cidr.family === family ? "unknown_ip" : "no";
    }
    // The block's family must match the address; masked CIDR; except wins.
    if (!cidrContainsIp(cidr, otherAddress)) return "no";
    if (except.some((excluded) => cidrContainsIp(excluded, otherAddress))) return "no";
    return other.kind === "pod" ? "via_ipblock" : "yes";
  }
  // Pod and namespace selectors only ever match pods.
  if (other.kind !== "pod") return "no";
  const pod = other.pod;
  // namespaceSelector and podSelector in one peer are ANDed. Without a namespaceSelector
  // the peer means the policy's own namespace; without a podSelector, every pod in the
  // selected namespaces.
  const inNamespaces = peer.namespaces === null ? pod.namespace === policyNamespace : peer.namespaces(labelsOfNamespace(index, pod.namespace));
  if (!inNamespaces) return "no";
  return peer.pods === null || peer.pods(pod.labels) ? "yes" : "no";
}

interface RuleOutcome {
  /** Rules that admit the connection by selectors, or by ipBlock on an address outside the cluster. */
  readonly allowedBy: RuleRef[];
  /** Rules that admit it only because an ipBlock contains the peer pod's IP. */
  readonly allowedByIpBlockOnPod: RuleRef[];
  /** Rules that would admit it if an ipBlock matched the peer's unknown IP. */
  readonly maybeBy: RuleRef[];
}

function evaluateRules(
  policy: CompiledPolicy,
  direction: Direction,
  other: Endpoint,
  otherAddress: IpAddress | undefined,
  family: IpFamily,
  destination: Endpoint,
  query: ConnectionQuery,
  index: PolicyIndex,
  outcome: RuleOutcome,
): void {
  const rules = direction === "ingress" ? policy.ingress : policy.egress;
  for (const rule of rules) {
    if (!portsAdmit(rule.ports, query.port, query.protocol, destination)) continue;
    const ref: RuleRef = { policy: policy.id, direction, rule: rule.index };
    // An empty or absent from/to list admits every peer; separate peers are ORed.
    if (rule.peers === null) {
      outcome.allowedBy.push(ref);
      continue;
    }
    let best: PeerMatch = "no";
    for (const peer of rule.peers) {
      const match = peerMatches(peer, policy.policy.namespace, other, otherAddress, family, index);
      if (match === "yes") {
        best = "yes";
        break;
      }
      if (match === "via_ipblock" || (match === "unknown_ip" && best === "no")) best = match;
    }
    if (best === "yes") outcome.allowedBy.push(ref);
    else if (best === "via_ipblock") outcome.allowedByIpBlockOnPod.push(ref);
    else if (best === "unknown_ip") outcome.maybeBy.push(ref);
  }
}

/**
 * One rule alone: does it admit this peer on this port (a named port resolved on
 * `destination`)? Not a verdict (the other policies, the admin tiers and the notes aside):
 * a cheap first look for probe derivation, which then asks evaluateConnection.
 */
export function ruleAdmitsPeer(index: PolicyIndex, policy: CompiledPolicy, direction: Direction, ruleIndex: number): (peer: Endpoint, destination: Endpoint, port: number, protocol: Protocol) => boolean {
  const rule = (direction === "ingress" ? policy.ingress : policy.egress).find((r) => r.index === ruleIndex);
  return (peer, destination, port, protocol) => {
    if (!rule || !portsAdmit(rule.ports, port, protocol, destination)) return false;
    if (rule.peers === null) return true;
    const family: IpFamily = peer.kind === "ip" ? peer.ip.family : peer.pod.ips.some((ip) => ip.family === 4) || peer.pod.ips.length === 0 ? 4 : 6;
    const address = addressOf(peer, family);
    return rule.peers.some((candidate) => {
      const match = peerMatches(candidate, policy.policy.namespace, peer, address, family, index);
      return match === "yes" || match === "via_ipblock";
    });
  };
}

/** Policies selecting this pod for a direction. Only policies of the pod's namespace can. */
export function selectingPolicies(index: PolicyIndex, pod: PodInfo, direction: Direction): CompiledPolicy[] {
  const candidates = index.policiesByNamespace.get(pod.namespace);
  if (!candidates) return [];
  const selected: CompiledPolicy[] = [];
  for (const policy of candidates) {
    const isolates = direction === "ingress" ? policy.policy.ingressIsolation : policy.policy.egressIsolation;
    if (isolates && policy.selects(pod.labels)) selected.push(policy);
  }
  return selected;
}

function evaluateDirection(
  index: PolicyIndex,
  query: ConnectionQuery,
  direction: Direction,
  family: IpFamily,
  notes: VerdictNote[],
): DirectionVerdict {
  const subject = direction === "egress" ? query.from : query.to;
  const other = direction === "egress" ? query.to : query.from;
  const base = { direction, subject: describeEndpoint(subject) };
  // Endpoints outside the cluster contribute no policy.
  if (subject.kind === "ip") {
    return { ...base, applies: false, isolated: false, policies: [], allowedBy: [], allowed: true };
  }
  // NetworkPolicy does not apply to host-network pods (the caller notes this as undefined).
  if (subject.pod.hostNetwork) {
    return { ...base, applies: false, isolated: false, policies: [], allowedBy: [], allowed: true };
  }
  const policies = selectingPolicies(index, subject.pod, direction);
  // A pod selected by no policy for this direction is not isolated: everything is admitted.
  if (policies.length === 0) {
    return { ...base, applies: true, isolated: false, policies: [], allowedBy: [], allowed: true };
  }
  // Isolated: admitted only if some rule of some selecting policy admits it (a union).
  const outcome: RuleOutcome = { allowedBy: [], allowedByIpBlockOnPod: [], maybeBy: [] };
  const otherAddress = addressOf(other, family);
  for (const policy of policies) evaluateRules(policy, direction, other, otherAddress, family, query.to, query, index, outcome);

  // Upstream conformance expects ipBlock to match pod IPs; some network plugins never do.
  const allowedBy = [...outcome.allowedBy, ...outcome.allowedByIpBlockOnPod];
  if (outcome.allowedBy.length === 0 && outcome.allowedByIpBlockOnPod.length > 0) {
    notes.push({
      code: "ipblock_matches_pod_ip",
      kind: "cni_dependent",
      message: `${direction} of ${base.subject} is allowed only by an ipBlock containing the IP of pod ${describeEndpoint(other)}; network plugins that do not apply ipBlock to pod traffic deny it`,
    });
  }
  if (allowedBy.length === 0 && outcome.maybeBy.length > 0) {
    notes.push({
      code: "ipblock_unknown_ip",
      kind: "unknown",
      message: `${direction} of ${base.subject} depends on whether an ipBlock contains the IP of ${describeEndpoint(other)}, which is not known (pods not created yet)`,
    });
  }
  return {
    ...base,
    applies: true,
    isolated: true,
    policies: policies.map((p) => p.id),
    allowedBy,
    allowed: allowedBy.length > 0,
  };
}

function cornerNotes(index: PolicyIndex, query: ConnectionQuery): VerdictNote[] {
  const notes: VerdictNote[] = [];
  const { from, to } = query;
  if (from.kind === "pod" && to.kind === "pod" && !from.pod.workload && podKey(from.pod) === podKey(to.pod)) {
    notes.push({ code: "self_traffic", kind: "undefined", message: "traffic from a pod to itself is not defined by NetworkPolicy" });
  }
  for (const endpoint of [from, to]) {
    if (endpoint.kind === "pod" && endpoint.pod.hostNetwork) {
      notes.push({
        code: "host_network",
        kind: "undefined",
        message: `${describeEndpoint(endpoint)} uses the host network: NetworkPolicy behaviour for host-network pods is undefined`,
      });
    }
  }
  if (to.kind === "ip") {
    const service = index.servicesByIp.get(to.ip.text);
    if (service) {
      notes.push({
        code: "service_ip",
        kind: "undefined",
        message: `${to.ip.text} is the cluster IP of Service ${service.namespace}/${service.name}: policies apply to its backends after address translation, and ipBlock rules on Service IPs are undefined; query the backend pods`,
      });
    }
  }
  if (from.kind === "ip" && to.kind === "pod" && !to.pod.hostNetwork && selectingPolicies(index, to.pod, "ingress").length > 0) {
    notes.push({
      code: "source_may_be_rewritten",
      kind: "cni_dependent",
      message: `traffic entering the cluster may reach ${describeEndpoint(to)} with a rewritten source address (load balancer or node IP), depending on the network plugin and Service setup`,
    });
  }
  return notes;
}

/** Resolves an IP to the pod that owns it, or leaves it as an address outside the cluster. */
export function endpointForIp(index: PolicyIndex, ip: IpAddress): Endpoint {
  const pod = index.podsByIp.get(ip.text);
  return pod ? { kind: "pod", pod } : { kind: "ip", ip };
}

/** The verdict for a new connection: it needs the source's egress and the destination's ingress. */
export function evaluateConnection(index: PolicyIndex, query: ConnectionQuery): PolicyVerdict {
  const notes = cornerNotes(index, query);
  const family = connectionFamily(query);
  const egressNotes: VerdictNote[] = [];
  const ingressNotes: VerdictNote[] = [];
  // Each direction goes through the admin tiers when the cluster has any (else NetworkPolicy alone).
  const egress = evaluateTiers(index, query, "egress", family, egressNotes, (n) => evaluateDirection(index, query, "egress", family, n));
  const ingress = evaluateTiers(index, query, "ingress", family, ingressNotes, (n) => evaluateDirection(index, query, "ingress", family, n));
  // A direction's note (an ipBlock matching a pod IP, an ipBlock against an IP not known yet)
  // can change the verdict only if the other direction admits the connection, or might: when
  // the other direction denies for certain, the verdict is a determinate deny on any plugin.
  const mightAllow = (side: DirectionVerdict, sideNotes: readonly VerdictNote[]) =>
    side.allowed || sideNotes.some((note) => note.kind === "unknown");
  if (mightAllow(ingress, ingressNotes)) notes.push(...egressNotes);
  if (mightAllow(egress, egressNotes)) notes.push(...ingressNotes);
  return {
    verdict: egress.allowed && ingress.allowed ? "allow" : "deny",
    determinate: !notes.some((note) => note.kind === "undefined" || note.kind === "unknown"),
    cniDependent: notes.some((note) => note.kind === "cni_dependent"),
    egress,
    ingress,
    notes,
  };
}
