// Hundreds of probes that end at their deadline or in an error must leave no socket,
// timer or resolver behind. Own file: vitest runs each file in its own process, so
// /proc/self/fd and the active resources belong to these probes alone.
import { readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dnsProber } from "../../agent/probes/dns.js";
import type { ProbeOutcome } from "../../agent/probes/prober.js";
import { tcpProber } from "../../agent/probes/tcp.js";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.js";
import { acceptingEndpoint, closedPort, resettingEndpoint, unansweredEndpoint, type Endpoint } from "../support/listeners.js";

let unanswered: Endpoint;
let accepting: Endpoint;
let resetting: Endpoint;
let refusedPort: number;
let dnsServer: TestDnsServer;

beforeAll(async () => {
  [unanswered, accepting, resetting, refusedPort] = await Promise.all([
    unansweredEndpoint(),
    acceptingEndpoint(),
    resettingEndpoint(),
    closedPort(),
  ]);
  dnsServer = await startDnsServer({
    rules: [
      { name: "drop.test", type: "A", drop: true },
      { name: "slow.test", type: "A", delayMs: 200, answers: [{ type: "A", value: "127.0.0.1" }] },
      { name: "web.test", type: "A", answers: [{ type: "A", value: "127.0.0.1" }] },
    ],
  });
});
afterAll(async () => {
  await Promise.all([unanswered.close(), accepting.close(), resetting.close(), dnsServer.close()]);
});

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

function activeResources(): string[] {
  return process.getActiveResourcesInfo().sort();
}

/** True when every kind of resource is active no more often than in the baseline. */
function noMoreThan(baseline: readonly string[], now: readonly string[]): boolean {
  const count = (list: readonly string[], kind: string) => list.filter((k) => k === kind).length;
  return now.every((kind) => count(now, kind) <= count(baseline, kind));
}

/** Polls (bounded) until check() holds; returns whether it did. */
async function settles(check: () => boolean, withinMs = 3000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe("probers release everything", () => {
  it("leaves fds and active handles at their baseline after 400 probes that time out or fail", async () => {
    // Let the server sockets from beforeAll settle, then take the baseline.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const baselineFds = openFds();
    const baselineResources = activeResources();

    const timeoutMs = 60;
    const kinds: (() => Promise<ProbeOutcome>)[] = [
      () => tcpProber({ ip: "127.0.0.1", port: unanswered.port }, { timeoutMs }),
      () => dnsProber({ query: "drop.test", type: "A", server: dnsServer.address }, { timeoutMs }),
      () => dnsProber({ query: "slow.test", type: "A", server: dnsServer.address }, { timeoutMs }),
      () => tcpProber({ host: "drop.test", port: accepting.port, dnsServer: dnsServer.address }, { timeoutMs }),
      () => tcpProber({ host: "web.test", port: refusedPort, dnsServer: dnsServer.address }, { timeoutMs: 1000 }),
      () => tcpProber({ ip: "127.0.0.1", port: resetting.port }, { timeoutMs: 1000 }),
      () => tcpProber({ ip: "127.0.0.1", port: accepting.port }, { timeoutMs: 1000 }),
      () => tcpProber({ ip: "127.0.0.1", port: 0 }, { timeoutMs: 1000 }),
    ];
    const expected = ["timeout", "dns_timeout", "dns_timeout", "dns_timeout", "refused", "ok", "ok", "agent_error"];
    const total = 400;
    const batch = 50;
    const reasons: string[] = [];
    let peakFds = 0;
    for (let start = 0; start < total; start += batch) {
      const running = Array.from({ length: batch }, (_, i) => kinds[(start + i) % kinds.length]!());
      peakFds = Math.max(peakFds, openFds());
      for (const outcome of await Promise.all(running)) reasons.push(outcome.reason);
    }
    expect(reasons).toEqual(Array.from({ length: total }, (_, i) => expected[i % expected.length]));
    // The probes really held sockets open while they ran...
    expect(peakFds).toBeGreaterThan(baselineFds + 10);
    // ...and released them all.
    expect(await settles(() => openFds() <= baselineFds), `fds: ${openFds()} now, ${baselineFds} before`).toBe(true);
    expect(await settles(() => noMoreThan(baselineResources, activeResources())), `${activeResources().join()} now, ${baselineResources.join()} before`).toBe(true);
  });

  it("closes a cancelled resolver's sockets at the deadline, not when c-ares would give up", async () => {
    const baselineFds = openFds();
    // c-ares alone would hold each query's socket for about twice the 300 ms timeout.
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () => dnsProber({ query: "drop.test", type: "A", server: dnsServer.address }, { timeoutMs: 300 })),
    );
    expect(outcomes.every((o) => o.reason === "dns_timeout")).toBe(true);
    expect(await settles(() => openFds() <= baselineFds, 150), `fds: ${openFds()} now, ${baselineFds} before`).toBe(true);
  });
});
