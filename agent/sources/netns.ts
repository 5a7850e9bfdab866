// Finding a pod's network namespace from its IP (labeled-pod sources).
//
// With hostPID the agent sees every process on the node. A network namespace has no name
// the kernel gives out, but every process in one points at it: /proc/<pid>/ns/net is a
// magic link ("net:[4026532xxx]", the inode names the namespace) that nsenter --net= can
// enter, and /proc/<pid>/net/ shows that namespace's view of the network. So: list the
// processes, group them by namespace inode (readlink, no file is opened), read each
// namespace's local addresses ONCE (IPv4: the "/32 host LOCAL" leaves of
// /proc/<pid>/net/fib_trie; IPv6: /proc/<pid>/net/if_inet6) and index address -> namespace.
// find(podIp) answers from that index, re-validating the hit first (the pid still alive,
// still in that namespace, the address still local) because pods come and go between
// rounds; a scan is reused for cacheMs, so a round of N sources costs one scan, not N.
//
// How pods look from here:
// - containerd (CRI plugin) and CRI-O: the runtime creates the pod's network namespace
//   before any container (pinned by a bind mount under /var/run/netns/ or /run/netns/), CNI
//   puts the pod IP in it, and the sandbox ("pause") container's process lives in it for the
//   pod's whole life. Every container of the pod joins that same namespace, so the scan sees
//   the pause process and all the app processes under one inode; any of them will do for
//   nsenter, the lowest pid (usually the pause process, started first) is tried first.
//   CRI-O can run pods without an infra container (drop_infra_ctr): then only the app
//   processes hold it, and while every container of such a pod is restarting nothing does
//   and the pod is "not found" for that moment.
// - hostNetwork pods share the node's namespace: their "pod IP" is a node address. The
//   caller must skip them (probe them as the node, or not at all); find() refuses an
//   address of the agent's own or the node's namespace rather than enter it.
// - Kata/VM runtimes: the namespace found holds the VM's side of the network, not the
//   guest's kernel; probes from it bypass the guest's own firewall.
//
// Needs: hostPID; CAP_SYS_PTRACE to readlink /proc/<pid>/ns/* of processes this one may not
// ptrace (other users', or ones with capabilities the agent lacks); CAP_SYS_ADMIN for the
// setns() nsenter does later. Failure reasons say which is missing.

import { readdir, readlink } from "node:fs/promises";
import { parseIp, type IpAddress } from "../addresses/ip.js";
import { readBoundedFile } from "../files/read.js";
import { MAX_PROC_NET_BYTES, parseFibTrieLocal, parseIfInet6 } from "../procfs/network.js";

// ---------------------------------------------------------------------------------------
// The locator

export type NetnsLookup =
  | {
      readonly ok: true;
      /** The process whose namespace to enter. */
      readonly pid: number;
      /** What nsenter --net= takes: <procRoot>/<pid>/ns/net. */
      readonly netns: string;
      /** The namespace's identity, "net:[4026532xxx]". */
      readonly inode: string;
      /** Every process seen in it (the first is pid): where to read the pod's files. */
      readonly pids: readonly number[];
    }
  | { readonly ok: false; readonly reason: string };

