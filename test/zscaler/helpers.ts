// Test helpers for the Zscaler feed parsers: the real payloads in test/fixtures/zscaler, a parse
// that fails the test on refusal, a seeded shuffle, and rewriting CENR payloads into variants.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type FeedDataOf, type FeedKind, type FeedRefusal, parseFeed } from "../../agent/zscaler/feeds.js";

export const CLOUD = "zscaler.net";

export const FIXTURES = {
  cenr: "cenr-zscaler.net.json",
  hubsRequired: "hubs-cidr-json-required-zscaler.net.json",
  hubsRecommended: "hubs-cidr-json-recommended-zscaler.net.EXTENDED.json",
  future: "future-zscaler.net.json",
  svpn: "svpn-zscaler.net.EXTENDED.json",
  zpa: "SYNTHETIC-zpa-private.zscaler.com.json",
} as const;

export function fixtureText(name: string): string {
  return readFileSync(join(import.meta.dirname, "..", "fixtures", "zscaler", name), "utf8");
}

export function fixtureJson(name: string): unknown {
  return JSON.parse(fixtureText(name)) as unknown;
}

/** parseFeed that throws (failing the test) with the refusal when the payload is refused. */
export function mustParse<K extends FeedKind>(kind: K, text: string, cloud: string = CLOUD): FeedDataOf<K> {
  const result = parseFeed(kind, cloud, text);
  if (!result.ok) throw new Error(`${kind} refused: ${result.reason.code}: ${result.reason.message}`);
  return result.value;
}

/** parseFeed that throws when the payload is accepted; returns the refusal. */
export function mustRefuse(kind: FeedKind, text: string, cloud: string = CLOUD): FeedRefusal {
  const result = parseFeed(kind, cloud, text);
  if (result.ok) throw new Error(`${kind} unexpectedly accepted (${result.value.cidrs.length} ranges)`);
  return result.reason;
}

export function realFeeds() {
  return {
    cenr: mustParse("cenr", fixtureText(FIXTURES.cenr)),
    hubsRequired: mustParse("hubs-required", fixtureText(FIXTURES.hubsRequired)),
    hubsRecommended: mustParse("hubs-recommended", fixtureText(FIXTURES.hubsRecommended)),
    future: mustParse("future", fixtureText(FIXTURES.future)),
    svpn: mustParse("svpn", fixtureText(FIXTURES.svpn)),
  };
}

/** Deterministic shuffle (mulberry32), so a failure reproduces. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

// ---- CENR payload rewriting ----

export type CenrRow = Record<string, unknown>;
export type CenrCities = Record<string, CenrRow[]>;
export interface CenrPayload {
  [key: string]: unknown;
}

/** A fresh copy of the real CENR payload. */
export function cenrPayload(): CenrPayload {
  return fixtureJson(FIXTURES.cenr) as CenrPayload;
}

export function cenrContinents(payload: CenrPayload, cloud: string = CLOUD): Record<string, CenrCities> {
  return payload[cloud] as Record<string, CenrCities>;
}

/** Rebuilds the payload's cloud object from (continentKey, cityKey, rows) triples, in the order given. */
export function rebuildCenr(
  payload: CenrPayload,
  cities: readonly { continent: string; city: string; rows: CenrRow[] }[],
  cloud: string = CLOUD,
): CenrPayload {
  const continents: Record<string, CenrCities> = {};
  for (const { continent, city, rows } of cities) {
    const target = (continents[continent] ??= {});
    target[city] = [...(target[city] ?? []), ...rows];
  }
  return { ...payload, [cloud]: continents };
}

/** Every (continentKey, cityKey, rows) of a payload, in payload order. */
export function cenrCities(payload: CenrPayload, cloud: string = CLOUD): { continent: string; city: string; rows: CenrRow[] }[] {
  const result: { continent: string; city: string; rows: CenrRow[] }[] = [];
  for (const [continent, cities] of Object.entries(cenrContinents(payload, cloud))) {
    for (const [city, rows] of Object.entries(cities)) result.push({ continent, city, rows });
  }
  return result;
}

/** The payload with every row passed through `change` (return null to drop the row). */
export function mapCenrRows(payload: CenrPayload, change: (row: CenrRow, city: string) => CenrRow | null): CenrPayload {
  return rebuildCenr(
    payload,
    cenrCities(payload).map(({ continent, city, rows }) => ({
      continent,
      city,
      rows: rows.map((row) => change({ ...row }, city)).filter((row): row is CenrRow => row !== null),
    })),
  );
}

export function text(payload: unknown): string {
  return JSON.stringify(payload);
}
