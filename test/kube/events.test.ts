// The Events recorder against the wire-true Kubernetes API test server, driven by the
// real @kubernetes/client-node: content, dedupe (POST then PATCH of count), per-edge
// aggregation, the token bucket, failures (403, 5xx, 404, timeouts, a stopped server)
// and close() within its deadline.

import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { type EventRecorderOptions, EventRecorder, MAX_MESSAGE_BYTES, messageForChange, reasonForChange, truncateUtf8 } from "../../agent/daemon/events.js";
import type { ProbeConfig } from "../../agent/config/model.js";
import { createLogger, type Logger } from "../../agent/log/log.js";
import { concreteTargets, type Edge, edgeFor } from "../../agent/targets/edges.js";
import { type EdgeRecord, newEdgeRecord, type StatusChange, withOutcome } from "../../agent/verdicts/edge-state.js";
import type { EdgeStatus, SignalKind } from "../../agent/verdicts/judge.js";
import type { EdgePolicy, SourceIdentity } from "../../agent/verdicts/policy.js";
import { KubeApiServer, type KubeObject, type RequestRecord } from "../support/kube-api-server.js";

// ---------------------------------------------------------------------------------
// Helpers

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(predicate: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

const NS = "apps";
const POD_NAME = "frontend-7d9f8c-x2k4q";
const SUMMARY = "allow: egress allowed by apps/allow-api spec.egress[0]; ingress not isolated";

const SOURCE: SourceIdentity = { name: "frontend", namespace: NS, node: "node-a", workload: "frontend" };

function probe(name: string, host = "api.example.com", port = 443, expect: "allow" | "deny" | null = null): ProbeConfig {
  return {
    name,
    sources: ["frontend"],
    expect,
    schedule: { kind: "interval", intervalMs: 10_000 },
    target: { kind: "tcp", host, port },
    timeoutMs: 2000,
    failureThreshold: 3,
    successThreshold: 2,
  };
}

function edge(name = "web-api", host = "api.example.com", port = 443, expect: "allow" | "deny" | null = null): Edge {
  const config = probe(name, host, port, expect);
  const [target] = concreteTargets(config.target, undefined);
  if (!target) throw new Error("a tcp host target is one concrete target");
  return edgeFor(config, SOURCE, target);
}

function policy(summary = SUMMARY, stance: "allow" | "deny" = "allow"): EdgePolicy {
  return { stance, summary, lines: [summary], egressRule: "apps/allow-api spec.egress[0]", ingressRule: "not_isolated", cniDependent: false };
}

function isSignal(status: EdgeStatus): status is SignalKind {
  return status === "unexpected_block" || status === "unexpected_allow" || status === "intent_violation";
}

/** A status change of an edge expected to allow (by policy). */
function change(from: EdgeStatus, to: EdgeStatus, options: { readonly edge?: Edge; readonly policy?: EdgePolicy } = {}): StatusChange {
  const blocked = to === "unexpected_block";
  const record: EdgeRecord = {
    edge: options.edge ?? edge(),
    policy: options.policy ?? policy(),
    hysteresis: { expected: "allow", consecutiveConsistent: blocked ? 0 : 2, consecutiveInconsistent: blocked ? 3 : 0, raised: blocked, settled: true },
    signals: isSignal(to) ? [to] : [],
    status: to,
    expectedFrom: "policy",
    observed: blocked
      ? { reason: "timeout", durationSeconds: 2, at: "2025-01-01T00:00:00.000Z", address: "10.0.3.7", detail: "no answer within 2000 ms", starved: false }
      : { reason: "ok", durationSeconds: 0.01, at: "2025-01-01T00:00:00.000Z", address: "10.0.3.7", starved: false },
  };
  return { from, to, record };
}

interface Logs {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown>>;
}

function captureLogs(): Logs {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger("info", stream), lines };
}