export interface NetnsLocatorOptions {
  /** Where proc is mounted (default /proc; a test can point this at a fake tree). */
  readonly procRoot?: string;
  /**
   * How long a scan answers misses (default 5 s): an address no namespace had is looked up
   * again only after this, so a round with many unknown pods costs one scan. Hits are always
   * re-validated, and a hit that fails validation rescans at once.
   */
  readonly cacheMs?: number;
  /** At most this many processes are examined per scan (default 32768). */
  readonly maxProcesses?: number;
  /** A scan stops after this long and says so (default 5 s). */
  readonly budgetMs?: number;
  /** Processes kept per namespace as candidates (default 8). */
  readonly pidsPerNamespace?: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

export interface NetnsLocator {
  find(podIp: string): Promise<NetnsLookup>;
  /** Figures of the last scan, for logs and metrics. */
  lastScan(): ScanSummary | undefined;
}

export interface ScanSummary {
  readonly at: number;
  readonly durationMs: number;
  readonly processes: number;
  readonly namespaces: number;
  /** Processes whose namespace could not be read for lack of permission. */
  readonly denied: number;
  /** Why the scan stopped early, if it did. */
  readonly truncated?: string;
}

interface Namespace {
  readonly inode: string;
  readonly pids: number[];
  /** "own": the agent's; "node": the node's (init) namespace; else a candidate pod's. */
  readonly kind: "own" | "node" | "pod";
}

interface Scan extends ScanSummary {
  /** Address -> the namespaces holding it (more than one pod namespace: ambiguous). */
  readonly byAddress: ReadonlyMap<string, readonly Namespace[]>;
  readonly deniedExample?: string;
  readonly ownInode?: string;
}

const NS_LINK = /^net:\[(\d+)\]$/;

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function errorText(error: unknown): string {
  const code = errorCode(error);
  if (code === "EACCES" || code === "EPERM") return "permission denied (CAP_SYS_PTRACE needed)";
  if (code === "ENOENT" || code === "ESRCH") return "no such file (the process is gone?)";
  return code ?? (error instanceof Error ? error.message : String(error));
}

function isPermission(error: unknown): boolean {
  const code = errorCode(error);
  return code === "EACCES" || code === "EPERM";
}

/** Why an address can never be a pod's own: shared by every namespace, or not unicast. */
function unusable(ip: IpAddress): string | undefined {
  if (ip.family === 4) {
    if (ip.value >> 24n === 127n) return "a loopback address (every namespace has it)";
    if (ip.value === 0n) return "the unspecified address";
    if (ip.value >> 28n === 0xen) return "a multicast address";
    return undefined;
  }
  if (ip.value === 1n) return "a loopback address (every namespace has it)";
  if (ip.value === 0n) return "the unspecified address";
  if (ip.value >> 118n === 0x3fan) return "a link-local address (not unique across namespaces)";
  if (ip.value >> 120n === 0xffn) return "a multicast address";
  return undefined;
}

export function createNetnsLocator(options: NetnsLocatorOptions = {}): NetnsLocator {
  const procRoot = options.procRoot ?? "/proc";
  const cacheMs = options.cacheMs ?? 5000;
  const maxProcesses = options.maxProcesses ?? 32_768;
  const budgetMs = options.budgetMs ?? 5000;
  const pidsPerNamespace = options.pidsPerNamespace ?? 8;
  const now = options.now ?? (() => performance.now());

  let current: Scan | undefined;
  let scanning: Promise<Scan> | undefined;

  async function nsOf(pid: number | "self"): Promise<string> {
    const link = await readlink(`${procRoot}/${pid}/ns/net`);
    if (!NS_LINK.test(link)) throw new Error(`unexpected ${procRoot}/${pid}/ns/net link "${link}"`);
    return link;
  }

  /**
   * A /proc file of pid, bounded (a pod's tenant decides how large its routing tables are);
   * a read that fails throws as fs calls do, with the errno's code, for the callers below.
   */
  async function procText(pid: number | 2, name: string, maxBytes = MAX_PROC_NET_BYTES): Promise<string> {
    const read = await readBoundedFile(`${procRoot}/${pid}/${name}`, { maxBytes });
    if (read.ok) return read.text;
    const code = { missing: "ENOENT", permission: "EACCES" }[read.problem as string] ?? "EIO";
    throw Object.assign(new Error(read.message), { code });
  }

  /** Local addresses of pid's namespace, in the family asked (both when undefined). */
  async function addressesOf(pid: number, family?: 4 | 6): Promise<string[]> {
    const addresses: string[] = [];
    if (family !== 6) addresses.push(...parseFibTrieLocal(await procText(pid, "net/fib_trie")));
    if (family !== 4) {
      let text = "";
      try {
        text = await procText(pid, "net/if_inet6");
      } catch (error) {
        // A kernel booted with ipv6.disable=1 has no if_inet6 at all.
        if (errorCode(error) !== "ENOENT" || family === 6) throw error;
      }
      addresses.push(...parseIfInet6(text).map((entry) => entry.address));
    }
    return addresses;
  }

  /** The node's namespace: kernel threads always live in it (pid 2 is kthreadd with hostPID). */
  async function nodeInode(): Promise<string | undefined> {
    for (const pid of [2, 1]) {
      try {
        if (pid === 2 && (await procText(2, "comm", 64)).trim() !== "kthreadd") continue;
        return await nsOf(pid);
      } catch {
        // not visible, or not readable
      }
    }
    return undefined;
  }

  async function scan(): Promise<Scan> {
    const started = now();
    const ownInode = await nsOf("self").catch(() => undefined);
    const node = await nodeInode();
    const entries = await readdir(procRoot);
    const pids = entries
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .sort((a, b) => a - b);
    const namespaces = new Map<string, Namespace>();
    let processes = 0;
    let denied = 0;
    let deniedExample: string | undefined;
    let truncated: string | undefined;
    const noteDenied = (path: string): void => {
      denied++;
      deniedExample ??= path;
    };
    const BATCH = 64;
    for (let start = 0; start < pids.length && processes < maxProcesses; start += BATCH) {
      if (now() - started > budgetMs) {
        truncated = `stopped after ${budgetMs} ms, ${processes} of ${pids.length} processes examined`;
        break;
      }
      const batch = pids.slice(start, Math.min(start + BATCH, start + maxProcesses - processes));
      processes += batch.length;
      const links = await Promise.all(
        batch.map((pid) =>
          nsOf(pid).then(
            (inode) => ({ pid, inode }),
            (error: unknown) => {
              if (isPermission(error)) noteDenied(`${procRoot}/${pid}/ns/net`);
              return undefined; // gone (ENOENT), or a zombie (no namespace any more)
            },
          ),
        ),
      );
      for (const link of links) {
        if (link === undefined) continue;
        let namespace = namespaces.get(link.inode);
        if (namespace === undefined) {
          namespace = { inode: link.inode, pids: [], kind: link.inode === ownInode ? "own" : link.inode === node ? "node" : "pod" };
          namespaces.set(link.inode, namespace);
        }
        if (namespace.pids.length < pidsPerNamespace) namespace.pids.push(link.pid);
      }
    }
    if (truncated === undefined && processes < pids.length) truncated = `stopped at the cap of ${maxProcesses} processes (of ${pids.length})`;
    // One read per namespace: its first process that still answers.
    const byAddress = new Map<string, Namespace[]>();
    await Promise.all(
      [...namespaces.values()].map(async (namespace) => {
        for (const pid of namespace.pids) {
          try {
            for (const address of new Set(await addressesOf(pid))) {
              const holders = byAddress.get(address);
              if (holders === undefined) byAddress.set(address, [namespace]);
              else holders.push(namespace);
            }
            return;
          } catch (error) {
            if (isPermission(error)) noteDenied(`${procRoot}/${pid}/net`);
          }
        }
      }),
    );
    return {
      at: now(),
      durationMs: now() - started,
      processes,
      namespaces: namespaces.size,
      denied,
      byAddress,
      ...(deniedExample !== undefined ? { deniedExample } : {}),
      ...(truncated !== undefined ? { truncated } : {}),
      ...(ownInode !== undefined ? { ownInode } : {}),
    };
  }

  function rescan(): Promise<Scan> {
    scanning ??= scan().then(
      (result) => {
        current = result;
        scanning = undefined;
        return result;
      },
      (error: unknown) => {
        scanning = undefined;
        throw error;
      },
    );
    return scanning;
  }

  /** The first of the namespace's pids still in it and still holding the address. */
  async function validate(namespace: Namespace, ip: IpAddress): Promise<number | undefined> {
    for (const pid of [...namespace.pids]) {
      let inode: string | undefined;
      try {
        inode = await nsOf(pid);
      } catch {
        // gone
      }
      if (inode !== namespace.inode) {
        // Gone, or its pid now names a process elsewhere: not a way into this namespace.
        // Another lookup of the same pod may have dropped it already (indexOf -1 would
        // make splice drop the last, still good pid).
        const at = namespace.pids.indexOf(pid);
        if (at >= 0) namespace.pids.splice(at, 1);
        continue;
      }
      try {
        if ((await addressesOf(pid, ip.family)).includes(ip.text)) return pid;
      } catch {
        // exited between the two reads
      }
    }
    return undefined;
  }

  function notFound(ip: IpAddress, scanned: Scan): NetnsLookup {
    const notes: string[] = [`scanned ${scanned.processes} processes in ${scanned.namespaces} network namespaces`];
    if (scanned.truncated !== undefined) notes.push(`scan ${scanned.truncated}`);
    if (scanned.denied > 0) {
      notes.push(`${scanned.denied} unreadable, e.g. ${scanned.deniedExample ?? "?"}: permission denied: CAP_SYS_PTRACE needed`);
    }
    const lonely = scanned.namespaces <= 1;
    const hint = lonely ? "only the agent's own network namespace is visible: hostPID needed?" : "is the pod on this node and running?";
    return { ok: false, reason: `no process in a network namespace holding ${ip.text} (${notes.join("; ")}; ${hint})` };
  }

  async function find(podIp: string): Promise<NetnsLookup> {
    const parsed = typeof podIp === "string" ? parseIp(podIp) : undefined;
    if (parsed === undefined || !parsed.ok) return { ok: false, reason: `"${String(podIp)}" is not an IP address` };
    const ip = parsed.value;
    const bad = unusable(ip);
    if (bad !== undefined) return { ok: false, reason: `${ip.text} is ${bad}, not a pod address` };
    try {
      let scanned = current !== undefined && now() - current.at < cacheMs ? current : await rescan();
      for (let attempt = 0; ; attempt++) {
        const holders = scanned.byAddress.get(ip.text) ?? [];
        const namespace = holders.find((held) => held.kind !== "pod") ?? holders[0];
        if (namespace === undefined) return notFound(ip, scanned);
        if (namespace.kind === "own") {
          return { ok: false, reason: `${ip.text} is an address of the agent's own network namespace${scanned.ownInode !== undefined ? ` (${scanned.ownInode})` : ""}: not a pod namespace to enter (a hostNetwork pod, or the agent itself: probe it as the "self" source)` };
        }
        if (namespace.kind === "node") {
          return { ok: false, reason: `${ip.text} is an address of the node's network namespace: a hostNetwork pod shares it; skip it` };
        }
        if (holders.length > 1) {
          return { ok: false, reason: `${ip.text} is local to ${holders.length} network namespaces (${holders.map((held) => held.inode).sort().join(", ")}): ambiguous, not entering any` };
        }
        const pid = await validate(namespace, ip);
        if (pid !== undefined) {
          return { ok: true, pid, netns: `${procRoot}/${pid}/ns/net`, inode: namespace.inode, pids: [pid, ...namespace.pids.filter((other) => other !== pid)] };
        }
        // The pod went away or moved since the scan: look again, once.
        if (attempt > 0) return notFound(ip, scanned);
        scanned = await rescan();
      }
    } catch (error) {
      const code = errorCode(error);
      if (code === "EACCES" || code === "EPERM") return { ok: false, reason: `permission denied reading ${procRoot}: ${errorText(error)}` };
      return { ok: false, reason: `scanning ${procRoot} failed: ${errorText(error)}` };
    }
  }

  return {
    find,
    lastScan: () =>
      current === undefined
        ? undefined
        : {
            at: current.at,
            durationMs: current.durationMs,
            processes: current.processes,
            namespaces: current.namespaces,
            denied: current.denied,
            ...(current.truncated !== undefined ? { truncated: current.truncated } : {}),
          },
  };
}
