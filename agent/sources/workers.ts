// Probe workers in pods' network namespaces: one short-lived process per source pod and
// round, `nsenter --net=/proc/<pid>/ns/net -- <node> dist/probes/worker.js`, fed one request
// on stdin, answering one JSON line per probe on stdout (protocol: probes/worker-protocol.ts).
// nsenter only setns()es and execs (no fork without --pid/--fork), so the process spawned
// IS the worker; it is spawned detached (its own process group) so a deadline or stop()
// kills everything it might have started at once.
//
// Guarantees: run() never rejects and every request gets an outcome (what the worker did
// not report becomes "agent_error" with a detail saying why: the worker exited 1, was killed
// at its deadline, nsenter could not enter, the spawn failed); at most maxWorkers processes
// at a time, the rest wait in a bounded queue; each worker is killed at
// max(timeoutMs) x ceil(n / concurrency) + marginMs; every child is reaped (Node waits for
// it; the 'close' event also means its pipes are closed, so no fd outlives a run).

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ProbeRequest } from "../probes/index.js";
import { agentError, type ProbeOutcome } from "../probes/prober.js";
import { startTimer } from "../schedule/timers.js";
import { encodeWorkerRequest, parseWorkerResult, WORKER_EXIT, WORKER_LIMITS, workerDeadlineMs, type WorkerRequest } from "../probes/worker-protocol.js";

export interface WorkerRunOptions {
  /** Resolvers installed in the worker before its probes (tests; pods use resolvConfRoots). */
  readonly dnsServers?: readonly string[];
  /** Where the worker reads the pod's resolv.conf: /proc/<pid>/root of the pod's processes. */
  readonly resolvConfRoots?: readonly string[];
  /** Probes in flight at once inside this worker (default: the pool's concurrency). */
  readonly concurrency?: number;
  /**
   * The namespace the locator found ("net:[N]") and the pod's IP: the worker checks it is
   * there before probing, and refuses (every probe agent_error) if the pid now names some
   * other process. Pass both whenever known.
   */
  readonly netnsInode?: string;
  readonly sourceIp?: string;
  /** The agent's starvation threshold, for the worker's own check (worker-protocol.ts). */
  readonly starvationThresholdMs?: number;
}

/** What the pool logs; a pino Logger fits. */
export interface WorkerLogger {
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface WorkerPoolOptions {
  /** Worker processes alive at once; more runs wait in the queue. */
  readonly maxWorkers: number;
  /** Node binary for the worker (default: this process's). */
  readonly nodePath?: string;
  /** Extra Node flags for the worker, e.g. ["--max-old-space-size=32"]. */
  readonly nodeArgs?: readonly string[];
  /**
   * The worker entry (default: ../probes/worker.js next to this module, i.e.
   * dist/probes/worker.js once built; code run from the .ts sources must pass the built file).
   */
  readonly workerScript?: string | URL;
  readonly nsenterPath?: string;
  readonly procRoot?: string;
  /** Slack past the probes' own timeouts for start-up and exit (default 1000 ms). */
  readonly marginMs?: number;
  /** Default probes in flight per worker (default 16). */
  readonly concurrency?: number;
  /** Runs waiting beyond maxWorkers; past it a run fails at once (default 1024). */
  readonly maxQueued?: number;
  readonly logger?: WorkerLogger;
  /** Called after every run that spawned a worker, e.g. to observe a histogram. */
  readonly onRun?: (report: WorkerRunReport) => void;
}

export interface WorkerRunReport {
  readonly pid: number;
  readonly probes: number;
  /** Results the worker itself reported. */
  readonly reported: number;
  /** From spawn to the worker's exit (its pipes closed), in ms. */
  readonly spawnToExitMs: number;
  /** Time spent waiting for a free worker slot, in ms. */
  readonly queuedMs: number;
  readonly deadlineMs: number;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly killed: "deadline" | "stopped" | "output" | undefined;
  /** Why results are missing, when some are. */
  readonly failure?: WorkerFailure;
}

/** What went wrong with a worker run: a kind to tell failures apart, and the text shown in the edge's detail. */
export type WorkerFailureKind = WorkerFailure["kind"];

export interface WorkerFailure {
  readonly kind: "spawn" | "deadline" | "stopped" | "output" | "nsenter" | "wrong_namespace" | "invalid_input" | "exit";
  readonly detail: string;
}

export interface WorkerRun {
  readonly outcomes: Map<string, ProbeOutcome>;
  /** Undefined when no worker was spawned (nothing to run, invalid input, queue full, stopped). */
  readonly report?: WorkerRunReport;
}

export interface WorkerPoolStats {
  /** Worker processes started (including those nsenter could not enter). */
  readonly spawned: number;
  /** Runs that lost results to a failure: a spawn error, a bad exit, nsenter refusing. */
  readonly failed: number;
  /** Workers killed: at their deadline, for flooding stdout, or by stop(). */
  readonly killed: number;
  readonly running: number;
  readonly queued: number;
  /** Runs turned away because the queue was full. */
  readonly rejected: number;
  /** Sum and count of spawn-to-exit times, for an average or a counter pair. */
  readonly spawnToExitSecondsTotal: number;
  readonly completed: number;
  readonly lastSpawnToExitMs: number | undefined;
}

/** Bytes of stdout kept while waiting for a newline: a longer line is a broken worker. */
const MAX_LINE_BYTES = 1 << 20;
const STDERR_KEEP = 4096;
/** After the worker exits, how long its pipes may stay open (held by an escaped child). */
const CLOSE_GRACE_MS = 2000;

interface Job {
  readonly pid: number;
  readonly requests: readonly ProbeRequest[];
  readonly request: WorkerRequest;
  /** The request as sent on stdin (encoded when queued, so a bad request fails run(), not a worker). */
  readonly input: string;
  readonly enqueuedAt: number;
  readonly resolve: (run: WorkerRun) => void;
}

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  kill(why: "stopped"): void;
  readonly done: Promise<void>;
}

