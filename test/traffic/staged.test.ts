// Staged policies evaluated against the recorded shop maps: each reports exactly the observed
// flows it would deny if applied, alone and together, and never more.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadManifests } from "../../agent/cluster/manifests.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";
import { flowKey } from "../../agent/traffic/flow.js";
import { mergeFlowMaps } from "../../agent/traffic/map-file.js";
import { stagedVerdicts } from "../../agent/traffic/staged.js";
import { loadStagedPolicies } from "../../agent/traffic/staged-files.js";
import { cluster, deployment, namespace, netpol } from "../policy/helpers.js";
import { fixtureDir, fixtureMap, flow, flowMap, toWorkload, workload } from "./helpers.js";

const map = mergeFlowMaps([fixtureMap("shop-node-a.json"), fixtureMap("shop-node-b.json")]);
const key = (direction: string, protocol: string, local: string, peer: string, port: number) => `${direction}|${protocol}|${local}|${peer}|${port}`;

async function inForce() {
  const load = await loadManifests([join(fixtureDir, "in-force")]);
  expect(load.errors).toEqual([]);
  return buildPolicyIndex(load.snapshot);
}

async function staged() {
  const load = await loadStagedPolicies([join(fixtureDir, "staged")]);
  if (!load.ok) throw new Error(JSON.stringify(load.errors));
  return load.policies;
}

describe("staged policies against the recorded shop maps", () => {
  it("reports exactly the flows a staged default-deny of egress would break: every flow out of the namespace, seen from either end", async () => {
    const result = stagedVerdicts(await inForce(), map, await staged());
    const deny = result.policies.find((p) => p.policy === "shop/default-deny-egress");
    expect(deny?.file).toBe(join(fixtureDir, "staged", "default-deny-egress.yaml"));
    expect([...(deny?.wouldDeny ?? [])].sort()).toEqual(
      [
        key("outbound", "TCP", "deployment/shop/web", "workload:deployment/shop/api", 8080),
        key("outbound", "UDP", "deployment/shop/web", "service:kube-system/kube-dns", 53),
        key("inbound", "TCP", "deployment/shop/api", "workload:deployment/shop/web", 8080),
        key("outbound", "TCP", "deployment/shop/api", "zscaler:zscaler.net:165.225.0.0/17", 443),
        key("outbound", "TCP", "deployment/shop/api", "external:147.161.130.5/32", 443),
        key("outbound", "TCP", "deployment/shop/api", "external:203.0.113.0/24", 443),
        key("outbound", "UDP", "deployment/shop/api", "service:kube-system/kube-dns", 53),
      ].sort(),
    );
  });

  it("tests each staged policy in isolation, and all of them together (where one's allow rules admit what another isolates)", async () => {
    const result = stagedVerdicts(await inForce(), map, await staged());
    expect(result.policies.map((p) => [p.policy, p.wouldDeny.length])).toEqual([
      ["shop/default-deny-egress", 7],
      ["shop/web-egress", 1],
    ]);
    expect(result.policies[1]?.wouldDeny).toEqual([key("outbound", "UDP", "deployment/shop/web", "service:kube-system/kube-dns", 53)]);
    // Together, web's egress to the api is allowed again: that flow, seen from both ends, is no longer denied.
    expect(result.all.wouldDeny).toHaveLength(5);
    expect(result.all.wouldDeny).not.toContain(key("outbound", "TCP", "deployment/shop/web", "workload:deployment/shop/api", 8080));
    expect(result.all.wouldDeny).not.toContain(key("inbound", "TCP", "deployment/shop/api", "workload:deployment/shop/web", 8080));
  });

  it("does not count a flow the policies in force already deny, nor one another policy still admits", async () => {
    // A staged ingress default-deny for shop: ledger -> api is denied already, web -> api still
    // admitted by api-ingress (allows are a union); only the node's connection to web breaks.
    const index = await inForce();
    const denyIngress = cluster(namespace("shop"), netpol("shop/deny-ingress", "podSelector: {}\npolicyTypes: [Ingress]")).snapshot.policies;
    const result = stagedVerdicts(index, map, denyIngress);
    expect(result.policies[0]?.wouldDeny).toEqual([key("inbound", "TCP", "deployment/shop/web", "node:node-a", 8080)]);
  });

  it("replaces a policy in force of the same name, as applying it would", async () => {
    // A staged api-ingress that admits ledger too would deny nothing; one that admits nobody denies web -> api.
    const index = await inForce();
    const wider = cluster(namespace("shop"), netpol("shop/api-ingress", "podSelector: {matchLabels: {app: api}}\npolicyTypes: [Ingress]\ningress: [{ports: [{port: 8080}]}]")).snapshot.policies;
    expect(stagedVerdicts(index, map, wider).policies[0]?.wouldDeny).toEqual([]);
  });

  it("counts the flows it cannot judge instead of guessing", async () => {
    const web = workload("shop/web", { app: "web" });
    const unnamedMap = flowMap([flow(web, { kind: "unnamed", address: "10.0.9.9", reason: "lookup failed" }, 80), flow(web, toWorkload(workload("shop/api", { app: "api" })), 8080)]);
    const result = stagedVerdicts(await inForce(), unnamedMap, await staged());
    expect(result.unjudged).toBe(1);
    // web -> api stays allowed with both staged policies; the unnamed flow is not counted either way.
    expect(result.all.wouldDeny).toEqual([]);
    expect(result.policies.find((p) => p.policy === "shop/default-deny-egress")?.wouldDeny).toEqual([flowKey(unnamedMap.flows[1]!)]);
  });
});

describe("reading staged policies", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "netcanary-staged-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a staged set holding anything but NetworkPolicies, naming what it holds", async () => {
    await writeFile(join(dir, "mixed.yaml"), `${netpol("shop/a", "podSelector: {}")}\n---\n${deployment("shop/api", { labels: { app: "api" } })}\n`);
    const load = await loadStagedPolicies([join(dir, "mixed.yaml")]);
    expect(load.ok ? [] : load.errors.map((e) => e.message)).toEqual(["holds 1 pods or workloads: a staged set holds NetworkPolicies only"]);
  });

  it("reports a bad staged policy with its file, line and field, as manifests are", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: shop}\nspec:\n  podSelector: {}\n  policyTypes: [Sideways]\n");
    const load = await loadStagedPolicies([file]);
    expect(load.ok).toBe(false);
    const [error] = load.ok ? [] : load.errors;
    expect(error).toMatchObject({ file, line: 6, field: "spec.policyTypes[0]" });
  });

  it("refuses a staged set with no policy: nothing would be staged", async () => {
    const empty = join(dir, "empty");
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, "ns.yaml"), namespace("shop"));
    const load = await loadStagedPolicies([empty]);
    expect(load.ok ? [] : load.errors.map((e) => e.message)).toEqual(["holds no NetworkPolicy: nothing would be staged"]);
  });
});
