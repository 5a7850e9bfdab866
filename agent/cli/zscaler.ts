// netcanary zscaler: Zscaler's published ranges as an allowlist, as a NetworkPolicy, and an audit
// of existing policies against them (for CI).
//   ranges  print the collapsed ranges of the selected feeds
//   policy  print a NetworkPolicy allowing them; with --check, audit manifests instead
// Exit 0: done (or every range covered); 1: --check found ranges not allowed; 2: unusable input
// (bad options, a feed that cannot be fetched or is refused, manifests that do not load).

import { type Cidr, parseCidr } from "../addresses/ip.js";
import { labelKeyProblem, labelValueProblem } from "../objects/labels.js";
import { loadManifests } from "../cluster/manifests.js";
import type { PodInfo } from "../cluster/snapshot.js";
import { DURATION_RANGES, describeDurationRange, inDurationRange, parseDuration } from "../config/duration.js";
import { formatInputError } from "../documents/located.js";
import { buildPolicyIndex } from "../policy/engine.js";
import { portNumberProblem } from "../policy/normalize.js";
import { type AllowlistFeeds, type AllowlistSource, zscalerAllowlist } from "../zscaler/allowlist.js";
import { auditCoverage } from "../zscaler/audit.js";
import { CLOUD_NAME, type FeedData, type FeedKind, parseFeed } from "../zscaler/feeds.js";
import { createFeedDispatcher, DEFAULT_BASE_URL, DEFAULT_FEED_MAX_BYTES, dispatcherFromEnvironment, feedUrl, fetchFeedText } from "../zscaler/fetch.js";
import { printableJson } from "../text/printable.js";
import { redactUrl } from "../text/url-credentials.js";
import { hashRanges, objectNameProblem, toYaml, ZSCALER_GATEWAY_PORTS, zscalerIngressPolicy, zscalerNetworkPolicy } from "../zscaler/policy.js";
import { inboundPaths } from "../inbound/paths.js";
import { readZpaConnectors } from "./inbound.js";
import { parseOptions } from "./args.js";
import { type Command, EXIT, type Output, printLines, UsageError } from "./command.js";
import { nearest, suggestion } from "./suggest.js";

/** The feeds an allowlist can be made of, in the order they are listed in output. */
const ALLOWLIST_FEEDS: readonly FeedKind[] = ["future", "hubs-recommended", "hubs-required", "cenr", "svpn"];

const SLOT: Readonly<Partial<Record<FeedKind, AllowlistSource>>> = {
  future: "future",
  "hubs-recommended": "hubsRecommended",
  "hubs-required": "hubsRequired",
  cenr: "cenr",
  svpn: "svpn",
};

/** future + hubs-recommended: the smallest allowlist that covers a ZIA cloud. */
const DEFAULT_FEEDS = "future,hubs-recommended";
const DEFAULT_TIMEOUT = "15s";

