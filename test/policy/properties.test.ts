// Property tests: random small clusters and policies, checked against invariants and
// against a tiny reference evaluator written straight from the NetworkPolicy docs.
import fc from "fast-check";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import type { ClusterSnapshot, PodInfo, Protocol } from "../../agent/cluster/snapshot.js";
import { parseDocuments } from "../../agent/documents/located.js";
import {
  buildPolicyIndex,
  type Endpoint,
  evaluateConnection,
  type PolicyIndex,
  withoutPolicy,
  withPolicy,
} from "../../agent/policy/engine.js";
import type { PolicyVerdict } from "../../agent/policy/model.js";
import { formatRule } from "../../agent/policy/explain.js";
import { rulesFor } from "../../agent/policy/rules.js";
import { canonical, normalizeYaml } from "./helpers.js";

// ---------- raw objects, as written in YAML ----------

type Operator = "In" | "NotIn" | "Exists" | "DoesNotExist";
interface RawExpression {
  key: string;
  operator: Operator;
  values?: string[];
}
interface RawSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: RawExpression[];
}
interface RawIpBlock {
  cidr: string;
  except?: string[];
}
interface RawPeer {
  podSelector?: RawSelector;
  namespaceSelector?: RawSelector;
  ipBlock?: RawIpBlock;
}
interface RawPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}
interface RawRule {
  from?: RawPeer[];
  to?: RawPeer[];
  ports?: RawPort[];
}
interface RawSpec {
  podSelector: RawSelector;
  policyTypes?: string[];
  ingress?: (RawRule | null)[];
  egress?: (RawRule | null)[];
}
interface RawPolicy {
  apiVersion: "networking.k8s.io/v1";
  kind: "NetworkPolicy";
  metadata: { name: string; namespace: string };
  spec: RawSpec;
}
interface RawContainerPort {
  name: string;
  containerPort: number;
  protocol: Protocol;
}
interface RawPod {
  namespace: string;
  name: string;
  /** A Deployment's pod template: no IP yet. */
  template: boolean;
  labels: Record<string, string>;
  ips: string[];
  ports: RawContainerPort[];
}
interface RawNamespace {
  name: string;
  labels: Record<string, string>;
}
interface RawCluster {
  namespaces: RawNamespace[];
  pods: RawPod[];
  policies: RawPolicy[];
}

// ---------- generators ----------

const NAMESPACES = ["alpha", "beta", "gamma"];
const NS_LABELS: Record<string, string[]> = { team: ["x", "y"], env: ["prod", "dev"] };
const POD_LABELS: Record<string, string[]> = { app: ["web", "api", "db"], tier: ["front", "back", ""], role: ["r"] };
const PROTOCOLS: Protocol[] = ["TCP", "UDP", "SCTP"];
const PORT_NUMBERS = [53, 80, 443, 8080, 8081, 9000, 9100];
const PORT_NAMES = ["web", "dns", "metrics"];
const EXTERNAL_IPS = ["10.0.0.200", "10.0.1.5", "10.0.0.13", "192.168.1.1", "8.8.8.8", "fd00::99", "2001:db8::1", "fd00::2"];
const IP_BLOCKS: RawIpBlock[] = [
  { cidr: "10.0.0.0/16" },
  { cidr: "10.0.0.0/16", except: ["10.0.1.0/24"] },
  { cidr: "10.0.0.0/16", except: ["10.0.0.0/28", "10.0.1.128/25"] },
  { cidr: "10.0.0.0/24" },
  { cidr: "10.0.0.0/24", except: ["10.0.0.12/30"] },
  { cidr: "10.0.1.77/24" },
  { cidr: "10.0.0.11/32" },
  { cidr: "0.0.0.0/0" },
  { cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] },
  { cidr: "192.168.0.0/16" },
  { cidr: "fd00::/64" },
  { cidr: "fd00::/64", except: ["fd00::/126"] },
  { cidr: "::/0" },
];

function labelsArb(pool: Record<string, string[]>): fc.Arbitrary<Record<string, string>> {
  const entries = Object.entries(pool).map(([key, values]) =>
    fc.option(fc.constantFrom(...values), { nil: undefined }).map((value) => [key, value] as const),
  );
  return fc.tuple(...entries).map((pairs) => {
    const labels: Record<string, string> = {};
    for (const [key, value] of pairs) if (value !== undefined) labels[key] = value;
    return labels;
  });
}