interface Setup {
  readonly server: KubeApiServer;
  readonly recorder: EventRecorder;
  readonly logs: Logs;
  readonly pod: { readonly namespace: string; readonly name: string; readonly uid: string };
}

/** A server with the namespace and the source Pod, and a recorder with short timings. */
async function setup(options: Partial<EventRecorderOptions> = {}): Promise<Setup> {
  const server = await KubeApiServer.start();
  cleanups.push(() => server.stop());
  server.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  const stored = server.apply({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: NS, name: POD_NAME, labels: { app: "frontend" } },
    spec: { nodeName: "node-a", containers: [{ name: "main", image: "registry.example/frontend:1" }] },
    status: { phase: "Running", podIP: "10.0.1.5" },
  });
  const uid = stored.metadata.uid ?? "";
  expect(uid).not.toBe("");
  const logs = captureLogs();
  const recorder = new EventRecorder({
    kubeConfig: server.kubeConfig(),
    component: "netcanary",
    host: "node-a",
    logger: logs.logger,
    perEdgeIntervalMs: 0,
    closeTimeoutMs: 500,
    requestTimeoutMs: 2000,
    retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 50 },
    ...options,
  });
  cleanups.push(() => recorder.close());
  return { server, recorder, logs, pod: { namespace: NS, name: POD_NAME, uid } };
}

function events(server: KubeApiServer): KubeObject[] {
  return server.list("Event", NS);
}

function eventWrites(server: KubeApiServer): RequestRecord[] {
  return server.requests.filter((r) => r.resource === "events" && (r.method === "POST" || r.method === "PATCH"));
}

function byReason(server: KubeApiServer, reason: string): KubeObject {
  const found = events(server).filter((e) => e["reason"] === reason);
  expect(found).toHaveLength(1);
  return found[0] as KubeObject;
}

// ---------------------------------------------------------------------------------

