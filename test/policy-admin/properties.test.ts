// Property tests for the admin tiers: random small clusters with NetworkPolicies,
// AdminNetworkPolicies and a BaselineAdminNetworkPolicy, checked against invariants and
// against a tiny reference evaluator written straight from the v1alpha1 API documentation.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import type { ClusterSnapshot, Protocol } from "../../agent/cluster/snapshot.js";
import type { Json } from "../../agent/documents/fields.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { buildPolicyIndex, type Endpoint, evaluateConnection, type PolicyIndex } from "../../agent/policy/engine.js";
import type { Direction, DirectionVerdict, PolicyVerdict } from "../../agent/policy/model.js";
import { anp, banp, namespace, networkPolicy } from "./helpers.js";

// ---------- raw objects, as written in YAML ----------

type Labels = Record<string, string>;
interface RawPodSet {
  namespaces?: { matchLabels: Labels };
  pods?: { namespaceSelector: { matchLabels: Labels }; podSelector: { matchLabels: Labels } };
}
interface RawPeer extends RawPodSet {
  networks?: string[];
}
type RawPort = { portNumber: { protocol: Protocol; port: number } } | { namedPort: string } | { portRange: { protocol: Protocol; start: number; end: number } };
interface RawRule {
  name: string;
  action: "Allow" | "Deny" | "Pass";
  from?: RawPeer[];
  to?: RawPeer[];
  ports?: RawPort[];
}
interface RawAnp {
  name: string;
  priority: number;
  subject: RawPodSet;
  ingress: RawRule[];
  egress: RawRule[];
}
interface RawPod {
  namespace: string;
  name: string;
  labels: Labels;
  /** A Deployment: no IP yet. */
  template: boolean;
  ip: string;
  ports: { name: string; containerPort: number; protocol: Protocol }[];
}
interface World {
  pods: RawPod[];
  policies: Json[];
  anps: RawAnp[];
  banp: RawAnp | null;
}

// ---------- generators ----------

const NAMESPACES: Record<string, Labels> = { alpha: { team: "x" }, beta: { team: "y" }, gamma: { team: "x", env: "prod" } };
const NS_NAMES = Object.keys(NAMESPACES);
const APPS = ["web", "api", "db"];
const PROTOCOLS: Protocol[] = ["TCP", "UDP"];
const PORTS = [53, 80, 8080, 9090];
const EXTERNAL = ["203.0.113.7", "198.51.100.1"];
const NETWORKS = [["10.0.1.0/24"], ["0.0.0.0/0"], ["203.0.113.0/24"], ["10.0.0.0/16", "198.51.100.0/24"]];
const CONTAINER_PORTS = [
  { name: "http", containerPort: 8080, protocol: "TCP" as Protocol },
  { name: "http", containerPort: 9090, protocol: "TCP" as Protocol },
  { name: "dns", containerPort: 53, protocol: "UDP" as Protocol },
];

const nsLabelsArb: fc.Arbitrary<Labels> = fc.constantFrom<Labels>({}, { team: "x" }, { team: "y" }, { env: "prod" }, { "kubernetes.io/metadata.name": "beta" });
const podLabelsArb: fc.Arbitrary<Labels> = fc.constantFrom<Labels>({}, { app: "web" }, { app: "api" }, { app: "db" });

const podSetArb: fc.Arbitrary<RawPodSet> = fc.oneof(
  nsLabelsArb.map((matchLabels) => ({ namespaces: { matchLabels } })),
  fc.tuple(nsLabelsArb, podLabelsArb).map(([ns, p]) => ({ pods: { namespaceSelector: { matchLabels: ns }, podSelector: { matchLabels: p } } })),
);
const egressPeerArb: fc.Arbitrary<RawPeer> = fc.oneof(podSetArb, fc.constantFrom(...NETWORKS).map((networks) => ({ networks })));

