// netcanary map and netcanary advise, run as a user would (the compiled CLI) on the recorded
// shop maps: the table a person reads, the JSON, the exit codes every command agrees on, and a
// suggestion that `netcanary check` (another process, the same engine) confirms.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCidr, parseIp, cidrContainsIp } from "../../agent/addresses/ip.js";
import { repoRoot, runCli } from "../support/cli.js";
import { ZscalerServer } from "../support/zscaler-server.js";
import { fixtureDir } from "../traffic/helpers.js";

const DIRECT = { http_proxy: "", https_proxy: "", HTTP_PROXY: "", HTTPS_PROXY: "", no_proxy: "", NO_PROXY: "" };
const mapA = join(fixtureDir, "shop-node-a.json");
const mapB = join(fixtureDir, "shop-node-b.json");
const inForce = join(fixtureDir, "in-force");
const staged = join(fixtureDir, "staged");

let dir: string;
let server: ZscalerServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-traffic-"));
  server = await ZscalerServer.start();
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe("netcanary map", () => {
  it("is listed in the overview, and its help names its options and exit codes", async () => {
    const overview = await runCli(["--help"]);
    expect(overview.stdout).toMatch(/\n {2}map\s+\S/);
    expect(overview.stdout).toMatch(/\n {2}advise\s+\S/);
    const help = await runCli(["map", "--help"]);
    for (const text of ["--manifests", "--staged", "--output table|json", "Exit status"]) expect(help.stdout).toContain(text);
  });

  it("prints every flow grouped by local workload with its verdict and rule, and exits 1 for a denied flow that was seen", async () => {
    const run = await runCli(["map", mapA, mapB, "--manifests", inForce]);
    expect(run.code).toBe(1);
    const lines = run.stdout.split("\n");
    expect(lines[0]).toMatch(/^LOCAL\s+DIR\s+PEER\s+PORT\s+VERDICT\s+RULE OR REASON\s+LAST SEEN$/);
    expect(lines[1]).toMatch(/^deployment\/shop\/api\s+in\s+deployment\/shop\/web\s+8080\/TCP\s+allow\s+shop\/api-ingress spec\.ingress\[0\]\s+2026-12-07T08:59:00Z$/);
    expect(lines[2]).toMatch(/^\s+in\s+statefulset\/payments\/ledger\s+8080\/TCP\s+deny, seen: not enforced\s+deny: ingress of deployment\/shop\/api: denied/);
    expect(lines.filter((l) => l.startsWith("deployment/"))).toEqual([expect.stringMatching(/^deployment\/shop\/api /), expect.stringMatching(/^deployment\/shop\/web /)]);
    expect(run.stdout).toContain("9 flows: 8 allowed, 1 denied, 0 mixed, 0 unknown; 1 denied by policy but seen (not enforced)");
  });

  it("adds what each staged policy would deny, alone and together, and exits 1", async () => {
    const run = await runCli(["map", mapA, mapB, "--manifests", inForce, "--staged", staged]);
    expect(run.code).toBe(1);
    expect(run.stdout.split("\n")[0]).toMatch(/WOULD DENY$/);
    expect(run.stdout).toMatch(/out\s+service kube-system\/kube-dns\s+53\/UDP .* shop\/default-deny-egress, shop\/web-egress\n/);
    expect(run.stdout).toContain("staged shop/default-deny-egress: would deny 7 observed flow(s)\nstaged shop/web-egress: would deny 1 observed flow(s)\nstaged all staged: would deny 5 observed flow(s)\n");
  });

  it("exits 0 when every flow is allowed and nothing staged would deny one, and says no policies were given", async () => {
    const run = await runCli(["map", mapA]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("note: no --manifests: every flow is judged as if no NetworkPolicy were in force");
  });

  it("prints one JSON document with --output json", async () => {
    const run = await runCli(["map", mapA, mapB, "--manifests", inForce, "--staged", staged, "--output", "json"]);
    expect(run.code).toBe(1);
    const doc = JSON.parse(run.stdout) as { flows: { key: string; verdict: string; unexpectedAllow: boolean; allowedBy: string[]; wouldDeny: string[] }[]; summary: Record<string, number>; staged: { all: { wouldDeny: string[] } } };
    expect(doc.summary).toEqual({ flows: 9, allowed: 8, denied: 1, mixed: 0, unknown: 0, unexpectedAllows: 1, possibleBlocks: 0 });
    expect(doc.flows.filter((f) => f.unexpectedAllow).map((f) => f.key)).toEqual(["inbound|TCP|deployment/shop/api|workload:statefulset/payments/ledger|8080"]);
    expect(doc.staged.all.wouldDeny).toHaveLength(5);
  });

  it("exits 3 on a map with no flow: a gate never passes on nothing", async () => {
    const run = await runCli(["map", join(fixtureDir, "empty.json")]);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("the map holds no flow");
  });

  it("exits 2 on a bad map, naming its file, line and field", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(bad, (await readFile(mapA, "utf8")).replace('"direction": "inbound"', '"direction": "sideways"'));
    const run = await runCli(["map", bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: flows\\[2\\]\\.direction: must be one of outbound, inbound, got string "sideways"\\n$`));
    expect((await runCli(["map"])).code).toBe(2);
  });
});

describe("netcanary advise", () => {
  it("prints the same YAML twice, byte for byte, and exits 0 after its check", async () => {
    const first = await runCli(["advise", mapA, mapB]);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain("checked: every observed flow allowed, unobserved ones denied");
    const second = await runCli(["advise", mapB, mapA]);
    expect(second.stdout).toBe(first.stdout);
    expect(first.stdout).toContain("name: netcanary-default-deny");
  });

  it("writes policies that netcanary check confirms: observed flows allowed, unobserved ones denied", async () => {
    const advised = await runCli(["advise", mapA, mapB]);
    const policies = join(dir, "advised.yaml");
    await writeFile(policies, advised.stdout);
    const workloads = [
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {template: {metadata: {labels: {app: web, tier: front}}, spec: {containers: [{name: c, image: i}]}}}",
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\nspec: {template: {metadata: {labels: {app: api}}, spec: {containers: [{name: c, image: i}]}}}",
      "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: ledger, namespace: payments}\nspec: {template: {metadata: {labels: {app: ledger}}, spec: {containers: [{name: c, image: i}]}}}",
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: batch, namespace: shop}\nspec: {template: {metadata: {labels: {app: batch}}, spec: {containers: [{name: c, image: i}]}}}",
    ].join("\n---\n");
    await writeFile(join(dir, "workloads.yaml"), workloads);
    const queries = join(dir, "queries.yaml");
    await writeFile(
      queries,
      [
        "queries:",
        "  - {from: deployment/shop/web, to: deployment/shop/api, port: 8080, expect: allow}",
        "  - {from: statefulset/payments/ledger, to: deployment/shop/api, port: 8080, expect: allow}",
        "  - {from: deployment/shop/web, to: 203.0.113.10, port: 443, expect: deny}",
        "  - {from: deployment/shop/api, to: 203.0.113.10, port: 443, expect: allow}",
        "  - {from: deployment/shop/api, to: 203.0.113.10, port: 80, expect: deny}",
        "  - {from: deployment/shop/batch, to: deployment/shop/api, port: 8080, expect: deny}",
        "  - {from: deployment/shop/web, to: deployment/shop/api, port: 9090, expect: deny}",
      ].join("\n"),
    );
    const check = await runCli(["check", "--manifests", policies, join(dir, "workloads.yaml"), "--queries", queries]);
    expect(check.stderr).toBe("");
    expect(check.stdout).toContain("7 queries: 3 allowed, 4 denied; 7 expectations: 7 held, 0 failed");
    expect(check.code).toBe(0);
  });

  it("collapses addresses into the Zscaler cloud's published ranges with --cloud, read as netcanary zscaler reads them", async () => {
    const run = await runCli(["advise", mapA, mapB, "--cloud", "zscaler.net", "--base-url", server.baseUrl], { env: DIRECT, timeoutMs: 20_000 });
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain("147.161.130.5/32");
    const address = parseIp("147.161.130.5");
    const cidrs = [...run.stdout.matchAll(/cidr: (\S+)/g)].map((m) => parseCidr(m[1] ?? ""));
    expect(cidrs.some((c) => c.ok && address.ok && cidrContainsIp(c.value, address.value) && c.value.prefix < 32)).toBe(true);
    expect(run.stdout).toContain("cidr: 203.0.113.0/24");
  });

  it("exits 2 when the Zscaler feeds cannot be read, and refuses feed options without --cloud", async () => {
    const unreachable = await runCli(["advise", mapA, "--cloud", "zscaler.net", "--base-url", "http://127.0.0.1:1", "--timeout", "2s"], { env: DIRECT });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stdout).toBe("");
    expect(unreachable.stderr).toContain("cannot fetch the future feed of zscaler.net");
    const noCloud = await runCli(["advise", mapA, "--feeds", "future"]);
    expect(noCloud.code).toBe(2);
    expect(noCloud.stderr).toContain("--feeds, --base-url and --timeout go with --cloud");
  });

  it("exits 1 and prints nothing when a flow cannot be allowed, naming it", async () => {
    const run = await runCli(["advise", join(fixtureDir, "unnamed-peer.json"), mapA]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("no rule can be written for outbound deployment/shop/web -> unnamed 10.0.9.9 9000/TCP: peer 10.0.9.9 is not named (address lookup pending)");
  });

  it("refuses a --namespace no observed workload lives in: its default-deny would cut off everything", async () => {
    const run = await runCli(["advise", mapA, "--namespace", "shopp"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("--namespace shopp: no workload of it was observed");
  });

  it("exits 3 on a map with no flow", async () => {
    const run = await runCli(["advise", join(fixtureDir, "empty.json")]);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe("");
  });
});

describe("the README's first step: map, stage, apply", () => {
  it("runs each command as written, with the exit codes its comments give", async () => {
    const readme = await readFile(join(repoRoot, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## The first step: map, stage, apply"));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    const commands = block.split("\n").filter((line) => line.startsWith("node dist/cli/main.js "));
    expect(commands).toHaveLength(3);
    const codes: (number | null)[] = [];
    for (const command of commands) {
      const [args, redirect] = command.replace("node dist/cli/main.js ", "").split(" > ");
      const run = await runCli((args ?? "").split(" "));
      codes.push(run.code);
      if (redirect !== undefined) expect(run.stdout).toContain("kind: NetworkPolicy");
    }
    expect(codes).toEqual([1, 1, 0]);
  });
});
