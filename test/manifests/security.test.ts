// The security settings of each variant, read from the rendered DaemonSet and Namespace:
// - base and self-only: non-root, no capabilities, no host namespaces, read-only root,
//   seccomp RuntimeDefault, no privilege escalation: the "restricted" Pod Security Standard,
//   which the namespace enforces.
// - pod-mode: hostPID and exactly SYS_ADMIN + SYS_PTRACE added to nothing (ALL dropped), as
//   root because Kubernetes gives added capabilities to root only; never privileged; still a
//   read-only root and seccomp RuntimeDefault.
// Each check is also run on a deliberately weakened copy to show it can fail.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { describeWith } from "../support/prerequisites.js";
import { agentContainer, type Container, find, flag, type KubeObject, podSpec, type PodSpec, quantity, render, repoRoot } from "./render.js";

/** A container's effective security settings (container fields override the pod's). */
function effective(spec: PodSpec, container: Container) {
  const pod = spec.securityContext ?? {};
  const own = container.securityContext ?? {};
  return {
    runAsNonRoot: own.runAsNonRoot ?? pod.runAsNonRoot,
    runAsUser: own.runAsUser ?? pod.runAsUser,
    seccomp: (own.seccompProfile ?? pod.seccompProfile)?.type,
    privileged: own.privileged ?? false,
    allowPrivilegeEscalation: own.allowPrivilegeEscalation,
    readOnlyRootFilesystem: own.readOnlyRootFilesystem ?? false,
    add: own.capabilities?.add ?? [],
    drop: own.capabilities?.drop ?? [],
  };
}

/** Problems with the unprivileged (restricted) settings; empty when they hold. */
function unprivilegedProblems(spec: PodSpec): string[] {
  const problems: string[] = [];
  if (spec.hostPID || spec.hostNetwork || spec.hostIPC) problems.push("host namespaces");
  if ((spec.volumes ?? []).some((v) => v.hostPath !== undefined)) problems.push("hostPath volume");
  for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) {
    const e = effective(spec, container);
    if (e.runAsNonRoot !== true) problems.push(`${container.name}: runAsNonRoot is not true`);
    if (e.runAsUser === 0) problems.push(`${container.name}: runs as UID 0`);
    if (e.seccomp !== "RuntimeDefault") problems.push(`${container.name}: seccomp ${String(e.seccomp)}`);
    if (e.privileged) problems.push(`${container.name}: privileged`);
    if (e.allowPrivilegeEscalation !== false) problems.push(`${container.name}: allowPrivilegeEscalation is not false`);
    if (!e.readOnlyRootFilesystem) problems.push(`${container.name}: writable root filesystem`);
    if (e.drop.join() !== "ALL") problems.push(`${container.name}: drops ${e.drop.join() || "nothing"}, not ALL`);
    if (e.add.length > 0) problems.push(`${container.name}: adds ${e.add.join()}`);
  }
  return problems;
}

/** Problems with the pod-mode settings; empty when they hold. */
function podModeProblems(spec: PodSpec): string[] {
  const problems: string[] = [];
  if (spec.hostPID !== true) problems.push("hostPID is not true");
  if (spec.hostNetwork || spec.hostIPC) problems.push("host network or IPC");
  if ((spec.volumes ?? []).some((v) => v.hostPath !== undefined)) problems.push("hostPath volume");
  const container = agentContainer(spec);
  const e = effective(spec, container);
  if (e.runAsUser !== 0 || e.runAsNonRoot === true) problems.push("not root: added capabilities would not be effective");
  if (e.privileged) problems.push("privileged");
  if ([...e.add].sort().join() !== "SYS_ADMIN,SYS_PTRACE") problems.push(`adds ${e.add.join() || "nothing"}, not exactly SYS_ADMIN and SYS_PTRACE`);
  if (e.drop.join() !== "ALL") problems.push(`drops ${e.drop.join() || "nothing"}, not ALL`);
  if (!e.readOnlyRootFilesystem) problems.push("writable root filesystem");
  if (e.seccomp !== "RuntimeDefault") problems.push(`seccomp ${String(e.seccomp)}`);
  if (e.allowPrivilegeEscalation !== false) problems.push("allowPrivilegeEscalation is not false");
  // The API server refuses allowPrivilegeEscalation: false next to "CAP_SYS_ADMIN" (not next to
  // "SYS_ADMIN"); runtimes accept both spellings, so the manifest must use the short one.
  if (e.add.some((cap) => cap.startsWith("CAP_"))) problems.push("capability spelled with CAP_ (refused with allowPrivilegeEscalation: false)");
  for (const other of spec.containers.filter((c) => c.name !== "agent")) problems.push(`another container: ${other.name}`);
  return problems;
}

