// Reading staged NetworkPolicies from files: a directory (or files) of manifests, read and
// checked exactly as `netcanary check --manifests` reads them (cluster/manifests.ts: YAML or
// JSON, errors with file, line and field). A staged set holds NetworkPolicies only: anything
// else in it (a Pod, a workload, a Service, an admin policy) is refused, since staging is about
// policies and an object there would silently change nothing.

import { loadManifests } from "../cluster/manifests.js";
import type { InputError } from "../documents/located.js";
import type { NetworkPolicy } from "../policy/model.js";

export type StagedLoad = { readonly ok: true; readonly policies: readonly NetworkPolicy[] } | { readonly ok: false; readonly errors: readonly InputError[] };

export async function loadStagedPolicies(paths: readonly string[]): Promise<StagedLoad> {
  const load = await loadManifests(paths);
  if (load.errors.length > 0) return { ok: false, errors: load.errors };
  const { snapshot } = load;
  const where = paths.join(", ");
  const errors: InputError[] = [];
  const others = [
    [snapshot.pods.length, "pods or workloads"],
    [snapshot.services.length, "Services"],
    [(snapshot.adminPolicies?.length ?? 0) + (snapshot.baselinePolicy ? 1 : 0), "admin network policies"],
    [load.unevaluated.length, "policies of kinds netcanary does not evaluate"],
  ] as const;
  for (const [count, what] of others) {
    if (count > 0) errors.push({ file: where, message: `holds ${count} ${what}: a staged set holds NetworkPolicies only` });
  }
  for (const policy of load.unevaluated) errors.push({ file: policy.file, ...(policy.line !== undefined ? { line: policy.line } : {}), message: `${policy.kind} ${policy.name} is not a NetworkPolicy netcanary can stage` });
  if (snapshot.policies.length === 0) errors.push({ file: where, message: "holds no NetworkPolicy: nothing would be staged" });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, policies: snapshot.policies };
}