describe("event content", () => {
  it("maps status changes to a bounded set of reasons and types; start-up transitions post nothing", () => {
    expect(reasonForChange("ok", "unexpected_block")).toEqual({ reason: "UnexpectedBlock", type: "Warning" });
    expect(reasonForChange("pending", "unexpected_allow")).toEqual({ reason: "UnexpectedAllow", type: "Warning" });
    expect(reasonForChange("ok", "intent_violation")).toEqual({ reason: "IntentViolation", type: "Warning" });
    expect(reasonForChange("unexpected_block", "intent_violation")).toEqual({ reason: "IntentViolation", type: "Warning" });
    expect(reasonForChange("unexpected_block", "ok")).toEqual({ reason: "EdgeRecovered", type: "Normal" });
    expect(reasonForChange("intent_violation", "ok")).toEqual({ reason: "EdgeRecovered", type: "Normal" });
    expect(reasonForChange("unexpected_allow", "unknown")).toEqual({ reason: "EdgeUnknown", type: "Normal" });
    expect(reasonForChange("unexpected_block", "pending")).toEqual({ reason: "EdgeUnknown", type: "Normal" });
    expect(reasonForChange("pending", "ok")).toBeUndefined();
    expect(reasonForChange("ok", "pending")).toBeUndefined();
    expect(reasonForChange("unknown", "pending")).toBeUndefined();
    expect(reasonForChange("ok", "unknown")).toBeUndefined();
  });

  it("an intent violation judged from policy alone says so: intent, no sample, the policy summary", () => {
    const base = change("ok", "intent_violation", { edge: edge("no-db", "db.internal", 5432, "deny") });
    const { observed: _observed, ...record } = base.record;
    expect(messageForChange({ ...base, record })).toBe(`intent_violation (was ok): probe no-db from frontend to db.internal:5432/TCP; not probed yet; expected allow (from policy); intent deny; policy ${SUMMARY}`);
    const multiline = change("ok", "unexpected_block", { policy: policy("allow: first\nsecond\tthird") });
    expect(messageForChange(multiline)).toMatch(/policy allow: first second third$/);
  });

  it("truncates to 1024 bytes of UTF-8 on a character boundary", () => {
    expect(truncateUtf8("short")).toBe("short");
    const ascii = truncateUtf8("x".repeat(5000));
    expect(Buffer.byteLength(ascii)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(ascii.endsWith("…")).toBe(true);
    const wide = truncateUtf8("é🙂".repeat(1000));
    expect(Buffer.byteLength(wide)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(Buffer.byteLength(wide)).toBeGreaterThan(MAX_MESSAGE_BYTES - 8);
    expect(wide).not.toContain("\uFFFD");
    expect(Buffer.from(wide, "utf8").toString("utf8")).toBe(wide);
  });
});

describe("EventRecorder", () => {
  it("a raised signal posts one Warning Event on the source Pod; clearing it posts a Normal EdgeRecovered", async () => {
    const { server, recorder, pod } = await setup();
    // Real verdict records: three timeouts against an expected allow raise unexpected_block.
    let record = newEdgeRecord(edge(), policy());
    const at = new Date("2025-01-01T00:00:00Z");
    const changes: StatusChange[] = [];
    const sample = (reason: "timeout" | "ok"): void => {
      const next = withOutcome(record, { reason, durationSeconds: 2, phases: {}, address: "10.0.3.7", ...(reason === "timeout" ? { detail: "no answer within 2000 ms" } : {}) }, false, policy(), undefined, at);
      record = next.record;
      if (next.change) changes.push(next.change);
    };
    for (let i = 0; i < 3; i++) sample("timeout");
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual(["pending->unexpected_block"]);

    expect(recorder.recordStatusChange(changes[0] as StatusChange, pod)).toBe("queued");
    await waitFor(() => recorder.stats().posted === 1, 3000, "the POST");
    const warning = byReason(server, "UnexpectedBlock");
    expect(warning).toMatchObject({
      apiVersion: "v1",
      kind: "Event",
      type: "Warning",
      count: 1,
      involvedObject: { apiVersion: "v1", kind: "Pod", namespace: NS, name: POD_NAME, uid: pod.uid },
      source: { component: "netcanary", host: "node-a" },
      reportingComponent: "netcanary.io/agent",
      reportingInstance: "node-a",
      action: "Probe",
      metadata: { namespace: NS, annotations: { "netcanary.io/edge": edge().id } },
    });
    expect(warning.metadata.name).toMatch(new RegExp(`^${POD_NAME}\\.[0-9a-f]{16}$`));
    expect(typeof warning["firstTimestamp"]).toBe("string");
    expect(warning["firstTimestamp"]).toBe(warning["lastTimestamp"]);
    const message = String(warning["message"]);
    expect(message).not.toContain("\n");
    for (const part of ["web-api", "frontend", "api.example.com:443/TCP", "10.0.3.7", "timeout", "no answer within 2000 ms", "expected allow (from policy)", SUMMARY]) {
      expect(message).toContain(part);
    }
    expect(message).toBe(
      `unexpected_block (was pending): probe web-api from frontend to api.example.com:443/TCP at 10.0.3.7; observed timeout (no answer within 2000 ms); expected allow (from policy); policy ${SUMMARY}`,
    );
    expect(eventWrites(server).map((r) => `${r.method} ${r.path} ${String(r.status)}`)).toEqual([`POST /api/v1/namespaces/${NS}/events 201`]);

    // Two successes clear it.
    for (let i = 0; i < 2; i++) sample("ok");
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual(["pending->unexpected_block", "unexpected_block->ok"]);
    expect(recorder.recordStatusChange(changes[1] as StatusChange, pod)).toBe("queued");
    await waitFor(() => recorder.stats().posted === 2, 3000, "the second POST");
    const recovered = byReason(server, "EdgeRecovered");
    expect(recovered).toMatchObject({ type: "Normal", count: 1, involvedObject: { name: POD_NAME, uid: pod.uid } });
    expect(String(recovered["message"])).toMatch(/^ok \(was unexpected_block\): probe web-api from frontend to api\.example\.com:443\/TCP at 10\.0\.3\.7; observed ok; /);
    expect(recovered.metadata.name).not.toBe(warning.metadata.name);

    // Start-up transitions are not Events.
    expect(recorder.recordStatusChange(change("pending", "ok"), pod)).toBe("ignored");
    expect(recorder.stats()).toEqual({ posted: 2, patched: 0, dropped: 0, failed: 0, coalesced: 0, queued: 0 });
  });

  it("the same change 5 times within the window is ONE Event with count 5: 1 POST and 4 merge PATCHes", async () => {
    const { server, recorder, pod } = await setup();
    const raised = change("ok", "unexpected_block");
    for (let i = 1; i <= 5; i++) {
      recorder.recordStatusChange(raised, pod);
      await waitFor(() => eventWrites(server).length === i && eventWrites(server).every((r) => r.status !== undefined), 3000, `write ${i}`);
    }
    const stored = events(server);
    expect(stored).toHaveLength(1);
    const event = stored[0] as KubeObject;
    expect(event["count"]).toBe(5);
    const writes = eventWrites(server);
    expect(writes.map((r) => r.method)).toEqual(["POST", "PATCH", "PATCH", "PATCH", "PATCH"]);
    expect(writes.slice(1).every((r) => r.name === event.metadata.name && r.headers["content-type"] === "application/merge-patch+json" && r.status === 200)).toBe(true);
    expect(writes.slice(1).map((r) => (r.body as { count: number }).count)).toEqual([2, 3, 4, 5]);
    expect(Date.parse(String(event["lastTimestamp"]))).toBeGreaterThanOrEqual(Date.parse(String(event["firstTimestamp"])));
    // The recorder counts a write once its response is in, a moment after the server stored it.
    await waitFor(() => recorder.stats().patched === 4, 3000, "the last PATCH counted");
    expect(recorder.stats()).toMatchObject({ posted: 1, patched: 4, failed: 0, dropped: 0 });

    // A different edge is a different Event.
    recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge("db", "db.internal", 5432) }), pod);
    await waitFor(() => events(server).length === 2, 3000, "the second Event");
    const other = events(server).find((e) => e.metadata.name !== event.metadata.name) as KubeObject;
    expect(other).toMatchObject({ reason: "UnexpectedBlock", count: 1 });
    expect(String(other["message"])).toContain("db.internal:5432/TCP");
    expect(other.metadata.name?.startsWith(`${POD_NAME}.`)).toBe(true);
  });

  it("changes arriving while a write is queued are coalesced into its count", async () => {
    const { server, recorder, pod } = await setup({ perEdgeIntervalMs: 30_000 });
    const raised = change("ok", "unexpected_block");
    const outcomes = Array.from({ length: 5 }, () => recorder.recordStatusChange(raised, pod));
    expect(outcomes).toEqual(["queued", "coalesced", "coalesced", "coalesced", "coalesced"]);
    await waitFor(() => recorder.stats().posted === 1, 3000, "the POST");
    expect(events(server).map((e) => e["count"])).toEqual([5]);
    expect(eventWrites(server)).toHaveLength(1);
    expect(recorder.stats()).toMatchObject({ posted: 1, coalesced: 4, queued: 0 });
  });

  it("a flapping edge is written at most once per interval; the flaps are aggregated into the counts", async () => {
    const intervalMs = 300;
    const { server, recorder, pod } = await setup({ perEdgeIntervalMs: intervalMs });
    const raised = change("ok", "unexpected_block");
    const cleared = change("unexpected_block", "ok");
    recorder.recordStatusChange(raised, pod);
    await waitFor(() => recorder.stats().posted === 1, 3000, "the first POST");
    // Flaps within the interval: nothing is written at once.
    recorder.recordStatusChange(cleared, pod);
    recorder.recordStatusChange(raised, pod);
    recorder.recordStatusChange(cleared, pod);
    recorder.recordStatusChange(raised, pod);
    await sleep(50);
    expect(eventWrites(server)).toHaveLength(1);
    await waitFor(() => eventWrites(server).length === 3 && recorder.stats().queued === 0 && recorder.stats().patched === 1, 5000, "the aggregated writes");
    const writes = eventWrites(server);
    // Oldest latest-occurrence first: the final write is the edge's current state.
    expect(writes.map((r) => `${r.method} ${String((r.body as { reason?: string }).reason ?? "")}`)).toEqual(["POST UnexpectedBlock", "POST EdgeRecovered", "PATCH "]);
    for (let i = 1; i < writes.length; i++) expect((writes[i] as RequestRecord).at - (writes[i - 1] as RequestRecord).at).toBeGreaterThanOrEqual(intervalMs / 2);
    expect(byReason(server, "UnexpectedBlock")["count"]).toBe(3);
    expect(byReason(server, "EdgeRecovered")["count"]).toBe(2);
    expect(recorder.stats()).toMatchObject({ posted: 2, patched: 1, coalesced: 2, dropped: 0, failed: 0 });
  });

  it("after the dedupe window the same change starts a new Event", async () => {
    let clock = Date.parse("2025-06-01T12:00:00Z");
    const windowMs = 60_000;
    const { server, recorder, pod } = await setup({ dedupeWindowMs: windowMs, now: () => clock });
    const raised = change("ok", "unexpected_block");
    recorder.recordStatusChange(raised, pod);
    await waitFor(() => recorder.stats().posted === 1, 3000, "the POST");
    clock += windowMs - 1;
    recorder.recordStatusChange(raised, pod);
    await waitFor(() => recorder.stats().patched === 1, 3000, "the PATCH");
    expect(events(server)).toHaveLength(1);
    expect(events(server)[0]).toMatchObject({ count: 2, firstTimestamp: "2025-06-01T12:00:00.000Z", lastTimestamp: "2025-06-01T12:00:59.999Z" });
    clock += windowMs + 1;
    recorder.recordStatusChange(raised, pod);
    await waitFor(() => recorder.stats().posted === 2, 3000, "a new POST");
    expect(events(server).map((e) => Number(e["count"])).sort()).toEqual([1, 2]);
    const names = new Set(events(server).map((e) => e.metadata.name));
    expect(names.size).toBe(2);
  });

  it("a burst of 100 changes: at most `burst` writes at once, the rest dropped when the queue is full or at close", async () => {
    const { server, recorder, pod } = await setup({ rateLimit: { burst: 5, perSecond: 0.001 }, maxQueue: 20, closeTimeoutMs: 200 });
    const outcomes = Array.from({ length: 100 }, (_, i) => recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge(`probe-${i}`) }), pod));
    expect(outcomes.filter((o) => o === "queued")).toHaveLength(20);
    expect(outcomes.filter((o) => o === "dropped")).toHaveLength(80);
    await waitFor(() => recorder.stats().posted === 5, 3000, "the burst");
    await sleep(150);
    expect(server.countRequests({ resource: "events", method: "POST" })).toBe(5);
    expect(recorder.stats()).toMatchObject({ posted: 5, dropped: 80, queued: 15, failed: 0 });

    const began = Date.now();
    await recorder.close();
    expect(Date.now() - began).toBeLessThan(1500);
    expect(recorder.stats()).toMatchObject({ posted: 5, dropped: 95, queued: 0 });
    expect(server.countRequests({ resource: "events", method: "POST" })).toBe(5);
    // Closed: further changes are dropped, not written.
    expect(recorder.recordStatusChange(change("ok", "unexpected_block"), pod)).toBe("dropped");
  });

  it("after the burst, the bucket refills at its rate", async () => {
    const { server, recorder, pod } = await setup({ rateLimit: { burst: 2, perSecond: 20 } });
    for (let i = 0; i < 6; i++) recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge(`probe-${i}`) }), pod);
    await waitFor(() => recorder.stats().posted === 6, 3000, "all six");
    const posts = eventWrites(server);
    expect(posts).toHaveLength(6);
    // Four writes beyond the burst at 20/s: at least ~150 ms after the second one.
    expect((posts[5] as RequestRecord).at - (posts[1] as RequestRecord).at).toBeGreaterThanOrEqual(150);
  });

  it("403 Forbidden: no throw, counted as failed, logged once; counted occurrences are kept for the next write", async () => {
    const { server, recorder, logs, pod } = await setup();
    const forbidden = server.forbid({ resource: "events" });
    const first = change("ok", "unexpected_block");
    expect(() => {
      recorder.recordStatusChange(first, pod);
      recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge("b") }), pod);
      recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge("c") }), pod);
    }).not.toThrow();
    await waitFor(() => recorder.stats().failed === 3, 3000, "three failures");
    // Not retried: one request per write.
    expect(eventWrites(server).map((r) => r.status)).toEqual([403, 403, 403]);
    const warnings = logs.lines.filter((l) => l["kind"] === "forbidden");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, code: 403, namespace: NS, reason: "UnexpectedBlock" });
    expect(String(warnings[0]?.["error"])).toContain('cannot create resource "events"');
    expect(String(warnings[0]?.["msg"])).toContain("create and patch on events");
    expect(recorder.stats()).toMatchObject({ posted: 0, failed: 3, dropped: 0 });

    // Granted: the next occurrence of the first edge creates its Event, counting both.
    forbidden.remove();
    recorder.recordStatusChange(first, pod);
    await waitFor(() => recorder.stats().posted === 1, 3000, "the POST");
    expect(events(server).map((e) => e["count"])).toEqual([2]);
    expect(logs.lines.filter((l) => l["kind"] === "forbidden")).toHaveLength(1);
  });

  it("5xx is retried with backoff, a bounded number of times; 404 (namespace gone) is not retried", async () => {
    const { server, recorder, logs, pod } = await setup();
    server.failWith({ resource: "events", method: "POST" }, 503, { times: 2, reason: "ServiceUnavailable", message: "etcd is down" });
    recorder.recordStatusChange(change("ok", "unexpected_block"), pod);
    await waitFor(() => recorder.stats().posted === 1, 3000, "the POST after retries");
    expect(eventWrites(server).map((r) => r.status)).toEqual([503, 503, 201]);

    server.clearRequests();
    const failing = server.failWith({ resource: "events", method: "POST" }, 500, { times: 10 });
    recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge("b") }), pod);
    await waitFor(() => recorder.stats().failed === 1, 3000, "the failure");
    expect(eventWrites(server).map((r) => r.status)).toEqual([500, 500, 500]);
    expect(logs.lines.filter((l) => l["kind"] === "server_error")).toHaveLength(1);

    failing.remove();
    server.clearRequests();
    recorder.recordStatusChange(change("ok", "unexpected_block"), { namespace: "gone", name: "old-pod" });
    await waitFor(() => recorder.stats().failed === 2, 3000, "the 404");
    expect(eventWrites(server).map((r) => r.status)).toEqual([404]);
    expect(logs.lines.filter((l) => l["kind"] === "not_found")).toHaveLength(1);
  });

  it("an Event deleted on the server (TTL) is created again under its name on the next occurrence", async () => {
    const { server, recorder, pod } = await setup();
    const raised = change("ok", "unexpected_block");
    recorder.recordStatusChange(raised, pod);
    await waitFor(() => recorder.stats().posted === 1, 3000, "the POST");
    const name = events(server)[0]?.metadata.name as string;
    server.remove("Event", NS, name);
    recorder.recordStatusChange(raised, pod);
    await waitFor(() => recorder.stats().posted === 2, 3000, "the second POST");
    expect(eventWrites(server).map((r) => `${r.method} ${String(r.status)}`)).toEqual(["POST 201", "PATCH 404", "POST 201"]);
    expect(events(server)).toMatchObject([{ metadata: { name }, count: 2 }]);
  });

  it("a stopped server: calls return at once and close() resolves within its deadline", async () => {
    const { server, recorder, pod } = await setup({ closeTimeoutMs: 400, retry: { attempts: 3, initialDelayMs: 1000, maxDelayMs: 1000 } });
    await server.stop();
    const began = Date.now();
    expect(recorder.recordStatusChange(change("ok", "unexpected_block"), pod)).toBe("queued");
    expect(recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge("b") }), pod)).toBe("queued");
    expect(Date.now() - began).toBeLessThan(50);
    await sleep(50);
    const closing = Date.now();
    await recorder.close();
    expect(Date.now() - closing).toBeLessThan(1500);
    const stats = recorder.stats();
    expect(stats.posted).toBe(0);
    // The write in backoff is aborted (failed); the one behind it is dropped.
    expect(stats.failed + stats.dropped).toBe(2);
    expect(stats.queued).toBe(0);
  });

  it("a hung API server: requests time out (retried, bounded) and close() aborts what is in flight", async () => {
    const { server, recorder, logs, pod } = await setup({ requestTimeoutMs: 150, retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 10 }, closeTimeoutMs: 200 });
    const hold = server.hold({ resource: "events" });
    recorder.recordStatusChange(change("ok", "unexpected_block"), pod);
    await waitFor(() => recorder.stats().failed === 1, 3000, "the timeout");
    expect(hold.hits).toBe(2);
    expect(logs.lines.filter((l) => l["kind"] === "timeout")).toHaveLength(1);

    recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge("b") }), pod);
    await waitFor(() => hold.hits >= 3, 3000, "a held request");
    const began = Date.now();
    await recorder.close();
    expect(Date.now() - began).toBeLessThan(1500);
    expect(recorder.stats()).toMatchObject({ posted: 0, failed: 2 });
  });

  it("truncates the message to the API limit, keeping its head", async () => {
    const { server, recorder, pod } = await setup();
    const long = `allow: ${"egress allowed by apps/allow-élan spec.egress[0]; ".repeat(60)}`;
    recorder.recordStatusChange(change("ok", "unexpected_block", { policy: policy(long) }), pod);
    await waitFor(() => recorder.stats().posted === 1, 3000, "the POST");
    const message = String(events(server)[0]?.["message"]);
    expect(Buffer.byteLength(message, "utf8")).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(Buffer.byteLength(message, "utf8")).toBeGreaterThan(MAX_MESSAGE_BYTES - 8);
    expect(message.endsWith("…")).toBe(true);
    expect(message.startsWith("unexpected_block (was ok): probe web-api from frontend to api.example.com:443/TCP")).toBe(true);
  });

  it("reports every count through onResult", async () => {
    const results: string[] = [];
    const { server, recorder, pod } = await setup({ onResult: (result, n) => results.push(`${result}:${n}`), maxQueue: 1 });
    const raised = change("ok", "unexpected_block");
    recorder.recordStatusChange(raised, pod);
    recorder.recordStatusChange(raised, pod);
    recorder.recordStatusChange(change("ok", "unexpected_block", { edge: edge("b") }), pod);
    await waitFor(() => recorder.stats().posted === 1, 3000, "the POST");
    recorder.recordStatusChange(raised, pod);
    await waitFor(() => recorder.stats().patched === 1, 3000, "the PATCH");
    expect(results).toEqual(["coalesced:1", "dropped:1", "posted:1", "patched:1"]);
    expect(events(server).map((e) => e["count"])).toEqual([3]);
  });
});
