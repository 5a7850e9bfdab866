// An inbound query: may clients in a set of outside ranges (a Zscaler cloud's published
// ranges, one of its cities, ZPA App Connectors) reach a Service from outside, or an Ingress
// or Gateway host? Judged through the way in: where the pod keeps the client's address, the
// engine is asked for every block of the ranges over which its answer cannot change (cut at
// the ipBlock boundaries of the backends' ingress rules, as the coverage audit does for
// egress); where a node or a proxy replaces it, the verdict is undetermined (the manifests do
// not hold the node's or the proxy's addresses), unless no policy isolates the backends.
// Pure: the index, the snapshot and the query in; a verdict with its reasons out.

import { type Cidr, formatIp, parseIp } from "../addresses/ip.js";
import { type Interval, normalizeSet, setToCidrs } from "../addresses/ranges.js";
import type { ClusterSnapshot, PodInfo, Protocol, ServiceInfo } from "../cluster/snapshot.js";
import { evaluateConnection, type PolicyIndex, resolveNamedPort, selectingPolicies } from "../policy/engine.js";
import type { PolicyVerdict, VerdictNote } from "../policy/model.js";
import { serviceBackends } from "../policy/services.js";
import { verdictBoundaries, verdictIntervals } from "../zscaler/audit.js";
import type { Dataplane } from "./dataplanes.js";
import { NO_INBOUND_OBJECTS } from "../objects/inbound.js";
import { type InboundPath, inboundPaths, type NamedRanges } from "./paths.js";

export type InboundTarget = { readonly kind: "service"; readonly namespace: string; readonly name: string } | { readonly kind: "host"; readonly host: string };

export interface InboundJudgement {
  /** The engine's verdict for a representative address, with the notes that make it undetermined. */
  readonly verdict: PolicyVerdict;
  /** The ways in that were judged. */
  readonly paths: readonly InboundPath[];
  /** Lines for a person: the way in, which blocks of the ranges are admitted. */
  readonly lines: readonly string[];
}

export type InboundResolution = { readonly ok: true; readonly services: readonly ServiceInfo[] } | { readonly ok: false; readonly reason: string };

/** Whether a host name matches a rule's host ("*.example.com" matches one label). */
function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === h) return true;
  if (!p.startsWith("*.")) return false;
  const rest = h.slice(h.indexOf(".") + 1);
  return h.includes(".") && rest === p.slice(2);
}

/** The Services a target stands for: the Service itself, or every backend of the proxies serving the host. */
export function resolveInboundTarget(snapshot: ClusterSnapshot, target: InboundTarget): InboundResolution {
  const find = (namespace: string, name: string) => snapshot.services.find((s) => s.namespace === namespace && s.name === name);
  if (target.kind === "service") {
    const service = find(target.namespace, target.name);
    return service ? { ok: true, services: [service] } : { ok: false, reason: `no Service ${target.namespace}/${target.name} in the manifests` };
  }
  const inbound = snapshot.inbound ?? NO_INBOUND_OBJECTS;
  const backends = [
    ...inbound.ingresses.filter((i) => i.hosts.some((h) => h !== "*" && hostMatches(h, target.host))).flatMap((i) => i.backends),
    ...inbound.routes.filter((r) => r.hostnames.some((h) => hostMatches(h, target.host))).flatMap((r) => r.backends),
  ];
  const services = backends.flatMap((b) => find(b.namespace, b.name) ?? []).filter((s, i, all) => all.indexOf(s) === i);
  if (services.length === 0) return { ok: false, reason: `no Ingress or route in the manifests serves host ${target.host} from a Service they hold` };
  return { ok: true, services };
}

/** The CIDRs of the backends' ingress ipBlocks: the verdict for a source address changes only at their edges. */
function ingressBoundaries(index: PolicyIndex, pods: readonly PodInfo[]): Cidr[] {
  return pods.flatMap((pod) => verdictBoundaries(index, { kind: "pod", pod }, "ingress"));
}

