// Inbound paths, from the manifest fixtures of each case: which way in keeps the client's
// address for an ipBlock rule, and which replaces it (a node with Cluster, a proxy in front).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCidr } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { formatInputError, parseDocuments } from "../../agent/documents/located.js";
import { inboundReport, type InboundOptions } from "../../agent/inbound/paths.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "inbound");

function load(...files: string[]) {
  const documents = files.flatMap((name) => {
    const parsed = parseDocuments(readFileSync(join(FIXTURES, name), "utf8"), name);
    expect(parsed.errors).toEqual([]);
    return parsed.documents;
  });
  const loaded = snapshotFromDocuments(documents);
  expect(loaded.errors.map(formatInputError)).toEqual([]);
  return loaded.snapshot;
}

function report(caseFile: string | undefined, options: InboundOptions = {}) {
  const snapshot = caseFile === undefined ? load("base.yaml") : load("base.yaml", caseFile);
  return inboundReport(buildPolicyIndex(snapshot), snapshot, options);
}

function cidr(text: string) {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

describe("inbound paths to a pod whose policy admits Zscaler's ranges", () => {
  it.each([
    ["case-nodeport-cluster.yaml", "cluster_snat", "dataplane"],
    ["case-nodeport-local.yaml", "local", "preserved"],
    ["case-lb-cluster.yaml", "cluster_snat", "dataplane"],
    ["case-lb-local.yaml", "local", "preserved"],
    ["case-lb-aws-ip.yaml", "lb_ip_targets", "rewritten"],
    ["case-ingress.yaml", "ingress_proxy", "rewritten"],
    ["case-gateway.yaml", "gateway_proxy", "rewritten"],
  ])("%s: %s, the source address is %s", (file, code, outcome) => {
    const result = report(file);
    expect(result.pods.map((p) => p.pod)).toEqual(["deployment/shop/web"]);
    expect(result.pods[0]?.admits.map((a) => [a.policy, a.rule, a.cidr])).toEqual([
      ["shop/web-from-zscaler", 0, "165.225.0.0/17"],
      ["shop/web-from-zscaler", 0, "198.51.100.10/31"],
    ]);
    expect(result.pods[0]?.paths.map((p) => [p.code, p.outcome])).toEqual([[code, outcome]]);
    expect(result.findings).toBe(outcome === "preserved" ? 0 : 1);
  });

  it("with Cluster, the dataplane given decides: kept by Cilium in DSR mode and Calico eBPF, replaced by kube-proxy and Cilium's SNAT mode", () => {
    const outcome = (dataplane: NonNullable<InboundOptions["dataplane"]>) => report("case-lb-cluster.yaml", { dataplane }).pods[0]?.paths[0]?.outcome;
    expect(outcome("kube-proxy")).toBe("rewritten");
    expect(outcome("calico-iptables")).toBe("rewritten");
    expect(outcome("cilium-snat")).toBe("rewritten");
    expect(outcome("cilium-dsr")).toBe("preserved");
    expect(outcome("cilium-hybrid")).toBe("preserved");
    expect(outcome("calico-ebpf")).toBe("preserved");
  });

  it("says which dataplanes keep the address where they decide, and offers Local with its cost", () => {
    const path = report("case-nodeport-cluster.yaml").pods[0]?.paths[0];
    expect(path?.dataplane).toBe("TCP: kept by calico-ebpf, cilium-dsr, cilium-hybrid; replaced by a node's address with kube-proxy, calico-iptables, cilium-snat");
    expect(path?.fixes[0]).toMatch(/^set externalTrafficPolicy: Local, at a cost: a node delivers only to its own ready pods/);
  });

  it("an ingress proxy's finding points at the proxy's pods, whatever the dataplane", () => {
    const path = report("case-ingress.yaml", { dataplane: "cilium-dsr" }).pods[0]?.paths[0];
    expect(path?.outcome).toBe("rewritten");
    expect(path?.sourceSeen).toBe("the Ingress controller's pod addresses");
    expect(path?.fixes[0]).toContain("admit the Ingress controller's pods");
  });

  it("an AWS load balancer with IP targets keeps the client's address only with preserve_client_ip.enabled=true", () => {
    const snapshot = load("base.yaml", "case-lb-aws-ip.yaml");
    const services = snapshot.services.map((s) => ({
      ...s,
      exposure: s.exposure?.loadBalancer ? { ...s.exposure, loadBalancer: { ...s.exposure.loadBalancer, preserveClientIp: true } } : s.exposure,
    }));
    const kept = inboundReport(buildPolicyIndex(snapshot), { ...snapshot, services: services as typeof snapshot.services });
    expect(kept.pods[0]?.paths.map((p) => [p.code, p.outcome])).toEqual([["lb_ip_targets", "preserved"]]);
  });

  it("labels the blocks that overlap named ranges, and leaves out blocks inside the cluster's networks", () => {
    const result = report("case-lb-local.yaml", {
      ranges: [{ label: "ZIA zscaler.net", cidrs: [cidr("165.225.0.0/16")] }],
      clusterCidrs: [cidr("198.51.100.0/24")],
    });
    expect(result.pods[0]?.admits.map((a) => [a.cidr, a.ranges])).toEqual([["165.225.0.0/17", ["ZIA zscaler.net"]]]);
  });

  it("a pod whose policy admits no address outside the cluster is not listed, however it is exposed", () => {
    const result = report("case-lb-cluster.yaml", { clusterCidrs: [cidr("0.0.0.0/1"), cidr("128.0.0.0/1")] });
    expect(result).toEqual({ pods: [], findings: 0 });
  });

  it("a pod admitting outside addresses with no way in from outside is listed with no path and no finding", () => {
    const result = report(undefined);
    expect(result.pods.map((p) => [p.pod, p.paths.length])).toEqual([["deployment/shop/web", 0]]);
    expect(result.findings).toBe(0);
  });
});
