// withPolicy / withoutPolicy patch the index; they must answer as a rebuilt index does.
import { describe, expect, it } from "vitest";
import { buildPolicyIndex, evaluateConnection, type PolicyIndex, withPolicy } from "../../agent/policy/engine.js";
import type { Protocol } from "../../agent/cluster/snapshot.js";
import { canonical, cluster, namespace, normalizeYaml, pod, type TestCluster } from "./helpers.js";

const docs = [
  namespace("prod", { env: "prod" }),
  namespace("dev", { env: "dev" }),
  pod("prod/a", { labels: { app: "a" }, ips: ["10.0.0.1"], ports: [{ name: "web", port: 8080 }] }),
  pod("prod/b", { labels: { app: "b" }, ips: ["10.0.0.2"] }),
  pod("dev/c", { labels: { app: "c" }, ips: ["10.0.1.1"] }),
];

const denyProd = `
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny, namespace: prod}
  spec:
    podSelector: {}
    policyTypes: [Ingress, Egress]
`;
const allowWeb = `
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: allow-web, namespace: prod}
  spec:
    podSelector: {matchLabels: {app: a}}
    ingress:
    - from: [{namespaceSelector: {matchLabels: {env: dev}}}]
      ports: [{port: web}]
`;
const allowWebWider = `
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: allow-web, namespace: prod}
  spec:
    podSelector: {}
    ingress:
    - {}
`;
const devEgress = `
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: out, namespace: dev}
  spec:
    podSelector: {}
    egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/24}}]
`;

const endpoints = ["prod/a", "prod/b", "dev/c", "10.0.0.77", "8.8.8.8"];
const probes: [number, Protocol][] = [
  [8080, "TCP"],
  [80, "TCP"],
  [8080, "UDP"],
];

function allVerdicts(c: TestCluster, index: PolicyIndex): unknown[] {
  const out: unknown[] = [];
  for (const from of endpoints)
    for (const to of endpoints)
      for (const [port, protocol] of probes) {
        out.push([from, to, port, protocol, canonical(evaluateConnection(index, { from: c.endpoint(from), to: c.endpoint(to), port, protocol }))]);
      }
  return out;
}

function rebuilt(c: TestCluster, policies: string[]): PolicyIndex {
  return buildPolicyIndex({ ...c.snapshot, policies: policies.map((p) => normalizeYaml(p)) });
}

describe("incremental index (withPolicy / withoutPolicy) equals a rebuilt index", () => {
  it("adding policies one by one gives the same verdicts as building with all of them", () => {
    const c = cluster(...docs);
    let index = c.index;
    for (const p of [denyProd, allowWeb, devEgress]) index = withPolicy(index, normalizeYaml(p));
    const expected = allVerdicts(c, rebuilt(c, [denyProd, allowWeb, devEgress]));
    expect(allVerdicts(c, index)).toEqual(expected);
    // and the patched index actually differs from the empty one
    expect(allVerdicts(c, index)).not.toEqual(allVerdicts(c, rebuilt(c, [])));
  });

  it("removing a policy gives the same verdicts as building without it", () => {
    const c = cluster(...docs, denyProd, allowWeb, devEgress);
    const patched = c.without("prod/allow-web");
    expect(allVerdicts(c, patched)).toEqual(allVerdicts(c, rebuilt(c, [denyProd, devEgress])));
    expect(c.verdict("dev/c", "prod/a", 8080)).toBe("allow");
    expect(evaluateConnection(patched, { from: c.endpoint("dev/c"), to: c.endpoint("prod/a"), port: 8080, protocol: "TCP" }).verdict).toBe("deny");
  });

  it("re-adding a policy with the same name replaces it (no stale rules remain)", () => {
    const c = cluster(...docs, denyProd, allowWebWider);
    const replaced = c.with(allowWeb);
    expect(allVerdicts(c, replaced)).toEqual(allVerdicts(c, rebuilt(c, [denyProd, allowWeb])));
    expect(evaluateConnection(replaced, { from: c.endpoint("dev/c"), to: c.endpoint("prod/b"), port: 80, protocol: "TCP" }).verdict).toBe("deny");
  });

  it("removing a policy that does not exist changes nothing; the original index is not mutated", () => {
    const c = cluster(...docs, denyProd);
    const before = allVerdicts(c, c.index);
    const same = c.without("prod/missing");
    c.with(allowWebWider);
    c.without("prod/deny");
    expect(allVerdicts(c, same)).toEqual(before);
    expect(allVerdicts(c, c.index)).toEqual(before);
  });
});
