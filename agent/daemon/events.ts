// Kubernetes Events for edge status changes, posted on the source pod. Like the
// kubelet's event recorder (client-go's correlator and spam filter): an occurrence of
// the same (pod, edge, reason) within the dedupe window PATCHes the existing Event's
// count and lastTimestamp instead of creating a new object; a token bucket bounds the
// recorder's write rate, and each edge is written at most once per interval, the
// occurrences in between riding on the next write's count. Fire-and-forget: the caller
// is never blocked and never sees an error; failures are counted and logged, rate-limited.
//
// API: core v1 Events (group "", resource "events", verbs create and patch). Their
// count/firstTimestamp/lastTimestamp are what `kubectl describe` and `kubectl get events`
// show on every cluster version, and what client-go's correlator patches.

import { createHash } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { ApiError, requestJson } from "../cluster/api.js";
import type { Logger } from "../log/log.js";
import { sleepFor, startTimer, type Timer } from "../schedule/timers.js";
import { describeError } from "../text/errors.js";
import { redactUrlsIn } from "../text/url-credentials.js";
import { type EdgeStatus, isSignal, type SignalKind } from "../verdicts/judge.js";
import type { StatusChange } from "../verdicts/edge-state.js";
import { describePath } from "../zscaler/path.js";

// ---------------------------------------------------------------------------------
// What an Event says (pure)

export type EventReason = "UnexpectedBlock" | "UnexpectedAllow" | "IntentViolation" | "UnexpectedPath" | "EdgeRecovered" | "EdgeUnknown";
export type EventType = "Normal" | "Warning";

export interface EventContent {
  readonly reason: EventReason;
  readonly type: EventType;
  readonly message: string;
}

/** events.k8s.io/v1 `note` (and core v1 `message` when eventTime is set) is limited to 1024 bytes. */
export const MAX_MESSAGE_BYTES = 1024;

const SIGNAL_REASONS: Readonly<Record<SignalKind, EventReason>> = {
  unexpected_block: "UnexpectedBlock",
  unexpected_allow: "UnexpectedAllow",
  intent_violation: "IntentViolation",
  unexpected_path: "UnexpectedPath",
};

/**
 * The reason and type for a status change, or undefined when it is not worth an Event:
 * a signal raised (or replaced by another) is a Warning; a signal cleared is Normal,
 * EdgeRecovered when the edge is proven ok again, EdgeUnknown when it is only no longer
 * judged (pending after a new expectation, or nothing to judge against). Changes between
 * ok, pending and unknown (every edge's start-up) post nothing.
 */
export function reasonForChange(from: EdgeStatus, to: EdgeStatus): { readonly reason: EventReason; readonly type: EventType } | undefined {
  if (isSignal(to)) return { reason: SIGNAL_REASONS[to], type: "Warning" };
  if (!isSignal(from)) return undefined;
  return to === "ok" ? { reason: "EdgeRecovered", type: "Normal" } : { reason: "EdgeUnknown", type: "Normal" };
}

/** One line: control characters and runs of white space become one space. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\s]+/g, " ").trim();
}

/** Cuts text to at most maxBytes of UTF-8 (on a character boundary), ending in "…" when cut. */
export function truncateUtf8(text: string, maxBytes: number = MAX_MESSAGE_BYTES): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  const ellipsis = "…";
  const budget = maxBytes - Buffer.byteLength(ellipsis, "utf8");
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, "utf8");
    if (bytes + size > budget) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end) + ellipsis;
}

/**
 * The message: status, probe, source, target:port/protocol (and the address probed),
 * the observed reason and detail, the expectation, the intent, and the policy verdict
 * with its explanation summary. One line, at most MAX_MESSAGE_BYTES.
 */
