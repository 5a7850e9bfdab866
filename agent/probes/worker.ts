// The probe worker: a short-lived process the agent starts inside a pod's network namespace
// (`nsenter --net=/proc/<pid>/ns/net -- node dist/probes/worker.js`, see sources/workers.ts),
// so its probes leave with the pod's address and meet the pod's policies. Node cannot
// setns() itself, hence a process per source and round.
//
// Reads ONE request (worker-protocol.ts) from stdin, runs its probes at most `concurrency`
// at a time, writes one JSON line per result to stdout as each finishes (pipe writes are
// synchronous on Linux, so a worker killed at its deadline has already handed over what
// finished), then exits 0. Invalid input: exit 2, a message on stderr, nothing on stdout.
// Nothing else is ever written to stdout.
//
// It enters only the network namespace: files (/etc/resolv.conf) are still the agent's, so
// the pod's resolvers are read from the pod's own root (resolvConfRoots: /proc/<pid>/root,
// resolved inside it, bounded; procfs/pod-resolvers.ts), or come in the request
// (dnsServers), and are installed with dns.setServers() before any probe. resolver.ts reads dns.getServers() through the
// module's default export at call time, which setServers() rebinds: "cluster" DNS probes
// and TCP host names then use the pod's servers. (A named ESM import of getServers would
// keep the old resolver; the check after setServers below catches that.)

import dns from "node:dns";
import { readlinkSync } from "node:fs";
import { readlink } from "node:fs/promises";
import { readBoundedFile } from "../files/read.js";
import { MAX_POD_NET_BYTES, parseFibTrieLocal, parseIfInet6 } from "../procfs/network.js";
import { readPodResolvers } from "../procfs/pod-resolvers.js";
import { startTimer } from "../schedule/timers.js";
import { describeError } from "./deadline.js";
import { type ProbeRequest, runCall } from "./index.js";
import { agentError, type ProbeOutcome } from "./prober.js";
import { parseDnsServer, systemDnsServers } from "./resolver.js";
import { StarvationMonitor } from "../schedule/starvation.js";
import { checkWorkerRequest, needsPodResolvers, POD_RESOLVERS_BUDGET_MS, WORKER_EXIT, WORKER_LIMITS, workerDeadlineMs, type WorkerRequest } from "./worker-protocol.js";

/** Beyond the agent's deadline for the worker: the watchdog only fires on a bug. */
const WATCHDOG_MARGIN_MS = 5000;
/** The agent's default agent.starvationThreshold, for a request that does not say. */
const DEFAULT_STARVATION_THRESHOLD_MS = 250;

function fail(code: number, message: string): never {
  process.stderr.write(`netcanary worker: ${message}\n`);
  process.exit(code);
}

function readStdin(limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    process.stdin.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error(`request larger than ${limit} bytes`));
        process.stdin.destroy();
        return;
      }
      chunks.push(chunk);
    });
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

function installResolvers(servers: readonly string[]): void {
  try {
    dns.setServers([...servers]);
  } catch (error) {
    fail(WORKER_EXIT.invalidInput, `dnsServers: ${describeError(error)}`);
  }
  const now = systemDnsServers();
  const installed = now.ok ? now.servers.map((server) => server.setting) : [];
  if (installed.join(" ") !== servers.join(" ")) {
    fail(WORKER_EXIT.invalidInput, `dnsServers not in effect: asked ${servers.join(" ")}, resolving with ${installed.join(" ") || "none"}`);
  }
}

/** Exits 4 unless this process is in the namespace the agent meant (a pid can be reused). */
async function checkWhereWeAre(request: WorkerRequest): Promise<void> {
  if (request.expectNetns === undefined && request.expectAddress === undefined) return;
  let here: string;
  try {
    here = readlinkSync("/proc/self/ns/net");
  } catch (error) {
    fail(WORKER_EXIT.wrongNamespace, `cannot tell which network namespace this is: ${describeError(error)}`);
  }
  if (request.expectNetns !== undefined && here !== request.expectNetns) {
    fail(WORKER_EXIT.wrongNamespace, `in network namespace ${here}, not the pod's ${request.expectNetns} (its process was replaced?)`);
  }
  const address = request.expectAddress;
  if (address === undefined) return;
  // The pod's tenant decides how many routes its namespace holds: the read is bounded.
  const v6 = address.includes(":");
  const read = await readBoundedFile(v6 ? "/proc/self/net/if_inet6" : "/proc/self/net/fib_trie", { maxBytes: MAX_POD_NET_BYTES });
  if (!read.ok) fail(WORKER_EXIT.wrongNamespace, `cannot read this namespace's addresses: ${read.message}`);
  const local = v6 ? parseIfInet6(read.text).map((entry) => entry.address) : parseFibTrieLocal(read.text);
  if (!local.includes(address)) fail(WORKER_EXIT.wrongNamespace, `${address} is not an address of network namespace ${here}: not the pod's`);
}

