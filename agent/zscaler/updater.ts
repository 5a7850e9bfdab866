// Zscaler feeds as live data: fetched, validated, cached, refreshed, and never lost.
//
// One ZscalerFeeds keeps every configured (cloud, feed) pair. Per feed it holds the last GOOD
// upstream payload (parsed, its text, its validators) and serves the EFFECTIVE data: that
// payload plus removed ranges still inside their grace period.
//
// Rules (nothing is lost):
// - A payload the parser refuses (HTML, truncated, empty, wrong cloud, wrong shape, mostly bad
//   rows) or that lost more than maxShrinkFraction of the last good ranges (checkShrink) is
//   refused: one warning line naming cloud, feed and reason, metrics.failure(reason), and the
//   last good data keeps serving. Its validators are not kept, so the next fetch downloads and
//   judges it again instead of getting a 304 for a payload we never accepted.
// - Transport failures (timeout, connection, HTTP status, too large) are handled the same way.
//   A failing feed is tried again sooner than refreshMs: 30 s, doubling, up to refreshMs.
// - 304 Not Modified keeps the data and is a success (setLastSuccess).
// - Changes are judged on the normalised data (hashFeed): a reordered payload is no change.
//   A real change of the effective data sets ranges and info, counts changes(added, removed),
//   writes the cache and notifies listeners once. The first data a feed gets (from the cache or
//   the first fetch) notifies listeners but counts no changes (there is nothing to diff with).
// - Removal grace: a range that disappears upstream stays in the effective `cidrs` until
//   removalGraceMs have passed since it was first seen missing; if it comes back earlier,
//   nothing happened. When the grace ends it leaves, which is a change (counted as removed,
//   listeners notified), found by a timer while started and by every refresh. Held ranges are
//   saved in the cache with their first-missing time, so a restart does not cut the grace
//   short. Only `cidrs` carries held ranges; the other fields come from the newest payload.
// - The shrink check compares with the last good upstream payload, not the effective data.
// - ZPA has one feed for all clouds (private.zscaler.com): it is kept once, under that cloud
//   name in metrics, cache and logs; current(anyCloud, "zpa") returns it.

import { compareCidrs, parseCidr, type Cidr } from "../addresses/ip.js";
import type { Logger } from "../log/log.js";
import { readCached, writeCached } from "./cache.js";
import { checkShrink, diffFeeds, hashFeed } from "./diff.js";
import { type FeedData, type FeedKind, parseFeed } from "./feeds.js";
import {
  createFeedDispatcher,
  feedCloud,
  fetchFeedText,
  type FetchFailureReason,
  type FetchOptions,
  type Validators,
} from "./fetch.js";
import { startTimer, type Timer } from "../schedule/timers.js";
import type { Dispatcher } from "undici";

export interface ZscalerMetricsSink {
  setRanges(cloud: string, feed: FeedKind, count: number): void;
  setLastSuccess(cloud: string, feed: FeedKind, epochSeconds: number): void;
  failure(cloud: string, feed: FeedKind, reason: FetchFailureReason): void;
  changes(cloud: string, feed: FeedKind, added: number, removed: number): void;
  setInfo(cloud: string, feed: FeedKind, hash: string): void;
}

export interface FeedsOptions {
  readonly clouds: readonly string[];
  readonly kinds: readonly FeedKind[];
  readonly fetch: FetchOptions;
  /** Time between refreshes of one feed (jittered ±10%). */
  readonly refreshMs: number;
  /** Where the last good payloads live; no cache when absent. */
  readonly cacheDir?: string;
  /** 0 to 1: a payload losing more than this fraction of the last good ranges is refused. */
  readonly maxShrinkFraction: number;
  /** How long removed ranges keep being served; 0 applies removals at once. */
  readonly removalGraceMs: number;
  readonly logger: Logger;
  readonly metrics?: ZscalerMetricsSink;
  /** Epoch milliseconds; Date.now when absent. */
  readonly now?: () => number;
  /** Feeds fetched at the same time (default 3). */
  readonly concurrency?: number;
}

export type FeedSource = "network" | "cache" | "none";

