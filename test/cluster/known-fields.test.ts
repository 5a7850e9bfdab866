// Unknown fields in manifests: refused as the API server's strict field validation refuses
// them. The field lists are held equal to Kubernetes' own schemas (kubernetes-models, a
// devDependency the product does not load), so they cannot drift unnoticed.
import { describe, expect, it } from "vitest";
import {
  CONTAINER,
  CRON_JOB_SPEC,
  DAEMON_SET_SPEC,
  DEPLOYMENT_SPEC,
  INGRESS_SPEC,
  JOB_SPEC,
  LABEL_SELECTOR,
  LIST_META,
  LIST_SHAPE,
  NAMESPACE_SPEC,
  NAMESPACE_STATUS,
  NETWORK_POLICY_SPEC,
  OBJECT_META,
  OBJECT_SHAPES,
  POD_SPEC,
  POD_STATUS,
  POD_TEMPLATE,
  REPLICA_SET_SPEC,
  REPLICATION_CONTROLLER_SPEC,
  SERVICE_SPEC,
  type Shape,
  STATEFUL_SET_SPEC,
  unknownFields,
} from "../../agent/cluster/known-fields.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { readPod } from "../../agent/cluster/objects.js";
import { IssueList } from "../../agent/documents/fields.js";
import { formatInputError, parseDocuments } from "../../agent/documents/located.js";
import { upstreamFields } from "../support/kubernetes-models.js";

const META = "@kubernetes-models/apimachinery/apis/meta/v1";
const CORE = "kubernetes-models/v1";
const NET = "kubernetes-models/networking.k8s.io/v1";
const APPS = "kubernetes-models/apps/v1";
const BATCH = "kubernetes-models/batch/v1";

function names(shape: Shape): string[] {
  if (shape === null || Array.isArray(shape)) throw new Error("not an object shape");
  return Object.keys(shape).sort();
}
function at(shape: Shape, ...path: string[]): Shape {
  let node = shape;
  for (const key of path) {
    if (node === null) throw new Error(`no shape at ${path.join(".")}`);
    node = Array.isArray(node) ? (node as readonly [Shape])[0] : (node as Record<string, Shape>)[key] ?? null;
    if (Array.isArray(node)) node = (node as readonly [Shape])[0];
  }
  return node;
}

