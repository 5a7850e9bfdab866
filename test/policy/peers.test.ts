// Who a rule admits: empty rules, peers (podSelector / namespaceSelector, AND within one
// peer, OR across peers) and label selector matching.
import { describe, expect, it } from "vitest";
import { cluster, dedent, namespace, netpol, pod, refs } from "./helpers.js";

/** prod (team=a): web, api, db; dev (team=b): web, tool; ops (no labels): agent. */
const base = [
  namespace("prod", { team: "a", env: "prod" }),
  namespace("dev", { team: "b" }),
  namespace("ops"),
  pod("prod/web", { labels: { app: "web" }, ips: ["10.0.0.1"] }),
  pod("prod/api", { labels: { app: "api", tier: "backend" }, ips: ["10.0.0.2"] }),
  pod("prod/db", { labels: { app: "db", tier: "data" }, ips: ["10.0.0.3"] }),
  pod("dev/web", { labels: { app: "web" }, ips: ["10.0.1.1"] }),
  pod("dev/tool", { labels: { app: "tool", tier: "backend" }, ips: ["10.0.1.2"] }),
  pod("ops/agent", { labels: { app: "agent" }, ips: ["10.0.2.1"] }),
];

/** An ingress policy in prod selecting app=db, with this ingress section. */
function dbIngress(ingress: string): string {
  return netpol("prod/db", `podSelector: {matchLabels: {app: db}}\npolicyTypes: [Ingress]\n${dedent(ingress)}`);
}

const sources = ["prod/web", "prod/api", "dev/web", "dev/tool", "ops/agent", "192.0.2.10"];
function admitted(c: ReturnType<typeof cluster>, to = "prod/db", port = 5432): string[] {
  return sources.filter((from) => c.verdict(from, to, port) === "allow");
}

describe("empty rule lists and empty rules", () => {
  it("ingress: [] with policyTypes [Ingress] isolates the pod and admits nothing", () => {
    const c = cluster(...base, dbIngress(`
      ingress: []
    `));
    expect(admitted(c)).toEqual([]);
    const v = c.check("prod/web", "prod/db", 5432);
    expect(v.ingress.isolated).toBe(true);
    expect(v.ingress.policies).toEqual(["prod/db"]);
    expect(v.ingress.allowedBy).toEqual([]);
  });

  it("no ingress section at all with policyTypes [Ingress] also admits nothing (default deny)", () => {
    const c = cluster(...base, dbIngress(``));
    expect(admitted(c)).toEqual([]);
  });

  it("a rule {} admits every source on every port and protocol, including outside the cluster", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - {}
    `));
    expect(admitted(c)).toEqual(sources);
    expect(c.verdict("ops/agent", "prod/db", 1, "SCTP")).toBe("allow");
    expect(refs(c.check("dev/web", "prod/db", 9).ingress.allowedBy)).toEqual(["prod/db:ingress[0]"]);
  });

  it("from: [] with a port list admits every source on those ports only", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from: []
        ports: [{port: 5432}]
    `));
    expect(admitted(c)).toEqual(sources);
    expect(admitted(c, "prod/db", 5433)).toEqual([]);
  });

  it("a from list with no ports key admits those sources on every port", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from: [{podSelector: {matchLabels: {app: api}}}]
    `));
    expect(admitted(c, "prod/db", 1)).toEqual(["prod/api"]);
    expect(c.verdict("prod/api", "prod/db", 65535, "UDP")).toBe("allow");
  });

  it("a policy does not restrict pods its podSelector does not select", () => {
    const c = cluster(...base, dbIngress(`
      ingress: []
    `));
    expect(c.verdict("dev/web", "prod/api", 80)).toBe("allow");
    expect(c.check("dev/web", "prod/api", 80).ingress.isolated).toBe(false);
  });
});

describe("peers: AND within one peer, OR across peers", () => {
  it("namespaceSelector and podSelector in ONE element: pods matching both (team=b namespaces AND tier=backend)", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from:
        - namespaceSelector: {matchLabels: {team: b}}
          podSelector: {matchLabels: {tier: backend}}
    `));
    expect(admitted(c)).toEqual(["dev/tool"]);
  });

  it("the same selectors as TWO elements (the YAML dash trap): pods matching either", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from:
        - namespaceSelector: {matchLabels: {team: b}}
        - podSelector: {matchLabels: {tier: backend}}
    `));
    // every pod in dev, plus tier=backend pods in the policy's own namespace (prod)
    expect(admitted(c)).toEqual(["prod/api", "dev/web", "dev/tool"]);
  });

  it("several rules are ORed, and allowedBy lists every rule that admits", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from: [{podSelector: {matchLabels: {app: web}}}]
      - from: [{podSelector: {}}]
      - from: [{podSelector: {matchLabels: {app: api}}}]
    `));
    expect(refs(c.check("prod/web", "prod/db", 5432).ingress.allowedBy)).toEqual(["prod/db:ingress[0]", "prod/db:ingress[1]"]);
    expect(refs(c.check("prod/api", "prod/db", 5432).ingress.allowedBy)).toEqual(["prod/db:ingress[1]", "prod/db:ingress[2]"]);
    expect(admitted(c)).toEqual(["prod/web", "prod/api"]);
  });

  it("from and ports in one rule are ANDed; in separate rules they are not", () => {
    const together = cluster(...base, dbIngress(`
      ingress:
      - from: [{podSelector: {matchLabels: {app: api}}}]
        ports: [{port: 5432}]
    `));
    expect(together.verdict("prod/web", "prod/db", 5432)).toBe("deny");
    expect(together.verdict("prod/api", "prod/db", 80)).toBe("deny");
    expect(together.verdict("prod/api", "prod/db", 5432)).toBe("allow");
    const apart = cluster(...base, dbIngress(`
      ingress:
      - from: [{podSelector: {matchLabels: {app: api}}}]
      - ports: [{port: 5432}]
    `));
    expect(apart.verdict("prod/web", "prod/db", 5432)).toBe("allow");
    expect(apart.verdict("prod/api", "prod/db", 80)).toBe("allow");
    expect(apart.verdict("prod/web", "prod/db", 80)).toBe("deny");
  });
});

