// Finding a labeled pod's network namespace (pod sources).
//
// With hostPID the agent sees every process on the node. A network namespace has no name
// the kernel gives out, but every process in one points at it: /proc/<pid>/ns/net is a
// magic link ("net:[4026532xxx]", the inode names the namespace) that nsenter --net= can
// enter, and /proc/<pid>/net/ shows that namespace's view of the network.
//
// A namespace is tied to the pod by the pod's cgroup, never by its address alone. Any
// process that can add an address to its own network namespace (a pod with NET_ADMIN, or
// `unshare -rn` where user namespaces are allowed) can hold a victim pod's IP: matching by
// address would let it blind the victim's probes (two holders: ambiguous) or, while the
// victim restarts, take its probes over and decide its results. The kubelet puts every
// process of a pod, its sandbox included, in the pod's cgroup, whose path names the pod's
// UID ("kubepods/besteffort/pod<uid>/..." with cgroupfs, "kubepods-besteffort-pod<uid_>.slice"
// with systemd; the mirror of a static pod is named by its config hash); a process cannot
// leave it without write access to the node's cgroup tree. So a scan lists the processes,
// groups them by namespace inode (readlink, no file opened), and reads the cgroup of those
// outside the agent's and the node's namespaces (a small bounded file each) to index
// pod id -> namespaces. find(pod) takes the namespaces of that pod's id only, then validates
// the one it will enter: a process still in it, still in the pod's cgroup, and the pod's IP
// local there (/proc/<pid>/net/fib_trie or if_inet6, at most MAX_POD_NET_BYTES: a pod has a
// handful of addresses, and no other namespace's tables are ever read). A scan serves a
// round of lookups for cacheMs; a hit that fails validation rescans at once.
//
// How pods look from here:
// - containerd (CRI plugin) and CRI-O: the runtime creates the pod's network namespace
//   before any container, CNI puts the pod IP in it, and the sandbox ("pause") process lives
//   in it for the pod's whole life. Every container of the pod joins that namespace, so the
//   scan sees the pause process and the app processes under one inode, all in the pod's
//   cgroup; the lowest pid (usually the pause process) is tried first. CRI-O can run pods
//   without an infra container (drop_infra_ctr): while every container of such a pod
//   restarts nothing holds the namespace and the pod is "not found" for that moment.
// - hostNetwork pods share the node's namespace; the caller skips them, and find() never
//   enters the agent's own or the node's namespace.
// - Kata/VM runtimes: the namespace found holds the VM's side of the network, not the
//   guest's kernel; probes from it bypass the guest's own firewall.
//
// Needs: hostPID; CAP_SYS_PTRACE to readlink /proc/<pid>/ns/* of processes this one may not
// ptrace (other users', or ones with capabilities the agent lacks); CAP_SYS_ADMIN for the
// setns() nsenter does later. Failure reasons say which is missing.

import { readdir, readlink } from "node:fs/promises";
import { parseIp, type IpAddress } from "../addresses/ip.js";
import { type FileRead, problemOf, readBoundedFile } from "../files/read.js";
import { MAX_CGROUP_BYTES, MAX_POD_NET_BYTES, parseFibTrieLocal, parseIfInet6, podIdsOfCgroup, podIdOfUid } from "../procfs/network.js";

export type NetnsLookup =
  | {
      readonly ok: true;
      /** The process whose namespace to enter. */
      readonly pid: number;
      /** What nsenter --net= takes: <procRoot>/<pid>/ns/net. */
      readonly netns: string;
      /** The namespace's identity, "net:[4026532xxx]". */
      readonly inode: string;
      /** Processes of the pod validated in it just now (the first is pid): where to read the pod's files. */
      readonly pids: readonly number[];
    }
  | { readonly ok: false; readonly reason: string };

/** The pod to find: its IP, and its UID (metadata.uid, or a static pod's config hash). */
export interface PodToFind {
  readonly ip: string;
  readonly uid: string | undefined;
}

