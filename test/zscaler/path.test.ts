// The path check's core: a check page's answer, the expectation and the cloud's published
// data centres make a path with bounded labels and a judgement. Truth tables over every
// page form and both expectations, against the real CENR fixture.
import { describe, expect, it } from "vitest";
import { type CheckPageResult, parseCheckPage } from "../../agent/zscaler/check-page.js";
import {
  describePath,
  judgePath,
  NO_DATA_CITY,
  noPage,
  observePath,
  OTHER_CLOUD,
  type PathExpectation,
  type PathObservation,
  type PublishedCentres,
  SHARED_CITY,
  UNLISTED_CITY,
} from "../../agent/zscaler/path.js";
import { FIXTURES, fixtureText, mustParse } from "./helpers.js";

const cenr = mustParse("cenr", fixtureText(FIXTURES.cenr));
const published: PublishedCentres = { clouds: ["zscaler.net"], cenr: (cloud) => (cloud === "zscaler.net" ? cenr : undefined) };

/** A via page as ip.zscaler.com writes it, egress and all. */
function viaPage(cloud: string, egress: string, centre = "Frankfurt IV"): string {
  return `<html><body><div>You are accessing the Internet via Zscaler Cloud: ${centre} in the ${cloud} cloud.</div><div>Your request is arriving at this server from the IP address ${egress}</div></body></html>`;
}

const DIRECT_PAGE = "<p>The request received from you didn't come from a Zscaler IP therefore you are not going through the Zscaler proxy service.</p><p>Your request is arriving at this server from the IP address 192.0.2.44</p>";

describe("the path a check page shows", () => {
  it("places a via page's egress address in the published city that holds it", () => {
    // 147.161.234.0/23 is Frankfurt IV's alone in the fixture.
    expect(observePath(parseCheckPage(viaPage("zscaler.net", "147.161.234.10")), published)).toEqual({
      path: "via",
      cloud: "zscaler.net",
      city: "Frankfurt IV",
      dataCentre: "Frankfurt IV",
      egressIp: "147.161.234.10",
      detail: "egress 147.161.234.10 in Frankfurt IV (EMEA)",
    });
  });

  it("in a range many cities share, takes the one the page names, else says shared", () => {
    // 136.226.208.0/23 is published for 27 European data centres, Frankfurt IV and Paris II among them.
    expect(observePath(parseCheckPage(viaPage("zscaler.net", "136.226.208.10", "Paris II")), published).city).toBe("Paris II");
    expect(observePath(parseCheckPage(viaPage("zscaler.net", "136.226.208.10", "frankfurt iv")), published).city).toBe("Frankfurt IV");
    const unnamed = observePath(parseCheckPage(viaPage("zscaler.net", "136.226.208.10", "Atlantis")), published);
    expect(unnamed.city).toBe(SHARED_CITY);
    expect(unnamed.detail).toBe("egress 136.226.208.10 in a range 27 data centres share");
  });

  it("takes the city from the published ranges, not from what the page calls the data centre", () => {
    // Washington DC's range, while the page says Frankfurt: the label follows the published data.
    const observed = observePath(parseCheckPage(viaPage("zscaler.net", "136.226.50.7", "Frankfurt IV")), published);
    expect(observed.city).toBe("Washington DC");
    expect(observed.detail).toBe("egress 136.226.50.7 in Washington DC (Americas)");
    expect(observed.dataCentre).toBe("Frankfurt IV");
  });

  it("places an IPv6 egress address too", () => {
    expect(observePath(parseCheckPage(viaPage("zscaler.net", "2a03:eec0:3215::9", "somewhere")), published).city).toBe("Frankfurt IV");
  });

  it("labels an egress address in no published range as unlisted", () => {
    const observed = observePath(parseCheckPage(viaPage("zscaler.net", "198.51.100.23")), published);
    expect(observed).toMatchObject({ path: "via", cloud: "zscaler.net", city: UNLISTED_CITY });
    expect(observed.detail).toContain("no published range");
  });

  it("labels a via page without an egress address as unlisted", () => {
    const observed = observePath(parseCheckPage("<p>You are accessing the Internet via Zscaler Cloud: zscaler.net</p>"), published);
    expect(observed).toEqual({ path: "via", cloud: "zscaler.net", city: UNLISTED_CITY, detail: "the page shows no egress address" });
  });

  it("says no_data while the cloud's data centres are not loaded", () => {
    const empty: PublishedCentres = { clouds: ["zscaler.net"], cenr: () => undefined };
    expect(observePath(parseCheckPage(viaPage("zscaler.net", "136.226.208.10")), empty)).toMatchObject({ path: "via", cloud: "zscaler.net", city: NO_DATA_CITY });
  });

  it("bounds the cloud label: a cloud the agent does not follow is other, named only in the detail", () => {
    const observed = observePath(parseCheckPage(viaPage("zscalerthree.net", "136.226.208.10")), published);
    expect(observed).toMatchObject({ path: "via", cloud: OTHER_CLOUD, city: NO_DATA_CITY });
    expect(observed.detail).toContain("zscalerthree.net");
  });

  it("keeps the city label within the published list whatever the page claims", () => {
    const cities = new Set(cenr.dataCentres.map((centre) => centre.city));
    for (const egress of ["136.226.208.10", "198.51.100.1", "10.0.0.1", "::1"]) {
      for (const centre of ["Frankfurt IV", "Atlantis", "x".repeat(60)]) {
        const { city } = observePath(parseCheckPage(viaPage("zscaler.net", egress, centre)), published);
        expect(cities.has(city) || city === UNLISTED_CITY || city === SHARED_CITY).toBe(true);
      }
    }
  });

  it("reads a direct page as direct with its egress address and no labels", () => {
    expect(observePath(parseCheckPage(DIRECT_PAGE), published)).toEqual({ path: "direct", cloud: "", city: "", egressIp: "192.0.2.44", detail: "egress 192.0.2.44" });
  });

  it("keeps an unreadable page unknown with the parser's reason", () => {
    expect(observePath(parseCheckPage("<html><title>Log in to the Wi-Fi</title></html>"), published)).toMatchObject({ path: "unknown", reason: "not_a_check_page", cloud: "", city: "" });
    expect(observePath(parseCheckPage(""), published)).toMatchObject({ path: "unknown", reason: "empty" });
  });

  it("says no_page when the request returned no page", () => {
    expect(noPage("timeout")).toEqual({ path: "unknown", cloud: "", city: "", reason: "no_page", detail: "timeout" });
  });
});

