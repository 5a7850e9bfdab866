// The traffic: block: off unless enabled, defaults, and every rule reported at the file, line
// and field of the offending value.
import { describe, expect, it } from "vitest";
import { MAX_FLOWS_LIMIT, TRAFFIC_DEFAULTS } from "../../agent/config/traffic.js";
import { CONFIG_FILE as FILE, errors, load } from "../support/config-text.js";

const BASE = "sources: [{name: self, self: true}]\nprobes: []\n";

describe("the traffic block", () => {
  it("names a directory of staged policies, and refuses an empty path at its line and field", () => {
    expect(load(`traffic: {enabled: true, staged: /etc/netcanary/staged}\n${BASE}`).traffic?.staged).toBe("/etc/netcanary/staged");
    expect(load(`traffic: {enabled: true}\n${BASE}`).traffic?.staged).toBeUndefined();
    expect(errors(`traffic:\n  enabled: true\n  staged: ""\n${BASE}`)).toEqual([`${FILE}:3:3: traffic.staged: must be a path to a directory of NetworkPolicy manifests`]);
    expect(errors(`traffic:\n  enabled: true\n  staged: 3\n${BASE}`)).toEqual([`${FILE}:3:3: traffic.staged: must be a path to a directory of NetworkPolicy manifests`]);
  });

  it("is off without the block, and off with enabled: false", () => {
    expect(load(BASE).traffic).toBeUndefined();
    expect(load(`traffic: {enabled: false, interval: 5s}\n${BASE}`).traffic).toBeUndefined();
  });

  it("maps the pod sources' pods every 15 s within 2000 flows for an hour by default", () => {
    expect(load(`traffic: {enabled: true}\n${BASE}`).traffic).toEqual({
      pods: { kind: "sources" },
      intervalMs: TRAFFIC_DEFAULTS.intervalMs,
      maxFlows: 2000,
      expireAfterMs: 3_600_000,
      ranges: [],
    });
  });

  it("takes all pods, or namespaces, an interval, a budget, an expiry and named ranges", () => {
    const config = load(`traffic:
  enabled: true
  pods: {namespaces: [shop, payments, shop]}
  interval: 5s
  maxFlows: 500
  expireAfter: 10m
  ranges:
    - {name: partner, cidr: 203.0.113.0/24}
    - {name: corp-v6, cidr: "2001:db8::/32"}
${BASE}`).traffic;
    expect(config).toMatchObject({ pods: { kind: "namespaces", namespaces: ["shop", "payments"] }, intervalMs: 5000, maxFlows: 500, expireAfterMs: 600_000 });
    expect(config?.ranges.map((range) => [range.name, range.cidr.text])).toEqual([
      ["partner", "203.0.113.0/24"],
      ["corp-v6", "2001:db8::/32"],
    ]);
    expect(load(`traffic: {enabled: true, pods: all}\n${BASE}`).traffic?.pods).toEqual({ kind: "all" });
  });

  it("refuses values out of range, with file, line and field", () => {
    expect(errors(`traffic: {enabled: true, interval: 100ms}\n${BASE}`)).toEqual([`${FILE}:1:26: traffic.interval: must be a duration from 1s to 10m, such as "30s"`]);
    expect(errors(`traffic: {enabled: true, maxFlows: ${MAX_FLOWS_LIMIT + 1}}\n${BASE}`)).toEqual([`${FILE}:1:26: traffic.maxFlows: must be a whole number from 1 to ${MAX_FLOWS_LIMIT}`]);
    expect(errors(`traffic: {enabled: true, pods: some}\n${BASE}`)).toEqual([`${FILE}:1:26: traffic.pods: must be sources, all, or {namespaces: [...]}`]);
    expect(errors(`traffic: {enabled: true, interval: 1m, expireAfter: 30s}\n${BASE}`)).toEqual([
      `${FILE}:1:40: traffic.expireAfter: expireAfter (30000 ms) must not be shorter than the interval (60000 ms)`,
    ]);
    expect(errors(`traffic:\n  enabled: true\n  ranges:\n    - {name: a, cidr: 10.0.0.0/33}\n    - {name: a, cidr: 10.0.0.0/8}\n    - {name: a, cidr: 10.1.0.0/16}\n${BASE}`)).toEqual([
      `${FILE}:4:17: traffic.ranges[0].cidr: "10.0.0.0/33" has an invalid prefix length (0-32 for IPv4)`,
      `${FILE}:5:8: traffic.ranges[1].name: range "a" is named twice`,
      `${FILE}:6:8: traffic.ranges[2].name: range "a" is named twice`,
    ]);
    expect(errors(`traffic: {enabled: true, sample: 5s}\n${BASE}`)).toEqual([`${FILE}:1:26: traffic.sample: unknown field`]);
  });
});
