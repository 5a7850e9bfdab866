// Zscaler's published IP-range feeds (config.zscaler.com) as normalised plain data.
// Pure: response text in, values out; fetching lives elsewhere. One parser per feed kind,
// all behind parseFeed(kind, cloud, text).
//
// Normalised means: every range in canonical CIDR text, deduplicated, sorted (IPv4 then IPv6,
// address order, then prefix length); hostnames lowercase; unused "" values become null. Two
// payloads that differ only in ordering, duplicates or hostname case normalise to equal data.
//
// Refusals are values with a bounded code (for metrics labels) and a human message. A bad
// CIDR inside an otherwise good payload skips that row (listed in skippedRows); a payload whose
// structure is wrong (missing keys, a number where a string belongs) is refused as a whole,
// because it means the format changed under us.

import { type Cidr, compareCidrs, makeCidr, parseCidr, parseIp } from "../addresses/ip.js";

export type FeedKind = "cenr" | "hubs-required" | "hubs-recommended" | "future" | "svpn" | "zpa";

export const FEED_KINDS: readonly FeedKind[] = ["cenr", "hubs-required", "hubs-recommended", "future", "svpn", "zpa"];

/** A Zscaler cloud's name, such as zscaler.net: lower-case DNS labels, at least two. */
export const CLOUD_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

/**
 * Why a payload was refused. parseFeed returns the first five; "shrunk" comes from checkShrink.
 * - not_json: not JSON at all (an HTML error page, a truncated body, an empty body)
 * - wrong_shape: JSON, but expected keys are missing or values have the wrong type
 * - wrong_cloud: a payload for another cloud than the one asked for
 * - empty: no ranges at all
 * - bad_rows: more than half of the rows hold unusable values (bad CIDRs, "")
 * - shrunk: the new range set lost more than the allowed fraction of the previous one
 */
export type FeedRefusalCode = "not_json" | "wrong_shape" | "wrong_cloud" | "empty" | "bad_rows" | "shrunk";

export interface FeedRefusal {
  readonly code: FeedRefusalCode;
  readonly message: string;
}

export type FeedResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: FeedRefusal };

/** A row or field left out, with where it was in the payload (`$["zscaler.net"]["continent : EMEA"]…`). */
export interface FeedIssue {
  readonly path: string;
  readonly value: string;
  readonly reason: string;
}

interface FeedCommon {
  /** Lowercase cloud name, e.g. "zscaler.net". */
  readonly cloud: string;
  /** Every range of the feed: canonical CIDR text, deduplicated, IPv4 then IPv6 in address order. */
  readonly cidrs: readonly string[];
  /** Range-bearing rows or list entries read from the payload, skipped ones included. */
  readonly rowCount: number;
  /** Rows left out because their range was empty or not a CIDR (or address, for svpn lists). */
  readonly skippedRows: readonly FeedIssue[];
}

/**
 * One group of CENR rows sharing city, hostname, VPN host, GRE VIP and ext address. Rows without
 * a hostname (most of them) group by their GRE VIP; hostname is null there.
 */
export interface DataCentre {
  readonly continent: string;
  readonly city: string;
  /** Lowercase, e.g. "ams2.sme.zscaler.net"; null when the rows had none. */
  readonly hostname: string | null;
  readonly ranges: readonly string[];
  /** Lowercase VPN hostname, e.g. "amsterdam2-vpn.zscaler.net". */
  readonly vpn: string | null;
  /** GRE virtual IP, canonical address text. */
  readonly gre: string | null;
  /** The `ext` address (newer captures only), canonical address text. */
  readonly ext: string | null;
}

export interface CenrFeed extends FeedCommon {
  readonly kind: "cenr";
  /** Deduplicated, sorted by continent, city, hostname, vpn, gre, ext. */
  readonly dataCentres: readonly DataCentre[];
  /** The top-level `svpnIPs` beside the cloud key: canonical addresses, deduplicated, sorted. */
  readonly svpnIps: readonly string[];
  /** Fields dropped from otherwise good rows (a GRE VIP that is not an address, …). */
  readonly ignoredFields: readonly FeedIssue[];
}

