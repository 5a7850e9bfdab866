// Observed flows judged by the policy engine: for each flow of a traffic map, the verdict the
// policies in force give the connection it stands for, the rules that admitted it, or why no
// verdict can be given. Pure: a PolicyIndex and flows in, judgements out.
//
// A flow's local end is its workload as a pod (its observed labels, its sampled address of each
// family; named ports from the snapshot's pod when it has one). Its remote end is judged per
// sampled address, since ipBlock rules decide by address: when the addresses disagree the flow
// is "mixed" and each address's verdict is kept. A Service is judged at its backends, as the
// engine does for Service targets (policy/services.ts). A peer the observer could not name gets
// no verdict: "unknown", with the observer's reason, never a guess.
//
// A flow that happened although the policies deny it is evidence that they are not enforced
// for it (an unexpected allow, seen in real traffic). A flow seen only as connection attempts
// (TCP SYN_SENT, never answered: ObservedFlow.attemptOnly) is not proof that traffic got
// through: denied, it is what the block looks like; allowed, it is a possible unexpected block
// (or a peer that did not answer), said so and never counted as non-enforcement.

import { type IpAddress, parseIp } from "../addresses/ip.js";
import { namespaceLabels, type PodInfo, type ServiceInfo } from "../cluster/snapshot.js";
import { type Endpoint, evaluateConnection, type PolicyIndex } from "../policy/engine.js";
import { formatRule, summarizeVerdict } from "../policy/explain.js";
import type { PolicyVerdict, RuleRef, Verdict } from "../policy/model.js";
import { evaluateServiceConnection } from "../policy/services.js";
import { type FlowMap, type FlowWorkload, flowKey, type ObservedFlow, workloadKey } from "./flow.js";

export type FlowVerdict = "allow" | "deny" | "mixed" | "unknown";
export const FLOW_VERDICTS: readonly FlowVerdict[] = ["allow", "deny", "mixed", "unknown"];

/** One judged connection of a flow: one sampled address, or one Service backend. */
export interface FlowCase {
  /** The address or backend judged, e.g. "10.0.1.7" or "deployment/kube-system/coredns:53". */
  readonly target: string;
  readonly verdict: Verdict;
  readonly determinate: boolean;
  readonly summary: string;
  readonly allowedBy: readonly RuleRef[];
}

export interface FlowJudgement {
  readonly key: string;
  readonly verdict: FlowVerdict;
  /** false when a case's verdict is undetermined, or the flow could not be judged. */
  readonly determinate: boolean;
  /** Every rule that admitted a case, without repeats. */
  readonly allowedBy: readonly RuleRef[];
  /** One sentence: the deciding reason, or why the flow has no verdict. */
  readonly reason: string;
  /** The policies deny (a case of) this flow, and it happened: they are not enforced for it. Never for an attempt-only flow. */
  readonly unexpectedAllow: boolean;
  /**
   * The policies allow (a case of) this flow, yet only unanswered attempts were seen: something
   * may block what policy allows (or the peer did not answer). Only for attempt-only flows.
   */
  readonly possibleBlock: boolean;
  /** The judged cases (empty for "unknown"). */
  readonly cases: readonly FlowCase[];
}

/** A pod standing for a workload as observed: its labels, an address per family, named ports from the snapshot. */
export function workloadPod(index: PolicyIndex, workload: FlowWorkload, addresses: readonly string[]): PodInfo {
  const ips: IpAddress[] = [];
  for (const text of addresses) {
    const parsed = parseIp(text);
    if (parsed.ok && !ips.some((ip) => ip.family === parsed.value.family)) ips.push(parsed.value);
  }
  const known = index.podsByKey.get(workloadKey(workload)) ?? ips.map((ip) => index.podsByIp.get(ip.text)).find((pod) => pod !== undefined);
  return {
    namespace: workload.namespace,
    name: workload.name,
    labels: workload.labels,
    ips,
    ports: known?.ports ?? [],
    hostNetwork: false,
    workload: { kind: workload.kind, name: workload.name },
  };
}

/**
 * The index with the map's namespace labels added for namespaces it does not know (a snapshot
 * from manifests often has none; namespaceSelectors need them).
 */
export function withMapNamespaces(index: PolicyIndex, map: Pick<FlowMap, "namespaces">): PolicyIndex {
  const missing = map.namespaces.filter((ns) => !index.namespaces.has(ns.name));
  if (missing.length === 0) return index;
  const namespaces = new Map(index.namespaces);
  for (const ns of missing) namespaces.set(ns.name, { name: ns.name, labels: namespaceLabels(ns.name, ns.labels) });
  return { ...index, namespaces };
}

