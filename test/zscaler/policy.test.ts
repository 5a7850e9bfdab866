// The generated NetworkPolicy: its shape, its YAML (stable, quoted where YAML 1.1 would misread),
// its validation, and THE property: fed back through the engine it allows every published range
// on the given ports and nothing else, IPv4 and IPv6.
import fc from "fast-check";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { type Cidr, familyBits, formatIp, type IpFamily, parseCidr } from "../../agent/addresses/ip.js";
import { type AddressSet, collapseCidrs, setFromCidrs } from "../../agent/addresses/ranges.js";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { IssueList, isObject, type Json } from "../../agent/documents/fields.js";
import { parseDocuments } from "../../agent/documents/located.js";
import { buildPolicyIndex, type Endpoint, evaluateConnection } from "../../agent/policy/engine.js";
import { normalizeNetworkPolicy } from "../../agent/policy/normalize.js";
import { SMALLEST_ZIA_ALLOWLIST, zscalerAllowlist } from "../../agent/zscaler/allowlist.js";
import { auditCoverage } from "../../agent/zscaler/audit.js";
import {
  ANNOTATIONS,
  defaultPolicyName,
  hashRanges,
  type NetworkPolicyObject,
  type ZscalerPolicyInput,
  toYaml,
  zscalerNetworkPolicy,
} from "../../agent/zscaler/policy.js";
import { realFeeds, shuffled } from "./helpers.js";

const feeds = realFeeds();

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function allowlist(): Cidr[] {
  const result = zscalerAllowlist(feeds, SMALLEST_ZIA_ALLOWLIST);
  if (!result.ok) throw new Error(result.reason);
  return result.value.cidrs.map(cidr);
}

const ALLOWLIST = allowlist();
const PORTS = [80, 443, 9400, 9480, 9443];
const INPUT: ZscalerPolicyInput = {
  cloud: "zscaler.net",
  namespace: "shop",
  podSelector: { app: "web" },
  cidrs: ALLOWLIST,
  ports: PORTS,
  feeds: ["future", "hubs-recommended"],
};

