// The compiled `netcanary agent` against the wire-true API test server, as in a cluster:
// identity from the downward API variables, state from the API, Events on the source pod.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cliPath } from "../support/cli.js";
import { KubeApiServer } from "../support/kube-api-server.js";
import { waitFor } from "../support/wait.js";

let server: KubeApiServer;
let dir: string;
let child: ChildProcess | undefined;
let output = "";

beforeEach(async () => {
  server = await KubeApiServer.start({ bookmarkIntervalMs: 500 });
  dir = await mkdtemp(join(tmpdir(), "netcanary-agent-cli-"));
  output = "";
});

afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
  child = undefined;
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("netcanary agent on a live cluster", () => {
  it("judges against the API's state and posts a Warning Event on its own pod when an allowed edge is blocked", async () => {
    server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "netcanary" } });
    server.apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "netcanary", name: "agent-x1", labels: { app: "netcanary" }, uid: "u-1" },
      spec: { nodeName: "node-a", containers: [{ name: "agent", image: "netcanary" }] },
      status: { phase: "Running", podIP: "127.0.0.1", podIPs: [{ ip: "127.0.0.1" }] },
    });
    const closed = await freePort(); // nothing listens there: refused
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, server.kubeconfigYaml());
    const config = join(dir, "config.yaml");
    await writeFile(
      config,
      `defaults: {interval: 300ms, timeout: 200ms, failureThreshold: 2}\nsources: [{name: self, self: true}]\nprobes:\n  - {name: backend, sources: [self], tcp: {ip: 127.0.0.3, port: ${closed}}}\n`,
    );
    const listen = await freePort();
    child = spawn(process.execPath, [cliPath, "agent", "--config", config, "--kubeconfig", kubeconfig, "--listen", `127.0.0.1:${listen}`], {
      env: { ...process.env, POD_NAMESPACE: "netcanary", POD_NAME: "agent-x1", POD_IP: "127.0.0.1", NODE_NAME: "node-a", KUBERNETES_SERVICE_HOST: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));

    await waitFor(() => server.list("Event", "netcanary").some((event) => event["reason"] === "UnexpectedBlock"), 10_000, `the Event (agent output: ${output.slice(-2000)})`);
    const event = server.list("Event", "netcanary").find((e) => e["reason"] === "UnexpectedBlock") as Record<string, unknown>;
    expect(event).toMatchObject({
      type: "Warning",
      involvedObject: { kind: "Pod", namespace: "netcanary", name: "agent-x1" },
      source: { component: "netcanary", host: "node-a" },
    });
    expect(String(event["message"])).toContain("backend");
    expect(String(event["message"])).toContain("refused");

    const metrics = await (await fetch(`http://127.0.0.1:${listen}/metrics`)).text();
    expect(metrics).toMatch(/netcanary_probe_mismatch\{probe="backend",source="self",source_namespace="netcanary",source_node="node-a",[^}]*kind="unexpected_block"\} 1/);
    expect(metrics).toMatch(/netcanary_cluster_synced\{resource="pods"\} 1/);
    expect(metrics).toMatch(/netcanary_cluster_sync_age_seconds\{resource="networkpolicies"\} \d/);
    expect(metrics).toMatch(/netcanary_events_total\{result="posted"\} [1-9]/);
    const results = (await (await fetch(`http://127.0.0.1:${listen}/api/v1/results`)).json()) as { results: { policy: { explanation: { lines: string[] } } }[] };
    // The identity came from the API: the agent's pod, not "outside the cluster".
    expect(results.results[0]?.policy.explanation.lines.join("\n")).not.toContain("outside the cluster");
  });
});