export type HubsKind = "hubs-required" | "hubs-recommended";

export interface HubsFeed<K extends HubsKind = HubsKind> extends FeedCommon {
  readonly kind: K;
}

export interface FutureFeed extends FeedCommon {
  readonly kind: "future";
}

export interface SvpnFeed extends FeedCommon {
  readonly kind: "svpn";
  /** Canonical addresses, deduplicated, sorted; `cidrs` holds the same as /32 and /128. */
  readonly ips: readonly string[];
}

export interface ZpaEntry {
  readonly protocol: string | null;
  /** The "Port" value as text ("443"); its format is not documented. */
  readonly port: string | null;
  readonly source: string | null;
  /** Lowercase, split on commas, deduplicated, sorted. */
  readonly domains: readonly string[];
  /** Canonical CIDRs, deduplicated, sorted. */
  readonly ips: readonly string[];
  readonly dateAdded: string | null;
}

export interface ZpaFeed extends FeedCommon {
  readonly kind: "zpa";
  /** Deduplicated, sorted. `cidrs` is the union of their `ips`. */
  readonly content: readonly ZpaEntry[];
}

export interface FeedDataByKind {
  readonly cenr: CenrFeed;
  readonly "hubs-required": HubsFeed<"hubs-required">;
  readonly "hubs-recommended": HubsFeed<"hubs-recommended">;
  readonly future: FutureFeed;
  readonly svpn: SvpnFeed;
  readonly zpa: ZpaFeed;
}

export type FeedDataOf<K extends FeedKind> = FeedDataByKind[K];
export type FeedData = FeedDataOf<FeedKind>;

/**
 * Parses one feed response body. `cloud` is the cloud the URL asked for ("zscaler.net"; for
 * ZPA "private.zscaler.com"); a payload naming another cloud is refused as wrong_cloud.
 */
export function parseFeed<K extends FeedKind>(kind: K, cloud: string, text: string): FeedResult<FeedDataOf<K>> {
  return parseAnyFeed(kind, cloud, text) as FeedResult<FeedDataOf<K>>;
}

function parseAnyFeed(kind: FeedKind, cloud: string, text: string): FeedResult<FeedData> {
  const root = parseJsonObject(text);
  if (!root.ok) return root;
  const wanted = normaliseCloud(cloud);
  try {
    switch (kind) {
      case "cenr":
        return parseCenr(wanted, root.value);
      case "hubs-required":
      case "hubs-recommended":
        return parseHubs(kind, wanted, root.value);
      case "future":
        return parseFuture(wanted, root.value);
      case "svpn":
        return parseSvpn(wanted, root.value);
      case "zpa":
        return parseZpa(wanted, root.value);
    }
  } catch (error: unknown) {
    if (error instanceof Refused) return { ok: false, reason: error.refusal };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// JSON and shape helpers

/** Thrown inside the parsers only; parseAnyFeed turns it into a refusal value. */
class Refused extends Error {
  readonly refusal: FeedRefusal;

  constructor(refusal: FeedRefusal) {
    super(refusal.message);
    this.refusal = refusal;
  }
}

function refuse(code: FeedRefusalCode, message: string): never {
  throw new Refused({ code, message });
}

type JsonObject = Readonly<Record<string, unknown>>;
type PathSegment = string | number;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly PathSegment[]): string {
  let text = "$";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]{0,59}$/.test(segment)) text += `.${segment}`;
    else text += `[${JSON.stringify(segment.length > 60 ? `${segment.slice(0, 59)}…` : segment)}]`;
  }
  return text;
}

