// Differential: an agent that holds only its node's pods, its targets' objects and what it
// looked up must judge every edge it probes exactly as an agent holding the whole cluster.
// Random clusters (pods on three nodes, some on the host network; Services with and
// without selectors and their EndpointSlices; NetworkPolicies with pod, namespace and ipBlock
// peers; AdminNetworkPolicies with pods and networks peers) and random configs (ip targets
// that are pods, Services, nodes or outside; Services via clusterIP and endpoints; pods by
// set-based selectors; DNS servers) are judged from the full state and from the scoped state
// the agent would build (test/support/scoped-state.ts), edge by edge.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IssueList, type Json } from "../../agent/documents/fields.js";
import { readEndpointSlice, readNamespace, readPod, readService } from "../../agent/cluster/objects.js";
import type { ClusterSnapshot, EndpointSliceInfo, PodInfo, ServiceInfo } from "../../agent/cluster/snapshot.js";
import { parseConfig } from "../../agent/config/load.js";
import type { AgentConfig } from "../../agent/config/model.js";
import { normalizeAdminNetworkPolicy } from "../../agent/policy/admin-normalize.js";
import { normalizeNetworkPolicy } from "../../agent/policy/normalize.js";
import { judge, podsLeftOut, scopedState } from "../support/scoped-state.js";

const NODES = ["node-a", "node-b", "node-c"] as const;
const NODE_IPS: Record<string, string> = { "node-a": "192.168.0.1", "node-b": "192.168.0.2", "node-c": "192.168.0.3" };
const NAMESPACES = ["ns0", "ns1", "ns2"] as const;
const IDENTITY = { podNamespace: "ns0", podName: "agent", nodeName: "node-a" };

// ---------- raw API objects ----------

const labelsArb = fc.record(
  { app: fc.constantFrom("a", "b", "c"), tier: fc.constantFrom("x", "y"), role: fc.constant("probe") },
  { requiredKeys: [] },
);

const podArb = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  node: fc.constantFrom(...NODES),
  labels: labelsArb,
  hostNetwork: fc.constantFrom(false, false, false, false, true),
  phase: fc.constantFrom("Running", "Running", "Running", "Pending", "Succeeded"),
});

const serviceArb = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  // Mostly one key, so that Services have pods behind them.
  selector: fc.option(fc.oneof(fc.record({ app: fc.constantFrom("a", "b", "c") }), fc.record({ tier: fc.constantFrom("x", "y") }), labelsArb), { nil: undefined, freq: 5 }),
  targetPort: fc.constantFrom<number | string>(8080, "http"),
  readyEvery: fc.integer({ min: 1, max: 3 }),
  extraEndpoint: fc.option(fc.nat(20), { nil: undefined }),
});

const selectorArb = fc.oneof(
  labelsArb.map((matchLabels) => ({ matchLabels })),
  fc.record({
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key: fc.constantFrom("app", "tier", "role"), operator: fc.constantFrom("In", "NotIn"), values: fc.uniqueArray(fc.constantFrom("a", "b", "c", "x", "y", "probe"), { minLength: 1, maxLength: 3 }) }),
        fc.record({ key: fc.constantFrom("app", "tier", "role"), operator: fc.constantFrom("Exists", "DoesNotExist") }),
      ),
      { maxLength: 2 },
    ),
  }),
);

const CIDRS = ["10.0.0.0/28", "10.0.0.0/24", "10.0.0.8/29", "192.168.0.0/24", "10.96.0.0/16", "8.8.8.0/24"];
const peerArb = fc.oneof(
  fc.record({ podSelector: selectorArb }),
  fc.record({ namespaceSelector: fc.record({ matchLabels: fc.record({ team: fc.constantFrom("red", "blue") }, { requiredKeys: [] }) }), podSelector: selectorArb }, { requiredKeys: ["namespaceSelector"] }),
  fc.record({
    ipBlock: fc.oneof(
      fc.constantFrom(...CIDRS).map((cidr) => ({ cidr })),
      fc.constantFrom({ cidr: "10.0.0.0/28", except: ["10.0.0.4/30"] }, { cidr: "10.0.0.0/24", except: ["10.0.0.4/30", "10.0.0.200/32"] }),
    ),
  }),
);
const portsArb = fc.option(fc.array(fc.record({ protocol: fc.constantFrom("TCP", "UDP"), port: fc.constantFrom<number | string>(80, 8080, 53, "http") }), { minLength: 1, maxLength: 2 }), { nil: undefined });
const ruleArb = fc.record({ peers: fc.option(fc.array(peerArb, { minLength: 1, maxLength: 2 }), { nil: undefined }), ports: portsArb });
const policyArb = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  podSelector: selectorArb,
  types: fc.constantFrom(["Ingress"], ["Egress"], ["Ingress", "Egress"]),
  ingress: fc.array(ruleArb, { maxLength: 2 }),
  egress: fc.array(ruleArb, { maxLength: 2 }),
});

