// Probe edges: one per (probe, source identity, concrete target). The config says what to
// probe from which source; the cluster state turns Services and pod selectors into
// addresses. Several edges may share one metric label set (each endpoint of a Service,
// each selected pod): labels stay bounded, the results list every edge.

import { type IpAddress, parseIp } from "../addresses/ip.js";
import type { ClusterSnapshot, Protocol } from "../cluster/snapshot.js";
import { type AgentConfig, type CheckConfig, edgeSpecOf, type ProbeConfig, type TargetConfig } from "../config/model.js";
import { moduleOf, type ProbeCall } from "../probes/index.js";
import type { SourceIdentity } from "../sources/identity.js";
import { answerRanges } from "../zscaler/answers.js";
import type { PathExpectation } from "../zscaler/path.js";
import { type ConcreteAddress, type EndpointSelection, expandAddress, type FanOut, type FeedReader } from "./addresses/index.js";
import { deriveTargets } from "../derive/derive.js";
import type { PolicyIndex } from "../policy/engine.js";

export type { EndpointSelection, FanOut, FeedReader } from "./addresses/index.js";
export { GLOBAL_ZEN_ADDRESSES } from "./addresses/zscaler.js";
export { serviceOf } from "./addresses/service.js";
export { selectedPods } from "./addresses/pods.js";
export { zscalerRanges } from "../zscaler/answers.js";
import { zscalerRanges } from "../zscaler/answers.js";

/**
 * Metric labels of an edge. Bounded: the source by its config name, namespace and node,
 * never a pod name; the target as configured, never an address found at run time.
 */
export interface EdgeLabels {
  readonly probe: string;
  readonly source: string;
  readonly source_namespace: string;
  readonly source_node: string;
  readonly source_workload: string;
  readonly target: string;
  readonly target_kind: string;
  readonly port: string;
  readonly protocol: Protocol;
}


export interface Edge {
  readonly id: string;
  readonly probe: ProbeConfig;
  readonly source: SourceIdentity;
  readonly call: ProbeCall;
  readonly port: number;
  readonly protocol: Protocol;
  /** The address probed, when known before probing (not for names still to resolve). */
  readonly address?: IpAddress;
  /** For edges expanded from the cluster: the pod behind the address, "namespace/name". */
  readonly endpoint?: string;
  /** Why this edge cannot be judged yet (its outcome would be agent_error), e.g. ranges not loaded. */
  readonly unjudgeable?: string;
  /** Zscaler clouds whose data centres its DNS answers are mapped to, for the explanation. */
  readonly zscalerClouds?: readonly string[];
  /** For an edge of a target of many endpoints: how many this agent probes, of how many. */
  readonly selection?: EndpointSelection;
  /** A path check's expectation (http: {zscaler: {expect}}): its outcomes carry the path seen. */
  readonly pathExpect?: PathExpectation;
  readonly labels: EdgeLabels;
  /** Edges with equal labels share their metric series. */
  readonly seriesKey: string;
}

/** A concrete target: what to probe, and how it is named in metrics. */
interface Concrete {
  readonly call: ProbeCall;
  readonly port: number;
  readonly protocol: Protocol;
  readonly address?: IpAddress;
  readonly endpoint?: string;
  readonly targetName: string;
  readonly targetKind: string;
  /** Tells apart the edges of one target that expands to many (a pod, an address). */
  readonly instance?: string;
  readonly unjudgeable?: string;
  readonly zscalerClouds?: readonly string[];
  readonly selection?: EndpointSelection;
  readonly pathExpect?: PathExpectation;
}

/** A check ready to bind: answersIn: zscaler:<cloud> becomes that cloud's ranges as published now. */
interface PreparedCheck {
  readonly check: CheckConfig;
  readonly unjudgeable?: string;
  readonly zscalerClouds?: readonly string[];
}

