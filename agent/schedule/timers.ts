// Timers whose delay is computed (from config, from arithmetic), safe for any number.
//
// Node's setTimeout fires after 1 ms, with no more than a warning, when the delay is above
// 2^31-1 ms (about 24.8 days), NaN or negative. A timer armed from an unchecked value therefore
// fires at once, and a timer that re-arms itself from its own arithmetic (a schedule) fires
// again and again: one edge with `interval: 1000h` ran about 14,000 probes in 20 s. Every
// setTimeout whose delay is not a small literal goes through startTimer, which:
// - waits a delay above MAX_TIMER_MS in steps of at most MAX_TIMER_MS: never early;
// - fires a negative delay on the next turn, as 0 (it is already due);
// - waits one longest step, then fires, for NaN: a caller's bug never becomes a busy loop;
// - never fires for Infinity.
// A job that runs again and again (a reading, a sample) goes through repeat, built on startTimer:
// each run re-armed when the last one has settled, a failure reported, stop() final.
// A leaf module: the agent and the probe worker both use it.

/** The largest delay setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Timer {
  /** Stops the timer; calling it again, or after the timer fired, does nothing. */
  cancel(): void;
}

export interface TimerOptions {
  /** Let the process exit while this timer is pending (default: keep it alive, as setTimeout does). */
  readonly unref?: boolean;
}

/** The delay of one setTimeout step towards `remainingMs`. */
export function timerStep(remainingMs: number): number {
  if (Number.isNaN(remainingMs)) return MAX_TIMER_MS;
  return Math.min(MAX_TIMER_MS, Math.max(0, remainingMs));
}

/** Calls `callback` once after `delayMs`, however large, in chained steps beyond MAX_TIMER_MS. */
export function startTimer(callback: () => void, delayMs: number, options: TimerOptions = {}): Timer {
  let remaining = delayMs;
  let handle: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const step = timerStep(remaining);
    handle = setTimeout(() => {
      remaining -= step;
      // NaN minus a step is NaN, which is not > 0: NaN fires after one step.
      if (remaining > 0) {
        arm();
        return;
      }
      handle = undefined;
      callback();
    }, step);
    if (options.unref === true) handle.unref();
  };
  arm();
  return {
    cancel: () => {
      if (handle !== undefined) clearTimeout(handle);
      handle = undefined;
    },
  };
}

/** Resolves after `delayMs` (see startTimer), or at once when `signal` aborts. Never rejects. */
export function sleepFor(delayMs: number, options: TimerOptions & { readonly signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = options;
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      timer.cancel();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = startTimer(done, delayMs, options);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface RepeatOptions extends TimerOptions {
  /** Delay before the first run (default: one interval; 0 runs it on the next turn). */
  readonly firstMs?: number;
  /**
   * Told what a run threw or rejected with; the loop goes on. Must not throw itself (a
   * reporter that throws leaves an unhandled rejection, as any broken handler would).
   */
  readonly onError: (error: unknown) => void;
}

export interface Repeating {
  /**
   * No run starts after this, and none is re-armed, a run in flight included; resolves when
   * that run has settled (at once when none is). Calling it again does nothing more.
   */
  stop(): Promise<void>;
}

/**
 * Runs `run` after `firstMs`, then `everyMs` (or what `everyMs()` answers then) after each run
 * has settled: never two runs at once, however long one takes. A run that throws or rejects is
 * reported through onError and the next one follows. Every wait goes through startTimer.
 * A run may return at once (not a promise): the next is then armed on the same turn's
 * microtasks, an interval after the run began.
 */
export function repeat(everyMs: number | (() => number), run: () => void | Promise<void>, options: RepeatOptions): Repeating {
  const interval = typeof everyMs === "number" ? () => everyMs : everyMs;
  const timerOptions: TimerOptions = options.unref === undefined ? {} : { unref: options.unref };
  let stopped = false;
  let timer: Timer | undefined;
  let inFlight: Promise<void> | undefined;
  const turn = (): void => {
    timer = undefined;
    if (stopped) return;
    // The executor calls run at once; a synchronous throw becomes a rejection like any other.
    inFlight = new Promise<void>((resolve) => resolve(run()))
      .catch((error: unknown) => options.onError(error))
      .finally(() => {
        inFlight = undefined;
        if (!stopped) timer = startTimer(turn, interval(), timerOptions);
      });
  };
  timer = startTimer(turn, options.firstMs ?? interval(), timerOptions);
  return {
    stop: () => {
      stopped = true;
      timer?.cancel();
      timer = undefined;
      return inFlight ?? Promise.resolve();
    },
  };
}
