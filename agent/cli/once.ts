// netcanary once: one round of every probe, judged on its own sample, for pipelines.
// Exit 0: no signal; 1: a signal on some edge; 2: unusable input; 3: inconclusive, something
// asked for was not tested (a probe with nothing to probe, a source that matches no pod, an
// edge whose sample could not be judged, a cluster that could not be read).
// A gate that passes on a run that tested nothing would be worse than no gate.

import type { ClusterStatus } from "../cluster/live.js";
import type { ResultEntry } from "../daemon/agent.js";
import type { ProbeGap } from "../targets/empty.js";
import { printableJson } from "../text/printable.js";
import { clusterSourceFor, parseProbeRunArgs, PROBE_RUN_USAGE } from "./agent-options.js";
import { type Command, EXIT, type Output, UsageError } from "./command.js";
import { printTable } from "./table.js";
import { describePath } from "../zscaler/path.js";
import { describeCoverage } from "../derive/coverage.js";
import { coverageExit, MIN_RULE_COVERAGE_USAGE, parseMinRuleCoverage } from "./coverage-gate.js";

const USAGE = `Usage: netcanary once [--config <file>] [--manifests <path>... | --kubeconfig <file>] [--output table|json]
                      [--sync-timeout <s>] [--min-rule-coverage <percent>] [--log-level <level>] [--log-format <format>]

Probes every edge once, judges each outcome on that single sample against the
NetworkPolicy verdict and the declared intent, prints a report and exits:
  0  no signal, and every probe tested what it asks for
  1  an unexpected block, unexpected allow or intent violation
  2  unusable input
  3  inconclusive: something asked for was not tested. A probe with no edge (its Service
     not found, its selector matching no pod, its sources standing for no pod on this
     node); a pod source matching no pod in the cluster; edges beyond agent.maxEdges; an
     edge whose sample says nothing (agent_error, such as a pod that cannot be entered; a
     host name that did not resolve for an edge expected to be denied); an edge with no
     verdict to judge it by (policy unknown, no expect); the cluster state could not be
     read; the config has no probe. stderr says what, one line each. Some edges passing
     does not change that. A signal outranks it: 1.

Pod sources are looked up on this node: $NODE_NAME, else this machine's host name.

Options:
${PROBE_RUN_USAGE}
  --output table|json    report format (default: table)
  --sync-timeout <s>     how long to wait for the cluster state from the API, and for
                         Zscaler's feeds when the config uses them (0-3600, default: 30)
${MIN_RULE_COVERAGE_USAGE}

The report ends with the rule coverage: which rules of the policies selecting the sources
(and of those selecting the pods probed) this round exercised (docs/derive.md).

Logs go to stderr (default level here: error), the report to stdout.`;

/** Something asked for and not tested; the run is inconclusive. */
export interface Untested {
  readonly kind: "cluster" | "probe" | "edge" | "config";
  /** The API server (cluster), the probe's name (probe), the edge's id (edge), or "" (config). */
  readonly name: string;
  readonly reason: string;
}

/** "pods, services: fetch failed: connect ECONNREFUSED ...; namespaces: no answer": the resources by their last error. */
function describeWaiting(status: ClusterStatus): string {
  const byError = new Map<string, string[]>();
  for (const { resource, error } of status.waiting ?? []) {
    const key = error ?? "no answer";
    byError.set(key, [...(byError.get(key) ?? []), resource]);
  }
  return [...byError].map(([error, resources]) => `${resources.join(", ")}: ${error}`).join("; ") || (status.reason ?? "not synchronised");
}

/** "probe loop from labeled (shop/deployment/web) to 10.0.0.1:9/TCP": an edge, as a person reads it. */
function describeEdge(r: ResultEntry): string {
  const workload = r.sourceWorkload ? ` (${r.sourceNamespace}/${r.sourceWorkload})` : "";
  const endpoint = r.endpoint ? ` (endpoint ${r.endpoint})` : "";
  return `probe ${r.probe} from ${r.source}${workload} to ${r.target}:${r.port}/${r.protocol}${endpoint}`;
}

function observedText(observed: NonNullable<ResultEntry["observed"]>): string {
  return `${observed.reason}${observed.detail ? `: ${observed.detail}` : ""}`;
}

/**
 * Why an edge that is neither ok nor a signal after the round tested nothing: its sample
 * could not be judged (pending), or there was nothing to judge it by (unknown). undefined
 * for an edge that was judged.
 */
