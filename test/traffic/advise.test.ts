// Suggested policies from the recorded shop maps: read back as manifests are and judged by the
// engine, they allow every observed flow and deny what was not observed; the output is the
// same bytes whatever the order of the input.
import { describe, expect, it } from "vitest";
import { parseCidr, parseIp } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { EMPTY_SNAPSHOT } from "../../agent/cluster/snapshot.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { buildPolicyIndex, evaluateConnection, type PolicyIndex } from "../../agent/policy/engine.js";
import { advise, type AdviseInput, adviceYaml, checkAdvice } from "../../agent/traffic/advise.js";
import type { FlowMap } from "../../agent/traffic/flow.js";
import { judgeFlow, withMapNamespaces, workloadPod } from "../../agent/traffic/judge.js";
import { mergeFlowMaps } from "../../agent/traffic/map-file.js";
import { cluster, deployment, namespace } from "../policy/helpers.js";
import { fixtureMap, flow, flowMap, toWorkload, workload } from "./helpers.js";

const map = mergeFlowMaps([fixtureMap("shop-node-a.json"), fixtureMap("shop-node-b.json")]);
const empty = buildPolicyIndex(EMPTY_SNAPSHOT);

function suggest(input: Partial<AdviseInput> & { map: FlowMap }) {
  const full: AdviseInput = { index: empty, ...input };
  const advice = advise(full);
  return { advice, yaml: adviceYaml(advice, full.map.flows.length), input: full };
}

/** The suggestion alone, read back as manifests are, as the engine's index (with the map's namespaces). */
function enforced(yaml: string, forMap: FlowMap = map): PolicyIndex {
  const parsed = parseDocuments(yaml, "suggestion.yaml");
  expect(parsed.errors).toEqual([]);
  const load = snapshotFromDocuments(parsed.documents);
  expect(load.errors).toEqual([]);
  return withMapNamespaces(buildPolicyIndex(load.snapshot), forMap);
}

const web = workload("shop/web", { app: "web", tier: "front" });
const api = workload("shop/api", { app: "api" });

