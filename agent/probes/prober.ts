// The contract every prober implements (one file per protocol, one signature, as
// blackbox_exporter's prober/ does). A prober never throws and never outlives its
// deadline: any failure of the prober itself is the outcome reason "agent_error".

import type { CheckPageResult } from "../zscaler/check-page.js";
import type { PathExpectation, PathObservation } from "../zscaler/path.js";

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
  "dns_zscaler_block",
  "tls_error",
  "tls_untrusted",
  "tls_issuer_mismatch",
  "http_status",
  "http_timeout",
  "http_error",
  "proxy_error",
  "zscaler_blocked",
  "agent_error",
] as const;

export type ProbeReason = (typeof PROBE_REASONS)[number];

/** A probe's phases, in blackbox_exporter's vocabulary (exported as the `phase` label; never renamed). */
export const PROBE_PHASES = ["resolve", "connect", "tls", "processing"] as const;

export type ProbePhase = (typeof PROBE_PHASES)[number];

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
  /** A path check's page as read (zscaler/check-page.ts): what the prober found, plain data. */
  readonly checkPage?: CheckPageResult;
  /** A path check's finding (zscaler/path.ts): the page placed in the published data, by the Zscaler seam. */
  readonly path?: PathObservation;
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

/**
 * What a reason proves about the path under an expected deny, as its prober declares it:
 * passed (packets went both ways: inconsistent with a deny), inconclusive (the probe never
 * tried, or the agent failed) or stopped (dropped or rejected on the way: consistent).
 */
export type PacketProof = "passed" | "stopped" | "inconclusive";

export function packetProof<Reason extends ProbeReason>(declaration: ReasonDeclaration<Reason>, reason: Reason): PacketProof {
  if (reason === "agent_error") return "inconclusive";
  if (declaration.passed.includes(reason)) return "passed";
  if (declaration.notTried.includes(reason)) return "inconclusive";
  return "stopped";
}

/**
 * One concrete address as a check takes it (targets/addresses/ make them): an IP known before
 * probing, or a name resolved at probe time, or a DNS server setting, and a port.
 */
export interface ProbeAddress {
  readonly ip?: string;
  readonly host?: string;
  /** A DNS server: "cluster" (the source's own resolvers) or "addr:port" / "[v6]:port". */
  readonly server?: string;
  readonly port: number;
}

/** How a check's settings (its part of the config) and one address make the prober's target. */
export interface CheckBinding<Settings, Target> {
  /** The transport the check uses: the edge's protocol label and what policy is asked about. */
  readonly protocol: "TCP" | "UDP";
  target(settings: Settings, address: ProbeAddress): Target;
  /** When the check, not the address, names its edges (a DNS probe: by its query). */
  naming?(settings: Settings): { readonly targetName: string; readonly targetKind: string };
  /**
   * Where the packets go when not to the address itself (an explicit proxy): the edge's port
   * and, when it is an IP literal, its address are then the proxy's, since that connection is
   * what NetworkPolicy judges. undefined: to the address.
   */
  via?(settings: Settings): { readonly host: string; readonly port: number } | undefined;
  /** A path check: the path its outcomes' page is expected to show (their `checkPage`); undefined: none. */
  pathExpect?(settings: Settings): PathExpectation | undefined;
}

/**
 * One prober module, one file per check kind: its run function, what its reasons mean and
 * how it binds to an address. Registered in probes/index.ts.
 */
export interface ProberModule<Target, Reason extends ProbeReason = ProbeReason, Settings = never> {
  readonly run: Prober<Target>;
  readonly reasons: ReasonDeclaration<Reason>;
  readonly check: CheckBinding<Settings, Target>;
  /** Whether the target is resolved through the source's own resolvers (a worker reads the pod's). */
  usesSourceResolvers(target: Target): boolean;
  /**
   * A target from a worker request (JSON): what JSON cannot carry (bigint CIDRs travel as
   * text) made whole again. The reason names the field under the target ("answersIn: ...").
   * Without it the target is taken as it came: the prober checks its own targets.
   */
  fromWire?(target: Record<string, unknown>): { ok: true; value: Target } | { ok: false; reason: string };
}
