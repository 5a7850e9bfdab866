// ZscalerFeeds against the stand-in config.zscaler.com over real HTTP: nothing is lost (bad
// payloads refused, last good kept), changes are judged as sets, removals wait out their grace,
// the cache carries data across restarts, and stop() leaves nothing running.
import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../agent/log/log.js";
import { readCached, writeCached } from "../../agent/zscaler/cache.js";
import { hashFeed } from "../../agent/zscaler/diff.js";
import type { FeedKind } from "../../agent/zscaler/feeds.js";
import type { FetchFailureReason } from "../../agent/zscaler/fetch.js";
import { type FeedsOptions, ZscalerFeeds, type ZscalerMetricsSink } from "../../agent/zscaler/updater.js";
import { waitFor } from "../support/wait.js";
import { fixturePayload, ZSCALER_PATHS, ZscalerServer } from "../support/zscaler-server.js";
import { mustParse, shuffled } from "./helpers.js";

const CLOUD = "zscaler.net";
const FUTURE = ZSCALER_PATHS.future;
const futurePrefixes = (JSON.parse(fixturePayload(FUTURE)) as { prefixes: string[] }).prefixes;

function futurePayload(prefixes: readonly string[], cloud = CLOUD): string {
  return JSON.stringify({ cloudName: cloud, prefixes });
}

type MetricCall =
  | { kind: "ranges"; cloud: string; feed: FeedKind; count: number }
  | { kind: "success"; cloud: string; feed: FeedKind; at: number }
  | { kind: "failure"; cloud: string; feed: FeedKind; reason: FetchFailureReason }
  | { kind: "changes"; cloud: string; feed: FeedKind; added: number; removed: number }
  | { kind: "info"; cloud: string; feed: FeedKind; hash: string };

class RecordingMetrics implements ZscalerMetricsSink {
  readonly calls: MetricCall[] = [];
  setRanges(cloud: string, feed: FeedKind, count: number): void {
    this.calls.push({ kind: "ranges", cloud, feed, count });
  }
  setLastSuccess(cloud: string, feed: FeedKind, epochSeconds: number): void {
    this.calls.push({ kind: "success", cloud, feed, at: epochSeconds });
  }
  failure(cloud: string, feed: FeedKind, reason: FetchFailureReason): void {
    this.calls.push({ kind: "failure", cloud, feed, reason });
  }
  changes(cloud: string, feed: FeedKind, added: number, removed: number): void {
    this.calls.push({ kind: "changes", cloud, feed, added, removed });
  }
  setInfo(cloud: string, feed: FeedKind, hash: string): void {
    this.calls.push({ kind: "info", cloud, feed, hash });
  }
  of<K extends MetricCall["kind"]>(kind: K): Extract<MetricCall, { kind: K }>[] {
    return this.calls.filter((call): call is Extract<MetricCall, { kind: K }> => call.kind === kind);
  }
}

interface LogLine {
  level: number;
  msg: string;
  cloud?: string;
  feed?: string;
  reason?: string;
}

interface Harness {
  feeds: ZscalerFeeds;
  metrics: RecordingMetrics;
  logs: LogLine[];
  events: string[];
  clock: { now: number };
}

let server: ZscalerServer;
let cacheRoot: string;
const running: ZscalerFeeds[] = [];

beforeAll(async () => {
  server = await ZscalerServer.start();
  cacheRoot = await mkdtemp(join(tmpdir(), "netcanary-zscaler-"));
});

afterAll(async () => {
  await server.close();
  await rm(cacheRoot, { recursive: true, force: true });
});

beforeEach(() => {
  for (const path of Object.values(ZSCALER_PATHS)) server.setPayload(path, fixturePayload(path));
  server.reset();
  server.clearRequests();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((feeds) => feeds.stop()));
});

let cacheCount = 0;
async function freshCacheDir(): Promise<string> {
  return join(cacheRoot, `cache-${++cacheCount}`);
}

