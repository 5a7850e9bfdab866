// netcanary check: judge connections offline, from manifests, for CI pipelines.
// Exit 0: every expectation holds; 1: one does not; 2: the input is unusable (a path with no
// manifest and an empty queries list are: a gate that checks nothing must not pass).

import { resolveEndpoint } from "../cluster/endpoints.js";
import { loadManifests, type UnevaluatedPolicy } from "../cluster/manifests.js";
import { PROTOCOLS, type Protocol } from "../cluster/snapshot.js";
import { describeType, IssueList, isObject, type Json } from "../documents/fields.js";
import { errorAt, formatInputError, type InputError, readDocuments } from "../documents/located.js";
import {
  buildPolicyIndex,
  type ConnectionQuery,
  evaluateConnection,
  type PolicyIndex,
  resolveNamedPort,
  selectingPolicies,
} from "../policy/engine.js";
import { explainVerdict, summarizeVerdict } from "../policy/explain.js";
import type { PolicyVerdict, Verdict } from "../policy/model.js";
import { portNameProblem, portNumberProblem } from "../policy/normalize.js";
import { parseCidrOrIp } from "../addresses/ip.js";
import type { ClusterSnapshot } from "../cluster/snapshot.js";
import type { Dataplane } from "../inbound/dataplanes.js";
import { inboundReport, type NamedRanges } from "../inbound/paths.js";
import { type InboundJudgement, type InboundTarget, judgeInbound, resolveInboundTarget } from "../inbound/query.js";
import { allOutsideRanges, isOutsideSource, type OutsideSources, resolveOutsideSource } from "../inbound/sources.js";
import { parseOptions } from "./args.js";
import { INBOUND_HELP, INBOUND_USAGE, readClusterCidrs, readDataplane, readOutsideSources, renderInbound } from "./inbound.js";
import { type Command, EXIT, type Output, UsageError } from "./command.js";
import { listed, printTable } from "./table.js";
import { printableJson } from "../text/printable.js";
import { describeCoverage, queryCoverage } from "../derive/coverage.js";
import { coverageExit, MIN_RULE_COVERAGE_USAGE, parseMinRuleCoverage } from "./coverage-gate.js";

export interface CheckQuery {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly portName?: string;
  readonly protocol: Protocol;
  readonly expect: Verdict | null;
  /** A connection between pods or addresses; absent for an inbound query, judged when read. */
  readonly connection?: ConnectionQuery;
  readonly inbound?: InboundJudgement;
  readonly notes: readonly string[];
}

/** What inbound queries need beyond the index: the snapshot's proxies, the outside sources, the dataplane. */
export interface QueryContext {
  readonly snapshot: ClusterSnapshot;
  readonly sources: OutsideSources;
  readonly dataplane?: Dataplane;
}

export interface CheckResult {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly portName?: string;
  readonly protocol: Protocol;
  readonly verdict: Verdict;
  readonly expect: Verdict | null;
  /** null when nothing was expected, or when the verdict is undetermined. */
  readonly ok: boolean | null;
  readonly explanation: PolicyVerdict & { readonly summary: string; readonly references: readonly string[] };
}

const QUERY_FIELDS = new Set(["from", "to", "port", "protocol", "expect"]);

/** A queries file larger than this (some ten thousand queries) is refused unread. */
export const QUERIES_MAX_BYTES = 1024 * 1024;

/** Reads the queries file into connection queries, or located errors. */
export async function readQueries(file: string, index: PolicyIndex, context?: QueryContext): Promise<{ queries: CheckQuery[]; errors: InputError[] }> {
  const read = await readDocuments(file, { maxBytes: QUERIES_MAX_BYTES });
  if (read.errors.length > 0) return { queries: [], errors: read.errors };
  const doc = read.documents[0];
  if (!doc || read.documents.length > 1 || !isObject(doc.value) || !Array.isArray(doc.value["queries"])) {
    return { queries: [], errors: [{ file, line: 1, message: 'expected one document with a "queries" list' }] };
  }
  // A gate that checks nothing passes everything: an empty list is a mistake, not a pass.
  if (doc.value["queries"].length === 0) return { queries: [], errors: [errorAt(doc, ["queries"], "holds no query: nothing would be checked")] };
  const queries: CheckQuery[] = [];
  const errors: InputError[] = [];
  doc.value["queries"].forEach((raw: unknown, i: number) => {
    const issues = new IssueList();
    const query = isObject(raw) && isInbound(raw) ? readInboundQuery(raw, index, context, issues) : readQuery(raw, index, issues);
    for (const issue of issues.issues) errors.push(errorAt(doc, ["queries", i, ...issue.path], issue.message));
    if (query && issues.empty) queries.push(query);
  });
  return { queries, errors };
}