function whyEdgeIsUntested(r: ResultEntry): string | undefined {
  if (r.status === "unknown") {
    const observed = r.observed ? `; observed ${observedText(r.observed)}` : "";
    return `${describeEdge(r)} tested nothing: its policy verdict is unknown and the probe declares no expect${observed}; policy: ${r.policy.explanation.summary}`;
  }
  if (r.status !== "pending") return undefined;
  if (!r.observed) return `${describeEdge(r)} tested nothing: it was not probed in this run`;
  const { reason } = r.observed;
  if (reason === "agent_error") return `${describeEdge(r)} tested nothing: ${observedText(r.observed)}`;
  const expected = r.policy.verdict !== "unknown" ? r.policy.verdict : r.intent;
  // judge.ts: a TCP probe whose name did not resolve never tried to connect, so it cannot
  // show the deny holds; a gate that passed it would pass a misspelt host name forever.
  if (expected === "deny" && reason.startsWith("dns_")) {
    return `${describeEdge(r)} tested nothing: expected deny, but its name did not resolve (${observedText(r.observed)}), so no connection was tried`;
  }
  return `${describeEdge(r)} tested nothing: observed ${reason}, not judged: the policy verdict changed while it ran`;
}

/**
 * A path check that showed no path (its page could not be read, or no page came) did not test
 * what it asks about, however its connection went. undefined when it did, or is no path check.
 */
function whyPathIsUntested(r: ResultEntry): string | undefined {
  if (r.path === undefined || r.path.raised) return undefined;
  const observed = r.path.observed;
  if (observed !== null && observed.path !== "unknown") return undefined;
  const why = observed === null ? "no check page was read" : `its check page showed no path (${observed.reason ?? "unknown"}${observed.detail ? `: ${observed.detail}` : ""})`;
  return `${describeEdge(r)} did not test its path (expected ${r.path.expect}): ${why}`;
}

/**
 * What this run did not test. Pure: the cluster's status, the probes' gaps, the probe count
 * and the results in, the gaps out. While the cluster state is unread every verdict is
 * unknown: that is said once, not once per edge.
 */
export function untested(input: {
  readonly cluster: ClusterStatus;
  readonly server?: string;
  readonly syncSeconds: number;
  readonly probes: number;
  readonly probeGaps: readonly ProbeGap[];
  readonly results: readonly ResultEntry[];
}): Untested[] {
  const gaps: Untested[] = [];
  if (!input.cluster.ready) {
    const from = input.server ? ` from ${input.server}` : "";
    gaps.push({
      kind: "cluster",
      name: input.server ?? "",
      reason: `the cluster state could not be read${from} within ${input.syncSeconds}s (${describeWaiting(input.cluster)}): every policy verdict is unknown`,
    });
  }
  for (const { probe, scope, reason } of input.probeGaps) {
    gaps.push({ kind: "probe", name: probe, reason: scope === "all" ? `probe ${probe} tested nothing: ${reason}` : `probe ${probe} tested in part: ${reason}` });
  }
  for (const result of input.results) {
    if (result.status === "unknown" && !input.cluster.ready) continue;
    const reason = whyEdgeIsUntested(result) ?? whyPathIsUntested(result);
    if (reason !== undefined) gaps.push({ kind: "edge", name: result.id, reason });
  }
  // Edges derived from the policies (sources[].derive) test something without a declared probe.
  if (input.probes === 0 && input.results.length === 0) gaps.push({ kind: "config", name: "", reason: "the config has no probe: nothing was tested" });
  return gaps;
}

/** 1 on any signal, else 3 when something was not tested, else 0. */
export function onceExitCode(results: readonly ResultEntry[], gaps: readonly Untested[]): number {
  if (results.some((r) => r.signals.length > 0)) return EXIT.failed;
  return gaps.length > 0 ? EXIT.inconclusive : EXIT.ok;
}

function render(results: readonly ResultEntry[], gaps: readonly Untested[], out: Output): void {
  printTable(
    out.stdout,
    ["PROBE", "SOURCE", "TARGET", "PORT", "INTENT", "POLICY", "OBSERVED", "STATUS"],
    results.map((r) => [r.probe, r.source, r.target, `${r.port}/${r.protocol}`, r.intent ?? "-", r.policy.verdict, r.observed?.reason ?? "-", r.status]),
  );
  const flagged = results.filter((r) => r.status !== "ok");
  if (flagged.length > 0) out.stdout("");
  for (const r of flagged) {
    out.stdout(`${r.probe} from ${r.source} to ${r.target}:${r.port}/${r.protocol}: ${r.status}`);
    if (r.observed) out.stdout(`    observed: ${r.observed.reason}${r.observed.address ? ` (${r.observed.address})` : ""}${r.observed.detail ? `: ${r.observed.detail}` : ""}`);
    if (r.path?.observed) out.stdout(`    ${describePath(r.path.expect, r.path.observed)}${r.path.observed.detail ? ` (${r.path.observed.detail})` : ""}`);
    out.stdout(`    policy: ${r.policy.explanation.summary}`);
    const { lines, summary } = r.policy.explanation;
    if (lines.length > 1 || lines[0] !== summary) for (const line of lines) out.stdout(`      ${line}`);
  }
  const signals = results.filter((r) => r.signals.length > 0).length;
  out.stdout("");
  out.stdout(`${results.length} edges: ${results.filter((r) => r.status === "ok").length} ok, ${signals} with a signal` + (gaps.length > 0 ? `; inconclusive: ${gaps.length} not tested (see stderr)` : ""));
}

