// Payloads a fetch can really return: error pages, truncated bodies, empty or reshaped
// JSON, another cloud's data, oversized bodies. Each is refused with a bounded code and a
// message that says what was wrong, or (the large one) parsed correctly.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashFeed } from "../../agent/zscaler/diff.js";
import { FEED_KINDS, type FeedKind, type FeedRefusalCode, parseFeed } from "../../agent/zscaler/feeds.js";
import { cenrCities, cenrPayload, FIXTURES, fixtureJson, fixtureText, mapCenrRows, mustParse, mustRefuse, rebuildCenr, text } from "./helpers.js";

const REAL: Record<FeedKind, { file: string; cloud: string }> = {
  cenr: { file: FIXTURES.cenr, cloud: "zscaler.net" },
  "hubs-required": { file: FIXTURES.hubsRequired, cloud: "zscaler.net" },
  "hubs-recommended": { file: FIXTURES.hubsRecommended, cloud: "zscaler.net" },
  future: { file: FIXTURES.future, cloud: "zscaler.net" },
  svpn: { file: FIXTURES.svpn, cloud: "zscaler.net" },
  zpa: { file: FIXTURES.zpa, cloud: "private.zscaler.com" },
};

const CODES: readonly FeedRefusalCode[] = ["not_json", "wrong_shape", "wrong_cloud", "empty", "bad_rows"];

