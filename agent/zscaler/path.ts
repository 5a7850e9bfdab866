// The path check's core: from what Zscaler's check page said (zscaler/check-page.ts), what
// the cloud publishes (the CENR feed's data centres) and what the probe expects (`via` or
// `direct`), the path as metric labels can carry it and whether it is a signal. Pure: plain
// data in and out; fetching the page is the HTTP prober's, keeping the feeds the seam's.
//
// Why here: the daemon and the judgement know only "via", "direct" and "unknown" and a
// judgement; which clouds exist, which city an address is in and what the page looks like
// stay behind the Zscaler seam (docs/internals.md).
//
// Labels stay bounded whatever the page says: the cloud is one the agent knows (its
// configured clouds) or "other"; the city is a city from the cloud's published list (the one
// whose narrowest range holds the egress address; where Zscaler publishes one range for
// several cities, the one among them the page names), "shared" (several, and the page names
// none of them), "unlisted" (the egress address is in none of its ranges, or the page showed
// none), or "no_data" (the cloud's data centres are not loaded). The data centre's name as the page
// spells it is shown to people, never a label. A page that cannot be read is `unknown`,
// which is never judged (never `direct`, never a signal by itself).

import type { CheckPageResult, CheckPageUnknownReason } from "./check-page.js";
import { centresOf } from "./cities.js";
import type { CenrFeed } from "./feeds.js";

/** What a path check expects: egress through Zscaler, or around it. */
export type PathExpectation = "via" | "direct";
export const PATH_EXPECTATIONS: readonly PathExpectation[] = ["via", "direct"];

export type PathKind = "via" | "direct" | "unknown";

/** Why the path is unknown: the page's own reasons, or no page at all (the request failed). */
export type PathUnknownReason = CheckPageUnknownReason | "no_page";

/** The cloud label for a cloud the page named that the agent does not know. */
export const OTHER_CLOUD = "other";
/** The city label when the egress address is in no published range of the cloud (or the page showed none). */
export const UNLISTED_CITY = "unlisted";
/** The city label when the egress address is in a range several cities share, and the page names none of them. */
export const SHARED_CITY = "shared";
/** The city label when the cloud's data centres are not loaded (no feed yet, or another cloud). */
export const NO_DATA_CITY = "no_data";

/** The path one sample found. `cloud` and `city` are labels (bounded); "" where they do not apply. */
export interface PathObservation {
  readonly path: PathKind;
  readonly cloud: string;
  readonly city: string;
  /** The data centre as the page names it ("Frankfurt IV"): for people, never a label. */
  readonly dataCentre?: string;
  /** The address the page saw the request come from. */
  readonly egressIp?: string;
  readonly reason?: PathUnknownReason;
  /** Short text for people; never page text. */
  readonly detail?: string;
}

/** What the path reading needs of the published data: the clouds the agent knows, and their data centres. */
export interface PublishedCentres {
  readonly clouds: readonly string[];
  cenr(cloud: string): CenrFeed | undefined;
}

/** The path of a sample without a page (the HTTP request did not return one). */
export function noPage(detail: string): PathObservation {
  return { path: "unknown", cloud: "", city: "", reason: "no_page", detail };
}

function cityOf(cloud: string | undefined, egressIp: string | undefined, named: string | undefined, published: PublishedCentres): { city: string; detail?: string } {
  if (cloud === undefined) return { city: NO_DATA_CITY, detail: "the page names no cloud" };
  if (!published.clouds.includes(cloud)) return { city: NO_DATA_CITY, detail: `cloud ${cloud} is not one this agent follows` };
  const cenr = published.cenr(cloud);
  if (cenr === undefined) return { city: NO_DATA_CITY, detail: `data centres of ${cloud} not loaded yet` };
  if (egressIp === undefined) return { city: UNLISTED_CITY, detail: "the page shows no egress address" };
  const centres = centresOf(cenr, egressIp);
  const centre = centres.length === 1 ? centres[0] : centres.find((candidate) => candidate.city.toLowerCase() === named?.toLowerCase());
  if (centre !== undefined) return { city: centre.city, detail: `egress ${egressIp} in ${centre.label}` };
  if (centres.length === 0) return { city: UNLISTED_CITY, detail: `egress ${egressIp} is in no published range of ${cloud}` };
  return { city: SHARED_CITY, detail: `egress ${egressIp} in a range ${centres.length} data centres share` };
}

/** The path a check page shows, with labels bounded by what the agent knows and the cloud publishes. */
export function observePath(page: CheckPageResult, published: PublishedCentres): PathObservation {
  switch (page.path) {
    case "unknown":
      return { path: "unknown", cloud: "", city: "", reason: page.reason, ...(page.detail !== undefined ? { detail: page.detail } : {}) };
    case "direct":
      return { path: "direct", cloud: "", city: "", ...(page.egressIp !== undefined ? { egressIp: page.egressIp, detail: `egress ${page.egressIp}` } : {}) };
    case "via": {
      const cloud = page.cloud === undefined ? "" : published.clouds.includes(page.cloud) ? page.cloud : OTHER_CLOUD;
      const { city, detail } = cityOf(page.cloud, page.egressIp, page.dataCentre, published);
      const named = page.cloud !== undefined && cloud === OTHER_CLOUD ? `cloud ${page.cloud}; ` : "";
      return {
        path: "via",
        cloud,
        city,
        ...(page.dataCentre !== undefined ? { dataCentre: page.dataCentre } : {}),
        ...(page.egressIp !== undefined ? { egressIp: page.egressIp } : {}),
        ...(detail !== undefined ? { detail: `${named}${detail}` } : {}),
      };
    }
  }
}

/** consistent: the path is the expected one; inconsistent: it is the other one; inconclusive: unknown. */
export type PathJudgement = "consistent" | "inconsistent" | "inconclusive";

/** One sample's path against the expectation. Only a page that says so makes a path; unknown is never judged. */
export function judgePath(expect: PathExpectation, observed: PathObservation): PathJudgement {
  if (observed.path === "unknown") return "inconclusive";
  return observed.path === expect ? "consistent" : "inconsistent";
}

/** "via Zscaler (zscaler.net, Frankfurt IV), expected direct": one line for logs, Events and results. */
export function describePath(expect: PathExpectation, observed: PathObservation): string {
  const seen =
    observed.path === "via"
      ? `via Zscaler${observed.cloud !== "" || observed.dataCentre !== undefined ? ` (${[observed.cloud, observed.dataCentre].filter((part) => part !== undefined && part !== "").join(", ")})` : ""}`
      : observed.path === "direct"
        ? "direct, not through Zscaler"
        : `unknown (${observed.reason ?? "no_page"})`;
  const egress = observed.egressIp !== undefined ? `, egress ${observed.egressIp}` : "";
  return `path ${seen}${egress}, expected ${expect}`;
}
