// The NetworkPolicy on the agents' port, in every variant, judged by netcanary's own policy
// engine over the rendered objects plus a small cluster around them: Prometheus in the
// monitoring namespace may reach the port; other pods, Prometheus-labeled pods elsewhere and
// other ports may not; the agents' own traffic out is not restricted. What the example
// overlay's ServiceMonitor scrapes is what the policy admits, and the overlay patches that
// docs/deploy.md shows do what it says.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import type { PodInfo, Protocol } from "../../agent/cluster/snapshot.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { parseIp } from "../../agent/addresses/ip.js";
import { buildPolicyIndex, type Endpoint, evaluateConnection, type PolicyIndex } from "../../agent/policy/engine.js";
import { describeWith } from "../support/prerequisites.js";
import { agentContainer, COMPONENTS, find, type KubeObject, KUSTOMIZATIONS, podSpec, render, renderOverlay, repoRoot } from "./render.js";

/** Around the agents: a Prometheus as the Prometheus Operator runs it, and pods that are not it. */
const CLUSTER: object[] = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "monitoring" } },
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "observability" } },
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
  workload("StatefulSet", "monitoring", "prometheus-k8s", {
    "app.kubernetes.io/name": "prometheus",
    "app.kubernetes.io/managed-by": "prometheus-operator",
    "app.kubernetes.io/instance": "k8s",
    "operator.prometheus.io/name": "k8s",
    prometheus: "k8s",
  }),
  workload("StatefulSet", "monitoring", "prometheus-other", { "app.kubernetes.io/name": "prometheus", prometheus: "other" }),
  workload("StatefulSet", "observability", "prometheus-k8s", { "app.kubernetes.io/name": "prometheus", prometheus: "k8s" }),
  workload("Deployment", "monitoring", "grafana", { "app.kubernetes.io/name": "grafana" }),
  // Labeled as Prometheus, but in a workload's namespace.
  workload("Deployment", "shop", "impostor", { "app.kubernetes.io/name": "prometheus" }),
  workload("Deployment", "shop", "web", { app: "web" }, [{ name: "http", containerPort: 8080 }]),
  workload("Deployment", "netcanary", "debug", { run: "debug" }),
];

function workload(kind: string, namespace: string, name: string, labels: Record<string, string>, ports: object[] = []): object {
  return {
    apiVersion: "apps/v1",
    kind,
    metadata: { namespace, name },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name, image: "example", ports }] } } },
  };
}

interface Judged {
  index: PolicyIndex;
  pod(ref: string): Endpoint;
  verdict(from: Endpoint, to: Endpoint, port: number, protocol?: Protocol): "allow" | "deny";
}

/** The rendered objects and CLUSTER through the agent's manifest loader and engine. */
function judge(objects: readonly KubeObject[]): Judged {
  const parsed = parseDocuments([...objects, ...CLUSTER].map((object) => JSON.stringify(object)).join("\n---\n"), "rendered.yaml");
  expect(parsed.errors).toEqual([]);
  const built = snapshotFromDocuments(parsed.documents);
  expect(built.errors).toEqual([]);
  const index = buildPolicyIndex(built.snapshot);
  return {
    index,
    // "daemonset/netcanary/netcanary": kind/namespace/name of a workload's pods.
    pod(ref) {
      const found = built.snapshot.pods.find((p: PodInfo) => `${p.workload?.kind}/${p.namespace}/${p.workload?.name}` === ref);
      if (!found) throw new Error(`no pods of ${ref} in the rendered objects`);
      return { kind: "pod", pod: found };
    },
    verdict: (from, to, port, protocol = "TCP") => evaluateConnection(index, { from, to, port, protocol }).verdict,
  };
}

interface Policy {
  metadata: KubeObject["metadata"];
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes?: string[];
    ingress?: Array<{ from?: unknown[]; ports?: Array<{ port?: number | string; protocol?: string }> }>;
    egress?: unknown[];
  };
}

const VARIANTS: Array<{ name: string; objects: () => KubeObject[] }> = [
  ...KUSTOMIZATIONS.map((path) => ({ name: path, objects: () => render(path) })),
  ...COMPONENTS.map((component) => ({ name: `base with ${component}`, objects: () => renderOverlay(["base"], [component]) })),
];

const AGENT = "daemonset/netcanary/netcanary";
const PROMETHEUS = "statefulset/monitoring/prometheus-k8s";

function metricsPort(objects: readonly KubeObject[]): number {
  const port = agentContainer(podSpec(objects)).ports?.find((p) => p.name === "metrics")?.containerPort;
  if (port === undefined) throw new Error("the agent container has no port named metrics");
  return port;
}