describe("the path against the expectation, truth table", () => {
  const pages: { name: string; page: CheckPageResult | "no page"; path: PathObservation["path"] }[] = [
    { name: "a via page", page: parseCheckPage(viaPage("zscaler.net", "136.226.208.10")), path: "via" },
    { name: "a via page of another cloud", page: parseCheckPage(viaPage("zscalertwo.net", "198.51.100.1")), path: "via" },
    { name: "a direct page", page: parseCheckPage(DIRECT_PAGE), path: "direct" },
    { name: "an older direct page (no XFF header)", page: parseCheckPage("<p>The request received from you did not have an XFF header, so you are quite likely not going through the Zscaler proxy service.</p>"), path: "direct" },
    { name: "a captive portal", page: parseCheckPage("<html><body>Accept the terms to continue</body></html>"), path: "unknown" },
    { name: "a page saying both", page: parseCheckPage("<p>You are accessing the Internet via Zscaler Cloud: zscaler.net</p><p>you are not going through the Zscaler proxy service.</p>"), path: "unknown" },
    { name: "a JSON page without a cloud", page: parseCheckPage('{"srcip":"192.0.2.1"}'), path: "unknown" },
    { name: "an empty body", page: parseCheckPage(""), path: "unknown" },
    { name: "no page at all", page: "no page", path: "unknown" },
  ];
  const expected: Record<PathExpectation, Record<PathObservation["path"], string>> = {
    via: { via: "consistent", direct: "inconsistent", unknown: "inconclusive" },
    direct: { via: "inconsistent", direct: "consistent", unknown: "inconclusive" },
  };
  for (const { name, page, path } of pages) {
    for (const expectation of ["via", "direct"] as const) {
      it(`${name}, expecting ${expectation}: ${path}, ${expected[expectation][path]}`, () => {
        const observed = page === "no page" ? noPage("timeout") : observePath(page, published);
        expect(observed.path).toBe(path);
        expect(judgePath(expectation, observed)).toBe(expected[expectation][path]);
      });
    }
  }
});

describe("the path in words", () => {
  it("names the cloud, the data centre, the egress and the expectation", () => {
    const observed = observePath(parseCheckPage(viaPage("zscaler.net", "147.161.234.10")), published);
    expect(describePath("direct", observed)).toBe("path via Zscaler (zscaler.net, Frankfurt IV), egress 147.161.234.10, expected direct");
    expect(describePath("via", observePath(parseCheckPage(DIRECT_PAGE), published))).toBe("path direct, not through Zscaler, egress 192.0.2.44, expected via");
    expect(describePath("via", noPage("timeout"))).toBe("path unknown (no_page), expected via");
  });
});
