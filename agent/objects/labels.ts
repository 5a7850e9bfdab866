// Label keys and values as the API server validates them.

import type { FieldPath } from "../documents/located.js";
import { describeType, type IssueList, isObject } from "../documents/fields.js";
import { DNS1123_SUBDOMAIN } from "./names.js";
import type { Labels } from "./model.js";

const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;

export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    return `label key "${key}" has an invalid prefix (a DNS subdomain)`;
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    return `label key "${key}" is invalid (63 characters at most: letters, digits, "-", "_", ".", starting and ending alphanumeric)`;
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !NAME.test(value)) {
    return `label value "${value}" is invalid (63 characters at most: letters, digits, "-", "_", ".", starting and ending alphanumeric)`;
  }
  return undefined;
}

/**
 * A map of labels. Values must be strings: YAML turns an unquoted `true` or `1` into
 * a boolean or number, which the API server rejects, so we do too (quote them).
 */
export function readLabels(value: unknown, path: FieldPath, issues: IssueList): Labels {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) {
    issues.add(path, `must be a map of labels, got ${describeType(value)}`);
    return {};
  }
  const labels: Record<string, string> = {};
  for (const [key, raw] of Object.entries(value)) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) issues.add([...path, key], keyProblem);
    if (typeof raw !== "string") {
      issues.add([...path, key], `label values must be strings, got ${describeType(raw)} (YAML reads true, yes, on, 0755 and the like as booleans and numbers: quote the value)`);
      continue;
    }
    const valueProblem = labelValueProblem(raw);
    if (valueProblem) issues.add([...path, key], valueProblem);
    labels[key] = raw;
  }
  return labels;
}