function preview(value: unknown, limit = 60): string {
  let text: string;
  if (value === undefined) text = "undefined";
  else if (typeof value === "string") text = JSON.stringify(value);
  else if (Array.isArray(value)) text = `an array of ${value.length}`;
  else if (isObject(value)) text = "an object";
  else text = String(value);
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

function keyList(object: JsonObject): string {
  const keys = Object.keys(object);
  if (keys.length === 0) return "no keys";
  const shown = keys.slice(0, 6).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 39)}…` : k));
  return `keys ${shown.join(", ")}${keys.length > 6 ? `, … (${keys.length} in all)` : ""}`;
}

function parseJsonObject(text: string): FeedResult<JsonObject> {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  if (body.trim() === "") return { ok: false, reason: { code: "not_json", message: "empty body, expected JSON" } };
  if (/^\s*</.test(body)) {
    const head = body.slice(0, 4096);
    if (/<(!doctype\s+html|html|head|body|title)\b/i.test(head)) {
      const title = /<title[^>]*>([^<]*)<\/title>/i.exec(head)?.[1]?.replace(/\s+/g, " ").trim();
      const titled = title ? ` titled ${preview(title, 80)}` : "";
      return { ok: false, reason: { code: "not_json", message: `got an HTML page${titled}, expected JSON (an error or login page?)` } };
    }
    return { ok: false, reason: { code: "not_json", message: "got markup starting with \"<\", expected JSON" } };
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error: unknown) {
    const detail = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      reason: { code: "not_json", message: `not valid JSON (truncated?): ${detail.slice(0, 120)}` },
    };
  }
  if (!isObject(value)) {
    return { ok: false, reason: { code: "wrong_shape", message: `expected a JSON object at $, got ${typeName(value)}` } };
  }
  return { ok: true, value };
}

function normaliseCloud(text: string): string {
  return text.trim().toLowerCase().replace(/\.$/, "");
}

/** The value at a required key, or a wrong_shape refusal naming the path. */
function required(object: JsonObject, key: string, path: readonly PathSegment[]): unknown {
  if (!Object.hasOwn(object, key)) {
    refuse("wrong_shape", `missing ${formatPath([...path, key])} (found ${keyList(object)})`);
  }
  return object[key];
}

function expectString(value: unknown, path: readonly PathSegment[]): string {
  if (typeof value !== "string") refuse("wrong_shape", `${formatPath(path)} should be a string, got ${typeName(value)} ${preview(value)}`);
  return value;
}

function expectArray(value: unknown, path: readonly PathSegment[]): readonly unknown[] {
  if (!Array.isArray(value)) refuse("wrong_shape", `${formatPath(path)} should be an array, got ${typeName(value)}`);
  return value;
}

/** An optional text field: absent, null and "" (after trimming) are all "unused". */
function optionalText(object: JsonObject, key: string, path: readonly PathSegment[]): string | null {
  const value = object[key];
  if (value === undefined || value === null) return null;
  const text = expectString(value, [...path, key]).trim();
  return text === "" ? null : text;
}

function checkCloud(named: string, wanted: string, path: readonly PathSegment[]): void {
  if (normaliseCloud(named) !== wanted) {
    refuse("wrong_cloud", `payload is for cloud ${preview(named)} (${formatPath(path)}), expected "${wanted}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// Range collection

/** Unique CIDRs by canonical text, sorted on the way out. */
class CidrSet {
  private readonly byText = new Map<string, Cidr>();

  add(cidr: Cidr): void {
    this.byText.set(cidr.text, cidr);
  }

  get size(): number {
    return this.byText.size;
  }

  sorted(): string[] {
    return [...this.byText.values()].sort(compareCidrs).map((c) => c.text);
  }
}

/** Rows read and skipped for one list; refuses when more than half were unusable. */
class RowTally {
  rows = 0;
  readonly skipped: FeedIssue[] = [];
  private readonly what: string;

  constructor(what: string) {
    this.what = what;
  }

  skip(path: readonly PathSegment[], value: string, reason: string): void {
    this.skipped.push({ path: formatPath(path), value: value.length > 100 ? `${value.slice(0, 99)}…` : value, reason });
  }

  /** Call after reading: refuses an empty list, or one where most rows were bad. */
  settle(): void {
    if (this.rows === 0) refuse("empty", `no ${this.what} in the payload`);
    if (this.skipped.length * 2 > this.rows) {
      const first = this.skipped[0];
      const example = first ? `; first: ${first.path} ${preview(first.value)}: ${first.reason}` : "";
      refuse("bad_rows", `${this.skipped.length} of ${this.rows} ${this.what} are unusable${example}`);
    }
  }
}

