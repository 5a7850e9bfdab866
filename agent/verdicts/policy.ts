// What the policies say about one probe edge: the engine's verdict for the source's
// identity and the address actually probed, reduced to a stance and an explanation.

import type { IpAddress } from "../addresses/ip.js";
import type { Protocol } from "../cluster/snapshot.js";
import { type Endpoint, endpointForIp, evaluateConnection, type PolicyIndex } from "../policy/engine.js";
import { explainVerdict, formatRule, summarizeVerdict } from "../policy/explain.js";
import type { DirectionVerdict, PolicyVerdict } from "../policy/model.js";
import { evaluateServiceConnection } from "../policy/services.js";
import type { SourceIdentity } from "../sources/identity.js";
import type { PolicyStance } from "./judge.js";

export type { SourceIdentity } from "../sources/identity.js";

export interface EdgePolicy {
  readonly stance: PolicyStance;
  readonly summary: string;
  readonly lines: readonly string[];
  readonly verdict?: PolicyVerdict;
  /**
   * Set when the source's egress policies leave part of the target's published address
   * space uncovered (an annotator's finding: the Zscaler seam's coverage audit, for its
   * targets): what is missing, in words.
   */
  readonly coverageGap?: string;
  /** Bounded values for the _info metric: the deciding rule per direction. */
  readonly egressRule: string;
  readonly ingressRule: string;
  readonly cniDependent: boolean;
}

/** No verdict, and why (shown as the explanation). */
export function unknownPolicy(summary: string): EdgePolicy {
  return { stance: "unknown", summary, lines: [summary], egressRule: "unknown", ingressRule: "unknown", cniDependent: false };
}

function decidingRule(direction: DirectionVerdict): string {
  if (!direction.applies) return "not_applicable";
  // An admin tier can decide for a pod that no NetworkPolicy isolates.
  if (direction.deniedBy) return formatRule(direction.deniedBy);
  const first = direction.allowedBy[0];
  if (first) return formatRule(first);
  return direction.isolated ? "none" : "not_isolated";
}

function fromVerdict(verdict: PolicyVerdict, extra: readonly string[] = []): EdgePolicy {
  return {
    // Kubernetes leaves undefined corners open: judge nothing against a guess.
    stance: verdict.determinate ? verdict.verdict : "unknown",
    summary: summarizeVerdict(verdict),
    lines: [...extra, ...explainVerdict(verdict)],
    verdict,
    egressRule: decidingRule(verdict.egress),
    ingressRule: decidingRule(verdict.ingress),
    cniDependent: verdict.cniDependent,
  };
}

function sourceEndpoint(source: SourceIdentity): Endpoint | undefined {
  if (source.pod) return { kind: "pod", pod: source.pod };
  if (source.ip) return { kind: "ip", ip: source.ip };
  return undefined;
}

/**
 * index undefined: no cluster state yet. destination undefined: the target's address
 * is not known yet (its name has not resolved).
 */
export function policyForEdge(
  index: PolicyIndex | undefined,
  source: SourceIdentity,
  destination: IpAddress | undefined,
  port: number,
  protocol: Protocol,
): EdgePolicy {
  if (!index) return unknownPolicy("cluster state not synchronised yet");
  if (!index.hasPolicies) {
    // No NetworkPolicy anywhere: nothing isolates anything, whatever the address.
    const summary = "allow: the cluster state has no NetworkPolicy";
    return { stance: "allow", summary, lines: [summary], egressRule: "not_isolated", ingressRule: "not_isolated", cniDependent: false };
  }
  if (!destination) return unknownPolicy("the target's address is not known yet (its name has not resolved)");
  const service = index.servicesByIp.get(destination.text);
  const target = endpointForIp(index, destination);
  const from = sourceEndpoint(source);
  const outsideNote = source.pod ? [] : [`source ${source.name} is not a pod in the cluster state: treated as outside the cluster`];
  if (!from) {
    // Without a pod or an address, only a destination outside the cluster can be judged.
    if (!service && target.kind === "ip") {
      return {
        stance: "allow",
        summary: "allow: neither end is in the cluster, so no NetworkPolicy applies",
        lines: [...outsideNote, `${destination.text} is outside the cluster: no NetworkPolicy applies`],
        egressRule: "not_applicable",
        ingressRule: "not_applicable",
        cniDependent: false,
      };
    }
    return unknownPolicy(`source ${source.name} is outside the cluster and its address is unknown; ${destination.text} is in the cluster`);
  }
  if (service) {
    const result = evaluateServiceConnection(index, from, service, port, protocol);
    const via = `${destination.text} is Service ${service.namespace}/${service.name}: judged against its backends`;
    if (result.kind === "no_backends") return unknownPolicy(`${via}; ${result.reason}`);
    if (result.kind === "backends_disagree") {
      const lines = result.backends.map((b) => `backend ${b.pod.namespace}/${b.pod.name}: ${summarizeVerdict(b.verdict)}`);
      return { ...unknownPolicy(`${via}; its backends disagree (probe each endpoint to see which)`), lines: [via, ...lines] };
    }
    return fromVerdict(result.verdict, [...outsideNote, via]);
  }
  return fromVerdict(evaluateConnection(index, { from, to: target, port, protocol }), outsideNote);
}

/**
 * The explanation with the source pod named by its workload: "shop/deployment/web" where the
 * engine said "shop/web-7d9f8-x2x9q".
 */
export function namedByWorkload(policy: EdgePolicy, source: SourceIdentity): EdgePolicy {
  if (!source.podSource || !source.workload) return policy;
  const named = `${source.namespace}/${source.workload}`;
  // Whole names only: "shop/web-1" must not rename the "shop/web-1" inside "shop/web-10".
  const ownName = new RegExp(`(?<![\\w./-])${escapeRegExp(source.podSource)}(?![\\w.-])`, "g");
  const rename = (text: string) => text.replace(ownName, named);
  return { ...policy, summary: rename(policy.summary), lines: policy.lines.map(rename) };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
