// Reading the objects that decide how outside traffic reaches a pod: a Service's exposure
// fields, Ingress (networking.k8s.io/v1), Gateway and its routes (gateway.networking.k8s.io).
// Every problem is reported at its path, as for the policy objects; a backend or parent of
// another kind (a Service import, a custom backend) is left out, not an error.

import { describeType, eachObjectAt, IssueList, isObject, type Json, listAt, objectAt, stringAt } from "../documents/fields.js";
import type { FieldPath } from "../documents/located.js";
import { namespaceNameProblem, objectNameProblem } from "../objects/names.js";
import { portNumberProblem } from "../policy/normalize.js";
import {
  type AwsLoadBalancer,
  type ExternalTrafficPolicy,
  SERVICE_TYPES,
  type ServiceExposure,
  type ServiceType,
} from "../objects/model.js";
import { type BackendService, type GatewayInfo, type IngressInfo, type RouteInfo, type RouteKind } from "../objects/inbound.js";

/** AWS annotations (in-tree cloud provider and the AWS Load Balancer Controller). */
const AWS = {
  type: "service.beta.kubernetes.io/aws-load-balancer-type",
  targetType: "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
  attributes: "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes",
} as const;

function awsLoadBalancer(annotations: Json | undefined): AwsLoadBalancer | undefined {
  if (!annotations) return undefined;
  const type = annotations[AWS.type];
  const targetType = annotations[AWS.targetType];
  if (typeof type !== "string" && typeof targetType !== "string") return undefined;
  const targets = targetType === "ip" || type === "nlb-ip" ? "ip" : "instance";
  const attributes = typeof annotations[AWS.attributes] === "string" ? (annotations[AWS.attributes] as string) : "";
  const preserve = /(?:^|,)\s*preserve_client_ip\.enabled\s*=\s*(true|false)\s*(?:,|$)/.exec(attributes)?.[1];
  return { provider: "aws", targets, ...(preserve !== undefined ? { preserveClientIp: preserve === "true" } : {}) };
}

/**
 * A Service's exposure to traffic from outside, or undefined for one only the cluster can
 * address (ClusterIP without externalIPs, ExternalName). With `strict` (manifests), type,
 * externalTrafficPolicy and nodePort are validated as the API server does; without (objects
 * from the API, which its server validated and which may be of a later release), a value not
 * known here is taken at its default and reported nowhere.
 */
export function readServiceExposure(value: Json, reported: IssueList, strict = false): ServiceExposure | undefined {
  const issues = strict ? reported : new IssueList();
  const metadata = objectAt(value, "metadata", [], issues) ?? {};
  const spec = objectAt(value, "spec", [], issues) ?? {};
  const rawType = stringAt(spec, "type", ["spec"], issues);
  let type: ServiceType = "ClusterIP";
  const typeKnown = rawType === undefined || SERVICE_TYPES.includes(rawType as ServiceType);
  if (rawType !== undefined) {
    if (typeKnown) type = rawType as ServiceType;
    else issues.add(["spec", "type"], `must be one of ${SERVICE_TYPES.join(", ")}, got "${rawType}"`);
  }
  const rawPolicy = stringAt(spec, "externalTrafficPolicy", ["spec"], issues);
  let externalTrafficPolicy: ExternalTrafficPolicy = "Cluster";
  if (rawPolicy !== undefined && rawPolicy !== "") {
    if (rawPolicy === "Cluster" || rawPolicy === "Local") externalTrafficPolicy = rawPolicy;
    else issues.add(["spec", "externalTrafficPolicy"], `must be Cluster or Local, got "${rawPolicy}"`);
  }
  (listAt(spec, "ports", ["spec"], issues) ?? []).forEach((port, i) => {
    if (!isObject(port) || port["nodePort"] === undefined || port["nodePort"] === null) return;
    const nodePort = port["nodePort"];
    const problem = typeof nodePort === "number" ? portNumberProblem(nodePort) : `must be a port number, got ${describeType(nodePort)}`;
    if (problem) issues.add(["spec", "ports", i, "nodePort"], problem);
  });
  const externalIps = (listAt(spec, "externalIPs", ["spec"], issues) ?? []).length > 0;
  if (type !== "NodePort" && type !== "LoadBalancer" && !externalIps) {
    // As the API server: the field means nothing on a Service only the cluster addresses.
    if (typeKnown && rawPolicy !== undefined && rawPolicy !== "") issues.add(["spec", "externalTrafficPolicy"], "may only be set on NodePort and LoadBalancer Services and with externalIPs");
    return undefined;
  }
  const loadBalancer = type === "LoadBalancer" ? awsLoadBalancer(objectAt(metadata, "annotations", ["metadata"], issues)) : undefined;
  return { type, externalTrafficPolicy, externalIps, ...(loadBalancer ? { loadBalancer } : {}) };
}

function checkedName(value: string | undefined, path: FieldPath, issues: IssueList): string | undefined {
  if (value === undefined) return undefined;
  const problem = objectNameProblem("Service", value);
  if (problem) {
    issues.add(path, problem);
    return undefined;
  }
  return value;
}

