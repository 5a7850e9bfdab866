// netcanary map: a recorded traffic map read by a person: every observed flow, grouped by the
// workload that made or accepted it, with the verdict the policies in force give it (the rule
// that allowed it, or why it is denied or unknown), and with --staged, which staged policies
// would deny it. Exit 0: nothing to report; 1: a finding (a flow the policies deny was seen,
// or a staged policy would deny an observed flow); 2: unusable input; 3: the map holds no flow.

import { buildPolicyIndex } from "../policy/engine.js";
import { formatRule } from "../policy/explain.js";
import { flowKey, type FlowMap, type ObservedFlow, workloadKey } from "../traffic/flow.js";
import { describePeer, type FlowJudgement, judgeFlows, ruleOrReason } from "../traffic/judge.js";
import { type StagedResult, stagedVerdicts } from "../traffic/staged.js";
import { printableJson } from "../text/printable.js";
import { parseOptions } from "./args.js";
import { unevaluatedWarnings } from "./check.js";
import { type Command, EXIT, type Output, UsageError } from "./command.js";
import { coverageNote, emptyMap, readInForce, readMaps, readStaged } from "./flow-inputs.js";
import { listed, printTable } from "./table.js";

const USAGE = `Usage: netcanary map <map.json>... [--manifests <file|dir>...] [--staged <file|dir>...]
                     [--output table|json]

Reads traffic maps recorded by the agent (several are merged: one per node, or one node's
over time) and judges every observed flow with the policy engine: the verdict the
NetworkPolicies in force give it (from --manifests, read as 'netcanary check' reads them),
the rule that allowed it, or why it is denied or unknown. A flow the policies deny that was
seen all the same is an unexpected allow: the policies are not enforced for it.

With --staged, the NetworkPolicies in those files are evaluated as if applied (never
applied): the WOULD DENY column names the staged policies that would deny each flow, each
applied alone on top of the policies in force, and a summary counts the flows each would
deny, and all of them together.

Options:
  --manifests <path>...  the policies in force (and Services, pods, namespaces); without it,
                         flows are judged as if no NetworkPolicy were in force
  --staged <path>...     staged NetworkPolicies (files or directories of manifests)
  --output table|json    output format (default: table)

Exit status: 0 nothing to report, 1 a flow the policies deny was seen or a staged policy
would deny an observed flow, 2 unusable input, 3 the map holds no flow (nothing observed:
inconclusive).`;

interface MapRow {
  readonly flow: ObservedFlow;
  readonly judgement: FlowJudgement;
  readonly wouldDeny: readonly string[];
}

function verdictCell(judgement: FlowJudgement): string {
  const head = judgement.determinate || judgement.verdict === "unknown" ? judgement.verdict : `${judgement.verdict} (undetermined)`;
  return judgement.unexpectedAllow ? `${head}, seen: not enforced` : head;
}

function rows(map: FlowMap, judgements: readonly FlowJudgement[], staged: StagedResult | undefined): MapRow[] {
  const denials = new Map<string, string[]>();
  for (const report of staged?.policies ?? []) for (const key of report.wouldDeny) denials.set(key, [...(denials.get(key) ?? []), report.policy]);
  const out = map.flows.map((flow, i) => ({ flow, judgement: judgements[i] as FlowJudgement, wouldDeny: denials.get(flowKey(flow)) ?? [] }));
  const order = (row: MapRow) => [workloadKey(row.flow.local), row.flow.direction, describePeer(row.flow), String(row.flow.port).padStart(5, "0"), row.flow.protocol].join("|");
  return out.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}

function renderTable(list: readonly MapRow[], staged: StagedResult | undefined, out: Output): void {
  const headers = ["LOCAL", "DIR", "PEER", "PORT", "VERDICT", "RULE OR REASON", "LAST SEEN", ...(staged ? ["WOULD DENY"] : [])];
  let previous = "";
  const cells = list.map((row) => {
    const local = workloadKey(row.flow.local);
    const shown = local === previous ? "" : local;
    previous = local;
    return [
      shown,
      row.flow.direction === "outbound" ? "out" : "in",
      describePeer(row.flow),
      `${row.flow.port}/${row.flow.protocol}`,
      verdictCell(row.judgement),
      ruleOrReason(row.judgement),
      row.flow.lastSeen,
      ...(staged ? [row.wouldDeny.length > 0 ? listed(row.wouldDeny) : "-"] : []),
    ];
  });
  printTable(out.stdout, headers, cells);
}

