// Rule coverage (docs/derive.md): which rules of the policies this agent's probes cross were
// exercised by a probe in the last window, declared or derived. Egress: every rule of every
// policy selecting one of the agent's source pods. Ingress: the rules of the policies selecting
// the pods its probes reach (a Service: its backends); the other ends' own agents report the
// rest, and the dashboard adds them up. A rule counts as exercised when the verdict of a probe
// sampled in the window names it (it admits the connection, or, an admin rule, denies it).
// Pure: records, the index and the time in.

import type { IpAddress } from "../addresses/ip.js";
import type { PodInfo } from "../cluster/snapshot.js";
import { type PolicyIndex } from "../policy/engine.js";
import { formatRule } from "../policy/explain.js";
import type { Direction, PolicyVerdict } from "../policy/model.js";
import { rulesFor } from "../policy/rules.js";
import { serviceBackends } from "../policy/services.js";
import type { SourceIdentity } from "../sources/identity.js";

export interface RuleCoverage {
  /** "namespace/name spec.egress[0]", "AdminNetworkPolicy name spec.ingress[1]". */
  readonly rule: string;
  readonly direction: Direction;
  readonly exercised: boolean;
  /** The probes that exercised it (probe names: "derived" for derived edges), at most a few. */
  readonly by: readonly string[];
  /** Why nothing exercises it, when derivation knows (no destination it admits). */
  readonly reason?: string;
}

export interface PolicyCoverage {
  /** "namespace/name", or "AdminNetworkPolicy name". */
  readonly policy: string;
  readonly exercised: number;
  readonly total: number;
  readonly ratio: number;
  readonly rules: readonly RuleCoverage[];
}

export interface Coverage {
  /** How far back probes count (0 for netcanary check: its queries). */
  readonly windowSeconds: number;
  readonly exercised: number;
  readonly total: number;
  /** null when there is no rule at all: nothing to cover is not full coverage. */
  readonly ratio: number | null;
  readonly policies: readonly PolicyCoverage[];
}

/**
 * What coverage reads of an edge's record (verdicts/edge-state.ts EdgeRecord, structurally:
 * verdicts/ holds targets/' edges, and targets/ expands derive/'s).
 */
export interface CoveredRecord {
  readonly edge: { readonly address?: IpAddress; readonly probe: { readonly name: string } };
  /** The address last probed. */
  readonly address?: IpAddress;
  readonly policy: { readonly verdict?: PolicyVerdict };
  /** The last sample: its outcome reason and ISO 8601 time. */
  readonly observed?: { readonly reason: string; readonly at: string };
}

export interface CoverageInput {
  readonly index: PolicyIndex | undefined;
  /** Every identity of every configured source on this node. */
  readonly sources: readonly SourceIdentity[];
  readonly records: readonly CoveredRecord[];
  readonly now: number;
  readonly windowMs: number;
  /** Rules derivation could not fill, and why. */
  readonly unfilled?: readonly { readonly rule: string; readonly reason: string }[];
}

/** Probe names kept per rule: enough to find them, bounded. */
const MAX_BY = 5;

/** The pods an edge's address reaches: the pod, or a Service's backends. */
function reachedPods(index: PolicyIndex, record: CoveredRecord): PodInfo[] {
  const address = record.address ?? record.edge.address;
  if (!address) return [];
  const pod = index.podsByIp.get(address.text);
  if (pod) return [pod];
  const service = index.servicesByIp.get(address.text);
  return service ? serviceBackends(index, service) : [];
}

/** The rules a verdict names as deciding, both directions. */
function rulesNamed(verdict: PolicyVerdict): string[] {
  const named: string[] = [];
  for (const side of [verdict.egress, verdict.ingress]) {
    for (const ref of side.allowedBy) named.push(formatRule(ref));
    if (side.deniedBy) named.push(formatRule(side.deniedBy));
  }
  return named;
}

function inWindow(record: CoveredRecord, now: number, windowMs: number): boolean {
  const observed = record.observed;
  // A sample that never tried (the prober failed) crossed nothing.
  if (!observed || observed.reason === "agent_error") return false;
  const at = Date.parse(observed.at);
  return Number.isFinite(at) && at >= now - windowMs && at <= now;
}

/** Rule name -> its policy and direction: the rules to cover. */
type Universe = Map<string, { policy: string; direction: Direction }>;

function addRules(universe: Universe, index: PolicyIndex, pod: PodInfo | undefined, direction: Direction): void {
  for (const rule of rulesFor(index, pod, direction)) universe.set(rule.name, { policy: rule.policy, direction });
}

