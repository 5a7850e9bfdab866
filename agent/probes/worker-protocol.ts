// The wire protocol between the agent and a probe worker (probes/worker.ts) that runs inside
// a pod's network namespace. Pure: no I/O, shared by both ends, unit-tested.
//
//   agent -> worker, stdin, one JSON document, then EOF:
//     {"probes": [{"id": "e1", "call": {"kind": "tcp", "target": {...}}, "timeoutMs": 1000}, ...],
//      "concurrency": 8, "dnsServers": ["10.96.0.10"]}
//   worker -> agent, stdout, one JSON line per probe as it finishes (any order):
//     {"id": "e1", "outcome": {"reason": "ok", "durationSeconds": 0.001, "phases": {...}}}
//   exit 0 when every probe has reported; 2 on invalid input (message on stderr, nothing
//   on stdout); 3 when the worker's own watchdog fired (a bug: probes are bounded); 4 when
//   it is not in the namespace the request expects (expectNetns, expectAddress).

import { parseIp } from "../addresses/ip.js";
import { moduleOf, type ProbeCall, probers, type ProbeKind, type ProbeOutcome, type ProbeReason, type ProbeRequest } from "./index.js";
import { PROBE_PHASES, PROBE_REASONS } from "./prober.js";
import { parseDnsServer } from "./resolver.js";
import { checkPageFromWire } from "../zscaler/check-page.js";

export interface WorkerRequest {
  readonly probes: readonly ProbeRequest[];
  /** Probes in flight at once inside the worker. */
  readonly concurrency: number;
  /**
   * The pod's resolvers ("addr", "addr:port", "[v6]:port"), set with dns.setServers() before
   * any probe: DNS "cluster" probes and host names then resolve as the pod would. Without
   * them the worker uses the agent's /etc/resolv.conf (nsenter --net leaves the mount
   * namespace, so the files, the agent's).
   */
  readonly dnsServers?: readonly string[];
  /**
   * Where to read the pod's resolvers instead (dnsServers excludes it): /proc/<pid>/root of
   * processes of the pod, tried in turn. The worker reads /etc/resolv.conf inside them
   * (procfs/pod-resolvers.ts) only when a probe needs them, and answers those probes
   * agent_error with the reason when none can be used. Read there, not in the agent: the
   * pod's files are its tenant's, and a worker is a process with a deadline.
   */
  readonly resolvConfRoots?: readonly string[];
  /**
   * Where the worker must be, checked before any probe (exit 4 if not): the namespace's
   * identity ("net:[4026532xxx]", as the locator found it) and an address that must be local
   * to it (the pod's IP). A pid reused between finding the pod and starting the worker
   * would otherwise probe from some other namespace, with some other identity.
   */
  readonly expectNetns?: string;
  readonly expectAddress?: string;
  /**
   * The agent's starvation threshold (agent.starvationThreshold): a probe that fails while the
   * worker's own event loop was stalled longer than this (CPU throttling in the agent's
   * cgroup, say) is reported as agent_error, never as a network fault. Default 250 ms.
   */
  readonly starvationThresholdMs?: number;
}

export interface WorkerResult {
  readonly id: string;
  readonly outcome: ProbeOutcome;
}

export const WORKER_LIMITS = {
  /** Bytes of request JSON the worker accepts. */
  maxRequestBytes: 4 * 1024 * 1024,
  maxProbes: 10_000,
  maxConcurrency: 256,
  maxTimeoutMs: 300_000,
  maxIdLength: 256,
  maxDnsServers: 8,
  maxResolvConfRoots: 8,
  maxPathLength: 4096,
} as const;

/** The worker's time to read the pod's resolv.conf (every root tried, in all); its deadline allows for it. */
export const POD_RESOLVERS_BUDGET_MS = 1000;

/** Exit codes of the worker. */
export const WORKER_EXIT = { ok: 0, invalidInput: 2, watchdog: 3, wrongNamespace: 4 } as const;

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isProbeKind(kind: unknown): kind is ProbeKind {
  return typeof kind === "string" && Object.hasOwn(probers, kind);
}

/**
 * Checks the shape of a request (the probers check their own targets and answer a bad one
 * with "agent_error"): ids unique non-empty strings, known kinds, bounded timeouts and
 * concurrency, DNS servers in the form dns.setServers() takes.
 */
/**
 * The request as JSON text. JSON has no bigint: the CIDRs of a DNS answer check travel as
 * their canonical text and checkWorkerRequest() parses them back.
 */
export function encodeWorkerRequest(request: WorkerRequest): string {
  return JSON.stringify(request, (key, value: unknown) => (key === "answersIn" && Array.isArray(value) ? value.map((cidr: { text: string }) => cidr.text) : value));
}

