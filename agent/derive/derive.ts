// Probes derived from the policies themselves (docs/derive.md): for one source identity, each
// egress rule of each policy that selects it, on each of the rule's TCP port entries, gets one
// representative destination that rule admits (admin Deny rules: one they deny), and an
// isolated source gets one destination its policies deny that listens on the port. The
// candidates are only what the cluster state and the config name: pods declaring the port,
// Services (judged by their backends), the configured destinations, the first address of each
// configured Zscaler range; the engine itself decides which rule admits which candidate, so
// derivation never disagrees with the verdict. Bounded per policy and per source, chosen by
// rendezvous hashing on the source and the rule (the same choice after a restart, and a
// destination coming or going moves only the rules it served). Pure: plain snapshots in.

import { type Cidr, formatIp, type IpAddress } from "../addresses/ip.js";
import type { ClusterSnapshot, PodInfo, ServiceInfo } from "../cluster/snapshot.js";
import type { DeriveSettings, RuleAddressConfig } from "../config/model.js";
import { type Endpoint, endpointForIp, evaluateConnection, type PolicyIndex, resolveNamedPort, selectingPolicies } from "../policy/engine.js";
import { formatRule } from "../policy/explain.js";
import type { PolicyVerdict } from "../policy/model.js";
import { policyOfRule, type PortSlot, type RuleOf, rulesFor, slotHolds } from "../policy/rules.js";
import { evaluateServiceConnection } from "../policy/services.js";
import { NOT_WATCHED_REASON } from "./scope.js";
import type { SourceIdentity } from "../sources/identity.js";
import { cheapWeight } from "../hashing/rendezvous.js";
import { ZSCALER_GATEWAY_PORTS } from "../zscaler/policy.js";

/** (candidate, port) verdicts one source's derivation may compute: a bound on its work. */
export const MAX_EVALUATIONS = 20_000;

export interface DeriveInput {
  readonly index: PolicyIndex;
  readonly snapshot: ClusterSnapshot;
  readonly source: SourceIdentity;
  readonly settings: DeriveSettings;
  /** The configured Zscaler clouds' published ranges (used when settings.zscalerRanges). */
  readonly zscalerRanges?: readonly Cidr[];
  /** Rules whose pods a live agent does not watch (scope.ts: beyond its limit): no destination found says so. */
  readonly unwatched?: ReadonlySet<string>;
}

export interface DerivedTarget {
  /** The rule exercised, as formatRule names it; for the isolation edge: "<policy> egress isolation". */
  readonly rule: string;
  /** The policy it is bounded and counted under. */
  readonly policy: string;
  /** What the policies say of it: allow for an admitting rule, deny for an admin Deny rule or isolation. */
  readonly verdict: "allow" | "deny";
  readonly address: RuleAddressConfig;
  /** The rule's port entry the destination fills, in words ("8080", "8000-8999", "named port http", "any TCP port"). */
  readonly slot: string;
}

export interface Derivation {
  readonly targets: DerivedTarget[];
  /** Rules (and port entries) left without an edge, each with why: rule coverage says it (derive/coverage.ts). */
  readonly unfilled: readonly { readonly rule: string; readonly reason: string }[];
}

/** A destination the state or the config names, with the TCP ports it declares. */
interface Candidate {
  readonly key: string;
  readonly ip: IpAddress;
  readonly endpoint: string;
  /** What a rule alone is asked about (the pod, or the address); none for a Service (its backends decide). */
  readonly peer?: Endpoint;
  /** A Service: judged by its backends. */
  readonly service?: ServiceInfo;
  readonly ports: readonly number[];
}

interface Judged {
  readonly verdict: PolicyVerdict;
  /** The port the rule sees (a Service's target port on its backends). */
  readonly seenPort: number;
  readonly named: (name: string) => number | undefined;
}

const noNames = () => undefined;

/** The verdict for a connection to the candidate's port; undefined when no single verdict stands for it. */
function judgeCandidate(index: PolicyIndex, from: Endpoint, candidate: Candidate, port: number): Judged | undefined {
  const { service, peer } = candidate;
  if (service) {
    const result = evaluateServiceConnection(index, from, service, port, "TCP");
    // Backends that disagree stand for no one rule; a Service without backends accepts nothing.
    if (result.kind !== "agreed") return undefined;
    const backend = result.backends[0];
    if (!backend || result.backends.some((b) => b.port !== backend.port)) return undefined;
    return { verdict: result.verdict, seenPort: backend.port, named: (name) => resolveNamedPort(backend.pod, name, "TCP") };
  }
  if (!peer) return undefined;
  const named = peer.kind === "pod" ? (name: string) => resolveNamedPort(peer.pod, name, "TCP") : noNames;
  return { verdict: evaluateConnection(index, { from, to: peer, port, protocol: "TCP" }), seenPort: port, named };
}

