// Timers for computed delays: a delay beyond Node's 2^31-1 ms limit waits its whole length
// (Node's own setTimeout fires it at once), NaN and negative delays never spin, cancel stops a
// chain midway. Fake timers prove the arithmetic over days; real timers prove the premise.
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_MS, sleepFor, startTimer, timerStep } from "../../agent/schedule/timers.js";

const DAY = 24 * 3_600_000;

afterEach(() => {
  vi.useRealTimers();
});

describe("the premise, on real timers", () => {
  it("Node's setTimeout fires a delay above 2^31-1 ms at once; startTimer does not", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      let raw = 0;
      let ours = 0;
      const rawTimer = setTimeout(() => raw++, 1000 * 3_600_000);
      const ourTimer = startTimer(() => ours++, 1000 * 3_600_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      clearTimeout(rawTimer);
      ourTimer.cancel();
      expect(raw).toBe(1);
      expect(ours).toBe(0);
      expect(warnings).toContain("TimeoutOverflowWarning");
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("an ordinary delay fires once, on time", async () => {
    const started = performance.now();
    const fired: number[] = [];
    startTimer(() => fired.push(performance.now() - started), 30);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(fired).toHaveLength(1);
    expect(fired[0]).toBeGreaterThanOrEqual(29);
  });
});

describe("startTimer, on fake timers", () => {
  it("waits 1000 hours in full: nothing before, once at the end", () => {
    vi.useFakeTimers();
    const callback = vi.fn();
    startTimer(callback, 1000 * 3_600_000);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1);
    expect(callback).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000 * 3_600_000 - (MAX_TIMER_MS + 1) - 1);
    expect(callback).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(callback).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(365 * DAY);
    expect(callback).toHaveBeenCalledTimes(1);
  });

  it("exactly 2^31-1 ms is one step, 2^31 ms two", () => {
    vi.useFakeTimers();
    const one = vi.fn();
    const two = vi.fn();
    startTimer(one, MAX_TIMER_MS);
    startTimer(two, MAX_TIMER_MS + 1);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(one).toHaveBeenCalledTimes(1);
    expect(two).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(two).toHaveBeenCalledTimes(1);
  });

  it("a negative delay is due: it fires on the next turn, once", () => {
    vi.useFakeTimers();
    const callback = vi.fn();
    startTimer(callback, -5000);
    expect(callback).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(callback).toHaveBeenCalledTimes(1);
  });

  it("NaN waits one longest step, then fires once: a timer that re-arms from NaN never spins", () => {
    vi.useFakeTimers();
    let runs = 0;
    const rearm = (): void => {
      runs++;
      startTimer(rearm, Number.NaN);
    };
    startTimer(rearm, Number.NaN);
    vi.advanceTimersByTime(MAX_TIMER_MS - 1);
    expect(runs).toBe(0);
    vi.advanceTimersByTime(1);
    expect(runs).toBe(1);
    vi.advanceTimersByTime(10 * DAY);
    expect(runs).toBe(1);
  });

  it("Infinity never fires", () => {
    vi.useFakeTimers();
    const callback = vi.fn();
    startTimer(callback, Number.POSITIVE_INFINITY);
    vi.advanceTimersByTime(10 * 365 * DAY);
    expect(callback).not.toHaveBeenCalled();
  });

  it("cancel stops a chain between its steps", () => {
    vi.useFakeTimers();
    const callback = vi.fn();
    const timer = startTimer(callback, 40 * DAY);
    vi.advanceTimersByTime(30 * DAY);
    timer.cancel();
    timer.cancel();
    vi.advanceTimersByTime(30 * DAY);
    expect(callback).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("sleepFor resolves after the delay, or at once on abort", async () => {
    vi.useFakeTimers();
    let slept = false;
    void sleepFor(30 * DAY).then(() => (slept = true));
    await vi.advanceTimersByTimeAsync(29 * DAY);
    expect(slept).toBe(false);
    await vi.advanceTimersByTimeAsync(DAY);
    expect(slept).toBe(true);

    const controller = new AbortController();
    let woke = false;
    void sleepFor(30 * DAY, { signal: controller.signal }).then(() => (woke = true));
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("timerStep", () => {
  it.each([
    [0, 0],
    [-1, 0],
    [1500, 1500],
    [MAX_TIMER_MS, MAX_TIMER_MS],
    [MAX_TIMER_MS + 1, MAX_TIMER_MS],
    [Number.POSITIVE_INFINITY, MAX_TIMER_MS],
    [Number.NEGATIVE_INFINITY, 0],
    [Number.NaN, MAX_TIMER_MS],
  ])("%d ms is a step of %d ms", (delay, step) => {
    expect(timerStep(delay)).toBe(step);
  });
});
