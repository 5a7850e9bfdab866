// normalizeNetworkPolicy: the API server's defaults and validation (networking.k8s.io/v1).
import { describe, expect, it } from "vitest";
import { netpol, normalize, normalizeYaml } from "./helpers.js";

/** A policy "prod/p" with this spec (YAML, nested under spec:). */
const specOf = (spec: string): string => netpol("prod/p", spec);

describe("policyTypes defaulting (NetworkPolicySpec.policyTypes)", () => {
  it("missing policyTypes: Ingress is always set, even with only egress rules", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      egress: [{}]
    `));
    expect(p.ingressIsolation).toBe(true);
    expect(p.egressIsolation).toBe(true);
  });

  it("missing policyTypes: Egress is set only when there are egress rules (egress: [] does not isolate egress)", () => {
    const withEmpty = normalizeYaml(specOf(`
      podSelector: {}
      egress: []
    `));
    expect(withEmpty.ingressIsolation).toBe(true);
    expect(withEmpty.egressIsolation).toBe(false);
    const absent = normalizeYaml(specOf(`
      podSelector: {}
      ingress: [{}]
    `));
    expect(absent.egressIsolation).toBe(false);
  });

  it("an empty policyTypes list is defaulted like a missing one", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      policyTypes: []
      egress: [{}]
    `));
    expect([p.ingressIsolation, p.egressIsolation]).toEqual([true, true]);
  });

  it("an explicit list is complete: policyTypes [Egress] does not isolate ingress although ingress rules are written", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      policyTypes: [Egress]
      ingress: [{}]
    `));
    expect(p.ingressIsolation).toBe(false);
    expect(p.egressIsolation).toBe(true);
    expect(p.egress).toEqual([]);
  });

  it("policyTypes [Ingress] with egress rules does not isolate egress", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      policyTypes: [Ingress]
      egress: [{}]
    `));
    expect([p.ingressIsolation, p.egressIsolation]).toEqual([true, false]);
  });

  it("policyTypes [Ingress, Egress] isolates both directions", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      policyTypes: [Ingress, Egress]
    `));
    expect([p.ingressIsolation, p.egressIsolation]).toEqual([true, true]);
  });

  it("an unknown policy type is rejected, at its index (validation: Ingress or Egress only)", () => {
    const r = normalize(specOf(`
      podSelector: {}
      policyTypes: [Ingress, egress]
    `));
    expect(r.policy).toBeUndefined();
    expect(r.paths).toContain("spec.policyTypes.1");
  });

  it("more than two policy types are rejected", () => {
    const r = normalize(specOf(`
      podSelector: {}
      policyTypes: [Ingress, Egress, Ingress]
    `));
    expect(r.policy).toBeUndefined();
    expect(r.paths).toContain("spec.policyTypes");
  });
});

describe("rules: empty lists and empty rules", () => {
  it("ingress: [] keeps an empty rule list (isolates, admits nothing)", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      policyTypes: [Ingress]
      ingress: []
    `));
    expect(p.ingressIsolation).toBe(true);
    expect(p.ingress).toEqual([]);
  });

  it("a rule {} and a bare '-' rule admit every peer and port", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      ingress:
      - {}
      -
    `));
    expect(p.ingress).toEqual([
      { peers: null, ports: null },
      { peers: null, ports: null },
    ]);
  });

  it("from: [] and ports: [] inside a rule mean all (same as absent)", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      ingress:
      - from: []
        ports: []
    `));
    expect(p.ingress).toEqual([{ peers: null, ports: null }]);
  });

  it("'to' in an ingress rule is an unknown field and is rejected (ingress rules use 'from')", () => {
    const r = normalize(specOf(`
      podSelector: {}
      ingress:
      - to: [{podSelector: {}}]
    `));
    expect(r.policy).toBeUndefined();
    expect(r.paths).toContain("spec.ingress.0.to");
  });
});