describe("the field lists equal Kubernetes' schemas", () => {
  it.each([
    ["ObjectMeta", OBJECT_META, `${META}/ObjectMeta`],
    ["OwnerReference", at(OBJECT_META, "ownerReferences"), `${META}/OwnerReference`],
    ["ManagedFieldsEntry", at(OBJECT_META, "managedFields"), `${META}/ManagedFieldsEntry`],
    ["ListMeta", LIST_META, `${META}/ListMeta`],
    ["LabelSelector", LABEL_SELECTOR, `${META}/LabelSelector`],
    ["LabelSelectorRequirement", at(LABEL_SELECTOR, "matchExpressions"), `${META}/LabelSelectorRequirement`],
    ["NetworkPolicy", OBJECT_SHAPES["NetworkPolicy"] ?? null, `${NET}/NetworkPolicy`],
    ["NetworkPolicySpec", NETWORK_POLICY_SPEC, `${NET}/NetworkPolicySpec`],
    ["NetworkPolicyIngressRule", at(NETWORK_POLICY_SPEC, "ingress"), `${NET}/NetworkPolicyIngressRule`],
    ["NetworkPolicyEgressRule", at(NETWORK_POLICY_SPEC, "egress"), `${NET}/NetworkPolicyEgressRule`],
    ["NetworkPolicyPeer (from)", at(NETWORK_POLICY_SPEC, "ingress", "from"), `${NET}/NetworkPolicyPeer`],
    ["NetworkPolicyPeer (to)", at(NETWORK_POLICY_SPEC, "egress", "to"), `${NET}/NetworkPolicyPeer`],
    ["IPBlock", at(NETWORK_POLICY_SPEC, "ingress", "from", "ipBlock"), `${NET}/IPBlock`],
    ["NetworkPolicyPort", at(NETWORK_POLICY_SPEC, "ingress", "ports"), `${NET}/NetworkPolicyPort`],
    ["Namespace", OBJECT_SHAPES["Namespace"] ?? null, `${CORE}/Namespace`],
    ["NamespaceSpec", NAMESPACE_SPEC, `${CORE}/NamespaceSpec`],
    ["NamespaceStatus", NAMESPACE_STATUS, `${CORE}/NamespaceStatus`],
    ["NamespaceCondition", at(NAMESPACE_STATUS, "conditions"), `${CORE}/NamespaceCondition`],
    ["Pod", OBJECT_SHAPES["Pod"] ?? null, `${CORE}/Pod`],
    ["PodSpec", POD_SPEC, `${CORE}/PodSpec`],
    ["Container", CONTAINER, `${CORE}/Container`],
    ["Container (init)", at(POD_SPEC, "initContainers"), `${CORE}/Container`],
    ["ContainerPort", at(CONTAINER, "ports"), `${CORE}/ContainerPort`],
    ["PodStatus", POD_STATUS, `${CORE}/PodStatus`],
    ["PodIP", at(POD_STATUS, "podIPs"), `${CORE}/PodIP`],
    ["HostIP", at(POD_STATUS, "hostIPs"), `${CORE}/HostIP`],
    ["PodTemplateSpec", POD_TEMPLATE, `${CORE}/PodTemplateSpec`],
    ["Service", OBJECT_SHAPES["Service"] ?? null, `${CORE}/Service`],
    ["ServiceSpec", SERVICE_SPEC, `${CORE}/ServiceSpec`],
    ["ServicePort", at(SERVICE_SPEC, "ports"), `${CORE}/ServicePort`],
    ["ReplicationController", OBJECT_SHAPES["ReplicationController"] ?? null, `${CORE}/ReplicationController`],
    ["ReplicationControllerSpec", REPLICATION_CONTROLLER_SPEC, `${CORE}/ReplicationControllerSpec`],
    ["Deployment", OBJECT_SHAPES["Deployment"] ?? null, `${APPS}/Deployment`],
    ["DeploymentSpec", DEPLOYMENT_SPEC, `${APPS}/DeploymentSpec`],
    ["StatefulSet", OBJECT_SHAPES["StatefulSet"] ?? null, `${APPS}/StatefulSet`],
    ["StatefulSetSpec", STATEFUL_SET_SPEC, `${APPS}/StatefulSetSpec`],
    ["DaemonSet", OBJECT_SHAPES["DaemonSet"] ?? null, `${APPS}/DaemonSet`],
    ["DaemonSetSpec", DAEMON_SET_SPEC, `${APPS}/DaemonSetSpec`],
    ["ReplicaSet", OBJECT_SHAPES["ReplicaSet"] ?? null, `${APPS}/ReplicaSet`],
    ["ReplicaSetSpec", REPLICA_SET_SPEC, `${APPS}/ReplicaSetSpec`],
    ["Job", OBJECT_SHAPES["Job"] ?? null, `${BATCH}/Job`],
    ["JobSpec", JOB_SPEC, `${BATCH}/JobSpec`],
    ["CronJob", OBJECT_SHAPES["CronJob"] ?? null, `${BATCH}/CronJob`],
    ["CronJobSpec", CRON_JOB_SPEC, `${BATCH}/CronJobSpec`],
    ["JobTemplateSpec", at(CRON_JOB_SPEC, "jobTemplate"), `${BATCH}/JobTemplateSpec`],
    ["List", LIST_SHAPE, `${CORE}/PodList`],
    ["Ingress", OBJECT_SHAPES["Ingress"] ?? null, `${NET}/Ingress`],
    ["IngressSpec", INGRESS_SPEC, `${NET}/IngressSpec`],
    ["IngressBackend (default)", at(INGRESS_SPEC, "defaultBackend"), `${NET}/IngressBackend`],
    ["IngressServiceBackend", at(INGRESS_SPEC, "defaultBackend", "service"), `${NET}/IngressServiceBackend`],
    ["ServiceBackendPort", at(INGRESS_SPEC, "defaultBackend", "service", "port"), `${NET}/ServiceBackendPort`],
    ["IngressRule", at(INGRESS_SPEC, "rules"), `${NET}/IngressRule`],
    ["HTTPIngressRuleValue", at(INGRESS_SPEC, "rules", "http"), `${NET}/HTTPIngressRuleValue`],
    ["HTTPIngressPath", at(INGRESS_SPEC, "rules", "http", "paths"), `${NET}/HTTPIngressPath`],
    ["IngressBackend (path)", at(INGRESS_SPEC, "rules", "http", "paths", "backend"), `${NET}/IngressBackend`],
    ["IngressTLS", at(INGRESS_SPEC, "tls"), `${NET}/IngressTLS`],
  ])("%s", (_name, shape, module) => {
    expect(names(shape)).toEqual(upstreamFields(module));
  });

  it("every template and selector the engine reads has its full shape, not an unchecked hole", () => {
    for (const spec of [DEPLOYMENT_SPEC, STATEFUL_SET_SPEC, DAEMON_SET_SPEC, REPLICA_SET_SPEC, REPLICATION_CONTROLLER_SPEC, JOB_SPEC]) {
      expect(at(spec, "template")).toBe(POD_TEMPLATE);
    }
    expect(at(CRON_JOB_SPEC, "jobTemplate", "spec")).toBe(JOB_SPEC);
    expect(at(OBJECT_SHAPES["Pod"] ?? null, "metadata")).toBe(OBJECT_META);
    expect(at(OBJECT_SHAPES["Pod"] ?? null, "spec")).toBe(POD_SPEC);
  });
});