function allFailed(requests: readonly { readonly id: string }[], detail: string): Map<string, ProbeOutcome> {
  const outcomes = new Map<string, ProbeOutcome>();
  for (const request of requests) outcomes.set(request.id, agentError(detail));
  return outcomes;
}

/**
 * nsenter's complaint (its stderr, "nsenter: ...") with what is missing. Opening another
 * process's /proc/<pid>/ns/net takes ptrace access (CAP_SYS_PTRACE for processes the agent
 * may not ptrace); setns() into it takes CAP_SYS_ADMIN.
 */
export function describeNsenterFailure(stderr: string): string | undefined {
  const line = stderr
    .split("\n")
    .map((text) => text.trim())
    .find((text) => text.startsWith("nsenter:"));
  if (line === undefined) return undefined;
  let hint = "";
  if (/cannot open .*Permission denied/i.test(line)) hint = " (CAP_SYS_PTRACE needed to open it, CAP_SYS_ADMIN to enter it; hostPID)";
  else if (/cannot open .*No such file/i.test(line)) hint = " (the process is gone: the pod stopped?)";
  else if (/reassociate|setns/i.test(line) && /not permitted/i.test(line)) hint = " (CAP_SYS_ADMIN needed)";
  else if (/failed to execute/i.test(line)) hint = " (the worker's node binary is missing?)";
  return `nsenter failed: ${line.slice("nsenter:".length).trim()}${hint}`;
}

function defaultWorkerScript(): string {
  return fileURLToPath(new URL("../probes/worker.js", import.meta.url));
}

export class WorkerPool {
  private maxWorkers: number;
  private readonly nodePath: string;
  private readonly nodeArgs: readonly string[];
  private readonly workerScript: string;
  private readonly nsenterPath: string;
  private readonly procRoot: string;
  private readonly marginMs: number;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly logger: WorkerLogger | undefined;
  private readonly onRun: ((report: WorkerRunReport) => void) | undefined;

