// What an agent asks for (agent/cluster/scope.ts): watches from the config, deduplicated; label
// selectors rendered in the API's syntax, set-based ones too, which the API (the wire-true test
// server's parser) reads as selecting exactly the pods the engine's selector selects; field
// selector values escaped.

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendSpec, nodePodsSpec, renderFieldSelector, renderLabelSelector, specKey, specRequest, targetScopeOf, targetSpecs, uniqueSpecs } from "../../agent/cluster/scope.js";
import { parseConfig } from "../../agent/config/load.js";
import type { LabelSelector } from "../../agent/policy/model.js";
import { compileSelector } from "../../agent/policy/selectors.js";
import { KubeApiServer } from "../support/kube-api-server.js";

function config(probes: string[]) {
  const loaded = parseConfig(`sources: [{name: self, self: true}]\nprobes:\n${probes.map((p, i) => `  - {name: p${i}, sources: [self], ${p}}`).join("\n")}\n`, "c.yaml");
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

describe("the watches a config asks for", () => {
  it("each Service by name, its EndpointSlices by label, each pods target by namespace and selector; the same target once", () => {
    const scope = targetScopeOf(
      config([
        "tcp: {service: {namespace: shop, name: web, port: 80}}",
        "tcp: {service: {namespace: shop, name: web, port: 80}, via: endpoints}",
        "tcp: {pods: {namespace: bank, selector: {matchLabels: {app: db}}}, port: 5432}",
        "tcp: {pods: {namespace: bank, selector: {matchLabels: {app: db}}}, port: 6432}",
        "tcp: {ip: 10.0.0.1, port: 80}",
        "dns: {query: a.example.com, server: 10.96.0.10}",
      ]),
    );
    expect(scope).toEqual({ services: [{ namespace: "shop", name: "web" }], pods: [{ namespace: "bank", selector: { matchLabels: { app: "db" }, matchExpressions: [] } }] });
    expect(targetSpecs(scope).map((spec) => ({ ...specRequest(spec), purpose: spec.purpose }))).toEqual([
      { path: "/api/v1/namespaces/shop/services", fieldSelector: "metadata.name=web", purpose: "Service shop/web" },
      { path: "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", labelSelector: "kubernetes.io/service-name=web", purpose: "EndpointSlices of Service shop/web" },
      { path: "/api/v1/namespaces/bank/pods", labelSelector: "app=db", purpose: "pods bank/app=db" },
    ]);
    expect(specRequest(nodePodsSpec("node-a"))).toEqual({ path: "/api/v1/pods", fieldSelector: "spec.nodeName=node-a" });
  });

  it("the pods behind a Service by its selector; none for a Service without one", () => {
    const web = { namespace: "shop", name: "web", clusterIps: [], ports: [], selector: { tier: "front", app: "web" } };
    expect(specRequest(backendSpec(web) as NonNullable<ReturnType<typeof backendSpec>>)).toEqual({ path: "/api/v1/namespaces/shop/pods", labelSelector: "app=web,tier=front" });
    expect(backendSpec({ ...web, selector: {} })).toBeUndefined();
    const { selector: _none, ...manual } = web;
    expect(backendSpec(manual)).toBeUndefined();
  });

  it("identical requests are one watch, whatever the order of the selector's terms", () => {
    const a = { resource: "pods" as const, namespace: "shop", labelSelector: { matchLabels: { app: "web", tier: "x" }, matchExpressions: [{ key: "v", operator: "In" as const, values: ["2", "1"] }] }, purpose: "one" };
    const b = { resource: "pods" as const, namespace: "shop", labelSelector: { matchLabels: { tier: "x", app: "web" }, matchExpressions: [{ key: "v", operator: "In" as const, values: ["1", "2"] }] }, purpose: "two" };
    expect(specKey(a)).toBe(specKey(b));
    expect([...uniqueSpecs([a, b]).values()].map((spec) => spec.purpose)).toEqual(["one"]);
    expect(specKey({ ...a, namespace: "bank" })).not.toBe(specKey(a));
  });

  it("field selector values are escaped as the API reads them", () => {
    expect(renderFieldSelector({ "metadata.name": "a,b=c\\d", "spec.nodeName": "n" })).toBe("metadata.name=a\\,b\\=c\\\\d,spec.nodeName=n");
  });
});

describe("label selectors in the API's syntax", () => {
  let server: KubeApiServer;
  const PODS: Record<string, string>[] = [
    { app: "web", tier: "front" },
    { app: "api", tier: "back", v: "2" },
    { app: "db" },
    { tier: "front", legacy: "yes" },
    { app: "" },
    {},
  ];
  beforeAll(async () => {
    server = await KubeApiServer.start();
    PODS.forEach((labels, i) =>
      server.apply({ apiVersion: "v1", kind: "Pod", metadata: { namespace: "shop", name: `p${i}`, labels }, spec: { nodeName: "n", containers: [] }, status: { phase: "Running" } }),
    );
  });
  afterAll(async () => {
    await server.stop();
  });

  const key = fc.constantFrom("app", "tier", "v", "legacy", "example.com/team");
  const value = fc.constantFrom("web", "api", "db", "front", "back", "2", "yes", "");
  const selectorArb: fc.Arbitrary<LabelSelector> = fc.record({
    matchLabels: fc.dictionary(key, value, { maxKeys: 2 }),
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key, operator: fc.constantFrom("In" as const, "NotIn" as const), values: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }) }),
        fc.record({ key, operator: fc.constantFrom("Exists" as const, "DoesNotExist" as const), values: fc.constant([] as string[]) }),
      ),
      { maxLength: 3 },
    ),
  });

  it("select exactly the pods the engine's selector selects (in, notin, exists, !key, equality)", async () => {
    await fc.assert(
      fc.asyncProperty(selectorArb, async (selector) => {
        const rendered = renderLabelSelector(selector);
        const response = await fetch(`${server.url}/api/v1/namespaces/shop/pods?labelSelector=${encodeURIComponent(rendered)}`);
        expect({ rendered, status: response.status }).toEqual({ rendered, status: 200 });
        const body = (await response.json()) as { items: { metadata: { name: string } }[] };
        const matches = compileSelector(selector);
        const expected = PODS.flatMap((labels, i) => (matches(labels) ? [`p${i}`] : []));
        expect(body.items.map((item) => item.metadata.name)).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});
