// IP addresses and CIDR blocks as plain values. IPv4 and IPv6 are kept apart:
// an IPv4 block never contains an IPv6 address, even an IPv4-mapped one.

import { isIPv4, isIPv6 } from "node:net";

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
  readonly text: string;
}

export interface Cidr {
  readonly family: IpFamily;
  /** The network address: the input with host bits masked off. */
  readonly base: bigint;
  readonly prefix: number;
  /** Canonical text, e.g. "10.0.0.0/8", "2001:db8::/32". */
  readonly text: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

export function familyBits(family: IpFamily): number {
  return BITS[family];
}

function parseIpv4Value(text: string): bigint {
  let value = 0n;
  for (const octet of text.split(".")) value = (value << 8n) | BigInt(Number(octet));
  return value;
}

function parseIpv6Value(text: string): bigint {
  // Expand an embedded IPv4 tail ("::ffff:1.2.3.4") into two hextets first.
  let body = text;
  const lastColon = body.lastIndexOf(":");
  const tail = body.slice(lastColon + 1);
  if (tail.includes(".")) {
    const v4 = parseIpv4Value(tail);
    body = `${body.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = "", rest] = body.split("::");
  const headParts = head === "" ? [] : head.split(":");
  const restParts = rest === undefined || rest === "" ? [] : rest.split(":");
  const missing = 8 - headParts.length - restParts.length;
  const parts = rest === undefined ? headParts : [...headParts, ...Array<string>(missing).fill("0"), ...restParts];
  let value = 0n;
  for (const part of parts) value = (value << 16n) | BigInt(parseInt(part, 16));
  return value;
}

export function parseIp(text: string): Parsed<IpAddress> {
  const trimmed = text.trim();
  if (isIPv4(trimmed)) {
    const value = parseIpv4Value(trimmed);
    return { ok: true, value: { family: 4, value, text: formatIp(4, value) } };
  }
  if (isIPv6(trimmed) && !trimmed.includes("%")) {
    const value = parseIpv6Value(trimmed);
    return { ok: true, value: { family: 6, value, text: formatIp(6, value) } };
  }
  return { ok: false, reason: `"${text}" is not an IPv4 or IPv6 address` };
}

export function isIpLiteral(text: string): boolean {
  return isIPv4(text) || (isIPv6(text) && !text.includes("%"));
}

export function formatIp(family: IpFamily, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join(".");
  }
  const hextets: number[] = [];
  for (let i = 7; i >= 0; i--) hextets.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (of two or more) of zero hextets, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (hextets[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hextets[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = hextets.map((h) => h.toString(16));
  if (bestStart < 0) return hex.join(":");
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLength).join(":");
  return `${left}::${right}`;
}

function maskFor(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  const all = (1n << bits) - 1n;
  return (all >> BigInt(prefix)) ^ all;
}

/** Builds a CIDR from a network value, masking host bits. */
export function makeCidr(family: IpFamily, value: bigint, prefix: number): Cidr {
  const base = value & maskFor(family, prefix);
  return { family, base, prefix, text: `${formatIp(family, base)}/${prefix}` };
}

/**
 * Parses "addr/prefix". Host bits are masked ("10.1.2.3/8" is 10.0.0.0/8), as the
 * Kubernetes API's CIDR parsing does. A bare address is refused: ipBlock needs a prefix.
 */
export function parseCidr(text: string): Parsed<Cidr> {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  if (slash < 0) return { ok: false, reason: `"${text}" is not a CIDR (missing "/prefix")` };
  const address = parseIp(trimmed.slice(0, slash));
  if (!address.ok) return { ok: false, reason: `"${text}" is not a CIDR: ${address.reason}` };
  const prefixText = trimmed.slice(slash + 1);
  const prefix = Number(prefixText);
  const bits = BITS[address.value.family];
  if (!/^\d{1,3}$/.test(prefixText) || prefix > bits) {
    return { ok: false, reason: `"${text}" has an invalid prefix length (0-${bits} for IPv${address.value.family})` };
  }
  return { ok: true, value: makeCidr(address.value.family, address.value.value, prefix) };
}

/** Parses either a CIDR or a bare address (a bare address becomes a /32 or /128). */
export function parseCidrOrIp(text: string): Parsed<Cidr> {
  if (text.includes("/")) return parseCidr(text);
  const address = parseIp(text);
  if (!address.ok) return address;
  return { ok: true, value: makeCidr(address.value.family, address.value.value, BITS[address.value.family]) };
}

export function cidrContainsIp(cidr: Cidr, ip: IpAddress): boolean {
  return cidr.family === ip.family && (ip.value & maskFor(cidr.family, cidr.prefix)) === cidr.base;
}

export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    inner.prefix >= outer.prefix &&
    (inner.base & maskFor(outer.family, outer.prefix)) === outer.base
  );
}

/** The last address inside a CIDR. */
export function cidrLast(cidr: Cidr): bigint {
  return cidr.base | ((1n << BigInt(BITS[cidr.family] - cidr.prefix)) - 1n);
}

export function compareCidrs(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  return a.prefix - b.prefix;
}

/** JSON of a value that may hold parsed addresses (bigints), for comparing plain data. */
export function jsonOf(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === "bigint" ? item.toString() : item));
}
