// Time to alert: from an allowed edge dropped by the network to the alert delivered by
// Alertmanager, through the whole chain, with the shipped rules as they are (their real
// `for:`) and a realistic agent config. The same chain as test/system/alert-chain.test.ts:
// the agent in the pod-mode lab probing from the labeled client pod, the Debian package's
// Prometheus scraping it with alerts/netcanary.rules.yaml, Alertmanager routing to a webhook
// receiver that timestamps every notification.
//
// It sabotages client -> web:8080 (an edge the policy allows) and measures, from the moment
// the drop rule is in place, the time to:
//   (a) the agent's status change in /api/v1/results (the observation that flipped it),
//   (b) NetcanaryUnexpectedBlock pending, then firing, in Prometheus (its own timestamps,
//       cross-checked by polling /api/v1/alerts),
//   (c) the firing notification at the webhook;
// then removes the rule and measures the same way to the resolved notification.
//
//   npm run -s build && node bench/time-to-alert.ts
//     [--for 30s]                     every alerting rule's for: (default: as shipped)
//     [--interval 30s] [--timeout 3s] [--failure-threshold 3]   the agent (the shipped config)
//     [--scrape-interval 30s] [--evaluation-interval 30s]       Prometheus (the shipped
//                                     ServiceMonitor; prometheus-operator's evaluation default)
//     [--group-wait 30s] [--group-interval 5m]                  Alertmanager's defaults
//     [--limit 20m]                   the whole run is bounded by this
//
// Needs root (network namespaces, nftables) and ip, nft, dnsmasq, nsenter, setpriv,
// prometheus, prometheus-alertmanager. Everything it starts is stopped and removed at the end,
// on failure, on the limit, and on Ctrl-C.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { AlertChain, type Delivery, durationMs, shippedAlerts } from "../test/support/alert-chain.ts";
import { waitFor } from "../test/support/lab.ts";
import { AGENT_PORT, type LabResult, PodLab } from "../test/support/pod-lab.ts";

const ALERT = "NetcanaryUnexpectedBlock";
const CLIENT = "deployment/client";
const AGENT_POLL_MS = 250;
const PROMETHEUS_POLL_MS = 1000;

const { values } = parseArgs({
  options: {
    for: { type: "string" },
    interval: { type: "string", default: "30s" },
    timeout: { type: "string", default: "3s" },
    "failure-threshold": { type: "string", default: "3" },
    "scrape-interval": { type: "string", default: "30s" },
    "evaluation-interval": { type: "string", default: "30s" },
    "group-wait": { type: "string", default: "30s" },
    "group-interval": { type: "string", default: "5m" },
    limit: { type: "string", default: "20m" },
  },
});

function duration(name: string, text: string): number {
  try {
    return durationMs(text);
  } catch {
    console.error(`--${name}: not a duration (use e.g. 500ms, 10s, 3m): ${text}`);
    process.exit(2);
  }
}

const intervalMs = duration("interval", values.interval);
const timeoutMs = duration("timeout", values.timeout);
const failureThreshold = Number(values["failure-threshold"]);
if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
  console.error(`--failure-threshold: a positive integer, not ${values["failure-threshold"]}`);
  process.exit(2);
}
const timing = {
  scrapeInterval: values["scrape-interval"],
  evaluationInterval: values["evaluation-interval"],
  groupWait: values["group-wait"],
  groupInterval: values["group-interval"],
};
for (const [name, text] of Object.entries({ "scrape-interval": timing.scrapeInterval, "evaluation-interval": timing.evaluationInterval, "group-wait": timing.groupWait, "group-interval": timing.groupInterval })) {
  duration(name, text);
}
const limitMs = duration("limit", values.limit);
if (values.for !== undefined) duration("for", values.for);

function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root");
  for (const command of ["ip", "nft", "dnsmasq", "nsenter", "setpriv", "prometheus", "prometheus-alertmanager"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    } catch {
      missing.push(`the command ${command}`);
    }
  }
  return missing;
}

function version(command: string): string {
  try {
    const first = execFileSync(command, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 }).split("\n")[0] ?? "";
    return /version (\S+)/.exec(first)?.[1] ?? (first.trim() || "unknown");
  } catch {
    return "unknown";
  }
}

