// Observed flows judged by the engine: truth tables over plain snapshots. Each flow is what an
// observer records; the verdict must be the engine's for the connection it stands for.
import { describe, expect, it } from "vitest";
import { formatRule } from "../../agent/policy/explain.js";
import { judgeFlow, judgeFlows } from "../../agent/traffic/judge.js";
import { trafficReport } from "../../agent/traffic/report.js";
import { cluster, namespace, netpol } from "../policy/helpers.js";
import { flow, flowMap, toWorkload, workload } from "./helpers.js";
import { shopCluster } from "./shop.js";

const web = workload("shop/web", { app: "web" });
const api = workload("shop/api", { app: "api" });
const ledger = workload("payments/ledger", { app: "ledger" }, "statefulset");
const coredns = workload("kube-system/coredns", { "app.kubernetes.io/name": "coredns" });

const shop = shopCluster();

const rules = (j: { allowedBy: readonly Parameters<typeof formatRule>[0][] }) => j.allowedBy.map(formatRule);

describe("judging a flow to a pod peer", () => {
  it("allows a flow both sides' policies admit, naming every rule that admitted it", () => {
    const j = judgeFlow(shop.index, flow(web, toWorkload(api), 8080, { remoteAddresses: ["10.0.2.7"] }));
    expect(j.verdict).toBe("allow");
    expect(j.determinate).toBe(true);
    expect(rules(j).sort()).toEqual(["shop/api-ingress spec.ingress[0]", "shop/web-egress spec.egress[0]"]);
    expect(j.unexpectedAllow).toBe(false);
  });

  it("denies a flow from a peer the destination's policy does not admit, and marks it as seen although denied", () => {
    const j = judgeFlow(shop.index, flow(ledger, toWorkload(api), 8080));
    expect(j.verdict).toBe("deny");
    expect(j.unexpectedAllow).toBe(true);
    expect(j.reason).toContain("ingress of deployment/shop/api: denied (isolated by shop/api-ingress");
  });

  it("denies an allowed peer on a port no rule names", () => {
    expect(judgeFlow(shop.index, flow(web, toWorkload(api), 9090)).verdict).toBe("deny");
  });

  it("judges the observed labels, not the workload's name: the same workload relabelled is another peer", () => {
    const renamed = workload("shop/web", { app: "web-v2" });
    expect(judgeFlow(shop.index, flow(renamed, toWorkload(api), 8080)).verdict).toBe("deny");
  });

  it("allows everything when no policy isolates either side", () => {
    const open = cluster(namespace("shop"));
    const j = judgeFlow(open.index, flow(web, toWorkload(api), 8080));
    expect(j.verdict).toBe("allow");
    expect(j.allowedBy).toEqual([]);
    expect(j.reason).toContain("no policy isolates either side");
  });
});

describe("judging a flow to an ipBlock peer, per sampled address", () => {
  const partner = { kind: "external", range: "203.0.113.0/24", name: "partner" } as const;

  it("allows an address inside the block", () => {
    const j = judgeFlow(shop.index, flow(web, partner, 443, { remoteAddresses: ["203.0.113.10"] }));
    expect(j.verdict).toBe("allow");
    expect(rules(j)).toEqual(["shop/web-egress spec.egress[1]"]);
  });

  it("denies an address in the block's except", () => {
    expect(judgeFlow(shop.index, flow(web, partner, 443, { remoteAddresses: ["203.0.113.200"] })).verdict).toBe("deny");
  });

  it("says so when the sampled addresses disagree, with each address's verdict", () => {
    const j = judgeFlow(shop.index, flow(web, partner, 443, { remoteAddresses: ["203.0.113.10", "203.0.113.200"] }));
    expect(j.verdict).toBe("mixed");
    expect(j.reason).toContain("the sampled addresses disagree: 203.0.113.10 allow, 203.0.113.200 deny");
    expect(j.cases.map((c) => [c.target, c.verdict])).toEqual([["203.0.113.10", "allow"], ["203.0.113.200", "deny"]]);
    expect(j.unexpectedAllow).toBe(true);
  });

  it("gives no verdict for an external peer without a sampled address", () => {
    const j = judgeFlow(shop.index, flow(web, partner, 443));
    expect(j.verdict).toBe("unknown");
    expect(j.reason).toContain("no address of external partner 203.0.113.0/24 was recorded");
  });
});

