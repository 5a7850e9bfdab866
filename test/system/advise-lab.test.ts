// netcanary advise's policies, enforced by packets. Network namespaces stand in for the pods of
// a shop (web and api in namespace shop, ledger in payments, a DNS pod in kube-system, a
// "Zscaler" gateway and a partner outside the cluster). The pods really connect to each other,
// to the DNS pod and to both outside addresses; the test writes the traffic map of those
// connections (what the agent's observer records: observing is tested on its own). The
// suggestion `netcanary advise` prints for that map is compiled to nftables in each isolated
// pod's namespace by a stand-in network plugin written apart from netcanary's engine
// (support/policy-nft.ts): every observed connection must keep working, and the unobserved
// ones must be blocked.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FlowMap, FlowPeer, FlowWorkload, ObservedFlow } from "../../agent/traffic/flow.js";
import { runCli } from "../support/cli.js";
import { Lab, LAB_COMMANDS, type LabProcess } from "../support/lab.js";
import { attemptFrom } from "../support/lab-connect.js";
import { type NftPod, type PolicyObject, podRuleset } from "../support/policy-nft.js";
import { describeWith } from "../support/prerequisites.js";

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "dnsmasq"] }, "advise's suggestion enforced in the lab", () => {
  let lab: Lab;
  const processes: LabProcess[] = [];
  let ip: Record<"web" | "api" | "ledger" | "dns" | "zscaler" | "partner", string>;
  let gateway: string;
  let partnerAddress: string;
  let gatewayRange: string;
  let pods: NftPod[];

  const workloads: Record<"web" | "api" | "ledger" | "dns", FlowWorkload> = {
    web: { namespace: "shop", kind: "deployment", name: "web", labels: { app: "web" } },
    api: { namespace: "shop", kind: "deployment", name: "api", labels: { app: "api", tier: "back" } },
    ledger: { namespace: "payments", kind: "statefulset", name: "ledger", labels: { app: "ledger" } },
    dns: { namespace: "kube-system", kind: "deployment", name: "coredns", labels: { "app.kubernetes.io/name": "coredns" } },
  };

  const attempt = (from: string, kind: "tcp" | "dns", host: string, port: number) => attemptFrom(lab, lab.pod(from), kind, host, port);

  /** The connections the shop makes, and the flows the map records for them (both ends where both are pods). */
  const observed = () =>
    [
      { from: "web", kind: "tcp", host: ip.api, port: 8080 },
      { from: "ledger", kind: "tcp", host: ip.api, port: 8080 },
      { from: "web", kind: "dns", host: ip.dns, port: 53 },
      { from: "api", kind: "tcp", host: gateway, port: 443 },
      { from: "api", kind: "tcp", host: partnerAddress, port: 443 },
    ] as const;

  /** Connections nobody made: another port to an observed peer, a peer nobody reached, another port outside. */
  const unobserved = () =>
    [
      { from: "web", kind: "tcp", host: ip.api, port: 9090 },
      { from: "ledger", kind: "tcp", host: ip.web, port: 8080 },
      { from: "api", kind: "tcp", host: partnerAddress, port: 80 },
      { from: "web", kind: "tcp", host: gateway, port: 443 },
    ] as const;

  function flowMap(): FlowMap {
    const at = (name: keyof typeof workloads, options: Partial<ObservedFlow> & Pick<ObservedFlow, "peer" | "port">): ObservedFlow => ({
      direction: "outbound",
      protocol: "TCP",
      local: workloads[name],
      remoteAddresses: [],
      localAddresses: [ip[name]],
      firstSeen: "2026-12-07T08:00:00Z",
      lastSeen: "2026-12-07T08:10:00Z",
      observations: 1,
      evidence: ["socket-table"],
      ...options,
    });
    const to = (name: keyof typeof workloads): FlowPeer => ({ kind: "workload", workload: workloads[name] });
    const flows: ObservedFlow[] = [
      at("web", { peer: to("api"), port: 8080, remoteAddresses: [ip.api] }),
      at("api", { direction: "inbound", peer: to("web"), port: 8080, remoteAddresses: [ip.web] }),
      at("ledger", { peer: to("api"), port: 8080, remoteAddresses: [ip.api] }),
      at("api", { direction: "inbound", peer: to("ledger"), port: 8080, remoteAddresses: [ip.ledger] }),
      at("web", { protocol: "UDP", peer: to("dns"), port: 53, remoteAddresses: [ip.dns] }),
      at("api", { peer: { kind: "zscaler", cloud: "zscaler.net", city: "Lab City I", range: gatewayRange }, port: 443, remoteAddresses: [gateway] }),
      at("api", { peer: { kind: "external", range: `${partnerAddress}/32` }, port: 443, remoteAddresses: [partnerAddress] }),
    ];
    const namespaces = ["shop", "payments", "kube-system"].map((name) => ({ name, labels: { "kubernetes.io/metadata.name": name } }));
    const coverage = { podsSelected: 3, podsObserved: 3, missed: [], sources: [], droppedFlows: 0 };
    return { apiVersion: "netcanary/v1", kind: "FlowMap", from: "2026-12-07T08:00:00Z", until: "2026-12-07T09:00:00Z", namespaces, flows, coverage };
  }

  beforeAll(async () => {
    lab = await Lab.create((at) => ({
      pods: [
        // web also has a route to the gateway: a connection it never made, which must be blocked.
        { name: "web", ip: at.ip(20), routes: [{ to: at.testNet1.cidr, via: at.ip(50) }] },
        { name: "api", ip: at.ip(21), routes: [{ to: at.testNet1.cidr, via: at.ip(50) }, { to: at.testNet3.cidr, via: at.ip(60) }] },
        { name: "ledger", ip: at.ip(22) },
        { name: "dns", ip: at.ip(53) },
        { name: "zscaler", ip: at.ip(50), addresses: [at.testNet1.at(2)] },
        { name: "partner", ip: at.ip(60), addresses: [at.testNet3.at(3)] },
      ],
    }));
    ip = { web: lab.pod("web").ip, api: lab.pod("api").ip, ledger: lab.pod("ledger").ip, dns: lab.pod("dns").ip, zscaler: lab.pod("zscaler").ip, partner: lab.pod("partner").ip };
    gateway = lab.addresses.testNet1.at(2);
    gatewayRange = lab.addresses.testNet1.cidr;
    partnerAddress = lab.addresses.testNet3.at(3);
    processes.push(await lab.tcpListener(lab.pod("api"), ip.api, [8080, 9090]));
    processes.push(await lab.tcpListener(lab.pod("web"), ip.web, [8080]));
    processes.push(await lab.tcpListener(lab.pod("zscaler"), gateway, [443]));
    processes.push(await lab.tcpListener(lab.pod("partner"), partnerAddress, [80, 443]));
    processes.push(await lab.dnsmasq(lab.pod("dns"), { listen: ip.dns, records: { "api.shop.lab": ip.api } }));
    const nsOf = { web: "shop", api: "shop", ledger: "payments", dns: "kube-system" } as const;
    pods = (["web", "api", "ledger", "dns"] as const).map((name) => ({ name, ip: ip[name], namespace: nsOf[name], labels: workloads[name].labels }));
  }, 60_000);

  afterAll(async () => {
    for (const p of processes.splice(0)) await p.stop();
    await lab?.teardown();
  });

  it("keeps every observed connection working and blocks the unobserved ones", async () => {
    // Without policies everything connects: the map stands for traffic that really flows.
    for (const c of [...observed(), ...unobserved()]) expect([c.from, c.host, c.port, await attempt(c.from, c.kind, c.host, c.port)]).toEqual([c.from, c.host, c.port, "ok"]);

    const mapFile = join(lab.dir, "map.json");
    await writeFile(mapFile, JSON.stringify(flowMap(), null, 2));
    const advised = await runCli(["advise", mapFile]);
    expect(advised.stderr).toContain("checked: every observed flow allowed");
    expect(advised.code).toBe(0);
    const policies = parseAllDocuments(advised.stdout).map((doc) => doc.toJS() as PolicyObject);
    expect(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual([
      "payments/netcanary-default-deny",
      "payments/netcanary-ledger",
      "shop/netcanary-default-deny",
      "shop/netcanary-api",
      "shop/netcanary-web",
    ]);
    const isolated: string[] = [];
    for (const pod of pods) {
      const rules = podRuleset(policies, pod, pods);
      if (rules === undefined) continue;
      await lab.nft(lab.pod(pod.name), rules);
      isolated.push(pod.name);
    }
    expect(isolated).toEqual(["web", "api", "ledger"]);

    for (const c of observed()) expect([c.from, c.host, c.port, await attempt(c.from, c.kind, c.host, c.port)]).toEqual([c.from, c.host, c.port, "ok"]);
    for (const c of unobserved()) expect([c.from, c.host, c.port, await attempt(c.from, c.kind, c.host, c.port)]).toEqual([c.from, c.host, c.port, "timeout"]);
  }, 120_000);
});
