// From an AdminNetworkPolicy or BaselineAdminNetworkPolicy as written to the engine's
// model, applying the CRD's validation (kubernetes-sigs/network-policy-api, v1alpha1:
// OpenAPI limits and CEL rules) and defaults. Every problem is located by field.

import { type Cidr, parseCidr } from "../addresses/ip.js";
import { describeType, type IssueList, isObject, type Json, listAt, objectAt, stringAt } from "../documents/fields.js";
import type { FieldPath } from "../documents/located.js";
import {
  ADMIN_API_VERSION,
  type AdminAction,
  type AdminNetworkPolicy,
  type AdminPeer,
  type AdminPodSet,
  type AdminPort,
  type AdminRule,
  type BaselineAction,
  type BaselineAdminNetworkPolicy,
} from "./admin-model.js";
import { portNameProblem, portNumberProblem, readLabelSelector, readProtocol } from "./normalize.js";

const MAX_RULES = 100;
const MAX_PEERS = 100;
const MAX_PORTS = 100;
const MAX_NETWORKS = 25;
const MAX_DOMAIN_NAMES = 25;
const MAX_RULE_NAME = 100;
const MAX_CIDR_LENGTH = 43;
const MAX_PRIORITY = 1000;
const DOMAIN_NAME = /^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/;

type Kind = "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy";
type PeerField = "namespaces" | "pods" | "nodes" | "networks" | "domainNames";

/** Which peer forms each rule list accepts. */
const INGRESS_PEERS: readonly PeerField[] = ["namespaces", "pods"];
const ANP_EGRESS_PEERS: readonly PeerField[] = ["namespaces", "pods", "nodes", "networks", "domainNames"];
const BANP_EGRESS_PEERS: readonly PeerField[] = ["namespaces", "pods", "nodes", "networks"];

/** A field counts as set unless absent or null (the API drops nulls of non-nullable fields). */
function isSet(parent: Json, key: string): boolean {
  return parent[key] !== undefined && parent[key] !== null;
}

function unknownFields(value: Json, allowed: readonly string[], path: FieldPath, what: string, issues: IssueList): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) issues.add([...path, key], `unknown field in ${what} (expected ${allowed.join(", ")})`);
  }
}

/** Exactly one of the listed fields must be set (the CRD's MinProperties=1, MaxProperties=1). */
function exactlyOne(value: Json, fields: readonly string[], path: FieldPath, what: string, issues: IssueList): string | undefined {
  const set = fields.filter((field) => isSet(value, field));
  if (set.length === 1) return set[0];
  if (set.length === 0) issues.add(path, `${what} must set exactly one of ${fields.join(", ")}`);
  else issues.add(path, `${what} must set exactly one of ${fields.join(", ")}, got ${set.join(" and ")}`);
  return undefined;
}

function readPodSet(raw: unknown, path: FieldPath, what: string, issues: IssueList): AdminPodSet | undefined {
  if (raw === undefined || raw === null) {
    issues.add(path, "is required (namespaces or pods)");
    return undefined;
  }
  if (!isObject(raw)) {
    issues.add(path, `must be an object (namespaces or pods), got ${describeType(raw)}`);
    return undefined;
  }
  unknownFields(raw, ["namespaces", "pods"], path, what, issues);
  const field = exactlyOne(raw, ["namespaces", "pods"], path, what, issues);
  return field === undefined ? undefined : readPodSetField(raw, field as "namespaces" | "pods", path, issues);
}

function readPodSetField(raw: Json, field: "namespaces" | "pods", path: FieldPath, issues: IssueList): AdminPodSet | undefined {
  const at = [...path, field];
  if (field === "namespaces") {
    return { kind: "namespaces", namespaceSelector: readLabelSelector(raw["namespaces"], at, issues) };
  }
  const pods = objectAt(raw, "pods", path, issues);
  if (!pods) return undefined;
  unknownFields(pods, ["namespaceSelector", "podSelector"], at, "pods (a namespaced pod selector)", issues);
  // Both selectors are required; an empty one ({}) selects everything.
  for (const key of ["namespaceSelector", "podSelector"]) {
    if (!isSet(pods, key)) issues.add([...at, key], "is required ({} selects all)");
  }
  return {
    kind: "pods",
    namespaceSelector: readLabelSelector(pods["namespaceSelector"], [...at, "namespaceSelector"], issues),
    podSelector: readLabelSelector(pods["podSelector"], [...at, "podSelector"], issues),
  };
}