function expressionArb(pool: Record<string, string[]>): fc.Arbitrary<RawExpression> {
  const keys = [...Object.keys(pool), "absent"];
  return fc.tuple(fc.constantFrom(...keys), fc.constantFrom<Operator>("In", "NotIn", "Exists", "DoesNotExist")).chain(([key, operator]): fc.Arbitrary<RawExpression> => {
    const values = pool[key] ?? ["v"];
    if (operator === "Exists" || operator === "DoesNotExist") return fc.constant({ key, operator });
    return fc.subarray(values, { minLength: 1 }).map((chosen) => ({ key, operator, values: chosen }));
  });
}

function selectorArb(pool: Record<string, string[]>): fc.Arbitrary<RawSelector> {
  return fc
    .record({
      matchLabels: fc.option(
        fc.subarray(Object.keys(pool), { maxLength: 2 }).chain((keys) =>
          fc.tuple(...keys.map((k) => fc.constantFrom(...(pool[k] ?? [""])).map((v) => [k, v] as const))),
        ),
        { nil: undefined },
      ),
      matchExpressions: fc.option(fc.array(expressionArb(pool), { maxLength: 2 }), { nil: undefined }),
    })
    .map(({ matchLabels, matchExpressions }) => ({
      ...(matchLabels !== undefined ? { matchLabels: Object.fromEntries(matchLabels) } : {}),
      ...(matchExpressions !== undefined ? { matchExpressions } : {}),
    }));
}

const NS_SELECTOR_POOL: Record<string, string[]> = { ...NS_LABELS, "kubernetes.io/metadata.name": NAMESPACES };

const peerArb: fc.Arbitrary<RawPeer> = fc.oneof(
  selectorArb(POD_LABELS).map((podSelector) => ({ podSelector })),
  selectorArb(NS_SELECTOR_POOL).map((namespaceSelector) => ({ namespaceSelector })),
  fc.tuple(selectorArb(NS_SELECTOR_POOL), selectorArb(POD_LABELS)).map(([namespaceSelector, podSelector]) => ({ namespaceSelector, podSelector })),
  fc.constantFrom(...IP_BLOCKS).map((ipBlock) => ({ ipBlock })),
);

const policyPortArb: fc.Arbitrary<RawPort> = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...PORT_NUMBERS).map((port) => ({ port })),
  fc.tuple(fc.constantFrom(...PROTOCOLS), fc.constantFrom(...PORT_NUMBERS)).map(([protocol, port]) => ({ protocol, port })),
  fc.constantFrom(...PROTOCOLS).map((protocol) => ({ protocol })),
  fc.tuple(fc.constantFrom(...PORT_NUMBERS), fc.integer({ min: 0, max: 1200 })).map(([port, extra]) => ({ port, endPort: port + extra })),
  fc.tuple(fc.option(fc.constantFrom(...PROTOCOLS), { nil: undefined }), fc.constantFrom(...PORT_NAMES)).map(([protocol, port]) =>
    protocol === undefined ? { port } : { protocol, port },
  ),
);

function ruleArb(peersKey: "from" | "to"): fc.Arbitrary<RawRule | null> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    {
      weight: 8,
      arbitrary: fc
        .record({
          peers: fc.option(fc.array(peerArb, { maxLength: 3 }), { nil: undefined }),
          ports: fc.option(fc.array(policyPortArb, { maxLength: 2 }), { nil: undefined }),
        })
        .map(({ peers, ports }) => ({
          ...(peers !== undefined ? { [peersKey]: peers } : {}),
          ...(ports !== undefined ? { ports } : {}),
        })),
    },
  );
}

const policyTypesArb = fc.constantFrom<string[] | undefined>(undefined, [], ["Ingress"], ["Egress"], ["Ingress", "Egress"], ["Egress", "Ingress"]);