const portArb: fc.Arbitrary<RawPort> = fc.oneof(
  fc.tuple(fc.constantFrom(...PROTOCOLS), fc.constantFrom(...PORTS)).map(([protocol, port]) => ({ portNumber: { protocol, port } })),
  fc.constantFrom("http", "dns").map((namedPort) => ({ namedPort })),
  fc.tuple(fc.constantFrom(...PROTOCOLS), fc.constantFrom(53, 80, 8000), fc.constantFrom(80, 8080, 9000)).filter(([, s, e]) => s < e).map(([protocol, start, end]) => ({ portRange: { protocol, start, end } })),
);

function ruleArb(direction: Direction, actions: readonly RawRule["action"][], index: number): fc.Arbitrary<RawRule> {
  const peers = direction === "ingress" ? fc.array(podSetArb, { minLength: 1, maxLength: 2 }) : fc.array(egressPeerArb, { minLength: 1, maxLength: 2 });
  return fc.record({ action: fc.constantFrom(...actions), peers, ports: fc.option(fc.array(portArb, { minLength: 1, maxLength: 2 }), { nil: undefined }) }).map(({ action, peers, ports }) => {
    // The CRD forbids named ports with networks peers.
    const safePorts = ports?.filter((p) => !("namedPort" in p) || !peers.some((peer) => "networks" in peer));
    return {
      name: `${direction}-${index}`,
      action,
      ...(direction === "ingress" ? { from: peers } : { to: peers }),
      ...(safePorts !== undefined && safePorts.length > 0 ? { ports: safePorts } : {}),
    };
  });
}

function rulesArb(direction: Direction, actions: readonly RawRule["action"][]): fc.Arbitrary<RawRule[]> {
  return fc.integer({ min: 0, max: 3 }).chain((n) => (n === 0 ? fc.constant([]) : fc.tuple(...Array.from({ length: n }, (_, i) => ruleArb(direction, actions, i)))));
}

function anpArb(name: string, actions: readonly RawRule["action"][], priorities: readonly number[]): fc.Arbitrary<RawAnp> {
  return fc
    .record({ priority: fc.constantFrom(...priorities), subject: podSetArb, ingress: rulesArb("ingress", actions), egress: rulesArb("egress", actions) })
    .map((a) => ({ name, ...a }));
}

const podArb = (i: number): fc.Arbitrary<RawPod> =>
  fc
    .record({ namespace: fc.constantFrom(...NS_NAMES), labels: podLabelsArb, template: fc.boolean(), ports: fc.subarray(CONTAINER_PORTS, { maxLength: 2 }) })
    .map((p) => ({
      ...p,
      name: `p${i}`,
      ip: `10.0.${NS_NAMES.indexOf(p.namespace)}.${i + 1}`,
      // One container port per name.
      ports: p.ports.filter((port, j, all) => all.findIndex((q) => q.name === port.name) === j),
    }));

const npArb = (i: number): fc.Arbitrary<Json> =>
  fc
    .record({
      namespace: fc.constantFrom(...NS_NAMES),
      app: fc.option(fc.constantFrom(...APPS), { nil: undefined }),
      types: fc.constantFrom(["Ingress"], ["Egress"], ["Ingress", "Egress"]),
      team: fc.option(fc.constantFrom("x", "y"), { nil: undefined }),
      port: fc.option(fc.constantFrom(...PORTS), { nil: undefined }),
    })
    .map(({ namespace: ns, app, types, team, port }) => {
      const peer = team === undefined ? [] : [{ namespaceSelector: { matchLabels: { team } } }];
      const rule = { ...(port !== undefined ? { ports: [{ port }] } : {}) };
      return networkPolicy(`${ns}/np${i}`, {
        podSelector: app === undefined ? {} : { matchLabels: { app } },
        policyTypes: types,
        ingress: [{ ...rule, from: peer }],
        egress: [{ ...rule, to: peer }],
      });
    });

