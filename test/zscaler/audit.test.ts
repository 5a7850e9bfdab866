// The Zscaler coverage audit against the real feeds (future + hubs-recommended, CENR), with
// policies that cover all, some and none of the ranges; and as properties: the verdict is the
// same for every address of an interval, and the audit agrees with asking the engine about
// every single address of a small address space.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Cidr, cidrContainsCidr, familyBits, formatIp, type IpFamily, makeCidr, parseCidr } from "../../agent/addresses/ip.js";
import { cidrToInterval, collapseCidrs, intersectSets, type Interval, normalizeSet, setFromCidrs, setToCidrs, subtractSets } from "../../agent/addresses/ranges.js";
import type { Json } from "../../agent/documents/fields.js";
import { type Endpoint, evaluateConnection, type PolicyIndex } from "../../agent/policy/engine.js";
import { auditCoverage, uncoveredRanges, verdictBoundaries, verdictIntervals } from "../../agent/zscaler/audit.js";
import { adminCluster, anp, banp, everyone, namespace, networkPolicy, pod } from "../policy-admin/helpers.js";
import { realFeeds } from "./helpers.js";

const feeds = realFeeds();

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

const cidrs = (texts: readonly string[]): Cidr[] => texts.map(cidr);
const texts = (list: readonly Cidr[]): string[] => list.map((c) => c.text);

