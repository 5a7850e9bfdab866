// Reading the Kubernetes API as plain wire JSON, authenticated by @kubernetes/client-node
// exactly as its Watch is. Lists and watch events then share one object form (the
// generated API classes would hand back model instances that differ from watch objects).

import { HttpMethod, type KubeConfig, RequestContext } from "@kubernetes/client-node";
import { fetch } from "undici";
import type { ListPage } from "./reflector.js";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

const LIST_TIMEOUT_MS = 60_000;

export async function getJson(kubeConfig: KubeConfig, path: string, query: Record<string, string | number | undefined> = {}): Promise<unknown> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  const context = new RequestContext(url.toString(), HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  const response = await fetch(url, {
    method: "GET",
    headers: { ...context.getHeaders(), accept: "application/json" },
    dispatcher: context.getDispatcher() as never,
    signal: AbortSignal.timeout(LIST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not a Status object: keep the start of the body
    }
    throw new ApiError(`GET ${path}: ${response.status} ${message}`, response.status);
  }
  return JSON.parse(text) as unknown;
}

/** One page of a list: items, the list's resourceVersion, and the continue token if more. */
export async function listPage(kubeConfig: KubeConfig, path: string, limit: number, continueToken: string | undefined): Promise<ListPage> {
  const body = (await getJson(kubeConfig, path, { limit, continue: continueToken })) as {
    items?: unknown[];
    metadata?: { resourceVersion?: string; continue?: string };
  };
  return {
    items: Array.isArray(body.items) ? body.items : [],
    resourceVersion: body.metadata?.resourceVersion ?? "",
    ...(body.metadata?.continue ? { continueToken: body.metadata.continue } : {}),
  };
}
