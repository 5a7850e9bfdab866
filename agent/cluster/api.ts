// Talking to the Kubernetes API in plain wire JSON over undici, authenticated by
// @kubernetes/client-node's kubeconfig handling (RequestContext, applySecurityAuthentication
// and the dispatcher it configures: tokens, client certificates, CAs, exec plugins, proxies).
// Lists and watch events then share one object form (the generated API classes would hand
// back model instances that differ from watch objects), and the agent needs none of the
// generated code (see kube-client.ts). Everything read from the server is bounded: a list
// or lookup body, a watch event line, a Status body; a watch that goes quiet for longer than
// the server's bookmark period is a failure, not a hang.

import type { KubeConfig } from "@kubernetes/client-node";
import { kubeClient } from "./kube-client.js";
import type { ListPage } from "./reflector.js";

/** A response other than 2xx, with the API's status code and its Status message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export const REQUEST_TIMEOUT_MS = 60_000;

/**
 * The most one response body (a list page, a lookup) or one watch event may take: a page of
 * 500 pods with their managed fields is a few MiB; more than this is a broken or hostile server,
 * and would not fit the agent's heap once parsed.
 */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** How much of a failed response's body is read for its Status message. */
const MAX_ERROR_BYTES = 64 * 1024;

/**
 * The metadata-only representation (meta.k8s.io/v1 PartialObjectMetadata): names, labels,
 * resourceVersion; no spec, no status. A list asks for the list form, a watch for the form
 * of one object (each event carries one).
 */
export const METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
export const METADATA_WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

/** What the server sent for one request: objects (list items, watch events) and body bytes. */
export type ReceivedSink = (objects: number, bytes: number) => void;

export interface RequestOptions {
  /** Headers and body within this long (default 60 s). */
  readonly timeoutMs?: number;
  readonly query?: Record<string, string | number | undefined>;
  readonly body?: unknown;
  /** For PATCH: application/merge-patch+json, application/json-patch+json, ... */
  readonly contentType?: string;
  readonly accept?: string;
  readonly signal?: AbortSignal;
  /** The response body may not be longer (default MAX_RESPONSE_BYTES). */
  readonly maxBytes?: number;
  /** Told the bytes of the response body (objects: 0; the caller counts them). */
  readonly received?: ReceivedSink;
}

/** The request URL and the authenticated request context for it (client-node's auth, exactly). */
async function prepare(kubeConfig: KubeConfig, method: "GET" | "POST" | "PATCH", path: string, query: Record<string, string | number | undefined> = {}) {
  // undici (the dispatcher client-node's auth configures) is loaded with the client, in live mode only.
  const [{ RequestContext, HttpMethod }, { fetch }] = await Promise.all([kubeClient(), import("undici")]);
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  const context = new RequestContext(url.toString(), HttpMethod[method]);
  await kubeConfig.applySecurityAuthentication(context);
  return { fetch, url, context };
}

/** A body too long for its bound: the request fails, nothing of it is kept. */
export class BodyTooLargeError extends Error {
  constructor(what: string, limit: number) {
    super(`${what} is larger than ${limit} bytes: refused`);
    this.name = "BodyTooLargeError";
  }
}

/** The whole body, read chunk by chunk and cut off (an error) past maxBytes. */
async function readBounded(body: AsyncIterable<Uint8Array> | null, maxBytes: number, what: string): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new BodyTooLargeError(what, maxBytes);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, size);
}

/** The API's Status message of a failed response, or the start of its body. */
async function failureOf(method: string, path: string, response: { status: number; body: AsyncIterable<Uint8Array> | null }): Promise<ApiError> {
  let text = "";
  try {
    text = (await readBounded(response.body, MAX_ERROR_BYTES, "the error body")).toString("utf8");
  } catch {
    // an error body past its bound: the status code says enough
  }
  let message = text.slice(0, 300);
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {
    // not a Status object: keep the start of the body
  }
  return new ApiError(`${method} ${path}: ${response.status} ${message}`, response.status);
}