  private readonly queue: Job[] = [];
  private readonly running = new Set<Running>();
  private stopped = false;
  private counts = { spawned: 0, failed: 0, killed: 0, rejected: 0, completed: 0, spawnToExitSecondsTotal: 0 };
  private lastSpawnToExitMs: number | undefined;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.maxWorkers) || options.maxWorkers < 1) throw new Error(`maxWorkers must be a positive integer, got ${options.maxWorkers}`);
    this.maxWorkers = options.maxWorkers;
    this.nodePath = options.nodePath ?? process.execPath;
    this.nodeArgs = options.nodeArgs ?? [];
    const script = options.workerScript ?? defaultWorkerScript();
    this.workerScript = script instanceof URL ? fileURLToPath(script) : script;
    this.nsenterPath = options.nsenterPath ?? "nsenter";
    this.procRoot = options.procRoot ?? "/proc";
    this.marginMs = options.marginMs ?? 1000;
    this.concurrency = options.concurrency ?? 16;
    this.maxQueued = options.maxQueued ?? 1024;
    this.logger = options.logger;
    this.onRun = options.onRun;
  }

  /** Runs the probes inside pid's network namespace; one outcome per request id. Never rejects. */
  async run(pid: number, requests: readonly ProbeRequest[], options: WorkerRunOptions = {}): Promise<Map<string, ProbeOutcome>> {
    return (await this.runDetailed(pid, requests, options)).outcomes;
  }

  /** run() with the figures of the worker that ran (spawn-to-exit time, exit, deadline). */
  runDetailed(pid: number, requests: readonly ProbeRequest[], options: WorkerRunOptions = {}): Promise<WorkerRun> {
    try {
      if (requests.length === 0) return Promise.resolve({ outcomes: new Map() });
      if (!Number.isInteger(pid) || pid < 1) return Promise.resolve({ outcomes: allFailed(requests, `no process ${String(pid)} to enter`) });
      const ids = new Set<string>();
      for (const request of requests) {
        if (ids.has(request.id)) return Promise.resolve({ outcomes: allFailed(requests, `request id "${request.id}" is used twice in one run`) });
        ids.add(request.id);
      }
      if (this.stopped) return Promise.resolve({ outcomes: allFailed(requests, "worker pool stopped") });
      const asked = options.concurrency ?? this.concurrency;
      const concurrency = Number.isFinite(asked) ? Math.max(1, Math.min(256, Math.floor(asked))) : 1;
      const request: WorkerRequest = {
        probes: requests.map(({ id, call, timeoutMs }) => ({ id, call, timeoutMs })),
        concurrency,
        ...(options.dnsServers !== undefined && options.dnsServers.length > 0 ? { dnsServers: options.dnsServers } : {}),
        ...(options.resolvConfRoots !== undefined && options.resolvConfRoots.length > 0 ? { resolvConfRoots: options.resolvConfRoots.slice(0, WORKER_LIMITS.maxResolvConfRoots) } : {}),
        ...(options.netnsInode !== undefined ? { expectNetns: options.netnsInode } : {}),
        ...(options.sourceIp !== undefined ? { expectAddress: options.sourceIp } : {}),
        ...(options.starvationThresholdMs !== undefined ? { starvationThresholdMs: options.starvationThresholdMs } : {}),
      };
      const input = encodeWorkerRequest(request);
      if (this.running.size >= this.maxWorkers && this.queue.length >= this.maxQueued) {
        this.counts.rejected++;
        return Promise.resolve({ outcomes: allFailed(requests, `worker queue full (${this.queue.length} runs waiting for ${this.maxWorkers} workers)`) });
      }
      return new Promise<WorkerRun>((resolve) => {
        this.queue.push({ pid, requests, request, input, enqueuedAt: performance.now(), resolve });
        this.pump();
      });
    } catch (error) {
      return Promise.resolve({ outcomes: allFailed(requests, `worker pool: ${error instanceof Error ? error.message : String(error)}`) });
    }
  }

  /** A config reload: more workers start at once; fewer, as running ones finish. */
  setMaxWorkers(maxWorkers: number): void {
    if (!Number.isInteger(maxWorkers) || maxWorkers < 1) throw new Error(`maxWorkers must be a positive integer, got ${maxWorkers}`);
    this.maxWorkers = maxWorkers;
    this.pump();
  }

  stats(): WorkerPoolStats {
    return { ...this.counts, running: this.running.size, queued: this.queue.length, lastSpawnToExitMs: this.lastSpawnToExitMs };
  }

  /** Kills every worker in flight and fails every queued run; later runs fail at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.queue.splice(0)) job.resolve({ outcomes: allFailed(job.requests, "worker pool stopped") });
    const running = [...this.running];
    for (const worker of running) worker.kill("stopped");
    await Promise.all(running.map((worker) => worker.done));
  }

  private pump(): void {
    while (this.running.size < this.maxWorkers) {
      const job = this.queue.shift();
      if (job === undefined) return;
      try {
        this.start(job);
      } catch (error) {
        // Never leave a run unanswered, whatever start() tripped over.
        this.counts.failed++;
        job.resolve({ outcomes: allFailed(job.requests, `worker pool: ${error instanceof Error ? error.message : String(error)}`) });
      }
    }
  }

  private start(job: Job): void {
    const queuedMs = performance.now() - job.enqueuedAt;
    const deadlineMs = workerDeadlineMs(job.request, this.marginMs);
    const started = performance.now();
    const argv = [`--net=${this.procRoot}/${job.pid}/ns/net`, "--", this.nodePath, ...this.nodeArgs, this.workerScript];
    const outcomes = new Map<string, ProbeOutcome>();
    const wanted = new Set(job.requests.map((request) => request.id));
    let stderr = "";
    let pending = "";
    let spawnError: string | undefined;
    let killed: WorkerRunReport["killed"];
    let exited = false;
    let settled = false;
    let child: ChildProcessWithoutNullStreams;
    let markDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (markDone = resolve));

    try {
      child = spawn(this.nsenterPath, argv, {
        detached: true,
        stdio: ["pipe", "pipe", "pipe"],
        // A clean environment: the agent's NODE_OPTIONS and the like are not the worker's.
        env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
    } catch (error) {
      // spawn() throws only for invalid arguments; errors of the exec come as 'error'.
      job.resolve({ outcomes: allFailed(job.requests, `spawn ${this.nsenterPath}: ${error instanceof Error ? error.message : String(error)}`) });
      this.counts.failed++;
      return;
    }
    child.once("spawn", () => this.counts.spawned++);

    const killGroup = (): void => {
      // Only while the worker has not been reaped: its pid (the group id) is still ours.
      if (exited || child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    };

    const kill = (why: NonNullable<WorkerRunReport["killed"]>): void => {
      if (killed !== undefined || exited) return;
      killed = why;
      this.counts.killed++;
      killGroup();
    };

    const timer = startTimer(() => kill("deadline"), deadlineMs);
    let closeGrace: NodeJS.Timeout | undefined;

    const handle: Running = { child, kill, done };
    this.running.add(handle);

    const onLine = (line: string): void => {
      if (line.trim() === "") return;
      const parsed = parseWorkerResult(line);
      if (!parsed.ok) {
        this.logger?.warn({ pid: job.pid, problem: parsed.reason }, "probe worker wrote a line that is not a result");
        return;
      }
      if (!wanted.has(parsed.value.id) || outcomes.has(parsed.value.id)) {
        this.logger?.warn({ pid: job.pid, id: parsed.value.id }, "probe worker reported an unknown or repeated id");
        return;
      }
      outcomes.set(parsed.value.id, parsed.value.outcome);
    };

    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
      }
      if (pending.length > MAX_LINE_BYTES) {
        pending = "";
        kill("output");
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      if (stderr.length > STDERR_KEEP * 2) stderr = stderr.slice(-STDERR_KEEP);
    });
    // The worker may be gone before it reads (nsenter failed): EPIPE is expected.
    child.stdin.on("error", () => undefined);
    child.stdin.end(job.input);

    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      if (closeGrace !== undefined) clearTimeout(closeGrace);
      if (pending.trim() !== "") onLine(pending);
      child.stdout.destroy();
      child.stderr.destroy();
      child.stdin.destroy();
      this.running.delete(handle);

      const spawnToExitMs = performance.now() - started;
      const reported = outcomes.size;
      const failure = this.failureOf({ spawnError, killed, code, signal, stderr, deadlineMs, reported, total: job.requests.length });
      const elapsed = spawnToExitMs / 1000;
      for (const request of job.requests) if (!outcomes.has(request.id)) outcomes.set(request.id, agentError(failure?.detail ?? "the worker did not report it", elapsed));
      if (spawnError === undefined) {
        this.counts.completed++;
        this.counts.spawnToExitSecondsTotal += elapsed;
        this.lastSpawnToExitMs = spawnToExitMs;
      }
      if (failure !== undefined && killed !== "stopped") {
        this.counts.failed++;
        this.logger?.warn({ pid: job.pid, probes: job.requests.length, reported, failure: failure.detail, kind: failure.kind }, "probe worker failed");
      }
      const report: WorkerRunReport = {
        pid: job.pid,
        probes: job.requests.length,
        reported,
        spawnToExitMs,
        queuedMs,
        deadlineMs,
        exitCode: code,
        signal,
        killed,
        ...(failure !== undefined ? { failure } : {}),
      };
      this.logger?.debug({ ...report }, "probe worker finished");
      try {
        this.onRun?.(report);
      } catch (error) {
        this.logger?.warn({ error: error instanceof Error ? error.message : String(error) }, "onRun callback threw");
      }
      job.resolve({ outcomes, report });
      markDone();
      this.pump();
    };

    child.on("error", (error: NodeJS.ErrnoException) => {
      spawnError ??= `spawn ${this.nsenterPath}: ${error.code ?? error.message}${error.code === "ENOENT" ? " (nsenter not found: util-linux)" : ""}`;
      // A process that never started has no 'close' to wait for.
      if (child.pid === undefined) finish(null, null);
    });
    child.on("exit", () => {
      exited = true;
      // Pipes still open after the exit: something escaped the process group. Do not wait.
      closeGrace = setTimeout(() => finish(child.exitCode, child.signalCode), CLOSE_GRACE_MS);
    });
    child.on("close", (code: number | null, signal: NodeJS.Signals | null) => finish(code, signal));
  }

  private failureOf(run: {
    spawnError: string | undefined;
    killed: WorkerRunReport["killed"];
    code: number | null;
    signal: NodeJS.Signals | null;
    stderr: string;
    deadlineMs: number;
    reported: number;
    total: number;
  }): WorkerFailure | undefined {
    if (run.spawnError !== undefined) return { kind: "spawn", detail: run.spawnError };
    const partial = `${run.reported} of ${run.total} results in`;
    if (run.killed === "deadline") return { kind: "deadline", detail: `worker killed at its deadline (${Math.round(run.deadlineMs)} ms; ${partial})` };
    if (run.killed === "stopped") return { kind: "stopped", detail: `worker pool stopped (${partial})` };
    if (run.killed === "output") return { kind: "output", detail: `worker killed: a result line over ${MAX_LINE_BYTES} bytes` };
    if (run.reported === run.total && run.code === 0) return undefined;
    const nsenter = describeNsenterFailure(run.stderr);
    if (nsenter !== undefined) return { kind: "nsenter", detail: nsenter };
    // The telling line: the worker's own message, else a thrown error's first line (Node
    // prints the stack and its version after it), else the last lines.
    const lines = run.stderr
      .split("\n")
      .map((text) => text.trim())
      .filter((text) => text !== "");
    const telling = lines.find((text) => text.startsWith("netcanary worker:")) ?? lines.find((text) => /^[A-Za-z]*Error\b/.test(text)) ?? lines.slice(-2).join(" | ");
    const tail = telling.replace(/^netcanary worker: /, "").slice(0, 240);
    if (run.code === WORKER_EXIT.wrongNamespace) return { kind: "wrong_namespace", detail: `worker not in the pod's network namespace, no probe run: ${tail}` };
    if (run.code === WORKER_EXIT.invalidInput) return { kind: "invalid_input", detail: `worker refused the request: ${tail}` };
    const how = run.code !== null ? `exited ${run.code}` : `died of ${run.signal ?? "an unknown cause"}`;
    return { kind: "exit", detail: `worker ${how}${tail !== "" ? `: ${tail}` : ""} (${partial})` };
  }
}
