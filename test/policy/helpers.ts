// Test helpers for the NetworkPolicy engine: build a cluster from inline YAML and ask
// about connections by "namespace/pod" name (or an IP literal for endpoints outside it).

import { parseIp } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import type { ClusterSnapshot, PodInfo, Protocol } from "../../agent/cluster/snapshot.js";
import { type FieldIssue, IssueList, isObject, type Json } from "../../agent/documents/fields.js";
import { parseDocuments } from "../../agent/documents/located.js";
import {
  buildPolicyIndex,
  type Endpoint,
  evaluateConnection,
  type PolicyIndex,
  withoutPolicy,
  withPolicy,
} from "../../agent/policy/engine.js";
import type { Direction, NetworkPolicy, PolicyVerdict, RuleRef } from "../../agent/policy/model.js";
import { normalizeNetworkPolicy } from "../../agent/policy/normalize.js";

/** Removes the common leading indentation of a template literal, so YAML can be indented with the code. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\n\s*$/, "").split("\n");
  const indents = lines.filter((line) => line.trim() !== "").map((line) => /^ */.exec(line)?.[0].length ?? 0);
  const strip = indents.length === 0 ? 0 : Math.min(...indents);
  return lines.map((line) => line.slice(strip)).join("\n");
}

// ---- small YAML builders for the cluster around the policies under test ----

export function namespace(name: string, labels: Record<string, string> = {}): string {
  return JSON.stringify(namespaceObject(name, labels));
}

export function namespaceObject(name: string, labels: Record<string, string> = {}): Json {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

export interface PodPort {
  readonly name?: string;
  readonly port: number;
  readonly protocol?: Protocol;
}

export interface PodOptions {
  readonly labels?: Record<string, string>;
  /** One or two IPs (dual stack). Empty: a pod not scheduled yet. */
  readonly ips?: readonly string[];
  readonly ports?: readonly PodPort[];
  readonly hostNetwork?: boolean;
}

/** Container ports as a pod spec lists them (protocol left to the API default when unset). */
function containerPorts(ports: readonly PodPort[] = []): Json[] {
  return ports.map((p) => ({ ...(p.name !== undefined ? { name: p.name } : {}), containerPort: p.port, ...(p.protocol !== undefined ? { protocol: p.protocol } : {}) }));
}

/** A Pod document; ref is "namespace/name". */
export function pod(ref: string, options: PodOptions = {}): string {
  return JSON.stringify(podObject(ref, options));
}

export function podObject(ref: string, options: PodOptions = {}): Json {
  const [ns, name] = splitRef(ref);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels: options.labels ?? {} },
    spec: { containers: [{ name: "main", image: "busybox", ports: containerPorts(options.ports) }], ...(options.hostNetwork ? { hostNetwork: true } : {}) },
    status: { phase: "Running", podIPs: (options.ips ?? []).map((ip) => ({ ip })) },
  };
}

/** A Deployment document (a workload template: its pods have no IP yet); ref is "namespace/name". */
export function deployment(ref: string, options: Omit<PodOptions, "ips"> = {}): string {
  return JSON.stringify(deploymentObject(ref, options));
}

export function deploymentObject(ref: string, options: Omit<PodOptions, "ips"> = {}): Json {
  const [ns, name] = splitRef(ref);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      selector: { matchLabels: options.labels ?? {} },
      template: {
        metadata: { labels: options.labels ?? {} },
        spec: { containers: [{ name: "main", image: "busybox", ports: containerPorts(options.ports) }] },
      },
    },
  };
}

export function service(ref: string, clusterIp: string, selector: Record<string, string>, port: number): string {
  const [ns, name] = splitRef(ref);
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: { clusterIP: clusterIp, selector, ports: [{ port, targetPort: port }] },
  });
}

