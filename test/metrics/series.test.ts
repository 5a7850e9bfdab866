// The lean metric families write exactly what prom-client writes for the same series: each
// family is held against a prom-client metric of the same name, type, labels and samples, in a
// registry of its own, byte for byte, including escaping, number formats and histograms.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CounterFamily, GaugeFamily, HistogramFamily, labelSet } from "../../agent/metrics/series.js";
import type { TextSink } from "../../agent/text/sink.js";

/** A sink that keeps the text and pauses (as the real one may) every time it is asked. */
function collect(): TextSink & { text: () => string; pauses: number } {
  let text = "";
  let pauses = 0;
  return {
    write: (piece: string) => {
      text += piece;
    },
    pause: () => {
      pauses++;
      return new Promise<void>((resolve) => setImmediate(resolve));
    },
    text: () => text,
    get pauses() {
      return pauses;
    },
  };
}

async function rendered(family: { render(sink: TextSink): Promise<void> }): Promise<string> {
  const sink = collect();
  await family.render(sink);
  return sink.text();
}

// Label values a cluster can produce, and the ones that need escaping.
const TRICKY = ['plain', 'with "quotes"', "back\\slash", "new\nline", "", "ünïcödé", "a,b=c{d}"];

describe("lean metric families", () => {
  it("gauges: the same text as prom-client's Gauge, values of every kind", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const family = new GaugeFamily({ name: "t_gauge", help: "A gauge.\nSecond line with \\ backslash.", labelNames: ["probe", "kind"], registers: [ours] });
    const gauge = new Gauge({ name: "t_gauge", help: "A gauge.\nSecond line with \\ backslash.", labelNames: ["probe", "kind"], registers: [theirs] });
    const values = [0, 1, -1, 0.1 + 0.2, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 123456789.125];
    TRICKY.forEach((probe, i) => {
      const kind = `k${i}`;
      const value = values[i % values.length] as number;
      family.add(labelSet({ probe }), family.own({ kind }), value);
      gauge.set({ probe, kind }, value);
    });
    expect(await rendered(family)).toBe(await theirs.getSingleMetricAsString("t_gauge"));
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it("counters: the same text as prom-client's Counter; a counter never goes down", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const family = new CounterFamily({ name: "t_total", help: "A counter.", labelNames: ["probe", "result", "reason"], registers: [ours] });
    const counter = new Counter({ name: "t_total", help: "A counter.", labelNames: ["probe", "result", "reason"], registers: [theirs] });
    for (const probe of TRICKY) {
      const series = family.add(labelSet({ probe }), family.own({ result: "failure", reason: "refused" }));
      family.inc(series);
      family.inc(series, 2.5);
      counter.inc({ probe, result: "failure", reason: "refused" });
      counter.inc({ probe, result: "failure", reason: "refused" }, 2.5);
    }
    expect(await rendered(family)).toBe(await theirs.getSingleMetricAsString("t_total"));
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    const series = family.add(labelSet({ probe: "x" }));
    expect(() => family.inc(series, -1)).toThrow(/only goes up/);
    expect(() => family.inc(series, Number.NaN)).toThrow(/only goes up/);
  });

  it("histograms: the same text as prom-client's Histogram (le first, +Inf, sum, count), with and without labels", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.002, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    const family = new HistogramFamily({ name: "t_seconds", help: "A histogram.", labelNames: ["probe", "phase"], buckets, registers: [ours] });
    const histogram = new Histogram({ name: "t_seconds", help: "A histogram.", labelNames: ["probe", "phase"], buckets, registers: [theirs] });
    const plainFamily = new HistogramFamily({ name: "t_plain_seconds", help: "No labels.", labelNames: [], buckets: [1, 2], registers: [ours] });
    const plain = new Histogram({ name: "t_plain_seconds", help: "No labels.", buckets: [1, 2], registers: [theirs] });
    const samples = [0, 0.002, 0.0021, 0.3, 2.5, 3, 100, 0.1 + 0.2, 1e-9];
    for (const probe of TRICKY) {
      for (const phase of ["resolve", "connect"]) {
        const series = family.add(labelSet({ probe }), family.own({ phase }));
        for (const value of samples) {
          family.observe(series, value);
          histogram.observe({ probe, phase }, value);
        }
      }
    }
    const plainSeries = plainFamily.add(labelSet({}));
    for (const value of [0.5, 1.5, 5]) {
      plainFamily.observe(plainSeries, value);
      plain.observe(value);
    }
    expect(await rendered(family)).toBe(await theirs.getSingleMetricAsString("t_seconds"));
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    expect(() => family.observe(plainSeries, Number.NaN)).toThrow(/not a number/);
  });

  it("an empty family is its HELP and TYPE only, as in prom-client", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const family = new GaugeFamily({ name: "t_empty", help: "Nothing yet.", labelNames: ["probe"], registers: [ours] });
    new Gauge({ name: "t_empty", help: "Nothing yet.", labelNames: ["probe"], registers: [theirs] });
    expect(await rendered(family)).toBe("# HELP t_empty Nothing yet.\n# TYPE t_empty gauge");
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it("removed series are gone; a relabelled series is one line under its new labels, in its place", async () => {
    const family = new GaugeFamily({ name: "t_status", help: "Status.", labelNames: ["probe", "status"] });
    const a = family.add(labelSet({ probe: "a" }), family.own({ status: "pending" }), 1);
    family.add(labelSet({ probe: "b" }), family.own({ status: "ok" }), 1);
    family.relabel(a, family.own({ status: "ok" }));
    expect((await rendered(family)).split("\n").slice(2)).toEqual(['t_status{probe="a",status="ok"} 1', 't_status{probe="b",status="ok"} 1']);
    family.remove(a);
    expect((await rendered(family)).split("\n").slice(2)).toEqual(['t_status{probe="b",status="ok"} 1']);
  });

  it("refuses labels the family does not have", () => {
    const family = new GaugeFamily({ name: "t_strict", help: "Strict.", labelNames: ["probe"] });
    expect(() => family.add(labelSet({ probe: "a", pod: "web-0" }))).toThrow(/label pod is not one of its labels/);
    expect(() => new HistogramFamily({ name: "t_le", help: "le.", labelNames: ["le"], buckets: [1] })).toThrow(/le is a reserved label/);
  });

  it("pauses while writing many series, and a series removed while it pauses is not written", async () => {
    const family = new GaugeFamily({ name: "t_many", help: "Many.", labelNames: ["probe"] });
    const series = Array.from({ length: 1000 }, (_, i) => family.add(labelSet({ probe: `p${i}` }), undefined, i));
    let removed = false;
    const sink = collect();
    const pause = sink.pause.bind(sink);
    sink.pause = () => {
      // While the writer waits, the last series goes away.
      if (!removed) family.remove(series.at(-1) as (typeof series)[number]);
      removed = true;
      return pause();
    };
    await family.render(sink);
    const lines = sink.text().split("\n").slice(2);
    expect(sink.pauses).toBeGreaterThan(10);
    expect(lines).toHaveLength(999);
    expect(lines.at(-1)).toBe('t_many{probe="p998"} 998');
  });
});
