// ipBlock peers: CIDR masking, except, address families, pod IPs.
import { describe, expect, it } from "vitest";
import { cluster, namespace, noteCodes, pod, refs } from "./helpers.js";

function egressTo(block: string, name = "out"): string {
  return [
    "apiVersion: networking.k8s.io/v1",
    "kind: NetworkPolicy",
    `metadata: {name: ${name}, namespace: prod}`,
    "spec:",
    "  podSelector: {matchLabels: {app: client}}",
    "  policyTypes: [Egress]",
    "  egress:",
    `  - to: [{ipBlock: ${block}}]`,
  ].join("\n");
}

function ingressFrom(block: string): string {
  return [
    "apiVersion: networking.k8s.io/v1",
    "kind: NetworkPolicy",
    "metadata: {name: in, namespace: prod}",
    "spec:",
    "  podSelector: {matchLabels: {app: server}}",
    "  policyTypes: [Ingress]",
    "  ingress:",
    `  - from: [{ipBlock: ${block}}]`,
  ].join("\n");
}

const base = [
  namespace("prod"),
  pod("prod/client", { labels: { app: "client" }, ips: ["10.0.0.1", "fd00::1"] }),
  pod("prod/server", { labels: { app: "server" }, ips: ["10.0.0.2", "fd00::2"] }),
  pod("prod/other", { labels: { app: "other" }, ips: ["172.16.0.5"] }),
];

const allowedTargets = (c: ReturnType<typeof cluster>, targets: string[]) =>
  targets.filter((to) => c.verdict("prod/client", to, 443) === "allow");

describe("ipBlock CIDR matching", () => {
  it("host bits are masked: cidr 10.1.2.3/8 behaves as 10.0.0.0/8", () => {
    const c = cluster(...base, egressTo("{cidr: 10.1.2.3/8}"));
    expect(allowedTargets(c, ["10.200.0.1", "10.0.0.0", "10.255.255.255", "11.0.0.0", "9.255.255.255"])).toEqual([
      "10.200.0.1",
      "10.0.0.0",
      "10.255.255.255",
    ]);
  });

  it("except wins over cidr, and the edges of the except block are excluded", () => {
    const c = cluster(...base, egressTo("{cidr: 192.168.0.0/16, except: [192.168.1.0/24]}"));
    expect(allowedTargets(c, ["192.168.0.255", "192.168.1.0", "192.168.1.255", "192.168.2.0", "192.168.1.77"])).toEqual([
      "192.168.0.255",
      "192.168.2.0",
    ]);
  });

  it("a rule with an except'ed address is still admitted by another peer of the same rule (peers are ORed)", () => {
    const c = cluster(...base, egressTo("{cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}, {ipBlock: {cidr: 192.168.1.7/32}"));
    expect(allowedTargets(c, ["192.168.1.7", "192.168.1.8"])).toEqual(["192.168.1.7"]);
  });

  it("/0 matches every address of its family; /32 exactly one", () => {
    const all = cluster(...base, egressTo("{cidr: 0.0.0.0/0}"));
    expect(allowedTargets(all, ["1.1.1.1", "255.255.255.255", "0.0.0.0"])).toEqual(["1.1.1.1", "255.255.255.255", "0.0.0.0"]);
    const one = cluster(...base, egressTo("{cidr: 203.0.113.9/32}"));
    expect(allowedTargets(one, ["203.0.113.9", "203.0.113.8", "203.0.113.10"])).toEqual(["203.0.113.9"]);
  });

  it("an IPv4 block (even 0.0.0.0/0) never matches an IPv6 address, including IPv4-mapped ones", () => {
    const c = cluster(...base, egressTo("{cidr: 0.0.0.0/0}"));
    expect(allowedTargets(c, ["2001:db8::1", "::ffff:10.0.0.5", "::"])).toEqual([]);
  });

  it("an IPv6 block (even ::/0) never matches an IPv4 address", () => {
    const c = cluster(...base, egressTo("{cidr: '::/0'}"));
    expect(allowedTargets(c, ["2001:db8::1", "8.8.8.8"])).toEqual(["2001:db8::1"]);
  });

  it("IPv6 /128 matches exactly one address, whatever its spelling; a /64 with except works per bit", () => {
    const one = cluster(...base, egressTo("{cidr: '2001:db8::5/128'}"));
    expect(allowedTargets(one, ["2001:db8::5", "2001:0db8:0:0:0:0:0:0005", "2001:db8::6"])).toEqual(["2001:db8::5", "2001:0db8:0:0:0:0:0:0005"]);
    const range = cluster(...base, egressTo("{cidr: '2001:db8:1::/48', except: ['2001:db8:1:2::/64']}"));
    expect(allowedTargets(range, ["2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:1:3::ffff", "2001:db8:2::1"])).toEqual([
      "2001:db8:1:1::1",
      "2001:db8:1:3::ffff",
    ]);
  });

  it("ingress ipBlock matches the source address of a connection from outside the cluster", () => {
    const c = cluster(...base, ingressFrom("{cidr: 198.51.100.0/24, except: [198.51.100.128/25]}"));
    expect(c.verdict("198.51.100.1", "prod/server", 443)).toBe("allow");
    expect(c.verdict("198.51.100.129", "prod/server", 443)).toBe("deny");
    expect(c.verdict("198.51.101.1", "prod/server", 443)).toBe("deny");
    expect(refs(c.check("198.51.100.1", "prod/server", 443).ingress.allowedBy)).toEqual(["prod/in:ingress[0]"]);
  });
});

