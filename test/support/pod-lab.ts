// The pod-mode lab: the whole agent, probing from labeled pods, against real packet drops.
// Used by the lab tests and by `make demo`.
//
// Network namespaces stand in for pods on one node (see lab.ts): "client" and "reporter" are
// labeled probe sources of two Deployments in namespace shop; "web" and "db" listen; "dns"
// runs dnsmasq as the cluster DNS; "zscaler" holds a gateway address in documentation ranges
// and serves Zscaler feeds (the real payload formats, written per lab by labFeeds) whose two
// "cities" are the lab's own documentation blocks; "agent" runs netcanary with
// only CAP_SYS_ADMIN and CAP_SYS_PTRACE (as the pod-mode DaemonSet does), reading a static
// cluster snapshot (clusterManifests) and entering the source pods' namespaces to probe.
//
// The node namespace plays the CNI: cniRules() enforces each source pod's egress policy in
// nftables on the pod's bridge port, written by hand from the same NetworkPolicies (not by
// netcanary's engine). Sabotage comes on top: the lab's dropTo/rejectTo rules, or a CNI
// that stops enforcing.
//
// Every address comes from the lab's slot (podLabAddresses), so two pod labs can run on one
// machine at once: each agent finds only its own lab's pods.

import { mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ResultEntry } from "../../agent/daemon/agent.ts";
import { cliPath } from "./cli.ts";
import { parseSamples, type Sample } from "./exposition.ts";
import type { LabAddresses } from "./lab-addresses.ts";
import { Lab, type LabPod, type LabProcess, waitFor } from "./lab.ts";

/** Where everything of one pod lab is. */
export interface PodLabAddresses {
  readonly agent: string;
  readonly client: string;
  readonly reporter: string;
  readonly web: string;
  readonly db: string;
  readonly zscaler: string;
  readonly dns: string;
  /** gateway.zscaler.net in the lab's DNS; inside "Lab City I" of the lab feed. */
  readonly gateway: string;
  /** The feed's two "Zscaler" ranges (the lab's TEST-NET-1 and TEST-NET-2 blocks); Lab City II is also the hub. */
  readonly cityI: string;
  readonly cityII: string;
}

/** The pod lab's layout in a lab's addresses. */
export function podLabAddresses(addresses: LabAddresses): PodLabAddresses {
  return {
    agent: addresses.ip(2),
    client: addresses.ip(10),
    reporter: addresses.ip(11),
    web: addresses.ip(20),
    db: addresses.ip(21),
    zscaler: addresses.ip(50),
    dns: addresses.ip(53),
    gateway: addresses.testNet1.at(2),
    cityI: addresses.testNet1.cidr,
    cityII: addresses.testNet2.cidr,
  };
}

export const NODE_NAME = "lab-node";
export const AGENT_PORT = 9714;
const FEED_PORT = 8081;

/** The pods' names as a cluster would have them: Deployment pods carry the ReplicaSet hash. */
export const POD_NAMES = {
  client: "client-7d9f8c6b5-x2x9q",
  reporter: "reporter-5c8d7b9f4-k4m7t",
} as const;

/** What the lab's cluster looks like; each scenario changes some of it. */
export interface ClusterState {
  /** The client's egress policy also allows db:5432 (the live policy change). */
  readonly dbAllowed: boolean;
  /** The labeled reporter pod: not there, running, or being deleted. */
  readonly reporter: "absent" | "running" | "terminating";
  /** The "CNI" enforces the egress policies; false: it lets everything through. */
  readonly enforcing: boolean;
}

export const INITIAL_STATE: ClusterState = { dbAllowed: false, reporter: "absent", enforcing: true };

export interface PodLabOptions {
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly failureThreshold?: number;
  readonly logLevel?: string;
}

/** One entry of the agent's /api/v1/results, as served. */
export type LabResult = ResultEntry;

/** The UIDs of the lab pods that stand for cluster pods (their processes' cgroups are named by them). */
export type PodUids = Readonly<Record<"agent" | "client" | "reporter" | "web" | "db" | "dns", string>>;

export function podUids(lab: Lab): PodUids {
  const uid = (name: string) => lab.pod(name).uid;
  return { agent: uid("agent"), client: uid("client"), reporter: uid("reporter"), web: uid("web"), db: uid("db"), dns: uid("dns") };
}

