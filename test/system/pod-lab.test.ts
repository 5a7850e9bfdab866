// The whole agent in pod mode, in the lab: probes run from inside labeled pods' network
// namespaces (found by IP through /proc, entered with nsenter, with only CAP_SYS_ADMIN and
// CAP_SYS_PTRACE), the cluster state comes from a snapshot file, nftables in the node
// namespace enforces the NetworkPolicies, and sabotage rules break them. Every scenario is
// read back through /api/v1/results and /metrics, as a user would.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { samplesOf } from "../support/exposition.js";
import { LAB_COMMANDS } from "../support/lab.js";
import { INITIAL_STATE, type LabResult, NODE_NAME, POD_NAMES, PodLab } from "../support/pod-lab.js";
import { describeWith } from "../support/prerequisites.js";

const CLIENT = "deployment/client";
const REPORTER = "deployment/reporter";
const TIMEOUT_S = 0.5;

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "dnsmasq", "nsenter", "setpriv"] }, "pod sources in the lab", () => {
  let pods: PodLab;

  beforeAll(async () => {
    pods = await PodLab.create({ intervalMs: 1000, timeoutMs: 500, failureThreshold: 2 });
  }, 60_000);

  afterEach(async () => {
    await pods?.lab.clearRules();
    await pods?.setState(INITIAL_STATE);
    // Back to the baseline before the next scenario: every edge of the client healthy.
    for (const probe of ["web", "db", "zscaler-gateway", "gateway-dns"]) await pods?.waitForResult(probe, CLIENT, "status ok", (r) => r.status === "ok");
  }, 60_000);

  afterAll(async () => {
    await pods?.teardown();
  }, 30_000);

  const ok = (r: LabResult) => r.status === "ok";

  it("probes from the pod's own namespace, named by workload: allowed and delivered is ok, denied and dropped is ok", async () => {
    const web = await pods.waitForResult("web", CLIENT, "ok", ok);
    expect(web).toMatchObject({ source: "shop-probes", sourceNamespace: "shop", sourceNode: NODE_NAME, sourceWorkload: CLIENT, target: "shop/app=web", endpoint: "shop/web-0" });
    expect([web.policy.verdict, web.observed?.reason]).toEqual(["allow", "ok"]);
    // The listener saw the client pod's address: the probe left from the pod's namespace.
    expect(pods.listeners.web.output()).toContain(`from ${pods.addresses.client}\n`);
    expect(pods.listeners.web.output()).not.toContain(`from ${pods.addresses.agent}\n`);

    const db = await pods.waitForResult("db", CLIENT, "ok", ok);
    expect(db.policy.verdict).toBe("deny");
    expect(db.policy.explanation.summary).toMatch(/shop\/client-egress/);
    expect(db.observed?.reason).toBe("timeout");
    expect(db.observed?.durationSeconds).toBeGreaterThanOrEqual(TIMEOUT_S - 0.01);
    expect(db.signals).toEqual([]);

    const gateway = await pods.waitForResult("zscaler-gateway", CLIENT, "ok", ok);
    expect([gateway.policy.verdict, gateway.observed?.reason, gateway.observed?.address]).toEqual(["allow", "ok", pods.addresses.gateway]);
    // Resolved through the pod's own resolver (its resolv.conf names the lab's dnsmasq).
    const dns = await pods.waitForResult("gateway-dns", CLIENT, "ok", ok);
    expect(dns.observed?.detail).toMatch(/Lab City I/);

    // Metrics: the source by config name, namespace and workload; never the pod's name or IP.
    const text = await pods.metricsText();
    expect(text).not.toContain(POD_NAMES.client);
    expect(text).not.toContain(pods.addresses.client);
    const samples = await pods.metrics();
    expect(samplesOf(samples, "netcanary_probe_success", { probe: "web", source: "shop-probes", source_namespace: "shop", source_workload: CLIENT })).toEqual([
      expect.objectContaining({ value: 1 }),
    ]);
    expect(samplesOf(samples, "netcanary_probe_expected_success", { probe: "db", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 0 })]);
    expect(samplesOf(samples, "netcanary_edge_status", { probe: "db", status: "ok", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 1 })]);
    // One worker per pod and round, all of them finishing on their own.
    const runs = samplesOf(samples, "netcanary_pod_worker_runs_total");
    expect(runs.find((s) => s.labels["result"] === "ok")?.value).toBeGreaterThan(0);
    const failedRuns = runs.filter((s) => s.labels["result"] !== "ok");
    expect(failedRuns.reduce((sum, s) => sum + s.value, 0), JSON.stringify(failedRuns)).toBe(0);
  });

  it("allowed but dropped: timeout, unexpected_block on the workload's series", async () => {
    await pods.lab.dropTo(pods.lab.pod("client"), pods.addresses.web, 8080);
    const web = await pods.waitForResult("web", CLIENT, "unexpected_block", (r) => r.status === "unexpected_block");
    expect(web.policy.verdict).toBe("allow");
    expect(web.observed?.reason).toBe("timeout");
    expect(web.signals).toEqual(["unexpected_block"]);
    const samples = await pods.metrics();
    expect(samplesOf(samples, "netcanary_probe_mismatch", { probe: "web", kind: "unexpected_block", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 1 })]);
    expect(samplesOf(samples, "netcanary_probe_success", { probe: "web", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 0 })]);
    // The other edges of the same pod are untouched.
    expect((await pods.waitForResult("zscaler-gateway", CLIENT, "ok", ok)).status).toBe("ok");
  });

  it("allowed but rejected: refused, unexpected_block", async () => {
    await pods.lab.rejectTo(pods.lab.pod("client"), pods.addresses.web, 8080);
    const web = await pods.waitForResult("web", CLIENT, "unexpected_block", (r) => r.status === "unexpected_block");
    expect(web.observed?.reason).toBe("refused");
    expect(web.observed?.durationSeconds).toBeLessThan(TIMEOUT_S);
    const samples = await pods.metrics();
    expect(samplesOf(samples, "netcanary_probe_mismatch", { probe: "web", kind: "unexpected_block", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 1 })]);
    expect(samplesOf(samples, "netcanary_probes_total", { probe: "web", result: "failure", reason: "refused", source_workload: CLIENT })[0]?.value).toBeGreaterThan(0);
  });

  it("denied but delivered (the CNI does not enforce): unexpected_allow", async () => {
    await pods.setState({ enforcing: false });
    const db = await pods.waitForResult("db", CLIENT, "unexpected_allow", (r) => r.status === "unexpected_allow");
    expect([db.policy.verdict, db.observed?.reason]).toEqual(["deny", "ok"]);
    expect(pods.listeners.db.output()).toContain(`from ${pods.addresses.client}\n`);
    const samples = await pods.metrics();
    expect(samplesOf(samples, "netcanary_probe_mismatch", { probe: "db", kind: "unexpected_allow", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 1 })]);
  });

  it("DNS egress blocked: dns_timeout, unexpected_block, for the DNS probe and the name the TCP probe resolves", async () => {
    await pods.lab.dropTo(pods.lab.pod("client"), pods.addresses.dns, 53, "udp");
    const dns = await pods.waitForResult("gateway-dns", CLIENT, "unexpected_block", (r) => r.status === "unexpected_block");
    expect(dns.observed?.reason).toBe("dns_timeout");
    const gateway = await pods.waitForResult("zscaler-gateway", CLIENT, "unexpected_block", (r) => r.status === "unexpected_block");
    expect(gateway.observed?.reason).toBe("dns_timeout");
    const samples = await pods.metrics();
    expect(samplesOf(samples, "netcanary_probe_mismatch", { probe: "gateway-dns", kind: "unexpected_block", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 1 })]);
    expect(samplesOf(samples, "netcanary_probes_total", { probe: "gateway-dns", reason: "dns_timeout", source_workload: CLIENT })[0]?.value).toBeGreaterThan(0);
    expect(samplesOf(samples, "netcanary_edge_status", { probe: "gateway-dns", status: "unexpected_block", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 1 })]);
  });

  it("a policy change in the snapshot file is picked up live: the verdict follows at once, the status once the CNI does", async () => {
    // The policy now allows db, but the CNI still drops it: packets die on an allowed edge.
    await pods.setState({ dbAllowed: true, enforcing: true });
    await pods.lab.dropTo(pods.lab.pod("client"), pods.addresses.db, 5432);
    const blocked = await pods.waitForResult("db", CLIENT, "unexpected_block", (r) => r.status === "unexpected_block");
    expect(blocked.policy.verdict).toBe("allow");
    expect(blocked.policy.explanation.egressRule).toMatch(/shop\/client-egress/);
    const samples = await pods.metrics();
    expect(samplesOf(samples, "netcanary_probe_expected_success", { probe: "db", source_workload: CLIENT })).toEqual([expect.objectContaining({ value: 1 })]);
    // The CNI catches up: delivered, as the policy now says.
    await pods.lab.clearRules();
    const delivered = await pods.waitForResult("db", CLIENT, "ok", ok);
    expect([delivered.policy.verdict, delivered.observed?.reason]).toEqual(["allow", "ok"]);
  });

  it("a labeled pod that appears becomes a source; one being deleted stops being one, and its series go", async () => {
    const series = async () => samplesOf(await pods.metrics(), "netcanary_probe_success", { source_workload: REPORTER });
    expect(await series()).toEqual([]);

    await pods.setState({ reporter: "running" });
    const web = await pods.waitForResult("web", REPORTER, "ok", ok);
    expect(web).toMatchObject({ source: "shop-probes", sourceWorkload: REPORTER, policy: { verdict: "allow" } });
    expect(pods.listeners.web.output()).toContain(`from ${pods.addresses.reporter}\n`);
    // reporter-egress does not allow db: denied, and the CNI drops it.
    const db = await pods.waitForResult("db", REPORTER, "ok", ok);
    expect([db.policy.verdict, db.observed?.reason], JSON.stringify(db.observed)).toEqual(["deny", "timeout"]);
    expect((await series()).map((s) => s.labels["probe"]).sort()).toEqual(["db", "gateway-dns", "web", "zscaler-gateway"]);

    await pods.setState({ reporter: "terminating" });
    await pods.waitForResult("web", CLIENT, "ok", ok);
    await expectEventually(async () => (await pods.results()).filter((r) => r.sourceWorkload === REPORTER), []);
    expect(await series()).toEqual([]);
  });

  it("a labeled pod the agent cannot enter: agent_error with the reason, never a network fault", async () => {
    await pods.setState({ reporter: "running" });
    await pods.waitForResult("web", REPORTER, "ok", ok);
    // Still listed as Running, but no process holds its namespace any more: nothing to enter.
    await pods.killReporter();
    // A worker already on its way may fail to enter (nsenter: no such process) before the
    // agent finds no process at all: both are the agent's own failure, never the network's.
    const seen = new Set<string>();
    const web = await pods.waitForResult("web", REPORTER, "agent_error: no process holds the pod's address", (r) => {
      if (r.observed?.reason !== "ok") seen.add(`${r.observed?.reason}/${r.status}`);
      return /no process/.test(r.observed?.detail ?? "");
    });
    expect(web.observed?.detail).toMatch(/^cannot enter the network namespace of shop\/reporter-5c8d7b9f4-k4m7t: no process/);
    expect([...seen].filter((entry) => !entry.startsWith("agent_error/"))).toEqual([]);
    expect(web.status).not.toBe("unexpected_block");
    expect(web.signals).toEqual([]);
  });
});

async function expectEventually<T>(read: () => Promise<T>, expected: T, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (JSON.stringify(last) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    last = await read();
  }
  expect(last).toEqual(expected);
}
