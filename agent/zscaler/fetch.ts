// Fetching one Zscaler feed over HTTP: the I/O edge in front of the pure parsers (feeds.ts).
//
// - GET only (HEAD is reportedly refused by config.zscaler.com), conditional when validators
//   are known: If-None-Match / If-Modified-Since, and 304 becomes { kind: "not_modified" }.
// - One hard deadline per attempt covering connect, headers AND body (timeoutMs).
// - A size cap enforced while streaming: a Content-Length above maxBytes is refused before the
//   body is read, and a body that grows past maxBytes is aborted at once (too_large); no more
//   than maxBytes (plus one chunk) is ever held. A compressed body is capped on its decoded size.
// - Retries with exponential backoff and jitter for timeouts, connection errors, 5xx and 429
//   only (a Retry-After up to MAX_RETRY_AFTER_MS is honoured, a longer one ends the attempts:
//   the next refresh tries again). At most `retries` retries, so retries + 1 requests.
// - Never throws: every failure is a value with a bounded reason (for metric labels).
//
// Proxies and mirrors: `baseUrl` may point anywhere (http or https), and `dispatcher` takes any
// undici Dispatcher. The environment is NOT read here. The caller decides: it calls
// dispatcherFromEnvironment(baseUrl) once at start, which returns an undici ProxyAgent when
// HTTPS_PROXY / https_proxy (HTTP_PROXY / http_proxy for an http:// base URL) is set and the
// base URL's host is not excluded by NO_PROXY / no_proxy, and passes it as `dispatcher`. Through
// a ProxyAgent, https targets are tunnelled with CONNECT and http targets are forwarded as
// absolute-URI requests; credentials in the proxy URL become Proxy-Authorization.
//
// undici is loaded on first use, so importing this module costs nothing until a feed is fetched.

import { setTimeout as sleep } from "node:timers/promises";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { pipeline } from "node:stream";
import type { Readable, Transform } from "node:stream";
import type { Dispatcher } from "undici";
import { cidrContainsIp, parseCidr, parseIp } from "../addresses/ip.js";
import { startTimer } from "../schedule/timers.js";
import { describeError, errorCode } from "../text/errors.js";
import { redactUrl, redactUrlsIn } from "../text/url-credentials.js";
import type { FeedKind, FeedRefusalCode } from "./feeds.js";

export const DEFAULT_BASE_URL = "https://config.zscaler.com/api";

/** The cloud the ZPA feed belongs to, whatever ZIA cloud is configured. */
export const ZPA_CLOUD = "private.zscaler.com";

const MiB = 1024 * 1024;

/**
 * zscaler.maxBytes by default: 16 times the largest feed today (the CENR feed of zscaler.net,
 * 127 KiB). See docs/zscaler.md and bench/zscaler-feed-memory.mjs.
 */
export const DEFAULT_FEED_MAX_BYTES = 2 * MiB;

/**
 * The largest zscaler.maxBytes accepted: half the largest feed the agent took within its
 * DaemonSet limits (160 MiB of heap, a 256 MiB memory limit) while holding the state of 1,000
 * edges and a 10,000-pod cluster (8 MiB; 10 MiB was OOM-killed). Measured by
 * bench/zscaler-feed-memory.mjs (docs/benchmarks.md).
 */
export const FEED_MAX_BYTES_LIMIT = 4 * MiB;

/** Longest Retry-After waited for inside one fetch; a longer one ends the attempts. */
export const MAX_RETRY_AFTER_MS = 60_000;
/** Upper bound of one backoff delay. */
const MAX_BACKOFF_MS = 30_000;

/** The cloud a feed's payload names: the ZIA cloud, or private.zscaler.com for zpa. */
export function feedCloud(cloud: string, kind: FeedKind): string {
  return kind === "zpa" ? ZPA_CLOUD : cloud.trim().toLowerCase().replace(/\.$/, "");
}

/** The URL of one feed below a base URL ("https://config.zscaler.com/api" or a mirror). */
export function feedUrl(baseUrl: string, cloud: string, kind: FeedKind): string {
  const base = baseUrl.replace(/\/+$/, "");
  const at = encodeURIComponent(feedCloud(cloud, kind));
  switch (kind) {
    case "cenr":
      return `${base}/${at}/cenr/json`;
    case "hubs-required":
      return `${base}/${at}/hubs/cidr/json/required`;
    case "hubs-recommended":
      return `${base}/${at}/hubs/cidr/json/recommended`;
    case "future":
      return `${base}/${at}/future/json`;
    case "svpn":
      return `${base}/${at}/svpn/json`;
    case "zpa":
      return `${base}/${at}/zpa/json`;
  }
}