function prepareCheck(check: CheckConfig, feeds: FeedReader | undefined): PreparedCheck {
  if (check.kind !== "dns" || check.answersInZscaler.length === 0) return { check };
  const { ranges, unjudgeable } = answerRanges(check.answersInZscaler, feeds);
  return { check: { ...check, answersIn: [...check.answersIn, ...ranges] }, ...(unjudgeable !== undefined ? { unjudgeable } : {}), zscalerClouds: check.answersInZscaler };
}

/** One concrete address checked as the probe says: its call, and how its edges are named. */
function bind(prepared: PreparedCheck, address: ConcreteAddress): Concrete {
  const module = moduleOf(prepared.check.kind);
  const probeAddress = { ...(address.ip ? { ip: address.ip.text } : {}), ...(address.host !== undefined ? { host: address.host } : {}), ...(address.server !== undefined ? { server: address.server } : {}), port: address.port };
  const naming = module.check.naming?.(prepared.check) ?? { targetName: address.targetName, targetKind: address.targetKind };
  // Through an explicit proxy the packets go to the proxy: its port and address are judged.
  const via = module.check.via?.(prepared.check);
  const pathExpect = module.check.pathExpect?.(prepared.check);
  const viaIp = via !== undefined ? parseIp(via.host) : undefined;
  const known = via === undefined ? address.ip : viaIp?.ok ? viaIp.value : undefined;
  return {
    call: { kind: prepared.check.kind, target: module.check.target(prepared.check, probeAddress) } as ProbeCall,
    port: via?.port ?? address.port,
    protocol: module.check.protocol,
    ...(known ? { address: known } : {}),
    ...(address.endpoint !== undefined ? { endpoint: address.endpoint } : {}),
    targetName: naming.targetName,
    targetKind: naming.targetKind,
    ...(address.instance !== undefined ? { instance: address.instance } : {}),
    ...(prepared.unjudgeable !== undefined ? { unjudgeable: prepared.unjudgeable } : {}),
    ...(prepared.zscalerClouds !== undefined ? { zscalerClouds: prepared.zscalerClouds } : {}),
    ...(address.selection !== undefined ? { selection: address.selection } : {}),
    ...(pathExpect !== undefined ? { pathExpect } : {}),
  };
}

/**
 * What a target stands for now: its address expanded (targets/addresses/), each concrete
 * address bound to its check (the check's prober, probes/). Cluster targets need the snapshot
 * (none before the first sync); Zscaler data centres and answer ranges need the feeds. fanOut
 * caps the endpoints of a `pods` target or a Service `via: endpoints` (this node's share).
 */
export function concreteTargets(target: TargetConfig, snapshot: ClusterSnapshot | undefined, feeds?: FeedReader, fanOut?: FanOut): Concrete[] {
  const { address, check } = edgeSpecOf(target);
  const addresses = expandAddress(address, { snapshot, feeds, fanOut });
  if (addresses.length === 0) return [];
  const prepared = prepareCheck(check, feeds);
  return addresses.map((concrete) => bind(prepared, concrete));
}

export function edgeFor(probe: ProbeConfig, source: SourceIdentity, concrete: Concrete): Edge {
  const labels: EdgeLabels = {
    probe: probe.name,
    source: source.name,
    source_namespace: source.namespace ?? "",
    source_node: source.node ?? "",
    source_workload: source.workload ?? "",
    target: concrete.targetName,
    target_kind: concrete.targetKind,
    port: String(concrete.port),
    protocol: concrete.protocol,
  };
  const seriesKey = JSON.stringify(labels);
  return {
    id: [labels.probe, labels.source, source.podSource ?? "", labels.target, labels.port, labels.protocol, concrete.instance ?? ""].join("|"),
    probe,
    source,
    call: concrete.call,
    port: concrete.port,
    protocol: concrete.protocol,
    ...(concrete.address ? { address: concrete.address } : {}),
    ...(concrete.endpoint !== undefined ? { endpoint: concrete.endpoint } : {}),
    ...(concrete.unjudgeable !== undefined ? { unjudgeable: concrete.unjudgeable } : {}),
    ...(concrete.zscalerClouds !== undefined ? { zscalerClouds: concrete.zscalerClouds } : {}),
    ...(concrete.selection !== undefined ? { selection: concrete.selection } : {}),
    ...(concrete.pathExpect !== undefined ? { pathExpect: concrete.pathExpect } : {}),
    labels,
    seriesKey,
  };
}

