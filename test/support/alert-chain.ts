// The monitoring chain behind the agent, for the end-to-end alert test and the time-to-alert
// benchmark: the real Prometheus (scraping the agent, with the shipped rules), the real
// Alertmanager (routing everything to a webhook), and a webhook receiver that records every
// notification with its arrival time.
//
// All three run inside a lab namespace (by default beside the agent, in its pod: the pod-mode
// lab's pod list is fixed) and listen on that pod's address; Prometheus reaches the agent at
// its pod address like any scrape target. The lab stops them on teardown; stop() does it
// earlier. Every wait is bounded.
//
// The rules are a copy of alerts/netcanary.rules.yaml in which only the `for:` durations may
// change (rulesWithFor checks that nothing else did). No parameter properties or enums here:
// the benchmark runs this file with Node's type stripping.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { repoRoot } from "./cli.ts";
import { type Lab, type LabPod, type LabProcess, waitFor } from "./lab.ts";

export const SHIPPED_RULES = join(repoRoot, "alerts", "netcanary.rules.yaml");
export const PROMETHEUS_PORT = 9090;
export const ALERTMANAGER_PORT = 9093;
export const WEBHOOK_PORT = 9095;

// ---------------------------------------------------------------------------------------
// The rules

interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly for?: string;
  readonly [key: string]: unknown;
}

function ruleList(text: string): Rule[] {
  const groups = (parse(text) as { groups: { rules: Rule[] }[] }).groups;
  return groups.flatMap((group) => group.rules);
}

/** The shipped alerting rules: name and `for:` (several rules may share a name). */
export function shippedAlerts(text = readFileSync(SHIPPED_RULES, "utf8")): { alert: string; for: string | undefined }[] {
  return ruleList(text).flatMap((rule) => (rule.alert !== undefined ? [{ alert: rule.alert, for: rule.for }] : []));
}

/**
 * The rules text with every alerting rule's `for:` set to forDuration (undefined: as
 * shipped). Only those lines change; the result is parsed back and compared with the
 * original rule by rule, so a rules file this cannot edit safely fails here, not silently.
 */
export function rulesWithFor(text: string, forDuration: string | undefined): string {
  if (forDuration === undefined) return text;
  if (!/^\d+(ms|s|m|h)$/.test(forDuration)) throw new Error(`for: ${JSON.stringify(forDuration)} is not a simple Prometheus duration`);
  const edited = text.replace(/^([ \t]+for:[ \t]*)\S+[ \t]*$/gm, (_line, head: string) => `${head}${forDuration}`);
  const before = ruleList(text);
  const after = ruleList(edited);
  if (before.length !== after.length) throw new Error("rulesWithFor: the edited rules file has a different number of rules");
  before.forEach((rule, i) => {
    const { for: shippedFor, ...rest } = rule;
    const { for: newFor, ...newRest } = after[i] as Rule;
    if (JSON.stringify(rest) !== JSON.stringify(newRest)) throw new Error(`rulesWithFor: rule ${rule.alert ?? rule.record} changed beyond its for:`);
    if (shippedFor !== undefined && newFor !== forDuration) throw new Error(`rulesWithFor: the for: of ${rule.alert} was not replaced`);
    if (shippedFor === undefined && newFor !== undefined) throw new Error(`rulesWithFor: ${rule.alert ?? rule.record} gained a for:`);
  });
  return edited;
}

// ---------------------------------------------------------------------------------------
// Configuration

export interface ChainTiming {
  /** Prometheus scrape and rule evaluation intervals (default 1s each). */
  readonly scrapeInterval?: string;
  readonly evaluationInterval?: string;
  /** Alertmanager's route timing (defaults 1s, 1s, 4h). */
  readonly groupWait?: string;
  readonly groupInterval?: string;
  readonly repeatInterval?: string;
}

/** The edge alerts' labels: one notification group per alert and edge. */
export const GROUP_BY = ["alertname", "probe", "source", "source_namespace", "source_workload", "target", "port", "protocol"] as const;