/** Marks the rules a verdict names as exercised by `by` (a probe's name, a query). */
function exercise(exercised: Map<string, Set<string>>, verdict: PolicyVerdict, by: string): void {
  for (const rule of rulesNamed(verdict)) {
    const probes = exercised.get(rule) ?? new Set<string>();
    if (probes.size < MAX_BY) probes.add(by);
    exercised.set(rule, probes);
  }
}

export function ruleCoverage(input: CoverageInput): Coverage {
  const windowSeconds = input.windowMs / 1000;
  const index = input.index;
  if (!index) return tally(new Map(), new Map(), new Map(), windowSeconds);
  const universe: Universe = new Map();
  for (const source of input.sources) if (source.pod) addRules(universe, index, source.pod, "egress");
  for (const record of input.records) for (const pod of reachedPods(index, record)) addRules(universe, index, pod, "ingress");
  // What the window's samples exercised.
  const by = new Map<string, Set<string>>();
  for (const record of input.records) {
    const verdict = record.policy.verdict;
    if (verdict && inWindow(record, input.now, input.windowMs)) exercise(by, verdict, record.edge.probe.name);
  }
  const reasons = new Map<string, string>();
  for (const { rule, reason } of input.unfilled ?? []) if (rule !== "" && !reasons.has(rule)) reasons.set(rule, reason);
  return tally(universe, by, reasons, windowSeconds);
}

/** netcanary check: every rule of every policy in the manifests, exercised by the queries' verdicts. */
export function queryCoverage(index: PolicyIndex, verdicts: readonly { readonly query: string; readonly verdict: PolicyVerdict }[]): Coverage {
  const universe: Universe = new Map();
  addRules(universe, index, undefined, "egress");
  addRules(universe, index, undefined, "ingress");
  const by = new Map<string, Set<string>>();
  for (const { query, verdict } of verdicts) exercise(by, verdict, query);
  return tally(universe, by, new Map(), 0);
}

function tally(universe: Universe, by: ReadonlyMap<string, ReadonlySet<string>>, reasons: ReadonlyMap<string, string>, windowSeconds: number): Coverage {
  const policies = new Map<string, RuleCoverage[]>();
  for (const [rule, { policy, direction }] of universe) {
    const probes = [...(by.get(rule) ?? [])].sort();
    const reason = probes.length === 0 ? reasons.get(rule) : undefined;
    const entry: RuleCoverage = { rule, direction, exercised: probes.length > 0, by: probes, ...(reason !== undefined ? { reason } : {}) };
    policies.set(policy, [...(policies.get(policy) ?? []), entry]);
  }
  const list = [...policies]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([policy, rules]): PolicyCoverage => {
      const sorted = rules.sort((a, b) => (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0));
      const exercised = sorted.filter((r) => r.exercised).length;
      return { policy, exercised, total: sorted.length, ratio: exercised / sorted.length, rules: sorted };
    });
  const total = universe.size;
  const exercised = list.reduce((sum, p) => sum + p.exercised, 0);
  return { windowSeconds, exercised, total, ratio: total === 0 ? null : exercised / total, policies: list };
}

/** What a coverage gate (--min-rule-coverage) says: pass, fail (below), or nothing to cover (never a pass). */
export function gateCoverage(coverage: Coverage, minPercent: number): { readonly result: "pass" | "fail" | "nothing"; readonly message: string } {
  if (coverage.ratio === null) return { result: "nothing", message: `--min-rule-coverage ${minPercent}: no rule to exercise, so coverage proves nothing` };
  const percent = coverage.ratio * 100;
  if (percent + 1e-9 >= minPercent) return { result: "pass", message: `rule coverage ${Math.floor(percent * 10) / 10}% meets --min-rule-coverage ${minPercent}` };
  return { result: "fail", message: `rule coverage ${Math.floor(percent * 10) / 10}% is below --min-rule-coverage ${minPercent} (${coverage.total - coverage.exercised} of ${coverage.total} rules not exercised)` };
}

/** "rule coverage: 5 of 6 rules exercised (83%) in 4 policies; not exercised: ns/a spec.egress[1]" */
export function describeCoverage(coverage: Coverage): string {
  if (coverage.total === 0) return "rule coverage: no policy selects a source or a probed pod: no rule to exercise";
  const percent = Math.floor(((coverage.ratio ?? 0) * 1000)) / 10;
  const missing = coverage.policies.flatMap((p) => p.rules.filter((r) => !r.exercised).map((r) => r.rule));
  const shown = missing.slice(0, 5).join(", ") + (missing.length > 5 ? `, and ${missing.length - 5} more` : "");
  return `rule coverage: ${coverage.exercised} of ${coverage.total} rules exercised (${percent}%) in ${coverage.policies.length} ${coverage.policies.length === 1 ? "policy" : "policies"}` + (missing.length > 0 ? `; not exercised: ${shown}` : "");
}
