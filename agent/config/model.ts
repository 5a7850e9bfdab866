// The agent's configuration after validation: durations in milliseconds, addresses
// parsed, defaults applied. What the rest of the agent reads.

import type { Cidr, IpAddress } from "../addresses/ip.js";
import type { DnsServer } from "../probes/resolver.js";
import type { LabelSelector, Verdict } from "../policy/model.js";

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
}

export type SourceConfig = { readonly name: string; readonly kind: "self" };

export type Schedule = { readonly kind: "interval"; readonly intervalMs: number } | { readonly kind: "cron"; readonly expression: string };

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

export type TargetConfig = TcpTargetConfig | DnsTargetConfig | ServiceTargetConfig | PodsTargetConfig;

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
  readonly sources: readonly SourceConfig[];
  readonly probes: readonly ProbeConfig[];
}