export function messageForChange(change: StatusChange): string {
  const { record } = change;
  const labels = record.edge.labels;
  const address = record.observed?.address ?? record.address?.text;
  const target = `${labels.target_kind === "dns" ? "DNS " : ""}${labels.target}:${labels.port}/${labels.protocol}`;
  const parts: string[] = [];
  parts.push(`${change.to} (was ${change.from}): probe ${labels.probe} from ${labels.source} to ${target}${address !== undefined && address !== labels.target ? ` at ${address}` : ""}`);
  const observed = record.observed;
  if (observed) {
    parts.push(`observed ${observed.reason}${observed.detail ? ` (${observed.detail})` : ""}`);
  } else {
    parts.push("not probed yet");
  }
  const path = record.path;
  if (path?.observed) parts.push(`${describePath(path.expect, path.observed)}${path.observed.detail ? ` (${path.observed.detail})` : ""}`);
  const expected = record.hysteresis.expected;
  parts.push(expected === null ? "nothing to judge against" : `expected ${expected} (from ${record.expectedFrom ?? "policy"})`);
  if (record.edge.probe.expect !== null) parts.push(`intent ${record.edge.probe.expect}`);
  const { stance, summary } = record.policy;
  parts.push(summary.startsWith(stance) ? `policy ${summary}` : `policy ${stance}: ${summary}`);
  return truncateUtf8(oneLine(parts.join("; ")));
}

export function eventForChange(change: StatusChange): EventContent | undefined {
  const kind = reasonForChange(change.from, change.to);
  return kind === undefined ? undefined : { ...kind, message: messageForChange(change) };
}

// ---------------------------------------------------------------------------------
// The recorder

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export interface RateLimit {
  /** Writes allowed at once. */
  readonly burst: number;
  /** Tokens added per second after that. */
  readonly perSecond: number;
}

export interface RetryPolicy {
  /** Attempts in all (1 = no retry). Only 5xx, 429, timeouts and connection errors are retried. */
  readonly attempts: number;
  /** Backoff before the second attempt; doubled for each further one (with jitter). */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export type EventResult = "posted" | "patched" | "dropped" | "failed" | "coalesced";

export interface EventRecorderStats {
  /** Events created (POST). */
  readonly posted: number;
  /** Events updated with a new count (PATCH). */
  readonly patched: number;
  /** Occurrences discarded without a write: queue full, recorder closed, shutdown deadline. */
  readonly dropped: number;
  /** Writes that failed (after retries, when retryable). */
  readonly failed: number;
  /** Occurrences folded into a write already queued for the same (pod, edge, reason). */
  readonly coalesced: number;
  /** Occurrences waiting in the queue now. */
  readonly queued: number;
}

export interface EventRecorderOptions {
  readonly kubeConfig: KubeConfig;
  /** source.component of core v1 Events. */
  readonly component: string;
  /** The node name: source.host and reportingInstance. */
  readonly host: string;
  readonly logger: Logger;
  /** reportingComponent (events.k8s.io reportingController). Default "netcanary.io/agent". */
  readonly reportingController?: string;
  /** Default burst 25, then one write per 5 s. */
  readonly rateLimit?: RateLimit;
  /** At most one write per edge per this interval; occurrences in between are aggregated. Default 30 s. */
  readonly perEdgeIntervalMs?: number;
  /** An occurrence within this time of the last one of its (pod, edge, reason) patches its Event. Default 10 min. */
  readonly dedupeWindowMs?: number;
  /** Distinct (pod, edge, reason) writes waiting; beyond, new ones are dropped. Default 100. */
  readonly maxQueue?: number;
  /** Per HTTP request. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Default 3 attempts, 500 ms doubling to at most 4 s. */
  readonly retry?: RetryPolicy;
  /** close() waits at most this long for queued writes. Default 5 s. */
  readonly closeTimeoutMs?: number;
  /** A failure of the same kind is logged at most once per this interval. Default 5 min. */
  readonly logIntervalMs?: number;
  readonly now?: () => number;
  /** Called on every count (for a netcanary_events_total{result} counter). */
  readonly onResult?: (result: EventResult, count: number) => void;
}

/** What happened to one status change at once (writes happen later). */
export type RecordOutcome = "queued" | "coalesced" | "dropped" | "ignored";

export type FailureKind =
  | "forbidden"
  | "unauthorized"
  | "not_found"
  | "conflict"
  | "invalid"
  | "rejected"
  | "throttled"
  | "server_error"
  | "timeout"
  | "network"
  | "aborted";

interface Failure {
  readonly kind: FailureKind;
  readonly retryable: boolean;
  readonly code?: number;
  readonly message: string;
}

/** One (pod, edge, reason) series: one Event object, patched while occurrences keep coming. */
interface Series {
  readonly key: string;
  readonly edgeKey: string;
  readonly name: string;
  readonly pod: PodRef;
  readonly edgeId: string;
  readonly reason: EventReason;
  readonly type: EventType;
  readonly firstSeen: number;
  lastSeen: number;
  message: string;
  /** Occurrences the stored Event counts. */
  count: number;
  /** Occurrences waiting in the queue. */
  pending: number;
  /** Occurrences of failed writes: counted by the next write of this series, never retried alone. */
  carried: number;
  created: boolean;
  inFlight: boolean;
}

const DEFAULT_RATE: RateLimit = { burst: 25, perSecond: 0.2 };
const DEFAULT_RETRY: RetryPolicy = { attempts: 3, initialDelayMs: 500, maxDelayMs: 4000 };
const MAX_SERIES = 4096;
const MAX_NAME = 253;
const MAX_INSTANCE = 128;

class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: RateLimit,
    now: number,
  ) {
    this.tokens = rate.burst;
    this.last = now;
  }

  /** Takes a token and returns 0, or returns how long until one is available. */
  take(now: number): number {
    if (now > this.last) {
      this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.last) / 1000) * this.rate.perSecond);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return this.rate.perSecond > 0 ? ((1 - this.tokens) / this.rate.perSecond) * 1000 : Number.POSITIVE_INFINITY;
  }
}

