// What a probe leaves untested, and why. All of it: its target expands to nothing (a Service
// not found, a selector matching no pod, no data centre in the chosen cities), or its sources
// stand for no pod on this node, or its edges lie beyond agent.maxEdges. A part of it: one of
// its sources matches no pod that could be probed from anywhere in the cluster (a selector
// with a typo), or some of its edges lie beyond the budget. A source whose pods all run on
// other nodes is not a gap when the probe ran from another source: those pods are their own
// node's to probe from (a DaemonSet's agent on each). A pipeline gate must fail on each gap
// and say which probe and why. Pure: config, cluster state and feeds in, sentences out.

import type { ClusterSnapshot } from "../cluster/snapshot.js";
import { edgeSpecOf, type ProbeConfig, type SourceConfig, type TargetConfig } from "../config/model.js";
import type { PolicyIndex } from "../policy/engine.js";
import { formatSelector } from "../policy/selectors.js";
import { podSourceIdentities, type PodSourceConfig, sourceSelects } from "../sources/identities.js";
import type { SourceIdentity } from "../sources/identity.js";
import { UNKNOWN_STATE } from "./addresses/address.js";
import { type FeedReader, whyNoAddresses } from "./addresses/index.js";
import { concreteTargets } from "./edges.js";

export interface EmptyProbeContext {
  readonly sources: readonly SourceConfig[];
  readonly identities: (sourceName: string) => readonly SourceIdentity[];
  /** undefined: the cluster state is not known (not synced yet). */
  readonly snapshot: ClusterSnapshot | undefined;
  readonly index: PolicyIndex | undefined;
  readonly feeds: FeedReader | undefined;
  readonly nodeName: string;
  readonly maxEdges: number;
}

/** Why a target expands to no concrete target now: its address kind says (targets/addresses/). */
export function whyNoTargets(target: TargetConfig, snapshot: ClusterSnapshot | undefined, feeds: FeedReader | undefined): string {
  return whyNoAddresses(edgeSpecOf(target).address, { snapshot, feeds, fanOut: undefined });
}

/** The pods a source selects anywhere in the cluster, and how many of them could be probed from. */
function clusterWide(index: PolicyIndex, source: PodSourceConfig, nodeName: string): { selected: number; usable: number; elsewhere: number } {
  const selects = sourceSelects(index, source);
  let selected = 0;
  let usable = 0;
  let elsewhere = 0;
  for (const pod of index.podsByKey.values()) {
    if (!selects(pod)) continue;
    selected += 1;
    if (pod.phase !== "Running" || pod.terminating || pod.hostNetwork) continue;
    usable += 1;
    if (pod.node !== nodeName) elsewhere += 1;
  }
  return { selected, usable, elsewhere };
}

function describeSource(source: PodSourceConfig): string {
  return `${formatSelector(source.podSelector)}${source.namespaceSelector ? ` in namespaces ${formatSelector(source.namespaceSelector)}` : ""}`;
}

function pods(count: number): string {
  return `${count} ${count === 1 ? "pod" : "pods"}`;
}

/**
 * Why a pod source could run nowhere: it selects no pod in the cluster, or none that is
 * Running with a network namespace of its own. undefined when some pod, on some node, could
 * be probed from, or when the cluster state is not known.
 */
function whyNowhere(source: PodSourceConfig, context: EmptyProbeContext): string | undefined {
  if (!context.index) return undefined;
  const { selected, usable } = clusterWide(context.index, source, context.nodeName);
  if (usable > 0) return undefined;
  if (selected === 0) return `source ${source.name} matches no pod in the cluster (${describeSource(source)})`;
  return `source ${source.name} matches ${pods(selected)} in the cluster (${describeSource(source)}), but none is Running with a network namespace of its own`;
}

/** Why a source stands for no identity on this node. */
function whyNoIdentities(source: SourceConfig | undefined, sourceName: string, context: EmptyProbeContext): string {
  if (!source) return `source ${sourceName} is not defined`;
  if (source.kind === "self") return `source ${sourceName} stands for nothing`;
  if (!context.index) return `source ${sourceName}: ${UNKNOWN_STATE}`;
  const nowhere = whyNowhere(source, context);
  if (nowhere) return nowhere;
  const { hostNetwork } = podSourceIdentities(context.index, source, context.nodeName);
  const host = hostNetwork.length > 0 ? ` (${hostNetwork.length} selected ${hostNetwork.length === 1 ? "pod uses" : "pods use"} the host network)` : "";
  const { elsewhere } = clusterWide(context.index, source, context.nodeName);
  return (
    `source ${sourceName} stands for no pod: no Running pod on node ${context.nodeName} matches ${describeSource(source)}${host}; ` +
    `${pods(elsewhere)} on other nodes ${elsewhere === 1 ? "does" : "do"} (a run probes only from the pods of its own node)`
  );
}

/** Why a probe has no edge now; the first reason found (sources, then target, then the edge budget). */
export function whyProbeIsEmpty(probe: ProbeConfig, context: EmptyProbeContext): string {
  const sourcesByName = new Map(context.sources.map((source) => [source.name, source]));
  const idle = probe.sources.filter((name) => context.identities(name).length === 0);
  if (idle.length === probe.sources.length) return idle.map((name) => whyNoIdentities(sourcesByName.get(name), name, context)).join("; ");
  if (concreteTargets(probe.target, context.snapshot, context.feeds).length === 0) return whyNoTargets(probe.target, context.snapshot, context.feeds);
  return `its edges lie beyond agent.maxEdges (${context.maxEdges}): none is probed`;
}

/** Something a probe asked for and this round did not test. */
export interface ProbeGap {
  readonly probe: string;
  /** all: the probe has no edge at all; part: it has edges, but leaves a part of what it asks for untested. */
  readonly scope: "all" | "part";
  readonly reason: string;
}

/**
 * What a probe leaves untested, given how many of its edges are probed: all of it (why it has
 * no edge), or the parts it misses (a pod source that could run nowhere in the cluster; edges
 * beyond agent.maxEdges). Empty when it tests everything it can from this node.
 */
export function probeGaps(probe: ProbeConfig, context: EmptyProbeContext, edges: number): ProbeGap[] {
  if (edges === 0) return [{ probe: probe.name, scope: "all", reason: whyProbeIsEmpty(probe, context) }];
  const gaps: ProbeGap[] = [];
  const sourcesByName = new Map(context.sources.map((source) => [source.name, source]));
  for (const name of probe.sources) {
    const source = sourcesByName.get(name);
    if (source?.kind !== "pods" || context.identities(name).length > 0) continue;
    const nowhere = whyNowhere(source, context);
    if (nowhere) gaps.push({ probe: probe.name, scope: "part", reason: `${nowhere}: nothing was probed from it` });
  }
  const targets = concreteTargets(probe.target, context.snapshot, context.feeds).length;
  const asked = probe.sources.reduce((sum, name) => sum + context.identities(name).length * targets, 0);
  if (asked > edges) gaps.push({ probe: probe.name, scope: "part", reason: `${asked - edges} of its ${asked} edges lie beyond agent.maxEdges (${context.maxEdges}): not probed` });
  return gaps;
}