function harness(overrides: Partial<FeedsOptions> = {}): Harness {
  const metrics = new RecordingMetrics();
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const clock = { now: Date.UTC(2026, 8, 1, 12, 0, 0) };
  const feeds = new ZscalerFeeds({
    clouds: [CLOUD],
    kinds: ["future"],
    fetch: { baseUrl: server.baseUrl, timeoutMs: 2000, maxBytes: 2_000_000, retries: 0, retryBaseMs: 10 },
    refreshMs: 60_000,
    maxShrinkFraction: 0.25,
    removalGraceMs: 0,
    logger: createLogger("debug", sink),
    metrics,
    now: () => clock.now,
    ...overrides,
  });
  running.push(feeds);
  const events: string[] = [];
  feeds.onChange((cloud, kind) => events.push(`${cloud}/${kind}`));
  return { feeds, metrics, logs, events, clock };
}

const warnings = (logs: LogLine[]): LogLine[] => logs.filter((line) => line.level === 40);

describe("fetching and serving", () => {
  it("the first pass serves every feed, once each, with metrics", async () => {
    const kinds: FeedKind[] = ["cenr", "hubs-required", "hubs-recommended", "future", "svpn", "zpa"];
    const { feeds, metrics, events } = harness({ kinds });
    expect(feeds.current(CLOUD, "cenr")).toBeUndefined();
    expect(feeds.status(CLOUD, "cenr").source).toBe("none");
    await feeds.refreshNow();
    for (const kind of kinds) {
      const cloud = kind === "zpa" ? "private.zscaler.com" : CLOUD;
      const expected = mustParse(kind, fixturePayload(ZSCALER_PATHS[kind]), cloud);
      expect(feeds.current(CLOUD, kind)).toEqual(expected);
      const status = feeds.status(CLOUD, kind);
      expect(status).toMatchObject({ source: "network", hash: hashFeed(expected), ranges: expected.cidrs.length, held: 0 });
      expect(metrics.of("ranges")).toContainEqual({ kind: "ranges", cloud, feed: kind, count: expected.cidrs.length });
      expect(metrics.of("info")).toContainEqual({ kind: "info", cloud, feed: kind, hash: hashFeed(expected) });
    }
    expect(feeds.current("zscloud.net", "zpa")).toBe(feeds.current(CLOUD, "zpa"));
    expect(feeds.current("zscloud.net", "future")).toBeUndefined();
    expect([...events].sort()).toEqual(kinds.map((k) => `${k === "zpa" ? "private.zscaler.com" : CLOUD}/${k}`).sort());
    expect(metrics.of("success")).toHaveLength(6);
    expect(metrics.of("changes")).toEqual([]); // first data: nothing to diff with
    expect(metrics.of("failure")).toEqual([]);
  });

  it("fetches at most `concurrency` feeds at a time", async () => {
    const kinds: FeedKind[] = ["cenr", "hubs-required", "hubs-recommended", "future", "svpn", "zpa"];
    for (const kind of kinds) server.control(ZSCALER_PATHS[kind], { headerDelayMs: 80 });
    const { feeds } = harness({ kinds, concurrency: 2 });
    await feeds.refreshNow();
    expect(server.count()).toBe(6);
    expect(server.maxConcurrent).toBe(2);
  });

  it("304 Not Modified keeps the data and counts as a success", async () => {
    const { feeds, metrics, events, clock } = harness();
    await feeds.refreshNow();
    const first = feeds.current(CLOUD, "future");
    clock.now += 60_000;
    await feeds.refreshNow();
    const [, second] = server.requests(FUTURE);
    expect(second?.headers["if-none-match"]).toMatch(/^"[0-9a-f]+"$/);
    expect(second?.status).toBe(304);
    expect(feeds.current(CLOUD, "future")).toBe(first);
    expect(events).toHaveLength(1);
    expect(metrics.of("success").map((call) => call.at)).toEqual([(clock.now - 60_000) / 1000, clock.now / 1000]);
    expect(feeds.status(CLOUD, "future")).toMatchObject({ source: "network", checkedAt: clock.now, fetchedAt: clock.now - 60_000 });
  });

  it("a failing feed with no data yet serves nothing and says why", async () => {
    server.control(FUTURE, { status: 404 });
    const { feeds, metrics, logs } = harness();
    await feeds.refreshNow();
    expect(feeds.current(CLOUD, "future")).toBeUndefined();
    const status = feeds.status(CLOUD, "future");
    expect(status.source).toBe("none");
    expect(status.lastError).toMatchObject({ reason: "http_status", status: 404 });
    expect(metrics.of("failure")).toEqual([{ kind: "failure", cloud: CLOUD, feed: "future", reason: "http_status" }]);
    expect(warnings(logs).at(-1)?.msg).toContain("no data for this feed yet");
  });
});