/** The published ranges of the smallest ZIA allowlist (future + hubs-recommended), as published. */
const ZIA = cidrs([...feeds.future.cidrs, ...feeds.hubsRecommended.cidrs]);
/** CENR ranges and its svpnIPs (as /32 and /128). */
const CENR = cidrs([...feeds.cenr.cidrs, ...feeds.cenr.svpnIps.map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`))]);
const PORTS = [80, 443, 9400, 9480, 9443];

const WEB = { labels: { app: "web" }, ips: ["10.0.0.5"] };
const base = (): Json[] => [namespace("shop"), pod("shop/web", WEB), pod("shop/api", { labels: { app: "api" }, ips: ["10.0.0.6"] })];

function setup(...objects: Json[]): { index: PolicyIndex; web: Endpoint } {
  const c = adminCluster(...base(), ...objects);
  return { index: c.index, web: c.endpoint("shop/web") };
}

/** Egress of app=web: one rule per entry. */
function webEgress(...rules: Json[]): Json {
  return networkPolicy("shop/web-egress", { podSelector: { matchLabels: { app: "web" } }, policyTypes: ["Egress"], egress: rules });
}

const tcp = (...ports: number[]): Json[] => ports.map((port) => ({ protocol: "TCP", port }));
const blocks = (...list: (string | { cidr: string; except: string[] })[]): Json[] =>
  list.map((entry) => ({ ipBlock: typeof entry === "string" ? { cidr: entry } : entry }));

/** Ranges of the list that lie entirely inside one of the given blocks. */
function inside(ranges: readonly Cidr[], within: readonly string[]): string[] {
  const outer = cidrs(within);
  return [...new Set(texts(ranges.filter((r) => outer.some((o) => cidrContainsCidr(o, r)))))];
}

function unique(ranges: readonly Cidr[]): string[] {
  return [...new Set(texts(ranges))];
}

describe("auditCoverage on the real feeds", () => {
  it("with no policy at all, every range is covered on every port", () => {
    const { index, web } = setup();
    for (const ranges of [ZIA, CENR]) {
      const audit = auditCoverage(index, web, ranges, PORTS);
      expect(audit.uncovered).toEqual([]);
      expect(texts(audit.covered)).toEqual(texts(collapseCidrs(ranges)));
      expect([...audit.perPort.keys()]).toEqual([80, 443, 9400, 9443, 9480]);
      for (const list of audit.perPort.values()) expect(list).toEqual([]);
      expect(audit.ranges.every((r) => r.covered)).toBe(true);
      expect(audit.ranges.map((r) => r.range.text)).toEqual(unique(ranges));
      expect(uncoveredRanges(index, web, ranges, PORTS)).toEqual([]);
      expect(audit.undetermined).toEqual([]);
    }
  });

  it("with a default deny and no rules, no range is covered", () => {
    const { index, web } = setup(networkPolicy("shop/default-deny", { podSelector: {}, policyTypes: ["Egress"] }));
    const audit = auditCoverage(index, web, ZIA, PORTS);
    expect(audit.covered).toEqual([]);
    expect(texts(audit.uncovered)).toEqual(texts(collapseCidrs(ZIA)));
    for (const port of PORTS) expect(texts(audit.perPort.get(port) ?? [])).toEqual(texts(collapseCidrs(ZIA)));
    expect(texts(uncoveredRanges(index, web, ZIA, PORTS))).toEqual(unique(ZIA));
    expect(audit.ranges.every((r) => !r.covered && r.uncoveredPorts.length === PORTS.length)).toBe(true);
    // Another pod of the namespace is isolated as well; a pod of another namespace is not.
    const other = adminCluster(...base(), namespace("misc"), pod("misc/x", { ips: ["10.0.1.1"] }), networkPolicy("shop/default-deny", { podSelector: {}, policyTypes: ["Egress"] }));
    expect(auditCoverage(other.index, other.endpoint("misc/x"), ZIA, PORTS).uncovered).toEqual([]);
  });

  it("with a rule to every address on the ports, every range is covered (IPv4 and IPv6)", () => {
    const { index, web } = setup(webEgress({ to: blocks("0.0.0.0/0", "::/0"), ports: tcp(...PORTS) }));
    expect(uncoveredRanges(index, web, ZIA, PORTS)).toEqual([]);
    expect(uncoveredRanges(index, web, CENR, PORTS)).toEqual([]);
    // Without the IPv6 block, exactly the IPv6 ranges are uncovered.
    const v4only = setup(webEgress({ to: blocks("0.0.0.0/0"), ports: tcp(...PORTS) }));
    const audit = auditCoverage(v4only.index, v4only.web, ZIA, PORTS);
    expect(texts(audit.uncovered)).toEqual(["2400:7aa0::/32", "2605:4300::/32", "2a03:eec0::/32"]);
    expect(texts(uncoveredRanges(v4only.index, v4only.web, ZIA, PORTS))).toEqual(unique(ZIA.filter((r) => r.family === 6)));
  });

  it("with a rule to part of the space, covers exactly the ranges inside it", () => {
    const part = ["165.225.0.0/16", "136.226.0.0/16"];
    const { index, web } = setup(webEgress({ to: blocks(...part), ports: tcp(443) }));
    for (const ranges of [ZIA, CENR]) {
      const audit = auditCoverage(index, web, ranges, [443]);
      expect(audit.ranges.filter((r) => r.covered).map((r) => r.range.text)).toEqual(inside(ranges, part));
      const expectedCovered = intersectSets(setFromCidrs(ranges), setFromCidrs(cidrs(part)));
      expect(texts(audit.covered)).toEqual(texts(setToCidrs(expectedCovered)));
      expect(texts(audit.uncovered)).toEqual(texts(setToCidrs(subtractSets(setFromCidrs(ranges), setFromCidrs(cidrs(part))))));
    }
    // CENR holds ranges inside and outside those blocks: some, not all, are covered.
    const cenr = auditCoverage(index, web, CENR, [443]);
    expect(cenr.ranges.some((r) => r.covered)).toBe(true);
    expect(cenr.ranges.some((r) => !r.covered)).toBe(true);
  });

  it("an except block carves a hole: only the ranges that overlap it are uncovered", () => {
    const hole = "165.225.8.0/23";
    const { index, web } = setup(webEgress({ to: blocks({ cidr: "0.0.0.0/0", except: [hole] }, "::/0"), ports: tcp(...PORTS) }));
    const audit = auditCoverage(index, web, ZIA, PORTS);
    expect(texts(audit.uncovered)).toEqual([hole]);
    for (const port of PORTS) expect(texts(audit.perPort.get(port) ?? [])).toEqual([hole]);
    const overlapping = unique(ZIA.filter((r) => cidrContainsCidr(r, cidr(hole)) || cidrContainsCidr(cidr(hole), r)));
    expect(overlapping).toContain("165.225.0.0/17");
    expect(texts(uncoveredRanges(index, web, ZIA, PORTS))).toEqual(overlapping);
    // The covered part is everything else, as the fewest CIDRs.
    expect(texts(audit.covered)).toEqual(texts(setToCidrs(subtractSets(setFromCidrs(ZIA), setFromCidrs([cidr(hole)])))));
  });

  it("reports per-port differences", () => {
    const { index, web } = setup(
      webEgress({ to: blocks("0.0.0.0/0", "::/0"), ports: tcp(80, 443) }, { to: blocks("165.225.0.0/17"), ports: tcp(9400) }, { to: blocks("0.0.0.0/0", "::/0"), ports: [{ protocol: "UDP", port: 9480 }] }),
    );
    const audit = auditCoverage(index, web, ZIA, [443, 80, 9400, 9480, 443]);
    expect([...audit.perPort.keys()]).toEqual([80, 443, 9400, 9480]);
    expect(audit.perPort.get(80)).toEqual([]);
    expect(audit.perPort.get(443)).toEqual([]);
    expect(texts(audit.perPort.get(9400) ?? [])).toEqual(texts(setToCidrs(subtractSets(setFromCidrs(ZIA), setFromCidrs([cidr("165.225.0.0/17")])))));
    // UDP 9480 does not admit TCP 9480.
    expect(texts(audit.perPort.get(9480) ?? [])).toEqual(texts(collapseCidrs(ZIA)));
    const byRange = new Map(audit.ranges.map((r) => [r.range.text, r.uncoveredPorts]));
    expect(byRange.get("165.225.0.0/17")).toEqual([9480]);
    expect(byRange.get("136.226.0.0/16")).toEqual([9400, 9480]);
    // The same rules judged for UDP: 9480 is covered everywhere, nothing else is.
    const udp = auditCoverage(index, web, ZIA, [9480], "UDP");
    expect(udp.uncovered).toEqual([]);
  });

  it("an AdminNetworkPolicy Deny on part of the space overrides NetworkPolicy", () => {
    const denied = "165.225.0.0/18";
    const { index, web } = setup(
      anp("no-zscaler-part", { priority: 10, subject: everyone, egress: [{ name: "deny-part", action: "Deny", to: [{ networks: [denied] }] }] }),
      webEgress({ to: blocks("0.0.0.0/0", "::/0") }),
    );
    const audit = auditCoverage(index, web, ZIA, PORTS);
    expect(texts(audit.uncovered)).toEqual(texts(setToCidrs(intersectSets(setFromCidrs(ZIA), setFromCidrs([cidr(denied)])))));
    expect(texts(uncoveredRanges(index, web, ZIA, PORTS))).toContain("165.225.0.0/17");
    // Deny only on 443: the other ports stay covered.
    const on443 = setup(anp("deny-443", { priority: 10, subject: everyone, egress: [{ action: "Deny", to: [{ networks: [denied] }], ports: [{ portNumber: { protocol: "TCP", port: 443 } }] }] }));
    const perPort = auditCoverage(on443.index, on443.web, ZIA, PORTS).perPort;
    expect(texts(perPort.get(443) ?? [])).toEqual([denied]);
    expect(perPort.get(9400)).toEqual([]);
  });

  it("a BaselineAdminNetworkPolicy deny-all with an ANP Allow covers what the ANP allows", () => {
    const allowed = ["136.226.0.0/16", "2605:4300::/32"];
    const { index, web } = setup(
      banp({ subject: everyone, egress: [{ action: "Deny", to: [{ networks: ["0.0.0.0/0", "::/0"] }] }] }),
      anp("zscaler", { priority: 5, subject: everyone, egress: [{ action: "Allow", to: [{ networks: allowed }], ports: [{ portRange: { protocol: "TCP", start: 1, end: 65535 } }] }] }),
    );
    const audit = auditCoverage(index, web, ZIA, PORTS);
    expect(audit.ranges.filter((r) => r.covered).map((r) => r.range.text)).toEqual(inside(ZIA, allowed));
    // The BANP is not consulted for a pod its NetworkPolicies isolate: this one allows everything.
    const isolated = setup(
      banp({ subject: everyone, egress: [{ action: "Deny", to: [{ networks: ["0.0.0.0/0", "::/0"] }] }] }),
      webEgress({ to: blocks("0.0.0.0/0", "::/0") }),
    );
    expect(auditCoverage(isolated.index, isolated.web, ZIA, PORTS).uncovered).toEqual([]);
  });

  it("an admin rule with a domainNames peer leaves the addresses it might match undetermined", () => {
    const { index, web } = setup(
      anp("by-name", { priority: 1, subject: everyone, egress: [{ action: "Allow", to: [{ domainNames: ["*.zscaler.net"] }] }] }),
      networkPolicy("shop/default-deny", { podSelector: {}, policyTypes: ["Egress"] }),
    );
    const audit = auditCoverage(index, web, ZIA, [443]);
    expect(texts(audit.uncovered)).toEqual(texts(collapseCidrs(ZIA)));
    expect(texts(audit.undetermined)).toEqual(texts(collapseCidrs(ZIA)));
  });

  it("treats a Zscaler address as the external address it is, even when a pod in the snapshot holds it", () => {
    // A pod whose IP sits inside a Zscaler range, isolated for ingress, selected by the web policy's pod peer.
    const { index, web } = setup(
      pod("shop/trap", { labels: { app: "trap" }, ips: ["165.225.1.1"] }),
      networkPolicy("shop/trap-ingress", { podSelector: { matchLabels: { app: "trap" } }, policyTypes: ["Ingress"] }),
      webEgress({ to: [{ podSelector: { matchLabels: { app: "trap" } } }] }),
    );
    // The pod peer admits the pod, not the address: every range is uncovered, the trap's included.
    const audit = auditCoverage(index, web, ZIA, [443]);
    expect(texts(audit.uncovered)).toEqual(texts(collapseCidrs(ZIA)));
    // And with an ipBlock rule the trap pod's ingress isolation does not matter.
    const open = setup(
      pod("shop/trap", { labels: { app: "trap" }, ips: ["165.225.1.1"] }),
      networkPolicy("shop/trap-ingress", { podSelector: { matchLabels: { app: "trap" } }, policyTypes: ["Ingress"] }),
      webEgress({ to: blocks("165.225.0.0/16") }),
    );
    const covered = auditCoverage(open.index, open.web, cidrs(["165.225.0.0/17"]), [443]);
    expect(covered.uncovered).toEqual([]);
    expect(covered.undetermined).toEqual([]);
  });

  it("asks the engine once per interval and port, not per range", () => {
    const { index, web } = setup(webEgress({ to: blocks({ cidr: "0.0.0.0/0", except: ["165.225.8.0/23"] }, "::/0"), ports: tcp(...PORTS) }));
    const audit = auditCoverage(index, web, CENR, PORTS);
    const intervals = verdictIntervals(CENR, verdictBoundaries(index, web));
    expect(audit.evaluations).toBe(intervals.length * PORTS.length);
    expect(intervals.length).toBeLessThan(unique(CENR).length);
  });
});

// ---- properties ----

const SPACE4 = cidr("10.20.0.0/22"); // 1,024 addresses: small enough to ask about every one
const SPACE6 = cidr("2001:db8::/118"); // 1,024 addresses as well

function cidrIn(space: Cidr): fc.Arbitrary<string> {
  const bits = familyBits(space.family);
  const hostBits = bits - space.prefix;
  return fc.tuple(fc.integer({ min: 0, max: 2 ** hostBits - 1 }), fc.integer({ min: space.prefix, max: bits })).map(([offset, prefix]) => makeCidr(space.family, space.base + BigInt(offset), prefix).text);
}

const anyCidr = fc.oneof(cidrIn(SPACE4), cidrIn(SPACE6));

/** An ipBlock with excepts strictly inside it (the API's rule), or none. */
const ipBlockArb = anyCidr.chain((outer) => {
  const o = cidr(outer);
  const bits = familyBits(o.family);
  if (o.prefix >= bits) return fc.constant({ cidr: outer } as Json);
  return fc
    .array(fc.tuple(fc.bigInt({ min: 0n, max: (1n << BigInt(bits - o.prefix)) - 1n }), fc.integer({ min: o.prefix + 1, max: bits })), { maxLength: 3 })
    .map((list) => ({ cidr: outer, except: list.map(([offset, prefix]) => makeCidr(o.family, o.base + offset, prefix).text) }) as Json);
});

const portsArb = fc.option(fc.array(fc.constantFrom(443, 9400, 53), { minLength: 1, maxLength: 2 }), { nil: undefined });

const ruleArb = fc.record({ blocks: fc.array(ipBlockArb, { minLength: 1, maxLength: 3 }), ports: portsArb }).map(({ blocks: list, ports }) => ({
  to: list.map((ipBlock) => ({ ipBlock })),
  ...(ports ? { ports: ports.map((port) => ({ protocol: "TCP", port })) } : {}),
}));

const adminRuleArb = fc.record({
  action: fc.constantFrom("Allow", "Deny", "Pass"),
  networks: fc.uniqueArray(anyCidr, { minLength: 1, maxLength: 3, selector: (text) => cidr(text).text }),
  port: fc.option(fc.constantFrom(443, 9400), { nil: undefined }),
});

const clusterArb = fc.record({
  rules: fc.array(ruleArb, { maxLength: 3 }),
  isolated: fc.boolean(),
  admin: fc.array(adminRuleArb, { maxLength: 3 }),
  baseline: fc.option(fc.array(adminRuleArb.map((r) => ({ ...r, action: r.action === "Pass" ? "Deny" : r.action })), { minLength: 1, maxLength: 2 }), { nil: undefined }),
  ranges: fc.array(anyCidr, { minLength: 1, maxLength: 6 }),
});

type ClusterCase = typeof clusterArb extends fc.Arbitrary<infer T> ? T : never;

function adminRuleJson(rule: { action: string; networks: string[]; port: number | undefined }): Json {
  return {
    action: rule.action,
    to: [{ networks: rule.networks }],
    ...(rule.port !== undefined ? { ports: [{ portNumber: { protocol: "TCP", port: rule.port } }] } : {}),
  };
}

function build(c: ClusterCase) {
  const objects: Json[] = [];
  if (c.isolated || c.rules.length > 0) objects.push(webEgress(...c.rules));
  if (c.admin.length > 0) objects.push(anp("a", { priority: 10, subject: everyone, egress: c.admin.map(adminRuleJson) }));
  if (c.baseline) objects.push(banp({ subject: everyone, egress: c.baseline.map(adminRuleJson) }));
  return setup(...objects);
}

function addressEndpoint(family: IpFamily, value: bigint): Endpoint {
  return { kind: "ip", ip: { family, value, text: formatIp(family, value) } };
}

const PROPERTY_PORTS = [443, 9400, 53];

describe("auditCoverage properties", () => {
  it("the verdict is the same for every address of an interval", () => {
    fc.assert(
      fc.property(clusterArb, fc.array(fc.tuple(fc.nat(), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 10 }), (c, picks) => {
        const { index, web } = build(c);
        const intervals = verdictIntervals(cidrs(c.ranges), verdictBoundaries(index, web));
        for (const [which, where] of picks) {
          const interval = intervals[which % intervals.length] as Interval;
          const span = interval.end - interval.start;
          const offset = BigInt(Math.floor(Number(span) * where));
          const address = interval.start + (offset > span ? span : offset);
          for (const port of PROPERTY_PORTS) {
            const first = evaluateConnection(index, { from: web, to: addressEndpoint(interval.family, interval.start), port, protocol: "TCP" });
            const other = evaluateConnection(index, { from: web, to: addressEndpoint(interval.family, address), port, protocol: "TCP" });
            const last = evaluateConnection(index, { from: web, to: addressEndpoint(interval.family, interval.end), port, protocol: "TCP" });
            expect([other.verdict, last.verdict]).toEqual([first.verdict, first.verdict]);
            expect([other.determinate, last.determinate]).toEqual([first.determinate, first.determinate]);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it("the intervals partition the union of the ranges", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const { index, web } = build(c);
        const intervals = verdictIntervals(cidrs(c.ranges), verdictBoundaries(index, web));
        for (let i = 1; i < intervals.length; i++) {
          const a = intervals[i - 1] as Interval;
          const b = intervals[i] as Interval;
          expect(a.family < b.family || (a.family === b.family && a.end < b.start)).toBe(true);
        }
        expect(normalizeSet(intervals)).toEqual(setFromCidrs(cidrs(c.ranges)));
      }),
      { numRuns: 200 },
    );
  });

  it("agrees with asking the engine about every address", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const { index, web } = build(c);
        const ranges = cidrs(c.ranges);
        const audit = auditCoverage(index, web, ranges, PROPERTY_PORTS);
        const deniedByPort = new Map<number, Interval[]>(PROPERTY_PORTS.map((p) => [p, []]));
        for (const piece of setFromCidrs(ranges)) {
          for (let value = piece.start; value <= piece.end; value++) {
            for (const port of PROPERTY_PORTS) {
              const verdict = evaluateConnection(index, { from: web, to: addressEndpoint(piece.family, value), port, protocol: "TCP" });
              if (verdict.verdict === "deny") deniedByPort.get(port)?.push({ family: piece.family, start: value, end: value });
            }
          }
        }
        const uncovered = normalizeSet([...deniedByPort.values()].flat());
        expect(texts(audit.uncovered)).toEqual(texts(setToCidrs(uncovered)));
        expect(texts(audit.covered)).toEqual(texts(setToCidrs(subtractSets(setFromCidrs(ranges), uncovered))));
        for (const port of PROPERTY_PORTS) expect(texts(audit.perPort.get(port) ?? [])).toEqual(texts(setToCidrs(normalizeSet(deniedByPort.get(port) ?? []))));
        for (const entry of audit.ranges) {
          const range = cidrToInterval(entry.range);
          const hit = uncovered.some((u) => u.family === range.family && u.start <= range.end && u.end >= range.start);
          expect(entry.covered).toBe(!hit);
        }
        expect(audit.ranges.map((r) => r.range.text)).toEqual([...new Set(c.ranges.map((t) => cidr(t).text))]);
      }),
      { numRuns: 60 },
    );
  });
});
