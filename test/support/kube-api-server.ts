// A wire-true Kubernetes API server for tests. It speaks plain HTTP on 127.0.0.1 and
// behaves like kube-apiserver where clients can tell: discovery documents, one global
// resourceVersion, lists with label selectors (set-based too) and field selectors and
// consistent chunking (limit/continue), resourceVersion=0 lists served "from the cache"
// (any recent state; limit ignored), the metadata-only representation
// (Accept: ...;as=PartialObjectMetadataList / PartialObjectMetadata;g=meta.k8s.io;v=v1),
// watches as newline-delimited JSON over chunked encoding with history replay, 410 "too old
// resource version" ERROR events, bookmarks, timeouts, and Status objects for every failure.
// Every request records the objects and bytes sent for it (what a client cost the server).
// Tests drive it with the real @kubernetes/client-node and the agent's own client; they seed
// state with apply()/remove() and inject faults (403, 410, delays, holds, dropped watches,
// stop/start on the same port).

import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig, type KubernetesObject } from "@kubernetes/client-node";

// ---------------------------------------------------------------------------------
// Public types

export interface KubeObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string | null;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** An object as stored and served: plain JSON with apiVersion, kind and metadata. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObjectMeta;
  [field: string]: unknown;
}

/** What apply() takes as plain JSON; client-node model objects (V1Pod, ...) are accepted too. */
export interface KubeObjectInput {
  apiVersion: string;
  kind: string;
  metadata: KubeObjectMeta;
  [field: string]: unknown;
}

/** A kind by name ("Pod", "NetworkPolicy") or plural ("pods"), or exactly by apiVersion and kind. */
export type KindRef = string | { readonly apiVersion: string; readonly kind: string };

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete" | "deletecollection";

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  /** Query parameters (first value of each). */
  readonly query: Readonly<Record<string, string>>;
  readonly headers: IncomingHttpHeaders;
  readonly at: number;
  /** Set for requests on a resource (not discovery). */
  readonly verb?: Verb;
  readonly group?: string;
  readonly version?: string;
  readonly resource?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly watch: boolean;
  /** Parsed JSON body of POST/PUT/PATCH. */
  body?: unknown;
  /** HTTP status sent (watches: 200 once the stream opened). */
  status?: number;
  /** The representation served: the full objects, or their metadata only (PartialObjectMetadata). */
  representation?: "full" | "metadata";
  /** Objects sent: a list's items, a get's object, a watch's ADDED/MODIFIED/DELETED events. */
  objects: number;
  /** Bytes of the response body sent (Status bodies of failures included). */
  bytes: number;
}

/** Objects and bytes sent for a set of requests. */
export interface SentTotals {
  readonly requests: number;
  readonly objects: number;
  readonly bytes: number;
}

/** Selects requests; every field given must match. */
export interface RequestMatch {
  readonly method?: string;
  /** Exact path (no query) or a pattern tested against it. */
  readonly path?: string | RegExp;
  readonly verb?: Verb | readonly Verb[];
  /** Plural resource name, e.g. "pods". */
  readonly resource?: string;
  /** API group ("" for core). */
  readonly group?: string;
  readonly namespace?: string;
  readonly watch?: boolean;
}

export interface FaultHandle {
  /** How many requests this fault has acted on. */
  readonly hits: number;
  remove(): void;
}

export interface HoldHandle extends FaultHandle {
  /** Requests waiting at this hold now. */
  readonly waiting: number;
  /** Lets waiting requests proceed and removes the hold. */
  release(): void;
}

export interface FaultOptions {
  /** Act on this many requests, then disappear (default: until removed). */
  readonly times?: number;
}

export interface KubeApiServerOptions {
  /** Serve policy.networking.k8s.io/v1alpha1 (AdminNetworkPolicy, BaselineAdminNetworkPolicy). Default false. */
  readonly adminNetworkPolicies?: boolean;
  /** Watch history kept per resource (like the watch cache). Older resourceVersions get 410. Default 100. */
  readonly historyLimit?: number;
  /** Interval of BOOKMARK events on watches that asked for them. Default 1000 ms. */
  readonly bookmarkIntervalMs?: number;
  /** Close watches after this long when the client gave no timeoutSeconds. Default: never. */
  readonly defaultWatchTimeoutSeconds?: number;
  /** Require "Authorization: Bearer <token>" (401 otherwise). Default: no authentication. */
  readonly token?: string;
  /** User named in 403 messages. */
  readonly user?: string;
  /** Port to listen on (default: ephemeral; kept across stop/start). */
  readonly port?: number;
}

export interface StatusObject {
  kind: "Status";
  apiVersion: "v1";
  metadata: { continue?: string };
  status: "Failure" | "Success";
  message: string;
  reason: string;
  details?: Record<string, unknown>;
  code: number;
}

// ---------------------------------------------------------------------------------
// Resource types

interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** Shared storage key: core and events.k8s.io Events are one collection. */
  readonly storage: string;
  /** Built-in (kind/apiVersion left out of list items) or a CRD (kept). */
  readonly builtin: boolean;
  readonly optional: boolean;
  /** Field selector labels beyond metadata.name and metadata.namespace. */
  readonly fields: Readonly<Record<string, (obj: KubeObject) => string>>;
}

const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function str(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return "";
}

