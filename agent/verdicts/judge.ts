// The three-way verdict: intent (declared), policy (computed), observed (probed).
// Pure functions. A sample is judged against the expected outcome; hysteresis turns
// samples into raised and cleared signals.

import { type ProbeKind, reasonDeclaration } from "../probes/index.js";
import { packetProof, type ProbeReason } from "../probes/prober.js";
import type { Verdict } from "../policy/model.js";

export type PolicyStance = Verdict | "unknown";

/**
 * unexpected_path: a path check (zscaler/path.ts) found egress going the other way than
 * expected (direct where it should go via Zscaler, or the reverse). Last: an edge that is
 * blocked, or allowed against policy, shows that first.
 */
export type SignalKind = "unexpected_block" | "unexpected_allow" | "intent_violation" | "unexpected_path";
export const SIGNAL_KINDS: readonly SignalKind[] = ["unexpected_block", "unexpected_allow", "intent_violation", "unexpected_path"];

/** The signals every edge can have; unexpected_path only edges with a path check. */
export const EDGE_SIGNAL_KINDS: readonly SignalKind[] = ["unexpected_block", "unexpected_allow", "intent_violation"];

/** Is this status one of the signals (a mismatch between what policy says and what happens)? */
export function isSignal(status: EdgeStatus): status is SignalKind {
  return (SIGNAL_KINDS as readonly string[]).includes(status);
}

/** ok | pending | the first active signal | unknown (nothing to judge against). */
export type EdgeStatus = "ok" | "pending" | SignalKind | "unknown";

/**
 * consistent: the sample agrees with the expected outcome; inconsistent: it does not;
 * inconclusive: it says nothing about the network (the agent failed, or the probe
 * never reached the step the expectation is about).
 */
export type Judgement = "consistent" | "inconsistent" | "inconclusive";

export type { ProbeKind } from "../probes/index.js";

/**
 * One sample against the expected outcome. What a reason proves is the prober's own
 * declaration (probes/prober.ts, ReasonDeclaration), registered in probes/index.ts.
 */
export function judgeSample(expected: Verdict, kind: ProbeKind, reason: ProbeReason): Judgement {
  // The prober itself failed, or the agent was starved: never a network fault.
  if (reason === "agent_error") return "inconclusive";
  if (expected === "allow") {
    // Anything but success is a failure to get through; its reason tells a refused
    // connection (nothing listening) from a dropped one (timeout).
    return reason === "ok" ? "consistent" : "inconsistent";
  }
  // Expected deny: inconsistent only if packets demonstrably passed.
  const proof = packetProof(reasonDeclaration(kind), reason);
  return proof === "passed" ? "inconsistent" : proof === "inconclusive" ? "inconclusive" : "consistent";
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

export interface Counts {
  readonly consecutiveConsistent: number;
  readonly consecutiveInconsistent: number;
  /** A network signal (unexpected block or allow; for a path: unexpected path) is raised. */
  readonly raised: boolean;
  /** Enough samples have been seen to call the edge either way. */
  readonly settled: boolean;
}

export interface HysteresisState extends Counts {
  /** The expected outcome these counters were collected against. */
  readonly expected: Verdict | null;
  /**
   * The counts for the other expected outcome, kept while a name resolves to addresses
   * that policy treats differently, so that neither count is reset by the other.
   */
  readonly aside?: Counts & { readonly expected: Verdict };
}

export const FRESH: Counts = { consecutiveConsistent: 0, consecutiveInconsistent: 0, raised: false, settled: false };

export function initialHysteresis(expected: Verdict | null): HysteresisState {
  return { expected, ...FRESH };
}

function countsOf(state: Counts): Counts {
  const { consecutiveConsistent, consecutiveInconsistent, raised, settled } = state;
  return { consecutiveConsistent, consecutiveInconsistent, raised, settled };
}

/**
 * A new expected outcome. A policy change starts the count again: samples judged against
 * the old expectation say nothing about the new one. keepAside: the expectation moved with
 * the address probed (a name with several addresses), not with policy: both counts go on.
 */
export function withExpectation(state: HysteresisState, expected: Verdict | null, keepAside = false): HysteresisState {
  if (state.expected === expected) return state;
  if (!keepAside || state.expected === null || expected === null) return initialHysteresis(expected);
  const resumed = state.aside?.expected === expected ? countsOf(state.aside) : FRESH;
  return { expected, ...resumed, aside: { expected: state.expected, ...countsOf(state) } };
}

/** One judged sample counted: failureThreshold inconsistent ones raise, successThreshold consistent ones clear. */
export function count<C extends Counts>(state: C, judgement: Judgement, thresholds: Thresholds): C {
  if (judgement === "inconclusive") return state;
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

export function observe(state: HysteresisState, judgement: Judgement, thresholds: Thresholds): HysteresisState {
  if (state.expected === null) return state;
  return count(state, judgement, thresholds);
}

/**
 * coverageGap: the source's egress policies leave some of the target's published ranges
 * uncovered (EdgePolicy.coverageGap). With an intent to reach the target, that is an intent
 * violation even when the address probed right now happens to be covered. pathRaised: the
 * edge's path check has seen the unexpected path often enough (edge-state.ts).
 */
export function activeSignals(state: HysteresisState, policy: PolicyStance, intent: Verdict | null, coverageGap = false, pathRaised = false): SignalKind[] {
  const signals: SignalKind[] = [];
  const raisedFor = (expected: Verdict) => (state.raised && state.expected === expected) || (state.aside?.raised === true && state.aside.expected === expected);
  if (raisedFor("allow")) signals.push("unexpected_block");
  if (raisedFor("deny")) signals.push("unexpected_allow");
  // Intent contradicted by policy: judged from policy alone, no samples needed.
  const contradicted = intent !== null && policy !== "unknown" && policy !== intent;
  if (contradicted || (intent === "allow" && coverageGap)) signals.push("intent_violation");
  if (pathRaised) signals.push("unexpected_path");
  return signals;
}

export function edgeStatus(state: HysteresisState, signals: readonly SignalKind[]): EdgeStatus {
  for (const kind of SIGNAL_KINDS) if (signals.includes(kind)) return kind;
  if (state.expected === null) return "unknown";
  return state.settled ? "ok" : "pending";
}
