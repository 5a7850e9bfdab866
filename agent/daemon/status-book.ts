// What the status page shows that the results do not keep: since when each edge's status
// holds and its last few observations (EdgeHistory, kept by the edge table), how the config's
// last reload went, what each Zscaler feed last did (a tee of the feeds' metrics sink), and
// the agent's own health counters; and the /api/v1/status document built from them. Every
// part is bounded: a few observations per edge, forgotten with the edge; one entry per feed.
// The document's types are the page's vocabulary too (agent/page/status.ts imports them).

import type { InputError } from "../documents/located.js";
import type { EdgeRecord } from "../verdicts/edge-state.js";
import type { EdgeStatus } from "../verdicts/judge.js";
import type { FeedKind } from "../zscaler/feeds.js";
import type { FetchFailureReason } from "../zscaler/fetch.js";
import type { ZscalerMetricsSink } from "../zscaler/updater.js";

/** Observations kept per edge, newest first. */
export const OBSERVATIONS_KEPT = 5;

export interface Observation {
  readonly reason: string;
  readonly durationSeconds: number;
  /** ISO 8601 time the probe finished. */
  readonly at: string;
  readonly detail?: string;
}

interface Tracked {
  status: EdgeStatus;
  /** Epoch ms since which the status holds. */
  since: number;
  observations: Observation[];
}

/** Each edge's status with since when it holds, and its last observations. */
export class EdgeHistory {
  private readonly edges = new Map<string, Tracked>();

  /** The record as it is now: a new status starts its clock, a new observation is kept. */
  track(record: EdgeRecord, at: number): void {
    const id = record.edge.id;
    let tracked = this.edges.get(id);
    if (!tracked) {
      tracked = { status: record.status, since: at, observations: [] };
      this.edges.set(id, tracked);
    } else if (tracked.status !== record.status) {
      tracked.status = record.status;
      tracked.since = at;
    }
    const observed = record.observed;
    if (observed && tracked.observations[0]?.at !== observed.at) {
      tracked.observations.unshift({
        reason: observed.reason,
        durationSeconds: observed.durationSeconds,
        at: observed.at,
        ...(observed.detail !== undefined ? { detail: observed.detail } : {}),
      });
      if (tracked.observations.length > OBSERVATIONS_KEPT) tracked.observations.length = OBSERVATIONS_KEPT;
    }
  }

  forget(id: string): void {
    this.edges.delete(id);
  }

  of(id: string): { readonly since: number; readonly observations: readonly Observation[] } | undefined {
    return this.edges.get(id);
  }

  get size(): number {
    return this.edges.size;
  }
}

export interface FeedState {
  readonly cloud: string;
  readonly feed: FeedKind;
  readonly ranges: number | null;
  /** Epoch seconds of the last successful fetch (fresh or not modified). */
  readonly lastSuccess: number | null;
  readonly lastRefusal: { readonly reason: FetchFailureReason; readonly at: number } | null;
}

export interface ConfigState {
  /** The config file; null for the built-in configuration. */
  readonly file: string | null;
  /** Epoch ms of the last config that applied (the first load included). */
  readonly loadedAt: number;
  /** Epoch ms of the last reload that was refused, and why (cleared by the next good one). */
  readonly refusedAt: number | null;
  readonly errors: readonly InputError[];
}

export interface ClusterResourceState {
  readonly resource: string;
  readonly synced: boolean;
  readonly objects: number | null;
  readonly ageSeconds: number | null;
}

export interface HealthState {
  /** The event loop's delay at its last tick, and the worst of the last minute (ms). */
  readonly eventLoopDelayMs: number;
  readonly eventLoopDelayWorstMs: number;
  readonly starvationThresholdMs: number;
  readonly skippedRuns: number;
  readonly invalidSamples: number;
}

/** The config's, the feeds' and the agent's own state, as the status page shows it. */
export class StatusBook {
  private config: ConfigState;
  private readonly feeds = new Map<string, { -readonly [K in keyof FeedState]: FeedState[K] }>();
  private skipped = 0;
  private invalid = 0;

  constructor(file: string | undefined, now: number = Date.now()) {
    this.config = { file: file ?? null, loadedAt: now, refusedAt: null, errors: [] };
  }

  configLoaded(now: number = Date.now()): void {
    this.config = { ...this.config, loadedAt: now, refusedAt: null, errors: [] };
  }

  configRefused(errors: readonly InputError[], now: number = Date.now()): void {
    this.config = { ...this.config, refusedAt: now, errors: errors.slice(0, 20) };
  }

  skippedRun(): void {
    this.skipped++;
  }

  invalidSample(): void {
    this.invalid++;
  }

  get counters(): { readonly skippedRuns: number; readonly invalidSamples: number } {
    return { skippedRuns: this.skipped, invalidSamples: this.invalid };
  }

  get configState(): ConfigState {
    return this.config;
  }

  feedStates(): FeedState[] {
    return [...this.feeds.values()].map((state) => ({ ...state })).sort((a, b) => (a.cloud === b.cloud ? (a.feed < b.feed ? -1 : 1) : a.cloud < b.cloud ? -1 : 1));
  }

