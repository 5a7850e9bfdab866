// How Zscaler shows itself on the wire, as pure predicates: the issuer of the certificates
// its SSL inspection re-signs with, its block page, and the address its DNS filtering
// answers for a blocked name. Probers ask these questions without knowing anything else
// about Zscaler, so the Zscaler knowledge stays behind this one seam.
//
// - Issuer: inspected connections carry a leaf certificate issued by
//   "Zscaler Intermediate Root CA (<cloud>) (t)" (sometimes without " (t)", sometimes with a
//   trailing space), O "Zscaler Inc.", OU "Zscaler Inc.", under "Zscaler Root CA". A tenant
//   with its own intermediate (a custom root) is matched with a CN pattern instead.
// - Block page: served with HTTP 403 and the title "Internet Security by Zscaler" (the
//   default end-user notification; HTTP always, HTTPS when inspection is on).
// - DNS block answer: DESIGN.md section 5 (the address of Zscaler's block page service).

import { htmlText } from "../text/html-text.js";

/** The addresses Zscaler's DNS filtering answers with for a blocked name. */
export const ZSCALER_DNS_BLOCK_ADDRESSES: readonly string[] = ["34.215.46.88"];

export interface CertificateName {
  /** Common name, as the certificate has it (trailing spaces kept). */
  readonly cn?: string | undefined;
  /** Organisation. */
  readonly o?: string | undefined;
}

const ZSCALER_ORGANISATION = "zscaler inc.";
const ZSCALER_CA_NAME = /^zscaler (?:intermediate )?root ca\b/i;
const CLOUD_IN_CN = /\(([a-z0-9-]{1,40}(?:\.[a-z0-9-]{1,40}){1,3})\)/i;

/** Is this issuer Zscaler's inspection CA (its organisation or its CA naming)? */
export function isZscalerIssuer(issuer: CertificateName): boolean {
  const organisation = issuer.o?.trim().toLowerCase();
  if (organisation === ZSCALER_ORGANISATION) return true;
  return ZSCALER_CA_NAME.test(issuer.cn?.trim() ?? "");
}

/** The cloud named in a Zscaler intermediate's CN ("zscalertwo.net"), when it names one. */
export function zscalerCloudOfIssuer(issuer: CertificateName): string | undefined {
  if (!isZscalerIssuer(issuer)) return undefined;
  return CLOUD_IN_CN.exec(issuer.cn ?? "")?.[1]?.toLowerCase();
}

const BLOCK_PAGE_TITLE = "internet security by zscaler";

/** How much of a response body the block-page test reads: the title comes first. */
export const BLOCK_PAGE_SNIFF_BYTES = 16 * 1024;

/** Is this response Zscaler's block page? `bodyPrefix`: the body's first bytes, as text. */
export function isZscalerBlockPage(status: number, bodyPrefix: string): boolean {
  if (status < 400 || status > 599) return false;
  const { title } = htmlText(bodyPrefix.slice(0, BLOCK_PAGE_SNIFF_BYTES));
  return title !== undefined && title.toLowerCase().includes(BLOCK_PAGE_TITLE);
}

/** Ports of a cloud's gateway that take explicit-proxy requests (CONNECT and absolute-form). */
export const ZSCALER_PROXY_PORTS: readonly number[] = [80, 9400];

/** `proxy: zscaler:<cloud>[:port]` of an HTTP check: the cloud's gateway as a proxy URL. */
export function gatewayProxyUrl(cloud: string, port = 80): string {
  return `http://gateway.${cloud}:${port}`;
}
