// What one agent asks the API server for (DESIGN.md section 11): its own node's pods, and for
// the configured targets only, each Service by name, its EndpointSlices by the service-name
// label, the pods behind it by the Service's own selector, and the pods of `pods:` targets by
// namespace and selector. Namespaces (metadata only) and the policy kinds are cluster-wide and
// not part of the scope. Pure: config and identity in, watch specifications out; the same
// specification renders the API query and decides, on slim objects, what that query selects.

import type { EndpointSliceInfo, PodInfo, ServiceInfo } from "./snapshot.js";
import { type AgentConfig, edgeSpecOf } from "../config/model.js";
import type { LabelSelector } from "../policy/model.js";
import { compileSelector } from "../policy/selectors.js";

/** The label the EndpointSlice controller sets on each slice: the Service's name. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** What the configuration targets in the cluster (beside the agent's own node). */
export interface TargetScope {
  /** Services named by `service` targets. */
  readonly services: readonly { readonly namespace: string; readonly name: string }[];
  /** Pods picked by `pods` targets. */
  readonly pods: readonly { readonly namespace: string; readonly selector: LabelSelector }[];
}

export type ScopedResource = "pods" | "services" | "endpointslices";

/** One list+watch: a resource, in one namespace or all, narrowed by label and field selectors. */
export interface WatchSpec {
  readonly resource: ScopedResource;
  /** undefined: every namespace (only the node's pods are watched so). */
  readonly namespace?: string;
  readonly labelSelector?: LabelSelector;
  /** field=value requirements, ANDed (spec.nodeName, metadata.name). */
  readonly fields?: Readonly<Record<string, string>>;
  /** For logs and readiness: "pods on node node-a", "Service shop/web", ... */
  readonly purpose: string;
}

/** The targets of a configuration, deduplicated. */
export function targetScopeOf(config: AgentConfig): TargetScope {
  const services = new Map<string, { namespace: string; name: string }>();
  const pods = new Map<string, { namespace: string; selector: LabelSelector }>();
  for (const probe of config.probes) {
    const target = edgeSpecOf(probe.target).address;
    if (target.kind === "service") services.set(`${target.namespace}/${target.name}`, { namespace: target.namespace, name: target.name });
    if (target.kind === "pods") pods.set(`${target.namespace}|${renderLabelSelector(target.selector)}`, { namespace: target.namespace, selector: target.selector });
  }
  return { services: [...services.values()], pods: [...pods.values()] };
}

export function nodePodsSpec(node: string): WatchSpec {
  return { resource: "pods", fields: { "spec.nodeName": node }, purpose: `pods on node ${node}` };
}

/** The watches the targets need, before anything is known of the Services' selectors. */
export function targetSpecs(scope: TargetScope): WatchSpec[] {
  const specs: WatchSpec[] = [];
  for (const { namespace, name } of scope.services) {
    specs.push({ resource: "services", namespace, fields: { "metadata.name": name }, purpose: `Service ${namespace}/${name}` });
    specs.push({ resource: "endpointslices", namespace, labelSelector: { matchLabels: { [SERVICE_NAME_LABEL]: name }, matchExpressions: [] }, purpose: `EndpointSlices of Service ${namespace}/${name}` });
  }
  for (const { namespace, selector } of scope.pods) {
    specs.push({ resource: "pods", namespace, labelSelector: selector, purpose: `pods ${namespace}/${renderLabelSelector(selector) || "(all)"}` });
  }
  return specs;
}

/**
 * The pods behind a Service: those its selector picks in its namespace, as the engine judges
 * a Service address against them (policy/services.ts). None for a Service without a selector.
 */
export function backendSpec(service: ServiceInfo): WatchSpec | undefined {
  if (service.selector === undefined || Object.keys(service.selector).length === 0) return undefined;
  return {
    resource: "pods",
    namespace: service.namespace,
    labelSelector: { matchLabels: service.selector, matchExpressions: [] },
    purpose: `pods behind Service ${service.namespace}/${service.name}`,
  };
}

/** Identical requests are one watch: the key leaves out the purpose. */
export function specKey(spec: WatchSpec): string {
  return [spec.resource, spec.namespace ?? "", spec.labelSelector ? renderLabelSelector(spec.labelSelector) : "", spec.fields ? renderFieldSelector(spec.fields) : ""].join("|");
}

