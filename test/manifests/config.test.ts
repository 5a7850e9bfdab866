// The example configs in the manifests load through the agent's own config loader
// (agent/config/load.ts: the same parse and validation `netcanary agent --config` runs at
// start and on every reload), and the rendered DaemonSet mounts them where its arguments
// say, with writable emptyDirs where the config and the runtime write.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import type { AgentConfig } from "../../agent/config/model.js";
import { formatInputError } from "../../agent/documents/located.js";
import { describeWith } from "../support/prerequisites.js";
import { agentContainer, find, flag, manifestsDir, podSpec, type PodSpec, render } from "./render.js";

const CONFIGS = {
  base: join(manifestsDir, "base", "config.yaml"),
  "variants/self-only": join(manifestsDir, "base", "config.yaml"),
  "variants/pod-mode": join(manifestsDir, "variants", "pod-mode", "config.yaml"),
} as const;

function load(text: string, file: string): AgentConfig {
  const result = parseConfig(text, file);
  if (!result.ok) throw new Error(result.errors.map(formatInputError).join("\n"));
  return result.config;
}

describe("the example configs", () => {
  it("base (self-only): loads; every source is the agent's own pod", () => {
    const config = load(readFileSync(CONFIGS.base, "utf8"), CONFIGS.base);
    expect(config.sources.map((s) => s.kind)).toEqual(["self"]);
    expect(config.probes.length).toBeGreaterThanOrEqual(3);
    expect(config.zscaler?.cacheDir).toBe("/var/cache/netcanary");
  });

  it("pod-mode: loads; a pod source picks the pods labeled netcanary.io/probe=true", () => {
    const config = load(readFileSync(CONFIGS["variants/pod-mode"], "utf8"), CONFIGS["variants/pod-mode"]);
    const pods = config.sources.filter((s) => s.kind === "pods");
    expect(pods).toEqual([{ name: "labeled", kind: "pods", namespaceSelector: null, podSelector: { matchLabels: { "netcanary.io/probe": "true" }, matchExpressions: [] } }]);
    // Every pod source is probed from by some probe.
    for (const source of pods) expect(config.probes.some((p) => p.sources.includes(source.name))).toBe(true);
    expect(config.zscaler?.cacheDir).toBe("/var/cache/netcanary");
  });

  it("negative control: the loader rejects a broken copy, with the file, line and field", () => {
    const text = readFileSync(CONFIGS.base, "utf8");
    const broken = text.replace("interval: 30s", "interval: 30 seconds");
    expect(broken).not.toBe(text);
    const result = parseConfig(broken, "config.yaml");
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map(formatInputError).join("\n")).toMatch(/^config\.yaml:\d+:\d+: defaults\.interval: /);
    const typo = parseConfig(text.replace("cacheDir:", "cacheDirectory:"), "config.yaml");
    expect(typo.ok).toBe(false);
  });
});

/** Where a container path is served from: the volume (and its kind) of the deepest mount holding it. */
function mountFor(spec: PodSpec, path: string): { kind: "configMap" | "emptyDir" | "other"; mountPath: string; readOnly: boolean; subPath?: string; name: string } | undefined {
  const agent = agentContainer(spec);
  const mounts = (agent.volumeMounts ?? []).filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, "")}/`));
  const mount = mounts.sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return undefined;
  const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
  const kind = volume?.configMap ? "configMap" : volume?.emptyDir ? "emptyDir" : "other";
  return { kind, mountPath: mount.mountPath, readOnly: mount.readOnly === true, name: volume?.configMap?.name ?? mount.name, ...(mount.subPath !== undefined ? { subPath: mount.subPath } : {}) };
}

/** What is wrong with how the DaemonSet provides the config file and the writable places. */
function mountProblems(spec: PodSpec, config: AgentConfig): string[] {
  const problems: string[] = [];
  const args = agentContainer(spec).args ?? [];
  const file = flag(args, "config");
  if (file === undefined) return ["no --config"];
  const configMount = mountFor(spec, file);
  if (configMount?.kind !== "configMap" || configMount.name !== "netcanary-config") problems.push(`${file} is not in the netcanary-config ConfigMap`);
  // subPath mounts never see ConfigMap updates: the agent's reload would never fire.
  if (configMount?.subPath !== undefined) problems.push("config mounted with subPath");
  for (const dir of ["/tmp", ...(config.zscaler?.cacheDir !== undefined ? [config.zscaler.cacheDir] : [])]) {
    const mount = mountFor(spec, dir);
    if (mount?.kind !== "emptyDir" || mount.readOnly) problems.push(`${dir} is not a writable emptyDir`);
  }
  return problems;
}

describeWith({ commands: ["kubectl"] }, "the rendered ConfigMap and its mounts", () => {
  it.each(Object.keys(CONFIGS) as Array<keyof typeof CONFIGS>)("%s: the ConfigMap holds the example config, mounted where --config points", (path) => {
    const objects = render(path);
    const configMap = find(objects, "ConfigMap", "netcanary-config") as unknown as { data: Record<string, string> };
    expect(Object.keys(configMap.data)).toEqual(["config.yaml"]);
    const text = configMap.data["config.yaml"] as string;
    expect(text).toBe(readFileSync(CONFIGS[path], "utf8"));
    const config = load(text, `${path} ConfigMap netcanary-config`);
    const spec = podSpec(objects);
    expect(flag(agentContainer(spec).args ?? [], "config")).toBe("/etc/netcanary/config.yaml");
    expect(mountProblems(spec, config)).toEqual([]);
  });

  it("negative controls: a cache outside any emptyDir, a subPath mount, a config from elsewhere", () => {
    const objects = render("base");
    const config = load(readFileSync(CONFIGS.base, "utf8"), "config.yaml");
    const spec = podSpec(objects);
    expect(mountProblems(spec, { ...config, zscaler: { ...config.zscaler!, cacheDir: "/var/lib/netcanary" } })).toEqual(["/var/lib/netcanary is not a writable emptyDir"]);
    const subPath = structuredClone(spec);
    const mount = agentContainer(subPath).volumeMounts!.find((m) => m.mountPath === "/etc/netcanary")!;
    mount.mountPath = "/etc/netcanary/config.yaml";
    mount.subPath = "config.yaml";
    expect(mountProblems(subPath, config)).toEqual(["config mounted with subPath"]);
    const elsewhere = structuredClone(spec);
    agentContainer(elsewhere).args = ["agent", "--config", "/config/netcanary.yaml"];
    expect(mountProblems(elsewhere, config)).toEqual(["/config/netcanary.yaml is not in the netcanary-config ConfigMap"]);
  });
});