/** The TCP port numbers of a list, once each, ascending. */
function tcpPorts(list: readonly { readonly port: number; readonly protocol: string }[]): number[] {
  const ports: number[] = [];
  for (const entry of list) if (entry.protocol === "TCP" && !ports.includes(entry.port)) ports.push(entry.port);
  return ports.sort((a, b) => a - b);
}

function podCandidates(index: PolicyIndex, self: PodInfo | undefined): Candidate[] {
  const found: Candidate[] = [];
  for (const pod of index.podsByKey.values()) {
    // Real pods that can answer: no template, no host network, not going away, with an address.
    if (pod.workload || pod.hostNetwork || pod.terminating || (self && pod.namespace === self.namespace && pod.name === self.name)) continue;
    const ip = pod.ips.find((address) => address.family === 4) ?? pod.ips[0];
    if (!ip || pod.ports.length === 0) continue;
    const ports = tcpPorts(pod.ports);
    if (ports.length === 0) continue;
    const name = `${pod.namespace}/${pod.name}`;
    found.push({ key: `pod ${name}`, ip, endpoint: name, peer: { kind: "pod", pod }, ports });
  }
  return found;
}

function serviceCandidates(snapshot: ClusterSnapshot): Candidate[] {
  const found: Candidate[] = [];
  for (const service of snapshot.services) {
    const ip = service.clusterIps.find((address) => address.family === 4) ?? service.clusterIps[0];
    const ports = tcpPorts(service.ports);
    if (!ip || ports.length === 0) continue;
    found.push({ key: `service ${service.namespace}/${service.name}`, ip, endpoint: `Service ${service.namespace}/${service.name}`, service, ports });
  }
  return found;
}

function addressCandidate(index: PolicyIndex, ip: IpAddress, ports: readonly number[], origin: string): Candidate {
  return { key: `${origin} ${ip.text}`, ip, endpoint: ip.text, peer: endpointForIp(index, ip), ports };
}

/** A range's representative: its first host address (the network address itself for /31, /32, /127, /128). */
export function firstHost(cidr: Cidr): IpAddress {
  const bits = cidr.family === 4 ? 32 : 128;
  const value = bits - cidr.prefix >= 2 ? cidr.base + 1n : cidr.base;
  return { family: cidr.family, value, text: formatIp(cidr.family, value) };
}

function candidatesOf(input: DeriveInput): Candidate[] {
  const { index, snapshot, settings, source } = input;
  const destinations = new Map<string, number[]>();
  const ips = new Map<string, IpAddress>();
  for (const { ip, port } of settings.destinations) {
    destinations.set(ip.text, [...(destinations.get(ip.text) ?? []), port]);
    ips.set(ip.text, ip);
  }
  const configured = [...destinations].map(([text, ports]) => addressCandidate(index, ips.get(text) as IpAddress, [...new Set(ports)].sort((a, b) => a - b), "destination"));
  const zscaler = settings.zscalerRanges ? (input.zscalerRanges ?? []).map((cidr) => addressCandidate(index, firstHost(cidr), ZSCALER_GATEWAY_PORTS, `zscaler ${cidr.text}`)) : [];
  return [...podCandidates(index, source.pod), ...serviceCandidates(snapshot), ...configured, ...zscaler];
}

function describeSlot(slot: PortSlot): string {
  switch (slot.kind) {
    case "any":
      return `any ${slot.protocol} port`;
    case "range":
      return slot.from === slot.to ? `${slot.from}` : `${slot.from}-${slot.to}`;
    case "named":
      return `named port ${slot.name}`;
  }
}

interface Pick {
  readonly candidate: Candidate;
  readonly port: number;
}

/** Verdicts computed once per (candidate, port): one verdict names every rule that admits it. */
class Verdicts {
  private readonly cache = new Map<string, Judged | undefined>();
  evaluations = 0;
  constructor(
    private readonly index: PolicyIndex,
    private readonly from: Endpoint,
  ) {}
  judge(candidate: Candidate, port: number): Judged | undefined {
    const key = `${candidate.key}|${port}`;
    if (this.cache.has(key)) return this.cache.get(key);
    if (this.evaluations >= MAX_EVALUATIONS) return undefined;
    this.evaluations++;
    const judged = judgeCandidate(this.index, this.from, candidate, port);
    this.cache.set(key, judged);
    return judged;
  }
}

