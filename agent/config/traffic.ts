// The `traffic:` block of the configuration: whether the agent maps the connections its
// node's pods make, which pods, how often, within what budget, and the named address ranges
// that group external peers. Off by default: reading pods' socket tables is a choice the
// operator makes (docs/traffic.md says what it needs). A file of its own so the schema file
// only names the block; in config/, which owns the configuration, so the traffic map
// (traffic/) reads its settings from here and config/ imports nothing of traffic/.

import { z } from "zod";
import { type Cidr, parseCidr } from "../addresses/ip.js";
import type { FieldPath } from "../documents/located.js";
import { describeDurationRange, type DurationRange, inDurationRange, parseDuration } from "./duration.js";

/** Which pods of the node are observed. */
export type TrafficPods = { readonly kind: "sources" } | { readonly kind: "all" } | { readonly kind: "namespaces"; readonly namespaces: readonly string[] };

export interface TrafficRange {
  readonly name: string;
  readonly cidr: Cidr;
}

export interface TrafficSettings {
  readonly pods: TrafficPods;
  /** Between two reads of every observed pod's socket tables. */
  readonly intervalMs: number;
  /** Flows kept at most; more are counted as dropped. */
  readonly maxFlows: number;
  /** A flow not seen for this long leaves the map. */
  readonly expireAfterMs: number;
  /** Named ranges that group external peers (the smallest holding an address wins). */
  readonly ranges: readonly TrafficRange[];
  /** A directory of staged NetworkPolicies (staged-source.ts), evaluated against the map, never applied; absent: none. */
  readonly staged?: string;
}

/** Sampling every second is cheap for a few pods; every 10 minutes still catches long connections. */
export const TRAFFIC_INTERVAL: DurationRange = { minMs: 1000, maxMs: 10 * 60_000 };
/** From one sample interval to a week (the map is a working set, not an archive). */
export const TRAFFIC_EXPIRY: DurationRange = { minMs: 1000, maxMs: 7 * 24 * 3_600_000 };
/** docs/benchmarks.md: 50,000 flows cost tens of MiB; the default is far below. */
export const MAX_FLOWS_LIMIT = 50_000;
export const TRAFFIC_DEFAULTS = { intervalMs: 15_000, maxFlows: 2000, expireAfterMs: 3_600_000 } as const;
/** Named ranges at most (each address is checked against every one). */
export const MAX_TRAFFIC_RANGES = 1000;

function duration(range: DurationRange) {
  const message = `must be a duration ${describeDurationRange(range)}, such as "30s"`;
  return z.string({ error: message }).refine((text) => inDurationRange(parseDuration(text), range), { message });
}

const RANGE_NAME = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const FLOWS_MESSAGE = `must be a whole number from 1 to ${MAX_FLOWS_LIMIT}`;

export const trafficSchema = z.strictObject({
  enabled: z.boolean({ error: "must be true or false" }).optional(),
  /** sources (default): the pods the config's pod sources pick; all: every pod on the node; or {namespaces: [...]}. */
  pods: z
    .union([z.literal("sources"), z.literal("all"), z.strictObject({ namespaces: z.array(z.string().regex(NAMESPACE, { message: "must be a namespace name" })).min(1, { message: "must name at least one namespace" }) })], {
      error: "must be sources, all, or {namespaces: [...]}",
    })
    .optional(),
  interval: duration(TRAFFIC_INTERVAL).optional(),
  maxFlows: z.number({ error: FLOWS_MESSAGE }).int({ error: FLOWS_MESSAGE }).min(1, { error: FLOWS_MESSAGE }).max(MAX_FLOWS_LIMIT, { error: FLOWS_MESSAGE }).optional(),
  expireAfter: duration(TRAFFIC_EXPIRY).optional(),
  ranges: z
    .array(z.strictObject({ name: z.string().regex(RANGE_NAME, { message: "must be lower-case letters, digits, '-', '_' or '.' (63 at most)" }), cidr: z.string() }))
    .max(MAX_TRAFFIC_RANGES, { message: `must list at most ${MAX_TRAFFIC_RANGES} ranges` })
    .optional(),
  /** A directory (or file) of staged NetworkPolicy manifests, a mounted ConfigMap for instance. */
  staged: z.string({ error: "must be a path to a directory of NetworkPolicy manifests" }).min(1, { message: "must be a path to a directory of NetworkPolicy manifests" }).max(4096, { message: "must be a path of at most 4096 characters" }).optional(),
});

export type RawTraffic = z.infer<typeof trafficSchema>;

/** The settings, or null when traffic mapping is off (no block, or enabled: false). */
export function readTrafficSettings(raw: RawTraffic | undefined, add: (path: FieldPath, message: string) => void): TrafficSettings | null {
  if (raw === undefined || raw.enabled !== true) return null;
  const ms = (text: string | undefined, fallback: number) => (text === undefined ? fallback : (parseDuration(text) ?? fallback));
  const intervalMs = ms(raw.interval, TRAFFIC_DEFAULTS.intervalMs);
  const expireAfterMs = ms(raw.expireAfter, TRAFFIC_DEFAULTS.expireAfterMs);
  if (expireAfterMs < intervalMs) add(["traffic", raw.expireAfter !== undefined ? "expireAfter" : "interval"], `expireAfter (${expireAfterMs} ms) must not be shorter than the interval (${intervalMs} ms)`);
  const ranges: TrafficRange[] = [];
  const names = new Set<string>();
  (raw.ranges ?? []).forEach((range, i) => {
    const cidr = parseCidr(range.cidr);
    if (!cidr.ok) add(["traffic", "ranges", i, "cidr"], cidr.reason);
    else if (names.has(range.name)) add(["traffic", "ranges", i, "name"], `range "${range.name}" is named twice`);
    else ranges.push({ name: range.name, cidr: cidr.value });
    names.add(range.name);
  });
  const pods: TrafficPods = raw.pods === undefined || raw.pods === "sources" ? { kind: "sources" } : raw.pods === "all" ? { kind: "all" } : { kind: "namespaces", namespaces: [...new Set(raw.pods.namespaces)] };
  return { pods, intervalMs, maxFlows: raw.maxFlows ?? TRAFFIC_DEFAULTS.maxFlows, expireAfterMs, ranges, ...(raw.staged !== undefined ? { staged: raw.staged } : {}) };
}