function pod(options: { name: string; namespace: string; uid: string; ip: string; labels: Record<string, string>; owner?: { kind: string; name: string }; port?: number; terminating?: boolean }): string {
  const owner = options.owner ? `\n  ownerReferences: [{apiVersion: apps/v1, kind: ${options.owner.kind}, name: ${options.owner.name}, uid: ${options.name}-owner, controller: true}]` : "";
  const deleting = options.terminating ? "\n  deletionTimestamp: 2026-01-01T00:00:00Z" : "";
  const ports = options.port ? `, ports: [{containerPort: ${options.port}}]` : "";
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${options.name}
  namespace: ${options.namespace}
  uid: ${options.uid}
  labels: ${JSON.stringify(options.labels)}${owner}${deleting}
spec:
  nodeName: ${NODE_NAME}
  containers: [{name: main, image: lab${ports}}]
status: {phase: Running, podIP: ${options.ip}, podIPs: [{ip: ${options.ip}}]}
`;
}

/** Egress both source Deployments share: the cluster DNS, and Zscaler's ranges on 443. */
function commonEgress(addresses: PodLabAddresses): string {
  return `    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
      ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
    - to: [{ipBlock: {cidr: ${addresses.cityI}}}, {ipBlock: {cidr: ${addresses.cityII}}}]
      ports: [{port: 443, protocol: TCP}]
`;
}

/** <app>-egress: the app's pods may reach web:8080, plus extra rules, plus commonEgress. */
function egressPolicy(addresses: PodLabAddresses, app: string, extraRules = ""): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${app}-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: ${app}}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{port: 8080, protocol: TCP}]
${extraRules}${commonEgress(addresses)}`;
}

/** The static cluster snapshot the agent reads (--manifests), for a state. */
export function clusterManifests(state: ClusterState, addresses: PodLabAddresses, uids: PodUids): string {
  const objects = [
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: shop, kubernetes.io/metadata.name: shop}}\n",
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system, labels: {kubernetes.io/metadata.name: kube-system}}\n",
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: netcanary, labels: {kubernetes.io/metadata.name: netcanary}}\n",
    pod({ name: "netcanary-x7k2p", namespace: "netcanary", uid: uids.agent, ip: addresses.agent, labels: { "app.kubernetes.io/name": "netcanary" }, owner: { kind: "DaemonSet", name: "netcanary" } }),
    pod({ name: "coredns-6f6b679f8f-q8wz2", namespace: "kube-system", uid: uids.dns, ip: addresses.dns, labels: { "k8s-app": "kube-dns", "pod-template-hash": "6f6b679f8f" }, owner: { kind: "ReplicaSet", name: "coredns-6f6b679f8f" }, port: 53 }),
    pod({
      name: POD_NAMES.client,
      namespace: "shop",
      uid: uids.client,
      ip: addresses.client,
      labels: { app: "client", "netcanary.io/probe": "true", "pod-template-hash": "7d9f8c6b5" },
      owner: { kind: "ReplicaSet", name: "client-7d9f8c6b5" },
    }),
    pod({ name: "web-0", namespace: "shop", uid: uids.web, ip: addresses.web, labels: { app: "web" }, owner: { kind: "StatefulSet", name: "web" }, port: 8080 }),
    pod({ name: "db-0", namespace: "shop", uid: uids.db, ip: addresses.db, labels: { app: "db" }, owner: { kind: "StatefulSet", name: "db" }, port: 5432 }),
    egressPolicy(addresses, "client", state.dbAllowed ? "    - to: [{podSelector: {matchLabels: {app: db}}}]\n      ports: [{port: 5432, protocol: TCP}]\n" : ""),
    egressPolicy(addresses, "reporter"),
  ];
  if (state.reporter !== "absent") {
    objects.push(
      pod({
        name: POD_NAMES.reporter,
        namespace: "shop",
        uid: uids.reporter,
        ip: addresses.reporter,
        labels: { app: "reporter", "netcanary.io/probe": "true", "pod-template-hash": "5c8d7b9f4" },
        owner: { kind: "ReplicaSet", name: "reporter-5c8d7b9f4" },
        terminating: state.reporter === "terminating",
      }),
    );
  }
  return objects.join("---\n");
}

/**
 * The "CNI": each source pod's egress policy as nftables rules on its bridge port (in the
 * node namespace), the same allow-lists as the NetworkPolicies above. Anything else TCP or
 * UDP the pod sends is dropped silently, as most CNIs do. ARP and ICMP pass.
 */
