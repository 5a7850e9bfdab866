// Naming a connection's ends in text: "namespace/pod", "kind/namespace/name" for a
// workload, or an IP address (which becomes its pod when a pod owns it).

import { isIpLiteral, parseIp } from "../addresses/ip.js";
import { type Endpoint, endpointForIp, type PolicyIndex } from "../policy/engine.js";
import { WORKLOAD_KINDS } from "./manifests.js";

export type EndpointResolution =
  | { readonly ok: true; readonly endpoint: Endpoint; readonly note?: string }
  | { readonly ok: false; readonly reason: string };

const KINDS = new Map(WORKLOAD_KINDS.map((kind) => [kind.toLowerCase(), kind.toLowerCase()]));
KINDS.set("pod", "pod");

export function resolveEndpoint(index: PolicyIndex, reference: string): EndpointResolution {
  const text = reference.trim();
  if (isIpLiteral(text)) {
    const parsed = parseIp(text);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    const endpoint = endpointForIp(index, parsed.value);
    if (endpoint.kind === "pod") {
      return { ok: true, endpoint, note: `${text} is the IP of pod ${endpoint.pod.namespace}/${endpoint.pod.name}` };
    }
    return { ok: true, endpoint };
  }
  const parts = text.split("/");
  if (parts.length === 2) {
    const pod = index.podsByKey.get(text);
    if (pod) return { ok: true, endpoint: { kind: "pod", pod } };
    return { ok: false, reason: `no pod ${text} in the manifests` };
  }
  if (parts.length === 3) {
    const [rawKind = "", namespace, name] = parts;
    const kind = KINDS.get(rawKind.toLowerCase());
    if (!kind) {
      return { ok: false, reason: `"${rawKind}" is not a workload kind (pod, ${WORKLOAD_KINDS.map((k) => k.toLowerCase()).join(", ")})` };
    }
    const key = kind === "pod" ? `${namespace}/${name}` : `${kind}/${namespace}/${name}`;
    const pod = index.podsByKey.get(key);
    if (pod) return { ok: true, endpoint: { kind: "pod", pod } };
    return { ok: false, reason: `no ${kind} ${namespace}/${name} in the manifests` };
  }
  return { ok: false, reason: `"${reference}" is not "namespace/pod", "kind/namespace/name" or an IP address` };
}