/** The specs without duplicates (the first purpose is kept). */
export function uniqueSpecs(specs: readonly WatchSpec[]): Map<string, WatchSpec> {
  const unique = new Map<string, WatchSpec>();
  for (const spec of specs) if (!unique.has(specKey(spec))) unique.set(specKey(spec), spec);
  return unique;
}

const RESOURCE_PATHS: Readonly<Record<ScopedResource, { readonly prefix: string; readonly plural: string }>> = {
  pods: { prefix: "/api/v1", plural: "pods" },
  services: { prefix: "/api/v1", plural: "services" },
  endpointslices: { prefix: "/apis/discovery.k8s.io/v1", plural: "endpointslices" },
};

/** The request: path and selector query parameters. */
export function specRequest(spec: WatchSpec): { readonly path: string; readonly labelSelector?: string; readonly fieldSelector?: string } {
  const { prefix, plural } = RESOURCE_PATHS[spec.resource];
  const path = spec.namespace === undefined ? `${prefix}/${plural}` : `${prefix}/namespaces/${encodeURIComponent(spec.namespace)}/${plural}`;
  const labelSelector = spec.labelSelector ? renderLabelSelector(spec.labelSelector) : "";
  const fieldSelector = spec.fields ? renderFieldSelector(spec.fields) : "";
  return { path, ...(labelSelector !== "" ? { labelSelector } : {}), ...(fieldSelector !== "" ? { fieldSelector } : {}) };
}

/**
 * A label selector in the API's query syntax, canonical (sorted) so that equal selectors are
 * equal text: "app=web,tier in (a,b),tier2 notin (c),present,!absent". The empty selector is
 * "" (everything).
 */
export function renderLabelSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`);
  const expressions = selector.matchExpressions.map(({ key, operator, values }) => {
    // The empty value is written as nothing between commas: "(,a)"; alone, "(,)" ("()" is no set).
    const joined = [...new Set(values)].sort().join(",");
    const set = joined === "" ? "," : joined;
    switch (operator) {
      case "In":
        return `${key} in (${set})`;
      case "NotIn":
        return `${key} notin (${set})`;
      case "Exists":
        return key;
      case "DoesNotExist":
        return `!${key}`;
    }
  });
  return [...parts, ...[...new Set(expressions)].sort()].join(",");
}

/** Field selector values escape backslash, comma and equals sign (fields.EscapeValue). */
function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (ch) => `\\${ch}`);
}

export function renderFieldSelector(fields: Readonly<Record<string, string>>): string {
  return Object.entries(fields)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([field, value]) => `${field}=${escapeFieldValue(value)}`)
    .join(",");
}

/** What the API server selects for a spec, decided on a slim pod (its node, namespace and labels). */
export function podMatcher(spec: WatchSpec): (pod: PodInfo) => boolean {
  if (spec.resource !== "pods") return () => false;
  const labels = spec.labelSelector ? compileSelector(spec.labelSelector) : () => true;
  const fields = Object.entries(spec.fields ?? {});
  return (pod) => {
    if (pod.workload) return false;
    if (spec.namespace !== undefined && pod.namespace !== spec.namespace) return false;
    for (const [field, value] of fields) {
      if (field === "spec.nodeName" && (pod.node ?? "") !== value) return false;
      if (field === "metadata.name" && pod.name !== value) return false;
    }
    return labels(pod.labels);
  };
}

export function specSelectsService(spec: WatchSpec, service: ServiceInfo): boolean {
  if (spec.resource !== "services") return false;
  if (spec.namespace !== undefined && service.namespace !== spec.namespace) return false;
  const name = spec.fields?.["metadata.name"];
  return name === undefined || service.name === name;
}

export function specSelectsSlice(spec: WatchSpec, slice: EndpointSliceInfo): boolean {
  if (spec.resource !== "endpointslices") return false;
  if (spec.namespace !== undefined && slice.namespace !== spec.namespace) return false;
  return spec.labelSelector === undefined || compileSelector(spec.labelSelector)({ [SERVICE_NAME_LABEL]: slice.service });
}