function classify(err: unknown, closing: AbortSignal): Failure {
  if (err instanceof ApiError) {
    const code = err.code;
    const message = redactUrlsIn(err.message);
    if (code === 401) return { kind: "unauthorized", retryable: false, code, message };
    if (code === 403) return { kind: "forbidden", retryable: false, code, message };
    if (code === 404) return { kind: "not_found", retryable: false, code, message };
    if (code === 409) return { kind: "conflict", retryable: false, code, message };
    if (code === 422) return { kind: "invalid", retryable: false, code, message };
    // The server asks to come back later: API Priority and Fairness.
    if (code === 429) return { kind: "throttled", retryable: true, code, message };
    if (code >= 500) return { kind: "server_error", retryable: true, code, message };
    return { kind: "rejected", retryable: false, code, message };
  }
  const message = describeError(err);
  if (closing.aborted) return { kind: "aborted", retryable: false, message };
  const name = err instanceof Error ? err.name : "";
  if (name === "TimeoutError" || name === "AbortError") return { kind: "timeout", retryable: true, message };
  return { kind: "network", retryable: true, message };
}

/** `<pod>.<16 hex>`: a DNS subdomain of at most 253 characters. */
function eventName(pod: string, seed: string): string {
  const hash = createHash("sha256").update(seed).digest("hex").slice(0, 16);
  const room = MAX_NAME - hash.length - 1;
  const prefix = pod.length <= room ? pod : pod.slice(0, room).replace(/[^a-z0-9]+$/, "");
  return `${prefix}.${hash}`;
}

export class EventRecorder {
  private readonly kubeConfig: KubeConfig;
  private readonly logger: Logger;
  private readonly component: string;
  private readonly host: string;
  private readonly reportingController: string;
  private readonly perEdgeIntervalMs: number;
  private readonly dedupeWindowMs: number;
  private readonly maxQueue: number;
  private readonly requestTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly closeTimeoutMs: number;
  private readonly logIntervalMs: number;
  private readonly now: () => number;
  private readonly onResult: ((result: EventResult, count: number) => void) | undefined;
  private readonly bucket: TokenBucket;

  private readonly series = new Map<string, Series>();
  /** Waiting writes in order of their latest occurrence (Map order: re-inserted on each). */
  private readonly queue = new Map<string, Series>();
  private readonly lastEdgeWrite = new Map<string, number>();
  private readonly logged = new Map<string, { at: number; suppressed: number }>();
  private readonly closing = new AbortController();
  private readonly counts = { posted: 0, patched: 0, dropped: 0, failed: 0, coalesced: 0 };

  private lastPrune: number;
  private kicked = false;
  /** The writer is running (set and cleared inside drain(), which may finish synchronously). */
  private running = false;
  private drained: Promise<void> = Promise.resolve();
  private timer: Timer | undefined;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(options: EventRecorderOptions) {
    this.kubeConfig = options.kubeConfig;
    this.logger = options.logger.child({ component: "events" });
    this.component = options.component;
    this.host = options.host;
    this.reportingController = options.reportingController ?? "netcanary.io/agent";
    this.perEdgeIntervalMs = options.perEdgeIntervalMs ?? 30_000;
    this.dedupeWindowMs = options.dedupeWindowMs ?? 10 * 60_000;
    this.maxQueue = Math.max(1, options.maxQueue ?? 100);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.logIntervalMs = options.logIntervalMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
    this.onResult = options.onResult;
    this.bucket = new TokenBucket(options.rateLimit ?? DEFAULT_RATE, this.now());
    this.lastPrune = this.now();
  }

