// Why a probe stands for no edge: its target expands to nothing (a Service not found, a
// selector matching no pod, no data centre in the chosen cities), or its sources stand for no
// pod on this node, or its edges lie beyond agent.maxEdges. A pipeline gate must fail on such
// a probe and say which one and why. Pure: config, cluster state and feeds in, a sentence out.

import type { ClusterSnapshot } from "../cluster/snapshot.js";
import type { ProbeConfig, SourceConfig, TargetConfig } from "../config/model.js";
import type { PolicyIndex } from "../policy/engine.js";
import { formatSelector } from "../policy/selectors.js";
import { podSourceIdentities } from "../sources/identities.js";
import type { SourceIdentity } from "../verdicts/policy.js";
import type { CenrFeed } from "../zscaler/feeds.js";
import { concreteTargets, type FeedReader, selectedPods, serviceOf } from "./edges.js";

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

const UNKNOWN_STATE = "the cluster state is not known";

/** Why a target expands to no concrete target now. */
export function whyNoTargets(target: TargetConfig, snapshot: ClusterSnapshot | undefined, feeds: FeedReader | undefined): string {
  switch (target.kind) {
    case "tcp":
    case "dns":
      return "its target stands for nothing";
    case "service": {
      const name = `Service ${target.namespace}/${target.name}`;
      if (!snapshot) return `${name}: ${UNKNOWN_STATE}`;
      const { service, servicePort } = serviceOf(target, snapshot);
      if (!service) return `${name} not found`;
      if (!servicePort) {
        const ports = service.ports.map((p) => `${p.name ? `${p.name}=` : ""}${p.port}/${p.protocol}`).join(", ");
        return `${name} has no TCP port ${target.port} (its ports: ${ports || "none"})`;
      }
      if (target.via === "clusterIP") return `${name} has no cluster IP (a headless Service: probe it via: endpoints)`;
      return `${name} has no ready endpoint for port ${target.port}`;
    }
    case "pods": {
      const what = `pods ${target.namespace}/${formatSelector(target.selector)}`;
      if (!snapshot) return `${what}: ${UNKNOWN_STATE}`;
      const pods = selectedPods(target, snapshot);
      if (pods.length === 0) return `no pod in namespace ${target.namespace} matches ${formatSelector(target.selector)}`;
      const lacking = typeof target.port === "string" ? `an IP and a TCP port named "${target.port}"` : "an IP";
      return `${pods.length} ${pods.length === 1 ? "pod matches" : "pods match"} ${formatSelector(target.selector)} in namespace ${target.namespace}, but none has ${lacking}`;
    }
    case "zscaler": {
      const cenr = feeds?.current(target.cloud, "cenr") as CenrFeed | undefined;
      if (!cenr) return `the data centres of ${target.cloud} are not loaded (its CENR feed)`;
      return `no data centre of ${target.cloud} is in ${target.cities.length > 0 ? target.cities.join(", ") : "the feed"}`;
    }
  }
}

/** Why a source stands for no identity on this node. */
function whyNoIdentities(source: SourceConfig | undefined, sourceName: string, context: EmptyProbeContext): string {
  if (!source) return `source ${sourceName} is not defined`;
  if (source.kind === "self") return `source ${sourceName} stands for nothing`;
  if (!context.index) return `source ${sourceName}: ${UNKNOWN_STATE}`;
  const selector = `${formatSelector(source.podSelector)}${source.namespaceSelector ? ` in namespaces ${formatSelector(source.namespaceSelector)}` : ""}`;
  const { hostNetwork } = podSourceIdentities(context.index, source, context.nodeName);
  const host = hostNetwork.length > 0 ? ` (${hostNetwork.length} selected ${hostNetwork.length === 1 ? "pod uses" : "pods use"} the host network)` : "";
  return `source ${sourceName} stands for no pod: no Running pod on node ${context.nodeName} matches ${selector}${host}`;
}

/** Why a probe has no edge now; the first reason found (sources, then target, then the edge budget). */
export function whyProbeIsEmpty(probe: ProbeConfig, context: EmptyProbeContext): string {
  const sourcesByName = new Map(context.sources.map((source) => [source.name, source]));
  const idle = probe.sources.filter((name) => context.identities(name).length === 0);
  if (idle.length === probe.sources.length) return idle.map((name) => whyNoIdentities(sourcesByName.get(name), name, context)).join("; ");
  if (concreteTargets(probe.target, context.snapshot, context.feeds).length === 0) return whyNoTargets(probe.target, context.snapshot, context.feeds);
  return `its edges lie beyond agent.maxEdges (${context.maxEdges}): none is probed`;
}
