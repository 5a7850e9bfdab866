// The /metrics text of a prom-client Registry, built in slices, kept compressed, shared.
//
// A build writes the registry's families in its order, exactly as registry.metrics() would,
// but never in one block: the families that grow with the edges write themselves piece by
// piece (metrics/series.ts), the others one at a time (each is small), and the loop is given
// back whenever a slice is spent (schedule/slices.ts). The text goes through gzip (zlib works
// on the thread pool, off the event loop) as it is written: what is kept is the compressed
// text, some 50 times smaller than the text, so the exposition's size is no memory problem.
// Prometheus asks for gzip and gets those bytes as they are; a client that does not is
// written the text afresh (render(), into its response).
//
// Scrapers share builds: a finished text is served again for a while: at least MIN_AGE_MS and
// AGE_FACTOR times what the build took (so exposition takes at most about 1/AGE_FACTOR of the
// agent's time, however many scrapers ask how often), at most MAX_AGE_MS. When a verdict has
// changed since the text's build began (a count the agent keeps, verdictChanges), it is served
// only CHANGED_AGE_FACTOR times what its build took (at least MIN_AGE_MS): an alert's series
// follows its verdict within about three builds instead of six, and exposition still takes at
// most half the agent's time while verdicts change all the time, as scrapes alone cannot make
// it rebuild sooner. The scraper that
// asks once it is older starts a build and waits for it; one that asks while a build runs gets
// the previous text at once (the build itself only when there is none yet). So however many
// ask, at most one connection waits on a build: a connection waiting on the agent counts as
// alive when room is needed (connections.ts), and an attacker must not be able to make many.

import { once } from "node:events";
import { constants, createGzip } from "node:zlib";
import type { Registry } from "prom-client";
import { isSlicedFamily } from "../metrics/series.js";
import { type Slices, slices as sharedSlices } from "../schedule/slices.js";
import { PacedWriter } from "./chunks.js";
import type { TextSink } from "../text/sink.js";

export const MIN_AGE_MS = 500;
export const AGE_FACTOR = 4;
export const CHANGED_AGE_FACTOR = 1;
export const MAX_AGE_MS = 10_000;

/** The exposition, gzip-compressed (one gzip member), and the size of the text it holds. */
export interface CompressedText {
  readonly gzip: readonly Buffer[];
  readonly gzipBytes: number;
  readonly textBytes: number;
}

/** The registry's text as registry.metrics() gives it (families apart by a blank line), paced. */
export async function renderRegistry(registry: Registry, sink: TextSink): Promise<void> {
  let first = true;
  for (const metric of registry.getMetricsAsArray()) {
    await sink.pause();
    if (!first) sink.write("\n\n");
    first = false;
    if (isSlicedFamily(metric)) await metric.render(sink);
    else sink.write(await registry.getSingleMetricAsString(metric.name));
  }
  sink.write("\n");
}

/** Renders the registry through gzip. */
export async function compressRegistry(registry: Registry, slices: Slices): Promise<CompressedText> {
  // Level 1: the text is so repetitive that more effort gains little (29 MiB -> 0.6 MiB).
  const gzip = createGzip({ level: constants.Z_BEST_SPEED });
  const out: Buffer[] = [];
  let gzipBytes = 0;
  gzip.on("data", (chunk: Buffer) => {
    out.push(chunk);
    gzipBytes += chunk.length;
  });
  const ended = once(gzip, "end");
  ended.catch(() => undefined); // awaited below; a failure before that must not go unhandled
  try {
    const writer = new PacedWriter(slices, gzip);
    await renderRegistry(registry, writer);
    const textBytes = writer.end();
    gzip.end();
    await ended;
    return { gzip: out, gzipBytes, textBytes };
  } catch (error) {
    gzip.destroy();
    throw error;
  }
}

export interface ExpositionOptions {
  readonly slices?: Slices;
  readonly minAgeMs?: number;
  readonly now?: () => number;
  /** A count that grows when a verdict changes (AgentMetrics.verdictChanges); none: never. */
  readonly verdictChanges?: () => number;
}

export class SharedExposition {
  private building: Promise<CompressedText> | undefined;
  private last: { text: CompressedText; finishedAt: number; tookMs: number; verdictChanges: number } | undefined;
  private readonly slices: Slices;
  private readonly minAgeMs: number;
  private readonly now: () => number;
  private readonly verdictChanges: () => number;
  private buildsStarted = 0;

  constructor(
    private readonly registry: Registry,
    options: ExpositionOptions = {},
  ) {
    this.slices = options.slices ?? sharedSlices;
    this.minAgeMs = options.minAgeMs ?? MIN_AGE_MS;
    this.now = options.now ?? (() => performance.now());
    this.verdictChanges = options.verdictChanges ?? (() => 0);
  }

  /** Builds started: how many scrapes really cost a build. */
  get builds(): number {
    return this.buildsStarted;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text written afresh, uncompressed, into a sink (a response), paced. */
  render(sink: TextSink): Promise<void> {
    return renderRegistry(this.registry, sink);
  }

  /** The current text: a fresh enough one; while a build runs, the previous one (or that build if none); else a new build. */
  text(): Promise<CompressedText> {
    const last = this.last;
    if (this.building) return last ? Promise.resolve(last.text) : this.building;
    if (last && this.now() - last.finishedAt < this.servedFor(last)) return Promise.resolve(last.text);
    const started = this.now();
    const verdictChanges = this.verdictChanges();
    const build = compressRegistry(this.registry, this.slices).then((text) => {
      const finishedAt = this.now();
      this.last = { text, finishedAt, tookMs: finishedAt - started, verdictChanges };
      return text;
    });
    this.building = build;
    this.buildsStarted++;
    // A failed build is not kept: the next caller tries again.
    const clear = () => {
      if (this.building === build) this.building = undefined;
    };
    build.then(clear, clear);
    return build;
  }

  /** How long a finished text is served again: shorter once a verdict has changed since its build began. */
  private servedFor(last: { tookMs: number; verdictChanges: number }): number {
    const factor = this.verdictChanges() === last.verdictChanges ? AGE_FACTOR : CHANGED_AGE_FACTOR;
    return Math.min(MAX_AGE_MS, Math.max(this.minAgeMs, factor * last.tookMs));
  }
}
