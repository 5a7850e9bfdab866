// Schema variants built from the real CENR capture: older schemas, reordering, key spelling,
// case, and bad rows inside an otherwise good payload.
import { describe, expect, it } from "vitest";
import { diffFeeds, hashFeed } from "../../agent/zscaler/diff.js";
import {
  type CenrPayload,
  type CenrRow,
  cenrCities,
  cenrPayload,
  FIXTURES,
  fixtureText,
  mapCenrRows,
  mustParse,
  mustRefuse,
  rebuildCenr,
  shuffled,
  text,
} from "./helpers.js";

const original = mustParse("cenr", fixtureText(FIXTURES.cenr));

function parseCenr(payload: CenrPayload) {
  return mustParse("cenr", text(payload));
}

function withoutKey(payload: CenrPayload, key: string): CenrPayload {
  const copy = { ...payload };
  delete copy[key];
  return copy;
}

describe("older and newer schemas", () => {
  it("rows without ext (older captures) parse to the same ranges, ext null", () => {
    const noExt = parseCenr(
      mapCenrRows(cenrPayload(), (row) => {
        delete row["ext"];
        return row;
      }),
    );
    expect(noExt.rowCount).toBe(935);
    expect(noExt.cidrs).toEqual(original.cidrs);
    expect(noExt.dataCentres.every((dc) => dc.ext === null)).toBe(true);
    expect(new Set(noExt.dataCentres.map((dc) => dc.hostname))).toEqual(new Set(original.dataCentres.map((dc) => dc.hostname)));
    // ext is content: dropping it changes the hash, not the range set.
    expect(hashFeed(noExt)).not.toBe(hashFeed(original));
    expect(diffFeeds(original, noExt)).toEqual({ added: [], removed: [], unchanged: 673 });
  });

  it("a payload without svpnIPs (before 2026-03) parses with an empty svpn set", () => {
    const noSvpn = parseCenr(withoutKey(cenrPayload(), "svpnIPs"));
    expect(noSvpn.svpnIps).toEqual([]);
    expect(noSvpn.cidrs).toEqual(original.cidrs);
    expect(noSvpn.dataCentres).toEqual(original.dataCentres);
  });

  it("an empty svpnIPs list is accepted", () => {
    expect(parseCenr({ ...cenrPayload(), svpnIPs: [] }).svpnIps).toEqual([]);
  });

  it("an IPv6-only city parses, alone or beside the others", () => {
    const payload = cenrPayload();
    const v6Rows = cenrCities(payload).flatMap(({ rows }) => rows.filter((row) => String(row["range"]).includes(":")));
    const v6City = { continent: "continent : EMEA", city: "city : Sixland I", rows: v6Rows };
    const alone = parseCenr(rebuildCenr(payload, [v6City]));
    expect(alone.cidrs).toHaveLength(104);
    expect(alone.cidrs.every((c) => c.includes(":"))).toBe(true);
    expect(new Set(alone.dataCentres.map((dc) => dc.city))).toEqual(new Set(["Sixland I"]));

    const beside = parseCenr(rebuildCenr(payload, [...cenrCities(payload), v6City]));
    expect(beside.cidrs).toEqual(original.cidrs);
    expect(new Set(beside.dataCentres.map((dc) => dc.city)).size).toBe(104);
    const sixland = beside.dataCentres.filter((dc) => dc.city === "Sixland I");
    expect(sixland.flatMap((dc) => dc.ranges).every((range) => range.includes(":"))).toBe(true);
  });
});

describe("normalisation: same data, same hash", () => {
  it("shuffled continents, cities, rows and svpnIPs give the same data and hash", () => {
    for (const seed of [1, 2, 3]) {
      const payload = cenrPayload();
      const cities = shuffled(cenrCities(payload), seed).map((c, i) => ({ ...c, rows: shuffled(c.rows, seed * 1000 + i) }));
      const reordered = rebuildCenr(payload, cities);
      reordered["svpnIPs"] = shuffled(payload["svpnIPs"] as string[], seed);
      // Also move svpnIPs before the cloud key.
      const rekeyed = { svpnIPs: reordered["svpnIPs"], "zscaler.net": reordered["zscaler.net"] };
      const parsed = parseCenr(rekeyed);
      expect(fixtureText(FIXTURES.cenr)).not.toBe(text(rekeyed));
      expect(parsed.cidrs).toEqual(original.cidrs);
      expect(parsed.dataCentres).toEqual(original.dataCentres);
      expect(parsed.svpnIps).toEqual(original.svpnIps);
      expect(hashFeed(parsed)).toBe(hashFeed(original));
      expect(diffFeeds(original, parsed)).toEqual({ added: [], removed: [], unchanged: 673 });
    }
  });

  it("mixed-case hostnames and VPN hosts give the same hash", () => {
    const upper = parseCenr(
      mapCenrRows(cenrPayload(), (row) => ({ ...row, hostname: String(row["hostname"]).toUpperCase(), vpn: String(row["vpn"]).toUpperCase() })),
    );
    expect(hashFeed(upper)).toBe(hashFeed(original));
  });

  it("upper-case IPv6 text and repeated rows give the same hash", () => {
    const payload = mapCenrRows(cenrPayload(), (row) => ({
      ...row,
      range: String(row["range"]).toUpperCase(),
      gre: String(row["gre"]).toUpperCase(),
      ext: String(row["ext"]).toUpperCase(),
    }));
    const doubled = rebuildCenr(payload, cenrCities(payload).map((c) => ({ ...c, rows: [...c.rows, ...c.rows] })));
    const parsed = parseCenr(doubled);
    expect(parsed.rowCount).toBe(1870);
    expect(hashFeed(parsed)).toBe(hashFeed(original));
  });

  it("key prefix spelling variants and unprefixed keys give the same hash", () => {
    const spellings: [string, string][] = [
      ["continent: ", "city: "],
      ["Continent :", "CITY :"],
      ["continent  :  ", "city :  "],
      ["", ""],
    ];
    for (const [continentPrefix, cityPrefix] of spellings) {
      const payload = cenrPayload();
      const respelled = rebuildCenr(
        payload,
        cenrCities(payload).map(({ continent, city, rows }) => ({
          continent: continent.replace("continent : ", continentPrefix),
          city: city.replace("city : ", cityPrefix),
          rows,
        })),
      );
      expect(hashFeed(parseCenr(respelled)), `${continentPrefix}|${cityPrefix}`).toBe(hashFeed(original));
    }
  });

  it("non-object values beside the continents and a cloud key in other case are tolerated", () => {
    const payload = cenrPayload();
    const cloud = payload["zscaler.net"] as Record<string, unknown>;
    const extended = { "ZScaler.NET": { note: "added later", count: 3, list: [1, 2], ...cloud }, svpnIPs: payload["svpnIPs"], generated: "2026-08-21" };
    expect(hashFeed(parseCenr(extended))).toBe(hashFeed(original));
  });
});

