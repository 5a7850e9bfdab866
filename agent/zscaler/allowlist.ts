// The egress allowlist for one Zscaler cloud: the union of the selected feeds' ranges,
// collapsed to the fewest CIDRs covering exactly the same addresses.

import { type Cidr, parseCidr } from "../addresses/ip.js";
import { setFromCidrs, setToCidrs } from "../addresses/ranges.js";
import type { CenrFeed, FeedData, FutureFeed, HubsFeed, SvpnFeed } from "./feeds.js";

export interface AllowlistFeeds {
  readonly future?: FutureFeed;
  readonly hubsRecommended?: HubsFeed<"hubs-recommended">;
  readonly hubsRequired?: HubsFeed<"hubs-required">;
  readonly cenr?: CenrFeed;
  readonly svpn?: SvpnFeed;
}

export type AllowlistSource = keyof AllowlistFeeds;

const SLOT_KIND: Readonly<Record<AllowlistSource, FeedData["kind"]>> = {
  future: "future",
  hubsRecommended: "hubs-recommended",
  hubsRequired: "hubs-required",
  cenr: "cenr",
  svpn: "svpn",
};

/**
 * The smallest selection covering one ZIA cloud: `future` alone misses hub prefixes that sit in
 * third-party address space, and `recommended` already contains every `required` prefix.
 */
export const SMALLEST_ZIA_ALLOWLIST: readonly AllowlistSource[] = ["future", "hubsRecommended"];

export interface Allowlist {
  readonly cloud: string;
  readonly sources: readonly AllowlistSource[];
  /** Collapsed canonical CIDRs, IPv4 then IPv6, address order. */
  readonly cidrs: readonly string[];
  readonly ipv4: number;
  readonly ipv6: number;
}

export type AllowlistResult = { readonly ok: true; readonly value: Allowlist } | { readonly ok: false; readonly reason: string };

/**
 * Collapses the ranges of the selected feeds. "cenr" contributes its ranges and its svpnIPs
 * (as /32 and /128). Refuses an empty selection, a selected feed that is missing or of the
 * wrong kind, and feeds of different clouds.
 */
export function zscalerAllowlist(feeds: AllowlistFeeds, selection: readonly AllowlistSource[]): AllowlistResult {
  const sources = [...new Set(selection)];
  if (sources.length === 0) return { ok: false, reason: "no feeds selected" };
  const cidrs: Cidr[] = [];
  let cloud: string | null = null;
  for (const source of sources) {
    const feed = feeds[source];
    if (feed === undefined) return { ok: false, reason: `the ${source} feed is selected but missing` };
    if (feed.kind !== SLOT_KIND[source]) {
      return { ok: false, reason: `the ${source} slot holds a ${feed.kind} feed, expected ${SLOT_KIND[source]}` };
    }
    if (cloud !== null && feed.cloud !== cloud) {
      return { ok: false, reason: `the ${source} feed is for ${feed.cloud}, the others for ${cloud}` };
    }
    cloud = feed.cloud;
    const texts = feed.kind === "cenr" ? [...feed.cidrs, ...feed.svpnIps.map(hostCidr)] : feed.cidrs;
    for (const text of texts) {
      const parsed = parseCidr(text);
      if (!parsed.ok) return { ok: false, reason: `the ${source} feed holds ${parsed.reason}` };
      cidrs.push(parsed.value);
    }
  }
  const collapsed = setToCidrs(setFromCidrs(cidrs));
  return {
    ok: true,
    value: {
      cloud: cloud ?? "",
      sources,
      cidrs: collapsed.map((c) => c.text),
      ipv4: collapsed.filter((c) => c.family === 4).length,
      ipv6: collapsed.filter((c) => c.family === 6).length,
    },
  };
}

function hostCidr(address: string): string {
  return address.includes(":") ? `${address}/128` : `${address}/32`;
}