function readNetworks(raw: unknown, path: FieldPath, issues: IssueList): Cidr[] {
  if (!Array.isArray(raw)) {
    issues.add(path, `must be a list of CIDRs, got ${describeType(raw)}`);
    return [];
  }
  if (raw.length === 0) issues.add(path, "must list at least one CIDR");
  if (raw.length > MAX_NETWORKS) issues.add(path, `may list at most ${MAX_NETWORKS} CIDRs, got ${raw.length}`);
  const networks: Cidr[] = [];
  const seen = new Set<string>();
  raw.forEach((item, i) => {
    const at = [...path, i];
    if (typeof item !== "string") {
      issues.add(at, `must be a CIDR string, got ${describeType(item)}`);
      return;
    }
    if (item.length > MAX_CIDR_LENGTH) {
      issues.add(at, `must be at most ${MAX_CIDR_LENGTH} characters`);
      return;
    }
    // CEL: self.contains(':') != self.contains('.'): no IPv4 embedded in IPv6.
    if (item.includes(":") === item.includes(".")) {
      issues.add(at, `"${item}" must be either an IPv4 or an IPv6 CIDR (IPv4 embedded in IPv6 is not supported)`);
      return;
    }
    const parsed = parseCidr(item);
    if (!parsed.ok) {
      issues.add(at, parsed.reason);
      return;
    }
    // listType=set: duplicates are rejected.
    if (seen.has(item)) issues.add(at, `"${item}" is listed twice`);
    seen.add(item);
    networks.push(parsed.value);
  });
  return networks;
}

function readDomainNames(raw: unknown, path: FieldPath, issues: IssueList): string[] {
  if (!Array.isArray(raw)) {
    issues.add(path, `must be a list of domain names, got ${describeType(raw)}`);
    return [];
  }
  if (raw.length === 0) issues.add(path, "must list at least one domain name");
  if (raw.length > MAX_DOMAIN_NAMES) issues.add(path, `may list at most ${MAX_DOMAIN_NAMES} domain names, got ${raw.length}`);
  const names: string[] = [];
  raw.forEach((item, i) => {
    if (typeof item !== "string" || !DOMAIN_NAME.test(item)) {
      issues.add([...path, i], `must be a domain name such as "example.com" or "*.example.com", got ${describeType(item)}`);
      return;
    }
    if (names.includes(item)) issues.add([...path, i], `"${item}" is listed twice`);
    names.push(item);
  });
  return names;
}

function readPeer(raw: unknown, path: FieldPath, allowed: readonly PeerField[], issues: IssueList): AdminPeer | undefined {
  if (!isObject(raw)) {
    issues.add(path, `must be an object (${allowed.join(", ")}), got ${describeType(raw)}`);
    return undefined;
  }
  unknownFields(raw, allowed, path, "a peer", issues);
  const field = exactlyOne(raw, allowed, path, "a peer", issues) as PeerField | undefined;
  switch (field) {
    case undefined:
      return undefined;
    case "namespaces":
    case "pods":
      return readPodSetField(raw, field, path, issues);
    case "nodes":
      return { kind: "nodes", nodeSelector: readLabelSelector(raw["nodes"], [...path, "nodes"], issues) };
    case "networks":
      return { kind: "networks", networks: readNetworks(raw["networks"], [...path, "networks"], issues) };
    case "domainNames":
      return { kind: "domainNames", domainNames: readDomainNames(raw["domainNames"], [...path, "domainNames"], issues) };
  }
}

function readPortValue(raw: Json, key: string, path: FieldPath, issues: IssueList): number | undefined {
  const value = raw[key];
  if (value === undefined || value === null) {
    issues.add([...path, key], "is required (1-65535)");
    return undefined;
  }
  const problem = typeof value === "number" ? portNumberProblem(value) : `must be a port number (1-65535), got ${describeType(value)}`;
  if (problem) {
    issues.add([...path, key], problem);
    return undefined;
  }
  return value as number;
}