/** An IngressBackend: the Service it names, if it names one (a resource backend is left out). */
function ingressBackend(backend: Json, path: FieldPath, namespace: string, issues: IssueList): BackendService | undefined {
  const service = objectAt(backend, "service", path, issues);
  if (!service) {
    if (backend["resource"] === undefined) issues.add([...path, "service"], "is required (or resource)");
    return undefined;
  }
  const name = checkedName(stringAt(service, "name", [...path, "service"], issues), [...path, "service", "name"], issues);
  if (service["name"] === undefined) issues.add([...path, "service", "name"], "is required");
  const port = objectAt(service, "port", [...path, "service"], issues);
  if (port) {
    const number = port["number"];
    if (number !== undefined && (typeof number !== "number" || portNumberProblem(number))) issues.add([...path, "service", "port", "number"], `must be a port number (1-65535), got ${describeType(number)}`);
    stringAt(port, "name", [...path, "service", "port"], issues);
  }
  return name === undefined ? undefined : { namespace, name };
}

export function readIngress(value: Json, namespace: string, name: string, issues: IssueList): IngressInfo {
  const spec = objectAt(value, "spec", [], issues) ?? {};
  const className = stringAt(spec, "ingressClassName", ["spec"], issues);
  const backends: BackendService[] = [];
  const hosts: string[] = [];
  const add = (backend: BackendService | undefined) => {
    if (backend && !backends.some((b) => b.name === backend.name)) backends.push(backend);
  };
  const defaultBackend = objectAt(spec, "defaultBackend", ["spec"], issues);
  if (defaultBackend) add(ingressBackend(defaultBackend, ["spec", "defaultBackend"], namespace, issues));
  eachObjectAt(spec, "rules", ["spec"], issues, (rule, at) => {
    const host = stringAt(rule, "host", at, issues);
    if (!hosts.includes(host ?? "*")) hosts.push(host ?? "*");
    const http = objectAt(rule, "http", at, issues);
    if (!http) return;
    eachObjectAt(http, "paths", [...at, "http"], issues, (entry, pathAt) => {
      const backend = objectAt(entry, "backend", pathAt, issues);
      if (!backend) return issues.add([...pathAt, "backend"], "is required");
      add(ingressBackend(backend, [...pathAt, "backend"], namespace, issues));
    });
  });
  return { namespace, name, ...(className !== undefined ? { className } : {}), hosts, backends };
}

export function readGateway(value: Json, namespace: string, name: string, issues: IssueList): GatewayInfo {
  const spec = objectAt(value, "spec", [], issues) ?? {};
  const className = stringAt(spec, "gatewayClassName", ["spec"], issues);
  if (className === undefined) issues.add(["spec", "gatewayClassName"], "is required");
  return { namespace, name, className: className ?? "" };
}

/** A reference's namespace: given (and valid), else the route's own. */
function referenceNamespace(ref: Json, path: FieldPath, own: string, issues: IssueList): string {
  const namespace = stringAt(ref, "namespace", path, issues);
  if (namespace === undefined) return own;
  const problem = namespaceNameProblem(namespace);
  if (problem) issues.add([...path, "namespace"], problem);
  return namespace;
}

/** Whether a reference names the core group's kind (group "" and the kind, their defaults). */
function refersTo(ref: Json, path: FieldPath, group: string, kind: string, issues: IssueList): boolean {
  const g = stringAt(ref, "group", path, issues) ?? group;
  const k = stringAt(ref, "kind", path, issues) ?? kind;
  return g === group && k === kind;
}

export function readRoute(kind: RouteKind, value: Json, namespace: string, name: string, issues: IssueList): RouteInfo {
  const spec = objectAt(value, "spec", [], issues) ?? {};
  const hostnames = (listAt(spec, "hostnames", ["spec"], issues) ?? []).flatMap((host, i) => {
    if (typeof host === "string") return [host];
    issues.add(["spec", "hostnames", i], `must be a host name, got ${describeType(host)}`);
    return [];
  });
  const gateways: string[] = [];
  eachObjectAt(spec, "parentRefs", ["spec"], issues, (ref, at) => {
    const parent = checkedName(stringAt(ref, "name", at, issues), [...at, "name"], issues);
    if (ref["name"] === undefined) issues.add([...at, "name"], "is required");
    const ns = referenceNamespace(ref, at, namespace, issues);
    if (parent !== undefined && refersTo(ref, at, "gateway.networking.k8s.io", "Gateway", issues) && !gateways.includes(`${ns}/${parent}`)) gateways.push(`${ns}/${parent}`);
  });
  const backends: BackendService[] = [];
  eachObjectAt(spec, "rules", ["spec"], issues, (rule, at) => {
    eachObjectAt(rule, "backendRefs", at, issues, (ref, refAt) => {
      const backend = checkedName(stringAt(ref, "name", refAt, issues), [...refAt, "name"], issues);
      if (ref["name"] === undefined) issues.add([...refAt, "name"], "is required");
      const ns = referenceNamespace(ref, refAt, namespace, issues);
      const port = ref["port"];
      if (port !== undefined && (typeof port !== "number" || portNumberProblem(port))) issues.add([...refAt, "port"], `must be a port number (1-65535), got ${describeType(port)}`);
      if (backend !== undefined && refersTo(ref, refAt, "", "Service", issues) && !backends.some((b) => b.namespace === ns && b.name === backend)) backends.push({ namespace: ns, name: backend });
    });
  });
  return { kind, namespace, name, hostnames, gateways, backends };
}
