// Config validation: the contract example resolves to exact values, and every rule
// reports the file, line, column and field of the offending value.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_CONFIG, BUILTIN_CONFIG_NAME } from "../../agent/config/builtin.js";
import { DURATION_RANGES, formatDuration, parseDuration } from "../../agent/config/duration.js";
import { loadConfigFile, parseConfig } from "../../agent/config/load.js";
import { MAX_EDGES } from "../../agent/config/schema.js";
import { formatInputError } from "../../agent/documents/located.js";
import { WORKER_LIMITS } from "../../agent/probes/worker-protocol.js";
import { CONFIG_FILE as FILE, errors, load } from "../support/config-text.js";


/** A valid document with one probe, whose lines (from line 4) the test writes. */
function withProbe(probeLines: string): string {
  return `sources:\n  - {name: self, self: true}\nprobes:\n${probeLines}`;
}

const CONTRACT = `defaults: {interval: 30s, timeout: 2s, failureThreshold: 3, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - name: web
    sources: [self]
    tcp: {host: web.example.com, port: 443}
    expect: allow
  - name: blocked
    sources: [self]
    tcp: {ip: 192.0.2.10, port: 22}
    expect: deny
    interval: 10s
    timeout: 500ms
    failureThreshold: 5
    successThreshold: 2
  - name: resolver
    sources: [self]
    dns: {query: example.com, type: AAAA, server: "[2001:db8::53]:5353", answersIn: [10.0.0.0/8, "2001:db8::/32"]}
    schedule: "*/5 * * * *"
  - name: cluster-dns
    sources: [self]
    dns: {query: kubernetes.default.svc.cluster.local, server: cluster}
  - name: plain-server
    sources: [self]
    dns: {query: example.com, server: 192.0.2.53}
`;

describe("the contract example", () => {
  it("resolves to exact values", () => {
    const config = load(CONTRACT);
    expect(config.defaults).toEqual({ intervalMs: 30_000, timeoutMs: 2_000, failureThreshold: 3, successThreshold: 1 });
    expect(config.agent).toEqual({ maxConcurrentProbes: 256, starvationThresholdMs: 250, maxEdges: 5000, maxProbeWorkers: 4, maxEndpointsPerTarget: 10, coverageWindowMs: 3_600_000 });
    expect(config.sources).toEqual([{ name: "self", kind: "self" }]);
    const [web, blocked, resolver, clusterDns, plain] = config.probes;
    expect(web).toEqual({
      name: "web",
      sources: ["self"],
      expect: "allow",
      schedule: { kind: "interval", intervalMs: 30_000 },
      timeoutMs: 2000,
      failureThreshold: 3,
      successThreshold: 1,
      target: { kind: "tcp", host: "web.example.com", port: 443 },
    });
    expect(blocked).toMatchObject({
      name: "blocked",
      expect: "deny",
      schedule: { kind: "interval", intervalMs: 10_000 },
      timeoutMs: 500,
      failureThreshold: 5,
      successThreshold: 2,
      target: { kind: "tcp", port: 22, ip: { family: 4, text: "192.0.2.10" } },
    });
    expect(blocked?.target).not.toHaveProperty("host");
    expect(resolver).toMatchObject({
      expect: null,
      schedule: { kind: "cron", expression: "*/5 * * * *" },
      timeoutMs: 2000,
      target: {
        kind: "dns",
        query: "example.com",
        type: "AAAA",
        server: { kind: "address", server: { ip: "2001:db8::53", port: 5353, setting: "[2001:db8::53]:5353" } },
      },
    });
    expect(resolver?.target.kind === "dns" && resolver.target.answersIn.map((c) => c.text)).toEqual(["10.0.0.0/8", "2001:db8::/32"]);
    expect(clusterDns?.target).toEqual({ kind: "dns", query: "kubernetes.default.svc.cluster.local", type: "A", server: { kind: "cluster" }, answersIn: [], answersInZscaler: [] });
    expect(plain?.target).toMatchObject({ server: { kind: "address", server: { ip: "192.0.2.53", port: 53, setting: "192.0.2.53:53" } } });
    expect(config.probes).toHaveLength(5);
  });

  it("applies the agent settings", () => {
    const config = load(`agent: {maxConcurrentProbes: 8, starvationThreshold: 100ms, maxEdges: 10, maxProbeWorkers: 2, maxEndpointsPerTarget: 3}\nsources: [{name: self, self: true}]\nprobes: []\n`);
    expect(config.agent).toEqual({ maxConcurrentProbes: 8, starvationThresholdMs: 100, maxEdges: 10, maxProbeWorkers: 2, maxEndpointsPerTarget: 3, coverageWindowMs: 3_600_000 });
    // Built-in timing defaults when there is no defaults block.
    expect(config.defaults).toEqual({ intervalMs: 30_000, timeoutMs: 2_000, failureThreshold: 3, successThreshold: 1 });
  });

  it("pod sources: the probe label by default, any namespace unless a selector narrows it", () => {
    const config = load(
      `sources:\n  - {name: labeled}\n  - name: shop\n    namespaceSelector: {matchLabels: {team: shop}}\n    podSelector: {matchExpressions: [{key: app, operator: In, values: [web, api]}]}\nprobes: []\n`,
    );
    expect(config.sources).toEqual([
      { name: "labeled", kind: "pods", namespaceSelector: null, podSelector: { matchLabels: { "netcanary.io/probe": "true" }, matchExpressions: [] } },
      {
        name: "shop",
        kind: "pods",
        namespaceSelector: { matchLabels: { team: "shop" }, matchExpressions: [] },
        podSelector: { matchLabels: {}, matchExpressions: [{ key: "app", operator: "In", values: ["web", "api"] }] },
      },
    ]);
  });

  it("loads the built-in configuration", () => {
    const result = parseConfig(BUILTIN_CONFIG, BUILTIN_CONFIG_NAME);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.config.probes.map((p) => p.name)).toEqual(["zscaler-gateway-443", "zscaler-gateway-9400", "zscaler-gateway-dns", "public-dns"]);
  });
});

