// Probing FROM pods, for real: lab namespaces stand in for pods, each held by a long-running
// sleeper (a pod's pause process). The locator finds each pod's namespace from its IP through
// /proc; the WorkerPool runs the built worker (dist/probes/worker.js) inside it with real
// nsenter, and the lab's listener, nft rules and dnsmasq prove where the probes came from.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { ProbeOutcome } from "../../agent/probes/prober.js";
import { parseFibTrieLocal } from "../../agent/procfs/network.js";
import { readPodResolvers } from "../../agent/procfs/pod-resolvers.js";
import { createNetnsLocator } from "../../agent/sources/netns.js";
import type { ProbeRequest } from "../../agent/probes/index.js";
import { recordWorkerRun } from "../../agent/sources/pods.js";
import { WorkerPool, type WorkerPoolOptions, type WorkerRunReport } from "../../agent/sources/workers.js";
import { AgentMetrics } from "../../agent/metrics/registry.js";
import { Lab, LAB_COMMANDS, type LabPod, type LabProcess } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";
import { waitFor } from "../support/wait.js";

const WORKER = join(import.meta.dirname, "..", "..", "dist", "probes", "worker.js");

// The pods' addresses come from the lab's slot: the locator sees every namespace on the
// machine, and no other lab holds them.
let A: string, A6: string, B: string, C: string, DNS: string;

const tcpTo = (id: string, ip: string, port: number, timeoutMs = 1000): ProbeRequest => ({ id, call: { kind: "tcp", target: { ip, port } }, timeoutMs });