function worldArb(options: { anpActions: readonly RawRule["action"][]; priorities: readonly number[]; anps: number }): fc.Arbitrary<World> {
  return fc.record({
    pods: fc.integer({ min: 2, max: 5 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => podArb(i)))),
    policies: fc.integer({ min: 0, max: 3 }).chain((n) => (n === 0 ? fc.constant([]) : fc.tuple(...Array.from({ length: n }, (_, i) => npArb(i))))),
    anps: fc.integer({ min: 0, max: options.anps }).chain((n) => (n === 0 ? fc.constant([]) : fc.tuple(...Array.from({ length: n }, (_, i) => anpArb(`anp-${i}`, options.anpActions, options.priorities))))),
    banp: fc.option(anpArb("default", ["Allow", "Deny"], [0]), { nil: null }),
  });
}

// ---------- building ----------

function podObject(p: RawPod): Json {
  const template = { metadata: { labels: p.labels }, spec: { containers: [{ name: "c", image: "i", ports: p.ports }] } };
  if (p.template) return { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: p.name, namespace: p.namespace }, spec: { selector: { matchLabels: p.labels }, template } };
  return { apiVersion: "v1", kind: "Pod", metadata: { name: p.name, namespace: p.namespace, labels: p.labels }, spec: template.spec, status: { podIPs: [{ ip: p.ip }] } };
}

function anpObject(a: RawAnp): Json {
  return anp(a.name, { priority: a.priority, subject: a.subject, ingress: a.ingress, egress: a.egress });
}

function banpObject(a: RawAnp): Json {
  return banp({ subject: a.subject, ingress: a.ingress, egress: a.egress });
}

function snapshotOf(objects: Json[]): ClusterSnapshot {
  const parsed = parseDocuments(objects.map((o) => JSON.stringify(o)).join("\n---\n"), "world.yaml");
  const built = snapshotFromDocuments(parsed.documents);
  if (parsed.errors.length > 0 || built.errors.length > 0) throw new Error(`generated invalid input: ${JSON.stringify([...parsed.errors, ...built.errors])}`);
  return built.snapshot;
}

function build(world: World, admin: { anps?: boolean; banp?: boolean } = { anps: true, banp: true }): { snapshot: ClusterSnapshot; index: PolicyIndex } {
  const objects = [
    ...NS_NAMES.map((name) => namespace(name, NAMESPACES[name])),
    ...world.pods.map(podObject),
    ...world.policies,
    ...(admin.anps ? world.anps.map(anpObject) : []),
    ...(admin.banp && world.banp ? [banpObject(world.banp)] : []),
  ];
  const snapshot = snapshotOf(objects);
  return { snapshot, index: buildPolicyIndex(snapshot) };
}

interface Query {
  from: Endpoint;
  to: Endpoint;
  port: number;
  protocol: Protocol;
}

function endpoints(snapshot: ClusterSnapshot): Endpoint[] {
  return [
    ...snapshot.pods.map((pod): Endpoint => ({ kind: "pod", pod })),
    ...EXTERNAL.map((text): Endpoint => {
      const ip = parseIp(text);
      if (!ip.ok) throw new Error(ip.reason);
      return { kind: "ip", ip: ip.value };
    }),
  ];
}

function queries(snapshot: ClusterSnapshot): Query[] {
  const all: Query[] = [];
  const ends = endpoints(snapshot);
  for (const from of ends) for (const to of ends) {
    if (from === to || (from.kind === "ip" && to.kind === "ip")) continue;
    for (const port of PORTS) for (const protocol of PROTOCOLS) all.push({ from, to, port, protocol });
  }
  return all;
}

function withoutTiers(verdict: PolicyVerdict): unknown {
  const strip = (d: DirectionVerdict) => {
    const { tiers: _tiers, ...rest } = d;
    return rest;
  };
  return { ...verdict, egress: strip(verdict.egress), ingress: strip(verdict.ingress) };
}

// ---------- the reference evaluator, from the API documentation ----------

