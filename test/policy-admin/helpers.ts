// Test helpers for the admin tiers (AdminNetworkPolicy, BaselineAdminNetworkPolicy):
// clusters built from manifest objects through the real loader, queries by "namespace/pod"
// or an IP literal, and the normalisers run on one object.

import { parseIp } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import type { ClusterSnapshot, PodInfo, Protocol } from "../../agent/cluster/snapshot.js";
import { type FieldIssue, IssueList, type Json } from "../../agent/documents/fields.js";
import { formatFieldPath, parseDocuments } from "../../agent/documents/located.js";
import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from "../../agent/policy/admin-model.js";
import { normalizeAdminNetworkPolicy, normalizeBaselineAdminNetworkPolicy } from "../../agent/policy/admin-normalize.js";
import { buildPolicyIndex, type Endpoint, evaluateConnection, type PolicyIndex } from "../../agent/policy/engine.js";
import { explainVerdict } from "../../agent/policy/explain.js";
import type { DirectionVerdict, PolicyVerdict, TierStep } from "../../agent/policy/model.js";
import { splitRef } from "../policy/helpers.js";

export const API_VERSION = "policy.networking.k8s.io/v1alpha1";

export interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

// The cluster around the policies: the same builders as the NetworkPolicy tests, as objects.
export { deploymentObject as deployment, namespaceObject as namespace, type PodOptions, podObject as pod } from "../policy/helpers.js";

export function networkPolicy(ref: string, spec: Json): Json {
  const [ns, name] = splitRef(ref);
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name, namespace: ns }, spec };
}

export function anp(name: string, spec: Json): Json {
  return { apiVersion: API_VERSION, kind: "AdminNetworkPolicy", metadata: { name }, spec };
}

export function banp(spec: Json, name = "default"): Json {
  return { apiVersion: API_VERSION, kind: "BaselineAdminNetworkPolicy", metadata: { name }, spec };
}

/** Peers and subjects, as written in YAML. */
export const inNamespaces = (matchLabels: Record<string, string> = {}): Json => ({ namespaces: { matchLabels } });
export const podsIn = (namespaceLabels: Record<string, string>, podLabels: Record<string, string>): Json => ({
  pods: { namespaceSelector: { matchLabels: namespaceLabels }, podSelector: { matchLabels: podLabels } },
});
export const everyone: Json = { namespaces: {} };
export const tcp = (port: number): Json => ({ portNumber: { protocol: "TCP", port } });

export interface Query {
  from: string;
  to: string;
  port: number;
  protocol?: Protocol;
}

export class AdminCluster {
  constructor(
    readonly snapshot: ClusterSnapshot,
    readonly index: PolicyIndex,
  ) {}

  endpoint(ref: string): Endpoint {
    const ip = parseIp(ref);
    if (ip.ok) return { kind: "ip", ip: ip.value };
    const found = this.snapshot.pods.find((p: PodInfo) =>
      p.workload ? `${p.workload.kind}/${p.namespace}/${p.workload.name}` === ref : `${p.namespace}/${p.name}` === ref,
    );
    if (!found) throw new Error(`no pod ${ref} in the test cluster`);
    return { kind: "pod", pod: found };
  }

  check(from: string, to: string, port: number, protocol: Protocol = "TCP"): PolicyVerdict {
    return evaluateConnection(this.index, { from: this.endpoint(from), to: this.endpoint(to), port, protocol });
  }

  verdict(from: string, to: string, port: number, protocol: Protocol = "TCP"): "allow" | "deny" {
    return this.check(from, to, port, protocol).verdict;
  }

  explain(from: string, to: string, port: number, protocol: Protocol = "TCP"): string[] {
    return explainVerdict(this.check(from, to, port, protocol));
  }
}

/** Builds a cluster from manifest objects through the manifest loader; fails on any input error. */
export function adminCluster(...objects: Json[]): AdminCluster {
  const parsed = parseDocuments(objects.map((o) => JSON.stringify(o)).join("\n---\n"), "cluster.yaml");
  if (parsed.errors.length > 0) throw new Error(`YAML errors: ${JSON.stringify(parsed.errors)}`);
  const built = snapshotFromDocuments(parsed.documents);
  if (built.errors.length > 0) throw new Error(`manifest errors: ${JSON.stringify(built.errors)}`);
  return new AdminCluster(built.snapshot, buildPolicyIndex(built.snapshot));
}

/** The loader's input errors for these objects, as "line field: message". */
export function loadErrors(...objects: Json[]): string[] {
  const text = objects.map((o) => JSON.stringify(o, null, 2)).join("\n---\n");
  const parsed = parseDocuments(text, "cluster.yaml");
  const built = snapshotFromDocuments(parsed.documents);
  return [...parsed.errors, ...built.errors].map((e) => `${e.line ?? "?"} ${e.field ?? ""}: ${e.message}`);
}

export interface Normalized<T> {
  readonly policy: T | undefined;
  readonly issues: readonly FieldIssue[];
  /** Issue paths in the error format, e.g. "spec.egress[0].to[1].networks[0]". */
  readonly paths: readonly string[];
}

export function normalizeAnp(raw: Json): Normalized<AdminNetworkPolicy> {
  const issues = new IssueList();
  const policy = normalizeAdminNetworkPolicy(raw, issues);
  return { policy, issues: issues.issues, paths: issues.issues.map((i) => formatFieldPath(i.path)) };
}

export function normalizeBanp(raw: Json): Normalized<BaselineAdminNetworkPolicy> {
  const issues = new IssueList();
  const policy = normalizeBaselineAdminNetworkPolicy(raw, issues);
  return { policy, issues: issues.issues, paths: issues.issues.map((i) => formatFieldPath(i.path)) };
}

/** A direction's tier path in short form, e.g. ["admin:Pass:a[0]", "networkpolicy:Allow"]. */
export function path(direction: DirectionVerdict): string[] {
  return (direction.tiers ?? []).map((step: TierStep) =>
    step.policy !== undefined && step.rule !== undefined ? `${step.tier}:${step.action}:${step.policy}[${step.rule}]` : `${step.tier}:${step.action}`,
  );
}

export function noteCodes(verdict: PolicyVerdict): string[] {
  return verdict.notes.map((n) => `${n.kind}:${n.code}`).sort();
}
