// The judged traffic map as one plain document: every flow with its verdict, the rules that
// allowed it or the reason it is denied or unknown, and which staged policies would deny it;
// totals; per staged policy the flows it would deny. `netcanary map --output json` prints it,
// and the agent's /api/v1/flows?judged serves it for its own map (judgedFlowMap, through
// judge-cache.ts, which reuses the judgements of flows unchanged since the last sample). Pure.

import type { PolicyIndex } from "../policy/engine.js";
import { formatRule } from "../policy/explain.js";
import type { NetworkPolicy } from "../policy/model.js";
import { type FlowCoverage, type FlowMap, type FlowPeer, type FlowWorkload, type ObservedFlow, workloadKey } from "./flow.js";
import { describePeer, type FlowJudgement, type FlowVerdict, judgeFlows, type JudgementMemo, NO_MEMO } from "./judge.js";
import { type StagedReport, type StagedResult, stagedVerdicts } from "./staged.js";

export interface FlowReportEntry {
  readonly key: string;
  readonly direction: ObservedFlow["direction"];
  readonly protocol: ObservedFlow["protocol"];
  readonly local: FlowWorkload;
  readonly peer: FlowPeer;
  readonly port: number;
  readonly lastSeen: string;
  readonly verdict: FlowVerdict;
  readonly determinate: boolean;
  readonly allowedBy: readonly string[];
  readonly reason: string;
  /** Denied by the policies in force, and seen: they are not enforced for it. */
  readonly unexpectedAllow: boolean;
  /** Allowed by the policies in force, yet only unanswered attempts were seen: a possible unexpected block. */
  readonly possibleBlock: boolean;
  readonly cases: readonly { readonly target: string; readonly verdict: string; readonly determinate: boolean; readonly summary: string }[];
  /** Staged policies ("namespace/name") that would deny it, each applied alone; only when policies are staged. */
  readonly wouldDeny?: readonly string[];
}

export interface StagedSummary {
  readonly policy: string;
  readonly file?: string;
  readonly line?: number;
  readonly wouldDeny: readonly string[];
}

export interface TrafficReport {
  readonly from: string;
  readonly until: string;
  readonly flows: readonly FlowReportEntry[];
  readonly summary: { readonly flows: number; readonly allowed: number; readonly denied: number; readonly mixed: number; readonly unknown: number; readonly unexpectedAllows: number; readonly possibleBlocks: number };
  readonly staged?: { readonly policies: readonly StagedSummary[]; readonly all: StagedSummary; readonly unjudged: number };
  readonly coverage: FlowCoverage;
}

/** Local workload, direction, peer, port: how a person scans the map. */
function sortKey(flow: ObservedFlow): string {
  return [workloadKey(flow.local), flow.direction, describePeer(flow), String(flow.port).padStart(5, "0"), flow.protocol].join("|");
}

function stagedSummary(report: StagedReport): StagedSummary {
  return { policy: report.policy, ...(report.file ? { file: report.file } : {}), ...(report.line !== undefined ? { line: report.line } : {}), wouldDeny: report.wouldDeny };
}

function entry(flow: ObservedFlow, judgement: FlowJudgement, wouldDeny: readonly string[] | undefined): FlowReportEntry {
  return {
    key: judgement.key,
    direction: flow.direction,
    protocol: flow.protocol,
    local: flow.local,
    peer: flow.peer,
    port: flow.port,
    lastSeen: flow.lastSeen,
    verdict: judgement.verdict,
    determinate: judgement.determinate,
    allowedBy: judgement.allowedBy.map(formatRule),
    reason: judgement.reason,
    unexpectedAllow: judgement.unexpectedAllow,
    possibleBlock: judgement.possibleBlock,
    cases: judgement.cases.map(({ target, verdict, determinate, summary }) => ({ target, verdict, determinate, summary })),
    ...(wouldDeny ? { wouldDeny } : {}),
  };
}

/**
 * The judged map, and (with staged policies) what each would deny; flows sorted for reading.
 * memo: where judgements may be reused from (judge-cache.ts); the document is the same either way.
 */
export function trafficReport(
  index: PolicyIndex,
  map: FlowMap,
  staged: readonly NetworkPolicy[] = [],
  memo: JudgementMemo = NO_MEMO,
): { report: TrafficReport; judgements: readonly FlowJudgement[]; staged?: StagedResult } {
  const judgements = judgeFlows(index, map, memo);
  const stagedResult = staged.length > 0 ? stagedVerdicts(index, map, staged, { base: judgements, memo }) : undefined;
  const denials = new Map<string, string[]>();
  for (const report of stagedResult?.policies ?? []) for (const key of report.wouldDeny) denials.set(key, [...(denials.get(key) ?? []), report.policy]);
  const flows = map.flows
    .map((flow, i) => ({ flow, judgement: judgements[i] as FlowJudgement, sortKey: sortKey(flow) }))
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0))
    .map(({ flow, judgement }) => entry(flow, judgement, stagedResult ? (denials.get(judgement.key) ?? []) : undefined));
  const count = (verdict: FlowVerdict) => flows.filter((f) => f.verdict === verdict).length;
  const report: TrafficReport = {
    from: map.from,
    until: map.until,
    flows,
    summary: { flows: flows.length, allowed: count("allow"), denied: count("deny"), mixed: count("mixed"), unknown: count("unknown"), unexpectedAllows: flows.filter((f) => f.unexpectedAllow).length, possibleBlocks: flows.filter((f) => f.possibleBlock).length },
    ...(stagedResult ? { staged: { policies: stagedResult.policies.map(stagedSummary), all: stagedSummary(stagedResult.all), unjudged: stagedResult.unjudged } } : {}),
    coverage: map.coverage,
  };
  return { report, judgements, ...(stagedResult ? { staged: stagedResult } : {}) };
}

/** The staged set the agent evaluates: where it is read from, and why the files as they are now were refused. */
export interface StagedSetState {
  readonly directory: string;
  readonly policies: readonly NetworkPolicy[];
  /** Empty when the files loaded; else the last good set (policies) is what is evaluated. */
  readonly errors: readonly string[];
  readonly errorCount: number;
}

/**
 * What the agent serves at /api/v1/flows?judged: the judged report of its map at the last
 * sample, the node, and the staged set's state (where it is read from, how many policies, the
 * errors that refused its latest files). The raw map stays at /api/v1/flows: the recorded-map
 * format `netcanary map` reads.
 */
export interface JudgedFlowMap extends TrafficReport {
  readonly apiVersion: "netcanary/v1";
  readonly kind: "JudgedFlowMap";
  readonly node?: string;
  readonly stagedSet?: { readonly directory: string; readonly policies: number; readonly errors: readonly string[]; readonly errorCount: number };
}

/** The agent's judged map (and the judgements and staged result its metrics are built from). */
export function judgedFlowMap(
  index: PolicyIndex,
  map: FlowMap,
  staged: StagedSetState | undefined,
  memo: JudgementMemo = NO_MEMO,
): { document: JudgedFlowMap; judgements: readonly FlowJudgement[]; staged?: StagedResult } {
  const judged = trafficReport(index, map, staged?.policies ?? [], memo);
  const document: JudgedFlowMap = {
    apiVersion: "netcanary/v1",
    kind: "JudgedFlowMap",
    ...(map.node !== undefined ? { node: map.node } : {}),
    ...judged.report,
    ...(staged ? { stagedSet: { directory: staged.directory, policies: staged.policies.length, errors: staged.errors, errorCount: staged.errorCount } } : {}),
  };
  return { document, judgements: judged.judgements, ...(judged.staged ? { staged: judged.staged } : {}) };
}
