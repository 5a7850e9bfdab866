// Which ports a rule admits: protocol default, named ports, endPort ranges.
import { describe, expect, it } from "vitest";
import { cluster, manifestErrors, namespace, netpol, pod, refs } from "./helpers.js";


const pods = [
  namespace("prod"),
  pod("prod/client", { labels: { app: "client" }, ips: ["10.0.0.1"] }),
  // Same port name "web" on different numbers; "dns" on UDP only on one, on both protocols on the other.
  pod("prod/a", {
    labels: { app: "srv" },
    ips: ["10.0.0.2"],
    ports: [
      { name: "web", port: 8080 },
      { name: "dns", port: 53, protocol: "UDP" },
    ],
  }),
  pod("prod/b", {
    labels: { app: "srv" },
    ips: ["10.0.0.3"],
    ports: [
      { name: "web", port: 9090 },
      { name: "dns", port: 5353, protocol: "UDP" },
      { name: "dns-tcp", port: 5353, protocol: "TCP" },
    ],
  }),
];

const ingressToSrv = (ports: string) =>
  netpol(
    "prod/srv",
    `
    podSelector: {matchLabels: {app: srv}}
    policyTypes: [Ingress]
    ingress:
    - ports: ${ports}
  `,
  );

describe("protocol (NetworkPolicyPort.protocol defaults to TCP)", () => {
  it("a port entry without protocol admits TCP only, not UDP or SCTP on the same number", () => {
    const c = cluster(...pods, ingressToSrv(`[{port: 8080}]`));
    expect(c.verdict("prod/client", "prod/a", 8080, "TCP")).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 8080, "UDP")).toBe("deny");
    expect(c.verdict("prod/client", "prod/a", 8080, "SCTP")).toBe("deny");
  });

  it("a policy allowing only UDP still isolates the pod for TCP", () => {
    const c = cluster(...pods, ingressToSrv(`[{protocol: UDP, port: 53}]`));
    expect(c.verdict("prod/client", "prod/a", 53, "UDP")).toBe("allow");
    const tcp = c.check("prod/client", "prod/a", 53, "TCP");
    expect(tcp.verdict).toBe("deny");
    expect(tcp.ingress.isolated).toBe(true);
  });

  it("a policy allowing only SCTP still isolates the pod for TCP and UDP", () => {
    const c = cluster(...pods, ingressToSrv(`[{protocol: SCTP, port: 9999}]`));
    expect(c.verdict("prod/client", "prod/a", 9999, "SCTP")).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 9999, "TCP")).toBe("deny");
    expect(c.verdict("prod/client", "prod/a", 9999, "UDP")).toBe("deny");
  });

  it("a port entry with a protocol and no port admits every port of that protocol only", () => {
    const c = cluster(...pods, ingressToSrv(`[{protocol: UDP}]`));
    expect(c.verdict("prod/client", "prod/a", 1, "UDP")).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 65535, "UDP")).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 53, "TCP")).toBe("deny");
    expect(c.verdict("prod/client", "prod/a", 53, "SCTP")).toBe("deny");
  });

  it("an empty port entry {} admits every TCP port (protocol defaults to TCP), and nothing else", () => {
    const c = cluster(...pods, ingressToSrv(`[{}]`));
    expect(c.verdict("prod/client", "prod/a", 12345, "TCP")).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 12345, "UDP")).toBe("deny");
  });

  it("several port entries are ORed", () => {
    const c = cluster(...pods, ingressToSrv(`[{port: 80}, {protocol: UDP, port: 53}]`));
    expect(c.verdict("prod/client", "prod/a", 80)).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 53, "UDP")).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 53)).toBe("deny");
    expect(c.verdict("prod/client", "prod/a", 81)).toBe("deny");
  });
});

describe("endPort (inclusive range)", () => {
  const c = cluster(...pods, ingressToSrv(`[{port: 32000, endPort: 32768}]`));

  it("admits both ends of the range and a port inside it", () => {
    expect(c.verdict("prod/client", "prod/a", 32000)).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 32768)).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 32500)).toBe("allow");
  });

  it("denies one below the start and one past the end", () => {
    expect(c.verdict("prod/client", "prod/a", 31999)).toBe("deny");
    expect(c.verdict("prod/client", "prod/a", 32769)).toBe("deny");
  });

  it("the range keeps its protocol (TCP by default)", () => {
    expect(c.verdict("prod/client", "prod/a", 32000, "UDP")).toBe("deny");
  });

  it("endPort equal to port admits exactly that port", () => {
    const single = cluster(...pods, ingressToSrv(`[{port: 443, endPort: 443}]`));
    expect(single.verdict("prod/client", "prod/a", 443)).toBe("allow");
    expect(single.verdict("prod/client", "prod/a", 444)).toBe("deny");
    expect(single.verdict("prod/client", "prod/a", 442)).toBe("deny");
  });

  it("a policy with endPort < port is rejected when loading manifests (and so restricts nothing)", () => {
    expect(manifestErrors(...pods, ingressToSrv(`[{port: 9000, endPort: 8000}]`))).toEqual([
      expect.stringMatching(/^spec\.ingress\[0\]\.ports\[0\]\.endPort: must be greater than or equal to port/),
    ]);
  });
});

