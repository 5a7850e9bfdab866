// The starvation monitor: a blocked event loop is noticed, a quiet one is not.
import { afterEach, describe, expect, it } from "vitest";
import { StarvationMonitor } from "../../agent/schedule/starvation.js";
import { busyCpu, threadCpuMs } from "../support/thread-clock.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // block the event loop
  }
}

const monitors: StarvationMonitor[] = [];
function monitor(thresholdMs: number, tickMs?: number, now?: () => number): StarvationMonitor {
  const m = new StarvationMonitor({ thresholdMs, ...(tickMs !== undefined ? { tickMs } : {}), ...(now !== undefined ? { now } : {}) });
  monitors.push(m);
  return m;
}
afterEach(() => {
  for (const m of monitors.splice(0)) m.stop();
});

describe("StarvationMonitor", () => {
  it("notices a 400 ms busy loop, and not a quiet window", async () => {
    const m = monitor(100, 20);
    m.start();
    await sleep(60);
    const quietStart = Date.now();
    await sleep(200);
    const quietEnd = Date.now();
    expect(m.starvedDuring(quietStart, quietEnd)).toBe(false);

    const t0 = Date.now();
    busy(400);
    await sleep(30); // let the tick that sees the delay run
    const t1 = Date.now();
    expect(m.starvedDuring(t0, t1)).toBe(true);
    expect(m.takeWorstDelayMs()).toBeGreaterThanOrEqual(300);
    expect(m.takeWorstDelayMs()).toBeLessThan(100); // reset by the previous call

    // Before and after the stall, the windows are clean again.
    expect(m.starvedDuring(quietStart, quietEnd)).toBe(false);
    await sleep(50);
    const later = Date.now();
    await sleep(150);
    expect(m.starvedDuring(later, Date.now())).toBe(false);
  });

  it("notices a stall still in progress when asked from inside it", () => {
    const m = monitor(100, 20);
    m.start();
    const t0 = Date.now();
    busy(250);
    expect(m.starvedDuring(t0, Date.now())).toBe(true);
  });

  it("a delay under the threshold is not starvation", async () => {
    const m = monitor(300, 20);
    m.start();
    await sleep(40);
    const t0 = Date.now();
    busy(150);
    await sleep(30);
    expect(m.starvedDuring(t0, Date.now())).toBe(false);
  });

  it("a monitor that is not running reports no starvation", async () => {
    const never = monitor(100, 20);
    expect(never.starvedDuring(Date.now() - 1000, Date.now())).toBe(false);
    const stopped = monitor(100, 20);
    stopped.start();
    await sleep(30);
    stopped.stop();
    await sleep(200);
    expect(stopped.starvedDuring(Date.now() - 50, Date.now())).toBe(false);
  });

  it("reads the clock it is given: that clock running ahead is a stall, wall time passing while it stands still is not", async () => {
    let clock = 1_000;
    const m = monitor(100, 20, () => clock);
    m.start();
    await sleep(300); // many ticks late in wall time, none on this clock
    expect(m.starvedDuring(0, clock)).toBe(false);
    clock += 400;
    await sleep(30);
    expect(m.starvedDuring(1_000, clock)).toBe(true);
    expect(m.takeWorstDelayMs()).toBeGreaterThanOrEqual(300);
  });

  it("on the thread's CPU time, a busy loop is a stall and a quiet wait is not", async () => {
    const m = monitor(100, 20, threadCpuMs);
    m.start();
    await sleep(60);
    const quietStart = threadCpuMs();
    await sleep(200);
    expect(m.starvedDuring(quietStart, threadCpuMs())).toBe(false);
    const t0 = threadCpuMs();
    busyCpu(400);
    await sleep(30);
    expect(m.starvedDuring(t0, threadCpuMs())).toBe(true);
  });
});