const ERROR_PAGE = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>502 Bad Gateway</title></head>
<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p></body></html>`;

describe.each(FEED_KINDS)("%s: bodies that are not JSON", (kind) => {
  const { file, cloud } = REAL[kind];

  it("an HTML error page is refused as not_json and named as an HTML page", () => {
    const refusal = mustRefuse(kind, ERROR_PAGE, cloud);
    expect(refusal.code).toBe("not_json");
    expect(refusal.message).toContain("HTML page");
    expect(refusal.message).toContain("502 Bad Gateway");
    expect(mustRefuse(kind, "\n  <html><body>Access denied</body></html>", cloud).message).toContain("HTML page");
  });

  it("a truncated body is refused as not_json", () => {
    const body = fixtureText(file);
    for (const cut of [1, Math.floor(body.length / 2), body.length - 1]) {
      const refusal = mustRefuse(kind, body.slice(0, cut), cloud);
      expect(refusal.code, `cut at ${cut}`).toBe("not_json");
      expect(refusal.message).toMatch(/^not valid JSON/);
    }
  });

  it("an empty body is refused as not_json", () => {
    expect(mustRefuse(kind, "", cloud)).toEqual({ code: "not_json", message: "empty body, expected JSON" });
    expect(mustRefuse(kind, " \n", cloud).code).toBe("not_json");
  });

  it("{} and non-object JSON are refused as wrong_shape, naming the missing path", () => {
    const refusal = mustRefuse(kind, "{}", cloud);
    expect(refusal.code).toBe("wrong_shape");
    expect(refusal.message).toMatch(/^missing \$/);
    expect(refusal.message).toContain("found no keys");
    for (const body of ["[]", "null", '"ok"', "42"]) expect(mustRefuse(kind, body, cloud).code).toBe("wrong_shape");
  });

  it("the real payload for this kind parses; a byte-order mark is tolerated", () => {
    expect(mustParse(kind, fixtureText(file), cloud).kind).toBe(kind);
    expect(mustParse(kind, `\uFEFF${fixtureText(file)}`, cloud).kind).toBe(kind);
  });

  it("the real payload asked for another cloud is refused as wrong_cloud", () => {
    const refusal = mustRefuse(kind, fixtureText(file), "zscalerthree.net");
    expect(refusal.code).toBe("wrong_cloud");
    expect(refusal.message).toContain(`"${cloud}"`);
    expect(refusal.message).toContain('expected "zscalerthree.net"');
  });
});

describe("empty lists", () => {
  const cases: [FeedKind, unknown][] = [
    ["future", { cloudName: "zscaler.net", prefixes: [] }],
    ["hubs-required", { cloudName: "zscaler.net", type: "required", hubPrefixes: [] }],
    ["hubs-recommended", { cloudName: "zscaler.net", type: "recommended", hubPrefixes: [] }],
    ["svpn", { cloudName: "zscaler.net", svpnIPs: [] }],
    ["cenr", { "zscaler.net": {}, svpnIPs: ["165.225.240.56"] }],
    ["cenr", { "zscaler.net": { "continent : EMEA": { "city : Amsterdam II": [] } } }],
  ];
  it.each(cases)("%s %j is refused as empty", (kind, payload) => {
    const refusal = mustRefuse(kind, JSON.stringify(payload));
    expect(refusal.code).toBe("empty");
    expect(refusal.message).toMatch(/^no .+ in the payload$/);
  });

  it("zpa with no content is refused as empty", () => {
    const refusal = mustRefuse("zpa", JSON.stringify({ "Cloud Name": "private.zscaler.com", content: [] }), "private.zscaler.com");
    expect(refusal.code).toBe("empty");
  });
});

describe("another cloud's payload", () => {
  it("a CENR payload keyed by another cloud", () => {
    const payload = cenrPayload();
    const other = { "zscalertwo.net": payload["zscaler.net"], svpnIPs: payload["svpnIPs"] };
    const refusal = mustRefuse("cenr", text(other));
    expect(refusal).toEqual({ code: "wrong_cloud", message: 'payload is for cloud "zscalertwo.net", expected "zscaler.net"' });
  });

  it("list feeds naming another cloud", () => {
    for (const [kind, file] of [
      ["future", FIXTURES.future],
      ["hubs-required", FIXTURES.hubsRequired],
      ["svpn", FIXTURES.svpn],
    ] as const) {
      const payload = { ...(fixtureJson(file) as object), cloudName: "zscloud.net" };
      expect(mustRefuse(kind, text(payload))).toEqual({
        code: "wrong_cloud",
        message: 'payload is for cloud "zscloud.net" ($.cloudName), expected "zscaler.net"',
      });
    }
  });

  it("cloud names compare without case or a trailing dot", () => {
    expect(mustParse("future", fixtureText(FIXTURES.future), "ZScaler.net.").cloud).toBe("zscaler.net");
  });
});

describe("a number where a string belongs", () => {
  it("in a CENR range: wrong_shape with the path", () => {
    let first = true;
    const payload = mapCenrRows(cenrPayload(), (row) => {
      if (!first) return row;
      first = false;
      return { ...row, range: 42 };
    });
    expect(mustRefuse("cenr", text(payload))).toEqual({
      code: "wrong_shape",
      message: '$["zscaler.net"]["continent : EMEA"]["city : Abu Dhabi II"][0].range should be a string, got a number 42',
    });
  });

  it("in a CENR hostname, a list entry, cloudName and svpnIPs", () => {
    const payload = mapCenrRows(cenrPayload(), (row) => (row["hostname"] === "ams2.sme.zscaler.net" ? { ...row, hostname: 7 } : row));
    expect(mustRefuse("cenr", text(payload)).message).toContain('["city : Amsterdam II"][3].hostname should be a string, got a number 7');

    const future = fixtureJson(FIXTURES.future) as { prefixes: unknown[] };
    future.prefixes[3] = 1234;
    expect(mustRefuse("future", text(future))).toEqual({ code: "wrong_shape", message: "$.prefixes[3] should be a string, got a number 1234" });

    expect(mustRefuse("svpn", text({ cloudName: 5, svpnIPs: ["1.2.3.4"] }))).toEqual({
      code: "wrong_shape",
      message: "$.cloudName should be a string, got a number 5",
    });
    expect(mustRefuse("cenr", text({ ...cenrPayload(), svpnIPs: "1.2.3.4" })).message).toBe("$.svpnIPs should be an array, got a string");
  });

  it("rows and cities of the wrong type", () => {
    const payload = cenrPayload();
    const notArray = { "zscaler.net": { "continent : EMEA": { "city : X": {} } } };
    expect(mustRefuse("cenr", text(notArray)).message).toBe('$["zscaler.net"]["continent : EMEA"]["city : X"] should be an array, got an object');
    const notObject = rebuildCenr(payload, [{ continent: "continent : EMEA", city: "city : X", rows: ["10.0.0.0/8" as never] }]);
    expect(mustRefuse("cenr", text(notObject)).message).toBe('$["zscaler.net"]["continent : EMEA"]["city : X"][0] should be an object, got a string');
    const noRange = rebuildCenr(payload, [{ continent: "continent : EMEA", city: "city : X", rows: [{ hostname: "" }] }]);
    expect(mustRefuse("cenr", text(noRange)).message).toMatch(/^missing \$\["zscaler\.net"\]\["continent : EMEA"\]\["city : X"\]\[0\]\.range/);
  });
});

describe("a payload of another kind", () => {
  it("required parsed as recommended is refused on $.type", () => {
    expect(mustRefuse("hubs-recommended", fixtureText(FIXTURES.hubsRequired))).toEqual({
      code: "wrong_shape",
      message: '$.type is "required", expected "recommended"',
    });
  });

  it("future parsed as hubs names the missing key and the keys found", () => {
    expect(mustRefuse("hubs-required", fixtureText(FIXTURES.future))).toEqual({
      code: "wrong_shape",
      message: 'missing $.hubPrefixes (found keys "cloudName", "prefixes")',
    });
  });

  it("CENR parsed as future, future parsed as CENR", () => {
    expect(mustRefuse("future", fixtureText(FIXTURES.cenr)).message).toBe('missing $.cloudName (found keys "zscaler.net", "svpnIPs")');
    expect(mustRefuse("cenr", fixtureText(FIXTURES.future)).message).toBe('missing $["zscaler.net"] (found keys "cloudName", "prefixes")');
  });
});

describe("a 10x larger payload", () => {
  it("still parses correctly", () => {
    const payload = cenrPayload();
    const cities = cenrCities(payload);
    const copies = Array.from({ length: 10 }, (_, copy) => cities.map((c) => ({ ...c, city: `${c.city} #${copy}` }))).flat();
    const large = text(rebuildCenr(payload, copies));
    // Ten copies of every city under new names; the svpnIPs list is not repeated.
    expect(large.length).toBeGreaterThan(9.5 * fixtureText(FIXTURES.cenr).length);
    const parsed = mustParse("cenr", large);
    const original = mustParse("cenr", fixtureText(FIXTURES.cenr));
    expect(parsed.rowCount).toBe(9350);
    expect(parsed.cidrs).toEqual(original.cidrs);
    expect(parsed.svpnIps).toEqual(original.svpnIps);
    expect(new Set(parsed.dataCentres.map((dc) => dc.city)).size).toBe(1030);
    expect(parsed.dataCentres).toHaveLength(10 * original.dataCentres.length);
    expect(hashFeed(parsed)).not.toBe(hashFeed(original));
  });
});

