// The paced JSON writer gives exactly JSON.stringify's text, for any JSON value and for a
// results document, and /api/v1/results streams it: a client that leaves mid-document
// frees its turn, and the next request is served.
import { request } from "node:http";
import { Writable } from "node:stream";
import fc from "fast-check";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { Slices } from "../../agent/schedule/slices.js";
import { OutputClosed, PacedWriter } from "../../agent/server/chunks.js";
import { RESULTS_AT_ONCE, startServer } from "../../agent/server/http.js";
import { writeJson } from "../../agent/server/json.js";

/** A stream that keeps what it is given, slowly enough to fill up now and then. */
function collector(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      setImmediate(done);
    },
  });
  return Object.assign(stream, { text: () => Buffer.concat(chunks).toString("utf8") });
}

async function paced(value: unknown): Promise<string> {
  const out = collector();
  const writer = new PacedWriter(new Slices(1), out);
  await writeJson(value, writer);
  writer.end();
  await new Promise<void>((resolve) => out.end(resolve));
  return out.text();
}

function resultsDocument(count: number) {
  return {
    results: Array.from({ length: count }, (_, i) => ({
      id: `edge-${i}`,
      probe: `checkout-api-to-payments-${i}`,
      target: "10.0.0.1",
      intent: i % 3 === 0 ? null : "allow",
      policy: { verdict: "deny", explanation: { summary: 'denied by "shop/default-deny"', lines: ["egress: none of 2 policies allows it", "naïve ünïcode"], cniDependent: false } },
      observed: i % 2 ? null : { reason: "timeout", durationSeconds: 2.0001, at: new Date(0).toISOString(), detail: "line\nbreak \\ and \"quotes\"" },
      signals: [],
      empty: {},
      skipped: undefined,
    })),
  };
}

describe("writeJson", () => {
  it("writes exactly JSON.stringify(value, null, 2) for any JSON value", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        expect(await paced(value)).toBe(JSON.stringify(value, null, 2));
      }),
      { numRuns: 300 },
    );
  });

  it("writes a results document exactly as JSON.stringify does, members left out where it leaves them out", async () => {
    const document = resultsDocument(300);
    expect(await paced(document)).toBe(JSON.stringify(document, null, 2));
    const odd = { a: [undefined, () => 1, 1], b: undefined, c: new Date(0), d: [[], {}, [[{ deep: [1, { deeper: true }] }]]] };
    expect(await paced(odd)).toBe(JSON.stringify(odd, null, 2));
  });

  it("stops with OutputClosed when its output closes midway", async () => {
    const out = collector();
    const writer = new PacedWriter(new Slices(1), out);
    const writing = writeJson(resultsDocument(20_000), writer);
    setImmediate(() => out.destroy());
    await expect(writing).rejects.toBeInstanceOf(OutputClosed);
  });
});

describe("/api/v1/results, streamed", () => {
  it("a client that leaves mid-document frees its turn: more clients than turns all get their document", async () => {
    const document = resultsDocument(20_000);
    const server = await startServer({ registry: new Registry(), readiness: () => ({ ready: true }), results: () => document }, { host: "127.0.0.1", port: 0 });
    try {
      // More clients than turns leave after the first bytes.
      await Promise.all(
        Array.from({ length: RESULTS_AT_ONCE + 2 }, () => new Promise<void>((resolve, reject) => {
          const req = request({ host: "127.0.0.1", port: server.address.port, path: "/api/v1/results" }, (res) => {
            res.once("data", () => {
              req.destroy();
              resolve();
            });
          });
          req.on("error", (error) => (req.destroyed ? resolve() : reject(error)));
          req.end();
        })),
      );
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: server.address.port, path: "/api/v1/results", timeout: 60_000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        });
        req.on("timeout", () => req.destroy(new Error("no answer: the abandoned documents still hold their turns")));
        req.on("error", reject);
        req.end();
      });
      expect(body).toBe(`${JSON.stringify(document, null, 2)}\n`);
    } finally {
      await server.close();
    }
  }, 90_000);
});
