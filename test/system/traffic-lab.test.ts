// The traffic map in the lab: "pods" (network namespaces whose processes run in their pod's
// cgroup) really connect to each other, to a Service's cluster IP, to a "Zscaler" address
// inside the published ranges of a feed the agent fetches, and to a partner's address in a
// configured range; the agent, run as the pod-mode DaemonSet runs it (root with only
// CAP_SYS_ADMIN and CAP_SYS_PTRACE), reads the pods' socket tables through /proc and
// /api/v1/flows shows each flow with the right names, both ends of the in-cluster ones, and
// its coverage; /metrics counts flows by workload and peer kind, never by address. The map as
// served goes to `netcanary advise`, and what it prints is enforced by nftables in the pods
// (support/policy-nft.ts, written apart from netcanary's engine): every observed connection made
// again works, connections never observed are blocked.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FlowMap, ObservedFlow } from "../../agent/traffic/flow.js";
import { cliPath, runCli } from "../support/cli.js";
import { samplesOf, parseSamples } from "../support/exposition.js";
import { Lab, LAB_COMMANDS, type LabProcess, waitFor } from "../support/lab.js";
import { attemptFrom, type ConnectKind } from "../support/lab-connect.js";
import { type NftPod, type PolicyObject, podRuleset } from "../support/policy-nft.js";
import { labFeeds, podLabAddresses } from "../support/pod-lab.js";
import { describeWith } from "../support/prerequisites.js";

const NODE = "lab-node";
const PORT = 9714;
const FEED_PORT = 8081;