/** Whether this verdict shows the rule deciding: it admits (Allow), or it denies (an admin Deny rule). */
function exercises(verdict: PolicyVerdict, rule: RuleOf): boolean {
  const egress = verdict.egress;
  if (rule.action === "Deny") return egress.deniedBy !== undefined && formatRule(egress.deniedBy) === rule.name;
  return egress.allowedBy.some((ref) => formatRule(ref) === rule.name);
}

/**
 * The (candidate, port) pairs that pass `admits`, heaviest rendezvous weight first, lazily: the
 * first one the engine's verdict confirms is the rendezvous choice among those it would confirm,
 * so usually one verdict is computed, not one per candidate. Weights are cheap hashes of each
 * pair's key (`keys`, built once per derivation) under the slot's seed.
 */
function* byWeight(candidates: readonly Candidate[], keys: readonly (readonly string[])[], seed: string, admits: (candidate: Candidate, port: number) => boolean): Generator<Pick> {
  const seedHash = cheapWeight(0, seed) % 4294967296;
  const found: { candidate: number; port: number; weight: number }[] = [];
  for (let c = 0; c < candidates.length; c++) {
    const candidate = candidates[c] as Candidate;
    for (let p = 0; p < candidate.ports.length; p++) {
      if (admits(candidate, candidate.ports[p] as number)) found.push({ candidate: c, port: p, weight: cheapWeight(seedHash, keys[c]?.[p] ?? "") });
    }
  }
  const keyOf = (entry: (typeof found)[number]) => keys[entry.candidate]?.[entry.port] ?? "";
  const heavier = (a: (typeof found)[number], b: (typeof found)[number]) => b.weight - a.weight || (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0);
  const pickOf = (entry: (typeof found)[number]): Pick => {
    const candidate = candidates[entry.candidate] as Candidate;
    return { candidate, port: candidate.ports[entry.port] as number };
  };
  // The heaviest few by linear scans (the common case: the first is confirmed), then the rest sorted.
  for (let tries = 0; tries < 4 && found.length > 0; tries++) {
    let best = 0;
    for (let i = 1; i < found.length; i++) if (heavier(found[i] as (typeof found)[number], found[best] as (typeof found)[number]) < 0) best = i;
    const [taken] = found.splice(best, 1);
    if (taken) yield pickOf(taken);
  }
  found.sort(heavier);
  for (const entry of found) yield pickOf(entry);
}

/** Each candidate's pair keys, "<candidate key>:<port>", by port index: what rendezvous weights hash. */
function pairKeys(candidates: readonly Candidate[]): string[][] {
  return candidates.map((candidate) => candidate.ports.map((port) => `${candidate.key}:${port}`));
}

/** Picks for one rule's slot: where the rule decides, the whole verdict as the rule says, no CNI-dependent note first. */
function fillSlot(rule: RuleOf, slot: PortSlot, candidates: readonly Candidate[], keys: readonly (readonly string[])[], verdicts: Verdicts, seed: string): Pick | undefined {
  const wanted = rule.action === "Deny" ? "deny" : "allow";
  // The rule alone first (cheap); a Service is left to its backends' verdict.
  const admits = (candidate: Candidate, port: number) => {
    const peer = candidate.peer;
    if (!peer) return true;
    if (!rule.matches(peer, peer, port, "TCP")) return false;
    return slotHolds(slot, port, "TCP", (name) => (peer.kind === "pod" ? resolveNamedPort(peer.pod, name, "TCP") : undefined));
  };
  let fallback: Pick | undefined;
  for (const pick of byWeight(candidates, keys, seed, admits)) {
    const judged = verdicts.judge(pick.candidate, pick.port);
    if (!judged || !judged.verdict.determinate) continue;
    if (!slotHolds(slot, judged.seenPort, "TCP", (name) => judged.named(name))) continue;
    if (!exercises(judged.verdict, rule)) continue;
    if (judged.verdict.verdict === wanted && !judged.verdict.cniDependent) return pick;
    fallback ??= pick;
  }
  return fallback;
}

/** One listening destination the source's own egress denies, named by what denies it. */
function fillIsolation(rules: readonly RuleOf[], candidates: readonly Candidate[], keys: readonly (readonly string[])[], verdicts: Verdicts, seed: string): { pick: Pick; rule: string; policy: string } | undefined {
  // Only pods answer for themselves that they listen (they declare the port); no rule alone admits them.
  const admits = (candidate: Candidate, port: number) => {
    const peer = candidate.peer;
    return peer?.kind === "pod" && candidate.key.startsWith("pod") && !rules.some((rule) => rule.action === "Allow" && rule.matches(peer, peer, port, "TCP"));
  };
  for (const pick of byWeight(candidates, keys, seed, admits)) {
    const judged = verdicts.judge(pick.candidate, pick.port);
    const egress = judged?.verdict.egress;
    if (!judged || !egress || !judged.verdict.determinate || judged.verdict.verdict !== "deny" || egress.allowed || judged.verdict.cniDependent) continue;
    // An admin Deny rule is a rule; NetworkPolicy denies by isolation, named by its first policy.
    if (egress.deniedBy) return { pick, rule: formatRule(egress.deniedBy), policy: policyOfRule(egress.deniedBy) };
    if (egress.policies[0] !== undefined) return { pick, rule: `${egress.policies[0]} egress isolation`, policy: egress.policies[0] };
  }
  return undefined;
}

