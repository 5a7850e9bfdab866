// The probers, by kind: the one place a prober is registered (as blackbox_exporter's prober
// map). Each kind's target type travels with its prober, so runProbe("tcp", target, ...)
// only accepts a TcpTarget; each kind's reason declaration is what the judgement reads.

import { dnsProbe, dnsProber } from "./dns.js";
import { httpProbe, httpProber } from "./http.js";
import type { ProbeContext, ProbeOutcome, Prober, ProberModule, ProbeReason, ReasonDeclaration } from "./prober.js";
import { tcpProbe, tcpProber } from "./tcp.js";

export type { ProbeContext, ProbeOutcome, ProbePhase, ProbeReason, Prober, ProberModule, ReasonDeclaration } from "./prober.js";
export type { DnsTarget } from "./dns.js";
export type { TcpTarget } from "./tcp.js";
export type { HttpCheck, HttpTarget } from "./http.js";
export type { DnsQueryType } from "./resolver.js";

/** The registration point: one prober module per kind; the kinds and their target types follow from it. */
export const proberModules = { tcp: tcpProbe, dns: dnsProbe, http: httpProbe } as const;

type TargetOf<M> = M extends { readonly run: Prober<infer Target> } ? Target : never;

export type ProbeTargets = { readonly [K in keyof typeof proberModules]: TargetOf<(typeof proberModules)[K]> };

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

export const probers: ProberRegistry = Object.fromEntries(Object.entries(proberModules).map(([kind, module]) => [kind, module.run])) as unknown as ProberRegistry;

/**
 * A kind's module with its target and settings types erased, for code that carries a kind
 * with its target (ProbeCall) or its settings (a check in the config): they travel together,
 * so the kind's module takes them.
 */
export function moduleOf(kind: ProbeKind): ProberModule<unknown, ProbeReason, unknown> {
  return proberModules[kind] as unknown as ProberModule<unknown, ProbeReason, unknown>;
}

/** What a kind's reasons mean (probes/prober.ts, ReasonDeclaration). */
export function reasonDeclaration(kind: ProbeKind): ReasonDeclaration {
  return proberModules[kind].reasons;
}

export function runProbe<K extends ProbeKind>(kind: K, target: ProbeTargets[K], context: ProbeContext): Promise<ProbeOutcome> {
  const prober: Prober<ProbeTargets[K]> = probers[kind];
  return prober(target, context);
}

export function runCall(call: ProbeCall, context: ProbeContext): Promise<ProbeOutcome> {
  return moduleOf(call.kind).run(call.target, context);
}

export { dnsProber, httpProber, tcpProber };