export interface Validators {
  readonly etag?: string;
  readonly lastModified?: string;
}

export interface FetchOptions {
  readonly baseUrl: string;
  /** Deadline of one attempt: connect, headers and the whole body. */
  readonly timeoutMs: number;
  /** Largest body accepted (decoded bytes). */
  readonly maxBytes: number;
  /** Retries after the first attempt (0: one request only). */
  readonly retries: number;
  /** First backoff delay; doubles per retry, with jitter. */
  readonly retryBaseMs: number;
  /** A proxy (ProxyAgent) or a custom agent; undici's global dispatcher when absent. */
  readonly dispatcher?: Dispatcher;
}

/** Why a fetch failed: transport reasons, then the parser's and checkShrink's refusal codes. */
export type FetchFailureReason = "timeout" | "connection" | "http_status" | "too_large" | FeedRefusalCode;


export type FetchResult =
  | { readonly kind: "fresh"; readonly text: string; readonly validators: Validators }
  | { readonly kind: "not_modified" }
  | { readonly kind: "failed"; readonly reason: FetchFailureReason; readonly message: string; readonly status?: number };

type Failed = Extract<FetchResult, { kind: "failed" }>;

/** One attempt's outcome, with what the retry loop needs to know. */
type Attempt =
  | { readonly result: Exclude<FetchResult, Failed>; readonly retry?: undefined }
  | { readonly result: Failed; readonly retry: boolean; readonly retryAfterMs?: number };

type Undici = typeof import("undici");
let undiciModule: Promise<Undici> | undefined;

function loadUndici(): Promise<Undici> {
  undiciModule ??= import("undici");
  return undiciModule;
}

/**
 * Fetches one feed's text. Never throws; an aborted `signal` ends it at once with a
 * "connection" failure whose message says "cancelled". Failure messages show no credentials
 * of the base URL (user:password@, query values): they are logged and printed.
 */
export async function fetchFeedText(
  cloud: string,
  kind: FeedKind,
  options: FetchOptions,
  validators?: Validators,
  signal?: AbortSignal,
): Promise<FetchResult> {
  const result = await fetchFeed(cloud, kind, options, validators, signal);
  return result.kind === "failed" ? { ...result, message: redactUrlsIn(result.message) } : result;
}

async function fetchFeed(cloud: string, kind: FeedKind, options: FetchOptions, validators: Validators | undefined, signal: AbortSignal | undefined): Promise<FetchResult> {
  let url: URL;
  try {
    url = new URL(feedUrl(options.baseUrl, cloud, kind));
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`unsupported scheme ${url.protocol}`);
  } catch (error: unknown) {
    return { kind: "failed", reason: "connection", message: `bad feed URL from base ${JSON.stringify(redactUrl(options.baseUrl))}: ${describeError(error)}` };
  }
  let undici: Undici;
  try {
    undici = await loadUndici();
  } catch (error: unknown) {
    return { kind: "failed", reason: "connection", message: `cannot load undici: ${describeError(error)}` };
  }
  const retries = Math.max(0, Math.floor(options.retries));
  let last: Failed | undefined;
  let attempts = 0;
  while (attempts <= retries) {
    if (signal?.aborted) return cancelled();
    let outcome: Attempt;
    try {
      outcome = await fetchOnce(undici, url, options, validators, signal);
    } catch (error: unknown) {
      // fetchOnce handles every failure it knows; this is the "never throws" backstop.
      outcome = { result: { kind: "failed", reason: "connection", message: describeError(error) }, retry: false };
    }
    attempts++;
    if (signal?.aborted) return cancelled();
    if (outcome.retry === undefined) return outcome.result;
    last = outcome.result;
    if (!outcome.retry || attempts > retries) break;
    const retryAfter = outcome.retryAfterMs;
    if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) {
      last = { ...last, message: `${last.message} (Retry-After ${Math.round(retryAfter / 1000)} s: not retrying now)` };
      break;
    }
    const delay = Math.max(backoffDelay(options.retryBaseMs, attempts - 1), retryAfter ?? 0);
    try {
      await sleep(delay, undefined, signal ? { signal } : {});
    } catch {
      return cancelled();
    }
  }
  const failure = last ?? { kind: "failed", reason: "connection", message: "no attempt made" };
  return attempts > 1 ? { ...failure, message: `${failure.message} (after ${attempts} attempts)` } : failure;
}