/** The source's name for seeds: stable across restarts and pod replacements (never the pod's name). */
function sourceSeed(source: SourceIdentity): string {
  return [source.name, source.namespace ?? "", source.workload ?? ""].join("|");
}

/** The derived targets of one source identity (a pod of the cluster state; others derive nothing). */
export function deriveTargets(input: DeriveInput): Derivation {
  const { index, source, settings } = input;
  const pod = source.pod;
  if (!pod || pod.hostNetwork) return { targets: [], unfilled: [] };
  const from: Endpoint = { kind: "pod", pod };
  const rules = rulesFor(index, pod, "egress").filter((rule) => rule.action !== "Pass");
  const candidates = candidatesOf(input);
  const keys = pairKeys(candidates);
  const verdicts = new Verdicts(index, from);
  const seed = sourceSeed(source);
  // Round by round: the first port entry of every rule, then the second, ...: under the bound, every rule before any rule's second port.
  const ranked: { order: number; target: DerivedTarget }[] = [];
  const unfilled: { rule: string; reason: string }[] = [];
  rules.forEach((rule, ruleIndex) => {
    const slots = rule.slots.filter((slot) => slot.protocol === null || slot.protocol === "TCP");
    if (slots.length === 0) unfilled.push({ rule: rule.name, reason: "it admits no TCP port (only TCP is probed)" });
    const seen = new Set<string>();
    slots.forEach((slot, slotIndex) => {
      const pick = fillSlot(rule, slot, candidates, keys, verdicts, `${seed}|${rule.name}|${slotIndex}`);
      if (!pick) {
        const reason = input.unwatched?.has(rule.name) ? NOT_WATCHED_REASON : `no destination the cluster state or the config names is ${rule.action === "Deny" ? "denied" : "admitted"} by it on ${describeSlot(slot)}`;
        unfilled.push({ rule: rule.name, reason });
        return;
      }
      const key = `${pick.candidate.endpoint}|${pick.port}`;
      if (seen.has(key)) return;
      seen.add(key);
      const address: RuleAddressConfig = { kind: "rule", rule: rule.name, ip: pick.candidate.ip, port: pick.port, endpoint: pick.candidate.endpoint };
      ranked.push({ order: slotIndex * rules.length + ruleIndex, target: { rule: rule.name, policy: rule.policy, verdict: rule.action === "Deny" ? "deny" : "allow", address, slot: describeSlot(slot) } });
    });
  });
  // Isolated: some NetworkPolicy selects it for egress (with rules or none), or an admin rule may deny.
  const isolatable = selectingPolicies(index, pod, "egress").length > 0 || rules.some((rule) => rule.action === "Deny");
  const isolated = settings.deny && isolatable ? fillIsolation(rules, candidates, keys, verdicts, `${seed}|isolation`) : undefined;
  if (isolated) {
    const { pick, rule, policy } = isolated;
    const address: RuleAddressConfig = { kind: "rule", rule, ip: pick.candidate.ip, port: pick.port, endpoint: pick.candidate.endpoint };
    // After every rule's first port entry: a source has one isolation edge at most.
    ranked.push({ order: rules.length - 0.5, target: { rule, policy, verdict: "deny", address, slot: `${pick.port}` } });
  }
  ranked.sort((a, b) => a.order - b.order);
  const perPolicy = new Map<string, number>();
  const targets: DerivedTarget[] = [];
  for (const { target } of ranked) {
    const count = perPolicy.get(target.policy) ?? 0;
    if (count >= settings.maxPerPolicy || targets.length >= settings.maxEdges) {
      const bound = count >= settings.maxPerPolicy ? `derive.maxPerPolicy (${settings.maxPerPolicy})` : `derive.maxEdges (${settings.maxEdges})`;
      unfilled.push({ rule: target.rule, reason: `a destination was found on ${target.slot}, beyond ${bound}` });
      continue;
    }
    perPolicy.set(target.policy, count + 1);
    targets.push(target);
  }
  if (verdicts.evaluations >= MAX_EVALUATIONS) unfilled.push({ rule: "", reason: `derivation stopped after ${MAX_EVALUATIONS} verdicts: some rules were not looked at` });
  return { targets, unfilled };
}
