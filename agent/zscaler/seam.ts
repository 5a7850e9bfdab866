// The one seam between the agent and Zscaler: the feeds it keeps (from the config, or given
// by a test), the coverage audit and the annotations it puts on edges (a coverage gap in a
// Zscaler target's explanation, the data centre cities of DNS answers, the path a path
// check's page shows, placed in the published data centres). The daemon calls
// this and knows nothing of clouds; the Zscaler address kind is targets/addresses/zscaler.ts.

import type { Logger } from "../log/log.js";
import type { PolicyIndex } from "../policy/engine.js";
import { type Cidr, cidrContainsIp, type IpAddress } from "../addresses/ip.js";
import { zscalerRanges } from "./answers.js";
import type { CheckPageResult } from "./check-page.js";
import { centresOf, describeAnswerCities } from "./cities.js";
import { type AuditedSource, auditCoverage, type CoverageFinding, describeGap } from "./coverage.js";
import type { CenrFeed } from "./feeds.js";
import { noPage, observePath, type PathExpectation, type PathObservation } from "./path.js";
import type { FeedReader, LiveFeeds } from "./reader.js";
import { settingsKeyOf, ZscalerRuntime } from "./runtime.js";
import type { ZscalerSettings } from "./settings.js";
import type { ZscalerMetricsSink } from "./updater.js";

/** Where the seam reports: the audit's gauge, and the feeds' sink. */
export interface ZscalerSeamMetrics {
  readonly uncovered: {
    set(labels: { source: string; cloud: string; feed: string }, value: number): void;
    remove(labels: { source: string; cloud: string; feed: string }): void;
  };
  readonly feeds: ZscalerMetricsSink;
}

/** An edge's address as config/model.ts has it, structurally: a Zscaler cloud's, or another kind. */
export interface ReachedAddress {
  readonly kind: string;
  readonly cloud?: string;
}

/** What the seam reads of an edge (targets/edges.ts Edge, structurally). */
export interface AnnotatedEdge {
  readonly source: { readonly name: string };
  /** Its target: an address itself (tcp:), or one that holds its address apart (http:). */
  readonly probe: { readonly target: ReachedAddress | { readonly kind: string; readonly address: ReachedAddress } };
  /** Clouds whose data centres the edge's DNS answers are mapped to. */
  readonly zscalerClouds?: readonly string[];
  /** A path check: its outcomes get the path their page shows. */
  readonly pathExpect?: PathExpectation;
}

/** What the seam reads and writes of a probe's outcome (probes/prober.ts ProbeOutcome, structurally). */
export interface AnnotatedOutcome {
  readonly reason: string;
  readonly answers?: readonly string[];
  readonly detail?: string;
  readonly checkPage?: CheckPageResult;
  readonly path?: PathObservation;
}

export interface ZscalerSeamOptions {
  readonly logger: Logger;
  readonly metrics: ZscalerSeamMetrics;
  /** Feeds kept by someone else (tests): the seam then never makes its own. */
  readonly feeds?: LiveFeeds;
}

export type { AuditedSource } from "./coverage.js";
export type { FeedReader, LiveFeeds } from "./reader.js";

export class ZscalerSeam {
  private settings: ZscalerSettings | null;
  /** The feeds this agent keeps (unless options.feeds were given). */
  private runtime: ZscalerRuntime | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Called on every change of the feeds, once following. */
  private onChange: (() => void) | undefined;
  /** The coverage audit's last findings, by "source|cloud". */
  private coverage = new Map<string, CoverageFinding>();

  private constructor(
    settings: ZscalerSettings | null,
    runtime: ZscalerRuntime | undefined,
    private readonly options: ZscalerSeamOptions,
  ) {
    this.settings = settings;
    this.runtime = runtime;
  }

  /** The seam for these settings (null: nothing uses Zscaler's feeds). */
  static async create(settings: ZscalerSettings | null, options: ZscalerSeamOptions): Promise<ZscalerSeam> {
    const runtime = settings && !options.feeds ? await ZscalerRuntime.create(settings, options.logger, options.metrics.feeds) : undefined;
    return new ZscalerSeam(settings, runtime, options);
  }

  /** Where Zscaler data comes from: given (tests), or the feeds this agent keeps. */
  get feeds(): FeedReader | undefined {
    return this.options.feeds ?? this.runtime?.feeds;
  }

  private get live(): LiveFeeds | undefined {
    return this.options.feeds ?? this.runtime?.feeds;
  }

  /** Follows the feeds (onChange on every change), the last good data from disk first. */
  async start(onChange: () => void): Promise<void> {
    this.onChange = onChange;
    // Listening first: the data start() publishes from the cache must reach the listener
    // (a first fetch that finds nothing new publishes nothing).
    this.unsubscribe = this.live?.onChange(() => onChange());
    await this.runtime?.start();
  }

  /** For one round (netcanary once): the data as fresh as the deadline allows; false without feeds of its own. */
  async refreshOnce(deadlineMs: number): Promise<boolean> {
    if (!this.runtime) return false;
    await this.runtime.refreshOnce(deadlineMs);
    return true;
  }

  /** The settings the audit and the annotations follow (a config applied). */
  configure(settings: ZscalerSettings | null): void {
    this.settings = settings;
  }

