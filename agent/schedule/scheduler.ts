// Runs jobs on intervals (first runs spread over the interval, then jittered, so a
// DaemonSet's agents never probe in lockstep) or cron schedules. Never two runs of one
// job at once; a global bound on jobs running at once; queued runs start in the order they
// came due. Timers go through startTimer (timers.ts): an interval longer than Node's timer
// limit waits its whole length instead of firing at once, again and again.

import { createHash } from "node:crypto";
import cron, { type ScheduledTask } from "node-cron";
import { startTimer, type Timer } from "./timers.js";

/** When a job runs: every interval, or on a cron expression (a probe's `interval:` or `schedule:`). */
export type Schedule = { readonly kind: "interval"; readonly intervalMs: number } | { readonly kind: "cron"; readonly expression: string };

export interface Job {
  readonly id: string;
  readonly schedule: Schedule;
  /**
   * Interval jobs of one group (and one interval) come due together, on a grid of their own,
   * so that they can run as one batch (a pod source's probes, in one worker).
   */
  readonly group?: string;
  /** Must settle by itself (probes are bounded by their timeout). */
  readonly run: () => Promise<void>;
}

export interface SchedulerHooks {
  /** Seconds between a run's due time and its start (queueing for a free slot included). */
  onStart?(id: string, lateSeconds: number): void;
  /** A run came due while the previous run of the same job was still going. */
  onSkip?(id: string): void;
}

export interface SchedulerOptions {
  readonly maxConcurrent: number;
  /** Relative jitter applied to each interval, e.g. 0.1 = plus or minus 5%. */
  readonly jitter?: number;
  /** First runs are spread over the interval, or over this much if the interval is longer. */
  readonly firstRunSpreadMs?: number;
  readonly random?: () => number;
  readonly hooks?: SchedulerHooks;
}

interface Entry {
  job: Job;
  timer?: Timer;
  task?: ScheduledTask;
  /** When the pending timer fires (interval jobs), for a stable cadence. */
  nextDue: number;
}

/** A stable fraction in [0, 1) from an id: where in its interval a job first runs. */
export function spreadFraction(id: string): number {
  return createHash("sha256").update(id).digest().readUInt32BE(0) / 2 ** 32;
}

