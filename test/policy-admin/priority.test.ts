// Equal priorities. ANP spec.priority (kubernetes-sigs/network-policy-api apis/v1alpha1):
// "If two (or more) policies with the same priority could both match a connection, then the
// implementation can apply any of the matching policies to the connection, and there is no
// way for the user to reliably determine which one it will choose."
import { describe, expect, it } from "vitest";
import { explainVerdict } from "../../agent/policy/explain.js";
import { adminCluster, anp, everyone, inNamespaces, namespace, networkPolicy, noteCodes, pod } from "./helpers.js";

const base = [
  namespace("alpha", { team: "a" }),
  namespace("beta", { team: "b" }),
  pod("alpha/web", { labels: { app: "web" }, ips: ["10.0.1.1"] }),
  pod("beta/client", { labels: { app: "client" }, ips: ["10.0.2.1"] }),
];
const subject = inNamespaces({ team: "a" });

describe("equal priorities", () => {
  it("two policies of equal priority that disagree make the verdict undefined", () => {
    const c = adminCluster(
      ...base,
      anp("b-allow", { priority: 7, subject, ingress: [{ name: "allow", action: "Allow", from: [everyone] }] }),
      anp("a-deny", { priority: 7, subject, ingress: [{ name: "deny", action: "Deny", from: [everyone] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 80);
    expect(verdict.determinate).toBe(false);
    expect(noteCodes(verdict)).toEqual(["undefined:admin_same_priority"]);
    expect(explainVerdict(verdict).at(-1)).toBe(
      "undefined: ingress of alpha/web: AdminNetworkPolicies a-deny and b-allow share priority 7 and disagree " +
        "(AdminNetworkPolicy a-deny spec.ingress[0] (deny): Deny; AdminNetworkPolicy b-allow spec.ingress[0] (allow): Allow); Kubernetes does not define which one applies",
    );
  });

  it("the order used for the verdict is by name, so the answer is stable", () => {
    const c = adminCluster(
      ...base,
      anp("z", { priority: 7, subject, ingress: [{ action: "Allow", from: [everyone] }] }),
      anp("a", { priority: 7, subject, ingress: [{ action: "Deny", from: [everyone] }] }),
    );
    expect(c.check("beta/client", "alpha/web", 80).ingress.tiers?.[0]).toMatchObject({ policy: "a", action: "Deny" });
  });

  it("policies of equal priority that agree leave the verdict defined", () => {
    const c = adminCluster(
      ...base,
      anp("one", { priority: 7, subject, ingress: [{ action: "Deny", from: [everyone] }] }),
      anp("two", { priority: 7, subject, ingress: [{ action: "Deny", from: [inNamespaces({ team: "b" })] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 80);
    expect(verdict.verdict).toBe("deny");
    expect(verdict.determinate).toBe(true);
  });

  it("Pass agrees with Allow when the NetworkPolicy tier allows too", () => {
    const c = adminCluster(
      ...base,
      networkPolicy("alpha/open", { podSelector: {}, ingress: [{}] }),
      anp("pass", { priority: 7, subject, ingress: [{ action: "Pass", from: [everyone] }] }),
      anp("allow", { priority: 7, subject, ingress: [{ action: "Allow", from: [everyone] }] }),
    );
    expect(c.check("beta/client", "alpha/web", 80).determinate).toBe(true);
  });

  it("Pass disagrees with Allow when the NetworkPolicy tier denies", () => {
    const c = adminCluster(
      ...base,
      networkPolicy("alpha/closed", { podSelector: {}, policyTypes: ["Ingress"] }),
      anp("pass", { priority: 7, subject, ingress: [{ action: "Pass", from: [everyone] }] }),
      anp("allow", { priority: 7, subject, ingress: [{ action: "Allow", from: [everyone] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 80);
    expect(verdict.determinate).toBe(false);
    expect(noteCodes(verdict)).toEqual(["undefined:admin_same_priority"]);
  });

  it("an equal-priority policy whose rules do not match this connection does not matter", () => {
    const c = adminCluster(
      ...base,
      anp("deny", { priority: 7, subject, ingress: [{ action: "Deny", from: [everyone] }] }),
      anp("allow-dns", { priority: 7, subject, ingress: [{ action: "Allow", from: [everyone], ports: [{ portNumber: { protocol: "UDP", port: 53 } }] }] }),
    );
    expect(c.check("beta/client", "alpha/web", 80).determinate).toBe(true);
    expect(c.check("beta/client", "alpha/web", 53, "UDP").determinate).toBe(false);
  });

  it("different priorities are ordered: no note", () => {
    const c = adminCluster(
      ...base,
      anp("allow", { priority: 6, subject, ingress: [{ action: "Allow", from: [everyone] }] }),
      anp("deny", { priority: 7, subject, ingress: [{ action: "Deny", from: [everyone] }] }),
    );
    const verdict = c.check("beta/client", "alpha/web", 80);
    expect(verdict.verdict).toBe("allow");
    expect(verdict.determinate).toBe(true);
  });
});
