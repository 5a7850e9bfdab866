// Comparing two fetches of the same feed. Feeds reorder rows between fetches (a third of all
// byte changes are ordering only), so everything here works on the normalised data from
// parseFeed: sets of canonical CIDRs, never bytes.

import { createHash } from "node:crypto";
import type { DataCentre, FeedData, FeedResult, ZpaEntry } from "./feeds.js";

export interface FeedDiff {
  /** In next, not in previous; canonical CIDR text in address order. */
  readonly added: readonly string[];
  /** In previous, not in next; canonical CIDR text in address order. */
  readonly removed: readonly string[];
  /** How many ranges are in both. */
  readonly unchanged: number;
}

/** Set difference of two lists of canonical texts; keeps the input order of each list. */
export function diffLists(previous: readonly string[], next: readonly string[]): FeedDiff {
  const before = new Set(previous);
  const after = new Set(next);
  const added = [...after].filter((item) => !before.has(item));
  const removed = [...before].filter((item) => !after.has(item));
  return { added, removed, unchanged: after.size - added.length };
}

/**
 * The ranges (`cidrs`) added and removed between two parses of one feed. Only the range set is
 * compared: for a CENR feed, use diffLists on `svpnIps` for the svpn addresses, and hashFeed to
 * notice any other change (a hostname moving city, a new GRE VIP).
 */
export function diffFeeds(previous: FeedData, next: FeedData): FeedDiff {
  return diffLists(previous.cidrs, next.cidrs);
}

/** The canonical normalised form hashFeed digests: JSON of everything but counts and skipped rows. */
export function canonicalFeed(data: FeedData): string {
  const common = { kind: data.kind, cloud: data.cloud, cidrs: data.cidrs };
  switch (data.kind) {
    case "cenr":
      return JSON.stringify({ ...common, svpnIps: data.svpnIps, dataCentres: data.dataCentres.map(canonicalCentre) });
    case "svpn":
      return JSON.stringify({ ...common, ips: data.ips });
    case "zpa":
      return JSON.stringify({ ...common, content: data.content.map(canonicalZpaEntry) });
    case "hubs-required":
    case "hubs-recommended":
    case "future":
      return JSON.stringify(common);
  }
}

// Fixed key order, so data built by hand with other key orders hashes the same.
function canonicalCentre(centre: DataCentre): unknown[] {
  return [centre.continent, centre.city, centre.hostname, centre.vpn, centre.gre, centre.ext, centre.ranges];
}

function canonicalZpaEntry(entry: ZpaEntry): unknown[] {
  return [entry.protocol, entry.port, entry.source, entry.domains, entry.ips, entry.dateAdded];
}

/**
 * A stable content hash: "sha256:<hex>" of canonicalFeed. Payloads that differ only in row order,
 * duplicates or hostname case give the same hash.
 */
export function hashFeed(data: FeedData): string {
  return `sha256:${createHash("sha256").update(canonicalFeed(data)).digest("hex")}`;
}

/**
 * Refuses `next` as "shrunk" when it lost more than maxShrinkFraction (0 to 1) of the previous
 * ranges, e.g. 0.1 refuses a fetch that drops 11 of 100. Otherwise returns the diff.
 */
export function checkShrink(previous: FeedData, next: FeedData, maxShrinkFraction: number): FeedResult<FeedDiff> {
  if (!(maxShrinkFraction >= 0 && maxShrinkFraction <= 1)) {
    throw new RangeError(`maxShrinkFraction must be between 0 and 1, got ${maxShrinkFraction}`);
  }
  const diff = diffFeeds(previous, next);
  const before = previous.cidrs.length;
  if (before > 0 && diff.removed.length / before > maxShrinkFraction) {
    const percent = (value: number): string => `${Math.round(value * 1000) / 10}%`;
    return {
      ok: false,
      reason: {
        code: "shrunk",
        message:
          `${describeFeed(next)} lost ${diff.removed.length} of ${before} ranges (${percent(diff.removed.length / before)}, ` +
          `more than the allowed ${percent(maxShrinkFraction)}); keeping the previous set`,
      },
    };
  }
  return { ok: true, value: diff };
}

function describeFeed(feed: FeedData): string {
  return `${feed.kind} feed for ${feed.cloud}`;
}