describe("bad rows inside a good payload", () => {
  const badValues: [string, string][] = [
    ["", "empty range"],
    ["not-a-cidr", "not a CIDR"],
    ["10.0.0.0/33", "invalid prefix"],
    ["165.225.240.0", "missing"],
    ["2a03:eec0:zz::/48", "not a CIDR"],
  ];

  it("skips each bad row, says where and why, and keeps the rest", () => {
    let index = 0;
    const victims: string[] = [];
    const payload = mapCenrRows(cenrPayload(), (row, city) => {
      const bad = city === "city : Amsterdam II" ? badValues[index++] : undefined;
      if (!bad) return row;
      victims.push(String(row["range"]));
      return { ...row, range: bad[0] };
    });
    const parsed = parseCenr(payload);
    expect(parsed.rowCount).toBe(935);
    expect(parsed.skippedRows).toHaveLength(badValues.length);
    parsed.skippedRows.forEach((skipped, i) => {
      const [value, reason] = badValues[i] as [string, string];
      expect(skipped.path).toBe(`$["zscaler.net"]["continent : EMEA"]["city : Amsterdam II"][${i}].range`);
      expect(skipped.value).toBe(value);
      expect(skipped.reason).toContain(reason);
    });
    expect(parsed.cidrs).not.toContain("");
    // The replaced ranges that appear nowhere else are gone; nothing else changed.
    const removed = diffFeeds(original, parsed);
    expect(removed.added).toEqual([]);
    for (const range of removed.removed) expect(victims).toContain(range);
  });

  it("refuses a payload where more than half of the rows are bad", () => {
    let n = 0;
    const mostlyBad = mapCenrRows(cenrPayload(), (row) => (n++ % 3 === 0 ? row : { ...row, range: "" }));
    const refusal = mustRefuse("cenr", text(mostlyBad));
    expect(refusal.code).toBe("bad_rows");
    expect(refusal.message).toMatch(/^623 of 935 CENR rows are unusable; first: \$\["zscaler\.net"\]/);
  });

  it("accepts exactly half bad, refuses one more (hub list)", () => {
    const hubs = (prefixes: string[]) => JSON.stringify({ cloudName: "zscaler.net", type: "required", hubPrefixes: prefixes });
    const half = mustParse("hubs-required", hubs(["10.0.0.0/8", "192.0.2.0/24", "", "bogus"]));
    expect(half.cidrs).toEqual(["10.0.0.0/8", "192.0.2.0/24"]);
    expect(half.skippedRows.map((s) => s.path)).toEqual(["$.hubPrefixes[2]", "$.hubPrefixes[3]"]);
    expect(mustRefuse("hubs-required", hubs(["10.0.0.0/8", "", "", "bogus"])).code).toBe("bad_rows");
  });

  it("a bad svpn address is skipped, not the payload", () => {
    const payload = cenrPayload();
    const ips = [...(payload["svpnIPs"] as string[])];
    ips[5] = "999.1.1.1";
    ips[6] = "";
    const parsed = parseCenr({ ...payload, svpnIPs: ips });
    expect(parsed.svpnIps.length).toBeLessThan(169);
    expect(parsed.skippedRows.map((s) => s.path)).toEqual(["$.svpnIPs[5]", "$.svpnIPs[6]"]);
    expect(parsed.cidrs).toEqual(original.cidrs);
  });

  it("a GRE VIP or hostname that is not one is dropped from the row, the range kept", () => {
    const payload = mapCenrRows(cenrPayload(), (row): CenrRow => (row["hostname"] === "ams2.sme.zscaler.net" ? { ...row, gre: "n/a", hostname: "ams 2" } : row));
    const parsed = parseCenr(payload);
    expect(parsed.cidrs).toEqual(original.cidrs);
    expect(parsed.ignoredFields.map((f) => [f.value, f.reason])).toEqual([
      ["ams 2", "not a hostname"],
      ["n/a", '"n/a" is not an IPv4 or IPv6 address'],
    ]);
    expect(parsed.dataCentres.find((dc) => dc.vpn === "amsterdam2-vpn.zscaler.net")).toMatchObject({ hostname: null, gre: null, ranges: ["185.46.212.0/23"] });
  });
});
