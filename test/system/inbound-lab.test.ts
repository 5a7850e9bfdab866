// Inbound from Zscaler in network namespaces: why an ipBlock admitting Zscaler's range can
// never match. A "zscaler" namespace connects from a Zscaler egress address (a documentation
// address of the lab standing for a published range) to a NodePort on a "node" namespace,
// which DNATs to the "web" pod, and, as kube-proxy does with externalTrafficPolicy: Cluster,
// masquerades. The web pod enforces its NetworkPolicy in its own nftables (admit the Zscaler
// range on 8443, drop the rest), as a policy-enforcing CNI would. netcanary's engine says the
// Zscaler address is admitted; with the masquerade the packets arrive from the node's address
// and are dropped; an unfiltered port shows the address the pod sees (the node's). Without the
// masquerade (Local) the same connection passes, from the Zscaler address, and `netcanary
// check` reports exactly the Cluster case as a finding.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import type { ClusterSnapshot } from "../../agent/cluster/snapshot.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { inboundReport } from "../../agent/inbound/paths.js";
import { buildPolicyIndex, evaluateConnection, type PolicyIndex } from "../../agent/policy/engine.js";
import { runCli } from "../support/cli.js";
import { Lab, LAB_COMMANDS, type LabProcess, mustRun } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";

const NODE_PORT = 30443;
const POLICED = 8443;
/** Not named in the policy's ports: open, so it shows the address the pod sees. */
const OPEN = 8080;
const OPEN_NODE_PORT = 30080;