/** 3m24.5s, 12.3s, 850ms */
function human(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}s`;
}

const missing = missingPrerequisites();
if (missing.length > 0) {
  console.error(`time-to-alert needs ${missing.join(", ")}`);
  process.exit(2);
}

const shipped = shippedAlerts();
const shippedFor = shipped.find((rule) => rule.alert === ALERT)?.for;
if (shippedFor === undefined) throw new Error(`${ALERT} has no for: in the shipped rules`);
const alertFor = values.for ?? shippedFor;
const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model ?? "unknown";

console.log(
  [
    `command:    node bench/time-to-alert.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`,
    `date:       ${new Date().toISOString()}`,
    `machine:    ${cpuModel}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}`,
    `node:       ${process.version}`,
    `prometheus: ${version("prometheus")}; alertmanager: ${version("prometheus-alertmanager")}`,
    `agent:      interval ${values.interval}, timeout ${values.timeout}, failureThreshold ${failureThreshold}, successThreshold 1 (pod mode, probing from the client pod)`,
    `prometheus: scrape_interval ${timing.scrapeInterval}, evaluation_interval ${timing.evaluationInterval}; alertmanager: group_wait ${timing.groupWait}, group_interval ${timing.groupInterval}`,
    `rules:      ${values.for === undefined ? "alerts/netcanary.rules.yaml as shipped" : `alerts/netcanary.rules.yaml with every for: set to ${values.for}`} (${ALERT} for: ${alertFor})`,
    `polling:    agent /api/v1/results every ${AGENT_POLL_MS} ms, Prometheus /api/v1/alerts every ${PROMETHEUS_POLL_MS} ms (the times below use the components' own timestamps where they have one)`,
  ].join("\n"),
);

