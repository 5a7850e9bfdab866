// A cluster snapshot from manifest files: YAML (multi-document) or JSON, lists included.
// Workload templates stand for the pods they will create, so a repository of
// manifests can be judged before anything runs.

import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { type IpAddress, parseIp } from "../addresses/ip.js";
import {
  booleanAt,
  describeType,
  IssueList,
  isObject,
  type Json,
  listAt,
  objectAt,
  stringAt,
} from "../documents/fields.js";
import {
  errorAt,
  type FieldPath,
  type InputError,
  type LocatedDocument,
  readDocuments,
} from "../documents/located.js";
import type { NetworkPolicy } from "../policy/model.js";
import { normalizeNetworkPolicy, portNameProblem, portNumberProblem } from "../policy/normalize.js";
import { readLabels } from "./labels.js";
import {
  type ClusterSnapshot,
  type ContainerPort,
  type NamespaceInfo,
  namespaceLabels,
  PROTOCOLS,
  type PodInfo,
  type Protocol,
  type ServiceInfo,
  type ServicePort,
} from "./snapshot.js";

export interface ManifestLoad {
  readonly snapshot: ClusterSnapshot;
  /** Objects skipped on purpose (kinds the engine does not use), one line each. */
  readonly skipped: readonly string[];
  readonly errors: readonly InputError[];
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
  referencedNamespaces: Set<string>;
  seen: Map<string, string>;
  skipped: string[];
  errors: InputError[];
}

/** Builds the snapshot from parsed documents. Pure: no I/O. */
export function snapshotFromDocuments(documents: readonly LocatedDocument[]): ManifestLoad {
  const state: Collected = {
    namespaces: new Map(),
    pods: [],
    policies: [],
    services: [],
    referencedNamespaces: new Set(),
    seen: new Map(),
    skipped: [],
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
    },
    skipped: state.skipped,
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
  const where = describeWhere(doc, path);

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
        const line = doc.locate(path)?.line;
        state.policies.push({ ...policy, definedAt: { file: doc.file, ...(line !== undefined ? { line } : {}) } });
        state.referencedNamespaces.add(policy.namespace);
      }
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

function describeWhere(doc: LocatedDocument, path: FieldPath): string {
  const line = doc.locate(path)?.line;
  return line === undefined ? doc.file : `${doc.file}:${line}`;
}

function objectPath(value: Json, path: FieldPath): Json | undefined {
  let node: unknown = value;
  for (const key of path) {
    if (!isObject(node)) return undefined;
    node = node[key as string];
  }
  return isObject(node) ? node : undefined;
}

function readProtocol(raw: Json, path: FieldPath, issues: IssueList): Protocol {
  const protocol = stringAt(raw, "protocol", path, issues);
  if (protocol === undefined) return "TCP";
  if (PROTOCOLS.includes(protocol as Protocol)) return protocol as Protocol;
  issues.add([...path, "protocol"], `"${protocol}" is not supported (TCP, UDP or SCTP)`);
  return "TCP";
}

function readContainerPorts(podSpec: Json, path: FieldPath, issues: IssueList): ContainerPort[] {
  const ports: ContainerPort[] = [];
  const containers = listAt(podSpec, "containers", path, issues) ?? [];
  const inits = listAt(podSpec, "initContainers", path, issues) ?? [];
  const visit = (list: unknown[], field: string, sidecarsOnly: boolean): void => {
    list.forEach((container, i) => {
      if (!isObject(container)) return;
      // Init containers only serve traffic when they are sidecars (restartPolicy: Always).
      if (sidecarsOnly && container["restartPolicy"] !== "Always") return;
      const at = [...path, field, i];
      (listAt(container, "ports", at, issues) ?? []).forEach((raw, j) => {
        const portPath = [...at, "ports", j];
        if (!isObject(raw)) {
          issues.add(portPath, `must be an object, got ${describeType(raw)}`);
          return;
        }
        const number = raw["containerPort"];
        if (typeof number !== "number" || portNumberProblem(number)) {
          issues.add([...portPath, "containerPort"], `must be a port number (1-65535), got ${describeType(number)}`);
          return;
        }
        const name = stringAt(raw, "name", portPath, issues);
        if (name !== undefined && portNameProblem(name)) issues.add([...portPath, "name"], portNameProblem(name) as string);
        ports.push({ ...(name !== undefined ? { name } : {}), port: number, protocol: readProtocol(raw, portPath, issues) });
      });
    });
  };
  visit(containers, "containers", false);
  visit(inits, "initContainers", true);
  return ports;
}

