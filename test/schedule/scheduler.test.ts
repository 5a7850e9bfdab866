// The scheduler with real timers: spread first runs, no overlap, a global bound,
// runNow, job set replacement keeping cadence, and stop. Long intervals and cron schedules
// on fake timers too, where days pass in no time.
import cron from "node-cron";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Job, Scheduler, type SchedulerOptions, spreadFraction } from "../../agent/schedule/scheduler.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

const schedulers: Scheduler[] = [];
function scheduler(options: SchedulerOptions): Scheduler {
  const s = new Scheduler(options);
  schedulers.push(s);
  return s;
}
afterEach(() => {
  for (const s of schedulers.splice(0)) s.stop();
  vi.useRealTimers();
});

function every(ms: number) {
  return { kind: "interval" as const, intervalMs: ms };
}

/** A job that records when each run started and ended, and how many ran at once. */
class Recorder {
  readonly starts = new Map<string, number[]>();
  readonly ends = new Map<string, number[]>();
  running = new Map<string, number>();
  maxSameJob = 0;
  total = 0;
  maxTotal = 0;

  job(id: string, intervalMs: number, runMs = 0): Job {
    return { id, schedule: every(intervalMs), run: () => this.run(id, runMs) };
  }

  async run(id: string, runMs: number): Promise<void> {
    const same = (this.running.get(id) ?? 0) + 1;
    this.running.set(id, same);
    this.maxSameJob = Math.max(this.maxSameJob, same);
    this.total++;
    this.maxTotal = Math.max(this.maxTotal, this.total);
    this.push(this.starts, id);
    try {
      if (runMs > 0) await sleep(runMs);
    } finally {
      this.running.set(id, (this.running.get(id) ?? 1) - 1);
      this.total--;
      this.push(this.ends, id);
    }
  }

  count(id: string): number {
    return this.starts.get(id)?.length ?? 0;
  }

  private push(map: Map<string, number[]>, id: string): void {
    const list = map.get(id) ?? [];
    list.push(Date.now());
    map.set(id, list);
  }
}

describe("spreadFraction", () => {
  it("is stable, in [0, 1), and differs between ids", () => {
    const values = Array.from({ length: 200 }, (_, i) => spreadFraction(`edge-${i}`));
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(values).size).toBe(200);
    expect(spreadFraction("edge-7")).toBe(values[7]);
    // Roughly uniform: every tenth of the window gets some.
    expect(new Set(values.map((v) => Math.floor(v * 10))).size).toBe(10);
  });
});

