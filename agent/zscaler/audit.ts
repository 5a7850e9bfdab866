// The Zscaler coverage audit: does a source pod's egress, as the cluster's policies say,
// reach every address of Zscaler's published ranges on every port it needs? And inbound
// (direction "ingress"): does a pod's ingress admit every address of ZIA's ranges, or of the
// ZPA App Connectors, on every port it serves?
// Pure: the policy index, the source, the ranges and the ports in; sets of addresses out.
//
// The audit does not re-implement policy semantics: it asks the engine (evaluateConnection)
// for one representative address of each interval over which the engine's answer cannot change.
//
// Why the verdict is constant inside an interval. For a source pod S, a destination address a
// outside the cluster (an {kind: "ip"} endpoint: the audit never resolves a to a pod, even when
// a happens to be a pod IP in the snapshot), a port p and a protocol P:
//   - ingress: the subject is an address outside the cluster, which carries no policy. Both
//     evaluateDirection and evaluateTiers return "applies: false, allowed" for it, whatever a is.
//   - egress, NetworkPolicy tier: the selecting policies depend on S only (policies of S's
//     namespace whose podSelector matches S). A rule admits (p, P, a) when its ports admit (p, P)
//     (named ports never match an address outside the cluster, so only p and P count) and some
//     peer matches a. Pod and namespace selector peers never match an address; an ipBlock peer
//     matches when a is in `cidr` and in none of its `except` blocks.
//   - egress, admin tiers: the selecting ANPs and the BANP depend on S only; a rule matches when
//     its ports match (p, P) (named ports never match an address) and some peer matches a. Pod
//     sets never match an address; a `networks` peer matches when a is in one of its CIDRs;
//     `nodes` and `domainNames` peers give "unknown" whatever a is. Pass, priority order and the
//     same-priority check only combine these matches.
// So the verdict is a function of (S, p, P) and of the membership of a in each CIDR of B: the
// ipBlock cidr and except blocks of the NetworkPolicies of S's namespace, and the `networks`
// CIDRs of every ANP and BANP egress rule. Every CIDR is an interval [base, last] of one family.
// Cut the address space before every `base` and after every `last` of B: inside a resulting
// interval no CIDR of B starts or ends, so each CIDR either contains the whole interval or none
// of it, the membership vector is the same for every address, and so is the verdict. One address
// per interval (its first) stands for all of them. A CIDR of the other family never contains the
// address, so families are split apart. The input ranges only delimit what is asked about: the
// union of the ranges is cut at B's boundaries, and each range is judged afterwards by
// intersecting it with the uncovered addresses.
//
// One note is address-specific and ignored here: "service_ip" (the address equals a Service's
// ClusterIP). A published Zscaler address is not a ClusterIP of the cluster; the collision would
// say nothing about egress to Zscaler. Every other note the engine can give for a pod-to-address
// connection depends on the same inputs as the verdict.

import { type Cidr, formatIp, type IpFamily } from "../addresses/ip.js";
import { type AddressSet, cidrToInterval, type Interval, normalizeSet, setToCidrs } from "../addresses/ranges.js";
import type { Protocol } from "../objects/model.js";
import { type Endpoint, evaluateConnection, type PolicyIndex } from "../policy/engine.js";
import type { Direction } from "../policy/model.js";

export interface RangeCoverage {
  /** The range as given (as published). */
  readonly range: Cidr;
  /** Every address of the range is allowed on every port. */
  readonly covered: boolean;
  /** The ports on which some address of the range is denied, ascending. */
  readonly uncoveredPorts: readonly number[];
}

export interface CoverageAudit {
  /** Addresses of the ranges allowed on every port: the fewest CIDRs, IPv4 then IPv6, address order. */
  readonly covered: Cidr[];
  /** Addresses of the ranges denied on at least one port: the fewest CIDRs, in address order. */
  readonly uncovered: Cidr[];
  /** For every port asked about (ascending), the addresses of the ranges denied on it. */
  readonly perPort: Map<number, Cidr[]>;
  /** Every distinct input range, in input order, with its verdict. */
  readonly ranges: readonly RangeCoverage[];
  /**
   * Addresses whose verdict on some port is not determinate (an admin rule with a nodes or
   * domainNames peer, AdminNetworkPolicies of equal priority that disagree, a host-network source).
   * They are counted as covered or not by the engine's verdict all the same.
   */
  readonly undetermined: Cidr[];
  /** How many times the engine was asked (intervals x ports). */
  readonly evaluations: number;
}

/**
 * Every CIDR whose boundaries can change the verdict for egress from this source to an address,
 * or (direction "ingress") for an address connecting to this pod. The argument above holds for
 * ingress alike, with the roles swapped: the pod's ingress ipBlocks decide, and AdminNetworkPolicy
 * ingress peers are namespaces and pods only, never networks.
 */
export function verdictBoundaries(index: PolicyIndex, source: Endpoint, direction: Direction = "egress"): Cidr[] {
  const cidrs: Cidr[] = [];
  // NetworkPolicies select pods of their own namespace only.
  if (source.kind === "pod") {
    for (const policy of index.policiesByNamespace.get(source.pod.namespace) ?? []) {
      for (const rule of direction === "egress" ? policy.egress : policy.ingress) {
        for (const peer of rule.peers ?? []) {
          if (peer.kind === "ipBlock") cidrs.push(peer.cidr, ...peer.except);
        }
      }
    }
  }
  const tiers = index.admin;
  if (tiers !== undefined && direction === "egress") {
    for (const policy of [...tiers.admin, ...(tiers.baseline ? [tiers.baseline] : [])]) {
      for (const rule of policy.egress) {
        for (const peer of rule.peers) if (peer.kind === "networks") cidrs.push(...peer.networks);
      }
    }
  }
  return cidrs;
}

