// The hard deadline every probe runs under, and the stopwatch it reports with.
// A Deadline owns one timer and one listener on the caller's signal; dispose() releases both.

import { startTimer, type Timer } from "../schedule/timers.js";
import { describeError as describeOneLine } from "../text/errors.js";
import type { ProbeContext, ProbeOutcome, ProbePhase, ProbeReason } from "./prober.js";

export type Expiry = "timeout" | "aborted";

const TIMED_OUT = "netcanary: probe deadline";
const ABORTED = "netcanary: probe aborted";

export class Deadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: Timer;
  private readonly endsAt: number;
  private readonly external: AbortSignal | undefined;
  private readonly onExternalAbort = (): void => this.controller.abort(ABORTED);

  constructor(timeoutMs: number, external?: AbortSignal) {
    this.signal = this.controller.signal;
    this.endsAt = performance.now() + timeoutMs;
    this.timer = startTimer(() => this.controller.abort(TIMED_OUT), timeoutMs);
    this.external = external;
    if (external?.aborted) this.controller.abort(ABORTED);
    else external?.addEventListener("abort", this.onExternalAbort, { once: true });
  }

  /** Why the signal fired, or undefined while the probe may still run. */
  expiry(): Expiry | undefined {
    return expiryOf(this.signal);
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - performance.now());
  }

  dispose(): void {
    this.timer.cancel();
    this.external?.removeEventListener("abort", this.onExternalAbort);
  }
}

/** Why a Deadline's signal fired, or undefined when it has not. */
export function expiryOf(signal: AbortSignal): Expiry | undefined {
  if (!signal.aborted) return undefined;
  return signal.reason === TIMED_OUT ? "timeout" : "aborted";
}

/** Checks the context before a probe starts; undefined when it is usable. */
export function contextProblem(context: ProbeContext): string | undefined {
  if (typeof context !== "object" || context === null) return "probe context is missing";
  const { timeoutMs } = context;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    return `timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`;
  }
  return undefined;
}

/** A prober's clock; Reason: the reasons it declares (ReasonDeclaration), so it can report no other. */
export class Stopwatch<Reason extends ProbeReason = ProbeReason> {
  private readonly started = performance.now();
  private readonly phases: Partial<Record<ProbePhase, number>> = {};

  /** Runs one phase and records its duration in seconds. */
  async phase<T>(phase: ProbePhase, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.phases[phase] = (performance.now() - started) / 1000;
    }
  }

  outcome(
    reason: Reason,
    extra: { readonly address?: string | undefined; readonly answers?: readonly string[] | undefined; readonly detail?: string | undefined } = {},
  ): ProbeOutcome {
    return {
      reason,
      durationSeconds: (performance.now() - this.started) / 1000,
      phases: { ...this.phases },
      ...(extra.address !== undefined ? { address: extra.address } : {}),
      ...(extra.answers !== undefined ? { answers: extra.answers } : {}),
      ...(extra.detail !== undefined ? { detail: extra.detail } : {}),
    };
  }
}

/** A probe's detail for an unexpected failure (text/errors.ts), short: results hold one per edge. */
export function describeError(error: unknown): string {
  return describeOneLine(error, 200);
}
