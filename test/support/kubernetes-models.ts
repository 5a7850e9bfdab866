// Field names of Kubernetes API types as the upstream OpenAPI schemas define them, read from
// the kubernetes-models devDependency (generated from Kubernetes' own schemas): the class
// declared in each type's .d.ts lists its fields. Tests hold netcanary's field lists to these.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const NODE_MODULES = join(import.meta.dirname, "..", "..", "node_modules");

/** The fields of a type, e.g. upstreamFields("kubernetes-models/v1/PodSpec"), sorted. */
export function upstreamFields(module: string): string[] {
  const path = join(NODE_MODULES, `${module}.d.ts`);
  const text = readFileSync(path, "utf8");
  const body = /export declare class \w+ extends Model<[^>]*> implements [^{]*\{([\s\S]*?)\n\s*constructor\(/.exec(text)?.[1];
  if (body === undefined) throw new Error(`no model class in ${path}`);
  return [...body.matchAll(/^ {4}"([^"]+)"\??:/gm)].map((match) => match[1] as string).sort();
}