  stats(): EventRecorderStats {
    let queued = 0;
    for (const s of this.queue.values()) queued += s.pending;
    return { ...this.counts, queued };
  }

  /**
   * Records an edge's status change as an Event on the source pod. Returns at once and
   * never throws; the write happens in the background, deduplicated and rate-limited.
   */
  recordStatusChange(change: StatusChange, pod: PodRef): RecordOutcome {
    try {
      return this.record(change, pod);
    } catch (err) {
      // A bug here must not reach the prober.
      this.count("dropped", 1);
      this.logLimited("internal", { err: describeError(err) }, "could not record a Kubernetes Event");
      return "dropped";
    }
  }

  /**
   * Stops accepting changes, sends what is queued (still rate-limited) for at most
   * closeTimeoutMs, then aborts what is in flight and drops the rest. Never rejects.
   */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  // --- recording ------------------------------------------------------------------

  private record(change: StatusChange, pod: PodRef): RecordOutcome {
    const content = eventForChange(change);
    if (content === undefined) return "ignored";
    if (this.closed) {
      this.count("dropped", 1);
      return "dropped";
    }
    if (pod.namespace === "" || pod.name === "") {
      this.count("dropped", 1);
      this.logLimited("no_pod", { edge: change.record.edge.id }, "status change without a source pod: no Event");
      return "dropped";
    }
    const at = this.now();
    this.prune(at);
    const edgeId = change.record.edge.id;
    const podKey = `${pod.namespace}/${pod.name}/${pod.uid ?? ""}`;
    const edgeKey = `${podKey}|${edgeId}`;
    const key = `${edgeKey}|${content.reason}`;

