// The pod watches derivation adds to a live agent's scope (agent/derive/scope.ts): one per
// pod peer and namespace of the egress rules that apply to the deriving sources, NetworkPolicy
// and admin tiers alike; none for ipBlocks or rules with no peers; bounded, the first by key
// kept and the rules of the others named.

import { describe, expect, it } from "vitest";
import { derivedPodScope } from "../../agent/derive/scope.js";
import { formatSelector } from "../../agent/policy/selectors.js";
import type { SourceIdentity } from "../../agent/sources/identity.js";
import { adminCluster, anp, inNamespaces, namespace, networkPolicy, pod, podsIn } from "../policy-admin/helpers.js";

function derived(cluster: ReturnType<typeof adminCluster>, max?: number) {
  const web = cluster.snapshot.pods.find((p) => p.name === "web");
  const source: SourceIdentity = { name: "web", pod: web!, namespace: "shop" };
  return derivedPodScope(cluster.index, cluster.snapshot, [source], max);
}

function scopes(cluster: ReturnType<typeof adminCluster>, max?: number): string[] {
  return derived(cluster, max).watches.map((s) => `${s.namespace} ${formatSelector(s.selector)}`);
}

describe("the derived pod scope", () => {
  const base = () => [namespace("shop"), namespace("data", { team: "data" }), namespace("ops", { team: "data" }), namespace("other"), pod("shop/web", { labels: { app: "web" }, ips: ["10.0.0.10"] })];

  it("watches each pod peer in the policy's own namespace, or in every namespace its selector picks, and nothing for ipBlocks", () => {
    const cluster = adminCluster(
      ...base(),
      networkPolicy("shop/egress", {
        podSelector: { matchLabels: { app: "web" } },
        policyTypes: ["Egress"],
        egress: [
          { to: [{ podSelector: { matchLabels: { app: "api" } } }] },
          { to: [{ namespaceSelector: { matchLabels: { team: "data" } }, podSelector: { matchLabels: { app: "pg" } } }] },
          { to: [{ namespaceSelector: { matchLabels: { team: "data" } } }] },
          { to: [{ ipBlock: { cidr: "203.0.113.0/24" } }] },
          { ports: [{ port: 53, protocol: "UDP" }] },
        ],
      }),
      networkPolicy("shop/other-pods", { podSelector: { matchLabels: { app: "other" } }, policyTypes: ["Egress"], egress: [{ to: [{ podSelector: { matchLabels: { app: "x" } } }] }] }),
    );
    expect(scopes(cluster)).toEqual(["data app=pg", "data (all)", "ops app=pg", "ops (all)", "shop app=api"]);
    expect(derived(cluster)).toMatchObject({ leftOut: 0, unwatchedRules: new Set() });
    // Beyond the bound: the first by key (namespace, then selector), and the rules of the others.
    expect(scopes(cluster, 2)).toEqual(["data app=pg", "data (all)"]);
    expect(derived(cluster, 2)).toMatchObject({ leftOut: 3, unwatchedRules: new Set(["shop/egress spec.egress[0]", "shop/egress spec.egress[1]", "shop/egress spec.egress[2]"]) });
    expect(derived(cluster, 3).unwatchedRules).toEqual(new Set(["shop/egress spec.egress[0]", "shop/egress spec.egress[2]"]));
  });

  it("watches the pods and namespaces peers of AdminNetworkPolicy rules whose subject selects the source", () => {
    const cluster = adminCluster(
      ...base(),
      anp("guard", { priority: 5, subject: inNamespaces({}), egress: [{ action: "Allow", to: [podsIn({ team: "data" }, { app: "pg" })] }, { action: "Deny", to: [inNamespaces({ "kubernetes.io/metadata.name": "other" })] }] }),
      anp("elsewhere", { priority: 6, subject: inNamespaces({ team: "data" }), egress: [{ action: "Allow", to: [podsIn({}, { app: "never" })] }] }),
    );
    expect(scopes(cluster)).toEqual(["data app=pg", "ops app=pg", "other (all)"]);
    expect(derived(cluster, 2).unwatchedRules).toEqual(new Set(["AdminNetworkPolicy guard spec.egress[1]"]));
  });

  it("leaves out the same watches whatever order the rules name them in", () => {
    const rules = Array.from({ length: 6 }, (_, i) => ({ to: [{ podSelector: { matchLabels: { app: `dest-${i}` } } }] }));
    const inOrder = (egress: typeof rules) =>
      adminCluster(...base(), networkPolicy("shop/egress", { podSelector: { matchLabels: { app: "web" } }, policyTypes: ["Egress"], egress }));
    const forward = derived(inOrder(rules), 4);
    const backward = derived(inOrder([...rules].reverse()), 4);
    expect(forward.watches.map((s) => formatSelector(s.selector))).toEqual(["app=dest-0", "app=dest-1", "app=dest-2", "app=dest-3"]);
    expect(backward.watches).toEqual(forward.watches);
    expect(forward.unwatchedRules).toEqual(new Set(["shop/egress spec.egress[4]", "shop/egress spec.egress[5]"]));
    // Reversed, the same pods are left out: their rules are now the first two.
    expect(backward.unwatchedRules).toEqual(new Set(["shop/egress spec.egress[0]", "shop/egress spec.egress[1]"]));
  });
});