describe("peer scope: which namespaces a peer reaches", () => {
  it("a podSelector-only peer selects pods in the policy's own namespace only", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from: [{podSelector: {matchLabels: {app: web}}}]
    `));
    expect(admitted(c)).toEqual(["prod/web"]);
  });

  it("podSelector: {} alone means every pod of the policy's namespace, nothing else", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from: [{podSelector: {}}]
    `));
    expect(admitted(c)).toEqual(["prod/web", "prod/api"]);
  });

  it("a namespaceSelector-only peer selects every pod in the selected namespaces", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from: [{namespaceSelector: {matchLabels: {team: b}}}]
    `));
    expect(admitted(c)).toEqual(["dev/web", "dev/tool"]);
  });

  it("namespaceSelector: {} selects pods in every namespace, but never addresses outside the cluster", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from: [{namespaceSelector: {}}]
    `));
    expect(admitted(c)).toEqual(["prod/web", "prod/api", "dev/web", "dev/tool", "ops/agent"]);
  });

  it("namespaceSelector: {} with podSelector selects those pods in every namespace", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from:
        - namespaceSelector: {}
          podSelector: {matchLabels: {app: web}}
    `));
    expect(admitted(c)).toEqual(["prod/web", "dev/web"]);
  });

  it("every namespace carries kubernetes.io/metadata.name, also one with no labels declared", () => {
    const c = cluster(...base, dbIngress(`
      ingress:
      - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ops}}}]
    `));
    expect(admitted(c)).toEqual(["ops/agent"]);
  });

  it("a namespace that is never declared (only referenced by a pod) still carries its name label", () => {
    const c = cluster(
      ...base,
      pod("ghost/thing", { labels: { app: "thing" }, ips: ["10.0.3.1"] }),
      dbIngress(`
      ingress:
      - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ghost}}}]
    `),
    );
    expect(c.verdict("ghost/thing", "prod/db", 5432)).toBe("allow");
    expect(admitted(c)).toEqual([]);
  });

  it("the name label cannot be spoofed: the API server sets kubernetes.io/metadata.name to the real name", () => {
    const c = cluster(
      namespace("prod", { team: "a", env: "prod" }),
      namespace("dev", { team: "b", "kubernetes.io/metadata.name": "ops" }),
      pod("prod/db", { labels: { app: "db" }, ips: ["10.0.0.3"] }),
      pod("dev/web", { labels: { app: "web" }, ips: ["10.0.1.1"] }),
      dbIngress(`
      ingress:
      - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ops}}}]
    `),
    );
    expect(c.verdict("dev/web", "prod/db", 5432)).toBe("deny");
  });

  it("namespace labels are matched, not pod labels, by namespaceSelector (a pod label team=b does not count)", () => {
    const c = cluster(
      namespace("prod", { team: "a" }),
      pod("prod/db", { labels: { app: "db" }, ips: ["10.0.0.3"] }),
      pod("prod/liar", { labels: { team: "b" }, ips: ["10.0.0.9"] }),
      dbIngress(`
      ingress:
      - from: [{namespaceSelector: {matchLabels: {team: b}}}]
    `),
    );
    expect(c.verdict("prod/liar", "prod/db", 5432)).toBe("deny");
  });
});

describe("label selectors: matchLabels AND matchExpressions; operators with absent keys", () => {
  const selectorCluster = (selector: string) =>
    cluster(
      namespace("prod"),
      pod("prod/db", { labels: { app: "db" }, ips: ["10.0.0.3"] }),
      pod("prod/a", { labels: { app: "web", env: "prod" }, ips: ["10.0.0.11"] }),
      pod("prod/b", { labels: { app: "web", env: "dev" }, ips: ["10.0.0.12"] }),
      pod("prod/c", { labels: { app: "api" }, ips: ["10.0.0.13"] }),
      pod("prod/d", { labels: {}, ips: ["10.0.0.14"] }),
      pod("prod/e", { labels: { env: "" }, ips: ["10.0.0.15"] }),
      dbIngress(`
      ingress:
      - from:
        - podSelector:
