// Probe derivation over plain snapshots (agent/derive/derive.ts): each peer form, named ports,
// endPort ranges, ipBlock with except, Zscaler ranges, Services, isolation, the admin tiers,
// the bounds and the stability of the choice. Every derived destination is checked to be one
// the cluster or the config names, on a port it declares, and to be judged by the engine as
// the rule it is named by says.

import { describe, expect, it } from "vitest";
import { parseCidr, parseIp } from "../../agent/addresses/ip.js";
import type { ClusterSnapshot } from "../../agent/cluster/snapshot.js";
import type { DeriveSettings } from "../../agent/config/model.js";
import { type DerivedTarget, deriveTargets, firstHost } from "../../agent/derive/derive.js";
import { NOT_WATCHED_REASON } from "../../agent/derive/scope.js";
import type { Json } from "../../agent/documents/fields.js";
import { evaluateConnection, endpointForIp } from "../../agent/policy/engine.js";
import { formatRule } from "../../agent/policy/explain.js";
import type { SourceIdentity } from "../../agent/sources/identity.js";
import { adminCluster, anp, type AdminCluster, banp, inNamespaces, namespace, networkPolicy, pod, podsIn, tcp } from "../policy-admin/helpers.js";

const SETTINGS: DeriveSettings = { maxPerPolicy: 8, maxEdges: 32, deny: false, destinations: [], zscalerRanges: true };

function sourceIn(cluster: AdminCluster, ref: string, name = "web"): SourceIdentity {
  const found = cluster.snapshot.pods.find((p) => `${p.namespace}/${p.name}` === ref);
  if (!found) throw new Error(`no pod ${ref}`);
  return { name, pod: found, namespace: found.namespace, workload: "deployment/web" };
}

function ip(text: string) {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(text);
  return parsed.value;
}

function cidr(text: string) {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(text);
  return parsed.value;
}

/**
 * Derives, then holds every target to the rules of derivation: its address is a pod declaring
 * the port, a Service with the port, or a configured destination / Zscaler representative; the
 * engine's verdict for it names the rule it is named by.
 */
function derive(cluster: AdminCluster, from: string, settings: Partial<DeriveSettings> = {}, ranges: string[] = [], sourceName = "web") {
  const source = sourceIn(cluster, from, sourceName);
  const all = { ...SETTINGS, ...settings };
  const derivation = deriveTargets({ index: cluster.index, snapshot: cluster.snapshot, source, settings: all, zscalerRanges: ranges.map(cidr) });
  for (const target of derivation.targets) holdsToRules(cluster.snapshot, cluster, source, target, all, ranges);
  return derivation;
}

function holdsToRules(snapshot: ClusterSnapshot, cluster: AdminCluster, source: SourceIdentity, target: DerivedTarget, settings: DeriveSettings, ranges: string[]): void {
  const { address } = target;
  const pod = snapshot.pods.find((p) => p.ips.some((a) => a.text === address.ip.text));
  const service = snapshot.services.find((s) => s.clusterIps.some((a) => a.text === address.ip.text));
  const configured = settings.destinations.some((d) => d.ip.text === address.ip.text && d.port === address.port);
  const zscaler = ranges.some((range) => firstHost(cidr(range)).text === address.ip.text);
  if (pod) expect(pod.ports.some((p) => p.port === address.port && p.protocol === "TCP"), `${address.endpoint} declares ${address.port}`).toBe(true);
  else if (service) expect(service.ports.some((p) => p.port === address.port)).toBe(true);
  else expect(configured || zscaler, `${address.ip.text}:${address.port} is named by the config`).toBe(true);
  if (service) return;
  const verdict = evaluateConnection(cluster.index, { from: { kind: "pod", pod: source.pod! }, to: endpointForIp(cluster.index, address.ip), port: address.port, protocol: "TCP" });
  expect(verdict.verdict).toBe(target.verdict);
  if (target.rule.endsWith("egress isolation")) expect(verdict.egress.allowed).toBe(false);
  else if (target.verdict === "allow") expect(verdict.egress.allowedBy.map(formatRule)).toContain(target.rule);
  else expect(verdict.egress.deniedBy && formatRule(verdict.egress.deniedBy)).toBe(target.rule);
}

const summary = (targets: readonly DerivedTarget[]) => targets.map((t) => `${t.rule} -> ${t.address.endpoint}:${t.address.port}`);

