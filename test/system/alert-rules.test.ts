// The alert rules through the real promtool: the rules file loads, its unit tests
// (test/alerts/rules.test.yaml) pass, and the harness demonstrably fails when an expectation
// or the aggregation logic is wrong. Also: the PrometheusRule is in sync, every alert carries
// a severity, a summary and a runbook link whose anchor exists in docs/alerts.md, and the
// rules use only metrics the agent exports and recording rules the file defines.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../support/cli.js";
import { runCommand } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";

const RULES = join(repoRoot, "alerts", "netcanary.rules.yaml");
const RULE_TESTS = join(repoRoot, "test", "alerts", "rules.test.yaml");
const RUNBOOKS = join(repoRoot, "docs", "alerts.md");
const REGISTRY = join(repoRoot, "agent", "metrics", "registry.ts");
const SYNC = join(repoRoot, "scripts", "sync-rules.mjs");
const RUNBOOK_BASE = "https://github.com/netcanary/netcanary/blob/main/docs/alerts.md#";
const PROMTOOL_MS = 60_000;

interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
interface RuleGroup {
  readonly name: string;
  readonly rules: readonly Rule[];
}
interface AlertCase {
  readonly eval_time: string;
  readonly alertname: string;
  readonly exp_alerts?: readonly unknown[] | null;
}
interface RuleTests {
  readonly rule_files: readonly string[];
  readonly tests: readonly { readonly name: string; readonly alert_rule_test?: readonly AlertCase[] }[];
}

const groups = (parse(readFileSync(RULES, "utf8")) as { groups: RuleGroup[] }).groups;
const rules = groups.flatMap((group) => group.rules);
const alerts = rules.filter((rule): rule is Rule & { alert: string } => rule.alert !== undefined);
const records = new Set(rules.flatMap((rule) => (rule.record !== undefined ? [rule.record] : [])));