const USAGE = `Usage:
  netcanary zscaler ranges --cloud <cloud> [--feeds <list>] [--output text|json]
                           [--base-url <url>] [--timeout <duration>]
  netcanary zscaler policy --cloud <cloud> --namespace <ns> --pod-selector k=v[,k=v]
                           [--feeds <list>] [--ports <list>] [--name <name>] [--no-dns]
                           [--base-url <url>] [--timeout <duration>]
  netcanary zscaler policy --cloud <cloud> --namespace <ns> --pod-selector k=v[,k=v]
                           [--feeds <list>] [--ports <list>] --check <file|dir>...
  netcanary zscaler policy --direction ingress [--source zia] --cloud <cloud> --ports <list>
                           --namespace <ns> --pod-selector k=v[,k=v] [--check <file|dir>...]
  netcanary zscaler policy --direction ingress --source zpa --zpa-connectors <list> --ports <list>
                           --namespace <ns> --pod-selector k=v[,k=v] [--check <file|dir>...]

Fetches Zscaler's published IP ranges (config.zscaler.com) for one cloud and turns them
into an egress allowlist.

  ranges   prints the ranges of the feeds, collapsed to the fewest CIDRs (IPv4, then
           IPv6, in address order). text: one CIDR per line on stdout, a summary on
           stderr; json: {"cloud", "feeds", "hash", "ranges", "ipv4", "ipv6"}.
  policy   prints a NetworkPolicy (networking.k8s.io/v1, Egress) that lets the selected
           pods reach every range on the ports (TCP), and the cluster DNS (kube-system,
           k8s-app=kube-dns) on UDP and TCP 53. The YAML depends only on the ranges and
           the options: no timestamp, stable order, for clean GitOps diffs.
  policy --check <file|dir>...
           does not print a policy: loads the manifests (as 'netcanary check' does),
           takes a pod in --namespace with the --pod-selector labels as the source, and
           checks that its egress reaches every published range of the feeds on every
           port, with the same policy engine (NetworkPolicy, AdminNetworkPolicy,
           BaselineAdminNetworkPolicy). Lists the ranges that are not allowed, and on
           which ports.
  policy --direction ingress
           inbound from Zscaler: a NetworkPolicy (Ingress) admitting ZIA's published
           ranges (--source zia, the default) or the ZPA App Connectors (--source zpa,
           --zpa-connectors), one source per policy, on --ports. With --check, audits the
           pods' ingress against them and notes each way in (Service, Ingress, Gateway
           route) where the pods would not see those addresses.

Options:
  --cloud <cloud>           the ZIA cloud, e.g. zscaler.net, zscalerthree.net (required)
  --feeds <list>            comma-separated, from future, hubs-recommended, hubs-required,
                            cenr, svpn (default: ${DEFAULT_FEEDS}, the smallest list
                            that covers a ZIA cloud)
  --output text|json        ranges only (default: text)
  --namespace <ns>          the namespace of the pods (policy)
  --pod-selector k=v,...    the labels of the pods (policy; repeatable)
  --ports <list>            TCP ports (default: ${ZSCALER_GATEWAY_PORTS.join(",")}, the gateway's)
  --name <name>             the policy's name (default: allow-zscaler-<cloud, dots as dashes>)
  --no-dns                  leave out the rule to the cluster DNS
  --check <file|dir>...     audit these manifests instead of printing a policy (repeatable)
  --direction egress|ingress  egress (default): pods reaching Zscaler; ingress: Zscaler reaching pods
  --source zia|zpa          ingress only: ZIA's published ranges (default) or ZPA App Connectors
  --zpa-connectors <list>   the App Connectors' addresses or CIDRs, comma-separated (--source zpa)
  --base-url <url>          where the feeds are (default: ${DEFAULT_BASE_URL});
                            HTTPS_PROXY / HTTP_PROXY and NO_PROXY are honoured
  --timeout <duration>      deadline of each feed request, 1s to 5m, e.g. 15s (default: ${DEFAULT_TIMEOUT})

Exit status: 0 done (with --check: every range allowed on every port), 1 --check found
ranges that are not allowed, 2 unusable input (bad option, a feed that cannot be fetched
or is refused, manifests that do not load).`;

interface FeedOptions {
  readonly cloud: string;
  readonly feeds: readonly FeedKind[];
  readonly baseUrl: string;
  readonly timeoutMs: number;
}

function readCloud(value: string | undefined): string {
  if (value === undefined) throw new UsageError("--cloud is required (e.g. zscaler.net)");
  const cloud = value.trim().toLowerCase().replace(/\.$/, "");
  if (!CLOUD_NAME.test(cloud)) throw new UsageError(`--cloud must be a Zscaler cloud name such as zscaler.net, got "${value}"`);
  return cloud;
}

