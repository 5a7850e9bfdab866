// What derivation needs of the cluster beyond the agent's own scope (cluster/scope.ts): the
// pods the egress rules of a deriving source's policies name, as scoped pod watches (a
// namespace and a label selector each), so that a live agent holds candidates for them. A
// peer naming no pods (an ipBlock, a rule with no `to`) needs none. Bounded: at most
// MAX_DERIVED_WATCHES; beyond that the first by key are kept (namespace, then selector), so the
// same cluster state always leaves out the same ones, and the rules those left out would have
// served are named: their candidates were never looked at, and rule coverage says so instead of
// "no destination" (derive.ts). Pure: the index, the snapshot and the sources in.

import type { ClusterSnapshot } from "../cluster/snapshot.js";
import type { AdminPeer } from "../policy/admin-model.js";
import { type PolicyIndex, selectingPolicies } from "../policy/engine.js";
import { labelsOfNamespace } from "../policy/endpoints.js";
import { formatRule } from "../policy/explain.js";
import type { LabelSelector } from "../policy/model.js";
import { rulesFor } from "../policy/rules.js";
import { compileSelector } from "../policy/selectors.js";
import type { SourceIdentity } from "../sources/identity.js";

/** Pod watches derivation may add to one agent's scope. */
export const MAX_DERIVED_WATCHES = 64;

/** Why a rule whose pods were left out of the watches got no derived edge (rule coverage says it). */
export const NOT_WATCHED_REASON = `not watched: the agent's limit of ${MAX_DERIVED_WATCHES} derived pod watches is reached, so some or all of the pods this rule names were not looked at`;

export interface PodScope {
  readonly namespace: string;
  readonly selector: LabelSelector;
}

export interface DerivedScope {
  /** The watches to open: at most `max`, the first by key. */
  readonly watches: PodScope[];
  /** How many more were needed and are not opened. */
  readonly leftOut: number;
  /** The rules (formatRule names) that name pods of a watch left out. */
  readonly unwatchedRules: ReadonlySet<string>;
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

/** The watch's key: what makes two watches the same, and the order in which they are kept. */
function scopeKey(scope: PodScope): string {
  return `${scope.namespace}|${JSON.stringify(scope.selector)}`;
}

/** The pod watches the deriving sources' egress rules name (deduplicated, at most `max`), and what is left out. */
export function derivedPodScope(index: PolicyIndex, snapshot: ClusterSnapshot, sources: readonly SourceIdentity[], max = MAX_DERIVED_WATCHES): DerivedScope {
  // Every watch needed, with the rules that need it.
  const needed = new Map<string, { scope: PodScope; rules: Set<string> }>();
  const add = (scope: PodScope, rule: string) => {
    const key = scopeKey(scope);
    const entry = needed.get(key) ?? { scope, rules: new Set<string>() };
    entry.rules.add(rule);
    needed.set(key, entry);
  };
  for (const source of sources) {
    const pod = source.pod;
    if (!pod || pod.hostNetwork) continue;
    for (const policy of selectingPolicies(index, pod, "egress")) {
      policy.policy.egress.forEach((rule, at) => {
        const name = formatRule({ policy: policy.id, direction: "egress", rule: at });
        for (const peer of rule.peers ?? []) {
          if (peer.kind !== "pods") continue;
          const namespaces = peer.namespaceSelector === null ? [policy.policy.namespace] : namespacesMatching(index, peer.namespaceSelector);
          for (const namespace of namespaces) add({ namespace, selector: peer.podSelector ?? EVERY_POD }, name);
        }
      });
    }
    // Admin rules: their peers, from the policies as written (rulesFor names the ones that apply).
    for (const rule of rulesFor(index, pod, "egress")) {
      const { kind, policy, rule: at } = rule.ref;
      if (kind === undefined) continue;
      const written = kind === "AdminNetworkPolicy" ? snapshot.adminPolicies?.find((p) => p.name === policy) : snapshot.baselinePolicy;
      for (const peer of written?.egress[at]?.peers ?? []) for (const scope of adminPeerScopes(index, peer)) add(scope, rule.name);
    }
  }
  const keys = [...needed.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const watches = keys.slice(0, max).map((key) => (needed.get(key) as { scope: PodScope }).scope);
  const unwatchedRules = new Set<string>();
  for (const key of keys.slice(max)) for (const rule of (needed.get(key) as { rules: Set<string> }).rules) unwatchedRules.add(rule);
  return { watches, leftOut: Math.max(0, keys.length - max), unwatchedRules };
}