    let series = this.series.get(key);
    if (series && !series.inFlight && !this.queue.has(key) && at - series.lastSeen > this.dedupeWindowMs) {
      this.series.delete(key);
      series = undefined;
    }
    if (!series) {
      if (this.queue.size >= this.maxQueue) return this.dropFull(key);
      series = {
        key,
        edgeKey,
        name: eventName(pod.name, `${this.host}|${key}|${at}`),
        pod: { namespace: pod.namespace, name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}) },
        edgeId,
        reason: content.reason,
        type: content.type,
        firstSeen: at,
        lastSeen: at,
        message: content.message,
        count: 0,
        pending: 0,
        carried: 0,
        created: false,
        inFlight: false,
      };
      this.series.set(key, series);
    }

    let outcome: RecordOutcome;
    if (this.queue.has(key)) {
      // Already waiting: this occurrence rides on that write. Moved to the back so that
      // an edge's writes go out in the order of their latest occurrence.
      this.queue.delete(key);
      outcome = "coalesced";
      this.count("coalesced", 1);
    } else {
      if (this.queue.size >= this.maxQueue) return this.dropFull(key);
      outcome = "queued";
    }
    series.pending += 1;
    series.lastSeen = at;
    series.message = content.message;
    this.queue.set(key, series);
    this.kick();
    return outcome;
  }

  private dropFull(key: string): RecordOutcome {
    const series = this.series.get(key);
    if (series && series.count === 0 && series.pending === 0 && series.carried === 0 && !series.inFlight) this.series.delete(key);
    this.count("dropped", 1);
    this.logLimited("queue_full", { maxQueue: this.maxQueue }, "Event queue full: status change dropped");
    return "dropped";
  }

  /** Forgets series past the dedupe window and edge write times past their interval. */
  private prune(at: number): void {
    if (this.series.size < MAX_SERIES && at - this.lastPrune < Math.min(this.dedupeWindowMs, 60_000)) return;
    this.lastPrune = at;
    for (const [key, s] of this.series) {
      if (!s.inFlight && !this.queue.has(key) && at - s.lastSeen > this.dedupeWindowMs) this.series.delete(key);
    }
    // Still too many (more than MAX_SERIES distinct keys within the window): forget the
    // oldest idle ones; their next occurrence starts a new Event.
    if (this.series.size >= MAX_SERIES) {
      const idle = [...this.series.values()].filter((s) => !s.inFlight && !this.queue.has(s.key)).sort((a, b) => a.lastSeen - b.lastSeen);
      for (const s of idle.slice(0, this.series.size - MAX_SERIES + 1)) this.series.delete(s.key);
    }
    for (const [key, last] of this.lastEdgeWrite) if (at - last >= this.perEdgeIntervalMs) this.lastEdgeWrite.delete(key);
  }

  // --- the writer -----------------------------------------------------------------

  /** Runs the writer soon, off the caller's stack. */
  private kick(): void {
    if (this.kicked || this.running || this.closing.signal.aborted) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      if (!this.running && !this.closing.signal.aborted) this.drained = this.drain();
    });
  }

  private arm(ms: number): void {
    if (!Number.isFinite(ms) || this.closing.signal.aborted) return;
    this.timer?.cancel();
    this.timer = startTimer(
      () => {
        this.timer = undefined;
        this.kick();
      },
      Math.max(5, Math.ceil(ms)),
      { unref: true },
    );
  }

  /** One write at a time, in queue order, as the per-edge interval and the token bucket allow. */
  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (!this.closing.signal.aborted) {
        const next = this.next();
        if (next === undefined) break;
        if (typeof next === "number") {
          this.arm(next);
          break;
        }
        await this.write(next);
      }
    } catch (err) {
      this.logLimited("internal", { err: describeError(err) }, "Event writer failed");
    } finally {
      this.running = false;
      if (this.queue.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** The first queued write whose edge may be written now, or how long to wait for one. */
  private next(): Series | number | undefined {
    if (this.queue.size === 0) return undefined;
    const at = this.now();
    let openAt = Number.POSITIVE_INFINITY;
    for (const s of this.queue.values()) {
      const last = this.lastEdgeWrite.get(s.edgeKey);
      const open = last === undefined ? at : last + this.perEdgeIntervalMs;
      if (open <= at) {
        const wait = this.bucket.take(at);
        return wait === 0 ? s : wait;
      }
      openAt = Math.min(openAt, open);
    }
    return openAt - at;
  }

  private async write(s: Series): Promise<void> {
    this.queue.delete(s.key);
    const occurrences = s.pending + s.carried;
    s.pending = 0;
    s.carried = 0;
    s.inFlight = true;
    this.lastEdgeWrite.set(s.edgeKey, this.now());
    const count = s.count + occurrences;
    try {
      if (s.created) {
        try {
          await this.attempt(() =>
            requestJson(this.kubeConfig, "PATCH", `/api/v1/namespaces/${s.pod.namespace}/events/${s.name}`, {
              body: { count, lastTimestamp: new Date(s.lastSeen).toISOString(), message: s.message },
              contentType: "application/merge-patch+json",
              signal: this.requestSignal(),
            }),
          );
          s.count = count;
          this.count("patched", 1);
          return;
        } catch (err) {
          // The Event is gone (expired by the API server's event TTL, or deleted): create it again.
          if (!(isFailure(err) && err.kind === "not_found")) throw err;
          s.created = false;
        }
      }
      await this.attempt(() =>
        requestJson(this.kubeConfig, "POST", `/api/v1/namespaces/${s.pod.namespace}/events`, { body: this.eventBody(s, count), signal: this.requestSignal() }),
      );
      s.created = true;
      s.count = count;
      this.count("posted", 1);
    } catch (err) {
      s.carried += occurrences;
      this.count("failed", 1);
      const failure = isFailure(err) ? err : classify(err, this.closing.signal);
      if (failure.kind !== "aborted") {
        this.logLimited(
          failure.kind,
          { code: failure.code, namespace: s.pod.namespace, event: s.name, reason: s.reason, error: failure.message },
          failureMessage(failure),
        );
      }
    } finally {
      s.inFlight = false;
    }
  }

  /** Runs one request with bounded retries (5xx, 429, timeouts, connection errors); throws a Failure. */
  private async attempt(request: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await request();
        return;
      } catch (err) {
        const failure = classify(err, this.closing.signal);
        if (!failure.retryable || attempt >= this.retry.attempts || this.closing.signal.aborted) throw new FailureError(failure);
        const backoff = Math.min(this.retry.maxDelayMs, this.retry.initialDelayMs * 2 ** (attempt - 1));
        await sleepFor(backoff * (0.5 + Math.random() / 2), { signal: this.closing.signal, unref: true });
        if (this.closing.signal.aborted) throw new FailureError({ kind: "aborted", retryable: false, message: "recorder closed" });
      }
    }
  }

  /** A per-request deadline, cut short by close(). */
  private requestSignal(): AbortSignal {
    return AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.requestTimeoutMs)]);
  }

  /** A core v1 Event, as the API takes it. */
  private eventBody(s: Series, count: number): Record<string, unknown> {
    return {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: s.name, namespace: s.pod.namespace, annotations: { "netcanary.io/edge": s.edgeId } },
      involvedObject: { apiVersion: "v1", kind: "Pod", namespace: s.pod.namespace, name: s.pod.name, ...(s.pod.uid ? { uid: s.pod.uid } : {}) },
      reason: s.reason,
      message: s.message,
      type: s.type,
      count,
      firstTimestamp: new Date(s.firstSeen).toISOString(),
      lastTimestamp: new Date(s.lastSeen).toISOString(),
      source: { component: this.component, host: this.host },
      reportingComponent: this.reportingController,
      reportingInstance: this.host.slice(0, MAX_INSTANCE),
      action: "Probe",
    };
  }

  // --- counting, logging, shutdown ------------------------------------------------

  private count(result: EventResult, n: number): void {
    this.counts[result] += n;
    try {
      this.onResult?.(result, n);
    } catch {
      // a metrics callback must not break the recorder
    }
  }

  /** Logs a kind of problem at most once per logIntervalMs, with how many were not logged. */
  private logLimited(kind: string, fields: Record<string, unknown>, message: string): void {
    const at = this.now();
    const entry = this.logged.get(kind);
    if (entry && at - entry.at < this.logIntervalMs) {
      entry.suppressed += 1;
      return;
    }
    this.logged.set(kind, { at, suppressed: 0 });
    this.logger.warn({ kind, ...fields, ...(entry && entry.suppressed > 0 ? { suppressed: entry.suppressed } : {}) }, message);
  }

  private whenIdle(): Promise<void> {
    if (this.queue.size === 0 && !this.running && !this.kicked) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.kick();
    let deadline: Timer | undefined;
    await Promise.race([this.whenIdle(), new Promise<void>((resolve) => (deadline = startTimer(resolve, this.closeTimeoutMs)))]);
    deadline?.cancel();
    this.closing.abort();
    this.timer?.cancel();
    this.timer = undefined;
    let abandoned = 0;
    for (const s of this.queue.values()) abandoned += s.pending;
    this.queue.clear();
    if (abandoned > 0) this.count("dropped", abandoned);
    // The abort ends the request in flight and any backoff at once; bounded all the same.
    if (this.running) {
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([this.drained, new Promise<void>((resolve) => (grace = setTimeout(resolve, 1000)))]);
      clearTimeout(grace);
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    if (abandoned > 0) this.logger.warn({ dropped: abandoned }, "closed with Events still queued: dropped");
  }
}

class FailureError extends Error implements Failure {
  readonly kind: FailureKind;
  readonly retryable: boolean;
  readonly code?: number;

  constructor(failure: Failure) {
    super(failure.message);
    this.kind = failure.kind;
    this.retryable = failure.retryable;
    if (failure.code !== undefined) this.code = failure.code;
  }
}

function isFailure(err: unknown): err is FailureError {
  return err instanceof FailureError;
}

function failureMessage(failure: Failure): string {
  switch (failure.kind) {
    case "forbidden":
      return "could not write a Kubernetes Event: forbidden (the agent's ServiceAccount needs create and patch on events in the core API group)";
    case "unauthorized":
      return "could not write a Kubernetes Event: unauthorized";
    case "not_found":
      return "could not write a Kubernetes Event: not found (the pod's namespace is gone?)";
    case "invalid":
      return "could not write a Kubernetes Event: rejected as invalid";
    case "conflict":
      return "could not write a Kubernetes Event: it already exists";
    case "throttled":
    case "server_error":
    case "timeout":
    case "network":
      return "could not write a Kubernetes Event, retries exhausted: the API server is unavailable";
    default:
      return "could not write a Kubernetes Event";
  }
}
