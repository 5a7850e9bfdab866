// Reads Zscaler's check page (ip.zscaler.com, or a configured URL serving the same page):
// does this client's web traffic go through Zscaler, through which cloud and data centre,
// and from which egress address? Pure: text in, plain data out; fetching is the prober's.
//
// The forms read (fixtures and where each comes from: test/fixtures/zscaler-check-page/):
// - HTML "via": a headline "You are accessing the Internet via Zscaler Cloud: <data centre>
//   in the <cloud> cloud." (an older, shorter headline names only the cloud), then detail
//   lines: "Your request is arriving at this server from the IP address <egress>", "The
//   Zscaler proxy virtual IP is <vip>", "The Zscaler hostname for this proxy appears to be
//   <node>", "The request is being received by the Zscaler Proxy from the IP address
//   <client>", "Your Gateway IP Address is [most likely] <gateway>".
// - HTML "not via": "The request received from you didn't come from a Zscaler IP therefore
//   you are not going through the Zscaler proxy service." and the older "The request received
//   from you did not have an XFF header, so you are quite likely not going through the Zscaler
//   proxy service.", with the same "arriving ... from the IP address" line.
// - JSON (`?json`): an object with "cloud", "datacenter", "srcip", "vip", "xff". Only its
//   "via" shape (a cloud present) is known; an object without a cloud is `unknown`.
//
// Page texts change over time and anything can answer on a plain-HTTP name (a captive
// portal, a login page, a proxy's error page). So: only visible text counts (script, style
// and comments are dropped), every value taken from the page is checked against a strict
// shape, a page saying both things or neither is `unknown`, and nothing but the known
// "not via" sentence ever gives `direct`.

import { isIP } from "node:net";
import { htmlText } from "../text/html-text.js";

/** Longest page read; the real one is a few kilobytes. */
export const MAX_CHECK_PAGE_CHARS = 256 * 1024;

const FORMS = ["html_via", "html_not_via", "html_not_via_xff", "json_via"] as const;
export type CheckPageForm = (typeof FORMS)[number];

export const CHECK_PAGE_UNKNOWN_REASONS = [
  /** Nothing but whitespace. */
  "empty",
  /** Longer than MAX_CHECK_PAGE_CHARS. */
  "too_large",
  /** Neither known sentence (a captive portal, a login page, a changed page). */
  "not_a_check_page",
  /** Both the "via" and the "not via" sentence. */
  "contradictory",
  /** Starts like JSON but is not a JSON object, or a field has the wrong shape. */
  "json_invalid",
  /** A JSON object without a cloud: its "not via" shape is not known, so not read as direct. */
  "json_without_cloud",
] as const;

export type CheckPageUnknownReason = (typeof CHECK_PAGE_UNKNOWN_REASONS)[number];

export interface CheckPageVia {
  readonly path: "via";
  readonly form: CheckPageForm;
  /** "zscaler.net", "zscalertwo.net", ...: lower case. */
  readonly cloud?: string;
  /** The data centre as the page names it ("Frankfurt IV"). */
  readonly dataCentre?: string;
  /** The address the check page saw the request come from: the Zscaler node's egress. */
  readonly egressIp?: string;
  readonly proxyVip?: string;
  /** The node's host name ("zs2-fra4b1.sme.zscaler.net"). */
  readonly proxyHostname?: string;
  /** The address the Zscaler proxy saw the request come from (this site's public address). */
  readonly clientIp?: string;
  readonly gatewayIp?: string;
}

export interface CheckPageDirect {
  readonly path: "direct";
  readonly form: CheckPageForm;
  /** The address the check page saw the request come from: this site's own egress. */
  readonly egressIp?: string;
  readonly gatewayIp?: string;
}

export interface CheckPageUnknown {
  readonly path: "unknown";
  readonly reason: CheckPageUnknownReason;
  /** Short text for people; never a label, never page text. */
  readonly detail?: string;
}

export type CheckPageResult = CheckPageVia | CheckPageDirect | CheckPageUnknown;

const VIA = /you are accessing the internet via zscaler\b/i;
const NOT_VIA = /you are (?:quite likely )?not going through the zscaler proxy\b/i;
const NO_XFF = /did not have an xff header/i;
const VIA_CLOUD = /via zscaler cloud:\s*(.+)$/i;
const CENTRE_IN_CLOUD = /^(.+?)\s+in the\s+(\S+)\s+cloud\.?$/i;

