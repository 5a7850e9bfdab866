// The agent's own source-address test, in network namespaces: two real agents, one with the
// source echo on (the "echo" pod), one testing two NodePorts of a "node" that lead to it. The
// node DNATs both to the echo; for the Cluster NodePort it also masquerades, as kube-proxy does
// with externalTrafficPolicy: Cluster, for the Local one it does not. The testing agent reports,
// at /api/v1/inbound and in /metrics, `rewritten` to the node's address for Cluster and
// `preserved` (its own address) for Local: what a team learns from its own nodes.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { cliPath } from "../support/cli.js";
import { Lab, LAB_COMMANDS, mustRun, waitFor } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";

const ECHO_PORT = 9715;
const CLUSTER_NODE_PORT = 30971;
const LOCAL_NODE_PORT = 30972;

interface EchoEntry {
  readonly service: string;
  readonly target: string;
  readonly outcome: string;
  readonly sent: string | null;
  readonly seen: string | null;
  readonly rewrittenTo: string | null;
}

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "sysctl"] }, "the agents' source-address test through NodePorts, in the lab", () => {
  let lab: Lab;
  let at: { client: string; node: string; echo: string };

  beforeAll(async () => {
    lab = await Lab.create((addresses) => {
      const [client, node, echo] = [addresses.ip(74), addresses.ip(75), addresses.ip(76)];
      return {
        pods: [
          { name: "client", ip: client },
          { name: "k8snode", ip: node },
          // The echo's replies go back through the node, so that its NAT sees them.
          { name: "echo", ip: echo, routes: [{ to: `${client}/32`, via: node }] },
        ],
      };
    });
    at = { client: lab.pod("client").ip, node: lab.pod("k8snode").ip, echo: lab.pod("echo").ip };
    const node = lab.pod("k8snode");
    for (const setting of ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0"]) {
      await mustRun(["ip", "netns", "exec", node.netns, "sysctl", "-qw", setting]);
    }
    // Both NodePorts lead to the echo; only the Cluster one masquerades (marked on the way in).
    await lab.nft(
      node,
      [
        "table ip kube {",
        "  chain pre { type nat hook prerouting priority -100;",
        `    tcp dport ${CLUSTER_NODE_PORT} meta mark set 0x4000 dnat to ${at.echo}:${ECHO_PORT}`,
        `    tcp dport ${LOCAL_NODE_PORT} dnat to ${at.echo}:${ECHO_PORT}`,
        "  }",
        "  chain post { type nat hook postrouting priority 100;",
        "    meta mark 0x4000 masquerade",
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    // Each agent probes the echo port directly (a config needs a probe); only the echo test matters here.
    const config = join(lab.dir, "netcanary.yaml");
    writeFileSync(config, `sources:\n  - {name: self, self: true}\nprobes:\n  - {name: echo, sources: [self], tcp: {host: ${at.echo}, port: ${ECHO_PORT}}}\n`);
    const common = ["--config", config, "--log-level", "info"];
    lab.startProcess(lab.pod("echo"), process.execPath, [cliPath, "agent", ...common, "--listen", `${at.echo}:9714`, "--source-echo-port", String(ECHO_PORT)], {
      env: { NODE_NAME: "node-b" },
      name: "echo agent",
    });
    await waitFor("the echo to listen", async () => {
      const run = await lab.exec(lab.pod("client"), [process.execPath, "-e", `require("node:net").connect(${ECHO_PORT}, "${at.echo}").on("data", (d) => process.stdout.write(d)).on("error", () => process.exit(1))`], { timeoutMs: 3000 });
      return run.stdout.endsWith("\n") ? run.stdout : undefined;
    }, { timeoutMs: 15_000 });
    lab.startProcess(
      lab.pod("client"),
      process.execPath,
      [
        cliPath,
        "agent",
        ...common,
        "--listen",
        `${at.client}:9714`,
        "--source-echo-target",
        `netcanary/echo-cluster=${at.node}:${CLUSTER_NODE_PORT}`,
        "--source-echo-target",
        `netcanary/echo-local=${at.node}:${LOCAL_NODE_PORT}`,
      ],
      { env: { NODE_NAME: "node-a", HOST_IP: at.client }, name: "testing agent" },
    );
  }, 60_000);

  afterAll(async () => {
    await lab?.teardown();
  }, 30_000);

  it("reports the node's address through the Cluster NodePort and its own through the Local one", async () => {
    const document = await waitFor(
      "the testing agent's /api/v1/inbound",
      async () => {
        const got = await lab.httpGet(lab.pod("echo"), `http://${at.client}:9714/api/v1/inbound`);
        return got.status === 200 ? (JSON.parse(got.body) as { sourceEcho: EchoEntry[] }) : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    expect(document.sourceEcho.map((e) => ({ service: e.service, target: e.target, outcome: e.outcome, sent: e.sent, seen: e.seen, rewrittenTo: e.rewrittenTo }))).toEqual([
      { service: "netcanary/echo-cluster", target: `${at.node}:${CLUSTER_NODE_PORT}`, outcome: "rewritten", sent: at.client, seen: at.node, rewrittenTo: "the-node-asked" },
      { service: "netcanary/echo-local", target: `${at.node}:${LOCAL_NODE_PORT}`, outcome: "preserved", sent: at.client, seen: at.client, rewrittenTo: null },
    ]);
    const metrics = await lab.httpGet(lab.pod("echo"), `http://${at.client}:9714/metrics`);
    expect(metrics.body).toContain('netcanary_inbound_source_echo{service="netcanary/echo-cluster",outcome="rewritten"} 1');
    expect(metrics.body).toContain('netcanary_inbound_source_echo{service="netcanary/echo-local",outcome="preserved"} 1');
  });
});
