// Connections to a Service: NetworkPolicy acts after the Service address is translated
// to a backend pod, so the verdict is the backends' verdicts, and they may disagree.

import type { PodInfo, Protocol, ServiceInfo } from "../objects/model.js";
import { type Endpoint, evaluateConnection, type PolicyIndex, resolveNamedPort } from "./engine.js";
import type { PolicyVerdict } from "./model.js";
import { compileSelector } from "./selectors.js";

export interface BackendVerdict {
  readonly pod: PodInfo;
  readonly port: number;
  readonly verdict: PolicyVerdict;
}

export type ServiceVerdict =
  | { readonly kind: "agreed"; readonly verdict: PolicyVerdict; readonly backends: readonly BackendVerdict[] }
  | { readonly kind: "backends_disagree"; readonly backends: readonly BackendVerdict[] }
  | { readonly kind: "no_backends"; readonly reason: string };

/** The pods a Service's selector picks in its namespace (none for a selector-less Service). */
export function serviceBackends(index: PolicyIndex, service: ServiceInfo): PodInfo[] {
  if (service.selector === undefined || Object.keys(service.selector).length === 0) return [];
  const matches = compileSelector({ matchLabels: service.selector, matchExpressions: [] });
  const backends: PodInfo[] = [];
  for (const pod of index.podsByKey.values()) {
    if (pod.namespace === service.namespace && matches(pod.labels)) backends.push(pod);
  }
  return backends;
}

export function evaluateServiceConnection(
  index: PolicyIndex,
  from: Endpoint,
  service: ServiceInfo,
  port: number,
  protocol: Protocol,
): ServiceVerdict {
  const servicePort = service.ports.find((p) => p.port === port && p.protocol === protocol);
  if (!servicePort) {
    return { kind: "no_backends", reason: `Service ${service.namespace}/${service.name} has no ${protocol} port ${port}` };
  }
  const backends: BackendVerdict[] = [];
  for (const pod of serviceBackends(index, service)) {
    // A named targetPort resolves on each backend, and may differ between them.
    const target = typeof servicePort.targetPort === "number" ? servicePort.targetPort : resolveNamedPort(pod, servicePort.targetPort, protocol);
    if (target === undefined) continue;
    backends.push({ pod, port: target, verdict: evaluateConnection(index, { from, to: { kind: "pod", pod }, port: target, protocol }) });
  }
  const [first] = backends;
  if (!first) return { kind: "no_backends", reason: `Service ${service.namespace}/${service.name} selects no pods serving port ${port}/${protocol}` };
  const disagree = backends.some((b) => b.verdict.verdict !== first.verdict.verdict || b.verdict.determinate !== first.verdict.determinate);
  return disagree ? { kind: "backends_disagree", backends } : { kind: "agreed", verdict: first.verdict, backends };
}
