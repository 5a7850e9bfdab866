// The agent's Zscaler settings after validation (config/schema.ts reads them from the
// config's zscaler block): a leaf, so that the Zscaler side needs nothing of the config.

import type { FeedKind } from "./feeds.js";

export interface ZscalerSettings {
  /** Every cloud configured or named by a target or answersIn. */
  readonly clouds: readonly string[];
  readonly baseUrl: string;
  readonly refreshMs: number;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** Where the last good data survives restarts (an emptyDir or volume in a cluster). */
  readonly cacheDir?: string;
  /** A payload that loses more than this fraction of the ranges is refused. */
  readonly maxShrinkFraction: number;
  /** Ranges that disappear stay this long before they are dropped. */
  readonly removalGraceMs: number;
  readonly feeds: readonly FeedKind[];
  /** The coverage audit: which feeds' ranges each source's egress must allow, on which ports. */
  readonly audit: { readonly feeds: readonly FeedKind[]; readonly ports: readonly number[] } | null;
}
