// `netcanary check` on inbound paths: a pod whose policy admits outside ranges, reached in ways
// that lose the client's address, reported in the table and in JSON; --strict fails on them.
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

const DIR = "test/fixtures/inbound";
const manifests = (...cases: string[]) => ["--manifests", `${DIR}/base.yaml`, ...cases.map((c) => `${DIR}/case-${c}.yaml`)];

describe("netcanary check: inbound paths", () => {
  it("prints each way in with what the pod's policy will see, and the fix for each finding", async () => {
    const run = await runCli(["check", ...manifests("lb-cluster", "ingress")]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/deployment\/shop\/web\s+165\.225\.0\.0\/17, 198\.51\.100\.10\/31\s+LoadBalancer Service shop\/web-lb \(externalTrafficPolicy: Cluster\)\s+DATAPLANE DECIDES/);
    expect(run.stdout).toMatch(/Ingress shop\/web \(hosts shop\.example\.com, class nginx\) -> Service shop\/web\s+REWRITTEN/);
    expect(run.stdout).toContain("the pod sees the Ingress controller's pod addresses, so shop/web-from-zscaler spec.ingress[0] never matches this traffic");
    expect(run.stdout).toContain("    dataplane: TCP: kept by calico-ebpf, cilium-dsr, cilium-hybrid; replaced by a node's address with kube-proxy, calico-iptables, cilium-snat");
    expect(run.stdout).toContain("    fix: set externalTrafficPolicy: Local, at a cost:");
    expect(run.stdout).toContain("2 inbound findings (--strict makes them a failure)");
  });

  it("--strict fails on a finding, and passes when every way in keeps the address", async () => {
    expect((await runCli(["check", ...manifests("nodeport-cluster"), "--strict"])).code).toBe(1);
    const kept = await runCli(["check", ...manifests("nodeport-local", "lb-local"), "--strict"]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain("0 inbound findings");
  });

  it("--dataplane settles what the dataplane decides", async () => {
    const dsr = await runCli(["check", ...manifests("lb-cluster"), "--dataplane", "cilium-dsr", "--strict"]);
    expect(dsr.code).toBe(0);
    expect(dsr.stdout).toMatch(/externalTrafficPolicy: Cluster\)\s+client address kept/);
    const kubeProxy = await runCli(["check", ...manifests("lb-cluster"), "--dataplane", "kube-proxy", "--strict"]);
    expect(kubeProxy.code).toBe(1);
    expect(kubeProxy.stdout).toContain("the pod sees a node's address, so shop/web-from-zscaler spec.ingress[0] never matches this traffic");
  });

  it("gives the findings in JSON, beside the query results", async () => {
    const run = await runCli(["check", ...manifests("gateway"), "--output", "json"]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as { inbound: { findings: number; pods: { pod: string; admits: { cidr: string }[]; paths: { code: string; outcome: string; via: string }[] }[] } };
    expect(doc.inbound.findings).toBe(1);
    expect(doc.inbound.pods.map((p) => [p.pod, p.admits.map((a) => a.cidr), p.paths.map((x) => [x.code, x.outcome])])).toEqual([
      ["deployment/shop/web", ["165.225.0.0/17", "198.51.100.10/31"], [["gateway_proxy", "rewritten"]]],
    ]);
    expect(doc.inbound.pods[0]?.paths[0]?.via).toBe("HTTPRoute shop/web (hosts shop.example.com) -> Service shop/web, through Gateway edge/public (class envoy)");
  });

  it("--cluster-cidr leaves out blocks inside the cluster's networks", async () => {
    const run = await runCli(["check", ...manifests("lb-cluster"), "--cluster-cidr", "165.225.0.0/16", "--cluster-cidr", "198.51.100.0/24", "--strict"]);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain("Inbound paths");
  });

  it("refuses an unknown dataplane and a bad CIDR as usage errors", async () => {
    const dataplane = await runCli(["check", ...manifests(), "--dataplane", "iptables"]);
    expect(dataplane.code).toBe(2);
    expect(dataplane.stderr).toContain('--dataplane must be one of kube-proxy, calico-iptables, calico-ebpf, cilium-snat, cilium-dsr, cilium-hybrid, got "iptables"');
    const cidr = await runCli(["check", ...manifests(), "--cluster-cidr", "10.0.0.0/33"]);
    expect(cidr.code).toBe(2);
    expect(cidr.stderr).toContain("--cluster-cidr:");
  });
});