describe("durations", () => {
  it.each([
    ["500ms", 500],
    ["2s", 2000],
    ["1m30s", 90_000],
    ["1h", 3_600_000],
    ["1.5s", 1500],
    ["1.1s", 1100],
    ["0.001s", 1],
    ["0s", 0],
    ["1000h", 3_600_000_000],
    ["9007199254740991ms", Number.MAX_SAFE_INTEGER],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    "30",
    "-1s",
    "1d",
    "",
    "s",
    "1 s",
    "1S",
    "1s ",
    "1.s",
    // Finer than a millisecond: no silent rounding to 0 or to a neighbour.
    "0.0001ms",
    "1.5ms",
    "0.0005s",
    // Not finite, or beyond exact arithmetic.
    "1e400h",
    "Infinityh",
    "9007199254740992ms",
    `1${"0".repeat(400)}h`,
    `${"1s".repeat(40)}`,
  ])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it("formats back to the largest whole unit", () => {
    expect([3_600_000, 120_000, 90_000, 3000, 1500, 0].map(formatDuration)).toEqual(["1h", "2m", "90s", "3s", "1500ms", "0ms"]);
  });

  it.each([
    ["30", 'must be a duration from 100ms to 24h, such as "30s" or "1m30s"'],
    ['"30"', 'must be a duration from 100ms to 24h, such as "30s" or "1m30s"'],
    ['"-1s"', 'must be a duration from 100ms to 24h, such as "30s" or "1m30s"'],
    ["1d", 'must be a duration from 100ms to 24h, such as "30s" or "1m30s"'],
    ["0s", 'must be a duration from 100ms to 24h, such as "30s" or "1m30s"'],
    ["0.4ms", 'must be a duration from 100ms to 24h, such as "30s" or "1m30s"'],
  ])("interval: %s is refused at the field", (value, message) => {
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: 80}\n    interval: ${value}\n`))).toEqual([
      `${FILE}:7:5: probes[0].interval: ${message}`,
    ]);
  });
});

describe("duration ranges: every duration field, at and beyond its bounds", () => {
  const interval = 'must be a duration from 100ms to 24h, such as "30s" or "1m30s"';
  const timeout = 'must be a duration from 10ms to 1m, such as "30s" or "1m30s"';
  const starvation = 'must be a duration from 10ms to 1m, such as "30s" or "1m30s"';
  const refresh = 'must be a duration from 1s to 168h, such as "30s" or "1m30s"';
  const feedTimeout = 'must be a duration from 1s to 5m, such as "30s" or "1m30s"';
  const grace = 'must be 0 or a duration up to 720h, such as "24h"';

  // [field, value, the error at the field or undefined when accepted]
  const table: readonly (readonly [string, string, string | undefined])[] = [
    ["probes[0].interval", "99ms", interval],
    ["probes[0].interval", "100ms", undefined],
    ["probes[0].interval", "24h", undefined],
    ["probes[0].interval", "24h1ms", interval],
    ["probes[0].interval", "1000h", interval],
    ["probes[0].interval", "0.0001ms", interval],
    ["probes[0].interval", "1e400h", interval],
    ["defaults.interval", "99ms", interval],
    ["defaults.interval", "24h", undefined],
    ["defaults.interval", "25h", interval],
    ["probes[0].timeout", "9ms", timeout],
    ["probes[0].timeout", "10ms", undefined],
    ["probes[0].timeout", "60s", undefined],
    ["probes[0].timeout", "1m1ms", timeout],
    ["probes[0].timeout", "10.5ms", timeout],
    ["defaults.timeout", "9ms", timeout],
    ["defaults.timeout", "61s", timeout],
    ["agent.starvationThreshold", "9ms", starvation],
    ["agent.starvationThreshold", "10ms", undefined],
    ["agent.starvationThreshold", "60s", undefined],
    ["agent.starvationThreshold", "61s", starvation],
    ["zscaler.refreshInterval", "999ms", refresh],
    ["zscaler.refreshInterval", "1s", undefined],
    ["zscaler.refreshInterval", "168h", undefined],
    ["zscaler.refreshInterval", "169h", refresh],
    ["zscaler.timeout", "999ms", feedTimeout],
    ["zscaler.timeout", "1s", undefined],
    ["zscaler.timeout", "5m", undefined],
    ["zscaler.timeout", "5m1s", feedTimeout],
    ["zscaler.removalGrace", "0", undefined],
    ["zscaler.removalGrace", '"0"', undefined],
    ["zscaler.removalGrace", "0s", undefined],
    ["zscaler.removalGrace", "720h", undefined],
    ["zscaler.removalGrace", "721h", grace],
    ["zscaler.removalGrace", '"-1s"', grace],
    ["zscaler.removalGrace", "1", grace],
  ];

  /** A document with the value at the field, on line 2 (defaults, agent, zscaler) or line 8 (the probe). */
  function documentWith(field: string, value: string): { text: string; line: number; column: number } {
    const [section, key] = field.split(".") as [string, string];
    // The probe's own interval and timeout leave the timeout-not-above-interval rule out of it.
    const probe = (extra: string) => `probes:\n  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: 80}\n    interval: 24h\n    timeout: 10ms\n${extra}`;
    if (section === "probes[0]") {
      const lines = probe("").split("\n").filter((line) => !line.startsWith(`    ${key}:`));
      return { text: `sources: [{name: self, self: true}]\n${lines.join("\n")}    ${key}: ${value}\n`, line: 7, column: 5 };
    }
    const defaults = section === "defaults" ? `defaults:\n  interval: 24h\n  timeout: 10ms\n`.replace(new RegExp(`  ${key}: .*\n`), "") : "";
    const head = section === "defaults" ? `${defaults}  ${key}: ${value}\n` : `${section}:\n  ${key}: ${value}\n`;
    const lineOfValue = head.split("\n").length - 1;
    return { text: `${head}sources: [{name: self, self: true}]\nprobes: []\n`, line: lineOfValue, column: 3 };
  }

  it.each(table)("%s: %s -> %s", (field, value, message) => {
    const { text, line, column } = documentWith(field, value);
    if (message === undefined) {
      expect(() => load(text)).not.toThrow();
    } else {
      expect(errors(text)).toEqual([`${FILE}:${line}:${column}: ${field}: ${message}`]);
    }
  });

  it("the accepted values resolve to exact milliseconds", () => {
    const config = load(`defaults: {interval: 24h, timeout: 60s}
agent: {starvationThreshold: 10ms}
zscaler: {refreshInterval: 168h, timeout: 5m, removalGrace: 720h}
sources: [{name: self, self: true}]
probes: [{name: a, sources: [self], tcp: {host: x.example, port: 80}, interval: 100ms, timeout: 10ms}]
`);
    expect(config.defaults).toMatchObject({ intervalMs: 86_400_000, timeoutMs: 60_000 });
    expect(config.agent.starvationThresholdMs).toBe(10);
    expect(config.zscaler).toMatchObject({ refreshMs: 604_800_000, timeoutMs: 300_000, removalGraceMs: 2_592_000_000 });
    expect(config.probes[0]).toMatchObject({ schedule: { kind: "interval", intervalMs: 100 }, timeoutMs: 10 });
  });

  it("zscaler.maxBytes: 2 MiB by default, from 1024 bytes to 4 MiB", () => {
    const at = (value: string) => `zscaler:\n  maxBytes: ${value}\nsources: [{name: self, self: true}]\nprobes: []\n`;
    const message = "must be a whole number of bytes from 1024 to 4194304 (4 MiB, what the agent's memory takes)";
    expect(load(`zscaler: {}\nsources: [{name: self, self: true}]\nprobes: []\n`).zscaler?.maxBytes).toBe(2 * 1024 * 1024);
    expect(load(at("4194304")).zscaler?.maxBytes).toBe(4 * 1024 * 1024);
    expect(load(at("1024")).zscaler?.maxBytes).toBe(1024);
    for (const value of ["4194305", "16777216", "1023", "1500.5", '"2MiB"']) expect(errors(at(value))).toEqual([`${FILE}:2:3: zscaler.maxBytes: ${message}`]);
  });

  it("a probe's longest timeout fits the probe worker's bound, and so does the starvation threshold", () => {
    expect(DURATION_RANGES.timeout.maxMs).toBeLessThanOrEqual(WORKER_LIMITS.maxTimeoutMs);
    expect(DURATION_RANGES.starvationThreshold.maxMs).toBeLessThanOrEqual(WORKER_LIMITS.maxTimeoutMs);
  });
});

describe("errors point at the offending field", () => {
  it("port and thresholds out of range", () => {
    expect(
      errors(
        withProbe(`  - name: a
    sources: [self]
    tcp:
      host: x.example
      port: 0
    failureThreshold: 0
    successThreshold: 101
`),
      ),
    ).toEqual([
      `${FILE}:8:7: probes[0].tcp.port: must be a port number (1-65535)`,
      `${FILE}:9:5: probes[0].failureThreshold: must be a whole number from 1 to 100`,
      `${FILE}:10:5: probes[0].successThreshold: must be a whole number from 1 to 100`,
    ]);
  });

  it("agent.maxEdges beyond what the agent's memory limit holds, or not a count", () => {
    expect(errors(`agent: {maxEdges: ${MAX_EDGES + 1}}\nsources: [{name: self, self: true}]\nprobes: []\n`)).toEqual([
      `${FILE}:1:9: agent.maxEdges: must be at most ${MAX_EDGES}: more edges than that do not fit the agent's memory limit (docs/configuration.md)`,
    ]);
    expect(errors(`agent: {maxEdges: 0}\nsources: [{name: self, self: true}]\nprobes: []\n`)).toEqual([`${FILE}:1:9: agent.maxEdges: must be a whole number from 1 to ${MAX_EDGES}`]);
    expect(errors(`agent: {maxEdges: 2.5}\nsources: [{name: self, self: true}]\nprobes: []\n`)).toEqual([`${FILE}:1:9: agent.maxEdges: must be a whole number from 1 to ${MAX_EDGES}`]);
    expect(load(`agent: {maxEdges: ${MAX_EDGES}}\nsources: [{name: self, self: true}]\nprobes: []\n`).agent.maxEdges).toBe(MAX_EDGES);
  });

  it("agent.maxEndpointsPerTarget is a count from 1 to the edge limit, 10 by default", () => {
    for (const bad of ["0", "2.5", `${MAX_EDGES + 1}`, '"5"']) {
      expect(errors(`agent: {maxEndpointsPerTarget: ${bad}}\nsources: [{name: self, self: true}]\nprobes: []\n`)).toEqual([
        `${FILE}:1:9: agent.maxEndpointsPerTarget: must be a whole number from 1 to ${MAX_EDGES}`,
      ]);
    }
    expect(load(`agent: {maxEndpointsPerTarget: 1}\nsources: [{name: self, self: true}]\nprobes: []\n`).agent.maxEndpointsPerTarget).toBe(1);
    expect(load(`sources: [{name: self, self: true}]\nprobes: []\n`).agent.maxEndpointsPerTarget).toBe(10);
  });

  it("metrics.perEdgeHistograms: off unless set to true; anything but a boolean is an error at the field", () => {
    const text = (metrics: string) => `${metrics}\nsources: [{name: self, self: true}]\nprobes: []\n`;
    expect(load(text("")).metrics).toEqual({ perEdgeHistograms: false });
    expect(load(text("metrics: {}")).metrics).toEqual({ perEdgeHistograms: false });
    expect(load(text("metrics: {perEdgeHistograms: true}")).metrics).toEqual({ perEdgeHistograms: true });
    expect(errors(text(`metrics: {perEdgeHistograms: "true"}`))).toEqual([`${FILE}:1:11: metrics.perEdgeHistograms: must be true or false`]);
    expect(errors(text("metrics: {perEdgeHistogram: true}"))).toEqual([`${FILE}:1:11: metrics.perEdgeHistogram: unknown field`]);
  });

  it("wrong types", () => {
    const found = errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: 1.5}\n    failureThreshold: 1.5\n`));
    expect(found).toEqual([
      `${FILE}:6:28: probes[0].tcp.port: must be a port number (1-65535) or a port name`,
      `${FILE}:7:5: probes[0].failureThreshold: must be a whole number from 1 to 100`,
    ]);
    // A quoted number is neither a number nor a port name (which needs a letter).
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: "80"}\n`))).toEqual([
      `${FILE}:6:28: probes[0].tcp.port: must be a port number (unquoted) or a port name (lower-case, at least one letter)`,
    ]);
    // A port name is for pods and Services only.
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: http}\n`))).toEqual([
      `${FILE}:6:28: probes[0].tcp.port: must be a port number (port names apply to pods and services)`,
    ]);
  });

  it("expect other than allow or deny", () => {
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: 80}\n    expect: maybe\n`))).toEqual([
      `${FILE}:7:5: probes[0].expect: must be allow or deny`,
    ]);
  });

  it("names", () => {
    expect(errors(`sources:\n  - {name: Self, self: true}\nprobes:\n  - {name: -a, sources: [self], tcp: {host: x.example, port: 80}}\n`)).toEqual([
      `${FILE}:2:6: sources[0].name: must be lower-case letters, digits, '-', '_' or '.', starting and ending alphanumeric (63 at most)`,
      `${FILE}:4:6: probes[0].name: must be lower-case letters, digits, '-', '_' or '.', starting and ending alphanumeric (63 at most)`,
    ]);
  });

  it("self: false, and a self source with selectors", () => {
    expect(errors(`sources:\n  - name: pods\n    self: false\nprobes: []\n`)).toEqual([
      `${FILE}:3:5: sources[0].self: must be true (the agent's own pod); leave it out for pods picked by selectors`,
    ]);
    expect(errors(`sources:\n  - name: me\n    self: true\n    podSelector: {matchLabels: {app: x}}\nprobes: []\n`)).toEqual([
      `${FILE}:2:5: sources[0]: a self source takes no selectors (it is the agent's own pod)`,
    ]);
  });

  it("a bad selector on a pod source names the field", () => {
    expect(errors(`sources:\n  - name: pods\n    podSelector:\n      matchExpressions: [{key: app, operator: Near}]\nprobes: []\n`)).toEqual([
      expect.stringMatching(/^netcanary\.yaml:4:\d+: sources\[0\]\.podSelector\.matchExpressions\[0\]\.operator: /),
    ]);
  });

  it("no sources at all, an empty source list on a probe", () => {
    expect(errors(`sources: []\nprobes:\n  - {name: a, sources: [], tcp: {host: x.example, port: 80}}\n`)).toEqual([
      `${FILE}:1:1: sources: must list at least one source`,
      `${FILE}:3:15: probes[0].sources: must name at least one source`,
    ]);
  });

  it("missing required top-level fields are reported at the document", () => {
    expect(errors(`defaults: {interval: 30s}\n`)).toEqual([`${FILE}:1:1: sources: is required`, `${FILE}:1:1: probes: is required`]);
  });

  it("a document that is not a map", () => {
    expect(errors(`- a\n- b\n`)).toEqual([`${FILE}:1:1: must be object, got array`]);
  });
});