function policyArb(name: string): fc.Arbitrary<RawPolicy> {
  return fc
    .record({
      namespace: fc.constantFrom(...NAMESPACES),
      podSelector: selectorArb(POD_LABELS),
      policyTypes: policyTypesArb,
      ingress: fc.option(fc.array(ruleArb("from"), { maxLength: 3 }), { nil: undefined }),
      egress: fc.option(fc.array(ruleArb("to"), { maxLength: 3 }), { nil: undefined }),
    })
    .map(({ namespace, podSelector, policyTypes, ingress, egress }) => ({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name, namespace },
      spec: {
        podSelector,
        ...(policyTypes !== undefined ? { policyTypes } : {}),
        ...(ingress !== undefined ? { ingress } : {}),
        ...(egress !== undefined ? { egress } : {}),
      },
    }));
}

const containerPortsArb: fc.Arbitrary<RawContainerPort[]> = fc
  .subarray(PORT_NAMES, { maxLength: 2 })
  .chain((names) =>
    fc.tuple(
      ...names.map((name) =>
        fc.tuple(fc.constantFrom(...PORT_NUMBERS), fc.constantFrom<Protocol>("TCP", "TCP", "UDP")).map(([containerPort, protocol]) => ({
          name,
          containerPort,
          protocol,
        })),
      ),
    ),
  );

function podArb(index: number): fc.Arbitrary<RawPod> {
  return fc
    .record({
      namespace: fc.constantFrom(...NAMESPACES),
      labels: labelsArb(POD_LABELS),
      dualStack: fc.boolean(),
      template: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
      ports: containerPortsArb,
    })
    .map(({ namespace, labels, dualStack, template, ports }) => ({
      namespace,
      name: `pod${index}`,
      template,
      labels,
      // 10.0.0.11, 10.0.1.12, 10.0.0.13, ... (some inside the pool's blocks and excepts, some not)
      ips: template ? [] : [`10.0.${index % 2}.${11 + index}`, ...(dualStack ? [`fd00::${index + 1}`] : [])],
      ports,
    }));
}

const clusterArb: fc.Arbitrary<RawCluster> = fc
  .record({
    nsLabels: fc.tuple(...NAMESPACES.map(() => labelsArb(NS_LABELS))),
    declared: fc.subarray(NAMESPACES),
    podCount: fc.integer({ min: 1, max: 5 }),
    policyCount: fc.integer({ min: 0, max: 4 }),
  })
  .chain(({ nsLabels, declared, podCount, policyCount }) =>
    fc
      .tuple(
        fc.tuple(...Array.from({ length: podCount }, (_, i) => podArb(i))),
        fc.tuple(...Array.from({ length: policyCount }, (_, i) => policyArb(`pol${i}`))),
      )
      .map(([pods, policies]) => ({
        // Undeclared namespaces still exist (with only their name label) when referenced.
        namespaces: NAMESPACES.flatMap((name, i) => (declared.includes(name) ? [{ name, labels: nsLabels[i] ?? {} }] : [])),
        pods,
        policies,
      })),
  );

const probeArb = fc.array(fc.tuple(fc.constantFrom(...PORT_NUMBERS), fc.constantFrom(...PROTOCOLS)), { minLength: 1, maxLength: 2 });

// ---------- the cluster as the engine sees it ----------

function documentsOf(raw: RawCluster, policies: readonly RawPolicy[] = raw.policies): string {
  const docs: unknown[] = [
    ...raw.namespaces.map((ns) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns.name, labels: ns.labels } })),
    ...raw.pods.map((pod) =>
      pod.template
        ? {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: pod.name, namespace: pod.namespace },
            spec: {
              selector: { matchLabels: pod.labels },
              template: { metadata: { labels: pod.labels }, spec: { containers: [{ name: "c", image: "i", ports: pod.ports }] } },
            },
          }
        : {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels },
            spec: { containers: [{ name: "c", image: "i", ports: pod.ports }] },
            status: { podIPs: pod.ips.map((ip) => ({ ip })) },
          },
    ),
    ...policies,
  ];
  return docs.map((doc) => JSON.stringify(doc)).join("\n---\n");
}

function snapshotOf(raw: RawCluster, policies: readonly RawPolicy[] = raw.policies): ClusterSnapshot {
  const parsed = parseDocuments(documentsOf(raw, policies), "generated.yaml");
  const built = snapshotFromDocuments(parsed.documents);
  // Every generated object is valid: a rejected one would be a generator or normalizer bug.
  expect([...parsed.errors, ...built.errors]).toEqual([]);
  return built.snapshot;
}

