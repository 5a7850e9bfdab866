// Validation and defaults, as the v1alpha1 CRDs apply them (kubernetes-sigs/network-policy-api
// apis/v1alpha1: kubebuilder markers and CEL rules), each problem located by field.
import { describe, expect, it } from "vitest";
import { anp, API_VERSION, banp, everyone, inNamespaces, loadErrors, namespace, normalizeAnp, normalizeBanp } from "./helpers.js";

const subject = inNamespaces({ team: "a" });

describe("AdminNetworkPolicy: a valid policy", () => {
  it("reads every field into the model, with defaults applied", () => {
    const result = normalizeAnp(
      anp("full", {
        priority: 42,
        subject: { pods: { namespaceSelector: { matchLabels: { team: "a" } }, podSelector: {} } },
        ingress: [{ name: "in", action: "Pass", from: [{ namespaces: {} }], ports: [{ portNumber: { port: 80 } }, { namedPort: "http" }] }],
        egress: [
          { action: "Deny", to: [{ networks: ["10.1.2.3/8", "fd00::/8"] }], ports: [{ portRange: { start: 1000, end: 2000 } }] },
          { action: "Allow", to: [{ nodes: { matchLabels: { role: "infra" } } }, { domainNames: ["*.example.com", "example.org"] }] },
        ],
      }),
    );
    expect(result.issues).toEqual([]);
    const policy = result.policy;
    expect(policy?.name).toBe("full");
    expect(policy?.priority).toBe(42);
    expect(policy?.subject).toEqual({ kind: "pods", namespaceSelector: { matchLabels: { team: "a" }, matchExpressions: [] }, podSelector: { matchLabels: {}, matchExpressions: [] } });
    expect(policy?.ingress[0]).toMatchObject({
      name: "in",
      action: "Pass",
      peers: [{ kind: "namespaces" }],
      // Protocol defaults to TCP.
      ports: [{ kind: "portNumber", protocol: "TCP", port: 80 }, { kind: "namedPort", name: "http" }],
    });
    // A rule without a name has name null; networks are masked.
    expect(policy?.egress[0]?.name).toBeNull();
    expect(policy?.egress[0]?.peers[0]).toMatchObject({ kind: "networks", networks: [{ text: "10.0.0.0/8" }, { text: "fd00::/8" }] });
    expect(policy?.egress[0]?.ports).toEqual([{ kind: "portRange", protocol: "TCP", start: 1000, end: 2000 }]);
    expect(policy?.egress[1]?.peers.map((p) => p.kind)).toEqual(["nodes", "domainNames"]);
    // Absent ports: the rule matches every port.
    expect(policy?.egress[1]?.ports).toBeNull();
  });

  it("accepts priorities 0 and 1000 and a policy with no rules", () => {
    expect(normalizeAnp(anp("a", { priority: 0, subject })).issues).toEqual([]);
    expect(normalizeAnp(anp("b", { priority: 1000, subject })).issues).toEqual([]);
  });
});

