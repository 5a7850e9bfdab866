// From a NetworkPolicy as written (by hand, or as read from the API) to the engine's
// model: the API server's validation and defaults applied here, assuming none were.

import { type Cidr, cidrContainsCidr, parseCidr } from "../addresses/ip.js";
import { labelKeyProblem, labelValueProblem, readLabels } from "../objects/labels.js";
import { PROTOCOLS, type Protocol } from "../objects/model.js";
import {
  describeType,
  type IssueList,
  isObject,
  type Json,
  listAt,
  objectAt,
  stringAt,
} from "../documents/fields.js";
import type { FieldPath } from "../documents/located.js";
import type {
  LabelSelector,
  NetworkPolicy,
  PolicyPeer,
  PolicyPort,
  PolicyRule,
  SelectorOperator,
  SelectorRequirement,
} from "./model.js";

const OPERATORS: readonly SelectorOperator[] = ["In", "NotIn", "Exists", "DoesNotExist"];
const IANA_SERVICE_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export const EMPTY_SELECTOR: LabelSelector = { matchLabels: {}, matchExpressions: [] };

export function readLabelSelector(value: unknown, path: FieldPath, issues: IssueList): LabelSelector {
  if (value === undefined || value === null) return EMPTY_SELECTOR;
  if (!isObject(value)) {
    issues.add(path, `must be a label selector (matchLabels, matchExpressions), got ${describeType(value)}`);
    return EMPTY_SELECTOR;
  }
  for (const key of Object.keys(value)) {
    if (key !== "matchLabels" && key !== "matchExpressions") {
      issues.add([...path, key], `unknown field in a label selector (expected matchLabels or matchExpressions)`);
    }
  }
  const matchLabels = readLabels(value["matchLabels"], [...path, "matchLabels"], issues);
  const expressions = listAt(value, "matchExpressions", path, issues) ?? [];
  const matchExpressions: SelectorRequirement[] = [];
  expressions.forEach((raw, index) => {
    const at = [...path, "matchExpressions", index];
    if (!isObject(raw)) {
      issues.add(at, `must be an object with key, operator and values, got ${describeType(raw)}`);
      return;
    }
    for (const field of Object.keys(raw)) {
      if (field !== "key" && field !== "operator" && field !== "values") issues.add([...at, field], "unknown field in a label selector requirement (expected key, operator or values)");
    }
    const key = stringAt(raw, "key", at, issues);
    const operator = stringAt(raw, "operator", at, issues);
    const rawValues = listAt(raw, "values", at, issues) ?? [];
    if (key === undefined) issues.add([...at, "key"], "is required");
    else {
      const problem = labelKeyProblem(key);
      if (problem) issues.add([...at, "key"], problem);
    }
    if (operator === undefined) {
      issues.add([...at, "operator"], `is required (one of ${OPERATORS.join(", ")})`);
      return;
    }
    if (!OPERATORS.includes(operator as SelectorOperator)) {
      issues.add([...at, "operator"], `"${operator}" is not a valid operator (one of ${OPERATORS.join(", ")})`);
      return;
    }
    const values: string[] = [];
    rawValues.forEach((item, i) => {
      if (typeof item !== "string") {
        issues.add([...at, "values", i], `must be a string, got ${describeType(item)}`);
        return;
      }
      const problem = labelValueProblem(item);
      if (problem) issues.add([...at, "values", i], problem);
      values.push(item);
    });
    const needsValues = operator === "In" || operator === "NotIn";
    if (needsValues && rawValues.length === 0) {
      issues.add([...at, "values"], `must be non-empty when operator is ${operator}`);
    }
    if (!needsValues && rawValues.length > 0) {
      issues.add([...at, "values"], `must be empty when operator is ${operator}`);
    }
    if (key !== undefined) matchExpressions.push({ key, operator: operator as SelectorOperator, values });
  });
  return { matchLabels, matchExpressions };
}

/** A protocol field (TCP, UDP, SCTP), TCP when absent. */
export function readProtocol(raw: Json, path: FieldPath, issues: IssueList): Protocol {
  const protocol = stringAt(raw, "protocol", path, issues);
  // Protocol defaults to TCP.
  if (protocol === undefined) return "TCP";
  if (PROTOCOLS.includes(protocol as Protocol)) return protocol as Protocol;
  issues.add([...path, "protocol"], `"${protocol}" is not supported (TCP, UDP or SCTP)`);
  return "TCP";
}