function generate(input: ZscalerPolicyInput = INPUT): NetworkPolicyObject {
  const result = zscalerNetworkPolicy(input);
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

function failure(input: Partial<ZscalerPolicyInput>): string {
  const result = zscalerNetworkPolicy({ ...INPUT, ...input });
  if (result.ok) throw new Error("unexpectedly accepted");
  return result.reason;
}

describe("zscalerNetworkPolicy", () => {
  it("is an Egress policy with one ipBlock rule on TCP ports and a DNS rule", () => {
    const policy = generate();
    expect(policy.apiVersion).toBe("networking.k8s.io/v1");
    expect(policy.kind).toBe("NetworkPolicy");
    expect(policy.metadata.name).toBe("allow-zscaler-zscaler-net");
    expect(policy.metadata.namespace).toBe("shop");
    expect(policy.spec.podSelector).toEqual({ matchLabels: { app: "web" } });
    expect(policy.spec.policyTypes).toEqual(["Egress"]);
    expect(policy.spec.egress).toHaveLength(2);
    const [zscaler, dns] = policy.spec.egress;
    expect(zscaler?.to.map((peer) => ("ipBlock" in peer ? peer.ipBlock.cidr : "?"))).toEqual(ALLOWLIST.map((c) => c.text));
    expect(zscaler?.ports).toEqual([80, 443, 9400, 9443, 9480].map((port) => ({ protocol: "TCP", port })));
    expect(dns).toEqual({
      to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
      ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
      ],
    });
    expect(policy.metadata.annotations).toEqual({
      [ANNOTATIONS.cloud]: "zscaler.net",
      [ANNOTATIONS.feeds]: "future,hubs-recommended",
      [ANNOTATIONS.rangesHash]: hashRanges(ALLOWLIST),
    });
  });

  it("lists IPv4 then IPv6 in address order, whatever order the CIDRs come in", () => {
    const policy = generate({ ...INPUT, cidrs: shuffled(ALLOWLIST, 7), ports: [9443, 80, 443, 443] });
    const listed = policy.spec.egress[0]?.to.map((peer) => ("ipBlock" in peer ? peer.ipBlock.cidr : "?")) ?? [];
    expect(listed).toEqual(ALLOWLIST.map((c) => c.text));
    expect(listed.slice(-3)).toEqual(["2400:7aa0::/32", "2605:4300::/32", "2a03:eec0::/32"]);
    expect(policy.spec.egress[0]?.ports.map((p) => p.port)).toEqual([80, 443, 9443]);
    expect(toYaml(policy)).toBe(toYaml(generate({ ...INPUT, ports: [80, 443, 9443] })));
  });

  it("names, DNS and dots: defaults and options", () => {
    expect(defaultPolicyName("zscalerthree.net")).toBe("allow-zscaler-zscalerthree-net");
    expect(generate({ ...INPUT, cloud: "ZscalerTwo.net." }).metadata.name).toBe("allow-zscaler-zscalertwo-net");
    expect(generate({ ...INPUT, name: "zscaler-egress" }).metadata.name).toBe("zscaler-egress");
    expect(generate({ ...INPUT, dns: false }).spec.egress).toHaveLength(1);
    const custom = generate({ ...INPUT, dns: { namespace: "dns", podSelector: { app: "coredns" } } }).spec.egress[1];
    expect(custom?.to).toEqual([{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "dns" } }, podSelector: { matchLabels: { app: "coredns" } } }]);
  });

  it("refuses bad input with a reason naming the field", () => {
    expect(failure({ podSelector: { "bad key!": "x" } })).toMatch(/^podSelector: label key "bad key!"/);
    expect(failure({ podSelector: { app: "not valid" } })).toMatch(/^podSelector: label value/);
    expect(failure({ namespace: "Shop" })).toMatch(/^namespace:/);
    expect(failure({ cloud: "zscaler" })).toMatch(/^cloud:/);
    expect(failure({ name: "Bad_Name" })).toMatch(/^name:/);
    expect(failure({ cidrs: [] })).toMatch(/^cidrs:/);
    expect(failure({ ports: [] })).toMatch(/^ports:/);
    expect(failure({ ports: [443, 70000] })).toMatch(/^ports: 70000 is not a valid port/);
    expect(failure({ dns: { namespace: "kube-system", podSelector: {} } })).toMatch(/^dns.podSelector:/);
    expect(failure({ feeds: ["Future!"] })).toMatch(/^feeds:/);
  });
});