describe("refusing bad payloads: the last good data keeps serving", () => {
  const cases: { name: string; reason: FetchFailureReason; apply: () => void }[] = [
    { name: "an HTML page with 200", reason: "not_json", apply: () => server.control(FUTURE, { html: true }) },
    { name: "truncated JSON", reason: "not_json", apply: () => server.control(FUTURE, { truncate: 0.6 }) },
    { name: "an empty body", reason: "not_json", apply: () => server.setPayload(FUTURE, "") },
    { name: "no ranges", reason: "empty", apply: () => server.setPayload(FUTURE, futurePayload([])) },
    { name: "another cloud", reason: "wrong_cloud", apply: () => server.setPayload(FUTURE, futurePayload(futurePrefixes, "zscloud.net")) },
    { name: "a changed format", reason: "wrong_shape", apply: () => server.setPayload(FUTURE, JSON.stringify({ cloudName: CLOUD, ranges: futurePrefixes })) },
    { name: "mostly bad rows", reason: "bad_rows", apply: () => server.setPayload(FUTURE, futurePayload(futurePrefixes.map((p, i) => (i % 3 === 0 ? p : "n/a")))) },
    { name: "a sharp shrink", reason: "shrunk", apply: () => server.setPayload(FUTURE, futurePayload(futurePrefixes.slice(0, 30))) },
    { name: "a 10x payload", reason: "too_large", apply: () => server.control(FUTURE, { inflate: 10 }) },
    { name: "HTTP 500", reason: "http_status", apply: () => server.control(FUTURE, { status: 500 }) },
  ];

  it.each(cases)("$name is refused as $reason", async ({ reason, apply }) => {
    const { feeds, metrics, logs, events } = harness({ fetch: { baseUrl: server.baseUrl, timeoutMs: 2000, maxBytes: 5000, retries: 0, retryBaseMs: 10 } });
    await feeds.refreshNow();
    const good = feeds.current(CLOUD, "future");
    expect(good?.cidrs).toHaveLength(54);
    apply();

    await feeds.refreshNow();
    expect(feeds.current(CLOUD, "future")).toBe(good);
    expect(metrics.of("failure")).toEqual([{ kind: "failure", cloud: CLOUD, feed: "future", reason }]);
    const [line, ...more] = warnings(logs);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ cloud: CLOUD, feed: "future", reason });
    expect(line?.msg).toContain(`zscaler feed ${CLOUD} future`);
    expect(line?.msg).toContain(`(${reason})`);
    expect(line?.msg).toContain("keeping the last good data");
    expect(feeds.status(CLOUD, "future")).toMatchObject({ source: "network", lastError: { reason } });
    expect(events).toHaveLength(1);

    // Asked again with the last GOOD validators: the bad payload is judged again, not a 304.
    await feeds.refreshNow();
    expect(server.requests(FUTURE).at(-1)?.status).not.toBe(304);
    expect(metrics.of("failure")).toHaveLength(2);

    // Once upstream is good again, the old ETag matches and the error clears.
    server.reset();
    server.setPayload(FUTURE, fixturePayload(FUTURE));
    await feeds.refreshNow();
    expect(server.requests(FUTURE).at(-1)?.status).toBe(304);
    expect(feeds.status(CLOUD, "future").lastError).toBeUndefined();
    expect(feeds.current(CLOUD, "future")).toBe(good);
    expect(events).toHaveLength(1);
  });

  it("a shrink within the allowed fraction is accepted", async () => {
    const { feeds, metrics } = harness();
    await feeds.refreshNow();
    server.setPayload(FUTURE, futurePayload(futurePrefixes.slice(0, 44))); // lost 10 of 54: 18.5% < 25%
    await feeds.refreshNow();
    expect(feeds.current(CLOUD, "future")?.cidrs).toHaveLength(44);
    expect(metrics.of("changes")).toEqual([{ kind: "changes", cloud: CLOUD, feed: "future", added: 0, removed: 10 }]);
  });
});

