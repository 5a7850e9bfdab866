// The real payloads parse with the figures the samples' provenance states, and the
// relationships between feeds hold as properties of the data.
import { describe, expect, it } from "vitest";
import { cidrContainsCidr, cidrContainsIp, compareCidrs, parseCidr, parseIp, type Cidr } from "../../agent/addresses/ip.js";
import { collapseCidrs, setFromCidrs, subtractSets } from "../../agent/addresses/ranges.js";
import { FIXTURES, fixtureJson, fixtureText, mustParse, realFeeds } from "./helpers.js";

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function hostCidrs(ips: readonly string[]): Cidr[] {
  return ips.map((ip) => cidr(ip.includes(":") ? `${ip}/128` : `${ip}/32`));
}

function expectCanonicalList(list: readonly string[]): void {
  const parsed = list.map(cidr);
  expect(parsed.map((c) => c.text)).toEqual(list);
  expect([...parsed].sort(compareCidrs).map((c) => c.text)).toEqual(list);
  expect(new Set(list).size).toBe(list.length);
}

describe("CENR (real capture)", () => {
  const cenr = mustParse("cenr", fixtureText(FIXTURES.cenr));

  it("has 103 cities in 3 continents and 935 rows, none skipped", () => {
    const cities = new Set(cenr.dataCentres.map((dc) => `${dc.continent}/${dc.city}`));
    expect(cities.size).toBe(103);
    expect(new Set(cenr.dataCentres.map((dc) => dc.continent))).toEqual(new Set(["EMEA", "Americas", "APAC"]));
    expect(cenr.rowCount).toBe(935);
    expect(cenr.skippedRows).toEqual([]);
    expect(cenr.ignoredFields).toEqual([]);
  });

  it("has 673 unique ranges: 569 IPv4 and 104 IPv6, canonical, sorted, IPv4 first", () => {
    expect(cenr.cidrs).toHaveLength(673);
    expect(cenr.cidrs.filter((c) => !c.includes(":"))).toHaveLength(569);
    expect(cenr.cidrs.filter((c) => c.includes(":"))).toHaveLength(104);
    expectCanonicalList(cenr.cidrs);
  });

  it("reads the 170 top-level svpnIPs (one duplicate) as 169 unique addresses", () => {
    const raw = (fixtureJson(FIXTURES.cenr) as { svpnIPs: string[] }).svpnIPs;
    expect(raw).toHaveLength(170);
    expect(cenr.svpnIps).toHaveLength(169);
    expect(cenr.svpnIps).toContain("165.225.50.38");
    for (const ip of cenr.svpnIps) expect(parseIp(ip).ok).toBe(true);
    // svpn addresses are their own set, not ranges.
    expect(cenr.cidrs.some((c) => c.startsWith("165.225.50.38/"))).toBe(false);
  });

  it("strips the key prefixes and lowercases hostnames (the capture has Mad3 and Man1)", () => {
    expect(cenr.dataCentres.some((dc) => dc.continent.includes(":") || dc.city.includes(":"))).toBe(false);
    const hostnames = cenr.dataCentres.flatMap((dc) => (dc.hostname === null ? [] : [dc.hostname]));
    expect(new Set(hostnames).size).toBe(105);
    for (const hostname of hostnames) expect(hostname).toMatch(/^[a-z0-9-]+\.sme\.zscaler\.net$/);
    expect(hostnames).toContain("mad3.sme.zscaler.net");
    expect(hostnames).toContain("man1.sme.zscaler.net");
    const madrid = cenr.dataCentres.find((dc) => dc.hostname === "mad3.sme.zscaler.net");
    expect(madrid).toEqual({
      continent: "EMEA",
      city: "Madrid III",
      hostname: "mad3.sme.zscaler.net",
      ranges: ["165.225.92.0/23"],
      vpn: "mad3-vpn.zscaler.net",
      gre: "165.225.92.12",
      ext: "165.225.93.181",
    });
  });

  it("describes a data centre with its hostname, VPN host, GRE VIP and ranges; unused values are null", () => {
    expect(cenr.dataCentres.find((dc) => dc.hostname === "ams2.sme.zscaler.net")).toEqual({
      continent: "EMEA",
      city: "Amsterdam II",
      hostname: "ams2.sme.zscaler.net",
      ranges: ["185.46.212.0/23"],
      vpn: "amsterdam2-vpn.zscaler.net",
      gre: "185.46.212.32",
      ext: null,
    });
    // Rows without a hostname group by GRE VIP; the repeated rows of Amsterdam II collapse.
    const amsterdam = cenr.dataCentres.filter((dc) => dc.city === "Amsterdam II");
    const viaGre = amsterdam.find((dc) => dc.hostname === null && dc.gre === "185.46.212.32");
    expect(viaGre?.ranges).toEqual(["137.31.28.0/23", "137.31.30.0/23", "147.161.132.0/23", "147.161.156.0/23", "147.161.172.0/23", "170.85.78.0/23", "2a03:eec0:1200::/40", "2a03:eec0:321d::/48"]);
    for (const dc of cenr.dataCentres) {
      expect([dc.hostname, dc.vpn, dc.gre, dc.ext]).not.toContain("");
      expectCanonicalList(dc.ranges);
    }
  });

  it("keeps data centres unique and sorted, and together they hold exactly the range list", () => {
    const keys = cenr.dataCentres.map((dc) => JSON.stringify([dc.continent, dc.city, dc.hostname ?? "", dc.vpn ?? "", dc.gre ?? "", dc.ext ?? ""]));
    expect(new Set(keys).size).toBe(keys.length);
    const ordered = cenr.dataCentres.map((dc) => [dc.continent, dc.city, dc.hostname ?? "", dc.vpn ?? "", dc.gre ?? "", dc.ext ?? ""].join("\u0000"));
    expect(ordered).toEqual([...ordered].sort());
    expect(new Set(cenr.dataCentres.flatMap((dc) => dc.ranges))).toEqual(new Set(cenr.cidrs));
  });

  it("reads ext addresses (IPv4 and IPv6) where the row has one", () => {
    const ext = cenr.dataCentres.flatMap((dc) => (dc.ext === null ? [] : [dc.ext]));
    expect(ext.length).toBeGreaterThan(0);
    expect(ext.some((e) => e.includes(":"))).toBe(true);
    for (const address of ext) expect(parseIp(address).ok).toBe(true);
  });
});

