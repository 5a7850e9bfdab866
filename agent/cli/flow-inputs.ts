// What `netcanary map` and `netcanary advise` read: recorded traffic maps (merged into one),
// the policies in force from manifests, and staged policies. Each reader prints its located
// errors and answers with an exit code when the input is unusable; readFlowInputs reads all
// three in the one order both commands follow.

import { loadManifests, type UnevaluatedPolicy } from "../cluster/manifests.js";
import { type ClusterSnapshot, EMPTY_SNAPSHOT } from "../cluster/snapshot.js";
import { formatInputError, type InputError } from "../documents/located.js";
import type { NetworkPolicy } from "../policy/model.js";
import type { FlowMap } from "../traffic/flow.js";
import { FLOW_MAP_LIMITS, mergeFlowMaps, readFlowMap } from "../traffic/map-file.js";
import { loadStagedPolicies } from "../traffic/staged-files.js";
import { EXIT, type Output } from "./command.js";

export type Read<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly exitCode: number };

function unusable(errors: readonly InputError[], out: Output): { ok: false; exitCode: number } {
  for (const error of errors) out.stderr(formatInputError(error));
  return { ok: false, exitCode: EXIT.unusable };
}

/** Every map file read and checked, then merged (one file: itself). */
async function readMaps(paths: readonly string[], out: Output): Promise<Read<FlowMap>> {
  const maps: FlowMap[] = [];
  const errors: InputError[] = [];
  for (const path of paths) {
    const read = await readFlowMap(path);
    if (read.ok) maps.push(read.map);
    else errors.push(...read.errors);
  }
  if (errors.length > 0) return unusable(errors, out);
  const merged = maps.length === 1 && maps[0] ? maps[0] : mergeFlowMaps(maps);
  if (merged.flows.length > FLOW_MAP_LIMITS.flows) {
    return unusable([{ file: paths.join(", "), message: `the maps hold ${merged.flows.length} distinct flows together, more than ${FLOW_MAP_LIMITS.flows}` }], out);
  }
  return { ok: true, value: merged };
}

export interface InForce {
  readonly snapshot: ClusterSnapshot;
  readonly unevaluated: readonly UnevaluatedPolicy[];
  /** false: no --manifests, the flows are judged as if no policy were in force. */
  readonly given: boolean;
}

/** The policies in force (and the Services, pods, namespaces) from manifests; none without paths. */
async function readInForce(paths: readonly string[], out: Output): Promise<Read<InForce>> {
  if (paths.length === 0) return { ok: true, value: { snapshot: EMPTY_SNAPSHOT, unevaluated: [], given: false } };
  const load = await loadManifests(paths);
  if (load.errors.length > 0) return unusable(load.errors, out);
  return { ok: true, value: { snapshot: load.snapshot, unevaluated: load.unevaluated, given: true } };
}

/** The staged NetworkPolicies; none without paths. */
async function readStaged(paths: readonly string[], out: Output): Promise<Read<readonly NetworkPolicy[]>> {
  if (paths.length === 0) return { ok: true, value: [] };
  const load = await loadStagedPolicies(paths);
  return load.ok ? { ok: true, value: load.policies } : unusable(load.errors, out);
}

/** A map that holds no flow tested nothing: said on stderr, and the exit code is inconclusive. */
function emptyMap(map: FlowMap, command: string, out: Output): number | undefined {
  if (map.flows.length > 0) return undefined;
  out.stderr(`netcanary ${command}: the map holds no flow (${map.from} to ${map.until}): nothing was observed, nothing is judged`);
  return EXIT.inconclusive;
}

export interface FlowInputs {
  readonly map: FlowMap;
  readonly inForce: InForce;
  readonly staged: readonly NetworkPolicy[];
}

/**
 * The maps, the policies in force and the staged policies, read in that order (the first
 * unusable one answers); then a map that holds no flow is inconclusive.
 */
export async function readFlowInputs(
  command: string,
  paths: { readonly maps: readonly string[]; readonly manifests?: readonly string[]; readonly staged?: readonly string[] },
  out: Output,
): Promise<Read<FlowInputs>> {
  const map = await readMaps(paths.maps, out);
  if (!map.ok) return map;
  const inForce = await readInForce(paths.manifests ?? [], out);
  if (!inForce.ok) return inForce;
  const staged = await readStaged(paths.staged ?? [], out);
  if (!staged.ok) return staged;
  const empty = emptyMap(map.value, command, out);
  if (empty !== undefined) return { ok: false, exitCode: empty };
  return { ok: true, value: { map: map.value, inForce: inForce.value, staged: staged.value } };
}

/** One line on what the map could not see, when it missed pods or dropped flows. */
export function coverageNote(map: FlowMap): string | undefined {
  const { podsSelected, podsObserved, droppedFlows } = map.coverage;
  if (podsObserved >= podsSelected && droppedFlows === 0) return undefined;
  return `note: the map observed ${podsObserved} of ${podsSelected} selected pods and dropped ${droppedFlows} flow(s) over its budget: traffic it missed is not in it`;
}
