import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cidrContainsCidr, cidrContainsIp, formatIp, parseCidr, parseCidrOrIp, parseIp } from "../../agent/addresses/ip.js";

function ip(text: string) {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}
function cidr(text: string) {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

describe("IP addresses", () => {
  it("parses IPv4 and IPv6 into canonical text", () => {
    expect(ip("10.0.0.1").text).toBe("10.0.0.1");
    expect(ip("2001:DB8:0:0:0:0:0:1").text).toBe("2001:db8::1");
    expect(ip("::").text).toBe("::");
    expect(ip("::ffff:192.0.2.1").text).toBe("::ffff:c000:201");
    expect(ip("2001:db8:0:1:0:0:0:1").text).toBe("2001:db8:0:1::1");
  });
  it("refuses what is not an address", () => {
    for (const bad of ["", "1.2.3", "1.2.3.256", "fe80::1%eth0", "example.com", "10.0.0.0/8"]) expect(parseIp(bad).ok).toBe(false);
  });
  it("round-trips every IPv6 value through text", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (value) => {
        expect(ip(formatIp(6, value)).value).toBe(value);
      }),
    );
  });
});

describe("CIDR blocks", () => {
  it("masks host bits as the API server does", () => {
    expect(cidr("10.1.2.3/8").text).toBe("10.0.0.0/8");
    expect(cidr("2001:db8::1/32").text).toBe("2001:db8::/32");
  });
  it("refuses bad prefixes and bare addresses", () => {
    expect(parseCidr("10.0.0.0/33").ok).toBe(false);
    expect(parseCidr("2001:db8::/129").ok).toBe(false);
    expect(parseCidr("10.0.0.0").ok).toBe(false);
    expect(parseCidr("10.0.0.0/-1").ok).toBe(false);
    expect(parseCidrOrIp("10.0.0.1").ok && parseCidrOrIp("10.0.0.1")).toMatchObject({ value: { text: "10.0.0.1/32" } });
  });
  it("keeps IPv4 and IPv6 apart", () => {
    expect(cidrContainsIp(cidr("0.0.0.0/0"), ip("::1"))).toBe(false);
    expect(cidrContainsIp(cidr("::/0"), ip("10.0.0.1"))).toBe(false);
    expect(cidrContainsIp(cidr("::ffff:0:0/96"), ip("10.0.0.1"))).toBe(false);
  });
  it("contains exactly its own range, ends included", () => {
    const block = cidr("192.0.2.0/24");
    expect(cidrContainsIp(block, ip("192.0.2.0"))).toBe(true);
    expect(cidrContainsIp(block, ip("192.0.2.255"))).toBe(true);
    expect(cidrContainsIp(block, ip("192.0.3.0"))).toBe(false);
    expect(cidrContainsIp(block, ip("192.0.1.255"))).toBe(false);
    expect(cidrContainsCidr(block, cidr("192.0.2.128/25"))).toBe(true);
    expect(cidrContainsCidr(cidr("192.0.2.128/25"), block)).toBe(false);
  });
});
