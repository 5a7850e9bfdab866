// Fetching feeds over real HTTP on loopback (undici, no mocks): conditional requests, retries,
// deadlines over headers and body, the streaming size cap, and proxies.
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  backoffDelay,
  DEFAULT_BASE_URL,
  dispatcherFromEnvironment,
  type FetchOptions,
  type FetchResult,
  feedUrl,
  fetchFeedText,
  parseRetryAfter,
  proxyForUrl,
} from "../../agent/zscaler/fetch.js";
import { FEED_KINDS, parseFeed } from "../../agent/zscaler/feeds.js";
import { waitFor } from "../support/wait.js";
import { startForwardProxy, ZSCALER_PATHS, ZscalerServer } from "../support/zscaler-server.js";

let server: ZscalerServer;

beforeAll(async () => {
  server = await ZscalerServer.start();
});

afterAll(async () => {
  await server.close();
});

afterEach(() => {
  server.reset();
  server.clearRequests();
});

function options(overrides: Partial<FetchOptions> = {}): FetchOptions {
  return { baseUrl: server.baseUrl, timeoutMs: 2000, maxBytes: 1_000_000, retries: 0, retryBaseMs: 10, ...overrides };
}

function fresh(result: FetchResult): Extract<FetchResult, { kind: "fresh" }> {
  if (result.kind !== "fresh") throw new Error(`expected fresh, got ${JSON.stringify(result)}`);
  return result;
}

