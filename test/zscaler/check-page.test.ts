// Zscaler's check page parser: every supported form from the fixtures, and every way a
// page can fail to be one (which must give unknown, never direct).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHECK_PAGE_UNKNOWN_REASONS, MAX_CHECK_PAGE_CHARS, parseCheckPage, type CheckPageResult } from "../../agent/zscaler/check-page.js";

function fixture(name: string): string {
  return readFileSync(join(import.meta.dirname, "..", "fixtures", "zscaler-check-page", name), "utf8");
}

describe("check page, the supported forms", () => {
  it("reads the via page: cloud, data centre, egress, VIP, node name, client and gateway addresses", () => {
    expect(parseCheckPage(fixture("via.html"))).toEqual({
      path: "via",
      form: "html_via",
      cloud: "zscaler.net",
      dataCentre: "Frankfurt IV",
      egressIp: "198.51.100.23",
      proxyVip: "198.51.100.10",
      proxyHostname: "zs2-fra4b1.sme.zscaler.net",
      clientIp: "203.0.113.50",
      gatewayIp: "203.0.113.50",
    });
  });

  it("reads the shorter via headline that names only the cloud", () => {
    expect(parseCheckPage(fixture("via-cloud-only.html"))).toEqual({ path: "via", form: "html_via", cloud: "zscalertwo.net", egressIp: "198.51.100.77" });
  });

  it("reads the not-via page, escaped apostrophe and all, as direct with the egress address", () => {
    expect(parseCheckPage(fixture("not-via.html"))).toEqual({ path: "direct", form: "html_not_via", egressIp: "192.0.2.44", gatewayIp: "192.0.2.44" });
  });

  it("reads the older no-XFF-header page as direct", () => {
    expect(parseCheckPage(fixture("not-via-xff.html"))).toEqual({ path: "direct", form: "html_not_via_xff", egressIp: "192.0.2.45" });
  });

  it("reads the JSON form with a cloud as via", () => {
    expect(parseCheckPage(fixture("via.json"))).toEqual({
      path: "via",
      form: "json_via",
      cloud: "zscalerthree.net",
      dataCentre: "Washington DC",
      egressIp: "198.51.100.88",
      proxyVip: "198.51.100.80",
      gatewayIp: "203.0.113.9",
    });
  });

  it("ignores sentences inside scripts, styles and comments (the via fixture hides the not-via sentence there)", () => {
    const via = fixture("via.html");
    expect(via).toContain("not going through the Zscaler proxy service");
    expect(parseCheckPage(via).path).toBe("via");
    const notVia = fixture("not-via.html");
    expect(notVia).toContain("You are accessing the Internet via Zscaler Cloud");
    expect(parseCheckPage(notVia).path).toBe("direct");
  });

  it("does not depend on case, line breaks or inline markup inside the sentence", () => {
    const page = "<p>YOU ARE ACCESSING THE <i>INTERNET</i>\n VIA ZSCALER CLOUD: <b>Paris II</b> in the ZSCLOUD.NET cloud.</p>";
    expect(parseCheckPage(page)).toEqual({ path: "via", form: "html_via", cloud: "zscloud.net", dataCentre: "Paris II" });
  });
});

describe("check page, truth table: never direct unless the page says so", () => {
  const cases: { name: string; page: string; expected: CheckPageResult["path"]; reason?: string }[] = [
    { name: "a captive portal", page: fixture("captive-portal.html"), expected: "unknown", reason: "not_a_check_page" },
    { name: "a Zscaler page in another form", page: fixture("browser-access.html"), expected: "unknown", reason: "not_a_check_page" },
    { name: "an empty body", page: "", expected: "unknown", reason: "empty" },
    { name: "whitespace only", page: " \n\t ", expected: "unknown", reason: "empty" },
    { name: "plain text that is not the page", page: "not html at all", expected: "unknown", reason: "not_a_check_page" },
    { name: "a page saying both", page: "<div>You are accessing the Internet via Zscaler Cloud: zscaler.net</div><div>you are not going through the Zscaler proxy service.</div>", expected: "unknown", reason: "contradictory" },
    { name: "a JSON object without a cloud", page: '{"srcip":"192.0.2.1"}', expected: "unknown", reason: "json_without_cloud" },
    { name: "a JSON array", page: '[{"cloud":"zscaler.net"}]', expected: "unknown", reason: "json_invalid" },
    { name: "broken JSON", page: '{"cloud": "zscaler.net"', expected: "unknown", reason: "json_invalid" },
    { name: "JSON with a cloud that is not a cloud name", page: '{"cloud":"<script>alert(1)</script>"}', expected: "unknown", reason: "json_invalid" },
    { name: "JSON with a non-string field", page: '{"cloud":"zscaler.net","srcip":{"a":1}}', expected: "unknown", reason: "json_invalid" },
    { name: "the not-via sentence only in a script", page: "<script>'you are not going through the Zscaler proxy service'</script><p>hello</p>", expected: "unknown", reason: "not_a_check_page" },
    { name: "the not-via sentence only in an unterminated comment", page: "<p>hi</p><!-- you are not going through the Zscaler proxy service", expected: "unknown", reason: "not_a_check_page" },
    { name: "a page over the size bound", page: `<p>you are not going through the Zscaler proxy service.</p>${" ".repeat(MAX_CHECK_PAGE_CHARS)}`, expected: "unknown", reason: "too_large" },
    { name: "the not-via sentence", page: "<div>The request received from you didn't come from a Zscaler IP therefore you are not going through the Zscaler proxy service.</div>", expected: "direct" },
    { name: "the via sentence", page: "<div>You are accessing the Internet via Zscaler Cloud: Tokyo IV in the zscalerthree.net cloud.</div>", expected: "via" },
  ];
  for (const { name, page, expected, reason } of cases) {
    it(`${name} reads as ${expected}${reason ? ` (${reason})` : ""}`, () => {
      const result = parseCheckPage(page);
      expect(result.path).toBe(expected);
      if (reason !== undefined && result.path === "unknown") expect(result.reason).toBe(reason);
    });
  }

  it("has a documented reason for every unknown", () => {
    expect(CHECK_PAGE_UNKNOWN_REASONS).toEqual(["empty", "too_large", "not_a_check_page", "contradictory", "json_invalid", "json_without_cloud"]);
  });
});

