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
import type { ClusterSnapshot, PodInfo } from "../cluster/snapshot.js";
import type { DeriveSettings, RuleAddressConfig } from "../config/model.js";
import { type Endpoint, endpointForIp, evaluateConnection, type PolicyIndex, resolveNamedPort } from "../policy/engine.js";
import { formatRule } from "../policy/explain.js";
import type { PolicyVerdict } from "../policy/model.js";
import { policyOfRule, type PortSlot, type RuleOf, rulesFor, slotHolds } from "../policy/rules.js";
import { evaluateServiceConnection } from "../policy/services.js";
import type { SourceIdentity } from "../sources/identity.js";
import { chooseByRendezvous } from "../targets/rendezvous.js";
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
  /** Rules (and port entries) no candidate fills, each with why: said by `once` and the results. */
  readonly unfilled: readonly { readonly rule: string; readonly reason: string }[];
}

/** A destination the state or the config names, with the TCP ports it declares. */
interface Candidate {
  readonly key: string;
  readonly ip: IpAddress;
  readonly endpoint: string;
  readonly ports: readonly number[];
  /** The verdict for a connection to this port, and the destination a named port resolves on; undefined: no single verdict. */
  judge(port: number): Judged | undefined;
}

interface Judged {
  readonly verdict: PolicyVerdict;
  /** The port the rule sees (a Service's target port on its backends). */
  readonly seenPort: number;
  readonly named: (name: string) => number | undefined;
}

const noNames = () => undefined;

function podCandidates(index: PolicyIndex, from: Endpoint, self: PodInfo | undefined): Candidate[] {
  const found: Candidate[] = [];
  for (const pod of index.podsByKey.values()) {
    // Real pods that can answer: no template, no host network, not going away, with an address.
    if (pod.workload || pod.hostNetwork || pod.terminating || (self && pod.namespace === self.namespace && pod.name === self.name)) continue;
    const ip = pod.ips.find((address) => address.family === 4) ?? pod.ips[0];
    const ports = [...new Set(pod.ports.filter((p) => p.protocol === "TCP").map((p) => p.port))].sort((a, b) => a - b);
    if (!ip || ports.length === 0) continue;
    const to: Endpoint = { kind: "pod", pod };
    const named = (name: string) => resolveNamedPort(pod, name, "TCP");
    found.push({ key: `pod ${pod.namespace}/${pod.name}`, ip, endpoint: `${pod.namespace}/${pod.name}`, ports, judge: (port) => ({ verdict: evaluateConnection(index, { from, to, port, protocol: "TCP" }), seenPort: port, named }) });
  }
  return found;
}

function serviceCandidates(index: PolicyIndex, snapshot: ClusterSnapshot, from: Endpoint): Candidate[] {
  const found: Candidate[] = [];
  for (const service of snapshot.services) {
    const ip = service.clusterIps.find((address) => address.family === 4) ?? service.clusterIps[0];
    const ports = [...new Set(service.ports.filter((p) => p.protocol === "TCP").map((p) => p.port))].sort((a, b) => a - b);
    if (!ip || ports.length === 0) continue;
    const judge = (port: number): Judged | undefined => {
      const result = evaluateServiceConnection(index, from, service, port, "TCP");
      // Backends that disagree stand for no one rule; a Service without backends accepts nothing.
      if (result.kind !== "agreed") return undefined;
      const ports = new Set(result.backends.map((b) => b.port));
      const backend = result.backends[0];
      if (!backend || ports.size !== 1) return undefined;
      return { verdict: result.verdict, seenPort: backend.port, named: (name) => resolveNamedPort(backend.pod, name, "TCP") };
    };
    found.push({ key: `service ${service.namespace}/${service.name}`, ip, endpoint: `Service ${service.namespace}/${service.name}`, ports, judge });
  }
  return found;
}

function addressCandidate(index: PolicyIndex, from: Endpoint, ip: IpAddress, ports: readonly number[], origin: string): Candidate {
  const to = endpointForIp(index, ip);
  return { key: `${origin} ${ip.text}`, ip, endpoint: ip.text, ports, judge: (port) => ({ verdict: evaluateConnection(index, { from, to, port, protocol: "TCP" }), seenPort: port, named: noNames }) };
}

/** A range's representative: its first host address (the network address itself for /31, /32, /127, /128). */
export function firstHost(cidr: Cidr): IpAddress {
  const bits = cidr.family === 4 ? 32 : 128;
  const value = bits - cidr.prefix >= 2 ? cidr.base + 1n : cidr.base;
  return { family: cidr.family, value, text: formatIp(cidr.family, value) };
}

