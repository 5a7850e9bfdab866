// Pod sources in the agent: which pods become sources (own node, Running, not terminating,
// selectors, hostNetwork skipped and said so), how they are named in results and metrics,
// how one pod's probes are batched, and that a runner failure is agent_error. Entering the
// namespaces for real is the lab's job (test/system/pod-lab.test.ts); here the runner seam
// records what it is asked and answers as told.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/daemon/agent.js";
import { createLogger } from "../../agent/log/log.js";
import { formatInputError } from "../../agent/documents/located.js";
import type { ProbeOutcome, ProbeReason } from "../../agent/probes/prober.js";
import type { ProbeRequest } from "../../agent/probes/index.js";
import type { PodProbeRunner, SourcePod } from "../../agent/sources/batches.js";

interface Call {
  readonly pod: SourcePod;
  readonly probes: readonly string[];
}

/** Answers every probe of a pod with the reason set for its IP (ok by default). */
class RecordingRunner implements PodProbeRunner {
  readonly calls: Call[] = [];
  readonly reasons = new Map<string, ProbeReason>();
  failWith: Error | undefined;
  stopped = false;

  async run(pod: SourcePod, requests: readonly ProbeRequest[]): Promise<Map<string, ProbeOutcome>> {
    this.calls.push({ pod, probes: requests.map((request) => request.id.split("|")[0] as string).sort() });
    if (this.failWith) throw this.failWith;
    const reason = this.reasons.get(pod.ip) ?? "ok";
    return new Map(requests.map((request) => [request.id, { reason, durationSeconds: 0.001, phases: { connect: 0.001 } }]));
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}

const pod = (name: string, ip: string, options: { node?: string; phase?: string; labels?: string; namespace?: string; owner?: string; hostNetwork?: boolean; deleting?: boolean } = {}) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${options.namespace ?? "shop"}
  labels: ${options.labels ?? '{app: client, netcanary.io/probe: "true"}'}${options.owner ? `\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: ${options.owner}, uid: u-${name}, controller: true}]` : ""}${options.deleting ? "\n  deletionTimestamp: 2026-01-01T00:00:00Z" : ""}
spec: {nodeName: ${options.node ?? "node-a"}, hostNetwork: ${options.hostNetwork ?? false}, containers: [{name: c, image: x}]}
status: {phase: ${options.phase ?? "Running"}, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;

const CLUSTER = [
  "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: shop}}\n",
  "apiVersion: v1\nkind: Namespace\nmetadata: {name: other, labels: {team: other}}\n",
  // Two pods of one Deployment on this node: one label set in metrics, two results.
  pod("client-5d8f-a1", "10.0.0.11", { owner: "client-5d8f", labels: '{app: client, netcanary.io/probe: "true", pod-template-hash: 5d8f}' }),
  pod("client-5d8f-b2", "10.0.0.12", { owner: "client-5d8f", labels: '{app: client, netcanary.io/probe: "true", pod-template-hash: 5d8f}' }),
  pod("elsewhere", "10.0.0.13", { node: "node-b" }),
  pod("starting", "10.0.0.14", { phase: "Pending" }),
  pod("leaving", "10.0.0.15", { deleting: true }),
  pod("unlabeled", "10.0.0.16", { labels: "{app: client}" }),
  pod("host", "192.168.1.5", { hostNetwork: true }),
  pod("other-ns", "10.0.0.17", { namespace: "other" }),
  pod("web", "10.0.0.20", { labels: "{app: web}" }),
  "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: client-egress, namespace: shop}\nspec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: [{to: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 8080}]}]}\n",
].join("---\n");

const CONFIG = `defaults: {interval: 1h, timeout: 200ms, failureThreshold: 1, successThreshold: 1}
sources:
  - name: shop-probes
    namespaceSelector: {matchLabels: {team: shop}}
probes:
  - {name: web, sources: [shop-probes], tcp: {pods: {namespace: shop, selector: {app: web}}, port: 8080}}
  - {name: dns, sources: [shop-probes], dns: {query: web.example, server: cluster}}
`;

let dir: string;
const agents: Agent[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-pod-sources-"));
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function start(runner: PodProbeRunner, log: string[] = []): Promise<Agent> {
  const configFile = join(dir, "config.yaml");
  const manifests = join(dir, "cluster.yaml");
  await writeFile(configFile, CONFIG);
  await writeFile(manifests, CLUSTER);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log.push(...chunk.toString().trim().split("\n"));
      done();
    },
  });
  const started = await Agent.create({ configFile, manifests: [manifests], identity: { nodeName: "node-a" }, logger: createLogger("warn", sink), watchIntervalMs: 0, podProbes: runner });
  if (!started.ok) throw new Error(started.errors.map(formatInputError).join("\n"));
  agents.push(started.agent);
  return started.agent;
}