export function cniRules(state: ClusterState, ports: { client: string; reporter: string }, addresses: PodLabAddresses): string {
  const dnsAndZscaler = [
    `ip daddr ${addresses.dns} udp dport 53 accept`,
    `ip daddr ${addresses.dns} tcp dport 53 accept`,
    `ip daddr { ${addresses.cityI}, ${addresses.cityII} } tcp dport 443 accept`,
  ];
  const chain = (name: string, device: string, allowed: readonly string[]) =>
    `  chain ${name} {\n    type filter hook ingress device "${device}" priority -10; policy accept;\n${[...allowed, "meta l4proto { tcp, udp } counter drop"].map((rule) => `    ${rule}\n`).join("")}  }\n`;
  const body = state.enforcing
    ? chain("client-egress", ports.client, [`ip daddr ${addresses.web} tcp dport 8080 accept`, ...(state.dbAllowed ? [`ip daddr ${addresses.db} tcp dport 5432 accept`] : []), ...dnsAndZscaler]) +
      chain("reporter-egress", ports.reporter, [`ip daddr ${addresses.web} tcp dport 8080 accept`, ...dnsAndZscaler])
    : "";
  // Declared, deleted and redefined in one transaction: no moment without rules.
  return `table netdev cni {}\ndelete table netdev cni\ntable netdev cni {\n${body}}\n`;
}

export function agentConfig(options: PodLabOptions, addresses: PodLabAddresses): string {
  return `defaults: {interval: ${options.intervalMs ?? 1000}ms, timeout: ${options.timeoutMs ?? 500}ms, failureThreshold: ${options.failureThreshold ?? 2}, successThreshold: 1}
zscaler:
  clouds: [zscaler.net]
  baseUrl: http://${addresses.zscaler}:${FEED_PORT}/api
  feeds: [cenr, future, hubs-recommended]
  audit: {feeds: [future, hubs-recommended], ports: [443]}
sources:
  - name: shop-probes
    namespaceSelector: {matchLabels: {team: shop}}
probes:
  - {name: web, sources: [shop-probes], tcp: {pods: {namespace: shop, selector: {app: web}}, port: 8080}}
  - {name: db, sources: [shop-probes], tcp: {pods: {namespace: shop, selector: {app: db}}, port: 5432}}
  - {name: zscaler-gateway, sources: [shop-probes], tcp: {zscaler: {cloud: zscaler.net, endpoints: [gateway], ports: [443]}}}
  - {name: gateway-dns, sources: [shop-probes], dns: {query: gateway.zscaler.net, server: cluster, answersIn: zscaler:zscaler.net}}
`;
}

/**
 * The lab's Zscaler feeds (the real payload formats, see test/fixtures/zscaler/), listing
 * only the lab's own documentation blocks: "Lab City I" (where the gateway is) and
 * "Lab City II" (also the recommended hub), both in the "future" list.
 */
export function labFeeds(addresses: PodLabAddresses): Record<"cenr.json" | "future.json" | "hubs-recommended.json", string> {
  const city = (range: string, latitude: string, longitude: string) => [{ range, vpn: "", gre: "", ext: "", hostname: "", latitude, longitude }];
  return {
    "cenr.json": JSON.stringify({
      "zscaler.net": {
        "continent : EMEA": { "city : Lab City I": city(addresses.cityI, "52.37", "4.90") },
        "continent : Americas": { "city : Lab City II": city(addresses.cityII, "40.71", "-74.00") },
      },
      svpnIPs: [],
    }),
    "future.json": JSON.stringify({ cloudName: "zscaler.net", prefixes: [addresses.cityI, addresses.cityII] }),
    "hubs-recommended.json": JSON.stringify({ cloudName: "zscaler.net", type: "recommended", hubPrefixes: [addresses.cityII] }),
  };
}