function readFeeds(value: string): FeedKind[] {
  const named = value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  if (named.length === 0) throw new UsageError("--feeds must name at least one feed");
  for (const name of named) {
    if (!ALLOWLIST_FEEDS.includes(name as FeedKind)) {
      throw new UsageError(`--feeds: unknown feed "${name}" (one of ${ALLOWLIST_FEEDS.join(", ")})`);
    }
  }
  // A fixed order, so the output depends on the set of feeds, not how they were listed.
  return ALLOWLIST_FEEDS.filter((kind) => named.includes(kind));
}

function readTimeout(value: string): number {
  const ms = /^\d+(\.\d+)?$/.test(value) ? Math.round(Number(value) * 1000) : parseDuration(value);
  const range = DURATION_RANGES.zscalerTimeout;
  if (!inDurationRange(ms, range)) throw new UsageError(`--timeout must be a duration ${describeDurationRange(range)} such as 15s, got "${value}"`);
  return ms;
}

function readBaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--base-url must be an http or https URL, got "${redactUrl(value)}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--base-url must be an http or https URL, got "${redactUrl(value)}"`);
  return value;
}

function readPorts(value: string): number[] {
  const parts = value.split(",").map((part) => part.trim());
  const ports: number[] = [];
  for (const part of parts) {
    const port = /^\d+$/.test(part) ? Number(part) : Number.NaN;
    const problem = Number.isNaN(port) ? `"${part}" is not a port number` : portNumberProblem(port);
    if (problem) throw new UsageError(`--ports: ${problem}`);
    ports.push(port);
  }
  return [...new Set(ports)].sort((a, b) => a - b);
}

function readSelector(values: readonly string[]): Record<string, string> {
  const selector: Record<string, string> = {};
  for (const value of values) {
    for (const part of value.split(",")) {
      if (part.trim() === "") continue;
      const eq = part.indexOf("=");
      if (eq <= 0) throw new UsageError(`--pod-selector: expected key=value, got "${part}"`);
      const key = part.slice(0, eq).trim();
      const label = part.slice(eq + 1).trim();
      const problem = labelKeyProblem(key) ?? labelValueProblem(label);
      if (problem) throw new UsageError(`--pod-selector: ${problem}`);
      if (selector[key] !== undefined && selector[key] !== label) throw new UsageError(`--pod-selector: "${key}" is given twice`);
      selector[key] = label;
    }
  }
  if (Object.keys(selector).length === 0) throw new UsageError("--pod-selector must name at least one label (key=value)");
  return selector;
}

function readNamespace(value: string | undefined): string {
  if (value === undefined) throw new UsageError("--namespace is required");
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) || value.length > 63) {
    throw new UsageError(`--namespace must be a namespace name (lower-case letters, digits and "-"), got "${value}"`);
  }
  return value;
}

type Fetched = { readonly ok: true; readonly feeds: ReadonlyMap<FeedKind, FeedData> } | { readonly ok: false; readonly messages: readonly string[] };