  /** The feeds' metrics sink, passed on, with what the page shows kept on the way. */
  feedSink(inner: ZscalerMetricsSink, now: () => number = Date.now): ZscalerMetricsSink {
    const state = (cloud: string, feed: FeedKind) => {
      const key = `${cloud}|${feed}`;
      let entry = this.feeds.get(key);
      if (!entry) {
        entry = { cloud, feed, ranges: null, lastSuccess: null, lastRefusal: null };
        this.feeds.set(key, entry);
      }
      return entry;
    };
    return {
      setRanges: (cloud, feed, count) => {
        state(cloud, feed).ranges = count;
        inner.setRanges(cloud, feed, count);
      },
      setLastSuccess: (cloud, feed, epochSeconds) => {
        state(cloud, feed).lastSuccess = epochSeconds;
        inner.setLastSuccess(cloud, feed, epochSeconds);
      },
      failure: (cloud, feed, reason) => {
        state(cloud, feed).lastRefusal = { reason, at: now() / 1000 };
        inner.failure(cloud, feed, reason);
      },
      changes: (cloud, feed, added, removed) => inner.changes(cloud, feed, added, removed),
      setInfo: (cloud, feed, hash) => inner.setInfo(cloud, feed, hash),
    };
  }
}

export interface StatusEdge {
  readonly id: string;
  readonly probe: string;
  readonly source: string;
  readonly target: string;
  readonly targetKind: string;
  readonly port: number;
  readonly status: EdgeStatus;
  /** ISO 8601: since when the status holds (as this agent has seen it). */
  readonly since: string;
  /** The reason of the last observation; null before the first. */
  readonly reason: string | null;
  /** The last observations, newest first: only in a document narrowed to one probe. */
  readonly observations?: readonly Observation[];
}

/** The /api/v1/status document. */
export interface StatusDocument {
  readonly generatedAt: string;
  readonly node: string;
  readonly edges: readonly StatusEdge[];
  readonly cluster: { readonly ready: boolean; readonly reason: string | null; readonly resources: readonly ClusterResourceState[] };
  readonly config: {
    readonly file: string | null;
    readonly loadedAt: string;
    readonly refusedAt: string | null;
    readonly errors: readonly { readonly file: string; readonly line: number | null; readonly field: string | null; readonly message: string }[];
  };
  readonly feeds: readonly {
    readonly cloud: string;
    readonly feed: string;
    readonly ranges: number | null;
    readonly ageSeconds: number | null;
    readonly lastRefusal: { readonly reason: string; readonly at: string } | null;
  }[];
  readonly health: HealthState;
  /** The JSON endpoints the agent serves (added by the server): the page asks only for those. */
  readonly endpoints?: readonly string[];
}

export interface StatusInputs {
  readonly node: string;
  readonly records: readonly EdgeRecord[];
  readonly history: EdgeHistory;
  readonly book: StatusBook;
  readonly cluster: { readonly ready: boolean; readonly reason?: string; readonly resources: readonly ClusterResourceState[] };
  readonly health: Omit<HealthState, "skippedRuns" | "invalidSamples">;
  readonly now: number;
  /**
   * One probe's edges only, with their last observations (the whole document leaves those out:
   * five samples per edge, for thousands of edges, every few seconds, would be most of it).
   */
  readonly probe?: string;
}

const iso = (epochMs: number) => new Date(epochMs).toISOString();

/** The status document: pure, from what the agent holds now. */
export function statusDocument({ node, records, history, book, cluster, health, now, probe }: StatusInputs): StatusDocument {
  const config = book.configState;
  const chosen = probe === undefined ? records : records.filter((record) => record.edge.labels.probe === probe);
  return {
    generatedAt: iso(now),
    node,
    edges: chosen.map((record) => {
      const tracked = history.of(record.edge.id);
      const { labels } = record.edge;
      return {
        id: record.edge.id,
        probe: labels.probe,
        source: labels.source,
        target: labels.target,
        targetKind: labels.target_kind,
        port: record.edge.port,
        status: record.status,
        since: iso(tracked?.since ?? now),
        reason: record.observed?.reason ?? null,
        ...(probe !== undefined ? { observations: tracked?.observations ?? [] } : {}),
      };
    }),
    cluster: { ready: cluster.ready, reason: cluster.reason ?? null, resources: cluster.resources },
    config: {
      file: config.file,
      loadedAt: iso(config.loadedAt),
      refusedAt: config.refusedAt === null ? null : iso(config.refusedAt),
      errors: config.errors.map((error) => ({ file: error.file, line: error.line ?? null, field: error.field ?? null, message: error.message })),
    },
    feeds: book.feedStates().map((feed) => ({
      cloud: feed.cloud,
      feed: feed.feed,
      ranges: feed.ranges,
      ageSeconds: feed.lastSuccess === null ? null : Math.max(0, now / 1000 - feed.lastSuccess),
      lastRefusal: feed.lastRefusal === null ? null : { reason: feed.lastRefusal.reason, at: iso(feed.lastRefusal.at * 1000) },
    })),
    health: { ...health, ...book.counters },
  };
}
