// Which identities each configured source stands for on this node, as the cluster state is
// now: the agent's own pod (self), or the labeled pods a pod source picks here. A selected
// pod on the host network is no source (it has no network namespace of its own): said once.

import type { SourceConfig } from "../config/model.js";
import type { PolicyIndex } from "../policy/engine.js";
import { podSourceIdentities, type PodSourceConfig, workloadOf } from "../sources/identities.js";
import type { SourceIdentity } from "../sources/identity.js";
import type { SelfIdentity } from "./identity.js";
import type { Logger } from "../log/log.js";

export class SourceIdentities {
  /** Host-network pods already said to be skipped as sources. */
  private readonly skippedHostNetwork = new Set<string>();

  constructor(
    private readonly self: SelfIdentity,
    private readonly log: Logger,
  ) {}

  /**
   * Each source's identities, worked out once per call of of() (a pod source scans every pod),
   * however many probes name it.
   */
  of(sources: readonly SourceConfig[], index: PolicyIndex | undefined): (sourceName: string) => SourceIdentity[] {
    const self = this.self;
    const own = self.podNamespace && self.podName ? index?.podsByKey.get(`${self.podNamespace}/${self.podName}`) : undefined;
    const byName = new Map(sources.map((source) => [source.name, source]));
    const identitiesOf = (sourceName: string): SourceIdentity[] => {
      const source = byName.get(sourceName);
      if (source?.kind === "pods") return this.podIdentities(source, index);
      return [
        {
          name: sourceName,
          ...(own ? { pod: own, workload: workloadOf(own) } : {}),
          ...(self.podIp ? { ip: self.podIp } : {}),
          ...(self.podNamespace ? { namespace: self.podNamespace } : {}),
          node: self.nodeName,
        },
      ];
    };
    const known = new Map<string, SourceIdentity[]>();
    return (sourceName) => {
      let found = known.get(sourceName);
      if (found === undefined) {
        found = identitiesOf(sourceName);
        known.set(sourceName, found);
      }
      return found;
    };
  }

  /** A pod source's pods on this node (sources/identities.ts); a host-network pod is said once. */
  private podIdentities(source: PodSourceConfig, index: PolicyIndex | undefined): SourceIdentity[] {
    if (!index) return [];
    const { identities, hostNetwork } = podSourceIdentities(index, source, this.self.nodeName);
    for (const key of hostNetwork) {
      if (this.skippedHostNetwork.has(key)) continue;
      this.skippedHostNetwork.add(key);
      this.log.warn({ source: source.name, pod: key }, "labeled pod uses the host network: not a probe source (it has no network namespace of its own)");
    }
    // Forget pods that are gone or left the host network: the set stays as small as the cluster.
    for (const key of this.skippedHostNetwork) if (!index.podsByKey.get(key)?.hostNetwork) this.skippedHostNetwork.delete(key);
    return identities;
  }
}
