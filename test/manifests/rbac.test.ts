// The ClusterRole grants what the agent uses and nothing else.
// - Statically: reads are list and watch; the one write is create and patch on Events; no
//   wildcards, no Secrets or ConfigMaps, bound to the DaemonSet's ServiceAccount.
// - Against the agent's real code: the cluster reader (LiveCluster) and the Event recorder
//   run against the wire-true test API server, which logs every request's verb, group and
//   resource. Every request must be allowed by the ClusterRole (evaluated as RBAC does), and
//   every permission it grants must have been used.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { EventRecorder } from "../../agent/daemon/events.js";
import { LiveCluster } from "../../agent/cluster/live.js";
import type { ClusterSnapshot } from "../../agent/cluster/snapshot.js";
import type { ProbeConfig } from "../../agent/config/model.js";
import { createLogger } from "../../agent/log/log.js";
import { concreteTargets, edgeFor } from "../../agent/targets/edges.js";
import { newEdgeRecord, type StatusChange, withOutcome } from "../../agent/verdicts/edge-state.js";
import type { EdgePolicy } from "../../agent/verdicts/policy.js";
import { KubeApiServer, type RequestRecord } from "../support/kube-api-server.js";
import { describeWith } from "../support/prerequisites.js";
import { waitFor } from "../support/wait.js";
import { find, type KubeObject, manifestsDir, parseYamlStream, podSpec, render } from "./render.js";

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Access {
  readonly group: string;
  readonly resource: string;
  readonly verb: string;
}

const READ_VERBS = new Set(["list", "watch"]);

function clusterRoleRules(objects: readonly KubeObject[]): Rule[] {
  return (find(objects, "ClusterRole", "netcanary") as unknown as { rules: Rule[] }).rules;
}

/** RBAC's rule matching for resource requests (no resourceNames: the agent names none). */
function allows(rules: readonly Rule[], access: Access): boolean {
  return rules.some(
    (rule) =>
      (rule.apiGroups ?? []).some((g) => g === "*" || g === access.group) &&
      (rule.resources ?? []).some((r) => r === "*" || r === access.resource) &&
      rule.verbs.some((v) => v === "*" || v === access.verb) &&
      (rule.resourceNames ?? []).length === 0,
  );
}

/** Every (group, resource, verb) a set of rules grants. */
function grants(rules: readonly Rule[]): Access[] {
  return rules.flatMap((rule) => (rule.apiGroups ?? []).flatMap((group) => (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => ({ group, resource, verb })))));
}

const key = (a: Access) => `${a.verb} ${a.group === "" ? "core" : a.group}/${a.resource}`;

/** Problems with what the rules grant, read statically; empty when they are read-only but Events. */
function ruleProblems(rules: readonly Rule[]): string[] {
  const problems: string[] = [];
  for (const rule of rules) {
    const all = [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs];
    if (all.includes("*")) problems.push(`wildcard in ${JSON.stringify(rule)}`);
    if (rule.nonResourceURLs) problems.push(`nonResourceURLs ${rule.nonResourceURLs.join()}`);
  }
  for (const access of grants(rules)) {
    const isEvents = access.group === "" && access.resource === "events";
    if (isEvents ? !["create", "patch"].includes(access.verb) : !READ_VERBS.has(access.verb)) problems.push(`grants ${key(access)}`);
    if (["secrets", "configmaps", "pods/exec", "pods/attach", "serviceaccounts/token", "nodes/proxy"].includes(access.resource)) problems.push(`touches ${access.resource}`);
  }
  return problems;
}

const rbacFile = join(manifestsDir, "base", "rbac.yaml");
const sourceRules = () => clusterRoleRules(parseYamlStream(readFileSync(rbacFile, "utf8")));

