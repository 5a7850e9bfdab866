// Derived probes and rule coverage through the compiled CLI: `once` with a source that derives
// its probes from its policies (real listeners on loopback addresses standing for the pods),
// its coverage line and --min-rule-coverage; `check` with --min-rule-coverage over the bundled
// example. A gate never passes on nothing.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentEgressManifests, podManifest } from "../support/agent-egress.js";
import { runCli } from "../support/cli.js";
import { acceptingEndpoint, type Endpoint } from "../support/listeners.js";

let dir: string;
let api: Endpoint;
let db: Endpoint;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-rule-coverage-"));
  // Two pods, each its own loopback address: a derived edge reaches each one.
  [api, db] = await Promise.all([acceptingEndpoint("127.0.0.2"), acceptingEndpoint("127.0.0.3")]);
});
afterAll(async () => {
  await Promise.all([api?.close(), db?.close()]);
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

// The agent is pod shop/agent at 127.0.0.1; outside a cluster otherwise.
const env = { ...process.env, KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "", NODE_NAME: "node-a", POD_NAMESPACE: "shop", POD_NAME: "agent", POD_IP: "127.0.0.1" };

const SHOP = { namespace: "shop", node: "node-a" };
const AGENT = { name: "agent", ip: "127.0.0.1", port: 1 };

/** The agent's egress: rules to api (by named port) and db, and optionally to a cache no pod runs. */
function manifests(withCache: boolean): string {
  return agentEgressManifests({
    ...SHOP,
    pods: [AGENT, { name: "api", ip: "127.0.0.2", port: api.port }, { name: "db", ip: "127.0.0.3", port: db.port }],
    rules: [{ app: "api", port: "serve" }, { app: "db", port: db.port }, ...(withCache ? [{ app: "cache", port: 6379 }] : [])],
  });
}

const config = `sources: [{name: self, self: true, derive: {deny: false}}]\nprobes: []\n`;

describe("netcanary once with derived probes", () => {
  it("probes one derived edge per rule, named by the rule, and passes a 100% coverage gate", async () => {
    const run = await runCli(["once", "--config", await file("derive.yaml", config), "--manifests", await file("shop.yaml", manifests(false)), "--min-rule-coverage", "100"], { env });
    expect(run.stderr).toBe("netcanary once: rule coverage 100% meets --min-rule-coverage 100\n");
    expect(run.stdout).toMatch(new RegExp(`derived\\s+self\\s+shop/agent-egress spec\\.egress\\[0\\]\\s+${api.port}/TCP\\s+-\\s+allow\\s+ok\\s+ok`));
    expect(run.stdout).toMatch(new RegExp(`derived\\s+self\\s+shop/agent-egress spec\\.egress\\[1\\]\\s+${db.port}/TCP\\s+-\\s+allow\\s+ok\\s+ok`));
    expect(run.stdout).not.toMatch(/127\.0\.0\.[23]|shop\/api\b|shop\/db\b/);
    expect(run.stdout).toContain("rule coverage: 2 of 2 rules exercised (100%) in 1 policy");
    expect(run.code).toBe(0);
  });

  it("fails the gate (exit 1) when a rule's only destination does not exist, naming the rule and why", async () => {
    const run = await runCli(["once", "--config", await file("derive.yaml", config), "--manifests", await file("shop-cache.yaml", manifests(true)), "--min-rule-coverage", "100", "--output", "json"], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("netcanary once: rule coverage 66.6% is below --min-rule-coverage 100 (1 of 3 rules not exercised)");
    const report = JSON.parse(run.stdout) as { coverage: { ratio: number; policies: { rules: { rule: string; exercised: boolean; reason?: string }[] }[] } };
    expect(report.coverage.policies[0]?.rules.find((r) => !r.exercised)).toEqual({
      rule: "shop/agent-egress spec.egress[2]",
      direction: "egress",
      exercised: false,
      by: [],
      reason: "no destination the cluster state or the config names is admitted by it on 6379",
    });
  });

  it("is inconclusive (exit 3) under a coverage gate when no policy selects the source", async () => {
    const bare = [`apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n`, podManifest(SHOP, AGENT)].join("---\n");
    const withProbe = `sources: [{name: self, self: true, derive: true}]\nprobes:\n  - {name: api, sources: [self], tcp: {ip: 127.0.0.2, port: ${api.port}}}\n`;
    const run = await runCli(["once", "--config", await file("bare.yaml", withProbe), "--manifests", await file("bare-shop.yaml", bare), "--min-rule-coverage", "0"], { env });
    expect(run.stdout).toContain("rule coverage: no policy selects a source or a probed pod: no rule to exercise");
    expect(run.stderr).toContain("netcanary once: inconclusive: --min-rule-coverage 0: no rule to exercise, so coverage proves nothing");
    expect(run.code).toBe(3);
  });

  it("refuses a threshold that is not a percentage (exit 2)", async () => {
    const run = await runCli(["once", "--config", await file("derive.yaml", config), "--min-rule-coverage", "101"], { env });
    expect(run.stderr).toContain("--min-rule-coverage must be a percentage from 0 to 100");
    expect(run.code).toBe(2);
  });
});

describe("netcanary check --min-rule-coverage", () => {
  const example = ["check", "--manifests", "examples/check/manifests", "--queries", "examples/check/queries.yaml"];

  it("fails (exit 1) below the threshold, naming the rules no query exercises, and passes at it", async () => {
    const below = await runCli([...example, "--min-rule-coverage", "100"]);
    expect(below.stdout).toContain("rule coverage: 7 of 8 rules exercised (87.5%) in 4 policies; not exercised: shop/web spec.ingress[0]");
    expect(below.stderr).toBe("netcanary check: rule coverage 87.5% is below --min-rule-coverage 100 (1 of 8 rules not exercised)\n");
    expect(below.code).toBe(1);
    const at = await runCli([...example, "--min-rule-coverage", "87.5"]);
    expect(at.code).toBe(0);
  });

  it("is inconclusive (exit 3) when the manifests hold no rule at all", async () => {
    const manifests = await file("no-policy.yaml", `apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: shop}\nspec: {containers: [{name: a}]}\nstatus: {podIP: 10.0.0.1}\n`);
    const queries = await file("queries.yaml", `queries:\n  - {from: shop/a, to: 10.0.0.9, port: 443}\n`);
    const run = await runCli(["check", "--manifests", manifests, "--queries", queries, "--min-rule-coverage", "0"]);
    expect(run.stderr).toContain("no rule to exercise, so coverage proves nothing");
    expect(run.code).toBe(3);
  });
});
