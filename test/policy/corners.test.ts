// Corners Kubernetes leaves undefined or the input cannot decide: the verdict says so.
import { describe, expect, it } from "vitest";
import { cluster, deployment, namespace, netpol, noteCodes, pod, service } from "./helpers.js";


const base = [
  namespace("prod"),
  pod("prod/client", { labels: { app: "client" }, ips: ["10.0.0.1"] }),
  pod("prod/server", { labels: { app: "server" }, ips: ["10.0.0.2"] }),
  pod("prod/node-agent", { labels: { app: "agent" }, ips: ["192.168.10.5"], hostNetwork: true }),
  service("prod/server", "10.96.0.10", { app: "server" }, 80),
];

describe("undefined corners are flagged (determinate = false)", () => {
  it("traffic from a pod to itself is undefined", () => {
    const c = cluster(...base);
    const v = c.check("prod/server", "prod/server", 80);
    expect(v.determinate).toBe(false);
    expect(noteCodes(v)).toContain("self_traffic");
    expect(c.check("prod/client", "prod/server", 80).determinate).toBe(true);
  });

  it("a host-network pod as destination is undefined, whatever the policies say", () => {
    const c = cluster(
      ...base,
      netpol(
        "prod/deny",
        `
        podSelector: {}
        policyTypes: [Ingress]
      `,
      ),
    );
    const v = c.check("prod/client", "prod/node-agent", 80);
    expect(v.determinate).toBe(false);
    expect(noteCodes(v)).toContain("host_network");
    expect(v.ingress.applies).toBe(false);
  });

  it("a host-network pod as source is undefined", () => {
    const c = cluster(...base);
    const v = c.check("prod/node-agent", "prod/server", 80);
    expect(v.determinate).toBe(false);
    expect(noteCodes(v)).toContain("host_network");
    expect(v.egress.applies).toBe(false);
  });

  it("a destination that is a Service ClusterIP is undefined (policies apply to the backends)", () => {
    const c = cluster(...base);
    const v = c.check("prod/client", "10.96.0.10", 80);
    expect(v.determinate).toBe(false);
    expect(noteCodes(v)).toContain("service_ip");
    expect(c.check("prod/client", "10.96.0.11", 80).determinate).toBe(true);
  });

  it("a plain pod-to-pod and pod-to-external connection carries no notes", () => {
    const c = cluster(...base);
    expect(c.check("prod/client", "prod/server", 80).notes).toEqual([]);
    expect(c.check("prod/client", "203.0.113.1", 80).notes).toEqual([]);
  });
});

describe("workload templates (pods not created yet: no IP)", () => {
  const workloads = [
    ...base,
    deployment("prod/web", { labels: { app: "web" }, ports: [{ name: "http", port: 8080 }] }),
  ];

  it("an ipBlock rule that could admit the workload leaves the verdict indeterminate", () => {
    const c = cluster(
      ...workloads,
      netpol(
        "prod/server-in",
        `
        podSelector: {matchLabels: {app: server}}
        ingress:
        - from: [{ipBlock: {cidr: 10.0.0.0/8}}]
      `,
      ),
    );
    const v = c.check("deployment/prod/web", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.determinate).toBe(false);
    expect(noteCodes(v)).toContain("ipblock_unknown_ip");
  });

  it("egress of a pod to a workload via ipBlock is indeterminate too", () => {
    const c = cluster(
      ...workloads,
      netpol(
        "prod/client-out",
        `
        podSelector: {matchLabels: {app: client}}
        policyTypes: [Egress]
        egress:
        - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
      `,
      ),
    );
    const v = c.check("prod/client", "deployment/prod/web", 8080);
    expect(v.determinate).toBe(false);
    expect(v.egress.allowed).toBe(false);
  });

  it("when a selector rule admits the workload, the ipBlock does not matter: determinate allow", () => {
    const c = cluster(
      ...workloads,
      netpol(
        "prod/server-in",
        `
        podSelector: {matchLabels: {app: server}}
        ingress:
        - from: [{ipBlock: {cidr: 10.0.0.0/8}}]
        - from: [{podSelector: {matchLabels: {app: web}}}]
      `,
      ),
    );
    const v = c.check("deployment/prod/web", "prod/server", 80);
    expect(v.verdict).toBe("allow");
    expect(v.determinate).toBe(true);
  });

  it("without ipBlock rules the workload's labels decide: determinate", () => {
    const c = cluster(
      ...workloads,
      netpol(
        "prod/server-in",
        `
        podSelector: {matchLabels: {app: server}}
        ingress:
        - from: [{podSelector: {matchLabels: {app: client}}}]
      `,
      ),
    );
    const v = c.check("deployment/prod/web", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.determinate).toBe(true);
  });

  it("a workload template is selected by policies through its template labels, and named ports resolve on it", () => {
    const c = cluster(
      ...workloads,
      netpol(
        "prod/web-in",
        `
        podSelector: {matchLabels: {app: web}}
        ingress:
        - ports: [{port: http}]
      `,
      ),
    );
    expect(c.verdict("prod/client", "deployment/prod/web", 8080)).toBe("allow");
    expect(c.verdict("prod/client", "deployment/prod/web", 80)).toBe("deny");
  });
});

