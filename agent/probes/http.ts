// HTTP(S) prober: one request, judged on what came back, in blackbox_exporter's phases:
// resolve (the target's name, or the proxy's), connect (TCP, and through an explicit proxy
// the CONNECT tunnel), tls (the handshake, the peer certificate captured) and processing
// (request, response head, body up to the cap).
//
// The socket is set up here, step by step, so that each phase is timed and each failure
// has its own reason; then node:http sends the request over that socket (createConnection)
// and Node's own parser reads the response: no HTTP parser of ours. The proxy's answer to
// CONNECT is read by node:http too.
//
// What it proves, and why it exists: a TCP connect that succeeds says packets passed, not
// that they went through Zscaler. The expected issuer (`zscaler`, or a CN pattern) proves
// that SSL inspection re-signed the connection (or, negated, that it did not, where
// inspection must be bypassed); Zscaler's block page is its own reason. Zscaler knowledge
// lives in zscaler/signatures.ts.
//
// Bounds: one deadline for the whole probe (every socket is destroyed when it fires), the
// response head within MAX_HEAD_BYTES (Node's parser enforces it), the body read up to
// maxBodyBytes and no further, a proxy's error body sniffed up to BLOCK_PAGE_SNIFF_BYTES.
// The outcome's detail never holds body text; header values and certificate names in it
// are escaped and cut short.

import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { request as httpRequest } from "../runtime/http.js";
import { isIP, Socket } from "node:net";
import { connect as tlsConnect, createSecureContext, rootCertificates, type PeerCertificate, type SecureContext, type TLSSocket } from "node:tls";
import { isIpLiteral } from "../addresses/ip.js";
import { printable } from "../text/printable.js";
import { redactUrl } from "../text/url-credentials.js";
import { type CheckPageResult, parseCheckPage } from "../zscaler/check-page.js";
import type { PathExpectation } from "../zscaler/path.js";
import { BLOCK_PAGE_SNIFF_BYTES, isZscalerBlockPage, isZscalerIssuer, ZSCALER_DNS_BLOCK_ADDRESSES, zscalerCloudOfIssuer } from "../zscaler/signatures.js";
import { contextProblem, Deadline, describeError, expiryOf, Stopwatch } from "./deadline.js";
import type { ProbeAddress, ProbeContext, ProbePhase, ProberModule, ProbeReason, ReasonDeclaration } from "./prober.js";
import { resolveHost, resolverFor } from "./resolve-host.js";
import type { DnsServer } from "./resolver.js";
import { tcpReasonFor } from "./tcp.js";

// ---------------------------------------------------------------------------------------
// Vocabulary

/** Every outcome reason of the HTTP prober (the `reason` label; never renamed). */
export const HTTP_REASONS = [
  "ok",
  "timeout",
  "refused",
  "host_unreachable",
  "net_unreachable",
  "dns_nxdomain",
  "dns_nodata",
  "dns_servfail",
  "dns_refused",
  "dns_timeout",
  "dns_zscaler_block",
  "tls_error",
  "tls_untrusted",
  "tls_issuer_mismatch",
  "http_status",
  "http_timeout",
  "http_error",
  "proxy_error",
  "zscaler_blocked",
  "agent_error",
] as const;

export type HttpReason = (typeof HTTP_REASONS)[number];

/**
 * What a reason proves about the path, which is what an expected deny is judged on
 * (docs/http-checks.md). passed: a TCP connection was established, to the target or to the
 * proxy, whatever HTTP or TLS said afterwards: under an expected deny the sample is
 * inconsistent. notTried: the name did not resolve (or resolved to Zscaler's DNS block
 * address), nothing was sent. Every other reason: no connection was made (dropped, rejected,
 * unreachable), consistent with a deny, as for TCP.
 */
export const HTTP_REASON_DECLARATION: ReasonDeclaration<HttpReason> = {
  reports: HTTP_REASONS,
  passed: ["ok", "tls_error", "tls_untrusted", "tls_issuer_mismatch", "http_status", "http_timeout", "http_error", "proxy_error", "zscaler_blocked"],
  notTried: ["dns_nxdomain", "dns_nodata", "dns_servfail", "dns_refused", "dns_timeout", "dns_zscaler_block"],
};

export type HttpPhase = ProbePhase;

export interface StatusRange {
  readonly from: number;
  readonly to: number;
}

export interface IssuerExpectation {
  /** "zscaler": Zscaler's inspection CA; { cn }: a glob ("*" = any run) on the issuer's CN, case-insensitive. */
  readonly issuer: "zscaler" | { readonly cn: string };
  /** The issuer must NOT match: inspection must be bypassed for this target. */
  readonly absent?: boolean;
}

export interface HttpTlsOptions {
  /** Verify the chain and the name (default true). Off: any certificate is accepted. */
  readonly verify?: boolean;
  /** Server name sent (SNI) and verified; default the URL's host when it is a name. */
  readonly sni?: string;
  /** Extra trusted CA certificates (PEM), on top of the usual roots (e.g. a Zscaler root). */
  readonly caPem?: string;
  readonly expectIssuer?: IssuerExpectation;
}