function at(obj: unknown, ...path: string[]): unknown {
  let current = obj;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

const POD_FIELDS: Record<string, (obj: KubeObject) => string> = {
  "spec.nodeName": (o) => str(at(o, "spec", "nodeName")),
  "spec.restartPolicy": (o) => str(at(o, "spec", "restartPolicy")),
  "spec.schedulerName": (o) => str(at(o, "spec", "schedulerName")),
  "spec.serviceAccountName": (o) => str(at(o, "spec", "serviceAccountName")),
  "spec.hostNetwork": (o) => String(at(o, "spec", "hostNetwork") === true),
  "status.phase": (o) => str(at(o, "status", "phase")),
  // kube-apiserver selects on the first of status.podIPs (the primary family's address) only.
  "status.podIP": (o) => {
    const ips = at(o, "status", "podIPs");
    return Array.isArray(ips) && ips.length > 0 ? str(at(ips[0], "ip")) : str(at(o, "status", "podIP"));
  },
  "status.nominatedNodeName": (o) => str(at(o, "status", "nominatedNodeName")),
};

const CORE_EVENT_FIELDS: Record<string, (obj: KubeObject) => string> = {
  "involvedObject.kind": (o) => str(at(o, "involvedObject", "kind")),
  "involvedObject.namespace": (o) => str(at(o, "involvedObject", "namespace")),
  "involvedObject.name": (o) => str(at(o, "involvedObject", "name")),
  "involvedObject.uid": (o) => str(at(o, "involvedObject", "uid")),
  "involvedObject.apiVersion": (o) => str(at(o, "involvedObject", "apiVersion")),
  "involvedObject.resourceVersion": (o) => str(at(o, "involvedObject", "resourceVersion")),
  "involvedObject.fieldPath": (o) => str(at(o, "involvedObject", "fieldPath")),
  reason: (o) => str(o["reason"]),
  reportingComponent: (o) => str(o["reportingComponent"]),
  source: (o) => str(at(o, "source", "component")),
  type: (o) => str(o["type"]),
};

// events.k8s.io selectors are evaluated on the stored (core) form.
const EVENTS_V1_FIELDS: Record<string, (obj: KubeObject) => string> = {
  "regarding.kind": (o) => str(at(o, "involvedObject", "kind")),
  "regarding.namespace": (o) => str(at(o, "involvedObject", "namespace")),
  "regarding.name": (o) => str(at(o, "involvedObject", "name")),
  "regarding.uid": (o) => str(at(o, "involvedObject", "uid")),
  "regarding.apiVersion": (o) => str(at(o, "involvedObject", "apiVersion")),
  "regarding.resourceVersion": (o) => str(at(o, "involvedObject", "resourceVersion")),
  "regarding.fieldPath": (o) => str(at(o, "involvedObject", "fieldPath")),
  reason: (o) => str(o["reason"]),
  reportingController: (o) => str(o["reportingComponent"]),
  type: (o) => str(o["type"]),
};

function resourceType(
  spec: Omit<ResourceType, "storage" | "builtin" | "optional" | "fields" | "categories" | "shortNames"> &
    Partial<Pick<ResourceType, "storage" | "builtin" | "optional" | "fields" | "categories" | "shortNames">>,
): ResourceType {
  return {
    storage: spec.resource,
    builtin: true,
    optional: false,
    fields: {},
    categories: [],
    shortNames: [],
    ...spec,
  };
}

const ANP_GROUP = "policy.networking.k8s.io";

const RESOURCE_TYPES: readonly ResourceType[] = [
  resourceType({ group: "", version: "v1", resource: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, shortNames: ["ns"], fields: { "status.phase": (o) => str(at(o, "status", "phase")) } }),
  resourceType({ group: "", version: "v1", resource: "pods", singular: "pod", kind: "Pod", namespaced: true, shortNames: ["po"], categories: ["all"], fields: POD_FIELDS }),
  resourceType({ group: "", version: "v1", resource: "services", singular: "service", kind: "Service", namespaced: true, shortNames: ["svc"], categories: ["all"], fields: { "spec.clusterIP": (o) => str(at(o, "spec", "clusterIP")), "spec.type": (o) => str(at(o, "spec", "type")) } }),
  resourceType({ group: "", version: "v1", resource: "events", singular: "event", kind: "Event", namespaced: true, shortNames: ["ev"], fields: CORE_EVENT_FIELDS }),
  resourceType({ group: "", version: "v1", resource: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, shortNames: ["cm"] }),
  resourceType({ group: "crd.projectcalico.org", version: "v1", resource: "felixconfigurations", singular: "felixconfiguration", kind: "FelixConfiguration", namespaced: false, builtin: false }),
  resourceType({ group: "networking.k8s.io", version: "v1", resource: "networkpolicies", singular: "networkpolicy", kind: "NetworkPolicy", namespaced: true, shortNames: ["netpol"] }),
  resourceType({ group: "discovery.k8s.io", version: "v1", resource: "endpointslices", singular: "endpointslice", kind: "EndpointSlice", namespaced: true }),
  resourceType({ group: "events.k8s.io", version: "v1", resource: "events", singular: "event", kind: "Event", namespaced: true, shortNames: ["ev"], storage: "events", fields: EVENTS_V1_FIELDS }),
  resourceType({ group: ANP_GROUP, version: "v1alpha1", resource: "adminnetworkpolicies", singular: "adminnetworkpolicy", kind: "AdminNetworkPolicy", namespaced: false, shortNames: ["anp"], builtin: false, optional: true }),
  resourceType({ group: ANP_GROUP, version: "v1alpha1", resource: "baselineadminnetworkpolicies", singular: "baselineadminnetworkpolicy", kind: "BaselineAdminNetworkPolicy", namespaced: false, shortNames: ["banp"], builtin: false, optional: true }),
];

function groupVersion(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? { group: "", version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

// ---------------------------------------------------------------------------------
// JSON helpers

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Turns model objects (Dates, class instances) into plain JSON. */
function toJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a).filter((k) => a[k] !== undefined);
    const otherKeys = Object.keys(b).filter((k) => b[k] !== undefined);
    return keys.length === otherKeys.length && keys.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

const NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

function generatedSuffix(): string {
  const bytes = randomBytes(5);
  let out = "";
  for (const byte of bytes) out += NAME_SUFFIX_ALPHABET[byte % NAME_SUFFIX_ALPHABET.length];
  return out;
}

// ---------------------------------------------------------------------------------
// Status objects

export function statusObject(code: number, reason: string, message: string, details?: Record<string, unknown>): StatusObject {
  const status: StatusObject = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
  if (details !== undefined) status.details = details;
  return status;
}

class HttpError extends Error {
  constructor(readonly status: StatusObject) {
    super(status.message);
  }
}

function notFoundFor(type: ResourceType, name: string): HttpError {
  const details: Record<string, unknown> = { name, kind: type.resource };
  if (type.group) details["group"] = type.group;
  return new HttpError(statusObject(404, "NotFound", `${qualifiedResource(type)} "${name}" not found`, details));
}

function qualifiedResource(type: ResourceType): string {
  return type.group ? `${type.resource}.${type.group}` : type.resource;
}

function badRequest(message: string): HttpError {
  return new HttpError(statusObject(400, "BadRequest", message));
}

interface FieldCause {
  readonly type: "FieldValueRequired" | "FieldValueInvalid" | "FieldValueNotSupported";
  readonly field: string;
  readonly message: string;
}

function invalid(kind: string, name: string, causes: readonly FieldCause[]): HttpError {
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  const message = causes.length === 1 ? `${kind} "${name}" is invalid: ${text}` : `${kind} "${name}" is invalid: [${text}]`;
  return new HttpError(
    statusObject(422, "Invalid", message, {
      name,
      kind,
      causes: causes.map((c) => ({ reason: c.type, message: c.message, field: c.field })),
    }),
  );
}

function tooOld(requested: number, oldest: number): HttpError {
  return new HttpError(statusObject(410, "Expired", `too old resource version: ${requested} (${oldest})`));
}

function tooLarge(requested: number, current: number): HttpError {
  return new HttpError(
    statusObject(504, "Timeout", `Too large resource version: ${requested}, current: ${current}`, {
      causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
      retryAfterSeconds: 1,
    }),
  );
}

// ---------------------------------------------------------------------------------
// Selectors

type LabelRequirement =
  | { readonly op: "exists" | "notexists"; readonly key: string }
  | { readonly op: "in" | "notin"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: "gt" | "lt"; readonly key: string; readonly value: number };

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

function checkLabelKey(key: string): string {
  if (!LABEL_KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}"`);
  return key;
}

function checkLabelValue(value: string): string {
  if (value.length > 63 || !LABEL_VALUE.test(value)) throw badRequest(`unable to parse requirement: invalid label value: "${value}"`);
  return value;
}

export function parseLabelSelector(text: string): LabelRequirement[] {
  if (text.trim() === "") return [];
  return splitTopLevel(text).map((raw): LabelRequirement => {
    const part = raw.trim();
    if (part === "") throw badRequest(`unable to parse requirement: found '', expected: identifier`);
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (set) {
      if ((set[3] ?? "").trim() === "") throw badRequest(`unable to parse requirement: for 'in', 'notin' operators, values set can't be empty`);
      const values = (set[3] ?? "").split(",").map((v) => checkLabelValue(v.trim()));
      return { op: set[2] === "in" ? "in" : "notin", key: checkLabelKey(set[1] ?? ""), values };
    }
    const cmp = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/.exec(part);
    if (cmp) {
      const key = checkLabelKey(cmp[1] ?? "");
      const op = cmp[2];
      const value = (cmp[3] ?? "").trim();
      if (op === ">" || op === "<") {
        const n = Number(value);
        if (!/^-?\d+$/.test(value) || !Number.isFinite(n)) throw badRequest(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
        return { op: op === ">" ? "gt" : "lt", key, value: n };
      }
      return { op: op === "!=" ? "notin" : "in", key, values: [checkLabelValue(value)] };
    }
    if (part.startsWith("!")) return { op: "notexists", key: checkLabelKey(part.slice(1).trim()) };
    return { op: "exists", key: checkLabelKey(part) };
  });
}

function labelsMatch(requirements: readonly LabelRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  return requirements.every((req) => {
    const value = labels?.[req.key];
    switch (req.op) {
      case "exists":
        return value !== undefined;
      case "notexists":
        return value === undefined;
      case "in":
        return value !== undefined && req.values.includes(value);
      case "notin":
        return value === undefined || !req.values.includes(value);
      case "gt":
      case "lt": {
        if (value === undefined || !/^-?\d+$/.test(value)) return false;
        return req.op === "gt" ? Number(value) > req.value : Number(value) < req.value;
      }
    }
  });
}

interface FieldRequirement {
  readonly field: string;
  readonly equal: boolean;
  readonly value: string;
}

function unescapeFieldValue(text: string): string {
  return text.replace(/\\(.)/g, "$1");
}

function parseFieldSelector(text: string, type: ResourceType): FieldRequirement[] {
  if (text.trim() === "") return [];
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + (text[i + 1] as string);
      i++;
    } else if (ch === ",") {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((part) => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(part.trim());
    if (!m) throw badRequest(`invalid selector: '${part}'; can't understand '${part}'`);
    const field = (m[1] ?? "").trim();
    if (field !== "metadata.name" && field !== "metadata.namespace" && type.fields[field] === undefined) {
      throw badRequest(`field label not supported: ${field}`);
    }
    return { field, equal: m[2] !== "!=", value: unescapeFieldValue(m[3] ?? "") };
  });
}

function fieldValue(type: ResourceType, obj: KubeObject, field: string): string {
  if (field === "metadata.name") return obj.metadata.name ?? "";
  if (field === "metadata.namespace") return obj.metadata.namespace ?? "";
  return type.fields[field]?.(obj) ?? "";
}

/** Namespace and selector filter of one list or watch, evaluated on stored objects. */
interface ObjectFilter {
  readonly namespace?: string;
  readonly name?: string;
  readonly labels: readonly LabelRequirement[];
  readonly fields: readonly FieldRequirement[];
}

function matches(type: ResourceType, filter: ObjectFilter, obj: KubeObject): boolean {
  if (filter.namespace !== undefined && (obj.metadata.namespace ?? "") !== filter.namespace) return false;
  if (filter.name !== undefined && obj.metadata.name !== filter.name) return false;
  if (!labelsMatch(filter.labels, obj.metadata.labels)) return false;
  return filter.fields.every((f) => (fieldValue(type, obj, f.field) === f.value) === f.equal);
}

// ---------------------------------------------------------------------------------
// Patches

function mergePatch(target: unknown, patch: unknown, strategic: boolean): unknown {
  if (!isRecord(patch)) return clone(patch);
  if (strategic && patch["$patch"] === "replace") {
    const replaced = { ...patch };
    delete replaced["$patch"];
    return mergePatch({}, replaced, strategic);
  }
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (strategic && key.startsWith("$")) continue;
    if (value === null || (strategic && isRecord(value) && value["$patch"] === "delete")) {
      delete result[key];
    } else {
      result[key] = mergePatch(result[key], value, strategic);
    }
  }
  return result;
}

function pointerTokens(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function pointerParent(doc: unknown, pointer: string): { parent: Record<string, unknown> | unknown[]; key: string } {
  const tokens = pointerTokens(pointer);
  const key = tokens.pop();
  if (key === undefined) throw new Error("cannot address the document root");
  let parent: unknown = doc;
  for (const token of tokens) {
    if (Array.isArray(parent)) parent = parent[Number(token)];
    else if (isRecord(parent)) parent = parent[token];
    else parent = undefined;
    if (parent === undefined) throw new Error(`path "${pointer}" does not exist`);
  }
  if (!Array.isArray(parent) && !isRecord(parent)) throw new Error(`path "${pointer}" does not exist`);
  return { parent, key };
}

function pointerGet(doc: unknown, pointer: string): unknown {
  if (pointer === "") return doc;
  const { parent, key } = pointerParent(doc, pointer);
  const value = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (value === undefined) throw new Error(`path "${pointer}" does not exist`);
  return value;
}

function pointerRemove(doc: unknown, pointer: string): unknown {
  const { parent, key } = pointerParent(doc, pointer);
  if (Array.isArray(parent)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= parent.length) throw new Error(`path "${pointer}" does not exist`);
    return parent.splice(index, 1)[0];
  }
  if (!(key in parent)) throw new Error(`path "${pointer}" does not exist`);
  const value = parent[key];
  delete parent[key];
  return value;
}

function pointerAdd(doc: unknown, pointer: string, value: unknown, replace: boolean): unknown {
  if (pointer === "") return value;
  const { parent, key } = pointerParent(doc, pointer);
  if (Array.isArray(parent)) {
    const index = key === "-" ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length || (replace && index >= parent.length)) {
      throw new Error(`path "${pointer}" is out of range`);
    }
    parent.splice(index, replace ? 1 : 0, value);
  } else {
    if (replace && !(key in parent)) throw new Error(`path "${pointer}" does not exist`);
    parent[key] = value;
  }
  return doc;
}

