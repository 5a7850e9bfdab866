// Which Zscaler data centre an address belongs to, from the CENR feed: so that a gateway
// name resolving to another city ("DNS resolution shifts") is reported as such, and the
// egress address a check page shows is placed in a published city (zscaler/path.ts).

import { type Cidr, cidrContainsIp, parseCidr, parseIp } from "../addresses/ip.js";
import type { CenrFeed } from "./feeds.js";

interface CentreRange {
  readonly cidr: Cidr;
  readonly city: string;
  readonly label: string;
}

/** Each feed's ranges parsed once (a feed object is immutable; a new one replaces it). */
const parsedFeeds = new WeakMap<CenrFeed, readonly CentreRange[]>();

function centreRanges(cenr: CenrFeed): readonly CentreRange[] {
  let ranges = parsedFeeds.get(cenr);
  if (ranges === undefined) {
    ranges = cenr.dataCentres.flatMap((centre) =>
      centre.ranges.flatMap((range) => {
        const cidr = parseCidr(range);
        return cidr.ok ? [{ cidr: cidr.value, city: centre.city, label: `${centre.city} (${centre.continent})` }] : [];
      }),
    );
    parsedFeeds.set(cenr, ranges);
  }
  return ranges;
}

/**
 * The published data centres whose most specific range holding this address is the
 * narrowest of all: usually one; several where Zscaler publishes one range for many cities.
 */
export function centresOf(cenr: CenrFeed, address: string): readonly { readonly city: string; readonly label: string }[] {
  const ip = parseIp(address);
  if (!ip.ok) return [];
  const holding = centreRanges(cenr).filter((range) => cidrContainsIp(range.cidr, ip.value));
  const narrowest = Math.max(-1, ...holding.map((range) => range.cidr.prefix));
  const seen = new Set<string>();
  return holding.filter((range) => range.cidr.prefix === narrowest && !seen.has(range.label) && seen.add(range.label));
}

/** "Amsterdam II (EMEA)" for each answer, or a note that it is in no published data centre. */
export function describeAnswerCities(cenr: CenrFeed | undefined, answers: readonly string[]): string[] {
  return answers.map((answer) => {
    if (!parseIp(answer).ok) return `${answer}: not an address`;
    const found = cenr ? centresOf(cenr, answer) : [];
    if (found.length > 0) return `${answer} in ${found.map((centre) => centre.label).join(" or ")}`;
    return cenr ? `${answer} in no published data centre` : `${answer} (data centres not loaded yet)`;
  });
}