describe("judging a flow to a Service, at its backends", () => {
  it("judges a Service in the snapshot at the pods it selects, on its targetPort", () => {
    const allowed = judgeFlow(shop.index, flow(web, { kind: "service", namespace: "shop", name: "api" }, 80));
    expect(allowed.verdict).toBe("allow");
    expect(allowed.cases.map((c) => c.target)).toEqual(["deployment/shop/api:8080"]);
    expect(rules(allowed)).toContain("shop/api-ingress spec.ingress[0]");
    const denied = judgeFlow(shop.index, flow(ledger, { kind: "service", namespace: "shop", name: "api" }, 80));
    expect(denied.verdict).toBe("deny");
    expect(denied.unexpectedAllow).toBe(true);
  });

  it("says a Service port that does not exist has no backends", () => {
    const j = judgeFlow(shop.index, flow(web, { kind: "service", namespace: "shop", name: "api" }, 81));
    expect(j.verdict).toBe("unknown");
    expect(j.reason).toContain("has no TCP port 81");
  });

  it("judges a Service the snapshot lacks at the backends the observer recorded, with namespace labels from the map", () => {
    const dnsOnly = cluster(
      namespace("kube-system"),
      netpol("kube-system/dns-ingress", `
        podSelector: {matchLabels: {app.kubernetes.io/name: coredns}}
        policyTypes: [Ingress]
        ingress:
          - from: [{namespaceSelector: {matchLabels: {team: shop}}}]
            ports: [{port: 53, protocol: UDP}]
      `),
    );
    const dns = flow(web, { kind: "service", namespace: "kube-system", name: "kube-dns", backends: [{ workload: coredns, port: 53 }] }, 53, { protocol: "UDP" });
    const labelled = judgeFlows(dnsOnly.index, flowMap([dns], [{ name: "shop", labels: { team: "shop" } }]));
    expect(labelled[0]?.verdict).toBe("allow");
    expect(labelled[0]?.cases.map((c) => c.target)).toEqual(["deployment/kube-system/coredns:53"]);
    // Without the namespace's labels, the namespaceSelector does not match it.
    expect(judgeFlows(dnsOnly.index, flowMap([dns]))[0]?.verdict).toBe("deny");
  });

  it("gives no verdict for a Service neither the snapshot nor the map says the backends of", () => {
    const j = judgeFlow(shop.index, flow(web, { kind: "service", namespace: "shop", name: "cart" }, 80));
    expect(j.verdict).toBe("unknown");
    expect(j.reason).toContain("Service shop/cart is not in the policies' snapshot and the map names none of its backends");
  });
});

describe("judging inbound and unnamed flows", () => {
  it("judges an inbound flow with the peer as the source and the local workload as the destination", () => {
    expect(judgeFlow(shop.index, flow(api, toWorkload(web), 8080, { direction: "inbound" })).verdict).toBe("allow");
    const external = judgeFlow(shop.index, flow(api, { kind: "external", range: "198.51.100.7/32" }, 8080, { direction: "inbound", remoteAddresses: ["198.51.100.7"] }));
    expect(external.verdict).toBe("deny");
    expect(external.unexpectedAllow).toBe(true);
  });

  it("judges a node peer by its address against ipBlock rules", () => {
    const j = judgeFlow(shop.index, flow(api, { kind: "node", name: "node-a" }, 8080, { direction: "inbound", remoteAddresses: ["192.168.1.10"] }));
    expect(j.verdict).toBe("deny");
    expect(j.cases.map((c) => c.target)).toEqual(["192.168.1.10"]);
  });

  it("gives an unnamed peer no verdict, with the observer's reason, and never calls it seen-although-denied", () => {
    const j = judgeFlow(shop.index, flow(web, { kind: "unnamed", address: "10.0.9.9", reason: "address lookup pending" }, 8080));
    expect(j).toMatchObject({ verdict: "unknown", determinate: false, unexpectedAllow: false, cases: [] });
    expect(j.reason).toBe("peer 10.0.9.9 is not named (address lookup pending)");
  });
});

