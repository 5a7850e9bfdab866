// `netcanary once` as a pipeline gate: a run that tested nothing, in part or in full, must not
// pass. The compiled CLI against real manifests, a closed loopback port and the wire-true
// API test server (that answers, holds its lists, or fails them).

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { acceptingEndpoint, closedPort, type Endpoint } from "../support/listeners.js";

let dir: string;
let endpoint: Endpoint;
let server: KubeApiServer | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-once-gate-"));
  endpoint = await acceptingEndpoint();
});
afterAll(async () => {
  await endpoint.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  server?.clearFaults();
  await server?.stop();
  server = undefined;
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

// Outside a pod, with no $KUBECONFIG: only what the command line says.
const env = { ...process.env, KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "", NODE_NAME: "node-a" };

/** A probe that connects (the loopback listener), plus the cluster targets under test. */
function config(extra: string): string {
  return `sources: [{name: self, self: true}]\nprobes:\n  - {name: local, sources: [self], tcp: {ip: 127.0.0.1, port: ${endpoint.port}}}\n${extra}`;
}

const apiProbe = `  - {name: api, sources: [self], tcp: {service: {namespace: shop, name: api, port: http}}}\n`;
const webProbe = `  - {name: web, sources: [self], tcp: {pods: {namespace: shop, selector: {app: web}}, port: ${0}}}\n`;

/** The Service and the pod the probes above look for, both on the loopback listener. */
function shopManifests(port: number): string {
  return `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {clusterIP: 127.0.0.1, ports: [{name: http, port: ${port}, targetPort: ${port}}], selector: {app: api}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: web, ports: [{containerPort: ${port}}]}]}
status: {phase: Running, podIP: 127.0.0.1, podIPs: [{ip: 127.0.0.1}]}
`;
}

function probes(port: number): string {
  return config(apiProbe + webProbe.replace("port: 0", `port: ${port}`));
}

describe("netcanary once against manifests", () => {
  it("passes (exit 0) when every probe found its Service and pods (the control)", async () => {
    const run = await runCli(["once", "--config", await file("ok.yaml", probes(endpoint.port)), "--manifests", await file("shop.yaml", shopManifests(endpoint.port))], { env });
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("3 edges: 3 ok, 0 with a signal");
    expect(run.code).toBe(0);
  });

  it("exits 3 naming the Service that does not exist and the selector that matches no pod, though another edge passed", async () => {
    const manifests = await file("empty-shop.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
    const run = await runCli(["once", "--config", await file("gaps.yaml", probes(endpoint.port)), "--manifests", manifests], { env });
    expect(run.code).toBe(3);
    expect(run.stdout).toContain("1 edges: 1 ok, 0 with a signal; inconclusive: 2 not tested (see stderr)");
    expect(run.stderr).toContain("netcanary once: inconclusive: probe api tested nothing: Service shop/api not found");
    expect(run.stderr).toContain("netcanary once: inconclusive: probe web tested nothing: no pod in namespace shop matches app=web");
  });

  it("says why a Service exists and still gives nothing to probe: no such port", async () => {
    const manifests = await file("other-port.yaml", shopManifests(endpoint.port).replace("name: http,", "name: grpc,"));
    const run = await runCli(["once", "--config", await file("port.yaml", probes(endpoint.port)), "--manifests", manifests, "--output", "json"], { env });
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout) as { results: unknown[]; inconclusive: { kind: string; name: string; reason: string }[] };
    expect(report.results).toHaveLength(2);
    expect(report.inconclusive).toEqual([{ kind: "probe", name: "api", reason: `probe api tested nothing: Service shop/api has no TCP port http (its ports: grpc=${endpoint.port}/TCP)` }]);
  });

  it("exits 3 when a pod source stands for no pod on this node", async () => {
    const text = `sources: [{name: labeled}]\nprobes:\n  - {name: from-pods, sources: [labeled], tcp: {ip: 127.0.0.1, port: ${endpoint.port}}}\n`;
    const run = await runCli(["once", "--config", await file("sources.yaml", text), "--manifests", await file("shop2.yaml", shopManifests(endpoint.port))], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("probe from-pods tested nothing: source labeled stands for no pod: no Running pod on node node-a matches netcanary.io/probe=true");
  });

  it("exits 3 when the config has no probe at all", async () => {
    const run = await runCli(["once", "--config", await file("none.yaml", "sources: [{name: self, self: true}]\nprobes: []\n")], { env });
    expect(run.code).toBe(3);
    expect(run.stdout).toContain("0 edges");
    expect(run.stderr).toContain("the config has no probe: nothing was tested");
  });

  it("a signal outranks the gaps: exit 1, the gaps still reported", async () => {
    const closed = await closedPort();
    const text = config(apiProbe).replace(`port: ${endpoint.port}}}`, `port: ${closed}}, expect: allow}`);
    const run = await runCli(["once", "--config", await file("signal.yaml", text), "--manifests", await file("ns.yaml", "kind: Namespace\nmetadata: {name: shop}\n")], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("unexpected_block");
    expect(run.stderr).toContain("probe api tested nothing: Service shop/api not found");
  });
});

function kubeconfig(serverUrl: string): string {
  return `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${serverUrl}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: not-for-your-eyes}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`;
}

describe("netcanary once against a cluster it cannot read", () => {
  it("exits 3 naming the API server and the error when nothing listens there", async () => {
    const port = await closedPort();
    const kc = await file("refused.kubeconfig", kubeconfig(`http://127.0.0.1:${port}`));
    const run = await runCli(["once", "--config", await file("c1.yaml", probes(endpoint.port)), "--kubeconfig", kc, "--sync-timeout", "2"], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      new RegExp(`inconclusive: the cluster state could not be read from http://127\\.0\\.0\\.1:${port} within 2s \\(namespaces, pods on node node-a, [^)]*: fetch failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\): every policy verdict is unknown`),
    );
    // The edge connected, but with no verdict to judge it by its status is unknown: no signal, yet no pass.
    expect(run.stdout).toMatch(/local\s+self\s+127\.0\.0\.1\s+\S+\s+-\s+unknown\s+ok\s+unknown/);
    expect(run.stderr).not.toContain("not-for-your-eyes");
  });

  it("never prints credentials from the server URL, in its message or its logs", async () => {
    const port = await closedPort();
    const kc = await file("userinfo.kubeconfig", kubeconfig(`http://admin:hunter2@127.0.0.1:${port}`));
    const run = await runCli(["once", "--config", await file("c2.yaml", probes(endpoint.port)), "--kubeconfig", kc, "--sync-timeout", "1", "--log-level", "debug"], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`could not be read from http://***@127.0.0.1:${port} within 1s`);
    // The client refuses such a URL; its message repeats the URL, without the password here.
    expect(run.stderr).toContain(`http://***@127.0.0.1:${port}/api/v1/pods`);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/hunter2|admin@/);
  });

  it("exits 3 when the API server holds its answer past --sync-timeout, saying which lists got no answer", async () => {
    server = await KubeApiServer.start();
    server.hold({ resource: "pods" });
    const kc = await file("held.kubeconfig", server.kubeconfigYaml());
    const run = await runCli(["once", "--config", await file("c3.yaml", probes(endpoint.port)), "--kubeconfig", kc, "--sync-timeout", "1"], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`the cluster state could not be read from ${server.url} within 1s (pods on node node-a, pods shop/app=web: no answer): every policy verdict is unknown`);
  });

  it("exits 3 when the API server fails a list, quoting its error", async () => {
    server = await KubeApiServer.start();
    server.failWith({ resource: "services" }, 500, { message: "etcdserver: request timed out" });
    const kc = await file("failing.kubeconfig", server.kubeconfigYaml());
    const run = await runCli(["once", "--config", await file("c4.yaml", probes(endpoint.port)), "--kubeconfig", kc, "--sync-timeout", "1"], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`from ${server.url} within 1s (Service shop/api: GET /api/v1/namespaces/shop/services: 500 etcdserver: request timed out)`);
  });

  it("passes (exit 0) against an API server that answers, with the Service and pod in it (the control)", async () => {
    server = await KubeApiServer.start();
    server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
    server.apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "shop", name: "api" },
      spec: { clusterIP: "127.0.0.1", clusterIPs: ["127.0.0.1"], ports: [{ name: "http", port: endpoint.port, protocol: "TCP", targetPort: endpoint.port }], selector: { app: "api" } },
    });
    server.apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "shop", name: "web-0", labels: { app: "web" } },
      spec: { nodeName: "node-a", containers: [{ name: "web", image: "web" }] },
      status: { phase: "Running", podIP: "127.0.0.1", podIPs: [{ ip: "127.0.0.1" }] },
    });
    const kc = await file("healthy.kubeconfig", server.kubeconfigYaml());
    const run = await runCli(["once", "--config", await file("c5.yaml", probes(endpoint.port)), "--kubeconfig", kc, "--sync-timeout", "10"], { env });
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("3 edges: 3 ok, 0 with a signal");
    expect(run.code).toBe(0);
  });
});

describe("netcanary once --sync-timeout", () => {
  it.each(["-1", "3601", "1e400", "soon"])("refuses %s (0 to 3600 seconds), exit 2", async (value) => {
    const run = await runCli(["once", `--sync-timeout=${value}`], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--sync-timeout must be a number of seconds from 0 to 3600");
  });
});