/** A range field: "" and non-CIDRs are skipped rows, anything but a string is a shape error. */
function readRange(value: unknown, path: readonly PathSegment[], tally: RowTally): Cidr | null {
  const text = expectString(value, path);
  tally.rows++;
  if (text.trim() === "") {
    tally.skip(path, text, "empty range");
    return null;
  }
  const parsed = parseCidr(text);
  if (!parsed.ok) {
    tally.skip(path, text, parsed.reason);
    return null;
  }
  return parsed.value;
}

/** An address field in an address list (svpnIPs): a bare address becomes a host CIDR. */
function readAddress(value: unknown, path: readonly PathSegment[], tally: RowTally): Cidr | null {
  const text = expectString(value, path);
  tally.rows++;
  if (text.trim() === "") {
    tally.skip(path, text, "empty address");
    return null;
  }
  const parsed = parseIp(text);
  if (!parsed.ok) {
    tally.skip(path, text, parsed.reason);
    return null;
  }
  const { family, value: address } = parsed.value;
  return makeCidr(family, address, family === 4 ? 32 : 128);
}

function hostText(cidr: Cidr): string {
  return cidr.text.slice(0, cidr.text.indexOf("/"));
}

function readRangeList(list: readonly unknown[], path: readonly PathSegment[], tally: RowTally): CidrSet {
  const set = new CidrSet();
  list.forEach((entry, index) => {
    const cidr = readRange(entry, [...path, index], tally);
    if (cidr) set.add(cidr);
  });
  return set;
}

function readAddressList(list: readonly unknown[], path: readonly PathSegment[], tally: RowTally): Cidr[] {
  const unique = new Map<string, Cidr>();
  list.forEach((entry, index) => {
    const cidr = readAddress(entry, [...path, index], tally);
    if (cidr) unique.set(cidr.text, cidr);
  });
  return [...unique.values()].sort(compareCidrs);
}

// ---------------------------------------------------------------------------------------------
// CENR: {"<cloud>": {"continent : EMEA": {"city : Amsterdam II": [row, ...]}}, "svpnIPs": [...]}

const SVPN_KEY = "svpnIPs";

/** "continent : EMEA", "continent: EMEA", "Continent :EMEA" → "EMEA"; unprefixed keys stay as they are. */
export function stripKeyPrefix(key: string, prefix: "continent" | "city"): string {
  const match = new RegExp(`^\\s*${prefix}\\s*:\\s*`, "i").exec(key);
  return (match ? key.slice(match[0].length) : key).trim();
}

const HOSTNAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

function findCloudKey(root: JsonObject, wanted: string): string | null {
  for (const key of Object.keys(root)) if (normaliseCloud(key) === wanted) return key;
  return null;
}

