// Reading untyped input (parsed YAML/JSON) field by field, reporting every problem
// at its path instead of stopping at the first one.

import type { FieldPath } from "./located.js";

export interface FieldIssue {
  readonly path: FieldPath;
  readonly message: string;
}

export class IssueList {
  readonly issues: FieldIssue[] = [];

  add(path: FieldPath, message: string): void {
    this.issues.push({ path, message });
  }

  get empty(): boolean {
    return this.issues.length === 0;
  }
}

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** An optional object field: undefined when absent or null; reported when of another type. */
export function objectAt(parent: Json, key: string, path: FieldPath, issues: IssueList): Json | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (isObject(value)) return value;
  issues.add([...path, key], `must be an object, got ${describeType(value)}`);
  return undefined;
}

/** An optional list field: undefined when absent or null. */
export function listAt(parent: Json, key: string, path: FieldPath, issues: IssueList): unknown[] | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value;
  issues.add([...path, key], `must be a list, got ${describeType(value)}`);
  return undefined;
}

/**
 * An optional list of objects: `visit` is called with each entry that is an object, its path
 * (`path`, `key`, its index) and its index, in order; every other entry is reported at its path.
 * Absent or null: nothing; not a list: reported as listAt does.
 */
export function eachObjectAt(parent: Json, key: string, path: FieldPath, issues: IssueList, visit: (entry: Json, at: FieldPath, index: number) => void): void {
  (listAt(parent, key, path, issues) ?? []).forEach((entry, i) => {
    const at = [...path, key, i];
    if (isObject(entry)) visit(entry, at, i);
    else issues.add(at, `must be an object, got ${describeType(entry)}`);
  });
}

export function stringAt(parent: Json, key: string, path: FieldPath, issues: IssueList): string | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  issues.add([...path, key], `must be a string, got ${describeType(value)}`);
  return undefined;
}

export function booleanAt(parent: Json, key: string, path: FieldPath, issues: IssueList): boolean | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "boolean") return value;
  issues.add([...path, key], `must be true or false, got ${describeType(value)}`);
  return undefined;
}