describe("toYaml", () => {
  it("starts with a header (cloud, feeds, ranges and hash) and has no timestamp", () => {
    const text = toYaml(generate());
    const lines = text.split("\n");
    expect(lines.slice(0, 4)).toEqual([
      "# Generated by netcanary (netcanary zscaler policy); do not edit by hand, regenerate.",
      "# cloud: zscaler.net",
      "# feeds: future, hubs-recommended",
      `# ranges: 60 (57 IPv4, 3 IPv6), generated from ${hashRanges(ALLOWLIST)}`,
    ]);
    expect(lines[4]).toBe("apiVersion: networking.k8s.io/v1");
    expect(text).not.toMatch(/20\d\d-\d\d-\d\d|creationTimestamp|generatedAt/);
    expect(text.endsWith("\n")).toBe(true);
    // Fixed key order.
    const keys = ["apiVersion:", "kind:", "metadata:", "  name:", "  namespace:", "  labels:", "  annotations:", "spec:", "  podSelector:", "  policyTypes:", "  egress:"];
    const positions = keys.map((key) => lines.findIndex((line) => line.startsWith(key)));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it("is the same text for the same ranges, however the feeds ordered and repeated them", () => {
    const again = zscalerAllowlist(
      {
        future: { ...feeds.future, cidrs: shuffled(feeds.future.cidrs, 3) },
        hubsRecommended: { ...feeds.hubsRecommended, cidrs: [...shuffled(feeds.hubsRecommended.cidrs, 5), ...feeds.hubsRecommended.cidrs.slice(0, 10)] },
      },
      SMALLEST_ZIA_ALLOWLIST,
    );
    if (!again.ok) throw new Error(again.reason);
    expect(toYaml(generate({ ...INPUT, cidrs: again.value.cidrs.map(cidr) }))).toBe(toYaml(generate()));
    // Uncollapsed input with nested and adjacent ranges gives the same policy as well.
    const raw = [...feeds.future.cidrs, ...feeds.hubsRecommended.cidrs].map(cidr);
    expect(toYaml(generate({ ...INPUT, cidrs: shuffled(raw, 11) }))).toBe(toYaml(generate()));
  });

  it("quotes label values that YAML 1.1 would read as booleans or numbers", () => {
    const text = toYaml(generate({ ...INPUT, podSelector: { zscaler: "yes", tier: "1", on: "on" } }));
    expect(text).toContain('zscaler: "yes"');
    expect(text).toContain('tier: "1"');
    expect(text).toContain('"on": "on"');
    // Sorted selector keys.
    const selector = (parseYaml(text) as { spec: { podSelector: { matchLabels: Record<string, string> } } }).spec.podSelector.matchLabels;
    expect(Object.keys(selector)).toEqual(["on", "tier", "zscaler"]);
    expect(selector).toEqual({ zscaler: "yes", tier: "1", on: "on" });
  });

  it("reads back as the same object", () => {
    const policy = generate();
    expect(parseYaml(toYaml(policy))).toEqual(JSON.parse(JSON.stringify(policy)));
  });
});

// ---- the generated policy through the engine ----

/** The generated policy read back from its YAML, with its namespace, a source pod and the DNS pod. */
function engineFor(policy: NetworkPolicyObject) {
  const parsed = parseDocuments(toYaml(policy), "generated.yaml");
  expect(parsed.errors).toEqual([]);
  const value = parsed.documents[0]?.value;
  if (!isObject(value)) throw new Error("not an object");
  const issues = new IssueList();
  const normalized = normalizeNetworkPolicy(value, issues);
  expect(issues.issues).toEqual([]);
  expect(normalized?.egressIsolation).toBe(true);
  expect(normalized?.ingressIsolation).toBe(false);
  const objects: Json[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "kube-system" } },
    pod("shop", "web-0", { app: "web" }, ["10.0.0.5", "fd00::5"]),
    pod("shop", "other", { app: "other" }, ["10.0.0.6"]),
    pod("kube-system", "coredns-0", { "k8s-app": "kube-dns" }, ["10.0.9.9"]),
    value,
  ];
  const docs = parseDocuments(objects.map((o) => JSON.stringify(o)).join("\n---\n"), "cluster.yaml");
  const built = snapshotFromDocuments(docs.documents);
  expect(built.errors).toEqual([]);
  const index = buildPolicyIndex(built.snapshot);
  const find = (name: string): Endpoint => {
    const found = built.snapshot.pods.find((p) => p.name === name);
    if (!found) throw new Error(name);
    return { kind: "pod", pod: found };
  };
  return { index, web: find("web-0"), other: find("other"), dns: find("coredns-0") };
}

function pod(namespace: string, name: string, labels: Record<string, string>, ips: string[]): Json {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: "main", image: "busybox" }] },
    status: { phase: "Running", podIPs: ips.map((ip) => ({ ip })) },
  };
}

function address(family: IpFamily, value: bigint): Endpoint {
  return { kind: "ip", ip: { family, value, text: formatIp(family, value) } };
}

function contains(set: AddressSet, family: IpFamily, value: bigint): boolean {
  return set.some((i) => i.family === family && i.start <= value && value <= i.end);
}

