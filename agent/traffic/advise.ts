// Least-privilege NetworkPolicies written from a traffic map, and their check. Pure: the map,
// a snapshot index (for Services: which pods back them, on which port) and Zscaler's published
// ranges in; Kubernetes objects and YAML text out.
//
// For each namespace whose workloads were observed: a default-deny of both directions, then one
// policy per workload (selected by the labels its pods carry) allowing exactly the connections
// seen: to and from the workloads it talked to (namespaceSelector by kubernetes.io/metadata.name,
// podSelector by their labels), to Services through the pods they select (the Service's own
// selector, on its targetPort: NetworkPolicy acts after the address is translated), to nodes by
// their /32, to Zscaler by the published range holding each address, to other external
// addresses by their configured range or /32. DNS is a Service or workload like any other, so
// the rule selects the DNS pods by the labels this cluster gives them; a flow to port 53 over
// UDP also allows TCP 53 (resolvers retry truncated answers over TCP).
//
// Output is stable for clean diffs: namespaces, policies, rules, peers, ports and labels sorted,
// no timestamp. The check (checkAdvice) feeds the printed YAML back through the manifest reader
// and the engine: every observed flow must be allowed, and unobserved traffic denied.

import { stringify } from "yaml";
import { cidrContainsIp, type Cidr, compareCidrs, parseCidr, parseIp } from "../addresses/ip.js";
import { collapseCidrs } from "../addresses/ranges.js";
import { snapshotFromDocuments } from "../cluster/manifests.js";
import { type ClusterSnapshot, NAMESPACE_NAME_LABEL } from "../cluster/snapshot.js";
import { formatInputError, parseDocuments } from "../documents/located.js";
import { buildPolicyIndex, type PolicyIndex } from "../policy/engine.js";
import type { NetworkPolicy } from "../policy/model.js";
import { type FlowMap, type FlowPeer, type FlowWorkload, flowKey, type ObservedFlow, workloadKey } from "./flow.js";
import { describePeer, findService, type FlowJudgement, judgeFlow, withMapNamespaces } from "./judge.js";

type Labels = Readonly<Record<string, string>>;

export interface SelectorObject {
  readonly matchLabels: Labels;
}

export type PeerObject = { readonly namespaceSelector: SelectorObject; readonly podSelector: SelectorObject } | { readonly ipBlock: { readonly cidr: string } };

export interface PortObject {
  readonly protocol: "TCP" | "UDP";
  readonly port: number | string;
}

export interface IngressRuleObject {
  readonly from: readonly PeerObject[];
  readonly ports: readonly PortObject[];
}

export interface EgressRuleObject {
  readonly to: readonly PeerObject[];
  readonly ports: readonly PortObject[];
}

export interface SuggestedPolicy {
  readonly apiVersion: "networking.k8s.io/v1";
  readonly kind: "NetworkPolicy";
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Labels; readonly annotations?: Labels };
  readonly spec: {
    readonly podSelector: SelectorObject;
    readonly policyTypes: readonly ("Ingress" | "Egress")[];
    readonly ingress?: readonly IngressRuleObject[];
    readonly egress?: readonly EgressRuleObject[];
  };
}

export interface AdviseInput {
  readonly map: Pick<FlowMap, "flows" | "namespaces">;
  /** The cluster as far as known (manifests or a live snapshot): Services and their backends. Its policies are not used. */
  readonly index: PolicyIndex;
  /** Zscaler's published ranges, collapsed: external addresses inside them are allowed by these ranges. */
  readonly zscalerRanges?: readonly Cidr[];
  /** Only these namespaces get policies (default: every namespace with an observed workload). */
  readonly namespaces?: readonly string[];
}

export interface Advice {
  /** Sorted by namespace; in each, the default-deny first, then by name. */
  readonly policies: readonly SuggestedPolicy[];
  /** Flows no rule can be written for, with the reason (they fail the check). */
  readonly unwritable: readonly { readonly key: string; readonly reason: string }[];
  /** Things a person should know (a workload without labels selects its whole namespace). */
  readonly warnings: readonly string[];
}

export const MANAGED_BY = { "app.kubernetes.io/managed-by": "netcanary" } as const;
export const DEFAULT_DENY_NAME = "netcanary-default-deny";

/** One end of a connection as a policy names it. */
type Side =
  | { readonly kind: "pods"; readonly namespace: string; readonly labels: Labels; readonly name: string }
  | { readonly kind: "cidrs"; readonly cidrs: readonly string[] };

interface Connection {
  readonly client: Side;
  readonly server: Side;
  readonly ports: readonly PortObject[];
}