export interface HttpTarget {
  /** http(s)://host[:port]/path?query. Or give scheme, host or ip, port and path instead. */
  readonly url?: string;
  readonly scheme?: "http" | "https";
  /** A name (resolved unless ip is given) or an IP literal; the Host header and SNI by default. */
  readonly host?: string;
  /** Connect to this address instead of resolving the host (an address kind's expansion). */
  readonly ip?: string;
  readonly port?: number;
  /** Path and query, starting with "/" (default "/"). */
  readonly path?: string;
  /** Host header when it differs from the URL's host. */
  readonly hostHeader?: string;
  readonly method?: "GET" | "HEAD";
  /** Accepted statuses; default 200-299. */
  readonly expectStatus?: readonly StatusRange[];
  /** Extra request headers (not Host, Content-Length, Transfer-Encoding, Connection, Proxy-*). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Body bytes read at most (default DEFAULT_MAX_BODY_BYTES); the rest is never read. */
  readonly maxBodyBytes?: number;
  /** An explicit proxy, "http://host:port": CONNECT for https, absolute-form requests for http. */
  readonly proxy?: string;
  readonly tls?: HttpTlsOptions;
  /** Resolver for the target's (or the proxy's) name; default the system's. */
  readonly dnsServer?: string;
  /** A path check: the body (up to maxBodyBytes) is read as Zscaler's check page (zscaler/check-page.ts). */
  readonly checkPage?: boolean;
}

export interface HttpTlsSummary {
  /** Chain and name verified against the trusted roots. */
  readonly authorized: boolean;
  readonly authorizationError?: string;
  /** The leaf's issuer, escaped and cut short. */
  readonly issuerCn?: string;
  readonly issuerO?: string;
  /** The issuer is Zscaler's inspection CA. */
  readonly zscalerIssuer: boolean;
  /** The cloud the Zscaler issuer names ("zscalertwo.net"). */
  readonly zscalerCloud?: string;
  readonly protocol?: string;
}

export interface HttpOutcome {
  readonly reason: HttpReason;
  readonly durationSeconds: number;
  readonly phases: Partial<Record<HttpPhase, number>>;
  /** The address connected to: the target's, or the proxy's when there is one. */
  readonly address?: string;
  readonly status?: number;
  readonly tls?: HttpTlsSummary;
  /** Body bytes read (at most maxBodyBytes). */
  readonly bodyBytes?: number;
  /** Short human text; never a label, never body text. */
  readonly detail?: string;
  /** For a path check (target.checkPage): what the page says, as plain data; absent when no response came. */
  readonly checkPage?: CheckPageResult;
}

export interface HttpExchange {
  readonly outcome: HttpOutcome;
  /** The body read (at most maxBodyBytes, as UTF-8), when asked for with captureBody. */
  readonly body?: string;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** The largest body cap a target may ask for. */
export const MAX_BODY_BYTES_LIMIT = 16 * 1024 * 1024;
/** Response head (status line and headers) limit, for the target and for the proxy. */
export const MAX_HEAD_BYTES = 16 * 1024;
const MAX_HEADERS = 32;
const MAX_HEADER_VALUE = 1024;
const DETAIL_VALUE_CHARS = 120;
const USER_AGENT = "netcanary";
const FORBIDDEN_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "expect", "keep-alive"]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

// ---------------------------------------------------------------------------------------
// Pure helpers (exported for config and tests)

/** "200", "200-299", "2xx", comma-separated, or a list of those: the statuses accepted. */
export function parseStatusSpec(spec: string | number | readonly (string | number)[]): { ok: true; value: StatusRange[] } | { ok: false; reason: string } {
  const items = Array.isArray(spec) ? spec : typeof spec === "number" ? [spec] : String(spec).split(",");
  const ranges: StatusRange[] = [];
  for (const item of items as readonly (string | number)[]) {
    const text = String(item).trim().toLowerCase();
    let range: StatusRange | undefined;
    const single = /^([1-5]\d\d)$/.exec(text);
    const span = /^([1-5]\d\d)\s*-\s*([1-5]\d\d)$/.exec(text);
    const klass = /^([1-5])xx$/.exec(text);
    if (single) range = { from: Number(single[1]), to: Number(single[1]) };
    else if (span) range = { from: Number(span[1]), to: Number(span[2]) };
    else if (klass) range = { from: Number(klass[1]) * 100, to: Number(klass[1]) * 100 + 99 };
    if (range === undefined || range.from > range.to) return { ok: false, reason: `"${printable(text).slice(0, 40)}" is not a status, a range "200-299" or a class "2xx"` };
    ranges.push(range);
  }
  if (ranges.length === 0) return { ok: false, reason: "no status given" };
  return { ok: true, value: ranges };
}

export function statusAccepted(status: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some((range) => status >= range.from && status <= range.to);
}