function ip(text: string) {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

describe("netcanary advise's suggestion, fed back through the engine", () => {
  it("allows every observed flow of the map and passes its own check", () => {
    const { yaml, input } = suggest({ map });
    const index = enforced(yaml);
    for (const observed of map.flows) expect([observed.direction, observed.port, judgeFlow(index, observed).verdict]).toEqual([observed.direction, observed.port, "allow"]);
    expect(checkAdvice(yaml, input, EMPTY_SNAPSHOT)).toEqual([]);
  });

  it("denies what was not observed: another port to an observed peer, an unobserved pod, an unobserved address", () => {
    const index = enforced(suggest({ map }).yaml);
    const from = { kind: "pod" as const, pod: workloadPod(index, api, ["10.0.2.7"]) };
    const webPod = { kind: "pod" as const, pod: workloadPod(index, web, ["10.0.1.5"]) };
    expect(evaluateConnection(index, { from: webPod, to: from, port: 8080, protocol: "TCP" }).verdict).toBe("allow");
    expect(evaluateConnection(index, { from: webPod, to: from, port: 8081, protocol: "TCP" }).verdict).toBe("deny");
    expect(evaluateConnection(index, { from, to: { kind: "ip", ip: ip("8.8.8.8") }, port: 443, protocol: "TCP" }).verdict).toBe("deny");
    expect(evaluateConnection(index, { from, to: { kind: "ip", ip: ip("147.161.130.6") }, port: 443, protocol: "TCP" }).verdict).toBe("deny");
    const stranger = { kind: "pod" as const, pod: workloadPod(index, workload("shop/batch", { app: "batch" }), ["10.0.4.4"]) };
    expect(evaluateConnection(index, { from: stranger, to: from, port: 8080, protocol: "TCP" }).verdict).toBe("deny");
    expect(evaluateConnection(index, { from: stranger, to: webPod, port: 8080, protocol: "TCP" }).verdict).toBe("deny");
  });

  it("selects the cluster DNS pods by the labels this cluster gives them, on UDP and TCP 53, never an assumed k8s-app=kube-dns", () => {
    const { yaml } = suggest({ map });
    expect(yaml).not.toContain("k8s-app");
    const index = enforced(yaml);
    const dns = { kind: "pod" as const, pod: workloadPod(index, workload("kube-system/coredns", { "app.kubernetes.io/name": "coredns" }), []) };
    const webPod = { kind: "pod" as const, pod: workloadPod(index, web, []) };
    expect(evaluateConnection(index, { from: webPod, to: dns, port: 53, protocol: "UDP" }).verdict).toBe("allow");
    expect(evaluateConnection(index, { from: webPod, to: dns, port: 53, protocol: "TCP" }).verdict).toBe("allow");
    const kubeDns = { kind: "pod" as const, pod: workloadPod(index, workload("kube-system/kube-dns", { "k8s-app": "kube-dns" }), []) };
    expect(evaluateConnection(index, { from: webPod, to: kubeDns, port: 53, protocol: "UDP" }).verdict).toBe("deny");
  });

  it("collapses external addresses into Zscaler's published ranges where they fall inside them, and keeps other externals as their range", () => {
    const zscaler = ["147.161.128.0/17", "165.225.0.0/17"].map((t) => {
      const parsed = parseCidr(t);
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.value;
    });
    const { yaml, input } = suggest({ map, zscalerRanges: zscaler });
    expect(yaml).toContain("cidr: 147.161.128.0/17");
    expect(yaml).not.toContain("147.161.130.5/32");
    expect(yaml).toContain("cidr: 203.0.113.0/24");
    expect(checkAdvice(yaml, input, EMPTY_SNAPSHOT)).toEqual([]);
    const index = enforced(yaml);
    const from = { kind: "pod" as const, pod: workloadPod(index, api, []) };
    expect(evaluateConnection(index, { from, to: { kind: "ip", ip: ip("147.161.200.1") }, port: 443, protocol: "TCP" }).verdict).toBe("allow");
  });

  it("writes a flow to a Service as egress to the pods its selector picks, on its (named) targetPort", () => {
    const snapshot = cluster(
      namespace("shop"),
      deployment("shop/api", { labels: { app: "api", version: "v1" }, ports: [{ port: 8080, name: "http" }] }),
      JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "api", namespace: "shop" }, spec: { clusterIP: "10.96.0.20", selector: { app: "api" }, ports: [{ port: 80, targetPort: "http" }] } }),
    ).snapshot;
    const serviceMap = flowMap([flow(web, { kind: "service", namespace: "shop", name: "api" }, 80)]);
    const { yaml, input } = suggest({ map: serviceMap, index: buildPolicyIndex(snapshot) });
    expect(yaml).toContain("port: http");
    expect(yaml).toContain("name: netcanary-api-backends");
    expect(checkAdvice(yaml, input, snapshot)).toEqual([]);
  });

  it("names the flows it cannot write a rule for: an unnamed peer, a Service whose backends are not known", () => {
    const { advice } = suggest({
      map: flowMap([
        flow(web, { kind: "unnamed", address: "10.0.9.9", reason: "lookup failed" }, 80),
        flow(web, { kind: "service", namespace: "shop", name: "cart" }, 80),
      ]),
    });
    expect(advice.unwritable.map((u) => u.reason)).toEqual([
      "Service shop/cart is in neither the manifests nor the map with its backends: give its manifest (--manifests)",
      "peer 10.0.9.9 is not named (lookup failed)",
    ]);
  });

  it("limits the policies to the namespaces asked for, with ingress for the peers in them", () => {
    const { advice } = suggest({ map, namespaces: ["payments"] });
    expect(advice.policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(["payments/netcanary-default-deny", "payments/netcanary-ledger"]);
    expect(advice.policies[1]?.spec.egress?.[0]?.to).toEqual([{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } }, podSelector: { matchLabels: { app: "api" } } }]);
  });
});