describe("changes are sets", () => {
  it("a reordered payload is no change", async () => {
    const { feeds, metrics, events } = harness();
    await feeds.refreshNow();
    const hash = feeds.status(CLOUD, "future").hash;
    server.setPayload(FUTURE, JSON.stringify({ prefixes: shuffled(futurePrefixes, 11), cloudName: "ZSCALER.NET" }, null, 2));
    await feeds.refreshNow();
    expect(server.requests(FUTURE).at(-1)?.status).toBe(200);
    expect(events).toHaveLength(1);
    expect(metrics.of("changes")).toEqual([]);
    expect(metrics.of("info")).toHaveLength(1);
    expect(feeds.status(CLOUD, "future").hash).toBe(hash);
    expect(metrics.of("success")).toHaveLength(2);
  });

  it("a real change is one event with added and removed counts", async () => {
    const cacheDir = await freshCacheDir();
    const { feeds, metrics, events } = harness({ cacheDir });
    await feeds.refreshNow();
    const next = [...futurePrefixes.filter((p) => p !== "58.220.95.0/24" && p !== "64.215.22.0/24"), "192.0.2.0/24"];
    server.setPayload(FUTURE, futurePayload(shuffled(next, 3)));
    await feeds.refreshNow();
    expect(events).toEqual([`${CLOUD}/future`, `${CLOUD}/future`]);
    expect(metrics.of("changes")).toEqual([{ kind: "changes", cloud: CLOUD, feed: "future", added: 1, removed: 2 }]);
    const current = feeds.current(CLOUD, "future");
    expect(current?.cidrs).toContain("192.0.2.0/24");
    expect(current?.cidrs).not.toContain("58.220.95.0/24");
    expect(metrics.of("info").at(-1)?.hash).toBe(hashFeed(mustParse("future", futurePayload(next))));
    expect(metrics.of("ranges").at(-1)?.count).toBe(53);
    await feeds.stop(); // waits for the cache write
    expect((await readCached(cacheDir, CLOUD, "future"))?.text).toBe(server.payload(FUTURE));
  });

  it("a listener that throws does not stop the others", async () => {
    const { feeds, events, logs } = harness();
    feeds.onChange(() => {
      throw new Error("listener bug");
    });
    const seen: string[] = [];
    const unsubscribe = feeds.onChange((cloud, kind) => seen.push(`${cloud}/${kind}`));
    await feeds.refreshNow();
    expect(events).toHaveLength(1);
    expect(seen).toHaveLength(1);
    expect(logs.some((line) => line.level === 50 && line.msg.includes("listener threw"))).toBe(true);
    unsubscribe();
    server.setPayload(FUTURE, futurePayload([...futurePrefixes, "192.0.2.0/24"]));
    await feeds.refreshNow();
    expect(seen).toHaveLength(1);
    expect(events).toHaveLength(2);
  });
});

