// Every kustomization and component renders with kustomize, and every object it yields is
// valid against the Kubernetes schemas (render.ts says which, and why two). Negative controls
// show the validation can fail: a wrong type, a missing required field, an unknown field, a
// CRD field with a bad value, an unknown kind.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { describeWith } from "../support/prerequisites.js";
import { COMPONENTS, find, type KubeObject, KUSTOMIZATIONS, objectName, render, renderOverlay, repoRoot, schemaProblems, unknownFields } from "./render.js";

function problemsOf(objects: readonly KubeObject[]): string[] {
  return objects.flatMap((object) => schemaProblems(object).map((problem) => `${objectName(object)}: ${problem}`));
}

describeWith({ commands: ["kubectl"] }, "rendered manifests against the Kubernetes schemas", () => {
  it.each(KUSTOMIZATIONS)("%s renders, and every object is valid", (path) => {
    const objects = render(path);
    expect(objects.length).toBeGreaterThanOrEqual(7);
    expect(problemsOf(objects)).toEqual([]);
    // One of each, all named, all but the cluster-scoped ones in the namespace.
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(names).size).toBe(names.length);
    for (const object of objects) {
      if (["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(object.kind)) expect(object.metadata.namespace).toBeUndefined();
      else expect(object.metadata.namespace, objectName(object)).toBe("netcanary");
    }
  });

  it.each(COMPONENTS)("%s on the base renders, and every object is valid", (component) => {
    const base = render("base");
    const objects = renderOverlay(["base"], [component]);
    const added = objects.filter((o) => !base.some((b) => b.kind === o.kind && b.metadata.name === o.metadata.name));
    expect(added.length).toBeGreaterThanOrEqual(1);
    expect(problemsOf(objects)).toEqual([]);
    for (const object of added) {
      if (["ClusterRole", "ClusterRoleBinding"].includes(object.kind)) expect(object.metadata.namespace, objectName(object)).toBeUndefined();
      else expect(object.metadata.namespace, objectName(object)).toBe("netcanary");
    }
  });

  it("the example overlay is pod mode plus both components, with the image set by kustomize", () => {
    const example = render("examples/pod-mode-monitored");
    const kinds = example.map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(["DaemonSet", "ServiceMonitor", "PrometheusRule"]));
    const dashboards = readdirSync(join(repoRoot, "dashboards")).filter((file) => file.endsWith(".json"));
    expect(example.filter((o) => o.kind === "ConfigMap" && o.metadata.labels?.["grafana_dashboard"] === "1")).toHaveLength(dashboards.length);
    const daemonSet = find(example, "DaemonSet") as unknown as { spec: { template: { spec: { hostPID?: boolean; containers: Array<{ image: string }> } } } };
    expect(daemonSet.spec.template.spec.hostPID).toBe(true);
    expect(daemonSet.spec.template.spec.containers.map((c) => c.image)).toEqual(["netcanary:dev"]);
  });

  it("negative controls: each kind of mistake is reported", () => {
    const base = render("base");
    const daemonSet = find(base, "DaemonSet");
    expect(schemaProblems(daemonSet)).toEqual([]);

    // A wrong type.
    const wrongType = structuredClone(daemonSet) as unknown as { spec: { template: { spec: { containers: Array<{ securityContext: Record<string, unknown> }> } } } };
    (wrongType.spec.template.spec.containers[0] as { securityContext: Record<string, unknown> }).securityContext["privileged"] = "false";
    expect(schemaProblems(wrongType as unknown as KubeObject).join()).toMatch(/privileged must be boolean/);

    // A required field missing.
    const noSelector = structuredClone(daemonSet) as unknown as { spec: Record<string, unknown> };
    delete noSelector.spec["selector"];
    expect(schemaProblems(noSelector as unknown as KubeObject).join()).toMatch(/must have required property 'selector'|required property selector/);

    // An unknown field, misspelled as people do.
    const typo = structuredClone(daemonSet) as unknown as { spec: { template: { spec: { containers: Array<{ securityContext: Record<string, unknown> }> } } } };
    const context = (typo.spec.template.spec.containers[0] as { securityContext: Record<string, unknown> }).securityContext;
    context["readOnlyRootFileSystem"] = context["readOnlyRootFilesystem"];
    delete context["readOnlyRootFilesystem"];
    expect(schemaProblems(typo as unknown as KubeObject)).toEqual(["spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field"]);
    expect(unknownFields({ metadata: { name: "x", labelz: {} } }, "V1ConfigMap")).toEqual(["metadata.labelz"]);

    // A CRD field with a bad value.
    const monitor = find(renderOverlay(["base"], ["components/prometheus-operator"]), "ServiceMonitor") as unknown as { spec: { endpoints: Array<Record<string, unknown>> } };
    expect(schemaProblems(monitor as unknown as KubeObject)).toEqual([]);
    (monitor.spec.endpoints[0] as Record<string, unknown>)["interval"] = "30 seconds";
    expect(schemaProblems(monitor as unknown as KubeObject).join()).toMatch(/interval must match pattern/);

    // A kind nobody checks is not waved through.
    expect(schemaProblems({ apiVersion: "v1", kind: "Secret", metadata: { name: "x" } })).toEqual([expect.stringMatching(/no schema known/)]);
  });
});