describe("unknown fields are refused at every level", () => {
  it("top level, defaults, agent, source, probe, tcp, dns", () => {
    expect(
      errors(`defaults:
  interval: 30s
  intervall: 30s
agent:
  maxEdges: 10
  maxEdge: 10
sources:
  - name: self
    self: true
    labels: {a: b}
probes:
  - name: a
    sources: [self]
    tcp:
      host: x.example
      port: 80
      tls: true
    retries: 2
  - name: b
    sources: [self]
    dns:
      query: x.example
      recursion: false
extra: 1
`),
    ).toEqual([
      `${FILE}:3:3: defaults.intervall: unknown field`,
      `${FILE}:6:3: agent.maxEdge: unknown field`,
      `${FILE}:10:5: sources[0].labels: unknown field`,
      `${FILE}:17:7: probes[0].tcp.tls: unknown field`,
      `${FILE}:18:5: probes[0].retries: unknown field`,
      `${FILE}:23:7: probes[1].dns.recursion: unknown field`,
      `${FILE}:24:1: extra: unknown field`,
    ]);
  });

  it("reports each unknown field of one object on its own line", () => {
    expect(errors(`sources: [{name: self, self: true}]\nprobes: []\nfoo: 1\nbar: 2\n`)).toEqual([`${FILE}:3:1: foo: unknown field`, `${FILE}:4:1: bar: unknown field`]);
  });
});