describe("a note matters only when it could change the verdict", () => {
  const webEgressDenied = netpol(
    "prod/web-out",
    `
    podSelector: {matchLabels: {app: web}}
    policyTypes: [Egress]
  `,
  );
  const serverInByBlock = netpol(
    "prod/server-in",
    `
    podSelector: {matchLabels: {app: server}}
    ingress:
    - from: [{ipBlock: {cidr: 10.0.0.0/8}}]
  `,
  );

  it("an ipBlock that could admit a workload on one side cannot decide when the other side denies for certain: determinate deny", () => {
    const c = cluster(...base, deployment("prod/web", { labels: { app: "web" } }), webEgressDenied, serverInByBlock);
    const v = c.check("deployment/prod/web", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.egress.allowed).toBe(false);
    expect(v.determinate).toBe(true);
    expect(noteCodes(v)).not.toContain("ipblock_unknown_ip");
  });

  it("unknown on both sides (each could admit): indeterminate", () => {
    const c = cluster(
      ...base,
      deployment("prod/web", { labels: { app: "web" } }),
      deployment("prod/api", { labels: { app: "server" } }),
      netpol(
        "prod/web-out",
        `
        podSelector: {matchLabels: {app: web}}
        policyTypes: [Egress]
        egress:
        - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
      `,
      ),
      serverInByBlock,
    );
    const v = c.check("deployment/prod/web", "deployment/prod/api", 80);
    expect(v.verdict).toBe("deny");
    expect(v.determinate).toBe(false);
  });

  it("an ipBlock admitting a pod IP makes the verdict cni_dependent only when the other side allows", () => {
    const c = cluster(
      ...base,
      pod("prod/web", { labels: { app: "web" }, ips: ["10.0.0.7"] }),
      serverInByBlock,
    );
    expect(c.check("prod/web", "prod/server", 80)).toMatchObject({ verdict: "allow", cniDependent: true });
    const denied = cluster(...base, pod("prod/web", { labels: { app: "web" }, ips: ["10.0.0.7"] }), serverInByBlock, webEgressDenied);
    const v = denied.check("prod/web", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.ingress.allowed).toBe(true);
    expect(v.cniDependent).toBe(false);
    expect(v.determinate).toBe(true);
  });
});

describe("unknown workload IPs and address families", () => {
  it("an IPv6 ipBlock cannot admit a workload over an IPv4 connection: determinate deny", () => {
    const c = cluster(
      ...base,
      deployment("prod/web", { labels: { app: "web" } }),
      netpol(
        "prod/server-in",
        `
        podSelector: {matchLabels: {app: server}}
        ingress:
        - from: [{ipBlock: {cidr: '::/0'}}]
      `,
      ),
    );
    const v = c.check("deployment/prod/web", "prod/server", 80);
    expect(v.verdict).toBe("deny");
    expect(v.determinate).toBe(true);
  });

  it("an IPv4 ipBlock could admit it: indeterminate", () => {
    const c = cluster(
      ...base,
      deployment("prod/web", { labels: { app: "web" } }),
      netpol(
        "prod/server-in",
        `
        podSelector: {matchLabels: {app: server}}
        ingress:
        - from: [{ipBlock: {cidr: 0.0.0.0/0}}]
      `,
      ),
    );
    expect(c.check("deployment/prod/web", "prod/server", 80).determinate).toBe(false);
  });
});
