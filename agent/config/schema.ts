// The configuration file's schema. These field names are a contract: extend, don't rename.
// Unknown fields are rejected, so a typo never silently disables a probe.

import cron from "node-cron";
import { z } from "zod";
import { type Cidr, type IpAddress, isIpLiteral, parseCidr, parseIp } from "../addresses/ip.js";
import type { FieldPath } from "../documents/located.js";
import { DURATION_RANGES, type DurationRange, describeDurationRange, formatDuration, inDurationRange, parseDuration } from "./duration.js";
import { IssueList } from "../documents/fields.js";
import { readLabelSelector } from "../policy/normalize.js";
import { DEFAULT_MAX_BODY_BYTES, type HttpCheck, httpProbe, httpTargetProblem, type IssuerExpectation, MAX_BODY_BYTES_LIMIT, parseProxy, parseStatusSpec } from "../probes/http.js";
import { parseDnsServer } from "../probes/resolver.js";
import { CLOUD_NAME, FEED_KINDS, type FeedKind } from "../zscaler/feeds.js";
import { DEFAULT_BASE_URL, DEFAULT_FEED_MAX_BYTES, FEED_MAX_BYTES_LIMIT } from "../zscaler/fetch.js";
import { ZSCALER_GATEWAY_PORTS } from "../zscaler/policy.js";
import { gatewayProxyUrl, ZSCALER_PROXY_PORTS } from "../zscaler/signatures.js";
import type { Schedule } from "../schedule/scheduler.js";
import { readTrafficSettings, trafficSchema } from "./traffic.js";
import {
  type AgentConfig,
  type DeriveSettings,
  type DnsServerConfig,
  edgeSpecOf,
  type HttpTargetConfig,
  PROBE_LABEL,
  type ProbeConfig,
  type ProbeTimings,
  type SourceConfig,
  type TargetConfig,
  ZSCALER_ENDPOINTS,
  type ZscalerEndpoint,
  type ZscalerSettings,
} from "./model.js";

const NAME = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** A duration inside the field's range (DURATION_RANGES), as text such as "30s". */
function duration(range: DurationRange) {
  const message = `must be a duration ${describeDurationRange(range)}, such as "30s" or "1m30s"`;
  return z.string({ error: message }).refine((text) => inDurationRange(parseDuration(text), range), { message });
}

/** 0 (a number, or "0"), or a duration up to the range's end. */
function durationOrZero(range: DurationRange) {
  const message = `must be 0 or a duration up to ${formatDuration(range.maxMs)}, such as "24h"`;
  return z.union([z.literal(0), z.string().refine((text) => text === "0" || inDurationRange(parseDuration(text), range), { message })], { error: message });
}
const threshold = z.number({ error: "must be a whole number from 1 to 100" }).int().min(1).max(100);
const port = z.number({ error: "must be a port number (1-65535)" }).int().min(1).max(65535);
const name = z.string().regex(NAME, { message: "must be lower-case letters, digits, '-', '_' or '.', starting and ending alphanumeric (63 at most)" });

const defaultsSchema = z.strictObject({
  interval: duration(DURATION_RANGES.interval).optional(),
  timeout: duration(DURATION_RANGES.timeout).optional(),
  failureThreshold: threshold.optional(),
  successThreshold: threshold.optional(),
});

/**
 * The most edges one agent may run: what the shipped memory limit (256 MiB, with the image's
 * V8 flags) holds with room to spare, start-up, scrapes and a reload that replaces every edge
 * included (docs/benchmarks.md, "The agent's port"). Every edge costs heap, series and probes.
 */
export const MAX_EDGES = 5000;
export const DEFAULT_MAX_EDGES = 5000;

/**
 * Endpoints of one `pods` target or `via: endpoints` Service each agent probes: a target of
 * thousands of pods (a DaemonSet) is probed from every node, each node taking its own share
 * (kubenurse's neighbour limit is 10 too). At most MAX_EDGES: no more can be probed anyway.
 */
export const DEFAULT_MAX_ENDPOINTS_PER_TARGET = 10;
const ENDPOINTS_MESSAGE = `must be a whole number from 1 to ${MAX_EDGES}`;