function errors(text: string): string[] {
  const parsed = parseDocuments(text, "m.yaml");
  expect(parsed.errors).toEqual([]);
  return snapshotFromDocuments(parsed.documents).errors.map(formatInputError);
}

describe("unknown fields in manifests", () => {
  it("a misspelt podSelector in a peer, which would have widened the peer to whole namespaces, is refused with a suggestion", () => {
    expect(
      errors(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: a}}
          podSelecter: {matchLabels: {app: web}}
`),
    ).toEqual(['m.yaml:9:11: spec.ingress[0].from[0].podSelecter: unknown field (the API server refuses it); did you mean "podSelector"?']);
  });

  it("at every level the engine reads, in each kind, once per field", () => {
    expect(
      errors(`apiVersion: v1
kind: List
metdata: {}
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-0, namespace: shop, lables: {app: web}}
    spec:
      containers: [{name: web, ports: [{containerport: 80}]}]
      hostnetwork: true
    status: {podIPs: [{ip: 10.0.0.1, family: IPv4}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {selectr: {app: web}, ports: [{port: 80, target: 8080}]}
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: api, namespace: shop}
    spec:
      template:
        metadata: {labels: {app: api}}
        spec: {containers: [{name: api, prots: []}]}
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: np, namespace: shop}
    spec:
      podSelector: {matchExpressions: [{key: app, operater: In, values: [web]}]}
      ingres: []
  - apiVersion: v1
    kind: Namespace
    metadata: {name: shop}
    spec: {finalisers: []}
  - apiVersion: policy.networking.k8s.io/v1alpha1
    kind: AdminNetworkPolicy
    metadata: {name: anp}
    sepc: {}
`),
    ).toEqual([
      'm.yaml:3:1: metdata: unknown field (the API server refuses it); did you mean "metadata"?',
      'm.yaml:7:46: items[0].metadata.lables: unknown field (the API server refuses it); did you mean "labels"?',
      'm.yaml:9:41: items[0].spec.containers[0].ports[0].containerport: unknown field (the API server refuses it); did you mean "containerPort"?',
      'm.yaml:10:7: items[0].spec.hostnetwork: unknown field (the API server refuses it); did you mean "hostNetwork"?',
      "m.yaml:11:38: items[0].status.podIPs[0].family: unknown field (the API server refuses it)",
      "m.yaml:9:40: items[0].spec.containers[0].ports[0].containerPort: is required (1-65535)",
      'm.yaml:15:12: items[1].spec.selectr: unknown field (the API server refuses it); did you mean "selector"?',
      "m.yaml:15:52: items[1].spec.ports[0].target: unknown field (the API server refuses it)",
      'm.yaml:22:41: items[2].spec.template.spec.containers[0].prots: unknown field (the API server refuses it); did you mean "ports"?',
      'm.yaml:27:51: items[3].spec.podSelector.matchExpressions[0].operater: unknown field (the API server refuses it); did you mean "operator"?',
      'm.yaml:28:7: items[3].spec.ingres: unknown field (the API server refuses it); did you mean "ingress"?',
      "m.yaml:27:40: items[3].spec.podSelector.matchExpressions[0].operator: is required (one of In, NotIn, Exists, DoesNotExist)",
      'm.yaml:32:12: items[4].spec.finalisers: unknown field (the API server refuses it); did you mean "finalizers"?',
      'm.yaml:36:5: items[5].sepc: unknown field (the API server refuses it); did you mean "spec"?',
      "m.yaml:33:5: items[5].spec: is required",
    ]);
  });

  it("the parts the engine never reads are not walked, and kinds it skips are not checked", () => {
    expect(
      errors(`apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop}
spec:
  containers: [{name: web, livenessProbe: {httpGet: {path: /, port: 80}, someFutureProbeField: 1}}]
  affinity: {anythingAtAll: true}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: shop}
dta: {}
`),
    ).toEqual([]);
  });

  it("an object from the live API is not refused for a field of a later Kubernetes release", () => {
    const issues = new IssueList();
    const pod = readPod({ metadata: { name: "web-0", namespace: "shop", futureMeta: 1 }, spec: { containers: [{ name: "web", futureField: 1 }], futureSpec: {} }, status: { podIP: "10.0.0.1" } }, "shop", "web-0", issues);
    expect(issues.issues).toEqual([]);
    expect(pod.ips.map((ip) => ip.text)).toEqual(["10.0.0.1"]);
  });

  it("unknownFields walks lists and ignores values of another type (their readers report those)", () => {
    expect(unknownFields({ a: [{ b: 1, c: 2 }], d: "x" }, { a: [{ b: null }], d: { e: null } })).toEqual([{ path: ["a", 0, "c"], message: "unknown field (the API server refuses it)" }]);
  });
});
