// Staged NetworkPolicies: policies a person means to apply, evaluated against the traffic that
// really flows as if they were applied, and never enforced. netcanary reads them from files
// (a directory of manifests, `--staged <dir>` or the agent's `staged:` setting, a ConfigMap
// mounted as one), not from the cluster: a NetworkPolicy object in the cluster is enforced by
// the network plugin whatever annotation it carries, so "staged" cannot be a mark on one.
//
// For each staged policy: the observed flows it would deny if applied alone on top of the
// policies in force ("test each rule in isolation"), and for all of them applied together.
// A flow counts as one it would deny when a case of it (a sampled address, a Service backend)
// that the policies in force allow is denied with the staged policy added. Pure: an index,
// flows and policies in, reports out (judgements reused through a memo, judge-cache.ts, when the
// caller keeps one). Loading the files is staged-files.ts.

import { type PolicyIndex, withPolicy } from "../policy/engine.js";
import type { NetworkPolicy } from "../policy/model.js";
import type { FlowMap } from "./flow.js";
import { type FlowJudgement, judgeFlow, judgeFlows, type JudgementMemo, NO_MEMO, withMapNamespaces } from "./judge.js";

export interface StagedReport {
  /** "namespace/name" of the staged policy, or "all staged" for them together. */
  readonly policy: string;
  readonly namespace?: string;
  readonly name?: string;
  /** Where it is defined. */
  readonly file?: string;
  readonly line?: number;
  /** Keys (flow.ts flowKey) of the observed flows it would deny, in the map's order. */
  readonly wouldDeny: readonly string[];
  /** The flows' judgements with the staged policy (or policies) applied, for those keys. */
  readonly judgements: readonly FlowJudgement[];
}

export interface StagedResult {
  readonly policies: readonly StagedReport[];
  readonly all: StagedReport;
  /** Flows no staged verdict can be given for (unnamed peers and the like). */
  readonly unjudged: number;
}

function deniedTargets(judgement: FlowJudgement): Set<string> {
  return new Set(judgement.cases.filter((c) => c.verdict === "deny").map((c) => c.target));
}

/** The judgement with the staged index when it denies a case the base allowed; undefined otherwise. */
function newlyDenied(before: FlowJudgement, after: FlowJudgement): FlowJudgement | undefined {
  if (after.verdict === "unknown") return undefined;
  const was = deniedTargets(before);
  return after.cases.some((c) => c.verdict === "deny" && !was.has(c.target)) ? after : undefined;
}

/** Does a policy of this namespace bear on the flow? Only policies of either end's namespace can. */
function touches(namespaces: ReadonlySet<string>, judged: FlowMap["flows"][number]): boolean {
  if (namespaces.has(judged.local.namespace)) return true;
  const peer = judged.peer;
  if (peer.kind === "workload") return namespaces.has(peer.workload.namespace);
  if (peer.kind === "service") return namespaces.has(peer.namespace) || (peer.backends ?? []).some((b) => namespaces.has(b.workload.namespace));
  return false;
}

function report(policy: NetworkPolicy | undefined, judgements: readonly FlowJudgement[]): StagedReport {
  return {
    policy: policy ? `${policy.namespace}/${policy.name}` : "all staged",
    ...(policy ? { namespace: policy.namespace, name: policy.name } : {}),
    ...(policy?.definedAt ? { file: policy.definedAt.file, ...(policy.definedAt.line !== undefined ? { line: policy.definedAt.line } : {}) } : {}),
    wouldDeny: judgements.map((j) => j.key),
    judgements,
  };
}

/**
 * The flows the policies would newly deny, in the map's order. Only flows a policy's namespace
 * touches can change (the others keep their base judgement, so deny nothing new); the staged
 * index is built only when one of them is judged rather than taken from the memo.
 */
function evaluate(index: PolicyIndex, map: Pick<FlowMap, "flows">, base: readonly FlowJudgement[], policies: readonly NetworkPolicy[], slot: number, memo: JudgementMemo): FlowJudgement[] {
  let staged: PolicyIndex | undefined;
  const namespaces = new Set(policies.map((p) => p.namespace));
  const out: FlowJudgement[] = [];
  map.flows.forEach((flow, i) => {
    const before = base[i];
    if (!before || !touches(namespaces, flow)) return;
    const denied = memo.staged(slot, i, () => newlyDenied(before, judgeFlow((staged ??= policies.reduce(withPolicy, index)), flow)));
    if (denied) out.push(denied);
  });
  return out;
}

/**
 * What each staged policy would deny of the observed flows, applied alone and all together (a
 * staged policy named as one in force replaces it, as applying it would). base: the map's
 * judgements by the policies in force when the caller has them (judgeFlows); memo: where
 * judgements may be reused from (judge-cache.ts).
 */
export function stagedVerdicts(
  index: PolicyIndex,
  map: Pick<FlowMap, "namespaces" | "flows">,
  staged: readonly NetworkPolicy[],
  options: { readonly base?: readonly FlowJudgement[]; readonly memo?: JudgementMemo } = {},
): StagedResult {
  const memo = options.memo ?? NO_MEMO;
  const withNamespaces = withMapNamespaces(index, map);
  const base = options.base ?? judgeFlows(index, map, memo);
  const sorted = [...staged].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const policies = sorted.map((policy, slot) => report(policy, evaluate(withNamespaces, map, base, [policy], slot, memo)));
  return {
    policies,
    all: report(undefined, evaluate(withNamespaces, map, base, staged, sorted.length, memo)),
    unjudged: base.filter((j) => j.verdict === "unknown").length,
  };
}