/** A NetworkPolicy document; ref is "namespace/name", spec is YAML (any indentation) nested under spec:. */
export function netpol(ref: string, spec: string): string {
  const [ns, name] = splitRef(ref);
  const body = dedent(spec)
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${body}`;
}

export function splitRef(ref: string): [string, string] {
  const slash = ref.indexOf("/");
  if (slash < 0) throw new Error(`expected "namespace/name", got "${ref}"`);
  return [ref.slice(0, slash), ref.slice(slash + 1)];
}

// ---- the cluster under test ----

export class TestCluster {
  constructor(
    readonly snapshot: ClusterSnapshot,
    readonly index: PolicyIndex,
  ) {}

  pod(ref: string): PodInfo {
    const found = this.snapshot.pods.find((p) =>
      p.workload ? `${p.workload.kind}/${p.namespace}/${p.workload.name}` === ref : `${p.namespace}/${p.name}` === ref,
    );
    if (!found) throw new Error(`no pod ${ref} in the test cluster`);
    return found;
  }

  endpoint(ref: string): Endpoint {
    const ip = parseIp(ref);
    if (ip.ok) return { kind: "ip", ip: ip.value };
    return { kind: "pod", pod: this.pod(ref) };
  }

  check(from: string, to: string, port: number, protocol: Protocol = "TCP", index: PolicyIndex = this.index): PolicyVerdict {
    return evaluateConnection(index, { from: this.endpoint(from), to: this.endpoint(to), port, protocol });
  }

  /** "allow" or "deny", the short answer. */
  verdict(from: string, to: string, port: number, protocol: Protocol = "TCP"): "allow" | "deny" {
    return this.check(from, to, port, protocol).verdict;
  }

  policy(ref: string): NetworkPolicy {
    const [ns, name] = splitRef(ref);
    const found = this.snapshot.policies.find((p) => p.namespace === ns && p.name === name);
    if (!found) throw new Error(`no policy ${ref} in the test cluster`);
    return found;
  }

  with(policyYaml: string): PolicyIndex {
    return withPolicy(this.index, normalizeYaml(policyYaml));
  }

  without(ref: string): PolicyIndex {
    const [ns, name] = splitRef(ref);
    return withoutPolicy(this.index, ns, name);
  }
}

/** Builds a cluster from YAML documents (each a string, possibly itself multi-document); fails on any input error. */
export function cluster(...documents: string[]): TestCluster {
  const text = documents.map((doc) => dedent(doc)).join("\n---\n");
  const parsed = parseDocuments(text, "cluster.yaml");
  if (parsed.errors.length > 0) throw new Error(`YAML errors: ${JSON.stringify(parsed.errors)}`);
  const built = snapshotFromDocuments(parsed.documents);
  if (built.errors.length > 0) throw new Error(`manifest errors: ${JSON.stringify(built.errors)}`);
  return new TestCluster(built.snapshot, buildPolicyIndex(built.snapshot));
}

/** The input errors snapshotFromDocuments reports for these documents. */
export function manifestErrors(...documents: string[]): string[] {
  const parsed = parseDocuments(documents.map((doc) => dedent(doc)).join("\n---\n"), "cluster.yaml");
  const built = snapshotFromDocuments(parsed.documents);
  return [...parsed.errors, ...built.errors].map((e) => `${e.field ?? ""}: ${e.message}`);
}

export interface Normalized {
  readonly policy: NetworkPolicy | undefined;
  readonly issues: readonly FieldIssue[];
  /** Issue paths in dotted form, e.g. "spec.ingress.0.from.0". */
  readonly paths: readonly string[];
}

/** Runs normalizeNetworkPolicy on one YAML document (or a plain object). */
export function normalize(input: string | Json): Normalized {
  let raw: Json;
  if (typeof input === "string") {
    const parsed = parseDocuments(dedent(input), "policy.yaml");
    const value = parsed.documents[0]?.value;
    if (parsed.errors.length > 0 || !isObject(value)) throw new Error(`bad YAML in test: ${JSON.stringify(parsed.errors)}`);
    raw = value;
  } else {
    raw = input;
  }
  const issues = new IssueList();
  const policy = normalizeNetworkPolicy(raw, issues);
  return { policy, issues: issues.issues, paths: issues.issues.map((i) => i.path.join(".")) };
}

/** Normalizes a policy that must be valid. */
export function normalizeYaml(input: string | Json): NetworkPolicy {
  const result = normalize(input);
  if (!result.policy || result.issues.length > 0) throw new Error(`policy rejected: ${JSON.stringify(result.issues)}`);
  return result.policy;
}

/** Rule references as "ns/name:direction[i]" strings, sorted, for compact assertions. */
export function refs(list: readonly RuleRef[]): string[] {
  return list.map((r) => `${r.policy}:${r.direction}[${r.rule}]`).sort();
}

export function noteCodes(verdict: PolicyVerdict): string[] {
  return verdict.notes.map((n) => n.code).sort();
}

/** A verdict reduced to what must not depend on how the index was built or in what order. */
export function canonical(verdict: PolicyVerdict): unknown {
  const side = (d: Direction) => {
    const v = d === "egress" ? verdict.egress : verdict.ingress;
    return {
      applies: v.applies,
      isolated: v.isolated,
      allowed: v.allowed,
      policies: [...v.policies].sort(),
      allowedBy: refs(v.allowedBy),
    };
  };
  return {
    verdict: verdict.verdict,
    determinate: verdict.determinate,
    cniDependent: verdict.cniDependent,
    egress: side("egress"),
    ingress: side("ingress"),
    notes: verdict.notes.map((n) => `${n.kind}:${n.code}`).sort(),
  };
}