function readQuery(raw: unknown, index: PolicyIndex, issues: IssueList): CheckQuery | undefined {
  if (!isObject(raw)) {
    issues.add([], `must be an object with from, to and port, got ${describeType(raw)}`);
    return undefined;
  }
  for (const key of Object.keys(raw)) if (!QUERY_FIELDS.has(key)) issues.add([key], `unknown field (expected ${[...QUERY_FIELDS].join(", ")})`);
  const from = readReference(raw, "from", index, issues);
  const to = readReference(raw, "to", index, issues);
  const { protocol, expect } = readProtocolAndExpect(raw, issues);
  const rawPort = raw["port"];
  let port: number | undefined;
  let portName: string | undefined;
  if (typeof rawPort === "number") {
    const problem = portNumberProblem(rawPort);
    if (problem) issues.add(["port"], problem);
    else port = rawPort;
  } else if (typeof rawPort === "string") {
    const problem = portNameProblem(rawPort);
    if (problem) issues.add(["port"], problem);
    else if (to) {
      // A named port is resolved on the destination pod, by name and protocol.
      const resolved = to.endpoint.kind === "pod" ? resolveNamedPort(to.endpoint.pod, rawPort, protocol) : undefined;
      if (resolved === undefined) issues.add(["port"], `destination ${to.text} has no ${protocol} port named "${rawPort}"`);
      else {
        port = resolved;
        portName = rawPort;
      }
    }
  } else {
    issues.add(["port"], rawPort === undefined ? "is required (a number or a named port of the destination)" : `must be a number or a port name, got ${describeType(rawPort)}`);
  }
  if (!from || !to || port === undefined) return undefined;
  return {
    from: from.text,
    to: to.text,
    port,
    ...(portName !== undefined ? { portName } : {}),
    protocol,
    expect,
    connection: { from: from.endpoint, to: to.endpoint, port, protocol },
    notes: [from.note, to.note].filter((note): note is string => note !== undefined),
  };
}

/** A query's protocol (TCP when absent) and expectation (null when absent). */
function readProtocolAndExpect(raw: Json, issues: IssueList): { protocol: Protocol; expect: Verdict | null } {
  let protocol: Protocol = "TCP";
  if (raw["protocol"] !== undefined) {
    if (PROTOCOLS.includes(raw["protocol"] as Protocol)) protocol = raw["protocol"] as Protocol;
    else issues.add(["protocol"], `must be TCP, UDP or SCTP, got ${describeType(raw["protocol"])}`);
  }
  let expect: Verdict | null = null;
  if (raw["expect"] !== undefined && raw["expect"] !== null) {
    if (raw["expect"] === "allow" || raw["expect"] === "deny") expect = raw["expect"];
    else issues.add(["expect"], `must be allow or deny, got ${describeType(raw["expect"])}`);
  }
  return { protocol, expect };
}