describe("the ClusterRole, statically", () => {
  it("reads with list and watch only; writes only Events (create, patch); no wildcards", () => {
    const rules = sourceRules();
    expect(ruleProblems(rules)).toEqual([]);
    expect(grants(rules).filter((a) => !READ_VERBS.has(a.verb)).map(key).sort()).toEqual(["create core/events", "patch core/events"]);
  });

  it("negative controls: broader grants are reported", () => {
    const rules = sourceRules();
    expect(ruleProblems([...rules, { apiGroups: [""], resources: ["pods"], verbs: ["delete"] }])).toEqual(["grants delete core/pods"]);
    expect(ruleProblems([...rules, { apiGroups: [""], resources: ["secrets"], verbs: ["list"] }])).toEqual(["touches secrets"]);
    expect(ruleProblems([...rules, { apiGroups: ["*"], resources: ["pods"], verbs: ["get"] }])).toEqual([
      'wildcard in {"apiGroups":["*"],"resources":["pods"],"verbs":["get"]}',
      "grants get */pods",
    ]);
    expect(ruleProblems([...rules, { apiGroups: [""], resources: ["events"], verbs: ["delete"] }])).toEqual(["grants delete core/events"]);
  });
});

describeWith({ commands: ["kubectl"] }, "the rendered RBAC", () => {
  it.each(["base", "variants/pod-mode", "examples/pod-mode-monitored"])("%s: the same rules, bound to the DaemonSet's ServiceAccount", (path) => {
    const objects = render(path);
    expect(clusterRoleRules(objects)).toEqual(sourceRules());
    const binding = find(objects, "ClusterRoleBinding", "netcanary") as unknown as { roleRef: { kind: string; name: string }; subjects: Array<{ kind: string; name: string; namespace?: string }> };
    expect(binding.roleRef).toMatchObject({ kind: "ClusterRole", name: "netcanary" });
    const account = find(objects, "ServiceAccount", podSpec(objects).serviceAccountName);
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: account.metadata.name, namespace: account.metadata.namespace }]);
  });
});

// ---------------------------------------------------------------------------------------
// Against the agent's code

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const quiet = () =>
  createLogger(
    "error",
    new Writable({
      write(_chunk, _encoding, callback) {
        callback();
      },
    }),
  );

/** A raised signal on an edge of the source pod, as the agent's verdict code makes it. */
function raisedSignal(): StatusChange {
  const probe: ProbeConfig = {
    name: "web-api",
    sources: ["web"],
    expect: "allow",
    schedule: { kind: "interval", intervalMs: 10_000 },
    target: { kind: "tcp", host: "api.example.com", port: 443 },
    timeoutMs: 2000,
    failureThreshold: 1,
    successThreshold: 1,
  };
  const [target] = concreteTargets(probe.target, undefined);
  if (!target) throw new Error("a tcp host target is one concrete target");
  const edge = edgeFor(probe, { name: "web", namespace: "shop", node: "node-a", workload: "web" }, target);
  const policy: EdgePolicy = { stance: "allow", summary: "allow: not isolated", lines: ["allow: not isolated"], egressRule: "not_isolated", ingressRule: "not_isolated", cniDependent: false };
  const next = withOutcome(newEdgeRecord(edge, policy), { reason: "timeout", durationSeconds: 2, phases: {}, address: "10.0.3.7", detail: "no answer" }, false, policy, undefined, new Date());
  if (!next.change) throw new Error("one timeout against an expected allow raises a signal (failureThreshold 1)");
  return next.change;
}

