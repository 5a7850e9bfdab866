// A connection needs the source's egress AND the destination's ingress; policies are
// unions; endpoints outside the cluster contribute no policy; policyTypes decide isolation.
import { describe, expect, it } from "vitest";
import { cluster, namespace, netpol, pod, refs } from "./helpers.js";


const base = [
  namespace("prod"),
  namespace("dev"),
  pod("prod/client", { labels: { app: "client" }, ips: ["10.0.0.1"] }),
  pod("prod/server", { labels: { app: "server" }, ips: ["10.0.0.2"] }),
  pod("dev/client", { labels: { app: "client" }, ips: ["10.0.1.1"] }),
  pod("dev/server", { labels: { app: "server" }, ips: ["10.0.1.2"] }),
];

const denyAllEgressOfClient = netpol(
  "prod/client-deny-egress",
  `
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
`,
);
const allowServerIngressFromClient = netpol(
  "prod/server-in",
  `
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
`,
);

describe("both sides are needed (egress of the source AND ingress of the destination)", () => {
  it("source egress denies although destination ingress allows: deny, and the egress side is named", () => {
    const c = cluster(...base, denyAllEgressOfClient, allowServerIngressFromClient);
    const v = c.check("prod/client", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.egress).toMatchObject({ direction: "egress", subject: "prod/client", isolated: true, allowed: false, allowedBy: [] });
    expect(v.egress.policies).toEqual(["prod/client-deny-egress"]);
    expect(v.ingress.allowed).toBe(true);
    expect(refs(v.ingress.allowedBy)).toEqual(["prod/server-in:ingress[0]"]);
  });

  it("source egress allows but destination ingress denies: deny, and the ingress side is named", () => {
    const c = cluster(
      ...base,
      netpol(
        "prod/client-out",
        `
        podSelector: {matchLabels: {app: client}}
        policyTypes: [Egress]
        egress:
        - to: [{podSelector: {matchLabels: {app: server}}}]
      `,
      ),
      netpol(
        "prod/server-deny",
        `
        podSelector: {matchLabels: {app: server}}
        policyTypes: [Ingress]
      `,
      ),
    );
    const v = c.check("prod/client", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.egress.allowed).toBe(true);
    expect(refs(v.egress.allowedBy)).toEqual(["prod/client-out:egress[0]"]);
    expect(v.ingress).toMatchObject({ direction: "ingress", subject: "prod/server", isolated: true, allowed: false });
    expect(v.ingress.policies).toEqual(["prod/server-deny"]);
  });

  it("both sides allow: allow", () => {
    const c = cluster(
      ...base,
      allowServerIngressFromClient,
      netpol(
        "prod/client-out",
        `
        podSelector: {matchLabels: {app: client}}
        egress:
        - to: [{podSelector: {matchLabels: {app: server}}}]
      `,
      ),
    );
    const v = c.check("prod/client", "prod/server", 80);
    expect(v.verdict).toBe("allow");
    expect(v.egress.isolated && v.ingress.isolated).toBe(true);
  });

  it("an ingress rule on the destination does not grant the reverse direction", () => {
    const c = cluster(...base, allowServerIngressFromClient);
    // client is not isolated at all; server -> client is open, server's ingress does not apply
    expect(c.verdict("prod/server", "prod/client", 80)).toBe("allow");
    expect(c.check("prod/server", "prod/client", 80).ingress.isolated).toBe(false);
    // and the policy's pods are isolated only for ingress (no egress rules, no policyTypes)
    expect(c.check("prod/server", "prod/client", 80).egress.isolated).toBe(false);
  });
});

describe("policyTypes decide isolation (engine level)", () => {
  it("missing policyTypes with only egress rules also isolates ingress (Ingress is always defaulted)", () => {
    const c = cluster(
      ...base,
      netpol(
        "prod/server-out",
        `
        podSelector: {matchLabels: {app: server}}
        egress:
        - {}
      `,
      ),
    );
    const v = c.check("prod/client", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.ingress.isolated).toBe(true);
    expect(c.verdict("prod/server", "dev/server", 80)).toBe("allow");
  });

  it("policyTypes [Egress] with no egress rules denies all egress but leaves ingress open", () => {
    const c = cluster(...base, denyAllEgressOfClient);
    expect(c.verdict("prod/client", "dev/server", 80)).toBe("deny");
    expect(c.verdict("prod/client", "8.8.8.8", 53, "UDP")).toBe("deny");
    expect(c.verdict("prod/server", "prod/client", 80)).toBe("allow");
  });

  it("an ingress section on a policyTypes [Egress] policy is ignored: it neither isolates nor admits", () => {
    const c = cluster(
      ...base,
      netpol(
        "prod/egress-only",
        `
        podSelector: {matchLabels: {app: server}}
        policyTypes: [Egress]
        ingress:
        - from: [{podSelector: {matchLabels: {app: nobody}}}]
        egress:
        - {}
      `,
      ),
      netpol(
        "prod/server-deny-in",
        `
        podSelector: {matchLabels: {app: server}}
        policyTypes: [Ingress]
        ingress: []
      `,
      ),
    );
    // The ignored ingress rule does not isolate...
    expect(c.check("dev/client", "prod/server", 80).ingress.policies).toEqual(["prod/server-deny-in"]);
    // ...and an ignored allow-all ingress rule would not admit either:
    const c2 = cluster(
      ...base,
      netpol(
        "prod/egress-only",
        `
        podSelector: {matchLabels: {app: server}}
        policyTypes: [Egress]
        ingress:
        - {}
        egress:
        - {}
      `,
      ),
      netpol(
        "prod/server-deny-in",
        `
        podSelector: {matchLabels: {app: server}}
        policyTypes: [Ingress]
      `,
      ),
    );
    expect(c2.verdict("prod/client", "prod/server", 80)).toBe("deny");
  });

  it("missing policyTypes with egress: [] does not isolate egress", () => {
    const c = cluster(
      ...base,
      netpol(
        "prod/client-pol",
        `
        podSelector: {matchLabels: {app: client}}
        ingress: [{}]
        egress: []
      `,
      ),
    );
    expect(c.check("prod/client", "dev/server", 80).egress.isolated).toBe(false);
    expect(c.verdict("prod/client", "dev/server", 80)).toBe("allow");
  });
});