/** An inbound query comes from outside (zscaler:..., zpa) or goes to a Service or a host from outside. */
function isInbound(raw: Json): boolean {
  const from = raw["from"];
  const to = raw["to"];
  return (typeof from === "string" && isOutsideSource(from.trim())) || (typeof to === "string" && /^(service|host)\//.test(to.trim()));
}

function readInboundTarget(text: string): InboundTarget | undefined {
  const parts = text.split("/");
  if (parts[0] === "service" && parts.length === 3 && parts[1] && parts[2]) return { kind: "service", namespace: parts[1], name: parts[2] };
  if (parts[0] === "host" && parts.length === 2 && parts[1]) return { kind: "host", host: parts[1] };
  return undefined;
}

function readInboundQuery(raw: Json, index: PolicyIndex, context: QueryContext | undefined, issues: IssueList): CheckQuery | undefined {
  for (const key of Object.keys(raw)) if (!QUERY_FIELDS.has(key)) issues.add([key], `unknown field (expected ${[...QUERY_FIELDS].join(", ")})`);
  const from = typeof raw["from"] === "string" ? raw["from"].trim() : undefined;
  const to = typeof raw["to"] === "string" ? raw["to"].trim() : undefined;
  const snapshot = context?.snapshot;
  let source: NamedRanges | undefined;
  if (from === undefined) issues.add(["from"], "is required (a string)");
  else if (isOutsideSource(from)) {
    const resolved = context ? resolveOutsideSource(context.sources, from) : { ok: false as const, reason: "outside sources are not available here" };
    if (resolved.ok) source = resolved.ranges;
    else issues.add(["from"], resolved.reason);
  } else {
    const ip = parseCidrOrIp(from);
    if (ip.ok && !index.podsByIp.has(from)) source = { label: from, cidrs: [ip.value] };
    else issues.add(["from"], "a query to a Service or a host from outside comes from zscaler:<cloud>, zscaler:<cloud>/<city>, zpa, or an address or CIDR outside the cluster");
  }
  const target = to === undefined ? undefined : readInboundTarget(to);
  if (to !== undefined && !target) issues.add(["to"], "a query from outside goes to service/<namespace>/<name> or host/<host name>");
  else if (to === undefined) issues.add(["to"], "is required (a string)");
  const { protocol, expect } = readProtocolAndExpect(raw, issues);
  const resolved = target && snapshot ? resolveInboundTarget(snapshot, target) : undefined;
  if (resolved && !resolved.ok) issues.add(["to"], resolved.reason);
  const services = resolved?.ok ? resolved.services : [];
  const rawPort = raw["port"];
  let port: number | undefined;
  let portName: string | undefined;
  if (typeof rawPort === "number") {
    const problem = portNumberProblem(rawPort);
    if (problem) issues.add(["port"], problem);
    else port = rawPort;
  } else if (typeof rawPort === "string" && target?.kind === "service") {
    const named = services[0]?.ports.find((p) => p.name === rawPort && p.protocol === protocol);
    if (named) {
      port = named.port;
      portName = rawPort;
    } else if (services.length > 0) issues.add(["port"], `Service ${target.namespace}/${target.name} has no ${protocol} port named "${rawPort}"`);
  } else issues.add(["port"], rawPort === undefined ? "is required (a number; for a Service also one of its port names)" : `must be a port number, got ${describeType(rawPort)}`);
  if (port !== undefined && target?.kind === "service" && services.length > 0 && !services.some((s) => s.ports.some((p) => p.port === port && p.protocol === protocol))) {
    issues.add(["port"], `Service ${target.namespace}/${target.name} has no ${protocol} port ${port}`);
  }
  if (!source || !target || !snapshot || port === undefined || services.length === 0 || !issues.empty) return undefined;
  const judged = judgeInbound(index, snapshot, source, target, services, port, protocol, context?.dataplane);
  if ("error" in judged) {
    issues.add(["to"], judged.error);
    return undefined;
  }
  return { from: from ?? "", to: to ?? "", port, ...(portName !== undefined ? { portName } : {}), protocol, expect, inbound: judged, notes: [] };
}

function readReference(raw: Json, key: "from" | "to", index: PolicyIndex, issues: IssueList) {
  const value = raw[key];
  if (typeof value !== "string") {
    issues.add([key], value === undefined ? "is required" : `must be a string, got ${describeType(value)}`);
    return undefined;
  }
  const resolved = resolveEndpoint(index, value);
  if (!resolved.ok) {
    issues.add([key], resolved.reason);
    return undefined;
  }
  return { text: value, endpoint: resolved.endpoint, note: resolved.note };
}

export function judge(query: CheckQuery, index: PolicyIndex): CheckResult {
  const verdict = query.inbound?.verdict ?? evaluateConnection(index, query.connection as ConnectionQuery);
  const references = query.inbound ? [...query.notes, ...query.inbound.lines] : query.notes;
  const ok = query.expect === null || !verdict.determinate ? null : verdict.verdict === query.expect;
  return {
    from: query.from,
    to: query.to,
    port: query.port,
    ...(query.portName !== undefined ? { portName: query.portName } : {}),
    protocol: query.protocol,
    verdict: verdict.verdict,
    expect: query.expect,
    ok,
    explanation: { ...verdict, summary: summarizeVerdict(verdict), references },
  };
}

export function summarize(results: readonly CheckResult[]) {
  return {
    queries: results.length,
    allowed: results.filter((r) => r.verdict === "allow").length,
    denied: results.filter((r) => r.verdict === "deny").length,
    expectations: results.filter((r) => r.expect !== null).length,
    held: results.filter((r) => r.ok === true).length,
    failed: results.filter((r) => r.ok === false).length,
    undetermined: results.filter((r) => !r.explanation.determinate).length,
  };
}

function resultWord(result: CheckResult): string {
  if (result.expect === null) return result.explanation.determinate ? "-" : "UNDETERMINED";
  if (result.ok === null) return "UNDETERMINED";
  return result.ok ? "ok" : "FAIL";
}

function renderResults(results: readonly CheckResult[], out: Output): void {
  const rows = results.map((r) => [
    r.from,
    r.to,
    `${r.portName ? `${r.portName}(${r.port})` : r.port}/${r.protocol}`,
    r.verdict,
    r.expect ?? "-",
    resultWord(r),
  ]);
  printTable(out.stdout, ["FROM", "TO", "PORT", "VERDICT", "EXPECT", "RESULT"], rows);
  out.stdout("");
  results.forEach((r, i) => {
    const verdict = r.explanation.determinate ? r.verdict : `${r.verdict} (undetermined)`;
    out.stdout(`#${i + 1} ${r.from} -> ${r.to} ${r.port}/${r.protocol}: ${verdict}`);
    for (const line of [...r.explanation.references, ...explainVerdict(r.explanation)]) out.stdout(`    ${line}`);
  });
  const s = summarize(results);
  out.stdout("");
  out.stdout(
    `${s.queries} queries: ${s.allowed} allowed, ${s.denied} denied; ${s.expectations} expectations: ${s.held} held, ${s.failed} failed` +
      (s.undetermined > 0 ? `; ${s.undetermined} undetermined` : ""),
  );
}

/**
 * Without queries: how each pod and workload is isolated, and by which policies: a few named,
 * the rest counted, so that a cell stays short however many policies select the pod.
 */
function renderIsolation(index: PolicyIndex, out: Output): void {
  const rows = [...index.podsByKey.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, pod]) => {
      const show = (direction: "ingress" | "egress") => {
        if (pod.hostNetwork) return "host network (not applicable)";
        const ids = selectingPolicies(index, pod, direction).map((p) => p.id);
        return ids.length === 0 ? "open" : `isolated by ${listed(ids)}`;
      };
      return [key, show("ingress"), show("egress")];
    });
  printTable(out.stdout, ["POD OR WORKLOAD", "INGRESS", "EGRESS"], rows);
}

