// The explicit-proxy form of the path check, in network namespaces. The workload is a labeled
// pod ("client", in a cluster snapshot), probed from inside its namespace by the agent in its
// own pod, as pod sources are. It talks to a gateway that behaves like Zscaler's
// (gateway.<cloud>:80/9400) in a "zscaler" namespace: CONNECT tunnels, TLS inspection with a
// CA named like Zscaler's intermediate, a block page, and plain requests forwarded with
// X-Forwarded-For added. The check page and an HTTPS origin live in a "page" namespace; the
// page, in "auto" mode, says via when the request carries X-Forwarded-For (as the gateway
// adds), else not via. Three edges go through the proxy: an inspected HTTPS target (ok, the
// issuer is Zscaler's), a host the gateway blocks (zscaler_blocked), and the path check (via;
// the gateway forwards the client pod's address). Then the workload bypasses the proxy: the
// path edge's config is reloaded without `proxy`, its request goes straight across the lab
// network from the client pod to the page (an nft counter in the page's pod sees it), which
// says not via: direct, and the unexpected_path signal in /api/v1/results and /metrics. The
// proxy restored, it clears. The gateway, inspector, page and origin are the loopback test
// helpers, run inside their namespaces by a small Node process each (TypeScript loaded with
// Node's own type stripping).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ResultEntry } from "../../agent/daemon/results.js";
import { cliPath } from "../support/cli.js";
import { Lab, LAB_COMMANDS, type LabProcess, mustRun, waitFor } from "../support/lab.js";
import { holdNamespace } from "../support/pod-lab.js";
import { describeWith } from "../support/prerequisites.js";

const AGENT_PORT = 9714;
const NODE_NAME = "lab-node";
/** The labeled client pod's workload, as the results name it. */
const CLIENT = "deployment/client";
const SUPPORT = join(import.meta.dirname, "..", "support");

/**
 * Runs the test helpers in a lab namespace. "page": the check page ("auto") and an HTTPS
 * origin for secure.lab.test, on the pod's address. "zscaler": the TLS inspector and the
 * gateway, on the pod's address, mapping ip.zscaler.com and secure.lab.test to the page's pod
 * and blocking blocked.lab.test. Prints one JSON line when listening; SIGTERM or the end of
 * stdin closes everything (the inspector's CA keys with it). The support files import each
 * other as ".js": a resolve hook maps those to their ".ts" files.
 */
const HELPER = `
import { registerHooks } from "node:module";
registerHooks({
  resolve(specifier, context, next) {
    try { return next(specifier, context); } catch (error) {
      if (specifier.startsWith(".") && specifier.endsWith(".js")) return next(specifier.slice(0, -3) + ".ts", context);
      throw error;
    }
  },
});
const [support, role, host, ...rest] = process.argv.slice(1);
const load = (name) => import(support + "/" + name + ".ts");
const closers = [];
let closing;
const close = () => {
  closing ??= (async () => { for (const closer of closers.reverse()) await closer().catch(() => undefined); process.exit(0); })();
};
process.on("SIGTERM", close);
process.stdin.on("end", close);
process.stdin.resume();
if (role === "page") {
  const { CheckPageServer } = await load("check-page-server");
  const { startHttpOrigin } = await load("http-origin");
  const { createTestCa, PUBLIC_LIKE_CA_SUBJECT } = await load("test-ca");
  const page = await CheckPageServer.start("auto", host);
  closers.push(() => page.close());
  const ca = await createTestCa(PUBLIC_LIKE_CA_SUBJECT);
  closers.push(() => ca.close());
  const origin = await startHttpOrigin({ host, tls: await ca.issue("secure.lab.test") });
  closers.push(() => origin.close());
  process.stdout.write(JSON.stringify({ page: page.listenPort, origin: origin.port }) + "\\n");
  setInterval(() => {
    for (const request of page.requests.splice(0)) process.stdout.write("page " + request.served + " xff=" + (request.headers["x-forwarded-for"] ?? "none") + "\\n");
  }, 100);
} else {
  const [pageHost, pagePort, originPort] = rest;
  const { TlsInspector } = await load("tls-inspector");
  const { ZscalerGateway } = await load("zscaler-gateway");
  const origin = { host: pageHost, port: Number(originPort) };
  const inspector = await TlsInspector.start({ host, upstream: (sni) => (sni === "secure.lab.test" ? origin : undefined) });
  closers.push(() => inspector.close());
  const gateway = await ZscalerGateway.start({
    host,
    upstreams: { "ip.zscaler.com": { host: pageHost, port: Number(pagePort) }, "secure.lab.test": origin },
    blocked: ["blocked.lab.test"],
    inspect: { inspector, hosts: ["secure.lab.test"] },
  });
  closers.push(() => gateway.close());
  process.stdout.write(JSON.stringify({ port: gateway.listenPort, caPem: inspector.caPem }) + "\\n");
  setInterval(() => {
    while (gateway.requests.length > 0 && gateway.requests[0].outcome !== "") {
      const request = gateway.requests.shift();
      process.stdout.write("gateway " + request.kind + " " + request.target + " " + request.outcome + "\\n");
    }
  }, 100);
}
`;

