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