export function alertmanagerConfig(webhookUrl: string, timing: ChainTiming = {}): string {
  return `route:
  receiver: webhook
  group_by: [${GROUP_BY.join(", ")}]
  group_wait: ${timing.groupWait ?? "1s"}
  group_interval: ${timing.groupInterval ?? "1s"}
  repeat_interval: ${timing.repeatInterval ?? "4h"}
receivers:
  - name: webhook
    webhook_configs:
      - url: ${webhookUrl}
        send_resolved: true
`;
}

/** Parses "1s", "500ms", "2m" into milliseconds (the subset the configs here use). */
export function durationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h"];
  return Number(match[1]) * unit;
}

/** Prometheus's config; without rulesFile, no rules (see AlertChain.start for why both exist). */
export function prometheusConfig(options: { target: string; rulesFile?: string; alertmanager: string; timing?: ChainTiming }): string {
  const scrape = options.timing?.scrapeInterval ?? "1s";
  // A scrape must end before the next one starts.
  const scrapeTimeout = `${Math.max(100, Math.min(10_000, durationMs(scrape) - 100))}ms`;
  return `global:
  scrape_interval: ${scrape}
  scrape_timeout: ${scrapeTimeout}
  evaluation_interval: ${options.timing?.evaluationInterval ?? "1s"}
rule_files: [${options.rulesFile !== undefined ? JSON.stringify(options.rulesFile) : ""}]
alerting:
  alertmanagers:
    - static_configs: [{targets: [${JSON.stringify(options.alertmanager)}]}]
scrape_configs:
  # The job name the shipped rules expect (see the rules file's header).
  - job_name: netcanary
    static_configs: [{targets: [${JSON.stringify(options.target)}]}]
`;
}

// ---------------------------------------------------------------------------------------
// The webhook receiver

/** Prints one JSON line per request: its arrival time (ms since the epoch) and its body. */
const WEBHOOK_RECEIVER = `
const http = require("node:http");
const [host, port] = process.argv.slice(1);
http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const receivedAt = Date.now();
    const text = Buffer.concat(chunks).toString();
    let body = null;
    try { body = JSON.parse(text); } catch {}
    process.stdout.write(JSON.stringify({ receivedAt, method: request.method, url: request.url, body, ...(body === null ? { raw: text } : {}) }) + "\\n");
    response.writeHead(200);
    response.end();
  });
}).listen(Number(port), host, () => process.stdout.write("listening\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
`;

/** One alert in an Alertmanager webhook notification (version 4 payload). */
export interface WebhookAlert {
  readonly status: "firing" | "resolved";
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly endsAt: string;
  readonly fingerprint: string;
}

export interface Notification {
  /** When the receiver read the request (ms since the epoch, this machine's clock). */
  readonly receivedAt: number;
  readonly method: string;
  readonly url: string;
  readonly body: {
    readonly version: string;
    readonly status: "firing" | "resolved";
    readonly receiver: string;
    readonly groupLabels: Readonly<Record<string, string>>;
    readonly alerts: readonly WebhookAlert[];
  } | null;
  readonly raw?: string;
}

/** One alert as delivered: the alert and the notification that carried it. */
export interface Delivery {
  readonly receivedAt: number;
  readonly alert: WebhookAlert;
  readonly notification: Notification;
}

// ---------------------------------------------------------------------------------------
// Prometheus API shapes (the fields used here)

export interface PrometheusAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: "pending" | "firing";
  readonly activeAt: string;
  readonly value: string;
}

export interface Series {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: [number, string];
}

export interface RuleGroupStatus {
  readonly name: string;
  readonly lastEvaluation: string;
  readonly rules: readonly { readonly name: string; readonly type: "alerting" | "recording"; readonly health: string; readonly lastError?: string; readonly duration?: number; readonly state?: string }[];
}

