// The configuration file's schema. These field names are a contract: extend, don't rename.
// Unknown fields are rejected, so a typo never silently disables a probe.

import cron from "node-cron";
import { z } from "zod";
import { type Cidr, isIpLiteral, parseCidr, parseIp } from "../addresses/ip.js";
import type { FieldPath } from "../documents/located.js";
import { parseDuration } from "./duration.js";
import { IssueList } from "../documents/fields.js";
import { readLabelSelector } from "../policy/normalize.js";
import { parseDnsServer } from "../probes/resolver.js";
import type { AgentConfig, DnsServerConfig, ProbeConfig, ProbeTimings, Schedule, SourceConfig, TargetConfig } from "./model.js";

const NAME = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

const duration = z.string({ error: 'must be a duration such as "30s", "500ms" or "1m"' }).refine((text) => (parseDuration(text) ?? 0) > 0, {
  message: 'must be a positive duration such as "30s", "500ms" or "1m"',
});
const threshold = z.number({ error: "must be a whole number from 1 to 100" }).int().min(1).max(100);
const port = z.number({ error: "must be a port number (1-65535)" }).int().min(1).max(65535);
const name = z.string().regex(NAME, { message: "must be lower-case letters, digits, '-', '_' or '.', starting and ending alphanumeric (63 at most)" });

const defaultsSchema = z.strictObject({
  interval: duration.optional(),
  timeout: duration.optional(),
  failureThreshold: threshold.optional(),
  successThreshold: threshold.optional(),
});

const agentSchema = z.strictObject({
  maxConcurrentProbes: z.number().int().min(1).max(10_000).optional(),
  starvationThreshold: duration.optional(),
  maxEdges: z.number().int().min(1).max(100_000).optional(),
});

const sourceSchema = z.strictObject({
  name,
  self: z.literal(true, { error: "must be true (the agent's own identity); pod selectors come with the labeled-pod mode" }),
});

// IANA service names, as Kubernetes port names: lower-case, at most 15, at least one letter.
const portName = z.string().regex(/^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/, {
  message: "must be a port number (unquoted) or a port name (lower-case, at least one letter)",
});
const portOrName = z.union([port, portName], { error: "must be a port number (1-65535) or a port name" });
const k8sName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { message: "must be a Kubernetes object name" });

const tcpSchema = z.strictObject({
  host: z.string().regex(HOSTNAME, { message: "must be a host name" }).optional(),
  ip: z.string().refine(isIpLiteral, { message: "must be an IPv4 or IPv6 address" }).optional(),
  service: z.strictObject({ namespace: k8sName, name: k8sName, port: portOrName }).optional(),
  via: z.enum(["clusterIP", "endpoints"], { error: "must be clusterIP or endpoints" }).optional(),
  pods: z.strictObject({ namespace: k8sName, selector: z.record(z.string(), z.unknown()) }).optional(),
  port: portOrName.optional(),
});

const dnsSchema = z.strictObject({
  query: z.string().regex(HOSTNAME, { message: "must be a DNS name" }),
  type: z.enum(["A", "AAAA"], { error: "must be A or AAAA" }).optional(),
  server: z.string().optional(),
  answersIn: z.array(z.string()).optional(),
});

const probeSchema = z.strictObject({
  name,
  sources: z.array(name).min(1, { message: "must name at least one source" }),
  tcp: tcpSchema.optional(),
  dns: dnsSchema.optional(),
  expect: z.enum(["allow", "deny"], { error: "must be allow or deny" }).optional(),
  interval: duration.optional(),
  schedule: z.string().optional(),
  timeout: duration.optional(),
  failureThreshold: threshold.optional(),
  successThreshold: threshold.optional(),
});

export const configSchema = z.strictObject({
  defaults: defaultsSchema.optional(),
  agent: agentSchema.optional(),
  sources: z.array(sourceSchema).min(1, { message: "must list at least one source" }),
  probes: z.array(probeSchema),
});

export type RawConfig = z.infer<typeof configSchema>;

export interface ConfigIssue {
  readonly path: FieldPath;
  readonly message: string;
}

export const BUILTIN_DEFAULTS: ProbeTimings = { intervalMs: 30_000, timeoutMs: 2_000, failureThreshold: 3, successThreshold: 1 };

function readDnsServer(text: string | undefined): DnsServerConfig | string {
  if (text === undefined || text === "cluster") return { kind: "cluster" };
  const parsed = parseDnsServer(text);
  return parsed.ok ? { kind: "address", server: parsed.value } : `must be "cluster" or a server address: ${parsed.reason}`;
}

type Add = (path: FieldPath, message: string) => void;