function unknown(key: string, reason: string): FlowJudgement {
  return { key, verdict: "unknown", determinate: false, allowedBy: [], reason, unexpectedAllow: false, possibleBlock: false, cases: [] };
}

function caseOf(target: string, verdict: PolicyVerdict): FlowCase {
  return {
    target,
    verdict: verdict.verdict,
    determinate: verdict.determinate,
    summary: summarizeVerdict(verdict),
    allowedBy: [...verdict.egress.allowedBy, ...verdict.ingress.allowedBy],
  };
}

function addressEndpoints(addresses: readonly string[]): { target: string; endpoint: Endpoint }[] {
  return addresses.flatMap((text) => {
    const parsed = parseIp(text);
    return parsed.ok ? [{ target: parsed.value.text, endpoint: { kind: "ip", ip: parsed.value } as Endpoint }] : [];
  });
}

/** Each sampled address of a workload peer as that workload's pod (one pod without an address when none was sampled). */
function workloadEndpoints(index: PolicyIndex, workload: FlowWorkload, addresses: readonly string[]): { target: string; endpoint: Endpoint }[] {
  if (addresses.length === 0) return [{ target: workloadKey(workload), endpoint: { kind: "pod", pod: workloadPod(index, workload, []) } }];
  return addresses.map((address) => ({ target: address, endpoint: { kind: "pod", pod: workloadPod(index, workload, [address]) } }));
}

/** Services by "namespace/name", built once per index (the index keys them by address). */
const servicesByName = new WeakMap<PolicyIndex, Map<string, ServiceInfo>>();

/** The snapshot's Service of that namespace and name. */
export function findService(index: PolicyIndex, namespace: string, name: string): ServiceInfo | undefined {
  let byName = servicesByName.get(index);
  if (!byName) {
    byName = new Map();
    for (const service of index.servicesByIp.values()) byName.set(`${service.namespace}/${service.name}`, service);
    servicesByName.set(index, byName);
  }
  return byName.get(`${namespace}/${name}`);
}

/** The cases of a flow to a Service: its backends' verdicts, from the snapshot or from what the observer saw. */
function serviceCases(index: PolicyIndex, flow: ObservedFlow, from: Endpoint): FlowCase[] | string {
  const peer = flow.peer;
  if (peer.kind !== "service") return [];
  const service = findService(index, peer.namespace, peer.name);
  if (service) {
    const result = evaluateServiceConnection(index, from, service, flow.port, flow.protocol);
    if (result.kind === "no_backends") return result.reason;
    return result.backends.map((b) => caseOf(`${workloadKey(backendWorkload(b.pod))}:${b.port}`, b.verdict));
  }
  if (peer.backends && peer.backends.length > 0) {
    return peer.backends.map((b) =>
      caseOf(`${workloadKey(b.workload)}:${b.port}`, evaluateConnection(index, { from, to: { kind: "pod", pod: workloadPod(index, b.workload, []) }, port: b.port, protocol: flow.protocol })),
    );
  }
  return `Service ${peer.namespace}/${peer.name} is not in the policies' snapshot and the map names none of its backends: which pods it reaches is not known`;
}

function backendWorkload(pod: PodInfo): FlowWorkload {
  const owner = pod.workload ?? pod.owner;
  return { namespace: pod.namespace, kind: owner?.kind ?? "pod", name: owner?.name ?? pod.name, labels: pod.labels };
}

/** The remote end's cases for one flow, or the reason it has none. */
function peerEndpoints(index: PolicyIndex, flow: ObservedFlow): { target: string; endpoint: Endpoint }[] | string {
  const peer = flow.peer;
  switch (peer.kind) {
    case "workload":
      return workloadEndpoints(index, peer.workload, flow.remoteAddresses);
    case "node":
    case "zscaler":
    case "external": {
      const endpoints = addressEndpoints(flow.remoteAddresses);
      return endpoints.length > 0 ? endpoints : `no address of ${describePeer(flow)} was recorded: ipBlock rules decide by address`;
    }
    case "service":
      return `an inbound connection from Service ${peer.namespace}/${peer.name}'s address is not a connection NetworkPolicy defines`;
    case "unnamed":
      return `peer ${peer.address} is not named (${peer.reason})`;
  }
}

/** The peer in a few words: "deployment/shop/api", "service shop/api", "zscaler zscaler.net 165.225.0.0/17". */
export function describePeer(flow: Pick<ObservedFlow, "peer">): string {
  const peer = flow.peer;
  switch (peer.kind) {
    case "workload":
      return workloadKey(peer.workload);
    case "service":
      return `service ${peer.namespace}/${peer.name}`;
    case "node":
      return `node ${peer.name}`;
    case "zscaler":
      return `zscaler ${peer.cloud}${peer.city ? ` ${peer.city}` : ""} ${peer.range}`;
    case "external":
      return peer.name ? `external ${peer.name} ${peer.range}` : `external ${peer.range}`;
    case "unnamed":
      return `unnamed ${peer.address}`;
  }
}

