// The agent's own API client (agent/cluster/api.ts) on real sockets: watch events split
// across chunks, the metadata-only Accept header, and every bound: an event line, a response
// body, a quiet watch, an abort, a failed answer's Status. A hostile server is a plain HTTP
// server written for each case; the well-behaved one is the wire-true test API server.

import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { ApiError, BodyTooLargeError, listPage, METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT, requestJson, watchStream } from "../../agent/cluster/api.js";
import { KubeApiServer } from "../support/kube-api-server.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A plain HTTP server answering every request with handle; its kubeconfig. */
async function hostile(handle: (response: ServerResponse, url: string) => void): Promise<{ kubeConfig: KubeConfig; server: Server }> {
  const server = createServer((request, response) => handle(response, request.url ?? ""));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return { kubeConfig, server };
}

function collect(): { events: string[]; onEvent: (type: string, object: unknown) => void } {
  const events: string[] = [];
  return { events, onEvent: (type, object) => events.push(`${type} ${JSON.stringify(object)}`) };
}

describe("watchStream", () => {
  it("parses events split anywhere across chunks, sends the Accept asked for, and counts objects and bytes", async () => {
    let query = "";
    const { kubeConfig } = await hostile((response, url) => {
      query = url;
      response.writeHead(200, { "content-type": "application/json" });
      const text = `{"type":"ADDED","object":{"n":1}}\n{"type":"BOOKMARK","object":{"n":2}}\n{"type":"DELETED","object":{"n":"é"}}\n`;
      const bytes = Buffer.from(text);
      // One byte at a time: lines and a two-byte character are split between chunks.
      let i = 0;
      const timer = setInterval(() => {
        if (i >= bytes.length) {
          clearInterval(timer);
          response.end();
          return;
        }
        response.write(bytes.subarray(i, i + 1));
        i++;
      }, 1);
    });
    const { events, onEvent } = collect();
    let objects = 0;
    let bytes = 0;
    await watchStream(kubeConfig, "/api/v1/namespaces", { query: { resourceVersion: "5", allowWatchBookmarks: true }, accept: METADATA_WATCH_ACCEPT, signal: new AbortController().signal, inactivityMs: 5000, received: (o, b) => ((objects += o), (bytes += b)) }, onEvent);
    expect(events).toEqual(['ADDED {"n":1}', 'BOOKMARK {"n":2}', 'DELETED {"n":"é"}']);
    expect(query).toBe("/api/v1/namespaces?resourceVersion=5&allowWatchBookmarks=true&watch=true");
    expect(objects).toBe(2);
    expect(bytes).toBe(Buffer.byteLength(`{"type":"ADDED","object":{"n":1}}\n{"type":"BOOKMARK","object":{"n":2}}\n{"type":"DELETED","object":{"n":"é"}}\n`));
  });

  it("sends the metadata-only Accept header the API server negotiates on", async () => {
    const server = await KubeApiServer.start({ bookmarkIntervalMs: 50 });
    cleanups.push(() => server.stop());
    server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
    const controller = new AbortController();
    const { events, onEvent } = collect();
    const done = watchStream(server.kubeConfig(), "/api/v1/namespaces", { query: {}, accept: METADATA_WATCH_ACCEPT, signal: controller.signal, inactivityMs: 5000 }, (type, object) => {
      onEvent(type, object);
      controller.abort();
    });
    await done;
    expect(events[0]).toContain('"kind":"PartialObjectMetadata"');
    expect(server.requests.at(-1)?.headers.accept).toBe(METADATA_WATCH_ACCEPT);
    const page = await listPage(server.kubeConfig(), "/api/v1/namespaces", { accept: METADATA_LIST_ACCEPT });
    expect(page.items).toEqual([{ kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: expect.objectContaining({ name: "shop" }) }]);
  });

  it("an event line longer than its bound fails the watch; the bytes before it are not kept", async () => {
    const { kubeConfig } = await hostile((response) => {
      response.writeHead(200);
      response.write(`{"type":"ADDED","object":{}}\n`);
      // A line that never ends, 64 KiB at a time.
      const chunk = "x".repeat(64 * 1024);
      const timer = setInterval(() => (response.destroyed ? clearInterval(timer) : response.write(chunk)), 1);
    });
    const { events, onEvent } = collect();
    const failure = await watchStream(kubeConfig, "/api/v1/pods", { query: {}, signal: new AbortController().signal, inactivityMs: 5000, maxLineBytes: 1024 * 1024 }, onEvent).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(BodyTooLargeError);
    expect(String(failure)).toContain("a watch event is larger than 1048576 bytes");
    expect(events).toEqual(["ADDED {}"]);
  });

  it("a watch that goes quiet longer than the inactivity bound fails with a TimeoutError; one that never answers too", async () => {
    const { kubeConfig } = await hostile((response, url) => {
      if (url.includes("silent")) return; // never answers
      response.writeHead(200);
      response.write(`{"type":"ADDED","object":{}}\n`);
    });
    const started = Date.now();
    const quiet = await watchStream(kubeConfig, "/api/v1/pods", { query: {}, signal: new AbortController().signal, inactivityMs: 300 }, () => undefined).catch((error: unknown) => error);
    expect((quiet as Error).name).toBe("TimeoutError");
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    const silent = await watchStream(kubeConfig, "/api/v1/silent", { query: {}, signal: new AbortController().signal, inactivityMs: 60_000, connectTimeoutMs: 300 }, () => undefined).catch((error: unknown) => error);
    expect((silent as Error).name).toBe("TimeoutError");
  });

  it("an abort ends the watch quietly; a failed answer is an ApiError with the Status message; garbage is an error", async () => {
    const { kubeConfig } = await hostile((response, url) => {
      if (url.includes("forbidden")) {
        response.writeHead(403, { "content-type": "application/json" });
        response.end(JSON.stringify({ kind: "Status", code: 403, message: 'pods is forbidden: User "x" cannot watch resource "pods"' }));
        return;
      }
      response.writeHead(200);
      if (url.includes("garbage")) response.write("not json\n");
    });
    const controller = new AbortController();
    const aborted = watchStream(kubeConfig, "/api/v1/pods", { query: {}, signal: controller.signal, inactivityMs: 60_000 }, () => undefined);
    setTimeout(() => controller.abort(), 50);
    await expect(aborted).resolves.toBeUndefined();
    const forbidden = await watchStream(kubeConfig, "/api/v1/forbidden", { query: {}, signal: new AbortController().signal, inactivityMs: 60_000 }, () => undefined).catch((error: unknown) => error);
    expect(forbidden).toBeInstanceOf(ApiError);
    expect(forbidden).toMatchObject({ code: 403, message: 'GET /api/v1/forbidden: 403 pods is forbidden: User "x" cannot watch resource "pods"' });
    await expect(watchStream(kubeConfig, "/api/v1/garbage", { query: {}, signal: new AbortController().signal, inactivityMs: 60_000 }, () => undefined)).rejects.toThrow("a watch event is not JSON");
  });
});