describe("peers (NetworkPolicyPeer validation)", () => {
  it("a peer with no podSelector, namespaceSelector or ipBlock is rejected", () => {
    const r = normalize(specOf(`
      podSelector: {}
      ingress:
      - from:
        - {}
    `));
    expect(r.policy).toBeUndefined();
    expect(r.paths).toContain("spec.ingress.0.from.0");
  });

  it("ipBlock together with a podSelector or namespaceSelector in one peer is rejected", () => {
    for (const other of ["podSelector: {}", "namespaceSelector: {}"]) {
      const r = normalize(specOf(`
        podSelector: {}
        egress:
        - to:
          - ipBlock: {cidr: 10.0.0.0/8}
            ${other}
      `));
      expect(r.policy, other).toBeUndefined();
      expect(r.paths, other).toContain("spec.egress.0.to.0");
    }
  });

  it("a podSelector-only peer keeps namespaceSelector null (the policy's namespace); a namespaceSelector-only peer keeps podSelector null", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      ingress:
      - from:
        - podSelector: {matchLabels: {app: a}}
        - namespaceSelector: {}
    `));
    expect(p.ingress[0]?.peers).toEqual([
      { kind: "pods", namespaceSelector: null, podSelector: { matchLabels: { app: "a" }, matchExpressions: [] } },
      { kind: "pods", namespaceSelector: { matchLabels: {}, matchExpressions: [] }, podSelector: null },
    ]);
  });
});

describe("ipBlock validation", () => {
  it("cidr is masked: 10.1.2.3/8 is 10.0.0.0/8", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      egress:
      - to:
        - ipBlock: {cidr: 10.1.2.3/8}
    `));
    const peer = p.egress[0]?.peers?.[0];
    expect(peer?.kind === "ipBlock" ? peer.cidr.text : undefined).toBe("10.0.0.0/8");
  });

  it("except must be a strict subset of cidr: equal, outside, wider and other-family blocks are rejected", () => {
    for (const except of ["10.0.0.0/8", "11.0.0.0/16", "0.0.0.0/0", "fd00::/16"]) {
      const r = normalize(specOf(`
        podSelector: {}
        egress:
        - to:
          - ipBlock: {cidr: 10.0.0.0/8, except: ["${except}"]}
      `));
      expect(r.policy, except).toBeUndefined();
      expect(r.paths, except).toContain("spec.egress.0.to.0.ipBlock.except.0");
    }
  });

  it("except strictly inside cidr is accepted", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      egress:
      - to:
        - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.255.255.255/32]}
    `));
    const peer = p.egress[0]?.peers?.[0];
    expect(peer?.kind === "ipBlock" ? peer.except.map((c) => c.text) : []).toEqual(["10.1.0.0/16", "10.255.255.255/32"]);
  });

  it("cidr is required and must be a CIDR (a bare address or a bad prefix is rejected)", () => {
    for (const block of ["{}", "{cidr: 10.0.0.1}", "{cidr: 10.0.0.0/33}", "{cidr: 'fd00::/129'}", "{cidr: not-an-ip/8}"]) {
      const r = normalize(specOf(`
        podSelector: {}
        egress:
        - to:
          - ipBlock: ${block}
      `));
      expect(r.policy, block).toBeUndefined();
      expect(r.paths, block).toContain("spec.egress.0.to.0.ipBlock.cidr");
    }
  });
});

describe("ports validation (NetworkPolicyPort)", () => {
  it("protocol defaults to TCP", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      ingress:
      - ports: [{port: 80}]
    `));
    expect(p.ingress[0]?.ports).toEqual([{ protocol: "TCP", port: 80, endPort: null }]);
  });

  it("protocol must be TCP, UDP or SCTP, case-sensitively", () => {
    for (const protocol of ["tcp", "ICMP", "HTTP"]) {
      const r = normalize(specOf(`
        podSelector: {}
        ingress:
        - ports: [{protocol: ${protocol}, port: 80}]
      `));
      expect(r.policy, protocol).toBeUndefined();
      expect(r.paths, protocol).toContain("spec.ingress.0.ports.0.protocol");
    }
  });

  it("endPort below port is rejected; endPort equal to port is accepted", () => {
    const bad = normalize(specOf(`
      podSelector: {}
      ingress:
      - ports: [{port: 8080, endPort: 8079}]
    `));
    expect(bad.policy).toBeUndefined();
    expect(bad.paths).toContain("spec.ingress.0.ports.0.endPort");
    const same = normalizeYaml(specOf(`
      podSelector: {}
      ingress:
      - ports: [{port: 8080, endPort: 8080}]
    `));
    expect(same.ingress[0]?.ports).toEqual([{ protocol: "TCP", port: 8080, endPort: 8080 }]);
  });

  it("endPort with a named port, or without a port, is rejected", () => {
    for (const entry of ["{port: http, endPort: 9000}", "{endPort: 9000}"]) {
      const r = normalize(specOf(`
        podSelector: {}
        ingress:
        - ports: [${entry}]
      `));
      expect(r.policy, entry).toBeUndefined();
      expect(r.paths, entry).toContain("spec.ingress.0.ports.0.endPort");
    }
  });

  it("port numbers must be 1-65535 and port names IANA service names", () => {
    for (const port of ["0", "65536", "'80'", "HTTP", "a--b", "this-name-is-too-long"]) {
      const r = normalize(specOf(`
        podSelector: {}
        ingress:
        - ports: [{port: ${port}}]
      `));
      expect(r.policy, port).toBeUndefined();
      expect(r.paths, port).toContain("spec.ingress.0.ports.0.port");
    }
  });

  it("a port entry with protocol and no port keeps port null (every port of that protocol)", () => {
    const p = normalizeYaml(specOf(`
      podSelector: {}
      ingress:
      - ports: [{protocol: UDP}]
    `));
    expect(p.ingress[0]?.ports).toEqual([{ protocol: "UDP", port: null, endPort: null }]);
  });
});

