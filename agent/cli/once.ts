// netcanary once: one round of every probe, judged on its own sample, for pipelines.
// Exit 0: no signal; 1: a signal on some edge; 2: unusable input.

import { Agent, type ResultEntry } from "../daemon/agent.js";
import { identityFromEnvironment } from "../daemon/identity.js";
import { formatInputError } from "../documents/located.js";
import { AgentMetrics } from "../metrics/registry.js";
import { clusterSourceFor, parseProbeRunArgs, PROBE_RUN_USAGE } from "./agent-options.js";
import { type Command, EXIT, type Output, UsageError } from "./command.js";
import { renderTable } from "./table.js";
import { printable } from "../text/printable.js";

const USAGE = `Usage: netcanary once [--config <file>] [--manifests <path>... | --kubeconfig <file>] [--output table|json] [--log-level <level>]

Probes every edge once, judges each outcome on that single sample against the
NetworkPolicy verdict and the declared intent, prints a report and exits:
0 no signal, 1 an unexpected block, unexpected allow or intent violation, 2 unusable input.

Options:
${PROBE_RUN_USAGE}
  --output table|json    report format (default: table)
  --sync-timeout <s>     how long to wait for the cluster state from the API, and for
                         Zscaler's feeds when the config uses them (default: 30)

Logs go to stderr (default level here: error), the report to stdout.`;

function observedText(entry: ResultEntry): string {
  return entry.observed ? entry.observed.reason : "-";
}

function render(results: readonly ResultEntry[], out: Output): void {
  out.stdout(
    renderTable(
      ["PROBE", "SOURCE", "TARGET", "PORT", "INTENT", "POLICY", "OBSERVED", "STATUS"],
      results.map((r) => [r.probe, r.source, r.target, `${r.port}/${r.protocol}`, r.intent ?? "-", r.policy.verdict, observedText(r), r.status]),
    ),
  );
  const flagged = results.filter((r) => r.status !== "ok");
  if (flagged.length > 0) out.stdout("");
  for (const r of flagged) {
    out.stdout(printable(`${r.probe} from ${r.source} to ${r.target}:${r.port}/${r.protocol}: ${r.status}`));
    if (r.observed) out.stdout(printable(`    observed: ${r.observed.reason}${r.observed.address ? ` (${r.observed.address})` : ""}${r.observed.detail ? `: ${r.observed.detail}` : ""}`));
    out.stdout(printable(`    policy: ${r.policy.explanation.summary}`));
    const { lines, summary } = r.policy.explanation;
    if (lines.length > 1 || lines[0] !== summary) for (const line of lines) out.stdout(`      ${printable(line)}`);
  }
  const signals = results.filter((r) => r.signals.length > 0).length;
  out.stdout("");
  out.stdout(`${results.length} edges: ${results.filter((r) => r.status === "ok").length} ok, ${signals} with a signal`);
}

export const onceCommand: Command = {
  name: "once",
  summary: "probe every edge once, report, exit 1 on any signal (for staging pipelines)",
  usage: USAGE,
  async run(argv, out) {
    // Logs go to stderr so that stdout holds only the report.
    const options = parseProbeRunArgs(argv, { output: { type: "string", default: "table" }, "sync-timeout": { type: "string", default: "30" } }, process.stderr, "error");
    const output = options.values["output"];
    if (output !== "table" && output !== "json") throw new UsageError(`--output must be table or json`);
    const metrics = new AgentMetrics();
    const cluster = await clusterSourceFor(options, metrics, 0);
    if (!cluster.ok) {
      for (const error of cluster.errors) out.stderr(formatInputError(error));
      return EXIT.unusable;
    }
    const started = await Agent.create({
      ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
      cluster: cluster.source,
      identity: identityFromEnvironment(),
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
    if (!Number.isFinite(syncSeconds) || syncSeconds < 0) throw new UsageError("--sync-timeout must be a number of seconds");
    // With a live cluster, judge against its state: wait (bounded) for the first sync.
    const synced = await agent.startClusterAndWait(syncSeconds * 1000);
    if (!synced.ready) out.stderr(`netcanary once: ${synced.reason ?? "cluster state not synchronised"}; policy verdicts are unknown`);
    await agent.refreshFeeds(syncSeconds * 1000);
    await agent.runRound();
    await agent.stop();
    const { results } = agent.results();
    if (output === "json") out.stdout(JSON.stringify({ results }, null, 2));
    else render(results, out);
    return results.some((r) => r.signals.length > 0) ? EXIT.failed : EXIT.ok;
  },
};
