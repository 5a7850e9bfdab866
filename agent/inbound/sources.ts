// The outside sources an inbound query names: "zscaler:<cloud>" (every range the cloud's ZIA
// feeds publish: where ZIA users' traffic leaves Zscaler), "zscaler:<cloud>/<city>" (one data
// centre city of the CENR feed), and "zpa" (the App Connectors' addresses, which the user
// configures: ZPA traffic reaches applications from the connectors, never from ZIA's ranges).
// Keeping the two apart matters: a policy admitting ZIA's ranges admits no ZPA user, and the
// reverse. Pure: parsed feeds and configured CIDRs in, a named set of ranges out.

import { type Cidr, parseCidr } from "../addresses/ip.js";
import { collapseCidrs } from "../addresses/ranges.js";
import type { FeedData, FeedKind } from "../zscaler/feeds.js";
import type { NamedRanges } from "./paths.js";

/** The feeds of one cloud that list ZIA's egress (zpa lists ZPA's own service edges, not connectors). */
const ZIA_FEEDS: readonly FeedKind[] = ["cenr", "future", "hubs-recommended", "hubs-required", "svpn"];

export interface OutsideSources {
  /** Parsed feeds per cloud. */
  readonly feeds: ReadonlyMap<string, ReadonlyMap<FeedKind, FeedData>>;
  /** The ZPA App Connectors' addresses, as configured (empty: none given). */
  readonly zpaConnectors: readonly Cidr[];
}

export type SourceResolution = { readonly ok: true; readonly ranges: NamedRanges } | { readonly ok: false; readonly reason: string };

function cidrsOf(data: FeedData): Cidr[] {
  const texts = data.kind === "cenr" ? [...data.dataCentres.flatMap((c) => c.ranges), ...data.svpnIps.map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`))] : data.kind === "zpa" ? [] : data.cidrs;
  return texts.flatMap((text) => {
    const parsed = parseCidr(text);
    return parsed.ok ? [parsed.value] : [];
  });
}

/** Whether a reference names an outside source ("zscaler:..." or "zpa") rather than a pod or an address. */
export function isOutsideSource(reference: string): boolean {
  return reference.startsWith("zscaler:") || reference === "zpa";
}

export function resolveOutsideSource(sources: OutsideSources, reference: string): SourceResolution {
  if (reference === "zpa") {
    if (sources.zpaConnectors.length === 0) return { ok: false, reason: "zpa: no App Connector addresses given (--zpa-connectors)" };
    return { ok: true, ranges: { label: "ZPA App Connectors", cidrs: collapseCidrs(sources.zpaConnectors) } };
  }
  const rest = reference.slice("zscaler:".length);
  const slash = rest.indexOf("/");
  const cloud = (slash < 0 ? rest : rest.slice(0, slash)).trim().toLowerCase();
  const city = slash < 0 ? undefined : rest.slice(slash + 1).trim();
  const feeds = sources.feeds.get(cloud);
  if (!feeds || feeds.size === 0) {
    const known = [...sources.feeds.keys()];
    return { ok: false, reason: `no feeds of ${cloud || "(no cloud)"} were given (--zscaler-feeds${known.length > 0 ? `; clouds given: ${known.join(", ")}` : ""})` };
  }
  if (city !== undefined) {
    const cenr = feeds.get("cenr");
    if (!cenr || cenr.kind !== "cenr") return { ok: false, reason: `a city needs the cenr feed of ${cloud}` };
    const centres = cenr.dataCentres.filter((c) => c.city.toLowerCase() === city.toLowerCase());
    if (centres.length === 0) return { ok: false, reason: `no city "${city}" in the cenr feed of ${cloud}` };
    const cidrs = collapseCidrs(cidrsOf({ ...cenr, dataCentres: centres, svpnIps: [] }));
    return { ok: true, ranges: { label: `ZIA ${cloud} ${centres[0]?.city ?? city}`, cidrs } };
  }
  const cidrs = collapseCidrs(ZIA_FEEDS.flatMap((kind) => {
    const data = feeds.get(kind);
    return data ? cidrsOf(data) : [];
  }));
  if (cidrs.length === 0) return { ok: false, reason: `the feeds given for ${cloud} hold no ZIA range (${ZIA_FEEDS.join(", ")})` };
  return { ok: true, ranges: { label: `ZIA ${cloud}`, cidrs } };
}

/** Every named set the sources hold, to label the ipBlocks that overlap them. */
export function allOutsideRanges(sources: OutsideSources): NamedRanges[] {
  const named: NamedRanges[] = [];
  for (const cloud of [...sources.feeds.keys()].sort()) {
    const resolved = resolveOutsideSource(sources, `zscaler:${cloud}`);
    if (resolved.ok) named.push(resolved.ranges);
  }
  if (sources.zpaConnectors.length > 0) named.push({ label: "ZPA App Connectors", cidrs: collapseCidrs(sources.zpaConnectors) });
  return named;
}