/** Connects from a local address; prints connected, timeout or the error code. */
const CONNECT = `
const net = require("node:net");
const [host, port, localAddress] = process.argv.slice(1);
const socket = net.connect({ host, port: Number(port), localAddress });
const timer = setTimeout(() => { process.stdout.write("timeout\\n"); socket.destroy(); }, 1500);
socket.on("connect", () => { clearTimeout(timer); process.stdout.write("connected\\n"); socket.end(); });
socket.on("error", (error) => { clearTimeout(timer); process.stdout.write((error.code || "error") + "\\n"); });
`;

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "sysctl"] }, "inbound from Zscaler through a NodePort, in the lab", () => {
  let lab: Lab;
  let listener: LabProcess;
  let at: { zscaler: string; egress: string; range: string; node: string; web: string };
  let index: PolicyIndex;
  let snapshot: ClusterSnapshot;
  let manifests: string;

  async function connect(port: number): Promise<string> {
    const run = await lab.exec(lab.pod("zscaler"), [process.execPath, "-e", CONNECT, at.node, String(port), at.egress], { timeoutMs: 5000 });
    return run.stdout.trim();
  }

  async function nodeNat(masquerade: boolean): Promise<void> {
    const rules = [
      "table ip kube {",
      "  chain pre { type nat hook prerouting priority -100;",
      `    tcp dport ${NODE_PORT} dnat to ${at.web}:${POLICED}`,
      `    tcp dport ${OPEN_NODE_PORT} dnat to ${at.web}:${OPEN}`,
      "  }",
      "  chain post { type nat hook postrouting priority 100;",
      ...(masquerade ? [`    ip daddr ${at.web} masquerade`] : []),
      "  }",
      "}",
    ];
    await mustRun(["ip", "netns", "exec", lab.pod("k8snode").netns, "nft", "delete", "table", "ip", "kube"]).catch(() => undefined);
    await lab.nft(lab.pod("k8snode"), `${rules.join("\n")}\n`);
  }

  beforeAll(async () => {
    const planned = { egress: "", range: "" };
    lab = await Lab.create((addresses) => {
      const zscaler = addresses.ip(70);
      const node = addresses.ip(71);
      const web = addresses.ip(72);
      const egress = addresses.testNet1.at(1);
      // The lab's first documentation block stands for a published Zscaler range.
      planned.egress = egress;
      planned.range = addresses.testNet1.cidr;
      return {
        pods: [
          { name: "zscaler", ip: zscaler, addresses: [egress] },
          // The node reaches the client's address back through the Zscaler side.
          { name: "k8snode", ip: node, routes: [{ to: `${egress}/32`, via: zscaler }] },
          // Outside addresses are reached through the node, so that its NAT sees the replies.
          { name: "web", ip: web, routes: [{ to: addresses.testNet1.cidr, via: node }] },
        ],
      };
    });
    at = { zscaler: lab.pod("zscaler").ip, node: lab.pod("k8snode").ip, web: lab.pod("web").ip, ...planned };

    for (const setting of ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0"]) {
      await mustRun(["ip", "netns", "exec", lab.pod("k8snode").netns, "sysctl", "-qw", setting]);
    }
    // The web pod's NetworkPolicy, as an enforcing CNI applies it: 8443 only from the Zscaler range.
    await lab.nft(
      lab.pod("web"),
      `table inet netpol {\n  chain input { type filter hook input priority 0; policy accept;\n    tcp dport ${POLICED} ip saddr ${at.range} accept\n    tcp dport ${POLICED} counter drop\n  }\n}\n`,
    );
    listener = await lab.tcpListener(lab.pod("web"), at.web, [POLICED, OPEN]);

    // The same cluster as manifests: the policy admitting the range, the pod, a NodePort with Cluster.
    manifests = join(lab.dir, "inbound.yaml");
    writeFileSync(
      manifests,
      `apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {containers: [{name: web, ports: [{name: https, containerPort: ${POLICED}}]}]}
status: {podIP: ${at.web}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-zscaler, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{from: [{ipBlock: {cidr: ${at.range}}}], ports: [{port: ${POLICED}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 443, targetPort: https, nodePort: ${NODE_PORT}}]}
`,
    );
    const load = snapshotFromDocuments(parseDocuments(readFileSync(manifests, "utf8"), manifests).documents);
    expect(load.errors).toEqual([]);
    snapshot = load.snapshot;
    index = buildPolicyIndex(snapshot);
  }, 60_000);

  afterAll(async () => {
    await lab?.teardown();
  }, 30_000);

  function verdictFrom(address: string): string {
    const ip = parseIp(address);
    const pod = index.podsByKey.get("shop/web-0");
    if (!ip.ok || !pod) throw new Error("bad lab state");
    return evaluateConnection(index, { from: { kind: "ip", ip: ip.value }, to: { kind: "pod", pod }, port: POLICED, protocol: "TCP" }).verdict;
  }

  it("with the node masquerading (Cluster), the policy admitting the Zscaler range never matches: the pod sees the node", async () => {
    expect(verdictFrom(at.egress)).toBe("allow");
    expect(verdictFrom(at.node)).toBe("deny");
    await nodeNat(true);
    expect(await connect(NODE_PORT)).toBe("timeout");
    // The open port shows what the policy saw: the node's address, not the client's.
    expect(await connect(OPEN_NODE_PORT)).toBe("connected");
    await listener.waitForOutput(new RegExp(`accepted ${at.web.replace(/\./g, "\\.")}:${OPEN} from ${at.node.replace(/\./g, "\\.")}$`, "m"), 5000);
    expect(listener.output()).not.toContain(`:${POLICED} from`);
  });

  it("without the masquerade (Local), the same connection passes, from the Zscaler address", async () => {
    await nodeNat(false);
    expect(await connect(NODE_PORT)).toBe("connected");
    await listener.waitForOutput(new RegExp(`accepted ${at.web.replace(/\./g, "\\.")}:${POLICED} from ${at.egress.replace(/\./g, "\\.")}$`, "m"), 5000);
  });

  it("netcanary check names the Cluster NodePort as the finding, and kube-proxy as the dataplane that rewrites", async () => {
    const report = inboundReport(index, snapshot, { dataplane: "kube-proxy" });
    expect(report.pods[0]?.paths.map((p) => [p.code, p.outcome, p.sourceSeen])).toEqual([["cluster_snat", "rewritten", "a node's address"]]);
    const run = await runCli(["check", "--manifests", manifests, "--dataplane", "kube-proxy", "--strict"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("via NodePort Service shop/web (externalTrafficPolicy: Cluster): the pod sees a node's address, so shop/web-from-zscaler spec.ingress[0] never matches this traffic");
  });
});