async function runOne(probe: ProbeRequest): Promise<ProbeOutcome> {
  const { call, timeoutMs } = probe;
  // runProbe never throws; the guard keeps one broken prober from losing the others' lines.
  try {
    return await runCall(call, { timeoutMs });
  } catch (error) {
    return agentError(`prober threw: ${describeError(error)}`);
  }
}

/** A failure while this worker's event loop was stalled is the agent's, not the network's. */
async function runJudged(probe: ProbeRequest, starvation: StarvationMonitor): Promise<ProbeOutcome> {
  const started = Date.now();
  const outcome = await runOne(probe);
  if (outcome.reason === "ok" || outcome.reason === "agent_error" || !starvation.starvedDuring(started, Date.now())) return outcome;
  return { ...outcome, reason: "agent_error", detail: `probe worker starved (event loop blocked); network outcome was ${outcome.reason}${outcome.detail ? `: ${outcome.detail}` : ""}` };
}

function report(id: string, outcome: ProbeOutcome): void {
  process.stdout.write(`${JSON.stringify({ id, outcome })}\n`);
}

/**
 * The probes left to run once the pod's resolvers are in place: those that need them are
 * answered agent_error (with why) when the pod's resolv.conf cannot be used; the agent's own
 * resolvers are not the pod's, and judging the pod's DNS path with them would be a guess.
 */
async function withPodResolvers(request: WorkerRequest): Promise<readonly ProbeRequest[]> {
  const roots = request.resolvConfRoots;
  if (roots === undefined || !request.probes.some((probe) => needsPodResolvers(probe.call))) return request.probes;
  const still = await rootsStillInPod(roots, request.expectNetns);
  const resolvers = still.length > 0 ? await readPodResolvers(still, POD_RESOLVERS_BUDGET_MS) : { ok: false as const, reason: "the pod's resolvers are unknown: every process of the pod the agent found has left its network namespace" };
  if (resolvers.ok) {
    // As dns.getServers() will show them ("10.96.0.10:53", "[fd00::a]:53").
    installResolvers(resolvers.nameservers.map((address) => {
      const server = parseDnsServer(address);
      return server.ok ? server.value.setting : address;
    }));
    return request.probes;
  }
  const failure = agentError(resolvers.reason);
  for (const probe of request.probes) if (needsPodResolvers(probe.call)) report(probe.id, failure);
  return request.probes.filter((probe) => !needsPodResolvers(probe.call));
}

/**
 * The roots whose process is still in the pod's network namespace, read as late as possible:
 * a pid the agent found may have exited, and its number been taken by another process (of
 * another pod, or of the node), whose files are not this pod's. Roots that do not name a
 * process (/proc/<pid>/root) are kept as they are.
 */
async function rootsStillInPod(roots: readonly string[], netns: string | undefined): Promise<string[]> {
  if (netns === undefined) return [...roots];
  const kept: string[] = [];
  for (const root of roots) {
    const process = /^(.*)\/root$/.exec(root)?.[1];
    const link: string | undefined = process === undefined ? netns : await readlink(`${process}/ns/net`).catch(() => undefined);
    if (link === netns) kept.push(root);
  }
  return kept;
}

async function runAll(request: WorkerRequest, probes: readonly ProbeRequest[]): Promise<void> {
  const starvation = new StarvationMonitor({ thresholdMs: request.starvationThresholdMs ?? DEFAULT_STARVATION_THRESHOLD_MS, memoryMs: workerDeadlineMs(request, WATCHDOG_MARGIN_MS) });
  starvation.start();
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const probe = probes[next++];
      if (probe === undefined) return;
      report(probe.id, await runJudged(probe, starvation));
    }
  };
  const lanes = Math.min(request.concurrency, probes.length);
  await Promise.all(Array.from({ length: lanes }, lane));
  starvation.stop();
}

async function main(): Promise<void> {
  let text: string;
  try {
    text = await readStdin(WORKER_LIMITS.maxRequestBytes);
  } catch (error) {
    fail(WORKER_EXIT.invalidInput, `reading the request: ${describeError(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    fail(WORKER_EXIT.invalidInput, `the request is not JSON: ${describeError(error)}`);
  }
  const checked = checkWorkerRequest(parsed);
  if (!checked.ok) fail(WORKER_EXIT.invalidInput, `invalid request: ${checked.reason}`);
  const request = checked.value;
  await checkWhereWeAre(request);
  if (request.dnsServers !== undefined) installResolvers(request.dnsServers);
  const watchdogMs = workerDeadlineMs(request, WATCHDOG_MARGIN_MS);
  const watchdog = startTimer(() => fail(WORKER_EXIT.watchdog, `probes still running after ${watchdogMs} ms`), watchdogMs, { unref: true });
  await runAll(request, await withPodResolvers(request));
  watchdog.cancel();
  // Every line is written (synchronously, to a pipe or file); leave at once rather than wait
  // for a stray handle.
  process.exit(WORKER_EXIT.ok);
}

main().catch((error: unknown) => fail(1, `unexpected: ${describeError(error)}`));
