import { describe, expect, it } from "vitest";
import { isUnevaluatedPolicy, snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { formatInputError, parseDocuments } from "../../agent/documents/located.js";

function load(text: string) {
  const parsed = parseDocuments(text, "m.yaml");
  expect(parsed.errors).toEqual([]);
  return snapshotFromDocuments(parsed.documents);
}

describe("manifest loader", () => {
  it("reads pods with IPs, ports, node and host network", () => {
    const { snapshot, errors } = load(`
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec:
  nodeName: node-a
  hostNetwork: false
  containers:
    - name: web
      ports: [{name: http, containerPort: 8080}, {containerPort: 53, protocol: UDP}]
  initContainers:
    - {name: proxy, restartPolicy: Always, ports: [{name: proxy, containerPort: 15001}]}
    - {name: migrate, ports: [{name: never, containerPort: 1}]}
status:
  phase: Running
  podIP: 10.0.0.1
  podIPs: [{ip: 10.0.0.1}, {ip: "fd00::1"}]
`);
    expect(errors).toEqual([]);
    const [pod] = snapshot.pods;
    expect(pod).toMatchObject({ namespace: "shop", name: "web-0", labels: { app: "web" }, node: "node-a", hostNetwork: false, phase: "Running" });
    expect(pod?.ips.map((ip) => ip.text)).toEqual(["10.0.0.1", "fd00::1"]);
    // Sidecar init containers serve ports; plain init containers do not.
    expect(pod?.ports).toEqual([
      { name: "http", port: 8080, protocol: "TCP" },
      { port: 53, protocol: "UDP" },
      { name: "proxy", port: 15001, protocol: "TCP" },
    ]);
  });

  it("turns every workload kind's template into a pod without IPs", () => {
    const kinds = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"];
    const text = [
      ...kinds.map((kind) => `kind: ${kind}\nmetadata: {name: w-${kind.toLowerCase()}, namespace: apps}\nspec:\n  template:\n    metadata: {labels: {kind: ${kind.toLowerCase()}}}\n    spec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}`),
      "kind: CronJob\nmetadata: {name: w-cronjob, namespace: apps}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        metadata: {labels: {kind: cronjob}}\n        spec: {containers: [{name: c}]}",
    ].join("\n---\n");
    const { snapshot, errors } = load(text);
    expect(errors).toEqual([]);
    expect(snapshot.pods.map((p) => [p.workload?.kind, p.name, p.labels["kind"], p.ips.length])).toEqual([
      ["deployment", "w-deployment", "deployment", 0],
      ["statefulset", "w-statefulset", "statefulset", 0],
      ["daemonset", "w-daemonset", "daemonset", 0],
      ["replicaset", "w-replicaset", "replicaset", 0],
      ["job", "w-job", "job", 0],
      ["cronjob", "w-cronjob", "cronjob", 0],
    ]);
  });

  it("gives every namespace its name label, declared or only referenced", () => {
    const { snapshot } = load(`
kind: Namespace
metadata: {name: shop, labels: {team: shop, kubernetes.io/metadata.name: wrong}}
---
kind: Pod
metadata: {name: p, namespace: other}
`);
    const byName = Object.fromEntries(snapshot.namespaces.map((ns) => [ns.name, ns.labels]));
    expect(byName["shop"]).toEqual({ team: "shop", "kubernetes.io/metadata.name": "shop" });
    expect(byName["other"]).toEqual({ "kubernetes.io/metadata.name": "other" });
  });

  it("defaults the namespace to default, reads Services, skips other kinds with a note", () => {
    const { snapshot, skipped, errors } = load(`
kind: Service
metadata: {name: api}
spec:
  clusterIP: 10.96.0.10
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: http}, {port: 53, protocol: UDP}]
---
kind: ConfigMap
metadata: {name: settings}
`);
    expect(errors).toEqual([]);
    expect(snapshot.services).toEqual([
      {
        namespace: "default",
        name: "api",
        clusterIps: [expect.objectContaining({ text: "10.96.0.10" })],
        selector: { app: "api" },
        ports: [
          { name: "http", port: 80, protocol: "TCP", targetPort: "http" },
          { port: 53, protocol: "UDP", targetPort: 53 },
        ],
      },
    ]);
    expect(skipped).toEqual(["m.yaml:9: ConfigMap settings skipped (not used by the policy engine)"]);
  });

  it("reports a duplicate object with both places", () => {
    const { errors } = load("kind: Pod\nmetadata: {name: a, namespace: x}\n---\nkind: Pod\nmetadata: {name: a, namespace: x}\n");
    expect(errors.map(formatInputError)).toEqual(["m.yaml:5:12: metadata.name: Pod x/a is defined twice (also at m.yaml:1)"]);
  });

  it("locates errors inside a List item", () => {
    const { errors } = load(`
kind: List
items:
  - kind: Pod
    metadata: {name: ok}
  - kind: Pod
    metadata: {name: bad, labels: {probe: true}}
`);
    expect(errors.map(formatInputError)).toEqual([
      'm.yaml:7:36: items[1].metadata.labels.probe: label values must be strings, got boolean true (YAML reads true, yes, on, 0755 and the like as booleans and numbers: quote the value)',
    ]);
  });

  it("requires kind and reports non-objects", () => {
    const { errors } = load("metadata: {name: a}\n---\n- 1\n- 2\n");
    expect(errors.map(formatInputError)).toEqual([
      "m.yaml:1:1: kind: is required (a Kubernetes object needs kind)",
      "m.yaml:3:1: expected a Kubernetes object, got a list",
    ]);
  });
});

describe("policies the engine does not evaluate", () => {
  it("tells a Kubernetes NetworkPolicy from Calico's, which shares its kind, by the API group", () => {
    expect(isUnevaluatedPolicy("networking.k8s.io/v1", "NetworkPolicy")).toBe(false);
    expect(isUnevaluatedPolicy("extensions/v1beta1", "NetworkPolicy")).toBe(false);
    expect(isUnevaluatedPolicy(undefined, "NetworkPolicy")).toBe(false);
    expect(isUnevaluatedPolicy("projectcalico.org/v3", "NetworkPolicy")).toBe(true);
    expect(isUnevaluatedPolicy("crd.projectcalico.org/v1", "NetworkPolicy")).toBe(true);
    expect(isUnevaluatedPolicy("crd.antrea.io/v1beta1", "NetworkPolicy")).toBe(true);
    expect(isUnevaluatedPolicy("v1", "NetworkPolicy")).toBe(true);
  });

  it("evaluates AdminNetworkPolicy and BaselineAdminNetworkPolicy of policy.networking.k8s.io only", () => {
    expect(isUnevaluatedPolicy("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy")).toBe(false);
    expect(isUnevaluatedPolicy("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy")).toBe(false);
    expect(isUnevaluatedPolicy("example.com/v1", "AdminNetworkPolicy")).toBe(true);
    // The network-policy-api's successor kind is not evaluated yet.
    expect(isUnevaluatedPolicy("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")).toBe(true);
  });

  it("flags every other group's policy kinds and leaves other objects alone", () => {
    for (const [apiVersion, kind] of [
      ["cilium.io/v2", "CiliumNetworkPolicy"],
      ["cilium.io/v2", "CiliumClusterwideNetworkPolicy"],
      ["projectcalico.org/v3", "GlobalNetworkPolicy"],
      ["projectcalico.org/v3", "StagedNetworkPolicy"],
      ["projectcalico.org/v3", "StagedGlobalNetworkPolicy"],
      ["projectcalico.org/v3", "StagedKubernetesNetworkPolicy"],
      ["crd.antrea.io/v1beta1", "ClusterNetworkPolicy"],
      ["network.openshift.io/v1", "EgressNetworkPolicy"],
      ["k8s.ovn.org/v1", "EgressFirewall"],
      ["security.istio.io/v1", "AuthorizationPolicy"],
    ] as const) {
      expect(isUnevaluatedPolicy(apiVersion, kind), `${apiVersion} ${kind}`).toBe(true);
    }
    for (const kind of ["ConfigMap", "Ingress", "PodDisruptionBudget", "Deployment"]) expect(isUnevaluatedPolicy("v1", kind), kind).toBe(false);
  });

  it("keeps them out of the snapshot and names each with its line, without a duplicate-name error", () => {
    const { snapshot, unevaluated, errors } = load(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec: {podSelector: {}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec: {selector: all()}
`);
    expect(errors).toEqual([]);
    expect(snapshot.policies.map((p) => `${p.namespace}/${p.name}`)).toEqual(["shop/db"]);
    expect(unevaluated).toEqual([{ file: "m.yaml", line: 7, apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", name: "shop/db" }]);
  });
});
