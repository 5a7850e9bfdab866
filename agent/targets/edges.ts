// Probe edges: one per (probe, source identity, concrete target). The config says what to
// probe from which source; the cluster state turns Services and pod selectors into
// addresses. Several edges may share one metric label set (each endpoint of a Service,
// each selected pod): labels stay bounded, the results list every edge.

import { type Cidr, type IpAddress, parseCidr, parseIp } from "../addresses/ip.js";
import type { ClusterSnapshot, PodInfo, Protocol, ServiceInfo, ServicePort } from "../cluster/snapshot.js";
import type { AgentConfig, PodsTargetConfig, ProbeConfig, ServiceTargetConfig, TargetConfig, ZscalerTargetConfig } from "../config/model.js";
import { ZSCALER_DEFAULT_PORTS } from "../config/schema.js";
import { resolveNamedPort } from "../policy/engine.js";
import { compileSelector, formatSelector } from "../policy/selectors.js";
import type { ProbeCall } from "../probes/index.js";
import { systemDnsServers } from "../probes/resolver.js";
import type { SourceIdentity } from "../verdicts/policy.js";
import { chooseByRendezvous } from "./rendezvous.js";
import type { CenrFeed, FeedData, FeedKind } from "../zscaler/feeds.js";

/** What edges need of the Zscaler feeds: the current data per cloud and kind. */
export interface FeedReader {
  current(cloud: string, kind: FeedKind): FeedData | undefined;
}

/**
 * Zscaler's Global ZEN addresses. They answer only inside a GRE/IPsec tunnel, so they are
 * probed only as an explicit inside-the-tunnel check (insideTunnel: true).
 */
export const GLOBAL_ZEN_ADDRESSES = ["185.46.212.88", "185.46.212.89", "185.46.212.90", "185.46.212.91", "185.46.212.92", "185.46.212.93", "185.46.212.97", "185.46.212.98"];

/** The feeds whose ranges make up a cloud's published address space (ZPA is another product). */
const ZIA_FEEDS: readonly FeedKind[] = ["cenr", "future", "hubs-recommended", "hubs-required", "svpn"];

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
  readonly labels: EdgeLabels;
  /** Edges with equal labels share their metric series. */
  readonly seriesKey: string;
}

/** Of a target's endpoints, how many this agent probes (chosen by rendezvous hashing on its node). */
export interface EndpointSelection {
  readonly chosen: number;
  readonly of: number;
}

/** The cap on endpoints per target, and the node whose share is taken. */
export interface FanOut {
  readonly max: number;
  readonly node: string;
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
}

function firstIp(ips: readonly IpAddress[]): IpAddress | undefined {
  return ips.find((ip) => ip.family === 4) ?? ips[0];
}

function clusterDnsAddress(): IpAddress | undefined {
  const system = systemDnsServers();
  const first = system.ok ? system.servers[0] : undefined;
  if (!first) return undefined;
  const parsed = parseIp(first.ip);
  return parsed.ok ? parsed.value : undefined;
}

function tcpTo(address: IpAddress, port: number, targetName: string, targetKind: string, endpoint?: string): Concrete {
  return {
    call: { kind: "tcp", target: { ip: address.text, port } },
    port,
    protocol: "TCP",
    address,
    ...(endpoint !== undefined ? { endpoint } : {}),
    targetName,
    targetKind,
  };
}

/** One of several edges behind one target: told apart by its pod, else its address. */
function oneOfMany(concrete: Concrete): Concrete {
  return { ...concrete, instance: concrete.endpoint ?? concrete.address?.text ?? "" };
}

/**
 * A target's endpoints, at most fanOut.max of them: this node's share by rendezvous hashing
 * on the node name, each marked with how many were chosen of how many.
 */
function shareOf(endpoints: readonly Concrete[], fanOut: FanOut | undefined): Concrete[] {
  const chosen = fanOut ? chooseByRendezvous(endpoints, (concrete) => concrete.instance ?? "", fanOut.node, fanOut.max) : [...endpoints];
  const selection: EndpointSelection = { chosen: chosen.length, of: endpoints.length };
  return chosen.map((concrete) => ({ ...concrete, selection }));
}

