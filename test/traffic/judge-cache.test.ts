// The agent's judged map, judged incrementally (judge-cache.ts): for any sequence of maps, policy
// indexes, staged sets and namespace labels, the cached document is exactly the one judged from
// scratch; and only new or changed flows are judged, counted by the cache's own counter.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildPolicyIndex, type PolicyIndex } from "../../agent/policy/engine.js";
import type { NetworkPolicy } from "../../agent/policy/model.js";
import type { FlowMap, FlowPeer, FlowWorkload, ObservedFlow } from "../../agent/traffic/flow.js";
import { JudgementCache } from "../../agent/traffic/judge-cache.js";
import { judgedFlowMap, type StagedSetState } from "../../agent/traffic/report.js";
import { cluster, netpol } from "../policy/helpers.js";
import { flow, flowMap, toWorkload, workload } from "./helpers.js";
import { shopCluster } from "./shop.js";

const shop = shopCluster({ payments: true });

/** The same cluster with api's ingress opened to anyone on any port: other verdicts for many flows. */
const opened = shop.with(
  netpol("shop/api-ingress", `
    podSelector: {matchLabels: {app: api}}
    policyTypes: [Ingress]
    ingress: [{}]
  `),
);

/** The same cluster without its namespace objects, as a snapshot from manifests often is: the map's namespace labels decide. */
const noNamespaces = buildPolicyIndex({ ...shop.snapshot, namespaces: [] });

const indexes: readonly PolicyIndex[] = [shop.index, opened, noNamespaces];

const staged = cluster(
  netpol("shop/default-deny-egress", `
    podSelector: {}
    policyTypes: [Egress]
  `),
  netpol("payments/deny-ingress", `
    podSelector: {}
    policyTypes: [Ingress]
  `),
).snapshot.policies;
const denyEgress = staged.filter((p) => p.name === "default-deny-egress");

/** Staged sets as the agent sees them: none, one, the same one reloaded (another array), two. */
const stagedSets: readonly (readonly NetworkPolicy[] | undefined)[] = [undefined, denyEgress, [...denyEgress], staged];
const stagedState = (policies: readonly NetworkPolicy[] | undefined): StagedSetState | undefined =>
  policies ? { directory: "staged", policies, errors: [], errorCount: 0 } : undefined;

const mapNamespaces: readonly FlowMap["namespaces"][] = [
  [],
  [{ name: "payments", labels: { "kubernetes.io/metadata.name": "payments", team: "pay" } }],
  [{ name: "payments", labels: { "kubernetes.io/metadata.name": "payments", team: "other" } }],
];

const web = workload("shop/web", { app: "web" });
const locals: readonly FlowWorkload[] = [web, workload("shop/web", { app: "web-v2" }), workload("payments/ledger", { app: "ledger" }, "statefulset"), workload("shop/api", { app: "api" })];
const api = workload("shop/api", { app: "api" });
const peers: readonly FlowPeer[] = [
  toWorkload(api),
  toWorkload(workload("shop/api", { app: "api-old" })),
  toWorkload(workload("payments/ledger", { app: "ledger" }, "statefulset")),
  { kind: "unnamed", address: "10.0.1.7", reason: "lookup pending" },
  { kind: "service", namespace: "shop", name: "api" },
  { kind: "service", namespace: "shop", name: "cart", backends: [{ workload: api, port: 8080 }] },
  { kind: "external", range: "203.0.113.0/24" },
  { kind: "zscaler", cloud: "zscaler.net", range: "165.225.0.0/17" },
];
const addressSets: readonly string[][] = [[], ["10.0.1.7"], ["203.0.113.7"], ["203.0.113.7", "203.0.113.200"]];

const flowArbitrary = fc
  .record({
    local: fc.constantFrom(...locals),
    peer: fc.constantFrom(...peers),
    port: fc.constantFrom(80, 443, 8080),
    direction: fc.constantFrom("outbound" as const, "inbound" as const),
    protocol: fc.constantFrom("TCP" as const, "UDP" as const),
    remote: fc.constantFrom(...addressSets),
    local4: fc.boolean(),
    attemptOnly: fc.boolean(),
  })
  .map(({ local, peer, port, direction, protocol, remote, local4, attemptOnly }) =>
    flow(local, peer, port, { direction, protocol, remoteAddresses: remote, localAddresses: local4 ? ["10.0.2.5"] : [], ...(attemptOnly ? { attemptOnly: true as const } : {}) }),
  );