export function portNumberProblem(port: number): string | undefined {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? undefined : `${port} is not a valid port (1-65535)`;
}

export function portNameProblem(name: string): string | undefined {
  if (name.length > 15 || !IANA_SERVICE_NAME.test(name) || name.includes("--") || !/[a-z]/.test(name)) {
    return `"${name}" is not a valid port name (at most 15 lower-case letters, digits and "-", with at least one letter)`;
  }
  return undefined;
}

function readPort(raw: unknown, path: FieldPath, issues: IssueList): PolicyPort | undefined {
  if (!isObject(raw)) {
    issues.add(path, `must be an object (protocol, port, endPort), got ${describeType(raw)}`);
    return undefined;
  }
  const protocol = readProtocol(raw, path, issues);
  const rawPort = raw["port"];
  let port: number | string | null = null;
  if (typeof rawPort === "number") {
    const problem = portNumberProblem(rawPort);
    if (problem) issues.add([...path, "port"], problem);
    port = rawPort;
  } else if (typeof rawPort === "string") {
    const problem = portNameProblem(rawPort);
    if (problem) issues.add([...path, "port"], problem);
    port = rawPort;
  } else if (rawPort !== undefined && rawPort !== null) {
    issues.add([...path, "port"], `must be a port number or a port name, got ${describeType(rawPort)}`);
  }
  const rawEnd = raw["endPort"];
  let endPort: number | null = null;
  if (rawEnd !== undefined && rawEnd !== null) {
    if (typeof rawEnd !== "number") {
      issues.add([...path, "endPort"], `must be a port number, got ${describeType(rawEnd)}`);
    } else if (typeof port !== "number") {
      issues.add([...path, "endPort"], "may only be used together with a numeric port");
    } else if (portNumberProblem(rawEnd)) {
      issues.add([...path, "endPort"], portNumberProblem(rawEnd) as string);
    } else if (rawEnd < port) {
      issues.add([...path, "endPort"], `must be greater than or equal to port (${rawEnd} < ${port})`);
    } else {
      endPort = rawEnd;
    }
  }
  return { protocol, port, endPort };
}

function readCidr(value: unknown, path: FieldPath, issues: IssueList): Cidr | undefined {
  if (typeof value !== "string") {
    issues.add(path, value === undefined ? "is required" : `must be a CIDR string, got ${describeType(value)}`);
    return undefined;
  }
  const parsed = parseCidr(value);
  if (!parsed.ok) {
    issues.add(path, parsed.reason);
    return undefined;
  }
  return parsed.value;
}

function readPeer(raw: unknown, path: FieldPath, issues: IssueList): PolicyPeer | undefined {
  if (!isObject(raw)) {
    issues.add(path, `must be an object (podSelector, namespaceSelector or ipBlock), got ${describeType(raw)}`);
    return undefined;
  }
  const hasPods = raw["podSelector"] !== undefined && raw["podSelector"] !== null;
  const hasNamespaces = raw["namespaceSelector"] !== undefined && raw["namespaceSelector"] !== null;
  const ipBlock = objectAt(raw, "ipBlock", path, issues);
  if (!hasPods && !hasNamespaces && ipBlock === undefined) {
    issues.add(path, "must specify a peer (podSelector, namespaceSelector or ipBlock)");
    return undefined;
  }
  if (ipBlock !== undefined) {
    if (hasPods || hasNamespaces) {
      issues.add(path, "may not specify both ipBlock and another peer type");
      return undefined;
    }
    const cidr = readCidr(ipBlock["cidr"], [...path, "ipBlock", "cidr"], issues);
    const except: Cidr[] = [];
    (listAt(ipBlock, "except", [...path, "ipBlock"], issues) ?? []).forEach((item, index) => {
      const at = [...path, "ipBlock", "except", index];
      const excluded = readCidr(item, at, issues);
      if (!excluded || !cidr) return;
      // Each except block must lie strictly inside cidr (same family, longer prefix).
      if (!cidrContainsCidr(cidr, excluded) || excluded.prefix <= cidr.prefix) {
        issues.add(at, `${excluded.text} must be a strict subset of cidr ${cidr.text}`);
        return;
      }
      except.push(excluded);
    });
    return cidr ? { kind: "ipBlock", cidr, except } : undefined;
  }
  return {
    kind: "pods",
    namespaceSelector: hasNamespaces ? readLabelSelector(raw["namespaceSelector"], [...path, "namespaceSelector"], issues) : null,
    podSelector: hasPods ? readLabelSelector(raw["podSelector"], [...path, "podSelector"], issues) : null,
  };
}