const anpPeerArb = fc.oneof(
  fc.record({ pods: fc.record({ namespaceSelector: fc.constant({}), podSelector: selectorArb }) }),
  fc.record({ networks: fc.uniqueArray(fc.constantFrom(...CIDRS), { minLength: 1, maxLength: 2 }) }),
);
const anpArb = fc.record({
  priority: fc.integer({ min: 0, max: 5 }),
  subjectSelector: selectorArb,
  action: fc.constantFrom("Allow", "Deny", "Pass"),
  peers: fc.array(anpPeerArb, { minLength: 1, maxLength: 2 }),
});

const clusterArb = fc.record({
  namespaceTeams: fc.tuple(fc.constantFrom("red", "blue"), fc.constantFrom("red", "blue"), fc.constantFrom("red", "blue")),
  pods: fc.array(podArb, { maxLength: 14 }),
  services: fc.array(serviceArb, { maxLength: 4 }),
  policies: fc.array(policyArb, { maxLength: 5 }),
  anps: fc.array(anpArb, { maxLength: 2 }),
});
type RawCluster = typeof clusterArb extends fc.Arbitrary<infer T> ? T : never;

// ---------- probes ----------

const addressArb = (cluster: RawCluster) =>
  fc.oneof(
    fc.nat(cluster.pods.length + 1).map((i) => `10.0.0.${i + 1}`),
    fc.nat(Math.max(0, cluster.services.length)).map((i) => `10.96.0.${i + 1}`),
    fc.constantFrom(...Object.values(NODE_IPS), "8.8.8.8", "10.0.0.250", "10.0.0.200"),
  );

const probeArb = (cluster: RawCluster) =>
  fc.oneof(
    addressArb(cluster).map((ip) => `tcp: {ip: ${ip}, port: 8080}`),
    fc.record({ i: fc.nat(cluster.services.length), via: fc.constantFrom("clusterIP", "endpoints"), port: fc.constantFrom("80", "http") }).map(
      ({ i, via, port }) => `tcp: {service: {namespace: ${cluster.services[i]?.namespace ?? "ns1"}, name: svc${i}, port: ${port}}, via: ${via}}`,
    ),
    fc.record({ namespace: fc.constantFrom(...NAMESPACES), selector: selectorArb, port: fc.constantFrom("8080", "http") }).map(
      ({ namespace, selector, port }) => `tcp: {pods: {namespace: ${namespace}, selector: ${JSON.stringify(selector)}}, port: ${port}}`,
    ),
    addressArb(cluster).map((ip) => `dns: {query: db.example.com, server: "${ip}"}`),
  );

const worldArb = clusterArb.chain((cluster) =>
  fc.record({
    cluster: fc.constant(cluster),
    probes: fc.array(probeArb(cluster), { minLength: 1, maxLength: 6 }),
    sources: fc.array(fc.constantFrom("self", "labeled"), { minLength: 1, maxLength: 2 }),
    maxEndpoints: fc.integer({ min: 1, max: 4 }),
  }),
);

// ---------- the full state, as the agent reads API objects ----------

function read<T>(convert: (issues: IssueList) => T | undefined): T | undefined {
  const issues = new IssueList();
  const value = convert(issues);
  // Every generated object is valid: an issue would be a generator bug.
  expect(issues.issues).toEqual([]);
  return value;
}