describe("the ClusterRole against the agent's requests", () => {
  it("every request the cluster reader and the Event recorder make is allowed, and every grant is used", async () => {
    const server = await KubeApiServer.start({ adminNetworkPolicies: true });
    cleanups.push(() => server.stop());
    server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { team: "shop" } } });
    const pod = server.apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "shop", name: "web-0", labels: { app: "web" } },
      spec: { nodeName: "node-a", containers: [{ name: "web", image: "web:1", ports: [{ name: "http", containerPort: 8080 }] }] },
      status: { phase: "Running", podIP: "10.0.1.5", podIPs: [{ ip: "10.0.1.5" }] },
    });
    server.apply({ apiVersion: "v1", kind: "Service", metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, targetPort: "http" }] } });
    server.apply({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { namespace: "shop", name: "web-abc", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.0.1.5"], conditions: { ready: true }, targetRef: { kind: "Pod", namespace: "shop", name: "web-0" } }],
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
    server.apply({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace: "shop", name: "default-deny" }, spec: { podSelector: {}, policyTypes: ["Ingress"] } });
    server.apply({
      apiVersion: "policy.networking.k8s.io/v1alpha1",
      kind: "AdminNetworkPolicy",
      metadata: { name: "deny-shop-egress" },
      spec: { priority: 10, subject: { namespaces: { matchLabels: { team: "shop" } } }, egress: [{ name: "deny-all", action: "Deny", to: [{ namespaces: {} }] }] },
    });
    server.apply({
      apiVersion: "policy.networking.k8s.io/v1alpha1",
      kind: "BaselineAdminNetworkPolicy",
      metadata: { name: "default" },
      spec: { subject: { namespaces: {} }, ingress: [{ name: "deny", action: "Deny", from: [{ namespaces: {} }] }] },
    });

    // The cluster reader, until it has everything (the admin policies come last).
    const snapshots: ClusterSnapshot[] = [];
    const cluster = new LiveCluster({ kubeConfig: server.kubeConfig(), nodeName: "node-a", logger: quiet(), debounceMs: 20, reflector: { backoffBaseMs: 50, backoffMaxMs: 200 } });
    cleanups.push(() => cluster.stop());
    // The Service a probe targets: the agent watches it, its EndpointSlices and its pods.
    cluster.setTargets({ services: [{ namespace: "shop", name: "web" }], pods: [] });
    await cluster.start((snapshot) => snapshots.push(snapshot));
    await waitFor(() => (snapshots.at(-1)?.adminPolicies?.length ?? 0) === 1 && snapshots.at(-1)?.baselinePolicy !== undefined, 10_000, "a full snapshot");
    await waitFor(() => server.countRequests({ verb: "watch" }) >= 7, 5000, "a watch on every resource");
    // An address no watch explains is looked up: lists of Services and pods by field selector.
    const stranger = parseIp("10.0.9.9");
    if (!stranger.ok) throw new Error(stranger.reason);
    cluster.addressState(stranger.value);
    await waitFor(() => server.requests.some((r) => r.verb === "list" && r.query["fieldSelector"] === "status.podIP=10.0.9.9"), 5000, "the lookup");

    // The Event recorder: a signal raised twice within the window is one POST, then one PATCH.
    const recorder = new EventRecorder({ kubeConfig: server.kubeConfig(), component: "netcanary", host: "node-a", logger: quiet(), perEdgeIntervalMs: 0, closeTimeoutMs: 500, requestTimeoutMs: 2000 });
    cleanups.push(() => recorder.close());
    const ref = { namespace: "shop", name: "web-0", ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) };
    const change = raisedSignal();
    recorder.recordStatusChange(change, ref);
    await waitFor(() => recorder.stats().posted === 1, 5000, "the POST");
    recorder.recordStatusChange(change, ref);
    await waitFor(() => recorder.stats().patched === 1, 5000, "the PATCH");

    const used = new Map<string, Access>();
    for (const request of server.requests.filter((r: RequestRecord) => r.verb !== undefined && r.resource !== undefined)) {
      const access = { group: request.group ?? "", resource: request.resource as string, verb: request.verb as string };
      used.set(key(access), access);
    }
    const rules = sourceRules();
    const denied = [...used.values()].filter((access) => !allows(rules, access)).map(key);
    expect(denied).toEqual([]);
    const unused = grants(rules).filter((access) => !used.has(key(access))).map(key);
    expect(unused).toEqual([]);
    expect([...used.keys()].sort()).toEqual(grants(rules).map(key).sort());

    // Negative control: without the EndpointSlice rule, the reader's requests are refused.
    const withoutSlices = rules.filter((rule) => !(rule.resources ?? []).includes("endpointslices"));
    expect([...used.values()].filter((access) => !allows(withoutSlices, access)).map(key).sort()).toEqual(["list discovery.k8s.io/endpointslices", "watch discovery.k8s.io/endpointslices"]);
  }, 30_000);
});
