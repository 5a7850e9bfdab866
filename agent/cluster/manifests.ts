// A cluster snapshot from manifest files: YAML (multi-document) or JSON, lists included.
// Workload templates stand for the pods they will create, so a repository of
// manifests can be judged before anything runs.

import { opendir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { describeType, IssueList, isObject, type Json, objectAt, stringAt } from "../documents/fields.js";
import {
  type FieldPath,
  formatFieldPath,
  type InputError,
  InputErrors,
  type LocatedDocument,
  Reading,
  readDocumentsInto,
  readInputFile,
} from "../documents/located.js";
import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from "../policy/admin-model.js";
import { normalizeAdminNetworkPolicy, normalizeBaselineAdminNetworkPolicy } from "../policy/admin-normalize.js";
import type { NetworkPolicy } from "../policy/model.js";
import { normalizeNetworkPolicy } from "../policy/normalize.js";
import { LIST_SHAPE, OBJECT_SHAPES, unknownFields } from "./known-fields.js";
import { readLabels } from "../objects/labels.js";
import { namespaceNameProblem, objectNameProblem } from "../objects/names.js";
import { readPod, readService, readTemplate } from "./objects.js";
import { type GatewayInfo, type IngressInfo, ROUTE_KINDS, type RouteInfo, type RouteKind } from "../objects/inbound.js";
import { readGateway, readIngress, readRoute, readServiceExposure } from "./inbound-objects.js";
import { formatBytes, problemOf } from "../files/read.js";
import { printable } from "../text/printable.js";
import { type ClusterSnapshot, EMPTY_SNAPSHOT, type NamespaceInfo, namespaceLabels, type PodInfo, type ServiceInfo } from "./snapshot.js";

export interface ManifestLoad {
  readonly snapshot: ClusterSnapshot;
  /** Objects skipped on purpose (kinds the engine does not use), one line each. */
  readonly skipped: readonly string[];
  /** Policies of kinds the engine does not evaluate (a CNI's own): the cluster may enforce them. */
  readonly unevaluated: readonly UnevaluatedPolicy[];
  readonly errors: readonly InputError[];
}

/** A policy object the engine leaves out: where it is and what it is. */
export interface UnevaluatedPolicy {
  readonly file: string;
  readonly line?: number;
  readonly apiVersion: string;
  readonly kind: string;
  /** "namespace/name", or the name alone when it has no namespace. */
  readonly name: string;
}

/** The API groups whose policies the engine evaluates, per kind (no apiVersion: taken as these). */
const EVALUATED_GROUPS: Readonly<Record<string, readonly string[]>> = {
  // extensions/v1beta1 was NetworkPolicy's first home, with the same schema.
  NetworkPolicy: ["networking.k8s.io", "extensions"],
  AdminNetworkPolicy: ["policy.networking.k8s.io"],
  BaselineAdminNetworkPolicy: ["policy.networking.k8s.io"],
};

/** Kinds that decide what connects without "NetworkPolicy" in their name. */
const OTHER_POLICY_KINDS = new Set(["EgressFirewall", "AuthorizationPolicy"]);

/**
 * Whether an object is a connectivity policy the engine does not evaluate: Cilium's, Calico's
 * (whose NetworkPolicy shares the Kubernetes kind name, in projectcalico.org), Antrea's,
 * OpenShift's, a service mesh's AuthorizationPolicy, or any other group's *NetworkPolicy.
 * Pure: apiVersion and kind in, a yes or no out.
 */
export function isUnevaluatedPolicy(apiVersion: string | undefined, kind: string): boolean {
  const evaluated = EVALUATED_GROUPS[kind];
  if (evaluated) {
    if (apiVersion === undefined) return false;
    const slash = apiVersion.indexOf("/");
    return !evaluated.includes(slash < 0 ? "" : apiVersion.slice(0, slash));
  }
  return kind.includes("NetworkPolicy") || OTHER_POLICY_KINDS.has(kind);
}

/**
 * The kinds that put a proxy in front of pods, read only in the API version whose schema the
 * reader knows: Ingress of networking.k8s.io/v1 (v1beta1 named backends otherwise), the Gateway
 * API's Gateway and routes (not Istio's Gateway, of another group and shape).
 */
export function inboundKind(apiVersion: string | undefined, kind: string): "Ingress" | "Gateway" | RouteKind | undefined {
  if (kind === "Ingress") return apiVersion === "networking.k8s.io/v1" ? "Ingress" : undefined;
  if (kind !== "Gateway" && !ROUTE_KINDS.includes(kind as RouteKind)) return undefined;
  return apiVersion?.startsWith("gateway.networking.k8s.io/") ? (kind as "Gateway" | RouteKind) : undefined;
}

const MANIFEST_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

/** Where a pod template lives, per workload kind. */
const TEMPLATE_PATHS: Readonly<Record<string, FieldPath>> = {
  Deployment: ["spec", "template"],
  StatefulSet: ["spec", "template"],
  DaemonSet: ["spec", "template"],
  ReplicaSet: ["spec", "template"],
  ReplicationController: ["spec", "template"],
  Job: ["spec", "template"],
  CronJob: ["spec", "jobTemplate", "spec", "template"],
};

export const WORKLOAD_KINDS = Object.keys(TEMPLATE_PATHS);

/** The kinds the engine reads besides workloads; the cluster-scoped ones among them. */
const ENGINE_KINDS = new Set(["Namespace", "NetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "Pod", "Service"]);
const CLUSTER_SCOPED = new Set(["Namespace", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]);

/**
 * What manifests may cost, so that a wrong path cannot hang or exhaust the process: parsed
 * values take about 6 bytes of heap per byte of YAML (docs/benchmarks.md), so 8 MiB of
 * manifests fit the agent's 160 MiB heap with room for everything else.
 */
export const MANIFEST_LIMITS = {
  /** One file. */
  fileBytes: 4 * 1024 * 1024,
  /** All files together. */
  totalBytes: 8 * 1024 * 1024,
  /** Manifest files found in directories. */
  files: 10_000,
  /** Directory entries looked at, in all directories together. */
  entries: 100_000,
  /** Directories below a path given. */
  depth: 16,
} as const;

export interface ManifestFiles {
  readonly files: string[];
  readonly errors: InputError[];
  /** The sizes of those under the limit for one file added up, as stat() reported them. */
  readonly bytes: number;
}

/**
 * The manifest files under the paths given: a file named is read whatever its name, a
 * directory is walked (sorted, hidden entries skipped, symbolic links followed) for .yaml,
 * .yml and .json files, within MANIFEST_LIMITS. A directory reached twice (a symbolic link
 * loop) is an error, not a second walk.
 */
export async function manifestFiles(paths: readonly string[]): Promise<ManifestFiles> {
  const files: string[] = [];
  const errors: InputError[] = [];
  const visited = new Set<string>();
  let bytes = 0;
  let entries = 0;
  let stopped = false;
  const stop = (file: string, message: string): void => {
    errors.push({ file, message });
    stopped = true;
  };
  async function walk(path: string, explicit: boolean, depth: number): Promise<void> {
    if (stopped) return;
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      errors.push({ file: path, message: `cannot read (${problemOf(error).words})` });
      return;
    }
    if (info.isDirectory()) {
      if (depth > MANIFEST_LIMITS.depth) return stop(path, `more than ${MANIFEST_LIMITS.depth} directories deep; not read`);
      const id = `${info.dev}:${info.ino}`;
      if (visited.has(id)) return stop(path, "a directory already read (a symbolic link loop, or two paths to one directory)");
      visited.add(id);
      const names: string[] = [];
      try {
        for await (const entry of await opendir(path)) {
          if (++entries > MANIFEST_LIMITS.entries) return stop(path, `more than ${MANIFEST_LIMITS.entries} directory entries under the manifest paths; not read`);
          if (!entry.name.startsWith(".")) names.push(entry.name);
        }
      } catch (error) {
        errors.push({ file: path, message: `cannot read (${problemOf(error).words})` });
        return;
      }
      for (const name of names.sort()) await walk(join(path, name), false, depth + 1);
    } else if (explicit || MANIFEST_EXTENSIONS.has(extname(path).toLowerCase())) {
      if (files.length >= MANIFEST_LIMITS.files) return stop(path, `more than ${MANIFEST_LIMITS.files} manifest files; not read`);
      files.push(path);
      // A file over the limit on its own is refused by the reader, which says so.
      if (info.isFile() && info.size <= MANIFEST_LIMITS.fileBytes) bytes += info.size;
    }
  }
  for (const path of paths) {
    const before = { files: files.length, errors: errors.length };
    await walk(path, true, 0);
    // A directory with nothing to read is a path that is wrong (a typo in a pipeline), not an empty cluster.
    if (!stopped && files.length === before.files && errors.length === before.errors) errors.push({ file: path, message: "no manifest file (.yaml, .yml or .json) in this directory" });
  }
  return { files, errors, bytes };
}

function overTotal(file: string, bytes: number): InputError {
  return { file, message: `the manifests add up to ${formatBytes(bytes)}, over the limit of ${formatBytes(MANIFEST_LIMITS.totalBytes)} for all of them together` };
}

export async function loadManifests(paths: readonly string[]): Promise<ManifestLoad> {
  const { files, errors, bytes } = await manifestFiles(paths);
  if (bytes > MANIFEST_LIMITS.totalBytes) errors.push(overTotal(paths.join(", "), bytes));
  if (errors.length > 0) return { snapshot: EMPTY_SNAPSHOT, skipped: [], unevaluated: [], errors };
  // One reading for all the files: at most 100 errors shown per file, alias expansion bounded
  // for all. Each document's objects are taken as soon as it is read (its errors located in the
  // tree it was read from), and its values then let go: only the snapshot is kept.
  const reading = new Reading();
  const state = collected(reading.errors);
  let total = 0;
  for (const file of files) {
    const read = await readInputFile(file, { maxBytes: MANIFEST_LIMITS.fileBytes });
    if (!read.ok) {
      reading.errors.push([read.error]);
      continue;
    }
    // Files can grow after the walk measured them: the total is kept as they are read.
    total += read.bytes;
    if (total > MANIFEST_LIMITS.totalBytes) {
      reading.errors.push([overTotal(file, total)]);
      break;
    }
    readDocumentsInto(read.text, file, reading, (doc) => addObject(doc, doc.value, [], state));
  }
  return finished(state);
}

interface Collected {
  namespaces: Map<string, NamespaceInfo>;
  pods: PodInfo[];
  policies: NetworkPolicy[];
  services: ServiceInfo[];
  adminPolicies: AdminNetworkPolicy[];
  ingresses: IngressInfo[];
  gateways: GatewayInfo[];
  routes: RouteInfo[];
  baselinePolicy: BaselineAdminNetworkPolicy | undefined;
  referencedNamespaces: Set<string>;
  seen: Map<string, string>;
  skipped: string[];
  unevaluated: UnevaluatedPolicy[];
  errors: InputErrors;
}

function collected(errors: InputErrors): Collected {
  return {
    namespaces: new Map(),
    pods: [],
    policies: [],
    services: [],
    adminPolicies: [],
    ingresses: [],
    gateways: [],
    routes: [],
    baselinePolicy: undefined,
    referencedNamespaces: new Set(),
    seen: new Map(),
    skipped: [],
    unevaluated: [],
    errors,
  };
}

function finished(state: Collected): ManifestLoad {
  // A namespace that is referenced but not declared exists with only its name label.
  for (const name of state.referencedNamespaces) {
    if (!state.namespaces.has(name)) state.namespaces.set(name, { name, labels: namespaceLabels(name) });
  }
  return {
    snapshot: {
      namespaces: [...state.namespaces.values()],
      pods: state.pods,
      policies: state.policies,
      services: state.services,
      ...(state.adminPolicies.length > 0 ? { adminPolicies: state.adminPolicies } : {}),
      ...(state.baselinePolicy ? { baselinePolicy: state.baselinePolicy } : {}),
      ...(state.ingresses.length + state.gateways.length + state.routes.length > 0
        ? { inbound: { ingresses: state.ingresses, gateways: state.gateways, routes: state.routes } }
        : {}),
    },
    skipped: state.skipped,
    unevaluated: state.unevaluated,
    errors: state.errors.list(),
  };
}

/**
 * Builds the snapshot from parsed documents. Pure: no I/O. Errors join those already found
 * while reading (at most 100 shown per file, each located as it is found).
 */
export function snapshotFromDocuments(documents: readonly LocatedDocument[], errors: InputErrors = new InputErrors()): ManifestLoad {
  const state = collected(errors);
  for (const doc of documents) addObject(doc, doc.value, [], state);
  return finished(state);
}

function addObject(doc: LocatedDocument, value: unknown, path: FieldPath, state: Collected): void {
  if (value === null || value === undefined) return;
  if (!isObject(value)) {
    state.errors.at(doc, path, `expected a Kubernetes object, got ${describeType(value)}`);
    return;
  }
  const kind = value["kind"];
  if (typeof kind !== "string") {
    state.errors.at(doc, [...path, "kind"], "is required (a Kubernetes object needs kind)");
    return;
  }
  // kind: List, and typed lists such as PodList from `kubectl get -o yaml`.
  if (kind === "List" || (kind.endsWith("List") && Array.isArray(value["items"]))) {
    for (const unknown of unknownFields(value, LIST_SHAPE)) state.errors.at(doc, [...path, ...unknown.path], unknown.message);
    const items = value["items"];
    if (!Array.isArray(items)) {
      state.errors.at(doc, [...path, "items"], "must be a list of objects");
      return;
    }
    items.forEach((item, index) => addObject(doc, item, [...path, "items", index], state));
    return;
  }
  const issues = new IssueList();
  const apiVersion = typeof value["apiVersion"] === "string" ? value["apiVersion"] : undefined;
  const inbound = inboundKind(apiVersion, kind);
  // Unknown fields first; a normaliser that also notices one of them is not repeated. An
  // Ingress or a Gateway of another API is not checked against these shapes (nor read).
  const shape = inbound === undefined && (kind === "Ingress" || kind === "Gateway" || ROUTE_KINDS.includes(kind as RouteKind)) ? undefined : OBJECT_SHAPES[kind];
  const unknown = shape === undefined ? [] : unknownFields(value, shape);
  for (const field of unknown) issues.add(field.path, field.message);
  const reported = new Set(unknown.map((field) => formatFieldPath(field.path)));
  const metadata = objectAt(value, "metadata", [], issues) ?? {};
  const name = stringAt(metadata, "name", ["metadata"], issues);
  const namespace = stringAt(metadata, "namespace", ["metadata"], issues) ?? "default";
  const line = doc.locate(path)?.line;
  const definedAt = { file: doc.file, ...(line !== undefined ? { line } : {}) };
  const where = line === undefined ? doc.file : `${doc.file}:${line}`;

  // Before the duplicate check: a Calico NetworkPolicy may share its name with a Kubernetes one.
  if (isUnevaluatedPolicy(apiVersion, kind)) {
    const rawNamespace = metadata["namespace"];
    state.unevaluated.push({
      ...definedAt,
      apiVersion: apiVersion ?? "",
      kind,
      name: typeof rawNamespace === "string" ? `${rawNamespace}/${name ?? "(unnamed)"}` : (name ?? "(unnamed)"),
    });
    return;
  }

  if (name !== undefined) {
    // Namespaces are cluster-scoped: their key has no namespace part.
    const qualified = kind === "Namespace" ? name : `${namespace}/${name}`;
    const key = `${kind}/${qualified}`;
    const earlier = state.seen.get(key);
    if (earlier) issues.add(["metadata", "name"], `${kind} ${qualified} is defined twice (also at ${earlier})`);
    else state.seen.set(key, where);
  }

  if (ENGINE_KINDS.has(kind) || TEMPLATE_PATHS[kind] || inbound !== undefined) {
    if (name) {
      const problem = objectNameProblem(kind, name);
      if (problem) issues.add(["metadata", "name"], problem);
    }
    const written = metadata["namespace"];
    if (!CLUSTER_SCOPED.has(kind) && typeof written === "string") {
      const problem = namespaceNameProblem(written);
      if (problem) issues.add(["metadata", "namespace"], problem);
    }
  }

  switch (kind) {
    case "Namespace": {
      if (!name) issues.add(["metadata", "name"], "is required");
      const labels = readLabels(metadata["labels"], ["metadata", "labels"], issues);
      if (name && issues.empty) state.namespaces.set(name, { name, labels: namespaceLabels(name, labels) });
      break;
    }
    case "NetworkPolicy": {
      const policy = normalizeNetworkPolicy(value, issues);
      if (policy && issues.empty) {
        state.policies.push({ ...policy, definedAt });
        state.referencedNamespaces.add(policy.namespace);
      }
      break;
    }
    case "AdminNetworkPolicy": {
      // Cluster-scoped: the name alone identifies it, whatever metadata.namespace says.
      const policy = normalizeAdminNetworkPolicy(value, issues);
      if (policy && issues.empty && state.adminPolicies.some((p) => p.name === policy.name)) {
        issues.add(["metadata", "name"], `AdminNetworkPolicy ${policy.name} is defined twice`);
      }
      if (policy && issues.empty) state.adminPolicies.push({ ...policy, definedAt });
      break;
    }
    case "BaselineAdminNetworkPolicy": {
      const policy = normalizeBaselineAdminNetworkPolicy(value, issues);
      if (policy && issues.empty && state.baselinePolicy) issues.add(["metadata", "name"], "BaselineAdminNetworkPolicy default is defined twice");
      if (policy && issues.empty) state.baselinePolicy = { ...policy, definedAt };
      break;
    }
    case "Pod": {
      if (!name) issues.add(["metadata", "name"], "is required");
      const pod = readPod(value, namespace, name ?? "", issues);
      if (issues.empty) state.pods.push(pod);
      state.referencedNamespaces.add(namespace);
      break;
    }
    case "Service": {
      if (!name) issues.add(["metadata", "name"], "is required");
      const service = readService(value, namespace, name ?? "", issues);
      // The exposure fields as strictly as the API server takes them (readService is lenient: it also reads live objects).
      readServiceExposure(value, issues, true);
      if (service && issues.empty) state.services.push(service);
      state.referencedNamespaces.add(namespace);
      break;
    }
    default: {
      if (inbound !== undefined) {
        if (!name) issues.add(["metadata", "name"], "is required");
        const definedName = name ?? "";
        if (inbound === "Ingress") {
          const ingress = readIngress(value, namespace, definedName, issues);
          if (issues.empty) state.ingresses.push({ ...ingress, definedAt });
        } else if (inbound === "Gateway") {
          const gateway = readGateway(value, namespace, definedName, issues);
          if (issues.empty) state.gateways.push({ ...gateway, definedAt });
        } else {
          const route = readRoute(inbound, value, namespace, definedName, issues);
          if (issues.empty) state.routes.push({ ...route, definedAt });
        }
        state.referencedNamespaces.add(namespace);
        break;
      }
      const templatePath = TEMPLATE_PATHS[kind];
      if (!templatePath) {
        state.skipped.push(printable(`${where}: ${kind} ${name ?? "(unnamed)"} skipped (not used by the policy engine)`));
        return;
      }
      if (!name) issues.add(["metadata", "name"], "is required");
      const template = objectPath(value, templatePath);
      if (!template) {
        issues.add(templatePath, "is required (the pod template)");
      } else {
        const pod = readTemplate(template, templatePath, kind, namespace, name ?? "", issues);
        if (issues.empty) state.pods.push(pod);
      }
      state.referencedNamespaces.add(namespace);
    }
  }
  issues.issues.forEach((issue, i) => {
    if (i >= unknown.length && issue.message.startsWith("unknown field") && reported.has(formatFieldPath(issue.path))) return;
    state.errors.at(doc, [...path, ...issue.path], issue.message);
  });
}

function objectPath(value: Json, path: FieldPath): Json | undefined {
  let node: unknown = value;
  for (const key of path) {
    if (!isObject(node)) return undefined;
    node = node[key as string];
  }
  return isObject(node) ? node : undefined;
}