describe("judging a flow seen only as unanswered connection attempts (attemptOnly)", () => {
  const service = { kind: "service", namespace: "shop", name: "api" } as const;
  const partner = { kind: "external", range: "203.0.113.0/24" } as const;
  // verdict, answered (established seen) or attempts only -> non-enforcement evidence, possible block
  const table = [
    { name: "an allowed flow that got through", flow: flow(web, toWorkload(api), 8080), verdict: "allow", unexpectedAllow: false, possibleBlock: false },
    { name: "an allowed flow only attempted", flow: flow(web, toWorkload(api), 8080, { attemptOnly: true }), verdict: "allow", unexpectedAllow: false, possibleBlock: true },
    { name: "a denied flow that got through", flow: flow(ledger, toWorkload(api), 8080), verdict: "deny", unexpectedAllow: true, possibleBlock: false },
    { name: "a denied flow only attempted", flow: flow(ledger, toWorkload(api), 8080, { attemptOnly: true }), verdict: "deny", unexpectedAllow: false, possibleBlock: false },
    { name: "an allowed flow to a Service only attempted", flow: flow(web, service, 80, { attemptOnly: true }), verdict: "allow", unexpectedAllow: false, possibleBlock: true },
    { name: "a denied flow to a Service only attempted", flow: flow(ledger, service, 80, { attemptOnly: true }), verdict: "deny", unexpectedAllow: false, possibleBlock: false },
    { name: "a mixed flow that got through", flow: flow(web, partner, 443, { remoteAddresses: ["203.0.113.10", "203.0.113.200"] }), verdict: "mixed", unexpectedAllow: true, possibleBlock: false },
    { name: "a mixed flow only attempted", flow: flow(web, partner, 443, { remoteAddresses: ["203.0.113.10", "203.0.113.200"], attemptOnly: true }), verdict: "mixed", unexpectedAllow: false, possibleBlock: true },
    { name: "an unnamed peer only attempted", flow: flow(web, { kind: "unnamed", address: "10.0.9.9", reason: "address lookup pending" }, 8080, { attemptOnly: true }), verdict: "unknown", unexpectedAllow: false, possibleBlock: false },
  ] as const;

  for (const row of table) {
    it(`judges ${row.name}: ${row.verdict}, ${row.unexpectedAllow ? "" : "not "}evidence of non-enforcement, ${row.possibleBlock ? "" : "not "}a possible block`, () => {
      const j = judgeFlow(shop.index, row.flow);
      expect({ verdict: j.verdict, unexpectedAllow: j.unexpectedAllow, possibleBlock: j.possibleBlock }).toEqual({ verdict: row.verdict, unexpectedAllow: row.unexpectedAllow, possibleBlock: row.possibleBlock });
    });
  }

  it("says why a denied attempt is not evidence, and why an allowed one may be a block", () => {
    expect(judgeFlow(shop.index, flow(ledger, toWorkload(api), 8080, { attemptOnly: true })).reason).toContain("consistent with the block, not evidence it is unenforced");
    expect(judgeFlow(shop.index, flow(web, toWorkload(api), 8080, { attemptOnly: true })).reason).toContain("a possible unexpected block");
    expect(judgeFlow(shop.index, flow(web, toWorkload(api), 8080)).reason).not.toContain("attempts");
  });

  it("counts attempt-only flows in the report apart from the unenforced ones", () => {
    const { report } = trafficReport(shop.index, flowMap([
      flow(ledger, toWorkload(api), 8080, { attemptOnly: true }),
      flow(web, toWorkload(api), 8080, { attemptOnly: true }),
      flow(web, toWorkload(api), 9090),
    ]));
    expect(report.summary).toMatchObject({ flows: 3, denied: 2, allowed: 1, unexpectedAllows: 1, possibleBlocks: 1 });
    expect(report.flows.filter((f) => f.unexpectedAllow).map((f) => f.port)).toEqual([9090]);
  });
});