/** One warning line per policy the engine does not evaluate, then what it means. */
export function unevaluatedWarnings(policies: readonly UnevaluatedPolicy[], strict: boolean): string[] {
  if (policies.length === 0) return [];
  const lines = policies.map(
    (p) => `warning: ${p.line === undefined ? p.file : `${p.file}:${p.line}`}: ${p.kind} ${p.name}${p.apiVersion ? ` (${p.apiVersion})` : ""} is not evaluated`,
  );
  lines.push(
    `warning: ${policies.length} ${policies.length === 1 ? "policy" : "policies"} of kinds netcanary does not evaluate (it judges Kubernetes NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy): ` +
      `the verdicts below may differ from what the cluster enforces` +
      (strict ? "; --strict makes this a failure" : " (--strict makes this a failure)"),
  );
  return lines;
}

const USAGE = `Usage: netcanary check --manifests <file|dir>... [--queries <file>] [--output table|json] [--strict] [--verbose]
                       [--min-rule-coverage <percent>]
                       [--dataplane <name>] [--cluster-cidr <cidr>]...

Judges connections offline against the NetworkPolicies in the manifests, with the
same engine the agent uses. Manifests: YAML (multi-document) or JSON, kind: List
included; Namespaces, Pods, Services, NetworkPolicies, and workloads (Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) standing for their pods; Ingresses
(networking.k8s.io/v1), Gateways and routes (gateway.networking.k8s.io) for inbound paths.

Queries file:
  queries:
    - from: shop/web-0          # namespace/pod, kind/namespace/name, or an IP
      to: deployment/shop/api
      port: http                # a number, or a named port of the destination
      protocol: TCP             # TCP (default), UDP or SCTP
      expect: allow             # optional: allow or deny
    - from: zscaler:zscaler.net # from outside: zscaler:<cloud>[/<city>], zpa, or an address
      to: service/shop/web      # service/<namespace>/<name> or host/<host name>
      port: 443                 # judged through the way in (see Inbound paths below)

Without --queries, prints how every pod and workload is isolated (at most three of the
policies isolating it named per cell, the rest counted).

Options:
  --manifests <path>...  manifest files or directories (repeatable)
  --queries <file>       the connections to judge
  --output table|json    output format (default: table)
  --strict               fail (exit 1) when an expectation's verdict is undetermined, when
                         the manifests hold policies netcanary does not evaluate, or on an
                         inbound finding
  --verbose              list the objects skipped in the manifests
${MIN_RULE_COVERAGE_USAGE}
                         (every rule of every policy in the manifests counts; the queries
                         exercise the rules their verdicts name)

${INBOUND_USAGE}

${INBOUND_HELP}

Policies of other kinds (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, Calico's
projectcalico.org NetworkPolicy and GlobalNetworkPolicy, Antrea's, ...) are not evaluated:
each is named with its file and line in a warning, as the verdicts may then differ from
what the cluster enforces.

Exit status: 0 every expectation holds, 1 an expectation failed (or, with --strict, an
undetermined verdict or a policy not evaluated; or rule coverage below --min-rule-coverage),
2 unusable input (a manifest directory holding no manifest file and a queries list with no
query included), 3 --min-rule-coverage with no rule in the manifests.`;

