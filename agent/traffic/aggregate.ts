// The node's flows, aggregated: one per flowKey (direction, protocol, local workload, peer,
// port), whatever the number of sockets, pods or samples behind it. Pure and bounded: at most
// maxFlows flows (a new one beyond is counted as dropped, never kept), at most
// MAX_SAMPLE_ADDRESSES addresses per side of a flow, and a flow not seen for the expiry
// window leaves. A connection seen in several samples counts once per sample
// ("observations"). Names change: a lookup answers, Zscaler's feeds load after the first
// sample, a configured range is added. rename() gives the flows named by one exact address
// (an "unnamed" peer, an external /32 or /128 without a range name) their current name and
// folds them into that flow, so such changes leave no trail of stale flows.

import { type FlowEvidence, flowKey, type FlowPeer, type FlowWorkload, MAX_SAMPLE_ADDRESSES, type ObservedFlow, workloadKey } from "./flow.js";
import { commonLabels } from "./naming.js";

/** One connection of one sample, named. */
export interface FlowObservation {
  readonly direction: ObservedFlow["direction"];
  readonly protocol: ObservedFlow["protocol"];
  readonly local: FlowWorkload;
  readonly peer: FlowPeer;
  readonly port: number;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** Only a connection attempt (TCP SYN_SENT). */
  readonly attempt: boolean;
  readonly evidence: FlowEvidence;
}

interface FlowState {
  readonly key: string;
  readonly direction: ObservedFlow["direction"];
  readonly protocol: ObservedFlow["protocol"];
  local: FlowWorkload;
  readonly peer: FlowPeer;
  readonly port: number;
  readonly remoteAddresses: string[];
  readonly localAddresses: string[];
  firstSeen: number;
  lastSeen: number;
  observations: number;
  /** The sample that last counted it (a flow counts once per sample). */
  lastSample: number;
  readonly evidence: Set<FlowEvidence>;
  /** Every observation so far was an attempt. */
  attemptOnly: boolean;
}

export interface SampleResult {
  /** Flows new in this sample. */
  readonly added: number;
  /** Distinct flows of this sample not recorded: the budget was full. */
  readonly dropped: number;
}

/** The one address a peer stands for, when it is named by that address alone. */
function singleAddress(peer: FlowPeer): string | undefined {
  if (peer.kind === "unnamed") return peer.address;
  if (peer.kind === "external" && peer.name === undefined && /\/(32|128)$/.test(peer.range)) return peer.range.replace(/\/\d+$/, "");
  return undefined;
}

function addBounded(list: string[], value: string): void {
  if (list.length < MAX_SAMPLE_ADDRESSES && !list.includes(value)) list.push(value);
}

/**
 * One local workload holds at most a quarter of the budget, but never fewer than 100 flows (or
 * the whole budget, when it is smaller): a pod that opens thousands of connections (a scanner,
 * or a tenant's UDP sockets to as many addresses) cannot keep every other workload's new flows
 * out of the map.
 */
export const WORKLOAD_SHARE = 4;
export const WORKLOAD_FLOOR = 100;

export function workloadBudget(maxFlows: number): number {
  return Math.max(Math.ceil(maxFlows / WORKLOAD_SHARE), Math.min(maxFlows, WORKLOAD_FLOOR));
}

export class FlowAggregator {
  private readonly flows = new Map<string, FlowState>();
  /** Flows held per local workload (workloadKey), for the share. */
  private readonly perWorkload = new Map<string, number>();
  private samples = 0;
  private lastDropped = 0;

  constructor(private maxFlows: number) {}

  setBudget(maxFlows: number): void {
    this.maxFlows = maxFlows;
  }

  get size(): number {
    return this.flows.size;
  }

  /** Distinct flows the last sample could not record. */
  get droppedLastSample(): number {
    return this.lastDropped;
  }