describe("removal grace", () => {
  const [a, b] = ["58.220.95.0/24", "64.215.22.0/24"];

  it("keeps removed ranges until the grace has passed, then drops them in one change", async () => {
    const { feeds, metrics, events, clock } = harness({ removalGraceMs: 1000 });
    const t0 = clock.now;
    await feeds.refreshNow();

    clock.now = t0 + 100; // a and b vanish, c appears
    server.setPayload(FUTURE, futurePayload([...futurePrefixes.filter((p) => p !== a && p !== b), "192.0.2.0/24"]));
    await feeds.refreshNow();
    expect(feeds.current(CLOUD, "future")?.cidrs).toEqual(expect.arrayContaining([a, b, "192.0.2.0/24"]));
    expect(feeds.current(CLOUD, "future")?.cidrs).toHaveLength(55);
    expect(feeds.status(CLOUD, "future").held).toBe(2);
    expect(metrics.of("changes")).toEqual([{ kind: "changes", cloud: CLOUD, feed: "future", added: 1, removed: 0 }]);
    expect(events).toHaveLength(2);

    clock.now = t0 + 600; // b comes back: for b, nothing happened
    server.setPayload(FUTURE, futurePayload([...futurePrefixes.filter((p) => p !== a), "192.0.2.0/24"]));
    await feeds.refreshNow();
    expect(feeds.status(CLOUD, "future").held).toBe(1);
    expect(events).toHaveLength(2);

    clock.now = t0 + 1099; // not yet: a was first seen missing at t0 + 100
    await feeds.refreshNow();
    expect(server.requests(FUTURE).at(-1)?.status).toBe(304);
    expect(feeds.current(CLOUD, "future")?.cidrs).toContain(a);
    expect(events).toHaveLength(2);

    clock.now = t0 + 1100;
    await feeds.refreshNow();
    expect(feeds.current(CLOUD, "future")?.cidrs).not.toContain(a);
    expect(feeds.current(CLOUD, "future")?.cidrs).toContain(b);
    expect(feeds.status(CLOUD, "future").held).toBe(0);
    expect(events).toHaveLength(3);
    expect(metrics.of("changes").at(-1)).toEqual({ kind: "changes", cloud: CLOUD, feed: "future", added: 0, removed: 1 });
    expect(feeds.current(CLOUD, "future")).toEqual(mustParse("future", server.payload(FUTURE)));
  });

  it("ranges back within the grace are no change at all", async () => {
    const { feeds, metrics, events, clock } = harness({ removalGraceMs: 1000 });
    await feeds.refreshNow();
    const before = feeds.status(CLOUD, "future").hash;
    server.setPayload(FUTURE, futurePayload(futurePrefixes.filter((p) => p !== a)));
    clock.now += 10;
    await feeds.refreshNow();
    server.setPayload(FUTURE, fixturePayload(FUTURE));
    clock.now += 2000;
    await feeds.refreshNow();
    expect(events).toHaveLength(1);
    expect(metrics.of("changes")).toEqual([]);
    expect(feeds.status(CLOUD, "future")).toMatchObject({ hash: before, held: 0 });
  });

  it("the grace is measured from the first time a range was missing, across refreshes", async () => {
    const { feeds, clock } = harness({ removalGraceMs: 1000 });
    await feeds.refreshNow();
    server.setPayload(FUTURE, futurePayload(futurePrefixes.filter((p) => p !== a)));
    for (let step = 0; step < 5; step++) {
      clock.now += 300;
      // a different payload each time, so every refresh is a fresh download
      server.setPayload(FUTURE, futurePayload(shuffled(futurePrefixes.filter((p) => p !== a), step)));
      await feeds.refreshNow();
      // first missing at +300: held at +300, +600, +900, +1200; gone at +1500
      expect(feeds.current(CLOUD, "future")?.cidrs.includes(a)).toBe(step < 4);
    }
  });

  it("while started, a timer ends the grace without waiting for a refresh", async () => {
    const { feeds, events } = harness({ removalGraceMs: 250, now: Date.now });
    feeds.start();
    await waitFor(() => events.length === 1, 3000, "the first fetch");
    server.setPayload(FUTURE, futurePayload(futurePrefixes.filter((p) => p !== a)));
    await feeds.refreshNow();
    expect(feeds.current(CLOUD, "future")?.cidrs).toContain(a);
    await waitFor(() => events.length === 2, 3000, "the grace to end");
    expect(feeds.current(CLOUD, "future")?.cidrs).not.toContain(a);
    expect(server.count(FUTURE)).toBe(2);
  });

  it("with no grace, removals apply at once", async () => {
    const { feeds } = harness({ removalGraceMs: 0 });
    await feeds.refreshNow();
    server.setPayload(FUTURE, futurePayload(futurePrefixes.filter((p) => p !== a)));
    await feeds.refreshNow();
    expect(feeds.current(CLOUD, "future")?.cidrs).not.toContain(a);
    expect(feeds.status(CLOUD, "future").held).toBe(0);
  });
});

