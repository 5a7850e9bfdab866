// Pod sources: which labeled pods on this node a source stands for, and how explanations name
// them (by workload, whole names only).
import { describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { namespaceLabels, type PodInfo } from "../../agent/cluster/snapshot.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";
import { podSourceIdentities, type PodSourceConfig, workloadOf } from "../../agent/sources/identities.js";
import { namedByWorkload } from "../../agent/verdicts/policy.js";
import type { EdgePolicy } from "../../agent/verdicts/policy.js";

const NODE = "node-a";
const ip = (text: string) => {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(text);
  return parsed.value;
};

function pod(name: string, overrides: Partial<PodInfo> = {}): PodInfo {
  return {
    namespace: "shop",
    name,
    labels: { "netcanary.io/probe": "true" },
    ips: [ip(`10.0.0.${name.length + (overrides.namespace?.length ?? 0)}`)],
    ports: [],
    node: NODE,
    hostNetwork: false,
    phase: "Running",
    owner: { kind: "deployment", name: name.replace(/-[^-]+$/, "") },
    ...overrides,
  };
}

const SOURCE: PodSourceConfig = { name: "probes", kind: "pods", namespaceSelector: null, podSelector: { matchLabels: { "netcanary.io/probe": "true" }, matchExpressions: [] } };

function indexOf(pods: PodInfo[]) {
  const namespaces = [...new Set(pods.map((p) => p.namespace))].map((name) => ({ name, labels: { ...namespaceLabels(name), ...(name === "shop" ? { team: "shop" } : {}) } }));
  return buildPolicyIndex({ namespaces, pods, policies: [], services: [] });
}

describe("podSourceIdentities", () => {
  it("takes the selected Running pods of this node, named by workload; skips the rest, and reports host-network pods", () => {
    const index = indexOf([
      pod("web-abc12"),
      pod("api-xyz34", { labels: { app: "api" } }), // not labeled
      pod("web-def56", { node: "node-b" }), // another node's
      pod("web-ghi78", { phase: "Pending" }),
      pod("web-jkl90", { terminating: true }),
      pod("net-mno12", { hostNetwork: true }),
      pod("web", { workload: { kind: "deployment", name: "web" }, ips: [] }), // a template, not a pod
    ]);
    const { identities, hostNetwork } = podSourceIdentities(index, SOURCE, NODE);
    expect(identities.map((identity) => [identity.podSource, identity.workload, identity.ip?.text, identity.node, identity.name])).toEqual([
      ["shop/web-abc12", "deployment/web", "10.0.0.9", NODE, "probes"],
    ]);
    expect(hostNetwork).toEqual(["shop/net-mno12"]);
  });

  it("applies the namespace selector to the namespace's labels", () => {
    const index = indexOf([pod("web-abc12"), pod("web-abc12", { namespace: "other" })]);
    const picked = podSourceIdentities(index, { ...SOURCE, namespaceSelector: { matchLabels: { team: "shop" }, matchExpressions: [] } }, NODE);
    expect(picked.identities.map((identity) => identity.podSource)).toEqual(["shop/web-abc12"]);
    const all = podSourceIdentities(index, SOURCE, NODE);
    expect(all.identities.map((identity) => identity.podSource).sort()).toEqual(["other/web-abc12", "shop/web-abc12"]);
  });

  it("names a pod by its controller; a PodInfo without an owner (never read from the API, which makes a bare pod its own workload) by nothing", () => {
    const { owner: _owner, ...bare } = pod("standalone");
    expect(workloadOf(bare)).toBe("");
    expect(workloadOf(pod("web-abc12"))).toBe("deployment/web");
  });
});

describe("namedByWorkload", () => {
  const policy = (lines: string[]): EdgePolicy => ({ stance: "allow", summary: lines[0] as string, lines, egressRule: "x", ingressRule: "y", cniDependent: false });
  const source = { name: "probes", namespace: "shop", workload: "statefulset/web", podSource: "shop/web-1" };

  it("renames the source pod wherever the explanation names it", () => {
    const renamed = namedByWorkload(policy(["allow: egress of shop/web-1 allowed by shop/egress spec.egress[0]", "from shop/web-1: ok"]), source);
    expect(renamed.summary).toBe("allow: egress of shop/statefulset/web allowed by shop/egress spec.egress[0]");
    expect(renamed.lines).toEqual(["allow: egress of shop/statefulset/web allowed by shop/egress spec.egress[0]", "from shop/statefulset/web: ok"]);
  });

  it("leaves other pods whose names start with the source's alone", () => {
    const lines = ["backend shop/web-10: allowed", "backend shop/web-1.x: denied", "backend myshop/web-1: denied", "backend shop/web-1: allowed"];
    expect(namedByWorkload(policy(lines), source).lines).toEqual([
      "backend shop/web-10: allowed",
      "backend shop/web-1.x: denied",
      "backend myshop/web-1: denied",
      "backend shop/statefulset/web: allowed",
    ]);
  });

  it("leaves the agent's own identity (no pod source) as it is", () => {
    const original = policy(["allow: shop/web-1"]);
    expect(namedByWorkload(original, { name: "self", namespace: "shop", workload: "daemonset/netcanary" })).toBe(original);
  });
});