function candidatesOf(input: DeriveInput, from: Endpoint): Candidate[] {
  const { index, snapshot, settings, source } = input;
  const destinations = new Map<string, number[]>();
  const ips = new Map<string, IpAddress>();
  for (const { ip, port } of settings.destinations) {
    destinations.set(ip.text, [...(destinations.get(ip.text) ?? []), port]);
    ips.set(ip.text, ip);
  }
  const configured = [...destinations].map(([text, ports]) => addressCandidate(index, from, ips.get(text) as IpAddress, [...new Set(ports)].sort((a, b) => a - b), "destination"));
  const zscaler = settings.zscalerRanges ? (input.zscalerRanges ?? []).map((cidr) => addressCandidate(index, from, firstHost(cidr), ZSCALER_GATEWAY_PORTS, `zscaler ${cidr.text}`)) : [];
  return [...podCandidates(index, from, source.pod), ...serviceCandidates(index, snapshot, from), ...configured, ...zscaler];
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
  judge(candidate: Candidate, port: number): Judged | undefined {
    const key = `${candidate.key}|${port}`;
    if (this.cache.has(key)) return this.cache.get(key);
    if (this.evaluations >= MAX_EVALUATIONS) return undefined;
    this.evaluations++;
    const judged = candidate.judge(port);
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

/** Picks for one rule's slot: where the rule decides, the whole verdict as the rule says, no CNI-dependent note first. */
function fillSlot(rule: RuleOf, slot: PortSlot, candidates: readonly Candidate[], verdicts: Verdicts, seed: string): Pick | undefined {
  const wanted = rule.action === "Deny" ? "deny" : "allow";
  const ranked: Pick[][] = [[], []];
  for (const candidate of candidates) {
    for (const port of candidate.ports) {
      // Cheap before the engine: a numeric slot on a destination outside the cluster needs no verdict to rule out.
      if (slot.kind === "range" && candidate.key.startsWith("pod") && (port < slot.from || port > slot.to)) continue;
      const judged = verdicts.judge(candidate, port);
      if (!judged || !judged.verdict.determinate) continue;
      if (!slotHolds(slot, judged.seenPort, "TCP", (name) => judged.named(name))) continue;
      if (!exercises(judged.verdict, rule)) continue;
      const clean = judged.verdict.verdict === wanted && !judged.verdict.cniDependent;
      (clean ? ranked[0] : ranked[1])?.push({ candidate, port });
    }
  }
  const best = ranked.find((group) => group.length > 0);
  return best ? chooseByRendezvous(best, (pick) => `${pick.candidate.key}:${pick.port}`, seed, 1)[0] : undefined;
}

/** One listening destination the source's own egress denies, named by what denies it. */
function fillIsolation(candidates: readonly Candidate[], verdicts: Verdicts, seed: string): { pick: Pick; rule: string; policy: string } | undefined {
  const found: { pick: Pick; rule: string; policy: string }[] = [];
  for (const candidate of candidates) {
    // Only pods answer for themselves that they listen (they declare the port).
    if (!candidate.key.startsWith("pod")) continue;
    for (const port of candidate.ports) {
      const judged = verdicts.judge(candidate, port);
      const egress = judged?.verdict.egress;
      if (!judged || !egress || !judged.verdict.determinate || judged.verdict.verdict !== "deny" || egress.allowed || judged.verdict.cniDependent) continue;
      // An admin Deny rule is a rule; NetworkPolicy denies by isolation, named by its first policy.
      if (egress.deniedBy) found.push({ pick: { candidate, port }, rule: formatRule(egress.deniedBy), policy: policyOfRule(egress.deniedBy) });
      else if (egress.policies[0] !== undefined) found.push({ pick: { candidate, port }, rule: `${egress.policies[0]} egress isolation`, policy: egress.policies[0] });
    }
  }
  return chooseByRendezvous(found, (entry) => `${entry.pick.candidate.key}:${entry.pick.port}`, seed, 1)[0];
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
  const candidates = candidatesOf(input, from);
  const verdicts = new Verdicts();
  const seed = sourceSeed(source);
  // Round by round: the first port entry of every rule, then the second, ...: under the bound, every rule before any rule's second port.
  const ranked: { order: number; target: DerivedTarget }[] = [];
  const unfilled: { rule: string; reason: string }[] = [];
  rules.forEach((rule, ruleIndex) => {
    const slots = rule.slots.filter((slot) => slot.protocol === null || slot.protocol === "TCP");
    if (slots.length === 0) unfilled.push({ rule: rule.name, reason: "it admits no TCP port (only TCP is probed)" });
    const seen = new Set<string>();
    slots.forEach((slot, slotIndex) => {
      const pick = fillSlot(rule, slot, candidates, verdicts, `${seed}|${rule.name}|${slotIndex}`);
      if (!pick) {
        unfilled.push({ rule: rule.name, reason: `no destination the cluster state or the config names is ${rule.action === "Deny" ? "denied" : "admitted"} by it on ${describeSlot(slot)}` });
        return;
      }
      const key = `${pick.candidate.endpoint}|${pick.port}`;
      if (seen.has(key)) return;
      seen.add(key);
      const address: RuleAddressConfig = { kind: "rule", rule: rule.name, ip: pick.candidate.ip, port: pick.port, endpoint: pick.candidate.endpoint };
      ranked.push({ order: slotIndex * rules.length + ruleIndex, target: { rule: rule.name, policy: rule.policy, verdict: rule.action === "Deny" ? "deny" : "allow", address, slot: describeSlot(slot) } });
    });
  });
  const isolated = settings.deny ? fillIsolation(candidates, verdicts, `${seed}|isolation`) : undefined;
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
    if (count >= settings.maxPerPolicy || targets.length >= settings.maxEdges) continue;
    perPolicy.set(target.policy, count + 1);
    targets.push(target);
  }
  if (verdicts.evaluations >= MAX_EVALUATIONS) unfilled.push({ rule: "", reason: `derivation stopped after ${MAX_EVALUATIONS} verdicts: some rules were not looked at` });
  return { targets, unfilled };
}