function readIps(status: Json, issues: IssueList): IpAddress[] {
  const texts: { text: unknown; path: FieldPath }[] = [];
  const podIps = listAt(status, "podIPs", ["status"], issues);
  if (podIps && podIps.length > 0) {
    podIps.forEach((entry, i) => texts.push({ text: isObject(entry) ? entry["ip"] : entry, path: ["status", "podIPs", i, "ip"] }));
  } else if (status["podIP"] !== undefined && status["podIP"] !== null && status["podIP"] !== "") {
    texts.push({ text: status["podIP"], path: ["status", "podIP"] });
  }
  const ips: IpAddress[] = [];
  for (const { text, path } of texts) {
    if (typeof text !== "string") {
      issues.add(path, `must be an IP address, got ${describeType(text)}`);
      continue;
    }
    const parsed = parseIp(text);
    if (!parsed.ok) issues.add(path, parsed.reason);
    else if (!ips.some((ip) => ip.family === parsed.value.family)) ips.push(parsed.value);
  }
  return ips;
}

function readPod(value: Json, namespace: string, name: string, issues: IssueList): PodInfo {
  const metadata = objectAt(value, "metadata", [], issues) ?? {};
  const spec = objectAt(value, "spec", [], issues) ?? {};
  const status = objectAt(value, "status", [], issues) ?? {};
  const node = stringAt(spec, "nodeName", ["spec"], issues);
  const phase = stringAt(status, "phase", ["status"], issues);
  return {
    namespace,
    name,
    labels: readLabels(metadata["labels"], ["metadata", "labels"], issues),
    ips: readIps(status, issues),
    ports: readContainerPorts(spec, ["spec"], issues),
    hostNetwork: booleanAt(spec, "hostNetwork", ["spec"], issues) ?? false,
    ...(node !== undefined ? { node } : {}),
    ...(phase !== undefined ? { phase } : {}),
  };
}

function readTemplate(
  template: Json,
  path: FieldPath,
  kind: string,
  namespace: string,
  name: string,
  issues: IssueList,
): PodInfo {
  const metadata = objectAt(template, "metadata", path, issues) ?? {};
  const spec = objectAt(template, "spec", path, issues) ?? {};
  return {
    namespace,
    name,
    labels: readLabels(metadata["labels"], [...path, "metadata", "labels"], issues),
    ips: [],
    ports: readContainerPorts(spec, [...path, "spec"], issues),
    hostNetwork: booleanAt(spec, "hostNetwork", [...path, "spec"], issues) ?? false,
    workload: { kind: kind.toLowerCase(), name },
  };
}

function readService(value: Json, namespace: string, name: string, issues: IssueList): ServiceInfo | undefined {
  const spec = objectAt(value, "spec", [], issues) ?? {};
  const clusterIps: IpAddress[] = [];
  const rawIps = listAt(spec, "clusterIPs", ["spec"], issues);
  const candidates = rawIps && rawIps.length > 0 ? rawIps.map((ip, i) => ({ ip, path: ["spec", "clusterIPs", i] })) : [{ ip: spec["clusterIP"], path: ["spec", "clusterIP"] }];
  for (const { ip, path } of candidates) {
    // "None" marks a headless Service; absent means not allocated yet.
    if (ip === undefined || ip === null || ip === "" || ip === "None") continue;
    if (typeof ip !== "string") {
      issues.add(path, `must be an IP address, got ${describeType(ip)}`);
      continue;
    }
    const parsed = parseIp(ip);
    if (parsed.ok) clusterIps.push(parsed.value);
    else issues.add(path, parsed.reason);
  }
  const selectorValue = spec["selector"];
  const ports: ServicePort[] = [];
  (listAt(spec, "ports", ["spec"], issues) ?? []).forEach((raw, i) => {
    const at = ["spec", "ports", i];
    if (!isObject(raw)) {
      issues.add(at, `must be an object, got ${describeType(raw)}`);
      return;
    }
    const port = raw["port"];
    if (typeof port !== "number" || portNumberProblem(port)) {
      issues.add([...at, "port"], `must be a port number (1-65535), got ${describeType(port)}`);
      return;
    }
    const target = raw["targetPort"];
    // targetPort defaults to port.
    let targetPort: number | string = port;
    if (typeof target === "number" || typeof target === "string") targetPort = target;
    else if (target !== undefined && target !== null) issues.add([...at, "targetPort"], `must be a port number or name, got ${describeType(target)}`);
    const portName = stringAt(raw, "name", at, issues);
    ports.push({ ...(portName !== undefined ? { name: portName } : {}), port, protocol: readProtocol(raw, at, issues), targetPort });
  });
  return {
    namespace,
    name,
    clusterIps,
    ...(selectorValue !== undefined && selectorValue !== null ? { selector: readLabels(selectorValue, ["spec", "selector"], issues) } : {}),
    ports,
  };
}