describe("label selector validation (metav1.LabelSelector)", () => {
  it("In and NotIn with no values are rejected", () => {
    for (const op of ["In", "NotIn"]) {
      const r = normalize(specOf(`
        podSelector:
          matchExpressions:
          - {key: app, operator: ${op}, values: []}
      `));
      expect(r.policy, op).toBeUndefined();
      expect(r.paths, op).toContain("spec.podSelector.matchExpressions.0.values");
    }
  });

  it("Exists and DoesNotExist with values are rejected", () => {
    for (const op of ["Exists", "DoesNotExist"]) {
      const r = normalize(specOf(`
        podSelector:
          matchExpressions:
          - {key: app, operator: ${op}, values: [web]}
      `));
      expect(r.policy, op).toBeUndefined();
      expect(r.paths, op).toContain("spec.podSelector.matchExpressions.0.values");
    }
  });

  it("an unknown operator (operators are case-sensitive) is rejected", () => {
    const r = normalize(specOf(`
      podSelector:
        matchExpressions:
        - {key: app, operator: in, values: [web]}
    `));
    expect(r.policy).toBeUndefined();
    expect(r.paths).toContain("spec.podSelector.matchExpressions.0.operator");
  });

  it("label values must be strings: unquoted true or 1 in matchLabels or values is rejected", () => {
    const labels = normalize(specOf(`
      podSelector:
        matchLabels: {canary: true}
    `));
    expect(labels.policy).toBeUndefined();
    expect(labels.paths).toContain("spec.podSelector.matchLabels.canary");
    const values = normalize(specOf(`
      podSelector: {}
      ingress:
      - from:
        - namespaceSelector:
            matchExpressions:
            - {key: tier, operator: In, values: [1]}
    `));
    expect(values.policy).toBeUndefined();
    expect(values.paths).toContain("spec.ingress.0.from.0.namespaceSelector.matchExpressions.0.values.0");
    // Quoted, the same values are fine.
    expect(
      normalize(specOf(`
        podSelector:
          matchLabels: {canary: "true"}
      `)).policy,
    ).toBeDefined();
  });

  it("invalid label keys are rejected", () => {
    const r = normalize(specOf(`
      podSelector:
        matchLabels: {"-bad": x}
    `));
    expect(r.policy).toBeUndefined();
  });

  it("metadata.namespace defaults to 'default'", () => {
    const p = normalizeYaml(`
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: p}
      spec: {podSelector: {}}
    `);
    expect(p.namespace).toBe("default");
  });
});
