// netcanary check with AdminNetworkPolicies and a BaselineAdminNetworkPolicy in the
// manifests: the compiled CLI, as a user runs it, shows the path through the tiers.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

const manifests = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tenant: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: tools, labels: {tenant: tools}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: main, image: busybox, ports: [{name: http, containerPort: 8080}]}]}
status: {podIPs: [{ip: 10.0.1.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: scanner, namespace: tools, labels: {app: scanner}}
spec: {containers: [{name: main, image: busybox}]}
status: {podIPs: [{ip: 10.0.2.1}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {tenant: tools}}}]
    ports: [{port: 8080}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: guardrails}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {tenant: shop}}}
  ingress:
  - name: delegate-tools
    action: Pass
    from: [{namespaces: {matchLabels: {tenant: tools}}}]
    ports: [{portNumber: {protocol: TCP, port: 8080}}]
  - name: deny-the-rest
    action: Deny
    from: [{namespaces: {}}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {matchLabels: {tenant: tools}}}
  egress:
  # networks match pod IPs too: admit the cluster's pods first.
  - name: pods
    action: Allow
    to: [{namespaces: {}}]
  - name: no-internet
    action: Deny
    to: [{networks: [0.0.0.0/0]}]
`;

const queries = `
queries:
  - {from: tools/scanner, to: shop/web, port: http, expect: allow}
  - {from: tools/scanner, to: shop/web, port: 9090, expect: deny}
  - {from: tools/scanner, to: 203.0.113.7, port: 443, expect: deny}
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-admin-"));
  await writeFile(join(dir, "cluster.yaml"), manifests);
  await writeFile(join(dir, "queries.yaml"), queries);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("netcanary check with admin tiers", () => {
  it("prints the path through AdminNetworkPolicy, NetworkPolicy and BaselineAdminNetworkPolicy", async () => {
    const run = await runCli(["check", "--manifests", join(dir, "cluster.yaml"), "--queries", join(dir, "queries.yaml")]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/tools\/scanner\s+shop\/web\s+http\(8080\)\/TCP\s+allow\s+allow\s+ok/);
    expect(run.stdout).toContain(
      "ingress of shop/web: passed by AdminNetworkPolicy guardrails spec.ingress[0] (delegate-tools), then allowed by shop/web spec.ingress[0]",
    );
    expect(run.stdout).toContain("ingress of shop/web: denied by AdminNetworkPolicy guardrails spec.ingress[1] (deny-the-rest)");
    expect(run.stdout).toContain(
      "egress of tools/scanner: not isolated by any NetworkPolicy, then denied by BaselineAdminNetworkPolicy default spec.egress[1] (no-internet)",
    );
    expect(run.stdout).toContain(
      "egress of tools/scanner: not isolated by any NetworkPolicy, then allowed by BaselineAdminNetworkPolicy default spec.egress[0] (pods)",
    );
    expect(run.stdout).toContain("3 expectations: 3 held, 0 failed");
  });

  it("reports an invalid AdminNetworkPolicy with file, line and field, and exits 2", async () => {
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: x}\nspec:\n  priority: 5000\n  subject: {namespaces: {}}\n");
    const run = await runCli(["check", "--manifests", bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${bad}:5`);
    expect(run.stderr).toContain("spec.priority");
  });

  it("lists the tier path in the JSON output", async () => {
    const run = await runCli(["check", "--manifests", join(dir, "cluster.yaml"), "--queries", join(dir, "queries.yaml"), "--output", "json"]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as { results: { explanation: { ingress: { tiers?: unknown[] } } }[] };
    expect(doc.results[0]?.explanation.ingress.tiers).toEqual([
      { tier: "admin", action: "Pass", policy: "guardrails", priority: 10, rule: 0, ruleName: "delegate-tools" },
      { tier: "networkpolicy", action: "Allow" },
    ]);
  });
});