describe("AdminNetworkPolicy: validation errors, located", () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ["priority is required", { subject }, "spec.priority", /is required/],
    ["priority at most 1000", { priority: 1001, subject }, "spec.priority", /0 to 1000/],
    ["priority at least 0", { priority: -1, subject }, "spec.priority", /0 to 1000/],
    ["priority is an integer", { priority: 1.5, subject }, "spec.priority", /integer/],
    ["subject is required", { priority: 1 }, "spec.subject", /is required/],
    ["subject sets exactly one field", { priority: 1, subject: { namespaces: {}, pods: { namespaceSelector: {}, podSelector: {} } } }, "spec.subject", /exactly one of namespaces, pods, got namespaces and pods/],
    ["subject sets at least one field", { priority: 1, subject: {} }, "spec.subject", /exactly one of namespaces, pods/],
    ["pods needs both selectors", { priority: 1, subject: { pods: { namespaceSelector: {} } } }, "spec.subject.pods.podSelector", /is required/],
    ["selectors are validated", { priority: 1, subject: { namespaces: { matchExpressions: [{ key: "k", operator: "Within" }] } } }, "spec.subject.namespaces.matchExpressions[0].operator", /not a valid operator/],
    ["unknown spec field", { priority: 1, subject, podSelector: {} }, "spec.podSelector", /unknown field/],
    ["action is required", { priority: 1, subject, ingress: [{ from: [everyone] }] }, "spec.ingress[0].action", /is required/],
    ["action is an enum", { priority: 1, subject, ingress: [{ action: "Drop", from: [everyone] }] }, "spec.ingress[0].action", /not a valid action/],
    ["from is required", { priority: 1, subject, ingress: [{ action: "Deny" }] }, "spec.ingress[0].from", /at least one peer/],
    ["from may not be empty", { priority: 1, subject, ingress: [{ action: "Deny", from: [] }] }, "spec.ingress[0].from", /at least one peer/],
    ["to is required", { priority: 1, subject, egress: [{ action: "Deny" }] }, "spec.egress[0].to", /at least one peer/],
    ["a rule name is at most 100 characters", { priority: 1, subject, ingress: [{ name: "x".repeat(101), action: "Deny", from: [everyone] }] }, "spec.ingress[0].name", /100/],
    ["a peer sets exactly one field", { priority: 1, subject, egress: [{ action: "Deny", to: [{ namespaces: {}, networks: ["10.0.0.0/8"] }] }] }, "spec.egress[0].to[0]", /exactly one/],
    ["an empty peer is invalid", { priority: 1, subject, ingress: [{ action: "Deny", from: [{}] }] }, "spec.ingress[0].from[0]", /exactly one of namespaces, pods/],
    ["ingress peers have no networks", { priority: 1, subject, ingress: [{ action: "Deny", from: [{ networks: ["10.0.0.0/8"] }] }] }, "spec.ingress[0].from[0].networks", /unknown field/],
    ["ingress peers have no nodes", { priority: 1, subject, ingress: [{ action: "Deny", from: [{ nodes: {} }] }] }, "spec.ingress[0].from[0].nodes", /unknown field/],
    ["networks holds CIDRs", { priority: 1, subject, egress: [{ action: "Deny", to: [{ networks: ["10.0.0.0/33"] }] }] }, "spec.egress[0].to[0].networks[0]", /prefix/],
    ["networks needs a prefix", { priority: 1, subject, egress: [{ action: "Deny", to: [{ networks: ["10.0.0.1"] }] }] }, "spec.egress[0].to[0].networks[0]", /not a CIDR/],
    ["no IPv4 embedded in IPv6", { priority: 1, subject, egress: [{ action: "Deny", to: [{ networks: ["::ffff:10.0.0.0/104"] }] }] }, "spec.egress[0].to[0].networks[0]", /IPv4 or an IPv6/],
    ["networks lists at least one CIDR", { priority: 1, subject, egress: [{ action: "Deny", to: [{ networks: [] }] }] }, "spec.egress[0].to[0].networks", /at least one/],
    ["networks lists at most 25 CIDRs", { priority: 1, subject, egress: [{ action: "Deny", to: [{ networks: Array.from({ length: 26 }, (_, i) => `10.0.${i}.0/24`) }] }] }, "spec.egress[0].to[0].networks", /at most 25/],
    ["networks is a set", { priority: 1, subject, egress: [{ action: "Deny", to: [{ networks: ["10.0.0.0/8", "10.0.0.0/8"] }] }] }, "spec.egress[0].to[0].networks[1]", /twice/],
    ["domainNames only in Allow rules", { priority: 1, subject, egress: [{ action: "Deny", to: [{ domainNames: ["example.com"] }] }] }, "spec.egress[0].to[0].domainNames", /only be used in Allow rules/],
    ["domainNames are domain names", { priority: 1, subject, egress: [{ action: "Allow", to: [{ domainNames: ["exa mple.com"] }] }] }, "spec.egress[0].to[0].domainNames[0]", /domain name/],
    ["ports, when present, list at least one port", { priority: 1, subject, ingress: [{ action: "Deny", from: [everyone], ports: [] }] }, "spec.ingress[0].ports", /at least one port/],
    ["a port sets exactly one field", { priority: 1, subject, ingress: [{ action: "Deny", from: [everyone], ports: [{ portNumber: { port: 80 }, namedPort: "http" }] }] }, "spec.ingress[0].ports[0]", /exactly one of portNumber, namedPort, portRange/],
    ["portNumber.port is required", { priority: 1, subject, ingress: [{ action: "Deny", from: [everyone], ports: [{ portNumber: { protocol: "TCP" } }] }] }, "spec.ingress[0].ports[0].portNumber.port", /is required/],
    ["portNumber.port is 1-65535", { priority: 1, subject, ingress: [{ action: "Deny", from: [everyone], ports: [{ portNumber: { port: 0 } }] }] }, "spec.ingress[0].ports[0].portNumber.port", /1-65535/],
    ["protocol is TCP, UDP or SCTP", { priority: 1, subject, ingress: [{ action: "Deny", from: [everyone], ports: [{ portNumber: { protocol: "ICMP", port: 1 } }] }] }, "spec.ingress[0].ports[0].portNumber.protocol", /not supported/],
    ["portRange start must be less than end", { priority: 1, subject, ingress: [{ action: "Deny", from: [everyone], ports: [{ portRange: { start: 80, end: 80 } }] }] }, "spec.ingress[0].ports[0].portRange.end", /greater than start/],
    ["portRange end is 1-65535", { priority: 1, subject, ingress: [{ action: "Deny", from: [everyone], ports: [{ portRange: { start: 80, end: 70000 } }] }] }, "spec.ingress[0].ports[0].portRange.end", /1-65535/],
    ["namedPort is a port name", { priority: 1, subject, ingress: [{ action: "Deny", from: [everyone], ports: [{ namedPort: "HTTP_1" }] }] }, "spec.ingress[0].ports[0].namedPort", /not a valid port name/],
    ["no namedPort with a networks peer (CEL)", { priority: 1, subject, egress: [{ action: "Deny", to: [{ networks: ["10.0.0.0/8"] }], ports: [tcpPort(80), { namedPort: "http" }] }] }, "spec.egress[0].ports[1]", /namedPort cannot be used with a networks peer/],
    ["no namedPort with a nodes peer (CEL)", { priority: 1, subject, egress: [{ action: "Deny", to: [everyone, { nodes: {} }], ports: [{ namedPort: "http" }] }] }, "spec.egress[0].ports[0]", /nodes peer/],
  ];
  it.each(cases)("%s", (_, spec, field, message) => {
    const result = normalizeAnp(anp("p", spec));
    expect(result.policy).toBeUndefined();
    expect(result.paths).toContain(field);
    expect(result.issues.find((i) => result.paths[result.issues.indexOf(i)] === field)?.message).toMatch(message);
  });

  it("allows at most 100 rules per direction and 100 peers per rule (MaxItems=100)", () => {
    const rule = { action: "Deny", from: [everyone] };
    expect(normalizeAnp(anp("p", { priority: 1, subject, ingress: Array(100).fill(rule) })).issues).toEqual([]);
    expect(normalizeAnp(anp("p", { priority: 1, subject, ingress: Array(101).fill(rule) })).paths).toEqual(["spec.ingress"]);
    expect(normalizeAnp(anp("p", { priority: 1, subject, egress: [{ action: "Deny", to: Array(101).fill(everyone) }] })).paths).toEqual(["spec.egress[0].to"]);
    expect(normalizeAnp(anp("p", { priority: 1, subject, egress: [{ action: "Deny", to: [everyone], ports: Array(101).fill(tcpPort(1)) }] })).paths).toEqual(["spec.egress[0].ports"]);
  });

  it("needs a name and a spec, and reads only policy.networking.k8s.io/v1alpha1", () => {
    expect(normalizeAnp({ apiVersion: API_VERSION, kind: "AdminNetworkPolicy", metadata: {}, spec: { priority: 1, subject } }).paths).toEqual(["metadata.name"]);
    expect(normalizeAnp({ apiVersion: API_VERSION, kind: "AdminNetworkPolicy", metadata: { name: "x" } }).paths).toEqual(["spec"]);
    expect(normalizeAnp({ ...anp("x", { priority: 1, subject }), apiVersion: "policy.networking.k8s.io/v1alpha2" }).paths).toEqual(["apiVersion"]);
  });

  it("reports every problem at once", () => {
    const result = normalizeAnp(anp("p", { priority: 2000, subject: {}, ingress: [{ action: "Drop", from: [] }] }));
    expect(result.paths).toEqual(["spec.subject", "spec.ingress[0].action", "spec.ingress[0].from", "spec.priority"]);
  });
});