export interface AlertChainOptions {
  /** The agent's metrics endpoint, host:port. */
  readonly agent: string;
  /** The lab pod the monitoring stack runs in (its address is where everything listens). */
  readonly pod: LabPod;
  /** Every alerting rule's `for:` (undefined: as shipped). */
  readonly forDuration?: string;
  readonly timing?: ChainTiming;
  /** Bound on each component's start (default 30 s). */
  readonly startTimeoutMs?: number;
}

export class AlertChain {
  readonly lab: Lab;
  readonly pod: LabPod;
  readonly webhook: LabProcess;
  readonly alertmanager: LabProcess;
  readonly prometheus: LabProcess;
  /** The rules file Prometheus loads. */
  readonly rulesFile: string;

  private constructor(lab: Lab, pod: LabPod, processes: { webhook: LabProcess; alertmanager: LabProcess; prometheus: LabProcess }, rulesFile: string) {
    this.lab = lab;
    this.pod = pod;
    this.webhook = processes.webhook;
    this.alertmanager = processes.alertmanager;
    this.prometheus = processes.prometheus;
    this.rulesFile = rulesFile;
  }

  /**
   * Starts the receiver, then Alertmanager, then Prometheus; resolves once all three answer,
   * Prometheus scrapes the agent, and it has loaded the rules (every alerting rule, with the
   * expected `for:`).
   * On failure, whatever was started is stopped before rejecting.
   */
  static async start(lab: Lab, options: AlertChainOptions): Promise<AlertChain> {
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const pod = options.pod;
    const dir = join(lab.dir, "alert-chain");
    mkdirSync(join(dir, "alertmanager"), { recursive: true });
    mkdirSync(join(dir, "prometheus"), { recursive: true });
    const shippedText = readFileSync(SHIPPED_RULES, "utf8");
    const rulesFile = join(dir, "netcanary.rules.yaml");
    writeFileSync(rulesFile, rulesWithFor(shippedText, options.forDuration));
    const alertmanagerFile = join(dir, "alertmanager.yml");
    writeFileSync(alertmanagerFile, alertmanagerConfig(`http://${pod.ip}:${WEBHOOK_PORT}/alerts`, options.timing));
    const prometheusFile = join(dir, "prometheus.yml");
    const prometheusOptions = { target: options.agent, alertmanager: `${pod.ip}:${ALERTMANAGER_PORT}`, ...(options.timing ? { timing: options.timing } : {}) };
    writeFileSync(prometheusFile, prometheusConfig(prometheusOptions));

    const started: LabProcess[] = [];
    try {
      const webhook = lab.startProcess(pod, process.execPath, ["-e", WEBHOOK_RECEIVER, pod.ip, String(WEBHOOK_PORT)], { name: "webhook receiver" });
      started.push(webhook);
      await webhook.waitForOutput(/^listening$/m, timeoutMs);

      const alertmanager = lab.startProcess(
        pod,
        "prometheus-alertmanager",
        [
          `--config.file=${alertmanagerFile}`,
          `--storage.path=${join(dir, "alertmanager")}`,
          `--web.listen-address=${pod.ip}:${ALERTMANAGER_PORT}`,
          // No cluster: a single Alertmanager with no gossip port and no peers to wait for.
          "--cluster.listen-address=",
          "--log.level=warn",
        ],
        { name: "alertmanager" },
      );
      started.push(alertmanager);
      await waitReady(lab, pod, alertmanager, `http://${pod.ip}:${ALERTMANAGER_PORT}/-/ready`, timeoutMs);

      const prometheus = lab.startProcess(
        pod,
        "prometheus",
        [
          `--config.file=${prometheusFile}`,
          `--storage.tsdb.path=${join(dir, "prometheus")}`,
          `--web.listen-address=${pod.ip}:${PROMETHEUS_PORT}`,
          "--web.enable-lifecycle",
          "--log.level=warn",
        ],
        { name: "prometheus" },
      );
      started.push(prometheus);
      await waitReady(lab, pod, prometheus, `http://${pod.ip}:${PROMETHEUS_PORT}/-/ready`, timeoutMs);
      const chain = new AlertChain(lab, pod, { webhook, alertmanager, prometheus }, rulesFile);

      // A fresh Prometheus evaluates its rules at once, but scrapes its first target and
      // finds its Alertmanager only once its discovery settles (some 5 s later). Rules loaded
      // at start would see absent(up{job="netcanary"}) until then (with a short `for:`,
      // NetcanaryAgentsAbsent fires) and their notifications could go nowhere. So the rules
      // come in by a reload once the agent has been scraped and Alertmanager is known: from
      // then on, Prometheus is what a long-running one is.
      await waitFor(
        "Prometheus to scrape the agent and know Alertmanager",
        async () => {
          const up = await chain.query('up{job="netcanary"} == 1');
          const managers = await chain.prometheusApi<{ activeAlertmanagers: { url: string }[] }>("/api/v1/alertmanagers");
          return up.length === 1 && managers.activeAlertmanagers.some((manager) => manager.url.includes(`${pod.ip}:${ALERTMANAGER_PORT}`)) ? true : undefined;
        },
        // The first scrape comes at a random offset within the scrape interval.
        { timeoutMs: timeoutMs + 2 * durationMs(options.timing?.scrapeInterval ?? "1s"), intervalMs: 250 },
      );
      writeFileSync(prometheusFile, prometheusConfig({ ...prometheusOptions, rulesFile }));
      const reload = await httpPost(lab, pod, chain.prometheusUrl("/-/reload"));
      if (reload.status !== 200) throw new Error(`Prometheus reload: ${reload.status} ${reload.error ?? reload.body}`);
      // The rules are loaded as written: every alert, each with the `for:` asked for.
      const expected = shippedAlerts(shippedText).map((rule) => ({ alert: rule.alert, for: durationMs(options.forDuration ?? rule.for ?? "0s") / 1000 }));
      await waitFor(
        "Prometheus to load every alerting rule",
        async () => {
          const loaded = (await chain.rules()).flatMap((group) => group.rules.filter((rule) => rule.type === "alerting").map((rule) => ({ alert: rule.name, for: rule.duration })));
          const key = (list: { alert: string; for: number | undefined }[]) => JSON.stringify([...list].map((r) => `${r.alert}/${r.for}`).sort());
          if (loaded.length === 0) return undefined;
          if (key(loaded) !== key(expected)) throw new Error(`Prometheus loaded ${key(loaded)}, expected ${key(expected)}`);
          return true;
        },
        { timeoutMs, intervalMs: 250 },
      );
      return chain;
    } catch (error) {
      await Promise.all(started.map((handle) => handle.stop()));
      throw error;
    }
  }