describe("ipBlock and pod IPs (conformance: ipBlock applies to pod IPs; some plugins differ)", () => {
  it("an ipBlock containing a pod's IP admits it, with a cni_dependent note", () => {
    const c = cluster(...base, egressTo("{cidr: 172.16.0.0/12}"));
    const v = c.check("prod/client", "prod/other", 443);
    expect(v.verdict).toBe("allow");
    expect(v.cniDependent).toBe(true);
    expect(v.determinate).toBe(true);
    expect(noteCodes(v)).toContain("ipblock_matches_pod_ip");
    expect(refs(v.egress.allowedBy)).toEqual(["prod/out:egress[0]"]);
  });

  it("an ipBlock whose except covers the pod's IP does not admit it", () => {
    const c = cluster(...base, egressTo("{cidr: 172.16.0.0/12, except: [172.16.0.0/24]}"));
    expect(c.verdict("prod/client", "prod/other", 443)).toBe("deny");
  });

  it("no cni_dependent note when a selector rule admits the pod anyway", () => {
    const c = cluster(
      ...base,
      egressTo("{cidr: 172.16.0.0/12}"),
      egressTo("{cidr: 1.2.3.4/32}}, {podSelector: {matchLabels: {app: other}}", "by-label"),
    );
    const v = c.check("prod/client", "prod/other", 443);
    expect(v.verdict).toBe("allow");
    expect(v.cniDependent).toBe(false);
    expect(noteCodes(v)).not.toContain("ipblock_matches_pod_ip");
  });

  it("ingress ipBlock matches the source pod's IP in the connection's family (pod-to-pod over IPv4)", () => {
    const v4 = cluster(...base, ingressFrom("{cidr: 10.0.0.1/32}"));
    expect(v4.verdict("prod/client", "prod/server", 443)).toBe("allow");
    // Only the IPv6 address of the dual-stack client: a connection between dual-stack pods is taken as IPv4.
    const v6 = cluster(...base, ingressFrom("{cidr: 'fd00::1/128'}"));
    expect(v6.verdict("prod/client", "prod/server", 443)).toBe("deny");
  });

  it("pods with only IPv6 addresses are matched by IPv6 blocks", () => {
    const c = cluster(
      namespace("prod"),
      pod("prod/client", { labels: { app: "client" }, ips: ["fd00::1"] }),
      pod("prod/server", { labels: { app: "server" }, ips: ["fd00::2"] }),
      ingressFrom("{cidr: 'fd00::/64'}"),
    );
    expect(c.verdict("prod/client", "prod/server", 443)).toBe("allow");
  });
});

describe("selectors never match addresses outside the cluster", () => {
  it("an egress rule with namespaceSelector: {} does not admit an external IP", () => {
    const c = cluster(
      ...base,
      `
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: out, namespace: prod}
      spec:
        podSelector: {matchLabels: {app: client}}
        policyTypes: [Egress]
        egress:
        - to: [{namespaceSelector: {}}]
      `,
    );
    expect(c.verdict("prod/client", "8.8.8.8", 53, "UDP")).toBe("deny");
    expect(c.verdict("prod/client", "prod/other", 53, "UDP")).toBe("allow");
  });
});
