// Which endpoints of a large target this agent probes: rendezvous hashing (highest random
// weight). Each endpoint's weight is a stable hash of the agent's node name and the endpoint's
// key; the k heaviest are chosen. The same inputs always give the same choice, every node
// gets its own share, and an endpoint coming or going changes a node's choice by at most that
// endpoint (the others keep their weights), so edges and their history survive churn.
// (goldpinger's --ping-number, kubenurse's neighbour limit.) Pure, and a leaf: targets/,
// derive/ and the inbound source check share it without importing each other.

import { createHash } from "node:crypto";

/** A stable 48-bit weight of (seed, key): the first bytes of their SHA-256. */
export function rendezvousWeight(seed: string, key: string): number {
  return createHash("sha256").update(seed).update("\u0000").update(key).digest().readUIntBE(0, 6);
}

/**
 * A stable 53-bit hash of a text under a 32-bit seed (cyrb53): some thirty times cheaper than
 * rendezvousWeight, for weights computed in bulk (every candidate of every rule, derive/derive.ts).
 */
export function cheapWeight(seed: number, key: string): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The k items of the heaviest weight for this seed, in their original order. */
export function chooseByRendezvous<T>(items: readonly T[], keyOf: (item: T) => string, seed: string, k: number): T[] {
  if (items.length <= k) return [...items];
  const weighted = items.map((item, index) => ({ index, key: keyOf(item), weight: rendezvousWeight(seed, keyOf(item)) }));
  // Ties (never seen with 48 bits, but possible) are broken by key: still one answer.
  weighted.sort((a, b) => b.weight - a.weight || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const chosen = new Set(weighted.slice(0, Math.max(0, k)).map((entry) => entry.index));
  return items.filter((_item, index) => chosen.has(index));
}
