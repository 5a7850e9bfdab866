// Fuzz: whatever text arrives (a half-edited ConfigMap, random YAML, garbage), parseConfig
// returns a config or located errors; it never throws.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type ConfigLoad, parseConfig } from "../../agent/config/load.js";

const FILE = "fuzz.yaml";

const ANCHOR = "@@anchor@@";
const ALIAS = "@@alias@@";
const ALIAS_B = "@@alias-b@@";

/** Anchors and aliases in place of placeholder values; an alias may come before its anchor, or have none. */
function withAliases(text: string): string {
  return text.replace(/(["']?)@@anchor@@\1/g, "&a [x, y]").replace(/(["']?)@@alias@@\1/g, "*a").replace(/(["']?)@@alias-b@@\1/g, "*b");
}

/** Values a field might hold: valid ones, near misses, wrong types. */
const fieldValue = fc.oneof(
  fc.constantFrom("30s", "2s", "500ms", "1m30s", "0s", "-1s", "1d", "30", "", "self", "nope", "allow", "deny", "maybe"),
  fc.constantFrom("cluster", "192.0.2.53", "192.0.2.53:5353", "[2001:db8::1]:53", "dns.example", "10.0.0.0/8", "10.0.0.0/33", "*/5 * * * *", "bad cron"),
  fc.constantFrom("A", "AAAA", "MX", "x.example", "192.0.2.1", "::1", "1.2.3.256"),
  fc.integer({ min: -5, max: 70_000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
  // Placeholders turned into YAML anchors and aliases once the tree is written out.
  fc.constantFrom(ANCHOR, ALIAS, ALIAS_B),
);

const tcp = fc.record({ host: fieldValue, ip: fieldValue, port: fieldValue, extra: fieldValue }, { requiredKeys: [] });
const dns = fc.record(
  { query: fieldValue, type: fieldValue, server: fieldValue, answersIn: fc.oneof(fc.array(fieldValue, { maxLength: 3 }), fieldValue), bogus: fieldValue },
  { requiredKeys: [] },
);
const probe = fc.record(
  {
    name: fc.oneof(fc.constantFrom("a", "b", "web", "Web", "-x"), fieldValue),
    sources: fc.oneof(fc.constant(["self"]), fc.array(fieldValue, { maxLength: 3 }), fieldValue),
    tcp: fc.oneof(tcp, fieldValue),
    dns: fc.oneof(dns, fieldValue),
    expect: fieldValue,
    interval: fieldValue,
    schedule: fieldValue,
    timeout: fieldValue,
    failureThreshold: fieldValue,
    successThreshold: fieldValue,
    retries: fieldValue,
  },
  { requiredKeys: [] },
);
const nearConfig = fc.record(
  {
    defaults: fc.oneof(fc.record({ interval: fieldValue, timeout: fieldValue, failureThreshold: fieldValue, successThreshold: fieldValue, other: fieldValue }, { requiredKeys: [] }), fieldValue),
    agent: fc.oneof(fc.record({ maxConcurrentProbes: fieldValue, starvationThreshold: fieldValue, maxEdges: fieldValue }, { requiredKeys: [] }), fieldValue),
    sources: fc.oneof(fc.constant([{ name: "self", self: true }]), fc.array(fc.record({ name: fieldValue, self: fieldValue }, { requiredKeys: [] }), { maxLength: 3 }), fieldValue),
    probes: fc.oneof(fc.array(probe, { maxLength: 4 }), fieldValue),
    extra: fieldValue,
  },
  { requiredKeys: [] },
);

/** Arbitrary nested data, mixed with config fragments. */
const { tree } = fc.letrec<{ tree: unknown }>((self) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fieldValue,
    nearConfig,
    fc.array(self("tree"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom("sources", "probes", "defaults", "agent", "tcp", "dns", "name"), fc.string({ maxLength: 8 })), self("tree"), { maxKeys: 4 }),
  ),
}));

const YAML_NOISE = ["&a ", "*a", "*b", "!!str ", "!!int ", "!foo ", "? ", "- ", ": ", "{", "}", "[", "]", "|", ">", "%YAML 1.2\n", "---\n", "...\n", "\t", "#", "'", '"', "\n  ", "<<: *a\n", "\u0000", "\uFEFF"];

/** Text: YAML or JSON of a tree, with random insertions, deletions and truncation. */
const document = fc.oneof(
  tree.map((value) => withAliases(stringify(value))),
  tree.map((value) => JSON.stringify(value) ?? "null"),
  fc
    .tuple(
      tree.map((value) => withAliases(stringify(value, { collectionStyle: "flow" }))),
      fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...YAML_NOISE), fc.string({ maxLength: 4 })), fc.nat({ max: 3 })), { maxLength: 5 }),
      fc.option(fc.nat()),
    )
    .map(([text, edits, cut]) => {
      let out = text;
      for (const [at, insert, remove] of edits) {
        const i = at % (out.length + 1);
        out = out.slice(0, i) + insert + out.slice(i + remove);
      }
      return cut === null ? out : out.slice(0, cut % (out.length + 1));
    }),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 100 }),
);

function checkLoad(result: ConfigLoad): void {
  if (result.ok) {
    expect(Array.isArray(result.config.probes)).toBe(true);
    expect(result.config.sources.length).toBeGreaterThan(0);
    for (const probe of result.config.probes) {
      expect(probe.timeoutMs).toBeGreaterThan(0);
      if (probe.schedule.kind === "interval") expect(probe.timeoutMs).toBeLessThanOrEqual(probe.schedule.intervalMs);
    }
    return;
  }
  expect(result.errors.length).toBeGreaterThan(0);
  for (const error of result.errors) {
    expect(error.file).toBe(FILE);
    expect(typeof error.message).toBe("string");
    expect(error.message.length).toBeGreaterThan(0);
    // Only YAML syntax errors may lack a line (the parser does not always know one), and the
    // line that counts the errors past the first 100 of a file.
    if (!error.message.startsWith("invalid YAML/JSON") && !/^and [\d,]+ more problems in this file/.test(error.message)) {
      expect(Number.isInteger(error.line) && (error.line as number) >= 1).toBe(true);
    }
    if (error.column !== undefined) expect(error.column).toBeGreaterThanOrEqual(1);
  }
}

describe("parseConfig fuzz", () => {
  it("never throws; returns a config or errors with file and line", () => {
    fc.assert(
      fc.property(document, (text) => {
        let result: ConfigLoad | undefined;
        expect(() => {
          result = parseConfig(text, FILE);
        }).not.toThrow();
        checkLoad(result as ConfigLoad);
      }),
      { numRuns: 600 },
    );
  });

  it("near-valid configs as YAML: a valid one resolves, an invalid one names a field", () => {
    fc.assert(
      fc.property(nearConfig, (value) => {
        let result: ConfigLoad | undefined;
        expect(() => {
          result = parseConfig(withAliases(stringify(value)), FILE);
        }).not.toThrow();
        if (result === undefined) return;
        checkLoad(result);
        // Every error is about a field, except a document that is not a map at all.
        if (!result.ok) for (const error of result.errors) if (error.field === undefined) expect(error.message).toMatch(/^(must be object, got |invalid YAML\/JSON: )/);
      }),
      { numRuns: 300 },
    );
  });
});