function summary(list: readonly MapRow[]) {
  const count = (verdict: string) => list.filter((r) => r.judgement.verdict === verdict).length;
  return { flows: list.length, allowed: count("allow"), denied: count("deny"), mixed: count("mixed"), unknown: count("unknown"), unexpectedAllows: list.filter((r) => r.judgement.unexpectedAllow).length };
}

function stagedJson(staged: StagedResult) {
  const one = (r: StagedResult["all"]) => ({ policy: r.policy, ...(r.file ? { file: r.file } : {}), ...(r.line !== undefined ? { line: r.line } : {}), wouldDeny: r.wouldDeny });
  return { policies: staged.policies.map(one), all: one(staged.all), unjudged: staged.unjudged };
}

export const mapCommand: Command = {
  name: "map",
  summary: "show a recorded traffic map, each flow judged against the policies in force (and staged ones)",
  usage: USAGE,
  async run(argv, out) {
    const { values, positionals } = parseOptions({
      args: [...argv],
      allowPositionals: true,
      options: {
        manifests: { type: "string", multiple: true },
        staged: { type: "string", multiple: true },
        output: { type: "string", default: "table" },
      },
    });
    if (positionals.length === 0) throw new UsageError("a map file is required (the JSON the agent records)");
    if (values.output !== "table" && values.output !== "json") throw new UsageError(`--output must be table or json, got "${values.output}"`);
    const map = await readMaps(positionals, out);
    if (!map.ok) return map.exitCode;
    const inForce = await readInForce(values.manifests ?? [], out);
    if (!inForce.ok) return inForce.exitCode;
    const stagedPolicies = await readStaged(values.staged ?? [], out);
    if (!stagedPolicies.ok) return stagedPolicies.exitCode;
    const empty = emptyMap(map.value, "map", out);
    if (empty !== undefined) return empty;

    for (const line of unevaluatedWarnings(inForce.value.unevaluated, false)) out.stderr(line);
    if (!inForce.value.given) out.stderr("note: no --manifests: every flow is judged as if no NetworkPolicy were in force");
    const note = coverageNote(map.value);
    if (note) out.stderr(note);

    const index = buildPolicyIndex(inForce.value.snapshot);
    const judgements = judgeFlows(index, map.value);
    const staged = stagedPolicies.value.length > 0 ? stagedVerdicts(index, map.value, stagedPolicies.value) : undefined;
    const list = rows(map.value, judgements, staged);
    const totals = summary(list);
    if (values.output === "json") {
      const flows = list.map((r) => ({
        key: r.judgement.key,
        direction: r.flow.direction,
        protocol: r.flow.protocol,
        local: r.flow.local,
        peer: r.flow.peer,
        port: r.flow.port,
        lastSeen: r.flow.lastSeen,
        verdict: r.judgement.verdict,
        determinate: r.judgement.determinate,
        allowedBy: r.judgement.allowedBy.map(formatRule),
        reason: r.judgement.reason,
        unexpectedAllow: r.judgement.unexpectedAllow,
        cases: r.judgement.cases.map(({ target, verdict, determinate, summary: s }) => ({ target, verdict, determinate, summary: s })),
        ...(staged ? { wouldDeny: r.wouldDeny } : {}),
      }));
      for (const line of printableJson({ from: map.value.from, until: map.value.until, flows, summary: totals, ...(staged ? { staged: stagedJson(staged) } : {}), coverage: map.value.coverage })) out.stdout(line);
    } else {
      renderTable(list, staged, out);
      out.stdout("");
      out.stdout(
        `${totals.flows} flows: ${totals.allowed} allowed, ${totals.denied} denied, ${totals.mixed} mixed, ${totals.unknown} unknown; ` +
          `${totals.unexpectedAllows} denied by policy but seen (not enforced)`,
      );
      if (staged) {
        for (const report of [...staged.policies, staged.all]) out.stdout(`staged ${report.policy}: would deny ${report.wouldDeny.length} observed flow(s)`);
        if (staged.unjudged > 0) out.stdout(`staged: ${staged.unjudged} flow(s) cannot be judged (peer unknown)`);
      }
    }
    const stagedDenies = staged !== undefined && staged.all.wouldDeny.length + staged.policies.reduce((n, r) => n + r.wouldDeny.length, 0) > 0;
    return totals.unexpectedAllows > 0 || stagedDenies ? EXIT.failed : EXIT.ok;
  },
};
