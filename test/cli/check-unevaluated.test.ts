// `netcanary check` with policies of kinds it does not evaluate (Cilium's, Calico's, Antrea's,
// OpenShift's): each is named with its file and line, the verdicts come from the Kubernetes
// policies alone, and --strict turns the warning into a failure. The compiled CLI, real files.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

let dir: string;
let queries: string;

const CLUSTER = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
status: {podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
status: {podIP: 10.1.0.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]
`;

// Line numbers matter: the warnings name them.
const OTHERS = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  selector: app == 'db'
  types: [Ingress]
  ingress: [{action: Deny}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec: {endpointSelector: {matchLabels: {app: web}}, egressDeny: [{toEndpoints: [{}]}]}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: lockdown}
spec: {endpointSelector: {}, ingressDeny: [{fromEntities: [world]}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all}
spec: {selector: all(), types: [Ingress, Egress]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: isolate}
spec: {priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Drop}]}
---
apiVersion: k8s.ovn.org/v1
kind: EgressFirewall
metadata: {name: default, namespace: shop}
spec: {egress: [{type: Deny, to: {cidrSelector: 0.0.0.0/0}}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-check-unevaluated-"));
  await writeFile(join(dir, "cluster.yaml"), CLUSTER);
  await writeFile(join(dir, "others.yaml"), OTHERS);
  queries = join(dir, "queries.yaml");
  await writeFile(queries, "queries:\n  - {from: shop/web, to: shop/db, port: 5432, expect: allow}\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function paths(): string[] {
  return ["--manifests", join(dir, "cluster.yaml"), join(dir, "others.yaml")];
}

describe("netcanary check with policies it does not evaluate", () => {
  it("warns naming each with its file and line, and judges by the Kubernetes policies alone (exit 0)", async () => {
    const run = await runCli(["check", ...paths(), "--queries", queries]);
    expect(run.code).toBe(0);
    // The Calico NetworkPolicy shares kind and name with the Kubernetes one: neither an error nor evaluated.
    expect(run.stdout).toMatch(/shop\/web\s+shop\/db\s+5432\/TCP\s+allow\s+allow\s+ok/);
    const others = join(dir, "others.yaml");
    const warnings = run.stderr.split("\n").filter((line) => line.startsWith("warning: "));
    expect(warnings).toEqual([
      `warning: ${others}:1: NetworkPolicy shop/db (projectcalico.org/v3) is not evaluated`,
      `warning: ${others}:9: CiliumNetworkPolicy shop/web-egress (cilium.io/v2) is not evaluated`,
      `warning: ${others}:14: CiliumClusterwideNetworkPolicy lockdown (cilium.io/v2) is not evaluated`,
      `warning: ${others}:19: GlobalNetworkPolicy deny-all (projectcalico.org/v3) is not evaluated`,
      `warning: ${others}:24: ClusterNetworkPolicy isolate (crd.antrea.io/v1beta1) is not evaluated`,
      `warning: ${others}:29: EgressFirewall shop/default (k8s.ovn.org/v1) is not evaluated`,
      "warning: 6 policies of kinds netcanary does not evaluate (it judges Kubernetes NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy): " +
        "the verdicts below may differ from what the cluster enforces (--strict makes this a failure)",
    ]);
    expect(run.stderr).not.toContain("ConfigMap");
  });

  it("--strict fails on them (exit 1), with or without queries", async () => {
    const withQueries = await runCli(["check", ...paths(), "--queries", queries, "--strict"]);
    expect(withQueries.code).toBe(1);
    expect(withQueries.stderr).toContain("--strict makes this a failure");
    const isolation = await runCli(["check", ...paths(), "--strict"]);
    expect(isolation.code).toBe(1);
    expect(isolation.stdout).toMatch(/shop\/db\s+isolated by shop\/db\s+open/);
  });

  it("lists them in the JSON document too", async () => {
    const run = await runCli(["check", ...paths(), "--queries", queries, "--output", "json"]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as { unevaluated: { file: string; line: number; apiVersion: string; kind: string; name: string }[] };
    expect(doc.unevaluated.map((p) => `${p.line} ${p.apiVersion} ${p.kind} ${p.name}`)).toEqual([
      "1 projectcalico.org/v3 NetworkPolicy shop/db",
      "9 cilium.io/v2 CiliumNetworkPolicy shop/web-egress",
      "14 cilium.io/v2 CiliumClusterwideNetworkPolicy lockdown",
      "19 projectcalico.org/v3 GlobalNetworkPolicy deny-all",
      "24 crd.antrea.io/v1beta1 ClusterNetworkPolicy isolate",
      "29 k8s.ovn.org/v1 EgressFirewall shop/default",
    ]);
  });

  it("is silent and passes --strict when the manifests hold Kubernetes policies only", async () => {
    const run = await runCli(["check", "--manifests", join(dir, "cluster.yaml"), "--queries", queries, "--strict"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });
});