/** A pipeline step that waits longer than an hour for the cluster has a problem of its own. */
const MAX_SYNC_SECONDS = 3600;

export const onceCommand: Command = {
  usage: USAGE,
  async run(argv, out) {
    // Logs go to stderr so that stdout holds only the report.
    const options = parseProbeRunArgs(argv, { output: { type: "string", default: "table" }, "sync-timeout": { type: "string", default: "30" }, "min-rule-coverage": { type: "string" } }, process.stderr, "error");
    const minRuleCoverage = parseMinRuleCoverage(options.values["min-rule-coverage"]);
    const output = options.values["output"];
    if (output !== "table" && output !== "json") throw new UsageError(`--output must be table or json`);
    // The agent's modules (most of what a start loads) only once the options are read: --help
    // and a mistyped option do not load them.
    const [{ Agent }, { AgentMetrics }, { identityFromEnvironment }, { formatInputError }] = await Promise.all([
      import("../daemon/agent.js"),
      import("../metrics/registry.js"),
      import("../daemon/identity.js"),
      import("../documents/located.js"),
    ]);
    const metrics = new AgentMetrics();
    const identity = identityFromEnvironment();
    const cluster = await clusterSourceFor(options, metrics, identity, 0);
    if (!cluster.ok) {
      for (const error of cluster.errors) out.stderr(formatInputError(error));
      return EXIT.unusable;
    }
    const started = await Agent.create({
      ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
      cluster: cluster.source,
      identity,
      logger: options.logger,
      metrics,
      singleSample: true,
      watchIntervalMs: 0,
    });
    if (!started.ok) {
      for (const error of started.errors) out.stderr(formatInputError(error));
      return EXIT.unusable;
    }
    const agent = started.agent;
    const syncSeconds = Number(options.values["sync-timeout"]);
    if (!Number.isFinite(syncSeconds) || syncSeconds < 0 || syncSeconds > MAX_SYNC_SECONDS) throw new UsageError(`--sync-timeout must be a number of seconds from 0 to ${MAX_SYNC_SECONDS}`);
    // With a live cluster, judge against its state: wait (bounded) for the first sync.
    const synced = await agent.startClusterAndWait(syncSeconds * 1000);
    await agent.refreshFeeds(syncSeconds * 1000);
    await agent.runRound();
    // Names resolved in the round may point at addresses still to be looked up (live cluster).
    await agent.settleAddresses(syncSeconds * 1000);
    await agent.stop();
    const { results } = agent.results();
    const coverage = agent.coverage();
    const gate = coverageExit(coverage, minRuleCoverage);
    const gaps = untested({
      cluster: synced,
      ...(cluster.server !== undefined ? { server: cluster.server } : {}),
      syncSeconds,
      probes: agent.probeCount(),
      probeGaps: agent.untestedProbes(),
      results,
    });
    if (output === "json") for (const line of printableJson({ results, inconclusive: gaps, coverage })) out.stdout(line);
    else {
      render(results, gaps, out);
      out.stdout(describeCoverage(coverage));
    }
    for (const gap of gaps) out.stderr(`netcanary once: inconclusive: ${gap.reason}`);
    if (cluster.kind === "none" && gaps.some((gap) => gap.kind === "probe")) {
      out.stderr("netcanary once: no cluster was given (--kubeconfig, --manifests, $KUBECONFIG, or a pod's service account): it has no Service and no pod");
    }
    if (gate.message !== undefined) out.stderr(`netcanary once: ${gate.exit === EXIT.inconclusive ? "inconclusive: " : ""}${gate.message}`);
    const code = onceExitCode(results, gaps);
    // A signal or coverage below the gate fails; nothing to cover is inconclusive unless something fails.
    if (code === EXIT.failed || gate.exit === EXIT.failed) return EXIT.failed;
    return gate.exit ?? code;
  },
};
