// Metric families whose series grow with the edges, kept lean and written out in slices.
//
// prom-client builds a label object, a hash and an entry per series, and renders every line
// from scratch on each scrape in one synchronous block: with thousands of edges that block
// outlasts the starvation threshold, and the per-series objects dominate the agent's heap. A
// family here holds, per series, a shared pre-rendered label set (the edge's labels, rendered
// once for all its families) plus a small interned one for the family's own labels, and its
// numbers. Its text is written piece by piece, pausing as it goes (schedule/slices.ts). The
// text is exactly what prom-client writes for the same series (HELP and TYPE, label order and
// escaping, number format, a histogram's le first), and a family registers in a prom-client
// Registry like any metric, so registry.metrics() still shows everything; tests hold the two
// to the same bytes.

import type { Registry } from "prom-client";
import type { TextSink } from "../text/sink.js";

type LabelValues = Readonly<Record<string, string>>;

/** Labels rendered once: `a="x",b="y"`, escaped as prom-client escapes them, in key order. */
export interface LabelSet {
  readonly labels: LabelValues;
  readonly text: string;
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** labels: any object of string fields (EdgeLabels too). */
export function labelSet<T extends { readonly [K in keyof T]: string }>(fields: T): LabelSet {
  const labels = fields as unknown as LabelValues;
  return { labels, text: Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",") };
}

const NO_LABELS: LabelSet = labelSet({});

/** A number as prom-client writes it. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "Nan";
  if (!Number.isFinite(value)) return value < 0 ? "-Inf" : "+Inf";
  return `${value}`;
}

export type FamilyType = "gauge" | "counter" | "histogram";

interface FamilyOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly registers?: readonly Registry[];
}

interface SeriesBase {
  readonly base: LabelSet;
  own: LabelSet;
}

/** A prom-client value entry (what Registry.getMetricsAsString reads). */
interface PromValue {
  labels: Record<string, string | number>;
  sharedLabels?: LabelValues;
  value: number;
  metricName?: string;
  /** prom-client's histograms carry null here (no exemplars). */
  exemplar?: null;
}

/** Check a series' work every this many series (reading the clock costs a little). */
const CHECK_EVERY = 32;

abstract class Family<S extends SeriesBase> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: FamilyType;
  readonly aggregator = "sum";
  protected readonly series = new Set<S>();
  private readonly labelNames: ReadonlySet<string>;
  /** The family's own label sets, interned: their values are few (a kind, a phase, a result). */
  private readonly owns = new Map<string, LabelSet>();

  constructor(options: FamilyOptions) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = new Set(options.labelNames);
    for (const registry of options.registers ?? []) registry.registerMetric(this as never);
  }

  /** A label set of this family's own labels; interned unless unique (info labels). */
  own(labels: LabelValues, intern = true): LabelSet {
    if (!intern) return labelSet(labels);
    const key = JSON.stringify(labels);
    let found = this.owns.get(key);
    if (!found) {
      found = labelSet(labels);
      this.owns.set(key, found);
    }
    return found;
  }

  protected check(base: LabelSet, own: LabelSet): void {
    for (const name of [...Object.keys(base.labels), ...Object.keys(own.labels)]) {
      if (!this.labelNames.has(name)) throw new Error(`${this.name}: label ${name} is not one of its labels`);
    }
  }

  /** The series stops being exported. */
  remove(series: S): void {
    this.series.delete(series);
  }

  /** The same series under other own labels (a status that changed): one line, never two. */
  relabel(series: S, own: LabelSet): void {
    this.check(series.base, own);
    series.own = own;
  }

  /** prom-client's reset(): every series goes. */
  reset(): void {
    this.series.clear();
  }

  /** Writes the series' lines, each after a newline. */
  protected abstract writeLines(series: S, sink: TextSink): void;
  protected abstract promValues(series: S): PromValue[];

  /** HELP, TYPE and every series' lines, as prom-client writes them, without the final newline; in slices. */
  async render(sink: TextSink): Promise<void> {
    sink.write(`# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}`);
    let count = 0;
    // A Set's iterator skips series removed meanwhile and reaches those added: every series
    // still there is written once.
    for (const series of this.series) {
      this.writeLines(series, sink);
      if (++count % CHECK_EVERY === 0) await sink.pause();
    }
  }

  /** `{labels}` of a series, or nothing; `extra` first (a histogram's le). */
  protected writeLabels(series: S, sink: TextSink, extra?: string): void {
    const { base, own } = series;
    if (extra === undefined && base.text === "" && own.text === "") return;
    sink.write("{");
    let comma = false;
    for (const part of [extra, base.text, own.text]) {
      if (part === undefined || part === "") continue;
      if (comma) sink.write(",");
      sink.write(part);
      comma = true;
    }
    sink.write("}");
  }

  /** For prom-client's Registry (registry.metrics(), getMetricsAsJSON()): the same data, its way. */
  async getForPromString(): Promise<{ name: string; help: string; type: FamilyType; values: PromValue[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: [...this.series].flatMap((series) => this.promValues(series)), aggregator: this.aggregator };
  }

  async get(): Promise<{ name: string; help: string; type: FamilyType; values: PromValue[]; aggregator: string }> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }
}