interface Subject {
  readonly namespace: string;
  readonly labels: Labels;
  readonly names: Set<string>;
  readonly ingress: Map<string, { side: Side; ports: Map<string, PortObject> }>;
  readonly egress: Map<string, { side: Side; ports: Map<string, PortObject> }>;
}

function sorted(labels: Labels): Labels {
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) out[key] = labels[key] as string;
  return out;
}

function labelsKey(labels: Labels): string {
  return JSON.stringify(sorted(labels));
}

function podsSide(workload: FlowWorkload): Side {
  return { kind: "pods", namespace: workload.namespace, labels: workload.labels, name: workload.name };
}

function hostCidr(address: string): string | undefined {
  const ip = parseIp(address);
  return ip.ok ? `${ip.value.text}/${ip.value.family === 4 ? 32 : 128}` : undefined;
}

/** The published range holding an address, else the range the observer gave it. */
function externalCidrs(addresses: readonly string[], fallback: string, zscaler: readonly Cidr[]): string[] {
  if (addresses.length === 0) return [fallback];
  return addresses.map((text) => {
    const ip = parseIp(text);
    const range = ip.ok ? zscaler.find((cidr) => cidrContainsIp(cidr, ip.value)) : undefined;
    return range?.text ?? fallback;
  });
}

function portObject(protocol: "TCP" | "UDP", port: number | string): PortObject {
  return { protocol, port };
}

/** Observed ports, with TCP 53 beside UDP 53 (a resolver retries a truncated answer over TCP). */
function withDns(ports: readonly PortObject[]): PortObject[] {
  const dns = ports.some((p) => p.protocol === "UDP" && p.port === 53);
  return dns ? [...ports, portObject("TCP", 53)] : [...ports];
}

/** The servers of an outbound flow to a Service: the pods its selector picks, on its targetPort. */
function serviceServers(index: PolicyIndex, flow: ObservedFlow, peer: Extract<FlowPeer, { kind: "service" }>): { server: Side; ports: PortObject[] }[] | string {
  const service = findService(index, peer.namespace, peer.name);
  if (service) {
    const port = service.ports.find((p) => p.port === flow.port && p.protocol === flow.protocol);
    if (!port) return `Service ${peer.namespace}/${peer.name} has no ${flow.protocol} port ${flow.port}`;
    if (service.selector === undefined || Object.keys(service.selector).length === 0) {
      return `Service ${peer.namespace}/${peer.name} has no selector: its backends cannot be selected by labels`;
    }
    const server: Side = { kind: "pods", namespace: service.namespace, labels: service.selector, name: `${service.name}-backends` };
    return [{ server, ports: [portObject(flow.protocol, port.targetPort)] }];
  }
  if (peer.backends && peer.backends.length > 0) {
    return peer.backends.map((b) => ({ server: podsSide(b.workload), ports: [portObject(flow.protocol, b.port)] }));
  }
  return `Service ${peer.namespace}/${peer.name} is in neither the manifests nor the map with its backends: give its manifest (--manifests)`;
}

/** The connections a flow stands for, or why none can be written. */
function connectionsOf(input: AdviseInput, flow: ObservedFlow): Connection[] | string {
  const zscaler = input.zscalerRanges ?? [];
  const local = podsSide(flow.local);
  const ports = withDns([portObject(flow.protocol, flow.port)]);
  const peer = flow.peer;
  let remote: Side;
  switch (peer.kind) {
    case "unnamed":
      return `peer ${peer.address} is not named (${peer.reason})`;
    case "service": {
      if (flow.direction === "inbound") return `an inbound connection from Service ${peer.namespace}/${peer.name}'s address is not one NetworkPolicy defines`;
      const servers = serviceServers(input.index, flow, peer);
      if (typeof servers === "string") return servers;
      return servers.map(({ server, ports: target }) => ({ client: local, server, ports: withDns(target) }));
    }
    case "workload":
      remote = podsSide(peer.workload);
      break;
    case "node": {
      const cidrs = flow.remoteAddresses.flatMap((a) => hostCidr(a) ?? []);
      if (cidrs.length === 0) return `no address of node ${peer.name} was recorded`;
      remote = { kind: "cidrs", cidrs };
      break;
    }
    case "zscaler":
    case "external":
      remote = { kind: "cidrs", cidrs: externalCidrs(flow.remoteAddresses, peer.range, zscaler) };
      break;
  }
  return flow.direction === "outbound" ? [{ client: local, server: remote, ports }] : [{ client: remote, server: local, ports }];
}

function sideKey(side: Side): string {
  return side.kind === "pods" ? `pods|${side.namespace}|${labelsKey(side.labels)}` : `cidrs`;
}

