// The lab: Linux network namespaces as pods on a bridge, for tests (and demos) that need
// real packets, real drops and real DNS. Needs root, iproute2, nftables and flock; dnsmasq
// for lab DNS. Everything it makes is named nc-<6 hex>-..., and teardown() removes it all.
//
// Addresses. Several labs may run on one machine at once (two test runs, a test run and
// `make demo`), and the agent's pod mode finds a pod's namespace by scanning every namespace
// on the machine for the pod's IP: two labs must never hold the same address. So a lab first
// claims a slot in a machine-wide registry (lab-slots.ts: an exclusive lock the kernel drops
// when the owner dies), and may use only the addresses of its slot (lab-addresses.ts): the
// pod specs are built from them, and create() refuses any other address. The lab id starts
// with the slot, so no two live labs share a name either. A claimant that finds the record
// of a slot's dead previous owner removes what that lab left behind first.
//
// Topology. The bridge lives in a dedicated "node" namespace (nc-<id>-node), not in the
// root namespace: each pod namespace gets a veth whose peer is created directly inside the
// node namespace (`ip -n <node> link add ... peer ... netns <pod>`), so the lab never adds
// an interface, address, route or rule to the root namespace, cannot collide with another
// lab running at the same time, and deleting the node namespace removes the bridge and
// every veth at once. The node namespace has no address and no uplink; pods have only
// their /24 on eth0 (plus the routes a test asks for, all via other lab pods), and no
// default route: a packet for any other address fails with ENETUNREACH inside the pod.
// Nothing the lab does can reach the machine's real network. Outside /run/netns, the lab
// writes only its temp directory, its slot's lock file under /run/netcanary-labs, and
// /etc/netns/<netns>/resolv.conf for pods that ask (and /etc/netns itself when missing,
// removed by the last lab using it).
//
// Rules: dropTo/rejectTo act in the network (the node namespace), see LAB_RULES_TABLE;
// nft()/ensureFilter() load any ruleset into any lab namespace (e.g. a pod's own firewall).
//
// Process handling: every command runs in its own process group (detached), so a timeout
// or stop() kills the whole group; every wait is bounded. A process.on("exit") hook kills
// what is still running and deletes the namespaces if a test run dies before teardown();
// if it dies without running it (SIGKILL), the next lab to claim its slot cleans up.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { labAddresses, type LabAddresses } from "./lab-addresses.ts";
import { inCgroup, podCgroupDir, removeLabCgroups } from "./lab-cgroups.ts";
import { claimSlot, type ClaimOptions, REGISTRY_DIR, type SlotClaim } from "./lab-slots.ts";

// ---------------------------------------------------------------------------------------
// Bounded commands and processes

