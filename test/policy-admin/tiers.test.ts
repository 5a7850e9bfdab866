// The tiers, one documented semantic per test. Sources (kubernetes-sigs/network-policy-api,
// policy.networking.k8s.io/v1alpha1): apis/v1alpha1/adminnetworkpolicy_types.go ("ANP"),
// baselineadminnetworkpolicy_types.go ("BANP"), shared_types.go, site-src/guides/api-overview.md
// ("API overview"), conformance/tests/admin-network-policy-core-integration.go ("conformance").
import { describe, expect, it } from "vitest";
import { describeDirection, summarizeVerdict } from "../../agent/policy/explain.js";
import { adminCluster, anp, banp, everyone, inNamespaces, namespace, networkPolicy, noteCodes, path, pod, podsIn } from "./helpers.js";

const base = [
  namespace("alpha", { team: "a" }),
  namespace("beta", { team: "b" }),
  namespace("gamma", { team: "a" }),
  pod("alpha/web", { labels: { app: "web" }, ips: ["10.0.1.1"], ports: [{ name: "http", port: 8080 }] }),
  pod("alpha/db", { labels: { app: "db" }, ips: ["10.0.1.2"], ports: [{ name: "pg", port: 5432 }] }),
  pod("beta/client", { labels: { app: "client" }, ips: ["10.0.2.1"] }),
  pod("gamma/api", { labels: { app: "api" }, ips: ["10.0.3.1"], ports: [{ name: "http", port: 9090 }] }),
];

const denyIngressFromEveryone = [{ name: "deny-all", action: "Deny", from: [everyone] }];
const defaultDenyIngress = (ns: string) => networkPolicy(`${ns}/default-deny`, { podSelector: {}, policyTypes: ["Ingress"] });

describe("subject", () => {
  it("namespaces selects every pod in the matching namespaces (AdminNetworkPolicySubject.Namespaces)", () => {
    const c = adminCluster(...base, anp("team-a", { priority: 10, subject: inNamespaces({ team: "a" }), ingress: denyIngressFromEveryone }));
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("beta/client", "gamma/api", 9090)).toBe("deny");
    // beta is not a subject: its ingress is untouched.
    expect(c.verdict("alpha/web", "beta/client", 80)).toBe("allow");
  });

  it("pods ANDs namespaceSelector and podSelector (NamespacedPod)", () => {
    const c = adminCluster(...base, anp("web-only", { priority: 10, subject: podsIn({ team: "a" }, { app: "web" }), ingress: denyIngressFromEveryone }));
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.verdict("beta/client", "alpha/db", 5432)).toBe("allow");
    expect(c.verdict("beta/client", "gamma/api", 9090)).toBe("allow");
  });

  it("an empty selector selects everything ({} selects all namespaces / pods)", () => {
    const c = adminCluster(...base, anp("all", { priority: 10, subject: { pods: { namespaceSelector: {}, podSelector: {} } }, ingress: denyIngressFromEveryone }));
    expect(c.verdict("alpha/web", "beta/client", 80)).toBe("deny");
    expect(c.verdict("beta/client", "gamma/api", 9090)).toBe("deny");
  });

  it("host-networked pods are not included in subject selection (ANP spec.subject)", () => {
    const c = adminCluster(
      ...base,
      pod("alpha/agent", { labels: { app: "agent" }, ips: ["192.168.0.10"], hostNetwork: true }),
      anp("team-a", { priority: 10, subject: inNamespaces({ team: "a" }), ingress: denyIngressFromEveryone }),
    );
    const verdict = c.check("beta/client", "alpha/agent", 9100);
    expect(verdict.ingress.allowed).toBe(true);
    expect(verdict.ingress.tiers).toBeUndefined();
    // The engine still says host-network behaviour is undefined.
    expect(noteCodes(verdict)).toContain("undefined:host_network");
  });
});

