// answersIn: zscaler:<cloud>: the address space a cloud publishes now, which a DNS probe's
// answers must lie in (its ZIA feeds; ZPA is another product).

import { type Cidr, parseCidr } from "../addresses/ip.js";
import type { FeedKind } from "./feeds.js";
import type { FeedReader } from "./reader.js";

/** The feeds whose ranges make up a cloud's published address space. */
const ZIA_FEEDS: readonly FeedKind[] = ["cenr", "future", "hubs-recommended", "hubs-required", "svpn"];

/** Every range a cloud's ZIA feeds publish now; undefined when none is loaded yet. */
export function zscalerRanges(feeds: FeedReader | undefined, cloud: string): Cidr[] | undefined {
  const cidrs: Cidr[] = [];
  let loaded = false;
  for (const kind of ZIA_FEEDS) {
    const data = feeds?.current(cloud, kind);
    if (!data) continue;
    loaded = true;
    for (const text of data.cidrs) {
      const parsed = parseCidr(text);
      if (parsed.ok) cidrs.push(parsed.value);
    }
  }
  return loaded ? cidrs : undefined;
}

/** The ranges of these clouds, and why answers cannot be checked when some are not loaded yet. */
export function answerRanges(clouds: readonly string[], feeds: FeedReader | undefined): { ranges: Cidr[]; unjudgeable?: string } {
  const ranges: Cidr[] = [];
  const missing: string[] = [];
  for (const cloud of clouds) {
    const published = zscalerRanges(feeds, cloud);
    if (published) ranges.push(...published);
    else missing.push(cloud);
  }
  return { ranges, ...(missing.length > 0 ? { unjudgeable: `the published ranges of ${missing.join(", ")} are not loaded yet: answers cannot be checked` } : {}) };
}
