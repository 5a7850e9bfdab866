// The agent's configuration after validation: durations in milliseconds, addresses
// parsed, defaults applied. What the rest of the agent reads.

import type { Cidr, IpAddress } from "../addresses/ip.js";
import type { HttpCheck } from "../probes/http.js";
import type { DnsServer } from "../probes/resolver.js";
import type { LabelSelector, Verdict } from "../policy/model.js";
import type { Schedule } from "../schedule/scheduler.js";
import type { ZscalerSettings } from "../zscaler/settings.js";
import type { TrafficSettings } from "./traffic.js";

export type { ZscalerSettings } from "../zscaler/settings.js";

export interface ProbeTimings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
}

export interface AgentSettings {
  /** Probes running at once, across all edges. */
  readonly maxConcurrentProbes: number;
  /** Event-loop delay above which a failed sample is the agent's fault, not the network's. */
  readonly starvationThresholdMs: number;
  /** Edges beyond this are not probed or exported (a series budget); the excess is counted. */
  readonly maxEdges: number;
  /** Probe worker processes alive at once, for pod sources (one per source pod and round). */
  readonly maxProbeWorkers: number;
  /**
   * Endpoints probed per `pods` target or `via: endpoints` Service target (and source): beyond
   * this, each agent takes its own share, chosen by rendezvous hashing on its node name.
   */
  readonly maxEndpointsPerTarget: number;
  /** Rule coverage counts the probes of this window (derive/coverage.ts). */
  readonly coverageWindowMs: number;
}

/** What the agent exports beyond the series every edge has (docs/metrics.md). */
export interface MetricsSettings {
  /**
   * Per-edge duration histograms (netcanary_probe_duration_seconds{phase}): 11 series per
   * phase and edge. Off by default: the per-source histogram and the per-edge gauge of the
   * last probe's duration answer the usual questions for a fraction of the series.
   */
  readonly perEdgeHistograms: boolean;
}

/**
 * self: the agent's own pod. pods: every pod on the agent's node that the selectors pick
 * (by default the label netcanary.io/probe: "true"), probed from inside its network namespace.
 */
export type SourceConfig = (
  | { readonly name: string; readonly kind: "self" }
  | { readonly name: string; readonly kind: "pods"; readonly namespaceSelector: LabelSelector | null; readonly podSelector: LabelSelector }
) & { readonly derive?: DeriveSettings };

/**
 * sources[].derive: probes derived from the policies that select the source (derive/derive.ts,
 * docs/derive.md): per egress rule and allowed port, a representative destination it admits.
 */
export interface DeriveSettings {
  /** Derived edges per source identity and policy. */
  readonly maxPerPolicy: number;
  /** Derived edges per source identity, over all its policies. */
  readonly maxEdges: number;
  /** For an isolated source: also one destination its policies deny and that listens. */
  readonly deny: boolean;
  /** Real destinations outside the cluster, the candidates for ipBlock rules. */
  readonly destinations: readonly { readonly ip: IpAddress; readonly port: number }[];
  /** Also the configured Zscaler clouds' published ranges that fall inside an ipBlock (gateway ports). */
  readonly zscalerRanges: boolean;
}

/** The label that makes a pod a probe source when a source gives no selectors. */
export const PROBE_LABEL = "netcanary.io/probe";

export interface TcpTargetConfig {
  readonly kind: "tcp";
  readonly host?: string;
  readonly ip?: IpAddress;
  readonly port: number;
}

export type DnsRecordType = "A" | "AAAA";

/** "cluster": the resolvers the source uses (its /etc/resolv.conf); else one server. */
export type DnsServerConfig = { readonly kind: "cluster" } | { readonly kind: "address"; readonly server: DnsServer };

export interface DnsTargetConfig {
  readonly kind: "dns";
  readonly query: string;
  readonly type: DnsRecordType;
  readonly server: DnsServerConfig;
  readonly answersIn: readonly Cidr[];
  /** answersIn: zscaler:<cloud>: answers must lie in these clouds' published ranges. */
  readonly answersInZscaler: readonly string[];
}

export const ZSCALER_ENDPOINTS = ["gateway", "secondary", "pac", "login", "mobile", "dc", "global-zen"] as const;
export type ZscalerEndpoint = (typeof ZSCALER_ENDPOINTS)[number];

/** tcp: {zscaler: {cloud, endpoints, ports, cities}}: the probe-worthy hosts of a cloud. */
export interface ZscalerTargetConfig {
  readonly kind: "zscaler";
  readonly cloud: string;
  readonly endpoints: readonly ZscalerEndpoint[];
  /** null: each endpoint's own ports. */
  readonly ports: readonly number[] | null;
  /** Data centres (endpoint dc) of these cities only; empty: all. */
  readonly cities: readonly string[];
}

/** tcp: {service: {namespace, name, port}, via}: the Service address, or each ready endpoint. */
export interface ServiceTargetConfig {
  readonly kind: "service";
  readonly namespace: string;
  readonly name: string;
  /** The Service port, by number or name. */
  readonly port: number | string;
  readonly via: "clusterIP" | "endpoints";
}