/** Case-insensitive glob: "*" matches any run of characters, everything else itself. */
export function globMatches(pattern: string, text: string): boolean {
  const p = pattern.toLowerCase();
  const t = text.toLowerCase();
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && p[pi] !== "*" && p[pi] === t[ti]) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === "*") {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/** Does the issuer meet the expectation (a match, or no match when `absent`)? */
export function issuerMeets(expectation: IssuerExpectation, issuer: { readonly cn?: string | undefined; readonly o?: string | undefined }): boolean {
  const matched = expectation.issuer === "zscaler" ? isZscalerIssuer(issuer) : globMatches(expectation.issuer.cn, issuer.cn?.trim() ?? "");
  return expectation.absent === true ? !matched : matched;
}

function shown(text: string): string {
  const escaped = printable(text);
  return escaped.length > DETAIL_VALUE_CHARS ? `${escaped.slice(0, DETAIL_VALUE_CHARS - 3)}...` : escaped;
}

function describeExpectation(expectation: IssuerExpectation): string {
  const what = expectation.issuer === "zscaler" ? "Zscaler" : `CN "${shown(expectation.issuer.cn)}"`;
  return expectation.absent === true ? `not ${what}` : what;
}

function describeRanges(ranges: readonly StatusRange[]): string {
  return ranges.map((range) => (range.from === range.to ? String(range.from) : `${range.from}-${range.to}`)).join(",");
}

// ---------------------------------------------------------------------------------------
// Plan: a target checked and turned into the steps to take

interface Plan {
  readonly scheme: "http" | "https";
  /** The URL's host: a name or an IP literal (no brackets). */
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly hostHeader: string;
  readonly method: "GET" | "HEAD";
  readonly headers: readonly (readonly [string, string])[];
  readonly expect: readonly StatusRange[];
  readonly maxBodyBytes: number;
  /** Where the TCP connection goes: the proxy, or the target. */
  readonly dial: { readonly ip: string; readonly port: number } | { readonly name: string; readonly port: number; readonly servers: readonly DnsServer[] };
  readonly proxied: boolean;
  readonly tls: { readonly verify: boolean; readonly sni: string | undefined; readonly identity: string; readonly caPem: string | undefined; readonly expectIssuer: IssuerExpectation | undefined };
}

type Checked<T> = { ok: true; value: T } | { ok: false; detail: string };

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function hostPort(host: string, port: number, defaultPort: number): string {
  const shownHost = isIP(host) === 6 ? `[${host}]` : host;
  return port === defaultPort ? shownHost : `${shownHost}:${port}`;
}

function checkPort(port: unknown): port is number {
  return typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535;
}

export function parseProxy(text: unknown): Checked<{ host: string; port: number }> {
  if (typeof text !== "string" || text.trim() === "") return { ok: false, detail: "proxy must be a URL such as http://proxy.example:9400" };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return { ok: false, detail: `proxy "${shown(redactUrl(text))}" is not a URL` };
  }
  if (url.protocol !== "http:") return { ok: false, detail: "proxy: only http:// proxies are supported" };
  if (url.username !== "" || url.password !== "") return { ok: false, detail: "proxy: credentials in the proxy URL are not supported" };
  if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "") return { ok: false, detail: "proxy: give only scheme, host and port" };
  return { ok: true, value: { host: unbracket(url.hostname), port: url.port === "" ? 80 : Number(url.port) } };
}

function checkHeaders(headers: unknown): Checked<[string, string][]> {
  if (headers === undefined) return { ok: true, value: [] };
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) return { ok: false, detail: "headers must be a map of name to value" };
  const entries = Object.entries(headers as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) return { ok: false, detail: `at most ${MAX_HEADERS} headers` };
  const checked: [string, string][] = [];
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) return { ok: false, detail: `header name "${shown(name)}" is not a valid token` };
    if (FORBIDDEN_HEADERS.has(lower) || lower.startsWith("proxy-")) return { ok: false, detail: `header ${lower} is set by the prober (use hostHeader for Host)` };
    if (typeof value !== "string" || value.length > MAX_HEADER_VALUE || /[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) {
      return { ok: false, detail: `header ${lower}: the value must be a string of at most ${MAX_HEADER_VALUE} characters without control characters` };
    }
    checked.push([lower, value]);
  }
  return { ok: true, value: checked };
}

function targetAddress(target: HttpTarget): Checked<{ scheme: "http" | "https"; host: string; port: number; path: string }> {
  if (target.url !== undefined) {
    if (target.scheme !== undefined || target.host !== undefined || target.port !== undefined || target.path !== undefined) {
      return { ok: false, detail: "give either url, or scheme, host, port and path" };
    }
    let url: URL;
    try {
      url = new URL(String(target.url));
    } catch {
      return { ok: false, detail: `url "${shown(redactUrl(String(target.url)))}" is not a URL` };
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, detail: "url must be http:// or https://" };
    if (url.username !== "" || url.password !== "") return { ok: false, detail: "url: credentials in the URL are not supported (use headers)" };
    const scheme = url.protocol === "https:" ? "https" : "http";
    const port = url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port);
    return { ok: true, value: { scheme, host: unbracket(url.hostname), port, path: `${url.pathname}${url.search}` } };
  }
  const scheme = target.scheme ?? "http";
  if (scheme !== "http" && scheme !== "https") return { ok: false, detail: 'scheme must be "http" or "https"' };
  const host = target.host ?? target.ip;
  if (typeof host !== "string" || host.trim() === "") return { ok: false, detail: "HTTP target needs a url, a host or an ip" };
  const port = target.port ?? (scheme === "https" ? 443 : 80);
  if (!checkPort(port)) return { ok: false, detail: `port must be an integer 1-65535, got ${String(port)}` };
  const path = target.path ?? "/";
  if (typeof path !== "string" || !path.startsWith("/") || /[\s\u0000-\u001f\u007f]/.test(path)) return { ok: false, detail: 'path must start with "/" and hold no spaces or control characters' };
  return { ok: true, value: { scheme, host: unbracket(host.trim()), port, path } };
}