const ns = (name: string, labels: Record<string, string> = {}) => namespace(name, labels);
const web = pod("shop/web", { labels: { app: "web" }, ips: ["10.0.0.10"], ports: [{ port: 8443 }] });
const egress = (name: string, rules: Json[], ref = `shop/${name}`) => networkPolicy(ref, { podSelector: { matchLabels: { app: "web" } }, policyTypes: ["Egress"], egress: rules });
const service = (ref: string, clusterIp: string, selector: Record<string, string>, port: number, targetPort: number | string): Json => {
  const [namespace, name] = ref.split("/");
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace }, spec: { clusterIP: clusterIp, selector, ports: [{ port, targetPort }] } };
};

describe("deriving from NetworkPolicy peers", () => {
  it("picks a pod the podSelector matches in the policy's own namespace that declares the port, and names the edge by the rule", () => {
    const cluster = adminCluster(
      ns("shop"),
      ns("other"),
      web,
      pod("shop/api", { labels: { app: "api" }, ips: ["10.0.0.20"], ports: [{ port: 8080 }] }),
      pod("shop/api-no-port", { labels: { app: "api" }, ips: ["10.0.0.21"], ports: [{ port: 9090 }] }),
      pod("shop/db", { labels: { app: "db" }, ips: ["10.0.0.22"], ports: [{ port: 8080 }] }),
      pod("other/api", { labels: { app: "api" }, ips: ["10.0.1.20"], ports: [{ port: 8080 }] }),
      egress("to-api", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8080 }] }]),
    );
    const { targets } = derive(cluster, "shop/web");
    expect(summary(targets)).toEqual(["shop/to-api spec.egress[0] -> shop/api:8080"]);
    expect(targets[0]?.address).toMatchObject({ kind: "rule", rule: "shop/to-api spec.egress[0]", port: 8080 });
    expect(targets[0]?.address.ip.text).toBe("10.0.0.20");
  });

  it("takes a namespaceSelector alone to mean every pod of the selected namespaces, and ANDs it with a podSelector", () => {
    const cluster = adminCluster(
      ns("shop"),
      ns("data", { team: "data" }),
      ns("ops"),
      web,
      pod("data/pg", { labels: { app: "pg" }, ips: ["10.0.2.5"], ports: [{ port: 5432 }] }),
      pod("ops/pg", { labels: { app: "pg" }, ips: ["10.0.3.5"], ports: [{ port: 5432 }] }),
      pod("data/cache", { labels: { app: "cache" }, ips: ["10.0.2.6"], ports: [{ port: 6379 }] }),
      egress("to-data", [{ to: [{ namespaceSelector: { matchLabels: { team: "data" } } }], ports: [{ port: 5432 }] }]),
      egress("to-cache", [{ to: [{ namespaceSelector: { matchLabels: { team: "data" } }, podSelector: { matchLabels: { app: "cache" } } }], ports: [{ port: 6379 }] }]),
    );
    expect(summary(derive(cluster, "shop/web").targets).sort()).toEqual(["shop/to-cache spec.egress[0] -> data/cache:6379", "shop/to-data spec.egress[0] -> data/pg:5432"]);
  });

  it("resolves a named port on each destination pod, by name and protocol", () => {
    const cluster = adminCluster(
      ns("shop"),
      web,
      pod("shop/api", { labels: { app: "api" }, ips: ["10.0.0.20"], ports: [{ name: "http", port: 8080 }, { name: "metrics", port: 9090 }] }),
      pod("shop/api-udp", { labels: { app: "api" }, ips: ["10.0.0.21"], ports: [{ name: "http", port: 7070, protocol: "UDP" }] }),
      egress("named", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: "http" }] }]),
    );
    expect(summary(derive(cluster, "shop/web").targets)).toEqual(["shop/named spec.egress[0] -> shop/api:8080"]);
  });

  it("fills an endPort range with a port a destination declares inside it, never one outside", () => {
    const cluster = adminCluster(
      ns("shop"),
      web,
      pod("shop/outside", { labels: { app: "api" }, ips: ["10.0.0.20"], ports: [{ port: 9000 }] }),
      pod("shop/inside", { labels: { app: "api" }, ips: ["10.0.0.21"], ports: [{ port: 7999 }, { port: 8100 }] }),
      egress("range", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8000, endPort: 8100 }] }]),
    );
    expect(summary(derive(cluster, "shop/web").targets)).toEqual(["shop/range spec.egress[0] -> shop/inside:8100"]);
  });

  it("gives one destination per port entry of a rule, and one for a rule with no ports on any port a pod declares", () => {
    const cluster = adminCluster(
      ns("shop"),
      web,
      pod("shop/api", { labels: { app: "api" }, ips: ["10.0.0.20"], ports: [{ port: 80 }, { port: 443 }] }),
      egress("two-ports", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 80 }, { port: 443 }] }, { to: [{ podSelector: { matchLabels: { app: "api" } } }] }]),
    );
    const targets = summary(derive(cluster, "shop/web").targets);
    expect(targets.filter((t) => t.startsWith("shop/two-ports spec.egress[0]")).sort()).toEqual(["shop/two-ports spec.egress[0] -> shop/api:443", "shop/two-ports spec.egress[0] -> shop/api:80"]);
    expect(targets.filter((t) => t.startsWith("shop/two-ports spec.egress[1]"))).toHaveLength(1);
  });

  it("takes an ipBlock's destination from the configured list, inside the block and outside its excepts", () => {
    const cluster = adminCluster(
      ns("shop"),
      web,
      egress("out", [{ to: [{ ipBlock: { cidr: "203.0.113.0/24", except: ["203.0.113.0/28"] } }], ports: [{ port: 443 }] }]),
    );
    const destinations = [
      { ip: ip("203.0.113.5"), port: 443 },
      { ip: ip("198.51.100.7"), port: 443 },
      { ip: ip("203.0.113.77"), port: 80 },
      { ip: ip("203.0.113.99"), port: 443 },
    ];
    expect(summary(derive(cluster, "shop/web", { destinations }).targets)).toEqual(["shop/out spec.egress[0] -> 203.0.113.99:443"]);
    // With only destinations in the except, outside the block or on another port: none, and why.
    const none = derive(cluster, "shop/web", { destinations: destinations.filter((d) => d.ip.text !== "203.0.113.99") });
    expect(none.targets).toEqual([]);
    expect(none.unfilled).toEqual([{ rule: "shop/out spec.egress[0]", reason: "no destination the cluster state or the config names is admitted by it on 443" }]);
  });

  it("takes the first address of a Zscaler range that falls inside the block, on a gateway port the rule allows", () => {
    const cluster = adminCluster(ns("shop"), web, egress("zscaler", [{ to: [{ ipBlock: { cidr: "198.51.100.0/22", except: ["198.51.101.0/24"] } }], ports: [{ port: 443 }, { port: 22 }] }]));
    const derivation = derive(cluster, "shop/web", {}, ["198.51.101.0/24", "198.51.102.0/24", "192.0.2.0/24"]);
    expect(summary(derivation.targets)).toEqual(["shop/zscaler spec.egress[0] -> 198.51.102.1:443"]);
    // Port 22 is no gateway port: never probed on a Zscaler address.
    expect(derivation.unfilled.map((u) => u.reason)).toEqual(["no destination the cluster state or the config names is admitted by it on 22"]);
    expect(derive(cluster, "shop/web", { zscalerRanges: false }, ["198.51.102.0/24"]).targets).toEqual([]);
  });

  it("takes a Service whose backends the rule admits, on the Service's port, when its backends answer on the target port", () => {
    const cluster = adminCluster(
      ns("shop"),
      web,
      // The backend declares no container port: only the Service names one.
      pod("shop/api", { labels: { app: "api" }, ips: ["10.0.0.20"] }),
      service("shop/api", "10.96.0.20", { app: "api" }, 80, 8080),
      service("shop/other", "10.96.0.21", { app: "nothing" }, 80, 8080),
      egress("to-api", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8080 }] }]),
    );
    const { targets } = derive(cluster, "shop/web");
    expect(summary(targets)).toEqual(["shop/to-api spec.egress[0] -> Service shop/api:80"]);
    expect(targets[0]?.address.ip.text).toBe("10.96.0.20");
  });

  it("derives nothing for a rule that admits only UDP, and says why", () => {
    const cluster = adminCluster(ns("shop"), web, pod("kube-system/dns", { labels: { app: "dns" }, ips: ["10.0.9.9"], ports: [{ port: 53, protocol: "UDP" }] }), egress("dns", [{ ports: [{ port: 53, protocol: "UDP" }] }]));
    const derivation = derive(cluster, "shop/web");
    expect(derivation.targets).toEqual([]);
    expect(derivation.unfilled).toEqual([{ rule: "shop/dns spec.egress[0]", reason: "it admits no TCP port (only TCP is probed)" }]);
  });

  it("says a rule whose pods the agent does not watch (beyond its limit) was not looked at, instead of that it has no destination; other reasons stand", () => {
    const cluster = adminCluster(
      ns("shop"),
      web,
      egress("out", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8080 }] }, { to: [{ podSelector: { matchLabels: { app: "dns" } } }], ports: [{ port: 53, protocol: "UDP" }] }, { to: [{ podSelector: { matchLabels: { app: "db" } } }], ports: [{ port: 5432 }] }]),
    );
    const unwatched = new Set(["shop/out spec.egress[0]", "shop/out spec.egress[1]"]);
    const derivation = deriveTargets({ index: cluster.index, snapshot: cluster.snapshot, source: sourceIn(cluster, "shop/web"), settings: SETTINGS, unwatched });
    expect(derivation.unfilled).toEqual([
      { rule: "shop/out spec.egress[0]", reason: NOT_WATCHED_REASON },
      { rule: "shop/out spec.egress[1]", reason: "it admits no TCP port (only TCP is probed)" },
      { rule: "shop/out spec.egress[2]", reason: "no destination the cluster state or the config names is admitted by it on 5432" },
    ]);
  });

  it("gives an isolated source one destination its policies deny that declares the port, named by the isolating policy", () => {
    const cluster = adminCluster(
      ns("shop"),
      web,
      pod("shop/api", { labels: { app: "api" }, ips: ["10.0.0.20"], ports: [{ port: 8080 }] }),
      pod("shop/admin", { labels: { app: "admin" }, ips: ["10.0.0.30"], ports: [{ port: 9000 }] }),
      egress("to-api", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8080 }] }]),
    );
    const { targets } = derive(cluster, "shop/web", { deny: true });
    expect(summary(targets)).toEqual(["shop/to-api spec.egress[0] -> shop/api:8080", "shop/to-api egress isolation -> shop/admin:9000"]);
    expect(targets.map((t) => t.verdict)).toEqual(["allow", "deny"]);
    // A source no policy isolates has no isolation edge.
    const open = adminCluster(ns("shop"), web, pod("shop/admin", { labels: { app: "admin" }, ips: ["10.0.0.30"], ports: [{ port: 9000 }] }));
    expect(derive(open, "shop/web", { deny: true }).targets).toEqual([]);
  });
});

