// The ends of a connection, as the engine and the admin tiers both see them.

import type { IpAddress } from "../addresses/ip.js";
import { type Labels, namespaceLabels, type PodInfo, type Protocol } from "../objects/model.js";
import type { PolicyIndex } from "./engine.js";

/** A pod of the cluster, or an address outside it. */
export type Endpoint = { readonly kind: "pod"; readonly pod: PodInfo } | { readonly kind: "ip"; readonly ip: IpAddress };

/** A namespace's labels; one we were not told about still carries its name label. */
export function labelsOfNamespace(index: PolicyIndex, name: string): Labels {
  return index.namespaces.get(name)?.labels ?? namespaceLabels(name);
}

/** A named port resolves on the destination pod, by name and protocol. */
export function resolveNamedPort(pod: PodInfo, name: string, protocol: Protocol): number | undefined {
  return pod.ports.find((p) => p.name === name && p.protocol === protocol)?.port;
}

/** "namespace/pod", "kind/namespace/name" for a workload, or the address. */
export function describeEndpoint(endpoint: Endpoint): string {
  if (endpoint.kind === "ip") return endpoint.ip.text;
  const pod = endpoint.pod;
  return pod.workload ? `${pod.workload.kind}/${pod.namespace}/${pod.workload.name}` : `${pod.namespace}/${pod.name}`;
}