/**
 * Every edge the config asks for, given the identities each source stands for on this
 * node and the cluster state. Sorted by id so that the budget (maxEdges) always keeps the
 * same ones. With nodeName, targets of many endpoints give this node's share
 * (agent.maxEndpointsPerTarget). unwatched: the rules whose pods a live agent does not watch
 * (derive/scope.ts), for derivation to say so.
 */
export function expandEdges(
  config: AgentConfig,
  identities: (sourceName: string) => readonly SourceIdentity[],
  snapshot: ClusterSnapshot | undefined,
  feeds?: FeedReader,
  nodeName?: string,
  index?: PolicyIndex,
  unwatched?: ReadonlySet<string>,
): { edges: Edge[]; dropped: number; unfilled: DerivedGap[] } {
  const edges: Edge[] = [];
  const fanOut = nodeName !== undefined ? { max: config.agent.maxEndpointsPerTarget, node: nodeName } : undefined;
  for (const probe of config.probes) {
    const targets = concreteTargets(probe.target, snapshot, feeds, fanOut);
    for (const sourceName of probe.sources) {
      for (const identity of identities(sourceName)) for (const target of targets) edges.push(edgeFor(probe, identity, target));
    }
  }
  const unfilled: DerivedGap[] = [];
  if (snapshot && index) edges.push(...derivedEdges(config, identities, snapshot, index, feeds, unfilled, unwatched));
  edges.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const kept = edges.slice(0, config.agent.maxEdges);
  return { edges: kept, dropped: edges.length - kept.length, unfilled };
}

/** The probe name of every derived edge: never a configured probe's (the config reserves it). */
export const DERIVED_PROBE = "derived";

/** A rule of a policy selecting a deriving source that got no derived edge, and why. */
export interface DerivedGap {
  readonly source: string;
  readonly rule: string;
  readonly reason: string;
}

/**
 * The edges derived from the policies for each source with `derive:` (derive/derive.ts): one
 * probe per chosen destination, named by its rule, probed on the defaults' timings and judged
 * by the policy alone (no intent: the rule is the intent).
 */
function derivedEdges(
  config: AgentConfig,
  identities: (sourceName: string) => readonly SourceIdentity[],
  snapshot: ClusterSnapshot,
  index: PolicyIndex,
  feeds: FeedReader | undefined,
  unfilled: DerivedGap[],
  unwatched: ReadonlySet<string> | undefined,
): Edge[] {
  const edges: Edge[] = [];
  const ranges = (config.zscaler?.clouds ?? []).flatMap((cloud) => zscalerRanges(feeds, cloud) ?? []);
  const { intervalMs, ...timings } = config.defaults;
  for (const source of config.sources) {
    if (!source.derive) continue;
    for (const identity of identities(source.name)) {
      const derivation = deriveTargets({ index, snapshot, source: identity, settings: source.derive, zscalerRanges: ranges, ...(unwatched ? { unwatched } : {}) });
      for (const gap of derivation.unfilled) unfilled.push({ source: source.name, ...gap });
      for (const { address } of derivation.targets) {
        const probe: ProbeConfig = { name: DERIVED_PROBE, sources: [source.name], expect: null, schedule: { kind: "interval", intervalMs }, ...timings, target: address };
        for (const target of concreteTargets(address, snapshot, feeds)) edges.push(edgeFor(probe, identity, target));
      }
    }
  }
  return edges;
}
