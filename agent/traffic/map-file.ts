// A recorded traffic map (flow.ts FlowMap, as JSON) read back from a file, checked field by
// field, and several maps merged into one. A map comes from another machine: every field is
// checked before anything trusts it, and a bad one is reported with its file, line and field.
// The file is parsed with JSON.parse (fast, whatever its size); only when it holds errors is
// it parsed again with the located reader (documents/located.ts) to give them their lines,
// and only when it is small enough for that reader's bounds.

import { parseIp } from "../addresses/ip.js";
import { labelKeyProblem, labelValueProblem } from "../objects/labels.js";
import { namespaceNameProblem, objectNameProblem } from "../objects/names.js";
import { describeType, IssueList, isObject, type Json } from "../documents/fields.js";
import { errorAt, type FieldPath, formatFieldPath, type InputError, parseDocuments, readInputFile } from "../documents/located.js";
import {
  type FlowBackend,
  type FlowCoverage,
  type FlowDirection,
  type FlowEvidence,
  type FlowLabels,
  type FlowMap,
  type FlowPeer,
  type FlowProtocol,
  type FlowWorkload,
  flowKey,
  MAX_SAMPLE_ADDRESSES,
  type ObservedFlow,
} from "./flow.js";

export const FLOW_MAP_LIMITS = {
  /** A map file larger than this is refused unread (some 100,000 flows). */
  fileBytes: 64 * 1024 * 1024,
  /** Flows in one map, and in a merge of maps. */
  flows: 200_000,
  /** Below this size a map with errors is parsed again to give each error its line. */
  locateBytes: 512 * 1024,
  /** Field errors reported per file; the rest are counted. */
  errors: 50,
} as const;

export type FlowMapRead = { readonly ok: true; readonly map: FlowMap } | { readonly ok: false; readonly errors: readonly InputError[] };

const DIRECTIONS: readonly FlowDirection[] = ["outbound", "inbound"];
const PROTOCOLS: readonly FlowProtocol[] = ["TCP", "UDP"];
const EVIDENCE: readonly FlowEvidence[] = ["socket-table", "conntrack"];
const TEXT_MAX = 1024;

/** Reads and checks one map file. */
export async function readFlowMap(file: string): Promise<FlowMapRead> {
  const read = await readInputFile(file, { maxBytes: FLOW_MAP_LIMITS.fileBytes });
  if (!read.ok) return { ok: false, errors: [read.error] };
  return parseFlowMap(read.text, file);
}

/** Checks the text of one map file. Pure. */
export function parseFlowMap(text: string, file: string): FlowMapRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, errors: [{ file, ...jsonErrorLine(text, error), message: `not a JSON flow map: ${(error as Error).message}` }] };
  }
  const issues = new IssueList();
  const map = checkFlowMap(value, issues);
  if (map && issues.empty) return { ok: true, map };
  return { ok: false, errors: locate(text, file, issues) };
}

/** JSON.parse names the position of a syntax error; the line is counted from it. */
function jsonErrorLine(text: string, error: unknown): { line?: number } {
  const position = /position (\d+)/.exec((error as Error).message)?.[1];
  if (position === undefined) return {};
  return { line: text.slice(0, Number(position)).split("\n").length };
}

function locate(text: string, file: string, issues: IssueList): InputError[] {
  const shown = issues.issues.slice(0, FLOW_MAP_LIMITS.errors);
  const doc = text.length <= FLOW_MAP_LIMITS.locateBytes ? parseDocuments(text, file).documents[0] : undefined;
  const errors = shown.map((issue): InputError => {
    if (doc) return errorAt(doc, issue.path, issue.message);
    const field = formatFieldPath(issue.path);
    return { file, ...(field ? { field } : {}), message: issue.message };
  });
  const more = issues.issues.length - shown.length;
  if (more > 0) errors.push({ file, message: `and ${more} more error(s)` });
  return errors;
}

function text(raw: Json, key: string, path: FieldPath, issues: IssueList, options: { optional?: boolean } = {}): string | undefined {
  const value = raw[key];
  if (value === undefined && options.optional) return undefined;
  if (typeof value !== "string" || value === "" || value.length > TEXT_MAX) {
    issues.add([...path, key], value === undefined ? "is required" : `must be a non-empty string of at most ${TEXT_MAX} characters, got ${describeType(value)}`);
    return undefined;
  }
  return value;
}