export async function requestJson(kubeConfig: KubeConfig, method: "GET" | "POST" | "PATCH", path: string, options: RequestOptions = {}): Promise<unknown> {
  const { fetch, url, context } = await prepare(kubeConfig, method, path, options.query);
  const timeout = AbortSignal.timeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS);
  const response = await fetch(url, {
    method,
    headers: {
      ...context.getHeaders(),
      accept: options.accept ?? "application/json",
      ...(options.body !== undefined ? { "content-type": options.contentType ?? "application/json" } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    dispatcher: context.getDispatcher() as never,
    signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
  });
  if (!response.ok) throw await failureOf(method, path, response);
  const body = await readBounded(response.body, options.maxBytes ?? MAX_RESPONSE_BYTES, `the response to ${method} ${path}`);
  options.received?.(0, body.byteLength);
  const text = body.toString("utf8");
  return text === "" ? undefined : (JSON.parse(text) as unknown);
}

export interface ListOptions {
  readonly limit?: number;
  readonly continueToken?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** "0": any recent state, served from the API server's watch cache (no pagination). */
  readonly resourceVersion?: string;
  readonly accept?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  readonly received?: ReceivedSink;
}

/** One page of a list: items, the list's resourceVersion, and the continue token if more. */
export async function listPage(kubeConfig: KubeConfig, path: string, options: ListOptions = {}): Promise<ListPage> {
  let bytes = 0;
  const body = (await requestJson(kubeConfig, "GET", path, {
    query: {
      limit: options.limit,
      continue: options.continueToken,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      resourceVersion: options.resourceVersion,
    },
    ...(options.accept ? { accept: options.accept } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    received: (_objects, size) => (bytes = size),
  })) as { items?: unknown[]; metadata?: { resourceVersion?: string; continue?: string } } | undefined;
  const items = Array.isArray(body?.items) ? body.items : [];
  options.received?.(items.length, bytes);
  return {
    items,
    resourceVersion: body?.metadata?.resourceVersion ?? "",
    ...(body?.metadata?.continue ? { continueToken: body.metadata.continue } : {}),
  };
}

export interface WatchOptions {
  readonly query: Record<string, string | number | boolean | undefined>;
  readonly accept?: string;
  /** Aborts the watch (the stream ends; the promise resolves). */
  readonly signal: AbortSignal;
  /** No byte from the server for this long (an event or a bookmark) ends the watch as a TimeoutError. */
  readonly inactivityMs: number;
  /** Until the response headers arrive (default 60 s). */
  readonly connectTimeoutMs?: number;
  /** One event line may not be longer (default MAX_RESPONSE_BYTES). */
  readonly maxLineBytes?: number;
  readonly received?: ReceivedSink;
}

function timeoutError(message: string): Error {
  const error = new Error(message);
  error.name = "TimeoutError";
  return error;
}

/**
 * One watch request: each newline-delimited event is parsed and handed to onEvent (which may
 * throw to end the watch with that error). Resolves when the server ends the stream or the
 * signal aborts it; rejects on a non-200 answer (ApiError), a connection failure, a line
 * longer than its bound, a line that is not JSON, or inactivity (a TimeoutError).
 */
export async function watchStream(
  kubeConfig: KubeConfig,
  path: string,
  options: WatchOptions,
  onEvent: (type: string, object: unknown) => void,
): Promise<void> {
  const { fetch, url, context } = await prepare(kubeConfig, "GET", path, { ...stringify(options.query), watch: "true" });
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal.reason);
  if (options.signal.aborted) return;
  options.signal.addEventListener("abort", onAbort, { once: true });
  let timedOut: Error | undefined;
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number, message: string) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = timeoutError(message);
      controller.abort(timedOut);
    }, ms);
    timer.unref();
  };
  const maxLine = options.maxLineBytes ?? MAX_RESPONSE_BYTES;
  try {
    arm(options.connectTimeoutMs ?? REQUEST_TIMEOUT_MS, `no answer to the watch within ${options.connectTimeoutMs ?? REQUEST_TIMEOUT_MS} ms`);
    const response = await fetch(url, {
      method: "GET",
      headers: { ...context.getHeaders(), accept: options.accept ?? "application/json" },
      dispatcher: context.getDispatcher() as never,
      signal: controller.signal,
    });
    if (response.status !== 200) throw await failureOf("GET", path, response);
    const quiet = `nothing from the watch for ${options.inactivityMs} ms`;
    arm(options.inactivityMs, quiet);
    let pending: Buffer[] = [];
    let pendingSize = 0;
    for await (const raw of response.body ?? []) {
      arm(options.inactivityMs, quiet);
      const chunk = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      options.received?.(0, chunk.byteLength);
      let start = 0;
      for (let newline = chunk.indexOf(10, start); newline >= 0; newline = chunk.indexOf(10, start)) {
        const part = chunk.subarray(start, newline);
        start = newline + 1;
        if (pendingSize + part.byteLength > maxLine) throw new BodyTooLargeError("a watch event", maxLine);
        const line = pending.length === 0 ? part : Buffer.concat([...pending, part], pendingSize + part.byteLength);
        pending = [];
        pendingSize = 0;
        if (line.byteLength === 0) continue;
        dispatch(line, onEvent, options.received);
      }
      const rest = chunk.subarray(start);
      if (rest.byteLength > 0) {
        pendingSize += rest.byteLength;
        if (pendingSize > maxLine) throw new BodyTooLargeError("a watch event", maxLine);
        // The chunk's buffer may be reused by the stream: keep a copy of the partial line.
        pending.push(Buffer.from(rest));
      }
    }
  } catch (error) {
    if (timedOut) throw timedOut;
    if (options.signal.aborted) return;
    throw error;
  } finally {
    if (timer) clearTimeout(timer);
    options.signal.removeEventListener("abort", onAbort);
    controller.abort();
  }
}

function dispatch(line: Buffer, onEvent: (type: string, object: unknown) => void, received: ReceivedSink | undefined): void {
  let event: unknown;
  try {
    event = JSON.parse(line.toString("utf8"));
  } catch {
    throw new Error("a watch event is not JSON");
  }
  if (typeof event !== "object" || event === null || typeof (event as { type?: unknown }).type !== "string") throw new Error("a watch event has no type");
  const { type, object } = event as { type: string; object?: unknown };
  if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") received?.(1, 0);
  onEvent(type, object);
}

function stringify(query: Record<string, string | number | boolean | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(query).map(([key, value]) => [key, value === undefined ? undefined : String(value)]));
}