function fullState(cluster: RawCluster): ClusterSnapshot {
  const namespaces = NAMESPACES.map((name, i) => read((issues) => readNamespace({ metadata: { name, labels: { team: cluster.namespaceTeams[i] } } } as Json, name, issues)) as NonNullable<ReturnType<typeof readNamespace>>);
  const rawPods = [
    { name: "agent", namespace: "ns0", node: "node-a", labels: { app: "agent" }, hostNetwork: false, phase: "Running", ip: "10.0.0.200" },
    ...cluster.pods.map((pod, i) => ({ ...pod, name: `p${i}`, ip: pod.hostNetwork ? (NODE_IPS[pod.node] as string) : `10.0.0.${i + 1}` })),
  ];
  const pods: PodInfo[] = [];
  for (const pod of rawPods) {
    // Finished pods are dropped, as the agent drops them (their IPs may belong to new pods).
    if (pod.phase === "Succeeded") continue;
    const object = {
      metadata: { namespace: pod.namespace, name: pod.name, labels: pod.labels },
      spec: { nodeName: pod.node, hostNetwork: pod.hostNetwork, containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080 }] }] },
      status: { phase: pod.phase, ...(pod.phase === "Running" ? { podIP: pod.ip, podIPs: [{ ip: pod.ip }] } : {}) },
    };
    pods.push(read((issues) => readPod(object as unknown as Json, pod.namespace, pod.name, issues)) as PodInfo);
  }
  const services: ServiceInfo[] = [];
  const slices: EndpointSliceInfo[] = [];
  cluster.services.forEach((service, i) => {
    const name = `svc${i}`;
    const object = { spec: { clusterIP: `10.96.0.${i + 1}`, ...(service.selector ? { selector: service.selector } : {}), ports: [{ name: "http", port: 80, targetPort: service.targetPort }] } };
    services.push(read((issues) => readService(object as unknown as Json, service.namespace, name, issues)) as ServiceInfo);
    const matches = (labels: Record<string, string>) => service.selector !== undefined && Object.keys(service.selector).length > 0 && Object.entries(service.selector).every(([k, v]) => labels[k] === v);
    const backends = rawPods.filter((pod) => pod.namespace === service.namespace && pod.phase === "Running" && matches(pod.labels));
    const extra = service.extraEndpoint !== undefined ? rawPods[service.extraEndpoint % rawPods.length] : undefined;
    const endpoints = [...backends, ...(extra && extra.phase === "Running" ? [extra] : [])].map((pod, j) => ({
      addresses: [pod.ip],
      conditions: { ready: j % service.readyEvery === 0 },
      targetRef: { kind: "Pod", namespace: pod.namespace, name: pod.name },
      nodeName: pod.node,
    }));
    const slice = { metadata: { labels: { "kubernetes.io/service-name": name } }, ports: [{ name: "http", port: 8080, protocol: "TCP" }], endpoints };
    slices.push(read((issues) => readEndpointSlice(slice as unknown as Json, service.namespace, `${name}-x`, issues)) as EndpointSliceInfo);
  });
  const peerJson = (peer: Record<string, unknown>) => peer;
  const policies = cluster.policies.map((policy, i) =>
    read((issues) =>
      normalizeNetworkPolicy(
        {
          apiVersion: "networking.k8s.io/v1",
          kind: "NetworkPolicy",
          metadata: { namespace: policy.namespace, name: `np${i}` },
          spec: {
            podSelector: policy.podSelector,
            policyTypes: policy.types,
            ingress: policy.ingress.map((rule) => ({ ...(rule.peers ? { from: rule.peers.map(peerJson) } : {}), ...(rule.ports ? { ports: rule.ports } : {}) })),
            egress: policy.egress.map((rule) => ({ ...(rule.peers ? { to: rule.peers.map(peerJson) } : {}), ...(rule.ports ? { ports: rule.ports } : {}) })),
          },
        } as unknown as Json,
        issues,
      ),
    ),
  ).filter((policy) => policy !== undefined);
  const adminPolicies = cluster.anps.map((anp, i) =>
    read((issues) =>
      normalizeAdminNetworkPolicy(
        {
          apiVersion: "policy.networking.k8s.io/v1alpha1",
          kind: "AdminNetworkPolicy",
          metadata: { name: `anp${i}` },
          spec: {
            priority: anp.priority * 10 + i,
            subject: { pods: { namespaceSelector: {}, podSelector: anp.subjectSelector } },
            egress: [{ name: "r", action: anp.action, to: anp.peers }],
          },
        } as unknown as Json,
        issues,
      ),
    ),
  ).filter((anp) => anp !== undefined);
  // In key order, as a list from the API returns them (and as the agent's full watch held them).
  pods.sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
  return { namespaces, pods, policies, services, endpointSlices: slices, adminPolicies };
}

function configOf(probes: readonly string[], sources: readonly string[], maxEndpoints: number): AgentConfig {
  const text = [
    `agent: {maxEndpointsPerTarget: ${maxEndpoints}}`,
    "sources: [{name: self, self: true}, {name: labeled, podSelector: {matchLabels: {role: probe}}}]",
    "probes:",
    ...probes.map((target, i) => `  - {name: p${i}, sources: [${[...new Set(sources)].join(", ")}], ${target}}`),
    "",
  ].join("\n");
  const loaded = parseConfig(text, "generated.yaml");
  if (!loaded.ok) throw new Error(`generated config rejected: ${JSON.stringify(loaded.errors)}\n${text}`);
  return loaded.config;
}

describe("verdicts from the scoped state", () => {
  it("are those from the full state, for every edge the agent probes", () => {
    let lookups = 0;
    let leftOut = 0;
    let edges = 0;
    fc.assert(
      fc.property(worldArb, ({ cluster, probes, sources, maxEndpoints }) => {
        const full = fullState(cluster);
        const config = configOf(probes, sources, maxEndpoints);
        const scoped = scopedState(full, config, IDENTITY);
        expect(scoped.contradicted).toEqual([]);
        const fromFull = judge(full, config, IDENTITY);
        const fromScoped = judge(scoped.snapshot, config, IDENTITY);
        // The same edges (targets expand the same way), the same addresses, the same verdicts.
        expect(fromScoped).toEqual(fromFull);
        lookups += scoped.lookedUp.length;
        leftOut += podsLeftOut(full, scoped.snapshot).length;
        edges += fromFull.length;
      }),
      { numRuns: 300 },
    );
    // The property was not met vacuously: edges were judged, pods were left out, addresses looked up.
    expect(edges).toBeGreaterThan(300);
    expect(leftOut).toBeGreaterThan(100);
    expect(lookups).toBeGreaterThan(50);
  });
});
