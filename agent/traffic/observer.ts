// The traffic map's live side: on a timer (schedule/timers.ts), read the socket tables of
// every observed pod on this node, name both ends, and fold the connections into the
// aggregator; map() answers the FlowMap (flow.ts) for /api/v1/flows and the CLI.
//
// Which pods: those the traffic config selects (config/traffic.ts), Running, not being
// deleted, on this node. A pod's tables are read through a process of the pod, found the way
// pod sources find one (sources/netns.ts: by the pod's UID in the process's cgroup, the pod's
// IP checked local to the namespace), as /proc/<pid>/net/{tcp,tcp6,udp,udp6}: regular files of
// at most MAX_TABLE_BYTES each (files/read.ts), read one pod at a time, and then the process
// is checked to be in the same namespace still (a pid reused meanwhile would have shown
// another namespace's tables: that read is thrown away). Nothing of a table's text is ever
// logged or served but the parsed addresses and ports.
//
// What each sample cannot see is said in the map's coverage: pods selected but not read, and
// why (host network, no process found, a table over the cap), and the fixed limits of the
// socket tables as a source (SOCKET_TABLE_LIMITS).

import { readlink } from "node:fs/promises";
import { type IpAddress, parseIp } from "../addresses/ip.js";
import { ADDRESS_LOOKUP_DEFAULTS, AddressBook, type LookupAnswer } from "../cluster/addresses.js";
import type { ClusterSnapshot, PodInfo } from "../cluster/snapshot.js";
import type { SourceConfig } from "../config/model.js";
import { readBoundedFile } from "../files/read.js";
import type { Logger } from "../log/log.js";
import { namespaceLabels } from "../objects/model.js";
import type { PolicyIndex } from "../policy/engine.js";
import { type Repeating, repeat } from "../schedule/timers.js";
import { createNetnsLocator, type NetnsLocator } from "../sources/netns.js";
import { type PodSourceConfig, sourceSelects } from "../sources/identities.js";
import { FlowAggregator, type FlowObservation } from "./aggregate.js";
import { TRAFFIC_DEFAULTS, type TrafficSettings } from "../config/traffic.js";
import type { FlowCoverage, FlowMap } from "./flow.js";
import { namePeer, type NamingContext, nodeAddresses, type PeerLookup, sortRanges, workloadOfPod, type ZscalerPlace } from "./naming.js";
import { connectionsOf, MAX_TABLE_BYTES, MAX_TABLE_LINES, parseSocketTable, SOCKET_TABLES, type SocketLine } from "./sockets.js";

/** What socket tables cannot show: reported with every map. */
export const SOCKET_TABLE_LIMITS =
  "each observed pod's socket tables (/proc/<pid>/net/tcp, tcp6, udp, udp6), read every interval: a connection opened and closed between two reads is not seen " +
  "(except TCP connections the pod closed first, which stay in TIME_WAIT for 60 s), nor UDP traffic on unconnected sockets (most DNS queries, servers answering with sendto); " +
  "host-network pods are not observed (they share the node's tables); a table over 1 MiB is not read";

/** Missed pods listed at most (the count is always exact). */
export const MAX_MISSED_LISTED = 50;

/** The address lookups of the traffic map: kept apart from the edges' (another working set), slower. */
export const TRAFFIC_LOOKUP = { ttlMs: ADDRESS_LOOKUP_DEFAULTS.ttlMs, maxEntries: 4096, ratePerSecond: 2, burst: 10 } as const;
/**
 * Addresses without an answer asked about per sample, at most: a pod talking to thousands of
 * addresses queues a few hundred lookups a sample, not thousands (the rest stay unnamed, saying so).
 */
export const MAX_ASKED_PER_SAMPLE = 256;

/** Where the observer reports each sample: its own figures, and the map as it is now (built only if asked for). */
export interface TrafficMetricsSink {
  sampled(report: SampleReport, map: () => FlowMap): void;
}