describe("Scheduler", () => {
  it("spreads first runs over the interval, in the order the id hashes give", async () => {
    // Ids whose hash fractions are at least 0.07 apart (checked below).
    const ids = ["job-1", "job-3", "job-10", "job-14", "job-8", "job-23", "job-7", "job-22", "job-19"];
    const fractions = ids.map(spreadFraction);
    for (let i = 1; i < fractions.length; i++) expect((fractions[i] as number) - (fractions[i - 1] as number)).toBeGreaterThan(0.07);
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 100, jitter: 0 });
    const t0 = Date.now();
    s.setJobs([...ids].reverse().map((id) => rec.job(id, 1000)));
    await waitFor(() => ids.every((id) => rec.count(id) >= 1), 2000, "every first run");
    const firsts = ids.map((id) => (rec.starts.get(id)?.[0] ?? 0) - t0);
    // Never early, and late only by timer slack (generous: other test files load the machine).
    firsts.forEach((offset, i) => {
      const planned = Math.floor((fractions[i] as number) * 1000);
      expect(offset).toBeGreaterThanOrEqual(planned - 2);
      expect(offset).toBeLessThan(planned + 200);
    });
    expect([...firsts].sort((a, b) => a - b)).toEqual(firsts);
    // Distinct places in the window: the earliest and latest are most of a window apart.
    expect((firsts.at(-1) as number) - (firsts[0] as number)).toBeGreaterThan(800);
  });

  it("spreads over firstRunSpreadMs when the interval is longer", async () => {
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 10, firstRunSpreadMs: 200 });
    const t0 = Date.now();
    s.setJobs(["job-0", "job-19", "job-39"].map((id) => rec.job(id, 60_000)));
    await waitFor(() => rec.count("job-0") + rec.count("job-19") + rec.count("job-39") === 3, 1000, "three first runs");
    for (const id of ["job-0", "job-19", "job-39"]) expect((rec.starts.get(id)?.[0] ?? 0) - t0).toBeLessThan(260);
  });

  it("keeps the interval cadence after the first run", async () => {
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 10, jitter: 0 });
    s.setJobs([rec.job("job-1", 100)]);
    await waitFor(() => rec.count("job-1") >= 5, 2000, "five runs");
    const starts = rec.starts.get("job-1") ?? [];
    // Each run is due one interval after the last one was due, not after it started: a run
    // that a loaded machine starts a few ms late is followed by one on time (a gap a little
    // short), and lateness never adds up. So the runs sit on one grid of 100 ms: its origin is
    // where the least late run puts it, and no run is 60 ms or more behind its point (a run
    // early or runs drifting apart would put others behind).
    const origin = Math.min(...starts.map((start, k) => start - k * 100));
    for (const [k, start] of starts.entries()) expect(start - k * 100 - origin).toBeLessThan(60);
  });

  it("never runs a job twice at once: a run due while the last one goes on is skipped and reported", async () => {
    const rec = new Recorder();
    const skipped: string[] = [];
    const s = scheduler({ maxConcurrent: 10, jitter: 0, firstRunSpreadMs: 1, hooks: { onSkip: (id) => skipped.push(id) } });
    s.setJobs([rec.job("slow", 100, 350)]);
    await waitFor(() => rec.count("slow") >= 2, 2000, "a second run");
    s.stop();
    expect(rec.maxSameJob).toBe(1);
    expect(skipped.length).toBeGreaterThanOrEqual(3);
    expect(new Set(skipped)).toEqual(new Set(["slow"]));
    // The second run starts only after the first ended.
    expect((rec.starts.get("slow")?.[1] ?? 0) >= (rec.ends.get("slow")?.[0] ?? Infinity)).toBe(true);
  });

  it("never runs more than maxConcurrent jobs at once; queued ones start late, in due order", async () => {
    const rec = new Recorder();
    const late: [string, number][] = [];
    const s = scheduler({ maxConcurrent: 2, jitter: 0, firstRunSpreadMs: 1, hooks: { onStart: (id, seconds) => late.push([id, seconds]) } });
    const ids = ["a", "b", "c", "d", "e", "f"];
    s.setJobs(ids.map((id) => rec.job(id, 5000, 120)));
    await waitFor(() => s.queuedCount > 0, 500, "a queue");
    expect(s.runningCount).toBe(2);
    await waitFor(() => ids.every((id) => (rec.ends.get(id)?.length ?? 0) === 1), 3000, "every job once");
    expect(rec.maxTotal).toBe(2);
    expect(late.map(([id]) => id)).toEqual(ids);
    // The last two waited for two batches of 120 ms.
    const lastTwo = late.slice(4).map(([, seconds]) => seconds);
    for (const seconds of lastTwo) expect(seconds).toBeGreaterThanOrEqual(0.2);
    expect(s.runningCount).toBe(0);
    expect(s.queuedCount).toBe(0);
  });

  it("runNow runs a job at once; an unknown id is ignored; a running job is not started twice", async () => {
    const rec = new Recorder();
    const skipped: string[] = [];
    const s = scheduler({ maxConcurrent: 10, hooks: { onSkip: (id) => skipped.push(id) } });
    // job-39's first run would be ~9.9 s away.
    s.setJobs([rec.job("job-39", 60_000, 100)]);
    s.runNow("nope");
    await sleep(30);
    expect(rec.count("job-39")).toBe(0);
    const t0 = Date.now();
    s.runNow("job-39");
    await waitFor(() => rec.count("job-39") === 1, 500, "the run");
    expect((rec.starts.get("job-39")?.[0] ?? 0) - t0).toBeLessThan(50);
    s.runNow("job-39");
    expect(skipped).toEqual(["job-39"]);
    await waitFor(() => (rec.ends.get("job-39")?.length ?? 0) === 1, 500, "the end");
    expect(rec.count("job-39")).toBe(1);
  });

  it("setJobs keeps the cadence of unchanged jobs, takes their new run function, stops removed ones, re-spreads changed ones", async () => {
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 10, jitter: 0 });
    // job-1 would first run ~3 ms after being added, so a restart would show as a short gap.
    s.setJobs([rec.job("job-1", 300), rec.job("gone", 100), rec.job("changed", 100)]);
    await waitFor(() => rec.count("job-1") === 2, 2000, "two runs");
    await sleep(50);
    let newFunctionRuns = 0;
    s.setJobs([
      { id: "job-1", schedule: every(300), run: async () => void newFunctionRuns++ },
      rec.job("changed", 5000),
      rec.job("added", 5000),
    ]);
    const goneRuns = rec.count("gone");
    const changedRuns = rec.count("changed");
    const lastOld = rec.starts.get("job-1")?.[1] ?? 0;
    const started = Date.now();
    await waitFor(() => newFunctionRuns === 1, 1000, "the new run function");
    const gap = Date.now() - lastOld;
    expect(gap).toBeGreaterThanOrEqual(290);
    expect(gap).toBeLessThan(400);
    expect(Date.now() - started).toBeGreaterThan(200);
    expect(rec.count("job-1")).toBe(2);
    await sleep(250);
    expect(rec.count("gone")).toBe(goneRuns);
    // Its new 5 s interval spreads its first run over 5 s ("changed" hashes past 250 ms).
    expect(spreadFraction("changed") * 5000).toBeGreaterThan(500);
    expect(rec.count("changed")).toBe(changedRuns);
    expect(s.ids().sort()).toEqual(["added", "changed", "job-1"]);
  });

  it("stop: no run after it, queued runs dropped, the running one finishes", async () => {
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 1, jitter: 0, firstRunSpreadMs: 1 });
    s.setJobs([rec.job("a", 60, 100), rec.job("b", 60, 100)]);
    await waitFor(() => rec.total === 1 && s.queuedCount === 1, 500, "one running, one queued");
    s.stop();
    expect(s.queuedCount).toBe(0);
    expect(s.ids()).toEqual([]);
    const before = rec.count("a") + rec.count("b");
    await sleep(300);
    expect(rec.count("a") + rec.count("b")).toBe(before);
    expect(rec.total).toBe(0);
    // runNow and setJobs after stop start nothing.
    s.setJobs([rec.job("c", 50)]);
    s.runNow("c");
    await sleep(120);
    expect(rec.count("c")).toBe(0);
  });

  it("a failing run does not stop the schedule", async () => {
    let runs = 0;
    const s = scheduler({ maxConcurrent: 1, jitter: 0, firstRunSpreadMs: 1 });
    s.setJobs([
      {
        id: "fails",
        schedule: every(50),
        run: async () => {
          runs++;
          throw new Error("probe blew up");
        },
      },
    ]);
    await waitFor(() => runs >= 3, 1000, "three runs");
    expect(s.runningCount).toBe(0);
  });

  it("never runs a job twice at once, even when its schedule changes mid-run", async () => {
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 10, jitter: 0, firstRunSpreadMs: 1 });
    s.setJobs([rec.job("job-1", 100, 400)]);
    await waitFor(() => rec.total === 1, 500, "the first run");
    // job-1 spreads to ~1 % of the new interval: due again at once, while the old run goes on.
    s.setJobs([rec.job("job-1", 150, 400)]);
    await sleep(450);
    expect(rec.maxSameJob).toBe(1);
    await waitFor(() => rec.count("job-1") >= 2, 1000, "a run on the new schedule");
  });

  it("runs cron jobs on their schedule, each at its own offset within the spread window, and stops them", async () => {
    let runs = 0;
    const fired: number[] = [];
    const named = () => [...cron.getTasks().values()].filter((task) => task.name === "cron-every-second");
    const s = scheduler({ maxConcurrent: 1, firstRunSpreadMs: 300 });
    s.setJobs([
      {
        id: "cron-every-second",
        schedule: { kind: "cron", expression: "* * * * * *" },
        run: async () => {
          runs++;
          fired.push(Date.now() % 1000);
        },
      },
    ]);
    expect(named()).toHaveLength(1);
    await waitFor(() => runs >= 2, 3500, "two cron runs");
    // Every agent's cron fires on the second: the job runs at its own fixed offset after it.
    const offset = Math.floor(spreadFraction("cron-every-second") * 300);
    for (const at of fired) expect(Math.abs(at - offset)).toBeLessThan(150);
    s.stop();
    // The node-cron task is destroyed, not just forgotten.
    expect(named()).toHaveLength(0);
    const after = runs;
    await sleep(100);
    expect(runs).toBe(after);
  });
});