describe("named ports (resolved on the destination pod, by name and protocol)", () => {
  it("ingress: the same name resolves to each destination pod's own number", () => {
    const c = cluster(...pods, ingressToSrv(`[{port: web}]`));
    expect(c.verdict("prod/client", "prod/a", 8080)).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 9090)).toBe("deny");
    expect(c.verdict("prod/client", "prod/b", 9090)).toBe("allow");
    expect(c.verdict("prod/client", "prod/b", 8080)).toBe("deny");
  });

  it("a UDP container port of that name does not match a TCP rule or a TCP query", () => {
    // Rule defaults to TCP; the "dns" ports are UDP.
    const tcpRule = cluster(...pods, ingressToSrv(`[{port: dns}]`));
    expect(tcpRule.verdict("prod/client", "prod/a", 53, "TCP")).toBe("deny");
    expect(tcpRule.verdict("prod/client", "prod/a", 53, "UDP")).toBe("deny");
    const udpRule = cluster(...pods, ingressToSrv(`[{protocol: UDP, port: dns}]`));
    expect(udpRule.verdict("prod/client", "prod/a", 53, "UDP")).toBe("allow");
    expect(udpRule.verdict("prod/client", "prod/a", 53, "TCP")).toBe("deny");
    expect(udpRule.verdict("prod/client", "prod/b", 5353, "UDP")).toBe("allow");
    expect(udpRule.verdict("prod/client", "prod/b", 5353, "TCP")).toBe("deny");
  });

  it("a name the destination pod does not have matches nothing", () => {
    const c = cluster(...pods, ingressToSrv(`[{port: metrics}]`));
    expect(c.verdict("prod/client", "prod/a", 8080)).toBe("deny");
    expect(c.verdict("prod/client", "prod/a", 9100)).toBe("deny");
  });

  it("egress: a named port resolves on the destination pod, not on the source", () => {
    const c = cluster(
      ...pods,
      pod("prod/src", { labels: { app: "src" }, ips: ["10.0.0.9"], ports: [{ name: "web", port: 7000 }] }),
      netpol(
        "prod/src-out",
        `
        podSelector: {matchLabels: {app: src}}
        policyTypes: [Egress]
        egress:
        - ports: [{port: web}]
      `,
      ),
    );
    expect(c.verdict("prod/src", "prod/a", 8080)).toBe("allow");
    expect(c.verdict("prod/src", "prod/b", 9090)).toBe("allow");
    expect(c.verdict("prod/src", "prod/a", 9090)).toBe("deny");
    expect(c.verdict("prod/src", "prod/a", 7000)).toBe("deny");
    expect(refs(c.check("prod/src", "prod/b", 9090).egress.allowedBy)).toEqual(["prod/src-out:egress[0]"]);
  });

  it("egress: a named port never matches an address outside the cluster, even with an ipBlock covering it", () => {
    const c = cluster(
      ...pods,
      netpol(
        "prod/client-out",
        `
        podSelector: {matchLabels: {app: client}}
        policyTypes: [Egress]
        egress:
        - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
          ports: [{port: web}]
      `,
      ),
    );
    expect(c.verdict("prod/client", "203.0.113.5", 8080)).toBe("deny");
    expect(c.verdict("prod/client", "203.0.113.5", 9090)).toBe("deny");
    expect(c.check("prod/client", "203.0.113.5", 8080).egress.allowed).toBe(false);
  });

  it("named and numeric entries mix in one rule (ORed)", () => {
    const c = cluster(...pods, ingressToSrv(`[{port: web}, {port: 22}]`));
    expect(c.verdict("prod/client", "prod/a", 22)).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 8080)).toBe("allow");
    expect(c.verdict("prod/client", "prod/a", 9090)).toBe("deny");
  });
});