function matchLabels(selector: Labels, labels: Labels): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function namespaceLabelsOf(ns: string): Labels {
  return { ...NAMESPACES[ns], "kubernetes.io/metadata.name": ns };
}

/** Subjects and pod peers select pods (never addresses), by namespace labels AND pod labels. */
function refPodSet(set: RawPodSet, endpoint: Endpoint): boolean {
  if (endpoint.kind !== "pod") return false;
  const nsLabels = namespaceLabelsOf(endpoint.pod.namespace);
  if (set.namespaces) return matchLabels(set.namespaces.matchLabels, nsLabels);
  if (set.pods) return matchLabels(set.pods.namespaceSelector.matchLabels, nsLabels) && matchLabels(set.pods.podSelector.matchLabels, endpoint.pod.labels);
  return false;
}

function ipv4(text: string): number {
  return text.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Networks hold any address in the CIDR, pod IPs included; pods without an IP are taken as not matching. */
function refNetworks(networks: string[], endpoint: Endpoint): boolean {
  const address = endpoint.kind === "ip" ? endpoint.ip.text : endpoint.pod.ips[0]?.text;
  if (address === undefined) return false;
  return networks.some((cidr) => {
    const [base = "", bits = "0"] = cidr.split("/");
    const size = 2 ** (32 - Number(bits));
    return Math.floor(ipv4(address) / size) === Math.floor(ipv4(base) / size);
  });
}

function refPorts(ports: RawPort[] | undefined, query: Query): boolean {
  if (ports === undefined) return true;
  return ports.some((p) => {
    if ("portNumber" in p) return p.portNumber.protocol === query.protocol && p.portNumber.port === query.port;
    if ("portRange" in p) return p.portRange.protocol === query.protocol && p.portRange.start <= query.port && query.port <= p.portRange.end;
    // Named ports: the destination pod's container port of that name, with its protocol.
    return query.to.kind === "pod" && query.to.pod.ports.some((c) => c.name === p.namedPort && c.port === query.port && c.protocol === query.protocol);
  });
}

function refRule(rule: RawRule, direction: Direction, query: Query): boolean {
  const other = direction === "egress" ? query.to : query.from;
  const peers = (direction === "egress" ? rule.to : rule.from) ?? [];
  return refPorts(rule.ports, query) && peers.some((peer) => (peer.networks ? refNetworks(peer.networks, other) : refPodSet(peer, other)));
}

function refDirection(world: World, plain: DirectionVerdict, direction: Direction, query: Query): boolean {
  const subject = direction === "egress" ? query.from : query.to;
  if (subject.kind !== "pod") return plain.allowed;
  // 1. ANPs by priority (ties by name, as the engine orders them): the first matching rule decides.
  const anps = [...world.anps].sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1));
  let passed = false;
  for (const a of anps) {
    if (passed || !refPodSet(a.subject, subject)) continue;
    for (const rule of a[direction]) {
      if (!refRule(rule, direction, query)) continue;
      if (rule.action === "Allow") return true;
      if (rule.action === "Deny") return false;
      passed = true;
      break;
    }
  }
  // 2. NetworkPolicies isolating the pod decide.
  if (plain.isolated) return plain.allowed;
  // 3. The BANP: first matching rule; none: allowed.
  if (world.banp && refPodSet(world.banp.subject, subject)) {
    for (const rule of world.banp[direction]) if (refRule(rule, direction, query)) return rule.action === "Allow";
  }
  return true;
}

// ---------- properties ----------

const RUNS = { numRuns: 150 };