function checkTls(target: HttpTarget, scheme: "http" | "https"): Checked<HttpTlsOptions> {
  const tls = target.tls ?? {};
  if (scheme === "http" && target.tls !== undefined) return { ok: false, detail: "tls options need an https target" };
  if (tls.sni !== undefined && (typeof tls.sni !== "string" || isIpLiteral(tls.sni) || !/^[a-z0-9.-]{1,253}$/i.test(tls.sni))) return { ok: false, detail: "tls.sni must be a host name" };
  if (tls.caPem !== undefined && (typeof tls.caPem !== "string" || !tls.caPem.includes("-----BEGIN CERTIFICATE-----"))) return { ok: false, detail: "tls.caPem must hold PEM certificates" };
  const expectation = tls.expectIssuer;
  if (expectation !== undefined && expectation.issuer !== "zscaler" && (typeof expectation.issuer?.cn !== "string" || expectation.issuer.cn === "" || expectation.issuer.cn.length > 256)) {
    return { ok: false, detail: 'tls.expectIssuer.issuer must be "zscaler" or { cn: pattern }' };
  }
  return { ok: true, value: tls };
}

/** Where the TCP connection goes: the proxy when there is one, else the target (ip, literal or name). */
function dialFor(target: HttpTarget, host: string, port: number): Checked<Plan["dial"]> {
  const named = (name: string, dialPort: number): Checked<Plan["dial"]> => {
    const resolver = resolverFor(target.dnsServer);
    return resolver.ok ? { ok: true, value: { name, port: dialPort, servers: resolver.servers } } : resolver;
  };
  if (target.ip !== undefined && (typeof target.ip !== "string" || !isIpLiteral(target.ip))) return { ok: false, detail: `ip "${shown(String(target.ip))}" is not an IP address` };
  if (target.proxy !== undefined) {
    if (target.ip !== undefined) return { ok: false, detail: "ip and proxy cannot be combined: the proxy resolves the target" };
    const proxy = parseProxy(target.proxy);
    if (!proxy.ok) return proxy;
    return isIpLiteral(proxy.value.host) ? { ok: true, value: { ip: proxy.value.host, port: proxy.value.port } } : named(proxy.value.host, proxy.value.port);
  }
  if (target.ip !== undefined) return { ok: true, value: { ip: target.ip, port } };
  return isIpLiteral(host) ? { ok: true, value: { ip: host, port } } : named(host, port);
}

function plan(target: HttpTarget): Checked<Plan> {
  if (typeof target !== "object" || target === null) return { ok: false, detail: "HTTP target is missing" };
  const address = targetAddress(target);
  if (!address.ok) return address;
  const { scheme, host, port, path } = address.value;
  const method = target.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") return { ok: false, detail: 'method must be "GET" or "HEAD"' };
  const headers = checkHeaders(target.headers);
  if (!headers.ok) return headers;
  const expect = target.expectStatus ?? [{ from: 200, to: 299 }];
  if (!Array.isArray(expect) || expect.length === 0 || !expect.every((r: StatusRange) => Number.isInteger(r?.from) && Number.isInteger(r?.to) && r.from >= 100 && r.to <= 599 && r.from <= r.to)) {
    return { ok: false, detail: "expectStatus must be a non-empty list of ranges within 100-599" };
  }
  const maxBodyBytes = target.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0 || maxBodyBytes > MAX_BODY_BYTES_LIMIT) return { ok: false, detail: `maxBodyBytes must be an integer 0-${MAX_BODY_BYTES_LIMIT}` };
  const tls = checkTls(target, scheme);
  if (!tls.ok) return tls;
  const hostHeader = target.hostHeader ?? hostPort(host, port, scheme === "https" ? 443 : 80);
  if (typeof hostHeader !== "string" || !/^[^\s\u0000-\u001f\u007f/?#@]{1,260}$/.test(hostHeader)) return { ok: false, detail: "hostHeader must be a host[:port]" };
  const dial = dialFor(target, host, port);
  if (!dial.ok) return dial;
  const sni = tls.value.sni ?? (isIpLiteral(host) ? undefined : host);
  return {
    ok: true,
    value: {
      scheme,
      host,
      port,
      path,
      hostHeader,
      method,
      headers: headers.value,
      expect,
      maxBodyBytes,
      dial: dial.value,
      proxied: target.proxy !== undefined,
      tls: { verify: tls.value.verify ?? true, sni, identity: sni ?? host, caPem: tls.value.caPem, expectIssuer: tls.value.expectIssuer },
    },
  };
}

/** Why the prober would refuse this target (answering agent_error), or undefined: the config's check. */
export function httpTargetProblem(target: HttpTarget): string | undefined {
  const checked = plan(target);
  return checked.ok ? undefined : checked.detail;
}

// ---------------------------------------------------------------------------------------
// Steps. Each settles once, by the deadline at the latest, and never throws.

type Step<T> = { ok: true; value: T } | { ok: false; reason: HttpReason; detail: string; status?: number; tls?: HttpTlsSummary };

function fail<T>(reason: HttpReason, detail: string): Step<T> {
  return { ok: false, reason, detail };
}

/** Runs `start` until it settles or the signal fires; `onExpiry` says what a fired deadline means here. */
function step<T>(signal: AbortSignal, onExpiry: () => Step<T>, start: (settle: (result: Step<T>) => void) => (() => void) | void): Promise<Step<T>> {
  const aborted = (): Step<T> => (expiryOf(signal) === "timeout" ? onExpiry() : fail("agent_error", "aborted"));
  if (signal.aborted) return Promise.resolve(aborted());
  return new Promise<Step<T>>((resolve) => {
    let settled = false;
    let cleanup: (() => void) | void;
    const settle = (result: Step<T>): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      cleanup?.();
      resolve(result);
    };
    const onAbort = (): void => settle(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      cleanup = start(settle);
      if (settled) cleanup?.();
    } catch (error) {
      settle(fail("agent_error", describeError(error)));
    }
  });
}

