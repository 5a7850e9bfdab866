// The pod watches derivation adds to a live agent's scope (agent/derive/scope.ts): one per
// pod peer and namespace of the egress rules that apply to the deriving sources, NetworkPolicy
// and admin tiers alike; none for ipBlocks or rules with no peers; bounded.

import { describe, expect, it } from "vitest";
import { derivedPodScope } from "../../agent/derive/scope.js";
import { formatSelector } from "../../agent/policy/selectors.js";
import type { SourceIdentity } from "../../agent/sources/identity.js";
import { adminCluster, anp, inNamespaces, namespace, networkPolicy, pod, podsIn } from "../policy-admin/helpers.js";

function scopes(cluster: ReturnType<typeof adminCluster>, max?: number): string[] {
  const web = cluster.snapshot.pods.find((p) => p.name === "web");
  const source: SourceIdentity = { name: "web", pod: web!, namespace: "shop" };
  return derivedPodScope(cluster.index, cluster.snapshot, [source], max).map((s) => `${s.namespace} ${formatSelector(s.selector)}`);
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
    expect(scopes(cluster)).toEqual(["shop app=api", "data app=pg", "ops app=pg", "data (all)", "ops (all)"]);
    expect(scopes(cluster, 2)).toEqual(["shop app=api", "data app=pg"]);
  });

  it("watches the pods and namespaces peers of AdminNetworkPolicy rules whose subject selects the source", () => {
    const cluster = adminCluster(
      ...base(),
      anp("guard", { priority: 5, subject: inNamespaces({}), egress: [{ action: "Allow", to: [podsIn({ team: "data" }, { app: "pg" })] }, { action: "Deny", to: [inNamespaces({ "kubernetes.io/metadata.name": "other" })] }] }),
      anp("elsewhere", { priority: 6, subject: inNamespaces({ team: "data" }), egress: [{ action: "Allow", to: [podsIn({}, { app: "never" })] }] }),
    );
    expect(scopes(cluster)).toEqual(["data app=pg", "ops app=pg", "other (all)"]);
  });
});