/** tcp: {pods: {namespace, selector}, port}: every running pod the selector picks. */
export interface PodsTargetConfig {
  readonly kind: "pods";
  readonly namespace: string;
  readonly selector: LabelSelector;
  /** A port number, or a container port name resolved on each pod. */
  readonly port: number | string;
}

/**
 * http: {url, ...} or {host | ip | service | pods | zscaler, port, path, ...}: an HTTP(S)
 * request to any address kind the `tcp:` block takes; read apart already.
 */
export interface HttpTargetConfig {
  readonly kind: "http";
  readonly address: HostAddressConfig | IpAddressConfig | ServiceTargetConfig | PodsTargetConfig | ZscalerTargetConfig;
  readonly check: HttpCheckConfig;
}

/** A probe's target as the configuration file says it (`tcp:`, `dns:` or `http:`); what edgeSpecOf() splits. */
export type TargetConfig = TcpTargetConfig | DnsTargetConfig | ServiceTargetConfig | PodsTargetConfig | ZscalerTargetConfig | HttpTargetConfig | RuleAddressConfig;

/** tcp: {host, port}: a name, resolved at probe time. */
export interface HostAddressConfig {
  readonly kind: "host";
  readonly host: string;
  readonly port: number;
}

/** tcp: {ip, port}: one address. */
export interface IpAddressConfig {
  readonly kind: "ip";
  readonly ip: IpAddress;
  readonly port: number;
}

/** dns: {server}: the DNS server asked, the source's own resolvers ("cluster") or one address. */
export interface ResolverAddressConfig {
  readonly kind: "resolver";
  readonly server: DnsServerConfig;
}

/**
 * What an edge reaches, apart from how it is checked: one kind per file under
 * targets/addresses/ (zscaler: zscaler/address.ts), each expanding itself into concrete
 * addresses (targets/addresses/index.ts, the registry).
 */
export type AddressConfig = HostAddressConfig | IpAddressConfig | ResolverAddressConfig | ServiceTargetConfig | PodsTargetConfig | ZscalerTargetConfig | RuleAddressConfig;

export type AddressKind = AddressConfig["kind"];

/**
 * A derived edge's destination (derive/derive.ts): one address and port, chosen for the rule it
 * exercises, which names it ("namespace/name spec.egress[0]").
 */
export interface RuleAddressConfig {
  readonly kind: "rule";
  readonly rule: string;
  readonly ip: IpAddress;
  readonly port: number;
  /** What the address is, for results (never for labels): "namespace/pod", "Service namespace/name", or the address. */
  readonly endpoint: string;
}

/** tcp: a connect. */
export interface TcpCheckConfig {
  readonly kind: "tcp";
}

/** dns: one question, its answers optionally checked against ranges. */
export interface DnsCheckConfig {
  readonly kind: "dns";
  readonly query: string;
  readonly type: DnsRecordType;
  readonly answersIn: readonly Cidr[];
  /** answersIn: zscaler:<cloud>: answers must lie in these clouds' published ranges. */
  readonly answersInZscaler: readonly string[];
}

/** http: one request, judged on its status, its TLS issuer and Zscaler's block page (probes/http.ts). */
export interface HttpCheckConfig extends HttpCheck {
  readonly kind: "http";
}

/** How an edge is checked: one prober per kind (probes/<kind>.ts, registered in probes/index.ts). */
export type CheckConfig = TcpCheckConfig | DnsCheckConfig | HttpCheckConfig;

/** An edge's address and its check, apart. */
export interface EdgeSpec {
  readonly address: AddressConfig;
  readonly check: CheckConfig;
}

/** A configured target split into what to reach and how to check it (the YAML keeps its shape). */
export function edgeSpecOf(target: TargetConfig): EdgeSpec {
  switch (target.kind) {
    case "tcp":
      return {
        address: target.ip ? { kind: "ip", ip: target.ip, port: target.port } : { kind: "host", host: target.host ?? "", port: target.port },
        check: { kind: "tcp" },
      };
    case "dns": {
      const { query, type, answersIn, answersInZscaler } = target;
      return { address: { kind: "resolver", server: target.server }, check: { kind: "dns", query, type, answersIn, answersInZscaler } };
    }
    case "service":
    case "pods":
    case "zscaler":
    case "rule":
      return { address: target, check: { kind: "tcp" } };
    case "http":
      return { address: target.address, check: target.check };
  }
}


export interface ProbeConfig extends Omit<ProbeTimings, "intervalMs"> {
  readonly name: string;
  readonly sources: readonly string[];
  readonly expect: Verdict | null;
  readonly schedule: Schedule;
  readonly target: TargetConfig;
}

export interface AgentConfig {
  readonly defaults: ProbeTimings;
  readonly agent: AgentSettings;
  readonly metrics: MetricsSettings;
  /** null: nothing uses Zscaler's feeds. */
  readonly zscaler: ZscalerSettings | null;
  /** Absent: traffic mapping is off (config/traffic.ts). */
  readonly traffic?: TrafficSettings;
  readonly sources: readonly SourceConfig[];
  readonly probes: readonly ProbeConfig[];
}