const CLOUD_NAME = /^[a-z0-9-]{1,40}(?:\.[a-z0-9-]{1,40}){1,3}$/i;
const CENTRE_NAME = /^[\p{L}\p{N}][\p{L}\p{N} .'()&/-]{0,63}$/u;
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const ADDRESS_TOKEN = "([0-9a-fA-F:.]{2,45})";

/** Detail lines: the sentence before the value, and where the value goes. */
const DETAIL_LINES: readonly { readonly pattern: RegExp; readonly field: "egressIp" | "proxyVip" | "clientIp" | "gatewayIp" }[] = [
  { pattern: new RegExp(`arriving at this server from the ip address\\s+${ADDRESS_TOKEN}`, "i"), field: "egressIp" },
  { pattern: new RegExp(`zscaler proxy virtual ip is\\s+${ADDRESS_TOKEN}`, "i"), field: "proxyVip" },
  { pattern: new RegExp(`received by the zscaler proxy from the ip address\\s+${ADDRESS_TOKEN}`, "i"), field: "clientIp" },
  { pattern: new RegExp(`gateway ip address is\\s+(?:most likely\\s+)?${ADDRESS_TOKEN}`, "i"), field: "gatewayIp" },
];
const HOSTNAME_LINE = /zscaler hostname for this proxy appears to be\s+(\S{1,253})/i;

function unknown(reason: CheckPageUnknownReason, detail?: string): CheckPageUnknown {
  return detail === undefined ? { path: "unknown", reason } : { path: "unknown", reason, detail };
}

function address(text: string | undefined): string | undefined {
  const trimmed = text?.replace(/\.$/, "");
  return trimmed !== undefined && isIP(trimmed) !== 0 ? trimmed : undefined;
}

function cloudName(text: string | undefined): string | undefined {
  const trimmed = text?.trim().replace(/\.$/, "");
  return trimmed !== undefined && CLOUD_NAME.test(trimmed) ? trimmed.toLowerCase() : undefined;
}

function centreName(text: string | undefined): string | undefined {
  const trimmed = text?.trim();
  return trimmed !== undefined && CENTRE_NAME.test(trimmed) ? trimmed : undefined;
}

function hostName(text: string | undefined): string | undefined {
  const trimmed = text?.replace(/\.$/, "");
  return trimmed !== undefined && HOST_NAME.test(trimmed) ? trimmed.toLowerCase() : undefined;
}

/** Drops undefined fields, so results compare and print as plain data. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/** "Frankfurt IV in the zscaler.net cloud." or "zscaler.net": the centre and the cloud. */
function headlineFields(line: string): { cloud?: string | undefined; dataCentre?: string | undefined } {
  const rest = VIA_CLOUD.exec(line)?.[1]?.trim();
  // A real headline is short; a long one is not read (and its pattern never runs over a page).
  if (rest === undefined || rest.length > 200) return {};
  const inCloud = CENTRE_IN_CLOUD.exec(rest);
  if (inCloud !== null) return { dataCentre: centreName(inCloud[1]), cloud: cloudName(inCloud[2]) };
  return { cloud: cloudName(rest) };
}

function detailFields(lines: readonly string[]): Partial<Record<"egressIp" | "proxyVip" | "clientIp" | "gatewayIp" | "proxyHostname", string>> {
  const fields: Partial<Record<"egressIp" | "proxyVip" | "clientIp" | "gatewayIp" | "proxyHostname", string>> = {};
  for (const line of lines) {
    for (const { pattern, field } of DETAIL_LINES) {
      const value = address(pattern.exec(line)?.[1]);
      if (value !== undefined) fields[field] ??= value;
    }
    const host = hostName(HOSTNAME_LINE.exec(line)?.[1]);
    if (host !== undefined) fields.proxyHostname ??= host;
  }
  return fields;
}

function parseHtml(page: string): CheckPageResult {
  const { lines } = htmlText(page, MAX_CHECK_PAGE_CHARS);
  const viaLine = lines.find((line) => VIA.test(line));
  const notViaLine = lines.find((line) => NOT_VIA.test(line));
  if (viaLine !== undefined && notViaLine !== undefined) return unknown("contradictory", "the page says both via and not via Zscaler");
  const details = detailFields(lines);
  if (viaLine !== undefined) return defined<CheckPageVia>({ path: "via", form: "html_via", ...headlineFields(viaLine), ...details });
  if (notViaLine !== undefined) {
    return defined<CheckPageDirect>({
      path: "direct",
      form: NO_XFF.test(notViaLine) ? "html_not_via_xff" : "html_not_via",
      egressIp: details.egressIp,
      gatewayIp: details.gatewayIp,
    });
  }
  const mentions = lines.some((line) => /zscaler/i.test(line));
  return unknown("not_a_check_page", mentions ? "mentions Zscaler but has neither known sentence" : "neither known sentence");
}

function stringField(object: Record<string, unknown>, key: string): string | undefined | null {
  const value = object[key];
  if (value === undefined || value === null || value === "") return undefined;
  return typeof value === "string" && value.length <= 256 ? value : null;
}

function parseJson(page: string): CheckPageResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(page);
  } catch {
    return unknown("json_invalid", "not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return unknown("json_invalid", "not a JSON object");
  const object = parsed as Record<string, unknown>;
  const fields = { cloud: stringField(object, "cloud"), datacenter: stringField(object, "datacenter"), srcip: stringField(object, "srcip"), vip: stringField(object, "vip"), xff: stringField(object, "xff") };
  const wrong = Object.entries(fields).find(([, value]) => value === null);
  if (wrong !== undefined) return unknown("json_invalid", `field ${wrong[0]} is not a short string`);
  if (fields.cloud === undefined) return unknown("json_without_cloud");
  const cloud = cloudName(fields.cloud ?? undefined);
  if (cloud === undefined) return unknown("json_invalid", "field cloud is not a cloud name");
  return defined<CheckPageVia>({
    path: "via",
    form: "json_via",
    cloud,
    dataCentre: centreName(fields.datacenter ?? undefined),
    egressIp: address(fields.srcip ?? undefined),
    proxyVip: address(fields.vip ?? undefined),
    gatewayIp: address(fields.xff ?? undefined),
  });
}

/** What a check page says about this client's path; `unknown` whenever it cannot be sure. */
export function parseCheckPage(page: string): CheckPageResult {
  if (typeof page !== "string") return unknown("not_a_check_page", "no text");
  if (page.length > MAX_CHECK_PAGE_CHARS) return unknown("too_large", `longer than ${MAX_CHECK_PAGE_CHARS} characters`);
  const start = page.trimStart();
  if (start === "") return unknown("empty");
  return start.startsWith("{") || start.startsWith("[") ? parseJson(start) : parseHtml(page);
}

/**
 * A reading that came back from a probe worker (JSON), checked again: the same shapes as
 * parseCheckPage gives (the path, the reason, each value as an address, a cloud or a data
 * centre name), everything else dropped. undefined: not a reading at all.
 */
export function checkPageFromWire(value: unknown): CheckPageResult | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const raw = value as Record<string, unknown>;
  const text = (key: string) => (typeof raw[key] === "string" && (raw[key] as string).length <= 256 ? (raw[key] as string) : undefined);
  const form = FORMS.find((known) => known === raw["form"]);
  switch (raw["path"]) {
    case "unknown": {
      const reason = CHECK_PAGE_UNKNOWN_REASONS.find((known) => known === raw["reason"]);
      if (reason === undefined) return undefined;
      const detail = text("detail");
      return unknown(reason, detail === undefined ? undefined : detail.slice(0, 120));
    }
    case "direct":
      return form === undefined ? undefined : defined<CheckPageDirect>({ path: "direct", form, egressIp: address(text("egressIp")), gatewayIp: address(text("gatewayIp")) });
    case "via":
      return form === undefined
        ? undefined
        : defined<CheckPageVia>({
            path: "via",
            form,
            cloud: cloudName(text("cloud")),
            dataCentre: centreName(text("dataCentre")),
            egressIp: address(text("egressIp")),
            proxyVip: address(text("proxyVip")),
            proxyHostname: hostName(text("proxyHostname")),
            clientIp: address(text("clientIp")),
            gatewayIp: address(text("gatewayIp")),
          });
    default:
      return undefined;
  }
}
