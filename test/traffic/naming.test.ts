// Naming both ends of a connection and aggregating flows: the order of the names (cluster
// state, Zscaler's published ranges, lookups, configured ranges, the address itself), the
// per-pod labels left out, and the aggregator's bounds (budget, sample addresses, expiry,
// one observation per sample, unnamed flows folded once named).
import { describe, expect, it } from "vitest";
import { type Cidr, type IpAddress, parseCidr, parseIp } from "../../agent/addresses/ip.js";
import type { PodInfo, ServiceInfo } from "../../agent/cluster/snapshot.js";
import { FlowAggregator, type FlowObservation, workloadBudget } from "../../agent/traffic/aggregate.js";
import { flowKey, MAX_SAMPLE_ADDRESSES, type FlowWorkload } from "../../agent/traffic/flow.js";
import { namePeer, type NamingContext, nodeAddresses, type PeerLookup, sortRanges, workloadOfPod } from "../../agent/traffic/naming.js";

const ip = (text: string): IpAddress => {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
};
const cidr = (text: string): Cidr => {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
};
const pod = (over: Partial<PodInfo> & Pick<PodInfo, "name">): PodInfo => ({ namespace: "shop", labels: {}, ips: [], ports: [], hostNetwork: false, phase: "Running", node: "node-a", ...over });

const web = pod({ name: "web-0", ips: [ip("10.244.1.20")], labels: { app: "web", "controller-revision-hash": "web-5d4", "statefulset.kubernetes.io/pod-name": "web-0", "apps.kubernetes.io/pod-index": "0" }, owner: { kind: "statefulset", name: "web" } });
const kubeProxy = pod({ name: "kube-proxy-x", namespace: "kube-system", ips: [ip("192.168.1.10")], hostNetwork: true, node: "node-a", owner: { kind: "daemonset", name: "kube-proxy" } });
const api: ServiceInfo = { namespace: "default", name: "kubernetes", clusterIps: [ip("10.96.0.1")], ports: [] };

function context(lookup?: (address: IpAddress) => PeerLookup): NamingContext {
  return {
    pods: new Map([["10.244.1.20", web]]),
    services: new Map([["10.96.0.1", api]]),
    nodes: nodeAddresses([web, kubeProxy]),
    zscaler: (address) => (address.text.startsWith("165.225.") ? { cloud: "zscaler.net", city: "Amsterdam II", range: "165.225.0.0/17" } : undefined),
    ranges: sortRanges([
      { name: "partners", cidr: cidr("203.0.0.0/8") },
      { name: "partner-a", cidr: cidr("203.0.113.0/24") },
    ]),
    ...(lookup ? { lookup } : {}),
  };
}

describe("namePeer", () => {
  it("names pods by workload, Services, nodes, Zscaler, the smallest configured range, else the address", () => {
    expect(namePeer(ip("10.244.1.20"), context())).toEqual({ kind: "workload", workload: { namespace: "shop", kind: "statefulset", name: "web", labels: { app: "web" } } });
    expect(namePeer(ip("10.96.0.1"), context())).toEqual({ kind: "service", namespace: "default", name: "kubernetes" });
    expect(namePeer(ip("192.168.1.10"), context())).toEqual({ kind: "node", name: "node-a" });
    expect(namePeer(ip("165.225.10.1"), context())).toEqual({ kind: "zscaler", cloud: "zscaler.net", city: "Amsterdam II", range: "165.225.0.0/17" });
    expect(namePeer(ip("203.0.113.9"), context())).toEqual({ kind: "external", range: "203.0.113.0/24", name: "partner-a" });
    expect(namePeer(ip("203.1.2.3"), context())).toEqual({ kind: "external", range: "203.0.0.0/8", name: "partners" });
    expect(namePeer(ip("198.51.100.7"), context())).toEqual({ kind: "external", range: "198.51.100.7/32" });
    expect(namePeer(ip("2001:db8::7"), context())).toEqual({ kind: "external", range: "2001:db8::7/128" });
  });

  it("with lookups: unnamed with the reason while pending, then what the API said, and the ranges when it is neither", () => {
    const answers = new Map<string, PeerLookup>([
      ["10.244.2.30", { kind: "answer", answer: { pods: [pod({ name: "db-0", namespace: "data", node: "node-b", ips: [ip("10.244.2.30")], owner: { kind: "statefulset", name: "db" } })], services: [] } }],
      ["10.96.5.5", { kind: "answer", answer: { pods: [], services: [{ namespace: "data", name: "db", clusterIps: [ip("10.96.5.5")], ports: [] }] } }],
      ["203.0.113.9", { kind: "answer", answer: { pods: [], services: [] } }],
      ["fd00::9", { kind: "answer", answer: { pods: [], services: [], undecidable: "of the second family" } }],
    ]);
    const lookup = (address: IpAddress): PeerLookup => answers.get(address.text) ?? { kind: "pending", reason: `looking up ${address.text}` };
    expect(namePeer(ip("10.244.2.30"), context(lookup))).toEqual({ kind: "workload", workload: { namespace: "data", kind: "statefulset", name: "db", labels: {} } });
    expect(namePeer(ip("10.96.5.5"), context(lookup))).toEqual({ kind: "service", namespace: "data", name: "db" });
    expect(namePeer(ip("203.0.113.9"), context(lookup))).toEqual({ kind: "external", range: "203.0.113.0/24", name: "partner-a" });
    expect(namePeer(ip("10.244.9.9"), context(lookup))).toEqual({ kind: "unnamed", address: "10.244.9.9", reason: "looking up 10.244.9.9" });
    expect(namePeer(ip("fd00::9"), context(lookup))).toEqual({ kind: "unnamed", address: "fd00::9", reason: "of the second family" });
    // Known without asking: the state's pods, Services and Zscaler's ranges are never looked up.
    const asked: string[] = [];
    const counting = (address: IpAddress): PeerLookup => (asked.push(address.text), lookup(address));
    for (const text of ["10.244.1.20", "10.96.0.1", "192.168.1.10", "165.225.10.1"]) namePeer(ip(text), context(counting));
    expect(asked).toEqual([]);
  });
});