function tcpPort(port: number) {
  return { portNumber: { protocol: "TCP", port } };
}

describe("BaselineAdminNetworkPolicy", () => {
  it("is valid with Allow and Deny rules and without a priority", () => {
    const result = normalizeBanp(banp({ subject, ingress: [{ action: "Deny", from: [everyone] }], egress: [{ action: "Allow", to: [{ networks: ["0.0.0.0/0"] }] }] }));
    expect(result.issues).toEqual([]);
    expect(result.policy?.name).toBe("default");
  });

  it("must be named default (CEL: only one baseline admin network policy with metadata.name=\"default\")", () => {
    const result = normalizeBanp(banp({ subject }, "baseline"));
    expect(result.policy).toBeUndefined();
    expect(result.paths).toEqual(["metadata.name"]);
    expect(result.issues[0]?.message).toMatch(/must be "default"/);
  });

  it("has no Pass action (BaselineAdminNetworkPolicyRuleAction: Allow, Deny)", () => {
    const result = normalizeBanp(banp({ subject, ingress: [{ action: "Pass", from: [everyone] }] }));
    expect(result.paths).toEqual(["spec.ingress[0].action"]);
    expect(result.issues[0]?.message).toMatch(/Pass exists only in an AdminNetworkPolicy/);
  });

  it("has no priority and no domainNames peer", () => {
    expect(normalizeBanp(banp({ priority: 1, subject })).paths).toEqual(["spec.priority"]);
    expect(normalizeBanp(banp({ subject, egress: [{ action: "Allow", to: [{ domainNames: ["example.com"] }] }] })).paths).toEqual([
      "spec.egress[0].to[0].domainNames",
      "spec.egress[0].to[0]",
    ]);
  });
});