describe("admin tiers: properties", () => {
  it("agrees with a reference evaluator written from the API documentation", () => {
    fc.assert(
      fc.property(worldArb({ anpActions: ["Allow", "Deny", "Pass"], priorities: [1, 2, 3], anps: 3 }), (world) => {
        const withAdmin = build(world);
        const plain = build(world, {});
        for (const q of queries(withAdmin.snapshot)) {
          const verdict = evaluateConnection(withAdmin.index, q);
          const base = evaluateConnection(plain.index, q);
          for (const direction of ["egress", "ingress"] as const) {
            const expected = refDirection(world, base[direction], direction, q);
            if (verdict[direction].allowed !== expected) {
              throw new Error(`${direction} ${JSON.stringify({ from: q.from, to: q.to, port: q.port, protocol: q.protocol })}: engine ${verdict[direction].allowed}, reference ${expected}; tiers ${JSON.stringify(verdict[direction].tiers)}`);
            }
          }
        }
      }),
      RUNS,
    );
  });

  it("with no admin policies the verdicts equal the plain engine's; admin policies selecting no pod change nothing but the tier path", () => {
    fc.assert(
      fc.property(worldArb({ anpActions: ["Allow", "Deny", "Pass"], priorities: [1, 2], anps: 2 }), (world) => {
        const plain = build(world, {});
        const empty = { ...plain.snapshot, adminPolicies: [] };
        const emptyIndex = buildPolicyIndex(empty);
        expect(emptyIndex.admin).toBeUndefined();
        // Subjects that select nobody: a namespace label no namespace has.
        const nobody: RawPodSet = { namespaces: { matchLabels: { team: "nobody" } } };
        const idle = build({ ...world, anps: world.anps.map((a) => ({ ...a, subject: nobody })), banp: world.banp && { ...world.banp, subject: nobody } });
        for (const q of queries(plain.snapshot)) {
          const expected = evaluateConnection(plain.index, q);
          expect(evaluateConnection(emptyIndex, q)).toEqual(expected);
          expect(withoutTiers(evaluateConnection(idle.index, q))).toEqual(expected);
        }
      }),
      RUNS,
    );
  });

  it("an ANP Allow rule matching everything, at the highest precedence, allows every connection of its subjects in that direction", () => {
    fc.assert(
      fc.property(worldArb({ anpActions: ["Allow", "Deny", "Pass"], priorities: [1, 2, 3], anps: 2 }), podSetArb, fc.constantFrom<Direction>("ingress", "egress"), (world, subject, direction) => {
        const everything: RawRule =
          direction === "egress"
            ? { name: "everything", action: "Allow", to: [{ namespaces: { matchLabels: {} } }, { networks: ["0.0.0.0/0"] }] }
            : { name: "everything", action: "Allow", from: [{ namespaces: { matchLabels: {} } }] };
        const top: RawAnp = { name: "top", priority: 0, subject, ingress: direction === "ingress" ? [everything] : [], egress: direction === "egress" ? [everything] : [] };
        const { snapshot, index } = build({ ...world, anps: [...world.anps, top] });
        for (const q of queries(snapshot)) {
          const subjectEnd = direction === "egress" ? q.from : q.to;
          const other = direction === "egress" ? q.to : q.from;
          // Ingress peers select pods only: the rule cannot match traffic from outside the cluster.
          if (!refPodSet(subject, subjectEnd) || (direction === "ingress" && other.kind !== "pod")) continue;
          const verdict = evaluateConnection(index, q);
          expect(verdict[direction].allowed).toBe(true);
          expect(verdict[direction].tiers).toEqual([{ tier: "admin", action: "Allow", policy: "top", priority: 0, rule: 0, ruleName: "everything" }]);
        }
      }),
      RUNS,
    );
  });

  it("Pass rules never change a verdict compared with having no ANP at all", () => {
    fc.assert(
      fc.property(worldArb({ anpActions: ["Pass"], priorities: [1, 2], anps: 3 }), (world) => {
        const withPass = build(world, { anps: true, banp: true });
        const withoutAnps = build(world, { anps: false, banp: true });
        for (const q of queries(withPass.snapshot)) {
          expect(withoutTiers(evaluateConnection(withPass.index, q))).toEqual(withoutTiers(evaluateConnection(withoutAnps.index, q)));
        }
      }),
      RUNS,
    );
  });
});