describe("workloadOfPod", () => {
  it("leaves out per-pod labels, and a CronJob's per-run job-name, but keeps a Job's", () => {
    expect(workloadOfPod(web).labels).toEqual({ app: "web" });
    const run = pod({ name: "report-28973520-abcde", labels: { app: "report", "job-name": "report-28973520", "batch.kubernetes.io/job-name": "report-28973520", "controller-uid": "u", "batch.kubernetes.io/controller-uid": "u" }, owner: { kind: "cronjob", name: "report" } });
    expect(workloadOfPod(run)).toEqual({ namespace: "shop", kind: "cronjob", name: "report", labels: { app: "report" } });
    const job = pod({ name: "migrate-xyz", labels: { app: "migrate", "job-name": "migrate", "controller-uid": "u" }, owner: { kind: "job", name: "migrate" } });
    expect(workloadOfPod(job).labels).toEqual({ app: "migrate", "job-name": "migrate" });
    expect(workloadOfPod(pod({ name: "bare", labels: { a: "b" } }))).toEqual({ namespace: "shop", kind: "pod", name: "bare", labels: { a: "b" } });
  });
});

const CLIENT: FlowWorkload = { namespace: "shop", kind: "deployment", name: "client", labels: { app: "client", tier: "front" } };
function observation(over: Partial<FlowObservation> = {}): FlowObservation {
  return {
    direction: "outbound",
    protocol: "TCP",
    local: CLIENT,
    peer: { kind: "external", range: "198.51.100.7/32" },
    port: 443,
    localAddress: "10.244.1.5",
    remoteAddress: "198.51.100.7",
    attempt: false,
    evidence: "socket-table",
    ...over,
  };
}

