// The agent's judged map, judged incrementally: at each traffic sample only the flows that are
// new or changed since the last one are judged; the others reuse their judgement. Judging a
// flow costs some 0.1 ms (docs/benchmarks.md), so judging the whole map at every sample would
// cost seconds on the event loop at the largest maps.
//
// A judgement depends on the policy index, the map's namespaces the index lacks (judge.ts
// withMapNamespaces) and the flow's own fields except when and how often it was seen (its
// direction, protocol, ends, port, sampled addresses, attemptOnly; a peer named in place once a
// lookup answers is another flow). So a judgement is reused only for a flow whose fields other
// than firstSeen, lastSeen, observations and evidence are exactly the same, and all are dropped
// when the index is another object (engine.ts never changes an index in place: a new snapshot
// or policy gives a new one) or those namespaces differ. A staged set that is another array (a
// reload, even of the same files) drops the staged part only. Conservative by construction:
// any doubt is a fresh judgement, and the document is exactly what judgedFlowMap gives afresh.
// Bounded: after each sample the cache holds the flows of that map and nothing else (at most
// traffic.maxFlows), each with one staged slot per staged policy (the staged set is read as
// manifests are, within their size limits).

import type { PolicyIndex } from "../policy/engine.js";
import type { NetworkPolicy } from "../policy/model.js";
import type { FlowMap, ObservedFlow } from "./flow.js";
import type { FlowJudgement, JudgementMemo } from "./judge.js";
import { type JudgedFlowMap, judgedFlowMap, type StagedSetState } from "./report.js";
import type { StagedResult } from "./staged.js";

/** What a flow's judgement depends on, as one string: every field but when and how often it was seen. */
export function judgedInputs(flow: ObservedFlow): string {
  const { firstSeen: _firstSeen, lastSeen: _lastSeen, observations: _observations, evidence: _evidence, ...judged } = flow;
  return JSON.stringify(judged);
}

/** The namespaces the map adds to the index (those it lacks), as one string. */
function addedNamespaces(index: PolicyIndex, map: Pick<FlowMap, "namespaces">): string {
  return JSON.stringify(map.namespaces.filter((ns) => !index.namespaces.has(ns.name)).map((ns) => [ns.name, ns.labels]));
}

/** No staged set: the same array at every sample, so that it is never taken for a new set. */
const NO_STAGED: readonly NetworkPolicy[] = [];

interface Entry {
  base?: FlowJudgement;
  /** Per staged slot (judge.ts JudgementMemo.staged): the newly denying judgement, or null for none. */
  staged: (FlowJudgement | null | undefined)[];
}

interface Inputs {
  readonly index: PolicyIndex;
  readonly namespaces: string;
  readonly staged: readonly NetworkPolicy[];
}

/** How many judgements were made afresh (not reused) since the cache was made. */
export interface JudgeCounts {
  /** Flows judged by the policies in force. */
  base: number;
  /** Flows judged with a staged policy (or all of them) applied. */
  staged: number;
}

export class JudgementCache {
  private inputs: Inputs | undefined;
  private entries = new Map<string, Entry>();
  readonly counts: JudgeCounts = { base: 0, staged: 0 };

  /** Flows whose judgements are held (never more than the last map's). */
  get size(): number {
    return this.entries.size;
  }

  /** judgedFlowMap (report.ts), reusing the judgements of flows unchanged since the last call. */
  judgedFlowMap(index: PolicyIndex, map: FlowMap, staged: StagedSetState | undefined): { document: JudgedFlowMap; judgements: readonly FlowJudgement[]; staged?: StagedResult } {
    const inputs: Inputs = { index, namespaces: addedNamespaces(index, map), staged: staged?.policies ?? NO_STAGED };
    const last = this.inputs;
    let previous = this.entries;
    if (!last || last.index !== inputs.index || last.namespaces !== inputs.namespaces) previous = new Map();
    else if (last.staged !== inputs.staged) for (const entry of previous.values()) entry.staged = [];
    // Each flow's entry, by its position in the map: held from the last sample when its judged inputs are the same.
    const next = new Map<string, Entry>();
    const entries = map.flows.map((flow) => {
      const key = judgedInputs(flow);
      const entry = next.get(key) ?? previous.get(key) ?? { staged: [] };
      next.set(key, entry);
      return entry;
    });
    const memo: JudgementMemo = {
      base: (position, judge) => {
        const entry = entries[position] as Entry;
        if (entry.base) return entry.base;
        this.counts.base += 1;
        entry.base = judge();
        return entry.base;
      },
      staged: (slot, position, judge) => {
        const entry = entries[position] as Entry;
        const held = entry.staged[slot];
        if (held !== undefined) return held ?? undefined;
        this.counts.staged += 1;
        const judged = judge();
        entry.staged[slot] = judged ?? null;
        return judged;
      },
    };
    const result = judgedFlowMap(index, map, staged, memo);
    this.inputs = inputs;
    this.entries = next;
    return result;
  }
}