/** Processes whose parent is this one (the test worker), with their state and command line. */
function children(): { pid: number; state: string; cmdline: string }[] {
  const found: { pid: number; state: string; cmdline: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== process.pid) continue;
      found.push({ pid: Number(name), state: fields[0] ?? "?", cmdline: readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ") });
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Children that are workers (or nsenter, or the test's stand-in scripts), and zombies of any kind. */
function leftovers(): string[] {
  return children()
    .filter((child) => child.state === "Z" || /nsenter|worker\.js|hang\.cjs/.test(child.cmdline))
    .map((child) => `${child.pid} [${child.state}] ${child.cmdline}`);
}

const openFds = (): number => readdirSync("/proc/self/fd").length;

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "nsenter", "dnsmasq", "setpriv"] }, "probe workers in pod namespaces", () => {
  let lab: Lab;
  let sleepers: Record<"a" | "b" | "c", LabProcess>;
  let listener: LabProcess;
  let dnsmasq: LabProcess;
  const pools: WorkerPool[] = [];

  const pool = (options: Partial<WorkerPoolOptions> = {}): WorkerPool => {
    const created = new WorkerPool({ maxWorkers: 4, workerScript: WORKER, ...options });
    pools.push(created);
    return created;
  };

  beforeAll(async () => {
    lab = await Lab.create((at) => ({
      pods: [
        { name: "a", ip: at.ip(2), addresses: [at.ip6(2)], nameservers: [at.ip(53)] },
        { name: "b", ip: at.ip(3) },
        { name: "c", ip: at.ip(4) },
        { name: "dns", ip: at.ip(53) },
      ],
    }));
    [A, A6, B, C, DNS] = [lab.pod("a").ip, lab.addresses.ip6(2), lab.pod("b").ip, lab.pod("c").ip, lab.pod("dns").ip];
    // Each pod's "pause" process: the namespace lives as long as some process holds it.
    sleepers = {
      a: lab.startProcess(lab.pod("a"), "sleep", ["3600"], { name: "pause a" }),
      b: lab.startProcess(lab.pod("b"), "sleep", ["3600"], { name: "pause b" }),
      c: lab.startProcess(lab.pod("c"), "sleep", ["3600"], { name: "pause c" }),
    };
    listener = await lab.tcpListener(lab.pod("b"), "0.0.0.0", [8080, 8081, 9999]);
    dnsmasq = await lab.dnsmasq(lab.pod("dns"), { listen: DNS, records: { "web.lab.test": B }, local: ["lab.test"] });
    // `ip netns exec` has exec'd into sleep once it is in the namespace.
    await waitFor(() => Object.values(sleepers).every((sleeper) => existsSync(`/proc/${sleeper.pid}`) && readFileSync(`/proc/${sleeper.pid}/comm`, "utf8").trim() === "sleep"), 5000, "the sleepers");
  });

  afterEach(async () => {
    await lab?.clearRules();
    await Promise.all(pools.splice(0).map((created) => created.stop()));
    // Every worker reaped, nothing of theirs left (bounded wait: Node reaps on SIGCHLD).
    await waitFor(() => leftovers().length === 0, 3000, "no worker, nsenter or zombie child").catch(() => {
      throw new Error(`children left behind:\n${leftovers().join("\n")}`);
    });
  });

  afterAll(async () => {
    await Promise.all(pools.splice(0).map((created) => created.stop()));
    await lab?.teardown();
  });

  const inodeOf = (pod: LabPod): string => `net:[${statSync(pod.netnsPath).ino}]`;
  /** What the agent knows of a lab pod: its IP (or another address of it) and its UID. */
  const podAt = (name: string, ip = lab.pod(name).ip) => ({ ip, uid: lab.pod(name).uid });

  // ----- finding the namespace

  it("finds each pod's network namespace from its IPv4 and IPv6 address", async () => {
    const locator = createNetnsLocator();
    for (const [name, ip] of [["a", A], ["b", B], ["c", C]] as const) {
      const found = await locator.find(podAt(name, ip));
      if (!found.ok) throw new Error(`${name}: ${found.reason}`);
      expect(found.inode).toBe(inodeOf(lab.pod(name)));
      expect(readlinkSync(found.netns)).toBe(inodeOf(lab.pod(name)));
      expect(found.pids).toContain(sleepers[name].pid);
    }
    // Pod b holds two processes (its sleeper and the listener): one namespace, both listed.
    const b = await locator.find(podAt("b"));
    expect(b.ok && [...b.pids].sort()).toEqual([sleepers.b.pid, listener.pid].sort());
    expect(await locator.find(podAt("a", A6))).toMatchObject({ ok: true, pid: sleepers.a.pid, inode: inodeOf(lab.pod("a")) });
    expect(locator.lastScan()?.namespaces).toBeGreaterThanOrEqual(5);
  });

  it("says why a pod has no namespace, and never enters one by address alone", async () => {
    const locator = createNetnsLocator();
    const stranger = "0b7e1c2a-5d4f-4e3b-9a8c-1f2e3d4c5b6a";
    const unknown = await locator.find({ ip: A, uid: stranger });
    expect(unknown).toEqual({ ok: false, reason: expect.stringMatching(new RegExp(`^no process of pod ${stranger} \\(cgroup pod${stranger}\\) in a network namespace of its own \\(scanned \\d+ processes in \\d+ network namespaces, \\d+ pods.*is the pod on this node and running\\?\\)$`)) });
    expect(await locator.find({ ip: A, uid: undefined })).toMatchObject({ ok: false, reason: expect.stringMatching(/^the pod's UID is unknown/) });
    // Pod a's UID with pod b's address: a's namespace does not hold it, so nothing is entered.
    expect(await locator.find(podAt("a", B))).toMatchObject({ ok: false, reason: expect.stringContaining(`does not hold ${B}`) });
  });

  it("reads the pod's own resolvers through its root", async () => {
    const found = await createNetnsLocator().find(podAt("a"));
    if (!found.ok) throw new Error(found.reason);
    // `ip netns exec` bind-mounted /etc/netns/<ns>/resolv.conf over the sleeper's /etc/resolv.conf.
    expect(await readPodResolvers(found.pids.map((pid) => `/proc/${pid}/root`), 1000)).toEqual({ ok: true, root: `/proc/${sleepers.a.pid}/root`, nameservers: [DNS] });
  });

  // ----- probing from inside

  it("probes FROM pod a: the listener in b sees a's address, and from c, c's", async () => {
    const workers = pool();
    const locator = createNetnsLocator();
    for (const [name, ip] of [["a", A], ["c", C]] as const) {
      const found = await locator.find(podAt(name));
      if (!found.ok) throw new Error(found.reason);
      const outcomes = await workers.run(found.pid, [tcpTo(`${name}-to-b`, B, 8080)]);
      expect(outcomes.get(`${name}-to-b`)).toMatchObject({ reason: "ok", address: B });
      await listener.waitForOutput(new RegExp(`accepted 0\\.0\\.0\\.0:8080 from ${ip.replaceAll(".", "\\.")}\\n`), 3000);
    }
    expect(workers.stats()).toMatchObject({ spawned: 2, failed: 0, killed: 0, running: 0, queued: 0, completed: 2 });
    expect(workers.stats().lastSpawnToExitMs).toBeGreaterThan(0);
  });

  it("meets the network's rules for pod a: dropped gives timeout, rejected gives refused, others pass", async () => {
    await lab.dropTo(lab.pod("a"), B, 8080);
    await lab.rejectTo(lab.pod("a"), B, 8081);
    const reports: WorkerRunReport[] = [];
    const workers = pool({ onRun: (report) => reports.push(report) });
    const outcomes = await workers.run(sleepers.a.pid, [tcpTo("dropped", B, 8080, 600), tcpTo("rejected", B, 8081), tcpTo("open", B, 9999), tcpTo("nowhere", lab.addresses.testNet3.at(1), 80)]);
    expect(Object.fromEntries([...outcomes].map(([id, outcome]) => [id, outcome.reason]))).toEqual({
      dropped: "timeout",
      rejected: "refused",
      open: "ok",
      nowhere: "net_unreachable", // a pod has no default route in the lab
    });
    expect(await lab.matchedPackets(lab.pod("a"))).toBeGreaterThanOrEqual(2);
    // The same probes from pod c are not touched by a's rules.
    const fromC = await workers.run(sleepers.c.pid, [tcpTo("dropped", B, 8080, 600), tcpTo("rejected", B, 8081)]);
    expect([...fromC.values()].map((outcome) => outcome.reason)).toEqual(["ok", "ok"]);
    expect(reports).toHaveLength(2);
    expect(reports[0]).toMatchObject({ pid: sleepers.a.pid, probes: 4, reported: 4, exitCode: 0, killed: undefined });
    expect(reports[0]?.failure).toBeUndefined();
    expect(reports[0]?.spawnToExitMs).toBeLessThan(reports[0]?.deadlineMs ?? 0);
  });

  it("resolves with the pod's resolvers: a 'cluster' DNS probe and a host name go to the lab's dnsmasq", async () => {
    const found = await createNetnsLocator().find(podAt("a"));
    if (!found.ok) throw new Error(found.reason);
    const outcomes = await pool().run(
      found.pid,
      [
        { id: "cluster-dns", call: { kind: "dns", target: { query: "web.lab.test", type: "A", server: "cluster" } }, timeoutMs: 1000 },
        { id: "nxdomain", call: { kind: "dns", target: { query: "nothing.lab.test", type: "A", server: "cluster" } }, timeoutMs: 1000 },
        { id: "by-name", call: { kind: "tcp", target: { host: "web.lab.test", port: 8080 } }, timeoutMs: 1000 },
      ],
      { resolvConfRoots: found.pids.map((pid) => `/proc/${pid}/root`) },
    );
    expect(outcomes.get("cluster-dns")).toMatchObject({ reason: "ok", address: DNS, answers: [B] });
    expect(outcomes.get("nxdomain")).toMatchObject({ reason: "dns_nxdomain", address: DNS });
    expect(outcomes.get("by-name")).toMatchObject({ reason: "ok", address: B });
    expect(dnsmasq.output()).toContain(`query[A] web.lab.test from ${A}\n`);
  });

  it("runs an http check FROM pod a with its resolvers: the server in b sees a's address and the name's Host; dropped for a, it times out", async () => {
    const server = await lab.httpServer(lab.pod("b"), B, 8088);
    try {
      const found = await createNetnsLocator().find(podAt("a"));
      if (!found.ok) throw new Error(found.reason);
      const http = (id: string, timeoutMs = 1000): ProbeRequest => ({ id, call: { kind: "http", target: { url: "http://web.lab.test:8088/health" } }, timeoutMs });
      const roots = { resolvConfRoots: found.pids.map((pid) => `/proc/${pid}/root`) };
      const outcomes = await pool().run(found.pid, [http("by-name")], roots);
      expect(outcomes.get("by-name")).toMatchObject({ reason: "ok", address: B, status: 200 });
      expect(Object.keys(outcomes.get("by-name")?.phases ?? {}).sort()).toEqual(["connect", "processing", "resolve"]);
      await server.waitForOutput(new RegExp(`GET /health host web\\.lab\\.test:8088 from ${A.replaceAll(".", "\\.")}\\n`), 3000);
      expect(dnsmasq.output()).toContain(`query[A] web.lab.test from ${A}\n`);
      await lab.dropTo(lab.pod("a"), B, 8088);
      const dropped = await pool().run(found.pid, [http("dropped", 600)], roots);
      expect(dropped.get("dropped")).toMatchObject({ reason: "timeout", address: B });
    } finally {
      await server.stop();
    }
  });

  it("checks it is in the pod's namespace before probing, and refuses a pid that names another", async () => {
    const locator = createNetnsLocator();
    const a = await locator.find(podAt("a"));
    const c = await locator.find(podAt("c"));
    if (!a.ok || !c.ok) throw new Error("pods not found");
    const workers = pool();
    const right = await workers.run(a.pid, [tcpTo("checked", B, 9999)], { netnsInode: a.inode, sourceIp: A });
    expect(right.get("checked")).toMatchObject({ reason: "ok" });
    // The pid now names a process in another namespace (as if the pod died and its pid was reused).
    const wrongInode = await workers.run(c.pid, [tcpTo("x", B, 9999), tcpTo("y", B, 9999)], { netnsInode: a.inode, sourceIp: A });
    expect([...wrongInode.values()]).toEqual([0, 1].map(() =>
      expect.objectContaining({
        reason: "agent_error",
        detail: `worker not in the pod's network namespace, no probe run: in network namespace ${c.inode}, not the pod's ${a.inode} (its process was replaced?)`,
      }),
    ));
    const wrongAddress = await workers.run(c.pid, [tcpTo("x", B, 9999)], { sourceIp: A6 });
    expect(wrongAddress.get("x")?.detail).toBe(`worker not in the pod's network namespace, no probe run: ${A6} is not an address of network namespace ${c.inode}: not the pod's`);
    // No probe left from c's namespace (nothing else probes port 9999 from c).
    expect(listener.output()).not.toContain(`accepted 0.0.0.0:9999 from ${C}\n`);
  });

  // ----- deadlines, failures, bounds

  it("kills a worker at its deadline: what finished survives, the rest is agent_error, nothing is left", async () => {
    await lab.dropTo(lab.pod("a"), B, 8080);
    // Margin 0: the deadline is exactly the dropped probe's timeout, which the worker can only
    // reach after its own start-up.
    const workers = pool({ marginMs: 0 });
    const { outcomes, report } = await workers.runDetailed(sleepers.a.pid, [tcpTo("fast", B, 9999, 1500), tcpTo("stuck", B, 8080, 1500)], { concurrency: 2 });
    expect(outcomes.get("fast")).toMatchObject({ reason: "ok" });
    expect(outcomes.get("stuck")).toMatchObject({ reason: "agent_error", detail: "worker killed at its deadline (1500 ms; 1 of 2 results in)" });
    expect(outcomes.get("stuck")?.durationSeconds).toBeGreaterThanOrEqual(1.5);
    expect(report).toMatchObject({ killed: "deadline", signal: "SIGKILL", reported: 1, failure: { kind: "deadline", detail: "worker killed at its deadline (1500 ms; 1 of 2 results in)" } });
    expect(workers.stats()).toMatchObject({ killed: 1, failed: 1, running: 0 });
  });

  it("kills the worker's whole process group: a hung worker and the child it started", async () => {
    const script = join(lab.dir, "hang.cjs");
    const grandchildFile = join(lab.dir, "grandchild.pid");
    writeFileSync(
      script,
      `const { spawn } = require("node:child_process");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const child = spawn("sleep", ["3600"], { stdio: "ignore" });
  require("node:fs").writeFileSync(${JSON.stringify(grandchildFile)}, String(child.pid));
  process.stdout.write(JSON.stringify({ id: request.probes[0].id, outcome: { reason: "ok", durationSeconds: 0, phases: {} } }) + "\\n");
  setInterval(() => undefined, 1000);
});
`,
    );
    // The deadline (the probes' 1500 ms and a 300 ms margin) leaves the worker's start-up room
    // on a busy machine to report its first result; the hang itself would last an hour.
    const workers = pool({ workerScript: script, marginMs: 300 });
    const started = performance.now();
    const outcomes = await workers.run(sleepers.a.pid, [tcpTo("first", B, 8080, 1500), tcpTo("second", B, 8080, 1500)]);
    expect(performance.now() - started).toBeLessThan(1800 + 1500);
    expect(outcomes.get("first")).toMatchObject({ reason: "ok" });
    expect(outcomes.get("second")).toMatchObject({ reason: "agent_error", detail: "worker killed at its deadline (1800 ms; 1 of 2 results in)" });
    const grandchild = Number(readFileSync(grandchildFile, "utf8"));
    await waitFor(() => {
      try {
        return readFileSync(`/proc/${grandchild}/stat`, "utf8").includes(") Z ");
      } catch {
        return true; // gone and reaped
      }
    }, 3000, "the worker's own child to be killed");
  });

  it("answers agent_error with the reason when nsenter cannot enter, or cannot start", async () => {
    const pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
    let missing = pidMax - 1;
    while (existsSync(`/proc/${missing}`)) missing--;
    const request = [tcpTo("x", B, 8080), tcpTo("y", B, 8081)];

    const goneReports: WorkerRunReport[] = [];
    const gone = await pool({ onRun: (report) => goneReports.push(report) }).run(missing, request);
    expect(goneReports.map((report) => report.failure?.kind)).toEqual(["nsenter"]);
    expect([...gone.values()]).toEqual([0, 1].map(() => expect.objectContaining({ reason: "agent_error", detail: `nsenter failed: cannot open /proc/${missing}/ns/net: No such file or directory (the process is gone: the pod stopped?)` })));

    // Without CAP_SYS_ADMIN (dropped from nsenter's bounding set): setns() is refused.
    const wrapper = join(lab.dir, "nsenter-without-sys-admin");
    writeFileSync(wrapper, '#!/bin/sh\nexec setpriv --bounding-set -sys_admin nsenter "$@"\n');
    chmodSync(wrapper, 0o755);
    const refused = await pool({ nsenterPath: wrapper }).run(sleepers.a.pid, request);
    expect(refused.get("x")).toMatchObject({ reason: "agent_error", detail: "nsenter failed: reassociate to namespace 'ns/net' failed: Operation not permitted (CAP_SYS_ADMIN needed)" });

    // Without CAP_SYS_PTRACE either: the namespace of a process with more privilege cannot be opened.
    writeFileSync(wrapper, '#!/bin/sh\nexec setpriv --bounding-set -sys_admin,-sys_ptrace nsenter "$@"\n');
    const denied = await pool({ nsenterPath: wrapper }).run(sleepers.a.pid, request);
    expect(denied.get("y")?.detail).toBe(`nsenter failed: cannot open /proc/${sleepers.a.pid}/ns/net: Permission denied (CAP_SYS_PTRACE needed to open it, CAP_SYS_ADMIN to enter it; hostPID)`);

    const noNsenter = pool({ nsenterPath: "/nonexistent/nsenter" });
    const unspawned = await noNsenter.run(sleepers.a.pid, request);
    expect(unspawned.get("x")).toMatchObject({ reason: "agent_error", detail: "spawn /nonexistent/nsenter: ENOENT (nsenter not found: util-linux)" });
    expect(noNsenter.stats()).toMatchObject({ spawned: 0, failed: 1, running: 0 });

    const noNode = await pool({ nodePath: "/nonexistent/node" }).run(sleepers.a.pid, request);
    expect(noNode.get("y")?.detail).toBe("nsenter failed: failed to execute /nonexistent/node: No such file or directory (the worker's node binary is missing?)");

    const badWorkerReports: WorkerRunReport[] = [];
    const badWorker = await pool({ workerScript: join(lab.dir, "no-such-worker.js"), onRun: (report) => badWorkerReports.push(report) }).run(sleepers.a.pid, request);
    expect(badWorkerReports.map((report) => report.failure?.kind)).toEqual(["exit"]);
    expect(badWorker.get("x")?.detail).toMatch(/^worker exited 1: .*Cannot find module .*no-such-worker\.js.* \(0 of 2 results in\)$/);

    // No pid at all, and a run with nothing in it, spawn nothing.
    const none = pool();
    expect((await none.run(0, request)).get("x")).toMatchObject({ reason: "agent_error", detail: "no process 0 to enter" });
    expect((await none.run(sleepers.a.pid, [])).size).toBe(0);
    expect(none.stats().spawned).toBe(0);
  });

  it("counts every run by result and each failed one by its kind; a pool that stops is not a failure", async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const onRun = recordWorkerRun(metrics.podWorkerSink());
    const request = [tcpTo("x", B, 9999)];
    expect((await pool({ onRun }).run(sleepers.a.pid, request)).get("x")).toMatchObject({ reason: "ok" });
    await pool({ nsenterPath: "/nonexistent/nsenter", onRun }).run(sleepers.a.pid, request);
    await pool({ workerScript: join(lab.dir, "no-such-worker.js"), onRun }).run(sleepers.a.pid, request);
    await lab.dropTo(lab.pod("a"), B, 8080);
    await pool({ marginMs: 0, onRun }).run(sleepers.a.pid, [tcpTo("stuck", B, 8080, 1500)]);
    const stopping = pool({ onRun });
    const inFlight = stopping.run(sleepers.a.pid, [tcpTo("long", B, 8080, 10_000)]);
    await waitFor(() => children().some((child) => child.cmdline.includes(WORKER)), 3000, "the worker to start");
    await stopping.stop();
    expect((await inFlight).get("long")).toMatchObject({ detail: "worker pool stopped (0 of 1 results in)" });

    const values = async (name: string) =>
      Object.fromEntries(((await metrics.registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => [Object.values(v.labels).join(","), v.value]));
    expect(await values("netcanary_pod_worker_runs_total")).toEqual({ ok: 1, failed: 2, killed: 2 });
    expect(await values("netcanary_pod_worker_failures_total")).toEqual({ spawn: 1, exit: 1, deadline: 1 });
  });

  it("keeps at most maxWorkers workers alive and queues the rest", async () => {
    await lab.dropTo(lab.pod("a"), B, 8080);
    const workers = pool({ maxWorkers: 3 });
    let most = 0;
    let mostQueued = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, children().filter((child) => child.cmdline.includes(WORKER)).length);
        mostQueued = Math.max(mostQueued, workers.stats().queued);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const runs = Array.from({ length: 9 }, (_, i) => workers.run(sleepers.a.pid, [tcpTo(`run-${i}`, B, 8080, 500)]));
    const results = await Promise.all(runs);
    sampling = false;
    await sampler;
    expect(results.map((outcomes, i) => outcomes.get(`run-${i}`)?.reason)).toEqual(Array<string>(9).fill("timeout"));
    expect(most).toBe(3);
    expect(mostQueued).toBe(6);
    expect(workers.stats()).toMatchObject({ spawned: 9, completed: 9, failed: 0, running: 0, queued: 0 });
  });

  it("follows a reload of maxWorkers: queued runs start at once when it grows", async () => {
    await lab.dropTo(lab.pod("a"), B, 8080);
    const workers = pool({ maxWorkers: 1 });
    // Probes that outlast the wait below, so that all four workers are alive together even when
    // a loaded machine is slow to start them.
    const runs = Array.from({ length: 4 }, (_, i) => workers.run(sleepers.a.pid, [tcpTo(`run-${i}`, B, 8080, 8000)]));
    await waitFor(() => workers.stats().running === 1 && workers.stats().queued === 3, 3000, "one worker running, three queued");
    workers.setMaxWorkers(4);
    expect(workers.stats()).toMatchObject({ running: 4, queued: 0 });
    await waitFor(() => children().filter((child) => child.cmdline.includes(WORKER)).length === 4, 5000, "four workers alive");
    expect((await Promise.all(runs)).map((outcomes, i) => outcomes.get(`run-${i}`)?.reason)).toEqual(Array<string>(4).fill("timeout"));
    expect(() => workers.setMaxWorkers(0)).toThrow("maxWorkers must be a positive integer, got 0");
  });

  it("turns runs away when the queue is full, and stop() ends everything in flight", async () => {
    await lab.dropTo(lab.pod("a"), B, 8080);
    const workers = pool({ maxWorkers: 1, maxQueued: 1 });
    const inFlight = workers.run(sleepers.a.pid, [tcpTo("long", B, 8080, 10_000)]);
    const queued = workers.run(sleepers.a.pid, [tcpTo("queued", B, 8080, 10_000)]);
    const full = await workers.run(sleepers.a.pid, [tcpTo("turned-away", B, 8080)]);
    expect(full.get("turned-away")).toMatchObject({ reason: "agent_error", detail: "worker queue full (1 runs waiting for 1 workers)" });
    await waitFor(() => children().some((child) => child.cmdline.includes(WORKER)), 3000, "the worker to start");
    const started = performance.now();
    await workers.stop();
    expect(performance.now() - started).toBeLessThan(2000);
    expect((await inFlight).get("long")).toMatchObject({ reason: "agent_error", detail: "worker pool stopped (0 of 1 results in)" });
    expect((await queued).get("queued")).toMatchObject({ reason: "agent_error", detail: "worker pool stopped" });
    expect((await workers.run(sleepers.a.pid, [tcpTo("late", B, 8080)])).get("late")).toMatchObject({ detail: "worker pool stopped" });
    expect(workers.stats()).toMatchObject({ spawned: 1, killed: 1, rejected: 1, running: 0, queued: 0 });
  });

  it("leaks no file descriptors over many runs", async () => {
    const workers = pool({ maxWorkers: 2 });
    await workers.run(sleepers.a.pid, [tcpTo("warm", B, 9999)]);
    const before = openFds();
    for (let round = 0; round < 5; round++) {
      const outcomes = await Promise.all(Array.from({ length: 4 }, (_, i) => workers.run(sleepers.a.pid, [tcpTo(`r${round}-${i}`, B, 9999)])));
      expect(outcomes.every((map) => [...map.values()].every((outcome: ProbeOutcome) => outcome.reason === "ok"))).toBe(true);
    }
    expect(openFds()).toBe(before);
  });

  it("re-validates a cached namespace: the pod's last process gone, the pod is gone", async () => {
    const locator = createNetnsLocator({ cacheMs: 600_000 });
    const found = await locator.find(podAt("c"));
    expect(found).toMatchObject({ ok: true, pid: sleepers.c.pid });
    await sleepers.c.stop();
    // The namespace itself still exists (ip netns pins it), but no process holds it.
    expect(existsSync(lab.pod("c").netnsPath)).toBe(true);
    const after = await locator.find(podAt("c"));
    expect(after).toMatchObject({ ok: false, reason: expect.stringMatching(new RegExp(`^no process of pod ${lab.pod("c").uid} `)) });
    // And a worker sent to the dead pid says so instead of probing from somewhere else.
    const outcomes = await pool().run(sleepers.c.pid, [tcpTo("from-dead-pod", B, 8080)]);
    expect(outcomes.get("from-dead-pod")?.detail).toMatch(/^nsenter failed: cannot open \/proc\/\d+\/ns\/net: No such file or directory/);
  });
});