export const checkCommand: Command = {
  usage: USAGE,
  async run(argv, out) {
    const { values, positionals } = parseOptions({
      args: argv,
      allowPositionals: true,
      options: {
        manifests: { type: "string", multiple: true },
        queries: { type: "string" },
        output: { type: "string", default: "table" },
        strict: { type: "boolean", default: false },
        verbose: { type: "boolean", default: false },
        "min-rule-coverage": { type: "string" },
        dataplane: { type: "string" },
        "cluster-cidr": { type: "string", multiple: true },
        "zscaler-feeds": { type: "string" },
        "zpa-connectors": { type: "string" },
      },
    });
    const minRuleCoverage = parseMinRuleCoverage(values["min-rule-coverage"]);
    if (minRuleCoverage !== undefined && !values.queries) throw new UsageError("--min-rule-coverage needs --queries: the queries exercise the rules");
    // "--manifests a b c": extra paths arrive as positionals.
    const paths = [...(values.manifests ?? []), ...positionals];
    if (paths.length === 0) throw new UsageError("--manifests is required");
    if (values.output !== "table" && values.output !== "json") throw new UsageError(`--output must be table or json, got "${values.output}"`);
    const dataplane = readDataplane(values.dataplane);
    const clusterCidrs = readClusterCidrs(values["cluster-cidr"]);

    const outside = await readOutsideSources(values["zscaler-feeds"], values["zpa-connectors"]);
    const load = await loadManifests(paths);
    if (load.errors.length > 0 || outside.errors.length > 0) {
      for (const error of [...outside.errors, ...load.errors]) out.stderr(formatInputError(error));
      return EXIT.unusable;
    }
    if (values.verbose) for (const line of load.skipped) out.stderr(`note: ${line}`);
    for (const line of unevaluatedWarnings(load.unevaluated, values.strict)) out.stderr(line);
    const unevaluatedFails = values.strict && load.unevaluated.length > 0;
    const index = buildPolicyIndex(load.snapshot);
    const inbound = inboundReport(index, load.snapshot, { clusterCidrs, ranges: allOutsideRanges(outside.sources), ...(dataplane ? { dataplane } : {}) });
    const inboundFails = values.strict && inbound.findings > 0;

    if (!values.queries) {
      if (values.output === "json") {
        const report = { pods: [...index.podsByKey.keys()].sort(), policies: load.snapshot.policies.map((p) => `${p.namespace}/${p.name}`), unevaluated: load.unevaluated, inbound };
        for (const line of printableJson(report)) out.stdout(line);
      } else {
        renderIsolation(index, out);
        renderInbound(inbound, out.stdout);
      }
      return unevaluatedFails || inboundFails ? EXIT.failed : EXIT.ok;
    }
    const { queries, errors } = await readQueries(values.queries, index, { snapshot: load.snapshot, sources: outside.sources, ...(dataplane ? { dataplane } : {}) });
    if (errors.length > 0) {
      for (const error of errors) out.stderr(formatInputError(error));
      return EXIT.unusable;
    }
    const results = queries.map((query) => judge(query, index));
    const coverage = minRuleCoverage === undefined ? undefined : queryCoverage(index, results.map((r) => ({ query: `${r.from} -> ${r.to}:${r.port}/${r.protocol}`, verdict: r.explanation })));
    if (values.output === "json") {
      for (const line of printableJson({ results, summary: summarize(results), unevaluated: load.unevaluated, inbound, ...(coverage ? { coverage } : {}) })) out.stdout(line);
    } else {
      renderResults(results, out);
      renderInbound(inbound, out.stdout);
      if (coverage) out.stdout(describeCoverage(coverage));
    }
    const gate = coverage ? coverageExit(coverage, minRuleCoverage) : {};
    if (gate.message !== undefined) out.stderr(`netcanary check: ${gate.message}`);
    const failed = results.some((r) => r.ok === false || (values.strict && r.expect !== null && r.ok === null));
    return failed || unevaluatedFails || inboundFails || gate.exit === EXIT.failed ? EXIT.failed : (gate.exit ?? EXIT.ok);
  },
};
