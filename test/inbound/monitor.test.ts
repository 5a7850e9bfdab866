// The agent's inbound view (agent --inbound): the dataplane read from the wire-true test API
// server, each exposed Service judged for it, served at /api/v1/inbound and as two gauges by
// the agent's real HTTP server; and the opt-in RBAC component grants exactly what it reads.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import type { ClusterSnapshot } from "../../agent/cluster/snapshot.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { readDataplaneObservations } from "../../agent/inbound/dataplane-reader.js";
import { type InboundDocument, InboundMonitor } from "../../agent/inbound/monitor.js";
import { createLogger } from "../../agent/log/log.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { startServer } from "../../agent/server/http.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { waitFor } from "../support/lab.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "inbound");
const COMPONENT = join(import.meta.dirname, "..", "..", "manifests", "components", "inbound-dataplane", "rbac.yaml");

function snapshotOf(...files: string[]): ClusterSnapshot {
  const documents = files.flatMap((f) => parseDocuments(readFileSync(join(FIXTURES, f), "utf8"), f).documents);
  const load = snapshotFromDocuments(documents);
  expect(load.errors).toEqual([]);
  return load.snapshot;
}

let api: KubeApiServer;
beforeAll(async () => {
  api = await KubeApiServer.start();
});
afterAll(async () => {
  await api.stop();
});

describe("agent --inbound", () => {
  it("serves the dataplane read from the cluster and each exposed Service's outcome, at /api/v1/inbound and in /metrics", async () => {
    api.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cilium-config", namespace: "kube-system" }, data: { "kube-proxy-replacement": "true", "bpf-lb-mode": "snat" } });
    const metrics = new AgentMetrics();
    const snapshot = snapshotOf("base.yaml", "case-lb-cluster.yaml");
    const monitor = new InboundMonitor({
      read: () => readDataplaneObservations(api.kubeConfig()),
      snapshot: () => snapshot,
      metrics: { dataplane: metrics.inboundDataplane, service: metrics.inboundService },
      logger: createLogger("silent"),
    });
    await monitor.start();
    const server = await startServer({ registry: metrics.registry, readiness: () => ({ ready: true }), results: () => ({ results: [] }), inbound: () => monitor.document() }, { host: "127.0.0.1", port: 0 });
    try {
      const base = `http://127.0.0.1:${server.address.port}`;
      const answer = await fetch(`${base}/api/v1/inbound`);
      expect(answer.status).toBe(200);
      const doc = (await answer.json()) as InboundDocument;
      expect(doc.dataplane).toBe("cilium-snat");
      expect(doc.evidence).toContain("cilium-config: kube-proxy-replacement true, bpf-lb-mode snat");
      expect(doc.services.map((s) => [s.service, s.type, s.externalTrafficPolicy, s.outcome, s.sourceSeen])).toEqual([["shop/web-lb", "LoadBalancer", "Cluster", "rewritten", "a node's address"]]);
      // The exposition is rebuilt after a change, not at it: wait for it.
      const metricsWith = (...lines: string[]) =>
        waitFor("the inbound series in /metrics", async () => {
          const text = await (await fetch(`${base}/metrics`)).text();
          return lines.every((line) => text.includes(line)) ? text : undefined;
        }, { timeoutMs: 10_000, intervalMs: 100 });
      await metricsWith('netcanary_inbound_dataplane_info{dataplane="cilium-snat"} 1', 'netcanary_inbound_service_source_address{service="shop/web-lb",outcome="rewritten"} 1');

      // Cilium switched to DSR: the next reading changes the verdict and replaces the series.
      api.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cilium-config", namespace: "kube-system" }, data: { "kube-proxy-replacement": "true", "bpf-lb-mode": "dsr" } });
      await monitor.refresh();
      const after = await metricsWith('netcanary_inbound_service_source_address{service="shop/web-lb",outcome="preserved"} 1');
      expect(after).not.toContain('outcome="rewritten"');
    } finally {
      monitor.stop();
      await server.close();
    }
  });

  it("without --inbound the endpoint says it is not enabled", async () => {
    const metrics = new AgentMetrics();
    const server = await startServer({ registry: metrics.registry, readiness: () => ({ ready: true }), results: () => ({ results: [] }) }, { host: "127.0.0.1", port: 0 });
    try {
      const answer = await fetch(`http://127.0.0.1:${server.address.port}/api/v1/inbound`);
      expect(answer.status).toBe(404);
      expect(await answer.text()).toBe("not enabled (netcanary agent --inbound)\n");
    } finally {
      await server.close();
    }
  });

  it("the RBAC component grants get on exactly the objects the reader asks for", async () => {
    api.clearRequests();
    await readDataplaneObservations(api.kubeConfig());
    const asked = api.requests.filter((r) => r.resource !== undefined).map((r) => `${r.verb} ${r.group ?? ""}/${r.resource} ${r.namespace ?? "-"}/${r.name ?? ""}`);
    expect(asked.sort()).toEqual([
      "get /configmaps kube-system/cilium-config",
      "get /configmaps kube-system/kube-proxy",
      "get crd.projectcalico.org/felixconfigurations -/default",
    ]);
    const role = (readFileSync(COMPONENT, "utf8").split(/^---$/m).map((text) => parse(text) as { kind: string; rules?: { apiGroups: string[]; resources: string[]; resourceNames: string[]; verbs: string[] }[] })).find((o) => o.kind === "ClusterRole");
    const granted = (role?.rules ?? []).flatMap((rule) => rule.apiGroups.flatMap((g) => rule.resources.flatMap((r) => rule.resourceNames.flatMap((n) => rule.verbs.map((v) => `${v} ${g}/${r} ${n}`)))));
    expect(granted.sort()).toEqual(asked.map((line) => line.replace(/ (kube-system|-)\//, " ")).sort());
  });
});