type RefEndpoint = { kind: "pod"; pod: RawPod } | { kind: "ip"; ip: string };

interface World {
  readonly raw: RawCluster;
  readonly snapshot: ClusterSnapshot;
  readonly endpoints: { ref: RefEndpoint; engine: Endpoint }[];
}

function worldOf(raw: RawCluster): World {
  const snapshot = snapshotOf(raw);
  const podInfo = (pod: RawPod): PodInfo => {
    const found = snapshot.pods.find(
      (p) => p.namespace === pod.namespace && p.name === pod.name && (p.workload !== undefined) === pod.template,
    );
    if (!found) throw new Error(`pod ${pod.name} missing from the snapshot`);
    return found;
  };
  const endpoints = [
    ...raw.pods.map((pod) => ({ ref: { kind: "pod", pod } as RefEndpoint, engine: { kind: "pod", pod: podInfo(pod) } as Endpoint })),
    ...EXTERNAL_IPS.map((ip) => {
      const parsed = parseIp(ip);
      if (!parsed.ok) throw new Error(ip);
      return { ref: { kind: "ip", ip } as RefEndpoint, engine: { kind: "ip", ip: parsed.value } as Endpoint };
    }),
  ];
  return { raw, snapshot, endpoints };
}

// ---------- the reference evaluator: straight from the docs, over the raw objects ----------

function ipValue(text: string): { family: 4 | 6; value: bigint } {
  if (!text.includes(":")) return { family: 4, value: text.split(".").reduce((acc, octet) => acc * 256n + BigInt(octet), 0n) };
  const [head = "", tail] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return { family: 6, value: groups.reduce((acc, group) => acc * 65536n + BigInt(parseInt(group, 16)), 0n) };
}

function inCidr(ip: string, cidr: string): boolean {
  const [address = "", prefixText = ""] = cidr.split("/");
  const a = ipValue(ip);
  const net = ipValue(address);
  if (a.family !== net.family) return false;
  const hostBits = BigInt((a.family === 4 ? 32 : 128) - Number(prefixText));
  return a.value >> hostBits === net.value >> hostBits;
}

function refSelects(selector: RawSelector, labels: Record<string, string>): boolean {
  const has = (key: string) => Object.keys(labels).includes(key);
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (!has(key) || labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const ok =
      operator === "In"
        ? has(key) && values.includes(labels[key] ?? "")
        : operator === "NotIn"
          ? !has(key) || !values.includes(labels[key] ?? "")
          : operator === "Exists"
            ? has(key)
            : !has(key);
    if (!ok) return false;
  }
  return true;
}

function refPolicyTypes(spec: RawSpec): string[] {
  if (spec.policyTypes && spec.policyTypes.length > 0) return spec.policyTypes;
  return ["Ingress", ...(spec.egress && spec.egress.length > 0 ? ["Egress"] : [])];
}

interface RefQuery {
  from: RefEndpoint;
  to: RefEndpoint;
  port: number;
  protocol: Protocol;
}
interface RefDirection {
  isolated: boolean;
  allowed: boolean;
  policies: string[];
  allowedBy: string[];
}

function refNamespaceLabels(raw: RawCluster, name: string): Record<string, string> {
  const declared = raw.namespaces.find((ns) => ns.name === name);
  return { ...(declared?.labels ?? {}), "kubernetes.io/metadata.name": name };
}

function refSelecting(raw: RawCluster, pod: RawPod, direction: "ingress" | "egress", policies = raw.policies): RawPolicy[] {
  const type = direction === "ingress" ? "Ingress" : "Egress";
  return policies.filter(
    (p) => p.metadata.namespace === pod.namespace && refSelects(p.spec.podSelector, pod.labels) && refPolicyTypes(p.spec).includes(type),
  );
}

/**
 * How ipBlocks meet pods. unknownMatches: whether an ipBlock of the connection's family
 * contains the (not yet known) IP of a workload template's pods. onPods: whether ipBlocks
 * apply to pod IPs at all (conformance says yes; some network plugins say no).
 */
interface RefAssumptions {
  unknownMatches: boolean;
  onPods: boolean;
}
const CONFORMANT: RefAssumptions = { unknownMatches: false, onPods: true };