/** "Equal jitter": half the exponential delay fixed, half random, capped. */
export function backoffDelay(baseMs: number, attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(MAX_BACKOFF_MS, Math.max(0, baseMs) * 2 ** attempt);
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

function cancelled(): Failed {
  return { kind: "failed", reason: "connection", message: "cancelled" };
}

class DeadlineExceeded extends Error {}

async function fetchOnce(undici: Undici, url: URL, options: FetchOptions, validators: Validators | undefined, signal: AbortSignal | undefined): Promise<Attempt> {
  const controller = new AbortController();
  const deadline = new DeadlineExceeded(`no complete response within ${options.timeoutMs} ms`);
  const timer = startTimer(() => controller.abort(deadline), options.timeoutMs);
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let body: Readable | undefined;
  try {
    const headers: Record<string, string> = {
      accept: "application/json",
      "accept-encoding": "gzip, br",
      "user-agent": "netcanary",
    };
    if (validators?.etag) headers["if-none-match"] = validators.etag;
    if (validators?.lastModified) headers["if-modified-since"] = validators.lastModified;
    const response = await undici.request(url, {
      method: "GET",
      headers,
      signal: controller.signal,
      // Our own deadline covers both; undici's are only a backstop.
      headersTimeout: options.timeoutMs + 1000,
      bodyTimeout: options.timeoutMs + 1000,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
    body = response.body;
    const status = response.statusCode;
    const header = (name: string): string | undefined => {
      const value = response.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };

    if (status === 304) {
      body.on("error", () => undefined).resume();
      if (!validators?.etag && !validators?.lastModified) {
        return { result: { kind: "failed", reason: "http_status", status, message: "HTTP 304 to a request without validators" }, retry: false };
      }
      return { result: { kind: "not_modified" } };
    }
    if (status < 200 || status > 299) {
      const snippet = await readSnippet(body, 512);
      const retry = status >= 500 || status === 429;
      const retryAfterMs = parseRetryAfter(header("retry-after"));
      const location = status >= 300 && status < 400 && header("location") ? ` to ${header("location")} (redirects are not followed)` : "";
      const detail = snippet ? `: ${snippet}` : "";
      return {
        result: { kind: "failed", reason: "http_status", status, message: `HTTP ${status}${location} from ${url.href}${detail}` },
        retry,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }

    const declared = Number(header("content-length"));
    const encoding = (header("content-encoding") ?? "identity").trim().toLowerCase();
    if (encoding === "identity" && Number.isFinite(declared) && declared > options.maxBytes) {
      discard(body);
      return { result: tooLarge(`Content-Length ${declared} is over the ${options.maxBytes}-byte limit`), retry: false };
    }
    const read = await readCapped(body, encoding, options.maxBytes);
    if (!read.ok) return read.attempt;
    return {
      result: {
        kind: "fresh",
        text: new TextDecoder("utf-8").decode(read.bytes),
        validators: {
          ...(header("etag") ? { etag: header("etag") as string } : {}),
          ...(header("last-modified") ? { lastModified: header("last-modified") as string } : {}),
        },
      },
    };
  } catch (error: unknown) {
    if (body) discard(body);
    if (signal?.aborted) return { result: cancelled(), retry: false };
    if (controller.signal.aborted && controller.signal.reason === deadline) {
      return { result: { kind: "failed", reason: "timeout", message: `${deadline.message} from ${url.href}` }, retry: true };
    }
    return classifyError(error, url);
  } finally {
    timer.cancel();
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Ends a response body we no longer want. undici's body emits an AbortError when destroyed
 * before its end; nobody listens for it any more, so it is swallowed here, not thrown.
 */
function discard(stream: Readable): void {
  stream.on("error", () => undefined);
  stream.destroy();
}

function tooLarge(message: string): Failed {
  return { kind: "failed", reason: "too_large", message };
}

type Read = { readonly ok: true; readonly bytes: Uint8Array } | { readonly ok: false; readonly attempt: Attempt };

/** Reads the body, decoding gzip/deflate/br when sent, and stops as soon as maxBytes is passed. */
async function readCapped(body: Readable, encoding: string, maxBytes: number): Promise<Read> {
  let decoder: Transform | undefined;
  if (encoding === "gzip" || encoding === "x-gzip") decoder = createGunzip();
  else if (encoding === "deflate") decoder = createInflate();
  else if (encoding === "br") decoder = createBrotliDecompress();
  else if (encoding !== "identity") {
    discard(body);
    return { ok: false, attempt: { result: { kind: "failed", reason: "not_json", message: `unsupported Content-Encoding ${JSON.stringify(encoding)}` }, retry: false } };
  }
  // pipeline passes a socket error on to the decoder, so iterating the decoder sees it.
  if (decoder) pipeline(body, decoder, () => undefined);
  const source: Readable = decoder ?? body;
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) {
        discard(source);
        discard(body);
        const what = decoder ? "decoded body" : "body";
        return { ok: false, attempt: { result: tooLarge(`${what} passed the ${maxBytes}-byte limit; aborted the download`), retry: false } };
      }
      chunks.push(chunk);
    }
  } catch (error: unknown) {
    const code = errorCode(error);
    if (decoder && code?.startsWith("Z_") && code !== "Z_BUF_ERROR") {
      discard(body);
      return { ok: false, attempt: { result: { kind: "failed", reason: "not_json", message: `cannot decode the ${encoding} body: ${describeError(error)}` }, retry: false } };
    }
    throw error;
  }
  return { ok: true, bytes: Buffer.concat(chunks, total) };
}

/** The start of an error response, one line, for the log; the rest is discarded. */
async function readSnippet(body: Readable, limit: number): Promise<string> {
  let text = "";
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      text += chunk.toString("utf8");
      if (text.length >= limit) break;
    }
  } catch {
    // an error page cut short is still an error page
  } finally {
    discard(body);
  }
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1];
  const line = (title ?? text).replace(/\s+/g, " ").trim();
  return line.length > 160 ? `${line.slice(0, 159)}…` : line;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT", "ETIMEDOUT"]);

function classifyError(error: unknown, url: URL): Attempt {
  const code = errorCode(error);
  const message = `${describeError(error)} (${url.host})`;
  if (code !== undefined && TIMEOUT_CODES.has(code)) return { result: { kind: "failed", reason: "timeout", message }, retry: true };
  return { result: { kind: "failed", reason: "connection", message }, retry: true };
}

// ---------------------------------------------------------------------------------------------
// Proxy from the environment

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * The proxy URL to use for `targetUrl` under the usual variables, or undefined for a direct
 * connection. https targets use https_proxy / HTTPS_PROXY, http targets http_proxy / HTTP_PROXY
 * (lowercase first). NO_PROXY / no_proxy: comma- or space-separated entries; "*" matches every
 * host; "example.com" and ".example.com" match that domain and its subdomains; "host:port"
 * matches that port only; an IP address or CIDR ("10.0.0.0/8") matches addresses inside it.
 */
export function proxyForUrl(targetUrl: string, env: Environment = process.env): string | undefined {
  let url: URL;
  try {
    url = new URL(targetUrl);
  } catch {
    return undefined;
  }
  const proxy =
    url.protocol === "https:"
      ? (env["https_proxy"] ?? env["HTTPS_PROXY"])
      : url.protocol === "http:"
        ? (env["http_proxy"] ?? env["HTTP_PROXY"])
        : undefined;
  if (proxy === undefined || proxy.trim() === "") return undefined;
  const noProxy = env["no_proxy"] ?? env["NO_PROXY"] ?? "";
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase().replace(/\.$/, "");
  for (const raw of noProxy.split(/[\s,]+/)) {
    if (raw !== "" && noProxyMatches(raw.toLowerCase(), host, port)) return undefined;
  }
  const trimmed = proxy.trim();
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
}

function noProxyMatches(entry: string, host: string, port: string): boolean {
  if (entry === "*") return true;
  let pattern = entry;
  // "[::1]:8080", "host:8080"; a bare IPv6 address has several colons and no port.
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(pattern);
  if (bracketed) {
    pattern = bracketed[1] as string;
    if (bracketed[2] !== undefined && bracketed[2] !== port) return false;
  } else {
    const withPort = /^([^:]+):(\d+)$/.exec(pattern);
    if (withPort) {
      pattern = withPort[1] as string;
      if (withPort[2] !== port) return false;
    }
  }
  const ip = parseIp(host);
  if (ip.ok) {
    const cidr = parseCidr(pattern.includes("/") ? pattern : `${pattern}/${pattern.includes(":") ? 128 : 32}`);
    return cidr.ok && cidr.value.family === ip.value.family && cidrContainsIp(cidr.value, ip.value);
  }
  const domain = pattern.replace(/^\*?\./, "").replace(/\.$/, "");
  return domain !== "" && (host === domain || host.endsWith(`.${domain}`));
}

/**
 * An undici ProxyAgent for `baseUrl` when the environment names a proxy for it (see
 * proxyForUrl), else undefined (direct). The caller owns it: close it at shutdown.
 */
export async function dispatcherFromEnvironment(baseUrl: string = DEFAULT_BASE_URL, env: Environment = process.env): Promise<Dispatcher | undefined> {
  const proxy = proxyForUrl(baseUrl, env);
  if (proxy === undefined) return undefined;
  const { ProxyAgent } = await loadUndici();
  return new ProxyAgent({ uri: proxy });
}

/** A connection pool of our own for the feeds, so stopping can close every socket. */
export async function createFeedDispatcher(): Promise<Dispatcher> {
  const { Agent } = await loadUndici();
  return new Agent({ connections: 4, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 });
}
