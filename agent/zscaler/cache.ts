// The feed cache on disk: per (cloud, feed) the last GOOD payload, so a restarted agent serves
// what it had before its first fetch (and asks with the old validators, so an unchanged feed
// costs a 304). In the cluster the directory is an emptyDir: it survives container restarts,
// not pod deletion.
//
// Layout: <dir>/<cloud>/<kind>.json, one JSON document per feed, written atomically (a temp file
// in the same directory, fsync, rename) with mode 0600 in directories created 0700. The raw
// payload text is stored, not parsed data: the current parser reads it again at start, so a
// parser fix applies to cached payloads too. Removals held back by the grace period travel with
// it. A file that cannot be read or is not a cache entry is a miss (logged), never a crash.

import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { readBoundedFile } from "../files/read.js";
import { join } from "node:path";
import type { Logger } from "../log/log.js";
import { FEED_KINDS, type FeedKind } from "./feeds.js";
import { FEED_MAX_BYTES_LIMIT, type Validators } from "./fetch.js";

export const CACHE_VERSION = 1;

/**
 * Larger files are not read: the payload text of the largest feed accepted, JSON-escaped
 * (quotes double), and the removals held with it.
 */
export const MAX_CACHE_FILE_BYTES = 3 * FEED_MAX_BYTES_LIMIT;

export interface CacheEntry {
  /** The payload's cloud (private.zscaler.com for zpa). */
  readonly cloud: string;
  readonly kind: FeedKind;
  /** The response body as received. */
  readonly text: string;
  readonly validators: Validators;
  /** When this payload was downloaded, epoch milliseconds. */
  readonly fetchedAt: number;
  /** Ranges removed upstream but still served during the grace period: CIDR → first missing (epoch ms). */
  readonly held?: Readonly<Record<string, number>>;
}

export type CacheWriteResult = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

const CLOUD_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** <dir>/<cloud>/<kind>.json, or a reason when the cloud or kind cannot name a file safely. */
export function cachePath(dir: string, cloud: string, kind: FeedKind): { ok: true; path: string } | { ok: false; reason: string } {
  if (!CLOUD_NAME.test(cloud) || cloud.length > 253) return { ok: false, reason: `cloud ${JSON.stringify(cloud)} is not a lowercase host name` };
  if (!FEED_KINDS.includes(kind)) return { ok: false, reason: `unknown feed kind ${JSON.stringify(kind)}` };
  return { ok: true, path: join(dir, cloud, `${kind}.json`) };
}

/** The cached entry of one feed, or undefined when there is none or it is unusable (logged). */
export async function readCached(dir: string, cloud: string, kind: FeedKind, logger?: Logger): Promise<CacheEntry | undefined> {
  const located = cachePath(dir, cloud, kind);
  if (!located.ok) {
    logger?.warn({ cloud, feed: kind }, `zscaler feed cache: ${located.reason}; not using the cache`);
    return undefined;
  }
  const miss = (why: string): undefined => {
    logger?.warn({ cloud, feed: kind, path: located.path }, `zscaler feed cache ${located.path} unusable (${why}); ignoring it`);
    return undefined;
  };
  // Regular files only, bounded: a FIFO left in the cache directory must not block a thread.
  const read = await readBoundedFile(located.path, { maxBytes: MAX_CACHE_FILE_BYTES });
  if (!read.ok) return read.problem === "missing" ? undefined : miss(read.reason);
  const { text } = read;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error: unknown) {
    return miss(`not JSON: ${error instanceof Error ? error.message.slice(0, 120) : String(error)}`);
  }
  const entry = toEntry(value, cloud, kind);
  return typeof entry === "string" ? miss(entry) : entry;
}

/** Checks a parsed cache document; returns the entry or why it is not one. */
function toEntry(value: unknown, cloud: string, kind: FeedKind): CacheEntry | string {
  if (!isRecord(value)) return "not a JSON object";
  if (value["version"] !== CACHE_VERSION) return `version ${JSON.stringify(value["version"])}, expected ${CACHE_VERSION}`;
  if (value["cloud"] !== cloud || value["kind"] !== kind) return `holds ${String(value["cloud"])}/${String(value["kind"])}, expected ${cloud}/${kind}`;
  const text = value["text"];
  if (typeof text !== "string") return "no payload text";
  const fetchedAt = value["fetchedAt"];
  if (typeof fetchedAt !== "number" || !Number.isFinite(fetchedAt)) return "no fetchedAt time";
  const rawValidators = value["validators"] ?? {};
  if (!isRecord(rawValidators)) return "validators is not an object";
  const etag = rawValidators["etag"];
  const lastModified = rawValidators["lastModified"];
  if ((etag !== undefined && typeof etag !== "string") || (lastModified !== undefined && typeof lastModified !== "string")) {
    return "validators are not strings";
  }
  const validators: Validators = { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
  const rawHeld = value["held"];
  let held: Record<string, number> | undefined;
  if (rawHeld !== undefined) {
    if (!isRecord(rawHeld)) return "held is not an object";
    held = {};
    for (const [cidr, since] of Object.entries(rawHeld)) {
      if (typeof since !== "number" || !Number.isFinite(since)) return `held ${JSON.stringify(cidr)} has no time`;
      held[cidr] = since;
    }
  }
  return { cloud, kind, text, validators, fetchedAt, ...(held ? { held } : {}) };
}

/** Writes one entry atomically. Never throws: a full or read-only disk is a reason. */
export async function writeCached(dir: string, entry: CacheEntry): Promise<CacheWriteResult> {
  const located = cachePath(dir, entry.cloud, entry.kind);
  if (!located.ok) return located;
  const folder = join(dir, entry.cloud);
  const temp = join(folder, `.${entry.kind}.json.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const document = {
    version: CACHE_VERSION,
    cloud: entry.cloud,
    kind: entry.kind,
    fetchedAt: entry.fetchedAt,
    validators: entry.validators,
    ...(entry.held && Object.keys(entry.held).length > 0 ? { held: entry.held } : {}),
    text: entry.text,
  };
  let created = false;
  try {
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const handle = await open(temp, "wx", 0o600);
    created = true;
    try {
      await handle.writeFile(JSON.stringify(document), "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, located.path);
    return { ok: true, path: located.path };
  } catch (error: unknown) {
    if (created) await unlink(temp).catch(() => undefined);
    return { ok: false, reason: `cannot write ${located.path}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