/** Every range a cloud's ZIA feeds publish now; undefined when none is loaded yet. */
export function zscalerRanges(feeds: FeedReader | undefined, cloud: string): Cidr[] | undefined {
  const cidrs: Cidr[] = [];
  let loaded = false;
  for (const kind of ZIA_FEEDS) {
    const data = feeds?.current(cloud, kind);
    if (!data) continue;
    loaded = true;
    for (const text of data.cidrs) {
      const parsed = parseCidr(text);
      if (parsed.ok) cidrs.push(parsed.value);
    }
  }
  return loaded ? cidrs : undefined;
}

function zscalerTargets(target: ZscalerTargetConfig, feeds: FeedReader | undefined): Concrete[] {
  const concrete: Concrete[] = [];
  const add = (host: string, ports: readonly number[]) => {
    for (const port of ports) concrete.push({ call: { kind: "tcp", target: { host, port } }, port, protocol: "TCP", targetName: host, targetKind: "zscaler" });
  };
  for (const endpoint of target.endpoints) {
    const ports = target.ports ?? ZSCALER_DEFAULT_PORTS[endpoint];
    switch (endpoint) {
      case "gateway":
        add(`gateway.${target.cloud}`, ports);
        break;
      case "secondary":
        add(`secondary.gateway.${target.cloud}`, ports);
        break;
      case "pac":
      case "login":
      case "mobile":
        add(`${endpoint}.${target.cloud}`, ports);
        break;
      case "dc": {
        // Each data centre's ZEN by its CENR hostname (<dc>.sme.<cloud>), in the chosen cities.
        const cenr = feeds?.current(target.cloud, "cenr") as CenrFeed | undefined;
        const cities = new Set(target.cities.map((city) => city.toLowerCase()));
        const hosts = new Set<string>();
        for (const centre of cenr?.dataCentres ?? []) {
          if (centre.hostname && (cities.size === 0 || cities.has(centre.city.toLowerCase()))) hosts.add(centre.hostname);
        }
        for (const host of [...hosts].sort()) add(host, ports);
        break;
      }
      case "global-zen":
        for (const text of GLOBAL_ZEN_ADDRESSES) {
          const ip = parseIp(text);
          if (!ip.ok) continue;
          for (const port of ports) concrete.push(oneOfMany(tcpTo(ip.value, port, `global-zen.${target.cloud}`, "zscaler")));
        }
        break;
    }
  }
  return concrete;
}

/**
 * What a target stands for now. Cluster targets need the snapshot (none before the first
 * sync); Zscaler data centres and answer ranges need the feeds. fanOut caps the endpoints of
 * a `pods` target or a Service `via: endpoints` (this node's share).
 */