function parseCenr(wanted: string, root: JsonObject): FeedResult<CenrFeed> {
  const cloudKey = findCloudKey(root, wanted);
  if (cloudKey === null) {
    const others = Object.keys(root).filter((k) => k !== SVPN_KEY && isObject(root[k]));
    if (others.length > 0) {
      const named = others.slice(0, 3).map((k) => preview(k)).join(", ");
      const more = others.length > 3 ? ` and ${others.length - 3} more` : "";
      refuse("wrong_cloud", `payload is for cloud ${named}${more}, expected "${wanted}"`);
    }
    refuse("wrong_shape", `missing ${formatPath([wanted])} (found ${keyList(root)})`);
  }
  const cloudValue = root[cloudKey];
  if (!isObject(cloudValue)) refuse("wrong_shape", `${formatPath([cloudKey])} should be an object, got ${typeName(cloudValue)}`);

  const tally = new RowTally("CENR rows");
  const ignoredFields: FeedIssue[] = [];
  const all = new CidrSet();
  const groups = new Map<string, { centre: Omit<DataCentre, "ranges">; ranges: CidrSet }>();

  const ignore = (path: readonly PathSegment[], value: string, reason: string): null => {
    ignoredFields.push({ path: formatPath(path), value, reason });
    return null;
  };
  const readHost = (row: JsonObject, key: string, path: readonly PathSegment[]): string | null => {
    const text = optionalText(row, key, path)?.toLowerCase().replace(/\.$/, "") ?? null;
    if (text === null || HOSTNAME.test(text)) return text;
    return ignore([...path, key], text, "not a hostname");
  };
  const readIp = (row: JsonObject, key: string, path: readonly PathSegment[]): string | null => {
    const text = optionalText(row, key, path);
    if (text === null) return null;
    const parsed = parseIp(text);
    return parsed.ok ? parsed.value.text : ignore([...path, key], text, parsed.reason);
  };

  for (const [continentKey, continentValue] of Object.entries(cloudValue)) {
    // Only objects hold cities; anything else at this level is skipped.
    if (!isObject(continentValue)) continue;
    const continent = stripKeyPrefix(continentKey, "continent");
    for (const [cityKey, cityValue] of Object.entries(continentValue)) {
      const city = stripKeyPrefix(cityKey, "city");
      const rows = expectArray(cityValue, [cloudKey, continentKey, cityKey]);
      rows.forEach((row, index) => {
        const path = [cloudKey, continentKey, cityKey, index];
        if (!isObject(row)) refuse("wrong_shape", `${formatPath(path)} should be an object, got ${typeName(row)}`);
        const cidr = readRange(required(row, "range", path), [...path, "range"], tally);
        if (!cidr) return;
        const centre = {
          continent,
          city,
          hostname: readHost(row, "hostname", path),
          vpn: readHost(row, "vpn", path),
          gre: readIp(row, "gre", path),
          ext: readIp(row, "ext", path),
        };
        all.add(cidr);
        const key = JSON.stringify([centre.continent, centre.city, centre.hostname, centre.vpn, centre.gre, centre.ext]);
        let group = groups.get(key);
        if (!group) {
          group = { centre, ranges: new CidrSet() };
          groups.set(key, group);
        }
        group.ranges.add(cidr);
      });
    }
  }
  tally.settle();

  let svpnIps: string[] = [];
  if (Object.hasOwn(root, SVPN_KEY)) {
    const list = expectArray(root[SVPN_KEY], [SVPN_KEY]);
    const svpnTally = new RowTally("svpnIPs entries");
    const ips = readAddressList(list, [SVPN_KEY], svpnTally);
    if (list.length > 0) svpnTally.settle();
    svpnIps = ips.map(hostText);
    tally.skipped.push(...svpnTally.skipped);
  }

  const dataCentres: DataCentre[] = [...groups.values()]
    .map(({ centre, ranges }) => ({ ...centre, ranges: ranges.sorted() }))
    .sort(compareDataCentres);

  return {
    ok: true,
    value: {
      kind: "cenr",
      cloud: wanted,
      cidrs: all.sorted(),
      rowCount: tally.rows,
      skippedRows: tally.skipped,
      dataCentres,
      svpnIps,
      ignoredFields,
    },
  };
}

