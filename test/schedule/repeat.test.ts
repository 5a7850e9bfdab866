// repeat (schedule/timers.ts), on real timers with short intervals: each run is re-armed only
// when the last has settled (never two at once), a run that rejects or throws is reported and
// the loop goes on, and stop() is final, a run in flight when it is called included.
import { describe, expect, it } from "vitest";
import { type Repeating, repeat } from "../../agent/schedule/timers.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` holds, polling every 5 ms; fails after `timeoutMs`. */
async function until(what: string, done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Timers this process holds now (the run's own sleep is one). */
const pendingTimers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;

const noError = (error: unknown): void => {
  throw new Error(`no run was expected to fail: ${String(error)}`);
};

describe("repeat, on real timers", () => {
  it("re-arms a run only when the last one has settled, an interval later: runs never overlap", async () => {
    const runs: { start: number; end: number }[] = [];
    let running = 0;
    let most = 0;
    const loop = repeat(
      10,
      async () => {
        running++;
        most = Math.max(most, running);
        const start = performance.now();
        // Each run takes four intervals: a loop that re-armed at the start would overlap.
        await sleep(40);
        running--;
        runs.push({ start, end: performance.now() });
      },
      { onError: noError },
    );
    try {
      await until("four runs", () => runs.length >= 4);
    } finally {
      await loop.stop();
    }
    expect(most).toBe(1);
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1] as { end: number };
      const current = runs[i] as { start: number };
      // Timers may fire up to 1 ms early by performance.now().
      expect(current.start - previous.end).toBeGreaterThanOrEqual(9);
    }
  });

  it("waits one interval before the first run by default, and firstMs before it when given", async () => {
    const started = performance.now();
    const first: Record<string, number> = {};
    const loops: Repeating[] = [
      repeat(80, () => void (first["default"] ??= performance.now() - started), { onError: noError }),
      repeat(80, () => void (first["zero"] ??= performance.now() - started), { firstMs: 0, onError: noError }),
    ];
    try {
      await until("both first runs", () => first["default"] !== undefined && first["zero"] !== undefined);
    } finally {
      await Promise.all(loops.map((loop) => loop.stop()));
    }
    expect(first["zero"]).toBeLessThan(first["default"] as number);
    expect(first["default"]).toBeGreaterThanOrEqual(79);
  });

  it("asks a function interval for the next delay after each run", async () => {
    const delays = [5, 60, 5];
    const asked: number[] = [];
    const at: number[] = [];
    const loop = repeat(
      () => {
        const delay = delays[asked.length] ?? 1000;
        asked.push(delay);
        return delay;
      },
      () => void at.push(performance.now()),
      { firstMs: 0, onError: noError },
    );
    try {
      await until("four runs", () => at.length >= 4);
    } finally {
      await loop.stop();
    }
    expect(asked.slice(0, 3)).toEqual([5, 60, 5]);
    expect((at[2] as number) - (at[1] as number)).toBeGreaterThanOrEqual(59);
  });

  it("reports a run that rejects, and one that throws, and goes on running", async () => {
    const errors: string[] = [];
    let calls = 0;
    const loop = repeat(
      5,
      () => {
        calls++;
        if (calls === 1) return Promise.reject(new Error("first run rejected"));
        if (calls === 2) throw new Error("second run threw");
        return Promise.resolve();
      },
      { firstMs: 0, onError: (error) => errors.push((error as Error).message) },
    );
    try {
      await until("four runs", () => calls >= 4);
    } finally {
      await loop.stop();
    }
    expect(errors).toEqual(["first run rejected", "second run threw"]);
  });

  it("stop() while a run is in flight: it settles, stop() resolves after it, and nothing runs again", async () => {
    let calls = 0;
    let finished = false;
    const loop = repeat(
      5,
      async () => {
        calls++;
        await sleep(50);
        finished = true;
      },
      { firstMs: 0, onError: noError },
    );
    await until("the first run", () => calls === 1);
    const timersBefore = pendingTimers();
    await loop.stop();
    // stop() waited for the run in flight, and left no timer armed behind it.
    expect(finished).toBe(true);
    expect(pendingTimers()).toBe(timersBefore - 1);
    // Ten intervals later: the run that finished after stop() armed no other.
    await sleep(50);
    expect(calls).toBe(1);
    await loop.stop();
  });

  it("stop() before the first run: nothing ever runs", async () => {
    let calls = 0;
    const loop = repeat(5, () => void calls++, { firstMs: 5, onError: noError });
    await loop.stop();
    await sleep(40);
    expect(calls).toBe(0);
  });
});
