// The allowlist for one ZIA cloud, checked against the real feeds, and as a property: it covers
// every selected range and nothing outside their union, in the fewest CIDRs.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Cidr, cidrContainsCidr, compareCidrs, makeCidr, parseCidr } from "../../agent/addresses/ip.js";
import { collapseCidrs, setFromCidrs } from "../../agent/addresses/ranges.js";
import { SMALLEST_ZIA_ALLOWLIST, zscalerAllowlist } from "../../agent/zscaler/allowlist.js";
import { FIXTURES, fixtureText, mustParse, realFeeds, text } from "./helpers.js";

const feeds = realFeeds();

function cidr(value: string): Cidr {
  const parsed = parseCidr(value);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function allowlist(selection: Parameters<typeof zscalerAllowlist>[1]) {
  const result = zscalerAllowlist(feeds, selection);
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

describe("zscalerAllowlist on the zscaler.net feeds", () => {
  it("future + recommended collapses to 57 IPv4 and 3 IPv6 CIDRs", () => {
    const list = allowlist(SMALLEST_ZIA_ALLOWLIST);
    expect(SMALLEST_ZIA_ALLOWLIST).toEqual(["future", "hubsRecommended"]);
    expect(list.cloud).toBe("zscaler.net");
    expect(list.ipv4).toBe(57);
    expect(list.ipv6).toBe(3);
    expect(list.cidrs).toHaveLength(60);
    expect(list.cidrs.slice(57)).toEqual(["2400:7aa0::/32", "2605:4300::/32", "2a03:eec0::/32"]);
    expect(list.cidrs.map(cidr).sort(compareCidrs).map((c) => c.text)).toEqual(list.cidrs);
    // Adjacent future prefixes merge: 98.98.26.0/24 + 98.98.27.0/24.
    expect(list.cidrs).toContain("98.98.26.0/23");
  });

  it("future alone misses hub prefixes in third-party address space", () => {
    const futureOnly = allowlist(["future"]);
    expect([futureOnly.ipv4, futureOnly.ipv6]).toEqual([48, 3]);
    const futureSet = futureOnly.cidrs.map(cidr);
    const missed = feeds.hubsRecommended.cidrs.filter((p) => !futureSet.some((f) => cidrContainsCidr(f, cidr(p))));
    expect(missed).toEqual([
      "8.25.203.0/24",
      "64.74.126.64/26",
      "70.39.159.0/24",
      "72.52.96.0/26",
      "89.167.131.0/24",
      "112.196.99.180/32",
      "213.152.228.0/24",
      "216.52.207.64/26",
      "216.218.133.192/26",
    ]);
  });

  it("adding required, CENR (ranges and svpnIPs) and svpn changes nothing: future + recommended is enough", () => {
    const smallest = allowlist(SMALLEST_ZIA_ALLOWLIST);
    const everything = allowlist(["future", "hubsRecommended", "hubsRequired", "cenr", "svpn"]);
    expect(everything.cidrs).toEqual(smallest.cidrs);
    expect(everything.sources).toEqual(["future", "hubsRecommended", "hubsRequired", "cenr", "svpn"]);
  });

  it("CENR alone is much longer than future (its ranges are finer)", () => {
    const cenrOnly = allowlist(["cenr"]);
    expect(cenrOnly.ipv4 + cenrOnly.ipv6).toBeGreaterThan(60);
    expect(allowlist(["future", "cenr"]).cidrs).toEqual(allowlist(["future"]).cidrs);
  });

  it("refuses an empty selection, a missing feed, a feed in the wrong slot, mixed clouds", () => {
    expect(zscalerAllowlist(feeds, [])).toEqual({ ok: false, reason: "no feeds selected" });
    expect(zscalerAllowlist({ future: feeds.future }, SMALLEST_ZIA_ALLOWLIST)).toEqual({
      ok: false,
      reason: "the hubsRecommended feed is selected but missing",
    });
    const misplaced = { future: feeds.future, hubsRecommended: feeds.hubsRequired as never };
    expect(zscalerAllowlist(misplaced, SMALLEST_ZIA_ALLOWLIST)).toEqual({
      ok: false,
      reason: "the hubsRecommended slot holds a hubs-required feed, expected hubs-recommended",
    });
    const otherCloud = mustParse("future", fixtureText(FIXTURES.future).replace('"zscaler.net"', '"zscalertwo.net"'), "zscalertwo.net");
    expect(zscalerAllowlist({ future: otherCloud, hubsRecommended: feeds.hubsRecommended }, SMALLEST_ZIA_ALLOWLIST)).toEqual({
      ok: false,
      reason: "the hubsRecommended feed is for zscaler.net, the others for zscalertwo.net",
    });
  });
});

describe("zscalerAllowlist properties", () => {
  const v4 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), fc.integer({ min: 8, max: 32 })).map(([value, prefix]) => makeCidr(4, value, prefix).text);
  // Cluster IPv6 values near each other so that some overlap and touch.
  const v6 = fc
    .tuple(fc.bigInt({ min: 0n, max: (1n << 20n) - 1n }), fc.integer({ min: 36, max: 64 }))
    .map(([value, prefix]) => makeCidr(6, (0x2a03eec0n << 96n) | (value << 76n), prefix).text);
  const list = fc.array(fc.oneof(v4, v4, v6), { minLength: 1, maxLength: 40 });

  it("covers every input range and nothing outside their union, in the fewest CIDRs, IPv4 first", () => {
    fc.assert(
      fc.property(list, list, (futureList, hubList) => {
        const future = mustParse("future", text({ cloudName: "zscaler.net", prefixes: futureList }));
        const hubsRecommended = mustParse("hubs-recommended", text({ cloudName: "zscaler.net", type: "recommended", hubPrefixes: hubList }));
        const result = zscalerAllowlist({ future, hubsRecommended }, SMALLEST_ZIA_ALLOWLIST);
        if (!result.ok) throw new Error(result.reason);
        const output = result.value.cidrs.map(cidr);
        const inputs = [...futureList, ...hubList].map(cidr);
        // Covers every input range.
        for (const range of inputs) expect(output.some((o) => cidrContainsCidr(o, range)), range.text).toBe(true);
        // Exactly the union: same address set.
        expect(setFromCidrs(output)).toEqual(setFromCidrs(inputs));
        // Already collapsed, sorted, IPv4 before IPv6; counts add up.
        expect(collapseCidrs(output).map((c) => c.text)).toEqual(result.value.cidrs);
        expect([...output].sort(compareCidrs)).toEqual(output);
        expect(result.value.ipv4).toBe(output.filter((c) => c.family === 4).length);
        expect(result.value.ipv6).toBe(output.length - result.value.ipv4);
      }),
      { numRuns: 200 },
    );
  });
});