function subjectKey(side: Extract<Side, { kind: "pods" }>): string {
  return `${side.namespace}|${labelsKey(side.labels)}`;
}

function portKey(port: PortObject): string {
  return `${port.protocol}|${typeof port.port === "number" ? String(port.port).padStart(5, "0") : `~${port.port}`}`;
}

function addRule(rules: Subject["ingress"], other: Side, ports: readonly PortObject[]): void {
  // ipBlock peers are grouped by their ports below; pod peers are a rule each.
  const cidrKey = other.kind === "cidrs" ? `cidrs|${other.cidrs.join(",")}|${ports.map(portKey).join(",")}` : sideKey(other);
  const entry = rules.get(cidrKey) ?? { side: other, ports: new Map<string, PortObject>() };
  for (const port of ports) entry.ports.set(portKey(port), port);
  rules.set(cidrKey, entry);
}

function peerObjects(side: Side): PeerObject[] {
  if (side.kind === "pods") {
    return [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: side.namespace } }, podSelector: { matchLabels: sorted(side.labels) } }];
  }
  return side.cidrs.map((cidr) => ({ ipBlock: { cidr } }));
}

function sortedPorts(ports: Iterable<[string, PortObject]>): PortObject[] {
  return [...ports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, port]) => port);
}

/** A subject's rules of one direction: one per pod peer, then ipBlocks grouped by their ports, collapsed. */
function rulesOf(rules: Subject["ingress"]): { peers: PeerObject[]; ports: PortObject[] }[] {
  const podRules: { key: string; peers: PeerObject[]; ports: PortObject[] }[] = [];
  const byPorts = new Map<string, { cidrs: Cidr[]; ports: PortObject[] }>();
  for (const [key, { side, ports }] of rules) {
    const list = sortedPorts(ports);
    if (side.kind === "pods") {
      podRules.push({ key, peers: peerObjects(side), ports: list });
      continue;
    }
    const portsKey = list.map(portKey).join(",");
    const entry = byPorts.get(portsKey) ?? { cidrs: [], ports: list };
    for (const text of side.cidrs) {
      const parsed = parseCidr(text);
      if (parsed.ok) entry.cidrs.push(parsed.value);
    }
    byPorts.set(portsKey, entry);
  }
  podRules.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const blockRules = [...byPorts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { cidrs, ports }]) => ({
      peers: collapseCidrs(cidrs)
        .sort(compareCidrs)
        .map((cidr): PeerObject => ({ ipBlock: { cidr: cidr.text } })),
      ports,
    }));
  return [...podRules.map(({ peers, ports }) => ({ peers, ports })), ...blockRules];
}

const NAME_MAX = 253;

function policyName(subject: Subject): string {
  const base = [...subject.names].sort()[0] ?? "workload";
  const name = `netcanary-${base}`;
  return name.length <= NAME_MAX ? name : name.slice(0, NAME_MAX).replace(/[-.]+$/, "");
}

/** A suggested NetworkPolicy: the wrapper every suggestion shares, labelled as netcanary's. */
function suggestion(namespace: string, name: string, spec: SuggestedPolicy["spec"]): SuggestedPolicy {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name, namespace, labels: { ...MANAGED_BY } }, spec };
}

function defaultDeny(namespace: string): SuggestedPolicy {
  return suggestion(namespace, DEFAULT_DENY_NAME, { podSelector: { matchLabels: {} }, policyTypes: ["Ingress", "Egress"] });
}

function subjectPolicy(subject: Subject, name: string): SuggestedPolicy {
  const ingress = rulesOf(subject.ingress).map(({ peers, ports }) => ({ from: peers, ports }));
  const egress = rulesOf(subject.egress).map(({ peers, ports }) => ({ to: peers, ports }));
  const types: ("Ingress" | "Egress")[] = [];
  if (ingress.length > 0) types.push("Ingress");
  if (egress.length > 0) types.push("Egress");
  return suggestion(subject.namespace, name, {
    podSelector: { matchLabels: sorted(subject.labels) },
    policyTypes: types,
    ...(ingress.length > 0 ? { ingress } : {}),
    ...(egress.length > 0 ? { egress } : {}),
  });
}