function readPort(raw: unknown, path: FieldPath, issues: IssueList): AdminPort | undefined {
  const fields = ["portNumber", "namedPort", "portRange"];
  if (!isObject(raw)) {
    issues.add(path, `must be an object (${fields.join(", ")}), got ${describeType(raw)}`);
    return undefined;
  }
  unknownFields(raw, fields, path, "a port", issues);
  const field = exactlyOne(raw, fields, path, "a port", issues);
  if (field === undefined) return undefined;
  const at = [...path, field];
  if (field === "namedPort") {
    const name = stringAt(raw, "namedPort", path, issues);
    if (name === undefined) return undefined;
    const problem = portNameProblem(name);
    if (problem) {
      issues.add(at, problem);
      return undefined;
    }
    return { kind: "namedPort", name };
  }
  const value = objectAt(raw, field, path, issues);
  if (!value) return undefined;
  if (field === "portNumber") {
    unknownFields(value, ["protocol", "port"], at, "portNumber", issues);
    const protocol = readProtocol(value, at, issues);
    const port = readPortValue(value, "port", at, issues);
    return port === undefined ? undefined : { kind: "portNumber", protocol, port };
  }
  unknownFields(value, ["protocol", "start", "end"], at, "portRange", issues);
  const protocol = readProtocol(value, at, issues);
  const start = readPortValue(value, "start", at, issues);
  const end = readPortValue(value, "end", at, issues);
  if (start === undefined || end === undefined) return undefined;
  // The start must be less than the end; the range includes both.
  if (start >= end) {
    issues.add([...at, "end"], `must be greater than start (${end} <= ${start})`);
    return undefined;
  }
  return { kind: "portRange", protocol, start, end };
}

function readRules<A extends string>(
  spec: Json,
  direction: "ingress" | "egress",
  kind: Kind,
  actions: readonly A[],
  issues: IssueList,
): AdminRule<A>[] {
  const peersKey = direction === "ingress" ? "from" : "to";
  const allowedPeers = direction === "ingress" ? INGRESS_PEERS : kind === "AdminNetworkPolicy" ? ANP_EGRESS_PEERS : BANP_EGRESS_PEERS;
  const rules = listAt(spec, direction, ["spec"], issues) ?? [];
  if (rules.length > MAX_RULES) issues.add(["spec", direction], `may have at most ${MAX_RULES} rules, got ${rules.length}`);
  return rules.flatMap((raw, index): AdminRule<A>[] => {
    const at = ["spec", direction, index];
    if (!isObject(raw)) {
      issues.add(at, `must be an object (name, action, ${peersKey}, ports), got ${describeType(raw)}`);
      return [];
    }
    unknownFields(raw, ["name", "action", peersKey, "ports"], at, `an ${direction} rule`, issues);
    const name = stringAt(raw, "name", at, issues) ?? null;
    if (name !== null && name.length > MAX_RULE_NAME) issues.add([...at, "name"], `must be at most ${MAX_RULE_NAME} characters`);
    const action = stringAt(raw, "action", at, issues);
    if (action === undefined) issues.add([...at, "action"], `is required (${actions.join(", ")})`);
    else if (!actions.includes(action as A)) {
      const why = action === "Pass" ? " (Pass exists only in an AdminNetworkPolicy)" : "";
      issues.add([...at, "action"], `"${action}" is not a valid action: ${actions.join(", ")}${why}`);
    }

    const rawPeers = listAt(raw, peersKey, at, issues);
    if (rawPeers === undefined || rawPeers.length === 0) issues.add([...at, peersKey], "must list at least one peer");
    else if (rawPeers.length > MAX_PEERS) issues.add([...at, peersKey], `may list at most ${MAX_PEERS} peers, got ${rawPeers.length}`);
    const peers = (rawPeers ?? []).flatMap((peer, i) => readPeer(peer, [...at, peersKey, i], allowedPeers, issues) ?? []);

    const rawPorts = listAt(raw, "ports", at, issues);
    if (rawPorts !== undefined && rawPorts.length === 0) issues.add([...at, "ports"], "must list at least one port (omit ports to match every port)");
    if (rawPorts !== undefined && rawPorts.length > MAX_PORTS) issues.add([...at, "ports"], `may list at most ${MAX_PORTS} ports, got ${rawPorts.length}`);
    const ports = rawPorts === undefined ? null : rawPorts.flatMap((port, i) => readPort(port, [...at, "ports", i], issues) ?? []);

    // CEL on egress rules: nodes, networks and domain names have no named ports.
    if (direction === "egress" && ports !== null) {
      const external = peers.find((peer) => peer.kind === "nodes" || peer.kind === "networks" || peer.kind === "domainNames");
      const named = ports.findIndex((port) => port.kind === "namedPort");
      if (external && named >= 0) {
        issues.add([...at, "ports", named], `a namedPort cannot be used with a ${external.kind} peer (named ports exist only on pods)`);
      }
    }
    // domainNames are only supported in Allow rules.
    if (action !== "Allow") {
      peers.forEach((peer, i) => {
        if (peer.kind === "domainNames") issues.add([...at, peersKey, i, "domainNames"], "may only be used in Allow rules");
      });
    }
    return action === undefined ? [] : [{ name, action: action as A, peers, ports }];
  });
}