const ledgerEnd = workload("payments/ledger", { app: "ledger" }, "statefulset");
const namespaceDecided: readonly ObservedFlow[] = [
  flow(ledgerEnd, toWorkload(workload("shop/api", { app: "api" })), 8080),
  flow(workload("shop/api", { app: "api" }), toWorkload(ledgerEnd), 8080, { direction: "inbound" }),
];

/** A flow seen again at a later sample: a new object, later lastSeen, more observations. */
const seenAgain = (f: ObservedFlow, sample: number): ObservedFlow => ({ ...f, lastSeen: `2026-12-07T09:${String(sample).padStart(2, "0")}:00Z`, observations: f.observations + sample });

describe("judging the agent's map incrementally", () => {
  it("gives exactly the document judged from scratch, for any sequence of maps, indexes, staged sets and namespace labels", () => {
    const step = fc.record({
      picks: fc.array(fc.nat(), { maxLength: 10 }),
      index: fc.nat(indexes.length - 1),
      staged: fc.nat(stagedSets.length - 1),
      namespaces: fc.nat(mapNamespaces.length - 1),
    });
    fc.assert(
      fc.property(fc.array(flowArbitrary, { maxLength: 12 }), fc.array(step, { minLength: 1, maxLength: 10 }), (random, steps) => {
        // Flows whose verdict the namespace labels decide, always in the pool to pick from.
        const pool = [...namespaceDecided, ...random];
        const cache = new JudgementCache();
        steps.forEach((s, sample) => {
          const map = flowMap(
            s.picks.map((p) => seenAgain(pool[p % pool.length] as ObservedFlow, sample)),
            mapNamespaces[s.namespaces],
          );
          const index = indexes[s.index] as PolicyIndex;
          const set = stagedState(stagedSets[s.staged]);
          const cached = cache.judgedFlowMap(index, map, set);
          const fresh = judgedFlowMap(index, map, set);
          expect(cached).toStrictEqual(fresh);
          expect(cache.size).toBeLessThanOrEqual(map.flows.length);
        });
      }),
      { numRuns: 300 },
    );
  });

  const api8080 = flow(web, toWorkload(api), 8080, { remoteAddresses: ["10.0.1.7"] });
  const external = flow(web, { kind: "external", range: "203.0.113.0/24" }, 443, { remoteAddresses: ["203.0.113.7"] });
  const ledger = workload("payments/ledger", { app: "ledger" }, "statefulset");
  const ledgerIn = flow(api, toWorkload(ledger), 8080, { direction: "inbound" });
  // Denied by api's ingress in force (no rule names 9090), allowed once it is opened.
  const ledgerIn9090 = flow(api, toWorkload(ledger), 9090, { direction: "inbound" });
  const zscaler = flow(workload("payments/ledger", { app: "ledger" }, "statefulset"), { kind: "zscaler", cloud: "zscaler.net", range: "165.225.0.0/17" }, 443, { remoteAddresses: ["165.225.3.9"] });
  const unnamed = flow(web, { kind: "unnamed", address: "10.0.1.8", reason: "lookup pending" }, 8080, { remoteAddresses: ["10.0.1.8"] });
  const flows = [api8080, external, ledgerIn, ledgerIn9090, zscaler, unnamed];

  /** Judgements made by one call, per part. */
  function judged(cache: JudgementCache, run: () => void): { base: number; staged: number } {
    const before = { ...cache.counts };
    run();
    return { base: cache.counts.base - before.base, staged: cache.counts.staged - before.staged };
  }

  it("judges every flow of the first sample, none of a second with the same flows, and only a new one after", () => {
    const cache = new JudgementCache();
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap(flows), undefined))).toEqual({ base: 6, staged: 0 });
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap(flows.map((f) => seenAgain(f, 1))), undefined))).toEqual({ base: 0, staged: 0 });
    const added = flow(web, toWorkload(api), 9090, { remoteAddresses: ["10.0.1.7"] });
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap([...flows, added].map((f) => seenAgain(f, 2))), undefined))).toEqual({ base: 1, staged: 0 });
    expect(cache.size).toBe(7);
  });

  it("drops the flows gone from the map, and judges one again when it comes back", () => {
    const cache = new JudgementCache();
    cache.judgedFlowMap(shop.index, flowMap(flows), undefined);
    cache.judgedFlowMap(shop.index, flowMap([api8080]), undefined);
    expect(cache.size).toBe(1);
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap(flows), undefined))).toEqual({ base: 5, staged: 0 });
  });

  it("judges every flow again when the policies in force change (a new index), and serves the new verdicts", () => {
    const cache = new JudgementCache();
    const first = cache.judgedFlowMap(shop.index, flowMap(flows), undefined);
    let second: ReturnType<JudgementCache["judgedFlowMap"]> | undefined;
    expect(judged(cache, () => (second = cache.judgedFlowMap(opened, flowMap(flows), undefined)))).toEqual({ base: 6, staged: 0 });
    const verdictOf9090 = (result: typeof first | undefined) => result?.document.flows.find((f) => f.port === 9090)?.verdict;
    expect([verdictOf9090(first), verdictOf9090(second)]).toEqual(["deny", "allow"]);
    expect(second).toStrictEqual(judgedFlowMap(opened, flowMap(flows), undefined));
  });

  it("evaluates the staged part again, and only it, when the staged set changes, even to a reload of the same files", () => {
    const cache = new JudgementCache();
    // Flows a shop policy touches (a shop end): all but the zscaler one, payments' only.
    const touchingShop = 5;
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap(flows), stagedState(denyEgress)))).toEqual({ base: 6, staged: 2 * touchingShop });
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap(flows), stagedState(denyEgress)))).toEqual({ base: 0, staged: 0 });
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap(flows), stagedState([...denyEgress])))).toEqual({ base: 0, staged: 2 * touchingShop });
    // Two policies: shop's alone, payments' alone (both ledger flows in, the zscaler one), then together (every flow).
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap(flows), stagedState(staged)))).toEqual({ base: 0, staged: touchingShop + 3 + 6 });
  });

  it("judges a flow again when its peer is named or relabelled in place, and reuses the rest", () => {
    const cache = new JudgementCache();
    cache.judgedFlowMap(shop.index, flowMap(flows), stagedState(denyEgress));
    // The pending lookup answers: the unnamed peer becomes a workload (another flow key).
    const named = flow(web, toWorkload(workload("shop/cart", { app: "cart" })), 8080, { remoteAddresses: ["10.0.1.8"] });
    // The same workload relabelled (the same flow key): its judged inputs changed.
    const relabelled = { ...api8080, peer: toWorkload(workload("shop/api", { app: "api-v2" })) };
    const next = [relabelled, external, ledgerIn, ledgerIn9090, zscaler, named];
    let result: ReturnType<JudgementCache["judgedFlowMap"]> | undefined;
    expect(judged(cache, () => (result = cache.judgedFlowMap(shop.index, flowMap(next), stagedState(denyEgress))))).toEqual({ base: 2, staged: 4 });
    expect(result).toStrictEqual(judgedFlowMap(shop.index, flowMap(next), stagedState(denyEgress)));
    expect(cache.size).toBe(6);
  });

  it("judges a flow again when it turns from attempts only to answered", () => {
    const cache = new JudgementCache();
    const attempt = { ...api8080, attemptOnly: true as const };
    cache.judgedFlowMap(shop.index, flowMap([attempt]), undefined);
    const { attemptOnly: _, ...answered } = attempt;
    expect(judged(cache, () => cache.judgedFlowMap(shop.index, flowMap([answered]), undefined))).toEqual({ base: 1, staged: 0 });
  });

  it("judges everything again when the labels of a namespace the index lacks change, and nothing for one the index knows", () => {
    const payments = (team: string) => [{ name: "payments", labels: { "kubernetes.io/metadata.name": "payments", team } }];
    const lacking = new JudgementCache();
    lacking.judgedFlowMap(noNamespaces, flowMap(flows, payments("pay")), undefined);
    expect(judged(lacking, () => lacking.judgedFlowMap(noNamespaces, flowMap(flows, payments("pay")), undefined))).toEqual({ base: 0, staged: 0 });
    let relabelled: ReturnType<JudgementCache["judgedFlowMap"]> | undefined;
    expect(judged(lacking, () => (relabelled = lacking.judgedFlowMap(noNamespaces, flowMap(flows, payments("other")), undefined)))).toEqual({ base: 6, staged: 0 });
    expect(relabelled).toStrictEqual(judgedFlowMap(noNamespaces, flowMap(flows, payments("other")), undefined));
    // The index's own labels of payments are the ones judged: the map's change nothing.
    const known = new JudgementCache();
    known.judgedFlowMap(shop.index, flowMap(flows, payments("pay")), undefined);
    expect(judged(known, () => known.judgedFlowMap(shop.index, flowMap(flows, payments("other")), undefined))).toEqual({ base: 0, staged: 0 });
  });
});