/** The suggested policies for a map. */
export function advise(input: AdviseInput): Advice {
  const observed = new Set(input.map.flows.map((f) => f.local.namespace));
  const namespaces = new Set(input.namespaces ?? observed);
  const subjects = new Map<string, Subject>();
  const unwritable: { key: string; reason: string }[] = [];
  const subjectOf = (side: Extract<Side, { kind: "pods" }>): Subject => {
    const key = subjectKey(side);
    const known = subjects.get(key);
    if (known) {
      known.names.add(side.name);
      return known;
    }
    const made: Subject = { namespace: side.namespace, labels: side.labels, names: new Set([side.name]), ingress: new Map(), egress: new Map() };
    subjects.set(key, made);
    return made;
  };
  for (const flow of input.map.flows) {
    const inScope = namespaces.has(flow.local.namespace) || (flow.peer.kind === "workload" && namespaces.has(flow.peer.workload.namespace));
    const connections = connectionsOf(input, flow);
    if (typeof connections === "string") {
      if (inScope) unwritable.push({ key: flowKey(flow), reason: connections });
      continue;
    }
    for (const { client, server, ports } of connections) {
      if (client.kind === "pods" && namespaces.has(client.namespace)) addRule(subjectOf(client).egress, server, ports);
      if (server.kind === "pods" && namespaces.has(server.namespace)) addRule(subjectOf(server).ingress, client, ports);
    }
  }
  const warnings: string[] = [];
  const named = new Map<string, Subject[]>();
  for (const subject of subjects.values()) {
    if (Object.keys(subject.labels).length === 0) {
      warnings.push(`${subject.namespace}/${[...subject.names].sort().join(", ")} carries no labels: its policy selects every pod of namespace ${subject.namespace}`);
    }
    const name = `${subject.namespace}/${policyName(subject)}`;
    named.set(name, [...(named.get(name) ?? []), subject]);
  }
  const policies: SuggestedPolicy[] = [...namespaces].sort().map(defaultDeny);
  for (const [qualified, group] of named) {
    const base = qualified.slice(qualified.indexOf("/") + 1);
    // Two subjects with one name (a workload's name reused with other labels): numbered in label order.
    group.sort((a, b) => (labelsKey(a.labels) < labelsKey(b.labels) ? -1 : 1));
    group.forEach((subject, i) => policies.push(subjectPolicy(subject, i === 0 ? base : `${base}-${i + 1}`)));
  }
  policies.sort(
    (a, b) =>
      a.metadata.namespace.localeCompare(b.metadata.namespace) ||
      Number(b.metadata.name === DEFAULT_DENY_NAME) - Number(a.metadata.name === DEFAULT_DENY_NAME) ||
      (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0),
  );
  unwritable.sort((a, b) => (a.key < b.key ? -1 : 1));
  return { policies, unwritable, warnings: warnings.sort() };
}

/** The policies as YAML documents: a header comment, then each object with its keys in a fixed order. */
export function adviceYaml(advice: Advice, flowCount: number): string {
  const header = [
    "# Generated by netcanary advise from a recorded traffic map; review before applying.",
    `# ${advice.policies.length} NetworkPolicies from ${flowCount} observed flows: a default-deny per namespace, then an allowlist per workload.`,
  ];
  const body = advice.policies.map((policy) => stringify(policy, { version: "1.1", lineWidth: 0, indentSeq: true })).join("---\n");
  return `${header.join("\n")}\n${body}`;
}

export interface CheckFailure {
  /** The flow (or the unobserved connection made from it) that the suggestion gets wrong. */
  readonly flow: string;
  readonly expected: "allow" | "deny";
  readonly judgement: FlowJudgement | undefined;
  readonly reason: string;
}

/** Describes a flow for a person: "outbound deployment/shop/web -> deployment/shop/api 8080/TCP". */
export function describeFlow(flow: ObservedFlow): string {
  const arrow = flow.direction === "outbound" ? "->" : "<-";
  return `${flow.direction} ${workloadKey(flow.local)} ${arrow} ${describePeer(flow)} ${flow.port}/${flow.protocol}`;
}

/** Namespace and pod standing for traffic nobody observed: the default-deny must hold against it. */
export const UNOBSERVED: FlowWorkload = { namespace: "netcanary-unobserved", kind: "deployment", name: "unobserved", labels: { "netcanary.io/unobserved": "true" } };
/** Where the unobserved peer may stand: documentation addresses (RFC 5737), never routed. */
const UNOBSERVED_CANDIDATES = ["192.0.2.0", "198.51.100.0", "203.0.113.0"].flatMap((base) => Array.from({ length: 254 }, (_, i) => base.replace(/0$/, String(i + 1))));

/**
 * The unobserved peer's address: one that no ipBlock of the policies holds, so that only the
 * peer's being unobserved decides its verdict (a fixed address could fall inside a range the
 * observed flows opened). When every candidate is held, the first: the check then fails, as it should.
 */