describeWith({ commands: ["kubectl"] }, "the NetworkPolicy on the agents' port", () => {
  it.each(VARIANTS)("$name: one ingress-only policy, selecting the agent pods, on the port they serve", ({ objects }) => {
    const rendered = objects();
    const policy = find(rendered, "NetworkPolicy") as unknown as Policy;
    expect(policy.metadata.namespace).toBe("netcanary");
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);
    expect(policy.spec.egress).toBeUndefined();
    const podLabels = (find(rendered, "DaemonSet") as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
    const selector = Object.entries(policy.spec.podSelector.matchLabels ?? {});
    expect(selector.length).toBeGreaterThan(0);
    for (const [key, value] of selector) expect(podLabels[key], key).toBe(value);
    expect(policy.spec.ingress?.flatMap((rule) => rule.ports ?? [])).toEqual([{ port: metricsPort(rendered), protocol: "TCP" }]);
  });

  it.each(VARIANTS)("$name: Prometheus in monitoring may reach the port; nobody else, and no other port; the agents' egress stays open", ({ objects }) => {
    const rendered = objects();
    const port = metricsPort(rendered);
    const cluster = judge(rendered);
    const agent = cluster.pod(AGENT);
    expect(cluster.verdict(cluster.pod(PROMETHEUS), agent, port)).toBe("allow");
    expect(cluster.verdict(cluster.pod("statefulset/monitoring/prometheus-other"), agent, port)).toBe("allow");
    for (const other of ["deployment/monitoring/grafana", "deployment/shop/impostor", "deployment/shop/web", "deployment/netcanary/debug", "statefulset/observability/prometheus-k8s"]) {
      expect([other, cluster.verdict(cluster.pod(other), agent, port)]).toEqual([other, "deny"]);
    }
    const outside = parseIp("203.0.113.7");
    if (!outside.ok) throw new Error(outside.reason);
    expect(cluster.verdict({ kind: "ip", ip: outside.value }, agent, port)).toBe("deny");
    expect(cluster.verdict(cluster.pod(PROMETHEUS), agent, port + 1)).toBe("deny");
    expect(cluster.verdict(cluster.pod(PROMETHEUS), agent, port, "UDP")).toBe("deny");
    // Out of the agents: to a workload, and to an address outside the cluster.
    expect(cluster.verdict(agent, cluster.pod("deployment/shop/web"), 8080)).toBe("allow");
    expect(cluster.verdict(agent, { kind: "ip", ip: outside.value }, 443)).toBe("allow");
  });

  it("the example overlay: the port its ServiceMonitor scrapes is the port the policy admits Prometheus to", () => {
    const rendered = render("examples/pod-mode-monitored");
    const monitor = find(rendered, "ServiceMonitor") as unknown as { spec: { endpoints: Array<{ port: string }> } };
    const service = find(rendered, "Service", "netcanary") as unknown as { spec: { ports: Array<{ name: string; targetPort: string | number }> } };
    const container = agentContainer(podSpec(rendered));
    const cluster = judge(rendered);
    for (const endpoint of monitor.spec.endpoints) {
      const servicePort = service.spec.ports.find((p) => p.name === endpoint.port);
      const target = servicePort?.targetPort;
      const scraped = typeof target === "number" ? target : container.ports?.find((p) => p.name === target)?.containerPort;
      expect(scraped).toBeDefined();
      expect(cluster.verdict(cluster.pod(PROMETHEUS), cluster.pod(AGENT), scraped as number)).toBe("allow");
    }
  });

  it("the overlay patches docs/deploy.md shows move and widen the policy, or remove it, as it says", () => {
    const text = readFileSync(join(repoRoot, "docs", "deploy.md"), "utf8");
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] as string).filter((block) => block.includes("netcanary-agent"));
    const patches = (block: string) => block.slice(block.indexOf("\npatches:") + 1);
    const moved = blocks.find((block) => block.includes("op: replace"));
    const removed = blocks.find((block) => block.includes("$patch: delete"));
    if (!moved || !removed) throw new Error("docs/deploy.md no longer shows the patches this test checks");

    const rendered = renderOverlay(["variants/pod-mode"], [], patches(moved));
    const port = metricsPort(rendered);
    const cluster = judge(rendered);
    const agent = cluster.pod(AGENT);
    // Prometheus now lives in observability: that one gets in, the one in monitoring no longer.
    expect(cluster.verdict(cluster.pod("statefulset/observability/prometheus-k8s"), agent, port)).toBe("allow");
    expect(cluster.verdict(cluster.pod(PROMETHEUS), agent, port)).toBe("deny");
    // The peer the example adds: Grafana in monitoring.
    expect(cluster.verdict(cluster.pod("deployment/monitoring/grafana"), agent, port)).toBe("allow");
    expect(cluster.verdict(cluster.pod("deployment/shop/impostor"), agent, port)).toBe("deny");

    const without = renderOverlay(["variants/pod-mode"], [], patches(removed));
    expect(without.filter((object) => object.kind === "NetworkPolicy")).toEqual([]);
    expect(without.filter((object) => object.kind === "DaemonSet")).toHaveLength(1);
  });
});
