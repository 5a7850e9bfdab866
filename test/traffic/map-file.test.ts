// Recorded maps read back: every field checked, a bad one reported with its file, line and
// field; several maps merged into one without losing or doubling a flow.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flowKey, MAX_SAMPLE_ADDRESSES } from "../../agent/traffic/flow.js";
import { mergeFlowMaps, parseFlowMap } from "../../agent/traffic/map-file.js";
import { fixtureDir, fixtureMap, flow, flowMap, toWorkload, workload } from "./helpers.js";

const text = readFileSync(join(fixtureDir, "shop-node-a.json"), "utf8");

describe("reading a recorded map", () => {
  it("reads the fixture maps as they are written", () => {
    const map = fixtureMap("shop-node-a.json");
    expect(map.node).toBe("node-a");
    expect(map.flows).toHaveLength(3);
    expect(map.flows[1]?.peer).toMatchObject({ kind: "service", name: "kube-dns", backends: [{ port: 53 }] });
  });

  it("reports a bad field with its file, line and field path", () => {
    const bad = text.replace('"port": 8080', '"port": 70000');
    const read = parseFlowMap(bad, "map.json");
    expect(read.ok).toBe(false);
    const [error] = read.ok ? [] : read.errors;
    const line = bad.split("\n").findIndex((l) => l.includes("70000")) + 1;
    expect(error).toMatchObject({ file: "map.json", line, field: "flows[0].port", message: "must be a port number from 1 to 65535, got number 70000" });
  });

  it("reports every bad field, not only the first: labels, addresses, kinds, times", () => {
    const map = JSON.parse(text);
    map.flows[0].local.labels = { "bad key!": "x" };
    map.flows[0].remoteAddresses = ["10.0.0.300"];
    map.flows[1].peer.kind = "pod";
    map.flows[2].lastSeen = "yesterday";
    const read = parseFlowMap(JSON.stringify(map, null, 2), "map.json");
    expect(read.ok ? [] : read.errors.map((e) => e.field)).toEqual([
      "flows[0].local.labels.bad key!",
      "flows[0].remoteAddresses[0]",
      "flows[1].peer.kind",
      "flows[2].lastSeen",
    ]);
  });

  it("refuses more sampled addresses than a flow may hold, and a file that is not JSON, with its line", () => {
    const map = JSON.parse(text);
    map.flows[0].remoteAddresses = Array.from({ length: MAX_SAMPLE_ADDRESSES + 1 }, (_, i) => `10.0.0.${i + 1}`);
    expect(parseFlowMap(JSON.stringify(map), "m.json").ok).toBe(false);
    const read = parseFlowMap('{\n  "apiVersion": "netcanary/v1",\n  oops\n}', "m.json");
    expect(read.ok ? undefined : read.errors[0]).toMatchObject({ file: "m.json", line: 3 });
  });

  it("refuses names the API server would refuse: they would end up in policy names and selectors", () => {
    const map = JSON.parse(text);
    map.flows[0].local.name = "web\n---\nkind: Pod";
    map.flows[0].local.namespace = "Shop";
    map.flows[1].peer.name = "kube dns";
    const read = parseFlowMap(JSON.stringify(map, null, 2), "map.json");
    expect(read.ok ? [] : read.errors.map((e) => e.field)).toEqual(["flows[0].local.namespace", "flows[0].local.name", "flows[1].peer.name"]);
  });

  it("refuses another kind of document", () => {
    const read = parseFlowMap(JSON.stringify({ apiVersion: "v1", kind: "Pod" }), "m.json");
    expect(read.ok ? [] : read.errors.map((e) => e.field)).toEqual(expect.arrayContaining(["apiVersion", "kind", "from", "flows", "coverage"]));
  });
});

describe("merging maps", () => {
  const web = workload("shop/web", { app: "web" });
  const api = workload("shop/api", { app: "api" });

  it("merges one flow recorded twice: earliest first seen, latest last seen, observations summed, addresses bounded", () => {
    const a = flowMap([flow(web, toWorkload(api), 8080, { remoteAddresses: ["10.0.0.1", "10.0.0.2"], firstSeen: "2026-12-07T08:05:00Z", lastSeen: "2026-12-07T08:10:00Z", observations: 3 })]);
    const many = Array.from({ length: MAX_SAMPLE_ADDRESSES }, (_, i) => `10.0.1.${i + 1}`);
    const b = flowMap([flow(web, toWorkload(api), 8080, { remoteAddresses: many, firstSeen: "2026-12-07T08:00:00Z", lastSeen: "2026-12-07T08:07:00Z", observations: 2, evidence: ["conntrack"] })]);
    const merged = mergeFlowMaps([a, b]);
    expect(merged.flows).toHaveLength(1);
    expect(merged.flows[0]).toMatchObject({ firstSeen: "2026-12-07T08:00:00Z", lastSeen: "2026-12-07T08:10:00Z", observations: 5, evidence: ["socket-table", "conntrack"] });
    expect(merged.flows[0]?.remoteAddresses).toHaveLength(MAX_SAMPLE_ADDRESSES);
    expect(merged.flows[0]?.remoteAddresses.slice(0, 2)).toEqual(["10.0.0.1", "10.0.0.2"]);
  });

  it("keeps flows of different keys apart and drops the node of a merge across nodes", () => {
    const merged = mergeFlowMaps([fixtureMap("shop-node-a.json"), fixtureMap("shop-node-b.json")]);
    expect(merged.node).toBeUndefined();
    expect(new Set(merged.flows.map(flowKey)).size).toBe(9);
    expect(merged.coverage.podsObserved).toBe(2);
  });
});