export interface FeedError {
  readonly reason: FetchFailureReason;
  readonly message: string;
  /** Epoch milliseconds. */
  readonly at: number;
  /** The HTTP status, for http_status. */
  readonly status?: number;
}

export interface FeedStatus {
  /** Where the served data came from: "cache" until the network confirms or replaces it. */
  readonly source: FeedSource;
  /** When the served upstream payload was downloaded (epoch ms). */
  readonly fetchedAt?: number;
  /** The last successful check: an accepted download or a 304 (epoch ms). */
  readonly checkedAt?: number;
  /** hashFeed of the effective data. */
  readonly hash?: string;
  /** Ranges in the effective data. */
  readonly ranges?: number;
  /** Removed upstream, still served during the grace period. */
  readonly held?: number;
  /** The last failure or refusal; cleared by the next success. */
  readonly lastError?: FeedError;
}

/** First retry delay after a failed fetch; doubles per consecutive failure, up to refreshMs. */
const FAILURE_RETRY_MS = 30_000;

interface Upstream {
  readonly data: FeedData;
  readonly text: string;
  readonly validators: Validators;
  readonly fetchedAt: number;
}

interface FeedState {
  readonly cloud: string;
  readonly kind: FeedKind;
  upstream?: Upstream;
  /** CIDR → first seen missing (epoch ms). */
  held: Map<string, number>;
  effective?: FeedData;
  hash?: string;
  source: FeedSource;
  checkedAt?: number;
  lastError?: FeedError;
  failures: number;
  timer?: Timer;
  expiry?: Timer;
  inFlight?: Promise<void>;
  writing: Promise<void>;
}

export class ZscalerFeeds {
  private readonly options: FeedsOptions;
  private readonly now: () => number;
  private readonly states = new Map<string, FeedState>();
  private readonly listeners = new Set<(cloud: string, kind: FeedKind) => void>();
  private readonly abort = new AbortController();
  private readonly limiter: Limiter;
  private ownedDispatcher?: Promise<Dispatcher>;
  private started = false;
  private stopped = false;

  constructor(options: FeedsOptions) {
    if (!(options.refreshMs > 0)) throw new RangeError(`refreshMs must be positive, got ${options.refreshMs}`);
    if (!(options.maxShrinkFraction >= 0 && options.maxShrinkFraction <= 1)) {
      throw new RangeError(`maxShrinkFraction must be between 0 and 1, got ${options.maxShrinkFraction}`);
    }
    if (!(options.removalGraceMs >= 0)) throw new RangeError(`removalGraceMs must be 0 or more, got ${options.removalGraceMs}`);
    this.options = options;
    this.now = options.now ?? Date.now;
    this.limiter = new Limiter(Math.max(1, Math.floor(options.concurrency ?? 3)));
    for (const kind of new Set(options.kinds)) {
      const clouds = kind === "zpa" ? [""] : options.clouds;
      for (const configured of clouds) {
        const cloud = feedCloud(configured, kind);
        const key = stateKey(cloud, kind);
        if (!this.states.has(key)) this.states.set(key, { cloud, kind, held: new Map(), source: "none", failures: 0, writing: Promise.resolve() });
      }
    }
  }

  /** Serves the last good payloads from the cache directory; call before the first fetch. */
  async loadCache(): Promise<void> {
    const dir = this.options.cacheDir;
    if (dir === undefined || this.stopped) return;
    await Promise.all(
      [...this.states.values()].map((state) =>
        this.loadCached(dir, state).catch((error: unknown) => {
          this.options.logger.error({ cloud: state.cloud, feed: state.kind, err: error }, `zscaler feed ${state.cloud} ${state.kind}: reading the cache failed unexpectedly`);
        }),
      ),
    );
  }

