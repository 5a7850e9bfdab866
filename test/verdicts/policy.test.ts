// policyForEdge: the engine's verdict for the source identity and the probed address.
import { describe, expect, it } from "vitest";
import { type IpAddress, parseIp } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { buildPolicyIndex, type PolicyIndex } from "../../agent/policy/engine.js";
import { policyForEdge, type SourceIdentity } from "../../agent/verdicts/policy.js";

function ip(text: string): IpAddress {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function index(yaml: string): PolicyIndex {
  const parsed = parseDocuments(yaml, "cluster.yaml");
  expect(parsed.errors).toEqual([]);
  const load = snapshotFromDocuments(parsed.documents);
  expect(load.errors).toEqual([]);
  return buildPolicyIndex(load.snapshot);
}

const PODS = `
kind: Namespace
metadata: {name: mon}
---
kind: Pod
metadata: {name: agent, namespace: mon, labels: {app: agent}}
spec: {nodeName: n1, containers: [{name: a}]}
status: {podIP: 10.0.0.5}
---
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {containers: [{name: w, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.0.1.1}
---
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web}}
spec: {containers: [{name: w, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.0.1.2}
---
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.0.10, selector: {app: web}, ports: [{port: 80, targetPort: http}]}
---
kind: Service
metadata: {name: empty, namespace: shop}
spec: {clusterIP: 10.96.0.11, selector: {app: nothing}, ports: [{port: 80, targetPort: 80}]}
`;

const EGRESS_DENY = `
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-egress, namespace: mon}
spec:
  podSelector: {matchLabels: {app: agent}}
  policyTypes: [Egress]
`;

const WEB_INGRESS_ONLY_1 = `
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-1-closed, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{from: [{ipBlock: {cidr: 192.0.2.0/24}}]}]
`;

function agentSource(idx: PolicyIndex): SourceIdentity {
  const pod = idx.podsByKey.get("mon/agent");
  expect(pod).toBeDefined();
  return { name: "self", ...(pod ? { pod } : {}), namespace: "mon", node: "n1" };
}

describe("policyForEdge", () => {
  it("no cluster state: unknown", () => {
    const p = policyForEdge(undefined, { name: "self" }, ip("192.0.2.1"), 443, "TCP");
    expect(p).toEqual({
      stance: "unknown",
      summary: "cluster state not synchronised yet",
      lines: ["cluster state not synchronised yet"],
      egressRule: "unknown",
      ingressRule: "unknown",
      cniDependent: false,
    });
  });

  it("a cluster without any NetworkPolicy: allow, even before the address is known", () => {
    const idx = index(PODS);
    for (const destination of [ip("192.0.2.1"), ip("10.0.1.1"), undefined]) {
      const p = policyForEdge(idx, { name: "self" }, destination, 443, "TCP");
      expect([p.stance, p.summary, p.egressRule, p.ingressRule]).toEqual(["allow", "allow: the cluster state has no NetworkPolicy", "not_isolated", "not_isolated"]);
    }
  });

  it("policies present but the address unknown: unknown", () => {
    const idx = index(PODS + EGRESS_DENY);
    const p = policyForEdge(idx, agentSource(idx), undefined, 443, "TCP");
    expect([p.stance, p.summary]).toEqual(["unknown", "the target's address is not known yet (its name has not resolved)"]);
  });

  it("the agent pod under a default-deny egress policy: deny, for an outside address and a pod", () => {
    const idx = index(PODS + EGRESS_DENY);
    for (const destination of ["192.0.2.1", "10.0.1.1"]) {
      const p = policyForEdge(idx, agentSource(idx), ip(destination), 8080, "TCP");
      expect(p.stance).toBe("deny");
      expect(p.egressRule).toBe("none");
      expect(p.verdict?.egress.policies).toEqual(["mon/deny-egress"]);
      expect(p.lines.some((line) => line.includes("mon/deny-egress"))).toBe(true);
    }
  });

  it("a source that is no pod, with no address: only an outside destination can be judged", () => {
    const idx = index(PODS + EGRESS_DENY);
    const outside = policyForEdge(idx, { name: "self" }, ip("192.0.2.1"), 443, "TCP");
    expect([outside.stance, outside.summary]).toEqual(["allow", "allow: neither end is in the cluster, so no NetworkPolicy applies"]);
    expect(outside.lines[0]).toBe("source self is not a pod in the cluster state: treated as outside the cluster");
    const inside = policyForEdge(idx, { name: "self" }, ip("10.0.1.1"), 8080, "TCP");
    expect(inside.stance).toBe("unknown");
    expect(inside.summary).toBe("source self is outside the cluster and its address is unknown; 10.0.1.1 is in the cluster");
  });

  it("a source known only by its address is judged as an address outside the cluster", () => {
    const idx = index(PODS + WEB_INGRESS_ONLY_1);
    const admitted = policyForEdge(idx, { name: "self", ip: ip("192.0.2.7") }, ip("10.0.1.1"), 8080, "TCP");
    expect(admitted.stance).toBe("allow");
    expect(admitted.lines[0]).toBe("source self is not a pod in the cluster state: treated as outside the cluster");
    const refused = policyForEdge(idx, { name: "self", ip: ip("198.51.100.7") }, ip("10.0.1.1"), 8080, "TCP");
    expect(refused.stance).toBe("deny");
  });

  it("a Service IP is judged against its backends", () => {
    const idx = index(PODS + WEB_INGRESS_ONLY_1);
    const p = policyForEdge(idx, agentSource(idx), ip("10.96.0.10"), 80, "TCP");
    expect(p.stance).toBe("deny");
    expect(p.lines[0]).toBe("10.96.0.10 is Service shop/web: judged against its backends");
    expect(p.ingressRule).toBe("none");
    // Without policies on the backends' ingress, the same Service is allowed.
    const open = index(PODS + EGRESS_DENY.replace("app: agent", "app: nobody"));
    expect(policyForEdge(open, agentSource(open), ip("10.96.0.10"), 80, "TCP").stance).toBe("allow");
  });

  it("a Service without backends, or a port it does not serve: unknown", () => {
    const idx = index(PODS + WEB_INGRESS_ONLY_1);
    const empty = policyForEdge(idx, agentSource(idx), ip("10.96.0.11"), 80, "TCP");
    expect(empty.stance).toBe("unknown");
    expect(empty.summary).toBe("10.96.0.10 is Service shop/empty: judged against its backends; Service shop/empty selects no pods serving port 80/TCP".replace("10.96.0.10", "10.96.0.11"));
    const wrongPort = policyForEdge(idx, agentSource(idx), ip("10.96.0.10"), 81, "TCP");
    expect(wrongPort.summary).toBe("10.96.0.10 is Service shop/web: judged against its backends; Service shop/web has no TCP port 81");
  });

  it("backends that disagree: unknown, with a line per backend", () => {
    const onlyWeb1 = PODS.replace("metadata: {name: web-1, namespace: shop, labels: {app: web}}", "metadata: {name: web-1, namespace: shop, labels: {app: web, locked: \"yes\"}}");
    const policy = WEB_INGRESS_ONLY_1.replace("podSelector: {matchLabels: {app: web}}", "podSelector: {matchLabels: {locked: \"yes\"}}");
    const idx = index(onlyWeb1 + policy);
    const p = policyForEdge(idx, agentSource(idx), ip("10.96.0.10"), 80, "TCP");
    expect(p.stance).toBe("unknown");
    expect(p.summary).toBe("10.96.0.10 is Service shop/web: judged against its backends; its backends disagree (probe each endpoint to see which)");
    expect(p.lines).toHaveLength(3);
    expect(p.lines[1]).toMatch(/^backend shop\/web-1: deny/);
    expect(p.lines[2]).toMatch(/^backend shop\/web-2: allow/);
  });

  it("AdminNetworkPolicies count as policy even when there is no NetworkPolicy", () => {
    const idx = index(`${PODS}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-egress-from-mon}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: mon}}}
  egress:
  - {name: deny-all, action: Deny, to: [{networks: [0.0.0.0/0]}]}
`);
    expect(idx.admin).toBeDefined();
    const p = policyForEdge(idx, agentSource(idx), ip("192.0.2.1"), 443, "TCP");
    expect(p.stance).toBe("deny");
    expect(p.summary).not.toBe("allow: the cluster state has no NetworkPolicy");
  });

  it("the agent probing its own pod IP: undefined by NetworkPolicy, so unknown", () => {
    const idx = index(PODS + EGRESS_DENY);
    const p = policyForEdge(idx, agentSource(idx), ip("10.0.0.5"), 8080, "TCP");
    expect(p.stance).toBe("unknown");
    expect(p.lines.some((line) => line.includes("itself"))).toBe(true);
  });
});