function jsonPatch(target: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new Error("a JSON patch must be an array of operations");
  let doc = clone(target);
  for (const op of patch) {
    if (!isRecord(op) || typeof op["op"] !== "string" || typeof op["path"] !== "string") {
      throw new Error("each JSON patch operation needs op and path");
    }
    const path = op["path"];
    switch (op["op"]) {
      case "add":
        doc = pointerAdd(doc, path, clone(op["value"]), false);
        break;
      case "replace":
        doc = pointerAdd(doc, path, clone(op["value"]), true);
        break;
      case "remove":
        pointerRemove(doc, path);
        break;
      case "move": {
        const from = str(op["from"]);
        const value = pointerRemove(doc, from);
        doc = pointerAdd(doc, path, value, false);
        break;
      }
      case "copy":
        doc = pointerAdd(doc, path, clone(pointerGet(doc, str(op["from"]))), false);
        break;
      case "test":
        if (!deepEqual(pointerGet(doc, path), op["value"])) throw new Error(`testing value ${path} failed`);
        break;
      default:
        throw new Error(`unknown JSON patch operation "${str(op["op"])}"`);
    }
  }
  return doc;
}

// ---------------------------------------------------------------------------------
// Events: core/v1 is the stored form; events.k8s.io/v1 is converted on the way in and out.

function setIfPresent(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value === undefined || value === null || value === "") return;
  if (isRecord(value) && Object.keys(value).length === 0) return;
  target[key] = value;
}

function coreEventToEventsV1(event: KubeObject): KubeObject {
  const out: KubeObject = { kind: "Event", apiVersion: "events.k8s.io/v1", metadata: event.metadata, eventTime: event["eventTime"] ?? null };
  setIfPresent(out, "series", event["series"]);
  setIfPresent(out, "reportingController", event["reportingComponent"]);
  setIfPresent(out, "reportingInstance", event["reportingInstance"]);
  setIfPresent(out, "action", event["action"]);
  setIfPresent(out, "reason", event["reason"]);
  setIfPresent(out, "regarding", event["involvedObject"]);
  setIfPresent(out, "related", event["related"]);
  setIfPresent(out, "note", event["message"]);
  setIfPresent(out, "type", event["type"]);
  setIfPresent(out, "deprecatedSource", event["source"]);
  setIfPresent(out, "deprecatedFirstTimestamp", event["firstTimestamp"]);
  setIfPresent(out, "deprecatedLastTimestamp", event["lastTimestamp"]);
  setIfPresent(out, "deprecatedCount", event["count"]);
  return out;
}

function eventsV1ToCoreEvent(event: KubeObject): KubeObject {
  const out: KubeObject = { kind: "Event", apiVersion: "v1", metadata: event.metadata };
  setIfPresent(out, "involvedObject", event["regarding"]);
  setIfPresent(out, "reason", event["reason"]);
  setIfPresent(out, "message", event["note"]);
  setIfPresent(out, "source", event["deprecatedSource"]);
  setIfPresent(out, "firstTimestamp", event["deprecatedFirstTimestamp"]);
  setIfPresent(out, "lastTimestamp", event["deprecatedLastTimestamp"]);
  setIfPresent(out, "count", event["deprecatedCount"]);
  setIfPresent(out, "type", event["type"]);
  setIfPresent(out, "eventTime", event["eventTime"]);
  setIfPresent(out, "series", event["series"]);
  setIfPresent(out, "action", event["action"]);
  setIfPresent(out, "related", event["related"]);
  setIfPresent(out, "reportingComponent", event["reportingController"]);
  setIfPresent(out, "reportingInstance", event["reportingInstance"]);
  return out;
}

/** API server defaulting of stored objects (what a GET shows that the client never sent). */
function applyDefaults(type: ResourceType, obj: KubeObject): void {
  if (type.storage === "namespaces") {
    obj.metadata.labels = { ...obj.metadata.labels, "kubernetes.io/metadata.name": obj.metadata.name ?? "" };
    if (!isRecord(obj["spec"])) obj["spec"] = { finalizers: ["kubernetes"] };
    if (!isRecord(obj["status"])) obj["status"] = { phase: "Active" };
  }
  if (type.storage === "events") {
    obj["involvedObject"] ??= {};
    obj["source"] ??= {};
    obj["firstTimestamp"] ??= null;
    obj["lastTimestamp"] ??= null;
    obj["eventTime"] ??= null;
    obj["reportingComponent"] ??= "";
    obj["reportingInstance"] ??= "";
  }
}

const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** kube-apiserver's Event validation (legacy for core/v1, strict for events.k8s.io/v1). */
function validateEvent(event: KubeObject, strict: boolean): FieldCause[] {
  const causes: FieldCause[] = [];
  const namespace = event.metadata.namespace ?? "";
  const involvedNamespace = str(at(event, "involvedObject", "namespace"));
  const eventTime = event["eventTime"];
  if (eventTime === null || eventTime === undefined || eventTime === "") {
    if (involvedNamespace === "" ? namespace !== "" && namespace !== "default" : namespace !== involvedNamespace) {
      causes.push({ type: "FieldValueInvalid", field: "involvedObject.namespace", message: `Invalid value: "${involvedNamespace}": does not match event.namespace` });
    }
  } else {
    if (involvedNamespace === "" && namespace !== "default" && namespace !== "kube-system") {
      causes.push({ type: "FieldValueInvalid", field: "involvedObject.namespace", message: `Invalid value: "${involvedNamespace}": does not match event.namespace` });
    }
    const controller = str(event["reportingComponent"]);
    if (controller === "") causes.push({ type: "FieldValueRequired", field: "reportingController", message: "Required value" });
    else if (!QUALIFIED_NAME.test(controller.replace(/^[^/]*\//, "x/"))) {
      causes.push({ type: "FieldValueInvalid", field: "reportingController", message: `Invalid value: "${controller}": must be a qualified name` });
    }
    const instance = str(event["reportingInstance"]);
    if (instance === "") causes.push({ type: "FieldValueRequired", field: "reportingInstance", message: "Required value" });
    else if (instance.length > 128) causes.push({ type: "FieldValueInvalid", field: "reportingInstance", message: "Invalid value: can have at most 128 characters" });
    const action = str(event["action"]);
    if (action === "") causes.push({ type: "FieldValueRequired", field: "action", message: "Required value" });
    else if (action.length > 128) causes.push({ type: "FieldValueInvalid", field: "action", message: "Invalid value: can have at most 128 characters" });
    const reason = str(event["reason"]);
    if (reason === "") causes.push({ type: "FieldValueRequired", field: "reason", message: "Required value" });
    else if (reason.length > 128) causes.push({ type: "FieldValueInvalid", field: "reason", message: "Invalid value: can have at most 128 characters" });
    if (str(event["message"]).length > 1024) causes.push({ type: "FieldValueInvalid", field: "message", message: "Invalid value: can have at most 1024 characters" });
  }
  if (strict) {
    if (eventTime === null || eventTime === undefined || eventTime === "") causes.push({ type: "FieldValueRequired", field: "eventTime", message: "Required value" });
    const type = str(event["type"]);
    if (type !== "Normal" && type !== "Warning") causes.push({ type: "FieldValueInvalid", field: "type", message: `Invalid value: "": has invalid value: ${type}` });
    if (event["firstTimestamp"]) causes.push({ type: "FieldValueInvalid", field: "deprecatedFirstTimestamp", message: `Invalid value: "": needs to be unset` });
    if (event["lastTimestamp"]) causes.push({ type: "FieldValueInvalid", field: "deprecatedLastTimestamp", message: `Invalid value: "": needs to be unset` });
    if (typeof event["count"] === "number" && event["count"] !== 0) causes.push({ type: "FieldValueInvalid", field: "deprecatedCount", message: `Invalid value: "": needs to be unset` });
    if (str(at(event, "source", "component")) !== "" || str(at(event, "source", "host")) !== "") {
      causes.push({ type: "FieldValueInvalid", field: "deprecatedSource", message: `Invalid value: "": needs to be unset` });
    }
  }
  return causes;
}

// ---------------------------------------------------------------------------------
// Representations (content negotiation on Accept)

/**
 * What a request asked to be served: the objects, or only their metadata
 * (PartialObjectMetadata for an object or a watch event, PartialObjectMetadataList for a list).
 */
export type Representation =
  | { readonly kind: "full" }
  | { readonly kind: "metadata"; readonly as: "PartialObjectMetadata" | "PartialObjectMetadataList"; readonly version: "v1" | "v1beta1" };

const NOT_ACCEPTABLE = "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf";

/**
 * kube-apiserver's negotiation as far as a JSON client can tell: clauses by q (header order
 * breaks ties, q=0 refuses), the first one served wins; `as=PartialObjectMetadata[List]` with
 * `g=meta.k8s.io` and `v=v1` or `v1beta1` asks for metadata only. Protobuf and Table are not
 * served here: such a clause is passed over (a real server would serve it). undefined: nothing
 * acceptable (406).
 */
export function negotiateRepresentation(accept: string | undefined): Representation | undefined {
  if (accept === undefined || accept.trim() === "") return { kind: "full" };
  const clauses = accept
    .split(",")
    .map((text, order) => {
      const [type = "", ...rest] = text.split(";").map((part) => part.trim());
      const params = new Map<string, string>();
      for (const part of rest) {
        const eq = part.indexOf("=");
        if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
      }
      const q = params.has("q") ? Number(params.get("q")) : 1;
      return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0, order };
    })
    .filter((clause) => clause.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order);
  for (const { type, params } of clauses) {
    if (type !== "application/json" && type !== "application/*" && type !== "*/*") continue;
    const as = params.get("as");
    if (as === undefined) return { kind: "full" };
    const version = params.get("v");
    if (params.get("g") !== "meta.k8s.io" || (version !== "v1" && version !== "v1beta1")) continue;
    if (as === "PartialObjectMetadata" || as === "PartialObjectMetadataList") return { kind: "metadata", as, version };
  }
  return undefined;
}

function notAcceptable(message: string): HttpError {
  return new HttpError(statusObject(406, "NotAcceptable", message));
}

/** The object as PartialObjectMetadata: its kind and apiVersion replaced, metadata only. */
function partialObjectMetadata(obj: KubeObject, version: string): KubeObject {
  return { kind: "PartialObjectMetadata", apiVersion: `meta.k8s.io/${version}`, metadata: clone(obj.metadata) };
}

/** How kube-apiserver names the Go type in NotAcceptable messages ("*v1.PodList"). */
function goTypeOf(type: ResourceType, list: boolean): string {
  return `*${type.version}.${type.kind}${list ? "List" : ""}`;
}

// ---------------------------------------------------------------------------------
// Store

type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

interface HistoryEntry {
  readonly rv: number;
  readonly type: ChangeType;
  readonly key: string;
  /** State after the change; for DELETED the last state with the deletion's resourceVersion. */
  readonly object: KubeObject;
  readonly previous?: KubeObject;
}

interface ContinueToken {
  readonly rv: number;
  readonly start: string;
}

function encodeContinue(rv: number, lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start: `${lastKey}\u0000` })).toString("base64url");
}

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (isRecord(parsed) && parsed["v"] === "meta.k8s.io/v1" && typeof parsed["rv"] === "number" && typeof parsed["start"] === "string") {
      return { rv: parsed["rv"], start: parsed["start"] };
    }
  } catch {
    // fall through
  }
  throw badRequest(`continue key is not valid: invalid continue token`);
}