describe("long intervals: never early", () => {
  const HOUR = 3_600_000;

  it("an edge with a 1000 h interval runs once, then waits: it never fires again at once", async () => {
    // 1000 h is above Node's 2^31-1 ms timer limit; a plain setTimeout fired such a timer at
    // once, and the schedule re-armed it from its own arithmetic: thousands of runs a second.
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 10, firstRunSpreadMs: 20 });
    s.setJobs([rec.job("edge-1000h", 1000 * HOUR)]);
    await waitFor(() => rec.count("edge-1000h") >= 1, 1000, "the first run");
    await sleep(500);
    expect(rec.count("edge-1000h")).toBe(1);
  });

  it("a 1000 h interval comes due after 1000 h, not before (fake timers)", async () => {
    vi.useFakeTimers();
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 10, jitter: 0, firstRunSpreadMs: 1000 });
    s.setJobs([rec.job("edge-1000h", 1000 * HOUR)]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(rec.count("edge-1000h")).toBe(1);
    const first = rec.starts.get("edge-1000h")?.[0] as number;
    await vi.advanceTimersByTimeAsync(1000 * HOUR - 1000);
    expect(rec.count("edge-1000h")).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(rec.count("edge-1000h")).toBe(2);
    expect((rec.starts.get("edge-1000h")?.[1] as number) - first).toBe(1000 * HOUR);
  });

  it("a grouped job on a grid longer than the timer limit keeps to its grid (fake timers)", async () => {
    vi.useFakeTimers({ now: 0 });
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 10 });
    const interval = 1000 * HOUR;
    // The group's place on its grid, as the scheduler computes it.
    const offset = Math.floor(spreadFraction(`pod-a|${interval}`) * interval);
    s.setJobs([{ ...rec.job("pod-edge", interval), group: "pod-a" }]);
    await vi.advanceTimersByTimeAsync(offset - 1);
    expect(rec.count("pod-edge")).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(rec.count("pod-edge")).toBe(1);
    await vi.advanceTimersByTimeAsync(interval - 1);
    expect(rec.count("pod-edge")).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(rec.count("pod-edge")).toBe(2);
  });

  it("a yearly cron schedule does not run in the months before its date (fake timers)", async () => {
    vi.useFakeTimers({ now: new Date(2026, 2, 1, 12, 0, 0) });
    let runs = 0;
    const s = scheduler({ maxConcurrent: 1, firstRunSpreadMs: 1000 });
    s.setJobs([{ id: "yearly", schedule: { kind: "cron", expression: "0 0 1 1 *" }, run: async () => void runs++ }]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(runs).toBe(0);
    // To a minute before midnight of the new year: some 306 days, far beyond 2^31-1 ms.
    await vi.advanceTimersByTimeAsync(new Date(2026, 11, 31, 23, 59, 0).getTime() - Date.now());
    expect(runs).toBe(0);
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    expect(runs).toBe(1);
  });

  it.each([0, -1000, Number.NaN, Number.POSITIVE_INFINITY, 1.5])("refuses an interval of %d ms, changing nothing", (intervalMs) => {
    const rec = new Recorder();
    const s = scheduler({ maxConcurrent: 10 });
    s.setJobs([rec.job("kept", 60_000)]);
    expect(() => s.setJobs([rec.job("bad", intervalMs)])).toThrow(RangeError);
    expect(s.ids()).toEqual(["kept"]);
  });
});