/** A shared reason (TCP's errno mapping, the resolver's) as one of this prober's. */
function asHttpReason(reason: ProbeReason): HttpReason {
  // A reset reported by a connect came after the handshake: the connection broke.
  if (reason === "reset") return "http_error";
  return (HTTP_REASONS as readonly string[]).includes(reason) ? (reason as HttpReason) : "agent_error";
}

/** errno of a failed TCP connect to reason. */
function connectReason(code: string | undefined): HttpReason {
  return asHttpReason(tcpReasonFor(code));
}

function openTcp(ip: string, port: number, signal: AbortSignal, sockets: Set<{ destroy(): void }>): Promise<Step<Socket>> {
  return step<Socket>(signal, () => fail("timeout", "deadline"), (settle) => {
    const socket = new Socket();
    sockets.add(socket);
    // Stays attached: a late error on a socket destroyed at the end must not go unhandled.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET" || error.code === "EPIPE") {
        settle(fail("http_error", `${error.code} after the handshake`));
        return;
      }
      const reason = connectReason(error.code);
      settle(fail(reason, reason === "agent_error" ? describeError(error) : (error.code ?? "unknown")));
    });
    socket.once("connect", () => settle({ ok: true, value: socket }));
    socket.connect({ host: ip, port });
  });
}

/** Reads what a proxy sent after an error head, up to `limit` bytes, for the block-page test. */
function sniff(socket: Socket, head: Buffer, limit: number, expected: number | undefined, signal: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [head.subarray(0, limit)];
  let total = chunks[0]?.length ?? 0;
  const enough = (): boolean => total >= limit || (expected !== undefined && total >= expected);
  if (enough()) return Promise.resolve(Buffer.concat(chunks).toString("utf8"));
  return new Promise<string>((resolve) => {
    const done = (): void => {
      socket.off("data", onData);
      socket.off("end", done);
      socket.off("close", done);
      signal.removeEventListener("abort", done);
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onData = (chunk: Buffer): void => {
      const room = limit - total;
      chunks.push(chunk.subarray(0, room));
      total += Math.min(room, chunk.length);
      if (enough()) done();
    };
    socket.on("data", onData);
    socket.once("end", done);
    socket.once("close", done);
    signal.addEventListener("abort", done, { once: true });
    socket.resume();
  });
}

/** CONNECT host:port through the proxy on `socket`; the same socket is the tunnel after a 2xx. */
function proxyConnect(socket: Socket, authority: string, signal: AbortSignal): Promise<Step<Socket>> {
  return step<Socket>(signal, () => fail("proxy_error", "deadline before the proxy answered CONNECT"), (settle) => {
    const request = httpRequest({ method: "CONNECT", path: authority, headers: { host: authority, "user-agent": USER_AGENT }, createConnection: () => socket, maxHeaderSize: MAX_HEAD_BYTES });
    request.on("connect", (response: IncomingMessage, tunnel: Socket, head: Buffer) => {
      const status = response.statusCode ?? 0;
      if (status >= 200 && status <= 299) {
        if (head.length > 0) tunnel.unshift(head);
        settle({ ok: true, value: tunnel });
        return;
      }
      const length = Number(response.headers["content-length"]);
      void sniff(tunnel, head, BLOCK_PAGE_SNIFF_BYTES, Number.isFinite(length) ? length : undefined, signal).then((prefix) => {
        if (isZscalerBlockPage(status, prefix)) settle({ ok: false, reason: "zscaler_blocked", detail: `Zscaler block page in answer to CONNECT (status ${status})`, status });
        else settle({ ok: false, reason: "proxy_error", detail: `proxy answered CONNECT with ${status}`, status });
      });
    });
    request.on("response", (response: IncomingMessage) => {
      settle({ ok: false, reason: "proxy_error", detail: `proxy answered CONNECT with ${response.statusCode ?? 0}`, ...(response.statusCode ? { status: response.statusCode } : {}) });
    });
    request.on("error", (error: NodeJS.ErrnoException) => settle(fail("proxy_error", `CONNECT failed: ${error.code ?? describeError(error)}`)));
    request.end();
  });
}

/** Trusted roots plus one extra PEM, built once per distinct PEM (a few are kept). */
const contexts = new Map<string, SecureContext>();
const MAX_CONTEXTS = 8;

function secureContextFor(caPem: string): SecureContext {
  let context = contexts.get(caPem);
  if (context === undefined) {
    context = createSecureContext({ ca: [...rootCertificates, caPem] });
    if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value ?? "");
    contexts.set(caPem, context);
  }
  return context;
}

