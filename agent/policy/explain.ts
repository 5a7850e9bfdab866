// Verdicts in words: what a person reads in the check table, the agent's log lines
// and Kubernetes Events. Short sentences naming policies and rules.

import type { DirectionVerdict, PolicyVerdict, RuleRef, TierStep } from "./model.js";

export function formatRule(ref: RuleRef): string {
  // Admin-tier policies are cluster-scoped: named with their kind instead of a namespace.
  const policy = ref.kind !== undefined ? `${ref.kind} ${ref.policy}` : ref.policy;
  return `${policy} spec.${ref.direction}[${ref.rule}]`;
}

/** The rule with its name, when an admin rule has one: "AdminNetworkPolicy a spec.egress[0] (deny-dns)". */
export function formatNamedRule(ref: RuleRef): string {
  return ref.ruleName !== undefined ? `${formatRule(ref)} (${ref.ruleName})` : formatRule(ref);
}

const ACTION_WORDS = { Allow: "allowed", Deny: "denied", Pass: "passed" } as const;

function describeStep(step: TierStep, direction: DirectionVerdict): string | undefined {
  if (step.tier === "networkpolicy") {
    if (step.action === "NoMatch") return "not isolated by any NetworkPolicy";
    if (step.action === "Allow") return `allowed by ${direction.allowedBy.map(formatRule).join(", ")}`;
    return `denied (isolated by ${direction.policies.join(", ")}; no rule admits this peer and port)`;
  }
  if (step.action === "NoMatch") return step.tier === "baseline" ? "no BaselineAdminNetworkPolicy rule matches" : undefined;
  const ref: RuleRef = {
    policy: step.policy ?? "",
    direction: direction.direction,
    rule: step.rule ?? 0,
    kind: step.tier === "admin" ? "AdminNetworkPolicy" : "BaselineAdminNetworkPolicy",
    ...(step.ruleName !== undefined ? { ruleName: step.ruleName } : {}),
  };
  return `${ACTION_WORDS[step.action]} by ${formatNamedRule(ref)}`;
}

/** The path through AdminNetworkPolicy, NetworkPolicy and BaselineAdminNetworkPolicy. */
function describeTiers(what: string, direction: DirectionVerdict, steps: readonly TierStep[]): string {
  if (steps.every((step) => step.action === "NoMatch")) {
    const baseline = steps.some((step) => step.tier === "baseline") ? ", no BaselineAdminNetworkPolicy rule matches" : "";
    return `${what}: not isolated (no AdminNetworkPolicy rule matches, no NetworkPolicy selects it for ${direction.direction}${baseline})`;
  }
  const parts = steps.flatMap((step) => describeStep(step, direction) ?? []);
  const last = steps[steps.length - 1];
  // Falling through the last tier without a match admits the connection.
  const tail = last !== undefined && last.action === "NoMatch" ? ": allowed" : "";
  return `${what}: ${parts.join(", then ")}${tail}`;
}

export function describeDirection(direction: DirectionVerdict): string {
  const what = `${direction.direction} of ${direction.subject}`;
  if (direction.tiers !== undefined) return describeTiers(what, direction, direction.tiers);
  if (!direction.applies) return `${what}: no NetworkPolicy applies`;
  if (!direction.isolated) return `${what}: not isolated (no policy selects it for ${direction.direction})`;
  const by = direction.policies.join(", ");
  if (direction.allowed) {
    return `${what}: allowed by ${direction.allowedBy.map(formatRule).join(", ")}`;
  }
  return `${what}: denied (isolated by ${by}; no rule admits this peer and port)`;
}

/** One line: the verdict and the deciding reason. */
export function summarizeVerdict(verdict: PolicyVerdict): string {
  const denied = [verdict.egress, verdict.ingress].filter((d) => !d.allowed);
  const head = verdict.determinate ? verdict.verdict : `${verdict.verdict} (undetermined)`;
  if (denied.length > 0) return `${head}: ${denied.map(describeDirection).join("; ")}`;
  const decisive = [verdict.egress, verdict.ingress].filter((d) => d.isolated || d.tiers?.some((step) => step.action !== "NoMatch"));
  if (decisive.length === 0) return `${head}: no policy isolates either side`;
  return `${head}: ${decisive.map(describeDirection).join("; ")}`;
}

/** Every line of the explanation: both directions, then notes. */
export function explainVerdict(verdict: PolicyVerdict): string[] {
  return [
    describeDirection(verdict.egress),
    describeDirection(verdict.ingress),
    ...verdict.notes.map((note) => `${note.kind.replace("_", "-")}: ${note.message}`),
  ];
}