${selector
  .replace(/^\n/, "")
  .split("\n")
  .map((l) => `            ${l.trim()}`)
  .join("\n")}
    `),
    );
  const peers = ["prod/a", "prod/b", "prod/c", "prod/d", "prod/e"];
  const chosen = (selector: string) => {
    const c = selectorCluster(selector);
    return peers.filter((p) => c.verdict(p, "prod/db", 5432) === "allow");
  };

  it("In: the key must be present with a listed value", () => {
    expect(chosen(`matchExpressions: [{key: env, operator: In, values: [prod, staging]}]`)).toEqual(["prod/a"]);
  });

  it("In with an empty-string value matches a label whose value is empty, not an absent label", () => {
    expect(chosen(`matchExpressions: [{key: env, operator: In, values: [""]}]`)).toEqual(["prod/e"]);
  });

  it("NotIn: matches when the key is absent, or present with an unlisted value", () => {
    expect(chosen(`matchExpressions: [{key: env, operator: NotIn, values: [prod]}]`)).toEqual(["prod/b", "prod/c", "prod/d", "prod/e"]);
  });

  it("Exists: the key is present, whatever its value (also empty)", () => {
    expect(chosen(`matchExpressions: [{key: env, operator: Exists}]`)).toEqual(["prod/a", "prod/b", "prod/e"]);
  });

  it("DoesNotExist: matches exactly when the key is absent", () => {
    expect(chosen(`matchExpressions: [{key: env, operator: DoesNotExist}]`)).toEqual(["prod/c", "prod/d"]);
  });

  it("matchLabels and matchExpressions are ANDed", () => {
    expect(
      chosen(`
        matchLabels: {app: web}
        matchExpressions: [{key: env, operator: NotIn, values: [prod]}]
      `),
    ).toEqual(["prod/b"]);
  });

  it("several expressions are ANDed", () => {
    expect(
      chosen(`
        matchExpressions:
        - {key: app, operator: Exists}
        - {key: env, operator: DoesNotExist}
      `),
    ).toEqual(["prod/c"]);
  });

  it("matchLabels requires equality, and an empty matchLabels value matches only an empty label value", () => {
    expect(chosen(`matchLabels: {app: web, env: dev}`)).toEqual(["prod/b"]);
    expect(chosen(`matchLabels: {env: ""}`)).toEqual(["prod/e"]);
  });

  it("label keys that are Object.prototype names (constructor, toString) are ordinary keys", () => {
    const c = cluster(
      namespace("prod"),
      pod("prod/db", { labels: { app: "db" }, ips: ["10.0.0.3"] }),
      pod("prod/plain", { labels: {}, ips: ["10.0.0.4"] }),
      dbIngress(`
      ingress:
      - from:
        - podSelector:
            matchExpressions:
            - {key: constructor, operator: Exists}
        - podSelector:
            matchExpressions:
            - {key: toString, operator: In, values: [x]}
    `),
    );
    expect(c.verdict("prod/plain", "prod/db", 5432)).toBe("deny");
  });

  it("the policy's own podSelector uses the same operators (NotIn selects pods without the key)", () => {
    const c = cluster(
      namespace("prod"),
      pod("prod/a", { labels: { role: "x" }, ips: ["10.0.0.1"] }),
      pod("prod/b", { labels: {}, ips: ["10.0.0.2"] }),
      pod("prod/c", { labels: { role: "y" }, ips: ["10.0.0.3"] }),
      `
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: iso, namespace: prod}
      spec:
        podSelector:
          matchExpressions: [{key: role, operator: NotIn, values: [x]}]
        policyTypes: [Ingress]
      `,
    );
    expect(c.check("prod/a", "prod/b", 80).ingress.isolated).toBe(true);
    expect(c.check("prod/a", "prod/c", 80).ingress.isolated).toBe(true);
    expect(c.check("prod/b", "prod/a", 80).ingress.isolated).toBe(false);
  });
});