function firstAddress(interval: Interval) {
  const parsed = parseIp(formatIp(interval.family, interval.start));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

interface Backend {
  readonly pod: PodInfo;
  readonly port: number;
}

function backendsOf(index: PolicyIndex, services: readonly ServiceInfo[], port: number | undefined, protocol: Protocol): Backend[] {
  return services.flatMap((service) => {
    const ports = service.ports.filter((p) => p.protocol === protocol && (port === undefined || p.port === port));
    return serviceBackends(index, service).flatMap((pod) =>
      ports.flatMap((p) => {
        const target = typeof p.targetPort === "number" ? p.targetPort : resolveNamedPort(pod, p.targetPort, protocol);
        return target === undefined ? [] : [{ pod, port: target }];
      }),
    );
  });
}

/**
 * Judges clients in `source` reaching `target` on `port` (a Service port; for a host, the port
 * the proxy listens on, which does not change what the backends see).
 */
export function judgeInbound(
  index: PolicyIndex,
  snapshot: ClusterSnapshot,
  source: NamedRanges,
  target: InboundTarget,
  services: readonly ServiceInfo[],
  port: number,
  protocol: Protocol,
  dataplane?: Dataplane,
): InboundJudgement | { readonly error: string } {
  const backends = backendsOf(index, services, target.kind === "service" ? port : undefined, protocol);
  if (backends.length === 0) {
    const what = target.kind === "service" ? `Service ${target.namespace}/${target.name} port ${port}/${protocol}` : `host ${target.host} (${protocol})`;
    return { error: `${what} has no backend pod in the manifests` };
  }
  const names = new Set(services.map((s) => `${s.namespace}/${s.name}`));
  const allPaths = backends.flatMap((b) => inboundPaths(snapshot, b.pod, dataplane ? { dataplane } : {}));
  const paths = allPaths
    .filter((p) => names.has(p.service) && (target.kind === "service" ? p.code !== "ingress_proxy" && p.code !== "gateway_proxy" : p.code === "ingress_proxy" || p.code === "gateway_proxy"))
    .filter((p, i, all) => all.findIndex((q) => q.via === p.via) === i);
  const notes: VerdictNote[] = [];
  const lines: string[] = paths.map((p) => `through ${p.via}: the pod sees ${p.sourceSeen}`);
  const isolated = backends.some((b) => selectingPolicies(index, b.pod, "ingress").length > 0 || index.admin !== undefined);
  if (paths.length === 0) {
    notes.push({ code: "inbound_no_path", kind: "unknown", message: `nothing in the manifests lets traffic from outside reach ${describeTarget(target)} (no NodePort, LoadBalancer or externalIPs, no Ingress or route)` });
  }
  for (const path of paths.filter((p) => p.outcome !== "preserved")) {
    if (!isolated) continue; // every source is admitted: which one arrives does not matter
    if (path.outcome === "dataplane") {
      notes.push({ code: "inbound_dataplane", kind: "undefined", message: `through ${path.via} the dataplane decides whether the pod sees the client's address (${path.dataplane ?? ""}); give --dataplane` });
    } else {
      notes.push({ code: "inbound_source_rewritten", kind: "unknown", message: `through ${path.via} the pod sees ${path.sourceSeen}, not ${source.label}: the verdict depends on whether the policy admits those, which the manifests do not say` });
    }
  }
  // The addresses of the ranges, cut where the backends' ipBlocks start or end.
  const intervals = verdictIntervals(source.cidrs, ingressBoundaries(index, backends.map((b) => b.pod)));
  const allowed: Interval[] = [];
  const denied: Interval[] = [];
  let representative: PolicyVerdict | undefined;
  let firstDenied: PolicyVerdict | undefined;
  for (const interval of intervals) {
    const from = { kind: "ip" as const, ip: firstAddress(interval) };
    let admitted = true;
    for (const backend of backends) {
      const verdict = evaluateConnection(index, { from, to: { kind: "pod", pod: backend.pod }, port: backend.port, protocol });
      representative ??= verdict;
      if (verdict.verdict !== "allow") {
        admitted = false;
        firstDenied ??= verdict;
        break;
      }
    }
    (admitted ? allowed : denied).push(interval);
  }
  const base = firstDenied ?? representative;
  if (!base) return { error: `${source.label} holds no address` };
  const blocks = (set: Interval[]) => setToCidrs(normalizeSet(set)).map((c) => c.text);
  if (denied.length > 0 && allowed.length > 0) lines.push(`admitted from ${blocks(allowed).length} block(s) of ${source.label}, denied from ${blocks(denied).length}: ${shortList(blocks(denied))}`);
  const all = [...base.notes.filter((n) => n.code !== "source_may_be_rewritten"), ...notes];
  return {
    verdict: {
      ...base,
      verdict: denied.length === 0 ? "allow" : "deny",
      notes: all,
      determinate: !all.some((n) => n.kind === "undefined" || n.kind === "unknown"),
      cniDependent: all.some((n) => n.kind === "cni_dependent"),
    },
    paths,
    lines,
  };
}

function shortList(items: readonly string[]): string {
  return items.length <= 5 ? items.join(", ") : `${items.slice(0, 5).join(", ")} and ${items.length - 5} more`;
}

export function describeTarget(target: InboundTarget): string {
  return target.kind === "service" ? `Service ${target.namespace}/${target.name}` : `host ${target.host}`;
}