interface Common<A extends string> {
  readonly name: string | undefined;
  readonly spec: Json;
  readonly subject: AdminPodSet | undefined;
  readonly ingress: AdminRule<A>[];
  readonly egress: AdminRule<A>[];
}

function readCommon<A extends string>(raw: Json, kind: Kind, specFields: readonly string[], actions: readonly A[], issues: IssueList): Common<A> {
  const apiVersion = raw["apiVersion"];
  if (apiVersion !== undefined && apiVersion !== ADMIN_API_VERSION) {
    issues.add(["apiVersion"], `${kind} is read as ${ADMIN_API_VERSION}, got ${describeType(apiVersion)}`);
  }
  const metadata = objectAt(raw, "metadata", [], issues) ?? {};
  const name = stringAt(metadata, "name", ["metadata"], issues);
  if (!name) issues.add(["metadata", "name"], "is required");
  // Cluster-scoped: metadata.namespace has no meaning and is ignored.
  const spec = objectAt(raw, "spec", [], issues);
  if (!spec) {
    issues.add(["spec"], "is required");
    return { name, spec: {}, subject: undefined, ingress: [], egress: [] };
  }
  unknownFields(spec, specFields, ["spec"], `a ${kind} spec`, issues);
  return {
    name,
    spec,
    subject: readPodSet(spec["subject"], ["spec", "subject"], "spec.subject", issues),
    ingress: readRules(spec, "ingress", kind, actions, issues),
    egress: readRules(spec, "egress", kind, actions, issues),
  };
}

const ANP_ACTIONS: readonly AdminAction[] = ["Allow", "Deny", "Pass"];
const BANP_ACTIONS: readonly BaselineAction[] = ["Allow", "Deny"];

/**
 * Normalises one AdminNetworkPolicy. Returns undefined when it is invalid; every problem
 * is added to issues with its path (relative to the object).
 */
export function normalizeAdminNetworkPolicy(raw: Json, issues: IssueList): AdminNetworkPolicy | undefined {
  const before = issues.issues.length;
  const common = readCommon(raw, "AdminNetworkPolicy", ["priority", "subject", "ingress", "egress"], ANP_ACTIONS, issues);
  const priority = common.spec["priority"];
  if (priority === undefined || priority === null) {
    // A missing spec is reported once, above.
    if (isObject(raw["spec"])) issues.add(["spec", "priority"], `is required (0-${MAX_PRIORITY}; lower numbers take precedence)`);
  } else if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 0 || priority > MAX_PRIORITY) {
    issues.add(["spec", "priority"], `must be an integer from 0 to ${MAX_PRIORITY}, got ${describeType(priority)}`);
  }
  if (issues.issues.length > before || !common.name || !common.subject || typeof priority !== "number") return undefined;
  return { name: common.name, priority, subject: common.subject, ingress: common.ingress, egress: common.egress };
}

/** Normalises the BaselineAdminNetworkPolicy, a singleton that must be named "default". */
export function normalizeBaselineAdminNetworkPolicy(raw: Json, issues: IssueList): BaselineAdminNetworkPolicy | undefined {
  const before = issues.issues.length;
  const common = readCommon(raw, "BaselineAdminNetworkPolicy", ["subject", "ingress", "egress"], BANP_ACTIONS, issues);
  if (common.name && common.name !== "default") {
    issues.add(["metadata", "name"], `must be "default": only one BaselineAdminNetworkPolicy, named default, can exist in a cluster (got "${common.name}")`);
  }
  if (issues.issues.length > before || !common.name || !common.subject) return undefined;
  return { name: common.name, subject: common.subject, ingress: common.ingress, egress: common.egress };
}
