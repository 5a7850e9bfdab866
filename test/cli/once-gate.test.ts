// `netcanary once` as a pipeline gate: a run that tested nothing, in part or in full, must not
// pass. The compiled CLI against real manifests, a closed loopback port, a loopback DNS server
// (NXDOMAIN for a misspelt name) and the wire-true API test server (that answers, holds its
// lists, or fails them).

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { acceptingEndpoint, closedPort, type Endpoint } from "../support/listeners.js";

let dir: string;
let endpoint: Endpoint;
let server: KubeApiServer | undefined;
let dnsServer: TestDnsServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-once-gate-"));
  endpoint = await acceptingEndpoint();
  // Every name it is asked for is unknown to it: NXDOMAIN.
  dnsServer = await startDnsServer();
});
afterAll(async () => {
  await Promise.all([endpoint.close(), dnsServer.close()]);
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
    expect(run.stderr).toContain("probe from-pods tested nothing: source labeled matches no pod in the cluster (netcanary.io/probe=true)");
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

/** A labeled pod on this node whose address no network namespace on the machine holds: it cannot be entered. */
const UNENTERABLE_POD = `apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {netcanary.io/probe: "true"}}
spec: {nodeName: node-a, containers: [{name: web}]}
status: {phase: Running, podIP: 10.231.255.77, podIPs: [{ip: 10.231.255.77}]}
`;

/** A NetworkPolicy somewhere: with one, the verdict of an address that is not known is unknown. */
const SOME_POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;

/** The CLI with the loopback DNS server as this machine's resolver (what /etc/resolv.conf says for a real run). */
function resolvingThrough(dns: TestDnsServer): NodeJS.ProcessEnv {
  const script = `import dns from "node:dns"; dns.setServers(["${dns.address}"]);`;
  return { ...env, NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(script)}` };
}

describe("netcanary once: edges whose sample tested nothing", () => {
  const denyEgress = `---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: no-egress, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Egress]}\n`;

  it.each([
    ["no expect, policy allows", "", "", "allow"],
    ["expect: allow, policy allows", ", expect: allow", "", "allow"],
    ["expect: deny, policy denies", ", expect: deny", denyEgress, "deny"],
  ])("exits 3 when the source pod cannot be entered (%s): the edge's agent_error and its detail on a line of its own", async (_, expectation, policy, verdict) => {
    const text = `sources: [{name: labeled}]\nprobes:\n  - {name: from-pod, sources: [labeled], tcp: {ip: 127.0.0.1, port: ${endpoint.port}}${expectation}}\n`;
    const run = await runCli(["once", "--config", await file("unenterable.yaml", text), "--manifests", await file("unenterable-pod.yaml", UNENTERABLE_POD + policy)], { env });
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(new RegExp(`from-pod\\s+labeled\\s+127\\.0\\.0\\.1\\s+\\S+\\s+\\S+\\s+${verdict}\\s+agent_error\\s+pending`));
    expect(run.stdout).toContain("1 edges: 0 ok, 0 with a signal; inconclusive: 1 not tested (see stderr)");
    expect(run.stderr).toContain(
      `netcanary once: inconclusive: probe from-pod from labeled (shop/pod/web-0) to 127.0.0.1:${endpoint.port}/TCP tested nothing: agent_error: cannot enter the network namespace of shop/web-0`,
    );
  });

  it("exits 3 for a misspelt host name with no expect: no verdict to judge it by, said with what was observed", async () => {
    const text = "sources: [{name: self, self: true}]\nprobes:\n  - {name: typo, sources: [self], tcp: {host: api.payments.exmaple.test, port: 443}}\n";
    const run = await runCli(["once", "--config", await file("typo.yaml", text), "--manifests", await file("typo-cluster.yaml", SOME_POLICY)], { env: resolvingThrough(dnsServer) });
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/typo\s+self\s+api\.payments\.exmaple\.test\s+443\/TCP\s+-\s+unknown\s+dns_nxdomain\s+unknown/);
    expect(run.stderr).toContain(
      "netcanary once: inconclusive: probe typo from self to api.payments.exmaple.test:443/TCP tested nothing: its policy verdict is unknown and the probe declares no expect; observed dns_nxdomain",
    );
    expect(run.stderr).toContain("; policy: the target's address is not known yet (its name has not resolved)");
  });

  it("exits 3 for a misspelt host name expected to be denied: no connection was tried, so the deny is not shown", async () => {
    const text = "sources: [{name: self, self: true}]\nprobes:\n  - {name: typo, sources: [self], tcp: {host: api.payments.exmaple.test, port: 443}, expect: deny}\n";
    const run = await runCli(["once", "--config", await file("typo-deny.yaml", text), "--manifests", await file("typo-cluster2.yaml", SOME_POLICY)], { env: resolvingThrough(dnsServer) });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(
      "netcanary once: inconclusive: probe typo from self to api.payments.exmaple.test:443/TCP tested nothing: expected deny, but its name did not resolve (dns_nxdomain",
    );
    expect(run.stderr).toContain("), so no connection was tried");
  });

  it("a misspelt host name expected to be reached is a signal, which outranks: exit 1", async () => {
    const text = "sources: [{name: self, self: true}]\nprobes:\n  - {name: typo, sources: [self], tcp: {host: api.payments.exmaple.test, port: 443}, expect: allow}\n";
    const run = await runCli(["once", "--config", await file("typo-allow.yaml", text), "--manifests", await file("typo-cluster3.yaml", SOME_POLICY)], { env: resolvingThrough(dnsServer) });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/typo\s+self\s+api\.payments\.exmaple\.test\s+443\/TCP\s+allow\s+unknown\s+dns_nxdomain\s+unexpected_block/);
  });
});

describe("netcanary once: sources and edges a probe leaves out", () => {
  const sources = (selector: string) =>
    `sources:\n  - {name: self, self: true}\n  - {name: shop, namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}, podSelector: {matchLabels: {${selector}}}}\n`;
  const loopProbe = () => `probes:\n  - {name: loop, sources: [self, shop], tcp: {ip: 127.0.0.1, port: ${endpoint.port}}}\n`;
  const checkoutElsewhere = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: checkout-0, namespace: shop, labels: {app: checkout}}
spec: {nodeName: node-b, containers: [{name: c}]}
status: {phase: Running, podIP: 10.231.255.78, podIPs: [{ip: 10.231.255.78}]}
`;

  it("exits 3 when one of a probe's sources matches no pod in the whole cluster, though the other source's edge passed", async () => {
    const config = await file("typo-source.yaml", sources("app: chekout") + loopProbe());
    const run = await runCli(["once", "--config", config, "--manifests", await file("checkout.yaml", checkoutElsewhere)], { env });
    expect(run.code).toBe(3);
    expect(run.stdout).toContain("1 edges: 1 ok, 0 with a signal; inconclusive: 1 not tested (see stderr)");
    expect(run.stderr.trim()).toBe(
      "netcanary once: inconclusive: probe loop tested in part: source shop matches no pod in the cluster (app=chekout in namespaces kubernetes.io/metadata.name=shop): nothing was probed from it",
    );
  });

  it("passes when that source's pods run on another node: they are that node's to probe from (the control)", async () => {
    const config = await file("elsewhere-source.yaml", sources("app: checkout") + loopProbe());
    const run = await runCli(["once", "--config", config, "--manifests", await file("checkout2.yaml", checkoutElsewhere)], { env });
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("1 edges: 1 ok, 0 with a signal");
    expect(run.code).toBe(0);
  });

  it("a probe whose only source has its pods on another node tested nothing here: exit 3, saying where they are", async () => {
    const config = await file("elsewhere-only.yaml", `${sources("app: checkout")}probes:\n  - {name: from-shop, sources: [shop], tcp: {ip: 127.0.0.1, port: ${endpoint.port}}}\n`);
    const run = await runCli(["once", "--config", config, "--manifests", await file("checkout3.yaml", checkoutElsewhere)], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(
      "probe from-shop tested nothing: source shop stands for no pod: no Running pod on node node-a matches app=checkout in namespaces kubernetes.io/metadata.name=shop; 1 pod on other nodes does (a run probes only from the pods of its own node)",
    );
  });

  it("exits 3 when some of a probe's edges lie beyond agent.maxEdges", async () => {
    const twoPods = [0, 1]
      .map((i) => `apiVersion: v1\nkind: Pod\nmetadata: {name: web-${i}, namespace: shop, labels: {app: web}}\nspec: {nodeName: node-b, containers: [{name: web}]}\nstatus: {phase: Running, podIP: 127.0.0.1, podIPs: [{ip: 127.0.0.1}]}\n`)
      .join("---\n");
    const text = `agent: {maxEdges: 1}\nsources: [{name: self, self: true}]\nprobes:\n  - {name: web, sources: [self], tcp: {pods: {namespace: shop, selector: {app: web}}, port: ${endpoint.port}}}\n`;
    const run = await runCli(["once", "--config", await file("budget.yaml", text), "--manifests", await file("two-pods.yaml", twoPods)], { env });
    expect(run.code).toBe(3);
    expect(run.stdout).toContain("1 edges: 1 ok, 0 with a signal");
    expect(run.stderr.trim()).toBe("netcanary once: inconclusive: probe web tested in part: 1 of its 2 edges lie beyond agent.maxEdges (1): not probed");
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
