// The three-way verdict: intent (declared), policy (computed), observed (probed).
// Pure functions. A sample is judged against the expected outcome; hysteresis turns
// samples into raised and cleared signals.

import type { ProbeReason } from "../probes/prober.js";
import type { Verdict } from "../policy/model.js";

export type PolicyStance = Verdict | "unknown";

export type SignalKind = "unexpected_block" | "unexpected_allow" | "intent_violation";
export const SIGNAL_KINDS: readonly SignalKind[] = ["unexpected_block", "unexpected_allow", "intent_violation"];

/** ok | pending | the first active signal | unknown (nothing to judge against). */
export type EdgeStatus = "ok" | "pending" | SignalKind | "unknown";
export const EDGE_STATUSES: readonly EdgeStatus[] = ["ok", "pending", "unexpected_block", "unexpected_allow", "intent_violation", "unknown"];

/**
 * consistent: the sample agrees with the expected outcome; inconsistent: it does not;
 * inconclusive: it says nothing about the network (the agent failed, or the probe
 * never reached the step the expectation is about).
 */
export type Judgement = "consistent" | "inconsistent" | "inconclusive";

/** Reasons that prove a DNS server answered, so packets passed both ways. */
const DNS_ANSWERED: ReadonlySet<ProbeReason> = new Set([
  "ok",
  "dns_nxdomain",
  "dns_nodata",
  "dns_servfail",
  "dns_refused",
  "dns_unexpected_answer",
]);

export type ProbeKind = "tcp" | "dns";

export function judgeSample(expected: Verdict, kind: ProbeKind, reason: ProbeReason): Judgement {
  // The prober itself failed, or the agent was starved: never a network fault.
  if (reason === "agent_error") return "inconclusive";
  if (expected === "allow") {
    // Anything but success is a failure to get through; its reason tells a refused
    // connection (nothing listening) from a dropped one (timeout).
    return reason === "ok" ? "consistent" : "inconsistent";
  }
  // Expected deny: inconsistent only if packets demonstrably passed.
  if (kind === "dns") return DNS_ANSWERED.has(reason) ? "inconsistent" : "consistent";
  if (reason === "ok") return "inconsistent";
  // A TCP probe whose host name did not resolve never tried to connect.
  if (reason.startsWith("dns_")) return "inconclusive";
  // timeout and unreachable: dropped as policy says. refused/reset: some network
  // plugins reject denied traffic instead of dropping it.
  return "consistent";
}

/** What an edge is judged against: the policy when it is known, else the declared intent. */
export function expectedOutcome(policy: PolicyStance, intent: Verdict | null): { expected: Verdict | null; from: "policy" | "intent" | null } {
  if (policy !== "unknown") return { expected: policy, from: "policy" };
  if (intent !== null) return { expected: intent, from: "intent" };
  return { expected: null, from: null };
}

export interface Thresholds {
  readonly failureThreshold: number;
  readonly successThreshold: number;
}

export interface HysteresisState {
  /** The expected outcome these counters were collected against. */
  readonly expected: Verdict | null;
  readonly consecutiveConsistent: number;
  readonly consecutiveInconsistent: number;
  /** A network signal (unexpected block or allow) is raised. */
  readonly raised: boolean;
  /** Enough samples have been seen to call the edge either way. */
  readonly settled: boolean;
}

export function initialHysteresis(expected: Verdict | null): HysteresisState {
  return { expected, consecutiveConsistent: 0, consecutiveInconsistent: 0, raised: false, settled: false };
}

/**
 * A new expected outcome starts the count again: samples judged against the old
 * expectation say nothing about the new one.
 */
export function withExpectation(state: HysteresisState, expected: Verdict | null): HysteresisState {
  return state.expected === expected ? state : initialHysteresis(expected);
}

export function observe(state: HysteresisState, judgement: Judgement, thresholds: Thresholds): HysteresisState {
  if (state.expected === null || judgement === "inconclusive") return state;
  if (judgement === "consistent") {
    const consecutiveConsistent = state.consecutiveConsistent + 1;
    const enough = consecutiveConsistent >= thresholds.successThreshold;
    return {
      ...state,
      consecutiveConsistent,
      consecutiveInconsistent: 0,
      raised: state.raised && !enough,
      settled: state.settled || enough,
    };
  }
  const consecutiveInconsistent = state.consecutiveInconsistent + 1;
  const enough = consecutiveInconsistent >= thresholds.failureThreshold;
  return {
    ...state,
    consecutiveConsistent: 0,
    consecutiveInconsistent,
    raised: state.raised || enough,
    settled: state.settled || enough,
  };
}

export function activeSignals(state: HysteresisState, policy: PolicyStance, intent: Verdict | null): SignalKind[] {
  const signals: SignalKind[] = [];
  if (state.raised && state.expected === "allow") signals.push("unexpected_block");
  if (state.raised && state.expected === "deny") signals.push("unexpected_allow");
  // Intent contradicted by policy: judged from policy alone, no samples needed.
  if (intent !== null && policy !== "unknown" && policy !== intent) signals.push("intent_violation");
  return signals;
}

export function edgeStatus(state: HysteresisState, signals: readonly SignalKind[]): EdgeStatus {
  for (const kind of SIGNAL_KINDS) if (signals.includes(kind)) return kind;
  if (state.expected === null) return "unknown";
  return state.settled ? "ok" : "pending";
}
