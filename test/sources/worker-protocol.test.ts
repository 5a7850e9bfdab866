// The worker protocol's pure parts (request checks, result lines, the deadline, nsenter's
// complaints as captured from util-linux 2.38), and the built worker script run directly
// (no namespace: that is test/system/workers.test.ts) against listeners on loopback.
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCidr } from "../../agent/addresses/ip.js";
import type { HttpTarget, ProbeCall, ProbeOutcome } from "../../agent/probes/index.js";
import { checkWorkerRequest, encodeWorkerRequest, needsPodResolvers, parseWorkerResult, POD_RESOLVERS_BUDGET_MS, workerDeadlineMs, type WorkerRequest } from "../../agent/probes/worker-protocol.js";
import { describeNsenterFailure } from "../../agent/sources/workers.js";
import { startDnsServer } from "../support/dns-server.js";
import { startHttpOrigin } from "../support/http-origin.js";
import { runCommand } from "../support/lab.js";

const WORKER = join(import.meta.dirname, "..", "..", "dist", "probes", "worker.js");

const tcp = (id: string, port: number, timeoutMs = 1000) => ({ id, call: { kind: "tcp", target: { ip: "127.0.0.1", port } }, timeoutMs });

describe("checkWorkerRequest", () => {
  it("accepts a request and normalizes the DNS servers to setServers() form", () => {
    const checked = checkWorkerRequest({ probes: [tcp("a", 80)], concurrency: 4, dnsServers: ["10.96.0.10", "fd00::a", "[fd00::b]:5353", "10.0.0.1:53"] });
    expect(checked).toEqual({
      ok: true,
      value: { probes: [tcp("a", 80)], concurrency: 4, dnsServers: ["10.96.0.10:53", "[fd00::a]:53", "[fd00::b]:5353", "10.0.0.1:53"] },
    });
    expect(checkWorkerRequest({ probes: [], concurrency: 1 })).toEqual({ ok: true, value: { probes: [], concurrency: 1 } });
    expect(checkWorkerRequest({ probes: [], concurrency: 1, resolvConfRoots: ["/proc/7/root", "/proc/8/root"] })).toEqual({ ok: true, value: { probes: [], concurrency: 1, resolvConfRoots: ["/proc/7/root", "/proc/8/root"] } });
    expect(checkWorkerRequest({ probes: [], concurrency: 1, expectNetns: "net:[4026532001]", expectAddress: "FD00::0:7" })).toEqual({
      ok: true,
      value: { probes: [], concurrency: 1, expectNetns: "net:[4026532001]", expectAddress: "fd00::7" },
    });
  });

  it.each([
    [[], "request must be a JSON object"],
    [{ concurrency: 1 }, "probes must be an array"],
    [{ probes: [], concurrency: 0 }, "concurrency must be an integer 1-256, got 0"],
    [{ probes: [], concurrency: 1.5 }, "concurrency must be an integer 1-256, got 1.5"],
    [{ probes: [], concurrency: 257 }, "concurrency must be an integer 1-256, got 257"],
    [{ probes: [7], concurrency: 1 }, "probes[0] must be an object"],
    [{ probes: [{ ...tcp("a", 1), id: "" }], concurrency: 1 }, "probes[0].id must be a non-empty string of at most 256 characters"],
    [{ probes: [tcp("a", 1), tcp("a", 2)], concurrency: 1 }, 'probes[1].id "a" is used twice'],
    [{ probes: [{ ...tcp("a", 1), call: { kind: "icmp", target: {} } }], concurrency: 1 }, "probes[0].call must be {kind: tcp | dns | http, target: {...}}"],
    [{ probes: [{ ...tcp("a", 1), call: { kind: "tcp" } }], concurrency: 1 }, "probes[0].call must be {kind: tcp | dns | http, target: {...}}"],
    [{ probes: [tcp("a", 1, 0)], concurrency: 1 }, "probes[0].timeoutMs must be a number of milliseconds in (0, 300000]"],
    [{ probes: [tcp("a", 1, 300_001)], concurrency: 1 }, "probes[0].timeoutMs must be a number of milliseconds in (0, 300000]"],
    [{ probes: [], concurrency: 1, dnsServers: [] }, "dnsServers must be a list of 1-8 servers"],
    [{ probes: [], concurrency: 1, dnsServers: "10.0.0.1" }, "dnsServers must be a list of 1-8 servers"],
    [{ probes: [], concurrency: 1, dnsServers: ["dns.example"] }, 'dnsServers: "dns.example" is not a DNS server address ("addr", "addr:port" or "[v6]:port")'],
    [{ probes: [], concurrency: 1, dnsServers: ["10.0.0.1"], resolvConfRoots: ["/proc/7/root"] }, "dnsServers and resolvConfRoots exclude each other"],
    [{ probes: [], concurrency: 1, resolvConfRoots: [] }, "resolvConfRoots must be a list of 1-8 paths"],
    [{ probes: [], concurrency: 1, resolvConfRoots: "/proc/7/root" }, "resolvConfRoots must be a list of 1-8 paths"],
    [{ probes: [], concurrency: 1, resolvConfRoots: ["proc/7/root"] }, "resolvConfRoots: each must be an absolute path"],
    [{ probes: [], concurrency: 1, resolvConfRoots: [7] }, "resolvConfRoots: each must be an absolute path"],
    [{ probes: [], concurrency: 1, expectNetns: "4026532001" }, 'expectNetns must look like "net:[4026532001]"'],
    [{ probes: [], concurrency: 1, expectAddress: "pod-a" }, "expectAddress must be an IP address"],
    [{ probes: [], concurrency: 1, starvationThresholdMs: 0 }, "starvationThresholdMs must be a number of milliseconds in (0, 300000]"],
    [{ probes: [], concurrency: 1, starvationThresholdMs: "250ms" }, "starvationThresholdMs must be a number of milliseconds in (0, 300000]"],
  ])("refuses %j: %s", (request, reason) => {
    expect(checkWorkerRequest(request)).toEqual({ ok: false, reason });
  });
});

