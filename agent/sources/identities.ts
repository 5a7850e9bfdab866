// Which labeled pods a pod source stands for on this node, and how results name them: by
// namespace and workload ("shop/deployment/web"), never by the pod's own name, so series
// and alerts survive a rollout. Pure functions over the cluster index and the config.

import type { PodInfo } from "../cluster/snapshot.js";
import type { AgentConfig } from "../config/model.js";
import type { PolicyIndex } from "../policy/engine.js";
import { labelsOfNamespace } from "../policy/endpoints.js";
import { compileSelector } from "../policy/selectors.js";
import type { SourceIdentity } from "./identity.js";

export type PodSourceConfig = Extract<AgentConfig["sources"][number], { kind: "pods" }>;

/** "deployment/web": how metrics and results name a source pod (never by its own name). */
export function workloadOf(pod: PodInfo): string {
  return pod.owner ? `${pod.owner.kind}/${pod.owner.name}` : "";
}

export interface PodSources {
  readonly identities: SourceIdentity[];
  /** Selected pods ("namespace/name") on the host network: no namespace of their own to probe from. */
  readonly hostNetwork: string[];
}

/** Whether a pod (not a workload's template), on any node and in any phase, is one the source's selectors pick. */
export function sourceSelects(index: PolicyIndex, source: PodSourceConfig): (pod: PodInfo) => boolean {
  const selectsPod = compileSelector(source.podSelector);
  const selectsNamespace = source.namespaceSelector ? compileSelector(source.namespaceSelector) : undefined;
  return (pod) => !pod.workload && selectsPod(pod.labels) && (!selectsNamespace || selectsNamespace(labelsOfNamespace(index, pod.namespace)));
}

/** The source's pods on this node: selected, Running, not terminating, with a network namespace of their own. */
export function podSourceIdentities(index: PolicyIndex, source: PodSourceConfig, nodeName: string): PodSources {
  const selects = sourceSelects(index, source);
  const identities: SourceIdentity[] = [];
  const hostNetwork: string[] = [];
  for (const pod of index.podsByKey.values()) {
    // Other nodes' pods are their agents' to probe from.
    if (pod.node !== nodeName || pod.phase !== "Running" || pod.terminating) continue;
    if (!selects(pod)) continue;
    const key = `${pod.namespace}/${pod.name}`;
    if (pod.hostNetwork) {
      hostNetwork.push(key);
      continue;
    }
    identities.push({ name: source.name, pod, ...(pod.ips[0] ? { ip: pod.ips[0] } : {}), namespace: pod.namespace, node: nodeName, workload: workloadOf(pod), podSource: key });
  }
  return { identities, hostNetwork };
}