let pods: PodLab | undefined;
let finishing: Promise<void> | undefined;
function cleanup(): Promise<void> {
  finishing ??= (async () => {
    await Promise.race([pods?.teardown(), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
  })();
  return finishing;
}
const limitTimer = setTimeout(() => {
  console.error(`\ntime-to-alert: not finished within --limit ${values.limit}; stopping`);
  void cleanup().then(() => process.exit(1));
}, limitMs);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping everything this benchmark started`);
    void cleanup().then(() => process.exit(130));
  });
}
const deadline = Date.now() + limitMs;
const remaining = (): number => Math.max(1000, deadline - Date.now());

function report(label: string, fromMs: number, atMs: number, note = ""): void {
  console.log(`  ${label.padEnd(50)} +${human(atMs - fromMs).padEnd(9)}${note ? ` ${note}` : ""}`);
}

async function webResult(lab: PodLab): Promise<LabResult | undefined> {
  const response = await lab.get("/api/v1/results?probe=web");
  if (response.status !== 200) throw new Error(`GET /api/v1/results: ${response.status} ${response.error ?? response.body}`);
  return (JSON.parse(response.body) as { results: LabResult[] }).results.find((result) => result.sourceWorkload === CLIENT);
}

/** Polls the agent until the client's web edge is in status; the observation's own time and when it was seen. */
async function agentStatus(lab: PodLab, status: string): Promise<{ observedAt: number; seenAt: number; result: LabResult }> {
  const result = await waitFor(
    `web from ${CLIENT}: ${status}`,
    async () => {
      const found = await webResult(lab);
      return found?.status === status ? found : undefined;
    },
    { timeoutMs: remaining(), intervalMs: AGENT_POLL_MS },
  );
  const at = result.observed?.at;
  return { observedAt: at !== undefined ? Date.parse(at) : Number.NaN, seenAt: Date.now(), result };
}

const isWebAlert = (labels: Readonly<Record<string, string>>): boolean => labels["alertname"] === ALERT && labels["probe"] === "web" && labels["source_workload"] === CLIENT;

/** Polls Prometheus's alerts: when the web alert was first seen pending (with its activeAt) and firing. */
async function prometheusFiring(chain: AlertChain): Promise<{ activeAt: number; pendingSeenAt: number | undefined; firingSeenAt: number }> {
  let pendingSeenAt: number | undefined;
  let activeAt = Number.NaN;
  const firingSeenAt = await waitFor(
    `${ALERT} firing in Prometheus`,
    async () => {
      const alert = (await chain.alerts()).find((candidate) => isWebAlert(candidate.labels));
      if (!alert) return undefined;
      activeAt = Date.parse(alert.activeAt);
      if (alert.state === "pending") pendingSeenAt ??= Date.now();
      return alert.state === "firing" ? Date.now() : undefined;
    },
    { timeoutMs: remaining(), intervalMs: PROMETHEUS_POLL_MS },
  );
  return { activeAt, pendingSeenAt, firingSeenAt };
}

async function prometheusGone(chain: AlertChain): Promise<number> {
  return waitFor(
    `${ALERT} gone from Prometheus`,
    async () => ((await chain.alerts()).some((alert) => isWebAlert(alert.labels)) ? undefined : Date.now()),
    { timeoutMs: remaining(), intervalMs: PROMETHEUS_POLL_MS },
  );
}

function delivery(chain: AlertChain, status: "firing" | "resolved", after: number, fingerprint?: string): Promise<Delivery> {
  return chain.waitForDelivery(
    `${ALERT} ${status} at the webhook`,
    (d) => isWebAlert(d.alert.labels) && d.alert.status === status && (fingerprint === undefined || d.alert.fingerprint === fingerprint),
    { after, timeoutMs: remaining() },
  );
}

let failed = false;
try {
  const startedAt = Date.now();
  pods = await PodLab.create({ intervalMs, timeoutMs, failureThreshold });
  const lab = pods;
  const chain = await AlertChain.start(lab.lab, {
    agent: `${lab.addresses.agent}:${AGENT_PORT}`,
    pod: lab.lab.pod("agent"),
    ...(values.for !== undefined ? { forDuration: values.for } : {}),
    timing,
  });
  // Baseline: the edge healthy in the agent and in Prometheus, nothing about it active.
  await agentStatus(lab, "ok");
  await waitFor(
    "the web edge's status ok in Prometheus",
    async () => ((await chain.query('netcanary_edge_status{probe="web", source_workload="deployment/client", status="ok"} == 1')).length === 1 ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  const active = await chain.alerts();
  if (active.some((alert) => isWebAlert(alert.labels))) throw new Error(`${ALERT} is already active before the sabotage`);
  console.log(`setup:      lab, agent and chain ready in ${human(Date.now() - startedAt)}; alerts active before the sabotage: ${active.map((a) => `${a.labels["alertname"]} (${a.state})`).join(", ") || "none"}`);

  // ---- Sabotage.
  const sabotageStart = Date.now();
  await lab.lab.dropTo(lab.lab.pod("client"), lab.addresses.web, 8080);
  const sabotagedAt = Date.now();
  console.log(`\nsabotage:   client -> web:8080 dropped at ${new Date(sabotagedAt).toISOString()} (rule loaded in ${sabotagedAt - sabotageStart} ms); times from then:`);
  const [agent, prometheus, fired] = await Promise.all([agentStatus(lab, "unexpected_block"), prometheusFiring(chain), delivery(chain, "firing", sabotagedAt)]);
  report("(a) agent: status unexpected_block", sabotagedAt, agent.observedAt, `(observation at ${new Date(agent.observedAt).toISOString()}; seen in /api/v1/results at +${human(agent.seenAt - sabotagedAt)}, reason ${agent.result.observed?.reason})`);
  report(`(b) Prometheus: ${ALERT} pending`, sabotagedAt, prometheus.activeAt, "(activeAt)");
  const firedAt = Date.parse(fired.alert.startsAt);
  report(`(b) Prometheus: ${ALERT} firing`, sabotagedAt, firedAt, `(the alert's startsAt; seen firing in /api/v1/alerts at +${human(prometheus.firingSeenAt - sabotagedAt)})`);
  report("(c) webhook: firing notification delivered", sabotagedAt, fired.receivedAt);
  console.log(`  summary: ${fired.alert.annotations["summary"]}`);

  // ---- Restore.
  await lab.lab.clearRules(lab.lab.pod("client"));
  const restoredAt = Date.now();
  console.log(`\nrestore:    drop rule removed at ${new Date(restoredAt).toISOString()}; times from then:`);
  const [healed, gone, resolved] = await Promise.all([agentStatus(lab, "ok"), prometheusGone(chain), delivery(chain, "resolved", restoredAt, fired.alert.fingerprint)]);
  report("(a) agent: status ok", restoredAt, healed.observedAt, `(seen in /api/v1/results at +${human(healed.seenAt - restoredAt)})`);
  report(`(b) Prometheus: ${ALERT} resolved`, restoredAt, Date.parse(resolved.alert.endsAt), `(the alert's endsAt; gone from /api/v1/alerts at +${human(gone - restoredAt)})`);
  report("(c) webhook: resolved notification delivered", restoredAt, resolved.receivedAt);

  const others = chain.deliveries().filter((d) => !isWebAlert(d.alert.labels));
  // The first failing probe starts within one interval of the sabotage; the status flips when
  // the failureThreshold-th one times out. Then a scrape, an evaluation, for:, group_wait.
  const least = (failureThreshold - 1) * intervalMs + timeoutMs + durationMs(alertFor) + durationMs(timing.groupWait);
  const most = least + intervalMs + durationMs(timing.scrapeInterval) + durationMs(timing.evaluationInterval);
  console.log(
    [
      "",
      `expected sabotage -> delivery: ${human(least)} to ${human(most)}: the agent's debounce (${failureThreshold} consecutive failures, ${values.interval} apart, the first starting`,
      `within ${values.interval} of the sabotage, the last ending at its ${values.timeout} timeout), then up to a scrape (${timing.scrapeInterval}) and an evaluation (${timing.evaluationInterval}),`,
      `the rule's for: ${alertFor}, and Alertmanager's group_wait ${timing.groupWait}.`,
      `other notifications during the run: ${others.map((d) => `${d.alert.labels["alertname"]} ${d.alert.status}`).join(", ") || "none"}`,
      `total run: ${human(Date.now() - startedAt)}`,
    ].join("\n"),
  );
} catch (error) {
  failed = true;
  console.error(`\ntime-to-alert failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  clearTimeout(limitTimer);
  await cleanup();
}
process.exit(failed ? 1 : 0);