function sameSchedule(a: Job, b: Job): boolean {
  if (a.group !== b.group) return false;
  const [x, y] = [a.schedule, b.schedule];
  return x.kind === "interval" && y.kind === "interval" ? x.intervalMs === y.intervalMs : x.kind === "cron" && y.kind === "cron" && x.expression === y.expression;
}

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  /** Runs waiting for a slot, in the order they came due: id to due time. */
  private readonly queued = new Map<string, number>();
  /** Ids with a run in progress (a job replaced mid-run is still running). */
  private readonly active = new Set<string>();
  private stopped = false;
  private readonly random: () => number;
  private readonly jitter: number;
  private maxConcurrent: number;

  constructor(private readonly options: SchedulerOptions) {
    this.random = options.random ?? Math.random;
    this.jitter = options.jitter ?? 0.1;
    this.maxConcurrent = options.maxConcurrent;
  }

  /** The concurrency bound can change with a config reload; running jobs finish as they are. */
  setMaxConcurrent(maxConcurrent: number): void {
    this.maxConcurrent = maxConcurrent;
    this.drain();
  }

  get runningCount(): number {
    return this.active.size;
  }

  get queuedCount(): number {
    return this.queued.size;
  }

  /**
   * Replaces the job set: unchanged jobs keep their cadence, new ones are spread, gone ones stop.
   * Throws a RangeError, changing nothing, when an interval is not a whole number of
   * milliseconds from 1 up (configuration checks intervals long before this: a bug).
   */
  setJobs(jobs: readonly Job[]): void {
    for (const job of jobs) {
      if (job.schedule.kind === "interval" && !(Number.isSafeInteger(job.schedule.intervalMs) && job.schedule.intervalMs >= 1)) {
        throw new RangeError(`job ${job.id}: interval ${String(job.schedule.intervalMs)} ms is not a whole number of milliseconds from 1 up`);
      }
    }
    const wanted = new Map(jobs.map((job) => [job.id, job]));
    for (const [id, entry] of this.entries) {
      const next = wanted.get(id);
      if (!next || !sameSchedule(next, entry.job)) this.remove(id);
    }
    for (const job of jobs) {
      const entry = this.entries.get(job.id);
      if (entry) entry.job = job; // same schedule: keep timing, take the new run function
      else this.add(job);
    }
  }

  /** Runs a job as soon as a slot is free (e.g. its verdict just changed). */
  runNow(id: string): void {
    const entry = this.entries.get(id);
    if (entry) this.enqueue(entry, Date.now());
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  stop(): void {
    this.stopped = true;
    for (const id of [...this.entries.keys()]) this.remove(id);
    this.queued.clear();
  }

  private add(job: Job): void {
    const entry: Entry = { job, nextDue: 0 };
    this.entries.set(job.id, entry);
    if (job.schedule.kind === "interval" && job.group !== undefined) {
      // On the group's grid: every k * interval + an offset fixed by the group, so that the
      // group's jobs come due at the same moments, whenever each was added.
      const interval = job.schedule.intervalMs;
      const offset = Math.floor(spreadFraction(`${job.group}|${interval}`) * interval);
      this.arm(entry, Math.ceil((Date.now() - offset) / interval) * interval + offset);
    } else if (job.schedule.kind === "interval") {
      // First run at a place in the spread window fixed by the job's id: no thundering herd,
      // and no long wait for the first result when intervals are long.
      const window = Math.min(job.schedule.intervalMs, this.options.firstRunSpreadMs ?? 10_000);
      this.arm(entry, Date.now() + Math.floor(spreadFraction(job.id) * window));
    } else {
      // Cron fires every agent in the same second: each job runs at its own fixed offset after it.
      const offset = Math.floor(spreadFraction(job.id) * (this.options.firstRunSpreadMs ?? 10_000));
      entry.task = cron.schedule(
        job.schedule.expression,
        () => {
          startTimer(
            () => {
              if (this.entries.get(job.id) === entry) this.enqueue(entry, Date.now());
            },
            offset,
            { unref: true },
          );
        },
        { name: job.id },
      );
    }
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.timer?.cancel();
    if (entry.task) void entry.task.destroy();
    this.entries.delete(id);
    this.queued.delete(id);
  }

  private arm(entry: Entry, due: number): void {
    entry.nextDue = due;
    entry.timer = startTimer(
      () => {
        if (this.entries.get(entry.job.id) !== entry || entry.job.schedule.kind !== "interval") return;
        const interval = entry.job.schedule.intervalMs;
        // Next due from the planned time, not from now, so lateness does not accumulate; a
        // group keeps to its grid (its offset already sets it apart), others are jittered.
        const factor = entry.job.group !== undefined ? 1 : 1 + (this.random() - 0.5) * this.jitter;
        this.arm(entry, Math.max(Date.now(), entry.nextDue + Math.round(interval * factor)));
        this.enqueue(entry, due);
      },
      due - Date.now(),
      { unref: true },
    );
  }

  private enqueue(entry: Entry, due: number): void {
    if (this.stopped) return;
    const id = entry.job.id;
    if (this.active.has(id) || this.queued.has(id)) {
      this.options.hooks?.onSkip?.(id);
      return;
    }
    this.queued.set(id, due);
    this.drain();
  }

  private drain(): void {
    for (const [id, due] of this.queued) {
      if (this.active.size >= this.maxConcurrent) return;
      this.queued.delete(id);
      const entry = this.entries.get(id);
      if (!entry) continue;
      this.active.add(id);
      this.options.hooks?.onStart?.(id, Math.max(0, Date.now() - due) / 1000);
      // Through a promise so that a job throwing at once is handled like one that rejects.
      Promise.resolve()
        .then(() => entry.job.run())
        .catch(() => undefined) // jobs report their own failures; the schedule goes on
        .finally(() => {
          this.active.delete(id);
          this.drain();
        });
    }
  }
}
