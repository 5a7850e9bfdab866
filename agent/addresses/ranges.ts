// Address sets as sorted, disjoint, non-adjacent intervals per family. Used to
// collapse CIDR lists, subtract "except" blocks, and find what a policy leaves uncovered.

import { type Cidr, type IpFamily, cidrLast, familyBits, makeCidr } from "./ip.js";

export interface Interval {
  readonly family: IpFamily;
  readonly start: bigint;
  readonly end: bigint; // inclusive
}

export type AddressSet = readonly Interval[];

function order(a: Interval, b: Interval): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.start !== b.start) return a.start < b.start ? -1 : 1;
  return a.end < b.end ? -1 : a.end > b.end ? 1 : 0;
}

/** Sorts and merges overlapping or adjacent intervals. */
export function normalizeSet(intervals: readonly Interval[]): AddressSet {
  const sorted = [...intervals].sort(order);
  const merged: Interval[] = [];
  for (const next of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.family === next.family && next.start <= last.end + 1n) {
      if (next.end > last.end) merged[merged.length - 1] = { family: last.family, start: last.start, end: next.end };
    } else {
      merged.push(next);
    }
  }
  return merged;
}

export function cidrToInterval(cidr: Cidr): Interval {
  return { family: cidr.family, start: cidr.base, end: cidrLast(cidr) };
}

export function setFromCidrs(cidrs: readonly Cidr[]): AddressSet {
  return normalizeSet(cidrs.map(cidrToInterval));
}

export function unionSets(...sets: AddressSet[]): AddressSet {
  return normalizeSet(sets.flat());
}

/** a minus b. */
export function subtractSets(a: AddressSet, b: AddressSet): AddressSet {
  const result: Interval[] = [];
  for (const interval of a) {
    let pieces: Interval[] = [interval];
    for (const cut of b) {
      if (cut.family !== interval.family) continue;
      const nextPieces: Interval[] = [];
      for (const piece of pieces) {
        if (cut.end < piece.start || cut.start > piece.end) {
          nextPieces.push(piece);
          continue;
        }
        if (cut.start > piece.start) nextPieces.push({ family: piece.family, start: piece.start, end: cut.start - 1n });
        if (cut.end < piece.end) nextPieces.push({ family: piece.family, start: cut.end + 1n, end: piece.end });
      }
      pieces = nextPieces;
      if (pieces.length === 0) break;
    }
    result.push(...pieces);
  }
  return normalizeSet(result);
}

export function intersectSets(a: AddressSet, b: AddressSet): AddressSet {
  return subtractSets(a, subtractSets(a, b));
}

export function isEmptySet(set: AddressSet): boolean {
  return set.length === 0;
}

/** The smallest list of CIDRs covering exactly this set, in address order. */
export function setToCidrs(set: AddressSet): Cidr[] {
  const cidrs: Cidr[] = [];
  for (const { family, start, end } of set) {
    const bits = familyBits(family);
    let cursor = start;
    while (cursor <= end) {
      // Largest aligned block starting at cursor that fits before end.
      let size = 0;
      while (size < bits) {
        const next = size + 1;
        const blockMask = (1n << BigInt(next)) - 1n;
        if ((cursor & blockMask) !== 0n || cursor + blockMask > end) break;
        size = next;
      }
      cidrs.push(makeCidr(family, cursor, bits - size));
      cursor += 1n << BigInt(size);
    }
  }
  return cidrs;
}

/** Collapses adjacent and nested CIDRs into the fewest covering exactly the same addresses. */
export function collapseCidrs(cidrs: readonly Cidr[]): Cidr[] {
  return setToCidrs(setFromCidrs(cidrs));
}