function time(raw: Json, key: string, path: FieldPath, issues: IssueList): string | undefined {
  const value = text(raw, key, path, issues);
  if (value !== undefined && Number.isNaN(Date.parse(value))) issues.add([...path, key], `must be an RFC 3339 time, got "${value}"`);
  return value;
}

function oneOf<T extends string>(raw: Json, key: string, allowed: readonly T[], path: FieldPath, issues: IssueList): T | undefined {
  const value = raw[key];
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  issues.add([...path, key], `must be one of ${allowed.join(", ")}, got ${describeType(value)}`);
  return undefined;
}

function count(raw: Json, key: string, path: FieldPath, issues: IssueList, max: number): number | undefined {
  const value = raw[key];
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max) return value;
  issues.add([...path, key], `must be a whole number from 0 to ${max}, got ${describeType(value)}`);
  return undefined;
}

function port(raw: Json, key: string, path: FieldPath, issues: IssueList): number | undefined {
  const value = raw[key];
  if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535) return value;
  issues.add([...path, key], `must be a port number from 1 to 65535, got ${describeType(value)}`);
  return undefined;
}

function labels(value: unknown, path: FieldPath, issues: IssueList): FlowLabels | undefined {
  if (!isObject(value)) {
    issues.add(path, `must be a map of labels, got ${describeType(value)}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [key, label] of Object.entries(value)) {
    const problem = labelKeyProblem(key) ?? (typeof label === "string" ? labelValueProblem(label) : `label "${key}" must be a string, got ${describeType(label)}`);
    if (problem) issues.add([...path, key], problem);
    else out[key] = label as string;
  }
  return out;
}

/** A namespace field: a namespace name as the API server takes it. */
function namespaceName(raw: Json, path: FieldPath, issues: IssueList): string | undefined {
  const value = text(raw, "namespace", path, issues);
  const problem = value === undefined ? undefined : namespaceNameProblem(value);
  if (problem) issues.add([...path, "namespace"], problem);
  return problem ? undefined : value;
}

/** A name field: an object name as the API server takes it (it becomes part of policy names). */
function objectName(raw: Json, key: string, path: FieldPath, issues: IssueList): string | undefined {
  const value = text(raw, key, path, issues);
  const problem = value === undefined ? undefined : objectNameProblem("object", value);
  if (problem) issues.add([...path, key], problem);
  return problem ? undefined : value;
}

function workload(value: unknown, path: FieldPath, issues: IssueList): FlowWorkload | undefined {
  if (!isObject(value)) {
    issues.add(path, `must be a workload (namespace, kind, name, labels), got ${describeType(value)}`);
    return undefined;
  }
  const namespace = namespaceName(value, path, issues);
  const kind = text(value, "kind", path, issues);
  if (kind !== undefined && !/^[a-z]{1,63}$/.test(kind)) issues.add([...path, "kind"], `must be a workload kind in lower case (deployment, statefulset, ...), got "${kind}"`);
  const name = objectName(value, "name", path, issues);
  const workloadLabels = labels(value["labels"], [...path, "labels"], issues);
  if (namespace === undefined || kind === undefined || name === undefined || workloadLabels === undefined) return undefined;
  return { namespace, kind, name, labels: workloadLabels };
}

function addresses(value: unknown, path: FieldPath, issues: IssueList): string[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_SAMPLE_ADDRESSES) {
    issues.add(path, `must be a list of at most ${MAX_SAMPLE_ADDRESSES} IP addresses, got ${describeType(value)}`);
    return undefined;
  }
  const out: string[] = [];
  value.forEach((entry: unknown, i) => {
    const parsed = typeof entry === "string" ? parseIp(entry) : undefined;
    if (parsed?.ok) out.push(parsed.value.text);
    else issues.add([...path, i], `must be an IP address, got ${describeType(entry)}`);
  });
  return out;
}

function backends(value: unknown, path: FieldPath, issues: IssueList): FlowBackend[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_SAMPLE_ADDRESSES) {
    issues.add(path, `must be a list of at most ${MAX_SAMPLE_ADDRESSES} backends, got ${describeType(value)}`);
    return undefined;
  }
  const out: FlowBackend[] = [];
  value.forEach((entry: unknown, i) => {
    if (!isObject(entry)) {
      issues.add([...path, i], `must be a backend (workload, port), got ${describeType(entry)}`);
      return;
    }
    const w = workload(entry["workload"], [...path, i, "workload"], issues);
    const p = port(entry, "port", [...path, i], issues);
    if (w && p !== undefined) out.push({ workload: w, port: p });
  });
  return out;
}

function peer(value: unknown, path: FieldPath, issues: IssueList): FlowPeer | undefined {
  if (!isObject(value)) {
    issues.add(path, `must be a peer, got ${describeType(value)}`);
    return undefined;
  }
  const kind = oneOf(value, "kind", ["workload", "service", "node", "zscaler", "external", "unnamed"] as const, path, issues);
  switch (kind) {
    case undefined:
      return undefined;
    case "workload": {
      const w = workload(value["workload"], [...path, "workload"], issues);
      return w && { kind, workload: w };
    }
    case "service": {
      const namespace = namespaceName(value, path, issues);
      const name = objectName(value, "name", path, issues);
      const list = value["backends"] === undefined ? undefined : backends(value["backends"], [...path, "backends"], issues);
      if (namespace === undefined || name === undefined) return undefined;
      return { kind, namespace, name, ...(list ? { backends: list } : {}) };
    }
    case "node": {
      const name = objectName(value, "name", path, issues);
      return name === undefined ? undefined : { kind, name };
    }
    case "zscaler": {
      const cloud = text(value, "cloud", path, issues);
      const city = text(value, "city", path, issues, { optional: true });
      const range = cidrText(value, path, issues);
      if (cloud === undefined || range === undefined) return undefined;
      return { kind, cloud, ...(city !== undefined ? { city } : {}), range };
    }
    case "external": {
      const range = cidrText(value, path, issues);
      const name = text(value, "name", path, issues, { optional: true });
      return range === undefined ? undefined : { kind, range, ...(name !== undefined ? { name } : {}) };
    }
    case "unnamed": {
      const address = text(value, "address", path, issues);
      const reason = text(value, "reason", path, issues);
      return address === undefined || reason === undefined ? undefined : { kind, address, reason };
    }
  }
}

function cidrText(raw: Json, path: FieldPath, issues: IssueList): string | undefined {
  const value = text(raw, "range", path, issues);
  if (value === undefined) return undefined;
  const [address, prefix, ...rest] = value.split("/");
  const ip = parseIp(address ?? "");
  const bits = ip.ok ? (ip.value.family === 4 ? 32 : 128) : 0;
  if (!ip.ok || rest.length > 0 || prefix === undefined || !/^\d+$/.test(prefix) || Number(prefix) > bits) {
    issues.add([...path, "range"], `must be a CIDR such as 203.0.113.0/24, got "${value}"`);
    return undefined;
  }
  return value;
}

function flow(value: unknown, path: FieldPath, issues: IssueList): ObservedFlow | undefined {
  if (!isObject(value)) {
    issues.add(path, `must be a flow, got ${describeType(value)}`);
    return undefined;
  }
  const direction = oneOf(value, "direction", DIRECTIONS, path, issues);
  const protocol = oneOf(value, "protocol", PROTOCOLS, path, issues);
  const local = workload(value["local"], [...path, "local"], issues);
  const remote = peer(value["peer"], [...path, "peer"], issues);
  const p = port(value, "port", path, issues);
  const remoteAddresses = addresses(value["remoteAddresses"], [...path, "remoteAddresses"], issues);
  const localAddresses = addresses(value["localAddresses"], [...path, "localAddresses"], issues);
  const firstSeen = time(value, "firstSeen", path, issues);
  const lastSeen = time(value, "lastSeen", path, issues);
  const observations = count(value, "observations", path, issues, Number.MAX_SAFE_INTEGER);
  let evidence: FlowEvidence[] | undefined;
  if (Array.isArray(value["evidence"]) && value["evidence"].every((e: unknown) => EVIDENCE.includes(e as FlowEvidence))) {
    evidence = [...new Set(value["evidence"] as FlowEvidence[])];
  } else issues.add([...path, "evidence"], `must be a list of ${EVIDENCE.join(", ")}, got ${describeType(value["evidence"])}`);
  if (
    direction === undefined || protocol === undefined || !local || !remote || p === undefined || !remoteAddresses || !localAddresses ||
    firstSeen === undefined || lastSeen === undefined || observations === undefined || !evidence
  ) {
    return undefined;
  }
  if (value["attemptOnly"] !== undefined && value["attemptOnly"] !== true) issues.add([...path, "attemptOnly"], `must be true when present, got ${describeType(value["attemptOnly"])}`);
  const attemptOnly = value["attemptOnly"] === true ? { attemptOnly: true as const } : {};
  return { direction, protocol, local, peer: remote, port: p, remoteAddresses, localAddresses, firstSeen, lastSeen, observations, evidence, ...attemptOnly };
}

function coverage(value: unknown, path: FieldPath, issues: IssueList): FlowCoverage | undefined {
  if (!isObject(value)) {
    issues.add(path, `must be the map's coverage, got ${describeType(value)}`);
    return undefined;
  }
  const podsSelected = count(value, "podsSelected", path, issues, 1_000_000);
  const podsObserved = count(value, "podsObserved", path, issues, 1_000_000);
  const droppedFlows = count(value, "droppedFlows", path, issues, Number.MAX_SAFE_INTEGER);
  const missed: { pod: string; reason: string }[] = [];
  const sources: { evidence: FlowEvidence; limits: string }[] = [];
  const lists = [
    ["missed", (entry: Json, at: FieldPath) => {
      const pod = text(entry, "pod", at, issues);
      const reason = text(entry, "reason", at, issues);
      if (pod !== undefined && reason !== undefined) missed.push({ pod, reason });
    }],
    ["sources", (entry: Json, at: FieldPath) => {
      const evidence = oneOf(entry, "evidence", EVIDENCE, at, issues);
      const limits = text(entry, "limits", at, issues);
      if (evidence !== undefined && limits !== undefined) sources.push({ evidence, limits });
    }],
  ] as const;
  for (const [key, take] of lists) {
    const list = value[key];
    if (!Array.isArray(list) || list.length > 1000) {
      issues.add([...path, key], `must be a list (at most 1,000 entries), got ${describeType(list)}`);
      continue;
    }
    list.forEach((entry: unknown, i) => (isObject(entry) ? take(entry, [...path, key, i]) : issues.add([...path, key, i], `must be an object, got ${describeType(entry)}`)));
  }
  if (podsSelected === undefined || podsObserved === undefined || droppedFlows === undefined) return undefined;
  return { podsSelected, podsObserved, missed, sources, droppedFlows };
}

/** Checks a parsed value as a FlowMap; problems go to issues, at their field. Pure. */
export function checkFlowMap(value: unknown, issues: IssueList): FlowMap | undefined {
  if (!isObject(value)) {
    issues.add([], `must be a FlowMap object, got ${describeType(value)}`);
    return undefined;
  }
  if (value["apiVersion"] !== "netcanary/v1") issues.add(["apiVersion"], `must be netcanary/v1, got ${describeType(value["apiVersion"])}`);
  if (value["kind"] !== "FlowMap") issues.add(["kind"], `must be FlowMap, got ${describeType(value["kind"])}`);
  const node = text(value, "node", [], issues, { optional: true });
  const from = time(value, "from", [], issues);
  const until = time(value, "until", [], issues);
  const namespaces: { name: string; labels: FlowLabels }[] = [];
  if (Array.isArray(value["namespaces"])) {
    value["namespaces"].forEach((entry: unknown, i) => {
      if (!isObject(entry)) return issues.add(["namespaces", i], `must be a namespace (name, labels), got ${describeType(entry)}`);
      const name = text(entry, "name", ["namespaces", i], issues);
      const problem = name === undefined ? undefined : namespaceNameProblem(name);
      if (problem) issues.add(["namespaces", i, "name"], problem);
      const nsLabels = labels(entry["labels"], ["namespaces", i, "labels"], issues);
      if (name !== undefined && !problem && nsLabels) namespaces.push({ name, labels: nsLabels });
    });
  } else issues.add(["namespaces"], `must be a list, got ${describeType(value["namespaces"])}`);
  const flows: ObservedFlow[] = [];
  const rawFlows = value["flows"];
  if (!Array.isArray(rawFlows)) issues.add(["flows"], `must be a list, got ${describeType(rawFlows)}`);
  else if (rawFlows.length > FLOW_MAP_LIMITS.flows) issues.add(["flows"], `holds ${rawFlows.length} flows, more than ${FLOW_MAP_LIMITS.flows}`);
  else {
    rawFlows.forEach((entry: unknown, i) => {
      // Past the shown errors, checking goes on only to count them: bounded by the flow limit.
      const one = flow(entry, ["flows", i], issues);
      if (one) flows.push(one);
    });
  }
  const cover = coverage(value["coverage"], ["coverage"], issues);
  if (from === undefined || until === undefined || !cover) return undefined;
  return { apiVersion: "netcanary/v1", kind: "FlowMap", ...(node !== undefined ? { node } : {}), from, until, namespaces, flows, coverage: cover };
}

function earlier(a: string, b: string): string {
  return Date.parse(a) <= Date.parse(b) ? a : b;
}

function later(a: string, b: string): string {
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

function sampleUnion(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].slice(0, MAX_SAMPLE_ADDRESSES);
}

/** Two records of one flow (same flowKey) as one. */
function mergeFlow(a: ObservedFlow, b: ObservedFlow): ObservedFlow {
  return {
    ...a,
    remoteAddresses: sampleUnion(a.remoteAddresses, b.remoteAddresses),
    localAddresses: sampleUnion(a.localAddresses, b.localAddresses),
    firstSeen: earlier(a.firstSeen, b.firstSeen),
    lastSeen: later(a.lastSeen, b.lastSeen),
    observations: a.observations + b.observations,
    evidence: EVIDENCE.filter((e) => a.evidence.includes(e) || b.evidence.includes(e)),
  };
}

/**
 * Several maps (nodes, or one node's over time) as one: flows with the same key merged,
 * namespaces' labels from the latest map naming them, coverage summed. The node is kept only
 * when every map is of the same node. Flows in first-seen order of their keys. Pure.
 */
export function mergeFlowMaps(maps: readonly FlowMap[]): FlowMap {
  const flows = new Map<string, ObservedFlow>();
  const namespaces = new Map<string, { name: string; labels: FlowLabels; until: string }>();
  const nodes = new Set(maps.map((m) => m.node));
  let from: string | undefined;
  let until: string | undefined;
  const coverage = { podsSelected: 0, podsObserved: 0, missed: [] as { pod: string; reason: string }[], sources: [] as { evidence: FlowEvidence; limits: string }[], droppedFlows: 0 };
  for (const map of maps) {
    from = from === undefined ? map.from : earlier(from, map.from);
    until = until === undefined ? map.until : later(until, map.until);
    for (const f of map.flows) {
      const key = flowKey(f);
      const known = flows.get(key);
      flows.set(key, known ? mergeFlow(known, f) : f);
    }
    for (const ns of map.namespaces) {
      const known = namespaces.get(ns.name);
      if (!known || Date.parse(map.until) >= Date.parse(known.until)) namespaces.set(ns.name, { ...ns, until: map.until });
    }
    coverage.podsSelected += map.coverage.podsSelected;
    coverage.podsObserved += map.coverage.podsObserved;
    coverage.droppedFlows += map.coverage.droppedFlows;
    coverage.missed.push(...map.coverage.missed.slice(0, Math.max(0, 1000 - coverage.missed.length)));
    for (const source of map.coverage.sources) {
      if (!coverage.sources.some((s) => s.evidence === source.evidence && s.limits === source.limits)) coverage.sources.push(source);
    }
  }
  const node = nodes.size === 1 ? [...nodes][0] : undefined;
  return {
    apiVersion: "netcanary/v1",
    kind: "FlowMap",
    ...(node !== undefined ? { node } : {}),
    from: from ?? new Date(0).toISOString(),
    until: until ?? new Date(0).toISOString(),
    namespaces: [...namespaces.values()].map(({ name, labels: l }) => ({ name, labels: l })),
    flows: [...flows.values()],
    coverage,
  };
}