function unobservedAddress(policies: readonly NetworkPolicy[]): string {
  const blocks = policies.flatMap((policy) => [...policy.ingress, ...policy.egress]).flatMap((rule) => rule.peers ?? []).flatMap((peer) => (peer.kind === "ipBlock" ? [peer.cidr] : []));
  const free = UNOBSERVED_CANDIDATES.find((text) => {
    const ip = parseIp(text);
    return ip.ok && !blocks.some((cidr) => cidrContainsIp(cidr, ip.value));
  });
  return free ?? (UNOBSERVED_CANDIDATES[0] as string);
}

function unusedPort(used: ReadonlySet<number>, from: number): number {
  for (let step = 1; step < 65535; step++) {
    const port = ((from - 1 + step) % 65535) + 1;
    if (!used.has(port)) return port;
  }
  return from;
}

/** Connections nobody observed, made from the observed ones: an unobserved port to each peer, and an unobserved peer both ways. */
export function unobservedFlows(flows: readonly ObservedFlow[], namespaces: ReadonlySet<string>, address: string): ObservedFlow[] {
  const portsUsed = new Map<string, Set<number>>();
  const usedKey = (f: ObservedFlow) => `${f.direction}|${f.protocol}|${workloadKey(f.local)}|${describePeer(f)}`;
  for (const f of flows) {
    const set = portsUsed.get(usedKey(f)) ?? new Set<number>();
    set.add(f.port);
    // TCP 53 is allowed beside UDP 53 on purpose.
    if (f.protocol === "UDP" && f.port === 53) portsUsed.set(`${f.direction}|TCP|${workloadKey(f.local)}|${describePeer(f)}`, new Set([...(portsUsed.get(`${f.direction}|TCP|${workloadKey(f.local)}|${describePeer(f)}`) ?? []), 53]));
    portsUsed.set(usedKey(f), set);
  }
  const out = new Map<string, ObservedFlow>();
  const locals = new Map<string, ObservedFlow>();
  for (const f of flows) {
    if (!namespaces.has(f.local.namespace) || f.peer.kind === "unnamed" || f.peer.kind === "service") continue;
    const port = unusedPort(portsUsed.get(usedKey(f)) ?? new Set(), f.port);
    const probe = { ...f, port };
    out.set(flowKey(probe), probe);
    if (!locals.has(workloadKey(f.local))) locals.set(workloadKey(f.local), f);
  }
  for (const f of locals.values()) {
    for (const direction of ["outbound", "inbound"] as const) {
      const probe: ObservedFlow = { ...f, direction, peer: { kind: "workload", workload: UNOBSERVED }, remoteAddresses: [address] };
      out.set(flowKey(probe), probe);
    }
  }
  return [...out.values()];
}

/**
 * The check before printing: the YAML read back as manifests are, its policies alone (no
 * policy in force) judged by the engine with the snapshot's pods and Services: every observed
 * flow in scope allowed, every unobserved connection made from them denied.
 */
export function checkAdvice(yamlText: string, input: AdviseInput, snapshot: ClusterSnapshot): CheckFailure[] {
  const parsed = parseDocuments(yamlText, "suggestion");
  const load = snapshotFromDocuments(parsed.documents);
  const problems = [...parsed.errors, ...load.errors];
  if (problems.length > 0) {
    return problems.map((error) => ({ flow: "the suggestion itself", expected: "allow", judgement: undefined, reason: `does not read back: ${formatInputError(error)}` }));
  }
  const policies: NetworkPolicy[] = [...load.snapshot.policies];
  const index = withMapNamespaces(buildPolicyIndex({ namespaces: snapshot.namespaces, pods: snapshot.pods, services: snapshot.services, policies }), input.map);
  const namespaces = new Set(input.namespaces ?? input.map.flows.map((f) => f.local.namespace));
  const inScope = (f: ObservedFlow) => namespaces.has(f.local.namespace) || (f.peer.kind === "workload" && namespaces.has(f.peer.workload.namespace));
  const failures: CheckFailure[] = [];
  for (const flow of input.map.flows) {
    if (!inScope(flow)) continue;
    const judgement = judgeFlow(index, flow);
    if (judgement.verdict !== "allow") failures.push({ flow: describeFlow(flow), expected: "allow", judgement, reason: judgement.reason });
  }
  for (const probe of unobservedFlows(input.map.flows, namespaces, unobservedAddress(policies))) {
    const judgement = judgeFlow(index, probe);
    if (judgement.verdict !== "deny") failures.push({ flow: `unobserved: ${describeFlow(probe)}`, expected: "deny", judgement, reason: judgement.reason });
  }
  return failures;
}