export interface NetnsLocatorOptions {
  /** Where proc is mounted (default /proc; a test can point this at a fake tree). */
  readonly procRoot?: string;
  /**
   * How long a scan answers misses (default 5 s): a pod no scan found is looked for again
   * only after this, so a round with many absent pods costs one scan. Hits are always
   * re-validated, and a hit that fails validation rescans at once.
   */
  readonly cacheMs?: number;
  /** At most this many processes are examined per scan (default 32768). */
  readonly maxProcesses?: number;
  /** A scan stops after this long and says so (default 5 s). */
  readonly budgetMs?: number;
  /** Processes kept per namespace and pod as candidates (default 8). */
  readonly pidsPerNamespace?: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

export interface NetnsLocator {
  find(pod: PodToFind): Promise<NetnsLookup>;
  /** Figures of the last scan, for logs and metrics. */
  lastScan(): ScanSummary | undefined;
}

export interface ScanSummary {
  readonly at: number;
  readonly durationMs: number;
  readonly processes: number;
  readonly namespaces: number;
  /** Pods (by cgroup) seen with a network namespace of their own. */
  readonly pods: number;
  /** Processes whose namespace or cgroup could not be read for lack of permission. */
  readonly denied: number;
  /** Why the scan stopped early, if it did. */
  readonly truncated?: string;
}

/** One pod's processes in one network namespace. */
interface Holding {
  readonly inode: string;
  readonly pids: number[];
}

interface Scan extends ScanSummary {
  /** Pod id -> the namespaces its processes are in (one, unless something is odd). */
  readonly byPod: ReadonlyMap<string, readonly Holding[]>;
  readonly deniedExample?: string;
}

const NS_LINK = /^net:\[(\d+)\]$/;

function isPermission(error: unknown): boolean {
  return problemOf(error).problem === "permission";
}

function errorText(error: unknown): string {
  const { problem, words } = problemOf(error);
  if (problem === "permission") return `${words} (CAP_SYS_PTRACE needed)`;
  if (problem === "missing") return `${words} (the process is gone?)`;
  return words;
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

  function procFile(pid: number, name: string, maxBytes: number): Promise<FileRead> {
    return readBoundedFile(`${procRoot}/${pid}/${name}`, { maxBytes });
  }

  /** The pod ids in pid's cgroup paths; undefined when it cannot be read (gone, or denied). */
  async function podIdsOf(pid: number): Promise<{ ids: string[] } | { denied: boolean }> {
    const read = await procFile(pid, "cgroup", MAX_CGROUP_BYTES);
    if (!read.ok) return { denied: read.problem === "permission" };
    return { ids: podIdsOfCgroup(read.text) };
  }

  /** Whether ip is local to pid's namespace, or why that cannot be told ("gone": the process exited). */
  async function holds(pid: number, ip: IpAddress): Promise<{ holds: boolean } | { problem: string } | "gone"> {
    const read = await procFile(pid, ip.family === 4 ? "net/fib_trie" : "net/if_inet6", MAX_POD_NET_BYTES);
    if (!read.ok) return read.problem === "missing" ? "gone" : { problem: read.message };
    const local = ip.family === 4 ? parseFibTrieLocal(read.text) : parseIfInet6(read.text).map((entry) => entry.address);
    return { holds: local.includes(ip.text) };
  }

  /** The node's namespace: kernel threads always live in it (pid 2 is kthreadd with hostPID). */
  async function nodeInode(): Promise<string | undefined> {
    const comm = await procFile(2, "comm", 64);
    try {
      if (comm.ok && comm.text.trim() === "kthreadd") return await nsOf(2);
      return await nsOf(1);
    } catch {
      return undefined; // not visible, or not readable
    }
  }

  async function scan(): Promise<Scan> {
    const started = now();
    const own = await nsOf("self").catch(() => undefined);
    const node = await nodeInode();
    const pids = (await readdir(procRoot))
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .sort((a, b) => a - b);
    const byPod = new Map<string, Holding[]>();
    const inodes = new Set<string>();
    let processes = 0;
    let denied = 0;
    let deniedExample: string | undefined;
    let truncated: string | undefined;
    const noteDenied = (path: string): void => {
      denied++;
      deniedExample ??= path;
    };
    const hold = (id: string, inode: string, pid: number): void => {
      let holdings = byPod.get(id);
      if (holdings === undefined) byPod.set(id, (holdings = []));
      let holding = holdings.find((held) => held.inode === inode);
      if (holding === undefined) holdings.push((holding = { inode, pids: [] }));
      if (holding.pids.length < pidsPerNamespace) holding.pids.push(pid);
    };
    const BATCH = 64;
    for (let start = 0; start < pids.length && processes < maxProcesses; start += BATCH) {
      if (now() - started > budgetMs) {
        truncated = `stopped after ${budgetMs} ms, ${processes} of ${pids.length} processes examined`;
        break;
      }
      const batch = pids.slice(start, Math.min(start + BATCH, start + maxProcesses - processes));
      processes += batch.length;
      const seen = await Promise.all(
        batch.map(async (pid): Promise<{ pid: number; inode: string; ids: string[] } | undefined> => {
          let inode: string;
          try {
            inode = await nsOf(pid);
          } catch (error) {
            if (isPermission(error)) noteDenied(`${procRoot}/${pid}/ns/net`);
            return undefined; // gone (ENOENT), or a zombie (no namespace any more)
          }
          inodes.add(inode);
          // The agent's and the node's namespaces are never entered: their processes need no cgroup read.
          if (inode === own || inode === node) return undefined;
          const cgroup = await podIdsOf(pid);
          if ("denied" in cgroup) {
            if (cgroup.denied) noteDenied(`${procRoot}/${pid}/cgroup`);
            return undefined;
          }
          return { pid, inode, ids: cgroup.ids };
        }),
      );
      // In pid order: the lowest pid of a pod (usually its sandbox's) is tried first.
      for (const found of seen) if (found !== undefined) for (const id of found.ids) hold(id, found.inode, found.pid);
    }
    if (truncated === undefined && processes < pids.length) truncated = `stopped at the cap of ${maxProcesses} processes (of ${pids.length})`;
    return {
      at: now(),
      durationMs: now() - started,
      processes,
      namespaces: inodes.size,
      pods: byPod.size,
      denied,
      byPod,
      ...(deniedExample !== undefined ? { deniedExample } : {}),
      ...(truncated !== undefined ? { truncated } : {}),
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

  /**
   * The holding's processes still in its namespace and still in the pod's cgroup (dropping
   * the others from it), and whether the namespace has the pod's IP local.
   */
  async function validate(holding: Holding, id: string, ip: IpAddress): Promise<{ pids: number[]; holds: boolean } | { problem: string }> {
    const drop = (pid: number): void => {
      // Another lookup of the same pod may have dropped it already (indexOf -1 would make
      // splice drop the last, still good pid).
      const at = holding.pids.indexOf(pid);
      if (at >= 0) holding.pids.splice(at, 1);
    };
    const still: number[] = [];
    for (const pid of [...holding.pids]) {
      let inode: string | undefined;
      try {
        inode = await nsOf(pid);
      } catch {
        // gone
      }
      const cgroup = inode === holding.inode ? await podIdsOf(pid) : undefined;
      // Gone, or its pid now names another process: not a way into this pod.
      if (cgroup === undefined || !("ids" in cgroup) || !cgroup.ids.includes(id)) drop(pid);
      else still.push(pid);
    }
    for (const pid of [...still]) {
      const held = await holds(pid, ip);
      if (held !== "gone") return "problem" in held ? held : { pids: still, holds: held.holds };
      // Exited between the two reads: the next one of the pod will do.
      drop(pid);
      still.splice(still.indexOf(pid), 1);
    }
    return { pids: [], holds: false };
  }

  function notFound(pod: PodToFind, scanned: Scan): NetnsLookup {
    const notes: string[] = [`scanned ${scanned.processes} processes in ${scanned.namespaces} network namespaces, ${scanned.pods} pods`];
    if (scanned.truncated !== undefined) notes.push(`scan ${scanned.truncated}`);
    if (scanned.denied > 0) notes.push(`${scanned.denied} unreadable, e.g. ${scanned.deniedExample ?? "?"}: permission denied: CAP_SYS_PTRACE needed`);
    const lonely = scanned.namespaces <= 1;
    const hint = lonely ? "only the agent's own network namespace is visible: hostPID needed?" : "is the pod on this node and running?";
    return { ok: false, reason: `no process of pod ${pod.uid} (cgroup pod${pod.uid}) in a network namespace of its own (${notes.join("; ")}; ${hint})` };
  }

  async function find(pod: PodToFind): Promise<NetnsLookup> {
    const parsed = typeof pod.ip === "string" ? parseIp(pod.ip) : undefined;
    if (parsed === undefined || !parsed.ok) return { ok: false, reason: `"${String(pod.ip)}" is not an IP address` };
    const ip = parsed.value;
    const bad = unusable(ip);
    if (bad !== undefined) return { ok: false, reason: `${ip.text} is ${bad}, not a pod address` };
    const id = pod.uid === undefined ? undefined : podIdOfUid(pod.uid);
    if (id === undefined) {
      return { ok: false, reason: `the pod's UID is ${pod.uid === undefined ? "unknown (no metadata.uid)" : `"${pod.uid}", not a UID`}: without it its namespace cannot be told from another holding ${ip.text}; not entering any` };
    }
    try {
      let scanned = current !== undefined && now() - current.at < cacheMs ? current : await rescan();
      for (let attempt = 0; ; attempt++) {
        const holdings = (scanned.byPod.get(id) ?? []).filter((holding) => holding.pids.length > 0);
        // A miss is answered from the scan (a pod not started yet is looked for again after cacheMs).
        if (holdings.length === 0) return notFound(pod, scanned);
        if (holdings.length > 1) {
          return { ok: false, reason: `the processes of pod ${pod.uid} are in ${holdings.length} network namespaces (${holdings.map((held) => held.inode).sort().join(", ")}): ambiguous, not entering any` };
        }
        {
          const holding = holdings[0] as Holding;
          const checked = await validate(holding, id, ip);
          if ("problem" in checked) return { ok: false, reason: `cannot tell whether pod ${pod.uid}'s network namespace ${holding.inode} holds ${ip.text}: ${checked.problem}` };
          const [pid] = checked.pids;
          if (pid !== undefined && checked.holds) return { ok: true, pid, netns: `${procRoot}/${pid}/ns/net`, inode: holding.inode, pids: checked.pids };
          if (pid !== undefined) return { ok: false, reason: `pod ${pod.uid}'s network namespace ${holding.inode} does not hold ${ip.text} (the pod's IP changed, or is not its yet)` };
        }
        // The pod went away or moved since the scan: look again, once.
        if (attempt > 0) return notFound(pod, scanned);
        scanned = await rescan();
      }
    } catch (error) {
      if (isPermission(error)) return { ok: false, reason: `permission denied reading ${procRoot}: ${errorText(error)}` };
      return { ok: false, reason: `scanning ${procRoot} failed: ${errorText(error)}` };
    }
  }

  return {
    find,
    lastScan: () => {
      if (current === undefined) return undefined;
      const { at, durationMs, processes, namespaces, pods, denied, truncated } = current;
      return { at, durationMs, processes, namespaces, pods, denied, ...(truncated !== undefined ? { truncated } : {}) };
    },
  };
}