function failed(result: FetchResult): Extract<FetchResult, { kind: "failed" }> {
  if (result.kind !== "failed") throw new Error(`expected failed, got ${result.kind}`);
  return result;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

describe("feedUrl", () => {
  it("builds the real config.zscaler.com paths", () => {
    expect(feedUrl(DEFAULT_BASE_URL, "zscaler.net", "cenr")).toBe("https://config.zscaler.com/api/zscaler.net/cenr/json");
    expect(feedUrl(DEFAULT_BASE_URL, "zscloud.net", "hubs-required")).toBe("https://config.zscaler.com/api/zscloud.net/hubs/cidr/json/required");
    expect(feedUrl(DEFAULT_BASE_URL, "zscloud.net", "hubs-recommended")).toBe("https://config.zscaler.com/api/zscloud.net/hubs/cidr/json/recommended");
    expect(feedUrl(DEFAULT_BASE_URL, "zscaler.net", "future")).toBe("https://config.zscaler.com/api/zscaler.net/future/json");
    expect(feedUrl(DEFAULT_BASE_URL, "zscaler.net", "svpn")).toBe("https://config.zscaler.com/api/zscaler.net/svpn/json");
    expect(feedUrl(DEFAULT_BASE_URL, "zscaler.net", "zpa")).toBe("https://config.zscaler.com/api/private.zscaler.com/zpa/json");
  });

  it("tolerates a trailing slash and normalises the cloud", () => {
    expect(feedUrl("http://mirror.local:8080/zs/", " ZScaler.NET. ", "cenr")).toBe("http://mirror.local:8080/zs/zscaler.net/cenr/json");
  });

  it("matches the paths the stand-in server serves, and every fixture parses", async () => {
    for (const kind of FEED_KINDS) {
      expect(new URL(feedUrl(server.baseUrl, "zscaler.net", kind)).pathname).toBe(ZSCALER_PATHS[kind]);
      const result = fresh(await fetchFeedText("zscaler.net", kind, options()));
      expect(parseFeed(kind, kind === "zpa" ? "private.zscaler.com" : "zscaler.net", result.text).ok).toBe(true);
    }
  });
});

describe("conditional requests", () => {
  it("sends If-None-Match with a known ETag and turns 304 into not_modified", async () => {
    const path = ZSCALER_PATHS.cenr;
    const first = fresh(await fetchFeedText("zscaler.net", "cenr", options()));
    expect(first.text).toBe(server.payload(path));
    expect(first.validators.etag).toMatch(/^"[0-9a-f]{16}"$/);
    expect(first.validators.lastModified).toBe("Fri, 21 Aug 2026 10:00:00 GMT");

    const second = await fetchFeedText("zscaler.net", "cenr", options(), first.validators);
    expect(second).toEqual({ kind: "not_modified" });
    const [one, two] = server.requests(path);
    expect(one?.method).toBe("GET");
    expect(one?.headers["if-none-match"]).toBeUndefined();
    expect(two?.method).toBe("GET");
    expect(two?.headers["if-none-match"]).toBe(first.validators.etag);
    expect(two?.status).toBe(304);
    expect(two?.bytesSent).toBe(0);
  });

  it("a changed payload under an old ETag comes back fresh with new validators", async () => {
    const path = ZSCALER_PATHS.future;
    const original = server.payload(path);
    try {
      const first = fresh(await fetchFeedText("zscaler.net", "future", options()));
      server.setPayload(path, original.replace("58.220.95.0/24", "58.220.96.0/24"));
      const second = fresh(await fetchFeedText("zscaler.net", "future", options(), first.validators));
      expect(second.text).toContain("58.220.96.0/24");
      expect(second.validators.etag).not.toBe(first.validators.etag);
    } finally {
      server.setPayload(path, original);
    }
  });

  it("uses If-Modified-Since when the server sends only Last-Modified", async () => {
    const path = ZSCALER_PATHS.svpn;
    server.control(path, { etag: false });
    const first = fresh(await fetchFeedText("zscaler.net", "svpn", options()));
    expect(first.validators).toEqual({ lastModified: "Fri, 21 Aug 2026 10:00:00 GMT" });
    const second = await fetchFeedText("zscaler.net", "svpn", options(), first.validators);
    expect(second.kind).toBe("not_modified");
    expect(server.requests(path)[1]?.headers["if-modified-since"]).toBe("Fri, 21 Aug 2026 10:00:00 GMT");
    expect(server.requests(path)[1]?.headers["if-none-match"]).toBeUndefined();
  });

  it("a 304 to a request without validators is a failure, not data", async () => {
    server.control(ZSCALER_PATHS.future, { status: 304 });
    const result = failed(await fetchFeedText("zscaler.net", "future", options()));
    expect(result.reason).toBe("http_status");
    expect(result.status).toBe(304);
  });
});

describe("retries", () => {
  it("retries a 500 and succeeds on the next attempt", async () => {
    const path = ZSCALER_PATHS.future;
    server.control(path, { statusQueue: [500] });
    const result = await fetchFeedText("zscaler.net", "future", options({ retries: 2 }));
    expect(result.kind).toBe("fresh");
    expect(server.count(path)).toBe(2);
    expect(server.requests(path).map((r) => r.status)).toEqual([500, 200]);
  });

  it("gives up after `retries` retries and reports the status", async () => {
    const path = ZSCALER_PATHS.future;
    server.control(path, { status: 503 });
    const result = failed(await fetchFeedText("zscaler.net", "future", options({ retries: 3 })));
    expect(result.reason).toBe("http_status");
    expect(result.status).toBe(503);
    expect(result.message).toContain("503 Error");
    expect(result.message).toContain("after 4 attempts");
    expect(server.count(path)).toBe(4);
  });

  it("retries 429, honouring a short Retry-After", async () => {
    const path = ZSCALER_PATHS.future;
    server.control(path, { statusQueue: [429], retryAfter: "1" });
    const { value, ms } = await timed(() => fetchFeedText("zscaler.net", "future", options({ retries: 1 })));
    expect(value.kind).toBe("fresh");
    expect(server.count(path)).toBe(2);
    expect(ms).toBeGreaterThanOrEqual(950);
  });

  it("does not wait for a Retry-After beyond the limit", async () => {
    const path = ZSCALER_PATHS.future;
    server.control(path, { status: 429, retryAfter: "3600" });
    const result = failed(await fetchFeedText("zscaler.net", "future", options({ retries: 3 })));
    expect(result.status).toBe(429);
    expect(result.message).toContain("Retry-After 3600 s");
    expect(server.count(path)).toBe(1);
  });

  it("never retries a 404", async () => {
    const path = ZSCALER_PATHS.future;
    server.control(path, { status: 404 });
    const result = failed(await fetchFeedText("zscaler.net", "future", options({ retries: 3 })));
    expect(result).toMatchObject({ reason: "http_status", status: 404 });
    expect(server.count(path)).toBe(1);
  });

  it("retries connection errors, bounded", async () => {
    const port = await closedPort();
    const { value, ms } = await timed(() => fetchFeedText("zscaler.net", "future", options({ baseUrl: `http://127.0.0.1:${port}/api`, retries: 2, retryBaseMs: 20 })));
    const result = failed(value);
    expect(result.reason).toBe("connection");
    expect(result.message).toContain("ECONNREFUSED");
    expect(result.message).toContain("after 3 attempts");
    expect(ms).toBeLessThan(2000);
  });

  it("backs off exponentially with jitter, capped", () => {
    expect(backoffDelay(100, 0, () => 0)).toBe(50);
    expect(backoffDelay(100, 0, () => 1)).toBe(100);
    expect(backoffDelay(100, 3, () => 0.5)).toBe(600);
    expect(backoffDelay(1000, 20, () => 1)).toBe(30_000);
  });

  it("reads Retry-After as seconds or a date", () => {
    expect(parseRetryAfter("120")).toBe(120_000);
    expect(parseRetryAfter("Fri, 21 Aug 2026 10:00:30 GMT", Date.UTC(2026, 7, 21, 10, 0, 0))).toBe(30_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe("deadlines", () => {
  it("times out when the headers are slow", async () => {
    server.control(ZSCALER_PATHS.future, { headerDelayMs: 5000 });
    const { value, ms } = await timed(() => fetchFeedText("zscaler.net", "future", options({ timeoutMs: 300 })));
    expect(failed(value).reason).toBe("timeout");
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(300 + 500);
  });

  it("times out when the body trickles, the deadline covering the body", async () => {
    // 130 KB at 1 KB per 50 ms would take six seconds; the headers come at once.
    server.control(ZSCALER_PATHS.cenr, { trickle: { chunkBytes: 1024, intervalMs: 50 } });
    const { value, ms } = await timed(() => fetchFeedText("zscaler.net", "cenr", options({ timeoutMs: 400 })));
    const result = failed(value);
    expect(result.reason).toBe("timeout");
    expect(ms).toBeLessThan(400 + 500);
    const [record] = server.requests(ZSCALER_PATHS.cenr);
    expect(record?.status).toBe(200);
    expect(record?.bytesSent).toBeGreaterThan(0);
    expect(record?.bytesSent).toBeLessThan(record?.bodyBytes ?? 0);
  });

  it("retries a timeout, each attempt with its own deadline", async () => {
    const path = ZSCALER_PATHS.future;
    server.control(path, { headerDelayMs: 5000 });
    const { value, ms } = await timed(() => fetchFeedText("zscaler.net", "future", options({ timeoutMs: 150, retries: 2, retryBaseMs: 10 })));
    expect(failed(value).reason).toBe("timeout");
    expect(server.count(path)).toBe(3);
    expect(ms).toBeLessThan(3 * 150 + 700);
  });

  it("a cancelled signal ends the fetch at once", async () => {
    server.control(ZSCALER_PATHS.future, { headerDelayMs: 5000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const { value, ms } = await timed(() => fetchFeedText("zscaler.net", "future", options({ timeoutMs: 4000, retries: 3 }), undefined, controller.signal));
    expect(failed(value)).toMatchObject({ reason: "connection", message: "cancelled" });
    expect(ms).toBeLessThan(1000);
    expect(server.count(ZSCALER_PATHS.future)).toBe(1);
  });
});

describe("size cap", () => {
  it("refuses a declared Content-Length over the cap without reading the body", async () => {
    server.control(ZSCALER_PATHS.cenr, { inflate: 10 });
    const result = failed(await fetchFeedText("zscaler.net", "cenr", options({ maxBytes: 200_000, retries: 2 })));
    expect(result.reason).toBe("too_large");
    expect(result.message).toContain("Content-Length");
    expect(server.count(ZSCALER_PATHS.cenr)).toBe(1); // never retried
  });

  it("aborts a streamed body as soon as it passes the cap", async () => {
    // 1.3 MB in 32 KB chunks every 10 ms: about 400 ms in full; the cap is passed after about 70 ms.
    const path = ZSCALER_PATHS.cenr;
    server.control(path, { inflate: 10, trickle: { chunkBytes: 32 * 1024, intervalMs: 10 } });
    const { value, ms } = await timed(() => fetchFeedText("zscaler.net", "cenr", options({ maxBytes: 200_000 })));
    const result = failed(value);
    expect(result.reason).toBe("too_large");
    expect(ms).toBeLessThan(350);
    await waitFor(() => server.requests(path)[0]?.closedEarly === true, 2000, "the server to see the client go");
    const record = server.requests(path)[0];
    expect(record?.completed).toBe(false);
    expect(record?.bytesSent).toBeLessThan((record?.bodyBytes ?? 0) / 2);
  });

  it("caps the decoded size of a compressed body", async () => {
    const path = ZSCALER_PATHS.cenr;
    server.control(path, { inflate: 10, gzip: true });
    const result = failed(await fetchFeedText("zscaler.net", "cenr", options({ maxBytes: 500_000 })));
    expect(result.reason).toBe("too_large");
    expect(result.message).toContain("decoded");
    // Compressed whitespace is tiny: the body itself was far below the cap.
    expect(server.requests(path)[0]?.bodyBytes).toBeLessThan(100_000);
  });

  it("decodes a gzip body under the cap", async () => {
    server.control(ZSCALER_PATHS.cenr, { gzip: true });
    const result = fresh(await fetchFeedText("zscaler.net", "cenr", options()));
    expect(result.text).toBe(server.payload(ZSCALER_PATHS.cenr));
  });
});

describe("bodies are returned as text for the parser to judge", () => {
  it("an HTML page with 200 is fresh text the parser refuses as not_json", async () => {
    server.control(ZSCALER_PATHS.future, { html: true });
    const result = fresh(await fetchFeedText("zscaler.net", "future", options()));
    const parsed = parseFeed("future", "zscaler.net", result.text);
    expect(parsed.ok ? "accepted" : parsed.reason.code).toBe("not_json");
  });

  it("a truncated body is fresh text the parser refuses as not_json", async () => {
    server.control(ZSCALER_PATHS.cenr, { truncate: 0.5 });
    const result = fresh(await fetchFeedText("zscaler.net", "cenr", options()));
    const parsed = parseFeed("cenr", "zscaler.net", result.text);
    expect(parsed.ok ? "accepted" : parsed.reason.code).toBe("not_json");
  });

  it("a bad base URL is a failure value, not an exception", async () => {
    const result = failed(await fetchFeedText("zscaler.net", "future", options({ baseUrl: "not a url" })));
    expect(result.reason).toBe("connection");
    const ftp = failed(await fetchFeedText("zscaler.net", "future", options({ baseUrl: "ftp://example.invalid/api" })));
    expect(ftp.message).toContain("unsupported scheme");
  });
});

describe("credentials in the base URL", () => {
  const secret = "mirror-pw-4c1d";
  const withCredentials = (base: string) => base.replace("http://", `http://mirror-user:${secret}@`) + `?key=${secret}-q`;

  it("an HTTP error names the feed URL with its credentials hidden", async () => {
    server.control(ZSCALER_PATHS.future, { status: 404 });
    const result = failed(await fetchFeedText("zscaler.net", "future", options({ baseUrl: withCredentials(server.baseUrl) })));
    expect(result.reason).toBe("http_status");
    expect(result.message).not.toContain(secret);
    expect(result.message).toContain("http://***@127.0.0.1:");
  });

  it("a connection failure and a bad base URL hide them too", async () => {
    const port = await closedPort();
    const refused = failed(await fetchFeedText("zscaler.net", "future", options({ baseUrl: withCredentials(`http://127.0.0.1:${port}/api`) })));
    expect(refused.reason).toBe("connection");
    expect(refused.message).not.toContain(secret);
    const bad = failed(await fetchFeedText("zscaler.net", "future", options({ baseUrl: `ftp://mirror-user:${secret}@example.invalid/api` })));
    expect(bad.message).toContain("unsupported scheme");
    expect(bad.message).not.toContain(secret);
    expect(bad.message).toContain("ftp://***@example.invalid/api");
  });
});

describe("proxies", () => {
  it("proxyForUrl picks the variable by scheme and honours NO_PROXY", () => {
    const env = { HTTPS_PROXY: "http://proxy.corp:3128", http_proxy: "proxy.corp:8080" };
    expect(proxyForUrl(DEFAULT_BASE_URL, env)).toBe("http://proxy.corp:3128");
    expect(proxyForUrl("http://mirror.local/api", env)).toBe("http://proxy.corp:8080");
    expect(proxyForUrl(DEFAULT_BASE_URL, { https_proxy: "http://lower:1", HTTPS_PROXY: "http://upper:2" })).toBe("http://lower:1");
    expect(proxyForUrl(DEFAULT_BASE_URL, {})).toBeUndefined();
    expect(proxyForUrl(DEFAULT_BASE_URL, { HTTPS_PROXY: " " })).toBeUndefined();

    const excluded = (noProxy: string, url = DEFAULT_BASE_URL): boolean => proxyForUrl(url, { ...env, NO_PROXY: noProxy }) === undefined;
    expect(excluded("zscaler.com")).toBe(true);
    expect(excluded(".zscaler.com")).toBe(true);
    expect(excluded("*.zscaler.com")).toBe(true);
    expect(excluded("config.zscaler.com")).toBe(true);
    expect(excluded("localhost, .svc,config.zscaler.com:443")).toBe(true);
    expect(excluded("config.zscaler.com:8443")).toBe(false);
    expect(excluded("notzscaler.com")).toBe(false);
    expect(excluded("other.zscaler.com")).toBe(false);
    expect(excluded("*")).toBe(true);
    expect(excluded("")).toBe(false);
    expect(excluded("10.0.0.0/8", "http://10.1.2.3:8080/api")).toBe(true);
    expect(excluded("10.1.2.3", "http://10.1.2.3:8080/api")).toBe(true);
    expect(excluded("10.0.0.0/8", "http://192.168.1.1/api")).toBe(false);
    expect(excluded("::1", "http://[::1]:8080/api")).toBe(true);
    expect(excluded("[::1]:8080", "http://[::1]:8080/api")).toBe(true);
    expect(proxyForUrl(DEFAULT_BASE_URL, { ...env, no_proxy: "zscaler.com", NO_PROXY: "nothing" })).toBeUndefined();
  });

  it("dispatcherFromEnvironment returns a proxy agent only when a proxy applies", async () => {
    expect(await dispatcherFromEnvironment(DEFAULT_BASE_URL, {})).toBeUndefined();
    expect(await dispatcherFromEnvironment(DEFAULT_BASE_URL, { HTTPS_PROXY: "http://127.0.0.1:9", NO_PROXY: ".zscaler.com" })).toBeUndefined();
    const agent = await dispatcherFromEnvironment(DEFAULT_BASE_URL, { HTTPS_PROXY: "http://127.0.0.1:9" });
    expect(agent?.constructor.name).toBe("ProxyAgent");
    await agent?.close();
  });

  it("fetches an http mirror through a forward proxy named by HTTP_PROXY, with credentials", async () => {
    const proxy = await startForwardProxy();
    const withUser = proxy.url.replace("http://", "http://feeds:s3cret@");
    const dispatcher = await dispatcherFromEnvironment(server.baseUrl, { HTTP_PROXY: withUser });
    try {
      expect(dispatcher).toBeDefined();
      const result = fresh(await fetchFeedText("zscaler.net", "future", options({ ...(dispatcher ? { dispatcher } : {}) })));
      expect(result.text).toBe(server.payload(ZSCALER_PATHS.future));
      expect(proxy.targets).toEqual([`${server.origin}${ZSCALER_PATHS.future}`]);
      expect(proxy.authorizations).toEqual([`Basic ${Buffer.from("feeds:s3cret").toString("base64")}`]);
      expect(server.count(ZSCALER_PATHS.future)).toBe(1);
      const again = await fetchFeedText("zscaler.net", "future", options({ ...(dispatcher ? { dispatcher } : {}) }), result.validators);
      expect(again.kind).toBe("not_modified");
    } finally {
      await dispatcher?.close();
      await proxy.close();
    }
  });
});

/** A loopback port with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
