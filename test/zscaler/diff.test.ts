// Diffs are of sets, hashes of the normalised form, and a feed that lost too much is refused.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { makeCidr } from "../../agent/addresses/ip.js";
import { canonicalFeed, checkShrink, diffFeeds, diffLists, hashFeed } from "../../agent/zscaler/diff.js";
import { cenrCities, cenrPayload, FIXTURES, fixtureJson, fixtureText, mustParse, realFeeds, rebuildCenr, shuffled, text } from "./helpers.js";

const { cenr, hubsRequired, future } = realFeeds();

function hubsPayload(prefixes: readonly string[]): string {
  return text({ cloudName: "zscaler.net", type: "required", hubPrefixes: prefixes });
}

const rawRequired = (fixtureJson(FIXTURES.hubsRequired) as { hubPrefixes: string[] }).hubPrefixes;

describe("diffFeeds", () => {
  it("a reordered payload is no change", () => {
    const reordered = mustParse("hubs-required", hubsPayload(shuffled(rawRequired, 7)));
    expect(diffFeeds(hubsRequired, reordered)).toEqual({ added: [], removed: [], unchanged: 174 });
    expect(hashFeed(reordered)).toBe(hashFeed(hubsRequired));
  });

  it("reports added and removed ranges in address order", () => {
    const next = mustParse("hubs-required", hubsPayload([...rawRequired.filter((p) => p !== "8.25.203.0/24" && p !== "2605:4300:1211::/48"), "2001:db8::/32", "192.0.2.0/24"]));
    expect(diffFeeds(hubsRequired, next)).toEqual({ added: ["192.0.2.0/24", "2001:db8::/32"], removed: ["8.25.203.0/24", "2605:4300:1211::/48"], unchanged: 172 });
  });

  it("dropping a CENR city removes only the ranges no other city has", () => {
    const payload = cenrPayload();
    const cities = cenrCities(payload);
    const dropped = cities.find((c) => c.city === "city : Amsterdam II");
    const next = mustParse("cenr", text(rebuildCenr(payload, cities.filter((c) => c !== dropped))));
    const diff = diffFeeds(cenr, next);
    expect(diff.added).toEqual([]);
    expect(diff.removed.length).toBeGreaterThan(0);
    expect(diff.removed).not.toContain("136.226.200.0/23"); // listed in 27 EMEA cities
    expect(diff.removed).toContain("185.46.212.0/23");
    expect(diff.unchanged + diff.removed.length).toBe(673);
  });

  it("property: diff(a, shuffle(a)) is empty and the hash does not change", () => {
    fc.assert(
      fc.property(fc.subarray(rawRequired, { minLength: 1 }), fc.integer(), fc.integer({ min: 0, max: 5 }), (subset, seed, repeats) => {
        const a = mustParse("hubs-required", hubsPayload(subset));
        const noisy = [...subset, ...subset.slice(0, repeats)];
        const b = mustParse("hubs-required", hubsPayload(shuffled(noisy, seed)));
        expect(diffFeeds(a, b)).toEqual({ added: [], removed: [], unchanged: a.cidrs.length });
        expect(hashFeed(b)).toBe(hashFeed(a));
      }),
      { numRuns: 200 },
    );
  });

  it("property: added and removed turn the previous set into the next", () => {
    fc.assert(
      fc.property(fc.subarray(rawRequired, { minLength: 1 }), fc.subarray(rawRequired, { minLength: 1 }), (x, y) => {
        const a = mustParse("hubs-required", hubsPayload(x));
        const b = mustParse("hubs-required", hubsPayload(y));
        const diff = diffFeeds(a, b);
        const rebuilt = new Set([...a.cidrs.filter((c) => !diff.removed.includes(c)), ...diff.added]);
        expect(rebuilt).toEqual(new Set(b.cidrs));
        expect(diff.unchanged).toBe(b.cidrs.length - diff.added.length);
        expect(diffLists(b.cidrs, a.cidrs)).toEqual({ added: diff.removed, removed: diff.added, unchanged: diff.unchanged });
      }),
      { numRuns: 200 },
    );
  });
});