function refDirection(
  raw: RawCluster,
  query: RefQuery,
  direction: "ingress" | "egress",
  policies = raw.policies,
  assume: RefAssumptions = CONFORMANT,
): RefDirection {
  const subject = direction === "egress" ? query.from : query.to;
  const other = direction === "egress" ? query.to : query.from;
  if (subject.kind === "ip") return { isolated: false, allowed: true, policies: [], allowedBy: [] };
  const selecting = refSelecting(raw, subject.pod, direction, policies);
  if (selecting.length === 0) return { isolated: false, allowed: true, policies: [], allowedBy: [] };
  // All generated pods have an IPv4 address: pod-to-pod traffic is IPv4.
  const family = query.to.kind === "ip" ? ipValue(query.to.ip).family : query.from.kind === "ip" ? ipValue(query.from.ip).family : 4;
  const otherAddress =
    other.kind === "ip" ? other.ip : other.pod.ips.find((ip) => (ip.includes(":") ? 6 : 4) === family);
  const allowedBy: string[] = [];
  for (const policy of selecting) {
    const rules = (direction === "ingress" ? policy.spec.ingress : policy.spec.egress) ?? [];
    rules.forEach((rule, i) => {
      const peers = direction === "ingress" ? rule?.from : rule?.to;
      const peerOk = (peer: RawPeer): boolean => {
        if (peer.ipBlock) {
          const block = peer.ipBlock;
          if (other.kind === "pod" && other.pod.template) return assume.unknownMatches && ipValue(block.cidr.split("/")[0] ?? "").family === family;
          if (other.kind === "pod" && !assume.onPods) return false;
          return otherAddress !== undefined && inCidr(otherAddress, block.cidr) && !(block.except ?? []).some((e) => inCidr(otherAddress, e));
        }
        if (other.kind !== "pod") return false;
        const nsOk = peer.namespaceSelector
          ? refSelects(peer.namespaceSelector, refNamespaceLabels(raw, other.pod.namespace))
          : other.pod.namespace === policy.metadata.namespace;
        const podOk = peer.podSelector ? refSelects(peer.podSelector, other.pod.labels) : true;
        return nsOk && podOk;
      };
      const portOk = (entry: RawPort): boolean => {
        if ((entry.protocol ?? "TCP") !== query.protocol) return false;
        if (entry.port === undefined) return true;
        if (typeof entry.port === "number") {
          return entry.endPort !== undefined ? query.port >= entry.port && query.port <= entry.endPort : query.port === entry.port;
        }
        const dest = query.to;
        return dest.kind === "pod" && dest.pod.ports.some((cp) => cp.name === entry.port && cp.protocol === query.protocol && cp.containerPort === query.port);
      };
      const peersOk = !peers || peers.length === 0 || peers.some(peerOk);
      const portsOk = !rule?.ports || rule.ports.length === 0 || rule.ports.some(portOk);
      if (peersOk && portsOk) allowedBy.push(`${policy.metadata.namespace}/${policy.metadata.name}:${direction}[${i}]`);
    });
  }
  return {
    isolated: true,
    allowed: allowedBy.length > 0,
    policies: selecting.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(),
    allowedBy: allowedBy.sort(),
  };
}

function refVerdict(raw: RawCluster, query: RefQuery, policies = raw.policies, assume: RefAssumptions = CONFORMANT) {
  const egress = refDirection(raw, query, "egress", policies, assume);
  const ingress = refDirection(raw, query, "ingress", policies, assume);
  return { verdict: egress.allowed && ingress.allowed ? "allow" : "deny", egress, ingress };
}

function engineView(v: PolicyVerdict) {
  const side = (d: PolicyVerdict["egress"]): RefDirection => ({
    isolated: d.isolated,
    allowed: d.allowed,
    policies: [...d.policies].sort(),
    allowedBy: d.allowedBy.map((r) => `${r.policy}:${r.direction}[${r.rule}]`).sort(),
  });
  return { verdict: v.verdict, egress: side(v.egress), ingress: side(v.ingress) };
}