/** An address of the family, biased towards the neighbourhood of the allowlist's edges. */
function addressArb(union: AddressSet): fc.Arbitrary<{ family: IpFamily; value: bigint }> {
  const edges = union.flatMap((i) => [
    { family: i.family, value: i.start },
    { family: i.family, value: i.end },
  ]);
  const near = fc.tuple(fc.constantFrom(...edges), fc.bigInt({ min: -256n, max: 256n })).map(([edge, delta]) => {
    const max = (1n << BigInt(familyBits(edge.family))) - 1n;
    const value = edge.value + delta;
    return { family: edge.family, value: value < 0n ? 0n : value > max ? max : value };
  });
  const anywhere4 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value) => ({ family: 4 as IpFamily, value }));
  const anywhere6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value) => ({ family: 6 as IpFamily, value }));
  // Inside the allowlist's /32s and /16s: the IPv6 space is too large to hit them by chance.
  const inside = fc.tuple(fc.constantFrom(...union), fc.double({ min: 0, max: 1, noNaN: true })).map(([i, where]) => {
    const span = i.end - i.start;
    const offset = BigInt(Math.floor(Number(span) * where));
    return { family: i.family, value: i.start + (offset > span ? span : offset) };
  });
  return fc.oneof(near, anywhere4, anywhere6, inside);
}

describe("the generated policy, fed back through the engine", () => {
  const policy = generate();
  const { index, web, other, dns } = engineFor(policy);
  const union = setFromCidrs(ALLOWLIST);

  it("allows every published range on the given ports (the audit finds nothing uncovered)", () => {
    const published = [...feeds.future.cidrs, ...feeds.hubsRecommended.cidrs, ...feeds.cenr.cidrs, ...feeds.cenr.svpnIps.map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`))].map(cidr);
    const audit = auditCoverage(index, web, published, PORTS);
    expect(audit.uncovered).toEqual([]);
    expect(audit.ranges.every((r) => r.covered)).toBe(true);
    expect(audit.covered.map((c) => c.text)).toEqual(collapseCidrs(published).map((c) => c.text));
  });

  it("allows an address on a port exactly when the address is in a published range and the port is given", () => {
    fc.assert(
      fc.property(addressArb(union), fc.oneof(fc.constantFrom(...PORTS), fc.constantFrom(53, 22, 8080, 9444, 65535), fc.integer({ min: 1, max: 65535 })), (target, port) => {
        const verdict = evaluateConnection(index, { from: web, to: address(target.family, target.value), port, protocol: "TCP" });
        const expected = contains(union, target.family, target.value) && PORTS.includes(port) ? "allow" : "deny";
        expect(verdict.verdict).toBe(expected);
        // UDP and SCTP to the ranges: never.
        const udp = evaluateConnection(index, { from: web, to: address(target.family, target.value), port, protocol: "UDP" });
        expect(udp.verdict).toBe("deny");
      }),
      { numRuns: 3000 },
    );
  });

  it("denies the addresses just outside every range, IPv4 and IPv6", () => {
    for (const piece of union) {
      const max = (1n << BigInt(familyBits(piece.family))) - 1n;
      for (const value of [piece.start - 1n, piece.end + 1n]) {
        if (value < 0n || value > max || contains(union, piece.family, value)) continue;
        expect(evaluateConnection(index, { from: web, to: address(piece.family, value), port: 443, protocol: "TCP" }).verdict).toBe("deny");
      }
      for (const value of [piece.start, piece.end]) {
        expect(evaluateConnection(index, { from: web, to: address(piece.family, value), port: 443, protocol: "TCP" }).verdict).toBe("allow");
      }
    }
  });

  it("allows DNS to the cluster DNS pods only, and selects only the given pods", () => {
    expect(evaluateConnection(index, { from: web, to: dns, port: 53, protocol: "UDP" }).verdict).toBe("allow");
    expect(evaluateConnection(index, { from: web, to: dns, port: 53, protocol: "TCP" }).verdict).toBe("allow");
    expect(evaluateConnection(index, { from: web, to: dns, port: 443, protocol: "TCP" }).verdict).toBe("deny");
    expect(evaluateConnection(index, { from: web, to: address(4, cidr("8.8.8.8/32").base), port: 53, protocol: "UDP" }).verdict).toBe("deny");
    // A pod the selector does not match is not isolated by the generated policy.
    expect(evaluateConnection(index, { from: other, to: address(4, cidr("8.8.8.8/32").base), port: 22, protocol: "TCP" }).verdict).toBe("allow");
  });
});