  /** New feeds when the settings (other than the audit) changed; they follow at once if the old ones did. */
  async replaceFeeds(settings: ZscalerSettings | null): Promise<void> {
    if (this.options.feeds) return;
    const wanted = settings ? settingsKeyOf(settings) : undefined;
    if (wanted === this.runtime?.settingsKey) return;
    const old = this.runtime;
    this.unsubscribe?.();
    this.runtime = settings ? await ZscalerRuntime.create(settings, this.options.logger, this.options.metrics.feeds) : undefined;
    await old?.stop();
    const onChange = this.onChange;
    if (onChange && this.runtime) {
      this.unsubscribe = this.runtime.feeds.onChange(() => onChange());
      await this.runtime.start();
    }
  }

  async stop(): Promise<void> {
    this.onChange = undefined;
    this.unsubscribe?.();
    await this.runtime?.stop();
  }

  /** The coverage audit: metrics, a log line when a finding changes, gaps for Zscaler edges. */
  audit(index: PolicyIndex | undefined, sources: () => readonly AuditedSource[]): void {
    const { settings, feeds } = this;
    const { logger: log, metrics } = this.options;
    const findings = settings && index && feeds ? auditCoverage(index, sources(), settings, (cloud, kind) => feeds.current(cloud, kind)) : [];
    const next = new Map(findings.map((finding) => [`${finding.source}|${finding.cloud}`, finding]));
    for (const [key, finding] of this.coverage) {
      if (next.has(key)) continue;
      for (const feed of finding.uncovered.keys()) metrics.uncovered.remove({ source: finding.source, cloud: finding.cloud, feed });
    }
    for (const [key, finding] of next) {
      const before = this.coverage.get(key);
      for (const [feed, ranges] of finding.uncovered) {
        metrics.uncovered.set({ source: finding.source, cloud: finding.cloud, feed }, ranges.length);
        const previous = before?.uncovered.get(feed);
        if (previous !== undefined && previous.join() === ranges.join()) continue;
        const fields = { source: finding.source, cloud: finding.cloud, feed, uncovered: ranges.length, ranges: ranges.slice(0, 50) };
        if (ranges.length > 0) log.warn(fields, `egress of ${finding.source} leaves ${ranges.length} published ${feed} range(s) of ${finding.cloud} uncovered`);
        else if (previous && previous.length > 0) log.info(fields, `egress of ${finding.source} now covers every published ${feed} range of ${finding.cloud}`);
      }
    }
    this.coverage = next;
  }

  /**
   * Places addresses in the followed clouds' published ranges (the traffic map's peers): the
   * cloud, the smallest published range holding the address, and the data centre's city when
   * the CENR feed puts it in exactly one. The ranges are parsed once per call of placer().
   */
  placer(): (ip: IpAddress) => { cloud: string; city?: string; range: string } | undefined {
    const feeds = this.feeds;
    const clouds = (this.settings?.clouds ?? []).map((cloud) => ({
      cloud,
      ranges: [...(zscalerRanges(feeds, cloud) ?? [])].sort((a: Cidr, b: Cidr) => b.prefix - a.prefix),
      cenr: feeds?.current(cloud, "cenr") as CenrFeed | undefined,
    }));
    return (ip) => {
      for (const { cloud, ranges, cenr } of clouds) {
        const range = ranges.find((cidr) => cidrContainsIp(cidr, ip));
        if (range === undefined) continue;
        const centres = cenr ? centresOf(cenr, ip.text) : [];
        return { cloud, range: range.text, ...(centres.length === 1 && centres[0] ? { city: centres[0].city } : {}) };
      }
      return undefined;
    };
  }

  /** For an edge to a Zscaler target: the sentence saying which published ranges its source's egress leaves uncovered. */
  coverageGap(edge: AnnotatedEdge): string | undefined {
    const { target: configured } = edge.probe;
    const target = "address" in configured ? configured.address : configured;
    if (target.kind !== "zscaler" || target.cloud === undefined) return undefined;
    return describeGap(this.coverage.get(`${edge.source.name}|${target.cloud}`), this.settings?.audit?.ports ?? []);
  }

  /**
   * An outcome's DNS answers with the data centre cities they belong to, in its detail; a path
   * check's page as a path, its egress placed in the clouds this agent follows.
   */
  annotateOutcome<Outcome extends AnnotatedOutcome>(edge: AnnotatedEdge, outcome: Outcome): Outcome {
    if (edge.pathExpect !== undefined) return this.annotatePath(outcome);
    return this.annotateAnswers(edge, outcome);
  }

  private annotatePath<Outcome extends AnnotatedOutcome>(outcome: Outcome): Outcome {
    const feeds = this.feeds;
    const published = { clouds: this.settings?.clouds ?? [], cenr: (cloud: string) => feeds?.current(cloud, "cenr") as CenrFeed | undefined };
    const { checkPage, ...rest } = outcome;
    const path = checkPage === undefined ? noPage(`no check page: ${outcome.reason}`) : observePath(checkPage, published);
    // The outcome as it was, its page replaced by the path (both optional in AnnotatedOutcome).
    return { ...rest, path } as Outcome;
  }

  private annotateAnswers<Outcome extends AnnotatedOutcome>(edge: AnnotatedEdge, outcome: Outcome): Outcome {
    if (!edge.zscalerClouds || !outcome.answers || outcome.answers.length === 0) return outcome;
    const cenr = edge.zscalerClouds.map((cloud) => this.feeds?.current(cloud, "cenr") as CenrFeed | undefined).find(Boolean);
    const cities = describeAnswerCities(cenr, outcome.answers).join("; ");
    return { ...outcome, detail: outcome.detail ? `${outcome.detail}; ${cities}` : cities };
  }
}