describe("requestJson and listPage", () => {
  it("a response body beyond its bound is refused while it is read, not after", async () => {
    let written = 0;
    const { kubeConfig } = await hostile((response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.write('{"items":[');
      const chunk = `${'"x",'.repeat(16 * 1024)}`;
      const timer = setInterval(() => {
        if (response.destroyed || written > 64 * 1024 * 1024) {
          clearInterval(timer);
          response.destroy();
          return;
        }
        written += chunk.length;
        response.write(chunk);
      }, 1);
    });
    await expect(requestJson(kubeConfig, "GET", "/api/v1/pods", { maxBytes: 256 * 1024 })).rejects.toBeInstanceOf(BodyTooLargeError);
    // Stopped early: far less than the server was ready to send.
    expect(written).toBeLessThan(8 * 1024 * 1024);
  });

  it("lists with selectors and resourceVersion on the query, counting items and bytes", async () => {
    const server = await KubeApiServer.start();
    cleanups.push(() => server.stop());
    for (const [name, node] of [["a", "node-a"], ["b", "node-b"]] as const) {
      server.apply({ apiVersion: "v1", kind: "Pod", metadata: { namespace: "shop", name, labels: { app: name } }, spec: { nodeName: node, containers: [] }, status: { phase: "Running", podIP: `10.0.0.${name === "a" ? 1 : 2}` } });
    }
    let objects = 0;
    let bytes = 0;
    const page = await listPage(server.kubeConfig(), "/api/v1/pods", { fieldSelector: "spec.nodeName=node-a", labelSelector: "app in (a,b)", resourceVersion: "0", limit: 1, received: (o, b) => ((objects += o), (bytes += b)) });
    expect(page.items).toHaveLength(1);
    expect(server.requests.at(-1)?.query).toEqual({ limit: "1", fieldSelector: "spec.nodeName=node-a", labelSelector: "app in (a,b)", resourceVersion: "0" });
    expect({ objects, bytes }).toEqual({ objects: 1, bytes: server.requests.at(-1)?.bytes });
  });
});
