// Which endpoints of a large target an agent probes (agent/hashing/rendezvous.ts): the same
// inputs give the same choice, whatever their order; an endpoint coming or going changes a
// node's choice by at most that endpoint; every endpoint is someone's choice.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cheapWeight, chooseByRendezvous } from "../../agent/hashing/rendezvous.js";

const keysArb = fc.uniqueArray(fc.stringMatching(/^[a-z]{1,6}\/[a-z0-9-]{1,10}$/), { minLength: 1, maxLength: 40 });
const nodeArb = fc.stringMatching(/^node-[a-z0-9]{1,8}$/);
const choose = (keys: readonly string[], node: string, k: number) => new Set(chooseByRendezvous(keys, (key) => key, node, k));

describe("rendezvous choice of endpoints", () => {
  it("is a function of the set of endpoints, the node and k: order does not matter, and it keeps their order", () => {
    fc.assert(
      fc.property(keysArb, nodeArb, fc.integer({ min: 1, max: 10 }), fc.nat(), (keys, node, k, seed) => {
        const shuffled = [...keys].sort((a, b) => (((a.charCodeAt(0) * 31 + seed) % 7) - ((b.charCodeAt(0) * 31 + seed) % 7)) || (a < b ? -1 : 1));
        const chosen = chooseByRendezvous(keys, (key) => key, node, k);
        expect(chosen).toHaveLength(Math.min(k, keys.length));
        expect(new Set(chooseByRendezvous(shuffled, (key) => key, node, k))).toEqual(new Set(chosen));
        expect(chosen).toEqual(keys.filter((key) => chosen.includes(key)));
        expect(chooseByRendezvous(keys, (key) => key, node, k)).toEqual(chosen);
      }),
    );
  });

  it("an endpoint added changes the choice by at most that endpoint; one removed, by at most its replacement", () => {
    fc.assert(
      fc.property(keysArb, fc.stringMatching(/^[a-z]{1,6}\/new-[a-z0-9]{1,6}$/), nodeArb, fc.integer({ min: 1, max: 10 }), (keys, added, node, k) => {
        fc.pre(!keys.includes(added));
        const before = choose(keys, node, k);
        const after = choose([...keys, added], node, k);
        const gained = [...after].filter((key) => !before.has(key));
        const lost = [...before].filter((key) => !after.has(key));
        expect(gained.filter((key) => key !== added)).toEqual([]);
        expect(lost.length).toBeLessThanOrEqual(1);
        expect(lost.length).toBe(gained.length === 1 && keys.length >= k ? 1 : 0);

        const removed = keys[0] as string;
        const rest = choose(keys.slice(1), node, k);
        if (!before.has(removed)) expect(rest).toEqual(before);
        else {
          // The others stay; at most one more takes the removed one's place.
          for (const key of before) if (key !== removed) expect(rest.has(key)).toBe(true);
          expect([...rest].filter((key) => !before.has(key)).length).toBe(keys.length - 1 >= k ? 1 : 0);
        }
      }),
    );
  });

  it("spreads: across many nodes every endpoint is chosen, each about as often", () => {
    const endpoints = Array.from({ length: 50 }, (_, i) => `shop/web-${i}`);
    const counts = new Map<string, number>(endpoints.map((key) => [key, 0]));
    for (let n = 0; n < 400; n++) for (const key of choose(endpoints, `node-${n}`, 5)) counts.set(key, (counts.get(key) ?? 0) + 1);
    // 400 nodes x 5 = 2000 choices over 50 endpoints: 40 each on average.
    expect(Math.min(...counts.values())).toBeGreaterThanOrEqual(20);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(65);
  });

  it("k at least the number of endpoints keeps them all", () => {
    expect(chooseByRendezvous(["a", "b", "c"], (key) => key, "node-a", 3)).toEqual(["a", "b", "c"]);
    expect(chooseByRendezvous(["a", "b", "c"], (key) => key, "node-a", 10)).toEqual(["a", "b", "c"]);
  });
});

describe("the cheap weight (derivation's rendezvous hash)", () => {
  it("is a stable function of seed and key, spread over 53 bits, and tells seeds and keys apart", () => {
    // Fixed values: the same choice after a restart, on every machine.
    expect(cheapWeight(0, "")).toBe(3338908027751811);
    expect(cheapWeight(0, "pod shop/api-0:8080")).toBe(cheapWeight(0, "pod shop/api-0:8080"));
    const weights = new Set<number>();
    for (let seed = 0; seed < 20; seed++) for (let i = 0; i < 50; i++) weights.add(cheapWeight(seed, `pod shop/api-${i}:8080`));
    expect(weights.size).toBe(1000);
    for (const weight of weights) expect(Number.isSafeInteger(weight) && weight >= 0).toBe(true);
    // Each of 10 keys is the heaviest for some of 200 seeds: no key is favoured for good.
    const winners = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const keyWeights = Array.from({ length: 10 }, (_, i) => cheapWeight(seed, `key-${i}`));
      winners.add(keyWeights.indexOf(Math.max(...keyWeights)));
    }
    expect(winners.size).toBe(10);
  });
});