/** What an attempt-only flow adds to the reason: what its verdict means when nothing was seen getting through. */
function attemptNote(verdict: FlowVerdict): string {
  switch (verdict) {
    case "deny":
      return "only unanswered connection attempts were seen: consistent with the block, not evidence it is unenforced";
    case "allow":
    case "mixed":
      return "only unanswered connection attempts were seen although policy allows it: a possible unexpected block (or a peer that did not answer)";
    case "unknown":
      return "only unanswered connection attempts were seen";
  }
}

function combine(key: string, cases: readonly FlowCase[], attemptOnly: boolean): FlowJudgement {
  // Nothing was judged: never a verdict by default.
  if (cases.length === 0) return unknown(key, "nothing to judge (no address of either end)");
  const verdicts = new Set(cases.map((c) => c.verdict));
  const verdict: FlowVerdict = verdicts.size > 1 ? "mixed" : (cases[0]?.verdict ?? "unknown");
  const allowedBy = new Map<string, RuleRef>();
  for (const c of cases) for (const ref of c.allowedBy) allowedBy.set(formatRule(ref), ref);
  const summaries = [...new Set(cases.map((c) => c.summary))];
  const reason =
    verdict === "mixed"
      ? `the sampled addresses disagree: ${cases.map((c) => `${c.target} ${c.verdict}`).join(", ")}; ${summaries.join("; ")}`
      : summaries.length === 1
        ? (summaries[0] ?? "")
        : summaries.join("; ");
  const seen = (v: Verdict) => cases.some((c) => c.verdict === v && c.determinate);
  return {
    key,
    verdict,
    determinate: cases.every((c) => c.determinate),
    allowedBy: [...allowedBy.values()],
    reason: attemptOnly ? `${reason}; ${attemptNote(verdict)}` : reason,
    unexpectedAllow: !attemptOnly && seen("deny"),
    possibleBlock: attemptOnly && seen("allow"),
    cases,
  };
}

/** The verdict the policies in the index give one observed flow. */
export function judgeFlow(index: PolicyIndex, flow: ObservedFlow): FlowJudgement {
  const key = flowKey(flow);
  if (flow.peer.kind === "unnamed") return unknown(key, `peer ${flow.peer.address} is not named (${flow.peer.reason})`);
  const attemptOnly = flow.attemptOnly === true;
  const local: Endpoint = { kind: "pod", pod: workloadPod(index, flow.local, flow.localAddresses) };
  const query = (other: Endpoint) =>
    flow.direction === "outbound"
      ? evaluateConnection(index, { from: local, to: other, port: flow.port, protocol: flow.protocol })
      : evaluateConnection(index, { from: other, to: local, port: flow.port, protocol: flow.protocol });
  if (flow.peer.kind === "service" && flow.direction === "outbound") {
    const cases = serviceCases(index, flow, local);
    return typeof cases === "string" ? unknown(key, cases) : combine(key, cases, attemptOnly);
  }
  const peers = peerEndpoints(index, flow);
  if (typeof peers === "string") return unknown(key, peers);
  return combine(key, peers.map(({ target, endpoint }) => caseOf(target, query(endpoint))), attemptOnly);
}

/**
 * Where a judgement already made for the same inputs may be reused (judge-cache.ts), or none
 * (NO_MEMO): each call answers what `judge` would, either from before or by running it. Only a
 * memo that knows the index, the map's namespaces and the staged set are unchanged may reuse.
 */
export interface JudgementMemo {
  /** The judgement by the policies in force of the flow at that position of the map. */
  base(position: number, judge: () => FlowJudgement): FlowJudgement;
  /**
   * The judgement of the flow at that position with staged policies applied when it newly denies
   * a case, else undefined. slot: the staged policy's position in the set sorted by namespace and
   * name; the set's length for all together.
   */
  staged(slot: number, position: number, judge: () => FlowJudgement | undefined): FlowJudgement | undefined;
}

/** Every judgement made afresh. */
export const NO_MEMO: JudgementMemo = { base: (_position, judge) => judge(), staged: (_slot, _position, judge) => judge() };

/** Every flow of a map judged, in the map's order, against the index with the map's namespaces. */
export function judgeFlows(index: PolicyIndex, map: Pick<FlowMap, "namespaces" | "flows">, memo: JudgementMemo = NO_MEMO): FlowJudgement[] {
  const withNamespaces = withMapNamespaces(index, map);
  return map.flows.map((flow, position) => memo.base(position, () => judgeFlow(withNamespaces, flow)));
}