  private async loadCached(dir: string, state: FeedState): Promise<void> {
    const entry = await readCached(dir, state.cloud, state.kind, this.options.logger);
    if (!entry || state.upstream || this.stopped) return;
    // Written under a larger zscaler.maxBytes: what the network may not send, the cache may not either.
    const bytes = Buffer.byteLength(entry.text);
    if (bytes > this.options.fetch.maxBytes) {
      this.options.logger.warn(
        { cloud: state.cloud, feed: state.kind, reason: "too_large" },
        `zscaler feed ${state.cloud} ${state.kind}: cached payload of ${bytes} bytes is over the ${this.options.fetch.maxBytes}-byte limit; ignoring the cache`,
      );
      return;
    }
    const parsed = parseFeed(state.kind, state.cloud, entry.text);
    if (!parsed.ok) {
      this.options.logger.warn(
        { cloud: state.cloud, feed: state.kind, reason: parsed.reason.code },
        `zscaler feed ${state.cloud} ${state.kind}: cached payload refused (${parsed.reason.code}): ${parsed.reason.message}; ignoring the cache`,
      );
      return;
    }
    const at = this.now();
    const served = new Set(parsed.value.cidrs);
    for (const [cidr, since] of Object.entries(entry.held ?? {})) {
      if (!served.has(cidr) && parseCidr(cidr).ok) state.held.set(cidr, since);
    }
    this.expireHeld(state, at);
    state.upstream = { data: parsed.value, text: entry.text, validators: entry.validators, fetchedAt: entry.fetchedAt };
    state.source = "cache";
    this.options.metrics?.setLastSuccess(state.cloud, state.kind, entry.fetchedAt / 1000);
    this.options.logger.info(
      { cloud: state.cloud, feed: state.kind, fetchedAt: new Date(entry.fetchedAt).toISOString(), ranges: parsed.value.cidrs.length },
      `zscaler feed ${state.cloud} ${state.kind}: serving the cached payload fetched at ${new Date(entry.fetchedAt).toISOString()}`,
    );
    this.publish(state);
  }

  /** Fetches every feed now (spread over up to a second), then every refreshMs, jittered. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const spread = Math.min(1000, this.options.refreshMs / 10);
    for (const state of this.states.values()) {
      this.schedule(state, Math.random() * spread);
      this.scheduleExpiry(state);
    }
  }

  /** Cancels in-flight fetches and timers, waits for cache writes, closes our sockets. Final. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const state of this.states.values()) {
      state.timer?.cancel();
      state.expiry?.cancel();
      state.timer = undefined;
      state.expiry = undefined;
    }
    this.abort.abort();
    const states = [...this.states.values()];
    await Promise.allSettled(states.map((state) => state.inFlight));
    await Promise.allSettled(states.map((state) => state.writing));
    if (this.ownedDispatcher) {
      const dispatcher = await this.ownedDispatcher.catch(() => undefined);
      await dispatcher?.destroy().catch(() => undefined);
    }
  }

  /** One pass over every feed; resolves when each has been fetched (or joined, if in flight). */
  async refreshNow(): Promise<void> {
    await Promise.all([...this.states.values()].map((state) => this.run(state)));
  }

  /** The effective data of a feed: the last good payload plus removals still in their grace. */
  current(cloud: string, kind: FeedKind): FeedData | undefined {
    return this.states.get(stateKey(feedCloud(cloud, kind), kind))?.effective;
  }

  status(cloud: string, kind: FeedKind): FeedStatus {
    const state = this.states.get(stateKey(feedCloud(cloud, kind), kind));
    if (!state) return { source: "none" };
    return {
      source: state.source,
      ...(state.upstream ? { fetchedAt: state.upstream.fetchedAt } : {}),
      ...(state.checkedAt !== undefined ? { checkedAt: state.checkedAt } : {}),
      ...(state.hash !== undefined ? { hash: state.hash } : {}),
      ...(state.effective ? { ranges: state.effective.cidrs.length, held: state.held.size } : {}),
      ...(state.lastError ? { lastError: state.lastError } : {}),
    };
  }

  /** Called with (cloud, kind) whenever a feed's effective data changes. Returns unsubscribe. */
  onChange(listener: (cloud: string, kind: FeedKind) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // -------------------------------------------------------------------------------------------

  private run(state: FeedState): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (state.inFlight) return state.inFlight;
    state.timer?.cancel();
    state.timer = undefined;
    const flight = this.limiter
      .run(() => this.refresh(state))
      .catch((error: unknown) => {
        this.options.logger.error({ cloud: state.cloud, feed: state.kind, err: error }, `zscaler feed ${state.cloud} ${state.kind}: refresh failed unexpectedly`);
      })
      .finally(() => {
        state.inFlight = undefined;
        if (this.started && !this.stopped) this.schedule(state, this.nextDelay(state));
      });
    state.inFlight = flight;
    return flight;
  }