/** Fetches and parses every selected feed; any failure makes the whole set unusable. */
async function fetchFeeds(options: FeedOptions): Promise<Fetched> {
  // A proxy from the environment, else a pool of our own, closed at the end so no
  // keep-alive socket holds the process open.
  const dispatcher = (await dispatcherFromEnvironment(options.baseUrl)) ?? (await createFeedDispatcher());
  try {
    const results = await Promise.all(
      options.feeds.map(async (kind) => {
        const url = redactUrl(feedUrl(options.baseUrl, options.cloud, kind));
        const fetched = await fetchFeedText(options.cloud, kind, {
          baseUrl: options.baseUrl,
          timeoutMs: options.timeoutMs,
          maxBytes: DEFAULT_FEED_MAX_BYTES,
          retries: 2,
          retryBaseMs: 300,
          dispatcher,
        });
        if (fetched.kind === "failed") return { kind, error: `cannot fetch the ${kind} feed of ${options.cloud} from ${url}: ${fetched.message}` };
        if (fetched.kind === "not_modified") return { kind, error: `cannot fetch the ${kind} feed of ${options.cloud} from ${url}: unexpected 304 Not Modified` };
        const parsed = parseFeed(kind, options.cloud, fetched.text);
        if (!parsed.ok) return { kind, error: `the ${kind} feed of ${options.cloud} from ${url} is refused (${parsed.reason.code}): ${parsed.reason.message}` };
        return { kind, data: parsed.value };
      }),
    );
    const messages = results.flatMap((r) => (r.error !== undefined ? [r.error] : []));
    if (messages.length > 0) return { ok: false, messages };
    return { ok: true, feeds: new Map(results.flatMap((r) => (r.data !== undefined ? [[r.kind, r.data] as const] : []))) };
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
}

export interface Ranges {
  readonly cidrs: readonly Cidr[];
  readonly ipv4: number;
  readonly ipv6: number;
  readonly hash: string;
}

function collapsedRanges(feeds: ReadonlyMap<FeedKind, FeedData>, selection: readonly FeedKind[]): { ok: true; value: Ranges } | { ok: false; reason: string } {
  const slots: Record<string, FeedData> = {};
  for (const kind of selection) {
    const data = feeds.get(kind);
    const slot = SLOT[kind];
    if (data && slot) slots[slot] = data;
  }
  const allowlist = zscalerAllowlist(slots as AllowlistFeeds, selection.flatMap((kind) => SLOT[kind] ?? []));
  if (!allowlist.ok) return allowlist;
  const cidrs = allowlist.value.cidrs.flatMap((text) => {
    const parsed = parseCidr(text);
    return parsed.ok ? [parsed.value] : [];
  });
  return { ok: true, value: { cidrs, ipv4: allowlist.value.ipv4, ipv6: allowlist.value.ipv6, hash: hashRanges(cidrs) } };
}

/** Every range as published, with the feeds that list it (CENR's svpnIPs as /32 and /128). */
function publishedRanges(feeds: ReadonlyMap<FeedKind, FeedData>, selection: readonly FeedKind[]): Map<string, { cidr: Cidr; feeds: FeedKind[] }> {
  const ranges = new Map<string, { cidr: Cidr; feeds: FeedKind[] }>();
  for (const kind of selection) {
    const data = feeds.get(kind);
    if (!data) continue;
    const texts = data.kind === "cenr" ? [...data.cidrs, ...data.svpnIps.map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`))] : data.cidrs;
    for (const text of texts) {
      const parsed = parseCidr(text);
      if (!parsed.ok) continue;
      const entry = ranges.get(parsed.value.text);
      if (entry) {
        if (!entry.feeds.includes(kind)) entry.feeds.push(kind);
      } else ranges.set(parsed.value.text, { cidr: parsed.value, feeds: [kind] });
    }
  }
  return ranges;
}

export function feedOptions(values: { cloud?: string | undefined; feeds?: string | undefined; "base-url"?: string | undefined; timeout?: string | undefined }): FeedOptions {
  return {
    cloud: readCloud(values.cloud),
    feeds: readFeeds(values.feeds ?? DEFAULT_FEEDS),
    baseUrl: readBaseUrl(values["base-url"] ?? DEFAULT_BASE_URL),
    timeoutMs: readTimeout(values.timeout ?? DEFAULT_TIMEOUT),
  };
}

export const COMMON_OPTIONS = {
  cloud: { type: "string" },
  feeds: { type: "string" },
  "base-url": { type: "string" },
  timeout: { type: "string" },
} as const;

function reportFetchFailure(fetched: { messages: readonly string[] }, out: Output): number {
  for (const message of fetched.messages) out.stderr(`netcanary zscaler: ${message}`);
  return EXIT.unusable;
}

/** The selected feeds, fetched and collapsed; on failure, the reasons are printed and the exit code returned. */
export async function fetchRanges(options: FeedOptions, out: Output): Promise<{ ok: true; value: Ranges } | { ok: false; exitCode: number }> {
  const fetched = await fetchFeeds(options);
  if (!fetched.ok) return { ok: false, exitCode: reportFetchFailure(fetched, out) };
  const ranges = collapsedRanges(fetched.feeds, options.feeds);
  if (!ranges.ok) {
    out.stderr(`netcanary zscaler: ${ranges.reason}`);
    return { ok: false, exitCode: EXIT.unusable };
  }
  return ranges;
}

async function runRanges(argv: readonly string[], out: Output): Promise<number> {
  const { values } = parseOptions({ args: [...argv], options: { ...COMMON_OPTIONS, output: { type: "string", default: "text" } } });
  if (values.output !== "text" && values.output !== "json") throw new UsageError(`--output must be text or json, got "${values.output}"`);
  const options = feedOptions(values);
  const ranges = await fetchRanges(options, out);
  if (!ranges.ok) return ranges.exitCode;
  const { cidrs, ipv4, ipv6, hash } = ranges.value;
  if (values.output === "json") {
    for (const line of printableJson({ cloud: options.cloud, feeds: options.feeds, hash, ranges: cidrs.map((c) => c.text), ipv4, ipv6 })) out.stdout(line);
  } else {
    for (const cidr of cidrs) out.stdout(cidr.text);
    out.stderr(`${options.cloud}: ${cidrs.length} ranges (${ipv4} IPv4, ${ipv6} IPv6) from ${options.feeds.join(", ")}; ${hash}`);
  }
  return EXIT.ok;
}

async function runPolicy(argv: readonly string[], out: Output): Promise<number> {
  const { values, positionals } = parseOptions({
    args: [...argv],
    allowPositionals: true,
    options: {
      ...COMMON_OPTIONS,
      namespace: { type: "string" },
      "pod-selector": { type: "string", multiple: true },
      ports: { type: "string" },
      name: { type: "string" },
      "no-dns": { type: "boolean", default: false },
      check: { type: "string", multiple: true },
      direction: { type: "string", default: "egress" },
      source: { type: "string" },
      "zpa-connectors": { type: "string" },
    },
  });
  const checkPaths = [...(values.check ?? [])];
  // "--check a b c": extra paths arrive as positionals.
  if (positionals.length > 0) {
    if (checkPaths.length === 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    checkPaths.push(...positionals);
  }
  if (values.direction !== "egress" && values.direction !== "ingress") throw new UsageError(`--direction must be egress or ingress, got "${values.direction}"`);
  if (values.name !== undefined) {
    const problem = objectNameProblem(values.name);
    if (problem) throw new UsageError(`--name: ${problem}`);
  }
  if (values.direction === "ingress") return runIngressPolicy(values, checkPaths, out);
  if (values.source !== undefined || values["zpa-connectors"] !== undefined) throw new UsageError("--source and --zpa-connectors go with --direction ingress");
  const options = feedOptions(values);
  const namespace = readNamespace(values.namespace);
  const selector = readSelector(values["pod-selector"] ?? []);
  const ports = values.ports === undefined ? [...ZSCALER_GATEWAY_PORTS].sort((a, b) => a - b) : readPorts(values.ports);
  if (checkPaths.length > 0) {
    if (values.name !== undefined || values["no-dns"]) throw new UsageError("--name and --no-dns shape a generated policy; they do not go with --check");
    return runCheck(options, namespace, selector, ports, checkPaths, out);
  }

  const ranges = await fetchRanges(options, out);
  if (!ranges.ok) return ranges.exitCode;
  const policy = zscalerNetworkPolicy({
    cloud: options.cloud,
    namespace,
    podSelector: selector,
    ...(values.name !== undefined ? { name: values.name } : {}),
    cidrs: ranges.value.cidrs,
    ports,
    ...(values["no-dns"] ? { dns: false as const } : {}),
    feeds: options.feeds,
  });
  if (!policy.ok) throw new UsageError(policy.reason);
  // toYaml ends with a newline; stdout() adds one to each line.
  printLines(out.stdout, toYaml(policy.value).replace(/\n$/, ""));
  return EXIT.ok;
}

interface IngressValues {
  cloud?: string | undefined;
  feeds?: string | undefined;
  "base-url"?: string | undefined;
  timeout?: string | undefined;
  namespace?: string | undefined;
  "pod-selector"?: string[] | undefined;
  ports?: string | undefined;
  name?: string | undefined;
  "no-dns"?: boolean | undefined;
  source?: string | undefined;
  "zpa-connectors"?: string | undefined;
}

/**
 * --direction ingress: a policy admitting ZIA's published ranges (fetched) or the ZPA App
 * Connectors (--zpa-connectors), never both; with --check, an audit of the pods' ingress
 * against them, and the ways in where the pods would not see those addresses.
 */
async function runIngressPolicy(values: IngressValues, checkPaths: readonly string[], out: Output): Promise<number> {
  const source = values.source ?? "zia";
  if (source !== "zia" && source !== "zpa") throw new UsageError(`--source must be zia or zpa, got "${source}"`);
  if (values["no-dns"]) throw new UsageError("--no-dns shapes an egress policy; an ingress policy has no DNS rule");
  if (values.ports === undefined) throw new UsageError("--ports is required with --direction ingress (the TCP ports the pods serve)");
  const ports = readPorts(values.ports);
  const namespace = readNamespace(values.namespace);
  const selector = readSelector(values["pod-selector"] ?? []);
  let cidrs: readonly Cidr[];
  let feeds: readonly string[] = [];
  let what: string;
  if (source === "zpa") {
    if (values.cloud !== undefined || values.feeds !== undefined) throw new UsageError("--cloud and --feeds name ZIA's ranges; ZPA traffic comes from the App Connectors (--zpa-connectors)");
    cidrs = readZpaConnectors(values["zpa-connectors"]);
    if (cidrs.length === 0) throw new UsageError("--zpa-connectors is required with --source zpa (the App Connectors' addresses, comma-separated)");
    what = `the ZPA App Connectors (${cidrs.length})`;
  } else {
    if (values["zpa-connectors"] !== undefined) throw new UsageError("--zpa-connectors goes with --source zpa: ZIA and ZPA sources are kept apart, one policy each");
    const options = feedOptions(values);
    const ranges = await fetchRanges(options, out);
    if (!ranges.ok) return ranges.exitCode;
    cidrs = ranges.value.cidrs;
    feeds = options.feeds;
    what = `the ${cidrs.length} ranges of ${options.cloud} (${options.feeds.join(", ")})`;
  }
  if (checkPaths.length > 0) {
    if (values.name !== undefined) throw new UsageError("--name shapes a generated policy; it does not go with --check");
    return runIngressCheck(namespace, selector, ports, cidrs, what, checkPaths, out);
  }
  const policy = zscalerIngressPolicy({
    source,
    ...(values.cloud !== undefined ? { cloud: values.cloud } : {}),
    namespace,
    podSelector: selector,
    ...(values.name !== undefined ? { name: values.name } : {}),
    cidrs,
    ports,
    feeds,
  });
  if (!policy.ok) throw new UsageError(policy.reason);
  printLines(out.stdout, toYaml(policy.value).replace(/\n$/, ""));
  return EXIT.ok;
}

async function runIngressCheck(namespace: string, selector: Record<string, string>, ports: readonly number[], cidrs: readonly Cidr[], what: string, paths: readonly string[], out: Output): Promise<number> {
  const load = await loadManifests(paths);
  if (load.errors.length > 0) {
    for (const error of load.errors) out.stderr(formatInputError(error));
    out.stderr("netcanary zscaler: the manifests are unusable; nothing was checked");
    return EXIT.unusable;
  }
  const index = buildPolicyIndex(load.snapshot);
  const pod: PodInfo = { namespace, name: "netcanary-zscaler-check", labels: selector, ips: [], ports: [], hostNetwork: false };
  const audit = auditCoverage(index, { kind: "pod", pod }, cidrs, ports, "TCP", "ingress");
  const who = `pods ${describeSelector(selector)} in namespace ${namespace}`;
  const ways = inboundPaths(load.snapshot, pod);
  for (const path of ways.filter((p) => p.outcome !== "preserved")) {
    out.stderr(`note: through ${path.via} the pods see ${path.sourceSeen}: an ipBlock for ${what} ${path.outcome === "rewritten" ? "never matches" : "may not match"} that traffic (netcanary check explains)`);
  }
  const missing = audit.ranges.filter((r) => !r.covered);
  if (missing.length === 0) {
    out.stdout(`ok: ${what} are admitted on TCP ${ports.join(", ")} to ${who}`);
    return EXIT.ok;
  }
  out.stdout(`FAIL: ${missing.length} of ${what} are not admitted on every port to ${who}:`);
  for (const entry of missing) out.stdout(`  ${entry.range.text}  denied on TCP ${entry.uncoveredPorts.join(", ")}`);
  return EXIT.failed;
}

function describeSelector(selector: Readonly<Record<string, string>>): string {
  return Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

async function runCheck(options: FeedOptions, namespace: string, selector: Record<string, string>, ports: readonly number[], paths: readonly string[], out: Output): Promise<number> {
  const load = await loadManifests(paths);
  if (load.errors.length > 0) {
    for (const error of load.errors) out.stderr(formatInputError(error));
    out.stderr("netcanary zscaler: the manifests are unusable; nothing was checked");
    return EXIT.unusable;
  }
  const fetched = await fetchFeeds(options);
  if (!fetched.ok) return reportFetchFailure(fetched, out);
  const published = publishedRanges(fetched.feeds, options.feeds);
  const index = buildPolicyIndex(load.snapshot);
  // The source: a pod as the pods the policy is for will be (their IPs do not matter for
  // egress to addresses outside the cluster).
  const source: PodInfo = { namespace, name: "netcanary-zscaler-check", labels: selector, ips: [], ports: [], hostNetwork: false };
  const audit = auditCoverage(index, { kind: "pod", pod: source }, [...published.values()].map((r) => r.cidr), ports);
  const who = `pods ${describeSelector(selector)} in namespace ${namespace}`;
  const what = `${published.size} ranges of ${options.cloud} (${options.feeds.join(", ")})`;
  const onPorts = `TCP ${ports.join(", ")}`;
  if (audit.undetermined.length > 0) {
    out.stderr(`note: the verdict for ${audit.undetermined.length} block(s) of addresses depends on facts the manifests do not hold (admin rules with nodes or domainNames peers): ${audit.undetermined.map((c) => c.text).join(", ")}`);
  }
  const missing = audit.ranges.filter((r) => !r.covered);
  if (missing.length === 0) {
    out.stdout(`ok: all ${what} are allowed on ${onPorts} for ${who}`);
    return EXIT.ok;
  }
  out.stdout(`FAIL: ${missing.length} of ${what} are not allowed on every port for ${who}:`);
  const width = Math.max(...missing.map((r) => r.range.text.length));
  for (const entry of missing) {
    const feeds = published.get(entry.range.text)?.feeds.join(",") ?? "";
    out.stdout(`  ${entry.range.text.padEnd(width)}  ${feeds}  denied on TCP ${entry.uncoveredPorts.join(", ")}`);
  }
  const perPort = [...audit.perPort.entries()].filter(([, list]) => list.length > 0);
  out.stdout(`addresses denied, per port: ${perPort.map(([port, list]) => `${port}: ${list.length} block(s)`).join("; ")}`);
  return EXIT.failed;
}

export const zscalerCommand: Command = {
  usage: USAGE,
  async run(argv, out) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case "ranges":
        return runRanges(rest, out);
      case "policy":
        return runPolicy(rest, out);
      case undefined:
        throw new UsageError("a subcommand is required: ranges or policy");
      default:
        throw new UsageError(`unknown subcommand "${sub}"${suggestion(nearest(sub, ["ranges", "policy"]))} (ranges or policy)`);
    }
  },
};