function startHelper(lab: Lab, where: { netns: string }, args: readonly string[], name: string): LabProcess {
  return lab.startProcess(where, process.execPath, ["--experimental-transform-types", "--no-warnings", "--input-type=module", "-e", HELPER, SUPPORT, ...args], { name });
}

async function firstJsonLine<T>(helper: LabProcess): Promise<T> {
  const output = await helper.waitForOutput(/^\{.*\}$/m, 20_000);
  return JSON.parse(/^(\{.*\})$/m.exec(output)?.[1] ?? "") as T;
}

/** A PEM as a YAML block scalar at the given indent. */
function blockScalar(pem: string, indent: string): string {
  return `|\n${pem.trim().split("\n").map((line) => indent + line).join("\n")}`;
}

describeWith({ root: true, commands: [...LAB_COMMANDS, "openssl", "nsenter", "nft"] }, "the path check through an explicit Zscaler-like proxy in the lab", () => {
  let lab: Lab;
  let agent: LabProcess;
  let gateway: LabProcess;
  let page: LabProcess;
  let at: { agent: string; client: string; zscaler: string; page: string };
  let proxy: string;
  let config: string;
  let pagePort: number;
  /** The inspector's CA: what the inspected edge trusts. */
  let caPem: string;

  async function results(): Promise<ResultEntry[]> {
    const answer = await lab.httpGet(lab.pod("agent"), `http://${at.agent}:${AGENT_PORT}/api/v1/results`);
    if (answer.status !== 200) return [];
    return (JSON.parse(answer.body) as { results: ResultEntry[] }).results;
  }

  /** /metrics once it matches every pattern and none of the absent ones: the exposition is rebuilt after a change, not at it. */
  async function metricsMatching(what: string, patterns: readonly RegExp[], absent: readonly RegExp[] = []): Promise<string> {
    return waitFor(
      what,
      async () => {
        const { body } = await lab.httpGet(lab.pod("agent"), `http://${at.agent}:${AGENT_PORT}/metrics`);
        return patterns.every((pattern) => pattern.test(body)) && !absent.some((pattern) => pattern.test(body)) ? body : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
  }

  /** Packets the page's pod received straight from the client pod (its nft counter). */
  async function directPackets(): Promise<number> {
    const listed = await mustRun(["ip", "netns", "exec", lab.pod("page").netns, "nft", "list", "table", "inet", "seen"]);
    return Number(/counter packets (\d+)/.exec(listed.stdout)?.[1] ?? Number.NaN);
  }

  async function edge(probe: string, what: string, check: (result: ResultEntry) => boolean): Promise<ResultEntry> {
    return waitFor(
      what,
      async () => {
        if (!agent.running) throw new Error(`the agent exited:\n${agent.output().slice(-3000)}`);
        const found = (await results()).find((result) => result.probe === probe && result.sourceWorkload === CLIENT);
        return found !== undefined && check(found) ? found : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
  }

  /**
   * The agent's config: the path edge through the proxy, or (bypass) straight to the page. The
   * feeds' baseUrl points into the lab (the page pod has no feed: the city stays unknown), so
   * the agent never looks outside it.
   */
  function writeConfig(bypass: boolean): void {
    const egress = bypass
      ? `{zscalerPath: {expect: via, page: "http://${at.page}:${pagePort}/"}}`
      : `{zscalerPath: {expect: via, page: "http://ip.zscaler.com/"}, proxy: "${proxy}"}`;
    writeFileSync(
      config,
      `defaults: {interval: 1s, timeout: 900ms, failureThreshold: 2, successThreshold: 1}
zscaler: {clouds: [zscaler.net], baseUrl: "http://${at.page}:${pagePort}/api", feeds: [cenr], audit: false}
sources: [{name: shop-probes, namespaceSelector: {matchLabels: {team: shop}}}]
probes:
  - name: inspected
    sources: [shop-probes]
    http:
      url: "https://secure.lab.test/"
      proxy: "${proxy}"
      tls:
        expectIssuer: zscaler
        caPem: ${blockScalar(caPem, "          ")}
  - {name: blocked, sources: [shop-probes], http: {url: "https://blocked.lab.test/", proxy: "${proxy}"}}
  - {name: egress, sources: [shop-probes], http: ${egress}}
`,
    );
  }

  beforeAll(async () => {
    lab = await Lab.create((addresses) => ({
      pods: [
        { name: "agent", ip: addresses.ip(2) },
        { name: "client", ip: addresses.ip(10) },
        { name: "zscaler", ip: addresses.ip(50) },
        { name: "page", ip: addresses.ip(30) },
      ],
    }));
    at = { agent: lab.pod("agent").ip, client: lab.pod("client").ip, zscaler: lab.pod("zscaler").ip, page: lab.pod("page").ip };

    page = startHelper(lab, lab.pod("page"), ["page", at.page], "check page and origin");
    const pagePorts = await firstJsonLine<{ page: number; origin: number }>(page);
    pagePort = pagePorts.page;
    // Counts what reaches the page's pod from the client pod itself (not through the gateway).
    await lab.nft(lab.pod("page"), `table inet seen {\n  chain input {\n    type filter hook input priority 0;\n    ip saddr ${at.client} tcp dport ${pagePort} counter\n  }\n}\n`);
    gateway = startHelper(lab, lab.pod("zscaler"), ["zscaler", at.zscaler, at.page, String(pagePorts.page), String(pagePorts.origin)], "zscaler gateway");
    const started = await firstJsonLine<{ port: number; caPem: string }>(gateway);
    proxy = `http://${at.zscaler}:${started.port}`;

    config = join(lab.dir, "netcanary.yaml");
    caPem = started.caPem;
    writeConfig(false);
    // The cluster: one labeled client pod (its namespace held by a process in its cgroup, as
    // a container holds it) and the agent's own pod; no NetworkPolicy, so every edge is allowed.
    await holdNamespace(lab, lab.pod("client"));
    const cluster = join(lab.dir, "cluster.yaml");
    writeFileSync(
      cluster,
      `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop, kubernetes.io/metadata.name: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: netcanary, labels: {kubernetes.io/metadata.name: netcanary}}
---
apiVersion: v1
kind: Pod
metadata:
  name: netcanary-x7k2p
  namespace: netcanary
  uid: ${lab.pod("agent").uid}
  labels: {app.kubernetes.io/name: netcanary}
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: netcanary, uid: netcanary-owner, controller: true}]
spec: {nodeName: ${NODE_NAME}, containers: [{name: main, image: lab}]}
status: {phase: Running, podIP: ${at.agent}, podIPs: [{ip: ${at.agent}}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: client-7d9f8c6b5-x2x9q
  namespace: shop
  uid: ${lab.pod("client").uid}
  labels: {app: client, netcanary.io/probe: "true", pod-template-hash: 7d9f8c6b5}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: client-7d9f8c6b5, uid: client-owner, controller: true}]
spec: {nodeName: ${NODE_NAME}, containers: [{name: main, image: lab}]}
status: {phase: Running, podIP: ${at.client}, podIPs: [{ip: ${at.client}}]}
`,
    );
    agent = lab.startProcess(lab.pod("agent"), process.execPath, [cliPath, "agent", "--config", config, "--manifests", cluster, "--listen", `${at.agent}:${AGENT_PORT}`, "--log-level", "info"], {
      name: "netcanary agent",
      env: { NODE_NAME, POD_NAMESPACE: "netcanary", POD_NAME: "netcanary-x7k2p", POD_IP: at.agent },
    });
  }, 60_000);

  afterAll(async () => {
    await lab?.teardown();
  }, 30_000);

  it("through the proxy an inspected target is ok with Zscaler's issuer, a blocked host is zscaler_blocked and the path is via; bypassing the proxy raises unexpected_path, restoring it clears it", async () => {
    // (1) HTTPS through the proxy: CONNECT, terminated by the inspector; the issuer is Zscaler's.
    const inspected = await edge("inspected", "the inspected edge ok", (r) => r.status === "ok");
    expect(inspected).toMatchObject({ source: "shop-probes", sourceNamespace: "shop", sourceNode: NODE_NAME, status: "ok", target: "secure.lab.test", targetKind: "host", port: Number(new URL(proxy).port), address: at.zscaler, observed: { reason: "ok" } });
    await gateway.waitForOutput(/^gateway connect secure\.lab\.test:443 inspect$/m);

    // (2) A host the gateway blocks: its block page in answer to CONNECT.
    const blocked = await edge("blocked", "the blocked edge raised", (r) => r.status === "unexpected_block");
    expect(blocked.observed).toMatchObject({ reason: "zscaler_blocked", detail: "Zscaler block page in answer to CONNECT (status 403)" });
    expect(blocked.status).toBe("unexpected_block");
    await gateway.waitForOutput(/^gateway connect blocked\.lab\.test:443 blocked$/m);

    // (3) The path check through the proxy: forwarded with X-Forwarded-For, the page says via.
    const via = await edge("egress", "the via page through the proxy", (r) => r.status === "ok" && r.path?.observed?.path === "via");
    expect(via).toMatchObject({ target: "ip.zscaler.com", address: at.zscaler, path: { expect: "via", raised: false, observed: { path: "via", cloud: "zscaler.net" } } });
    await gateway.waitForOutput(/^gateway forward http:\/\/ip\.zscaler\.com\/ forwarded$/m);
    await page.waitForOutput(new RegExp(`^page via xff=${at.client.replaceAll(".", "\\.")}$`, "m"));
    await metricsMatching("no path signal in /metrics", [/netcanary_probe_mismatch\{[^}]*probe="egress"[^}]*kind="unexpected_path"\} 0/]);
    expect(await directPackets()).toBe(0);

    // The workload bypasses the proxy: straight across the lab network to the page, not via.
    writeConfig(true);
    const direct = await edge("egress", "the unexpected_path signal", (r) => r.status === "unexpected_path");
    expect(direct).toMatchObject({ target: at.page, address: at.page, signals: ["unexpected_path"], observed: { reason: "ok" } });
    expect(direct.path).toMatchObject({ expect: "via", raised: true, observed: { path: "direct", cloud: "", city: "" } });
    await page.waitForOutput(/^page not_via xff=none$/m);
    expect(await directPackets()).toBeGreaterThan(0);
    await metricsMatching("the path signal in /metrics", [
      new RegExp(`netcanary_probe_mismatch\\{[^}]*probe="egress"[^}]*target="${at.page}"[^}]*kind="unexpected_path"\\} 1`),
      /netcanary_zscaler_path\{[^}]*probe="egress"[^}]*expect="via",path="direct",cloud="",city=""\} 1/,
    ]);
    expect(agent.output()).toMatch(/edge egress from shop-probes.*: ok -> unexpected_path/);

    // The proxy restored: via again, the signal cleared.
    writeConfig(false);
    const restored = await edge("egress", "the signal cleared", (r) => r.target === "ip.zscaler.com" && r.status === "ok");
    expect(restored.signals).toEqual([]);
    expect(restored.path).toMatchObject({ raised: false, observed: { path: "via" } });
    await metricsMatching("the path signal cleared in /metrics", [/netcanary_zscaler_path\{[^}]*probe="egress"[^}]*path="via"[^}]*\} 1/], [/netcanary_probe_mismatch\{[^}]*kind="unexpected_path"\} 1/]);
  }, 90_000);
});