describe("deriving through the admin tiers", () => {
  const objects = () => [
    ns("shop", { tier: "shop" }),
    ns("data", { tier: "data" }),
    web,
    pod("data/pg", { labels: { app: "pg" }, ips: ["10.0.2.5"], ports: [{ port: 5432 }] }),
    pod("data/secret", { labels: { app: "secret" }, ips: ["10.0.2.9"], ports: [{ port: 5432 }] }),
  ];

  it("names an AdminNetworkPolicy rule by its kind, derives a denied destination for a Deny rule, and nothing for Pass", () => {
    const cluster = adminCluster(
      ...objects(),
      anp("guard", {
        priority: 10,
        subject: inNamespaces({ tier: "shop" }),
        egress: [
          { name: "no-secret", action: "Deny", to: [podsIn({ tier: "data" }, { app: "secret" })], ports: [tcp(5432)] },
          { name: "pg", action: "Allow", to: [podsIn({ tier: "data" }, { app: "pg" })], ports: [tcp(5432)] },
          { name: "rest", action: "Pass", to: [inNamespaces({})] },
        ],
      }),
    );
    const { targets } = derive(cluster, "shop/web");
    expect(summary(targets)).toEqual(["AdminNetworkPolicy guard spec.egress[0] -> data/secret:5432", "AdminNetworkPolicy guard spec.egress[1] -> data/pg:5432"]);
    expect(targets.map((t) => t.verdict)).toEqual(["deny", "allow"]);
  });

  it("leaves a NetworkPolicy rule unfilled when a higher tier decides every destination it would admit", () => {
    const cluster = adminCluster(
      ...objects(),
      anp("deny-data", { priority: 1, subject: inNamespaces({ tier: "shop" }), egress: [{ action: "Deny", to: [inNamespaces({ tier: "data" })] }] }),
      egress("to-data", [{ to: [{ namespaceSelector: { matchLabels: { tier: "data" } } }], ports: [{ port: 5432 }] }]),
    );
    const derivation = derive(cluster, "shop/web");
    expect(derivation.unfilled.map((u) => u.rule)).toContain("shop/to-data spec.egress[0]");
    expect(summary(derivation.targets).some((t) => t.startsWith("shop/to-data"))).toBe(false);
  });

  it("derives from the BaselineAdminNetworkPolicy when no NetworkPolicy isolates the source", () => {
    const cluster = adminCluster(...objects(), banp({ subject: inNamespaces({ tier: "shop" }), egress: [{ action: "Allow", to: [podsIn({ tier: "data" }, { app: "pg" })], ports: [tcp(5432)] }] }));
    expect(summary(derive(cluster, "shop/web").targets)).toEqual(["BaselineAdminNetworkPolicy default spec.egress[0] -> data/pg:5432"]);
  });
});