function namespaceLevel(objects: readonly KubeObject[]): Record<string, string | undefined> {
  const labels = find(objects, "Namespace", "netcanary").metadata.labels ?? {};
  return { enforce: labels["pod-security.kubernetes.io/enforce"], warn: labels["pod-security.kubernetes.io/warn"], audit: labels["pod-security.kubernetes.io/audit"] };
}

describeWith({ commands: ["kubectl"] }, "security settings per variant", () => {
  it.each(["base", "variants/self-only"])("%s: unprivileged, non-root, restricted", (path) => {
    const objects = render(path);
    const spec = podSpec(objects);
    expect(unprivilegedProblems(spec)).toEqual([]);
    expect(effective(spec, agentContainer(spec)).runAsUser).toBe(65532);
    expect(namespaceLevel(objects)).toEqual({ enforce: "restricted", warn: "restricted", audit: "restricted" });
  });

  it("the self-only variant is the base, object for object", () => {
    expect(render("variants/self-only")).toEqual(render("base"));
  });

  it("pod-mode: hostPID, root with exactly SYS_ADMIN and SYS_PTRACE, nothing broader", () => {
    const objects = render("variants/pod-mode");
    const spec = podSpec(objects);
    expect(podModeProblems(spec)).toEqual([]);
    expect(unprivilegedProblems(spec)).toEqual(
      expect.arrayContaining(["host namespaces", "agent: runAsNonRoot is not true", "agent: runs as UID 0", "agent: adds SYS_ADMIN,SYS_PTRACE"]),
    );
    // Only "privileged" admits hostPID and added capabilities.
    expect(namespaceLevel(objects)).toEqual({ enforce: "privileged", warn: "privileged", audit: "privileged" });
    // Everything else is the base's: same probes, mounts, identity, image.
    const base = agentContainer(podSpec(render("base")));
    const agent = agentContainer(spec);
    expect({ ...agent, resources: undefined, securityContext: undefined }).toEqual({ ...base, resources: undefined, securityContext: undefined });
  });

  it("negative controls: weakened copies are caught", () => {
    const weaken = (path: string, change: (spec: PodSpec) => void): PodSpec => {
      const spec = podSpec(render(path));
      change(spec);
      return spec;
    };
    const agent = (spec: PodSpec) => agentContainer(spec);
    expect(unprivilegedProblems(weaken("base", (s) => (s.hostPID = true)))).toEqual(["host namespaces"]);
    expect(unprivilegedProblems(weaken("base", (s) => agent(s).securityContext!.capabilities!.add = ["NET_RAW"]))).toEqual(["agent: adds NET_RAW"]);
    expect(unprivilegedProblems(weaken("base", (s) => (agent(s).securityContext!.capabilities = {})))).toEqual(["agent: drops nothing, not ALL"]);
    expect(unprivilegedProblems(weaken("base", (s) => delete agent(s).securityContext!.readOnlyRootFilesystem))).toEqual(["agent: writable root filesystem"]);
    expect(unprivilegedProblems(weaken("base", (s) => delete s.securityContext!.runAsNonRoot))).toEqual(["agent: runAsNonRoot is not true"]);
    expect(unprivilegedProblems(weaken("base", (s) => delete s.securityContext!.seccompProfile))).toEqual(["agent: seccomp undefined"]);
    expect(podModeProblems(weaken("variants/pod-mode", (s) => (agent(s).securityContext!.privileged = true)))).toEqual(["privileged"]);
    expect(podModeProblems(weaken("variants/pod-mode", (s) => agent(s).securityContext!.capabilities!.add!.push("NET_ADMIN")))).toEqual([
      "adds SYS_ADMIN,SYS_PTRACE,NET_ADMIN, not exactly SYS_ADMIN and SYS_PTRACE",
    ]);
    expect(podModeProblems(weaken("variants/pod-mode", (s) => (agent(s).securityContext!.capabilities!.add = ["CAP_SYS_ADMIN", "SYS_PTRACE"])))).toEqual([
      "adds CAP_SYS_ADMIN,SYS_PTRACE, not exactly SYS_ADMIN and SYS_PTRACE",
      "capability spelled with CAP_ (refused with allowPrivilegeEscalation: false)",
    ]);
    expect(podModeProblems(weaken("variants/pod-mode", (s) => (s.securityContext!.runAsUser = 65532)))).toEqual(["not root: added capabilities would not be effective"]);
    expect(podModeProblems(weaken("variants/pod-mode", (s) => (s.hostPID = false)))).toEqual(["hostPID is not true"]);
  });
});

