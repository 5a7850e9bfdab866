// Keeps one API resource's objects in memory, slim: list (paginated), then watch from the
// list's resourceVersion with bookmarks; 410 Gone relists; other failures back off with
// jitter and retry; 403 and a missing API are reported, the rest of the agent keeps going.
// Only the slim form of each object is kept, never the API object. How the list and the
// watch reach the API (path, selectors, representation) is the source's business.

import { jsonOf } from "../addresses/ip.js";
import { BodyTooLargeError } from "./api.js";
import { startTimer } from "../schedule/timers.js";
import { describeError } from "../text/errors.js";

export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  readonly continueToken?: string;
}

export interface ResourceSource {
  /** Plural resource name for logs and metrics: "pods", "networkpolicies", ... */
  readonly resource: string;
  list(limit: number, continueToken: string | undefined, signal: AbortSignal): Promise<ListPage>;
  /**
   * One watch from resourceVersion, ended by the server after about timeoutSeconds: each event
   * to onEvent (which throws to end the watch with an error). Resolves when the stream ends or
   * the signal aborts it.
   */
  watch(resourceVersion: string, timeoutSeconds: number, signal: AbortSignal, onEvent: (type: string, object: unknown) => void): Promise<void>;
  /** Served only on some clusters (a CRD): a 404 means absent, not broken. */
  readonly optional?: boolean;
  /** What is watched, for logs and readiness ("pods on node node-a"); default: the resource. */
  readonly description?: string;
}

/** item: keep it; absent: an object the engine does not use (a finished pod); malformed: skip and count. */
export type Slimmed<T> =
  | { readonly kind: "item"; readonly key: string; readonly value: T }
  | { readonly kind: "absent"; readonly key: string }
  | { readonly kind: "malformed"; readonly key?: string; readonly reason: string };

export type ReflectorState = "starting" | "synced" | "forbidden" | "absent" | "failing";

export type FailureKind = "forbidden" | "absent" | "gone" | "timeout" | "connection" | "server_error" | "client_error";

export interface ReflectorHooks {
  /** The object set changed (after the initial list, and on every watch event that changed it). */
  onChange(source: ResourceSource): void;
  onFailure(source: ResourceSource, kind: FailureKind, message: string): void;
  onSkipped(source: ResourceSource, key: string | undefined, reason: string): void;
}

export interface ReflectorOptions {
  readonly pageSize?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** How long to wait before asking again for a resource that is forbidden or absent. */
  readonly recheckMs?: number;
  readonly random?: () => number;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const record = error as { code?: unknown; statusCode?: unknown };
  if (typeof record.code === "number") return record.code;
  if (typeof record.statusCode === "number") return record.statusCode;
  return undefined;
}

export function classifyFailure(error: unknown): FailureKind {
  const status = statusOf(error);
  if (status === 403 || status === 401) return "forbidden";
  if (status === 404) return "absent";
  if (status === 410) return "gone";
  if (status !== undefined && status >= 500) return "server_error";
  if (status !== undefined && status >= 400) return "client_error";
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return "timeout";
  return "connection";
}

export class Reflector<T> {
  readonly items = new Map<string, T>();
  private resourceVersion = "";
  private stopped = true;
  private abort: AbortController | undefined;
  /** Cancels a list in progress when the reflector stops. */
  private readonly stopping = new AbortController();
  /** The current watch has delivered something (an event or a bookmark). */
  private watchDelivered = false;
  private wake: (() => void) | undefined;
  private failures = 0;
  private loop: Promise<void> | undefined;
  state: ReflectorState = "starting";
  /** When the data was last known current (a list, an event or a bookmark), epoch ms. */
  lastSyncAt: number | undefined;
  everSynced = false;

