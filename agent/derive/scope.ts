// What derivation needs of the cluster beyond the agent's own scope (cluster/scope.ts): the
// pods the egress rules of a deriving source's policies name, as scoped pod watches (a
// namespace and a label selector each), so that a live agent holds candidates for them. A
// peer naming no pods (an ipBlock, a rule with no `to`) needs none. Bounded: at most
// MAX_DERIVED_WATCHES, in rule order. Pure: the index, the snapshot and the sources in.

import type { ClusterSnapshot } from "../cluster/snapshot.js";
import type { AdminPeer } from "../policy/admin-model.js";
import { type PolicyIndex, selectingPolicies } from "../policy/engine.js";
import { labelsOfNamespace } from "../policy/endpoints.js";
import type { LabelSelector } from "../policy/model.js";
import { rulesFor } from "../policy/rules.js";
import { compileSelector } from "../policy/selectors.js";
import type { SourceIdentity } from "../sources/identity.js";

/** Pod watches derivation may add to one agent's scope. */
export const MAX_DERIVED_WATCHES = 64;

export interface PodScope {
  readonly namespace: string;
  readonly selector: LabelSelector;
}

const EVERY_POD: LabelSelector = { matchLabels: {}, matchExpressions: [] };

function namespacesMatching(index: PolicyIndex, selector: LabelSelector): string[] {
  const matches = compileSelector(selector);
  return [...index.namespaces.keys()].filter((name) => matches(labelsOfNamespace(index, name))).sort();
}

function adminPeerScopes(index: PolicyIndex, peer: AdminPeer): PodScope[] {
  if (peer.kind !== "pods" && peer.kind !== "namespaces") return [];
  const selector = peer.kind === "pods" ? peer.podSelector : EVERY_POD;
  return namespacesMatching(index, peer.namespaceSelector).map((namespace) => ({ namespace, selector }));
}

/** The pod watches the deriving sources' egress rules name (deduplicated, at most `max`). */
export function derivedPodScope(index: PolicyIndex, snapshot: ClusterSnapshot, sources: readonly SourceIdentity[], max = MAX_DERIVED_WATCHES): PodScope[] {
  const found = new Map<string, PodScope>();
  const add = (scope: PodScope) => {
    if (found.size < max) found.set(`${scope.namespace}|${JSON.stringify(scope.selector)}`, scope);
  };
  for (const source of sources) {
    const pod = source.pod;
    if (!pod || pod.hostNetwork) continue;
    for (const policy of selectingPolicies(index, pod, "egress")) {
      for (const rule of policy.policy.egress) {
        for (const peer of rule.peers ?? []) {
          if (peer.kind !== "pods") continue;
          const namespaces = peer.namespaceSelector === null ? [policy.policy.namespace] : namespacesMatching(index, peer.namespaceSelector);
          for (const namespace of namespaces) add({ namespace, selector: peer.podSelector ?? EVERY_POD });
        }
      }
    }
    // Admin rules: their peers, from the policies as written (rulesFor names the ones that apply).
    for (const rule of rulesFor(index, pod, "egress")) {
      const { kind, policy, rule: at } = rule.ref;
      if (kind === undefined) continue;
      const written = kind === "AdminNetworkPolicy" ? snapshot.adminPolicies?.find((p) => p.name === policy) : snapshot.baselinePolicy;
      for (const peer of written?.egress[at]?.peers ?? []) for (const scope of adminPeerScopes(index, peer)) add(scope);
    }
  }
  return [...found.values()];
}