  private schedule(state: FeedState, delayMs: number): void {
    state.timer?.cancel();
    state.timer = startTimer(() => {
      state.timer = undefined;
      void this.run(state);
    }, delayMs);
  }

  private nextDelay(state: FeedState): number {
    const { refreshMs } = this.options;
    const base = state.failures === 0 ? refreshMs : Math.min(refreshMs, FAILURE_RETRY_MS * 2 ** Math.min(20, state.failures - 1));
    return base * (0.9 + 0.2 * Math.random());
  }

  private async fetchOptions(): Promise<FetchOptions> {
    if (this.options.fetch.dispatcher) return this.options.fetch;
    this.ownedDispatcher ??= createFeedDispatcher();
    return { ...this.options.fetch, dispatcher: await this.ownedDispatcher };
  }

  private async refresh(state: FeedState): Promise<void> {
    if (this.stopped) return;
    const options = await this.fetchOptions();
    const result = await fetchFeedText(state.cloud, state.kind, options, state.upstream?.validators, this.abort.signal);
    if (this.stopped) return;
    const at = this.now();
    switch (result.kind) {
      case "failed":
        this.fail(state, result.reason, result.message, at, result.status);
        break;
      case "not_modified":
        this.succeed(state, at);
        this.options.logger.debug({ cloud: state.cloud, feed: state.kind }, `zscaler feed ${state.cloud} ${state.kind}: not modified`);
        break;
      case "fresh":
        this.accept(state, result.text, result.validators, at);
        break;
    }
    if (this.expireHeld(state, at)) {
      this.publish(state);
      this.persist(state);
    }
  }

  private accept(state: FeedState, text: string, validators: Validators, at: number): void {
    const parsed = parseFeed(state.kind, state.cloud, text);
    if (!parsed.ok) {
      this.fail(state, parsed.reason.code, parsed.reason.message, at);
      return;
    }
    const previous = state.upstream;
    if (previous) {
      const shrink = checkShrink(previous.data, parsed.value, this.options.maxShrinkFraction);
      if (!shrink.ok) {
        this.fail(state, shrink.reason.code, shrink.reason.message, at);
        return;
      }
    }
    const served = new Set(parsed.value.cidrs);
    for (const cidr of [...state.held.keys()]) if (served.has(cidr)) state.held.delete(cidr);
    for (const cidr of previous?.data.cidrs ?? []) if (!served.has(cidr) && !state.held.has(cidr)) state.held.set(cidr, at);
    this.expireHeld(state, at);
    state.upstream = { data: parsed.value, text, validators, fetchedAt: at };
    this.succeed(state, at);
    this.publish(state);
    this.persist(state);
  }

  private succeed(state: FeedState, at: number): void {
    state.source = "network";
    state.checkedAt = at;
    state.failures = 0;
    state.lastError = undefined;
    this.options.metrics?.setLastSuccess(state.cloud, state.kind, at / 1000);
  }

  private fail(state: FeedState, reason: FetchFailureReason, message: string, at: number, status?: number): void {
    state.lastError = { reason, message, at, ...(status !== undefined ? { status } : {}) };
    state.failures++;
    this.options.metrics?.failure(state.cloud, state.kind, reason);
    const refused = reason !== "timeout" && reason !== "connection" && reason !== "http_status" && reason !== "too_large";
    const keeping = state.upstream
      ? `keeping the ${state.source === "cache" ? "cached" : "last good"} data fetched at ${new Date(state.upstream.fetchedAt).toISOString()}`
      : "no data for this feed yet";
    this.options.logger.warn(
      { cloud: state.cloud, feed: state.kind, reason, ...(status !== undefined ? { status } : {}) },
      `zscaler feed ${state.cloud} ${state.kind} ${refused ? "refused" : "fetch failed"} (${reason}): ${message}; ${keeping}`,
    );
  }

  /** Drops held ranges whose grace has ended; true when any left. */
  private expireHeld(state: FeedState, at: number): boolean {
    let changed = false;
    for (const [cidr, since] of state.held) {
      if (at - since >= this.options.removalGraceMs) {
        state.held.delete(cidr);
        changed = true;
      }
    }
    return changed;
  }

