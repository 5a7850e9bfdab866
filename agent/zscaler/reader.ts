// How the rest of the agent reads Zscaler's feeds: the current data per cloud and kind, and
// (for feeds kept live) a change listener. A leaf: the feeds' users need nothing else of them.

import type { FeedData, FeedKind } from "./feeds.js";

export interface FeedReader {
  current(cloud: string, kind: FeedKind): FeedData | undefined;
}

/** Feeds kept current, told about each change (zscaler/updater.ts, or a test's). */
export interface LiveFeeds extends FeedReader {
  onChange(listener: (cloud: string, kind: FeedKind) => void): () => void;
}
