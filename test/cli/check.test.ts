import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

const example = ["--manifests", "examples/check/manifests", "--queries", "examples/check/queries.yaml"];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-check-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe("netcanary --help", () => {
  it("lists the subcommands", async () => {
    const run = await runCli(["--help"]);
    expect(run.code).toBe(0);
    for (const command of ["agent", "once", "check"]) expect(run.stdout).toMatch(new RegExp(`\\n  ${command}\\s+\\S`));
  });
  it("rejects an unknown command with exit 2", async () => {
    const run = await runCli(["frobnicate"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown command "frobnicate"');
  });
});

describe("netcanary check", () => {
  it("exits 0 and explains each verdict when every expectation holds (bundled example)", async () => {
    const run = await runCli(["check", ...example]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("8 expectations: 8 held, 0 failed");
    expect(run.stdout).toContain("egress of deployment/shop/web: allowed by shop/web spec.egress[0]");
    expect(run.stdout).toMatch(/ingress of statefulset\/shop\/db: denied \(isolated by shop\/default-deny, shop\/db;/);
  });

  it("prints one JSON document with results in query order", async () => {
    const run = await runCli(["check", ...example, "--output", "json"]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as {
      results: { from: string; to: string; port: number; protocol: string; verdict: string; expect: string | null; ok: boolean | null; explanation: { egress: { allowedBy: { policy: string; direction: string; rule: number }[] } } }[];
      summary: { queries: number; failed: number };
    };
    expect(doc.results.map((r) => [r.from, r.to, r.port, r.protocol, r.verdict, r.expect, r.ok])).toEqual([
      ["deployment/shop/web", "deployment/shop/api", 9000, "TCP", "allow", "allow", true],
      ["deployment/shop/api", "statefulset/shop/db", 5432, "TCP", "allow", "allow", true],
      ["deployment/shop/web", "statefulset/shop/db", 5432, "TCP", "deny", "deny", true],
      ["deployment/shop/web", "kube-system/coredns-7db6d8ff4d-x2x9q", 53, "UDP", "allow", "allow", true],
      ["deployment/shop/web", "165.225.10.5", 443, "TCP", "allow", "allow", true],
      ["deployment/shop/api", "165.225.10.5", 443, "TCP", "deny", "deny", true],
      ["monitoring/prometheus-0", "deployment/shop/api", 9090, "TCP", "allow", "allow", true],
      ["monitoring/prometheus-0", "deployment/shop/web", 9090, "TCP", "deny", "deny", true],
    ]);
    expect(doc.results[0]?.explanation.egress.allowedBy).toEqual([{ policy: "shop/web", direction: "egress", rule: 0 }]);
    expect(doc.summary).toMatchObject({ queries: 8, failed: 0 });
  });

  it("exits 1 when an expectation does not hold, and says which", async () => {
    const queries = await file(
      "failing.yaml",
      "queries:\n  - {from: deployment/shop/web, to: statefulset/shop/db, port: 5432, expect: allow}\n  - {from: deployment/shop/web, to: deployment/shop/api, port: 9000}\n",
    );
    const run = await runCli(["check", "--manifests", "examples/check/manifests", "--queries", queries]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/deployment\/shop\/web\s+statefulset\/shop\/db\s+5432\/TCP\s+deny\s+allow\s+FAIL/);
    expect(run.stdout).toContain("1 expectations: 0 held, 1 failed");
  });

  it("accepts several manifest paths after one --manifests", async () => {
    const run = await runCli(["check", "--manifests", "examples/check/manifests/namespaces.yaml", "examples/check/manifests/workloads.yaml"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("deployment/shop/web");
    expect(run.stdout).toMatch(/deployment\/shop\/web\s+open\s+open/);
  });

  it("exits 2 naming file, line and field for an invalid policy", async () => {
    const bad = await file(
      "bad-policy.yaml",
      [
        "apiVersion: networking.k8s.io/v1",
        "kind: NetworkPolicy",
        "metadata: {name: broken, namespace: shop}",
        "spec:",
        "  podSelector: {}",
        "  ingress:",
        "    - from:",
        "        - ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}",
        "      ports:",
        "        - {port: 90, endPort: 80}",
        "",
      ].join("\n"),
    );
    const run = await runCli(["check", "--manifests", bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${bad}:8:`);
    expect(run.stderr).toContain("spec.ingress[0].from[0].ipBlock.except[0]: 192.168.0.0/16 must be a strict subset of cidr 10.0.0.0/8");
    expect(run.stderr).toContain(`${bad}:10:`);
    expect(run.stderr).toContain("spec.ingress[0].ports[0].endPort: must be greater than or equal to port (80 < 90)");
  });

  it("exits 2 for a YAML syntax error with its line", async () => {
    const bad = await file("syntax.yaml", "kind: Namespace\nmetadata: {name: [x\n");
    const run = await runCli(["check", "--manifests", bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: invalid YAML/JSON`));
  });

  it("exits 2 for an unreadable manifest path", async () => {
    const run = await runCli(["check", "--manifests", join(dir, "does-not-exist.yaml")]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("does-not-exist.yaml: cannot read (no such file)");
  });

  it("exits 2 naming the query line for an unknown pod or a missing named port", async () => {
    const queries = await file(
      "unknown.yaml",
      "queries:\n  - from: shop/nope\n    to: deployment/shop/api\n    port: 80\n  - from: deployment/shop/web\n    to: deployment/shop/api\n    port: grpc\n",
    );
    const run = await runCli(["check", "--manifests", "examples/check/manifests", "--queries", queries]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${queries}:2:5: queries[0].from: no pod shop/nope in the manifests`);
    expect(run.stderr).toContain(`${queries}:7:5: queries[1].port: destination deployment/shop/api has no TCP port named "grpc"`);
  });

  it("rejects unknown fields in a query", async () => {
    const queries = await file("typo.yaml", "queries:\n  - {from: deployment/shop/web, to: deployment/shop/api, port: 9000, expcet: allow}\n");
    const run = await runCli(["check", "--manifests", "examples/check/manifests", "--queries", queries]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("queries[0].expcet: unknown field");
  });

  it("reads JSON manifests and kind: List", async () => {
    const list = await file(
      "list.json",
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          { apiVersion: "v1", kind: "Pod", metadata: { name: "a", namespace: "x", labels: { app: "a" } }, status: { podIP: "10.1.0.1" } },
          { apiVersion: "v1", kind: "Pod", metadata: { name: "b", namespace: "y", labels: { app: "b" } }, status: { podIP: "10.1.0.2" } },
          {
            apiVersion: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: { name: "deny", namespace: "y" },
            spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "z" } } }] }] },
          },
        ],
      }, null, "\t"),
    );
    const queries = await file("list-q.yaml", "queries:\n  - {from: 10.1.0.1, to: y/b, port: 80, expect: deny}\n");
    const run = await runCli(["check", "--manifests", list, "--queries", queries, "--output", "json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as { results: { verdict: string; explanation: { references: string[] } }[] };
    expect(doc.results[0]?.verdict).toBe("deny");
    expect(doc.results[0]?.explanation.references).toEqual(["10.1.0.1 is the IP of pod x/a"]);
  });

  it("--strict fails an expectation whose verdict is undetermined", async () => {
    const queries = await file("self.yaml", "queries:\n  - {from: monitoring/prometheus-0, to: monitoring/prometheus-0, port: 9090, expect: allow}\n");
    const lenient = await runCli(["check", "--manifests", "examples/check/manifests", "--queries", queries]);
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toContain("UNDETERMINED");
    expect(lenient.stdout).toContain("traffic from a pod to itself is not defined by NetworkPolicy");
    const strict = await runCli(["check", "--manifests", "examples/check/manifests", "--queries", queries, "--strict"]);
    expect(strict.code).toBe(1);
  });
});

describe("netcanary check with nothing to check", () => {
  it("exits 2 naming a manifest directory that holds no manifest file (a path typo must not pass)", async () => {
    const empty = join(dir, "no-manifests");
    await mkdir(empty);
    await writeFile(join(empty, "README.md"), "not a manifest\n");
    const queries = await file("any.yaml", "queries:\n  - {from: 10.0.0.1, to: 10.0.0.2, port: 80, expect: allow}\n");
    for (const args of [["check", "--manifests", empty], ["check", "--manifests", "examples/check/manifests", "--manifests", empty, "--queries", queries]]) {
      const run = await runCli(args);
      expect(run.stdout).toBe("");
      expect(run.stderr.trim()).toBe(`${empty}: no manifest file (.yaml, .yml or .json) in this directory`);
      expect(run.code).toBe(2);
    }
  });

  it("exits 2 for a queries file whose list is empty", async () => {
    const queries = await file("none.yaml", "queries: []\n");
    const run = await runCli(["check", "--manifests", "examples/check/manifests", "--queries", queries]);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim()).toBe(`${queries}:1:1: queries: holds no query: nothing would be checked`);
    expect(run.code).toBe(2);
  });
});

describe("netcanary check on a large manifest set", () => {
  it("lists a few isolating policies per cell and counts the rest, within the image's heap (3,000 pods, 3,000 policies each selecting all pods but one)", async () => {
    const count = 3000;
    const documents = ["apiVersion: v1\nkind: Namespace\nmetadata: {name: s}\n"];
    for (let i = 0; i < count; i++) documents.push(`apiVersion: v1\nkind: Pod\nmetadata: {name: p${i}, namespace: s, labels: {a: v${i}}}\nspec: {containers: [{name: c}]}\n`);
    for (let i = 0; i < count; i++) {
      documents.push(
        `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n${i}, namespace: s}\nspec: {podSelector: {matchExpressions: [{key: a, operator: NotIn, values: [v${i}]}]}, policyTypes: [Ingress]}\n`,
      );
    }
    const manifests = await file("many.yaml", documents.join("---\n"));
    // The container image's heap limit (Dockerfile NODE_OPTIONS).
    const run = await runCli(["check", "--manifests", manifests], { env: { ...process.env, NODE_OPTIONS: "--max-old-space-size=160" }, timeoutMs: 60_000 });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(count + 1);
    expect(lines[1]).toMatch(/^s\/p0 +isolated by s\/n1, s\/n2, s\/n3 and 2,996 more +open$/);
    expect(lines[2]).toMatch(/^s\/p1 +isolated by s\/n0, s\/n2, s\/n3 and 2,996 more +open$/);
  }, 90_000);
});