export interface SampleReport {
  readonly at: number;
  readonly durationMs: number;
  readonly podsSelected: number;
  readonly podsObserved: number;
  readonly connections: number;
  readonly flows: number;
  readonly added: number;
  readonly dropped: number;
  readonly expired: number;
  readonly malformedLines: number;
}

/** What a sample needs from the agent, as it is now. */
export interface TrafficInputs {
  readonly settings: TrafficSettings;
  readonly snapshot: ClusterSnapshot | undefined;
  readonly index: PolicyIndex | undefined;
  readonly sources: readonly SourceConfig[];
  /** Zscaler's published ranges (zscaler/seam.ts placer()). */
  readonly zscaler: (ip: IpAddress) => ZscalerPlace | undefined;
}

export interface TrafficObserverOptions {
  readonly nodeName: string;
  readonly logger: Logger;
  /** Asks the API what an address is (cluster/live.ts); absent: the cluster state is all there is. */
  readonly lookupAddress?: (ip: IpAddress, signal: AbortSignal) => Promise<LookupAnswer>;
  readonly metrics?: TrafficMetricsSink;
  /** Where proc is mounted (tests). */
  readonly procRoot?: string;
  readonly now?: () => number;
}

/** The pods a config selects on this node, Running and not being deleted. */
export function selectedPods(settings: TrafficSettings, index: PolicyIndex | undefined, sources: readonly SourceConfig[], nodeName: string): PodInfo[] {
  if (!index) return [];
  const podSources = sources.filter((source): source is PodSourceConfig => source.kind === "pods").map((source) => sourceSelects(index, source));
  const pods: PodInfo[] = [];
  for (const pod of index.podsByKey.values()) {
    if (pod.workload || pod.node !== nodeName || pod.phase !== "Running" || pod.terminating) continue;
    const { pods: which } = settings;
    const selected = which.kind === "all" || (which.kind === "namespaces" ? which.namespaces.includes(pod.namespace) : podSources.some((selects) => selects(pod)));
    if (selected) pods.push(pod);
  }
  return pods.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

type PodRead = { readonly ok: true; readonly lines: SocketLine[]; readonly malformed: number } | { readonly ok: false; readonly reason: string };

export class TrafficObserver {
  private readonly aggregator = new FlowAggregator(1);
  private readonly locator: NetnsLocator;
  private readonly book: AddressBook | undefined;
  private readonly procRoot: string;
  private readonly now: () => number;
  private loop: Repeating | undefined;
  private stopped = false;
  private startedAt: number;
  private lastAt: number | undefined;
  private expireAfterMs = Infinity;
  private coverage: Omit<FlowCoverage, "droppedFlows"> = { podsSelected: 0, podsObserved: 0, missed: [], sources: [] };
  private namespaces: ClusterSnapshot["namespaces"] = [];
  /** Missed pods already logged: logged again only after they were read (reasons carry counts that change every scan). */
  private logged = new Map<string, string>();

  constructor(private readonly options: TrafficObserverOptions) {
    this.procRoot = options.procRoot ?? "/proc";
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.locator = createNetnsLocator({ procRoot: this.procRoot });
    const lookup = options.lookupAddress;
    this.book = lookup ? new AddressBook({ ...TRAFFIC_LOOKUP, lookup, onChange: () => undefined }) : undefined;
  }

  /**
   * Samples on the next turn, then the interval of the inputs that sample read (the default one
   * when inputs() answered undefined: traffic off skips a turn) after each sample has ended; until stop().
   */
  start(inputs: () => TrafficInputs | undefined): void {
    if (this.stopped) return;
    let intervalMs: number = TRAFFIC_DEFAULTS.intervalMs;
    const turn = async (): Promise<void> => {
      const now = inputs();
      intervalMs = now?.settings.intervalMs ?? TRAFFIC_DEFAULTS.intervalMs;
      if (now) await this.sample(now);
    };
    this.loop = repeat(() => intervalMs, turn, {
      firstMs: 0,
      unref: true,
      onError: (error) => this.options.logger.error({ err: error }, "traffic sample failed"),
    });
  }

  /** No sample starts after this; resolves when one under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    const stopping = this.loop?.stop();
    this.book?.stop();
    await stopping;
  }

  /** One sample: every selected pod's tables read, named, aggregated; old flows expired. */
  async sample(inputs: TrafficInputs): Promise<SampleReport> {
    const started = this.now();
    const { settings, index, snapshot } = inputs;
    this.aggregator.setBudget(settings.maxFlows);
    const pods = selectedPods(settings, index, inputs.sources, this.options.nodeName);
    const missed: { pod: string; reason: string }[] = [];
    const observations: FlowObservation[] = [];
    let malformedLines = 0;
    let connections = 0;
    const answers = this.book?.answers();
    const book = this.book;
    const naming: NamingContext = {
      pods: index?.podsByIp ?? new Map(),
      services: index?.servicesByIp ?? new Map(),
      nodes: nodeAddresses(index?.podsByKey.values() ?? []),
      zscaler: inputs.zscaler,
      ranges: sortRanges(settings.ranges),
      ...(book && answers ? { lookup: asker(book, answers) } : {}),
    };
    // Names known since the last sample (a lookup answered, the feeds loaded, a range added)
    // apply to the flows already held. Only unnamed peers are looked up again: an external
    // address got its name from an answer already.
    const { lookup: _lookup, ...withoutLookup } = naming;
    this.aggregator.rename((address, current) => {
      const parsed = parseIp(address);
      if (!parsed.ok) return current;
      return namePeer(parsed.value, current.kind === "unnamed" ? naming : withoutLookup);
    });
    for (const pod of pods) {
      const name = `${pod.namespace}/${pod.name}`;
      const read = await this.readPod(pod);
      if (!read.ok) {
        missed.push({ pod: name, reason: read.reason });
        continue;
      }
      malformedLines += read.malformed;
      const local = workloadOfPod(pod);
      for (const connection of connectionsOf(read.lines)) {
        connections++;
        observations.push({
          direction: connection.direction,
          protocol: connection.protocol,
          local,
          peer: namePeer(connection.remote, naming),
          port: connection.port,
          localAddress: connection.local.text,
          remoteAddress: connection.remote.text,
          attempt: connection.attempt,
          evidence: "socket-table",
        });
      }
    }
    const at = this.now();
    const { added, dropped } = this.aggregator.record(at, observations);
    const expired = this.aggregator.expire(at - settings.expireAfterMs);
    this.lastAt = at;
    this.expireAfterMs = settings.expireAfterMs;
    this.namespaces = snapshot?.namespaces ?? [];
    missed.sort((a, b) => a.pod.localeCompare(b.pod));
    this.logMissed(missed);
    this.coverage = {
      podsSelected: pods.length,
      podsObserved: pods.length - missed.length,
      missed: missed.length > MAX_MISSED_LISTED ? [...missed.slice(0, MAX_MISSED_LISTED), { pod: "...", reason: `${missed.length - MAX_MISSED_LISTED} more pods not observed` }] : missed,
      sources: [{ evidence: "socket-table", limits: SOCKET_TABLE_LIMITS }],
    };
    const report: SampleReport = {
      at,
      durationMs: this.now() - started,
      podsSelected: pods.length,
      podsObserved: pods.length - missed.length,
      connections,
      flows: this.aggregator.size,
      added,
      dropped,
      expired,
      malformedLines,
    };
    // Stopped while it read: the map is off, and its series were withdrawn; publish nothing.
    if (!this.stopped) this.options.metrics?.sampled(report, () => this.map());
    return report;
  }

  /** The map as it is now. */
  map(): FlowMap {
    const flows = this.aggregator.flowsNow();
    const named = new Set<string>();
    for (const flow of flows) {
      named.add(flow.local.namespace);
      if (flow.peer.kind === "workload") named.add(flow.peer.workload.namespace);
    }
    const labelsOf = new Map(this.namespaces.map((namespace) => [namespace.name, namespace.labels]));
    const namespaces = [...named].sort().map((name) => ({ name, labels: labelsOf.get(name) ?? namespaceLabels(name) }));
    return {
      apiVersion: "netcanary/v1",
      kind: "FlowMap",
      node: this.options.nodeName,
      // What the map covers: since the observer started, or since what expired, whichever is later.
      from: new Date(Math.max(this.startedAt, (this.lastAt ?? this.startedAt) - this.expireAfterMs)).toISOString(),
      until: new Date(this.lastAt ?? this.startedAt).toISOString(),
      namespaces,
      flows,
      coverage: { ...this.coverage, droppedFlows: this.aggregator.droppedLastSample },
    };
  }

  /** Says once per pod which selected pods the map cannot see, and why (the map's coverage says it every time). */
  private logMissed(missed: readonly { pod: string; reason: string }[]): void {
    const now = new Map(missed.map((entry) => [entry.pod, entry.reason]));
    for (const [pod, reason] of now) {
      if (!this.logged.has(pod)) this.options.logger.warn({ pod, reason }, "traffic map: a selected pod's connections cannot be read");
    }
    for (const pod of this.logged.keys()) if (!now.has(pod)) this.options.logger.info({ pod }, "traffic map: a pod's connections are read again, or it is no longer selected");
    this.logged = now;
  }

  /** The pod's socket tables, read through one of its processes, or why not. */
  private async readPod(pod: PodInfo): Promise<PodRead> {
    if (pod.hostNetwork) return { ok: false, reason: "uses the host network: its sockets are the node's, not told apart from other host-network pods'" };
    const ip = pod.ips[0];
    if (ip === undefined) return { ok: false, reason: "has no IP address yet" };
    const found = await this.locator.find({ ip: ip.text, uid: pod.uid });
    if (!found.ok) return { ok: false, reason: found.reason };
    const lines: SocketLine[] = [];
    let malformed = 0;
    for (const table of SOCKET_TABLES) {
      const path = `${this.procRoot}/${found.pid}/net/${table}`;
      const read = await readBoundedFile(path, { maxBytes: MAX_TABLE_BYTES });
      if (!read.ok) {
        // A kernel without IPv6 has no tcp6/udp6: nothing to see there.
        if (read.problem === "missing" && table.endsWith("6")) continue;
        return { ok: false, reason: `${table} table: ${read.reason}` };
      }
      const parsed = parseSocketTable(read.text, table);
      if (parsed.truncated > 0) return { ok: false, reason: `${table} table: over ${MAX_TABLE_LINES} sockets, not read` };
      malformed += parsed.malformed;
      lines.push(...parsed.lines);
    }
    // The pid may have exited and been reused while the tables were read: then they were another namespace's.
    const still = await readlink(`${this.procRoot}/${found.pid}/ns/net`).catch(() => undefined);
    if (still !== found.inode) return { ok: false, reason: "its process left while its tables were read; next sample" };
    return { ok: true, lines, malformed };
  }
}

/** The lookup of one sample: answers as they are; at most MAX_ASKED_PER_SAMPLE addresses without one asked about. */
function asker(book: AddressBook, answers: ReadonlyMap<string, LookupAnswer>): (ip: IpAddress) => PeerLookup {
  const asked = new Map<string, PeerLookup>();
  return (ip) => {
    const answer = answers.get(ip.text);
    if (answer) return { kind: "answer", answer };
    const known = asked.get(ip.text);
    if (known) return known;
    if (asked.size >= MAX_ASKED_PER_SAMPLE) return { kind: "pending", reason: `not looked up yet: more than ${MAX_ASKED_PER_SAMPLE} addresses to look up in one sample` };
    const state = book.state(ip);
    const found: PeerLookup = { kind: "pending", reason: state.kind === "pending" ? state.reason : `looking up whether ${ip.text} is a pod or a Service` };
    asked.set(ip.text, found);
    return found;
  };
}
