// Ports and peers of admin rules. Sources: kubernetes-sigs/network-policy-api
// apis/v1alpha1/shared_types.go (AdminNetworkPolicyPort, Port, PortRange, NamespacedPod)
// and adminnetworkpolicy_types.go (AdminNetworkPolicyEgressPeer: Nodes, Networks, DomainNames).
import { describe, expect, it } from "vitest";
import { adminCluster, anp, banp, deployment, everyone, inNamespaces, namespace, noteCodes, path, pod, podsIn, tcp } from "./helpers.js";

const base = [
  namespace("alpha", { team: "a" }),
  namespace("beta", { team: "b" }),
  pod("alpha/web", { labels: { app: "web" }, ips: ["10.0.1.1"], ports: [{ name: "http", port: 8080 }, { name: "dns", port: 53, protocol: "UDP" }] }),
  pod("alpha/api", { labels: { app: "api" }, ips: ["10.0.1.3"], ports: [{ name: "http", port: 9090 }] }),
  pod("beta/client", { labels: { app: "client" }, ips: ["10.0.2.1"] }),
];

const fromBeta = (action: string, ports?: unknown[]) => anp("rule", {
  priority: 10,
  subject: inNamespaces({ team: "a" }),
  ingress: [{ name: "r", action, from: [inNamespaces({ team: "b" })], ...(ports ? { ports } : {}) }],
});
const toEverything = (action: string, ports?: unknown[]) => anp("rule", {
  priority: 10,
  subject: inNamespaces({ team: "b" }),
  egress: [{ name: "r", action, to: [everyone], ...(ports ? { ports } : {}) }],
});

describe("ports", () => {
  it("without ports a rule does not filter by port (Ports: If Ports is not set then the rule does not filter traffic via port)", () => {
    const c = adminCluster(...base, fromBeta("Deny"));
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 53, "UDP")).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 1, "SCTP")).toBe("deny");
  });

  it("portNumber matches its protocol and port only (Port)", () => {
    const c = adminCluster(...base, fromBeta("Deny", [{ portNumber: { protocol: "UDP", port: 53 } }]));
    expect(c.verdict("beta/client", "alpha/web", 53, "UDP")).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 53, "TCP")).toBe("allow");
    expect(c.verdict("beta/client", "alpha/web", 54, "UDP")).toBe("allow");
  });

  it("a portNumber without protocol means TCP (Protocol: If not specified, this field defaults to TCP)", () => {
    const c = adminCluster(...base, fromBeta("Deny", [{ portNumber: { port: 8080 } }]));
    expect(c.verdict("beta/client", "alpha/web", 8080, "TCP")).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 8080, "UDP")).toBe("allow");
  });

  it("portRange includes both ends (PortRange: an inclusive range of ports from Start to End)", () => {
    const c = adminCluster(...base, fromBeta("Deny", [{ portRange: { protocol: "TCP", start: 8000, end: 8080 } }]));
    expect(c.verdict("beta/client", "alpha/web", 7999)).toBe("allow");
    expect(c.verdict("beta/client", "alpha/web", 8000)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 8042)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 8081)).toBe("allow");
    expect(c.verdict("beta/client", "alpha/web", 8042, "UDP")).toBe("allow");
  });

  it("ports are ORed", () => {
    const c = adminCluster(...base, fromBeta("Deny", [tcp(80), tcp(443)]));
    expect(c.verdict("beta/client", "alpha/web", 80)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 443)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("allow");
  });

  it("an ingress namedPort resolves on the subject pod, which is the destination (NamedPort: selects a port on pods by name)", () => {
    const c = adminCluster(...base, anp("named", { priority: 1, subject: inNamespaces({ team: "a" }), ingress: [{ action: "Deny", from: [everyone], ports: [{ namedPort: "http" }] }] }));
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/api", 9090)).toBe("deny");
    // web's "http" is 8080, not 9090; the name resolves per pod.
    expect(c.verdict("beta/client", "alpha/web", 9090)).toBe("allow");
    // The container port's protocol is part of the match.
    expect(c.verdict("beta/client", "alpha/web", 8080, "UDP")).toBe("allow");
  });

  it("an egress namedPort resolves on the destination pod, and never matches an address outside the cluster", () => {
    const c = adminCluster(...base, toEverything("Deny", [{ namedPort: "dns" }]));
    expect(c.verdict("beta/client", "alpha/web", 53, "UDP")).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 53, "TCP")).toBe("allow");
    expect(c.verdict("beta/client", "alpha/api", 53, "UDP")).toBe("allow");
    expect(c.verdict("beta/client", "8.8.8.8", 53, "UDP")).toBe("allow");
  });
});

