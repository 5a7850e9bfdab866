// Why a probe stands for no edge: each way a target, a source or the edge budget can leave a
// probe with nothing to probe, said in words a pipeline log can act on. Pure functions over a
// config and manifests parsed by the real parsers.

import { describe, expect, it } from "vitest";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import type { ClusterSnapshot } from "../../agent/cluster/snapshot.js";
import { parseConfig } from "../../agent/config/load.js";
import type { AgentConfig } from "../../agent/config/model.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";
import type { FeedReader } from "../../agent/targets/edges.js";
import { type EmptyProbeContext, probeGaps, whyNoTargets, whyProbeIsEmpty } from "../../agent/targets/empty.js";
import type { SourceIdentity } from "../../agent/verdicts/policy.js";

function config(text: string): AgentConfig {
  const parsed = parseConfig(text, "config.yaml");
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.config;
}

function snapshot(yaml: string): ClusterSnapshot {
  const parsed = parseDocuments(yaml, "cluster.yaml");
  expect(parsed.errors).toEqual([]);
  const load = snapshotFromDocuments(parsed.documents);
  expect(load.errors).toEqual([]);
  return load.snapshot;
}

const CLUSTER = snapshot(`
kind: Service
metadata: {name: api, namespace: shop}
spec: {clusterIP: 10.96.0.10, selector: {app: api}, ports: [{name: http, port: 80, targetPort: 8080}, {name: dns, port: 53, protocol: UDP, targetPort: 53}]}
---
kind: Service
metadata: {name: headless, namespace: shop}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: pg, port: 5432, targetPort: 5432}]}
---
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running}
---
kind: Pod
metadata: {name: probe-host, namespace: shop, labels: {netcanary.io/probe: "true"}}
spec: {nodeName: node-a, hostNetwork: true, containers: [{name: c}]}
status: {phase: Running, podIP: 192.168.0.4}
`);

function target(yaml: string) {
  const probe = config(`sources: [{name: self, self: true}]\nprobes:\n  - {name: p, sources: [self], tcp: ${yaml}}\n`).probes[0];
  if (!probe) throw new Error("no probe");
  return probe.target;
}

describe("why a target stands for nothing", () => {
  it("names a Service that is not there, or a port it does not have (with the ports it has)", () => {
    expect(whyNoTargets(target("{service: {namespace: shop, name: nope, port: 80}}"), CLUSTER, undefined)).toBe("Service shop/nope not found");
    expect(whyNoTargets(target("{service: {namespace: shop, name: api, port: grpc}}"), CLUSTER, undefined)).toBe(
      "Service shop/api has no TCP port grpc (its ports: http=80/TCP, dns=53/UDP)",
    );
  });

  it("says a headless Service has no cluster IP, and a Service without ready endpoints has none", () => {
    expect(whyNoTargets(target("{service: {namespace: shop, name: headless, port: pg}}"), CLUSTER, undefined)).toBe(
      "Service shop/headless has no cluster IP (a headless Service: probe it via: endpoints)",
    );
    expect(whyNoTargets(target("{service: {namespace: shop, name: api, port: http}, via: endpoints}"), CLUSTER, undefined)).toBe("Service shop/api has no ready endpoint for port http");
  });

  it("tells a selector matching no pod from pods that match but cannot be probed", () => {
    expect(whyNoTargets(target("{pods: {namespace: shop, selector: {app: api}}, port: 80}"), CLUSTER, undefined)).toBe("no pod in namespace shop matches app=api");
    expect(whyNoTargets(target("{pods: {namespace: shop, selector: {app: web}}, port: metrics}"), CLUSTER, undefined)).toBe(
      '1 pod matches app=web in namespace shop, but none has an IP and a TCP port named "metrics"',
    );
  });

  it("says the cluster state is not known before the first sync", () => {
    expect(whyNoTargets(target("{service: {namespace: shop, name: api, port: 80}}"), undefined, undefined)).toBe("Service shop/api: the cluster state is not known");
  });

  it("says a cloud's data centres are not loaded, or none is in the chosen cities", () => {
    const dc = target("{zscaler: {cloud: zscaler.net, endpoints: [dc], cities: [Atlantis]}}");
    expect(whyNoTargets(dc, CLUSTER, undefined)).toBe("the data centres of zscaler.net are not loaded (its CENR feed)");
    const feeds: FeedReader = { current: (_cloud, kind) => (kind === "cenr" ? ({ kind: "cenr", cloud: "zscaler.net", cidrs: [], dataCentres: [] } as never) : undefined) };
    expect(whyNoTargets(dc, CLUSTER, feeds)).toBe("no data centre of zscaler.net is in Atlantis");
  });
});