  /** Records one sample's observations, all taken at `at` (epoch ms). */
  record(at: number, observations: readonly FlowObservation[]): SampleResult {
    const sample = ++this.samples;
    const dropped = new Set<string>();
    let added = 0;
    for (const observation of observations) {
      const key = flowKey(observation);
      let flow = this.flows.get(key);
      if (flow === undefined) {
        const owner = workloadKey(observation.local);
        const held = this.perWorkload.get(owner) ?? 0;
        if (this.flows.size >= this.maxFlows || held >= workloadBudget(this.maxFlows)) {
          dropped.add(key);
          continue;
        }
        this.perWorkload.set(owner, held + 1);
        flow = {
          key,
          direction: observation.direction,
          protocol: observation.protocol,
          local: observation.local,
          peer: observation.peer,
          port: observation.port,
          remoteAddresses: [],
          localAddresses: [],
          firstSeen: at,
          lastSeen: at,
          observations: 0,
          lastSample: 0,
          evidence: new Set(),
          attemptOnly: true,
        };
        this.flows.set(key, flow);
        added++;
      }
      if (flow.lastSample !== sample) {
        flow.observations++;
        flow.lastSample = sample;
      }
      flow.lastSeen = Math.max(flow.lastSeen, at);
      flow.local = flow.local.labels === observation.local.labels ? flow.local : { ...flow.local, labels: commonLabels(flow.local.labels, observation.local.labels) };
      addBounded(flow.remoteAddresses, observation.remoteAddress);
      addBounded(flow.localAddresses, observation.localAddress);
      flow.evidence.add(observation.evidence);
      if (!observation.attempt) flow.attemptOnly = false;
    }
    this.lastDropped = dropped.size;
    return { added, dropped: dropped.size };
  }

  /**
   * Names again every flow whose peer stands for one exact address (unnamed, or an external
   * /32 or /128 without a name) with what `name` says now; a flow whose name changed is
   * folded into the flow of its new name (the budget is not touched: no flow is added).
   */
  rename(name: (address: string, current: FlowPeer) => FlowPeer): number {
    let renamed = 0;
    for (const [key, flow] of [...this.flows]) {
      const address = singleAddress(flow.peer);
      if (address === undefined) continue;
      const peer = name(address, flow.peer);
      const next = flowKey({ ...flow, peer });
      if (next === key) continue;
      this.flows.delete(key);
      const into = this.flows.get(next);
      if (into) {
        this.fold(into, flow);
        this.release(flow);
      }
      else this.flows.set(next, { ...flow, key: next, peer, evidence: new Set(flow.evidence), remoteAddresses: [...flow.remoteAddresses], localAddresses: [...flow.localAddresses] });
      renamed++;
    }
    return renamed;
  }

  /** A flow left the map: its workload's share has room for one more. */
  private release(flow: FlowState): void {
    const owner = workloadKey(flow.local);
    const held = (this.perWorkload.get(owner) ?? 1) - 1;
    if (held > 0) this.perWorkload.set(owner, held);
    else this.perWorkload.delete(owner);
  }

  private fold(into: FlowState, from: FlowState): void {
    into.firstSeen = Math.min(into.firstSeen, from.firstSeen);
    into.lastSeen = Math.max(into.lastSeen, from.lastSeen);
    into.observations += from.observations;
    for (const address of from.remoteAddresses) addBounded(into.remoteAddresses, address);
    for (const address of from.localAddresses) addBounded(into.localAddresses, address);
    for (const evidence of from.evidence) into.evidence.add(evidence);
    into.attemptOnly = into.attemptOnly && from.attemptOnly;
  }

  /** Forgets flows last seen before `before` (epoch ms); how many went. */
  expire(before: number): number {
    let gone = 0;
    for (const [key, flow] of this.flows) {
      if (flow.lastSeen >= before) continue;
      this.flows.delete(key);
      this.release(flow);
      gone++;
    }
    return gone;
  }

  /** Every flow, in flowKey order (stable, for clean diffs). */
  flowsNow(): ObservedFlow[] {
    return [...this.flows.values()]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((flow) => ({
        direction: flow.direction,
        protocol: flow.protocol,
        local: flow.local,
        peer: flow.peer,
        port: flow.port,
        remoteAddresses: [...flow.remoteAddresses],
        localAddresses: [...flow.localAddresses],
        firstSeen: new Date(flow.firstSeen).toISOString(),
        lastSeen: new Date(flow.lastSeen).toISOString(),
        observations: flow.observations,
        evidence: [...flow.evidence].sort(),
        ...(flow.attemptOnly ? { attemptOnly: true as const } : {}),
      }));
  }
}
