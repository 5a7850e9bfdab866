// Which Zscaler data centre an address belongs to, from the CENR feed: so that a gateway
// name resolving to another city ("DNS resolution shifts") is reported as such.

import { type Cidr, cidrContainsIp, parseCidr, parseIp } from "../addresses/ip.js";
import type { CenrFeed } from "./feeds.js";

interface CentreRange {
  readonly cidr: Cidr;
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
        return cidr.ok ? [{ cidr: cidr.value, label: `${centre.city} (${centre.continent})` }] : [];
      }),
    );
    parsedFeeds.set(cenr, ranges);
  }
  return ranges;
}

/** "Amsterdam II (EMEA)" for each answer, or a note that it is in no published data centre. */
export function describeAnswerCities(cenr: CenrFeed | undefined, answers: readonly string[]): string[] {
  const ranges = cenr ? centreRanges(cenr) : [];
  return answers.map((answer) => {
    const ip = parseIp(answer);
    if (!ip.ok) return `${answer}: not an address`;
    const found = ranges.find((range) => cidrContainsIp(range.cidr, ip.value));
    if (found) return `${answer} in ${found.label}`;
    return cenr ? `${answer} in no published data centre` : `${answer} (data centres not loaded yet)`;
  });
}
