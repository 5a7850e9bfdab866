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

/** One probe to run: a kind and its target (an edge's call, and what travels to a worker). */
export type ProbeCall = { [K in ProbeKind]: { readonly kind: K; readonly target: ProbeTargets[K] } }[ProbeKind];

/** A call with its id and timeout, as batched for a pod and sent to its worker. */
export interface ProbeRequest {
  readonly id: string;
  readonly call: ProbeCall;
  readonly timeoutMs: number;
}

export type ProberRegistry = { readonly [K in ProbeKind]: Prober<ProbeTargets[K]> };

export const probers: ProberRegistry = { tcp: tcpProber, dns: dnsProber };

export function runProbe<K extends ProbeKind>(kind: K, target: ProbeTargets[K], context: ProbeContext): Promise<ProbeOutcome> {
  const prober: Prober<ProbeTargets[K]> = probers[kind];
  return prober(target, context);
}

export function runCall(call: ProbeCall, context: ProbeContext): Promise<ProbeOutcome> {
  return call.kind === "tcp" ? runProbe("tcp", call.target, context) : runProbe("dns", call.target, context);
}

export { dnsProber, tcpProber };
