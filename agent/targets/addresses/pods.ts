// Address kind "pods" (tcp: {pods: {namespace, selector}, port}): every running pod the
// selector picks, on a port number or a container port name resolved on each pod (this
// node's share beyond agent.maxEndpointsPerTarget).

import type { ClusterSnapshot, PodInfo } from "../../cluster/snapshot.js";
import type { PodsTargetConfig } from "../../config/model.js";
import { resolveNamedPort } from "../../policy/engine.js";
import { compileSelector, formatSelector } from "../../policy/selectors.js";
import { type AddressKindModule, atAddress, type ConcreteAddress, firstIp, oneOfMany, shareOf, UNKNOWN_STATE } from "./address.js";

/** The pods a pods target selects: in its namespace, real pods (not templates), not on the host network. */
export function selectedPods(target: PodsTargetConfig, snapshot: ClusterSnapshot | undefined): PodInfo[] {
  const matches = compileSelector(target.selector);
  return (snapshot?.pods ?? []).filter((pod) => pod.namespace === target.namespace && !pod.workload && !pod.hostNetwork && matches(pod.labels));
}

export const podsAddress: AddressKindModule<PodsTargetConfig> = {
  expand: (target, { snapshot, fanOut }) => {
    const name = `${target.namespace}/${formatSelector(target.selector)}`;
    const found: ConcreteAddress[] = [];
    for (const pod of selectedPods(target, snapshot)) {
      const ip = firstIp(pod.ips);
      const port = typeof target.port === "number" ? target.port : resolveNamedPort(pod, target.port, "TCP");
      if (ip && port !== undefined) found.push(oneOfMany(atAddress(ip, port, name, "pods", `${pod.namespace}/${pod.name}`)));
    }
    return shareOf(found, fanOut);
  },
  whyEmpty: (target, { snapshot }) => {
    const what = `pods ${target.namespace}/${formatSelector(target.selector)}`;
    if (!snapshot) return `${what}: ${UNKNOWN_STATE}`;
    const pods = selectedPods(target, snapshot);
    if (pods.length === 0) return `no pod in namespace ${target.namespace} matches ${formatSelector(target.selector)}`;
    const lacking = typeof target.port === "string" ? `an IP and a TCP port named "${target.port}"` : "an IP";
    return `${pods.length} ${pods.length === 1 ? "pod matches" : "pods match"} ${formatSelector(target.selector)} in namespace ${target.namespace}, but none has ${lacking}`;
  },
};