export interface NumberSeries extends SeriesBase {
  value: number;
}

abstract class NumberFamily extends Family<NumberSeries> {
  /** A new series (the caller keeps it, to write to it and to remove it). */
  add(base: LabelSet, own: LabelSet = NO_LABELS, value = 0): NumberSeries {
    this.check(base, own);
    const series: NumberSeries = { base, own, value };
    this.series.add(series);
    return series;
  }

  protected writeLines(series: NumberSeries, sink: TextSink): void {
    sink.write(`\n${this.name}`);
    this.writeLabels(series, sink);
    sink.write(` ${formatValue(series.value)}`);
  }

  protected promValues(series: NumberSeries): PromValue[] {
    return [{ labels: { ...series.base.labels, ...series.own.labels }, value: series.value }];
  }
}

export class GaugeFamily extends NumberFamily {
  readonly type = "gauge";
}

export class CounterFamily extends NumberFamily {
  readonly type = "counter";

  inc(series: NumberSeries, by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new Error(`${this.name}: a counter only goes up (by ${by})`);
    series.value += by;
  }
}

export interface HistogramSeries extends SeriesBase {
  /** Observations per bucket (not cumulative), one per upper bound. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = "histogram";
  private readonly bounds: readonly number[];
  private readonly boundTexts: readonly string[];
  private readonly bucketName: string;

  constructor(options: FamilyOptions & { readonly buckets: readonly number[] }) {
    super(options);
    if (options.labelNames.includes("le")) throw new Error(`${options.name}: le is a reserved label`);
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    this.boundTexts = this.bounds.map((bound) => `le="${bound}"`);
    this.bucketName = `\n${this.name}_bucket`;
  }

  add(base: LabelSet, own: LabelSet = NO_LABELS): HistogramSeries {
    this.check(base, own);
    const series: HistogramSeries = { base, own, buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 };
    this.series.add(series);
    return series;
  }

  observe(series: HistogramSeries, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.name}: not a number: ${value}`);
    const index = this.bounds.findIndex((bound) => value <= bound);
    if (index >= 0) (series.buckets as Float64Array)[index] = ((series.buckets as Float64Array)[index] as number) + 1;
    series.sum += value;
    series.count += 1;
  }

  protected writeLines(series: HistogramSeries, sink: TextSink): void {
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += series.buckets[i] as number;
      sink.write(this.bucketName);
      this.writeLabels(series, sink, this.boundTexts[i]);
      sink.write(` ${formatValue(cumulative)}`);
    }
    sink.write(this.bucketName);
    this.writeLabels(series, sink, 'le="+Inf"');
    sink.write(` ${formatValue(series.count)}\n${this.name}_sum`);
    this.writeLabels(series, sink);
    sink.write(` ${formatValue(series.sum)}\n${this.name}_count`);
    this.writeLabels(series, sink);
    sink.write(` ${formatValue(series.count)}`);
  }

  protected promValues(series: HistogramSeries): PromValue[] {
    const shared = { ...series.base.labels, ...series.own.labels };
    let cumulative = 0;
    const buckets: PromValue[] = this.bounds.map((le, i) => {
      cumulative += series.buckets[i] as number;
      return { labels: { le }, sharedLabels: shared, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null };
    });
    return [
      ...buckets,
      { labels: { le: "+Inf" }, sharedLabels: shared, value: series.count, metricName: `${this.name}_bucket`, exemplar: null },
      { labels: {}, sharedLabels: shared, value: series.sum, metricName: `${this.name}_sum` },
      { labels: {}, sharedLabels: shared, value: series.count, metricName: `${this.name}_count` },
    ];
  }
}

/** Is this registered metric one of these families (rendered in slices)? */
export function isSlicedFamily(metric: unknown): metric is { render(sink: TextSink): Promise<void>; readonly name: string } {
  return metric instanceof Family;
}
