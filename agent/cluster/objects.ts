// Kubernetes API objects (as written in manifests, or as read from the API) to the slim
// records the engine uses. Shared by the manifest loader and the live cluster watch, so a
// pod means the same thing wherever it came from. Every problem is reported at its path.

import { type IpAddress, parseIp } from "../addresses/ip.js";
import { booleanAt, describeType, eachObjectAt, type IssueList, isObject, type Json, listAt, objectAt, stringAt } from "../documents/fields.js";
import type { FieldPath } from "../documents/located.js";
import { portNameProblem, portNumberProblem, readProtocol } from "../policy/normalize.js";
import { readServiceExposure } from "./inbound-objects.js";
import { readLabels } from "../objects/labels.js";
import {
  type ContainerPort,
  type Labels,
  type WorkloadRef,
  type EndpointInfo,
  type EndpointSliceInfo,
  type NamespaceInfo,
  namespaceLabels,
  type PodInfo,
  type Protocol,
  type ServiceInfo,
  type ServicePort,
} from "./snapshot.js";

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
      eachObjectAt(container, "ports", at, issues, (raw, portPath) => {
        const number = raw["containerPort"];
        if (typeof number !== "number" || portNumberProblem(number)) {
          issues.add([...portPath, "containerPort"], number === undefined ? "is required (1-65535)" : `must be a port number (1-65535), got ${describeType(number)}`);
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

/**
 * The workload a running pod belongs to, from its controller reference: a ReplicaSet's
 * Deployment (the name without its pod-template-hash), a CronJob's Job (without the
 * schedule suffix), else the controller itself; a pod without one is its own workload.
 */
export function ownerOf(metadata: Json, labels: Labels, podName: string): WorkloadRef {
  const references = Array.isArray(metadata["ownerReferences"]) ? metadata["ownerReferences"] : [];
  const controller = references.find((ref): ref is Json => isObject(ref) && ref["controller"] === true && typeof ref["kind"] === "string" && typeof ref["name"] === "string");
  if (!controller) return { kind: "pod", name: podName };
  const kind = String(controller["kind"]).toLowerCase();
  const name = String(controller["name"]);
  const hash = labels["pod-template-hash"];
  if (kind === "replicaset" && hash && name.endsWith(`-${hash}`)) return { kind: "deployment", name: name.slice(0, -hash.length - 1) };
  // A CronJob names its Jobs <cronjob>-<minutes since the epoch>.
  if (kind === "job" && /-\d{8,}$/.test(name)) return { kind: "cronjob", name: name.replace(/-\d{8,}$/, "") };
  return { kind, name };
}

/** The kubelet names a mirror pod's cgroup by the static pod's config hash, not by the mirror's uid. */
const MIRROR_ANNOTATION = "kubernetes.io/config.mirror";

/** What the pod's cgroup is named by: the static pod's hash for a mirror pod, else metadata.uid. */
function cgroupUid(metadata: Json, issues: IssueList): string | undefined {
  const annotations = objectAt(metadata, "annotations", ["metadata"], issues);
  const mirror = annotations?.[MIRROR_ANNOTATION];
  if (typeof mirror === "string" && mirror !== "") return mirror;
  return stringAt(metadata, "uid", ["metadata"], issues);
}

export function readPod(value: Json, namespace: string, name: string, issues: IssueList): PodInfo {
  const metadata = objectAt(value, "metadata", [], issues) ?? {};
  const spec = objectAt(value, "spec", [], issues) ?? {};
  const status = objectAt(value, "status", [], issues) ?? {};
  const node = stringAt(spec, "nodeName", ["spec"], issues);
  const phase = stringAt(status, "phase", ["status"], issues);
  const labels = readLabels(metadata["labels"], ["metadata", "labels"], issues);
  const terminating = metadata["deletionTimestamp"] !== undefined && metadata["deletionTimestamp"] !== null;
  const uid = cgroupUid(metadata, issues);
  return {
    namespace,
    name,
    ...(uid !== undefined ? { uid } : {}),
    labels,
    ips: readIps(status, issues),
    ports: readContainerPorts(spec, ["spec"], issues),
    hostNetwork: booleanAt(spec, "hostNetwork", ["spec"], issues) ?? false,
    ...(node !== undefined ? { node } : {}),
    ...(phase !== undefined ? { phase } : {}),
    owner: ownerOf(metadata, labels, name),
    ...(terminating ? { terminating } : {}),
  };
}

export function readTemplate(
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

export function readService(value: Json, namespace: string, name: string, issues: IssueList): ServiceInfo | undefined {
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
  eachObjectAt(spec, "ports", ["spec"], issues, (raw, at) => {
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
  const exposure = readServiceExposure(value, issues);
  return {
    namespace,
    name,
    clusterIps,
    ...(selectorValue !== undefined && selectorValue !== null ? { selector: readLabels(selectorValue, ["spec", "selector"], issues) } : {}),
    ports,
    ...(exposure ? { exposure } : {}),
  };
}

export function readNamespace(value: Json, name: string, issues: IssueList): NamespaceInfo {
  const metadata = objectAt(value, "metadata", [], issues) ?? {};
  return { name, labels: namespaceLabels(name, readLabels(metadata["labels"], ["metadata", "labels"], issues)) };
}

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** discovery.k8s.io/v1 EndpointSlice: which addresses back a Service, and whether they are ready. */
export function readEndpointSlice(value: Json, namespace: string, name: string, issues: IssueList): EndpointSliceInfo | undefined {
  const metadata = objectAt(value, "metadata", [], issues) ?? {};
  const labels = readLabels(metadata["labels"], ["metadata", "labels"], issues);
  const service = labels[SERVICE_NAME_LABEL];
  if (service === undefined) return undefined; // not managed for a Service: nothing to probe through it
  const ports: { name?: string; port: number; protocol: Protocol }[] = [];
  (listAt(value, "ports", [], issues) ?? []).forEach((raw, i) => {
    if (!isObject(raw)) return;
    const port = raw["port"];
    if (typeof port !== "number" || portNumberProblem(port)) return; // a port-less slice entry means "all ports"
    const portName = stringAt(raw, "name", ["ports", i], issues);
    ports.push({ ...(portName ? { name: portName } : {}), port, protocol: readProtocol(raw, ["ports", i], issues) });
  });
  const endpoints: EndpointInfo[] = [];
  eachObjectAt(value, "endpoints", [], issues, (raw, at) => {
    const addresses: IpAddress[] = [];
    (listAt(raw, "addresses", at, issues) ?? []).forEach((text, j) => {
      const parsed = typeof text === "string" ? parseIp(text) : undefined;
      if (parsed?.ok) addresses.push(parsed.value);
      else issues.add([...at, "addresses", j], `must be an IP address, got ${describeType(text)}`);
    });
    const conditions = objectAt(raw, "conditions", at, issues) ?? {};
    // An unset ready condition means ready (the API's documented default).
    const ready = conditions["ready"] !== false;
    const target = objectAt(raw, "targetRef", at, issues);
    const node = stringAt(raw, "nodeName", at, issues);
    const podName = target && target["kind"] === "Pod" && typeof target["name"] === "string" ? target["name"] : undefined;
    const podNamespace = target && typeof target["namespace"] === "string" ? target["namespace"] : namespace;
    endpoints.push({ addresses, ready, ...(podName ? { pod: `${podNamespace}/${podName}` } : {}), ...(node ? { node } : {}) });
  });
  return { namespace, name, service, ports, endpoints };
}