/** Accepts on host:ports and keeps every connection open (a server whose clients stay connected); "udp:port" binds a UDP socket that echoes each datagram. */
const HOLDING_SERVER = `
const net = require("node:net");
const dgram = require("node:dgram");
const [host, ...ports] = process.argv.slice(1);
let pending = ports.length;
const held = [];
for (const port of ports) {
  if (port.startsWith("udp:")) {
    const socket = dgram.createSocket("udp4");
    socket.on("message", (message, from) => socket.send(message, from.port, from.address));
    socket.bind(Number(port.slice(4)), host, () => { if (--pending === 0) process.stdout.write("listening\\n"); });
    held.push(socket);
    continue;
  }
  net.createServer((socket) => { held.push(socket); socket.on("error", () => undefined); })
    .on("error", (error) => { process.stderr.write(String(error) + "\\n"); process.exit(1); })
    .listen(Number(port), host, () => { if (--pending === 0) process.stdout.write("listening\\n"); });
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/**
 * Connects to each host:port and keeps the connections open, printing "connected <target>";
 * "once:host:port" closes at once (this side first: TIME_WAIT), "udp:host:port" is a UDP
 * socket connect()ed to the peer, sending one datagram.
 */
const HOLDING_CLIENT = `
const net = require("node:net");
const dgram = require("node:dgram");
const held = [];
for (const target of process.argv.slice(1)) {
  const [kind, address] = target.startsWith("once:") || target.startsWith("udp:") ? [target.slice(0, target.indexOf(":")), target.slice(target.indexOf(":") + 1)] : ["hold", target];
  const at = address.lastIndexOf(":");
  const host = address.slice(0, at);
  const port = Number(address.slice(at + 1));
  if (kind === "udp") {
    const socket = dgram.createSocket("udp4");
    socket.connect(port, host, () => socket.send("hello", () => process.stdout.write("connected " + target + "\\n")));
    held.push(socket);
    continue;
  }
  const socket = net.connect({ host, port }, () => {
    process.stdout.write("connected " + target + "\\n");
    if (kind === "once") socket.end();
  });
  socket.on("error", (error) => process.stdout.write("failed " + target + " " + error.message + "\\n"));
  held.push(socket);
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

const FEED_SERVER = `
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const [host, port, dir] = process.argv.slice(1);
const files = { "/api/zscaler.net/cenr/json": "cenr.json", "/api/zscaler.net/future/json": "future.json", "/api/zscaler.net/hubs/cidr/json/recommended": "hubs-recommended.json" };
http.createServer((request, response) => {
  const file = files[(request.url || "").split("?")[0]];
  if (!file) { response.writeHead(404); response.end(); return; }
  response.writeHead(200, { "content-type": "application/json" });
  response.end(fs.readFileSync(path.join(dir, file)));
}).listen(Number(port), host, () => process.stdout.write("listening\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

function podManifest(name: string, uid: string, ip: string, labels: Record<string, string>, owner: { kind: string; name: string }, namespace = "shop"): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${namespace}
  uid: ${uid}
  labels: ${JSON.stringify(labels)}
  ownerReferences: [{apiVersion: apps/v1, kind: ${owner.kind}, name: ${owner.name}, uid: ${name}-owner, controller: true}]
spec:
  nodeName: ${NODE}
  containers: [{name: main, image: lab}]
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;
}

describeWith({ root: true, commands: [...LAB_COMMANDS, "nsenter", "setpriv", "nft"] }, "the traffic map in the lab", () => {
  let lab: Lab;
  let agent: LabProcess;
  let at: ReturnType<typeof podLabAddresses>;
  let service: string;
  let partner: string;
  let partnerRange: string;

  beforeAll(async () => {
    lab = await Lab.create((addresses) => {
      const a = podLabAddresses(addresses);
      const svc = addresses.ip(96);
      const outside = addresses.testNet3.at(5);
      return {
        pods: [
          { name: "agent", ip: a.agent },
          {
            name: "client",
            ip: a.client,
            routes: [
              { to: a.cityI, via: a.zscaler },
              { to: addresses.testNet3.cidr, via: a.zscaler },
            ],
          },
          { name: "web", ip: a.web, addresses: [svc] },
          { name: "zscaler", ip: a.zscaler, addresses: [a.gateway, outside] },
        ],
      };
    });
    try {
      at = podLabAddresses(lab.addresses);
      service = lab.addresses.ip(96);
      partner = lab.addresses.testNet3.at(5);
      partnerRange = lab.addresses.testNet3.cidr;
      const feedDir = join(lab.dir, "feeds");
      mkdirSync(feedDir);
      for (const [file, text] of Object.entries(labFeeds(at))) writeFileSync(join(feedDir, file), text);
      const start = (pod: string, script: string, args: string[], name: string) => lab.startProcess(lab.pod(pod), process.execPath, ["-e", script, ...args], { name });
      await start("zscaler", FEED_SERVER, [at.zscaler, String(FEED_PORT), feedDir], "zscaler feeds").waitForOutput(/^listening$/m);
      await start("zscaler", HOLDING_SERVER, ["0.0.0.0", "443", "8443"], "zscaler and partner 443, 8443").waitForOutput(/^listening$/m);
      await start("web", HOLDING_SERVER, ["0.0.0.0", "8080", "80", "9090", "udp:5353"], "web").waitForOutput(/^listening$/m);

      mkdirSync(join(lab.dir, "agent"));
      const clusterFile = join(lab.dir, "agent", "cluster.yaml");
      const configFile = join(lab.dir, "agent", "netcanary.yaml");
      writeFileSync(
        clusterFile,
        [
          "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: shop}}\n",
          "apiVersion: v1\nkind: Namespace\nmetadata: {name: netcanary}\n",
          podManifest("netcanary-x7k2p", lab.pod("agent").uid, at.agent, { app: "netcanary" }, { kind: "DaemonSet", name: "netcanary" }, "netcanary"),
          podManifest("client-7d9f8c6b5-x2x9q", lab.pod("client").uid, at.client, { app: "client", "pod-template-hash": "7d9f8c6b5" }, { kind: "ReplicaSet", name: "client-7d9f8c6b5" }),
          podManifest("web-0", lab.pod("web").uid, at.web, { app: "web", "statefulset.kubernetes.io/pod-name": "web-0" }, { kind: "StatefulSet", name: "web" }),
          `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: ${service}, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n`,
        ].join("---\n"),
      );
      writeFileSync(
        configFile,
        `zscaler:
  clouds: [zscaler.net]
  baseUrl: http://${at.zscaler}:${FEED_PORT}/api
  feeds: [cenr, future, hubs-recommended]
  audit: false
traffic:
  enabled: true
  pods: {namespaces: [shop]}
  interval: 1s
  ranges: [{name: partner, cidr: ${partnerRange}}]
  staged: ${join(lab.dir, "agent", "staged")}
sources: [{name: self, self: true}]
probes: []
`,
      );
      // Staged, never applied: the client may reach web's pods on TCP 8080 only.
      mkdirSync(join(lab.dir, "agent", "staged"));
      writeFileSync(
        join(lab.dir, "agent", "staged", "client-egress.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: client-egress, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress: [{to: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 8080}]}]\n",
      );
      // The connections the map must show, held open by a process in the client pod's cgroup.
      const targets = [`${at.web}:8080`, `${service}:80`, `${at.gateway}:443`, `${partner}:443`, `once:${partner}:8443`, `udp:${at.web}:5353`];
      const client = start("client", HOLDING_CLIENT, targets, "client connections");
      await waitFor("the client's connections", () => ((client.output().match(/^connected /gm) ?? []).length === targets.length ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 }).catch((error: unknown) => {
        throw new Error(`${String(error)}: ${client.output()}`);
      });
      agent = lab.startProcess(
        lab.pod("agent"),
        "setpriv",
        ["--no-new-privs", "--bounding-set=-all,+sys_admin,+sys_ptrace", "--inh-caps=-all", process.execPath, cliPath, "agent", "--config", configFile, "--manifests", clusterFile, "--listen", `${at.agent}:${PORT}`],
        { name: "netcanary agent", env: { NODE_NAME: NODE, POD_NAMESPACE: "netcanary", POD_NAME: "netcanary-x7k2p", POD_IP: at.agent } },
      );
    } catch (error) {
      await lab.teardown();
      throw error;
    }
  }, 60_000);

  afterAll(async () => {
    await lab?.teardown();
  }, 30_000);

  const get = (path: string) => lab.httpGet(lab.pod("agent"), `http://${at.agent}:${PORT}${path}`, 5000);
  const describeFlow = (flow: ObservedFlow) => {
    const peer = flow.peer;
    const named =
      peer.kind === "workload"
        ? `${peer.workload.namespace}/${peer.workload.kind}/${peer.workload.name}`
        : peer.kind === "service"
          ? `service ${peer.namespace}/${peer.name}`
          : peer.kind === "zscaler"
            ? `zscaler ${peer.cloud} ${peer.city ?? "-"} ${peer.range}`
            : peer.kind === "external"
              ? `external ${peer.name ?? "-"} ${peer.range}`
              : `${peer.kind} ${JSON.stringify(peer)}`;
    return `${flow.local.namespace}/${flow.local.kind}/${flow.local.name} ${flow.direction} ${flow.protocol} ${flow.port} ${named}`;
  };

  it("shows every connection the pods hold, both ends of the in-cluster ones, each peer by its name", async () => {
    let last: FlowMap | undefined;
    const expected = [
      `shop/deployment/client outbound TCP 8080 shop/statefulset/web`,
      `shop/deployment/client outbound TCP 80 service shop/web`,
      `shop/deployment/client outbound TCP 443 zscaler zscaler.net Lab City I ${at.cityI}`,
      `shop/deployment/client outbound TCP 443 external partner ${partnerRange}`,
      // Closed by the client before the agent started: still seen, in TIME_WAIT.
      `shop/deployment/client outbound TCP 8443 external partner ${partnerRange}`,
      // A connected UDP socket is seen on the client's side; the server's unconnected one has no peer to show.
      `shop/deployment/client outbound UDP 5353 shop/statefulset/web`,
      `shop/statefulset/web inbound TCP 8080 shop/deployment/client`,
      // Accepted on the Service's address (no dataplane translates it in the lab).
      `shop/statefulset/web inbound TCP 80 shop/deployment/client`,
    ].sort();
    await waitFor(
      "the map to show every flow",
      async () => {
        const response = await get("/api/v1/flows");
        if (!agent.running) throw new Error(`the agent exited:\n${agent.output().slice(-3000)}`);
        if (response.status !== 200) return undefined;
        last = JSON.parse(response.body) as FlowMap;
        return JSON.stringify(last.flows.map(describeFlow).sort()) === JSON.stringify(expected) ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nlast map: ${JSON.stringify(last?.flows.map(describeFlow), null, 1)}\ncoverage: ${JSON.stringify(last?.coverage)}\nagent:\n${agent.output().slice(-3000)}`);
    });
    const map = last as FlowMap;
    expect(map).toMatchObject({ apiVersion: "netcanary/v1", kind: "FlowMap", node: NODE });
    expect(map.coverage).toMatchObject({ podsSelected: 2, podsObserved: 2, missed: [], droppedFlows: 0 });
    const toWeb = map.flows.find((flow) => flow.direction === "outbound" && flow.port === 8080);
    expect(toWeb).toMatchObject({ localAddresses: [at.client], remoteAddresses: [at.web], evidence: ["socket-table"] });
    // Per-pod labels are not the workload's.
    expect(toWeb?.local.labels).toEqual({ app: "client" });
    expect(map.flows.find((flow) => flow.direction === "inbound" && flow.port === 8080)?.local.labels).toEqual({ app: "web" });
    expect(map.namespaces).toEqual([{ name: "shop", labels: { team: "shop", "kubernetes.io/metadata.name": "shop" } }]);

    // Held connections (and the one in TIME_WAIT, for 60 s) are seen sample after sample.
    await waitFor("a second observation", async () => {
      const again = JSON.parse((await get("/api/v1/flows")).body) as FlowMap;
      return again.flows.every((flow) => flow.observations >= 2) ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 500 });

    const text = (await get("/metrics")).body;
    const samples = parseSamples(text);
    // The map judged (no NetworkPolicy in this lab: every flow allowed), by client and server, never an address.
    const flows = (client: string, server: string, direction: string) => samplesOf(samples, "netcanary_traffic_flows", { client, server, direction, verdict: "allow" })[0]?.value;
    expect([
      flows("deployment/shop/client", "statefulset/shop/web", "outbound"),
      flows("deployment/shop/client", "service/shop/web", "outbound"),
      flows("deployment/shop/client", "zscaler/zscaler.net/Lab City I", "outbound"),
      flows("deployment/shop/client", "external/partner", "outbound"),
      flows("deployment/shop/client", "statefulset/shop/web", "inbound"),
    ]).toEqual([2, 1, 1, 2, 2]);
    expect(samplesOf(samples, "netcanary_traffic_pods", { state: "observed" })[0]?.value).toBe(2);
    expect(samplesOf(samples, "netcanary_traffic_flows_dropped_total")[0]?.value).toBe(0);
    for (const address of [at.client, at.web, service, at.gateway, partner]) expect(text).not.toContain(address);

    // The map as served is a recorded map: netcanary map reads it back and judges every flow
    // (with the cluster's objects, which say which pods stand behind the Service).
    const recorded = join(lab.dir, "node-map.json");
    writeFileSync(recorded, (await get("/api/v1/flows")).body);
    const judged = await runCli(["map", recorded, "--manifests", join(lab.dir, "agent", "cluster.yaml"), "--output", "json"], { timeoutMs: 30_000 });
    expect(judged.code, judged.stderr).toBe(0);
    const report = JSON.parse(judged.stdout) as { flows: unknown[]; summary: { flows: number; allowed: number } };
    expect(report.summary).toMatchObject({ flows: expected.length, allowed: expected.length });
  }, 60_000);

  it("evaluates the staged policy against the observed flows: what it would deny in the judged map, in the metrics, and the same as netcanary map says from the served map", async () => {
    interface Judged { flows: { key: string; direction: string; protocol: string; port: number; peer: { kind: string }; wouldDeny?: string[] }[]; staged?: { policies: { policy: string; wouldDeny: string[] }[]; all: { wouldDeny: string[] } } }
    let judged: Judged | undefined;
    await waitFor("the judged map with every flow", async () => {
      const reply = await get("/api/v1/flows?judged");
      judged = reply.status === 200 ? (JSON.parse(reply.body) as Judged) : undefined;
      return judged && judged.flows.length === 8 ? true : undefined;
    }, { timeoutMs: 15_000, intervalMs: 500 });
    const denied = (judged?.flows ?? []).filter((flow) => (flow.wouldDeny ?? []).includes("shop/client-egress")).map((flow) => `${flow.direction} ${flow.protocol} ${flow.port} ${flow.peer.kind}`).sort();
    // Everything but web's pods on 8080 (directly, or behind the Service's targetPort): the inbound side on port 80 too.
    expect(denied).toEqual(["inbound TCP 80 workload", "outbound TCP 443 external", "outbound TCP 443 zscaler", "outbound TCP 8443 external", "outbound UDP 5353 workload"]);
    const samples = parseSamples((await get("/metrics")).body);
    expect(samplesOf(samples, "netcanary_staged_policy_would_deny_flows", { policy_namespace: "shop", policy: "client-egress" })[0]?.value).toBe(5);
    expect(samplesOf(samples, "netcanary_staged_policies_would_deny_flows")[0]?.value).toBe(5);

    // The raw map the agent serves, judged offline with the same staged file, gives the same flows.
    const recorded = join(lab.dir, "node-map-staged.json");
    writeFileSync(recorded, (await get("/api/v1/flows")).body);
    const offline = await runCli(["map", recorded, "--manifests", join(lab.dir, "agent", "cluster.yaml"), "--staged", join(lab.dir, "agent", "staged"), "--output", "json"], { timeoutMs: 30_000 });
    expect(offline.code, offline.stderr).toBe(1);
    const report = JSON.parse(offline.stdout) as Judged;
    expect(report.staged?.policies.map((p) => [p.policy, [...p.wouldDeny].sort()])).toEqual(judged?.staged?.policies.map((p) => [p.policy, [...p.wouldDeny].sort()]));
  }, 60_000);

  it("enforces what netcanary advise prints for the served map: every observed connection made again works, unobserved ones are blocked", async () => {
    // The raw map as the agent serves it, straight to the CLI (with the cluster's objects, which say which pods stand behind the Service).
    const served = join(lab.dir, "node-map-advise.json");
    writeFileSync(served, (await get("/api/v1/flows")).body);
    const advised = await runCli(["advise", served, "--manifests", join(lab.dir, "agent", "cluster.yaml")], { timeoutMs: 30_000 });
    expect(advised.code, advised.stderr).toBe(0);
    expect(advised.stderr).toContain("checked: every observed flow allowed");
    const policies = parseAllDocuments(advised.stdout).map((doc) => doc.toJS() as PolicyObject);
    expect(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(["shop/netcanary-default-deny", "shop/netcanary-client", "shop/netcanary-web"]);

    const attempt = (from: string, kind: ConnectKind, host: string, port: number) => attemptFrom(lab, lab.pod(from), kind, host, port);
    const attempts = async (connections: readonly (readonly [string, ConnectKind, string, number])[]) => {
      const results: string[] = [];
      for (const [from, kind, host, port] of connections) results.push(`${from} ${kind} ${host}:${port} ${await attempt(from, kind, host, port)}`);
      return results;
    };
    const all = (connections: readonly (readonly [string, ConnectKind, string, number])[], result: string) => connections.map(([from, kind, host, port]) => `${from} ${kind} ${host}:${port} ${result}`);
    // Every connection the map shows, made again from the client (the inbound flows at web are their other ends).
    const observed = [
      ["client", "tcp", at.web, 8080],
      ["client", "tcp", service, 80],
      ["client", "tcp", at.gateway, 443],
      ["client", "tcp", partner, 443],
      ["client", "tcp", partner, 8443],
      ["client", "udp", at.web, 5353],
    ] as const;
    // Never observed: another port to the Zscaler gateway, another port to web's pod, a peer the
    // client never reached, and a peer web never accepted from.
    const unobserved = [
      ["client", "tcp", at.gateway, 8443],
      ["client", "tcp", at.web, 9090],
      ["client", "tcp", at.agent, PORT],
      ["agent", "tcp", at.web, 8080],
    ] as const;
    // The lab has no dataplane for the Service: from here on the client's namespace translates
    // its address to web's pod on the targetPort, before the policies see the packet, as
    // kube-proxy does in a cluster (advise allows the Service by its backends and targetPort).
    await lab.nft(lab.pod("client"), `table ip nc_service {\n  chain out { type nat hook output priority -100;\n    ip daddr ${service} tcp dport 80 dnat to ${at.web}:8080\n  }\n}\n`);
    // Without policies everything connects: a blocked one below is blocked by them.
    expect(await attempts([...observed, ...unobserved])).toEqual(all([...observed, ...unobserved], "ok"));

    const pods: NftPod[] = [
      { name: "client", ip: at.client, namespace: "shop", labels: { app: "client", "pod-template-hash": "7d9f8c6b5" } },
      { name: "web", ip: at.web, namespace: "shop", labels: { app: "web", "statefulset.kubernetes.io/pod-name": "web-0" } },
      { name: "agent", ip: at.agent, namespace: "netcanary", labels: { app: "netcanary" } },
    ];
    const isolated: string[] = [];
    for (const pod of pods) {
      const rules = podRuleset(policies, pod, pods);
      if (rules === undefined) continue;
      await lab.nft(lab.pod(pod.name), rules);
      isolated.push(pod.name);
    }
    expect(isolated).toEqual(["client", "web"]);

    expect(await attempts(observed)).toEqual(all(observed, "ok"));
    expect(await attempts(unobserved)).toEqual(all(unobserved, "timeout"));
  }, 90_000);
});