describe("parseWorkerResult", () => {
  it("reads a result line with every phase an HTTP probe has", () => {
    const phases = { resolve: 0.001, connect: 0.002, tls: 0.003, processing: 0.004 };
    const line = JSON.stringify({ id: "h", outcome: { reason: "zscaler_blocked", durationSeconds: 0.01, phases, status: 403 } });
    expect(parseWorkerResult(line)).toEqual({ ok: true, value: { id: "h", outcome: { reason: "zscaler_blocked", durationSeconds: 0.01, phases, status: 403 } } });
  });

  it("reads a result line", () => {
    const line = JSON.stringify({ id: "a", outcome: { reason: "timeout", durationSeconds: 1, phases: { connect: 1 }, address: "10.0.0.1", detail: "deadline" } });
    expect(parseWorkerResult(line)).toEqual({
      ok: true,
      value: { id: "a", outcome: { reason: "timeout", durationSeconds: 1, phases: { connect: 1 }, address: "10.0.0.1", detail: "deadline" } },
    });
  });

  it.each([
    ["{", /^not JSON/],
    ['{"id":1,"outcome":{}}', /^not a result/],
    ['{"id":"a","outcome":{"reason":"dropped","durationSeconds":0,"phases":{}}}', /^unknown reason "dropped"/],
    ['{"id":"a","outcome":{"reason":"ok","phases":{}}}', /without durationSeconds/],
    ['{"id":"a","outcome":{"reason":"ok","durationSeconds":0,"phases":{},"detail":5}}', /outcome\.detail must be a string/],
    ['{"id":"a","outcome":{"reason":"ok","durationSeconds":0,"phases":{"handshake\\u0001":1}}}', /^unknown phase "handshake/],
    ['{"id":"a","outcome":{"reason":"ok","durationSeconds":0,"phases":{"tls":"1"}}}', /outcome\.phases\.tls must be a number of seconds/],
    ['{"id":"a","outcome":{"reason":"ok","durationSeconds":0,"phases":{"processing":-1}}}', /outcome\.phases\.processing must be a number of seconds/],
    ['{"id":"a","outcome":{"reason":"ok","durationSeconds":0,"phases":{},"answers":[1]}}', /answers must be a list of strings/],
  ])("refuses %s", (line, reason) => {
    const parsed = parseWorkerResult(line);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});

describe("workerDeadlineMs", () => {
  it("is the longest timeout per wave of `concurrency` probes, plus the margin", () => {
    const probes = [{ timeoutMs: 500 }, { timeoutMs: 2000 }, { timeoutMs: 1000 }];
    expect(workerDeadlineMs({ probes, concurrency: 3 }, 1000)).toBe(3000);
    expect(workerDeadlineMs({ probes, concurrency: 2 }, 1000)).toBe(5000);
    expect(workerDeadlineMs({ probes, concurrency: 1 }, 0)).toBe(6000);
    expect(workerDeadlineMs({ probes: [], concurrency: 4 }, 1000)).toBe(1000);
  });

  it("allows for reading the pod's resolvers when the worker must", () => {
    const probes = [{ timeoutMs: 500 }];
    expect(workerDeadlineMs({ probes, concurrency: 1, resolvConfRoots: ["/proc/7/root"] }, 1000)).toBe(500 + POD_RESOLVERS_BUDGET_MS + 1000);
  });
});

describe("describeNsenterFailure", () => {
  // Each line as util-linux 2.38 nsenter prints it.
  it.each([
    ["nsenter: cannot open /proc/999999/ns/net: No such file or directory", "nsenter failed: cannot open /proc/999999/ns/net: No such file or directory (the process is gone: the pod stopped?)"],
    ["nsenter: cannot open /proc/1/ns/net: Permission denied", "nsenter failed: cannot open /proc/1/ns/net: Permission denied (CAP_SYS_PTRACE needed to open it, CAP_SYS_ADMIN to enter it; hostPID)"],
    ["nsenter: reassociate to namespace 'ns/net' failed: Operation not permitted", "nsenter failed: reassociate to namespace 'ns/net' failed: Operation not permitted (CAP_SYS_ADMIN needed)"],
    ["nsenter: failed to execute /nonexistent/node: No such file or directory", "nsenter failed: failed to execute /nonexistent/node: No such file or directory (the worker's node binary is missing?)"],
  ])("%s", (stderr, described) => {
    expect(describeNsenterFailure(`${stderr}\n`)).toBe(described);
  });

  it("is undefined for the worker's own errors", () => {
    expect(describeNsenterFailure("netcanary worker: invalid request: probes must be an array\n")).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------
// The built worker, run directly

interface WorkerExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function runWorker(input: string, timeoutMs = 10_000, onSpawn?: (child: ChildProcess) => void): Promise<WorkerExit> {
  const { code, stdout, stderr } = await runCommand([process.execPath, WORKER], { input, timeoutMs, ...(onSpawn ? { onSpawn } : {}) });
  return { code, stdout, stderr };
}

describe("the worker script", () => {
  let open: Server;
  let openPort: number;
  let closedPort: number;

  beforeAll(async () => {
    const listen = (server: Server) => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
    open = createServer((socket) => socket.destroy());
    openPort = await listen(open);
    const closed = createServer();
    closedPort = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => open.close(resolve));
  });

  it("writes one JSON line per probe and exits 0", async () => {
    const request = { probes: [tcp("open", openPort), tcp("closed", closedPort), { id: "bad", call: { kind: "tcp", target: { ip: "nowhere", port: 1 } }, timeoutMs: 100 }], concurrency: 2 };
    const run = await runWorker(JSON.stringify(request));
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as { id: string; outcome: { reason: string; detail?: string } });
    expect(Object.fromEntries(lines.map((line) => [line.id, line.outcome.reason]))).toEqual({ open: "ok", closed: "refused", bad: "agent_error" });
    expect(lines.find((line) => line.id === "bad")?.outcome.detail).toBe('ip "nowhere" is not an IP address');
  });

  it("exits 4 before any probe when it is not where the request expects", async () => {
    const here = readlinkSync("/proc/self/ns/net");
    const probe = JSON.stringify(tcp("open", openPort));
    const elsewhere = await runWorker(`{"probes":[${probe}],"concurrency":1,"expectNetns":"net:[1]"}`);
    expect(elsewhere).toEqual({ code: 4, stdout: "", stderr: `netcanary worker: in network namespace ${here}, not the pod's net:[1] (its process was replaced?)\n` });
    const notLocal = await runWorker(`{"probes":[${probe}],"concurrency":1,"expectAddress":"203.0.113.77"}`);
    expect(notLocal).toMatchObject({ code: 4, stdout: "", stderr: `netcanary worker: 203.0.113.77 is not an address of network namespace ${here}: not the pod's\n` });
    const right = await runWorker(`{"probes":[${probe}],"concurrency":1,"expectNetns":"${here}","expectAddress":"127.0.0.1"}`);
    expect(right).toMatchObject({ code: 0, stderr: "" });
  });

  it("resolves with the servers in the request: 'cluster' DNS and host names", async () => {
    const server = await startDnsServer({ rules: [{ name: "web.test", type: "A", answers: [{ type: "A", value: "127.0.0.1" }] }] });
    try {
      const request = {
        probes: [
          { id: "cluster", call: { kind: "dns", target: { query: "web.test", type: "A", server: "cluster" } }, timeoutMs: 1000 },
          { id: "by-name", call: { kind: "tcp", target: { host: "web.test", port: openPort } }, timeoutMs: 1000 },
        ],
        concurrency: 2,
        dnsServers: [server.address],
      };
      const run = await runWorker(JSON.stringify(request));
      expect(run).toMatchObject({ code: 0, stderr: "" });
      const results = Object.fromEntries(run.stdout.trimEnd().split("\n").map((line) => {
        const parsed = JSON.parse(line) as { id: string; outcome: { reason: string; address?: string; answers?: string[] } };
        return [parsed.id, parsed.outcome];
      }));
      expect(results["cluster"]).toMatchObject({ reason: "ok", address: "127.0.0.1", answers: ["127.0.0.1"] });
      expect(results["by-name"]).toMatchObject({ reason: "ok", address: "127.0.0.1" });
    } finally {
      await server.close();
    }
  });

  it("runs an http probe whose host and proxy names resolve with the request's servers, and hands back its phases and status", async () => {
    const server = await startDnsServer({ rules: [{ name: "origin.test", type: "A", answers: [{ type: "A", value: "127.0.0.1" }] }] });
    const origin = await startHttpOrigin();
    try {
      const http = (id: string, target: Record<string, unknown>) => ({ id, call: { kind: "http", target }, timeoutMs: 2000 });
      const request = {
        probes: [http("by-name", { url: `http://origin.test:${origin.port}/` }), http("status", { url: `http://origin.test:${origin.port}/status/503`, expectStatus: [{ from: 200, to: 299 }] })],
        concurrency: 2,
        dnsServers: [server.address],
      };
      const checked = checkWorkerRequest(JSON.parse(encodeWorkerRequest(request as unknown as WorkerRequest)));
      expect(checked.ok && checked.value.probes.map((probe) => needsPodResolvers(probe.call))).toEqual([true, true]);
      const run = await runWorker(JSON.stringify(request));
      expect(run).toMatchObject({ code: 0, stderr: "" });
      const results = Object.fromEntries(run.stdout.trimEnd().split("\n").map((line) => {
        const parsed = parseWorkerResult(line);
        if (!parsed.ok) throw new Error(parsed.reason);
        return [parsed.value.id, parsed.value.outcome as ProbeOutcome & { status?: number }];
      }));
      expect(results["by-name"]).toMatchObject({ reason: "ok", address: "127.0.0.1", status: 200 });
      expect(Object.keys(results["by-name"]?.phases ?? {}).sort()).toEqual(["connect", "processing", "resolve"]);
      expect(results["status"]).toMatchObject({ reason: "http_status", status: 503 });
      expect(origin.requests.map((seen) => seen.headers.host).sort()).toEqual([`origin.test:${origin.port}`, `origin.test:${origin.port}`]);
    } finally {
      await Promise.all([server.close(), origin.close()]);
    }
  });

  it("needs the pod's resolvers for an http probe of a name or through a named proxy, not of an address", () => {
    const call = (target: HttpTarget): ProbeCall => ({ kind: "http", target });
    expect(needsPodResolvers(call({ url: "https://www.example.com/" }))).toBe(true);
    expect(needsPodResolvers(call({ url: "https://192.0.2.1/" }))).toBe(false);
    expect(needsPodResolvers(call({ url: "https://www.example.com/", ip: "192.0.2.1" }))).toBe(false);
    expect(needsPodResolvers(call({ url: "https://192.0.2.1/", proxy: "http://gateway.zscaler.net:9400" }))).toBe(true);
    expect(needsPodResolvers(call({ url: "https://www.example.com/", proxy: "http://10.0.0.5:3128" }))).toBe(false);
    expect(needsPodResolvers(call({ url: "https://www.example.com/", dnsServer: "10.0.0.53" }))).toBe(false);
  });

  it("reads the pod's resolvers inside the pod's root, and answers agent_error without a byte of a hostile file", async () => {
    const base = mkdtempSync(join(tmpdir(), "nc-worker-root-"));
    try {
      const secret = join(base, "host-key");
      writeFileSync(secret, "nameserver 127.0.0.1\n-----BEGIN PRIVATE KEY----- netcanary-test-secret\n");
      const pod = (name: string, make: (resolvConf: string) => void): string => {
        const root = join(base, name);
        mkdirSync(join(root, "etc"), { recursive: true });
        make(join(root, "etc", "resolv.conf"));
        return root;
      };
      // Nothing listens on port 53 there: a query answered "refused" from that address shows
      // the worker resolved with the pod's server, not this machine's.
      const good = pod("good", (path) => writeFileSync(path, "nameserver 127.53.0.1\n"));
      const escape = pod("escape", (path) => symlinkSync(secret, path));
      const fifo = pod("fifo", (path) => execFileSync("mkfifo", [path]));
      const probes = [
        { id: "cluster", call: { kind: "dns", target: { query: "web.test", type: "A", server: "cluster" } }, timeoutMs: 1000 },
        { id: "by-ip", call: { kind: "tcp", target: { ip: "127.0.0.1", port: openPort } }, timeoutMs: 1000 },
      ];
      const outcomes = async (roots: string[]) => {
        const run = await runWorker(JSON.stringify({ probes, concurrency: 2, resolvConfRoots: roots }));
        expect(run).toMatchObject({ code: 0, stderr: "" });
        expect(run.stdout).not.toContain("netcanary-test-secret");
        expect(run.stdout).not.toContain("PRIVATE");
        return Object.fromEntries(run.stdout.trimEnd().split("\n").map((line) => {
          const parsed = JSON.parse(line) as { id: string; outcome: { reason: string; detail?: string } };
          return [parsed.id, parsed.outcome];
        }));
      };
      // The absolute link is followed inside the pod's root, where it names nothing: the
      // host's file, which would have given a usable nameserver, is never read.
      const escaped = await outcomes([escape]);
      expect(escaped["cluster"]).toMatchObject({ reason: "agent_error", detail: `the pod's resolvers are unknown: /etc/resolv.conf in ${escape}: no such file` });
      expect(escaped["by-ip"]).toMatchObject({ reason: "ok" });
      const blocked = await outcomes([fifo]);
      expect(blocked["cluster"]).toMatchObject({ reason: "agent_error", detail: `the pod's resolvers are unknown: /etc/resolv.conf in ${fifo}: a FIFO, not a regular file` });
      // The first root with a usable file wins.
      expect((await outcomes([escape, fifo, good]))["cluster"]).toMatchObject({ address: "127.53.0.1" });
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it("reads resolvers only through processes still in the pod's namespace: a pid reused since the agent looked is skipped", async () => {
    const here = readlinkSync("/proc/self/ns/net");
    const base = mkdtempSync(join(tmpdir(), "nc-worker-pids-"));
    try {
      // Two "processes" of the pod as /proc shows them: 111 has left (its number names a
      // process in another namespace now), 222 is still in the pod's.
      const process = (pid: number, netns: string, nameserver: string): string => {
        mkdirSync(join(base, String(pid), "ns"), { recursive: true });
        symlinkSync(netns, join(base, String(pid), "ns", "net"));
        mkdirSync(join(base, String(pid), "root", "etc"), { recursive: true });
        writeFileSync(join(base, String(pid), "root", "etc", "resolv.conf"), `nameserver ${nameserver}\n`);
        return join(base, String(pid), "root");
      };
      const reused = process(111, "net:[4026539999]", "127.53.0.1");
      const still = process(222, here, "127.53.0.2");
      const probe = { id: "cluster", call: { kind: "dns", target: { query: "web.test", type: "A", server: "cluster" } }, timeoutMs: 1000 };
      const run = await runWorker(JSON.stringify({ probes: [probe], concurrency: 1, resolvConfRoots: [reused, still], expectNetns: here }));
      expect(run).toMatchObject({ code: 0, stderr: "" });
      expect((JSON.parse(run.stdout.trim()) as { outcome: { address?: string } }).outcome.address).toBe("127.53.0.2");
      // Only the reused one: nothing of the pod's left to read, said as such.
      const none = await runWorker(JSON.stringify({ probes: [probe], concurrency: 1, resolvConfRoots: [reused], expectNetns: here }));
      expect((JSON.parse(none.stdout.trim()) as { outcome: { reason: string; detail?: string } }).outcome).toMatchObject({ reason: "agent_error", detail: "the pod's resolvers are unknown: every process of the pod the agent found has left its network namespace" });
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it("checks DNS answers against answersIn, which travels as CIDR text", async () => {
    const server = await startDnsServer({ rules: [{ name: "web.test", type: "A", answers: [{ type: "A", value: "127.0.0.1" }] }] });
    try {
      const cidr = (text: string) => {
        const parsed = parseCidr(text);
        if (!parsed.ok) throw new Error(parsed.reason);
        return parsed.value;
      };
      const dns = (id: string, answersIn: string) => ({ id, call: { kind: "dns" as const, target: { query: "web.test", type: "A" as const, server: "cluster", answersIn: [cidr(answersIn)] } }, timeoutMs: 1000 });
      const input = encodeWorkerRequest({ probes: [dns("inside", "127.0.0.0/8"), dns("outside", "192.0.2.0/24")], concurrency: 2, dnsServers: [server.address] });
      expect(JSON.parse(input).probes[0].call.target.answersIn).toEqual(["127.0.0.0/8"]);
      const run = await runWorker(input);
      expect(run).toMatchObject({ code: 0, stderr: "" });
      const reasons = Object.fromEntries(run.stdout.trimEnd().split("\n").map((line) => {
        const parsed = JSON.parse(line) as { id: string; outcome: { reason: string } };
        return [parsed.id, parsed.outcome.reason];
      }));
      expect(reasons).toEqual({ inside: "ok", outside: "dns_unexpected_answer" });
      // Anything but CIDR text is refused before any probe.
      const bad = await runWorker(input.replace('"192.0.2.0/24"', '"192.0.2.0/33"'));
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/probes\[1\]\.call\.target\.answersIn: /);
    } finally {
      await server.close();
    }
  });

  it("a probe that fails while the worker was frozen (CPU throttling) is agent_error, never a network fault", async () => {
    const server = await startDnsServer({ rules: [{ name: "drop.test", type: "A", drop: true }] });
    try {
      const request = (id: string) =>
        JSON.stringify({ probes: [{ id, call: { kind: "dns", target: { query: "drop.test", type: "A", server: "cluster" } }, timeoutMs: 1000 }], concurrency: 1, dnsServers: [server.address], starvationThresholdMs: 250 });
      const outcomeOf = (run: WorkerExit) => (JSON.parse(run.stdout.trim()) as { outcome: { reason: string; detail?: string } }).outcome;

      // Not frozen: the dropped query is the network's, dns_timeout.
      const free = await runWorker(request("free"));
      expect(free).toMatchObject({ code: 0, stderr: "" });
      expect(outcomeOf(free).reason).toBe("dns_timeout");

      // Frozen for 700 ms once its query is out (SIGSTOP, as a CPU quota would): the same
      // timeout can no longer be blamed on the network.
      server.clearQueries();
      let frozen = false;
      const stalled = await runWorker(request("frozen"), 10_000, (child) => {
        const poll = setInterval(() => {
          if (frozen || !server.queries().some((query) => query.name === "drop.test")) return;
          frozen = true;
          clearInterval(poll);
          child.kill("SIGSTOP");
          setTimeout(() => child.kill("SIGCONT"), 700);
        }, 10);
        child.once("exit", () => clearInterval(poll));
      });
      expect(frozen).toBe(true);
      expect(stalled).toMatchObject({ code: 0, stderr: "" });
      expect(outcomeOf(stalled).reason).toBe("agent_error");
      expect(outcomeOf(stalled).detail).toMatch(/^probe worker starved \(event loop blocked\); network outcome was dns_timeout/);
    } finally {
      await server.close();
    }
  });

  it("exits 0 at once with nothing to do", async () => {
    expect(await runWorker('{"probes":[],"concurrency":1}')).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it.each([
    ["", /^netcanary worker: the request is not JSON/],
    ["{nope", /^netcanary worker: the request is not JSON/],
    ['{"probes":[],"concurrency":0}', /^netcanary worker: invalid request: concurrency must be an integer 1-256, got 0\n$/],
    ['{"probes":[],"concurrency":1,"dnsServers":["resolver.example"]}', /^netcanary worker: invalid request: dnsServers: /],
  ])("exits 2 on invalid input %j, nothing on stdout", async (input, message) => {
    const run = await runWorker(input);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(message);
  });
});
