// The Zscaler feeds an agent keeps current: created from the config's zscaler block,
// replaced when it changes (settingsKeyOf), the last good data from disk first.

import type { Dispatcher } from "undici";
import { jsonOf } from "../addresses/ip.js";
import type { Logger } from "../log/log.js";
import { startTimer, type Timer } from "../schedule/timers.js";
import { dispatcherFromEnvironment } from "./fetch.js";
import type { ZscalerSettings } from "./settings.js";
import { type ZscalerMetricsSink, ZscalerFeeds } from "./updater.js";

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
