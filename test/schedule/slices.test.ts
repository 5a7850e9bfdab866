// Slices: long tasks give the event loop back every few milliseconds and take turns, so
// timers (a probe's, the starvation monitor's) run between their slices.
import { describe, expect, it } from "vitest";
import { Slices } from "../../agent/schedule/slices.js";

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // work
  }
}

/** A task of `units` steps of `stepMs` each, pacing itself as the agent's long work does. */
async function task(slices: Slices, name: string, units: number, stepMs: number, log: string[]): Promise<void> {
  for (let i = 0; i < units; i++) {
    if (slices.spent()) {
      await slices.next();
      log.push(name);
    }
    busy(stepMs);
  }
}

describe("Slices", () => {
  it("three long tasks at once give the loop back between slices: a timer runs in almost every gap", async () => {
    const slices = new Slices(4);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const log: string[] = [];
    await Promise.all(["a", "b", "c"].map((name) => task(slices, name, 300, 0.5, log)));
    clearInterval(timer);
    // 450 ms of work: about 110 slices of 4 ms; in one block the timer would not run at all.
    expect(log.length).toBeGreaterThan(50);
    expect(ticks).toBeGreaterThanOrEqual(log.length * 0.8);
  });

  it("tasks take turns, one slice each, in the order they asked", async () => {
    const slices = new Slices(2);
    const log: string[] = [];
    await Promise.all(["a", "b"].map((name) => task(slices, name, 100, 0.5, log)));
    // Every slice but the last few (when one task has finished) alternates.
    const both = log.slice(0, log.lastIndexOf("a") < log.lastIndexOf("b") ? log.lastIndexOf("a") : log.lastIndexOf("b"));
    expect(both.length).toBeGreaterThan(10);
    for (let i = 1; i < both.length; i++) expect(both[i]).not.toBe(both[i - 1]);
    expect(both[0]).toBe("a");
  });

  it("work that starts outside a slice waits for one first; within a fresh slice it goes on", async () => {
    const slices = new Slices(50);
    expect(slices.spent()).toBe(true);
    await slices.next();
    expect(slices.spent()).toBe(false);
    busy(60);
    expect(slices.spent()).toBe(true);
  });
});