describe("the manifest loader", () => {
  it("reads both kinds into the snapshot, and locates errors by file, line and field", () => {
    const errors = loadErrors(
      namespace("alpha"),
      anp("bad", { priority: 1, subject, egress: [{ action: "Deny", to: [{ networks: ["10.0.0.0/99"] }] }] }),
      banp({ subject, ingress: [{ action: "Pass", from: [everyone] }] }),
    );
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^\d+ spec\.egress\[0\]\.to\[0\]\.networks\[0\]: .*prefix/);
    expect(errors[1]).toMatch(/^\d+ spec\.ingress\[0\]\.action: /);
    // Lines point into the document, not at its start.
    expect(Number(errors[0]?.split(" ")[0])).toBeGreaterThan(10);
  });

  it("rejects a second AdminNetworkPolicy of the same name and a second BaselineAdminNetworkPolicy (cluster-scoped)", () => {
    const errors = loadErrors(
      anp("same", { priority: 1, subject }),
      { ...anp("same", { priority: 2, subject }), metadata: { name: "same", namespace: "elsewhere" } },
      banp({ subject }),
      banp({ subject }),
    );
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/metadata\.name: AdminNetworkPolicy same is defined twice/);
    expect(errors[1]).toMatch(/metadata\.name: BaselineAdminNetworkPolicy (default\/)?default is defined twice/);
  });
});
