// How Zscaler shows itself: the inspection issuer's naming and the block page, as pure predicates.
import { describe, expect, it } from "vitest";
import { isZscalerBlockPage, isZscalerIssuer, zscalerCloudOfIssuer } from "../../agent/zscaler/signatures.js";
import { zscalerBlockPageHtml } from "../support/zscaler-block-page.js";

describe("Zscaler inspection issuer", () => {
  it("recognises the intermediate by its CN in its spellings, and by its organisation", () => {
    for (const cn of ["Zscaler Intermediate Root CA (zscalerthree.net) (t) ", "Zscaler Intermediate Root CA (zscalertwo.net)", "Zscaler Root CA"]) {
      expect(isZscalerIssuer({ cn })).toBe(true);
    }
    expect(isZscalerIssuer({ cn: "Corp Proxy CA", o: "Zscaler Inc." })).toBe(true);
  });

  it("does not take other issuers, or a name that merely contains Zscaler, for it", () => {
    expect(isZscalerIssuer({ cn: "DigiCert Global G2 TLS RSA SHA256 2020 CA1", o: "DigiCert Inc" })).toBe(false);
    expect(isZscalerIssuer({ cn: "Not Zscaler Root CA", o: "Example" })).toBe(false);
    expect(isZscalerIssuer({})).toBe(false);
  });

  it("reads the cloud from the intermediate's CN, lower case, and nothing from other issuers", () => {
    expect(zscalerCloudOfIssuer({ cn: "Zscaler Intermediate Root CA (ZscalerTwo.net) (t) " })).toBe("zscalertwo.net");
    expect(zscalerCloudOfIssuer({ cn: "Zscaler Root CA" })).toBeUndefined();
    expect(zscalerCloudOfIssuer({ cn: "Other CA (zscaler.net)" })).toBeUndefined();
  });
});

describe("Zscaler block page", () => {
  it("is a 4xx or 5xx answer titled Internet Security by Zscaler", () => {
    expect(isZscalerBlockPage(403, zscalerBlockPageHtml("blocked.test"))).toBe(true);
    expect(isZscalerBlockPage(200, zscalerBlockPageHtml("blocked.test"))).toBe(false);
    expect(isZscalerBlockPage(403, "<html><title>Forbidden</title></html>")).toBe(false);
    // The words in a script or the body, not the title, do not make a block page.
    expect(isZscalerBlockPage(403, "<html><script>'<title>Internet Security by Zscaler</title>'</script><p>Internet Security by Zscaler</p></html>")).toBe(false);
  });
});
