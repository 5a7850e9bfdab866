// PodBatches: the probes of one pod that come due together share one worker run; a probe whose
// previous run is still with its worker is answered at once (never two runs of one probe,
// never a queue that grows every round); settings reach the runner; stop() settles all.
import { describe, expect, it } from "vitest";
import type { ProbeOutcome } from "../../agent/probes/prober.js";
import type { ProbeRequest } from "../../agent/probes/index.js";
import { PodBatches, type PodProbeRunner, type PodProbeSettings, type SourcePod } from "../../agent/sources/batches.js";

const ok: ProbeOutcome = { reason: "ok", durationSeconds: 0.001, phases: {} };
const POD: SourcePod = { uid: undefined, key: "shop/web-1", ip: "10.0.0.7" };
const request = (id: string): ProbeRequest => ({ id, call: { kind: "tcp", target: { ip: "10.0.0.9", port: 80 } }, timeoutMs: 1000 });

/** A runner whose runs finish when the test says. */
function heldRunner() {
  const runs: { pod: SourcePod; ids: string[]; finish: () => void }[] = [];
  const settings: PodProbeSettings[] = [];
  let stopped = false;
  const runner: PodProbeRunner = {
    run: (pod, requests) =>
      new Promise((resolve) => {
        runs.push({ pod, ids: requests.map((r) => r.id), finish: () => resolve(new Map(requests.map((r) => [r.id, ok]))) });
      }),
    configure: (next) => settings.push(next),
    stop: async () => {
      stopped = true;
    },
  };
  return { runner, runs, settings, stopped: () => stopped };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("PodBatches", () => {
  it("runs the probes of one pod that come due within the window as one batch", async () => {
    const held = heldRunner();
    const batches = new PodBatches(held.runner, 20);
    const a = batches.probe(POD, request("a"));
    const b = batches.probe(POD, request("b"));
    const other = batches.probe({ uid: undefined, key: "shop/web-2", ip: "10.0.0.8" }, request("c"));
    await tick(60);
    expect(held.runs.map((run) => [run.pod.key, run.ids])).toEqual([
      ["shop/web-1", ["a", "b"]],
      ["shop/web-2", ["c"]],
    ]);
    for (const run of held.runs) run.finish();
    expect(await Promise.all([a, b, other])).toEqual([ok, ok, ok]);
  });

  it("answers a probe whose previous run is still with its worker at once, and runs it again once that run is done", async () => {
    const held = heldRunner();
    const batches = new PodBatches(held.runner, 5);
    const first = batches.probe(POD, request("a"));
    await tick(30);
    expect(held.runs).toHaveLength(1);
    // The agent's watchdog gave up on `first`; the scheduler runs the edge again.
    const again = await batches.probe(POD, request("a"));
    expect(again.reason).toBe("agent_error");
    expect(again.detail).toBe("the previous run of this probe from shop/web-1 is still waiting for or running in its worker");
    expect(held.runs).toHaveLength(1);

    held.runs[0]?.finish();
    expect(await first).toEqual(ok);
    const later = batches.probe(POD, request("a"));
    await tick(30);
    expect(held.runs).toHaveLength(2);
    held.runs[1]?.finish();
    expect(await later).toEqual(ok);
  });

  it("gives every probe an outcome when the runner throws or leaves one out", async () => {
    const batches = new PodBatches(
      {
        run: async (_pod, requests) => {
          if (requests.some((r) => r.id === "boom")) throw new Error("no worker");
          return new Map([["a", ok]]);
        },
        stop: async () => undefined,
      },
      5,
    );
    const [a, missing] = await Promise.all([batches.probe(POD, request("a")), batches.probe(POD, request("b"))]);
    expect(a).toEqual(ok);
    expect(missing).toMatchObject({ reason: "agent_error", detail: "the probe worker returned no result for this probe" });
    const boom = await batches.probe(POD, request("boom"));
    expect(boom).toMatchObject({ reason: "agent_error", detail: "probe worker for shop/web-1: no worker" });
  });

  it("passes new settings to the runner, and on stop settles what waits and stops the runner", async () => {
    const held = heldRunner();
    const batches = new PodBatches(held.runner, 10_000);
    batches.configure({ maxWorkers: 2, starvationThresholdMs: 500 });
    expect(held.settings).toEqual([{ maxWorkers: 2, starvationThresholdMs: 500 }]);
    const waiting = batches.probe(POD, request("a"));
    await batches.stop();
    expect(await waiting).toMatchObject({ reason: "agent_error", detail: "the agent stopped before shop/web-1 was probed" });
    expect(held.stopped()).toBe(true);
  });
});