describe("why a probe has no edge", () => {
  function context(agent: AgentConfig, nodeName: string): EmptyProbeContext {
    const index = buildPolicyIndex(CLUSTER);
    return { sources: agent.sources, identities: () => [], snapshot: CLUSTER, index, feeds: undefined, nodeName, maxEdges: agent.agent.maxEdges };
  }

  it("names a pod source whose pods are all on the host network: it could run nowhere", () => {
    const agent = config("sources: [{name: labeled}]\nprobes:\n  - {name: p, sources: [labeled], tcp: {ip: 10.0.0.1, port: 80}}\n");
    const probe = agent.probes[0];
    if (!probe) throw new Error("no probe");
    for (const node of ["node-a", "node-b"]) {
      expect(whyProbeIsEmpty(probe, context(agent, node))).toBe(
        "source labeled matches 1 pod in the cluster (netcanary.io/probe=true), but none is Running with a network namespace of its own",
      );
    }
  });

  it("names a pod source that matches no pod anywhere, and one whose pods run on other nodes", () => {
    const agent = config("sources: [{name: web, podSelector: {matchLabels: {app: web}}}, {name: typo, podSelector: {matchLabels: {app: wbe}}}]\nprobes:\n  - {name: p, sources: [web, typo], tcp: {ip: 10.0.0.1, port: 80}}\n");
    const probe = agent.probes[0];
    if (!probe) throw new Error("no probe");
    expect(whyProbeIsEmpty(probe, context(agent, "node-b"))).toBe(
      "source web stands for no pod: no Running pod on node node-b matches app=web; 1 pod on other nodes does (a run probes only from the pods of its own node); " +
        "source typo matches no pod in the cluster (app=wbe)",
    );
  });

  it("blames the edge budget when sources and target stand for something", () => {
    const agent = config("sources: [{name: self, self: true}]\nprobes:\n  - {name: p, sources: [self], tcp: {ip: 10.0.0.1, port: 80}}\n");
    const probe = agent.probes[0];
    if (!probe) throw new Error("no probe");
    const ctx = { ...context(agent, "node-a"), identities: () => [{ name: "self", node: "node-a" }] };
    expect(whyProbeIsEmpty(probe, ctx)).toBe(`its edges lie beyond agent.maxEdges (${agent.agent.maxEdges}): none is probed`);
  });
});

describe("what a probe with edges leaves out", () => {
  const agent = config(
    "sources: [{name: self, self: true}, {name: web, podSelector: {matchLabels: {app: web}}}, {name: typo, podSelector: {matchLabels: {app: wbe}}}]\n" +
      "probes:\n  - {name: p, sources: [self, web, typo], tcp: {ip: 10.0.0.1, port: 80}}\n",
  );
  const probe = agent.probes[0];
  if (!probe) throw new Error("no probe");
  const self: SourceIdentity = { name: "self", node: "node-b" };
  const ctx: EmptyProbeContext = {
    sources: agent.sources,
    identities: (name) => (name === "self" ? [self] : []),
    snapshot: CLUSTER,
    index: buildPolicyIndex(CLUSTER),
    feeds: undefined,
    nodeName: "node-b",
    maxEdges: 1,
  };

  it("a source that matches no pod in the cluster is a gap; one whose pods run on another node is not", () => {
    expect(probeGaps(probe, ctx, 1)).toEqual([{ probe: "p", scope: "part", reason: "source typo matches no pod in the cluster (app=wbe): nothing was probed from it" }]);
  });

  it("edges the budget left out are a gap, counted", () => {
    const both = { ...ctx, identities: (name: string) => (name === "self" ? [self, { ...self, name: "self-2" }] : []) };
    expect(probeGaps(probe, both, 1)).toContainEqual({ probe: "p", scope: "part", reason: "1 of its 2 edges lie beyond agent.maxEdges (1): not probed" });
  });

  it("a probe with no edge is one gap, the whole probe", () => {
    expect(probeGaps(probe, ctx, 0)).toEqual([{ probe: "p", scope: "all", reason: `its edges lie beyond agent.maxEdges (1): none is probed` }]);
  });

  it("says nothing while the cluster state is not known (the run says that once, for the cluster)", () => {
    expect(probeGaps(probe, { ...ctx, index: undefined, snapshot: undefined }, 1)).toEqual([]);
  });
});