describe("pod peers", () => {
  it("a namespaces peer selects every pod in the matching namespaces", () => {
    const c = adminCluster(...base, fromBeta("Deny"));
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("alpha/api", "alpha/web", 8080)).toBe("allow");
  });

  it("a pods peer ANDs its namespaceSelector and podSelector, and peers are ORed", () => {
    const c = adminCluster(
      ...base,
      pod("beta/other", { labels: { app: "other" }, ips: ["10.0.2.2"] }),
      anp("peers", {
        priority: 1,
        subject: inNamespaces({ team: "a" }),
        ingress: [{ action: "Deny", from: [podsIn({ team: "b" }, { app: "client" }), podsIn({ team: "a" }, { app: "api" })] }],
      }),
    );
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("alpha/api", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("beta/other", "alpha/web", 8080)).toBe("allow");
  });

  it("host-networked pods are not included in namespaces or pods peers", () => {
    const c = adminCluster(...base, pod("beta/node-agent", { labels: { app: "agent" }, ips: ["192.168.0.5"], hostNetwork: true }), fromBeta("Deny"));
    const verdict = c.check("beta/node-agent", "alpha/web", 8080);
    expect(verdict.ingress.allowed).toBe(true);
    expect(path(verdict.ingress)).toEqual(["admin:NoMatch", "networkpolicy:NoMatch"]);
  });
});