/**
 * The intervals over which the verdict is constant: the union of the ranges, cut before the
 * first and after the last address of every boundary CIDR. Sorted, disjoint, IPv4 then IPv6.
 */
export function verdictIntervals(ranges: readonly Cidr[], boundaries: readonly Cidr[]): Interval[] {
  const cuts: Record<IpFamily, bigint[]> = { 4: [], 6: [] };
  for (const cidr of boundaries) {
    const { start, end } = cidrToInterval(cidr);
    // A cut at x means "a new interval starts at x".
    cuts[cidr.family].push(start, end + 1n);
  }
  for (const family of [4, 6] as const) {
    const sorted = cuts[family].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    cuts[family] = sorted.filter((value, i) => i === 0 || value !== sorted[i - 1]);
  }
  const intervals: Interval[] = [];
  for (const piece of normalizeSet(ranges.map(cidrToInterval))) {
    const list = cuts[piece.family];
    let start = piece.start;
    // The first cut strictly after piece.start.
    for (let i = firstAbove(list, piece.start); i < list.length; i++) {
      const cut = list[i] as bigint;
      if (cut > piece.end) break;
      intervals.push({ family: piece.family, start, end: cut - 1n });
      start = cut;
    }
    intervals.push({ family: piece.family, start, end: piece.end });
  }
  return intervals;
}

/** Index of the first value in the sorted list that is greater than x. */
function firstAbove(list: readonly bigint[], x: bigint): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((list[mid] as bigint) <= x) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Does the sorted, disjoint set hold any address of the interval? */
function overlaps(set: AddressSet, interval: Interval): boolean {
  let low = 0;
  let high = set.length;
  // The first member that does not end before the interval starts (families sort 4 before 6).
  while (low < high) {
    const mid = (low + high) >>> 1;
    const member = set[mid] as Interval;
    const before = member.family < interval.family || (member.family === interval.family && member.end < interval.start);
    if (before) low = mid + 1;
    else high = mid;
  }
  const member = set[low];
  return member !== undefined && member.family === interval.family && member.start <= interval.end;
}

/**
 * Which addresses of the ranges the source's egress reaches on every port, as the engine says.
 * `source` is a pod (an address as source carries no policy: everything is covered). A
 * destination address is asked about as an address outside the cluster, never as the pod that
 * may hold it in the snapshot.
 */
export function auditCoverage(
  index: PolicyIndex,
  source: Endpoint,
  ranges: readonly Cidr[],
  ports: readonly number[],
  protocol: Protocol = "TCP",
  direction: Direction = "egress",
): CoverageAudit {
  const portList = [...new Set(ports)].sort((a, b) => a - b);
  const intervals = verdictIntervals(ranges, verdictBoundaries(index, source, direction));
  const deniedByPort = new Map<number, Interval[]>(portList.map((port) => [port, []]));
  const undetermined: Interval[] = [];
  const allowedEverywhere: Interval[] = [];
  let evaluations = 0;
  for (const interval of intervals) {
    // The interval's first address stands for all of it (see the argument at the top).
    const address: Endpoint = { kind: "ip", ip: { family: interval.family, value: interval.start, text: formatIp(interval.family, interval.start) } };
    let determinate = true;
    let allowed = true;
    for (const port of portList) {
      // Ingress: the address connects to the pod ("source" is then the pod the traffic comes to).
      const verdict = evaluateConnection(index, direction === "egress" ? { from: source, to: address, port, protocol } : { from: address, to: source, port, protocol });
      evaluations++;
      if (verdict.verdict !== "allow") {
        allowed = false;
        deniedByPort.get(port)?.push(interval);
      }
      if (verdict.notes.some((note) => note.code !== "service_ip" && (note.kind === "undefined" || note.kind === "unknown"))) determinate = false;
    }
    if (!determinate) undetermined.push(interval);
    if (allowed) allowedEverywhere.push(interval);
  }

  const deniedSets = new Map<number, AddressSet>();
  for (const [port, denied] of deniedByPort) deniedSets.set(port, normalizeSet(denied));
  const uncoveredSet = normalizeSet([...deniedSets.values()].flat());
  const perPort = new Map<number, Cidr[]>();
  for (const [port, set] of deniedSets) perPort.set(port, setToCidrs(set));

  const seen = new Set<string>();
  const rangeCoverage: RangeCoverage[] = [];
  for (const range of ranges) {
    if (seen.has(range.text)) continue;
    seen.add(range.text);
    const interval = cidrToInterval(range);
    const uncoveredPorts = portList.filter((port) => overlaps(deniedSets.get(port) ?? [], interval));
    rangeCoverage.push({ range, covered: uncoveredPorts.length === 0, uncoveredPorts });
  }
  return {
    covered: setToCidrs(normalizeSet(allowedEverywhere)),
    uncovered: setToCidrs(uncoveredSet),
    perPort,
    ranges: rangeCoverage,
    undetermined: setToCidrs(normalizeSet(undetermined)),
    evaluations,
  };
}

/**
 * The input ranges (as published, deduplicated, in input order) that the source's egress does
 * not fully reach on every port: the form for a log line or a metric.
 */
export function uncoveredRanges(
  index: PolicyIndex,
  source: Endpoint,
  ranges: readonly Cidr[],
  ports: readonly number[],
  protocol: Protocol = "TCP",
): Cidr[] {
  return auditCoverage(index, source, ranges, ports, protocol)
    .ranges.filter((r) => !r.covered)
    .map((r) => r.range);
}