describe("check page, hostile values", () => {
  it("drops values that are not of their shape instead of passing page text on", () => {
    const page = [
      "<div>You are accessing the Internet via Zscaler Cloud: <b>\u202eevil\u0007</b> in the zscaler.net cloud.</div>",
      "<div>Your request is arriving at this server from the IP address 999.1.1.1</div>",
      "<div>The Zscaler hostname for this proxy appears to be <span>bad_host!name</span></div>",
      "<div>The Zscaler proxy virtual IP is 2001:db8::10</div>",
    ].join("");
    expect(parseCheckPage(page)).toEqual({ path: "via", form: "html_via", cloud: "zscaler.net", proxyVip: "2001:db8::10" });
  });

  it("does not read a data centre from a headline far longer than a real one", () => {
    const page = `<div>You are accessing the Internet via Zscaler Cloud: ${"x in the y ".repeat(100)} in the zscaler.net cloud.</div>`;
    expect(parseCheckPage(page)).toEqual({ path: "via", form: "html_via" });
  });

  it("reads a page just under the bound made of unclosed tags, end-tag fragments and entities as unknown", () => {
    // A quadratic scan of this page would run for minutes and trip the test timeout.
    const page = "<script>&#99999999;</script <title></title ".repeat(Math.floor(MAX_CHECK_PAGE_CHARS / 45));
    expect(page.length).toBeLessThanOrEqual(MAX_CHECK_PAGE_CHARS);
    expect(parseCheckPage(page)).toMatchObject({ path: "unknown", reason: "not_a_check_page" });
  });
});

describe("check page readings from a probe worker", () => {
  it("a worker's reading passes as the parser gives it; a forged one is refused or cut to the known shapes", async () => {
    const { parseWorkerResult } = await import("../../agent/probes/worker-protocol.js");
    const line = (outcome: Record<string, unknown>) => JSON.stringify({ id: "e1", outcome: { reason: "ok", durationSeconds: 0.01, phases: {}, ...outcome } });
    const via = parseCheckPage(fixture("via.html"));
    const passed = parseWorkerResult(line({ checkPage: via }));
    expect(passed.ok && passed.value.outcome.checkPage).toEqual(via);
    // Values of the wrong shape are dropped, as the parser would drop them.
    const forged = parseWorkerResult(line({ checkPage: { path: "via", form: "html_via", cloud: "<b>x</b>", egressIp: "not an address", dataCentre: "Paris II", extra: "y" } }));
    expect(forged.ok && forged.value.outcome.checkPage).toEqual({ path: "via", form: "html_via", dataCentre: "Paris II" });
    expect(parseWorkerResult(line({ checkPage: { path: "sideways" } }))).toEqual({ ok: false, reason: "outcome.checkPage is not a check page reading" });
    expect(parseWorkerResult(line({ checkPage: { path: "unknown", reason: "made_up" } })).ok).toBe(false);
    expect(parseWorkerResult(line({ checkPage: "via" })).ok).toBe(false);
    // The path (the seam's reading, with labels) is never taken from a worker.
    expect(parseWorkerResult(line({ path: { path: "via", cloud: "zscaler.net", city: "x" } }))).toEqual({ ok: false, reason: "outcome.path comes from the agent, not from a worker" });
  });
});
