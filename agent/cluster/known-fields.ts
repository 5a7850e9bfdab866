// The fields the API server knows, for the objects the engine reads from manifests. kubectl
// asks for strict field validation by default: a misspelt field (`podSelecter:` in a peer,
// `ingres:` in a spec) is refused by the API server, while ignoring it here would judge a
// policy that can never exist, with another verdict. So an unknown field is refused too.
//
// The lists are those of the Kubernetes OpenAPI schemas the kubernetes-models devDependency
// was generated from (test/cluster/known-fields.test.ts holds them equal, so a dependency
// update that brings new fields fails that test until they are added here). Each object is checked
// wherever the engine reads it, and as a whole for NetworkPolicy, AdminNetworkPolicy,
// BaselineAdminNetworkPolicy and Namespace; nested structures the engine never reads
// (volumes, probes, affinity...) are not walked.
//
// Manifests only: an object from the live API was validated by its server, and may carry
// fields of a later Kubernetes release that these lists do not know yet.

import { isObject } from "../documents/fields.js";
import type { FieldPath } from "../documents/located.js";

/** Known fields and the shape of each value; a one-item list: a list of that shape; null: not checked. */
export type Shape = null | { readonly [field: string]: Shape } | readonly [Shape];

function fields(names: string, shapes: { readonly [field: string]: Shape } = {}): { readonly [field: string]: Shape } {
  const shape: Record<string, Shape> = {};
  for (const name of names.split(/\s+/).filter((n) => n !== "")) shape[name] = shapes[name] ?? null;
  for (const name of Object.keys(shapes)) if (!(name in shape)) throw new Error(`known-fields: ${name} has a shape but is not listed`);
  return shape;
}

export const OBJECT_META = fields(
  "annotations creationTimestamp deletionGracePeriodSeconds deletionTimestamp finalizers generateName generation labels managedFields name namespace ownerReferences resourceVersion selfLink uid",
  {
    ownerReferences: [fields("apiVersion blockOwnerDeletion controller kind name uid")],
    managedFields: [fields("apiVersion fieldsType fieldsV1 manager operation subresource time")],
  },
);
export const LIST_META = fields("continue remainingItemCount resourceVersion selfLink shardInfo");
export const LABEL_SELECTOR = fields("matchExpressions matchLabels", { matchExpressions: [fields("key operator values")] });

const NETWORK_POLICY_PEER = fields("ipBlock namespaceSelector podSelector", {
  ipBlock: fields("cidr except"),
  namespaceSelector: LABEL_SELECTOR,
  podSelector: LABEL_SELECTOR,
});
const NETWORK_POLICY_PORT = fields("endPort port protocol");
export const NETWORK_POLICY_SPEC = fields("egress ingress podSelector policyTypes", {
  ingress: [fields("from ports", { from: [NETWORK_POLICY_PEER], ports: [NETWORK_POLICY_PORT] })],
  egress: [fields("ports to", { to: [NETWORK_POLICY_PEER], ports: [NETWORK_POLICY_PORT] })],
  podSelector: LABEL_SELECTOR,
});

export const CONTAINER = fields(
  "args command env envFrom image imagePullPolicy lifecycle livenessProbe name ports readinessProbe resizePolicy resources restartPolicy restartPolicyRules securityContext startupProbe stdin stdinOnce terminationMessagePath terminationMessagePolicy tty volumeDevices volumeMounts workingDir",
  { ports: [fields("containerPort hostIP hostPort name protocol")] },
);
export const POD_SPEC = fields(
  "activeDeadlineSeconds affinity automountServiceAccountToken containers dnsConfig dnsPolicy enableServiceLinks ephemeralContainers hostAliases hostIPC hostNetwork hostPID hostUsers hostname hostnameOverride imagePullSecrets initContainers nodeName nodeSelector os overhead preemptionPolicy priority priorityClassName readinessGates resourceClaims resources restartPolicy runtimeClassName schedulerName schedulingGates schedulingGroup securityContext serviceAccount serviceAccountName setHostnameAsFQDN shareProcessNamespace subdomain terminationGracePeriodSeconds tolerations topologySpreadConstraints volumes",
  { containers: [CONTAINER], initContainers: [CONTAINER] },
);
export const POD_STATUS = fields(
  "allocatedResources conditions containerStatuses ephemeralContainerStatuses extendedResourceClaimStatus hostIP hostIPs initContainerStatuses message nodeAllocatableResourceClaimStatuses nominatedNodeName observedGeneration phase podIP podIPs qosClass reason resize resourceClaimStatuses resources startTime",
  { podIPs: [fields("ip")], hostIPs: [fields("ip")] },
);
export const POD_TEMPLATE = fields("metadata spec", { metadata: OBJECT_META, spec: POD_SPEC });
export const SERVICE_SPEC = fields(
  "allocateLoadBalancerNodePorts clusterIP clusterIPs externalIPs externalName externalTrafficPolicy healthCheckNodePort internalTrafficPolicy ipFamilies ipFamilyPolicy loadBalancerClass loadBalancerIP loadBalancerSourceRanges ports publishNotReadyAddresses selector sessionAffinity sessionAffinityConfig trafficDistribution type",
  { ports: [fields("appProtocol name nodePort port protocol targetPort")] },
);
export const NAMESPACE_SPEC = fields("finalizers");
export const NAMESPACE_STATUS = fields("conditions phase", { conditions: [fields("lastTransitionTime message reason status type")] });

