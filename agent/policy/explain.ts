// Verdicts in words: what a person reads in the check table, the agent's log lines
// and Kubernetes Events. Short sentences naming policies and rules.

import type { DirectionVerdict, PolicyVerdict, RuleRef } from "./model.js";

export function formatRule(ref: RuleRef): string {
  return `${ref.policy} spec.${ref.direction}[${ref.rule}]`;
}

export function describeDirection(direction: DirectionVerdict): string {
  const what = `${direction.direction} of ${direction.subject}`;
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
  const decisive = [verdict.egress, verdict.ingress].filter((d) => d.isolated);
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
