// What /proc says about a network namespace and a process's resolvers, parsed. Pure: the
// namespace locator (sources/netns.ts) and the probe worker (probes/worker.ts) do the reading.

import { parseIp } from "../addresses/ip.js";

/**
 * The most of /proc/<pid>/net/fib_trie or if_inet6 read for a pod's namespace. Its tenant
 * (with NET_ADMIN in its pod) decides how many routes and addresses it has; a pod has a
 * handful (about 1 KiB of fib_trie), and 64 KiB parses in a few milliseconds. Only the
 * namespace of the pod being probed from is ever read: never the node's, never another's.
 */
export const MAX_POD_NET_BYTES = 64 * 1024;

/** /proc/<pid>/cgroup: one line per hierarchy (a dozen with cgroup v1, one with v2). */
export const MAX_CGROUP_BYTES = 16 * 1024;

/**
 * A pod's id as it appears in cgroup paths: the UID's 32 hex digits (the kubelet writes
 * "pod<uid>" with dashes under cgroupfs, with underscores under systemd), or the 32-hex
 * config hash a static pod's cgroup is named by. Lower case, no separators.
 */
export function podIdOfUid(uid: string): string | undefined {
  const hex = uid.toLowerCase().replace(/[-_]/g, "");
  return /^[0-9a-f]{32}$/.test(hex) ? hex : undefined;
}

const POD_IN_CGROUP = /pod([0-9a-f]{8}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{12})(?![0-9a-f])/gi;

/**
 * The pod ids (podIdOfUid form) in /proc/<pid>/cgroup: "0::/kubepods.slice/kubepods-
 * besteffort.slice/kubepods-besteffort-pod1b4e_..._9f.slice/cri-containerd-<id>.scope", or
 * "4:memory:/kubepods/burstable/pod1b4e...9f/<id>" per v1 hierarchy. Paths seen through a
 * cgroup namespace ("/../../kubepods-...") name the pod the same way.
 */
export function podIdsOfCgroup(text: string): string[] {
  const ids = new Set<string>();
  for (const match of text.matchAll(POD_IN_CGROUP)) {
    const id = podIdOfUid(match[1] ?? "");
    if (id !== undefined) ids.add(id);
  }
  return [...ids];
}

/**
 * Host addresses of IPv4 in /proc/<pid>/net/fib_trie: the "/32 host LOCAL" entries under
 * a leaf "|-- a.b.c.d", in every table listed (Main, Local, "Id N"). Loopback included;
 * broadcast and network routes (link BROADCAST, "/8 host LOCAL") are not addresses.
 */
export function parseFibTrieLocal(text: string): string[] {
  const found = new Set<string>();
  let leaf: string | undefined;
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed.startsWith("|--")) {
      leaf = trimmed.slice(3).trim();
      continue;
    }
    if (trimmed.startsWith("+--") || /^[A-Za-z].*:$/.test(trimmed)) {
      leaf = undefined;
      continue;
    }
    if (leaf !== undefined && /^\/32\s+host\s+LOCAL$/.test(trimmed)) {
      const parsed = parseIp(leaf);
      if (parsed.ok && parsed.value.family === 4) found.add(parsed.value.text);
    }
  }
  return [...found];
}

export interface Inet6Address {
  /** Canonical text (RFC 5952). */
  readonly address: string;
  readonly ifindex: number;
  readonly prefixLength: number;
  /** Scope as the kernel writes it: 0x00 global, 0x10 host, 0x20 link. */
  readonly scope: number;
  /** IFA_F_* flags: 0x40 tentative (DAD running), 0x80 permanent, 0x20 deprecated. */
  readonly flags: number;
  readonly device: string;
}

/** /proc/<pid>/net/if_inet6: "<32 hex> <ifindex> <plen> <scope> <flags> <device>", all hex. */
export function parseIfInet6(text: string): Inet6Address[] {
  const addresses: Inet6Address[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6) continue;
    const [hex = "", ifindex = "", plen = "", scope = "", flags = "", device = ""] = fields;
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) continue;
    const grouped = hex.match(/.{4}/g)?.join(":") ?? "";
    const parsed = parseIp(grouped);
    if (!parsed.ok) continue;
    addresses.push({
      address: parsed.value.text,
      ifindex: parseInt(ifindex, 16),
      prefixLength: parseInt(plen, 16),
      scope: parseInt(scope, 16),
      flags: parseInt(flags, 16),
      device,
    });
  }
  return addresses;
}

export interface ResolvConf {
  /** Usable nameserver addresses, in order, at most 3 (glibc's and musl's MAXNS). */
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly options: readonly string[];
  /**
   * Lines left out, with why, by line number and keyword only: the file comes from a pod's
   * filesystem, so none of its text is repeated (at most MAX_IGNORED_NOTES, then a count).
   */
  readonly ignored: readonly string[];
}

const MAX_NAMESERVERS = 3;
const MAX_IGNORED_NOTES = 5;
const KEYWORDS = new Set(["nameserver", "search", "domain", "options", "sortlist", "lookup", "family"]);

/** resolv.conf(5): nameserver, search/domain (the last one wins), options; # and ; comments. */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  const options: string[] = [];
  const ignored: string[] = [];
  let unnoted = 0;
  const ignore = (note: string): void => {
    if (ignored.length < MAX_IGNORED_NOTES) ignored.push(note);
    else unnoted++;
  };
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/[#;].*$/, "").trim();
    if (line === "") return;
    const at = `line ${index + 1}`;
    const [keyword = "", ...values] = line.split(/\s+/);
    switch (keyword) {
      case "nameserver": {
        const value = values[0] ?? "";
        const parsed = parseIp(value);
        if (!parsed.ok) ignore(`${at}: nameserver ${value.includes("%") ? "with a scoped IPv6 address (not supported)" : "that is not an IP address"}`);
        else if (nameservers.length >= MAX_NAMESERVERS) ignore(`${at}: nameserver beyond the first ${MAX_NAMESERVERS} (not used)`);
        else nameservers.push(parsed.value.text);
        break;
      }
      case "search":
        search = values;
        break;
      case "domain":
        search = values.slice(0, 1);
        break;
      case "options":
        options.push(...values);
        break;
      default:
        ignore(`${at}: ${KEYWORDS.has(keyword) ? `"${keyword}" (not used)` : "not a resolv.conf keyword"}`);
    }
  });
  if (unnoted > 0) ignored.push(`${unnoted} more lines left out`);
  return { nameservers, search, options, ignored };
}