  prometheusUrl(path: string): string {
    return `http://${this.pod.ip}:${PROMETHEUS_PORT}${path}`;
  }

  /** GET of a Prometheus API path; its data, or an error. */
  async prometheusApi<T>(path: string): Promise<T> {
    if (!this.prometheus.running) throw new Error(`prometheus exited:\n${this.prometheus.output().slice(-3000)}`);
    const response = await this.lab.httpGet(this.pod, this.prometheusUrl(path), 5000);
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${response.error ?? response.body.slice(0, 500)}`);
    const parsed = JSON.parse(response.body) as { status: string; data: T };
    if (parsed.status !== "success") throw new Error(`GET ${path}: ${response.body.slice(0, 500)}`);
    return parsed.data;
  }

  /** An instant query. */
  async query(promql: string): Promise<Series[]> {
    return (await this.prometheusApi<{ result: Series[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result;
  }

  /** Prometheus's active alerts (pending and firing). */
  async alerts(): Promise<PrometheusAlert[]> {
    return (await this.prometheusApi<{ alerts: PrometheusAlert[] }>("/api/v1/alerts")).alerts;
  }

  async rules(): Promise<RuleGroupStatus[]> {
    return (await this.prometheusApi<{ groups: RuleGroupStatus[] }>("/api/v1/rules")).groups;
  }

  /** Every request the receiver got so far, in arrival order. */
  notifications(): Notification[] {
    const list: Notification[] = [];
    for (const line of this.webhook.output().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        list.push(JSON.parse(line) as Notification);
      } catch {
        // a line still being written
      }
    }
    return list;
  }

  /** Every alert delivered so far, one entry per alert per notification. */
  deliveries(): Delivery[] {
    return this.notifications().flatMap((notification) => (notification.body?.alerts ?? []).map((alert) => ({ receivedAt: notification.receivedAt, alert, notification })));
  }

  /** The first delivery (at or after `after`, ms since the epoch) that matches; bounded. */
  waitForDelivery(what: string, match: (delivery: Delivery) => boolean, options: { after?: number; timeoutMs?: number } = {}): Promise<Delivery> {
    const after = options.after ?? 0;
    return waitFor(
      what,
      () => {
        for (const component of [this.webhook, this.alertmanager, this.prometheus]) {
          if (!component.running) throw new Error(`${component.name} exited:\n${component.output().slice(-3000)}`);
        }
        return this.deliveries().find((delivery) => delivery.receivedAt >= after && match(delivery));
      },
      { timeoutMs: options.timeoutMs ?? 60_000, intervalMs: 100 },
    ).catch((error: unknown) => {
      const seen = this.deliveries().map((d) => `${new Date(d.receivedAt).toISOString()} ${d.alert.status} ${JSON.stringify(d.alert.labels)}`);
      throw new Error(`${error instanceof Error ? error.message : String(error)}\ndeliveries so far:\n${seen.join("\n") || "(none)"}\nprometheus:\n${this.prometheus.output().slice(-2000)}\nalertmanager:\n${this.alertmanager.output().slice(-2000)}`);
    });
  }

  /** Stops Prometheus, then Alertmanager, then the receiver (the lab's teardown does it too). */
  async stop(): Promise<void> {
    await this.prometheus.stop();
    await this.alertmanager.stop();
    await this.webhook.stop();
  }
}

const HTTP_POST = `
const [url, ms] = process.argv.slice(1);
fetch(url, { method: "POST", signal: AbortSignal.timeout(Number(ms)) }).then(
  async (response) => process.stdout.write(JSON.stringify({ status: response.status, body: await response.text() })),
  (error) => process.stdout.write(JSON.stringify({ status: 0, body: "", error: String((error && error.message) || error) })),
);
`;

/** An empty POST from inside the pod's namespace. */
async function httpPost(lab: Lab, pod: LabPod, url: string, timeoutMs = 5000): Promise<{ status: number; body: string; error?: string }> {
  const result = await lab.exec(pod, [process.execPath, "-e", HTTP_POST, url, String(timeoutMs)], { timeoutMs: timeoutMs + 5000 });
  try {
    return JSON.parse(result.stdout) as { status: number; body: string; error?: string };
  } catch {
    return { status: 0, body: "", error: `POST helper failed (exit ${result.code}): ${result.stderr.trim().slice(0, 500)}` };
  }
}

async function waitReady(lab: Lab, pod: LabPod, component: LabProcess, url: string, timeoutMs: number): Promise<void> {
  await waitFor(
    `${component.name} to be ready (${url})`,
    async () => {
      if (!component.running) throw new Error(`${component.name} exited:\n${component.output().slice(-3000)}`);
      return (await lab.httpGet(pod, url, 1000)).status === 200 ? true : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${component.name} output:\n${component.output().slice(-3000)}`);
  });
}

/** Alerts in a delivery list by name and status, e.g. "NetcanaryUnexpectedBlock firing probe=web". */
export function describeDeliveries(deliveries: readonly Delivery[]): string[] {
  return deliveries.map((d) => `${d.alert.labels["alertname"]} ${d.alert.status} probe=${d.alert.labels["probe"] ?? "-"}`);
}