function readRules(spec: Json, direction: "ingress" | "egress", path: FieldPath, issues: IssueList): PolicyRule[] {
  const peersKey = direction === "ingress" ? "from" : "to";
  const rules = listAt(spec, direction, path, issues) ?? [];
  return rules.flatMap((raw, index): PolicyRule[] => {
    const at = [...path, direction, index];
    // A rule written as null or {} admits everything.
    if (raw === null) return [{ peers: null, ports: null }];
    if (!isObject(raw)) {
      issues.add(at, `must be an object (${peersKey}, ports), got ${describeType(raw)}`);
      return [];
    }
    for (const key of Object.keys(raw)) {
      if (key !== peersKey && key !== "ports") issues.add([...at, key], `unknown field in an ${direction} rule (expected ${peersKey} or ports)`);
    }
    const rawPeers = listAt(raw, peersKey, at, issues);
    const rawPorts = listAt(raw, "ports", at, issues);
    // Inside a rule, an empty or absent peer list or port list means "all".
    const peers =
      rawPeers === undefined || rawPeers.length === 0
        ? null
        : rawPeers.flatMap((peer, i) => readPeer(peer, [...at, peersKey, i], issues) ?? []);
    const ports =
      rawPorts === undefined || rawPorts.length === 0
        ? null
        : rawPorts.flatMap((port, i) => readPort(port, [...at, "ports", i], issues) ?? []);
    return [{ peers, ports }];
  });
}

/**
 * Normalises one NetworkPolicy object. Returns undefined when it is invalid; every
 * problem is added to issues with its path (relative to the object).
 */
export function normalizeNetworkPolicy(raw: Json, issues: IssueList): NetworkPolicy | undefined {
  const before = issues.issues.length;
  const metadata = objectAt(raw, "metadata", [], issues) ?? {};
  const name = stringAt(metadata, "name", ["metadata"], issues);
  if (!name) issues.add(["metadata", "name"], "is required");
  const namespace = stringAt(metadata, "namespace", ["metadata"], issues) ?? "default";
  const spec = objectAt(raw, "spec", [], issues) ?? {};
  // podSelector is required by the API; an empty one selects every pod in the namespace.
  const podSelector = readLabelSelector(spec["podSelector"], ["spec", "podSelector"], issues);
  const ingress = readRules(spec, "ingress", ["spec"], issues);
  const egress = readRules(spec, "egress", ["spec"], issues);

  let ingressIsolation: boolean;
  let egressIsolation: boolean;
  const policyTypes = listAt(spec, "policyTypes", ["spec"], issues);
  if (policyTypes === undefined || policyTypes.length === 0) {
    // Missing policyTypes: Ingress always, Egress only when egress rules are present.
    ingressIsolation = true;
    egressIsolation = egress.length > 0;
  } else {
    // An explicit list is complete: an ingress section on an Egress-only policy is ignored.
    ingressIsolation = false;
    egressIsolation = false;
    if (policyTypes.length > 2) issues.add(["spec", "policyTypes"], "may not list more than two policy types");
    policyTypes.forEach((type, index) => {
      if (type === "Ingress") ingressIsolation = true;
      else if (type === "Egress") egressIsolation = true;
      else issues.add(["spec", "policyTypes", index], `${JSON.stringify(type)} is not a policy type (Ingress or Egress)`);
    });
  }
  if (issues.issues.length > before || !name) return undefined;
  return { namespace, name, podSelector, ingressIsolation, egressIsolation, ingress, egress };
}