/** A call from the wire: its kind's prober makes its target whole again (probes/prober.ts, fromWire). */
function decodeCall(call: Record<string, unknown>, where: string): Checked<ProbeCall> {
  const module = moduleOf(call["kind"] as ProbeKind);
  const decoded = module.fromWire?.(call["target"] as Record<string, unknown>) ?? { ok: true, value: call["target"] };
  if (!decoded.ok) return { ok: false, reason: `${where}.call.target.${decoded.reason}` };
  return { ok: true, value: { kind: call["kind"], target: decoded.value } as ProbeCall };
}

export function checkWorkerRequest(value: unknown): Checked<WorkerRequest> {
  if (!isRecord(value)) return { ok: false, reason: "request must be a JSON object" };
  const { probes, concurrency, dnsServers, resolvConfRoots, expectNetns, expectAddress, starvationThresholdMs } = value;
  if (!Array.isArray(probes)) return { ok: false, reason: "probes must be an array" };
  if (probes.length > WORKER_LIMITS.maxProbes) return { ok: false, reason: `at most ${WORKER_LIMITS.maxProbes} probes, got ${probes.length}` };
  if (typeof concurrency !== "number" || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > WORKER_LIMITS.maxConcurrency) {
    return { ok: false, reason: `concurrency must be an integer 1-${WORKER_LIMITS.maxConcurrency}, got ${JSON.stringify(concurrency) ?? "nothing"}` };
  }
  const ids = new Set<string>();
  const checked: ProbeRequest[] = [];
  for (const [index, probe] of probes.entries()) {
    const where = `probes[${index}]`;
    if (!isRecord(probe)) return { ok: false, reason: `${where} must be an object` };
    const { id, call, timeoutMs } = probe;
    if (typeof id !== "string" || id === "" || id.length > WORKER_LIMITS.maxIdLength) {
      return { ok: false, reason: `${where}.id must be a non-empty string of at most ${WORKER_LIMITS.maxIdLength} characters` };
    }
    if (ids.has(id)) return { ok: false, reason: `${where}.id "${id}" is used twice` };
    ids.add(id);
    if (!isRecord(call) || !isProbeKind(call["kind"]) || !isRecord(call["target"])) {
      return { ok: false, reason: `${where}.call must be {kind: ${Object.keys(probers).join(" | ")}, target: {...}}` };
    }
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > WORKER_LIMITS.maxTimeoutMs) {
      return { ok: false, reason: `${where}.timeoutMs must be a number of milliseconds in (0, ${WORKER_LIMITS.maxTimeoutMs}]` };
    }
    const decoded = decodeCall(call, where);
    if (!decoded.ok) return decoded;
    checked.push({ id, call: decoded.value, timeoutMs });
  }
  let servers: string[] | undefined;
  if (dnsServers !== undefined) {
    if (!Array.isArray(dnsServers) || dnsServers.length === 0 || dnsServers.length > WORKER_LIMITS.maxDnsServers) {
      return { ok: false, reason: `dnsServers must be a list of 1-${WORKER_LIMITS.maxDnsServers} servers` };
    }
    servers = [];
    for (const server of dnsServers) {
      const parsed = parseDnsServer(server as string);
      if (!parsed.ok) return { ok: false, reason: `dnsServers: ${parsed.reason}` };
      servers.push(parsed.value.setting);
    }
  }
  let roots: string[] | undefined;
  if (resolvConfRoots !== undefined) {
    if (dnsServers !== undefined) return { ok: false, reason: "dnsServers and resolvConfRoots exclude each other" };
    if (!Array.isArray(resolvConfRoots) || resolvConfRoots.length === 0 || resolvConfRoots.length > WORKER_LIMITS.maxResolvConfRoots) {
      return { ok: false, reason: `resolvConfRoots must be a list of 1-${WORKER_LIMITS.maxResolvConfRoots} paths` };
    }
    roots = [];
    for (const root of resolvConfRoots) {
      if (typeof root !== "string" || !root.startsWith("/") || root.length > WORKER_LIMITS.maxPathLength || root.includes("\0")) {
        return { ok: false, reason: "resolvConfRoots: each must be an absolute path" };
      }
      roots.push(root);
    }
  }
  if (expectNetns !== undefined && (typeof expectNetns !== "string" || !/^net:\[\d+\]$/.test(expectNetns))) {
    return { ok: false, reason: 'expectNetns must look like "net:[4026532001]"' };
  }
  let address: string | undefined;
  if (expectAddress !== undefined) {
    const parsed = typeof expectAddress === "string" ? parseIp(expectAddress) : undefined;
    if (parsed === undefined || !parsed.ok) return { ok: false, reason: "expectAddress must be an IP address" };
    address = parsed.value.text;
  }
  if (starvationThresholdMs !== undefined && (typeof starvationThresholdMs !== "number" || !Number.isFinite(starvationThresholdMs) || starvationThresholdMs <= 0 || starvationThresholdMs > WORKER_LIMITS.maxTimeoutMs)) {
    return { ok: false, reason: `starvationThresholdMs must be a number of milliseconds in (0, ${WORKER_LIMITS.maxTimeoutMs}]` };
  }
  return {
    ok: true,
    value: {
      probes: checked,
      concurrency,
      ...(starvationThresholdMs !== undefined ? { starvationThresholdMs } : {}),
      ...(servers !== undefined ? { dnsServers: servers } : {}),
      ...(roots !== undefined ? { resolvConfRoots: roots } : {}),
      ...(expectNetns !== undefined ? { expectNetns } : {}),
      ...(address !== undefined ? { expectAddress: address } : {}),
    },
  };
}