function promtool(args: readonly string[], cwd = repoRoot) {
  return runCommand(["promtool", ...args], { cwd, timeoutMs: PROMTOOL_MS });
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function githubAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const text = (heading[1] ?? "").replace(/`/g, "");
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

describeWith({ commands: ["promtool"] }, "alert rules", () => {
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "netcanary-alert-rules-"));
  });

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** A copy of the rules (changed by editRules) and of the unit tests (pointing at it), in a fresh dir. */
  function writeCopy(name: string, editRules: (text: string) => string, editTests: (text: string) => string = (text) => text): string {
    const dir = join(scratch, name);
    mkdirSync(dir);
    writeFileSync(join(dir, "netcanary.rules.yaml"), editRules(readFileSync(RULES, "utf8")));
    const tests = readFileSync(RULE_TESTS, "utf8");
    expect(tests).toContain("../../alerts/netcanary.rules.yaml");
    writeFileSync(join(dir, "rules.test.yaml"), editTests(tests.replace("../../alerts/netcanary.rules.yaml", "netcanary.rules.yaml")));
    return dir;
  }

  it(
    "promtool check rules accepts the rules file and counts every rule",
    async () => {
      const result = await promtool(["check", "rules", RULES]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain("SUCCESS");
      expect(result.stdout).toContain(`${rules.length} rules found`);
    },
    PROMTOOL_MS,
  );

  it(
    "promtool check rules rejects a rule with broken PromQL",
    async () => {
      const dir = writeCopy("broken-promql", (text) =>
        text.replace("expr: source_node:netcanary_failing_nodes:ratio", "expr: sum by (source_node (source_node:netcanary_failing_nodes:ratio)"),
      );
      const result = await promtool(["check", "rules", join(dir, "netcanary.rules.yaml")]);
      expect(result.code).not.toBe(0);
      expect(result.stdout + result.stderr).toContain("FAILED");
    },
    PROMTOOL_MS,
  );

  it(
    "promtool test rules passes every case",
    async () => {
      const result = await promtool(["test", "rules", RULE_TESTS]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain("SUCCESS");
      expect(result.stdout + result.stderr).not.toContain("FAILED");
    },
    PROMTOOL_MS,
  );

  it(
    "the harness fails on a wrong expectation (negative control)",
    async () => {
      const wrong = "(refused; 1 node(s))";
      expect(readFileSync(RULE_TESTS, "utf8")).toContain(wrong);
      const dir = writeCopy(
        "wrong-expectation",
        (text) => text,
        (text) => text.replace(wrong, "(timeout; 1 node(s))"),
      );
      const result = await promtool(["test", "rules", join(dir, "rules.test.yaml")], dir);
      expect(result.code).not.toBe(0);
      const output = result.stdout + result.stderr;
      expect(output).toContain("FAILED");
      expect(output).toContain("alertname: NetcanaryUnexpectedBlock");
      expect(output).toContain("many edges failing on one node give one node alert");
    },
    PROMTOOL_MS,
  );

  // Each mutation breaks one piece of the aggregation or timing: the unit tests must notice.
  const mutations: { name: string; from: string; to: string; caught: string }[] = [
    {
      name: "edges of a failing node are no longer held back",
      from: "unless on (source_node)\n            source_node:netcanary_failing_nodes:ratio\n",
      to: "",
      caught: "alertname: NetcanaryUnexpectedBlock",
    },
    {
      name: "node alerts no longer stand down when most nodes fail",
      from: "count(source_node:netcanary_failing_node_candidates:ratio) >= 3",
      to: "count(source_node:netcanary_failing_node_candidates:ratio) >= 300",
      caught: "alertname: NetcanaryNodeEdgesFailing",
    },
    {
      name: "the unexpected block pages without its `for`",
      from: "            edge:netcanary_unexpected_block:active\n          )\n        for: 3m\n",
      to: "            edge:netcanary_unexpected_block:active\n          )\n        for: 0s\n",
      caught: "alertname: NetcanaryUnexpectedBlock",
    },
    {
      name: "the node's summary counts the failures of edges that are fine",
      from: ' and ignoring (result, reason, kind) netcanary_probe_mismatch{kind=\\"unexpected_block\\",source_node=%[1]q} == 1',
      to: "",
      caught: "alertname: NetcanaryNodeEdgesFailing",
    },
    {
      name: "the Zscaler gap is reported per edge again",
      from: 'netcanary_probe_mismatch{kind="intent_violation", target_kind="zscaler"}',
      to: 'netcanary_probe_mismatch{kind="intent_violation", target_kind="none"}',
      caught: "alertname: NetcanaryIntentViolation",
    },
    {
      name: "the path alert fires without its `for`",
      from: "              max without (path, cloud, city) (netcanary_zscaler_path)\n          )\n        for: 5m\n",
      to: "              max without (path, cloud, city) (netcanary_zscaler_path)\n          )\n        for: 0s\n",
      caught: "alertname: NetcanaryZscalerPathUnexpected",
    },
    {
      name: "the path alert fires for path checks on their expected path",
      from: '(netcanary_probe_mismatch{kind="unexpected_path"} == 1)',
      to: '(netcanary_probe_mismatch{kind="unexpected_path"} >= 0)',
      caught: "alertname: NetcanaryZscalerPathUnexpected",
    },
  ];
  for (const mutation of mutations) {
    it(
      `the unit tests catch a broken rule: ${mutation.name}`,
      async () => {
        const original = readFileSync(RULES, "utf8");
        expect(original.split(mutation.from).length - 1, `the mutation must apply exactly once: ${JSON.stringify(mutation.from)}`).toBe(1);
        const dir = writeCopy(mutation.name.replace(/\W+/g, "-"), (text) => text.replace(mutation.from, mutation.to));
        expect((await promtool(["check", "rules", join(dir, "netcanary.rules.yaml")])).code).toBe(0);
        const result = await promtool(["test", "rules", join(dir, "rules.test.yaml")], dir);
        expect(result.code).not.toBe(0);
        expect(result.stdout + result.stderr).toContain(mutation.caught);
      },
      PROMTOOL_MS,
    );
  }

  it("every alert has a severity, a summary, a description and a runbook section", () => {
    const anchors = githubAnchors(readFileSync(RUNBOOKS, "utf8"));
    expect(alerts.length).toBeGreaterThanOrEqual(9);
    for (const rule of alerts) {
      const where = `alert ${rule.alert}`;
      expect(["critical", "warning", "info"], where).toContain(rule.labels?.["severity"]);
      expect(rule.annotations?.["summary"]?.trim(), where).toBeTruthy();
      expect(rule.annotations?.["description"]?.trim(), where).toBeTruthy();
      const url = rule.annotations?.["runbook_url"] ?? "";
      expect(url.startsWith(RUNBOOK_BASE), `${where}: ${url}`).toBe(true);
      const anchor = url.slice(RUNBOOK_BASE.length);
      expect(anchor, where).toBe(rule.alert.toLowerCase());
      expect(anchors.has(anchor), `${where}: no heading for #${anchor} in docs/alerts.md`).toBe(true);
    }
  });

  it("the issue's alerts exist: block, not enforced, intent, DNS, Zscaler, probes, agent", () => {
    const names = new Set(alerts.map((rule) => rule.alert));
    for (const name of [
      "NetcanaryUnexpectedBlock",
      "NetcanaryNodeEdgesFailing",
      "NetcanaryPolicyNotEnforced",
      "NetcanaryIntentViolation",
      "NetcanaryDNSFailing",
      "NetcanaryZscalerRangesUncovered",
      "NetcanaryZscalerFeedStale",
      "NetcanaryZscalerPathUnexpected",
      "NetcanaryProbesNotRunning",
      "NetcanaryAgentDown",
      "NetcanaryAgentStarved",
    ]) {
      expect(names.has(name), name).toBe(true);
    }
    // Edge summaries name source, target, port and the reason (or say where to find it).
    const block = alerts.find((rule) => rule.alert === "NetcanaryUnexpectedBlock");
    const summary = block?.annotations?.["summary"] ?? "";
    for (const part of ["$labels.source", "$labels.target", "$labels.port", '"reason"']) expect(summary).toContain(part);
  });

  it("every alert has unit-test cases that fire and cases that must not", () => {
    const tests = parse(readFileSync(RULE_TESTS, "utf8")) as RuleTests;
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const rule of alerts) {
      const own = cases.filter((c) => c.alertname === rule.alert);
      expect(
        own.some((c) => (c.exp_alerts ?? []).length > 0),
        `${rule.alert}: no case where it fires`,
      ).toBe(true);
      expect(
        own.some((c) => (c.exp_alerts ?? []).length === 0),
        `${rule.alert}: no case where it must stay quiet`,
      ).toBe(true);
    }
  });

  it("the rules use only metrics the agent exports and recording rules the file defines", () => {
    const exported = new Set([...readFileSync(REGISTRY, "utf8").matchAll(/name: "(netcanary_[a-z0-9_]+)"/g)].map((m) => m[1]));
    expect(exported.size).toBeGreaterThan(20);
    const texts = rules.flatMap((rule) => [rule.expr, ...Object.values(rule.annotations ?? {})]);
    for (const text of texts) {
      for (const match of text.matchAll(/(?<![\w:])(netcanary_[a-z0-9_]+)(?![\w:])/g)) {
        const name = (match[1] ?? "").replace(/_(bucket|count|sum)$/, "");
        expect(exported.has(name) || exported.has(match[1]), `unknown metric ${match[1]}`).toBe(true);
      }
      for (const match of text.matchAll(/(?<![\w:])([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)(?![\w:])/g)) {
        expect(records.has(match[1] ?? ""), `undefined recording rule ${match[1]}`).toBe(true);
      }
    }
    // Recording rules are defined before the rules of their group that use them (evaluation order).
    for (const group of groups) {
      group.rules.forEach((rule, index) => {
        for (const match of rule.expr.matchAll(/(?<![\w:])([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)(?![\w:])/g)) {
          const definedAt = group.rules.findIndex((r) => r.record === match[1]);
          expect(definedAt, `${rule.alert ?? rule.record} uses ${match[1]} from its own group`).toBeGreaterThanOrEqual(0);
          expect(definedAt, `${rule.alert ?? rule.record} uses ${match[1]} before it is recorded`).toBeLessThan(index);
        }
      });
    }
  });

  it(
    "the PrometheusRule is in sync with the rules file, and --check notices when it is not",
    async () => {
      const check = await runCommand([process.execPath, SYNC, "--check"], { cwd: repoRoot, timeoutMs: 20_000 });
      expect(check.code, check.stdout + check.stderr).toBe(0);

      const output = join(scratch, "prometheusrule.yaml");
      const write = await runCommand([process.execPath, SYNC, "--output", output], { cwd: repoRoot, timeoutMs: 20_000 });
      expect(write.code, write.stderr).toBe(0);
      const object = parse(readFileSync(output, "utf8")) as {
        apiVersion: string;
        kind: string;
        metadata: { name: string; labels: Record<string, string> };
        spec: { groups: unknown };
      };
      expect(object.apiVersion).toBe("monitoring.coreos.com/v1");
      expect(object.kind).toBe("PrometheusRule");
      expect(object.metadata.name).toBe("netcanary");
      expect(object.metadata.labels["app.kubernetes.io/name"]).toBe("netcanary");
      expect(object.spec.groups).toEqual(groups);
      expect((await runCommand([process.execPath, SYNC, "--check", "--output", output], { cwd: repoRoot, timeoutMs: 20_000 })).code).toBe(0);

      // A stale copy: one threshold changed by hand.
      writeFileSync(output, readFileSync(output, "utf8").replace("for: 3m", "for: 30m"));
      const stale = await runCommand([process.execPath, SYNC, "--check", "--output", output], { cwd: repoRoot, timeoutMs: 20_000 });
      expect(stale.code).toBe(1);
      expect(stale.stderr).toContain("out of date");

      // The spec.groups it renders load in promtool as they are.
      const plain = join(scratch, "from-prometheusrule.yaml");
      writeFileSync(plain, JSON.stringify({ groups: object.spec.groups }));
      const loaded = await promtool(["check", "rules", plain]);
      expect(loaded.code, loaded.stdout + loaded.stderr).toBe(0);
      expect(loaded.stdout).toContain(`${rules.length} rules found`);
    },
    PROMTOOL_MS,
  );
});