describe("unions of policies", () => {
  it("two policies select the same pod: a connection either one allows is allowed", () => {
    const c = cluster(
      ...base,
      netpol(
        "prod/a",
        `
        podSelector: {matchLabels: {app: server}}
        ingress:
        - from: [{podSelector: {matchLabels: {app: client}}}]
          ports: [{port: 80}]
      `,
      ),
      netpol(
        "prod/b",
        `
        podSelector: {}
        ingress:
        - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dev}}}]
          ports: [{port: 443}]
      `,
      ),
    );
    expect(c.verdict("prod/client", "prod/server", 80)).toBe("allow");
    expect(c.verdict("dev/client", "prod/server", 443)).toBe("allow");
    expect(c.verdict("prod/client", "prod/server", 443)).toBe("deny");
    expect(c.verdict("dev/client", "prod/server", 80)).toBe("deny");
    expect([...c.check("dev/client", "prod/server", 443).ingress.policies].sort()).toEqual(["prod/a", "prod/b"]);
    expect(refs(c.check("dev/client", "prod/server", 443).ingress.allowedBy)).toEqual(["prod/b:ingress[0]"]);
  });

  it("a default-deny plus an allow policy: the allow wins for what it names, the rest stays denied", () => {
    const c = cluster(
      ...base,
      netpol(
        "prod/default-deny",
        `
        podSelector: {}
        policyTypes: [Ingress, Egress]
      `,
      ),
      netpol(
        "prod/allow-web",
        `
        podSelector: {matchLabels: {app: server}}
        ingress:
        - ports: [{port: 80}]
      `,
      ),
    );
    expect(c.verdict("dev/client", "prod/server", 80)).toBe("allow");
    expect(c.verdict("dev/client", "prod/server", 81)).toBe("deny");
    // default-deny egress still holds for prod pods
    expect(c.verdict("prod/client", "prod/server", 80)).toBe("deny");
    expect(c.check("prod/client", "prod/server", 80).egress.allowed).toBe(false);
  });

  it("a policy never selects pods in another namespace, even with podSelector: {}", () => {
    const c = cluster(
      ...base,
      netpol(
        "dev/deny-all",
        `
        podSelector: {}
        policyTypes: [Ingress, Egress]
      `,
      ),
    );
    const v = c.check("prod/client", "prod/server", 80);
    expect(v.verdict).toBe("allow");
    expect(v.egress.isolated || v.ingress.isolated).toBe(false);
    expect(c.verdict("prod/client", "dev/server", 80)).toBe("deny");
    expect(c.verdict("dev/client", "prod/server", 80)).toBe("deny");
  });

  it("policies in other namespaces do not add allows either (union is over the pod's own namespace)", () => {
    const c = cluster(
      ...base,
      netpol(
        "prod/deny",
        `
        podSelector: {matchLabels: {app: server}}
        policyTypes: [Ingress]
      `,
      ),
      netpol(
        "dev/allow-everything",
        `
        podSelector: {}
        ingress: [{}]
      `,
      ),
    );
    expect(c.verdict("dev/client", "prod/server", 80)).toBe("deny");
    expect(c.check("dev/client", "prod/server", 80).ingress.policies).toEqual(["prod/deny"]);
  });
});

describe("endpoints outside the cluster contribute no policy", () => {
  const c = cluster(
    ...base,
    netpol(
      "prod/deny-all",
      `
      podSelector: {}
      policyTypes: [Ingress, Egress]
    `,
    ),
  );

  it("IP to IP is allowed: neither side is a pod", () => {
    const v = c.check("192.0.2.1", "198.51.100.1", 80);
    expect(v.verdict).toBe("allow");
    expect(v.egress.applies).toBe(false);
    expect(v.ingress.applies).toBe(false);
  });

  it("pod to external IP: only the pod's egress matters", () => {
    const v = c.check("prod/client", "192.0.2.1", 80);
    expect(v.verdict).toBe("deny");
    expect(v.egress.allowed).toBe(false);
    expect(v.ingress).toMatchObject({ applies: false, allowed: true });
    expect(c.verdict("dev/client", "192.0.2.1", 80)).toBe("allow");
  });

  it("external IP to pod: only the pod's ingress matters", () => {
    const v = c.check("192.0.2.1", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.egress).toMatchObject({ applies: false, allowed: true });
    expect(v.ingress.allowed).toBe(false);
    expect(c.verdict("192.0.2.1", "dev/server", 80)).toBe("allow");
  });
});
