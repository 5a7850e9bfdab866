// netcanary zscaler policy --direction ingress: a policy admitting ZIA's published ranges or the
// ZPA App Connectors, never both, and its audit, against a local stand-in for config.zscaler.com.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { buildPolicyIndex, evaluateConnection } from "../../agent/policy/engine.js";
import { parseIp } from "../../agent/addresses/ip.js";
import { runCli } from "../support/cli.js";
import { ZscalerServer } from "../support/zscaler-server.js";

const DIRECT = { http_proxy: "", https_proxy: "", HTTP_PROXY: "", HTTPS_PROXY: "", no_proxy: "", NO_PROXY: "" };
const DIR = "test/fixtures/inbound";

let server: ZscalerServer;
beforeAll(async () => {
  server = await ZscalerServer.start();
});
afterAll(async () => {
  await server.close();
});

function zscaler(args: readonly string[]) {
  return runCli(["zscaler", "policy", "--direction", "ingress", ...args], { env: DIRECT, timeoutMs: 20_000 });
}
const forWeb = ["--namespace", "shop", "--pod-selector", "app=web", "--ports", "8443"];
const zia = () => ["--cloud", "zscaler.net", "--base-url", server.baseUrl];

/** The generated policy, loaded as a manifest beside a pod, and the engine's verdict from an address. */
function admits(yaml: string, from: string): string {
  const parsed = parseDocuments(
    `${yaml}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-0, namespace: shop, labels: {app: web}}\nspec: {containers: [{name: web, ports: [{containerPort: 8443}]}]}\nstatus: {podIP: 10.0.0.5}\n`,
    "p.yaml",
  );
  const load = snapshotFromDocuments(parsed.documents);
  expect(load.errors).toEqual([]);
  const index = buildPolicyIndex(load.snapshot);
  const ip = parseIp(from);
  if (!ip.ok) throw new Error(ip.reason);
  const pod = index.podsByKey.get("shop/web-0");
  if (!pod) throw new Error("no pod");
  return evaluateConnection(index, { from: { kind: "ip", ip: ip.value }, to: { kind: "pod", pod }, port: 8443, protocol: "TCP" }).verdict;
}

describe("netcanary zscaler policy --direction ingress", () => {
  it("ZIA: an Ingress policy admitting the published ranges on the given ports, and nothing of ZPA", async () => {
    const run = await zscaler([...zia(), ...forWeb]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("# inbound from ZIA's published ranges: it admits them only where the pods see the client's address");
    const policy = parse(run.stdout) as { metadata: { name: string; annotations: Record<string, string> }; spec: { policyTypes: string[]; ingress: { from: unknown[]; ports: unknown[] }[] } };
    expect(policy.metadata.name).toBe("allow-from-zscaler-zscaler-net");
    expect(policy.metadata.annotations["netcanary.io/zscaler-source"]).toBe("zia");
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);
    expect(policy.spec.ingress[0]?.ports).toEqual([{ protocol: "TCP", port: 8443 }]);
    expect(admits(run.stdout, "165.225.10.5")).toBe("allow");
    expect(admits(run.stdout, "198.51.100.10")).toBe("deny");
  });

  it("ZPA: the App Connectors only, with no feed fetched", async () => {
    server.clearRequests();
    const run = await zscaler(["--source", "zpa", "--zpa-connectors", "198.51.100.10,198.51.100.11", ...forWeb]);
    expect(run.code).toBe(0);
    expect(server.requests()).toEqual([]);
    const policy = parse(run.stdout) as { metadata: { name: string }; spec: { ingress: { from: { ipBlock: { cidr: string } }[] }[] } };
    expect(policy.metadata.name).toBe("allow-from-zpa-connectors");
    expect(policy.spec.ingress[0]?.from.map((p) => p.ipBlock.cidr)).toEqual(["198.51.100.10/31"]);
    expect(admits(run.stdout, "198.51.100.11")).toBe("allow");
    expect(admits(run.stdout, "165.225.10.5")).toBe("deny");
  });

  it("keeps ZIA and ZPA apart and asks for the ports the pods serve", async () => {
    const both = await zscaler([...zia(), "--zpa-connectors", "198.51.100.10", ...forWeb]);
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining("ZIA and ZPA sources are kept apart")]);
    const cloud = await zscaler(["--source", "zpa", "--cloud", "zscaler.net", "--zpa-connectors", "198.51.100.10", ...forWeb]);
    expect(cloud.code).toBe(2);
    const noPorts = await zscaler([...zia(), "--namespace", "shop", "--pod-selector", "app=web"]);
    expect([noPorts.code, noPorts.stderr]).toEqual([2, expect.stringContaining("--ports is required with --direction ingress")]);
  });

  it("--check audits the pods' ingress: the fixture admits one ZIA range, so the cloud fails and the connectors pass, with the way in that loses the address noted", async () => {
    const manifests = [`${DIR}/base.yaml`, `${DIR}/case-lb-cluster.yaml`];
    const ziaRun = await zscaler([...zia(), ...forWeb, "--check", ...manifests]);
    expect(ziaRun.code).toBe(1);
    expect(ziaRun.stdout).toMatch(/^FAIL: \d+ of the \d+ ranges of zscaler\.net \(future, hubs-recommended\) are not admitted on every port to pods app=web in namespace shop:/);
    expect(ziaRun.stdout).not.toContain("165.225.0.0/17 ");
    const zpaRun = await zscaler(["--source", "zpa", "--zpa-connectors", "198.51.100.10,198.51.100.11", ...forWeb, "--check", ...manifests]);
    expect(zpaRun.code).toBe(0);
    expect(zpaRun.stdout).toContain("ok: the ZPA App Connectors (2) are admitted on TCP 8443 to pods app=web in namespace shop");
    expect(zpaRun.stderr).toContain("note: through LoadBalancer Service shop/web-lb (externalTrafficPolicy: Cluster) the pods see a node's address, or the client's (the dataplane decides)");
  });
});
