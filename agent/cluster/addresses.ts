// Is this address a pod, a Service, or neither? An agent holds only its node's pods and its
// targets' (scope.ts), so an address a verdict needs that none of those explains (an ip or
// host target, a DNS server, an address a name resolved to) is looked up at the API server
// and the answer cached: bounded (least recently used go first), refreshed after a TTL (the
// old answer serves meanwhile), rate-bounded (a token bucket), one request per address at a
// time. Until an address has an answer, verdicts that need it are unknown with the reason:
// never a guess. The lookup itself (which requests) is the caller's (live.ts).

import { type IpAddress, jsonOf } from "../addresses/ip.js";
import { startTimer, type Timer } from "../schedule/timers.js";
import type { PodInfo, ServiceInfo } from "./snapshot.js";

/** pending: why the address cannot be placed (yet); final: no answer will come (the API cannot tell). */
export type AddressState = { readonly kind: "known" } | { readonly kind: "pending"; readonly reason: string; readonly final?: boolean };

export const KNOWN: AddressState = { kind: "known" };

/** What the API said about an address. */
export interface LookupAnswer {
  /** Pods whose address it is, and the pods behind each Service found. */
  readonly pods: readonly PodInfo[];
  /** Services whose cluster IP it is. */
  readonly services: readonly ServiceInfo[];
  /** The API cannot tell (found nothing, but could not have found it): the state stays pending with this reason. */
  readonly undecidable?: string;
}

export type LookupResult = "pod" | "service" | "none" | "failed";

export interface AddressBookOptions {
  readonly lookup: (ip: IpAddress, signal: AbortSignal) => Promise<LookupAnswer>;
  /** The cached answers changed (an answer arrived or changed, an address was forgotten). */
  readonly onChange: () => void;
  /** An answer is asked again after this long (with up to 10 % jitter). */
  readonly ttlMs: number;
  /** Addresses kept at most; the least recently asked about are forgotten first. */
  readonly maxEntries: number;
  /** Lookups per second in the long run, and at once after a quiet spell. */
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly onLookup?: (result: LookupResult) => void;
  readonly now?: () => number;
  readonly random?: () => number;
}

export const ADDRESS_LOOKUP_DEFAULTS = { ttlMs: 5 * 60_000, maxEntries: 8192, ratePerSecond: 5, burst: 20 } as const;

interface Entry {
  readonly ip: IpAddress;
  answer?: LookupAnswer;
  answeredAt?: number;
  /** When the answer is due for a refresh (ttl plus jitter). */
  refreshAt?: number;
  /** The last failure, while there is no answer. */
  error?: string;
  failures: number;
  retryAt?: number;
  inflight: boolean;
  queued: boolean;
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split("\n")[0] ?? text).slice(0, 300);
}

export function lookingUp(ip: IpAddress): string {
  return `looking up whether ${ip.text} is a pod or a Service`;
}

