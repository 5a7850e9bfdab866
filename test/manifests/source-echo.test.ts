// The source-echo component (manifests/components/source-echo) on the base, rendered by
// kubectl kustomize: every object valid against the schemas; the agent gets the echo port, the
// flag and HOST_IP; two NodePort Services, Cluster and Local, lead to that port on the agents;
// and, judged by netcanary's own engine, the echo port is open to an outside address while the
// agents' metrics port stays closed to it. The targets an overlay adds parse as the agent reads them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { parseEchoTarget } from "../../agent/inbound/source-check.js";
import { buildPolicyIndex, evaluateConnection } from "../../agent/policy/engine.js";
import { describeWith } from "../support/prerequisites.js";
import { agentContainer, find, flag, manifestsDir, objectName, podSpec, render, renderOverlay, schemaProblems } from "./render.js";

const COMPONENT = "components/source-echo";

interface ServiceSpec {
  type: string;
  externalTrafficPolicy: string;
  selector: Record<string, string>;
  ports: Array<{ port: number; targetPort: string; nodePort: number; protocol: string }>;
}

describeWith({ commands: ["kubectl"] }, "the source-echo component", () => {
  it("renders on the base, every object valid, and adds the two Services and the policy for the echo port", () => {
    const base = render("base");
    const objects = renderOverlay(["base"], [COMPONENT]);
    expect(objects.flatMap((object) => schemaProblems(object).map((problem) => `${objectName(object)}: ${problem}`))).toEqual([]);
    const added = objects.filter((o) => !base.some((b) => b.kind === o.kind && b.metadata.name === o.metadata.name)).map(objectName);
    expect(added.sort()).toEqual(["NetworkPolicy netcanary/netcanary-source-echo", "Service netcanary/netcanary-echo-cluster", "Service netcanary/netcanary-echo-local"].sort());
  });

  it("gives the agent the echo port, --source-echo-port on it and HOST_IP from the downward API", () => {
    const objects = renderOverlay(["base"], [COMPONENT]);
    const container = agentContainer(podSpec(objects));
    const port = container.ports?.find((p) => p.name === "source-echo");
    expect(port).toEqual({ name: "source-echo", containerPort: 9715, protocol: "TCP" });
    expect(flag(container.args ?? [], "source-echo-port")).toBe("9715");
    expect(container.env?.find((e) => e.name === "HOST_IP")?.valueFrom?.fieldRef?.fieldPath).toBe("status.hostIP");
  });

  it("has two NodePorts on the agents' echo port, one with Cluster and one with Local", () => {
    const objects = renderOverlay(["base"], [COMPONENT]);
    const labels = (find(objects, "DaemonSet") as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
    const policies = ["netcanary-echo-cluster", "netcanary-echo-local"].map((name) => {
      const spec = (find(objects, "Service", name) as unknown as { spec: ServiceSpec }).spec;
      expect(spec.type).toBe("NodePort");
      for (const [key, value] of Object.entries(spec.selector)) expect(labels[key], key).toBe(value);
      expect(spec.ports).toHaveLength(1);
      expect(spec.ports[0]?.targetPort).toBe("source-echo");
      expect(spec.ports[0]?.nodePort).toBeGreaterThanOrEqual(30000);
      expect(spec.ports[0]?.nodePort).toBeLessThanOrEqual(32767);
      return spec.externalTrafficPolicy;
    });
    expect(policies).toEqual(["Cluster", "Local"]);
  });

  it("opens the echo port to an outside address, and leaves the metrics port closed to it", () => {
    const objects = renderOverlay(["base"], [COMPONENT]);
    const parsed = parseDocuments(objects.map((o) => JSON.stringify(o)).join("\n---\n"), "rendered.yaml");
    expect(parsed.errors).toEqual([]);
    const built = snapshotFromDocuments(parsed.documents);
    const index = buildPolicyIndex(built.snapshot);
    const agent = built.snapshot.pods.find((p) => p.workload?.name === "netcanary");
    const outside = parseIp("203.0.113.7");
    if (!agent || !outside.ok) throw new Error("no agent pod in the rendered objects");
    const verdict = (port: number) => evaluateConnection(index, { from: { kind: "ip", ip: outside.value }, to: { kind: "pod", pod: agent }, port, protocol: "TCP" }).verdict;
    expect(verdict(9715)).toBe("allow");
    expect(verdict(9714)).toBe("deny");
  });

  it("shows targets in its comment that the agent accepts, naming its own Services and nodePorts", () => {
    const text = readFileSync(join(manifestsDir, COMPONENT, "kustomization.yaml"), "utf8");
    const targets = [...text.matchAll(/--source-echo-target=([^"]+)"/g)].map((m) => m[1] as string);
    expect(targets).toHaveLength(4);
    const objects = renderOverlay(["base"], [COMPONENT]);
    const exposed = new Set(
      ["netcanary-echo-cluster", "netcanary-echo-local"].map((name) => `netcanary/${name}:${(find(objects, "Service", name) as unknown as { spec: ServiceSpec }).spec.ports[0]?.nodePort}`),
    );
    const named = new Set(
      targets.map((target) => {
        const parsed = parseEchoTarget(target);
        if (!parsed.ok) throw new Error(parsed.reason);
        return `${parsed.target.service}:${parsed.target.port}`;
      }),
    );
    expect(named).toEqual(exposed);
  });
});