/** Serves the lab feeds at the real API paths (plain HTTP, inside the zscaler pod). */
const FEED_SERVER = `
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const [host, port, dir] = process.argv.slice(1);
const files = {
  "/api/zscaler.net/cenr/json": "cenr.json",
  "/api/zscaler.net/future/json": "future.json",
  "/api/zscaler.net/hubs/cidr/json/recommended": "hubs-recommended.json",
};
http.createServer((request, response) => {
  const file = files[(request.url || "").split("?")[0]];
  if (!file) { response.writeHead(404); response.end(); return; }
  response.writeHead(200, { "content-type": "application/json" });
  response.end(fs.readFileSync(path.join(dir, file)));
}).listen(Number(port), host, () => process.stdout.write("listening\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/**
 * A process that only holds the pod's network namespace, as a pod's pause container does;
 * resolves once it is in the namespace (`ip netns exec` has entered it and exec'd sleep), so
 * that the pod is never listed in the snapshot before a process holds its address.
 */
export async function holdNamespace(lab: Lab, pod: LabPod): Promise<LabProcess> {
  const holder = lab.startProcess(pod, "sleep", ["86400"], { name: `${pod.name} pod` });
  const inode = `net:[${statSync(pod.netnsPath).ino}]`;
  await waitFor(
    `the ${pod.name} pod's process in its namespace`,
    () => {
      if (!holder.running) throw new Error(`${holder.name} exited: ${holder.output()}`);
      return readlinkSync(`/proc/${holder.pid}/ns/net`) === inode && readFileSync(`/proc/${holder.pid}/comm`, "utf8").trim() === "sleep" ? true : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
  return holder;
}

export class PodLab {
  private state: ClusterState = INITIAL_STATE;
  private reporterHolder: LabProcess | undefined;

  readonly lab: Lab;
  /** Where the pods are: every address of this lab, for configs and assertions. */
  readonly addresses: PodLabAddresses;
  readonly agent: LabProcess;
  /** Each accepted connection prints "accepted <addr>:<port> from <source ip>". */
  readonly listeners: { readonly web: LabProcess; readonly db: LabProcess; readonly zscaler: LabProcess };
  private readonly clusterFile: string;

  // Plain fields, no parameter properties: the demo runs this file with Node's type stripping.
  private constructor(lab: Lab, agent: LabProcess, listeners: PodLab["listeners"], clusterFile: string) {
    this.lab = lab;
    this.addresses = podLabAddresses(lab.addresses);
    this.agent = agent;
    this.listeners = listeners;
    this.clusterFile = clusterFile;
  }

