import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Cidr, cidrContainsIp, makeCidr, parseCidr } from "../../agent/addresses/ip.js";
import { collapseCidrs, intersectSets, setFromCidrs, setToCidrs, subtractSets } from "../../agent/addresses/ranges.js";

function cidrs(...texts: string[]): Cidr[] {
  return texts.map((text) => {
    const parsed = parseCidr(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.value;
  });
}
const texts = (list: Cidr[]) => list.map((c) => c.text);

describe("address sets", () => {
  it("collapses adjacent and nested blocks", () => {
    expect(texts(collapseCidrs(cidrs("10.0.1.0/24", "10.0.0.0/24", "10.0.0.128/25", "10.0.2.0/23")))).toEqual(["10.0.0.0/22"]);
    expect(texts(collapseCidrs(cidrs("10.0.0.0/24", "10.0.2.0/24")))).toEqual(["10.0.0.0/24", "10.0.2.0/24"]);
  });
  it("orders IPv4 before IPv6 and never merges across families", () => {
    expect(texts(collapseCidrs(cidrs("2001:db8::/33", "10.0.0.0/8", "2001:db8:8000::/33")))).toEqual(["10.0.0.0/8", "2001:db8::/32"]);
  });
  it("subtracts an except block into the fewest CIDRs", () => {
    const rest = setToCidrs(subtractSets(setFromCidrs(cidrs("10.0.0.0/8")), setFromCidrs(cidrs("10.0.0.0/9"))));
    expect(texts(rest)).toEqual(["10.128.0.0/9"]);
    const hole = setToCidrs(subtractSets(setFromCidrs(cidrs("192.0.2.0/24")), setFromCidrs(cidrs("192.0.2.64/26"))));
    expect(texts(hole)).toEqual(["192.0.2.0/26", "192.0.2.128/25"]);
  });

  const v4Cidr = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 20, max: 32 })).map(([v, p]) => makeCidr(4, BigInt(v) & 0xff_ff_ffn | 0x0a00_0000n, p));
  const probe = fc.integer({ min: 0, max: 2 ** 24 - 1 }).map((v) => ({ family: 4 as const, value: BigInt(v) | 0x0a00_0000n, text: "" }));
  const inAny = (list: Cidr[], address: { family: 4; value: bigint; text: string }) => list.some((c) => cidrContainsIp(c, address));

  it("collapse covers exactly the same addresses (property)", () => {
    fc.assert(
      fc.property(fc.array(v4Cidr, { maxLength: 12 }), fc.array(probe, { minLength: 20, maxLength: 20 }), (list, probes) => {
        const collapsed = collapseCidrs(list);
        for (const address of probes) expect(inAny(collapsed, address)).toBe(inAny(list, address));
        // No two results overlap or could merge.
        expect(collapseCidrs(collapsed)).toEqual(collapsed);
      }),
    );
  });

  it("subtract and intersect agree with membership (property)", () => {
    fc.assert(
      fc.property(fc.array(v4Cidr, { maxLength: 8 }), fc.array(v4Cidr, { maxLength: 8 }), fc.array(probe, { minLength: 20, maxLength: 20 }), (a, b, probes) => {
        const minus = setToCidrs(subtractSets(setFromCidrs(a), setFromCidrs(b)));
        const both = setToCidrs(intersectSets(setFromCidrs(a), setFromCidrs(b)));
        for (const address of probes) {
          expect(inAny(minus, address)).toBe(inAny(a, address) && !inAny(b, address));
          expect(inAny(both, address)).toBe(inAny(a, address) && inAny(b, address));
        }
      }),
    );
  });
});
