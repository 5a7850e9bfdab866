// Which dataplane handles Services, read from the objects that decide it, through the agent's
// own API client against the wire-true test API server: found, absent (404), not readable (403).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DATAPLANE_PATHS, readDataplaneObservations } from "../../agent/inbound/dataplane-reader.js";
import { detectDataplane } from "../../agent/inbound/detect.js";
import { KubeApiServer } from "../support/kube-api-server.js";

let server: KubeApiServer;
beforeAll(async () => {
  server = await KubeApiServer.start();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  for (const name of ["kube-proxy", "cilium-config"]) server.remove("ConfigMap", "kube-system", name);
  server.remove("FelixConfiguration", undefined, "default");
});

const configMap = (name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "kube-system" }, data });
const felix = (spec: Record<string, unknown>) => ({ apiVersion: "crd.projectcalico.org/v1", kind: "FelixConfiguration", metadata: { name: "default" }, spec });
const KUBE_PROXY_CONFIG = (mode: string) => `apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: "${mode}"\nclusterCIDR: 10.244.0.0/16\n`;

async function detect() {
  return detectDataplane(await readDataplaneObservations(server.kubeConfig()));
}

describe("reading the dataplane from the cluster", () => {
  it("kube-proxy alone, mode empty (iptables on Linux): kube-proxy", async () => {
    server.apply(configMap("kube-proxy", { "config.conf": KUBE_PROXY_CONFIG("") }));
    expect(await detect()).toEqual({ dataplane: "kube-proxy", evidence: ["cilium-config: absent", "FelixConfiguration default: absent", "kube-proxy: mode iptables"] });
  });

  it("Cilium's kube-proxy replacement decides over a kube-proxy ConfigMap left behind, per load balancer mode", async () => {
    server.apply(configMap("kube-proxy", { "config.conf": KUBE_PROXY_CONFIG("ipvs") }));
    server.apply(configMap("cilium-config", { "kube-proxy-replacement": "true", "bpf-lb-mode": "dsr" }));
    expect((await detect()).dataplane).toBe("cilium-dsr");
    server.apply(configMap("cilium-config", { "kube-proxy-replacement": "true" }));
    expect((await detect()).dataplane).toBe("cilium-snat");
    server.apply(configMap("cilium-config", { "kube-proxy-replacement": "false", "bpf-lb-mode": "hybrid" }));
    expect((await detect()).dataplane).toBe("kube-proxy");
  });

  it("does not guess under Cilium's partial replacement or a value it does not know, and never echoes such a value", async () => {
    server.apply(configMap("kube-proxy", { "config.conf": KUBE_PROXY_CONFIG("iptables") }));
    server.apply(configMap("cilium-config", { "kube-proxy-replacement": "partial" }));
    expect((await detect()).dataplane).toBeUndefined();
    const junk = "x".repeat(5000);
    server.apply(configMap("cilium-config", { "kube-proxy-replacement": "true", "bpf-lb-mode": junk }));
    const result = await detect();
    expect(result.dataplane).toBeUndefined();
    expect(result.evidence[0]).toBe("cilium-config: kube-proxy-replacement true, bpf-lb-mode unrecognised (5000 characters)");
    expect(result.evidence.join("\n")).not.toContain("xxxx");
  });

  it("Calico: eBPF when FelixConfiguration enables it, else its iptables dataplane with kube-proxy", async () => {
    server.apply(configMap("kube-proxy", { "config.conf": KUBE_PROXY_CONFIG("iptables") }));
    server.apply(felix({ bpfEnabled: true }));
    expect((await detect()).dataplane).toBe("calico-ebpf");
    server.apply(felix({ bpfEnabled: false, logSeverityScreen: "Info" }));
    expect(await detect()).toEqual({ dataplane: "calico-iptables", evidence: ["cilium-config: absent", "FelixConfiguration default: bpfEnabled false", "kube-proxy: mode iptables"] });
  });

  it("says what it could not read (RBAC) and does not guess", async () => {
    server.apply(configMap("kube-proxy", { "config.conf": KUBE_PROXY_CONFIG("") }));
    const cilium = server.forbid({ path: DATAPLANE_PATHS.cilium });
    const felixFault = server.forbid({ path: DATAPLANE_PATHS.felix });
    const result = await detect();
    cilium.remove();
    felixFault.remove();
    expect(result.evidence).toEqual([
      "cilium-config: not readable (RBAC: the opt-in role is not bound)",
      "FelixConfiguration default: not readable (RBAC: the opt-in role is not bound)",
      "kube-proxy: mode iptables",
    ]);
    // kube-proxy's ConfigMap alone does not rule out Cilium or Calico eBPF handling Services instead.
    expect(result.dataplane).toBeUndefined();
  });
});