// ---------------------------------------------------------------------------------
// Watches

type WatchEventType = ChangeType | "BOOKMARK" | "ERROR";

class WatchStream {
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly type: ResourceType,
    readonly filter: ObjectFilter,
    readonly record: RequestRecord,
    private readonly res: ServerResponse,
    private readonly onClose: (stream: WatchStream) => void,
    private readonly representation: Representation = { kind: "full" },
  ) {
    res.on("close", () => this.cleanup());
  }

  get storage(): string {
    return this.type.storage;
  }

  open(): void {
    this.res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
    this.res.flushHeaders();
    this.record.status = 200;
  }

  startTimers(bookmarkIntervalMs: number | undefined, timeoutMs: number | undefined, currentRv: () => number): void {
    if (bookmarkIntervalMs !== undefined) {
      this.bookmarkTimer = setInterval(() => this.bookmark(String(currentRv())), bookmarkIntervalMs);
      this.bookmarkTimer.unref();
    }
    if (timeoutMs !== undefined) {
      this.timeoutTimer = setTimeout(() => this.end(), timeoutMs);
      this.timeoutTimer.unref();
    }
  }

  send(type: WatchEventType, object: unknown): void {
    if (this.closed || this.res.destroyed) return;
    // A metadata watch sends each object (bookmarks too) as PartialObjectMetadata; an ERROR stays a Status.
    const representation = this.representation;
    const sent = representation.kind === "metadata" && type !== "ERROR" ? partialObjectMetadata(object as KubeObject, representation.version) : object;
    const line = `${JSON.stringify({ type, object: sent })}\n`;
    this.record.bytes += Buffer.byteLength(line);
    if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") this.record.objects++;
    this.res.write(line);
  }

  bookmark(resourceVersion: string, annotations?: Record<string, string>): void {
    const metadata: Record<string, unknown> = { resourceVersion };
    if (annotations) metadata["annotations"] = annotations;
    this.send("BOOKMARK", { kind: this.type.kind, apiVersion: groupVersion(this.type), metadata });
  }

  /** Delivers a stored change as this watcher sees it through its filter. */
  deliver(entry: HistoryEntry, toWire: (obj: KubeObject) => KubeObject): void {
    const before = entry.previous !== undefined && matches(this.type, this.filter, entry.previous);
    const after = entry.type !== "DELETED" && matches(this.type, this.filter, entry.object);
    if (entry.type === "DELETED") {
      if (before) this.send("DELETED", toWire(entry.object));
    } else if (after) {
      this.send(before ? "MODIFIED" : "ADDED", toWire(entry.object));
    } else if (before && entry.previous) {
      const gone = clone(entry.previous);
      gone.metadata.resourceVersion = entry.object.metadata.resourceVersion;
      this.send("DELETED", toWire(gone));
    }
  }

  /** Ends the stream cleanly (the client sees a normal end of body). */
  end(): void {
    if (this.closed) return;
    this.cleanup();
    this.res.end();
  }

  /** Cuts the connection (the client sees a network error). */
  destroy(): void {
    this.cleanup();
    this.res.socket?.destroy();
    this.res.destroy();
  }

  whenFinished(): Promise<void> {
    if (this.res.writableFinished || this.res.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.res.once("finish", () => resolve());
      this.res.once("close", () => resolve());
    });
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.onClose(this);
  }
}

// ---------------------------------------------------------------------------------
// Faults

type FaultAction =
  | { readonly kind: "forbid" }
  | { readonly kind: "status"; readonly status: StatusObject }
  | { readonly kind: "expire"; readonly form: "event" | "http" }
  | { readonly kind: "delay"; readonly ms: number }
  | { readonly kind: "hold" };

interface Fault {
  readonly match: RequestMatch;
  readonly action: FaultAction;
  remaining: number;
  hits: number;
  readonly waiters: Array<() => void>;
}

function requestMatches(match: RequestMatch, record: RequestRecord): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== record.method) return false;
  if (match.path !== undefined) {
    if (typeof match.path === "string" ? match.path !== record.path : !match.path.test(record.path)) return false;
  }
  if (match.verb !== undefined) {
    const verbs: readonly Verb[] = typeof match.verb === "string" ? [match.verb] : match.verb;
    if (record.verb === undefined || !verbs.includes(record.verb)) return false;
  }
  if (match.resource !== undefined && match.resource !== record.resource) return false;
  if (match.group !== undefined && match.group !== record.group) return false;
  if (match.namespace !== undefined && match.namespace !== record.namespace) return false;
  if (match.watch !== undefined && match.watch !== record.watch) return false;
  return true;
}

// ---------------------------------------------------------------------------------
// Routing

type Route =
  | { readonly kind: "json"; readonly body: unknown }
  | { readonly kind: "text"; readonly body: string }
  | { readonly kind: "resource"; readonly type: ResourceType; readonly namespace?: string; readonly name?: string }
  | { readonly kind: "notFound" };

function parseBool(value: string | undefined): boolean {
  return value !== undefined && ["1", "t", "T", "true", "TRUE", "True"].includes(value);
}

function verbFor(method: string, name: string | undefined, watch: boolean): Verb | undefined {
  switch (method) {
    case "GET":
      return watch ? "watch" : name === undefined ? "list" : "get";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return name === undefined ? "deletecollection" : "delete";
    default:
      return undefined;
  }
}

const PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"];

// ---------------------------------------------------------------------------------
// The server

export class KubeApiServer {
  private server: Server | undefined;
  private port: number | undefined;
  private adminNetworkPoliciesServed: boolean;
  private readonly historyLimit: number;
  private readonly bookmarkIntervalMs: number;

  private rv = 0;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly history = new Map<string, HistoryEntry[]>();
  /** Per storage: changes at or below this resourceVersion are no longer in history. */
  private readonly compactedRv = new Map<string, number>();

  private readonly watches = new Set<WatchStream>();
  private readonly faults: Fault[] = [];
  private readonly log: RequestRecord[] = [];

  constructor(private readonly options: KubeApiServerOptions = {}) {
    this.adminNetworkPoliciesServed = options.adminNetworkPolicies ?? false;
    this.historyLimit = options.historyLimit ?? 100;
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
    this.port = options.port;
  }

  /** Creates a server and starts it. */
  static async start(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const server = new KubeApiServer(options);
    await server.start();
    return server;
  }

  // --- lifecycle ------------------------------------------------------------------

  get running(): boolean {
    return this.server !== undefined;
  }