describe("bounds and stability", () => {
  const many = () => {
    const pods = Array.from({ length: 12 }, (_, i) => pod(`shop/api-${i}`, { labels: { app: "api" }, ips: [`10.0.0.${100 + i}`], ports: [{ port: 8080 + i }] }));
    const rules = Array.from({ length: 12 }, (_, i) => ({ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8080 + i }] }));
    return { pods, rules };
  };

  it("keeps at most maxPerPolicy edges per policy and maxEdges per source, every rule's first port before any second", () => {
    const { pods, rules } = many();
    const cluster = adminCluster(ns("shop"), web, ...pods, egress("a", rules), egress("b", rules.slice(0, 3)));
    const perPolicy = derive(cluster, "shop/web", { maxPerPolicy: 4 }).targets;
    expect(perPolicy.filter((t) => t.policy === "shop/a")).toHaveLength(4);
    expect(perPolicy.filter((t) => t.policy === "shop/b")).toHaveLength(3);
    const capped = derive(cluster, "shop/web", { maxEdges: 5 });
    expect(capped.targets).toHaveLength(5);
    // What the bound left out is said, per rule.
    expect(capped.unfilled.filter((u) => u.reason.includes("beyond derive.maxEdges (5)"))).toHaveLength(10);
    expect(derive(cluster, "shop/web", { maxPerPolicy: 4 }).unfilled.map((u) => u.reason)).toContain("a destination was found on 8084, beyond derive.maxPerPolicy (4)");
  });

  it("chooses the same destinations whatever the order of the snapshot, and after unrelated pods come and go", () => {
    const pods = Array.from({ length: 20 }, (_, i) => pod(`shop/api-${i}`, { labels: { app: "api" }, ips: [`10.0.0.${100 + i}`], ports: [{ port: 8080 }] }));
    const policy = egress("to-api", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8080 }] }]);
    const first = summary(derive(adminCluster(ns("shop"), web, ...pods, policy), "shop/web").targets);
    const reversed = summary(derive(adminCluster(policy, ...[...pods].reverse(), web, ns("shop")), "shop/web").targets);
    const unrelated = summary(derive(adminCluster(ns("shop"), web, ...pods, policy, pod("shop/other", { labels: { app: "other" }, ips: ["10.0.0.250"], ports: [{ port: 8080 }] })), "shop/web").targets);
    expect(first).toHaveLength(1);
    expect(reversed).toEqual(first);
    expect(unrelated).toEqual(first);
    // The chosen pod gone: another the rule admits takes its place.
    const chosen = first[0]?.split(" -> ")[1]?.split(":")[0];
    const without = summary(derive(adminCluster(ns("shop"), web, ...pods.filter((p) => (p["metadata"] as { name: string }).name !== chosen?.split("/")[1]), policy), "shop/web").targets);
    expect(without).toHaveLength(1);
    expect(without[0]).not.toEqual(first[0]);
  });

  it("spreads sources of other names over the destinations (the choice is seeded by the source and the rule)", () => {
    const pods = Array.from({ length: 20 }, (_, i) => pod(`shop/api-${i}`, { labels: { app: "api" }, ips: [`10.0.0.${100 + i}`], ports: [{ port: 8080 }] }));
    const cluster = adminCluster(ns("shop"), web, ...pods, egress("to-api", [{ to: [{ podSelector: { matchLabels: { app: "api" } } }], ports: [{ port: 8080 }] }]));
    const chosen = new Set(Array.from({ length: 10 }, (_, i) => derive(cluster, "shop/web", {}, [], `source-${i}`).targets[0]?.address.endpoint));
    expect(chosen.size).toBeGreaterThan(1);
  });
});