describe("networks peer (egress)", () => {
  const denyNetworks = (...networks: string[]) =>
    anp("nets", { priority: 1, subject: inNamespaces({ team: "b" }), egress: [{ name: "blocked", action: "Deny", to: [{ networks }] }] });

  it("matches addresses outside the cluster", () => {
    const c = adminCluster(...base, denyNetworks("203.0.113.0/24"));
    expect(c.verdict("beta/client", "203.0.113.7", 443)).toBe("deny");
    expect(c.verdict("beta/client", "198.51.100.1", 443)).toBe("allow");
  });

  it("matches pod IPs too (Networks: cluster-internal traffic will be checked against the rule as well)", () => {
    const c = adminCluster(...base, denyNetworks("10.0.1.0/31"));
    const verdict = c.check("beta/client", "alpha/web", 8080);
    expect(verdict.verdict).toBe("deny");
    // Unlike a NetworkPolicy ipBlock, the API defines this: no CNI-dependence.
    expect(verdict.cniDependent).toBe(false);
    expect(verdict.determinate).toBe(true);
    expect(c.verdict("beta/client", "alpha/api", 9090)).toBe("allow");
  });

  it("keeps IPv4 and IPv6 apart; host bits of a CIDR are masked", () => {
    const c = adminCluster(...base, denyNetworks("fd00::/8", "203.0.113.99/24"));
    expect(c.verdict("beta/client", "fd00::1", 443)).toBe("deny");
    expect(c.verdict("beta/client", "203.0.113.1", 443)).toBe("deny");
    expect(c.verdict("beta/client", "10.0.1.1", 443)).toBe("allow");
  });

  it("against pods not created yet is unknown, when it would change the verdict", () => {
    const c = adminCluster(...base, deployment("alpha/batch", { labels: { app: "batch" } }), denyNetworks("10.0.1.0/24"));
    const verdict = c.check("beta/client", "deployment/alpha/batch", 8080);
    expect(verdict.verdict).toBe("allow");
    expect(verdict.determinate).toBe(false);
    expect(noteCodes(verdict)).toEqual(["unknown:admin_unknown_ip"]);
    expect(verdict.notes[0]?.message).toContain("AdminNetworkPolicy nets spec.egress[0] (blocked) would deny this connection");

    // An IPv6-only rule cannot hold the IPv4 address the pods will get.
    const v6 = adminCluster(...base, deployment("alpha/batch", { labels: { app: "batch" } }), denyNetworks("fd00::/8"));
    expect(v6.check("beta/client", "deployment/alpha/batch", 8080).determinate).toBe(true);
  });

  it("an unknown match that would not change the verdict adds no note", () => {
    // Deny by networks, then deny everything: the pods' IPs do not matter.
    const c = adminCluster(
      ...base,
      deployment("alpha/batch", { labels: { app: "batch" } }),
      anp("nets", { priority: 1, subject: inNamespaces({ team: "b" }), egress: [{ action: "Deny", to: [{ networks: ["10.0.0.0/8"] }] }, { action: "Deny", to: [everyone] }] }),
    );
    const verdict = c.check("beta/client", "deployment/alpha/batch", 8080);
    expect(verdict.verdict).toBe("deny");
    expect(verdict.determinate).toBe(true);
  });

  it("works in the BANP as well", () => {
    const c = adminCluster(...base, banp({ subject: inNamespaces({ team: "b" }), egress: [{ action: "Deny", to: [{ networks: ["0.0.0.0/0"] }] }] }));
    expect(c.verdict("beta/client", "203.0.113.7", 443)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("beta/client", "fd00::1", 443)).toBe("allow");
  });
});

describe("nodes peer (egress): the snapshot has no Node objects", () => {
  const denyNodes = anp("nodes", { priority: 1, subject: inNamespaces({ team: "b" }), egress: [{ name: "no-nodes", action: "Deny", to: [{ nodes: { matchLabels: { "node-role.kubernetes.io/control-plane": "" } } }] }] });

  it("never matches a pod on the pod network (a node peer selects node addresses)", () => {
    const c = adminCluster(...base, denyNodes);
    const verdict = c.check("beta/client", "alpha/web", 8080);
    expect(verdict.verdict).toBe("allow");
    expect(verdict.determinate).toBe(true);
  });

  it("is unknown for an address outside the pod network: it may be a node's", () => {
    const c = adminCluster(...base, denyNodes);
    const verdict = c.check("beta/client", "192.168.0.10", 6443);
    expect(verdict.verdict).toBe("allow");
    expect(verdict.determinate).toBe(false);
    expect(noteCodes(verdict)).toEqual(["unknown:admin_node_peer"]);
    expect(verdict.notes[0]?.message).toContain("node-role.kubernetes.io/control-plane=");
  });
});

describe("domainNames peer (egress, Allow only)", () => {
  it("is unknown for an address outside the cluster, and never matches a pod", () => {
    const c = adminCluster(
      ...base,
      anp("allowlist", {
        priority: 1,
        subject: inNamespaces({ team: "b" }),
        egress: [
          { name: "example", action: "Allow", to: [{ domainNames: ["*.example.com"] }] },
          { name: "nothing-else", action: "Deny", to: [{ networks: ["0.0.0.0/0"] }] },
        ],
      }),
    );
    const external = c.check("beta/client", "203.0.113.7", 443);
    expect(external.verdict).toBe("deny");
    expect(external.determinate).toBe(false);
    expect(noteCodes(external)).toEqual(["unknown:admin_domain_peer"]);
    const internal = c.check("beta/client", "alpha/web", 8080);
    expect(internal.verdict).toBe("deny");
    expect(internal.determinate).toBe(true);
  });
});