  /** http://127.0.0.1:PORT (the port stays the same across stop/start). */
  get url(): string {
    if (this.port === undefined) throw new Error("the server has not been started");
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Starts listening (again, on the same port after stop()). resetStore drops every
   * object and the watch history (like a fresh etcd): clients resuming a watch get 410.
   */
  async start(options: { readonly resetStore?: boolean } = {}): Promise<void> {
    if (this.server) throw new Error("the server is already running");
    if (options.resetStore) this.resetStore();
    const server = createServer((req, res) => this.handle(req, res));
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(this.port ?? 0, "127.0.0.1", () => {
            server.off("error", reject);
            resolve();
          });
        });
        break;
      } catch (err) {
        const code = isRecord(err) ? err["code"] : undefined;
        if (code !== "EADDRINUSE" || attempt >= 20) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /**
   * Stops listening and cuts every connection, like a crashed API server (clients
   * see network errors). graceful ends open watch streams cleanly first.
   */
  async stop(options: { readonly graceful?: boolean } = {}): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const streams = [...this.watches];
    if (options.graceful) {
      for (const stream of streams) stream.end();
      await Promise.race([Promise.all(streams.map((s) => s.whenFinished())), new Promise((resolve) => setTimeout(resolve, 1000))]);
    } else {
      for (const stream of streams) stream.destroy();
    }
    server.closeAllConnections();
    for (const fault of this.faults) if (fault.action.kind === "hold") this.releaseWaiters(fault);
    await closed;
  }

  // --- kubeconfig -----------------------------------------------------------------

  /** A client-node KubeConfig for this server (skipTLSVerify: client-node refuses http:// without it). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    const user = this.options.token === undefined ? { name: "test" } : { name: "test", token: this.options.token };
    kc.loadFromOptions({
      clusters: [{ name: "test", server: this.url, skipTLSVerify: true }],
      users: [user],
      contexts: [{ name: "test", cluster: "test", user: "test" }],
      currentContext: "test",
    });
    return kc;
  }

  /** The same as a kubeconfig file. */
  kubeconfigYaml(): string {
    const token = this.options.token === undefined ? "{}" : `\n    token: ${JSON.stringify(this.options.token)}`;
    return [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: test",
      "  cluster:",
      `    server: ${this.url}`,
      "    insecure-skip-tls-verify: true",
      "users:",
      `- name: test`,
      `  user: ${token}`,
      "contexts:",
      "- name: test",
      "  context:",
      "    cluster: test",
      "    user: test",
      "current-context: test",
      "",
    ].join("\n");
  }

  // --- test-side store access -----------------------------------------------------

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Serves (or stops serving) policy.networking.k8s.io/v1alpha1, like installing or removing its CRDs. */
  setAdminNetworkPoliciesServed(served: boolean): void {
    this.adminNetworkPoliciesServed = served;
  }

  /**
   * Creates or replaces an object (no admission, no namespace check) and emits the
   * watch event. A no-op update keeps the resourceVersion, as the API server does.
   * Returns the stored object as the API would serve it.
   */
  apply(input: KubeObjectInput | KubernetesObject): KubeObject {
    const obj = toJson(input);
    if (!isRecord(obj) || typeof obj["apiVersion"] !== "string" || typeof obj["kind"] !== "string" || !isRecord(obj["metadata"])) {
      throw new Error("apply() needs apiVersion, kind and metadata");
    }
    const object = obj as KubeObject;
    const type = this.typeFor({ apiVersion: object.apiVersion, kind: object.kind });
    const name = object.metadata.name;
    if (!name) throw new Error(`apply(): ${object.kind} needs metadata.name`);
    if (type.namespaced && !object.metadata.namespace) throw new Error(`apply(): ${object.kind} ${name} needs metadata.namespace`);
    if (!type.namespaced) delete object.metadata.namespace;
    delete object.metadata.resourceVersion;
    const stored = this.write(type.storage, keyOf(object.metadata.namespace, name), this.fromWire(type, object));
    return this.toWire(type, stored as KubeObject);
  }

  /** Deletes an object and emits DELETED. A Namespace takes its namespaced objects with it. */
  remove(kind: KindRef, namespace: string | undefined, name: string): boolean {
    const type = this.typeFor(kind);
    if (type.storage === "namespaces") {
      for (const [storage, objects] of this.objects) {
        if (storage === "namespaces") continue;
        for (const [key, obj] of [...objects]) if (obj.metadata.namespace === name) this.write(storage, key, undefined);
      }
    }
    return this.write(type.storage, keyOf(type.namespaced ? namespace : undefined, name), undefined) !== undefined;
  }

  /** One stored object, as the API would serve it. */
  get(kind: KindRef, namespace: string | undefined, name: string): KubeObject | undefined {
    const type = this.typeFor(kind);
    const obj = this.objects.get(type.storage)?.get(keyOf(type.namespaced ? namespace : undefined, name));
    return obj ? this.toWire(type, obj) : undefined;
  }

  /** Stored objects of a kind (optionally in one namespace), sorted by namespace/name. */
  list(kind: KindRef, namespace?: string): KubeObject[] {
    const type = this.typeFor(kind);
    return [...(this.objects.get(type.storage) ?? new Map<string, KubeObject>()).entries()]
      .filter(([, obj]) => namespace === undefined || obj.metadata.namespace === namespace)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, obj]) => this.toWire(type, obj));
  }

  /** Forgets all watch history: watches resuming from any earlier resourceVersion get 410. */
  compact(): void {
    for (const type of RESOURCE_TYPES) {
      this.history.set(type.storage, []);
      this.compactedRv.set(type.storage, this.rv);
    }
  }

  // --- request log ----------------------------------------------------------------

  get requests(): readonly RequestRecord[] {
    return [...this.log];
  }

  countRequests(match: RequestMatch = {}): number {
    return this.log.filter((r) => requestMatches(match, r)).length;
  }

  clearRequests(): void {
    this.log.length = 0;
  }

  /** Objects and bytes sent for the matching requests (open watches count what they sent so far). */
  sent(match: RequestMatch = {}): SentTotals {
    const matching = this.log.filter((r) => requestMatches(match, r));
    return { requests: matching.length, objects: matching.reduce((sum, r) => sum + r.objects, 0), bytes: matching.reduce((sum, r) => sum + r.bytes, 0) };
  }

  /** Watch streams open now. */
  openWatches(match: RequestMatch = {}): number {
    return [...this.watches].filter((w) => requestMatches(match, w.record)).length;
  }

  // --- fault injection ------------------------------------------------------------

  /** 403 Forbidden (a Status naming the user, verb and resource) for matching requests. */
  forbid(match: RequestMatch, options: FaultOptions = {}): FaultHandle {
    return this.handleOf(this.addFault(match, { kind: "forbid" }, options));
  }

  /** Answers matching requests with this HTTP status and a Status body. */
  failWith(match: RequestMatch, code: number, options: FaultOptions & { readonly reason?: string; readonly message?: string } = {}): FaultHandle {
    const status = statusObject(code, options.reason ?? "InternalError", options.message ?? `injected failure (${code})`);
    return this.handleOf(this.addFault(match, { kind: "status", status }, options));
  }

  /**
   * The next matching watch (default: one) gets 410 Expired: as an ERROR event on a
   * 200 stream that then ends (form "event", what kube-apiserver does) or as an HTTP
   * 410 response (form "http"). On a list, always the HTTP form.
   */
  expireNextWatch(match: RequestMatch = {}, options: FaultOptions & { readonly form?: "event" | "http" } = {}): FaultHandle {
    return this.handleOf(this.addFault({ ...match, verb: match.verb ?? "watch" }, { kind: "expire", form: options.form ?? "event" }, { times: options.times ?? 1 }));
  }

  /** Delays matching requests before they are handled. */
  delay(match: RequestMatch, ms: number, options: FaultOptions = {}): FaultHandle {
    return this.handleOf(this.addFault(match, { kind: "delay", ms }, options));
  }

  /** Holds matching requests until release() (or stop()). */
  hold(match: RequestMatch, options: FaultOptions = {}): HoldHandle {
    const fault = this.addFault(match, { kind: "hold" }, options);
    const handle = this.handleOf(fault);
    return {
      get hits() {
        return fault.hits;
      },
      get waiting() {
        return fault.waiters.length;
      },
      remove: () => handle.remove(),
      release: () => {
        handle.remove();
        this.releaseWaiters(fault);
      },
    };
  }

  clearFaults(): void {
    for (const fault of this.faults.splice(0)) this.releaseWaiters(fault);
  }

  /** Ends open watch streams: cleanly (default; clients reconnect) or by cutting the connection. */
  dropWatches(options: { readonly abrupt?: boolean; readonly match?: RequestMatch } = {}): number {
    const streams = [...this.watches].filter((w) => requestMatches(options.match ?? {}, w.record));
    for (const stream of streams) {
      if (options.abrupt) stream.destroy();
      else stream.end();
    }
    return streams.length;
  }

  // --- internals: store -----------------------------------------------------------

  private typeFor(kind: KindRef): ResourceType {
    if (typeof kind !== "string") {
      const { group, version } = splitApiVersion(kind.apiVersion);
      const type = RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.kind === kind.kind);
      if (!type) throw new Error(`unknown kind ${kind.kind} in ${kind.apiVersion}`);
      return type;
    }
    const type = RESOURCE_TYPES.find((t) => t.kind === kind || t.resource === kind);
    if (!type) throw new Error(`unknown kind ${kind}`);
    return type;
  }

  private toWire(type: ResourceType, stored: KubeObject): KubeObject {
    const obj = clone(stored);
    return type.group === "events.k8s.io" ? coreEventToEventsV1(obj) : obj;
  }

  private fromWire(type: ResourceType, obj: KubeObject): KubeObject {
    const converted = type.group === "events.k8s.io" ? eventsV1ToCoreEvent(obj) : obj;
    converted.apiVersion = type.group === "events.k8s.io" ? "v1" : groupVersion(type);
    converted.kind = type.kind;
    return converted;
  }

  private storeFor(storage: string): Map<string, KubeObject> {
    let objects = this.objects.get(storage);
    if (!objects) {
      objects = new Map();
      this.objects.set(storage, objects);
    }
    return objects;
  }

  private typeOfStorage(storage: string): ResourceType {
    return RESOURCE_TYPES.find((t) => t.storage === storage) as ResourceType;
  }

  /** The one place state changes: stamps metadata, bumps the resourceVersion, records and fans out the change. */
  private write(storage: string, key: string, next: KubeObject | undefined): KubeObject | undefined {
    const objects = this.storeFor(storage);
    const existing = objects.get(key);
    let entry: HistoryEntry;
    if (next === undefined) {
      if (!existing) return undefined;
      const rv = ++this.rv;
      const deleted = clone(existing);
      deleted.metadata.resourceVersion = String(rv);
      objects.delete(key);
      entry = { rv, type: "DELETED", key, object: deleted, previous: existing };
    } else {
      const obj = clone(next);
      applyDefaults(this.typeOfStorage(storage), obj);
      if (existing) {
        obj.metadata.uid = existing.metadata.uid;
        obj.metadata.creationTimestamp = existing.metadata.creationTimestamp;
        obj.metadata.resourceVersion = existing.metadata.resourceVersion;
        if (deepEqual(obj, existing)) return existing;
      } else {
        obj.metadata.uid ??= randomUUID();
        obj.metadata.creationTimestamp ??= now();
      }
      const rv = ++this.rv;
      obj.metadata.resourceVersion = String(rv);
      objects.set(key, obj);
      entry = existing ? { rv, type: "MODIFIED", key, object: obj, previous: existing } : { rv, type: "ADDED", key, object: obj };
    }
    const history = this.history.get(storage) ?? [];
    history.push(entry);
    while (history.length > this.historyLimit) {
      const dropped = history.shift() as HistoryEntry;
      this.compactedRv.set(storage, dropped.rv);
    }
    this.history.set(storage, history);
    for (const stream of this.watches) {
      if (stream.storage === storage) stream.deliver(entry, (obj) => this.toWire(stream.type, obj));
    }
    return entry.object;
  }

  private resetStore(): void {
    this.objects.clear();
    // A new resourceVersion marks the reset, so any resumed watch is older than history.
    this.rv++;
    this.compact();
  }

  /** The objects of a storage as they were at resourceVersion rv (rolled back through history). */
  private snapshotAt(storage: string, rv: number): Map<string, KubeObject> {
    const current = this.objects.get(storage) ?? new Map<string, KubeObject>();
    if (rv >= this.rv) return current;
    if (rv < (this.compactedRv.get(storage) ?? 0)) throw tooOld(rv, this.compactedRv.get(storage) ?? 0);
    const snapshot = new Map(current);
    const history = this.history.get(storage) ?? [];
    for (let i = history.length - 1; i >= 0; i--) {
      const entry = history[i] as HistoryEntry;
      if (entry.rv <= rv) break;
      if (entry.previous === undefined) snapshot.delete(entry.key);
      else snapshot.set(entry.key, entry.previous);
    }
    return snapshot;
  }

  // --- internals: faults ----------------------------------------------------------

  private addFault(match: RequestMatch, action: FaultAction, options: FaultOptions): Fault {
    const fault: Fault = { match, action, remaining: options.times ?? Number.POSITIVE_INFINITY, hits: 0, waiters: [] };
    this.faults.push(fault);
    return fault;
  }

  private handleOf(fault: Fault): FaultHandle {
    return {
      get hits() {
        return fault.hits;
      },
      remove: () => {
        const index = this.faults.indexOf(fault);
        if (index >= 0) this.faults.splice(index, 1);
      },
    };
  }

  private releaseWaiters(fault: Fault): void {
    for (const wake of fault.waiters.splice(0)) wake();
  }

  /** Takes the first matching fault of the given kinds, counting it. */
  private takeFault(record: RequestRecord, kinds: readonly FaultAction["kind"][], taken: Set<Fault> = new Set()): Fault | undefined {
    const fault = this.faults.find((f) => !taken.has(f) && f.remaining > 0 && kinds.includes(f.action.kind) && requestMatches(f.match, record));
    if (!fault) return undefined;
    fault.remaining--;
    fault.hits++;
    taken.add(fault);
    if (fault.remaining <= 0 && fault.action.kind !== "hold") this.faults.splice(this.faults.indexOf(fault), 1);
    return fault;
  }

  // --- internals: HTTP ------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.serve(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const status = err instanceof HttpError ? err.status : statusObject(500, "InternalError", `Internal error occurred: ${String(err)}`);
      this.sendJson(res, status.code, status);
    });
  }

  private sendJson(res: ServerResponse, code: number, body: unknown, record?: RequestRecord): void {
    if (res.destroyed || res.headersSent) return;
    const text = JSON.stringify(body);
    if (record) {
      record.status = code;
      record.bytes += Buffer.byteLength(text);
    }
    res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-cache, private" });
    res.end(text);
  }

  private route(segments: readonly string[]): Route {
    const served = (t: ResourceType): boolean => !t.optional || this.adminNetworkPoliciesServed;
    const [first, second, third] = segments;
    if (segments.length === 0) {
      return { kind: "json", body: { paths: ["/api", "/api/v1", "/apis", ...this.groups().map((g) => `/apis/${g}`), "/healthz", "/livez", "/readyz", "/version"] } };
    }
    if (segments.length === 1 && first === "version") {
      return { kind: "json", body: { major: "1", minor: "33", gitVersion: "v1.33.0", gitCommit: "netcanary-test", gitTreeState: "clean", buildDate: "2025-04-23T00:00:00Z", goVersion: "go1.24.2", compiler: "gc", platform: "linux/amd64" } };
    }
    if (segments.length === 1 && (first === "healthz" || first === "livez" || first === "readyz")) return { kind: "text", body: "ok" };
    let group: string;
    let version: string;
    let rest: readonly string[];
    if (first === "api") {
      if (segments.length === 1) {
        return { kind: "json", body: { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `127.0.0.1:${this.port ?? 0}` }] } };
      }
      if (second !== "v1") return { kind: "notFound" };
      group = "";
      version = "v1";
      rest = segments.slice(2);
    } else if (first === "apis") {
      if (segments.length === 1) return { kind: "json", body: { kind: "APIGroupList", apiVersion: "v1", groups: this.groups().map((g) => this.apiGroup(g)) } };
      if (second === undefined || !this.groups().includes(second)) return { kind: "notFound" };
      if (segments.length === 2) return { kind: "json", body: { kind: "APIGroup", apiVersion: "v1", ...this.apiGroup(second) } };
      group = second;
      version = third ?? "";
      rest = segments.slice(3);
    } else {
      return { kind: "notFound" };
    }
    const types = RESOURCE_TYPES.filter((t) => t.group === group && t.version === version && served(t));
    if (types.length === 0) return { kind: "notFound" };
    if (rest.length === 0) {
      return {
        kind: "json",
        body: {
          kind: "APIResourceList",
          apiVersion: "v1",
          groupVersion: group === "" ? version : `${group}/${version}`,
          resources: types.map((t) => {
            const resource: Record<string, unknown> = { name: t.resource, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: ALL_VERBS };
            if (t.shortNames.length > 0) resource["shortNames"] = t.shortNames;
            if (t.categories.length > 0) resource["categories"] = t.categories;
            return resource;
          }),
        },
      };
    }
    const find = (resource: string | undefined): ResourceType | undefined => types.find((t) => t.resource === resource);
    if (rest.length <= 2) {
      const type = find(rest[0]);
      if (!type) return { kind: "notFound" };
      if (rest.length === 2 && type.namespaced) return { kind: "notFound" };
      return rest.length === 2 ? { kind: "resource", type, name: rest[1] as string } : { kind: "resource", type };
    }
    if (rest[0] === "namespaces" && (rest.length === 3 || rest.length === 4)) {
      const type = find(rest[2]);
      if (!type || !type.namespaced) return { kind: "notFound" };
      const namespace = rest[1] as string;
      return rest.length === 4 ? { kind: "resource", type, namespace, name: rest[3] as string } : { kind: "resource", type, namespace };
    }
    return { kind: "notFound" };
  }

  private groups(): string[] {
    const groups: string[] = [];
    for (const t of RESOURCE_TYPES) {
      if (t.group === "" || groups.includes(t.group) || (t.optional && !this.adminNetworkPoliciesServed)) continue;
      groups.push(t.group);
    }
    return groups;
  }

  private apiGroup(group: string): Record<string, unknown> {
    const version = RESOURCE_TYPES.find((t) => t.group === group)?.version ?? "v1";
    const gv = { groupVersion: `${group}/${version}`, version };
    return { name: group, versions: [gv], preferredVersion: gv };
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) if (!(key in query)) query[key] = value;
    const method = (req.method ?? "GET").toUpperCase();
    let segments: string[];
    try {
      segments = url.pathname.split("/").filter((s) => s.length > 0).map((s) => decodeURIComponent(s));
    } catch {
      segments = ["\u0000"];
    }
    const route = this.route(segments);
    const watch = route.kind === "resource" && method === "GET" && parseBool(query["watch"]);
    const verb = route.kind === "resource" ? verbFor(method, route.name, watch) : undefined;
    const record: RequestRecord =
      route.kind === "resource"
        ? {
            method,
            path: url.pathname,
            query,
            headers: req.headers,
            at: Date.now(),
            watch,
            group: route.type.group,
            version: route.type.version,
            resource: route.type.resource,
            ...(verb === undefined ? {} : { verb }),
            ...(route.namespace === undefined ? {} : { namespace: route.namespace }),
            ...(route.name === undefined ? {} : { name: route.name }),
            objects: 0,
            bytes: 0,
          }
        : { method, path: url.pathname, query, headers: req.headers, at: Date.now(), watch: false, objects: 0, bytes: 0 };
    this.log.push(record);

    const bodyText = method === "POST" || method === "PUT" || method === "PATCH" ? await readBody(req) : "";
    if (bodyText !== "") {
      try {
        record.body = JSON.parse(bodyText) as unknown;
      } catch {
        record.body = bodyText;
      }
    }

    if (this.options.token !== undefined && req.headers.authorization !== `Bearer ${this.options.token}`) {
      this.sendJson(res, 401, statusObject(401, "Unauthorized", "Unauthorized"), record);
      return;
    }

    // Delays and holds first, then failures.
    const taken = new Set<Fault>();
    for (;;) {
      const fault = this.takeFault(record, ["delay", "hold"], taken);
      if (!fault) break;
      if (fault.action.kind === "delay") {
        const ms = fault.action.ms;
        await new Promise((resolve) => setTimeout(resolve, ms));
      } else {
        await new Promise<void>((resolve) => fault.waiters.push(resolve));
      }
      if (res.destroyed || !this.server) return;
    }
    const failure = this.takeFault(record, ["forbid", "status", "expire"]);
    if (failure && route.kind === "resource") {
      const action = failure.action;
      if (action.kind === "forbid") {
        this.sendJson(res, 403, this.forbidden(route.type, verb ?? "get", route.namespace), record);
        return;
      }
      if (action.kind === "status") {
        this.sendJson(res, action.status.code, action.status, record);
        return;
      }
      if (action.kind === "expire") {
        const status = statusObject(410, "Expired", `too old resource version: ${query["resourceVersion"] ?? ""} (${this.rv})`);
        if (watch && action.form === "event") {
          const stream = new WatchStream(route.type, { labels: [], fields: [] }, record, res, () => undefined);
          stream.open();
          stream.send("ERROR", status);
          stream.end();
        } else {
          this.sendJson(res, 410, status, record);
        }
        return;
      }
    } else if (failure && failure.action.kind === "status") {
      this.sendJson(res, failure.action.status.code, failure.action.status, record);
      return;
    } else if (failure && failure.action.kind === "forbid") {
      const user = this.options.user ?? "system:serviceaccount:netcanary:netcanary";
      this.sendJson(res, 403, statusObject(403, "Forbidden", `forbidden: User "${user}" cannot ${method.toLowerCase()} path "${url.pathname}"`, {}), record);
      return;
    }

    switch (route.kind) {
      case "notFound":
        this.sendJson(res, 404, statusObject(404, "NotFound", "the server could not find the requested resource", {}), record);
        return;
      case "text":
        record.status = 200;
        res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
        res.end(route.body);
        return;
      case "json":
        if (method !== "GET") {
          this.sendJson(res, 405, statusObject(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}), record);
          return;
        }
        this.sendJson(res, 200, route.body, record);
        return;
      case "resource":
        try {
          this.serveResource(route.type, route.namespace, route.name, verb, query, record, req, res);
        } catch (err) {
          if (!(err instanceof HttpError)) throw err;
          this.sendJson(res, err.status.code, err.status, record);
        }
        return;
    }
  }

  private forbidden(type: ResourceType, verb: Verb, namespace: string | undefined): StatusObject {
    const user = this.options.user ?? "system:serviceaccount:netcanary:netcanary";
    const scope = namespace === undefined ? "at the cluster scope" : `in the namespace "${namespace}"`;
    const details: Record<string, unknown> = { kind: type.resource };
    if (type.group) details["group"] = type.group;
    return statusObject(
      403,
      "Forbidden",
      `${qualifiedResource(type)} is forbidden: User "${user}" cannot ${verb} resource "${type.resource}" in API group "${type.group}" ${scope}`,
      details,
    );
  }

  private serveResource(
    type: ResourceType,
    namespace: string | undefined,
    name: string | undefined,
    verb: Verb | undefined,
    query: Readonly<Record<string, string>>,
    record: RequestRecord,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const representation = verb === "list" || verb === "watch" || verb === "get" ? negotiateRepresentation(record.headers.accept) : { kind: "full" as const };
    if (representation === undefined) throw notAcceptable(NOT_ACCEPTABLE);
    record.representation = representation.kind;
    switch (verb) {
      case "list": {
        if (representation.kind === "metadata" && representation.as !== "PartialObjectMetadataList") {
          throw notAcceptable(`you requested PartialObjectMetadata, but the requested object is a list (${goTypeOf(type, true)})`);
        }
        const body = this.listBody(type, namespace, query);
        record.objects += body.items.length;
        if (representation.kind === "metadata") {
          const items = body.items.map((item) => partialObjectMetadata(item as KubeObject, representation.version));
          this.sendJson(res, 200, { kind: "PartialObjectMetadataList", apiVersion: `meta.k8s.io/${representation.version}`, metadata: body.metadata, items }, record);
        } else {
          this.sendJson(res, 200, body, record);
        }
        return;
      }
      case "watch":
        // A watch streams objects: each event is one PartialObjectMetadata, never a list.
        if (representation.kind === "metadata" && representation.as !== "PartialObjectMetadata") {
          throw notAcceptable(`you requested PartialObjectMetadataList, but the requested object is not a list (${goTypeOf(type, false)})`);
        }
        this.startWatch(type, namespace, name, query, record, res, representation);
        return;
      case "get": {
        const obj = this.objects.get(type.storage)?.get(keyOf(namespace, name as string));
        if (!obj) throw notFoundFor(type, name as string);
        if (representation.kind === "metadata" && representation.as !== "PartialObjectMetadata") {
          throw notAcceptable(`you requested PartialObjectMetadataList, but the requested object is not a list (${goTypeOf(type, false)})`);
        }
        record.objects++;
        const wire = this.toWire(type, obj);
        this.sendJson(res, 200, representation.kind === "metadata" ? partialObjectMetadata(wire, representation.version) : wire, record);
        return;
      }
      case "create":
        if (name !== undefined || (type.namespaced && namespace === undefined)) break;
        this.create(type, namespace, query, record, res);
        return;
      case "update":
        this.update(type, namespace, name as string, query, record, res);
        return;
      case "patch":
        this.patch(type, namespace, name as string, query, record, req, res);
        return;
      case "delete": {
        const key = keyOf(namespace, name as string);
        const existing = this.objects.get(type.storage)?.get(key);
        if (!existing) throw notFoundFor(type, name as string);
        if (query["dryRun"] === "All") {
          this.sendJson(res, 200, this.toWire(type, existing), record);
          return;
        }
        const deleted = type.storage === "namespaces" ? (this.remove("Namespace", undefined, name as string), existing) : this.write(type.storage, key, undefined);
        this.sendJson(res, 200, this.toWire(type, deleted as KubeObject), record);
        return;
      }
      default:
        break;
    }
    throw new HttpError(statusObject(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}));
  }

  private filterFor(type: ResourceType, namespace: string | undefined, name: string | undefined, query: Readonly<Record<string, string>>): ObjectFilter {
    const filter: { namespace?: string; name?: string; labels: readonly LabelRequirement[]; fields: readonly FieldRequirement[] } = {
      labels: parseLabelSelector(query["labelSelector"] ?? ""),
      fields: parseFieldSelector(query["fieldSelector"] ?? "", type),
    };
    if (namespace !== undefined) filter.namespace = namespace;
    if (name !== undefined) filter.name = name;
    return filter;
  }

  private parseRv(text: string): number {
    if (!/^\d+$/.test(text)) throw badRequest(`resourceVersion: Invalid value: "${text}": must be a non-negative integer`);
    return Number(text);
  }

  private listBody(type: ResourceType, namespace: string | undefined, query: Readonly<Record<string, string>>): { kind: string; apiVersion: string; metadata: Record<string, unknown>; items: unknown[] } {
    const filter = this.filterFor(type, namespace, undefined, query);
    const rvText = query["resourceVersion"] ?? "";
    const match = query["resourceVersionMatch"] ?? "";
    const continueText = query["continue"] ?? "";
    const limitText = query["limit"] ?? "";
    const requestedLimit = limitText === "" ? 0 : Number(limitText);
    if (!Number.isInteger(requestedLimit) || requestedLimit < 0) throw badRequest(`limit: Invalid value: "${limitText}": must be a non-negative integer`);
    // resourceVersion=0 is served from the watch cache: the state it holds now (any recent
    // state is allowed), and the watch cache does not paginate: limit is ignored.
    const limit = rvText === "0" && continueText === "" ? 0 : requestedLimit;
    if (match !== "" && match !== "Exact" && match !== "NotOlderThan") {
      throw invalid("ListOptions", "", [{ type: "FieldValueNotSupported", field: "resourceVersionMatch", message: `Unsupported value: "${match}": supported values: "Exact", "NotOlderThan", ""` }]);
    }
    if (match !== "" && rvText === "") {
      throw invalid("ListOptions", "", [{ type: "FieldValueInvalid", field: "resourceVersionMatch", message: "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided" }]);
    }
    if (match === "Exact" && rvText === "0") {
      throw invalid("ListOptions", "", [{ type: "FieldValueInvalid", field: "resourceVersionMatch", message: `Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"` }]);
    }
    if (continueText !== "" && rvText !== "" && rvText !== "0") throw badRequest("specifying resource version is not allowed when using continue");

    let snapshotRv = this.rv;
    let startKey = "";
    if (continueText !== "") {
      const token = decodeContinue(continueText);
      startKey = token.start;
      if (token.rv >= 0) {
        const compacted = this.compactedRv.get(type.storage) ?? 0;
        if (token.rv < compacted) {
          const status = statusObject(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
          );
          status.metadata.continue = Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv: -1, start: token.start })).toString("base64url");
          throw new HttpError(status);
        }
        snapshotRv = token.rv;
      }
    } else if (rvText !== "" && rvText !== "0") {
      const requested = this.parseRv(rvText);
      if (requested > this.rv) throw tooLarge(requested, this.rv);
      if (match === "Exact") snapshotRv = requested;
    }
    const snapshot = this.snapshotAt(type.storage, snapshotRv);
    const keys = [...snapshot.keys()].filter((k) => k >= startKey).sort();
    const selected: Array<[string, KubeObject]> = [];
    let remaining = 0;
    let continueToken: string | undefined;
    for (const key of keys) {
      const obj = snapshot.get(key) as KubeObject;
      if (!matches(type, filter, obj)) continue;
      if (limit > 0 && selected.length >= limit) {
        remaining++;
        continue;
      }
      selected.push([key, obj]);
    }
    if (remaining > 0) {
      const last = selected[selected.length - 1];
      continueToken = encodeContinue(snapshotRv, last ? last[0] : startKey);
    }
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshotRv) };
    if (continueToken !== undefined) {
      metadata["continue"] = continueToken;
      if (filter.labels.length === 0 && filter.fields.length === 0) metadata["remainingItemCount"] = remaining;
    }
    return {
      kind: `${type.kind}List`,
      apiVersion: groupVersion(type),
      metadata,
      items: selected.map(([, obj]) => {
        const item = this.toWire(type, obj);
        if (!type.builtin) return item;
        const { apiVersion: _apiVersion, kind: _kind, ...rest } = item;
        return rest;
      }),
    };
  }

  private startWatch(
    type: ResourceType,
    namespace: string | undefined,
    name: string | undefined,
    query: Readonly<Record<string, string>>,
    record: RequestRecord,
    res: ServerResponse,
    representation: Representation,
  ): void {
    const filter = this.filterFor(type, namespace, name, query);
    const rvText = query["resourceVersion"] ?? "";
    const bookmarks = parseBool(query["allowWatchBookmarks"]);
    const sendInitialParam = query["sendInitialEvents"];
    const sendInitial = parseBool(sendInitialParam);
    if (sendInitial && (query["resourceVersionMatch"] !== "NotOlderThan" || !bookmarks)) {
      throw invalid("ListOptions", "", [
        { type: "FieldValueInvalid", field: "sendInitialEvents", message: "Forbidden: sendInitialEvents is forbidden for watch unless resourceVersionMatch is NotOlderThan and allowWatchBookmarks is true" },
      ]);
    }
    const requested = rvText === "" || rvText === "0" ? undefined : this.parseRv(rvText);
    const timeoutText = query["timeoutSeconds"];
    const timeoutSeconds = timeoutText !== undefined ? Number(timeoutText) : this.options.defaultWatchTimeoutSeconds;

    const stream = new WatchStream(type, filter, record, res, (s) => this.watches.delete(s), representation);
    stream.open();
    const toWire = (obj: KubeObject): KubeObject => this.toWire(type, obj);
    if (requested !== undefined && requested > this.rv) {
      stream.send("ERROR", tooLarge(requested, this.rv).status);
      stream.end();
      return;
    }
    const initialEvents = sendInitial || (requested === undefined && sendInitialParam === undefined);
    if (initialEvents) {
      const objects = this.objects.get(type.storage) ?? new Map<string, KubeObject>();
      for (const key of [...objects.keys()].sort()) {
        const obj = objects.get(key) as KubeObject;
        if (matches(type, filter, obj)) stream.send("ADDED", toWire(obj));
      }
      if (sendInitial) stream.bookmark(String(this.rv), { "k8s.io/initial-events-end": "true" });
    } else if (requested !== undefined) {
      const compacted = this.compactedRv.get(type.storage) ?? 0;
      if (requested < compacted) {
        stream.send("ERROR", tooOld(requested, compacted).status);
        stream.end();
        return;
      }
      for (const entry of this.history.get(type.storage) ?? []) {
        if (entry.rv > requested) stream.deliver(entry, toWire);
      }
    }
    this.watches.add(stream);
    stream.startTimers(
      bookmarks ? this.bookmarkIntervalMs : undefined,
      timeoutSeconds !== undefined && Number.isFinite(timeoutSeconds) && timeoutSeconds > 0 ? timeoutSeconds * 1000 : undefined,
      () => this.rv,
    );
  }

  private readObjectBody(type: ResourceType, record: RequestRecord): KubeObject {
    const body = record.body;
    if (!isRecord(body)) throw badRequest("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml");
    const apiVersion = str(body["apiVersion"]);
    const kind = str(body["kind"]);
    if (apiVersion !== "" && apiVersion !== groupVersion(type)) {
      throw badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${groupVersion(type)})`);
    }
    if (kind !== "" && kind !== type.kind) throw badRequest(`the kind in the data (${kind}) does not match the expected kind (${type.kind})`);
    const obj = clone(body) as KubeObject;
    obj.apiVersion = groupVersion(type);
    obj.kind = type.kind;
    if (!isRecord(obj.metadata)) obj.metadata = {};
    return obj;
  }

  private checkNamespace(type: ResourceType, obj: KubeObject, namespace: string | undefined): void {
    if (!type.namespaced) {
      delete obj.metadata.namespace;
      return;
    }
    if (obj.metadata.namespace && obj.metadata.namespace !== namespace) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    }
    obj.metadata.namespace = namespace as string;
  }

  private validate(type: ResourceType, stored: KubeObject, name: string): void {
    const causes: FieldCause[] = [];
    if (type.storage === "events") causes.push(...validateEvent(stored, type.group === "events.k8s.io"));
    if (causes.length > 0) throw invalid(type.kind, name, causes);
  }

  private create(type: ResourceType, namespace: string | undefined, query: Readonly<Record<string, string>>, record: RequestRecord, res: ServerResponse): void {
    const obj = this.readObjectBody(type, record);
    this.checkNamespace(type, obj, namespace);
    if (obj.metadata.resourceVersion) throw badRequest("resourceVersion should not be set on objects to be created");
    if (!obj.metadata.name) {
      if (!obj.metadata.generateName) {
        throw invalid(type.kind, "", [{ type: "FieldValueRequired", field: "metadata.name", message: "Required value: name or generateName is required" }]);
      }
      obj.metadata.name = `${obj.metadata.generateName}${generatedSuffix()}`;
    }
    const name = obj.metadata.name;
    if (namespace !== undefined && !this.objects.get("namespaces")?.has(namespace)) {
      throw new HttpError(statusObject(404, "NotFound", `namespaces "${namespace}" not found`, { name: namespace, kind: "namespaces" }));
    }
    const key = keyOf(namespace, name);
    if (this.objects.get(type.storage)?.has(key)) {
      const details: Record<string, unknown> = { name, kind: type.resource };
      if (type.group) details["group"] = type.group;
      throw new HttpError(statusObject(409, "AlreadyExists", `${qualifiedResource(type)} "${name}" already exists`, details));
    }
    delete obj.metadata.uid;
    delete obj.metadata.creationTimestamp;
    const stored = this.fromWire(type, obj);
    applyDefaults(type, stored);
    this.validate(type, stored, name);
    if (query["dryRun"] === "All") {
      stored.metadata.uid = randomUUID();
      stored.metadata.creationTimestamp = now();
      this.sendJson(res, 201, this.toWire(type, stored), record);
      return;
    }
    const written = this.write(type.storage, key, stored) as KubeObject;
    this.sendJson(res, 201, this.toWire(type, written), record);
  }

  private conflict(type: ResourceType, name: string): HttpError {
    const details: Record<string, unknown> = { name, kind: type.resource };
    if (type.group) details["group"] = type.group;
    return new HttpError(
      statusObject(409, "Conflict", `Operation cannot be fulfilled on ${qualifiedResource(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, details),
    );
  }

  private update(type: ResourceType, namespace: string | undefined, name: string, query: Readonly<Record<string, string>>, record: RequestRecord, res: ServerResponse): void {
    const obj = this.readObjectBody(type, record);
    this.checkNamespace(type, obj, namespace);
    if (obj.metadata.name !== name) throw badRequest(`the name of the object (${obj.metadata.name ?? ""}) does not match the name on the URL (${name})`);
    const key = keyOf(namespace, name);
    const existing = this.objects.get(type.storage)?.get(key);
    if (!existing) {
      // Of these resources only Events allow create-on-update.
      if (type.storage !== "events") throw notFoundFor(type, name);
      this.create(type, namespace, query, { ...record, body: { ...obj, metadata: { ...obj.metadata, resourceVersion: undefined } } }, res);
      record.status = 201;
      return;
    }
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== existing.metadata.resourceVersion) throw this.conflict(type, name);
    this.commitUpdate(type, key, name, this.fromWire(type, obj), query, record, res);
  }

  private patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    query: Readonly<Record<string, string>>,
    record: RequestRecord,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (!PATCH_TYPES.includes(contentType)) {
      throw new HttpError(
        statusObject(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(", ")}`),
      );
    }
    const key = keyOf(namespace, name);
    const existing = this.objects.get(type.storage)?.get(key);
    if (!existing) throw notFoundFor(type, name);
    const current = this.toWire(type, existing);
    let patched: unknown;
    try {
      patched =
        contentType === "application/json-patch+json"
          ? jsonPatch(current, record.body)
          : mergePatch(current, record.body, contentType === "application/strategic-merge-patch+json");
    } catch (err) {
      throw invalid(type.kind, name, [{ type: "FieldValueInvalid", field: "patch", message: `Invalid value: ${err instanceof Error ? err.message : String(err)}` }]);
    }
    if (!isRecord(patched) || !isRecord(patched["metadata"])) throw badRequest("the patched object is not a Kubernetes object");
    const obj = patched as KubeObject;
    if (obj.metadata.name !== name) throw badRequest(`the name of the object (${obj.metadata.name ?? ""}) does not match the name on the URL (${name})`);
    this.checkNamespace(type, obj, namespace);
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== existing.metadata.resourceVersion) throw this.conflict(type, name);
    obj.apiVersion = groupVersion(type);
    obj.kind = type.kind;
    this.commitUpdate(type, key, name, this.fromWire(type, obj), query, record, res);
  }

  private commitUpdate(type: ResourceType, key: string, name: string, stored: KubeObject, query: Readonly<Record<string, string>>, record: RequestRecord, res: ServerResponse): void {
    applyDefaults(type, stored);
    this.validate(type, stored, name);
    if (query["dryRun"] === "All") {
      this.sendJson(res, 200, this.toWire(type, stored), record);
      return;
    }
    const written = this.write(type.storage, key, stored) as KubeObject;
    this.sendJson(res, 200, this.toWire(type, written), record);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
