// netcanary check reads manifests as Kubernetes does (go-yaml v2, YAML 1.1): a NetworkPolicy
// whose spec comes from a merge key is judged as kubectl would apply it, the same as the
// expanded policy; what kubectl and kustomize would read differently is refused, and so is
// a field the API server does not know.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

const PODS = `apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}
status: {podIP: 10.0.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: api-0, namespace: shop, labels: {app: api}}
spec: {containers: [{name: api, ports: [{containerPort: 8080, name: http}]}]}
status: {podIP: 10.0.0.20}
`;

/** The policies' spec comes from an anchor shared by two policies of one List, merged with <<. */
const MERGED = `apiVersion: v1
kind: List
items:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: api, namespace: shop}
    spec:
      <<: &from-web
        policyTypes: [Ingress]
        ingress:
          - from: [{podSelector: {matchLabels: {app: web}}}]
            ports: [{port: 0x1F90}]
      podSelector: {matchLabels: {app: api}}
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: web, namespace: shop}
    spec:
      <<: *from-web
      podSelector: {matchLabels: {app: web}}
`;

/** The same policies written out. */
const EXPANDED = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{port: 8080}]
  podSelector: {matchLabels: {app: api}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{port: 8080}]
  podSelector: {matchLabels: {app: web}}
`;

const QUERIES = `queries:
  - {from: shop/web-0, to: shop/api-0, port: 8080, expect: allow}
  - {from: shop/api-0, to: shop/web-0, port: 8080, expect: deny}
  - {from: shop/web-0, to: shop/api-0, port: 9090, expect: deny}
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nc-check-yaml-"));
  writeFileSync(join(dir, "pods.yaml"), PODS);
  writeFileSync(join(dir, "queries.yaml"), QUERIES);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function check(policies: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(["check", "--manifests", join(dir, "pods.yaml"), policies, "--queries", join(dir, "queries.yaml"), "--output", "json"]);
}

describe("netcanary check and YAML merge keys", () => {
  it("a policy whose rules come from a merge key gets the verdicts of the expanded policy (allow, as kubectl applies it)", async () => {
    const merged = await check(write("merged.yaml", MERGED));
    const expanded = await check(write("expanded.yaml", EXPANDED));
    expect(merged.stderr).toBe("");
    expect(merged.code).toBe(0);
    const verdicts = (run: { stdout: string }) =>
      (JSON.parse(run.stdout) as { results: { from: string; to: string; verdict: string; ok: boolean }[] }).results.map((r) => [r.from, r.to, r.verdict, r.ok]);
    expect(verdicts(merged)).toEqual([
      ["shop/web-0", "shop/api-0", "allow", true],
      ["shop/api-0", "shop/web-0", "deny", true],
      ["shop/web-0", "shop/api-0", "deny", true],
    ]);
    expect(verdicts(merged)).toEqual(verdicts(expanded));
  });

  it("refuses a key written before a merge key that also sets it (kubectl and kustomize disagree on it), with its line", async () => {
    const path = write(
      "ambiguous.yaml",
      MERGED.replace("    spec:\n      <<: *from-web\n      podSelector: {matchLabels: {app: web}}", "    spec:\n      podSelector: {matchLabels: {app: web}}\n      policyTypes: [Egress]\n      <<: *from-web"),
    );
    const run = await check(path);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim().split("\n")).toEqual([
      `${path}:19:7: items[1].spec.policyTypes: is set before the merge key (<<) that also sets it: kubectl (go-yaml v2) takes the merged value, kustomize and the YAML rule this one; write << first`,
    ]);
    expect(run.code).toBe(2);
  });

  it("refuses an alias to an anchor of another document (kubectl reads each document on its own)", async () => {
    const path = write("across.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: &l {team: a}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ops, labels: *l}\n");
    const run = await runCli(["check", "--manifests", path]);
    expect(run.stderr.trim()).toBe(`${path}:7:31: metadata.labels: invalid YAML/JSON: the alias *l refers to no anchor before it in this document (anchors do not reach across ---)`);
    expect(run.code).toBe(2);
  });

  it("reads a label written on as the boolean Kubernetes sees, and refuses it as kubectl does", async () => {
    const path = write("labels.yaml", PODS.replace("labels: {app: web}", "labels: {app: web, debug: on}"));
    const run = await runCli(["check", "--manifests", path]);
    expect(run.stderr.trim()).toBe(`${path}:3:61: metadata.labels.debug: label values must be strings, got boolean true (YAML reads true, yes, on, 0755 and the like as booleans and numbers: quote the value)`);
    expect(run.code).toBe(2);
  });

  it("refuses a misspelt field as the API server would, naming file, line and field", async () => {
    const path = write("typo.yaml", EXPANDED.replace("    - from: [{podSelector: {matchLabels: {app: web}}}]\n      ports: [{port: 8080}]\n  podSelector: {matchLabels: {app: api}}", "    - from: [{podSelecter: {matchLabels: {app: web}}}]\n      ports: [{port: 8080}]\n  podSelector: {matchLabels: {app: api}}"));
    const run = await check(path);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim().split("\n")).toEqual([
      `${path}:7:15: spec.ingress[0].from[0].podSelecter: unknown field (the API server refuses it); did you mean "podSelector"?`,
      `${path}:7:14: spec.ingress[0].from[0]: must specify a peer (podSelector, namespaceSelector or ipBlock)`,
    ]);
    expect(run.code).toBe(2);
  });
});