/** Every (from, to, port, protocol) of the world, for the given probes. */
function* queries(world: World, probes: readonly [number, Protocol][]) {
  for (const from of world.endpoints)
    for (const to of world.endpoints)
      for (const [port, protocol] of probes) {
        yield {
          ref: { from: from.ref, to: to.ref, port, protocol } satisfies RefQuery,
          engine: { from: from.engine, to: to.engine, port, protocol },
        };
      }
}

function label(q: RefQuery): string {
  const name = (e: RefEndpoint) => (e.kind === "ip" ? e.ip : `${e.pod.namespace}/${e.pod.name}`);
  return `${name(q.from)} -> ${name(q.to)}:${q.port}/${q.protocol}`;
}

/** expect(...).toEqual(...), but cheap when they agree (the loops run thousands of times). */
function agree(actual: unknown, expected: unknown, message: string): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual, message).toEqual(expected);
}

/** Modest by default so the file runs in a few seconds; raise it for a deep run (PROPERTY_RUNS=2000). */
const RUNS = Number(process.env["PROPERTY_RUNS"] ?? 60);

describe("property: the engine agrees with a reference evaluator written from the docs", () => {
  it("(d) verdict, isolation, selecting policies and admitting rules match on every query", () => {
    fc.assert(
      fc.property(clusterArb, probeArb, (raw, probes) => {
        const world = worldOf(raw);
        const index = buildPolicyIndex(world.snapshot);
        for (const q of queries(world, probes)) {
          agree(engineView(evaluateConnection(index, q.engine)), refVerdict(raw, q.ref), label(q.ref));
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe("property: determinate and cniDependent", () => {
  it("(g) determinate is false exactly when an unknown workload IP could change the verdict (or for self traffic)", () => {
    fc.assert(
      fc.property(clusterArb, probeArb, (raw, probes) => {
        const world = worldOf(raw);
        const index = buildPolicyIndex(world.snapshot);
        for (const q of queries(world, probes)) {
          const v = evaluateConnection(index, q.engine);
          const { from, to } = q.ref;
          const self = from.kind === "pod" && to.kind === "pod" && from.pod === to.pod && !from.pod.template;
          const low = refVerdict(raw, q.ref, raw.policies, { unknownMatches: false, onPods: true }).verdict;
          const high = refVerdict(raw, q.ref, raw.policies, { unknownMatches: true, onPods: true }).verdict;
          agree(v.determinate, !self && low === high, `determinate ${label(q.ref)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("(h) cniDependent is true exactly when ignoring ipBlocks on pod IPs would change the verdict, or the source is outside the cluster and the destination isolated", () => {
    fc.assert(
      fc.property(clusterArb, probeArb, (raw, probes) => {
        const world = worldOf(raw);
        const index = buildPolicyIndex(world.snapshot);
        for (const q of queries(world, probes)) {
          const v = evaluateConnection(index, q.engine);
          const { from, to } = q.ref;
          const rewritten = from.kind === "ip" && to.kind === "pod" && refSelecting(raw, to.pod, "ingress").length > 0;
          const applying = refVerdict(raw, q.ref, raw.policies, { unknownMatches: true, onPods: true }).verdict;
          const ignoring = refVerdict(raw, q.ref, raw.policies, { unknownMatches: true, onPods: false }).verdict;
          agree(v.cniDependent, rewritten || applying !== ignoring, `cniDependent ${label(q.ref)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe("property: invariants", () => {
  it("(a) a pod selected by no policy for a direction is open in that direction", () => {
    fc.assert(
      fc.property(clusterArb, probeArb, (raw, probes) => {
        const world = worldOf(raw);
        const index = buildPolicyIndex(world.snapshot);
        for (const q of queries(world, probes)) {
          const v = evaluateConnection(index, q.engine);
          if (q.ref.from.kind === "pod" && refSelecting(raw, q.ref.from.pod, "egress").length === 0) {
            agree([v.egress.isolated, v.egress.allowed, v.egress.policies], [false, true, []], `egress ${label(q.ref)}`);
          }
          if (q.ref.to.kind === "pod" && refSelecting(raw, q.ref.to.pod, "ingress").length === 0) {
            agree([v.ingress.isolated, v.ingress.allowed, v.ingress.policies], [false, true, []], `ingress ${label(q.ref)}`);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("(b) adding an allow rule to a policy (in a direction it already isolates) never turns an allow into a deny", () => {
    const extraArb = fc.tuple(fc.nat(), fc.boolean(), ruleArb("from"), ruleArb("to"));
    fc.assert(
      fc.property(
        clusterArb.filter((c) => c.policies.length > 0),
        probeArb,
        extraArb,
        (raw, probes, [which, preferEgress, ingressRule, egressRule]) => {
          const target = raw.policies[which % raw.policies.length] as RawPolicy;
          const types = refPolicyTypes(target.spec);
          const direction = preferEgress && types.includes("Egress") ? "egress" : types.includes("Ingress") ? "ingress" : "egress";
          const rule = direction === "ingress" ? ingressRule : egressRule;
          const changed: RawPolicy = {
            ...target,
            spec: { ...target.spec, [direction]: [...(target.spec[direction] ?? []), rule] },
          };
          const world = worldOf(raw);
          const before = buildPolicyIndex(world.snapshot);
          const after = withPolicy(before, normalizeYaml(changed as unknown as Record<string, unknown>));
          for (const q of queries(world, probes)) {
            const was = evaluateConnection(before, q.engine);
            const now = evaluateConnection(after, q.engine);
            if (was.egress.allowed) agree(now.egress.allowed, true, `egress ${label(q.ref)}`);
            if (was.ingress.allowed) agree(now.ingress.allowed, true, `ingress ${label(q.ref)}`);
            if (was.verdict === "allow") agree(now.verdict, "allow", label(q.ref));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("(c) a new policy opens a denied direction only through one of its own rules, and closes one only by selecting the pod", () => {
    fc.assert(
      fc.property(clusterArb, probeArb, policyArb("added"), (raw, probes, added) => {
        const world = worldOf(raw);
        const before = buildPolicyIndex(world.snapshot);
        const after = withPolicy(before, normalizeYaml(added as unknown as Record<string, unknown>));
        const id = `${added.metadata.namespace}/added`;
        for (const q of queries(world, probes)) {
          const was = evaluateConnection(before, q.engine);
          const now = evaluateConnection(after, q.engine);
          for (const d of ["egress", "ingress"] as const) {
            if (!was[d].allowed && now[d].allowed) {
              agree(now[d].allowedBy.some((r) => r.policy === id && r.direction === d), true, `${d} ${label(q.ref)}`);
            }
            if (was[d].allowed && !now[d].allowed) agree(now[d].policies.includes(id), true, `${d} ${label(q.ref)}`);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("(e) evaluation is deterministic and independent of the order of policies", () => {
    fc.assert(
      fc.property(
        clusterArb.chain((raw) => fc.tuple(fc.constant(raw), fc.shuffledSubarray(raw.policies, { minLength: raw.policies.length }))),
        probeArb,
        ([raw, shuffled], probes) => {
          const world = worldOf(raw);
          const index = buildPolicyIndex(world.snapshot);
          const reordered = buildPolicyIndex(snapshotOf(raw, shuffled));
          for (const q of queries(world, probes)) {
            const first = evaluateConnection(index, q.engine);
            agree(evaluateConnection(index, q.engine), first, label(q.ref));
            agree(canonical(evaluateConnection(reordered, q.engine)), canonical(first), label(q.ref));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("(f) an index patched with withPolicy / withoutPolicy answers as an index rebuilt from scratch", () => {
    const editsArb = fc.tuple(fc.nat(), fc.array(fc.nat(), { maxLength: 3 }), policyArb("pol0"));
    fc.assert(
      fc.property(clusterArb, probeArb, editsArb, (raw, probes, [split, removals, replacement]) => {
        const world = worldOf(raw);
        const start = split % (raw.policies.length + 1);
        // Start from the first policies, add the others one by one...
        let index = buildPolicyIndex(snapshotOf(raw, raw.policies.slice(0, start)));
        for (const p of raw.policies.slice(start)) index = withPolicy(index, normalizeYaml(p as unknown as Record<string, unknown>));
        let final = [...raw.policies];
        // ...remove some...
        for (const r of removals) {
          const victim = raw.policies[r % Math.max(raw.policies.length, 1)];
          if (!victim) continue;
          index = withoutPolicy(index, victim.metadata.namespace, victim.metadata.name);
          final = final.filter((p) => p !== victim);
        }
        // ...and replace (or add) pol0 by a policy of the same name, perhaps in another namespace.
        index = withPolicy(index, normalizeYaml(replacement as unknown as Record<string, unknown>));
        final = [
          ...final.filter((p) => !(p.metadata.name === "pol0" && p.metadata.namespace === replacement.metadata.namespace)),
          replacement,
        ];
        const rebuilt = buildPolicyIndex(snapshotOf(raw, final));
        for (const q of queries(world, probes)) {
          agree(canonical(evaluateConnection(index, q.engine)), canonical(evaluateConnection(rebuilt, q.engine)), label(q.ref));
          // The patched index also agrees with the reference on the final policy set.
          agree(engineView(evaluateConnection(index, q.engine)), refVerdict(raw, q.ref, final), label(q.ref));
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe("reference evaluator self-checks (so that agreement means something)", () => {
  it("inCidr masks host bits, keeps families apart and honours /0 and /32", () => {
    expect(inCidr("10.0.1.200", "10.0.1.77/24")).toBe(true);
    expect(inCidr("10.0.2.1", "10.0.1.77/24")).toBe(false);
    expect(inCidr("255.255.255.255", "0.0.0.0/0")).toBe(true);
    expect(inCidr("fd00::1", "0.0.0.0/0")).toBe(false);
    expect(inCidr("10.0.0.1", "::/0")).toBe(false);
    expect(inCidr("10.0.0.11", "10.0.0.11/32")).toBe(true);
    expect(inCidr("10.0.0.12", "10.0.0.11/32")).toBe(false);
    expect(inCidr("fd00::3", "fd00::/126")).toBe(true);
    expect(inCidr("fd00::4", "fd00::/126")).toBe(false);
  });

  it("refSelects: NotIn and DoesNotExist match absent keys; In and Exists do not", () => {
    expect(refSelects({ matchExpressions: [{ key: "a", operator: "NotIn", values: ["x"] }] }, {})).toBe(true);
    expect(refSelects({ matchExpressions: [{ key: "a", operator: "DoesNotExist" }] }, {})).toBe(true);
    expect(refSelects({ matchExpressions: [{ key: "a", operator: "In", values: ["x"] }] }, {})).toBe(false);
    expect(refSelects({ matchExpressions: [{ key: "a", operator: "Exists" }] }, {})).toBe(false);
    expect(refSelects({ matchLabels: { a: "" } }, {})).toBe(false);
  });

  it("the generators produce clusters where policies both allow and deny (the properties are not vacuous)", () => {
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(clusterArb, probeArb, (raw, probes) => {
        const world = worldOf(raw);
        const index = buildPolicyIndex(world.snapshot);
        for (const q of queries(world, probes)) {
          const v = evaluateConnection(index, q.engine);
          outcomes.add(`${v.verdict}:${v.egress.isolated}:${v.ingress.isolated}:${v.cniDependent}`);
        }
      }),
      { numRuns: 60, seed: 42 },
    );
    expect(outcomes).toContain("allow:true:true:false");
    expect(outcomes).toContain("deny:true:false:false");
    expect(outcomes).toContain("deny:false:true:false");
    expect([...outcomes].some((o) => o.endsWith(":true"))).toBe(true);
  });
});

describe("property: a rule alone (policy/rules.ts), derivation's first look", () => {
  it("(h) admits exactly what the engine's verdict says that rule admits, for every rule of every source and query", () => {
    let admitted = 0;
    fc.assert(
      fc.property(clusterArb, probeArb, (raw, probes) => {
        const world = worldOf(raw);
        const index = buildPolicyIndex(world.snapshot);
        for (const q of queries(world, probes)) {
          if (q.engine.from.kind !== "pod") continue;
          const verdict = evaluateConnection(index, q.engine);
          const byEngine = verdict.egress.allowedBy.map(formatRule).sort();
          const alone = rulesFor(index, q.engine.from.pod, "egress")
            .filter((rule) => rule.matches(q.engine.to, q.engine.to, q.engine.port, q.engine.protocol))
            .map((rule) => rule.name)
            .sort();
          admitted += alone.length;
          agree(alone, byEngine, label(q.ref));
        }
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: some rules admitted something.
    expect(admitted).toBeGreaterThan(0);
  });
});