describeWith({ commands: ["kubectl"] }, "the DaemonSet runs the agent as documented", () => {
  it.each(["base", "variants/pod-mode"])("%s: identity from the downward API, probes on /healthz and /readyz, every node", (path) => {
    const spec = podSpec(render(path));
    const agent = agentContainer(spec);
    expect(agent.args?.[0]).toBe("agent");
    const env = Object.fromEntries((agent.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toEqual({ POD_NAMESPACE: "metadata.namespace", POD_NAME: "metadata.name", POD_IP: "status.podIP", NODE_NAME: "spec.nodeName" });
    // The listen port, the container port named metrics, and the probes agree.
    const listen = flag(agent.args ?? [], "listen") ?? ":9714";
    const port = agent.ports?.find((p) => p.name === "metrics");
    expect(port?.containerPort).toBe(Number(listen.split(":").pop()));
    expect(agent.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(agent.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    // Tolerates every taint, so it runs on every node.
    expect(spec.tolerations).toContainEqual({ operator: "Exists" });
    expect(spec.serviceAccountName).toBe("netcanary");
  });

  it.each([
    // docs/benchmarks.md: peak RSS 158.4 MiB at most with 1,000 edges, 2,000 policies and
    // 10,000 or 150,000 pods, measured under a 256 MiB limit with the image's flags and
    // allocator settings; pod mode adds up to 4 worker processes (45 MiB each bare).
    ["base", 159, 256],
    ["variants/pod-mode", 159 + 4 * 45, 256],
  ] as const)("%s: memory request covers the measured RSS, limit at least %s MiB", (path, measuredMiB, minLimitMiB) => {
    const { requests, limits } = agentContainer(podSpec(render(path))).resources ?? {};
    const mib = (q: string | undefined) => (q === undefined ? Number.NaN : quantity(q) / 2 ** 20);
    expect(mib(limits?.["memory"])).toBeGreaterThanOrEqual(Math.max(minLimitMiB, measuredMiB));
    expect(mib(requests?.["memory"])).toBeGreaterThanOrEqual(path === "base" ? measuredMiB : 159);
    expect(mib(requests?.["memory"])).toBeLessThanOrEqual(mib(limits?.["memory"]));
    expect(quantity(requests?.["cpu"] ?? "0")).toBeGreaterThan(0);
    expect(quantity(requests?.["cpu"] ?? "0")).toBeLessThanOrEqual(quantity(limits?.["cpu"] ?? "0"));
  });

  it("the image's V8 flags are the ones the figures were measured with", () => {
    const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
    const benchmarks = readFileSync(join(repoRoot, "docs", "benchmarks.md"), "utf8");
    const flags = /ENV NODE_OPTIONS="([^"]+)"/.exec(dockerfile)?.[1];
    expect(flags).toBe("--max-semi-space-size=2 --max-old-space-size=160");
    expect(benchmarks.replace(/\s+/g, " ")).toContain(`node ${flags}`);
  });
});