describe("cross-field rules", () => {
  it("duplicate source and probe names, unknown source reference", () => {
    expect(
      errors(`sources:
  - {name: self, self: true}
  - {name: self, self: true}
probes:
  - name: a
    sources: [self, nope]
    tcp: {host: x.example, port: 80}
  - name: a
    sources: [self]
    tcp: {host: y.example, port: 80}
`),
    ).toEqual([
      `${FILE}:3:6: sources[1].name: source "self" is defined twice`,
      `${FILE}:6:21: probes[0].sources[1]: no source named "nope" (defined: self)`,
      `${FILE}:8:5: probes[1].name: probe "a" is defined twice`,
    ]);
  });

  it("tcp with both host and ip, and with neither", () => {
    expect(
      errors(
        withProbe(`  - name: both
    sources: [self]
    tcp: {host: x.example, ip: 192.0.2.1, port: 80}
  - name: neither
    sources: [self]
    tcp: {port: 80}
`),
      ),
    ).toEqual([
      `${FILE}:6:5: probes[0].tcp: must have exactly one of host, ip, service, pods or zscaler (got host and ip)`,
      `${FILE}:9:5: probes[1].tcp: must have exactly one of host, ip, service, pods or zscaler`,
    ]);
  });

  it("tcp service and pods targets", () => {
    const config = load(
      withProbe(`  - {name: svc, sources: [self], tcp: {service: {namespace: shop, name: web, port: 80}, via: endpoints}}
  - {name: pods, sources: [self], tcp: {pods: {namespace: shop, selector: {app: web}}, port: http}}
`),
    );
    expect(config.probes.map((p) => p.target)).toEqual([
      { kind: "service", namespace: "shop", name: "web", port: 80, via: "endpoints" },
      { kind: "pods", namespace: "shop", selector: { matchLabels: { app: "web" }, matchExpressions: [] }, port: "http" },
    ]);
    expect(
      errors(
        withProbe(`  - name: a
    sources: [self]
    tcp: {ip: 192.0.2.1, port: 80, via: endpoints}
  - name: b
    sources: [self]
    tcp: {ip: 192.0.2.1}
  - name: c
    sources: [self]
    tcp: {service: {namespace: shop, name: web, port: 80}, port: 80}
`),
      ),
    ).toEqual([
      `${FILE}:6:36: probes[0].tcp.via: applies to service targets only`,
      `${FILE}:9:5: probes[1].tcp.port: is required`,
      `${FILE}:12:60: probes[2].tcp.port: give the Service port inside service: {namespace, name, port}`,
    ]);
  });

  it("a probe with both tcp and dns, and with neither", () => {
    expect(
      errors(
        withProbe(`  - name: both
    sources: [self]
    tcp: {host: x.example, port: 80}
    dns: {query: x.example}
  - name: neither
    sources: [self]
`),
      ),
    ).toEqual([`${FILE}:4:5: probes[0]: must have exactly one of tcp, dns or http`, `${FILE}:8:5: probes[1]: must have exactly one of tcp, dns or http`]);
  });

  it("a bad ip is refused by the schema", () => {
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {ip: 192.0.2.256, port: 80}\n`))).toEqual([
      `${FILE}:6:11: probes[0].tcp.ip: must be an IPv4 or IPv6 address`,
    ]);
  });

  it.each(["bad cron", "60 * * * *", "*/0 * * * *", "* * * * * * *", ""])("cron %j is refused at schedule", (expression) => {
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: 80}\n    schedule: "${expression}"\n`))).toEqual([
      `${FILE}:7:5: probes[0].schedule: "${expression}" is not a valid cron expression`,
    ]);
  });

  it("accepts five- and six-field cron expressions", () => {
    const config = load(
      withProbe(`  - {name: a, sources: [self], tcp: {host: x.example, port: 80}, schedule: "*/5 * * * *"}\n  - {name: b, sources: [self], tcp: {host: x.example, port: 80}, schedule: "*/10 * * * * *"}\n`),
    );
    expect(config.probes.map((p) => p.schedule)).toEqual([
      { kind: "cron", expression: "*/5 * * * *" },
      { kind: "cron", expression: "*/10 * * * * *" },
    ]);
  });

  it("interval and schedule together", () => {
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: 80}\n    interval: 10s\n    schedule: "* * * * *"\n`))).toEqual([
      `${FILE}:8:5: probes[0].schedule: use either interval or schedule, not both`,
    ]);
  });

  it("timeout longer than interval: at timeout when the probe sets it, at interval when it comes from the defaults", () => {
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: 80}\n    interval: 1500ms\n    timeout: 1.6s\n`))).toEqual([
      `${FILE}:8:5: probes[0].timeout: timeout (1600 ms) must not be longer than the interval (1500 ms)`,
    ]);
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    tcp: {host: x.example, port: 80}\n    interval: 1s\n`))).toEqual([
      `${FILE}:7:5: probes[0].interval: timeout (2000 ms) must not be longer than the interval (1000 ms)`,
    ]);
    // Equal is fine.
    expect(load(withProbe(`  - {name: a, sources: [self], tcp: {host: x.example, port: 80}, interval: 2s, timeout: 2s}\n`)).probes[0]?.timeoutMs).toBe(2000);
  });

  it("defaults.timeout longer than defaults.interval", () => {
    expect(errors(`defaults:\n  interval: 1s\n  timeout: 2s\nsources: [{name: self, self: true}]\nprobes: []\n`)).toEqual([
      `${FILE}:3:3: defaults.timeout: must not be longer than defaults.interval`,
    ]);
  });
});

describe("DNS servers and answer ranges", () => {
  const server = (text: string) => {
    const config = load(withProbe(`  - {name: a, sources: [self], dns: {query: x.example, server: "${text}"}}\n`));
    const target = config.probes[0]?.target;
    return target?.kind === "dns" ? target.server : undefined;
  };

  it.each([
    ["cluster", { kind: "cluster" }],
    ["192.0.2.53", { kind: "address", server: { ip: "192.0.2.53", port: 53, setting: "192.0.2.53:53" } }],
    ["192.0.2.53:5353", { kind: "address", server: { ip: "192.0.2.53", port: 5353, setting: "192.0.2.53:5353" } }],
    ["[2001:db8::1]:5353", { kind: "address", server: { ip: "2001:db8::1", port: 5353, setting: "[2001:db8::1]:5353" } }],
    ["[2001:db8::1]", { kind: "address", server: { ip: "2001:db8::1", port: 53, setting: "[2001:db8::1]:53" } }],
    ["2001:db8::1", { kind: "address", server: { ip: "2001:db8::1", port: 53, setting: "[2001:db8::1]:53" } }],
  ])("server %s", (text, expected) => {
    expect(server(text)).toEqual(expected);
  });

  it.each([
    ["dns.example", '"dns.example" is not a DNS server address ("addr", "addr:port" or "[v6]:port")'],
    ["192.0.2.53:0", '"192.0.2.53:0": port must be 1-65535'],
    ["192.0.2.53:65536", '"192.0.2.53:65536": port must be 1-65535'],
    ["[192.0.2.53]:53", '"[192.0.2.53]:53": "192.0.2.53" is not an IPv6 address'],
    ["2001:db8::1:53:", '"2001:db8::1:53:" is not a DNS server address ("addr", "addr:port" or "[v6]:port")'],
  ])("server %s is refused at dns.server", (text, reason) => {
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    dns:\n      query: x.example\n      server: "${text}"\n`))).toEqual([
      `${FILE}:8:7: probes[0].dns.server: must be "cluster" or a server address: ${reason}`,
    ]);
  });

  it("answersIn: each bad CIDR at its list item", () => {
    expect(
      errors(
        withProbe(`  - name: a
    sources: [self]
    dns:
      query: x.example
      answersIn:
        - 10.0.0.0/8
        - 10.0.0.0/33
        - nonsense
`),
      ),
    ).toEqual([
      `${FILE}:10:11: probes[0].dns.answersIn[1]: "10.0.0.0/33" has an invalid prefix length (0-32 for IPv4)`,
      `${FILE}:11:11: probes[0].dns.answersIn[2]: "nonsense" is neither a CIDR nor "zscaler:<cloud>"`,
    ]);
  });

  it("query must be a DNS name, type A or AAAA", () => {
    expect(errors(withProbe(`  - name: a\n    sources: [self]\n    dns:\n      query: "not a name"\n      type: MX\n`))).toEqual([
      `${FILE}:7:7: probes[0].dns.query: must be a DNS name`,
      `${FILE}:8:7: probes[0].dns.type: must be A or AAAA`,
    ]);
  });
});