describe("messages stay bounded", () => {
  it("a huge bad value is cut short in the message and in skippedRows", () => {
    const huge = "x".repeat(100_000);
    expect(mustRefuse("future", text({ cloudName: huge, prefixes: ["10.0.0.0/8"] })).message.length).toBeLessThan(200);
    expect(mustRefuse("future", text({ [huge]: 1 })).message.length).toBeLessThan(200);
    const manyClouds = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`${huge.slice(0, 50)}${i}.net`, {}]));
    expect(mustRefuse("cenr", text(manyClouds)).message.length).toBeLessThan(300);
    const hugeCity = { "zscaler.net": { [huge]: { [huge]: [{ range: 1 }] } } };
    expect(mustRefuse("cenr", text(hugeCity)).message.length).toBeLessThan(300);
    const parsed = mustParse("future", text({ cloudName: "zscaler.net", prefixes: ["10.0.0.0/8", huge] }));
    expect(parsed.skippedRows[0]?.value.length).toBeLessThanOrEqual(100);
    expect(parsed.skippedRows[0]?.reason.length).toBeGreaterThan(0);
  });

  it("property: any JSON or text gives a value or a refusal with a known code, never a throw", () => {
    const bodies = fc.oneof(
      fc.string(),
      fc.json(),
      fc.jsonValue().map((value) => JSON.stringify({ cloudName: "zscaler.net", prefixes: value, hubPrefixes: value, svpnIPs: value, content: value })),
      fc.jsonValue().map((value) => JSON.stringify({ "zscaler.net": { "continent : EMEA": { "city : X": value } }, svpnIPs: value })),
      fc.jsonValue().map((value) => JSON.stringify({ "zscaler.net": { "continent : EMEA": { "city : X": [{ range: value, hostname: value, gre: value }] } } })),
    );
    fc.assert(
      fc.property(fc.constantFrom(...FEED_KINDS), bodies, (kind, body) => {
        const result = parseFeed(kind, "zscaler.net", body);
        if (result.ok) {
          expect(result.value.cidrs.length).toBeGreaterThan(0);
        } else {
          expect(CODES).toContain(result.reason.code);
          expect(result.reason.message.length).toBeGreaterThan(0);
          expect(result.reason.message.length).toBeLessThan(400);
        }
      }),
      { numRuns: 500 },
    );
  });
});