describe("pod sources", () => {
  it("are the Running, labeled, not terminating pods of this node in the selected namespaces; hostNetwork pods are skipped and said so", async () => {
    const runner = new RecordingRunner();
    const log: string[] = [];
    const agent = await start(runner, log);
    await agent.runRound();
    expect(runner.calls.map((call) => call.pod).sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: "shop/client-5d8f-a1", ip: "10.0.0.11" },
      { key: "shop/client-5d8f-b2", ip: "10.0.0.12" },
    ]);
    const warnings = log.map((line) => JSON.parse(line) as { msg: string; pod?: string }).filter((entry) => entry.pod === "shop/host");
    expect(warnings.map((entry) => entry.msg)).toEqual(["labeled pod uses the host network: not a probe source (it has no network namespace of its own)"]);
    // Said once, not every time the edges are rebuilt.
    await agent.runRound();
    expect(log.filter((line) => line.includes('"shop/host"'))).toHaveLength(1);
  });

  it("batch each pod's probes that come due together into one run", async () => {
    const runner = new RecordingRunner();
    const agent = await start(runner);
    await agent.runRound();
    expect(runner.calls).toHaveLength(2);
    for (const call of runner.calls) expect(call.probes).toEqual(["dns", "web"]);
  });

  it("are named by config name, namespace and workload in results and metrics, never by pod name or IP", async () => {
    const runner = new RecordingRunner();
    runner.reasons.set("10.0.0.12", "timeout");
    const agent = await start(runner);
    await agent.runRound();
    const web = agent.results({ probe: "web" }).results;
    expect(web.map((r) => [r.source, r.sourceNamespace, r.sourceWorkload, r.observed?.reason]).sort()).toEqual([
      ["shop-probes", "shop", "deployment/client", "ok"],
      ["shop-probes", "shop", "deployment/client", "timeout"],
    ]);
    for (const result of web) {
      expect(result.policy.explanation.lines).toContain("egress of shop/deployment/client: allowed by shop/client-egress spec.egress[0]");
      expect(JSON.stringify(result.policy)).not.toMatch(/client-5d8f-/);
    }
    const text = await agent.metrics.registry.metrics();
    expect(text).not.toMatch(/client-5d8f-|10\.0\.0\.1[12]/);
    // Two pods, one label set: success only if both got through.
    expect(text.split("\n").filter((line) => line.startsWith('netcanary_probe_success{probe="web"'))).toEqual([
      'netcanary_probe_success{probe="web",source="shop-probes",source_namespace="shop",source_node="node-a",source_workload="deployment/client",target="shop/app=web",target_kind="pods",port="8080",protocol="TCP"} 0',
    ]);
  });

  it("a runner that fails makes agent_error, never a network reason", async () => {
    const runner = new RecordingRunner();
    runner.failWith = new Error("nsenter exploded");
    const agent = await start(runner);
    await agent.runRound();
    const results = agent.results().results;
    expect(results.length).toBeGreaterThan(0);
    for (const result of results) {
      expect(result.observed?.reason).toBe("agent_error");
      expect(result.observed?.detail).toMatch(/^probe worker for shop\/client-5d8f-(a1|b2): nsenter exploded$/);
      expect(result.signals).toEqual([]);
    }
  });

  it("stop() stops the runner", async () => {
    const runner = new RecordingRunner();
    const agent = await start(runner);
    await agent.runRound();
    await agent.stop();
    agents.splice(agents.indexOf(agent), 1);
    expect(runner.stopped).toBe(true);
  });
});