  /** Recomputes the effective data; on a change sets metrics and notifies listeners. */
  private publish(state: FeedState): void {
    const upstream = state.upstream;
    if (!upstream) return;
    const effective = withHeld(upstream.data, state.held);
    const hash = hashFeed(effective);
    const previous = state.effective;
    this.scheduleExpiry(state);
    // Unchanged (a reordered payload, a 304): keep serving the same object.
    if (previous && hash === state.hash) return;
    state.effective = effective;
    state.hash = hash;
    const metrics = this.options.metrics;
    metrics?.setRanges(state.cloud, state.kind, effective.cidrs.length);
    metrics?.setInfo(state.cloud, state.kind, hash);
    const fields = { cloud: state.cloud, feed: state.kind, ranges: effective.cidrs.length, held: state.held.size, hash };
    if (previous) {
      const diff = diffFeeds(previous, effective);
      if (diff.added.length > 0 || diff.removed.length > 0) metrics?.changes(state.cloud, state.kind, diff.added.length, diff.removed.length);
      this.options.logger.info(
        { ...fields, added: diff.added.length, removed: diff.removed.length },
        `zscaler feed ${state.cloud} ${state.kind} changed: +${diff.added.length} -${diff.removed.length} ranges (${state.held.size} removals in grace)`,
      );
    } else {
      this.options.logger.info(fields, `zscaler feed ${state.cloud} ${state.kind}: ${effective.cidrs.length} ranges from the ${state.source}`);
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(state.cloud, state.kind);
      } catch (error: unknown) {
        this.options.logger.error({ cloud: state.cloud, feed: state.kind, err: error }, "zscaler feed change listener threw");
      }
    }
  }

  /** While started, a timer ends the earliest grace period even without a refresh. */
  private scheduleExpiry(state: FeedState): void {
    state.expiry?.cancel();
    state.expiry = undefined;
    if (!this.started || this.stopped || state.held.size === 0) return;
    // A loop, not Math.min(...values): a large feed may hold more ranges than a call takes arguments.
    let first = Number.POSITIVE_INFINITY;
    for (const since of state.held.values()) first = Math.min(first, since);
    const delay = first + this.options.removalGraceMs - this.now();
    // Checked again when it fires: the clock (options.now) decides, not the timer.
    state.expiry = startTimer(() => {
      state.expiry = undefined;
      if (this.stopped) return;
      if (this.expireHeld(state, this.now())) {
        this.publish(state);
        this.persist(state);
      } else {
        this.scheduleExpiry(state);
      }
    }, delay);
  }

  private persist(state: FeedState): void {
    const dir = this.options.cacheDir;
    const upstream = state.upstream;
    if (dir === undefined || !upstream) return;
    const entry = {
      cloud: state.cloud,
      kind: state.kind,
      text: upstream.text,
      validators: upstream.validators,
      fetchedAt: upstream.fetchedAt,
      held: Object.fromEntries(state.held),
    };
    state.writing = state.writing.then(async () => {
      const written = await writeCached(dir, entry);
      if (!written.ok) {
        this.options.logger.warn({ cloud: state.cloud, feed: state.kind }, `zscaler feed ${state.cloud} ${state.kind}: ${written.reason}; serving from memory only`);
      }
    });
  }
}

function stateKey(cloud: string, kind: FeedKind): string {
  return `${cloud}\u0000${kind}`;
}

/** `data` with the held ranges added back into cidrs (canonical order); other fields unchanged. */
export function withHeld(data: FeedData, held: ReadonlyMap<string, number>): FeedData {
  if (held.size === 0) return data;
  const all = new Map<string, Cidr>();
  for (const text of [...data.cidrs, ...held.keys()]) {
    const parsed = parseCidr(text);
    if (parsed.ok) all.set(parsed.value.text, parsed.value);
  }
  const cidrs = [...all.values()].sort(compareCidrs).map((cidr) => cidr.text);
  return { ...data, cidrs };
}

/** At most `limit` tasks at a time, in arrival order. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot straight to the next waiter, so `active` never overshoots.
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
