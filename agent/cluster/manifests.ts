// A cluster snapshot from manifest files: YAML (multi-document) or JSON, lists included.
// Workload templates stand for the pods they will create, so a repository of
// manifests can be judged before anything runs.

import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { describeType, IssueList, isObject, type Json, objectAt, stringAt } from "../documents/fields.js";
import {
  errorAt,
  type FieldPath,
  type InputError,
  type LocatedDocument,
  readDocuments,
} from "../documents/located.js";
import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from "../policy/admin-model.js";
import { normalizeAdminNetworkPolicy, normalizeBaselineAdminNetworkPolicy } from "../policy/admin-normalize.js";
import type { NetworkPolicy } from "../policy/model.js";
import { normalizeNetworkPolicy } from "../policy/normalize.js";
import { readLabels } from "./labels.js";
import { readPod, readService, readTemplate } from "./objects.js";
import { type ClusterSnapshot, type NamespaceInfo, namespaceLabels, type PodInfo, type ServiceInfo } from "./snapshot.js";

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

export async function manifestFiles(paths: readonly string[]): Promise<{ files: string[]; errors: InputError[] }> {
  const files: string[] = [];
  const errors: InputError[] = [];
  async function walk(path: string, explicit: boolean): Promise<void> {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      errors.push({ file: path, message: `cannot read (${(error as NodeJS.ErrnoException).code ?? "error"})` });
      return;
    }
    if (info.isDirectory()) {
      const entries = (await readdir(path)).sort();
      for (const entry of entries) if (!entry.startsWith(".")) await walk(join(path, entry), false);
    } else if (explicit || MANIFEST_EXTENSIONS.has(extname(path).toLowerCase())) {
      files.push(path);
    }
  }
  for (const path of paths) await walk(path, true);
  return { files, errors };
}

export async function loadManifests(paths: readonly string[]): Promise<ManifestLoad> {
  const { files, errors } = await manifestFiles(paths);
  const documents: LocatedDocument[] = [];
  for (const file of files) {
    const read = await readDocuments(file);
    documents.push(...read.documents);
    errors.push(...read.errors);
  }
  const built = snapshotFromDocuments(documents);
  return { ...built, errors: [...errors, ...built.errors] };
}

interface Collected {
  namespaces: Map<string, NamespaceInfo>;
  pods: PodInfo[];
  policies: NetworkPolicy[];
  services: ServiceInfo[];
  adminPolicies: AdminNetworkPolicy[];
  baselinePolicy: BaselineAdminNetworkPolicy | undefined;
  referencedNamespaces: Set<string>;
  seen: Map<string, string>;
  skipped: string[];
  unevaluated: UnevaluatedPolicy[];
  errors: InputError[];
}

/** Builds the snapshot from parsed documents. Pure: no I/O. */
export function snapshotFromDocuments(documents: readonly LocatedDocument[]): ManifestLoad {
  const state: Collected = {
    namespaces: new Map(),
    pods: [],
    policies: [],
    services: [],
    adminPolicies: [],
    baselinePolicy: undefined,
    referencedNamespaces: new Set(),
    seen: new Map(),
    skipped: [],
    unevaluated: [],
    errors: [],
  };
  for (const doc of documents) addObject(doc, doc.value, [], state);
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
    },
    skipped: state.skipped,
    unevaluated: state.unevaluated,
    errors: state.errors,
  };
}

function addObject(doc: LocatedDocument, value: unknown, path: FieldPath, state: Collected): void {
  if (value === null || value === undefined) return;
  if (!isObject(value)) {
    state.errors.push(errorAt(doc, path, `expected a Kubernetes object, got ${describeType(value)}`));
    return;
  }
  const kind = value["kind"];
  if (typeof kind !== "string") {
    state.errors.push(errorAt(doc, [...path, "kind"], "is required (a Kubernetes object needs kind)"));
    return;
  }
  // kind: List, and typed lists such as PodList from `kubectl get -o yaml`.
  if (kind === "List" || (kind.endsWith("List") && Array.isArray(value["items"]))) {
    const items = value["items"];
    if (!Array.isArray(items)) {
      state.errors.push(errorAt(doc, [...path, "items"], "must be a list of objects"));
      return;
    }
    items.forEach((item, index) => addObject(doc, item, [...path, "items", index], state));
    return;
  }
  const issues = new IssueList();
  const metadata = objectAt(value, "metadata", [], issues) ?? {};
  const name = stringAt(metadata, "name", ["metadata"], issues);
  const namespace = stringAt(metadata, "namespace", ["metadata"], issues) ?? "default";
  const line = doc.locate(path)?.line;
  const definedAt = { file: doc.file, ...(line !== undefined ? { line } : {}) };
  const where = line === undefined ? doc.file : `${doc.file}:${line}`;

  // Before the duplicate check: a Calico NetworkPolicy may share its name with a Kubernetes one.
  const apiVersion = typeof value["apiVersion"] === "string" ? value["apiVersion"] : undefined;
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
      if (service && issues.empty) state.services.push(service);
      state.referencedNamespaces.add(namespace);
      break;
    }
    default: {
      const templatePath = TEMPLATE_PATHS[kind];
      if (!templatePath) {
        state.skipped.push(`${where}: ${kind} ${name ?? "(unnamed)"} skipped (not used by the policy engine)`);
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
  for (const issue of issues.issues) state.errors.push(errorAt(doc, [...path, ...issue.path], issue.message));
}

function objectPath(value: Json, path: FieldPath): Json | undefined {
  let node: unknown = value;
  for (const key of path) {
    if (!isObject(node)) return undefined;
    node = node[key as string];
  }
  return isObject(node) ? node : undefined;
}
