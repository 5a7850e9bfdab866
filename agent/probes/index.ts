// The probers, by target kind. Each kind's target type travels with its prober, so
// runProbe("tcp", target, ...) only accepts a TcpTarget.

import { dnsProber, type DnsTarget } from "./dns.js";
import type { ProbeContext, ProbeOutcome, Prober } from "./prober.js";
import { tcpProber, type TcpTarget } from "./tcp.js";

export type { ProbeContext, ProbeOutcome, ProbePhase, ProbeReason, Prober } from "./prober.js";
export type { DnsTarget } from "./dns.js";
export type { TcpTarget } from "./tcp.js";
export type { DnsQueryType } from "./resolver.js";

export interface ProbeTargets {
  readonly tcp: TcpTarget;
  readonly dns: DnsTarget;
}

export type ProbeKind = keyof ProbeTargets;

export type ProberRegistry = { readonly [K in ProbeKind]: Prober<ProbeTargets[K]> };

export const probers: ProberRegistry = { tcp: tcpProber, dns: dnsProber };

export function runProbe<K extends ProbeKind>(kind: K, target: ProbeTargets[K], context: ProbeContext): Promise<ProbeOutcome> {
  const prober: Prober<ProbeTargets[K]> = probers[kind];
  return prober(target, context);
}

export { dnsProber, tcpProber };
