// `netcanary check` on inbound paths: a pod whose policy admits outside ranges, reached in ways
// that lose the client's address, reported in the table and in JSON; --strict fails on them.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  it("the example in the docs runs as written and reports both ways in", async () => {
    const run = await runCli(["check", "--manifests", "examples/inbound/manifests.yaml"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("2 inbound findings (--strict makes them a failure)");
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

describe("netcanary check: queries from outside", () => {
  let dir: string;
  let feeds: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "netcanary-inbound-"));
    feeds = join(dir, "feeds");
    await mkdir(join(feeds, "zscaler.net"), { recursive: true });
    await copyFile("test/fixtures/zscaler/future-zscaler.net.json", join(feeds, "zscaler.net", "future.json"));
    await copyFile("test/fixtures/zscaler/cenr-zscaler.net.json", join(feeds, "zscaler.net", "cenr.json"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function queries(name: string, lines: string[]): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `queries:\n${lines.map((l) => `  - ${l}`).join("\n")}\n`);
    return path;
  }
  const outside = () => ["--zscaler-feeds", feeds, "--zpa-connectors", "198.51.100.10,198.51.100.11"];
  type Result = { from: string; to: string; verdict: string; ok: boolean | null; explanation: { determinate: boolean; references: string[]; notes: { code: string; message: string }[] } };
  async function results(cases: string[], file: string, extra: string[] = []): Promise<Result[]> {
    const run = await runCli(["check", ...manifests(...cases), "--queries", file, ...outside(), "--output", "json", ...extra]);
    expect(run.stderr).toBe("");
    return (JSON.parse(run.stdout) as { results: Result[] }).results;
  }

  it("with Local, judges every published block: the policy admits 165.225.0.0/17 only, so the cloud as a whole and Amsterdam are denied, the ZPA connectors allowed", async () => {
    const file = await queries("local.yaml", [
      "{from: zscaler:zscaler.net, to: service/shop/web-lb, port: 443, expect: allow}",
      '{from: "zscaler:zscaler.net/Amsterdam II", to: service/shop/web-lb, port: 443}',
      "{from: 165.225.10.5, to: service/shop/web-lb, port: 443, expect: allow}",
      "{from: zpa, to: service/shop/web-lb, port: 443, expect: allow}",
    ]);
    const r = await results(["lb-local"], file);
    expect(r.map((x) => [x.from, x.verdict, x.explanation.determinate, x.ok])).toEqual([
      ["zscaler:zscaler.net", "deny", true, false],
      ["zscaler:zscaler.net/Amsterdam II", "deny", true, null],
      ["165.225.10.5", "allow", true, true],
      ["zpa", "allow", true, true],
    ]);
    expect(r[0]?.explanation.references).toContain("through LoadBalancer Service shop/web-lb (externalTrafficPolicy: Local): the pod sees the client's address");
    expect(r[0]?.explanation.references.join("\n")).toMatch(/admitted from 1 block\(s\) of ZIA zscaler\.net, denied from \d+: /);
  });

  it("ZIA's ranges do not stand for ZPA: a policy admitting only the ZIA range denies the App Connectors", async () => {
    const file = await queries("zpa.yaml", ["{from: zpa, to: service/shop/web-lb, port: 443}"]);
    const run = await runCli(["check", "--manifests", `${DIR}/base.yaml`, `${DIR}/case-lb-local.yaml`, "--queries", file, "--zpa-connectors", "192.0.2.7", "--output", "json"]);
    const [r] = (JSON.parse(run.stdout) as { results: Result[] }).results;
    expect([r?.verdict, r?.explanation.determinate]).toEqual(["deny", true]);
  });

  it("with Cluster the verdict is undetermined with the dataplane as the reason, until --dataplane settles it", async () => {
    const file = await queries("cluster.yaml", ["{from: 165.225.10.5, to: service/shop/web-lb, port: 443, expect: allow}"]);
    const [open] = await results(["lb-cluster"], file);
    expect([open?.verdict, open?.explanation.determinate, open?.ok]).toEqual(["allow", false, null]);
    expect(open?.explanation.notes.map((n) => n.code)).toEqual(["inbound_dataplane"]);
    const [dsr] = await results(["lb-cluster"], file, ["--dataplane", "cilium-dsr"]);
    expect([dsr?.verdict, dsr?.explanation.determinate, dsr?.ok]).toEqual(["allow", true, true]);
    const [snat] = await results(["lb-cluster"], file, ["--dataplane", "kube-proxy"]);
    expect([snat?.explanation.determinate, snat?.explanation.notes.map((n) => n.code)]).toEqual([false, ["inbound_source_rewritten"]]);
  });

  it("a host behind an Ingress or a Gateway is undetermined: the pod sees the proxy, whose addresses the manifests do not hold", async () => {
    const file = await queries("host.yaml", ["{from: 165.225.10.5, to: host/shop.example.com, port: 443}"]);
    for (const c of ["ingress", "gateway"]) {
      const [r] = await results([c], file);
      expect(r?.explanation.determinate).toBe(false);
      expect(r?.explanation.notes.map((n) => n.code)).toEqual(["inbound_source_rewritten"]);
    }
  });

  it("refuses what it cannot judge, naming the query's line and field", async () => {
    const file = await queries("bad.yaml", [
      "{from: zscaler:zscalertwo.net, to: service/shop/web-lb, port: 443}",
      "{from: zscaler:zscaler.net, to: deployment/shop/web, port: 8443}",
      "{from: zscaler:zscaler.net, to: service/shop/nope, port: 443}",
      "{from: zscaler:zscaler.net, to: service/shop/web-lb, port: 80}",
      '{from: "zscaler:zscaler.net/Atlantis", to: host/nowhere.example.com, port: 443}',
    ]);
    const run = await runCli(["check", ...manifests("lb-local"), "--queries", file, "--zscaler-feeds", feeds]);
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n").filter((l) => l !== "")).toEqual([
      `${file}:2:6: queries[0].from: no feeds of zscalertwo.net were given (--zscaler-feeds; clouds given: zscaler.net)`,
      `${file}:3:33: queries[1].to: a query from outside goes to service/<namespace>/<name> or host/<host name>`,
      `${file}:4:33: queries[2].to: no Service shop/nope in the manifests`,
      `${file}:5:58: queries[3].port: Service shop/web-lb has no TCP port 80`,
      `${file}:6:6: queries[4].from: no city "Atlantis" in the cenr feed of zscaler.net`,
      `${file}:6:44: queries[4].to: no Ingress or route in the manifests serves host nowhere.example.com from a Service they hold`,
    ]);
  });

  it("refuses a feeds directory that holds a payload that is not a feed", async () => {
    const bad = join(dir, "bad-feeds");
    await mkdir(join(bad, "zscaler.net"), { recursive: true });
    await writeFile(join(bad, "zscaler.net", "future.json"), "<html>login</html>");
    const run = await runCli(["check", ...manifests("lb-local"), "--zscaler-feeds", bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${join(bad, "zscaler.net", "future.json")}: not a future feed of zscaler.net (not_json)`);
  });
});