describe("the cache", () => {
  it("a new instance serves the last good data from the cache before any fetch", async () => {
    const cacheDir = await freshCacheDir();
    const first = harness({ cacheDir, kinds: ["future", "cenr"] });
    await first.feeds.refreshNow();
    await first.feeds.stop();
    const file = join(cacheDir, CLOUD, "future.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(cacheDir, CLOUD))).mode & 0o777).toBe(0o700);

    // The network is down: nothing answers on the base URL.
    await server.close();
    try {
      const second = harness({ cacheDir, kinds: ["future", "cenr"], fetch: { baseUrl: server.baseUrl, timeoutMs: 500, maxBytes: 2_000_000, retries: 0, retryBaseMs: 10 } });
      await second.feeds.loadCache();
      expect(server.count()).toBe(2); // only the first instance's requests
      for (const kind of ["future", "cenr"] as const) {
        expect(second.feeds.current(CLOUD, kind)).toEqual(first.feeds.current(CLOUD, kind));
        expect(second.feeds.status(CLOUD, kind)).toMatchObject({ source: "cache", fetchedAt: first.clock.now, hash: first.feeds.status(CLOUD, kind).hash });
      }
      expect(second.events).toHaveLength(2);
      expect(second.metrics.of("success").map((call) => call.at)).toEqual([first.clock.now / 1000, first.clock.now / 1000]);

      await second.feeds.refreshNow();
      expect(second.feeds.status(CLOUD, "future")).toMatchObject({ source: "cache", lastError: { reason: "connection" } });
      expect(warnings(second.logs).some((line) => line.msg.includes("keeping the cached data"))).toBe(true);
      expect(second.feeds.current(CLOUD, "future")).toEqual(first.feeds.current(CLOUD, "future"));
    } finally {
      server = await ZscalerServer.start(); // a new port: the new base URL is used from here on
    }

    // With the network back, the cached validators make it a 304.
    const third = harness({ cacheDir, kinds: ["future"] });
    await third.feeds.loadCache();
    await third.feeds.refreshNow();
    expect(server.requests(FUTURE).at(-1)?.status).toBe(304);
    expect(third.feeds.status(CLOUD, "future").source).toBe("network");
    expect(third.events).toHaveLength(1);
  });

  it("held removals survive a restart through the cache", async () => {
    const cacheDir = await freshCacheDir();
    const first = harness({ cacheDir, removalGraceMs: 600_000 });
    await first.feeds.refreshNow();
    server.setPayload(FUTURE, futurePayload(futurePrefixes.filter((p) => p !== "58.220.95.0/24")));
    first.clock.now += 1000;
    await first.feeds.refreshNow();
    await first.feeds.stop();

    const second = harness({ cacheDir, removalGraceMs: 600_000 });
    second.clock.now = first.clock.now + 60_000;
    await second.feeds.loadCache();
    expect(second.feeds.current(CLOUD, "future")?.cidrs).toContain("58.220.95.0/24");
    expect(second.feeds.status(CLOUD, "future").held).toBe(1);

    const third = harness({ cacheDir, removalGraceMs: 600_000 });
    third.clock.now = first.clock.now + 600_000; // the grace ended while we were down
    await third.feeds.loadCache();
    expect(third.feeds.current(CLOUD, "future")?.cidrs).not.toContain("58.220.95.0/24");
  });

  it("a corrupt cache file is a logged miss, not a crash", async () => {
    const cacheDir = await freshCacheDir();
    await mkdir(join(cacheDir, CLOUD), { recursive: true });
    await writeFile(join(cacheDir, CLOUD, "future.json"), '{"version":1,"cloud":"zscaler.net","kind":"fut');
    await writeFile(join(cacheDir, CLOUD, "cenr.json"), JSON.stringify({ version: 99, cloud: CLOUD, kind: "cenr", text: "{}", fetchedAt: 1 }));
    const { feeds, logs, events } = harness({ cacheDir, kinds: ["future", "cenr", "svpn"] });
    await feeds.loadCache();
    expect(feeds.current(CLOUD, "future")).toBeUndefined();
    expect(feeds.status(CLOUD, "future").source).toBe("none");
    expect(events).toEqual([]);
    const lines = warnings(logs).map((line) => line.msg);
    expect(lines).toHaveLength(2); // svpn simply has no file
    expect(lines.find((msg) => msg.includes("future.json"))).toMatch(/unusable \(not JSON/);
    expect(lines.find((msg) => msg.includes("cenr.json"))).toMatch(/unusable \(version 99/);

    // The next fetch replaces the corrupt file.
    await feeds.refreshNow();
    await feeds.stop();
    expect((await readCached(cacheDir, CLOUD, "future"))?.text).toBe(server.payload(FUTURE));
  });

  it("a cached payload the current parser refuses is a logged miss", async () => {
    const cacheDir = await freshCacheDir();
    const written = await writeCached(cacheDir, { cloud: CLOUD, kind: "future", text: "<html><title>Login</title></html>", validators: { etag: '"x"' }, fetchedAt: 1 });
    expect(written.ok).toBe(true);
    const { feeds, logs } = harness({ cacheDir });
    await feeds.loadCache();
    expect(feeds.current(CLOUD, "future")).toBeUndefined();
    expect(warnings(logs)[0]).toMatchObject({ reason: "not_json" });
    await feeds.refreshNow();
    expect(server.requests(FUTURE)[0]?.headers["if-none-match"]).toBeUndefined(); // no validators of a refused payload
    expect(feeds.current(CLOUD, "future")?.cidrs).toHaveLength(54);
  });

  it("a cached payload over the size cap is a logged miss: the cache takes no more than the network", async () => {
    const cacheDir = await freshCacheDir();
    // Written by an agent that had a larger zscaler.maxBytes: the real payload, padded.
    const text = server.payload(FUTURE) + " ".repeat(6000);
    expect((await writeCached(cacheDir, { cloud: CLOUD, kind: "future", text, validators: { etag: '"big"' }, fetchedAt: 1 })).ok).toBe(true);
    const { feeds, logs, events } = harness({ cacheDir, fetch: { baseUrl: server.baseUrl, timeoutMs: 2000, maxBytes: 5000, retries: 0, retryBaseMs: 10 } });
    await feeds.loadCache();
    expect(feeds.current(CLOUD, "future")).toBeUndefined();
    expect(events).toEqual([]);
    expect(warnings(logs)).toHaveLength(1);
    expect(warnings(logs)[0]).toMatchObject({ feed: "future", reason: "too_large" });
    expect(warnings(logs)[0]?.msg).toContain(`cached payload of ${Buffer.byteLength(text)} bytes is over the 5000-byte limit`);
    // Within the cap, the network's payload is taken.
    await feeds.refreshNow();
    expect(feeds.current(CLOUD, "future")?.cidrs).toHaveLength(54);
  });

  it("a cache directory that cannot be written is logged; the data is still served", async () => {
    const cacheDir = await freshCacheDir();
    await mkdir(cacheDir, { recursive: true });
    await writeFile(join(cacheDir, CLOUD), "a file where the cloud directory should be");
    const { feeds, logs } = harness({ cacheDir });
    await feeds.refreshNow();
    await feeds.stop();
    expect(feeds.current(CLOUD, "future")?.cidrs).toHaveLength(54);
    expect(warnings(logs).some((line) => line.msg.includes("cannot write") && line.msg.includes("serving from memory only"))).toBe(true);
  });

  it("writes atomically: no temp files left, content complete", async () => {
    const cacheDir = await freshCacheDir();
    const { feeds } = harness({ cacheDir, kinds: ["cenr"] });
    await feeds.refreshNow();
    await feeds.stop();
    expect(await readdir(join(cacheDir, CLOUD))).toEqual(["cenr.json"]);
    const document = JSON.parse(await readFile(join(cacheDir, CLOUD, "cenr.json"), "utf8")) as { text: string; validators: { etag?: string } };
    expect(document.text).toBe(fixturePayload(ZSCALER_PATHS.cenr));
    expect(document.validators.etag).toMatch(/^"/);
  });

  it("readCached refuses a cloud name that is not a host name", async () => {
    const cacheDir = await freshCacheDir();
    expect(await readCached(cacheDir, "../etc", "future")).toBeUndefined();
    expect((await writeCached(cacheDir, { cloud: "../etc", kind: "future", text: "{}", validators: {}, fetchedAt: 1 })).ok).toBe(false);
  });

  it("a cache file that cannot be read as one (a FIFO left in its place) is a logged miss, at once", async () => {
    const cacheDir = await freshCacheDir();
    await writeCached(cacheDir, { cloud: CLOUD, kind: "future", text: fixturePayload(FUTURE), validators: {}, fetchedAt: 1 });
    const path = join(cacheDir, CLOUD, "future.json");
    await rm(path);
    execFileSync("mkfifo", [path]);
    const logs: { msg: string }[] = [];
    const logger = { warn: (_fields: object, msg: string) => logs.push({ msg }) } as unknown as Parameters<typeof readCached>[3];
    expect(await readCached(cacheDir, CLOUD, "future", logger)).toBeUndefined();
    expect(logs.map((log) => log.msg)).toEqual([`zscaler feed cache ${path} unusable (a FIFO, not a regular file); ignoring it`]);
  });
});

describe("running and stopping", () => {
  it("start() fetches at once and then every refreshMs", async () => {
    const { feeds } = harness({ kinds: ["future", "svpn"], refreshMs: 150 });
    feeds.start();
    await waitFor(() => server.count(FUTURE) >= 3 && server.count(ZSCALER_PATHS.svpn) >= 3, 3000, "three fetches of each feed");
    await feeds.stop();
  });

  it("a failing feed is retried sooner than refreshMs, never more often than refreshMs", async () => {
    server.control(FUTURE, { status: 500 });
    const { feeds } = harness({ refreshMs: 100 });
    feeds.start();
    await waitFor(() => server.count(FUTURE) >= 3, 3000, "repeated attempts");
    await feeds.stop();
  });

  it("stop() leaves no timers, sockets or requests behind", async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
    const before = timers();
    const { feeds } = harness({ kinds: ["future", "svpn", "cenr"], refreshMs: 100, removalGraceMs: 60_000 });
    feeds.start();
    await waitFor(() => server.count(FUTURE) >= 2, 3000, "a few fetches");
    server.setPayload(FUTURE, futurePayload(futurePrefixes.filter((p) => p !== "58.220.95.0/24")));
    await waitFor(() => feeds.status(CLOUD, "future").held === 1, 3000, "a held removal (an expiry timer)");
    expect(timers()).toBeGreaterThan(before);
    await feeds.stop();
    await waitFor(() => server.openConnections() === 0, 2000, "the feed sockets to close");
    expect(timers()).toBeLessThanOrEqual(before);
    const count = server.count();
    await sleep(300);
    expect(server.count()).toBe(count);
    await feeds.refreshNow(); // after stop: a no-op
    expect(server.count()).toBe(count);
  });

  it("stop() cancels an in-flight fetch at once, without counting a failure", async () => {
    server.control(FUTURE, { headerDelayMs: 5000 });
    const { feeds, metrics, logs } = harness({ fetch: { baseUrl: server.baseUrl, timeoutMs: 10_000, maxBytes: 2_000_000, retries: 3, retryBaseMs: 10 } });
    const pass = feeds.refreshNow();
    await waitFor(() => server.count(FUTURE) === 1, 2000, "the request to arrive");
    const started = performance.now();
    await feeds.stop();
    await pass;
    expect(performance.now() - started).toBeLessThan(1000);
    expect(metrics.of("failure")).toEqual([]);
    expect(warnings(logs)).toEqual([]);
    expect(feeds.status(CLOUD, "future").lastError).toBeUndefined();
    await waitFor(() => server.openConnections() === 0, 2000, "the socket to close");
  });
});
