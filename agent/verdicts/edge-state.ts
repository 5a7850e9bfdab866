// One edge's judgement over time: its policy, its samples, its signals. Pure: every
// function returns a new record, and says when the edge's status changed.

import type { IpAddress } from "../addresses/ip.js";
import type { ProbeOutcome, ProbeReason } from "../probes/prober.js";
import type { Edge } from "../targets/edges.js";
import { judgePath, noPage, type PathExpectation, type PathObservation } from "../zscaler/path.js";
import {
  activeSignals,
  count,
  type Counts,
  FRESH,
  type EdgeStatus,
  edgeStatus,
  expectedOutcome,
  type HysteresisState,
  initialHysteresis,
  type Judgement,
  judgeSample,
  observe,
  type SignalKind,
  withExpectation,
} from "./judge.js";
import type { EdgePolicy } from "./policy.js";

export interface ObservedSample {
  readonly reason: ProbeReason;
  readonly durationSeconds: number;
  /** ISO 8601 time the probe finished. */
  readonly at: string;
  readonly address?: string;
  readonly detail?: string;
  /** The agent was starved during the probe: the sample was not judged. */
  readonly starved: boolean;
}

/**
 * A path check's state: what it expects, the last path seen, and its own counts (the edge's
 * thresholds): failureThreshold samples on the other path raise unexpected_path,
 * successThreshold on the expected one clear it; unknown paths are not counted.
 */
export interface PathState extends Counts {
  readonly expect: PathExpectation;
  readonly observed?: PathObservation;
}

export interface EdgeRecord {
  readonly edge: Edge;
  readonly policy: EdgePolicy;
  readonly hysteresis: HysteresisState;
  readonly signals: readonly SignalKind[];
  readonly status: EdgeStatus;
  readonly expectedFrom: "policy" | "intent" | null;
  readonly observed?: ObservedSample;
  /** The address last probed (resolved host names change over time). */
  readonly address?: IpAddress;
  /**
   * When the agent saw a change of this edge's policy verdict (epoch ms), until the first
   * sample that agrees with the new verdict: how long the network took to enforce it.
   */
  readonly propagationSince?: number;
  /** For an edge with a path check (edge.pathExpect). */
  readonly path?: PathState;
}

export interface OutcomeApplied {
  readonly record: EdgeRecord;
  readonly change?: StatusChange;
  /** Seconds from the verdict change to this first agreeing sample, when it is one. */
  readonly propagationSeconds?: number;
}

export interface StatusChange {
  readonly from: EdgeStatus;
  readonly to: EdgeStatus;
  readonly record: EdgeRecord;
}

function settle(record: Omit<EdgeRecord, "signals" | "status" | "expectedFrom">): EdgeRecord {
  const intent = record.edge.probe.expect;
  const { from } = expectedOutcome(record.policy.stance, intent);
  const signals = activeSignals(record.hysteresis, record.policy.stance, intent, record.policy.coverageGap !== undefined, record.path?.raised === true);
  return { ...record, signals, status: edgeStatus(record.hysteresis, signals), expectedFrom: from };
}

function change(before: EdgeRecord, after: EdgeRecord): { record: EdgeRecord; change?: StatusChange } {
  return before.status === after.status ? { record: after } : { record: after, change: { from: before.status, to: after.status, record: after } };
}

export function newEdgeRecord(edge: Edge, policy: EdgePolicy, address?: IpAddress): EdgeRecord {
  const { expected } = expectedOutcome(policy.stance, edge.probe.expect);
  return settle({
    edge,
    policy,
    hysteresis: initialHysteresis(expected),
    ...(address ? { address } : {}),
    ...(edge.pathExpect !== undefined ? { path: { expect: edge.pathExpect, ...FRESH } } : {}),
  });
}

/** A sample's path counted against the path check's expectation; an outcome without a path had no page. */
function withPath(state: PathState | undefined, outcome: ProbeOutcome, thresholds: Edge["probe"]): PathState | undefined {
  if (state === undefined) return undefined;
  const observed = outcome.path ?? noPage(`no check page: ${outcome.reason}`);
  return { ...count(state, judgePath(state.expect, observed), thresholds), observed };
}

/**
 * The policy changed (cluster state, or the probed address): re-judge from now on. seenAt:
 * when the agent saw the change; a changed verdict starts the propagation clock.
 */
export function withPolicy(record: EdgeRecord, policy: EdgePolicy, seenAt?: number): { record: EdgeRecord; change?: StatusChange } {
  const { expected } = expectedOutcome(policy.stance, record.edge.probe.expect);
  const verdictChanged = policy.stance !== record.policy.stance && policy.stance !== "unknown" && record.policy.stance !== "unknown";
  const { propagationSince: _previous, ...rest } = record;
  const since = verdictChanged && seenAt !== undefined ? seenAt : record.propagationSince;
  const next = settle({ ...rest, policy, hysteresis: withExpectation(record.hysteresis, expected), ...(since !== undefined ? { propagationSince: since } : {}) });
  return change(record, next);
}

/**
 * A probe finished. `policy` is the verdict for the address it probed. judge: false when
 * the sample cannot be judged (the policy changed while it ran): it is shown, not counted.
 */
export function withOutcome(
  record: EdgeRecord,
  outcome: ProbeOutcome,
  starved: boolean,
  policy: EdgePolicy,
  address: IpAddress | undefined,
  at: Date,
  judge = true,
): OutcomeApplied {
  // A success proves the path whatever the agent's state; a failure while the agent
  // was starved is the agent's fault, not the network's.
  const reason: ProbeReason = starved && outcome.reason !== "ok" ? "agent_error" : outcome.reason;
  const observed: ObservedSample = {
    reason,
    durationSeconds: outcome.durationSeconds,
    at: at.toISOString(),
    starved: starved && outcome.reason !== "ok",
    ...(outcome.address !== undefined ? { address: outcome.address } : {}),
    ...(starved && outcome.reason !== "ok" ? { detail: `agent starved (event loop blocked); network outcome was ${outcome.reason}` } : outcome.detail !== undefined ? { detail: outcome.detail } : {}),
  };
  const { expected } = expectedOutcome(policy.stance, record.edge.probe.expect);
  // Here the expectation moves with the address probed (policy changes go through withPolicy).
  let hysteresis = withExpectation(record.hysteresis, expected, true);
  let judgement: Judgement = "inconclusive";
  if (expected !== null && judge) {
    judgement = judgeSample(expected, record.edge.call.kind, reason);
    hysteresis = observe(hysteresis, judgement, record.edge.probe);
  }
  const { propagationSince, ...rest } = record;
  // The first sample that agrees with a changed verdict ends the propagation clock.
  const propagated = propagationSince !== undefined && judgement === "consistent";
  const path = withPath(record.path, outcome, record.edge.probe);
  const next = settle({
    ...rest,
    policy,
    hysteresis,
    ...(path !== undefined ? { path } : {}),
    observed,
    ...(address ? { address } : {}),
    ...(propagationSince !== undefined && !propagated ? { propagationSince } : {}),
  });
  const applied = change(record, next);
  return propagated ? { ...applied, propagationSeconds: Math.max(0, at.getTime() - propagationSince) / 1000 } : applied;
}