const REASONS: ReadonlySet<string> = new Set<ProbeReason>(PROBE_REASONS);
const PHASES: ReadonlySet<string> = new Set<string>(PROBE_PHASES);

/** One stdout line of a worker, checked; the agent ignores (and logs) a line that fails. */
export function parseWorkerResult(line: string): Checked<WorkerResult> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: `not JSON: ${line.slice(0, 120)}` };
  }
  if (!isRecord(value) || typeof value["id"] !== "string" || !isRecord(value["outcome"])) {
    return { ok: false, reason: `not a result {id, outcome}: ${line.slice(0, 120)}` };
  }
  const outcome = value["outcome"];
  if (typeof outcome["reason"] !== "string" || !REASONS.has(outcome["reason"])) {
    return { ok: false, reason: `unknown reason ${JSON.stringify(outcome["reason"]) ?? "(none)"}` };
  }
  if (typeof outcome["durationSeconds"] !== "number" || !Number.isFinite(outcome["durationSeconds"]) || !isRecord(outcome["phases"])) {
    return { ok: false, reason: `outcome without durationSeconds or phases: ${line.slice(0, 120)}` };
  }
  // Phases become a metric label: only the known ones, each a duration.
  for (const [phase, seconds] of Object.entries(outcome["phases"])) {
    if (!PHASES.has(phase)) return { ok: false, reason: `unknown phase ${JSON.stringify(phase).slice(0, 60)}` };
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return { ok: false, reason: `outcome.phases.${phase} must be a number of seconds` };
  }
  for (const key of ["address", "detail"] as const) {
    if (outcome[key] !== undefined && typeof outcome[key] !== "string") return { ok: false, reason: `outcome.${key} must be a string` };
  }
  const answers = outcome["answers"];
  if (answers !== undefined && (!Array.isArray(answers) || !answers.every((answer) => typeof answer === "string"))) {
    return { ok: false, reason: "outcome.answers must be a list of strings" };
  }
  // The seam's reading is made in the agent, never taken from a worker.
  if (outcome["path"] !== undefined) return { ok: false, reason: "outcome.path comes from the agent, not from a worker" };
  // A path check's reading is checked field by field again: only known shapes pass.
  if (outcome["checkPage"] !== undefined) {
    const checkPage = checkPageFromWire(outcome["checkPage"]);
    if (checkPage === undefined) return { ok: false, reason: "outcome.checkPage is not a check page reading" };
    return { ok: true, value: { id: value["id"], outcome: { ...(outcome as unknown as ProbeOutcome), checkPage } } };
  }
  return { ok: true, value: { id: value["id"], outcome: outcome as unknown as ProbeOutcome } };
}

/**
 * How long a worker may live: each "wave" of `concurrency` probes takes at most the longest
 * timeout, plus the time to read the pod's resolvers when it must, plus a margin for the
 * process to start (Node's start-up, nsenter) and exit.
 */
export function workerDeadlineMs(
  request: { readonly probes: readonly { readonly timeoutMs: number }[]; readonly concurrency: number; readonly resolvConfRoots?: readonly string[] },
  marginMs: number,
): number {
  const reading = request.resolvConfRoots !== undefined ? POD_RESOLVERS_BUDGET_MS : 0;
  const { probes, concurrency } = request;
  if (probes.length === 0) return Math.max(0, marginMs) + reading;
  const longest = Math.max(...probes.map((probe) => probe.timeoutMs));
  const waves = Math.ceil(probes.length / Math.max(1, Math.floor(concurrency)));
  return longest * waves + reading + marginMs;
}

/**
 * Whether a probe resolves through its source's own resolvers: a "cluster" DNS probe, or a
 * TCP probe of a host name with neither an address nor a DNS server of its own.
 */
export function needsPodResolvers(call: ProbeCall): boolean {
  return moduleOf(call.kind).usesSourceResolvers(call.target);
}
