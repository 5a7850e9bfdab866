// Probes derived from the policies, in the lab: `netcanary once` run inside the agent pod's
// network namespace, its cluster from manifests describing the lab. The agent's pod has a
// default-deny egress policy with three allow rules (to api, db and cache, each a lab pod with
// a real listener); nftables in the agent's namespace enforces the isolation (the admin pod it
// must not reach) and sabotages one rule. Each rule gets its own derived edge, named by the
// rule; the sabotaged one shows as unexpected_block naming it; coverage is 100% and drops when
// a rule's only destination goes away.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { agentEgressManifests } from "../support/agent-egress.js";
import { cliPath } from "../support/cli.js";
import { Lab, LAB_COMMANDS, type LabProcess } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";

interface Result {
  probe: string;
  target: string;
  port: number;
  endpoint?: string;
  policy: { verdict: string; explanation: { summary: string; lines: string[] } };
  observed: { reason: string; address?: string } | null;
  signals: string[];
  status: string;
}

interface Report {
  results: Result[];
  coverage: { exercised: number; total: number; ratio: number | null; policies: { policy: string; rules: { rule: string; exercised: boolean; by: string[]; reason?: string }[] }[] };
}

const RULE = (i: number) => `lab/agent-egress spec.egress[${i}]`;
const ISOLATION = "lab/agent-egress egress isolation";

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft"] }, "derived probes in the lab", () => {
  let lab: Lab;
  let listeners: LabProcess[];
  let runs = 0;
  let AGENT: string, API: string, DB: string, CACHE: string, ADMIN: string;

  beforeAll(async () => {
    lab = await Lab.create((at) => ({
      pods: [
        { name: "agent", ip: at.ip(2) },
        { name: "api", ip: at.ip(20) },
        { name: "db", ip: at.ip(21) },
        { name: "cache", ip: at.ip(22) },
        { name: "admin", ip: at.ip(23) },
      ],
    }));
    [AGENT, API, DB, CACHE, ADMIN] = ["agent", "api", "db", "cache", "admin"].map((name) => lab.pod(name).ip) as [string, string, string, string, string];
    listeners = await Promise.all([
      lab.tcpListener(lab.pod("api"), API, [8080]),
      lab.tcpListener(lab.pod("db"), DB, [5432]),
      lab.tcpListener(lab.pod("cache"), CACHE, [6379]),
      lab.tcpListener(lab.pod("admin"), ADMIN, [9000]),
    ]);
  });

  afterEach(async () => {
    await lab?.clearRules(lab.pod("agent"));
  });

  afterAll(async () => {
    await lab?.teardown();
  });

  /** The lab as manifests: the pods (each declaring its listener's port) and the agent's egress policy. */
  async function manifests(options: { cache: boolean }): Promise<string> {
    const file = join(lab.dir, `cluster-${++runs}.yaml`);
    await writeFile(
      file,
      agentEgressManifests({
        namespace: "lab",
        node: "lab-node",
        image: "lab",
        pods: [
          { name: "agent", ip: AGENT, port: 9714 },
          { name: "api", ip: API, port: 8080 },
          { name: "db", ip: DB, port: 5432 },
          ...(options.cache ? [{ name: "cache", ip: CACHE, port: 6379 }] : []),
          { name: "admin", ip: ADMIN, port: 9000 },
        ],
        rules: [
          { app: "api", port: "serve" },
          { app: "db", port: 5432 },
          { app: "cache", port: 6000, endPort: 6999 },
        ],
      }),
    );
    return file;
  }

  /** netcanary once --output json, as the agent pod, run inside its namespace; the "CNI" enforces the isolation. */
  async function once(options: { cache: boolean; minCoverage?: number }): Promise<{ code: number | null; stderr: string; report: Report; derived: (target: string) => Result }> {
    await lab.dropTo(lab.pod("agent"), ADMIN, 9000);
    const config = join(lab.dir, `config-${++runs}.yaml`);
    await writeFile(config, "defaults: {interval: 2s, timeout: 600ms}\nsources: [{name: self, self: true, derive: true}]\nprobes: []\n");
    const args = [cliPath, "once", "--config", config, "--manifests", await manifests(options), "--output", "json", ...(options.minCoverage !== undefined ? ["--min-rule-coverage", String(options.minCoverage)] : [])];
    const env = { NODE_NAME: "lab-node", POD_NAMESPACE: "lab", POD_NAME: "agent", POD_IP: AGENT };
    const run = await lab.exec(lab.pod("agent"), [process.execPath, ...args], { env, timeoutMs: 20_000 });
    let report: Report;
    try {
      report = JSON.parse(run.stdout) as Report;
    } catch {
      throw new Error(`netcanary once exited ${run.code} without a JSON report\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
    }
    const derived = (target: string) => {
      const found = report.results.find((r) => r.probe === "derived" && r.target === target);
      if (!found) throw new Error(`no derived edge for ${target}: ${JSON.stringify(report.results, null, 2)}`);
      return found;
    };
    return { code: run.code, stderr: run.stderr, report, derived };
  }

  it("gives each of the three allow rules its derived edge, and the isolation one, all judged ok; coverage is 100%", async () => {
    const run = await once({ cache: true, minCoverage: 100 });
    const summary = run.report.results.map((r) => [r.probe, r.target, r.port, r.endpoint, r.policy.verdict, r.observed?.reason, r.status]);
    expect(summary).toEqual([
      ["derived", ISOLATION, 9000, "lab/admin", "deny", "timeout", "ok"],
      ["derived", RULE(0), 8080, "lab/api", "allow", "ok", "ok"],
      ["derived", RULE(1), 5432, "lab/db", "allow", "ok", "ok"],
      ["derived", RULE(2), 6379, "lab/cache", "allow", "ok", "ok"],
    ]);
    // The probes really left the agent's pod for each rule's pod.
    for (const [i, [address, port]] of ([[API, 8080], [DB, 5432], [CACHE, 6379]] as const).entries()) expect(listeners[i]?.output()).toContain(`accepted ${address}:${port} from ${AGENT}\n`);
    expect(run.derived(RULE(1)).policy.explanation.lines[0]).toBe(`derived from ${RULE(1)}: lab/db port 5432`);
    expect(run.report.coverage).toMatchObject({ exercised: 3, total: 3, ratio: 1 });
    expect(run.stderr).toContain("rule coverage 100% meets --min-rule-coverage 100");
    expect(run.code).toBe(0);
  });

  it("shows a rule sabotaged with nftables as unexpected_block on the edge named by that rule, and only there", async () => {
    await lab.dropTo(lab.pod("agent"), DB, 5432);
    const run = await once({ cache: true });
    const db = run.derived(RULE(1));
    expect([db.policy.verdict, db.observed?.reason, db.status, db.signals]).toEqual(["allow", "timeout", "unexpected_block", ["unexpected_block"]]);
    expect(db.policy.explanation.summary).toContain(`allowed by ${RULE(1)}`);
    expect(db.policy.explanation.lines[0]).toBe(`derived from ${RULE(1)}: lab/db port 5432`);
    expect(run.report.results.filter((r) => r.status !== "ok").map((r) => r.target)).toEqual([RULE(1)]);
    expect(await lab.matchedPackets(lab.pod("agent"))).toBeGreaterThan(0);
    expect(run.code).toBe(1);
  });

  it("drops coverage below 100% when a rule's only destination disappears, and the gate fails naming the rule", async () => {
    const run = await once({ cache: false, minCoverage: 100 });
    expect(run.report.results.map((r) => r.target)).not.toContain(RULE(2));
    expect(run.report.coverage).toMatchObject({ exercised: 2, total: 3 });
    const cache = run.report.coverage.policies[0]?.rules.find((r) => r.rule === RULE(2));
    expect(cache).toMatchObject({ exercised: false, by: [], reason: "no destination the cluster state or the config names is admitted by it on 6000-6999" });
    expect(run.stderr).toContain("rule coverage 66.6% is below --min-rule-coverage 100 (1 of 3 rules not exercised)");
    expect(run.code).toBe(1);
  });
});