export const DEPLOYMENT_SPEC = fields("minReadySeconds paused progressDeadlineSeconds replicas revisionHistoryLimit selector strategy template", {
  selector: LABEL_SELECTOR,
  template: POD_TEMPLATE,
});
export const STATEFUL_SET_SPEC = fields(
  "minReadySeconds ordinals persistentVolumeClaimRetentionPolicy podManagementPolicy replicas revisionHistoryLimit selector serviceName template updateStrategy volumeClaimTemplates",
  { selector: LABEL_SELECTOR, template: POD_TEMPLATE },
);
export const DAEMON_SET_SPEC = fields("minReadySeconds revisionHistoryLimit selector template updateStrategy", { selector: LABEL_SELECTOR, template: POD_TEMPLATE });
export const REPLICA_SET_SPEC = fields("minReadySeconds replicas selector template", { selector: LABEL_SELECTOR, template: POD_TEMPLATE });
/** A ReplicationController's selector is a plain map of labels. */
export const REPLICATION_CONTROLLER_SPEC = fields("minReadySeconds replicas selector template", { template: POD_TEMPLATE });
export const JOB_SPEC = fields(
  "activeDeadlineSeconds backoffLimit backoffLimitPerIndex completionMode completions managedBy manualSelector maxFailedIndexes parallelism podFailurePolicy podReplacementPolicy selector successPolicy suspend template ttlSecondsAfterFinished",
  { selector: LABEL_SELECTOR, template: POD_TEMPLATE },
);
export const CRON_JOB_SPEC = fields("concurrencyPolicy failedJobsHistoryLimit jobTemplate schedule startingDeadlineSeconds successfulJobsHistoryLimit suspend timeZone", {
  jobTemplate: fields("metadata spec", { metadata: OBJECT_META, spec: JOB_SPEC }),
});

const INGRESS_BACKEND = fields("resource service", { service: fields("name port", { port: fields("name number") }) });
export const INGRESS_SPEC = fields("defaultBackend ingressClassName rules tls", {
  defaultBackend: INGRESS_BACKEND,
  rules: [fields("host http", { http: fields("paths", { paths: [fields("backend path pathType", { backend: INGRESS_BACKEND })] }) })],
  tls: [fields("hosts secretName")],
});

