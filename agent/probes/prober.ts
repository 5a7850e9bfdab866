// The contract every prober implements (one file per protocol, one signature, as
// blackbox_exporter's prober/ does). A prober never throws and never outlives its
// deadline: any failure of the prober itself is the outcome reason "agent_error".

/** Every outcome reason a prober reports (exported as the `reason` label; never renamed). */
export const PROBE_REASONS = [
  "ok",
  "timeout",
  "refused",
  "reset",
  "host_unreachable",
  "net_unreachable",
  "dns_nxdomain",
  "dns_nodata",
  "dns_servfail",
  "dns_refused",
  "dns_timeout",
  "dns_unexpected_answer",
  "agent_error",
] as const;

export type ProbeReason = (typeof PROBE_REASONS)[number];

export type ProbePhase = "resolve" | "connect";

export interface ProbeOutcome {
  readonly reason: ProbeReason;
  /** The whole probe, in seconds. */
  readonly durationSeconds: number;
  /** Seconds spent in each phase that ran. */
  readonly phases: Partial<Record<ProbePhase, number>>;
  /** The IP actually probed: the connected address (TCP) or the DNS server asked (DNS). */
  readonly address?: string;
  /** DNS answers, as text. */
  readonly answers?: readonly string[];
  /** Short human text, e.g. an errno code. Never used as a metric label. */
  readonly detail?: string;
}

export interface ProbeContext {
  /** Hard deadline for the whole probe (resolve + connect), in milliseconds. */
  readonly timeoutMs: number;
  /** Aborting it ends the probe early with reason "agent_error" (detail "aborted"). */
  readonly signal?: AbortSignal;
}

/** The agent's own failure, never a network fault; detail says why (kept short: it is shown, never a label). */
export function agentError(detail: string, durationSeconds = 0): ProbeOutcome {
  return { reason: "agent_error", durationSeconds, phases: {}, detail: detail.length > 300 ? `${detail.slice(0, 297)}...` : detail };
}

export type Prober<Target> = (target: Target, context: ProbeContext) => Promise<ProbeOutcome>;

/**
 * What a prober's reasons say about the network, declared by the prober itself (its file),
 * so that the judgement (verdicts/judge.ts) needs no branch per protocol. Under an expected
 * allow only "ok" is consistent; under an expected deny a reason in `passed` is
 * inconsistent, one in `notTried` is inconclusive and any other one is consistent (the
 * packets were dropped or rejected on the way). "agent_error" is always inconclusive.
 */
export interface ReasonDeclaration<Reason extends ProbeReason = ProbeReason> {
  /** Every reason the prober can report. Its outcomes are typed by it (Stopwatch<Reason>). */
  readonly reports: readonly Reason[];
  /** Reasons that prove packets reached the target and came back. */
  readonly passed: readonly Reason[];
  /** Reasons that mean the probe never tried to reach its target (a name that did not resolve). */
  readonly notTried: readonly ProbeReason[];
}

/** One prober module: its run function and what its reasons mean. One per protocol. */
export interface ProberModule<Target, Reason extends ProbeReason = ProbeReason> {
  readonly run: Prober<Target>;
  readonly reasons: ReasonDeclaration<Reason>;
}
