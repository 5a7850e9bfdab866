// Reads what decides the dataplane from the API (the edge for inbound/detect.ts): kube-proxy's
// and Cilium's ConfigMaps in kube-system and Calico's FelixConfiguration "default". Each is one
// GET with a short deadline and a small body bound; a 403 (the opt-in RBAC addition is not
// bound) or a 404 (not installed) is an answer, not a failure, and nothing here is retried or
// cached: the caller decides how often to ask (the agent: at start and then hourly at most).

import type { KubeConfig } from "@kubernetes/client-node";
import { isObject } from "../documents/fields.js";
import { ApiError, requestJson } from "../cluster/api.js";
import { type DataplaneObservations, type Observed } from "./detect.js";

/** The paths read, in the order detect.ts weighs them. */
export const DATAPLANE_PATHS = {
  kubeProxy: "/api/v1/namespaces/kube-system/configmaps/kube-proxy",
  cilium: "/api/v1/namespaces/kube-system/configmaps/cilium-config",
  felix: "/apis/crd.projectcalico.org/v1/felixconfigurations/default",
} as const;

/** A ConfigMap or a FelixConfiguration larger than this is refused (they are a few KiB). */
const MAX_BYTES = 1024 * 1024;
const TIMEOUT_MS = 10_000;

async function observe<T>(kubeConfig: KubeConfig, path: string, pick: (body: unknown) => T | undefined, signal?: AbortSignal): Promise<Observed<T>> {
  try {
    const body = await requestJson(kubeConfig, "GET", path, { maxBytes: MAX_BYTES, timeoutMs: TIMEOUT_MS, ...(signal ? { signal } : {}) });
    const value = pick(body);
    return value === undefined ? { state: "failed", reason: "not the object expected" } : { state: "found", value };
  } catch (error) {
    if (error instanceof ApiError && error.code === 403) return { state: "forbidden" };
    if (error instanceof ApiError && error.code === 404) return { state: "absent" };
    return { state: "failed", reason: error instanceof Error ? error.message.slice(0, 200) : "unknown error" };
  }
}

/** A ConfigMap's string data (non-string values dropped). */
function configMapData(body: unknown): Record<string, string> | undefined {
  if (!isObject(body) || body["kind"] !== "ConfigMap") return undefined;
  const data = isObject(body["data"]) ? body["data"] : {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) if (typeof value === "string") out[key] = value;
  return out;
}

function felixSpec(body: unknown): Record<string, unknown> | undefined {
  if (!isObject(body) || body["kind"] !== "FelixConfiguration") return undefined;
  return isObject(body["spec"]) ? body["spec"] : {};
}

export async function readDataplaneObservations(kubeConfig: KubeConfig, signal?: AbortSignal): Promise<DataplaneObservations> {
  const [kubeProxy, cilium, felix] = await Promise.all([
    observe(kubeConfig, DATAPLANE_PATHS.kubeProxy, configMapData, signal),
    observe(kubeConfig, DATAPLANE_PATHS.cilium, configMapData, signal),
    observe(kubeConfig, DATAPLANE_PATHS.felix, felixSpec, signal),
  ]);
  return { kubeProxy, cilium, felix };
}