describe("the check before printing", () => {
  it("fails a suggestion missing a rule, naming the observed flow it would deny", () => {
    const { yaml, input } = suggest({ map });
    const broken = yaml.replace("kubernetes.io/metadata.name: payments", "kubernetes.io/metadata.name: elsewhere");
    const failures = checkAdvice(broken, input, EMPTY_SNAPSHOT);
    expect(failures.map((f) => [f.flow, f.expected])).toEqual([["inbound deployment/shop/api <- statefulset/payments/ledger 8080/TCP", "allow"]]);
  });

  it("checks unobserved peers at an address no observed range holds, whatever ranges the flows opened", () => {
    // A partner's range over a documentation /24: an unobserved peer at a fixed documentation
    // address would stand inside it and look allowed on 443.
    for (const range of ["192.0.2.72/29", "192.0.2.0/24"]) {
      const observed = flowMap([flow(web, { kind: "external", range, name: "partner" }, 443, { remoteAddresses: [range.replace(/\.\d+\/\d+$/, ".77")] })], [{ name: "shop", labels: {} }]);
      const { yaml, input } = suggest({ map: observed });
      expect(yaml).toContain(`cidr: ${range}`);
      expect(checkAdvice(yaml, input, EMPTY_SNAPSHOT)).toEqual([]);
    }
  });

  it("fails a suggestion that allows more than was observed, naming the unobserved connection", () => {
    const { yaml, input } = suggest({ map });
    // The node's rule without ports admits every port from it.
    const widened = yaml.replace(/(cidr: 192\.168\.1\.10\/32\n)\s+ports:\n\s+- protocol: TCP\n\s+port: 8080\n/, "$1");
    expect(widened).not.toBe(yaml);
    const failures = checkAdvice(widened, input, EMPTY_SNAPSHOT);
    expect(failures.map((f) => [f.flow, f.expected])).toEqual([["unobserved: inbound deployment/shop/web <- node node-a 8081/TCP", "deny"]]);
  });

  it("fails a suggestion that does not read back as manifests", () => {
    const { input } = suggest({ map });
    const failures = checkAdvice("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec: {policyTypes: [Up]}\n", input, EMPTY_SNAPSHOT);
    expect(failures[0]?.reason).toContain("does not read back");
  });
});

describe("stable output", () => {
  it("writes byte-identical YAML for the same flows in any order, from one map or several", () => {
    const once = suggest({ map }).yaml;
    expect(suggest({ map }).yaml).toBe(once);
    const reversed = { ...map, flows: [...map.flows].reverse(), namespaces: [...map.namespaces].reverse() };
    expect(suggest({ map: reversed }).yaml).toBe(once);
    const otherMerge = mergeFlowMaps([fixtureMap("shop-node-b.json"), fixtureMap("shop-node-a.json")]);
    expect(suggest({ map: otherMerge }).yaml).toBe(once);
  });

  it("sorts labels, peers and ports whatever order they were observed in", () => {
    const many = flowMap([
      flow(api, toWorkload(workload("shop/z", { b: "2", a: "1" })), 9000),
      flow(api, toWorkload(workload("shop/a", { app: "a" })), 7000),
      flow(api, toWorkload(workload("shop/a", { app: "a" })), 6000),
    ]);
    const rules = suggest({ map: many }).advice.policies.find((p) => p.metadata.name === "netcanary-api")?.spec.egress;
    expect(rules?.map((r) => [JSON.stringify(r.to[0]), r.ports.map((p) => p.port)])).toEqual([
      [JSON.stringify({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } }, podSelector: { matchLabels: { a: "1", b: "2" } } }), [9000]],
      [JSON.stringify({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } }, podSelector: { matchLabels: { app: "a" } } }), [6000, 7000]],
    ]);
  });
});