export function concreteTargets(target: TargetConfig, snapshot: ClusterSnapshot | undefined, feeds?: FeedReader, fanOut?: FanOut): Concrete[] {
  switch (target.kind) {
    case "zscaler":
      return zscalerTargets(target, feeds);
    case "tcp":
      if (target.ip) return [tcpTo(target.ip, target.port, target.ip.text, "ip")];
      return [{ call: { kind: "tcp", target: { host: target.host ?? "", port: target.port } }, port: target.port, protocol: "TCP", targetName: target.host ?? "", targetKind: "host" }];
    case "dns": {
      const server = target.server.kind === "address" ? target.server.server : undefined;
      const parsed = server ? parseIp(server.ip) : undefined;
      const address = parsed?.ok ? parsed.value : server ? undefined : clusterDnsAddress();
      // answersIn: zscaler:<cloud>: that cloud's ranges as published now.
      const answersIn = [...target.answersIn];
      const missing: string[] = [];
      for (const cloud of target.answersInZscaler) {
        const ranges = zscalerRanges(feeds, cloud);
        if (ranges) answersIn.push(...ranges);
        else missing.push(cloud);
      }
      return [
        {
          call: {
            kind: "dns",
            target: { query: target.query, type: target.type, server: server ? server.setting : "cluster", ...(answersIn.length > 0 ? { answersIn } : {}) },
          },
          port: server?.port ?? 53,
          protocol: "UDP",
          ...(address ? { address } : {}),
          targetName: target.query,
          targetKind: "dns",
          ...(missing.length > 0 ? { unjudgeable: `the published ranges of ${missing.join(", ")} are not loaded yet: answers cannot be checked` } : {}),
          ...(target.answersInZscaler.length > 0 ? { zscalerClouds: target.answersInZscaler } : {}),
        },
      ];
    }
    case "service": {
      const { service, servicePort } = serviceOf(target, snapshot);
      if (!service || !servicePort) return [];
      const name = `${target.namespace}/${target.name}`;
      if (target.via === "clusterIP") {
        const ip = firstIp(service.clusterIps);
        return ip ? [tcpTo(ip, servicePort.port, name, "service")] : [];
      }
      // Each ready endpoint, on the port the slice publishes for this Service port.
      const concrete: Concrete[] = [];
      const seen = new Set<string>();
      for (const slice of snapshot?.endpointSlices ?? []) {
        if (slice.namespace !== service.namespace || slice.service !== service.name) continue;
        const port = slice.ports.find((p) => (servicePort.name ? p.name === servicePort.name : true) && p.protocol === "TCP");
        if (!port) continue;
        for (const endpoint of slice.endpoints) {
          const ip = firstIp(endpoint.addresses);
          if (!endpoint.ready || !ip || seen.has(`${ip.text}:${port.port}`)) continue;
          seen.add(`${ip.text}:${port.port}`);
          concrete.push(oneOfMany(tcpTo(ip, port.port, name, "service_endpoint", endpoint.pod)));
        }
      }
      return shareOf(concrete, fanOut);
    }
    case "pods": {
      const name = `${target.namespace}/${formatSelector(target.selector)}`;
      const concrete: Concrete[] = [];
      for (const pod of selectedPods(target, snapshot)) {
        const ip = firstIp(pod.ips);
        const port = typeof target.port === "number" ? target.port : resolveNamedPort(pod, target.port, "TCP");
        if (ip && port !== undefined) concrete.push(oneOfMany(tcpTo(ip, port, name, "pods", podName(pod))));
      }
      return shareOf(concrete, fanOut);
    }
  }
}

/** The Service a target names, and its TCP port by number or name (either may be missing). */
export function serviceOf(target: ServiceTargetConfig, snapshot: ClusterSnapshot | undefined): { service?: ServiceInfo; servicePort?: ServicePort } {
  const service = snapshot?.services.find((s) => s.namespace === target.namespace && s.name === target.name);
  const servicePort = service?.ports.find((p) => (typeof target.port === "number" ? p.port === target.port : p.name === target.port) && p.protocol === "TCP");
  return { ...(service ? { service } : {}), ...(servicePort ? { servicePort } : {}) };
}

/** The pods a pods target selects: in its namespace, real pods (not templates), not on the host network. */
export function selectedPods(target: PodsTargetConfig, snapshot: ClusterSnapshot | undefined): PodInfo[] {
  const matches = compileSelector(target.selector);
  return (snapshot?.pods ?? []).filter((pod) => pod.namespace === target.namespace && !pod.workload && !pod.hostNetwork && matches(pod.labels));
}

function podName(pod: PodInfo): string {
  return `${pod.namespace}/${pod.name}`;
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
    labels,
    seriesKey,
  };
}

/**
 * Every edge the config asks for, given the identities each source stands for on this
 * node and the cluster state. Sorted by id so that the budget (maxEdges) always keeps the
 * same ones. With nodeName, targets of many endpoints give this node's share
 * (agent.maxEndpointsPerTarget).
 */
export function expandEdges(
  config: AgentConfig,
  identities: (sourceName: string) => readonly SourceIdentity[],
  snapshot: ClusterSnapshot | undefined,
  feeds?: FeedReader,
  nodeName?: string,
): { edges: Edge[]; dropped: number } {
  const edges: Edge[] = [];
  const fanOut = nodeName !== undefined ? { max: config.agent.maxEndpointsPerTarget, node: nodeName } : undefined;
  for (const probe of config.probes) {
    const targets = concreteTargets(probe.target, snapshot, feeds, fanOut);
    for (const sourceName of probe.sources) {
      for (const identity of identities(sourceName)) for (const target of targets) edges.push(edgeFor(probe, identity, target));
    }
  }
  edges.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const kept = edges.slice(0, config.agent.maxEdges);
  return { edges: kept, dropped: edges.length - kept.length };
}
