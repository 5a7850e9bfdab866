// The edge table: the edges this agent probes now, each with its record (policy, samples,
// status), the edges that share one metric label set, each edge's policy cached per cluster
// generation and address, and the edges not probed since they appeared. Replacing the edges
// keeps the state of those that did not change; every change is published to the metrics.

import { type IpAddress, jsonOf } from "../addresses/ip.js";
import type { AgentMetrics } from "../metrics/registry.js";
import type { Edge, EdgeLabels } from "../targets/edges.js";
import { type EdgeRecord, newEdgeRecord, type StatusChange, withPolicy } from "../verdicts/edge-state.js";
import type { EdgePolicy } from "../verdicts/policy.js";
import { EdgeHistory } from "./status-book.js";

/** An edge's policy for an address, as the cluster state says it now. */
export type PolicyJudge = (edge: Edge, address: IpAddress | undefined) => EdgePolicy;

export class EdgeTable {
  private edges = new Map<string, Edge>();
  /** Edges sharing one metric label set, by series key. */
  private readonly groups = new Map<string, Set<string>>();
  private readonly records = new Map<string, EdgeRecord>();
  /** Each edge's policy for (generation, address): recomputed only when either changes. */
  private readonly policyCache = new Map<string, { key: string; policy: EdgePolicy }>();
  /** Edges not probed yet since they appeared (readiness waits for them). */
  private readonly firstRoundPending = new Set<string>();
  /** Since when each edge's status holds, and its last observations (the status page's). */
  readonly history = new EdgeHistory();

  constructor(
    private readonly metrics: AgentMetrics,
    private readonly judge: PolicyJudge,
    /** The cluster state's generation, bumped on every change. */
    private readonly generation: () => number,
  ) {}

  get size(): number {
    return this.edges.size;
  }

  /** How many edges have not been probed since they appeared. */
  get unprobed(): number {
    return this.firstRoundPending.size;
  }

  edge(id: string): Edge | undefined {
    return this.edges.get(id);
  }

  record(id: string): EdgeRecord | undefined {
    return this.records.get(id);
  }

  allEdges(): Edge[] {
    return [...this.edges.values()];
  }

  /** The ids of every edge with a record (the edges known before a change). */
  recordIds(): Set<string> {
    return new Set(this.records.keys());
  }

  /** Every record, by edge id. */
  sortedRecords(): EdgeRecord[] {
    return [...this.records.values()].sort((a, b) => (a.edge.id < b.edge.id ? -1 : 1));
  }

  /** Every address an edge or its last sample points at. */
  addresses(): Set<string> {
    const addresses = new Set<string>();
    for (const record of this.records.values()) {
      if (record.address) addresses.add(record.address.text);
      if (record.edge.address) addresses.add(record.edge.address.text);
    }
    return addresses;
  }

  /** Whether some record's address satisfies the test (an address still being looked up). */
  someAddress(test: (address: IpAddress) => boolean): boolean {
    for (const record of this.records.values()) if (record.address && test(record.address)) return true;
    return false;
  }

  policyFor(edge: Edge, address: IpAddress | undefined): EdgePolicy {
    const key = `${this.generation()}|${address?.text ?? ""}`;
    const cached = this.policyCache.get(edge.id);
    if (cached?.key === key) return cached.policy;
    const policy = this.judge(edge, address);
    this.policyCache.set(edge.id, { key, policy });
    return policy;
  }

  /** The edges as they are now: gone ones forgotten, unchanged ones keep their state, new ones start. */
  replace(edges: readonly Edge[]): void {
    const next = new Map(edges.map((edge) => [edge.id, edge]));
    const touched = new Set<string>();
    for (const [id, edge] of this.edges) {
      if (next.has(id)) continue;
      this.records.delete(id);
      this.history.forget(id);
      this.policyCache.delete(id);
      this.firstRoundPending.delete(id);
      this.groups.get(edge.seriesKey)?.delete(id);
      touched.add(edge.seriesKey);
    }
    for (const fresh of edges) {
      const existing = this.records.get(fresh.id);
      // Same id, other labels (a probe redefined): the old label set loses this edge.
      if (existing && existing.edge.seriesKey !== fresh.seriesKey) {
        this.groups.get(existing.edge.seriesKey)?.delete(fresh.id);
        touched.add(existing.edge.seriesKey);
      }
      // An unchanged probe keeps its state, and its identity, so probes in flight still
      // count; a changed definition (thresholds, intent, target) starts the edge afresh.
      const sameProbe =
        existing !== undefined &&
        (existing.edge.probe === fresh.probe || jsonOf(existing.edge.probe) === jsonOf(fresh.probe));
      let edge = fresh;
      if (existing && sameProbe) {
        edge = { ...fresh, probe: existing.edge.probe };
        // The address known before probing may have moved: a pod's new IP, a Service's new cluster IP.
        this.records.set(edge.id, { ...existing, edge, ...(fresh.address ? { address: fresh.address } : {}) });
      } else {
        const record = newEdgeRecord(edge, this.policyFor(edge, edge.address), edge.address);
        this.records.set(edge.id, record);
        this.history.track(record, Date.now());
        if (!existing) this.firstRoundPending.add(edge.id);
        touched.add(edge.seriesKey);
      }
      next.set(edge.id, edge);
      const members = this.groups.get(edge.seriesKey) ?? new Set<string>();
      if (!members.has(edge.id)) {
        members.add(edge.id);
        this.groups.set(edge.seriesKey, members);
        touched.add(edge.seriesKey);
      }
    }
    this.edges = next;
    for (const key of touched) this.publish(key);
    this.metrics.edges.set(this.edges.size);
  }

  /** A new record for its edge (a sample judged), published. */
  store(record: EdgeRecord): void {
    this.records.set(record.edge.id, record);
    this.history.track(record, Date.now());
    this.publish(record.edge.seriesKey);
  }

  /** The edge has been probed once. */
  probed(id: string): void {
    this.firstRoundPending.delete(id);
  }

  /**
   * These edges' policy again (after a change): each status change is told, and each edge
   * whose verdict changed, to be put to the test at once.
   */
  rejudge(known: ReadonlySet<string>, seenAt: number, onChange: (change: StatusChange) => void, onMoved: (id: string) => void): void {
    // Edges of one label set share their series: each set is published once, after all.
    const touched = new Set<string>();
    for (const id of known) {
      const record = this.records.get(id);
      const edge = this.edges.get(id);
      if (!record || !edge) continue;
      const before = record.policy.stance;
      const { record: next, change } = withPolicy(record, this.policyFor(edge, record.address), seenAt);
      this.records.set(id, next);
      this.history.track(next, seenAt);
      touched.add(next.edge.seriesKey);
      if (change) onChange(change);
      if (next.policy.stance !== before) onMoved(id);
    }
    for (const key of touched) this.publish(key);
  }

  /** Pushes a label set's gauges, or removes its series when no edge is left behind it. */
  private publish(seriesKey: string): void {
    const members = [...(this.groups.get(seriesKey) ?? [])].flatMap((id) => this.records.get(id) ?? []);
    if (members.length > 0) {
      this.metrics.recordGroup(members);
      return;
    }
    this.groups.delete(seriesKey);
    this.metrics.removeGroup(JSON.parse(seriesKey) as EdgeLabels);
  }
}