const agentSchema = z.strictObject({
  maxConcurrentProbes: z.number().int().min(1).max(10_000).optional(),
  starvationThreshold: duration(DURATION_RANGES.starvationThreshold).optional(),
  maxEdges: z
    .number({ error: `must be a whole number from 1 to ${MAX_EDGES}` })
    .int({ error: `must be a whole number from 1 to ${MAX_EDGES}` })
    .min(1, { error: `must be a whole number from 1 to ${MAX_EDGES}` })
    .max(MAX_EDGES, { error: `must be at most ${MAX_EDGES}: more edges than that do not fit the agent's memory limit (docs/configuration.md)` })
    .optional(),
  maxProbeWorkers: z.number().int().min(1).max(64).optional(),
  maxEndpointsPerTarget: z.number({ error: ENDPOINTS_MESSAGE }).int({ error: ENDPOINTS_MESSAGE }).min(1, { error: ENDPOINTS_MESSAGE }).max(MAX_EDGES, { error: ENDPOINTS_MESSAGE }).optional(),
  coverageWindow: duration(DURATION_RANGES.coverageWindow).optional(),
});

const metricsSchema = z.strictObject({
  perEdgeHistograms: z.boolean({ error: "must be true or false" }).optional(),
});

/** sources[].derive (docs/derive.md): true for the defaults, or the bounds and destinations. */
const deriveSchema = z.union([
  z.literal(true),
  z.strictObject({
    maxPerPolicy: z.number({ error: "must be a whole number from 1 to 100" }).int().min(1).max(100).optional(),
    maxEdges: z.number({ error: "must be a whole number from 1 to 1000" }).int().min(1).max(1000).optional(),
    deny: z.boolean({ error: "must be true or false" }).optional(),
    destinations: z.array(z.string(), { error: 'must be a list of "address:port"' }).max(1000).optional(),
    zscalerRanges: z.boolean({ error: "must be true or false" }).optional(),
  }),
], { error: "must be true or {maxPerPolicy, maxEdges, deny, destinations, zscalerRanges}" });

const sourceSchema = z.strictObject({
  name,
  /** The agent's own pod. */
  self: z.literal(true, { error: "must be true (the agent's own pod); leave it out for pods picked by selectors" }).optional(),
  /** Pods on the agent's node; by default those labeled netcanary.io/probe: "true". */
  namespaceSelector: z.record(z.string(), z.unknown()).optional(),
  podSelector: z.record(z.string(), z.unknown()).optional(),
  derive: deriveSchema.optional(),
});

// IANA service names, as Kubernetes port names: lower-case, at most 15, at least one letter.
const portName = z.string().regex(/^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/, {
  message: "must be a port number (unquoted) or a port name (lower-case, at least one letter)",
});
const portOrName = z.union([port, portName], { error: "must be a port number (1-65535) or a port name" });
const k8sName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { message: "must be a Kubernetes object name" });

const cloudName = z.string().regex(CLOUD_NAME, { message: "must be a Zscaler cloud name such as zscaler.net" });

const zscalerTargetSchema = z.strictObject({
  cloud: cloudName,
  endpoints: z.array(z.enum(ZSCALER_ENDPOINTS, { error: `must be one of ${ZSCALER_ENDPOINTS.join(", ")}` })).min(1).optional(),
  ports: z.array(port).min(1).optional(),
  cities: z.array(z.string().min(1)).optional(),
  /** Opt-in: the Global ZEN addresses answer only inside a GRE/IPsec tunnel. */
  insideTunnel: z.boolean().optional(),
});

const MAX_BODY_MESSAGE = `must be a whole number of bytes from 0 to ${MAX_BODY_BYTES_LIMIT} (16 MiB)`;

const tcpSchema = z.strictObject({
  zscaler: zscalerTargetSchema.optional(),
  host: z.string().regex(HOSTNAME, { message: "must be a host name" }).optional(),
  ip: z.string().refine(isIpLiteral, { message: "must be an IPv4 or IPv6 address" }).optional(),
  service: z.strictObject({ namespace: k8sName, name: k8sName, port: portOrName }).optional(),
  via: z.enum(["clusterIP", "endpoints"], { error: "must be clusterIP or endpoints" }).optional(),
  pods: z.strictObject({ namespace: k8sName, selector: z.record(z.string(), z.unknown()) }).optional(),
  port: portOrName.optional(),
});