export interface ExecOptions {
  /** Kill the command's process group after this long and reject (default 10 s). */
  readonly timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string;
  /** Added to this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Called with the child once spawned (to signal it while it runs). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Runs argv (no shell) in its own process group; resolves with its exit, rejects on timeout. */
export function runCommand(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.reject(new Error("runCommand: empty argv"));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      detached: true,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    options.onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    if (options.input !== undefined) {
      child.stdin?.on("error", () => undefined); // the command may exit without reading
      child.stdin?.end(options.input);
    }
    const timer = setTimeout(() => {
      killGroup(child.pid, "SIGKILL");
      reject(new Error(`${argv.join(" ")}: no exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started });
    });
  });
}

/** runCommand that rejects unless the command exits 0. */
export async function mustRun(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const result = await runCommand(argv, options);
  if (result.code !== 0) {
    throw new Error(`${argv.join(" ")} exited ${result.code ?? result.signal}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result;
}

/** Polls until check() returns a value other than undefined; rejects after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 10_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(1, deadline - Date.now()))));
  }
}

const OUTPUT_LIMIT = 1 << 20;

/** A long-running process in a namespace; stop() ends its whole process group. */
export interface LabProcess {
  readonly pid: number;
  readonly name: string;
  /** stdout and stderr interleaved as they arrived (the last MiB). */
  output(): string;
  readonly running: boolean;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the output once it matches; rejects on timeout or if the process exits first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM to the group, SIGKILL after graceMs. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

function startGroup(name: string, argv: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string }): LabProcess {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error("startProcess: empty argv");
  // stdin stays an open pipe: helpers started by the lab exit when it closes, i.e. when
  // the test process dies without tearing down.
  const child: ChildProcess = spawn(command, args, {
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${argv.join(" ")}`);
  const pid = child.pid;
  let text = "";
  let running = true;
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer): void => {
    text += chunk.toString();
    if (text.length > OUTPUT_LIMIT) text = text.slice(text.length - OUTPUT_LIMIT);
    for (const listener of listeners) listener();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  child.stdin?.on("error", () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("error", (error) => {
      text += `\n[spawn error: ${error.message}]\n`;
      running = false;
      liveGroups.delete(pid);
      resolve({ code: null, signal: null });
      for (const listener of listeners) listener();
    });
    child.on("close", (code, signal) => {
      running = false;
      liveGroups.delete(pid);
      resolve({ code, signal });
      for (const listener of listeners) listener();
    });
  });
  liveGroups.add(pid);
  let stopping: Promise<void> | undefined;
  const handle: LabProcess = {
    pid,
    name,
    output: () => text,
    get running() {
      return running;
    },
    exited,
    waitForOutput(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(text)) {
            done();
            resolve(text);
          } else if (!running) {
            done();
            reject(new Error(`${name} exited before printing ${pattern}; output:\n${text.slice(-4000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms; output:\n${text.slice(-4000)}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        if (!running) return;
        killGroup(pid, "SIGTERM");
        const outcome = await Promise.race([exited.then(() => "exited" as const), delay(graceMs).then(() => "late" as const)]);
        if (outcome === "late") {
          killGroup(pid, "SIGKILL");
          await Promise.race([exited, delay(2000)]);
        }
        child.stdin?.destroy();
      })();
      return stopping;
    },
  };
  return handle;
}

/** A long-running process outside the lab (in this namespace), handled like the lab's own. */
export function startProcess(name: string, argv: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): LabProcess {
  installExitHook();
  return startGroup(name, argv, options);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

// ---------------------------------------------------------------------------------------
// Emergency cleanup if the process exits without teardown()

const liveGroups = new Set<number>();
const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const pid of liveGroups) killGroup(pid, "SIGKILL");
    for (const lab of liveLabs) lab.teardownSync();
  });
}

// ---------------------------------------------------------------------------------------
// The lab

export interface PodSpec {
  /** Short name: [a-z0-9-], at most 12 characters; the namespace is nc-<id>-<name>. */
  readonly name: string;
  /** The pod's address on the lab subnet (eth0): addresses.ip(host). */
  readonly ip: string;
  /** More addresses (host addresses, /32) on the pod's loopback, e.g. "Zscaler" VIPs. */
  readonly addresses?: readonly string[];
  /** Routes via other lab pods, e.g. { to: "192.0.2.0/24", via: <zscaler pod ip> }. */
  readonly routes?: readonly { readonly to: string; readonly via: string }[];
  /** Prefixes that get an "unreachable" route (connects fail with EHOSTUNREACH at once). */
  readonly unreachable?: readonly string[];
  /**
   * Resolvers for the pod's /etc/resolv.conf: written to /etc/netns/<netns>/resolv.conf,
   * which `ip netns exec` bind-mounts over /etc/resolv.conf (removed on teardown).
   */
  readonly nameservers?: readonly string[];
}

/** Every address in it must be the lab's own (LabAddresses): create() checks. */
export interface LabSpec {
  readonly pods: readonly PodSpec[];
}

/** The lab's layout, from the addresses of the slot it claimed. */
export type LabLayout = (addresses: LabAddresses) => LabSpec;

/** Which slots create() may claim and how long it waits for one (see lab-slots.ts). */
export type LabOptions = ClaimOptions;

/** Commands every lab needs (a test's describeWith adds what else it uses: nft for rules, dnsmasq). */
export const LAB_COMMANDS = ["ip", "flock"] as const;

/** A namespace to run in: a pod, the node, or a netns name. */
export type Where = string | { readonly netns: string };

export interface LabPod {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  /** /run/netns/<netns>: what nsenter --net= takes. */
  readonly netnsPath: string;
  /** The pod's veth peer on the bridge, in the node namespace. */
  readonly bridgePort: string;
  /** The pod's UID: its processes run in the cgroup pod<uid> (lab-cgroups.ts), its manifest says metadata.uid. */
  readonly uid: string;
}

export type Protocol = "tcp" | "udp";

export interface DnsmasqOptions {
  /** The address to answer on (a lab address of the pod). */
  readonly listen: string;
  /** name -> address: --host-record=name,ip (that exact name; its other record types are NODATA). */
  readonly records: Readonly<Record<string, string>>;
  /**
   * Domains answered locally (--local=/domain/): a name under them without a record gets
   * NXDOMAIN. Any other name gets REFUSED: dnsmasq has no upstream (--no-resolv).
   */
  readonly local?: readonly string[];
  readonly port?: number;
}

export interface HttpResult {
  /** 0 when the request failed before a response (then error says why). */
  readonly status: number;
  readonly body: string;
  readonly error?: string;
}

/** The table ensureFilter() declares in a namespace, for a test's own nft() rules. */
export const FILTER_TABLE = "inet filter";
const FILTER_BASE = `table inet filter {
  chain input { type filter hook input priority filter; policy accept; }
  chain output { type filter hook output priority filter; policy accept; }
  chain forward { type filter hook forward priority filter; policy accept; }
}
`;

/**
 * Where dropTo/rejectTo put their rules: a netdev table in the node namespace, one chain
 * per pod, hooked on ingress of the pod's bridge port. That is the network dropping or
 * rejecting, as a CNI or a firewall on the path would: the sending pod's kernel sees
 * nothing. A rule in the pod's own output hook would not do: a dropped UDP datagram makes
 * sendmsg() fail with EPERM there, which c-ares reports as ECONNREFUSED, so a dropped DNS
 * query would look refused instead of timing out. (Reject with tcp reset is supported by
 * the netdev family, not by the bridge family in every kernel.)
 */
export const LAB_RULES_TABLE = "lab";

function chainOf(pod: LabPod): string {
  return `from-${pod.name}`;
}

const TCP_LISTENER = `
const net = require("node:net");
const [host, ...ports] = process.argv.slice(1);
let pending = ports.length;
for (const port of ports) {
  const server = net.createServer((socket) => {
    process.stdout.write("accepted " + host + ":" + port + " from " + socket.remoteAddress + "\\n");
    socket.on("error", () => undefined);
    socket.end();
  });
  server.on("error", (error) => { process.stderr.write(String(error) + "\\n"); process.exit(1); });
  server.listen(Number(port), host, () => { if (--pending === 0) process.stdout.write("listening\\n"); });
}
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
`;

const HTTP_SERVER = `
const http = require("node:http");
const [host, port] = process.argv.slice(1);
const server = http.createServer((request, response) => {
  process.stdout.write(request.method + " " + request.url + " host " + request.headers.host + " from " + request.socket.remoteAddress + "\\n");
  response.writeHead(200, { "content-type": "text/plain", connection: "close" });
  response.end("lab origin\\n");
});
server.on("error", (error) => { process.stderr.write(String(error) + "\\n"); process.exit(1); });
server.listen(Number(port), host, () => process.stdout.write("listening\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
`;

const HTTP_GET = `
const [url, ms] = process.argv.slice(1);
fetch(url, { signal: AbortSignal.timeout(Number(ms)) }).then(
  async (response) => process.stdout.write(JSON.stringify({ status: response.status, body: await response.text() })),
  (error) => process.stdout.write(JSON.stringify({ status: 0, body: "", error: String((error && error.cause && error.cause.code) || (error && error.message) || error) })),
);
`;

const POD_NAME = /^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/;

function netnsOf(where: Where): string {
  return typeof where === "string" ? where : where.netns;
}

function ipFamily(ip: string): "ip" | "ip6" {
  return isIPv6(ip) ? "ip6" : "ip";
}

export class Lab {
  /** 6 hex digits, unique among the labs on the machine (the first two are the slot): in every name the lab creates. */
  readonly id: string;
  /** The addresses of the lab's slot: its pods', and its documentation blocks. */
  readonly addresses: LabAddresses;
  readonly node: { readonly netns: string };
  readonly pods: Readonly<Record<string, LabPod>>;
  /** A directory for the test's files (configs, pid files, Prometheus data); removed on teardown. */
  readonly dir: string;
  private readonly claim: SlotClaim;
  private readonly namespaces: string[] = [];
  private readonly etcDirs: string[] = [];
  private readonly processes = new Set<LabProcess>();
  /** Pods that have a rule chain in the node's LAB_RULES_TABLE. */
  private readonly ruleChains = new Set<string>();
  private tornDown: Promise<void> | undefined;

  private constructor(id: string, addresses: LabAddresses, pods: Record<string, LabPod>, claim: SlotClaim) {
    this.id = id;
    this.addresses = addresses;
    this.node = { netns: `nc-${id}-node` };
    this.pods = pods;
    this.claim = claim;
    this.dir = mkdtempSync(join(tmpdir(), `nc-${id}-`));
    // What the next holder of the slot removes if this process dies before teardown().
    claim.record(`${JSON.stringify({ id, pid: process.pid, dir: this.dir } satisfies LabRecord)}\n`);
  }

  /**
   * Claims a slot, builds the lab from layout(addresses of the slot); on any failure what was
   * made so far is removed (and the slot released) before rejecting.
   */
  static async create(layout: LabLayout, options: LabOptions = {}): Promise<Lab> {
    const claim = await claimSlot(options);
    if (claim.previous !== undefined) {
      try {
        await removeLeftovers(claim.slot, claim.previous);
      } catch (error) {
        claim.release({ keepRecord: true }); // what is left still needs removing
        throw error;
      }
    }
    let lab: Lab | undefined;
    try {
      const addresses = labAddresses(claim.slot);
      const spec = layout(addresses);
      checkAddresses(spec, addresses);
      const id = `${claim.slot.toString(16).padStart(2, "0")}${randomBytes(2).toString("hex")}`;
      const pods: Record<string, LabPod> = {};
      for (const pod of spec.pods) {
        if (!POD_NAME.test(pod.name)) throw new Error(`lab pod name "${pod.name}": use [a-z0-9-], 12 characters at most`);
        if (pods[pod.name]) throw new Error(`lab pod "${pod.name}" is defined twice`);
        const netns = `nc-${id}-${pod.name}`;
        pods[pod.name] = { name: pod.name, netns, ip: pod.ip, netnsPath: `/run/netns/${netns}`, bridgePort: `p${Object.keys(pods).length}`, uid: randomUUID() };
      }
      lab = new Lab(id, addresses, pods, claim);
      installExitHook();
      liveLabs.add(lab);
      await lab.build(spec);
      return lab;
    } catch (error) {
      // Built partly: teardown() removes it and releases the slot; before that, only the slot.
      if (lab !== undefined) await lab.teardown();
      else claim.release();
      throw error;
    }
  }

  private async build(spec: LabSpec): Promise<void> {
    const prefix = this.addresses.subnet.cidr.split("/")[1] as string;
    await this.addNamespace(this.node.netns);
    const node = this.node.netns;
    await mustRun(["ip", "-n", node, "link", "add", "br0", "type", "bridge"]);
    await mustRun(["ip", "-n", node, "link", "set", "br0", "up"]);
    for (const podSpec of spec.pods) {
      const pod = this.pod(podSpec.name);
      const ns = pod.netns;
      await this.addNamespace(ns);
      // veth made inside the node namespace, its peer moved straight into the pod:
      // neither end ever exists in the root namespace.
      mkdirSync(podCgroupDir(this.id, pod.uid), { recursive: true });
      await mustRun(["ip", "-n", node, "link", "add", pod.bridgePort, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      await mustRun(["ip", "-n", node, "link", "set", pod.bridgePort, "master", "br0", "up"]);
      await mustRun(["ip", "-n", ns, "addr", "add", `${pod.ip}/${prefix}`, "dev", "eth0"]);
      await mustRun(["ip", "-n", ns, "link", "set", "eth0", "up"]);
      for (const address of podSpec.addresses ?? []) {
        await mustRun(["ip", "-n", ns, "addr", "add", `${address}/${isIPv6(address) ? 128 : 32}`, "dev", "lo"]);
      }
      for (const route of podSpec.routes ?? []) await mustRun(["ip", "-n", ns, "route", "add", route.to, "via", route.via, "dev", "eth0"]);
      for (const prefixText of podSpec.unreachable ?? []) await mustRun(["ip", "-n", ns, "route", "add", "unreachable", prefixText]);
      if (podSpec.nameservers) this.writeResolvConf(ns, podSpec.nameservers);
    }
  }

  private async addNamespace(netns: string): Promise<void> {
    await mustRun(["ip", "netns", "add", netns]);
    this.namespaces.push(netns);
    await mustRun(["ip", "-n", netns, "link", "set", "lo", "up"]);
  }

  private writeResolvConf(netns: string, nameservers: readonly string[]): void {
    const dir = join(ETC_NETNS, netns);
    // Another lab may remove an empty /etc/netns between our mkdir of it and of our dir.
    for (let attempt = 0; ; attempt++) {
      ensureEtcNetns();
      try {
        mkdirSync(dir);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 5) throw error;
      }
    }
    this.etcDirs.push(dir);
    writeFileSync(join(dir, "resolv.conf"), `${nameservers.map((server) => `nameserver ${server}`).join("\n")}\noptions timeout:1 attempts:1\n`);
  }

  pod(name: string): LabPod {
    const pod = this.pods[name];
    if (!pod) throw new Error(`no lab pod "${name}" (have: ${Object.keys(this.pods).join(", ")})`);
    return pod;
  }

  /** Runs argv inside the namespace (bounded; never rejects on a non-zero exit). */
  exec(where: Where, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return runCommand(["ip", "netns", "exec", netnsOf(where), ...argv], options);
  }

  /**
   * Starts a long-running process in the namespace (a pod's: in the pod's cgroup too, as a
   * container's process is); teardown() stops it if the test does not.
   */
  startProcess(where: Where, command: string, args: readonly string[] = [], options: { env?: NodeJS.ProcessEnv; cwd?: string; name?: string } = {}): LabProcess {
    const argv = ["ip", "netns", "exec", netnsOf(where), command, ...args];
    const pod = typeof where === "object" && "uid" in where ? (where as LabPod) : undefined;
    const handle = startGroup(options.name ?? `${command} in ${netnsOf(where)}`, pod ? inCgroup(podCgroupDir(this.id, pod.uid), argv) : argv, options);
    this.processes.add(handle);
    return handle;
  }

  // ----- nftables

  /** Loads nft script text (nft -f -) into the namespace. */
  async nft(where: Where, rulesText: string): Promise<void> {
    await mustRun(["ip", "netns", "exec", netnsOf(where), "nft", "-f", "-"], { input: rulesText });
  }

  /** Creates `table inet filter` with accepting input/output/forward chains (idempotent). */
  async ensureFilter(where: Where): Promise<void> {
    await this.nft(where, FILTER_BASE);
  }

  /**
   * Silently drops what the pod sends to ip (and port; TCP and UDP unless protocol says):
   * the pod's probes time out. The rule sits in the network, not in the pod (see LAB_RULES).
   */
  async dropTo(from: LabPod, ip: string, port?: number, protocol?: Protocol): Promise<void> {
    const match = [`${ipFamily(ip)} daddr ${ip}`];
    if (port !== undefined) match.push(protocol ? `${protocol} dport ${port}` : `meta l4proto { tcp, udp } th dport ${port}`);
    else if (protocol) match.push(`meta l4proto ${protocol}`);
    await this.addRule(from, `${match.join(" ")} counter drop`);
  }

  /** Answers the pod's TCP connections to ip:port with a RST from the network: probes are refused. */
  async rejectTo(from: LabPod, ip: string, port: number): Promise<void> {
    await this.addRule(from, `${ipFamily(ip)} daddr ${ip} tcp dport ${port} counter reject with tcp reset`);
  }

  /** Removes the rules dropTo/rejectTo made for one pod, or for every pod. */
  async clearRules(from?: LabPod): Promise<void> {
    for (const pod of from ? [from] : Object.values(this.pods)) {
      if (!this.ruleChains.has(pod.name)) continue;
      await this.nft(this.node, `flush chain netdev ${LAB_RULES_TABLE} ${chainOf(pod)}\n`);
    }
  }

  /** Packets the rules for one pod (or for every pod) have matched, from their counters. */
  async matchedPackets(from?: LabPod): Promise<number> {
    let total = 0;
    for (const pod of from ? [from] : Object.values(this.pods)) {
      if (!this.ruleChains.has(pod.name)) continue;
      const listed = await mustRun(["ip", "netns", "exec", this.node.netns, "nft", "list", "chain", "netdev", LAB_RULES_TABLE, chainOf(pod)]);
      for (const match of listed.stdout.matchAll(/counter packets (\d+)/g)) total += Number(match[1]);
    }
    return total;
  }

  private async addRule(from: LabPod, rule: string): Promise<void> {
    const pod = this.pod(from.name);
    const chain = chainOf(pod);
    // The pod's packets enter the node namespace through its bridge port: an ingress chain
    // on that port sees everything the pod sends, before the bridge forwards it.
    const declare = this.ruleChains.has(pod.name)
      ? ""
      : `table netdev ${LAB_RULES_TABLE} {\n  chain ${chain} { type filter hook ingress device "${pod.bridgePort}" priority filter; policy accept; }\n}\n`;
    await this.nft(this.node, `${declare}add rule netdev ${LAB_RULES_TABLE} ${chain} ${rule}\n`);
    this.ruleChains.add(pod.name);
  }

  // ----- servers

  /** A TCP listener on host:ports inside the namespace; each accepted connection prints "accepted host:port from <ip>". */
  async tcpListener(where: Where, host: string, ports: readonly number[], timeoutMs = 10_000): Promise<LabProcess> {
    const handle = this.startProcess(where, process.execPath, ["-e", TCP_LISTENER, host, ...ports.map(String)], {
      name: `tcp listener ${host}:${ports.join(",")}`,
    });
    await handle.waitForOutput(/^listening$/m, timeoutMs);
    return handle;
  }

  /** An HTTP server on host:port inside the namespace: 200 to every request, each printed as "GET <url> host <host> from <ip>". */
  async httpServer(where: Where, host: string, port: number, timeoutMs = 10_000): Promise<LabProcess> {
    const handle = this.startProcess(where, process.execPath, ["-e", HTTP_SERVER, host, String(port)], { name: `http server ${host}:${port}` });
    await handle.waitForOutput(/^listening$/m, timeoutMs);
    return handle;
  }

  /** dnsmasq answering the given names, nothing else (no upstream, no /etc/hosts); queries are logged to output(). */
  async dnsmasq(where: Where, options: DnsmasqOptions, timeoutMs = 10_000): Promise<LabProcess> {
    const port = options.port ?? 53;
    const args = [
      "--no-daemon",
      "--no-resolv",
      "--no-hosts",
      "--conf-file=/dev/null",
      "--bind-interfaces",
      `--listen-address=${options.listen}`,
      `--port=${port}`,
      `--pid-file=${join(this.dir, `dnsmasq-${netnsOf(where)}-${port}.pid`)}`,
      "--log-queries",
      "--log-facility=-",
      ...Object.entries(options.records).map(([name, ip]) => `--host-record=${name},${ip}`),
      ...(options.local ?? []).map((domain) => `--local=/${domain}/`),
    ];
    const handle = this.startProcess(where, "dnsmasq", args, { name: `dnsmasq ${options.listen}:${port}` });
    // Sockets are bound before dnsmasq drops privileges and logs that it started.
    await handle.waitForOutput(/started, version/, timeoutMs);
    return handle;
  }

  /** HTTP GET from inside the namespace (the test process itself cannot reach lab addresses). */
  async httpGet(where: Where, url: string, timeoutMs = 3000): Promise<HttpResult> {
    const result = await this.exec(where, [process.execPath, "-e", HTTP_GET, url, String(timeoutMs)], { timeoutMs: timeoutMs + 5000 });
    try {
      return JSON.parse(result.stdout) as HttpResult;
    } catch {
      return { status: 0, body: "", error: `helper failed (exit ${result.code}): ${result.stderr.trim().slice(0, 500)}` };
    }
  }

  // ----- teardown

  /**
   * Stops every process, deletes every namespace (with its veths, bridge and nft tables) and
   * file, and releases the slot. Idempotent. Should a namespace outlive its deletion, the
   * slot's record stays for the next claimant, which removes it.
   */
  teardown(): Promise<void> {
    this.tornDown ??= (async () => {
      await Promise.all([...this.processes].map((handle) => handle.stop(2000)));
      for (const netns of [...this.namespaces].reverse()) {
        await runCommand(["ip", "netns", "del", netns]).catch(() => undefined);
      }
      this.removeFiles();
      removeLabCgroups(this.id);
      this.namespaces.length = 0;
      liveLabs.delete(this);
      const left = await namespacesWithPrefix(`nc-${this.id}-`).catch(() => ["(ip netns list failed)"]);
      this.claim.release({ keepRecord: left.length > 0 });
    })();
    return this.tornDown;
  }

  /** For the exit hook only: synchronous best effort. */
  teardownSync(): void {
    for (const handle of this.processes) killGroup(handle.pid, "SIGKILL");
    try {
      removeLabCgroups(this.id);
    } catch {
      // the next claimant of the slot removes what is left
    }
    for (const netns of this.namespaces) {
      try {
        execFileSync("ip", ["netns", "del", netns], { stdio: "ignore", timeout: 5000 });
      } catch {
        // already gone
      }
    }
    this.removeFiles();
    // The record stays: the next claimant checks that nothing is left.
    this.claim.release({ keepRecord: true });
  }

  private removeFiles(): void {
    for (const dir of this.etcDirs) rmSync(dir, { recursive: true, force: true });
    if (this.etcDirs.length > 0) tidyEtcNetns();
    this.etcDirs.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Addresses, /etc/netns and leftovers

/** What a lab records in its slot (lab-slots.ts). */
interface LabRecord {
  readonly id: string;
  readonly pid: number;
  readonly dir: string;
}

/** Throws unless every address of the spec is one of the lab's own. */
function checkAddresses(spec: LabSpec, addresses: LabAddresses): void {
  const owned = `${addresses.subnet.cidr}, ${addresses.subnet6}, ${addresses.testNet1.cidr}, ${addresses.testNet2.cidr}, ${addresses.testNet3.cidr}`;
  const check = (pod: string, field: string, text: string, podSubnet: boolean): void => {
    if (!(podSubnet ? isPodAddress(addresses, text) : addresses.owns(text))) throw new Error(`lab pod "${pod}": ${field} ${text} is not an address of the lab's slot ${addresses.slot} (${podSubnet ? addresses.subnet.cidr : owned}): take it from the lab's addresses`);
  };
  for (const pod of spec.pods) {
    check(pod.name, "ip", pod.ip, true);
    for (const address of pod.addresses ?? []) check(pod.name, "addresses", address, false);
    for (const route of pod.routes ?? []) {
      check(pod.name, "routes.to", route.to, false);
      check(pod.name, "routes.via", route.via, true);
    }
    for (const prefix of pod.unreachable ?? []) check(pod.name, "unreachable", prefix, false);
    for (const server of pod.nameservers ?? []) check(pod.name, "nameservers", server, false);
  }
}

/** A host address of the pods' subnet (neither its first nor its last). */
function isPodAddress(addresses: LabAddresses, text: string): boolean {
  const subnet = addresses.subnet;
  for (let host = 1; host < subnet.size - 1; host++) if (subnet.at(host) === text) return true;
  return false;
}

const ETC_NETNS = "/etc/netns";
/** Present while /etc/netns is a directory labs created (not the machine's own): the last lab removes it. */
const ETC_NETNS_MARK = join(REGISTRY_DIR, "etc-netns-created");

function ensureEtcNetns(): void {
  try {
    mkdirSync(ETC_NETNS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    throw error;
  }
  writeFileSync(ETC_NETNS_MARK, "");
}

/** Removes /etc/netns if labs created it and no lab uses it any more. */
function tidyEtcNetns(): void {
  try {
    unlinkSync(ETC_NETNS_MARK);
  } catch {
    return; // the machine's own /etc/netns, or another lab is removing it
  }
  try {
    rmdirSync(ETC_NETNS);
  } catch (error) {
    // Still in use (another lab's files): whoever finishes last removes it.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") writeFileSync(ETC_NETNS_MARK, "");
  }
}

/**
 * Removes what the lab of a record left when its process died without teardown(): kills the
 * processes in its namespaces (a namespace lives on while a process holds it, and the agent's
 * scan would still find its addresses), deletes the namespaces, its /etc/netns files and dir.
 */
async function removeLeftovers(slot: number, recordText: string): Promise<void> {
  let record: LabRecord;
  try {
    record = JSON.parse(recordText) as LabRecord;
  } catch {
    throw new Error(`lab slot ${slot}: unreadable record ${JSON.stringify(recordText.slice(0, 200))} in ${REGISTRY_DIR}`);
  }
  if (typeof record.id !== "string" || !/^[0-9a-f]{6}$/.test(record.id)) throw new Error(`lab slot ${slot}: record without a lab id: ${recordText.slice(0, 200)}`);
  const prefix = `nc-${record.id}-`;
  const removed: string[] = [];
  for (const netns of await namespacesWithPrefix(prefix)) {
    const pids = await runCommand(["ip", "netns", "pids", netns]);
    for (const pid of pids.stdout.split("\n").filter((line) => /^\d+$/.test(line))) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // gone
      }
    }
    await runCommand(["ip", "netns", "del", netns]);
    removed.push(netns);
  }
  let etc: string[] = [];
  try {
    etc = readdirSync(ETC_NETNS).filter((name) => name.startsWith(prefix));
  } catch {
    // no /etc/netns
  }
  for (const name of etc) rmSync(join(ETC_NETNS, name), { recursive: true, force: true });
  if (etc.length > 0) tidyEtcNetns();
  if (typeof record.dir === "string" && basename(record.dir).startsWith(prefix)) rmSync(record.dir, { recursive: true, force: true });
  removed.push(...removeLabCgroups(record.id));
  const left = await namespacesWithPrefix(prefix);
  if (left.length > 0) throw new Error(`lab slot ${slot}: could not remove what lab ${record.id} (pid ${record.pid}) left: ${left.join(", ")}`);
  if (removed.length + etc.length > 0) {
    console.warn(`lab slot ${slot}: removed what lab ${record.id} (pid ${record.pid}, gone) left behind: ${[...removed, ...etc.map((name) => join(ETC_NETNS, name))].join(", ")}`);
  }
}

/** Namespaces that exist now whose names start with the prefix (for leak checks). */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const listed = await mustRun(["ip", "netns", "list"]);
  return listed.stdout
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(prefix));
}