describe("hubs (real captures)", () => {
  const { hubsRequired: required, hubsRecommended: recommended } = realFeeds();

  it("required has 174 prefixes, already in the order we normalise to (IPv4 numeric, then IPv6)", () => {
    const raw = (fixtureJson(FIXTURES.hubsRequired) as { hubPrefixes: string[] }).hubPrefixes;
    expect(required.kind).toBe("hubs-required");
    expect(required.cloud).toBe("zscaler.net");
    expect(required.rowCount).toBe(174);
    expect(required.cidrs).toHaveLength(174);
    expect(required.cidrs).toEqual(raw);
    expectCanonicalList(required.cidrs);
  });

  it("required lists some /24s nested inside listed /23s, and keeps both", () => {
    const list = required.cidrs.map(cidr);
    const nested = list.filter((inner) => inner.prefix === 24 && list.some((outer) => outer.prefix === 23 && cidrContainsCidr(outer, inner)));
    expect(nested.map((c) => c.text)).toEqual(expect.arrayContaining(["136.226.156.0/24", "136.226.157.0/24"]));
    expect(collapseCidrs(list).length).toBeLessThan(list.length);
  });

  it("every required prefix is inside recommended", () => {
    expect(recommended.kind).toBe("hubs-recommended");
    expect(recommended.cidrs).toHaveLength(78);
    expectCanonicalList(recommended.cidrs);
    const outside = subtractSets(setFromCidrs(required.cidrs.map(cidr)), setFromCidrs(recommended.cidrs.map(cidr)));
    expect(outside).toEqual([]);
    for (const prefix of required.cidrs.map(cidr)) {
      expect(recommended.cidrs.map(cidr).some((outer) => cidrContainsCidr(outer, prefix)), prefix.text).toBe(true);
    }
  });
});

describe("future (real capture)", () => {
  const { future, cenr, svpn } = realFeeds();

  it("has 54 prefixes", () => {
    expect(future.rowCount).toBe(54);
    expect(future.cidrs).toHaveLength(54);
    expectCanonicalList(future.cidrs);
  });

  it("covers every CENR range and every svpn address", () => {
    const futureSet = setFromCidrs(future.cidrs.map(cidr));
    expect(subtractSets(setFromCidrs(cenr.cidrs.map(cidr)), futureSet)).toEqual([]);
    expect(subtractSets(setFromCidrs(hostCidrs(cenr.svpnIps)), futureSet)).toEqual([]);
    expect(subtractSets(setFromCidrs(hostCidrs(svpn.ips)), futureSet)).toEqual([]);
    const prefixes = future.cidrs.map(cidr);
    for (const ip of svpn.ips) {
      const address = parseIp(ip);
      if (!address.ok) throw new Error(address.reason);
      expect(prefixes.some((p) => cidrContainsIp(p, address.value)), ip).toBe(true);
    }
  });
});

describe("svpn (real values)", () => {
  const { svpn, cenr } = realFeeds();

  it("has 170 entries, 169 unique, the same set as CENR's svpnIPs", () => {
    expect(svpn.rowCount).toBe(170);
    expect(svpn.ips).toHaveLength(169);
    expect(svpn.ips).toEqual(cenr.svpnIps);
    expect(svpn.cidrs).toEqual(svpn.ips.map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`)));
    expectCanonicalList(svpn.cidrs);
  });
});

describe("ZPA (synthetic values, real field names)", () => {
  it("reads the IPs list and the content entries", () => {
    const zpa = mustParse("zpa", fixtureText(FIXTURES.zpa), "private.zscaler.com");
    expect(zpa.cloud).toBe("private.zscaler.com");
    expect(zpa.cidrs).toEqual(["192.0.2.0/24", "198.51.100.0/24", "2001:db8:100::/48"]);
    expect(zpa.content).toEqual([
      {
        protocol: "TCP/UDP",
        port: "443",
        source: "Connector, Private Service Edge, Zscaler Client Connector",
        domains: ["*.private.zscaler.com", "*.prod.zpath.net", "*.prod.zpath.vip"],
        ips: ["192.0.2.0/24", "198.51.100.0/24", "2001:db8:100::/48"],
        dateAdded: "SYNTHETIC - value format unknown",
      },
    ]);
  });

  it("unions the IPs of several entries and deduplicates entries", () => {
    const entry = { "IP Protocol": "TCP", Port: "443", Source: "", Domains: "A.example, b.example", IPs: ["203.0.113.0/24"], "Date Added": "" };
    const payload = {
      "Cloud Name": "private.zscaler.com",
      content: [entry, { ...entry, IPs: ["192.0.2.0/25", "192.0.2.0/25"] }, entry],
    };
    const zpa = mustParse("zpa", JSON.stringify(payload), "private.zscaler.com");
    expect(zpa.cidrs).toEqual(["192.0.2.0/25", "203.0.113.0/24"]);
    expect(zpa.content).toHaveLength(2);
    expect(zpa.content[0]).toMatchObject({ source: null, dateAdded: null, domains: ["a.example", "b.example"] });
  });
});