export class AddressBook {
  private readonly entries = new Map<string, Entry>();
  private readonly queue: string[] = [];
  private tokens: number;
  private refilledAt: number;
  private drainTimer: Timer | undefined;
  private sweepTimer: Timer | undefined;
  private readonly stopping = new AbortController();
  private stopped = false;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: AddressBookOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.tokens = options.burst;
    this.refilledAt = this.now();
    this.armSweep();
  }

  /** What is known of the address; an address not asked about yet is looked up. */
  state(ip: IpAddress): AddressState {
    let entry = this.entries.get(ip.text);
    if (entry) {
      // Least recently used order: the map's insertion order.
      this.entries.delete(ip.text);
      this.entries.set(ip.text, entry);
    } else {
      entry = { ip, failures: 0, inflight: false, queued: false };
      this.entries.set(ip.text, entry);
      this.evict();
      this.enqueue(entry);
    }
    if (entry.answer) return entry.answer.undecidable ? { kind: "pending", reason: entry.answer.undecidable, final: true } : KNOWN;
    if (entry.error) return { kind: "pending", reason: `could not look up whether ${ip.text} is a pod or a Service (${entry.error}); trying again` };
    return { kind: "pending", reason: lookingUp(ip) };
  }

  /** Forgets every address but these (the ones edges point at now). */
  retain(addresses: ReadonlySet<string>): void {
    let changed = false;
    for (const [text, entry] of this.entries) {
      if (addresses.has(text)) continue;
      this.entries.delete(text);
      if (entry.answer) changed = true;
    }
    if (changed) this.options.onChange();
  }

  /** The answer no longer holds (the cluster state contradicts it): ask again, pending until then. */
  invalidate(text: string): void {
    const entry = this.entries.get(text);
    if (!entry || !entry.answer) return;
    entry.answer = undefined;
    entry.answeredAt = undefined;
    entry.refreshAt = undefined;
    this.enqueue(entry);
    this.options.onChange();
  }

  /** Every answer held, by address. */
  answers(): Map<string, LookupAnswer> {
    const answers = new Map<string, LookupAnswer>();
    for (const [text, entry] of this.entries) if (entry.answer) answers.set(text, entry.answer);
    return answers;
  }

  get size(): number {
    return this.entries.size;
  }

  stop(): void {
    this.stopped = true;
    this.stopping.abort();
    this.drainTimer?.cancel();
    this.sweepTimer?.cancel();
  }

  private evict(): void {
    let changed = false;
    for (const [text, entry] of this.entries) {
      if (this.entries.size <= this.options.maxEntries) break;
      this.entries.delete(text);
      if (entry.answer) changed = true;
    }
    if (changed) this.options.onChange();
  }

  private enqueue(entry: Entry): void {
    if (this.stopped || entry.inflight || entry.queued) return;
    entry.queued = true;
    this.queue.push(entry.ip.text);
    this.drain();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.options.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.options.ratePerSecond);
    this.refilledAt = now;
  }

  private drain(): void {
    if (this.stopped) return;
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1) {
      const text = this.queue.shift() as string;
      const entry = this.entries.get(text);
      if (!entry || !entry.queued) continue;
      entry.queued = false;
      this.tokens -= 1;
      void this.run(entry);
    }
    if (this.queue.length > 0 && !this.drainTimer) {
      const waitMs = Math.max(1, ((1 - this.tokens) / this.options.ratePerSecond) * 1000);
      this.drainTimer = startTimer(
        () => {
          this.drainTimer = undefined;
          this.drain();
        },
        waitMs,
        { unref: true },
      );
    }
  }

  private async run(entry: Entry): Promise<void> {
    entry.inflight = true;
    try {
      const answer = await this.options.lookup(entry.ip, this.stopping.signal);
      if (this.stopped || this.entries.get(entry.ip.text) !== entry) return;
      this.options.onLookup?.(answer.services.length > 0 ? "service" : answer.pods.some((pod) => pod.ips[0]?.text === entry.ip.text) ? "pod" : "none");
      const changed = entry.answer === undefined || jsonOf(entry.answer) !== jsonOf(answer) || entry.error !== undefined;
      const now = this.now();
      entry.answer = answer;
      entry.answeredAt = now;
      entry.refreshAt = now + this.options.ttlMs * (1 + 0.1 * this.random());
      entry.error = undefined;
      entry.failures = 0;
      entry.retryAt = undefined;
      if (changed) this.options.onChange();
    } catch (error) {
      if (this.stopped || this.entries.get(entry.ip.text) !== entry) return;
      this.options.onLookup?.("failed");
      entry.failures++;
      // Retried sooner than a refresh, backing off: 1 s, 2 s, 4 s ... up to the TTL.
      entry.retryAt = this.now() + Math.min(this.options.ttlMs, 1000 * 2 ** Math.min(entry.failures - 1, 16));
      const now = this.now();
      // An answer that could not be refreshed serves on for up to three TTLs, then it is no answer.
      const tooOld = entry.answeredAt !== undefined && now - entry.answeredAt > 3 * this.options.ttlMs;
      if (entry.answer === undefined || tooOld) {
        const hadAnswer = entry.answer !== undefined;
        const message = describe(error);
        const changed = hadAnswer || entry.error !== message;
        entry.answer = undefined;
        entry.answeredAt = undefined;
        entry.error = message;
        if (changed) this.options.onChange();
      } else {
        // The old answer serves on; the refresh is tried again at the retry time.
        entry.refreshAt = entry.retryAt;
      }
    } finally {
      entry.inflight = false;
    }
  }

  /** Refreshes answers past their TTL and retries failures; looks every second (a walk over at most maxEntries). */
  private armSweep(): void {
    const every = Math.min(1000, this.options.ttlMs);
    this.sweepTimer = startTimer(
      () => {
        if (this.stopped) return;
        const now = this.now();
        for (const entry of this.entries.values()) {
          const due = entry.answer ? entry.refreshAt !== undefined && now >= entry.refreshAt : entry.retryAt !== undefined && now >= entry.retryAt;
          if (due) this.enqueue(entry);
        }
        this.armSweep();
      },
      every,
      { unref: true },
    );
  }
}