function compareText(a: string | null, b: string | null): number {
  const x = a ?? "";
  const y = b ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareDataCentres(a: DataCentre, b: DataCentre): number {
  return (
    compareText(a.continent, b.continent) ||
    compareText(a.city, b.city) ||
    compareText(a.hostname, b.hostname) ||
    compareText(a.vpn, b.vpn) ||
    compareText(a.gre, b.gre) ||
    compareText(a.ext, b.ext)
  );
}

// ---------------------------------------------------------------------------------------------
// hubs: {"cloudName", "type": "required"|"recommended", "hubPrefixes": [...]}
// future: {"cloudName", "prefixes": [...]}      svpn: {"cloudName", "svpnIPs": [...]}

function readCloudName(root: JsonObject, key: string, wanted: string): string {
  const named = expectString(required(root, key, []), [key]);
  checkCloud(named, wanted, [key]);
  return wanted;
}

function parseHubs<K extends HubsKind>(kind: K, wanted: string, root: JsonObject): FeedResult<HubsFeed<K>> {
  const cloud = readCloudName(root, "cloudName", wanted);
  const expectedType = kind === "hubs-required" ? "required" : "recommended";
  if (Object.hasOwn(root, "type")) {
    const type = expectString(root["type"], ["type"]).trim().toLowerCase();
    if (type !== expectedType) refuse("wrong_shape", `$.type is ${preview(type)}, expected "${expectedType}"`);
  }
  const list = expectArray(required(root, "hubPrefixes", []), ["hubPrefixes"]);
  const tally = new RowTally("hub prefixes");
  const set = readRangeList(list, ["hubPrefixes"], tally);
  tally.settle();
  return { ok: true, value: { kind, cloud, cidrs: set.sorted(), rowCount: tally.rows, skippedRows: tally.skipped } };
}

function parseFuture(wanted: string, root: JsonObject): FeedResult<FutureFeed> {
  const cloud = readCloudName(root, "cloudName", wanted);
  const list = expectArray(required(root, "prefixes", []), ["prefixes"]);
  const tally = new RowTally("future prefixes");
  const set = readRangeList(list, ["prefixes"], tally);
  tally.settle();
  return { ok: true, value: { kind: "future", cloud, cidrs: set.sorted(), rowCount: tally.rows, skippedRows: tally.skipped } };
}

function parseSvpn(wanted: string, root: JsonObject): FeedResult<SvpnFeed> {
  const cloud = readCloudName(root, "cloudName", wanted);
  const list = expectArray(required(root, SVPN_KEY, []), [SVPN_KEY]);
  const tally = new RowTally("svpnIPs entries");
  const hosts = readAddressList(list, [SVPN_KEY], tally);
  tally.settle();
  return {
    ok: true,
    value: {
      kind: "svpn",
      cloud,
      cidrs: hosts.map((c) => c.text),
      ips: hosts.map(hostText),
      rowCount: tally.rows,
      skippedRows: tally.skipped,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ZPA: {"Cloud Name", "content": [{"IP Protocol","Port","Source","Domains","IPs":[...],"Date Added"}]}

function parseZpa(wanted: string, root: JsonObject): FeedResult<ZpaFeed> {
  const cloudKey = Object.hasOwn(root, "Cloud Name") || !Object.hasOwn(root, "cloudName") ? "Cloud Name" : "cloudName";
  const cloud = readCloudName(root, cloudKey, wanted);
  const list = expectArray(required(root, "content", []), ["content"]);
  const tally = new RowTally("ZPA IPs");
  const all = new CidrSet();
  const entries = new Map<string, ZpaEntry>();
  list.forEach((item, index) => {
    const path = ["content", index];
    if (!isObject(item)) refuse("wrong_shape", `${formatPath(path)} should be an object, got ${typeName(item)}`);
    const ips = readRangeList(expectArray(required(item, "IPs", path), [...path, "IPs"]), [...path, "IPs"], tally);
    const entry: ZpaEntry = {
      protocol: optionalText(item, "IP Protocol", path),
      port: readPort(item, path),
      source: optionalText(item, "Source", path),
      domains: readDomains(item, path),
      ips: ips.sorted(),
      dateAdded: optionalText(item, "Date Added", path),
    };
    for (const ip of entry.ips) {
      const parsed = parseCidr(ip);
      if (parsed.ok) all.add(parsed.value);
    }
    entries.set(JSON.stringify(entry), entry);
  });
  tally.settle();
  const content = [...entries.entries()].sort(([a], [b]) => compareText(a, b)).map(([, entry]) => entry);
  return {
    ok: true,
    value: { kind: "zpa", cloud, cidrs: all.sorted(), rowCount: tally.rows, skippedRows: tally.skipped, content },
  };
}

function readPort(item: JsonObject, path: readonly PathSegment[]): string | null {
  const value = item["Port"];
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return optionalText(item, "Port", path);
}

function readDomains(item: JsonObject, path: readonly PathSegment[]): string[] {
  const value = item["Domains"];
  const parts: string[] = [];
  if (Array.isArray(value)) {
    value.forEach((entry, index) => parts.push(expectString(entry, [...path, "Domains", index])));
  } else {
    const text = optionalText(item, "Domains", path);
    if (text !== null) parts.push(...text.split(","));
  }
  const domains = new Set(parts.map((d) => d.trim().toLowerCase()).filter((d) => d !== ""));
  return [...domains].sort((a, b) => compareText(a, b));
}