  constructor(
    readonly source: ResourceSource,
    private readonly slim: (object: unknown) => Slimmed<T>,
    private readonly hooks: ReflectorHooks,
    private readonly options: ReflectorOptions = {},
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.resourceVersion === "") await this.relist();
        if (this.stopped) break;
        await this.watchOnce();
      } catch (error) {
        await this.failed(error);
      }
    }
  }

  private async relist(): Promise<void> {
    let pageSize = this.options.pageSize ?? 500;
    const next = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = "";
    // Bounded: a list that keeps handing out continue tokens is cut off after this many pages.
    for (let page = 0; page < 10_000; page++) {
      if (this.stopped) return;
      let result: ListPage;
      try {
        result = await this.source.list(pageSize, continueToken, this.stopping.signal);
      } catch (error) {
        // A page over the response bound (objects with large annotations): the same page again,
        // a quarter the size, down to one object (which the API server keeps under 1.5 MiB).
        if (!(error instanceof BodyTooLargeError) || pageSize === 1) throw error;
        pageSize = Math.max(1, Math.floor(pageSize / 4));
        continue;
      }
      for (const item of result.items) {
        const slimmed = this.slim(item);
        if (slimmed.kind === "item") next.set(slimmed.key, slimmed.value);
        else if (slimmed.kind === "malformed") this.hooks.onSkipped(this.source, slimmed.key, slimmed.reason);
      }
      resourceVersion = result.resourceVersion;
      continueToken = result.continueToken;
      if (!continueToken) break;
    }
    if (this.stopped) return;
    this.items.clear();
    for (const [key, value] of next) this.items.set(key, value);
    this.resourceVersion = resourceVersion;
    this.markSynced();
    this.hooks.onChange(this.source);
  }

  private markSynced(): void {
    this.state = "synced";
    this.everSynced = true;
    this.lastSyncAt = Date.now();
    this.failures = 0;
  }

  private async watchOnce(): Promise<void> {
    this.watchDelivered = false;
    const controller = new AbortController();
    this.abort = controller;
    if (this.stopped) return;
    // The server ends a watch after timeoutSeconds; a spread avoids every agent reconnecting at once.
    const timeoutSeconds = 240 + Math.floor((this.options.random ?? Math.random)() * 120);
    await this.source.watch(this.resourceVersion, timeoutSeconds, controller.signal, (phase, object) => this.onEvent(phase, object));
  }

  private onEvent(phase: string, object: unknown): void {
    if (this.stopped) return;
    this.watchDelivered = true;
    const metadata = (object as { metadata?: { resourceVersion?: string } } | null)?.metadata;
    if (phase === "ERROR") {
      // The watch ends after an ERROR event; 410 means our resourceVersion is too old: relist.
      const code = (object as { code?: number } | null)?.code;
      if (code === 410) this.resourceVersion = "";
      throw Object.assign(new Error(`watch error event: ${(object as { message?: string } | null)?.message ?? "unknown"}`), { code });
    }
    if (metadata?.resourceVersion) this.resourceVersion = metadata.resourceVersion;
    this.markSynced();
    if (phase === "BOOKMARK") return;
    const slimmed = this.slim(object);
    if (phase === "DELETED" || slimmed.kind !== "item") {
      if (phase !== "DELETED" && slimmed.kind === "malformed") this.hooks.onSkipped(this.source, slimmed.key, slimmed.reason);
      // Deleted, finished, or now malformed: a stale copy would mislead more than a gap.
      if (slimmed.key !== undefined && this.items.delete(slimmed.key)) this.hooks.onChange(this.source);
      return;
    }
    // Most updates (a pod's status churning) leave the slim copy as it was: keep the old
    // object (unchanged means the same object downstream) and redo nothing.
    const before = this.items.get(slimmed.key);
    if (before !== undefined && jsonOf(before) === jsonOf(slimmed.value)) return;
    this.items.set(slimmed.key, slimmed.value);
    this.hooks.onChange(this.source);
  }

  private async failed(error: unknown): Promise<void> {
    if (this.stopped) return;
    const kind = classifyFailure(error);
    if (kind === "gone") {
      this.resourceVersion = "";
      this.hooks.onFailure(this.source, kind, "resourceVersion too old (410 Gone): relisting");
      return;
    }
    // The client's inactivity timeout on a watch that was working and went quiet: reconnect
    // at once from where we were. A list or a watch that never answered is a failure.
    if (kind === "timeout" && this.watchDelivered) return;
    this.hooks.onFailure(this.source, kind, describeError(error));
    // Resuming a watch from an old position is only worth trying a few times; after that,
    // or after losing access for a while, start again from a fresh list.
    if (kind === "forbidden" || kind === "absent" || this.failures >= 2) this.resourceVersion = "";
    let delay: number;
    if (kind === "forbidden" || (kind === "absent" && this.source.optional)) {
      this.state = kind === "forbidden" ? "forbidden" : "absent";
      delay = this.options.recheckMs ?? 60_000;
    } else {
      if (this.state === "synced") this.state = "failing";
      this.failures++;
      const base = this.options.backoffBaseMs ?? 500;
      const ceiling = Math.min(this.options.backoffMaxMs ?? 30_000, base * 2 ** Math.min(this.failures - 1, 16));
      // Full jitter: agents on every node do not retry in step after an API server restart.
      delay = ceiling / 2 + (this.options.random ?? Math.random)() * (ceiling / 2);
    }
    await new Promise<void>((resolve) => {
      const timer = startTimer(resolve, delay, { unref: true });
      this.wake = () => {
        timer.cancel();
        resolve();
      };
    });
    this.wake = undefined;
  }
}