describe("order: rules in a policy, then priority across policies", () => {
  it("within one ANP the first matching rule decides, in written order (ANP spec.ingress)", () => {
    const rules = [
      { name: "allow-beta", action: "Allow", from: [inNamespaces({ team: "b" })] },
      { name: "deny-rest", action: "Deny", from: [everyone] },
    ];
    const c = adminCluster(...base, anp("ordered", { priority: 10, subject: inNamespaces({ team: "a" }), ingress: rules }));
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("allow");
    expect(path(c.check("beta/client", "alpha/web", 8080).ingress)).toEqual(["admin:Allow:ordered[0]"]);
    expect(c.verdict("gamma/api", "alpha/web", 8080)).toBe("deny");
    expect(path(c.check("gamma/api", "alpha/web", 8080).ingress)).toEqual(["admin:Deny:ordered[1]"]);

    const reversed = adminCluster(...base, anp("ordered", { priority: 10, subject: inNamespaces({ team: "a" }), ingress: [...rules].reverse() }));
    expect(reversed.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
  });

  it("a lower priority number has higher precedence (ANP spec.priority)", () => {
    const c = adminCluster(
      ...base,
      // Written first, with the higher number: evaluated second.
      anp("late", { priority: 20, subject: inNamespaces({ team: "a" }), ingress: [{ name: "allow-all", action: "Allow", from: [everyone] }] }),
      anp("early", { priority: 10, subject: inNamespaces({ team: "a" }), ingress: [{ name: "deny-beta", action: "Deny", from: [inNamespaces({ team: "b" })] }] }),
    );
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(c.check("beta/client", "alpha/web", 8080).ingress.tiers).toEqual([
      { tier: "admin", action: "Deny", policy: "early", priority: 10, rule: 0, ruleName: "deny-beta" },
    ]);
    expect(c.verdict("gamma/api", "alpha/web", 8080)).toBe("allow");
    expect(path(c.check("gamma/api", "alpha/web", 8080).ingress)).toEqual(["admin:Allow:late[0]"]);
  });

  it("an ANP with no ingress rules does not affect ingress (ANP spec.ingress)", () => {
    const c = adminCluster(
      ...base,
      defaultDenyIngress("alpha"),
      anp("egress-only", { priority: 1, subject: inNamespaces({ team: "a" }), egress: [{ action: "Allow", to: [everyone] }] }),
    );
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(path(c.check("beta/client", "alpha/web", 8080).ingress)).toEqual(["admin:NoMatch", "networkpolicy:Deny"]);
  });
});

describe("tiers: AdminNetworkPolicy, then NetworkPolicy, then BaselineAdminNetworkPolicy", () => {
  it("an ANP Allow overrides a NetworkPolicy that would deny (Allow: even if it would otherwise have been denied by NetworkPolicy)", () => {
    const c = adminCluster(
      ...base,
      defaultDenyIngress("alpha"),
      anp("allow-beta", { priority: 5, subject: inNamespaces({ team: "a" }), ingress: [{ name: "from-beta", action: "Allow", from: [inNamespaces({ team: "b" })] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 8080);
    expect(verdict.verdict).toBe("allow");
    expect(verdict.ingress.allowedBy).toEqual([{ policy: "allow-beta", direction: "ingress", rule: 0, kind: "AdminNetworkPolicy", ruleName: "from-beta" }]);
    expect(describeDirection(verdict.ingress)).toBe("ingress of alpha/web: allowed by AdminNetworkPolicy allow-beta spec.ingress[0] (from-beta)");
    // Traffic the ANP does not match still meets the NetworkPolicy.
    expect(c.verdict("gamma/api", "alpha/web", 8080)).toBe("deny");
  });

  it("an ANP Deny overrides a NetworkPolicy that allows (Deny: denied before being checked against NetworkPolicy)", () => {
    const c = adminCluster(
      ...base,
      networkPolicy("alpha/allow-all", { podSelector: {}, ingress: [{}] }),
      anp("deny-all", { priority: 5, subject: inNamespaces({ team: "a" }), ingress: [{ name: "deny-everything", action: "Deny", from: [everyone] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 8080);
    expect(verdict.verdict).toBe("deny");
    expect(verdict.ingress.allowedBy).toEqual([]);
    expect(verdict.ingress.deniedBy).toMatchObject({ kind: "AdminNetworkPolicy", policy: "deny-all", rule: 0 });
    expect(describeDirection(verdict.ingress)).toBe("ingress of alpha/web: denied by AdminNetworkPolicy deny-all spec.ingress[0] (deny-everything)");
    expect(summarizeVerdict(verdict)).toBe("deny: ingress of alpha/web: denied by AdminNetworkPolicy deny-all spec.ingress[0] (deny-everything)");
  });

  it("Pass hands the decision to the NetworkPolicies when they isolate the pod (conformance: pass-ingress respects the network policy)", () => {
    const c = adminCluster(
      ...base,
      networkPolicy("alpha/web", { podSelector: { matchLabels: { app: "web" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "b" } } }], ports: [{ port: 8080 }] }] }),
      anp("delegate", {
        priority: 5,
        subject: inNamespaces({ team: "a" }),
        ingress: [
          { name: "delegate-beta", action: "Pass", from: [inNamespaces({ team: "b" })] },
          { name: "deny-rest", action: "Deny", from: [everyone] },
        ],
      }),
      // Not consulted: the NetworkPolicy isolates alpha/web.
      banp({ subject: inNamespaces({ team: "a" }), ingress: [{ action: "Allow", from: [everyone] }] }),
    );
    const allowed = c.check("beta/client", "alpha/web", 8080);
    expect(allowed.verdict).toBe("allow");
    expect(path(allowed.ingress)).toEqual(["admin:Pass:delegate[0]", "networkpolicy:Allow"]);
    expect(describeDirection(allowed.ingress)).toBe(
      "ingress of alpha/web: passed by AdminNetworkPolicy delegate spec.ingress[0] (delegate-beta), then allowed by alpha/web spec.ingress[0]",
    );
    const denied = c.check("beta/client", "alpha/web", 9999);
    expect(denied.verdict).toBe("deny");
    expect(path(denied.ingress)).toEqual(["admin:Pass:delegate[0]", "networkpolicy:Deny"]);
    expect(describeDirection(denied.ingress)).toBe(
      "ingress of alpha/web: passed by AdminNetworkPolicy delegate spec.ingress[0] (delegate-beta), then denied (isolated by alpha/web; no rule admits this peer and port)",
    );
    // Pass skips the remaining ANP rules only for the traffic it matches.
    expect(c.verdict("gamma/api", "alpha/web", 8080)).toBe("deny");
    expect(path(c.check("gamma/api", "alpha/web", 8080).ingress)).toEqual(["admin:Deny:delegate[1]"]);
  });

  it("Pass with no NetworkPolicy isolating the pod goes to the BANP (Pass: ...then passed to BaselineAdminNetworkPolicies; conformance)", () => {
    const c = adminCluster(
      ...base,
      anp("delegate", { priority: 5, subject: inNamespaces({ team: "a" }), ingress: [{ name: "delegate-beta", action: "Pass", from: [inNamespaces({ team: "b" })] }] }),
      banp({ subject: inNamespaces({ team: "a" }), ingress: [{ name: "deny-beta", action: "Deny", from: [inNamespaces({ team: "b" })] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 8080);
    expect(verdict.verdict).toBe("deny");
    expect(verdict.ingress.tiers).toEqual([
      { tier: "admin", action: "Pass", policy: "delegate", priority: 5, rule: 0, ruleName: "delegate-beta" },
      { tier: "networkpolicy", action: "NoMatch" },
      { tier: "baseline", action: "Deny", policy: "default", rule: 0, ruleName: "deny-beta" },
    ]);
    expect(verdict.ingress.deniedBy).toMatchObject({ kind: "BaselineAdminNetworkPolicy", policy: "default", rule: 0 });
    expect(describeDirection(verdict.ingress)).toBe(
      "ingress of alpha/web: passed by AdminNetworkPolicy delegate spec.ingress[0] (delegate-beta), then not isolated by any NetworkPolicy, then denied by BaselineAdminNetworkPolicy default spec.ingress[0] (deny-beta)",
    );
  });

  it("Pass skips the remaining rules of every ANP, lower precedence included (API overview: skip all further rules from all numbered ANPs)", () => {
    const c = adminCluster(
      ...base,
      anp("delegate", { priority: 5, subject: inNamespaces({ team: "a" }), ingress: [{ action: "Pass", from: [inNamespaces({ team: "b" })] }] }),
      anp("lockdown", { priority: 50, subject: inNamespaces({ team: "a" }), ingress: denyIngressFromEveryone }),
    );
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("allow");
    expect(path(c.check("beta/client", "alpha/web", 8080).ingress)).toEqual(["admin:Pass:delegate[0]", "networkpolicy:NoMatch"]);
    expect(describeDirection(c.check("beta/client", "alpha/web", 8080).ingress)).toBe(
      "ingress of alpha/web: passed by AdminNetworkPolicy delegate spec.ingress[0], then not isolated by any NetworkPolicy: allowed",
    );
    expect(c.verdict("gamma/api", "alpha/web", 8080)).toBe("deny");
  });

  it("the BANP denies when no NetworkPolicy isolates the pod (BANP: applied if not matched by any ANP or NetworkPolicy rules)", () => {
    const c = adminCluster(...base, banp({ subject: inNamespaces({ team: "a" }), egress: [{ name: "no-beta", action: "Deny", to: [inNamespaces({ team: "b" })] }] }));
    const verdict = c.check("alpha/web", "beta/client", 80);
    expect(verdict.verdict).toBe("deny");
    expect(path(verdict.egress)).toEqual(["admin:NoMatch", "networkpolicy:NoMatch", "baseline:Deny:default[0]"]);
    expect(describeDirection(verdict.egress)).toBe(
      "egress of alpha/web: not isolated by any NetworkPolicy, then denied by BaselineAdminNetworkPolicy default spec.egress[0] (no-beta)",
    );
    expect(c.verdict("alpha/web", "gamma/api", 9090)).toBe("allow");
  });

  it("the BANP is ignored when a NetworkPolicy isolates the pod for that direction (BANP rules are overridable by NetworkPolicy)", () => {
    const banpDenyBeta = banp({ subject: inNamespaces({ team: "a" }), ingress: [{ action: "Deny", from: [inNamespaces({ team: "b" })] }] });
    const allowing = adminCluster(...base, banpDenyBeta, networkPolicy("alpha/from-beta", { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "b" } } }] }] }));
    expect(allowing.verdict("beta/client", "alpha/web", 8080)).toBe("allow");
    expect(path(allowing.check("beta/client", "alpha/web", 8080).ingress)).toEqual(["admin:NoMatch", "networkpolicy:Allow"]);

    const banpAllowAll = banp({ subject: inNamespaces({ team: "a" }), ingress: [{ action: "Allow", from: [everyone] }] });
    const denying = adminCluster(...base, banpAllowAll, defaultDenyIngress("alpha"));
    expect(denying.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(path(denying.check("beta/client", "alpha/web", 8080).ingress)).toEqual(["admin:NoMatch", "networkpolicy:Deny"]);
  });

  it("NetworkPolicy isolation is per direction: an ingress-only NetworkPolicy leaves egress to the BANP", () => {
    const c = adminCluster(
      ...base,
      networkPolicy("beta/ingress-only", { podSelector: {}, policyTypes: ["Ingress"], ingress: [{}] }),
      banp({ subject: inNamespaces({ team: "b" }), egress: [{ action: "Deny", to: [inNamespaces({ team: "a" })] }] }),
    );
    expect(c.verdict("beta/client", "alpha/web", 8080)).toBe("deny");
    expect(path(c.check("beta/client", "alpha/web", 8080).egress)).toEqual(["admin:NoMatch", "networkpolicy:NoMatch", "baseline:Deny:default[0]"]);
  });

  it("the BANP has no Pass, and no BANP rule matching means allowed", () => {
    const c = adminCluster(
      ...base,
      anp("unrelated", { priority: 1, subject: inNamespaces({ team: "a" }), ingress: [{ action: "Deny", from: [podsIn({}, { app: "nobody" })] }] }),
      banp({ subject: inNamespaces({ team: "a" }), ingress: [{ action: "Deny", from: [podsIn({}, { app: "nobody" })] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 8080);
    expect(verdict.verdict).toBe("allow");
    expect(path(verdict.ingress)).toEqual(["admin:NoMatch", "networkpolicy:NoMatch", "baseline:NoMatch"]);
    expect(describeDirection(verdict.ingress)).toBe(
      "ingress of alpha/web: not isolated (no AdminNetworkPolicy rule matches, no NetworkPolicy selects it for ingress, no BaselineAdminNetworkPolicy rule matches)",
    );
    expect(summarizeVerdict(verdict)).toBe("allow: no policy isolates either side");
  });

  it("both directions are needed, each through its own tiers", () => {
    const c = adminCluster(
      ...base,
      anp("beta-out", { priority: 1, subject: inNamespaces({ team: "b" }), egress: [{ name: "anywhere", action: "Allow", to: [everyone] }] }),
      anp("alpha-in", { priority: 2, subject: inNamespaces({ team: "a" }), ingress: [{ name: "no-beta", action: "Deny", from: [inNamespaces({ team: "b" })] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 8080);
    expect(verdict.verdict).toBe("deny");
    expect(verdict.egress.allowed).toBe(true);
    expect(path(verdict.egress)).toEqual(["admin:Allow:beta-out[0]"]);
    expect(verdict.ingress.allowed).toBe(false);
    expect(path(verdict.ingress)).toEqual(["admin:Deny:alpha-in[0]"]);
  });

  it("ingress peers select pods only: traffic from outside the cluster matches no ANP ingress rule (AdminNetworkPolicyIngressPeer)", () => {
    const c = adminCluster(...base, anp("team-a", { priority: 10, subject: inNamespaces({ team: "a" }), ingress: denyIngressFromEveryone }));
    const verdict = c.check("203.0.113.7", "alpha/web", 8080);
    expect(verdict.verdict).toBe("allow");
    expect(path(verdict.ingress)).toEqual(["admin:NoMatch", "networkpolicy:NoMatch"]);
  });

  it("an ANP denying egress says so when the NetworkPolicy would allow (summary names the admin rule)", () => {
    const c = adminCluster(
      ...base,
      networkPolicy("beta/egress", { podSelector: {}, policyTypes: ["Egress"], egress: [{}] }),
      anp("no-dns", { priority: 3, subject: inNamespaces({ team: "b" }), egress: [{ name: "deny-dns", action: "Deny", to: [everyone], ports: [{ portNumber: { protocol: "UDP", port: 53 } }] }] }),
    );
    expect(c.explain("beta/client", "alpha/web", 53, "UDP")[0]).toBe("egress of beta/client: denied by AdminNetworkPolicy no-dns spec.egress[0] (deny-dns)");
    expect(c.explain("beta/client", "alpha/web", 53, "TCP")[0]).toBe("egress of beta/client: allowed by beta/egress spec.egress[0]");
  });
});