describe("hashFeed", () => {
  it("is sha256 of the canonical form, stable across parses", () => {
    expect(hashFeed(cenr)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(hashFeed(mustParse("cenr", fixtureText(FIXTURES.cenr)))).toBe(hashFeed(cenr));
    expect(JSON.parse(canonicalFeed(future))).toEqual({ kind: "future", cloud: "zscaler.net", cidrs: future.cidrs });
  });

  it("changes with one range, and with the kind of feed holding the same list", () => {
    const more = mustParse("hubs-required", hubsPayload([...rawRequired, "192.0.2.0/24"]));
    expect(hashFeed(more)).not.toBe(hashFeed(hubsRequired));
    const asRecommended = mustParse("hubs-recommended", text({ cloudName: "zscaler.net", type: "recommended", hubPrefixes: rawRequired }));
    expect(hashFeed(asRecommended)).not.toBe(hashFeed(hubsRequired));
  });

  it("covers CENR data-centre details and svpnIPs, not only ranges", () => {
    const payload = cenrPayload();
    const lessSvpn = mustParse("cenr", text({ ...payload, svpnIPs: (payload["svpnIPs"] as string[]).slice(1) }));
    expect(diffFeeds(cenr, lessSvpn).removed).toEqual([]);
    expect(hashFeed(lessSvpn)).not.toBe(hashFeed(cenr));
    expect(diffLists(cenr.svpnIps, lessSvpn.svpnIps).removed).toHaveLength(1);
  });

  it("does not depend on skipped rows (their paths move when rows reorder)", () => {
    const a = mustParse("hubs-required", hubsPayload(["bogus", ...rawRequired]));
    const b = mustParse("hubs-required", hubsPayload([...rawRequired, "bogus"]));
    expect(a.skippedRows[0]?.path).not.toBe(b.skippedRows[0]?.path);
    expect(hashFeed(a)).toBe(hashFeed(b));
    expect(hashFeed(a)).toBe(hashFeed(hubsRequired));
  });
});

describe("checkShrink", () => {
  const withoutFirst = (n: number) => mustParse("hubs-required", hubsPayload(rawRequired.slice(n)));

  it("refuses a feed that lost more than the allowed fraction", () => {
    const result = checkShrink(hubsRequired, withoutFirst(18), 0.1);
    expect(result).toEqual({
      ok: false,
      reason: {
        code: "shrunk",
        message: "hubs-required feed for zscaler.net lost 18 of 174 ranges (10.3%, more than the allowed 10%); keeping the previous set",
      },
    });
  });

  it("accepts up to the fraction, growth, and no change", () => {
    const within = checkShrink(hubsRequired, withoutFirst(17), 0.1);
    expect(within.ok && within.value.removed).toHaveLength(17);
    const grown = mustParse("hubs-required", hubsPayload([...rawRequired, "192.0.2.0/24"]));
    expect(checkShrink(hubsRequired, grown, 0)).toEqual({ ok: true, value: { added: ["192.0.2.0/24"], removed: [], unchanged: 174 } });
    expect(checkShrink(hubsRequired, hubsRequired, 0).ok).toBe(true);
  });

  it("counts ranges removed, even when others were added in their place", () => {
    const swapped = mustParse("hubs-required", hubsPayload([...rawRequired.slice(50), "10.0.0.0/8"]));
    const result = checkShrink(hubsRequired, swapped, 0.25);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason.message).toContain("lost 50 of 174 ranges");
  });

  it("rejects a fraction outside 0..1", () => {
    expect(() => checkShrink(hubsRequired, hubsRequired, 1.5)).toThrow(RangeError);
    expect(() => checkShrink(hubsRequired, hubsRequired, Number.NaN)).toThrow(RangeError);
  });

  it("property: refused exactly when removed/previous exceeds the fraction", () => {
    const base = mustParse("future", text({ cloudName: "zscaler.net", prefixes: Array.from({ length: 40 }, (_, i) => makeCidr(4, BigInt(0x0a000000 + i * 256), 24).text) }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 39 }), fc.double({ min: 0, max: 1, noNaN: true }), (drop, fraction) => {
        const next = mustParse("future", text({ cloudName: "zscaler.net", prefixes: base.cidrs.slice(drop) }));
        expect(checkShrink(base, next, fraction).ok).toBe(drop / 40 <= fraction);
      }),
    );
  });
});
