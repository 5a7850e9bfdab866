// Label selectors (metav1.LabelSelector): matchLabels and matchExpressions are ANDed;
// an empty selector matches everything.

import type { Labels } from "../objects/model.js";
import type { LabelSelector, SelectorRequirement } from "./model.js";

export type LabelMatcher = (labels: Labels) => boolean;

const matchAll: LabelMatcher = () => true;

function compileRequirement({ key, operator, values }: SelectorRequirement): LabelMatcher {
  const set = new Set(values);
  switch (operator) {
    case "In":
      return (labels) => Object.hasOwn(labels, key) && set.has(labels[key] as string);
    // NotIn matches when the key is absent, as well as when its value is not listed.
    case "NotIn":
      return (labels) => !Object.hasOwn(labels, key) || !set.has(labels[key] as string);
    case "Exists":
      return (labels) => Object.hasOwn(labels, key);
    // DoesNotExist matches exactly when the key is absent.
    case "DoesNotExist":
      return (labels) => !Object.hasOwn(labels, key);
  }
}

export function compileSelector(selector: LabelSelector): LabelMatcher {
  const pairs = Object.entries(selector.matchLabels);
  const requirements = selector.matchExpressions.map(compileRequirement);
  if (pairs.length === 0 && requirements.length === 0) return matchAll;
  return (labels) => {
    for (const [key, value] of pairs) {
      if (labels[key] !== value || !Object.hasOwn(labels, key)) return false;
    }
    for (const requirement of requirements) {
      if (!requirement(labels)) return false;
    }
    return true;
  };
}

/** "app=web,tier in (a,b),!legacy" in kubectl's notation; "(all)" for the empty selector. */
export function formatSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels).map(([key, value]) => `${key}=${value}`);
  for (const { key, operator, values } of selector.matchExpressions) {
    if (operator === "Exists") parts.push(key);
    else if (operator === "DoesNotExist") parts.push(`!${key}`);
    else parts.push(`${key} ${operator === "In" ? "in" : "notin"} (${values.join(",")})`);
  }
  return parts.length === 0 ? "(all)" : parts.join(",");
}
