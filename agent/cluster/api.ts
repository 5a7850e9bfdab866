// Talking to the Kubernetes API in plain wire JSON, authenticated by @kubernetes/client-node
// exactly as its Watch is. Lists and watch events then share one object form (the
// generated API classes would hand back model instances that differ from watch objects),
// and the agent needs none of the generated code (see kube-client.ts).

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

export interface RequestOptions {
  /** Headers and body within this long (default 60 s). */
  readonly timeoutMs?: number;
  readonly query?: Record<string, string | number | undefined>;
  readonly body?: unknown;
  /** For PATCH: application/merge-patch+json, application/json-patch+json, ... */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

export async function requestJson(kubeConfig: KubeConfig, method: "GET" | "POST" | "PATCH", path: string, options: RequestOptions = {}): Promise<unknown> {
  // undici (the dispatcher client-node's auth configures) is loaded with the client, in live mode only.
  const [{ RequestContext, HttpMethod }, { fetch }] = await Promise.all([kubeClient(), import("undici")]);
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + path);
  for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
  const context = new RequestContext(url.toString(), HttpMethod[method]);
  await kubeConfig.applySecurityAuthentication(context);
  const timeout = AbortSignal.timeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS);
  const response = await fetch(url, {
    method,
    headers: {
      ...context.getHeaders(),
      accept: "application/json",
      ...(options.body !== undefined ? { "content-type": options.contentType ?? "application/json" } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    dispatcher: context.getDispatcher() as never,
    signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
  });
  const text = await response.text();
  if (!response.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not a Status object: keep the start of the body
    }
    throw new ApiError(`${method} ${path}: ${response.status} ${message}`, response.status);
  }
  return text === "" ? undefined : (JSON.parse(text) as unknown);
}

/** One page of a list: items, the list's resourceVersion, and the continue token if more. */
export async function listPage(
  kubeConfig: KubeConfig,
  path: string,
  limit: number,
  continueToken: string | undefined,
  signal?: AbortSignal,
  timeoutMs?: number,
): Promise<ListPage> {
  const body = (await requestJson(kubeConfig, "GET", path, { query: { limit, continue: continueToken }, ...(signal ? { signal } : {}), ...(timeoutMs ? { timeoutMs } : {}) })) as {
    items?: unknown[];
    metadata?: { resourceVersion?: string; continue?: string };
  };
  return {
    items: Array.isArray(body.items) ? body.items : [],
    resourceVersion: body.metadata?.resourceVersion ?? "",
    ...(body.metadata?.continue ? { continueToken: body.metadata.continue } : {}),
  };
}