// Gateway API (gateway.networking.k8s.io, a CRD set, not in Kubernetes' schemas): the route
// fields of its v1.3 release, standard and experimental channels. Only what the inbound check
// reads is walked (parent and backend references); a Gateway's spec is not checked, as its
// listeners grow with every release.
export const PARENT_REFERENCE = fields("group kind name namespace port sectionName");
export const BACKEND_REF = fields("group kind name namespace port weight");
const HTTP_BACKEND_REF = fields("filters group kind name namespace port weight");
export const ROUTE_SPECS = {
  HTTPRoute: fields("hostnames parentRefs rules", {
    parentRefs: [PARENT_REFERENCE],
    rules: [fields("backendRefs filters matches name retry sessionPersistence timeouts", { backendRefs: [HTTP_BACKEND_REF] })],
  }),
  GRPCRoute: fields("hostnames parentRefs rules", {
    parentRefs: [PARENT_REFERENCE],
    rules: [fields("backendRefs filters matches name sessionPersistence", { backendRefs: [HTTP_BACKEND_REF] })],
  }),
  TLSRoute: fields("hostnames parentRefs rules", { parentRefs: [PARENT_REFERENCE], rules: [fields("backendRefs name", { backendRefs: [BACKEND_REF] })] }),
  TCPRoute: fields("parentRefs rules", { parentRefs: [PARENT_REFERENCE], rules: [fields("backendRefs name", { backendRefs: [BACKEND_REF] })] }),
  UDPRoute: fields("parentRefs rules", { parentRefs: [PARENT_REFERENCE], rules: [fields("backendRefs name", { backendRefs: [BACKEND_REF] })] }),
} as const;

/** An object with apiVersion, kind, metadata, spec and status. */
function object(spec: Shape, status: Shape = null): Shape {
  return fields("apiVersion kind metadata spec status", { metadata: OBJECT_META, spec, status });
}

/**
 * Per kind, the shape of the whole object. An AdminNetworkPolicy's spec (a CRD's, not in
 * Kubernetes' schemas) is checked field by field by its normaliser (policy/admin-normalize.ts).
 */
export const OBJECT_SHAPES: Readonly<Record<string, Shape>> = {
  NetworkPolicy: fields("apiVersion kind metadata spec", { metadata: OBJECT_META, spec: NETWORK_POLICY_SPEC }),
  AdminNetworkPolicy: object(null),
  BaselineAdminNetworkPolicy: object(null),
  Namespace: object(NAMESPACE_SPEC, NAMESPACE_STATUS),
  Pod: object(POD_SPEC, POD_STATUS),
  Service: object(SERVICE_SPEC),
  Deployment: object(DEPLOYMENT_SPEC),
  StatefulSet: object(STATEFUL_SET_SPEC),
  DaemonSet: object(DAEMON_SET_SPEC),
  ReplicaSet: object(REPLICA_SET_SPEC),
  ReplicationController: object(REPLICATION_CONTROLLER_SPEC),
  Job: object(JOB_SPEC),
  CronJob: object(CRON_JOB_SPEC),
  Ingress: object(INGRESS_SPEC, fields("loadBalancer")),
  Gateway: object(null),
  HTTPRoute: object(ROUTE_SPECS.HTTPRoute),
  GRPCRoute: object(ROUTE_SPECS.GRPCRoute),
  TLSRoute: object(ROUTE_SPECS.TLSRoute),
  TCPRoute: object(ROUTE_SPECS.TCPRoute),
  UDPRoute: object(ROUTE_SPECS.UDPRoute),
};

/** kind: List and typed lists (PodList...): their items are checked one by one, as objects. */
export const LIST_SHAPE: Shape = fields("apiVersion items kind metadata", { metadata: LIST_META });

/** Edits (insertions, deletions, substitutions) from a to b, up to a bound. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? Number.MAX_SAFE_INTEGER;
}

function suggestion(field: string, known: readonly string[]): string {
  const lower = field.toLowerCase();
  const close = known.filter((name) => name.toLowerCase() === lower || (field.length >= 4 && distance(lower, name.toLowerCase()) <= 2));
  return close.length === 1 ? `; did you mean "${close[0]}"?` : "";
}

export interface UnknownField {
  readonly path: FieldPath;
  readonly message: string;
}

/** Every field of value that its shape does not know, with its path. Pure. */
export function unknownFields(value: unknown, shape: Shape, path: FieldPath = []): UnknownField[] {
  if (shape === null) return [];
  if (Array.isArray(shape)) {
    const item = (shape as readonly [Shape])[0];
    return Array.isArray(value) ? value.flatMap((entry, i) => unknownFields(entry, item, [...path, i])) : [];
  }
  if (!isObject(value)) return [];
  const known = shape as { readonly [field: string]: Shape };
  const names = Object.keys(known);
  return Object.keys(value).flatMap((field) =>
    Object.hasOwn(known, field)
      ? unknownFields(value[field], known[field] ?? null, [...path, field])
      : [{ path: [...path, field], message: `unknown field (the API server refuses it)${suggestion(field, names)}` }],
  );
}