describe("YAML problems", () => {
  it("syntax errors, duplicate keys, several documents, an empty file", () => {
    expect(errors(`sources: [\n`)[0]).toMatch(/^netcanary\.yaml:2:1: invalid YAML\/JSON: /);
    expect(errors(`sources: [{name: self, self: true}]\nprobes: []\nprobes: []\n`)).toEqual([`${FILE}:3:1: probes: is set twice in this map (Kubernetes refuses duplicate keys)`]);
    expect(errors(`sources: []\n---\nprobes: []\n`)).toEqual([`${FILE}:1: expected exactly one YAML document, found 2`]);
    expect(errors(``)).toEqual([`${FILE}:1: expected exactly one YAML document, found 0`]);
  });

  it("an alias to no anchor is an error, not an exception", () => {
    const result = parseConfig(`sources: *nothing\nprobes: []\n`, FILE);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map(formatInputError)).toEqual([`${FILE}:1:10: sources: invalid YAML/JSON: the alias *nothing refers to no anchor before it in this document (anchors do not reach across ---)`]);
  });

  it("an alias bomb is an error, not an exception", () => {
    const bomb = ["a: &a [x,x,x,x,x,x,x,x,x,x]", "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]", "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]", "d: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]"].join("\n");
    const result = parseConfig(bomb, FILE);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.map(formatInputError)).toEqual([
        `${FILE}:3:32: c[8]: aliases in this document would be resolved more than 100 times written out (an alias bomb, or anchors reused too much); write the values out`,
      ]);
    }
  });
});

describe("loadConfigFile", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "netcanary-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a file and names it in errors", async () => {
    const good = join(dir, "good.yaml");
    await writeFile(good, CONTRACT);
    const loaded = await loadConfigFile(good);
    expect(loaded.ok && loaded.config.probes.length).toBe(5);
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, `sources: [{name: self, self: true}]\nprobes: []\nbogus: 1\n`);
    const failed = await loadConfigFile(bad);
    expect(failed.ok ? [] : failed.errors.map(formatInputError)).toEqual([`${bad}:3:1: bogus: unknown field`]);
  });

  it("a missing file is an error saying so", async () => {
    const missing = join(dir, "missing.yaml");
    const loaded = await loadConfigFile(missing);
    expect(loaded.ok ? [] : loaded.errors).toEqual([{ file: missing, message: "cannot read (no such file)" }]);
  });
});
