// Knows when the agent itself was starved (its event loop blocked), so that a probe
// that failed during such a stall is not blamed on the network.
//
// It reads a clock (wall time, epoch milliseconds, unless told otherwise): a tick later than
// expected by more than the threshold is a stall. A test that asks whether some work blocks
// the loop gives it the thread's CPU time instead, so that the machine running other work
// (which delays every tick in wall time) does not read as the work's own stall.

export interface StarvationMonitorOptions {
  /** Delay beyond the tick that counts as starvation. */
  readonly thresholdMs: number;
  readonly tickMs?: number;
  /** How long stall records are kept (longer than the longest probe). */
  readonly memoryMs?: number;
  /** The clock, in milliseconds (default: Date.now); starvedDuring takes times on it. */
  readonly now?: () => number;
}

interface Stall {
  readonly start: number;
  readonly end: number;
}

/** How long the worst recent delay is remembered. */
const RECENT_MS = 60_000;

export class StarvationMonitor {
  private readonly stalls: Stall[] = [];
  private readonly tickMs: number;
  private readonly memoryMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private expected = 0;
  private worstMs = 0;
  /** For the status page: the last tick's delay, and the worst one in the last minute or so. */
  private lastMs = 0;
  private recent = { ms: 0, at: 0 };

  private thresholdMs: number;

  constructor(options: StarvationMonitorOptions) {
    this.thresholdMs = options.thresholdMs;
    this.tickMs = options.tickMs ?? 50;
    this.memoryMs = options.memoryMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Applies from the next tick (a config reload). */
  setThreshold(thresholdMs: number): void {
    this.thresholdMs = thresholdMs;
  }

  start(): void {
    if (this.timer) return;
    this.expected = this.now() + this.tickMs;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The largest event-loop delay seen since the last call, in milliseconds. */
  takeWorstDelayMs(): number {
    const worst = this.worstMs;
    this.worstMs = 0;
    return worst;
  }

  /** The event loop's delay now and at worst lately (ms), without taking it from the metric. */
  delays(): { readonly lastMs: number; readonly recentWorstMs: number; readonly thresholdMs: number } {
    return { lastMs: this.lastMs, recentWorstMs: this.recent.ms, thresholdMs: this.thresholdMs };
  }

  /** Was the agent starved at any time in [start, end] (on the monitor's clock: epoch milliseconds by default)? */
  starvedDuring(start: number, end: number): boolean {
    if (this.timer) this.tick(); // account for a stall still in progress (a stopped monitor measures nothing)
    return this.stalls.some((stall) => stall.start <= end && stall.end >= start);
  }

  private tick(): void {
    const now = this.now();
    const delay = now - this.expected;
    if (delay > this.worstMs) this.worstMs = delay;
    this.lastMs = Math.max(0, delay);
    if (delay >= this.recent.ms || now - this.recent.at > RECENT_MS) this.recent = { ms: Math.max(0, delay), at: now };
    if (delay > this.thresholdMs) this.stalls.push({ start: this.expected, end: now });
    this.expected = now + this.tickMs;
    while (this.stalls.length > 0 && (this.stalls[0] as Stall).end < now - this.memoryMs) this.stalls.shift();
  }
}