  /** Builds the lab and starts the agent; resolves once the agent is ready (every edge probed). */
  static async create(options: PodLabOptions = {}): Promise<PodLab> {
    const lab = await Lab.create((labAddresses) => {
      const at = podLabAddresses(labAddresses);
      const viaZscaler = [
        { to: at.cityI, via: at.zscaler },
        { to: at.cityII, via: at.zscaler },
      ];
      return {
        pods: [
          { name: "agent", ip: at.agent },
          { name: "client", ip: at.client, routes: viaZscaler, nameservers: [at.dns] },
          { name: "reporter", ip: at.reporter, routes: viaZscaler, nameservers: [at.dns] },
          { name: "web", ip: at.web },
          { name: "db", ip: at.db },
          { name: "zscaler", ip: at.zscaler, addresses: [at.gateway] },
          { name: "dns", ip: at.dns },
        ],
      };
    });
    const addresses = podLabAddresses(lab.addresses);
    try {
      const [web, db, zscaler] = await Promise.all([
        lab.tcpListener(lab.pod("web"), addresses.web, [8080]),
        lab.tcpListener(lab.pod("db"), addresses.db, [5432]),
        lab.tcpListener(lab.pod("zscaler"), "0.0.0.0", [443]),
        lab.dnsmasq(lab.pod("dns"), { listen: addresses.dns, records: { "gateway.zscaler.net": addresses.gateway }, local: ["zscaler.net"] }),
      ]);
      const feedDir = join(lab.dir, "feeds");
      mkdirSync(feedDir);
      for (const [file, text] of Object.entries(labFeeds(addresses))) writeFileSync(join(feedDir, file), text);
      const feeds = lab.startProcess(lab.pod("zscaler"), process.execPath, ["-e", FEED_SERVER, addresses.zscaler, String(FEED_PORT), feedDir], {
        name: "zscaler feeds",
      });
      await feeds.waitForOutput(/^listening$/m);
      await holdNamespace(lab, lab.pod("client"));

      mkdirSync(join(lab.dir, "agent"));
      const clusterFile = join(lab.dir, "agent", "cluster.yaml");
      const configFile = join(lab.dir, "agent", "netcanary.yaml");
      writeFileSync(clusterFile, clusterManifests(INITIAL_STATE, addresses, podUids(lab)));
      writeFileSync(configFile, agentConfig(options, addresses));
      await lab.nft(lab.node, cniRules(INITIAL_STATE, { client: lab.pod("client").bridgePort, reporter: lab.pod("reporter").bridgePort }, addresses));

      // As the pod-mode DaemonSet runs it: root with only the two capabilities, and
      // no_new_privs (allowPrivilegeEscalation: false). Whatever else the agent would need
      // shows up here as a failure, not in a cluster.
      const agent = lab.startProcess(
        lab.pod("agent"),
        "setpriv",
        [
          "--no-new-privs",
          "--bounding-set=-all,+sys_admin,+sys_ptrace",
          "--inh-caps=-all",
          process.execPath,
          cliPath,
          "agent",
          "--config",
          configFile,
          "--manifests",
          clusterFile,
          "--listen",
          `${addresses.agent}:${AGENT_PORT}`,
          "--log-level",
          options.logLevel ?? "info",
        ],
        { name: "netcanary agent", env: { NODE_NAME, POD_NAMESPACE: "netcanary", POD_NAME: "netcanary-x7k2p", POD_IP: addresses.agent } },
      );
      const podLab = new PodLab(lab, agent, { web, db, zscaler }, clusterFile);
      await waitFor(
        "the agent to be ready",
        async () => {
          if (!agent.running) throw new Error(`the agent exited:\n${agent.output().slice(-4000)}`);
          return (await podLab.get("/readyz")).status === 200 ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      return podLab;
    } catch (error) {
      await lab.teardown();
      throw error;
    }
  }

  url(path: string): string {
    return `http://${this.addresses.agent}:${AGENT_PORT}${path}`;
  }

  /** A GET to the agent, from inside the agent pod. */
  get(path: string): Promise<{ status: number; body: string; error?: string }> {
    return this.lab.httpGet(this.lab.pod("agent"), this.url(path), 5000);
  }

  async results(): Promise<LabResult[]> {
    const response = await this.get("/api/v1/results");
    if (response.status !== 200) throw new Error(`GET /api/v1/results: ${response.status} ${response.error ?? response.body}`);
    return (JSON.parse(response.body) as { results: LabResult[] }).results;
  }

  async metrics(): Promise<Sample[]> {
    return parseSamples(await this.metricsText());
  }

  async metricsText(): Promise<string> {
    const response = await this.get("/metrics");
    if (response.status !== 200) throw new Error(`GET /metrics: ${response.status} ${response.error ?? response.body}`);
    return response.body;
  }

  /** Polls the results until the edge of probe from workload satisfies check (bounded). */
  waitForResult(probe: string, workload: string, what: string, check: (result: LabResult) => boolean, timeoutMs = 20_000): Promise<LabResult> {
    let last: LabResult | undefined;
    return waitFor(
      `${probe} from ${workload}: ${what}`,
      async () => {
        last = (await this.results()).find((result) => result.probe === probe && result.sourceWorkload === workload);
        return last && check(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    ).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; last seen: ${JSON.stringify(last)}\nagent output:\n${this.agent.output().slice(-3000)}`);
    });
  }

  get current(): ClusterState {
    return this.state;
  }

  /** Changes the cluster: the snapshot file the agent watches, the CNI's rules, the pods' processes. */
  async setState(change: Partial<ClusterState>): Promise<void> {
    const next = { ...this.state, ...change };
    if (next.reporter !== "absent" && !this.reporterHolder) this.reporterHolder = await holdNamespace(this.lab, this.lab.pod("reporter"));
    await this.lab.nft(this.lab.node, cniRules(next, { client: this.lab.pod("client").bridgePort, reporter: this.lab.pod("reporter").bridgePort }, this.addresses));
    writeFileSync(this.clusterFile, clusterManifests(next, this.addresses, podUids(this.lab)));
    if (next.reporter === "absent" && this.reporterHolder) {
      await this.reporterHolder.stop();
      this.reporterHolder = undefined;
    }
    this.state = next;
  }

  /** The reporter pod's processes die while the cluster still lists it (a crashed sandbox). */
  async killReporter(): Promise<void> {
    await this.reporterHolder?.stop();
    this.reporterHolder = undefined;
  }

  teardown(): Promise<void> {
    return this.lab.teardown();
  }
}