/** An expected issuer: Zscaler's inspection CA, or a CN pattern ("*" = any run). */
const issuerSchema = z.union([z.literal("zscaler"), z.strictObject({ cn: z.string().min(1).max(256) })], { error: 'must be zscaler or {cn: "pattern"}' });

const httpTlsSchema = z.strictObject({
  verify: z.boolean({ error: "must be true or false" }).optional(),
  sni: z.string().regex(HOSTNAME, { message: "must be a host name" }).refine((text) => !isIpLiteral(text), { message: "must be a host name, not an address" }).optional(),
  caPem: z.string().refine((text) => text.includes("-----BEGIN CERTIFICATE-----"), { message: "must hold PEM certificates (-----BEGIN CERTIFICATE-----)" }).optional(),
  /** zscaler or {cn}: inspection must be on; {not: ...}: it must be off (bypassed). */
  expectIssuer: z.union([issuerSchema, z.strictObject({ not: issuerSchema })], { error: 'must be zscaler, {cn: "pattern"} or {not: zscaler | {cn: "pattern"}}' }).optional(),
});

/** The `tcp:` block's address fields, and the request. */
const httpSchema = tcpSchema.extend({
  url: z.string().optional(),
  scheme: z.enum(["http", "https"], { error: "must be http or https" }).optional(),
  path: z.string().regex(/^\/[^\s\u0000-\u001f\u007f#]*$/, { message: 'must start with "/" and hold no spaces, control characters or "#"' }).max(2048).optional(),
  hostHeader: z.string().regex(/^[^\s\u0000-\u001f\u007f/?#@]{1,260}$/, { message: "must be a host or host:port" }).optional(),
  method: z.enum(["GET", "HEAD"], { error: "must be GET or HEAD" }).optional(),
  expectStatus: z.union([z.string(), z.number(), z.array(z.union([z.string(), z.number()]))], { error: 'must be statuses such as 200, "2xx", "200-299" or a list of them' }).optional(),
  headers: z.record(z.string(), z.string({ error: "must be a string" }), { error: "must be a map of header name to value" }).optional(),
  maxBodyBytes: z.number({ error: MAX_BODY_MESSAGE }).int({ error: MAX_BODY_MESSAGE }).min(0, { error: MAX_BODY_MESSAGE }).max(MAX_BODY_BYTES_LIMIT, { error: MAX_BODY_MESSAGE }).optional(),
  proxy: z.string().optional(),
  tls: httpTlsSchema.optional(),
  /** A path check: read Zscaler's check page (page, default DEFAULT_CHECK_PAGE) and expect this path. */
  zscalerPath: z
    .strictObject({
      expect: z.enum(["via", "direct"], { error: "must be via or direct" }),
      page: z.string().optional(),
    })
    .optional(),
});

/** Zscaler's check page, as its troubleshooting guides have it checked by hand. */
export const DEFAULT_CHECK_PAGE = "http://ip.zscaler.com/";

const dnsSchema = z.strictObject({
  query: z.string().regex(HOSTNAME, { message: "must be a DNS name" }),
  type: z.enum(["A", "AAAA"], { error: "must be A or AAAA" }).optional(),
  server: z.string().optional(),
  /** CIDRs, and/or "zscaler:<cloud>" for that cloud's published ranges. */
  answersIn: z.union([z.string(), z.array(z.string())], { error: 'must be a list of CIDRs or "zscaler:<cloud>"' }).optional(),
});

/** Up to FEED_MAX_BYTES_LIMIT: a larger feed does not fit the agent's memory (docs/zscaler.md). */
const FEED_BYTES_MESSAGE = `must be a whole number of bytes from 1024 to ${FEED_MAX_BYTES_LIMIT} (${FEED_MAX_BYTES_LIMIT / 1024 / 1024} MiB, what the agent's memory takes)`;
const feedBytes = z.number({ error: FEED_BYTES_MESSAGE }).int({ error: FEED_BYTES_MESSAGE }).min(1024, { error: FEED_BYTES_MESSAGE }).max(FEED_MAX_BYTES_LIMIT, { error: FEED_BYTES_MESSAGE });

const feedKind = z.enum(FEED_KINDS, { error: `must be one of ${FEED_KINDS.join(", ")}` });

const zscalerSchema = z.strictObject({
  clouds: z.array(cloudName).optional(),
  baseUrl: z.url({ protocol: /^https?$/, error: "must be an http or https URL" }).optional(),
  refreshInterval: duration(DURATION_RANGES.zscalerRefresh).optional(),
  timeout: duration(DURATION_RANGES.zscalerTimeout).optional(),
  maxBytes: feedBytes.optional(),
  cacheDir: z.string().min(1).optional(),
  maxShrinkFraction: z.number().min(0).max(1).optional(),
  removalGrace: durationOrZero(DURATION_RANGES.zscalerRemovalGrace).optional(),
  feeds: z.array(feedKind).min(1).optional(),
  zpa: z.boolean().optional(),
  audit: z.union([z.literal(false), z.strictObject({ feeds: z.array(feedKind).min(1).optional(), ports: z.array(port).min(1).optional() })]).optional(),
});

const probeSchema = z.strictObject({
  name,
  sources: z.array(name).min(1, { message: "must name at least one source" }),
  tcp: tcpSchema.optional(),
  dns: dnsSchema.optional(),
  http: httpSchema.optional(),
  expect: z.enum(["allow", "deny"], { error: "must be allow or deny" }).optional(),
  interval: duration(DURATION_RANGES.interval).optional(),
  schedule: z.string().optional(),
  timeout: duration(DURATION_RANGES.timeout).optional(),
  failureThreshold: threshold.optional(),
  successThreshold: threshold.optional(),
});

export const configSchema = z.strictObject({
  defaults: defaultsSchema.optional(),
  agent: agentSchema.optional(),
  metrics: metricsSchema.optional(),
  zscaler: zscalerSchema.optional(),
  traffic: trafficSchema.optional(),
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

/** The gateway's ports, and 443 for the rest. */
export const ZSCALER_DEFAULT_PORTS: Readonly<Record<ZscalerEndpoint, readonly number[]>> = {
  gateway: ZSCALER_GATEWAY_PORTS,
  secondary: ZSCALER_GATEWAY_PORTS,
  pac: [443],
  login: [443],
  mobile: [443],
  dc: [443],
  "global-zen": [80],
};

function readZscalerTarget(zscaler: NonNullable<NonNullable<RawConfig["probes"][number]["tcp"]>["zscaler"]>, path: FieldPath, add: Add): TargetConfig | undefined {
  const endpoints = zscaler.endpoints ?? ["gateway"];
  // The Global ZEN addresses never answer outside a tunnel: as a plain reachability target
  // they would always look blocked. Only as an explicit "are we inside the tunnel" check.
  if (endpoints.includes("global-zen") && zscaler.insideTunnel !== true) {
    add([...path, "endpoints"], "global-zen answers only inside a GRE/IPsec tunnel: add insideTunnel: true to use it as an inside-the-tunnel check");
    return undefined;
  }
  if (zscaler.insideTunnel === true && !endpoints.includes("global-zen")) add([...path, "insideTunnel"], "applies to the global-zen endpoint only");
  if (zscaler.cities !== undefined && !endpoints.includes("dc")) add([...path, "cities"], "applies to the dc endpoint (the data centres) only");
  return { kind: "zscaler", cloud: zscaler.cloud, endpoints: [...new Set(endpoints)], ports: zscaler.ports ?? null, cities: zscaler.cities ?? [] };
}

function readTcpTarget(tcp: NonNullable<RawConfig["probes"][number]["tcp"]>, path: FieldPath, add: Add, kinds = "host, ip, service, pods or zscaler"): TargetConfig | undefined {
  const given = (["host", "ip", "service", "pods", "zscaler"] as const).filter((key) => tcp[key] !== undefined);
  if (given.length !== 1) {
    add(path, `must have exactly one of ${kinds}${given.length > 1 ? ` (got ${given.join(" and ")})` : ""}`);
    return undefined;
  }
  if (tcp.zscaler) {
    if (tcp.port !== undefined) add([...path, "port"], "give the ports inside zscaler: {ports: [...]}");
    return readZscalerTarget(tcp.zscaler, [...path, "zscaler"], add);
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

type RawHttp = NonNullable<RawConfig["probes"][number]["http"]>;
type HttpAddress = HttpTargetConfig["address"];

/** url: an http(s) URL without credentials or fragment: its host (a name or an address), port and path. */
function readHttpUrl(text: string, path: FieldPath, add: Add): { address: HttpAddress; scheme: "http" | "https"; path: string } | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    add(path, "must be an http:// or https:// URL");
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return void add(path, "must be an http:// or https:// URL");
  if (url.username !== "" || url.password !== "") return void add(path, "must not hold credentials (put a token in headers)");
  if (url.hash !== "") return void add(path, "must not hold a fragment (#...): it is never sent");
  const scheme = url.protocol === "https:" ? "https" : "http";
  const port = url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const ip = parseIp(host);
  if (!ip.ok && !HOSTNAME.test(host)) return void add(path, "must name a host or an address");
  return { address: ip.ok ? { kind: "ip", ip: ip.value, port } : { kind: "host", host, port }, scheme, path: `${url.pathname}${url.search}` };
}

/** The address of an `http:` block: its url, or the `tcp:` block's fields (host and ip default to the scheme's port). */
function readHttpAddress(http: RawHttp, scheme: "http" | "https", path: FieldPath, add: Add): HttpAddress | undefined {
  const defaultPort = scheme === "https" ? 443 : 80;
  const fields = http.host !== undefined || http.ip !== undefined ? { ...http, port: http.port ?? defaultPort } : http;
  const target = readTcpTarget(fields, path, add, "url, host, ip, service, pods or zscaler");
  if (target === undefined) return undefined;
  const { address } = edgeSpecOf(target);
  return address.kind === "resolver" || address.kind === "rule" ? undefined : address;
}

/** proxy: zscaler:<cloud>[:port] (the cloud's gateway) or http://host:port, as a proxy URL. */
function readProxy(text: string, path: FieldPath, add: Add): string | undefined {
  const zscaler = /^zscaler:([^:]*)(?::(\d+))?$/.exec(text);
  if (zscaler) {
    const [, cloud = "", portText] = zscaler;
    if (!CLOUD_NAME.test(cloud)) return void add(path, `"${text}": after zscaler: comes a cloud name such as zscaler.net`);
    const port = portText === undefined ? 80 : Number(portText);
    if (!ZSCALER_PROXY_PORTS.includes(port)) return void add(path, `"${text}": the gateway takes proxy requests on port ${ZSCALER_PROXY_PORTS.join(" or ")}`);
    return gatewayProxyUrl(cloud, port);
  }
  if (!text.startsWith("http://")) return void add(path, 'must be zscaler:<cloud>, zscaler:<cloud>:9400 or a proxy URL "http://host:port"');
  const proxy = parseProxy(text);
  if (!proxy.ok) return void add(path, proxy.detail.replace(/^proxy: /, ""));
  const { host, port } = proxy.value;
  if (!isIpLiteral(host) && !HOSTNAME.test(host)) return void add(path, "must name a host or an address");
  return `http://${isIpLiteral(host) && host.includes(":") ? `[${host}]` : host}:${port}`;
}

function readIssuer(raw: "zscaler" | { cn: string }): IssuerExpectation["issuer"] {
  return raw === "zscaler" ? "zscaler" : { cn: raw.cn };
}

/** An `http:` block: where (url, or an address kind with port and path) and how (method, statuses, proxy, TLS). */
function readHttpTarget(http: RawHttp, path: FieldPath, add: Add): TargetConfig | undefined {
  let failed = false;
  const counting: Add = (where, message) => {
    failed = true;
    add(where, message);
  };
  let address: HttpAddress | undefined;
  let scheme: "http" | "https" = http.scheme ?? "http";
  let requestPath = http.path ?? "/";
  if (http.zscalerPath !== undefined) {
    // The path check's address is its page: the request goes there (through the proxy, if any).
    const others = (["url", "host", "ip", "service", "pods", "zscaler", "via", "port", "scheme", "path"] as const).filter((key) => http[key] !== undefined);
    if (others.length > 0) return void counting([...path, others[0] ?? "url"], "a path check reads its page (zscalerPath.page, default http://ip.zscaler.com/): give no url or address");
    if (http.method === "HEAD") return void counting([...path, "method"], "must be GET for a path check: a HEAD answer has no page to read");
    const read = readHttpUrl(http.zscalerPath.page ?? DEFAULT_CHECK_PAGE, [...path, "zscalerPath", "page"], counting);
    if (read === undefined) return undefined;
    ({ address, scheme, path: requestPath } = read);
  } else if (http.url !== undefined) {
    const others = (["host", "ip", "service", "pods", "zscaler", "via", "port", "scheme", "path"] as const).filter((key) => http[key] !== undefined);
    if (others.length > 0) return void counting([...path, others[0] ?? "url"], "give either url, or an address (host, ip, service, pods or zscaler) with port and path");
    const read = readHttpUrl(http.url, [...path, "url"], counting);
    if (read === undefined) return undefined;
    ({ address, scheme, path: requestPath } = read);
  } else {
    address = readHttpAddress(http, scheme, path, counting);
  }
  let expectStatus = [{ from: 200, to: 299 }];
  if (http.expectStatus !== undefined) {
    const parsed = parseStatusSpec(http.expectStatus);
    if (parsed.ok) expectStatus = parsed.value;
    else counting([...path, "expectStatus"], parsed.reason);
  }
  const proxy = http.proxy === undefined ? undefined : readProxy(http.proxy, [...path, "proxy"], counting);
  if (http.tls !== undefined && scheme !== "https") counting([...path, "tls"], "applies to https targets only");
  const tls = http.tls;
  const expectIssuer: IssuerExpectation | undefined =
    tls?.expectIssuer === undefined ? undefined : typeof tls.expectIssuer === "object" && "not" in tls.expectIssuer ? { issuer: readIssuer(tls.expectIssuer.not), absent: true } : { issuer: readIssuer(tls.expectIssuer) };
  const check: HttpCheck = {
    scheme,
    path: requestPath,
    method: http.method ?? "GET",
    expectStatus,
    maxBodyBytes: http.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    ...(http.headers !== undefined ? { headers: http.headers } : {}),
    ...(http.hostHeader !== undefined ? { hostHeader: http.hostHeader } : {}),
    ...(proxy !== undefined ? { proxy } : {}),
    ...(http.zscalerPath !== undefined ? { zscalerPath: { expect: http.zscalerPath.expect } } : {}),
    ...(tls !== undefined
      ? {
          tls: {
            ...(tls.verify !== undefined ? { verify: tls.verify } : {}),
            ...(tls.sni !== undefined ? { sni: tls.sni } : {}),
            ...(tls.caPem !== undefined ? { caPem: tls.caPem } : {}),
            ...(expectIssuer !== undefined ? { expectIssuer } : {}),
          },
        }
      : {}),
  };
  if (address === undefined || failed) return undefined;
  // The prober's own checks (headers it sets itself, their size), on any address: stated once.
  // A documentation address and resolver: nothing here depends on the address or reads the system's resolvers.
  const problem = httpTargetProblem({ ...httpProbe.check.target(check, { ip: "192.0.2.1", port: 80 }), dnsServer: "192.0.2.53" });
  if (problem !== undefined) {
    const field = /^(headers?|hostHeader|tls\.[a-zA-Z]+|proxy|path|method|maxBodyBytes)\b/.exec(problem)?.[1]?.split(".") ?? [];
    add([...path, ...(field[0] === "header" ? ["headers"] : field)], problem);
    return undefined;
  }
  return { kind: "http", address, check: { kind: "http", ...check } };
}

/** The feeds the agent keeps: every cloud configured, or named by a target or answersIn. */
function readZscalerSettings(raw: RawConfig["zscaler"], probes: readonly ProbeConfig[], add: Add): ZscalerSettings | null {
  const named = probes.flatMap((probe) => {
    const { address, check } = edgeSpecOf(probe.target);
    return [...(address.kind === "zscaler" ? [address.cloud] : []), ...(check.kind === "dns" ? check.answersInZscaler : [])];
  });
  const clouds = [...new Set([...(raw?.clouds ?? []), ...named])];
  if (raw === undefined && clouds.length === 0) return null;
  // The schema has checked every duration: parseDuration gives a number for each.
  const removalGraceMs = raw?.removalGrace === undefined ? 24 * 3_600_000 : raw.removalGrace === 0 || raw.removalGrace === "0" ? 0 : (parseDuration(raw.removalGrace) ?? 0);
  const feeds = raw?.feeds ?? (["cenr", "hubs-required", "hubs-recommended", "future", "svpn"] as FeedKind[]);
  const withZpa = raw?.zpa ? [...feeds, "zpa" as const] : feeds;
  // The smallest allowlist that covers one ZIA cloud: future plus recommended hub prefixes.
  const audit = raw?.audit === false ? null : { feeds: raw?.audit?.feeds ?? (["future", "hubs-recommended"] as FeedKind[]), ports: raw?.audit?.ports ?? ZSCALER_GATEWAY_PORTS };
  for (const feed of audit?.feeds ?? []) {
    if (!withZpa.includes(feed)) add(["zscaler", "audit", "feeds"], `"${feed}" is audited but not among zscaler.feeds`);
  }
  return {
    clouds: clouds.length > 0 ? clouds : ["zscaler.net"],
    baseUrl: raw?.baseUrl ?? DEFAULT_BASE_URL,
    refreshMs: raw?.refreshInterval === undefined ? 3_600_000 : (parseDuration(raw.refreshInterval) ?? 3_600_000),
    timeoutMs: raw?.timeout === undefined ? 15_000 : (parseDuration(raw.timeout) ?? 15_000),
    maxBytes: raw?.maxBytes ?? DEFAULT_FEED_MAX_BYTES,
    ...(raw?.cacheDir !== undefined ? { cacheDir: raw.cacheDir } : {}),
    maxShrinkFraction: raw?.maxShrinkFraction ?? 0.5,
    removalGraceMs,
    feeds: withZpa,
    audit,
  };
}

/** Rule coverage counts the probes of the last hour by default. */
export const DEFAULT_COVERAGE_WINDOW_MS = 3_600_000;
export const DERIVE_DEFAULTS = { maxPerPolicy: 8, maxEdges: 32 } as const;

/** sources[].derive: the bounds, and each destination "address:port" ("[v6]:port") parsed. */
function readDerive(raw: NonNullable<RawConfig["sources"][number]["derive"]>, add: Add): DeriveSettings {
  const given = raw === true ? {} : raw;
  const destinations: { ip: IpAddress; port: number }[] = [];
  (given.destinations ?? []).forEach((text, j) => {
    const match = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text);
    const ip = match ? parseIp(match[1] ?? match[2] ?? "") : undefined;
    const number = Number(match?.[3]);
    if (!ip?.ok || !(number >= 1 && number <= 65535)) return add(["destinations", j], `"${text}" must be an address and port, such as 203.0.113.10:443 or [2001:db8::1]:443`);
    destinations.push({ ip: ip.value, port: number });
  });
  return {
    maxPerPolicy: given.maxPerPolicy ?? DERIVE_DEFAULTS.maxPerPolicy,
    maxEdges: given.maxEdges ?? DERIVE_DEFAULTS.maxEdges,
    deny: given.deny ?? true,
    destinations,
    zscalerRanges: given.zscalerRanges ?? true,
  };
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
    const derive = source.derive === undefined ? {} : { derive: readDerive(source.derive, (path, message) => add(["sources", i, "derive", ...path], message)) };
    if (source.self) {
      if (source.namespaceSelector || source.podSelector) add(["sources", i], "a self source takes no selectors (it is the agent's own pod)");
      sources.push({ name: source.name, kind: "self", ...derive });
      return;
    }
    const selector = (raw: Record<string, unknown> | undefined, field: string) => {
      if (raw === undefined) return undefined;
      const issues = new IssueList();
      const selected = readLabelSelector(raw, [], issues);
      for (const issue of issues.issues) add(["sources", i, field, ...issue.path], issue.message);
      return selected;
    };
    const namespaceSelector = selector(source.namespaceSelector, "namespaceSelector") ?? null;
    const podSelector = selector(source.podSelector, "podSelector") ?? { matchLabels: { [PROBE_LABEL]: "true" }, matchExpressions: [] };
    sources.push({ name: source.name, kind: "pods", namespaceSelector, podSelector, ...derive });
  });

  const probes: ProbeConfig[] = [];
  const probeNames = new Set<string>();
  raw.probes.forEach((probe, i) => {
    const at = (...rest: (string | number)[]): FieldPath => ["probes", i, ...rest];
    const before = issues.length;
    if (probeNames.has(probe.name)) add(at("name"), `probe "${probe.name}" is defined twice`);
    if (probe.name === "derived") add(at("name"), `"derived" names the edges sources derive from their policies (sources[].derive): choose another name`);
    probeNames.add(probe.name);
    probe.sources.forEach((source, j) => {
      if (!sourceNames.has(source)) add(at("sources", j), `no source named "${source}" (defined: ${[...sourceNames].join(", ")})`);
    });

    let target: TargetConfig | undefined;
    const checks = [probe.tcp, probe.dns, probe.http].filter((check) => check !== undefined).length;
    if (checks !== 1) {
      add(at(), "must have exactly one of tcp, dns or http");
    } else if (probe.http) {
      target = readHttpTarget(probe.http, at("http"), add);
    } else if (probe.tcp) {
      target = readTcpTarget(probe.tcp, at("tcp"), add);
    } else if (probe.dns) {
      const server = readDnsServer(probe.dns.server);
      if (typeof server === "string") add(at("dns", "server"), server);
      const answersIn: Cidr[] = [];
      const answersInZscaler: string[] = [];
      const raw = probe.dns.answersIn;
      const list = raw === undefined ? [] : typeof raw === "string" ? [raw] : raw;
      list.forEach((text, j) => {
        const where = typeof raw === "string" ? at("dns", "answersIn") : at("dns", "answersIn", j);
        if (text.startsWith("zscaler:")) {
          const cloud = text.slice("zscaler:".length);
          if (cloudName.safeParse(cloud).success) answersInZscaler.push(cloud);
          else add(where, `"${text}": after zscaler: comes a cloud name such as zscaler.net`);
          return;
        }
        const cidr = parseCidr(text);
        if (cidr.ok) answersIn.push(cidr.value);
        // A precise CIDR error when it looks like one; else say what else it may be.
        else add(where, text.includes("/") ? cidr.reason : `"${text}" is neither a CIDR nor "zscaler:<cloud>"`);
      });
      if (typeof server !== "string") {
        target = { kind: "dns", query: probe.dns.query, type: probe.dns.type ?? "A", server, answersIn, answersInZscaler };
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
    maxEdges: raw.agent?.maxEdges ?? DEFAULT_MAX_EDGES,
    maxProbeWorkers: raw.agent?.maxProbeWorkers ?? 4,
    maxEndpointsPerTarget: raw.agent?.maxEndpointsPerTarget ?? DEFAULT_MAX_ENDPOINTS_PER_TARGET,
    coverageWindowMs: ms(raw.agent?.coverageWindow, DEFAULT_COVERAGE_WINDOW_MS),
  };
  const metrics = { perEdgeHistograms: raw.metrics?.perEdgeHistograms ?? false };
  const zscaler = readZscalerSettings(raw.zscaler, probes, add);
  const traffic = readTrafficSettings(raw.traffic, add);
  if (issues.length > 0) return { issues };
  return { config: { defaults, agent, metrics, zscaler, sources, probes, ...(traffic ? { traffic } : {}) }, issues };
}
