// Durations as people write them in config: "500ms", "2s", "1m30s", "1h", "1.5s".
// Whole milliseconds only: a duration finer than that ("0.0001ms", "1.5ms") or too large for
// exact arithmetic is no duration, so no value is silently rounded into something else
// (a zero, an overflow). Fields then check their own range (schema.ts).

const UNIT_MS: Readonly<Record<string, bigint>> = { ms: 1n, s: 1000n, m: 60_000n, h: 3_600_000n };
const WHOLE = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
const PART = /(\d+)(?:\.(\d+))?(ms|s|m|h)/g;
/** Longer text is no duration (and never reaches the regular expressions). */
const MAX_TEXT = 64;

/** Whole milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (text.length > MAX_TEXT || !WHOLE.test(text)) return undefined;
  let total = 0n;
  for (const [, whole = "0", fraction = "", unit = ""] of text.matchAll(PART)) {
    // Exact decimal arithmetic: "1.1s" is 1100 ms, not 1100.0000000000002.
    const scale = 10n ** BigInt(fraction.length);
    const scaled = (BigInt(whole) * scale + BigInt(fraction === "" ? "0" : fraction)) * (UNIT_MS[unit] ?? 0n);
    if (scaled % scale !== 0n) return undefined;
    total += scaled / scale;
  }
  return total <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(total) : undefined;
}

/** The largest whole unit: 3600000 is "1h", 90000 is "90s", 1500 is "1500ms". */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms !== 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The durations a field accepts, both ends included. */
export interface DurationRange {
  readonly minMs: number;
  readonly maxMs: number;
}

export function inDurationRange(ms: number | undefined, range: DurationRange): ms is number {
  return ms !== undefined && ms >= range.minMs && ms <= range.maxMs;
}

/** "from 100ms to 24h" */
export function describeDurationRange(range: DurationRange): string {
  return `from ${formatDuration(range.minMs)} to ${formatDuration(range.maxMs)}`;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The range of every duration in the configuration (docs/configuration.md lists them). Each
 * bound is a choice about what users need, and every timer armed from these values is also
 * clamped where it is armed (schedule/timers.ts).
 */
export const DURATION_RANGES = {
  /** Probe intervals (defaults.interval, probes[].interval): sub-second for labs; a day at most, or nobody is watching the edge. */
  interval: { minMs: 100, maxMs: DAY },
  /** Probe timeouts (defaults.timeout, probes[].timeout): within the probe worker's bound too (WORKER_LIMITS.maxTimeoutMs). */
  timeout: { minMs: 10, maxMs: 60_000 },
  /** agent.starvationThreshold: above the monitor's 50 ms tick's jitter, below any useful probe timeout. */
  starvationThreshold: { minMs: 10, maxMs: 60_000 },
  /** zscaler.refreshInterval: seconds for a local mirror; a week at most, or the data goes stale. */
  zscalerRefresh: { minMs: 1000, maxMs: 7 * DAY },
  /** zscaler.timeout: one attempt, connect to the last byte. */
  zscalerTimeout: { minMs: 1000, maxMs: 5 * 60_000 },
  /** zscaler.removalGrace: 0 applies removals at once. */
  zscalerRemovalGrace: { minMs: 0, maxMs: 30 * DAY },
  /** agent.coverageWindow: how far back a probe counts as exercising a rule; at least a probe interval's worth. */
  coverageWindow: { minMs: 1000, maxMs: 7 * DAY },
} as const satisfies Record<string, DurationRange>;