describe("FlowAggregator", () => {
  it("aggregates by flow key: one observation per sample, first and last seen, bounded sample addresses", () => {
    const flows = new FlowAggregator(100);
    const many = Array.from({ length: 20 }, (_, i) => observation({ peer: { kind: "external", range: "198.51.100.0/24", name: "x" }, remoteAddress: `198.51.100.${i}`, localAddress: `10.244.1.${i}` }));
    expect(flows.record(1000, many)).toEqual({ added: 1, dropped: 0 });
    flows.record(2000, many.slice(0, 2));
    const [flow, ...rest] = flows.flowsNow();
    expect(rest).toEqual([]);
    expect(flow).toMatchObject({ observations: 2, firstSeen: new Date(1000).toISOString(), lastSeen: new Date(2000).toISOString(), evidence: ["socket-table"], port: 443 });
    expect(flow?.remoteAddresses).toHaveLength(MAX_SAMPLE_ADDRESSES);
    expect(flow?.localAddresses).toHaveLength(MAX_SAMPLE_ADDRESSES);
    expect(flow?.attemptOnly).toBeUndefined();
  });

  it("keeps at most maxFlows flows and counts the distinct ones it could not record", () => {
    const flows = new FlowAggregator(2);
    // Each port's flow from its own workload: the node-wide budget binds, not one workload's share.
    const ports = [1, 2, 3, 4, 4].map((port) => observation({ port, local: { ...CLIENT, name: `client-${port}` } }));
    expect(flows.record(1000, ports)).toEqual({ added: 2, dropped: 2 });
    expect(flows.size).toBe(2);
    expect(flows.droppedLastSample).toBe(2);
    // Known flows are still counted when the budget is full.
    flows.record(2000, [observation({ port: 1, local: { ...CLIENT, name: "client-1" } })]);
    expect(flows.flowsNow().find((flow) => flow.port === 1)?.observations).toBe(2);
    expect(flows.droppedLastSample).toBe(0);
  });

  it("gives one workload at most a quarter of the budget (never fewer than 100 flows), so a noisy pod cannot keep the others' flows out; expiry gives its share back", () => {
    const flows = new FlowAggregator(1000);
    expect([workloadBudget(1000), workloadBudget(200), workloadBudget(40)]).toEqual([250, 100, 40]);
    const noisy = Array.from({ length: 1000 }, (_, i) => observation({ port: 1000 + i }));
    expect(flows.record(1000, noisy)).toEqual({ added: 250, dropped: 750 });
    const other = { ...CLIENT, name: "quiet" };
    expect(flows.record(2000, [observation({ port: 443, local: other })])).toEqual({ added: 1, dropped: 0 });
    expect(flows.flowsNow().filter((flow) => flow.local.name === CLIENT.name)).toHaveLength(250);
    // The noisy workload's flows expire: its share is free again.
    expect(flows.expire(1500)).toBe(250);
    expect(flows.record(3000, noisy.slice(250, 260))).toEqual({ added: 10, dropped: 0 });
  });

  it("expires flows not seen within the window, and marks flows only ever attempted", () => {
    const flows = new FlowAggregator(10);
    flows.record(1000, [observation({ port: 1, attempt: true })]);
    flows.record(5000, [observation({ port: 2 }), observation({ port: 3, attempt: true }), observation({ port: 3 })]);
    expect(flows.flowsNow().map((flow) => [flow.port, flow.attemptOnly ?? false])).toEqual([
      [1, true],
      [2, false],
      [3, false],
    ]);
    expect(flows.expire(2000)).toBe(1);
    expect(flows.flowsNow().map((flow) => flow.port)).toEqual([2, 3]);
  });

  it("renames flows named by one address once a better name is known, folding them into that flow", () => {
    const flows = new FlowAggregator(2);
    const zscaler = { kind: "zscaler", cloud: "zscaler.net", range: "165.225.0.0/17" } as const;
    flows.record(1000, [observation({ peer: { kind: "unnamed", address: "198.51.100.7", reason: "looking up" } }), observation({ peer: { kind: "external", range: "165.225.1.1/32" }, remoteAddress: "165.225.1.1" })]);
    flows.record(1500, [observation({ peer: zscaler, remoteAddress: "165.225.1.2" })]);
    expect(flows.droppedLastSample).toBe(1);
    // The lookup answered and the feeds loaded: both one-address flows take their names.
    const renamed = flows.rename((address) => (address.startsWith("165.225.") ? zscaler : { kind: "external", range: `${address}/32` }));
    expect(renamed).toBe(2);
    // The budget is full, but the renamed flows take no new place.
    expect(flows.record(2000, [observation(), observation({ peer: zscaler, remoteAddress: "165.225.1.2" })])).toEqual({ added: 0, dropped: 0 });
    expect(flows.flowsNow().map((flow) => [JSON.stringify(flow.peer), flow.observations, flow.firstSeen, flow.remoteAddresses])).toEqual([
      [JSON.stringify({ kind: "external", range: "198.51.100.7/32" }), 2, new Date(1000).toISOString(), ["198.51.100.7"]],
      [JSON.stringify(zscaler), 2, new Date(1000).toISOString(), ["165.225.1.1", "165.225.1.2"]],
    ]);
    // A flow named by a range is never renamed from its sample addresses.
    expect(flows.rename(() => ({ kind: "unnamed", address: "x", reason: "" }))).toBe(1);
  });

  it("keeps the labels the workload's pods share, in stable flow key order", () => {
    const flows = new FlowAggregator(10);
    flows.record(1000, [observation({ port: 80 }), observation({ port: 22 })]);
    flows.record(2000, [observation({ port: 80, local: { ...CLIENT, labels: { app: "client", tier: "edge" } } })]);
    const all = flows.flowsNow();
    expect(all.map((flow) => flowKey(flow))).toEqual([...all.map((flow) => flowKey(flow))].sort());
    expect(all.find((flow) => flow.port === 80)?.local.labels).toEqual({ app: "client" });
    expect(all.find((flow) => flow.port === 22)?.local.labels).toEqual({ app: "client", tier: "front" });
  });
});
