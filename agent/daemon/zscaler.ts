// The agent's Zscaler side: the feeds it keeps current (created from the config, replaced
// when the config's zscaler block changes) and the coverage audit: which published ranges
// each source's egress policies leave uncovered.

import type { Dispatcher } from "undici";
import { type Cidr, jsonOf, parseCidr } from "../addresses/ip.js";
import type { ZscalerSettings } from "../config/model.js";
import type { Endpoint, PolicyIndex } from "../policy/engine.js";
import { startTimer, type Timer } from "../schedule/timers.js";
import type { SourceIdentity } from "../verdicts/policy.js";
import { uncoveredRanges } from "../zscaler/audit.js";
import type { CenrFeed, FeedKind } from "../zscaler/feeds.js";
import { dispatcherFromEnvironment } from "../zscaler/fetch.js";
import { type ZscalerMetricsSink, ZscalerFeeds } from "../zscaler/updater.js";
import type { Logger } from "./log.js";

export class ZscalerRuntime {
  private constructor(
    readonly feeds: ZscalerFeeds,
    readonly settingsKey: string,
    private readonly dispatcher: Dispatcher | undefined,
  ) {}

  /** Feeds for these settings (the last good data on disk is read by start()). */
  static async create(settings: ZscalerSettings, logger: Logger, metrics: ZscalerMetricsSink): Promise<ZscalerRuntime> {
    // HTTP(S)_PROXY / NO_PROXY: config.zscaler.com is often reached through a proxy.
    const dispatcher = await dispatcherFromEnvironment(settings.baseUrl);
    const feeds = new ZscalerFeeds({
      clouds: settings.clouds,
      kinds: settings.feeds,
      fetch: { baseUrl: settings.baseUrl, timeoutMs: settings.timeoutMs, maxBytes: settings.maxBytes, retries: 3, retryBaseMs: 1000, ...(dispatcher ? { dispatcher } : {}) },
      refreshMs: settings.refreshMs,
      ...(settings.cacheDir !== undefined ? { cacheDir: settings.cacheDir } : {}),
      maxShrinkFraction: settings.maxShrinkFraction,
      removalGraceMs: settings.removalGraceMs,
      logger,
      metrics,
    });
    return new ZscalerRuntime(feeds, settingsKeyOf(settings), dispatcher);
  }

  /** The last good data from disk first, then refreshing on schedule. */
  async start(): Promise<void> {
    await this.feeds.loadCache();
    this.feeds.start();
  }

  /** For one round (netcanary once): cached data, then one refresh, within the deadline. */
  async refreshOnce(deadlineMs: number): Promise<void> {
    await this.feeds.loadCache();
    let timer: Timer | undefined;
    await Promise.race([this.feeds.refreshNow(), new Promise<void>((resolve) => (timer = startTimer(resolve, deadlineMs)))]);
    timer?.cancel();
  }

  async stop(): Promise<void> {
    await this.feeds.stop();
    await this.dispatcher?.close();
  }
}

export function settingsKeyOf(settings: ZscalerSettings): string {
  // The audit part does not need new feeds.
  return jsonOf({ ...settings, audit: null });
}

/** Published ranges of one feed, svpn addresses of CENR included. */
function rangesOf(data: { cidrs: readonly string[] }, kind: FeedKind): Cidr[] {
  const texts = kind === "cenr" ? [...data.cidrs, ...(data as CenrFeed).svpnIps.map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`))] : data.cidrs;
  return texts.flatMap((text) => {
    const parsed = parseCidr(text);
    return parsed.ok ? [parsed.value] : [];
  });
}

/** What the audit found for one source and cloud: the uncovered published ranges per feed. */
export interface CoverageFinding {
  readonly source: string;
  readonly cloud: string;
  readonly uncovered: ReadonlyMap<FeedKind, readonly string[]>;
}

/**
 * For every source that is a pod (outside the cluster no policy applies) and every cloud:
 * the ranges of the audited feeds its egress does not allow on every audited port.
 */
export function auditCoverage(
  index: PolicyIndex,
  sources: readonly SourceIdentity[],
  settings: ZscalerSettings,
  current: (cloud: string, kind: FeedKind) => { cidrs: readonly string[] } | undefined,
): CoverageFinding[] {
  if (!settings.audit) return [];
  const findings: CoverageFinding[] = [];
  for (const source of sources) {
    if (!source.pod) continue;
    const endpoint: Endpoint = { kind: "pod", pod: source.pod };
    for (const cloud of settings.clouds) {
      const uncovered = new Map<FeedKind, readonly string[]>();
      for (const kind of settings.audit.feeds) {
        const data = current(cloud, kind);
        if (!data) continue;
        uncovered.set(kind, uncoveredRanges(index, endpoint, rangesOf(data, kind), settings.audit.ports).map((cidr) => cidr.text));
      }
      findings.push({ source: source.name, cloud, uncovered });
    }
  }
  return findings;
}

/** One sentence for an edge's explanation, or undefined when nothing is uncovered. */
export function describeGap(finding: CoverageFinding | undefined, ports: readonly number[]): string | undefined {
  if (!finding) return undefined;
  const missing = [...finding.uncovered.entries()].filter(([, ranges]) => ranges.length > 0);
  if (missing.length === 0) return undefined;
  const all = [...new Set(missing.flatMap(([, ranges]) => ranges))];
  const shown = all.slice(0, 5).join(", ");
  return `the egress policies of ${finding.source} leave ${all.length} published range(s) of ${finding.cloud} uncovered on ports ${ports.join(",")} (${missing.map(([kind]) => kind).join(", ")}): ${shown}${all.length > 5 ? ", ..." : ""}`;
}