function readTcpTarget(tcp: NonNullable<RawConfig["probes"][number]["tcp"]>, path: FieldPath, add: Add): TargetConfig | undefined {
  const given = (["host", "ip", "service", "pods"] as const).filter((key) => tcp[key] !== undefined);
  if (given.length !== 1) {
    add(path, `must have exactly one of host, ip, service or pods${given.length > 1 ? ` (got ${given.join(" and ")})` : ""}`);
    return undefined;
  }
  if (tcp.via !== undefined && tcp.service === undefined) add([...path, "via"], "applies to service targets only");
  if (tcp.service) {
    if (tcp.port !== undefined) add([...path, "port"], "give the Service port inside service: {namespace, name, port}");
    return { kind: "service", namespace: tcp.service.namespace, name: tcp.service.name, port: tcp.service.port, via: tcp.via ?? "clusterIP" };
  }
  if (tcp.port === undefined) {
    add([...path, "port"], "is required");
    return undefined;
  }
  if (tcp.pods) {
    const issues = new IssueList();
    // A plain label map, or a full selector (matchLabels, matchExpressions).
    const raw = tcp.pods.selector;
    const full = Object.keys(raw).length > 0 && Object.keys(raw).every((key) => key === "matchLabels" || key === "matchExpressions");
    const selector = readLabelSelector(full ? raw : { matchLabels: raw }, [], issues);
    for (const issue of issues.issues) add([...path, "pods", "selector", ...issue.path.filter((part) => full || part !== "matchLabels")], issue.message);
    return { kind: "pods", namespace: tcp.pods.namespace, selector, port: tcp.port };
  }
  if (typeof tcp.port !== "number") {
    add([...path, "port"], "must be a port number (port names apply to pods and services)");
    return undefined;
  }
  if (tcp.host !== undefined) return { kind: "tcp", host: tcp.host, port: tcp.port };
  const parsed = parseIp(tcp.ip ?? "");
  return parsed.ok ? { kind: "tcp", ip: parsed.value, port: tcp.port } : undefined;
}

/** Cross-field checks and defaults on a schema-valid document. */
export function resolveConfig(raw: RawConfig): { config?: AgentConfig; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const add = (path: FieldPath, message: string) => issues.push({ path, message });
  const ms = (text: string | undefined, fallback: number) => (text === undefined ? fallback : (parseDuration(text) ?? fallback));

  const defaults: ProbeTimings = {
    intervalMs: ms(raw.defaults?.interval, BUILTIN_DEFAULTS.intervalMs),
    timeoutMs: ms(raw.defaults?.timeout, BUILTIN_DEFAULTS.timeoutMs),
    failureThreshold: raw.defaults?.failureThreshold ?? BUILTIN_DEFAULTS.failureThreshold,
    successThreshold: raw.defaults?.successThreshold ?? BUILTIN_DEFAULTS.successThreshold,
  };
  if (defaults.timeoutMs > defaults.intervalMs) add(["defaults", "timeout"], "must not be longer than defaults.interval");

  const sources: SourceConfig[] = [];
  const sourceNames = new Set<string>();
  raw.sources.forEach((source, i) => {
    if (sourceNames.has(source.name)) add(["sources", i, "name"], `source "${source.name}" is defined twice`);
    sourceNames.add(source.name);
    sources.push({ name: source.name, kind: "self" });
  });

  const probes: ProbeConfig[] = [];
  const probeNames = new Set<string>();
  raw.probes.forEach((probe, i) => {
    const at = (...rest: (string | number)[]): FieldPath => ["probes", i, ...rest];
    const before = issues.length;
    if (probeNames.has(probe.name)) add(at("name"), `probe "${probe.name}" is defined twice`);
    probeNames.add(probe.name);
    probe.sources.forEach((source, j) => {
      if (!sourceNames.has(source)) add(at("sources", j), `no source named "${source}" (defined: ${[...sourceNames].join(", ")})`);
    });

    let target: TargetConfig | undefined;
    if ((probe.tcp === undefined) === (probe.dns === undefined)) {
      add(at(), "must have exactly one of tcp or dns");
    } else if (probe.tcp) {
      target = readTcpTarget(probe.tcp, at("tcp"), add);
    } else if (probe.dns) {
      const server = readDnsServer(probe.dns.server);
      if (typeof server === "string") add(at("dns", "server"), server);
      const answersIn: Cidr[] = [];
      (probe.dns.answersIn ?? []).forEach((text, j) => {
        const cidr = parseCidr(text);
        if (cidr.ok) answersIn.push(cidr.value);
        else add(at("dns", "answersIn", j), cidr.reason);
      });
      if (typeof server !== "string") {
        target = { kind: "dns", query: probe.dns.query, type: probe.dns.type ?? "A", server, answersIn };
      }
    }

    let schedule: Schedule = { kind: "interval", intervalMs: ms(probe.interval, defaults.intervalMs) };
    if (probe.interval !== undefined && probe.schedule !== undefined) add(at("schedule"), "use either interval or schedule, not both");
    if (probe.schedule !== undefined) {
      if (!cron.validate(probe.schedule)) add(at("schedule"), `"${probe.schedule}" is not a valid cron expression`);
      else schedule = { kind: "cron", expression: probe.schedule };
    }
    const timeoutMs = ms(probe.timeout, defaults.timeoutMs);
    if (schedule.kind === "interval" && timeoutMs > schedule.intervalMs) {
      add(at(probe.timeout !== undefined ? "timeout" : "interval"), `timeout (${timeoutMs} ms) must not be longer than the interval (${schedule.intervalMs} ms)`);
    }
    if (target && issues.length === before) {
      probes.push({
        name: probe.name,
        sources: probe.sources,
        expect: probe.expect ?? null,
        schedule,
        timeoutMs,
        failureThreshold: probe.failureThreshold ?? defaults.failureThreshold,
        successThreshold: probe.successThreshold ?? defaults.successThreshold,
        target,
      });
    }
  });

  const agent = {
    maxConcurrentProbes: raw.agent?.maxConcurrentProbes ?? 256,
    starvationThresholdMs: ms(raw.agent?.starvationThreshold, 250),
    maxEdges: raw.agent?.maxEdges ?? 5000,
  };
  if (issues.length > 0) return { issues };
  return { config: { defaults, agent, sources, probes }, issues };
}