function firstName(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : undefined;
}

function summarise(socket: TLSSocket, certificate: PeerCertificate): HttpTlsSummary {
  const cn = firstName(certificate.issuer?.CN);
  const o = firstName(certificate.issuer?.O);
  const cloud = zscalerCloudOfIssuer({ cn, o });
  const protocol = socket.getProtocol();
  const authorizationError = socket.authorizationError === undefined || socket.authorizationError === null ? undefined : shown(String(socket.authorizationError));
  return {
    authorized: socket.authorized,
    zscalerIssuer: isZscalerIssuer({ cn, o }),
    ...(authorizationError !== undefined ? { authorizationError } : {}),
    ...(cn !== undefined ? { issuerCn: shown(cn) } : {}),
    ...(o !== undefined ? { issuerO: shown(o) } : {}),
    ...(cloud !== undefined ? { zscalerCloud: cloud } : {}),
    ...(protocol ? { protocol } : {}),
  };
}

interface TlsDone {
  readonly socket: TLSSocket;
  readonly summary: HttpTlsSummary;
  readonly issuer: { cn: string | undefined; o: string | undefined };
}

function handshake(socket: Socket, settings: Plan["tls"], signal: AbortSignal, sockets: Set<{ destroy(): void }>): Promise<Step<TlsDone>> {
  return step<TlsDone>(signal, () => fail("tls_error", "deadline during the TLS handshake"), (settle) => {
    const secure = tlsConnect({
      socket,
      host: settings.identity,
      ...(settings.sni !== undefined ? { servername: settings.sni } : {}),
      ...(settings.caPem !== undefined ? { secureContext: secureContextFor(settings.caPem) } : {}),
      // Judged below, so that an untrusted chain is its own reason and its issuer is still seen.
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    sockets.add(secure);
    secure.on("error", (error: NodeJS.ErrnoException) => settle(fail("tls_error", shown(error.code ?? describeError(error)))));
    // Settled on the next turn: destroying a TLS socket from inside its own handshake
    // callback (as a probe that stops at an untrusted chain would) crashes the process.
    secure.once("secureConnect", () => setImmediate(() => {
      const certificate = secure.getPeerCertificate(false);
      if (certificate === null || typeof certificate !== "object" || Object.keys(certificate).length === 0) {
        settle(fail("tls_error", "no peer certificate"));
        return;
      }
      settle({ ok: true, value: { socket: secure, summary: summarise(secure, certificate), issuer: { cn: firstName(certificate.issuer?.CN), o: firstName(certificate.issuer?.O) } } });
    }));
  });
}

interface Response {
  readonly status: number;
  readonly bodyBytes: number;
  /** Body kept: up to maxBodyBytes when captured, else the block-page sniff of an error status. */
  readonly kept: string;
  readonly location: string | undefined;
}

function exchange(stream: Socket, plan: Plan, requestTarget: string, keepBody: boolean, signal: AbortSignal): Promise<Step<Response>> {
  let status: number | undefined;
  let bytes = 0;
  return step<Response>(
    signal,
    () => fail("http_timeout", status === undefined ? "deadline before the response head" : `deadline while reading the body (status ${status}, ${bytes} bytes)`),
    (settle) => {
      const headers: OutgoingHttpHeaders = { host: plan.hostHeader, "user-agent": USER_AGENT, accept: "*/*", connection: "close" };
      for (const [name, value] of plan.headers) headers[name] = value;
      let request: ClientRequest | undefined = httpRequest({
        method: plan.method,
        path: requestTarget,
        headers,
        setHost: false,
        createConnection: () => stream,
        maxHeaderSize: MAX_HEAD_BYTES,
        insecureHTTPParser: false,
      });
      request.on("response", (response: IncomingMessage) => {
        status = response.statusCode ?? 0;
        const code = status;
        const location = firstName(response.headers.location);
        const keep = Math.min(plan.maxBodyBytes, keepBody ? plan.maxBodyBytes : code >= 400 ? BLOCK_PAGE_SNIFF_BYTES : 0);
        const chunks: Buffer[] = [];
        let kept = 0;
        const done = (): void => settle({ ok: true, value: { status: code, bodyBytes: bytes, kept: Buffer.concat(chunks).toString("utf8"), location } });
        response.on("data", (chunk: Buffer) => {
          const room = plan.maxBodyBytes - bytes;
          const taken = Math.min(room, chunk.length);
          bytes += taken;
          if (kept < keep) {
            const part = chunk.subarray(0, Math.min(taken, keep - kept));
            chunks.push(part);
            kept += part.length;
          }
          // The cap: read no further (the socket is destroyed when the probe ends).
          if (bytes >= plan.maxBodyBytes) done();
        });
        response.once("end", done);
        response.once("error", (error: NodeJS.ErrnoException) => settle(fail("http_error", `${error.code ?? describeError(error)} while reading the body (status ${code})`)));
        response.once("aborted", () => settle(fail("http_error", `connection closed while reading the body (status ${code})`)));
        if (plan.maxBodyBytes === 0) done();
      });
      request.on("error", (error: NodeJS.ErrnoException) => {
        if (status !== undefined) return; // after the head: the response's own events decide
        settle(fail("http_error", shown(error.code ?? describeError(error))));
      });
      request.end();
      return () => {
        request?.removeAllListeners("response");
        request = undefined;
      };
    },
  );
}

// ---------------------------------------------------------------------------------------
// The prober

function outcomeOf(clock: Stopwatch<HttpReason>, reason: HttpReason, extra: Omit<HttpOutcome, "reason" | "durationSeconds" | "phases">): HttpOutcome {
  const timed = clock.outcome("ok");
  const fields = Object.fromEntries(Object.entries(extra).filter(([, value]) => value !== undefined));
  return { reason, durationSeconds: timed.durationSeconds, phases: timed.phases, ...fields };
}

/** Why a completed handshake is not good enough, or undefined when it is. */
function judgeTls(done: TlsDone, settings: Plan["tls"]): { reason: HttpReason; detail: string } | undefined {
  const { summary, issuer } = done;
  const issuerText = `issuer CN "${summary.issuerCn ?? ""}" O "${summary.issuerO ?? ""}"`;
  if (settings.verify && !summary.authorized) return { reason: "tls_untrusted", detail: `${summary.authorizationError ?? "not trusted"}; ${issuerText}` };
  const expectation = settings.expectIssuer;
  if (expectation !== undefined && !issuerMeets(expectation, issuer)) return { reason: "tls_issuer_mismatch", detail: `${issuerText}, expected ${describeExpectation(expectation)}` };
  return undefined;
}

/** The block page first (whatever status was expected), then the expected statuses. */
function judgeResponse(response: Response, expect: readonly StatusRange[]): { reason: HttpReason; detail?: string } {
  if (isZscalerBlockPage(response.status, response.kept)) return { reason: "zscaler_blocked", detail: `Zscaler block page (status ${response.status})` };
  if (statusAccepted(response.status, expect)) return { reason: "ok" };
  const redirect = response.status >= 300 && response.status <= 399 && response.location !== undefined ? `, location ${shown(redactUrl(response.location))}` : "";
  return { reason: "http_status", detail: `status ${response.status}, expected ${describeRanges(expect)}${redirect}` };
}

/** One HTTP(S) probe; with captureBody, the body read (up to maxBodyBytes) comes back too. */
export async function httpExchange(target: HttpTarget, context: ProbeContext, options: { readonly captureBody?: boolean } = {}): Promise<HttpExchange> {
  const clock = new Stopwatch<HttpReason>();
  const sockets = new Set<{ destroy(): void }>();
  let deadline: Deadline | undefined;
  let address: string | undefined;
  try {
    const problem = contextProblem(context);
    if (problem !== undefined) return { outcome: outcomeOf(clock, "agent_error", { detail: problem }) };
    const checked = plan(target);
    if (!checked.ok) return { outcome: outcomeOf(clock, "agent_error", { detail: checked.detail }) };
    const steps = checked.value;
    deadline = new Deadline(context.timeoutMs, context.signal);
    const active = deadline;
    const { signal } = active;

    if ("name" in steps.dial) {
      const name = steps.dial.name;
      const servers = steps.dial.servers;
      const resolved = await clock.phase("resolve", () => resolveHost(name, servers, active));
      if (!resolved.ok) return { outcome: outcomeOf(clock, asHttpReason(resolved.reason), { detail: resolved.detail }) };
      const first = resolved.answers[0];
      if (first === undefined) return { outcome: outcomeOf(clock, "dns_nodata", { detail: "no addresses" }) };
      if (!steps.proxied && ZSCALER_DNS_BLOCK_ADDRESSES.includes(first)) {
        return { outcome: outcomeOf(clock, "dns_zscaler_block", { detail: `${shown(name)} resolved to Zscaler's DNS block address ${first}` }) };
      }
      address = first;
    } else {
      address = steps.dial.ip;
    }
    const dialAddress = address;

    const authority = `${isIP(steps.host) === 6 ? `[${steps.host}]` : steps.host}:${steps.port}`;
    const connected = await clock.phase("connect", async (): Promise<Step<Socket>> => {
      const tcp = await openTcp(dialAddress, steps.dial.port, signal, sockets);
      // A proxy that takes the connection and drops it at once failed as a proxy.
      if (!tcp.ok && steps.proxied && tcp.reason === "http_error") return { ...tcp, reason: "proxy_error" };
      if (!tcp.ok || !steps.proxied || steps.scheme === "http") return tcp;
      return proxyConnect(tcp.value, authority, signal);
    });
    if (!connected.ok) return { outcome: outcomeOf(clock, connected.reason, { address, detail: connected.detail, status: connected.status }) };

    let stream: Socket = connected.value;
    let tlsSummary: HttpTlsSummary | undefined;
    if (steps.scheme === "https") {
      const secured = await clock.phase("tls", () => handshake(connected.value, steps.tls, signal, sockets));
      if (!secured.ok) return { outcome: outcomeOf(clock, secured.reason, { address, detail: secured.detail }) };
      tlsSummary = secured.value.summary;
      const refusal = judgeTls(secured.value, steps.tls);
      if (refusal !== undefined) return { outcome: outcomeOf(clock, refusal.reason, { address, tls: tlsSummary, detail: refusal.detail }) };
      stream = secured.value.socket;
    }

    const requestTarget = steps.proxied && steps.scheme === "http" ? `http://${hostPort(steps.host, steps.port, 80)}${steps.path}` : steps.path;
    const answered = await clock.phase("processing", () => exchange(stream, steps, requestTarget, options.captureBody === true, signal));
    if (!answered.ok) return { outcome: outcomeOf(clock, answered.reason, { address, tls: tlsSummary, detail: answered.detail }) };
    const response = answered.value;
    const verdict = judgeResponse(response, steps.expect);
    const outcome = outcomeOf(clock, verdict.reason, { address, tls: tlsSummary, status: response.status, bodyBytes: response.bodyBytes, detail: verdict.detail });
    return options.captureBody === true ? { outcome, body: response.kept } : { outcome };
  } catch (error) {
    return { outcome: outcomeOf(clock, "agent_error", { address, detail: describeError(error) }) };
  } finally {
    // Outermost first: the TLS socket, then the TCP socket under it.
    for (const socket of [...sockets].reverse()) socket.destroy();
    deadline?.dispose();
  }
}

/** The HTTP(S) prober, in the shared prober shape (target, context) -> outcome. */
export async function httpProber(target: HttpTarget, context: ProbeContext): Promise<HttpOutcome> {
  if (target.checkPage !== true) return (await httpExchange(target, context)).outcome;
  // The page is read here, where it was fetched (in the pod for a pod source): only its
  // reading travels back, never the body.
  const { outcome, body } = await httpExchange(target, context, { captureBody: true });
  return body === undefined ? outcome : { ...outcome, checkPage: parseCheckPage(body) };
}

/**
 * An HTTP check's settings (the config's `http:` block without its address): bound to each
 * concrete address of the edge, whose name (or IP) makes the URL's host, the Host header and
 * the SNI unless hostHeader or tls.sni say otherwise.
 */
export interface HttpCheck {
  readonly scheme: "http" | "https";
  /** Path and query, starting with "/". */
  readonly path: string;
  readonly method: "GET" | "HEAD";
  readonly expectStatus: readonly StatusRange[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly maxBodyBytes: number;
  readonly hostHeader?: string;
  /** "http://host:port" (zscaler:<cloud> is made one by the config). */
  readonly proxy?: string;
  readonly tls?: HttpTlsOptions;
  /** A path check (`zscalerPath:`): the response is Zscaler's check page, the path it shows is expected to be this. */
  readonly zscalerPath?: { readonly expect: PathExpectation };
}

function bindHttp(check: HttpCheck, address: ProbeAddress): HttpTarget {
  const { scheme, path, method, expectStatus, maxBodyBytes, headers, hostHeader, proxy, tls, zscalerPath } = check;
  const host = address.host ?? address.ip ?? "";
  return {
    scheme,
    host,
    port: address.port,
    path,
    method,
    expectStatus,
    maxBodyBytes,
    // A name and its address, without a proxy: connect there, the name for Host and SNI.
    ...(address.ip !== undefined && address.host !== undefined && proxy === undefined ? { ip: address.ip } : {}),
    ...(headers !== undefined ? { headers } : {}),
    ...(hostHeader !== undefined ? { hostHeader } : {}),
    ...(proxy !== undefined ? { proxy } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...(zscalerPath !== undefined ? { checkPage: true } : {}),
  };
}

/** Whether the name resolved is the source's business: the proxy's, or the target's, unless an address or a DNS server is given. */
function resolvesThroughSource(target: HttpTarget): boolean {
  if (target.dnsServer !== undefined) return false;
  if (target.proxy !== undefined) {
    const proxy = parseProxy(target.proxy);
    return proxy.ok && !isIpLiteral(proxy.value.host);
  }
  if (target.ip !== undefined) return false;
  const where = targetAddress(target);
  return where.ok && !isIpLiteral(where.value.host);
}

export const httpProbe: ProberModule<HttpTarget, HttpReason, HttpCheck> = {
  run: httpProber,
  reasons: HTTP_REASON_DECLARATION,
  check: {
    protocol: "TCP",
    target: bindHttp,
    via: (check) => {
      if (check.proxy === undefined) return undefined;
      const proxy = parseProxy(check.proxy);
      return proxy.ok ? proxy.value : undefined;
    },
    pathExpect: (check) => check.zscalerPath?.expect,
  },
  usesSourceResolvers: resolvesThroughSource,
};
