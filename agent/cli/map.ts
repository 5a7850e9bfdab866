// netcanary map: a recorded traffic map read by a person: every observed flow, grouped by the
// workload that made or accepted it, with the verdict the policies in force give it (the rule
// that allowed it, or why it is denied or unknown), and with --staged, which staged policies
// would deny it. Exit 0: nothing to report; 1: a finding (a flow the policies deny was seen,
// or a staged policy would deny an observed flow); 2: unusable input; 3: the map holds no flow.

import { buildPolicyIndex } from "../policy/engine.js";
import { workloadKey } from "../traffic/flow.js";
import { describePeer } from "../traffic/judge.js";
import { type FlowReportEntry, type TrafficReport, trafficReport } from "../traffic/report.js";
import { unevaluatedWarnings } from "./check.js";
import { type Command, EXIT, type Output } from "./command.js";
import { coverageNote, readFlowInputs } from "./flow-inputs.js";
import { MANIFESTS_OPTION, parseFlowArgs, printResult } from "./flow-options.js";
import { listed, printTable } from "./table.js";

const USAGE = `Usage: netcanary map <map.json>... [--manifests <file|dir>...] [--staged <file|dir>...]
                     [--output table|json]

Reads traffic maps recorded by the agent (several are merged: one per node, or one node's
over time) and judges every observed flow with the policy engine: the verdict the
NetworkPolicies in force give it (from --manifests, read as 'netcanary check' reads them),
the rule that allowed it, or why it is denied or unknown. A flow the policies deny that was
seen all the same is an unexpected allow: the policies are not enforced for it. A flow
seen only as unanswered connection attempts is not: denied, it is the block at work;
allowed, it is a possible unexpected block (shown, not counted in the exit status).

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

function verdictCell(flow: FlowReportEntry): string {
  const head = flow.determinate || flow.verdict === "unknown" ? flow.verdict : `${flow.verdict} (undetermined)`;
  if (flow.unexpectedAllow) return `${head}, seen: not enforced`;
  return flow.possibleBlock ? `${head}, unanswered: blocked?` : head;
}

function ruleOrReason(flow: FlowReportEntry): string {
  return flow.verdict === "allow" && flow.allowedBy.length > 0 ? flow.allowedBy.join(", ") : flow.reason;
}

function renderTable(report: TrafficReport, out: Output): void {
  const staged = report.staged !== undefined;
  const headers = ["LOCAL", "DIR", "PEER", "PORT", "VERDICT", "RULE OR REASON", "LAST SEEN", ...(staged ? ["WOULD DENY"] : [])];
  let previous = "";
  const cells = report.flows.map((flow) => {
    const local = workloadKey(flow.local);
    const shown = local === previous ? "" : local;
    previous = local;
    const wouldDeny = flow.wouldDeny ?? [];
    return [
      shown,
      flow.direction === "outbound" ? "out" : "in",
      describePeer(flow),
      `${flow.port}/${flow.protocol}`,
      verdictCell(flow),
      ruleOrReason(flow),
      flow.lastSeen,
      ...(staged ? [wouldDeny.length > 0 ? listed(wouldDeny) : "-"] : []),
    ];
  });
  printTable(out.stdout, headers, cells);
  const totals = report.summary;
  out.stdout("");
  out.stdout(
    `${totals.flows} flows: ${totals.allowed} allowed, ${totals.denied} denied, ${totals.mixed} mixed, ${totals.unknown} unknown; ` +
      `${totals.unexpectedAllows} denied by policy but seen (not enforced)` +
      (totals.possibleBlocks > 0 ? `; ${totals.possibleBlocks} allowed by policy but only unanswered attempts seen (possibly blocked)` : ""),
  );
  if (report.staged) {
    for (const one of [...report.staged.policies, report.staged.all]) out.stdout(`staged ${one.policy}: would deny ${one.wouldDeny.length} observed flow(s)`);
    if (report.staged.unjudged > 0) out.stdout(`staged: ${report.staged.unjudged} flow(s) cannot be judged (peer unknown)`);
  }
}

export const mapCommand: Command = {
  usage: USAGE,
  async run(argv, out) {
    const { values, positionals, output } = parseFlowArgs(argv, { ...MANIFESTS_OPTION, staged: { type: "string", multiple: true } }, ["table", "json"]);
    const inputs = await readFlowInputs("map", { maps: positionals, manifests: values.manifests ?? [], staged: values.staged ?? [] }, out);
    if (!inputs.ok) return inputs.exitCode;
    const { map, inForce, staged } = inputs.value;

    for (const line of unevaluatedWarnings(inForce.unevaluated, false)) out.stderr(line);
    if (!inForce.given) out.stderr("note: no --manifests: every flow is judged as if no NetworkPolicy were in force");
    const note = coverageNote(map);
    if (note) out.stderr(note);

    const { report } = trafficReport(buildPolicyIndex(inForce.snapshot), map, staged);
    printResult(out, output, report, () => renderTable(report, out));
    const stagedDenies = report.staged !== undefined && [...report.staged.policies, report.staged.all].some((p) => p.wouldDeny.length > 0);
    return report.summary.unexpectedAllows > 0 || stagedDenies ? EXIT.failed : EXIT.ok;
  },
};
