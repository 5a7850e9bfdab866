// Finding a pod's network namespace: the /proc parsers on text captured from real
// namespaces (test/fixtures/proc/), and the locator's logic (grouping by namespace, cache,
// re-validation, refusals, not-found reasons) over a fake proc tree of plain files and
// symlinks: readlink() returns "net:[N]" from a symlink just as from the kernel's magic link.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_POD_NET_BYTES, parseFibTrieLocal, parseIfInet6, parseResolvConf, podIdOfUid, podIdsOfCgroup } from "../../agent/procfs/network.js";
import { createNetnsLocator } from "../../agent/sources/netns.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "proc");
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), "utf8");

describe("parseFibTrieLocal", () => {
  it("takes the /32 host LOCAL leaves of the host's merged tables", () => {
    expect(parseFibTrieLocal(fixture("host-fib_trie.txt")).sort()).toEqual(["127.0.0.1", "192.0.2.2"]);
  });

  it("reads every table of a pod namespace, and skips networks, broadcasts and routes", () => {
    // 10.244.1.0/24, 10.244.1.255 (broadcast), 127.0.0.0 (/8 host LOCAL), 198.51.100.0 and
    // 203.0.113.0 (table 100) are in the text; only host addresses come out.
    expect(parseFibTrieLocal(fixture("pod-fib_trie.txt")).sort()).toEqual(["10.244.1.7", "127.0.0.1", "192.0.2.10"]);
  });

  it("gives nothing for empty or foreign text", () => {
    expect(parseFibTrieLocal("")).toEqual([]);
    expect(parseFibTrieLocal("Main:\n  |-- not-an-ip\n     /32 host LOCAL\n")).toEqual([]);
  });
});

describe("parseIfInet6", () => {
  it("reads a pod namespace's addresses in canonical form with their flags", () => {
    const entries = parseIfInet6(fixture("pod-if_inet6.txt"));
    expect(entries.map((entry) => entry.address).sort()).toEqual(["2001:db8::10", "::1", "fd00:10:244:1::7", "fe80::4469:f7ff:fe94:f772", "fe80::c43a:cdff:fe97:c83f"]);
    expect(entries.find((entry) => entry.address === "fd00:10:244:1::7")).toEqual({
      address: "fd00:10:244:1::7",
      ifindex: 3,
      prefixLength: 64,
      scope: 0,
      flags: 0x82,
      device: "eth0",
    });
    expect(entries.find((entry) => entry.address === "::1")).toMatchObject({ scope: 0x10, device: "lo", prefixLength: 128 });
  });

  it("reads the host's, and skips malformed lines", () => {
    expect(parseIfInet6(fixture("host-if_inet6.txt")).map((entry) => entry.address)).toEqual(["fd00::2", "::1", "fe80::fc:ff:fe00:1"]);
    expect(parseIfInet6("zz 01 80 10 80 lo\n\n0000 01\n")).toEqual([]);
  });
});

describe("parseResolvConf", () => {
  it("reads the kubelet's file for a pod", () => {
    expect(parseResolvConf(fixture("pod-resolv.conf"))).toEqual({
      nameservers: ["10.96.0.10"],
      search: ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"],
      options: ["ndots:5"],
      ignored: [],
    });
  });

  it("reads this machine's", () => {
    expect(parseResolvConf(fixture("host-resolv.conf")).nameservers).toEqual(["10.255.255.53"]);
  });

  it("keeps the first three usable servers, skips comments and scoped addresses, last search wins", () => {
    const parsed = parseResolvConf(
      [
        "# generated",
        "nameserver 10.0.0.1 ; trailing comment",
        "nameserver fe80::1%eth0",
        "nameserver FD00:0:0::53",
        "nameserver not-an-ip",
        "domain first.example",
        "nameserver 10.0.0.3",
        "nameserver 10.0.0.4",
        "search a.example b.example",
        "options ndots:2 timeout:1",
        "sortlist 10.0.0.0",
      ].join("\n"),
    );
    expect(parsed.nameservers).toEqual(["10.0.0.1", "fd00::53", "10.0.0.3"]);
    expect(parsed.search).toEqual(["a.example", "b.example"]);
    expect(parsed.options).toEqual(["ndots:2", "timeout:1"]);
    expect(parsed.ignored).toEqual([
      "line 3: nameserver with a scoped IPv6 address (not supported)",
      "line 5: nameserver that is not an IP address",
      "line 8: nameserver beyond the first 3 (not used)",
      'line 11: "sortlist" (not used)',
    ]);
    expect(parseResolvConf("domain only.example\n").search).toEqual(["only.example"]);
  });

  it("never repeats the file's text in what it left out, and notes at most five lines", () => {
    // The file is a pod's: its tenant wrote it. A secret in it must not reach results or logs.
    const secret = "-----BEGIN PRIVATE KEY-----";
    const parsed = parseResolvConf([secret, "nameserver 10.0.0.1", `nameserver ${secret}`, ...Array.from({ length: 20 }, () => `MIIEv${secret}`)].join("\n"));
    expect(parsed.nameservers).toEqual(["10.0.0.1"]);
    expect(parsed.ignored.join("\n")).not.toContain("PRIVATE");
    expect(parsed.ignored.join("\n")).not.toContain("MIIE");
    expect(parsed.ignored).toHaveLength(6);
    expect(parsed.ignored[0]).toBe("line 1: not a resolv.conf keyword");
    expect(parsed.ignored[1]).toBe("line 3: nameserver that is not an IP address");
    expect(parsed.ignored[5]).toBe("17 more lines left out");
  });
});

// ---------------------------------------------------------------------------------------
// Pod ids in cgroup paths

describe("podIdsOfCgroup and podIdOfUid", () => {
  const uid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
  const id = "1b4e28ba2fa111d2883f0016d3cca427";

  it.each([
    ["cgroup v2, systemd driver", `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replaceAll("-", "_")}.slice/cri-containerd-${"a".repeat(64)}.scope\n`],
    ["cgroup v2, cgroupfs driver", `0::/kubepods/burstable/pod${uid}/${"b".repeat(64)}\n`],
    ["cgroup v1, one line per hierarchy", `12:pids:/kubepods/besteffort/pod${uid}/${"c".repeat(64)}\n11:memory:/kubepods/besteffort/pod${uid}/${"c".repeat(64)}\n0::/\n`],
    ["seen through the agent's cgroup namespace", `0::/../../kubepods-burstable-pod${uid.replaceAll("-", "_")}.slice/crio-${"d".repeat(64)}.scope\n`],
    ["a static pod, named by its config hash", `0::/kubepods/besteffort/pod${id}/${"e".repeat(64)}\n`],
  ])("finds the pod in %s", (_name, text) => {
    expect(podIdsOfCgroup(text)).toEqual([id]);
  });

  it("finds nothing in a process outside kubepods, and no id in a look-alike", () => {
    expect(podIdsOfCgroup("0::/user.slice/user-0.slice/session-1.scope\n")).toEqual([]);
    expect(podIdsOfCgroup(`0::/kubepods/pod${id}0\n`)).toEqual([]);
    expect(podIdsOfCgroup("0::/kubepods/podnot-a-uid\n")).toEqual([]);
  });

  it("takes a UID or a config hash in any spelling, and nothing else", () => {
    expect(podIdOfUid(uid)).toBe(id);
    expect(podIdOfUid(uid.toUpperCase().replaceAll("-", "_"))).toBe(id);
    expect(podIdOfUid(id)).toBe(id);
    expect(podIdOfUid("web-0")).toBeUndefined();
    expect(podIdOfUid("")).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------
// The locator over a fake proc tree

interface FakeProcess {
  readonly inode: number;
  /** The pod UID whose cgroup the process is in (kubepods, cgroupfs form); none: a host process. */
  readonly pod?: string;
  readonly fibTrie?: string;
  readonly ifInet6?: string;
  readonly comm?: string;
}

const HOST_FIB = fixture("host-fib_trie.txt");
const HOST_V6 = fixture("host-if_inet6.txt");
const POD_FIB = fixture("pod-fib_trie.txt");
const POD_V6 = fixture("pod-if_inet6.txt");

const WEB = "7f0c2a9e-1d3b-4c5a-8e6f-0a1b2c3d4e5f";
const API = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
const TENANT = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";

describe("createNetnsLocator over a fake /proc", () => {
  let root: string;
  let clock = 0;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "nc-fakeproc-"));
    clock = 0;
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  function put(pid: number | "self", process: FakeProcess): void {
    const dir = join(root, String(pid));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "ns"), { recursive: true });
    mkdirSync(join(dir, "net"), { recursive: true });
    symlinkSync(`net:[${process.inode}]`, join(dir, "ns", "net"));
    writeFileSync(join(dir, "cgroup"), process.pod ? `0::/kubepods/besteffort/pod${process.pod}/${"f".repeat(64)}\n` : "0::/system.slice/containerd.service\n");
    if (process.fibTrie !== undefined) writeFileSync(join(dir, "net", "fib_trie"), process.fibTrie);
    if (process.ifInet6 !== undefined) writeFileSync(join(dir, "net", "if_inet6"), process.ifInet6);
    if (process.comm !== undefined) writeFileSync(join(dir, "comm"), `${process.comm}\n`);
  }

  /**
   * A node: the agent in the node's namespace (4026531833), pod web with two processes, pod
   * api with one. The node's tables are FIFOs: the locator must never read them.
   */
  function node(): void {
    put("self", { inode: 4026531833 });
    put(1, { inode: 4026531833, comm: "systemd" });
    put(2, { inode: 4026531833, comm: "kthreadd" });
    for (const pid of [1, 2]) for (const name of ["fib_trie", "if_inet6"]) execFileSync("mkfifo", [join(root, String(pid), "net", name)]);
    put(300, { inode: 4026532200, pod: WEB, fibTrie: POD_FIB, ifInet6: POD_V6, comm: "pause" });
    put(301, { inode: 4026532200, pod: WEB, fibTrie: POD_FIB, ifInet6: POD_V6, comm: "app" });
    put(400, { inode: 4026532300, pod: API, fibTrie: POD_FIB.replace("10.244.1.7", "10.244.1.8"), ifInet6: "", comm: "pause" });
  }

  const locator = (options: { cacheMs?: number; maxProcesses?: number } = {}) => createNetnsLocator({ procRoot: root, now: () => clock, ...options });
  const web = (ip = "10.244.1.7") => ({ ip, uid: WEB });
  const api = (ip = "10.244.1.8") => ({ ip, uid: API });

  it("finds a pod's namespace by its cgroup and checks its address there, IPv4 and IPv6", async () => {
    node();
    const find = locator().find;
    expect(await find(web())).toEqual({ ok: true, pid: 300, netns: `${root}/300/ns/net`, inode: "net:[4026532200]", pids: [300, 301] });
    expect(await find(api())).toMatchObject({ ok: true, pid: 400 });
    // Any spelling of the address: it is compared in canonical form.
    expect(await find(web("FD00:10:244:1:0:0:0:7"))).toMatchObject({ ok: true, pid: 300 });
    expect(await find(web("2001:db8::10"))).toMatchObject({ ok: true, pid: 300 });
    // The systemd spelling of the UID names the same pod.
    expect(await find({ ip: "10.244.1.7", uid: WEB.toUpperCase() })).toMatchObject({ ok: true, pid: 300 });
  });

  it("never enters a namespace that is not the pod's, whatever address it holds", async () => {
    node();
    // A tenant's namespace that added web's IP: while web runs, web's own is entered...
    put(700, { inode: 4026532700, pod: TENANT, fibTrie: POD_FIB, ifInet6: "" });
    expect(await locator().find(web())).toMatchObject({ ok: true, pid: 300, inode: "net:[4026532200]" });
    // ...and while web's processes are gone (restarting), nothing is, though the tenant's holds the IP.
    rmSync(join(root, "300"), { recursive: true });
    rmSync(join(root, "301"), { recursive: true });
    expect(await locator().find(web())).toMatchObject({ ok: false, reason: expect.stringMatching(new RegExp(`^no process of pod ${WEB} \\(cgroup pod${WEB}\\)`)) });
    // A pod's UID with another pod's address: its own namespace does not hold it.
    expect(await locator().find(api("10.244.1.7"))).toEqual({ ok: false, reason: `pod ${API}'s network namespace net:[4026532300] does not hold 10.244.1.7 (the pod's IP changed, or is not its yet)` });
  });

  it("refuses a pod whose UID is unknown: an address alone does not tell whose namespace it is", async () => {
    node();
    expect(await locator().find({ ip: "10.244.1.7", uid: undefined })).toEqual({
      ok: false,
      reason: "the pod's UID is unknown (no metadata.uid): without it its namespace cannot be told from another holding 10.244.1.7; not entering any",
    });
    expect(await locator().find({ ip: "10.244.1.7", uid: "web-0" })).toMatchObject({ ok: false, reason: expect.stringContaining('the pod\'s UID is "web-0", not a UID') });
  });

  it("scans once for a round of lookups, and says what it scanned", async () => {
    node();
    const netns = locator();
    await netns.find(web());
    const first = netns.lastScan();
    expect(first).toMatchObject({ processes: 5, namespaces: 3, pods: 2, denied: 0 });
    clock = 100;
    await netns.find(api());
    await netns.find({ ip: "10.9.9.9", uid: TENANT });
    expect(netns.lastScan()).toEqual(first);
  });

  it("refuses addresses that are never a pod's own", async () => {
    node();
    const find = locator().find;
    expect(await find(web("127.0.0.1"))).toEqual({ ok: false, reason: "127.0.0.1 is a loopback address (every namespace has it), not a pod address" });
    expect(await find(web("::1"))).toMatchObject({ ok: false, reason: expect.stringContaining("loopback") });
    expect(await find(web("fe80::4469:f7ff:fe94:f772"))).toMatchObject({ ok: false, reason: expect.stringContaining("link-local") });
    expect(await find(web("224.0.0.1"))).toMatchObject({ ok: false, reason: expect.stringContaining("multicast") });
    expect(await find(web("pod-a"))).toEqual({ ok: false, reason: '"pod-a" is not an IP address' });
  });

  it("never enters the agent's own or the node's namespace, even for a process in a pod's cgroup", async () => {
    node();
    // A hostNetwork pod: its processes are in its cgroup but in the node's namespace.
    put(500, { inode: 4026531833, pod: TENANT, fibTrie: POD_FIB, ifInet6: "" });
    expect(await locator().find({ ip: "192.0.2.2", uid: TENANT })).toMatchObject({ ok: false, reason: expect.stringMatching(/^no process of pod .* in a network namespace of its own/) });
  });

  it("explains a miss, with a hint when only one namespace is visible (no hostPID)", async () => {
    node();
    expect(await locator().find({ ip: "10.9.9.9", uid: TENANT })).toEqual({
      ok: false,
      reason: `no process of pod ${TENANT} (cgroup pod${TENANT}) in a network namespace of its own (scanned 5 processes in 3 network namespaces, 2 pods; is the pod on this node and running?)`,
    });
    rmSync(root, { recursive: true });
    mkdirSync(root);
    put("self", { inode: 4026532999 });
    put(7, { inode: 4026532999 });
    expect(await locator().find({ ip: "10.9.9.9", uid: TENANT })).toEqual({
      ok: false,
      reason: `no process of pod ${TENANT} (cgroup pod${TENANT}) in a network namespace of its own (scanned 1 processes in 1 network namespaces, 0 pods; only the agent's own network namespace is visible: hostPID needed?)`,
    });
  });

  it("re-validates a hit: the next process of the pod when one is gone, a fresh scan when all are", async () => {
    node();
    const netns = locator({ cacheMs: 60_000 });
    expect(await netns.find(web())).toMatchObject({ ok: true, pid: 300 });
    rmSync(join(root, "300"), { recursive: true }); // the pause process died
    expect(await netns.find(web())).toMatchObject({ ok: true, pid: 301, pids: [301] });
    // The last process's pid now names a process of another pod: the cached hit is stale.
    put(301, { inode: 4026532777, pod: TENANT, fibTrie: POD_FIB, ifInet6: "" });
    clock = 10;
    const gone = await netns.find(web());
    expect(gone).toMatchObject({ ok: false, reason: expect.stringMatching(new RegExp(`^no process of pod ${WEB}`)) });
    expect(netns.lastScan()?.at).toBe(10); // rescanned at once, though the cache was fresh
    // Web restarted in a new namespace.
    put(302, { inode: 4026532888, pod: WEB, fibTrie: POD_FIB, ifInet6: "" });
    clock = 60_010;
    expect(await netns.find(web())).toMatchObject({ ok: true, pid: 302, inode: "net:[4026532888]" });
  });

  it("sees a new pod once the scan that missed it is older than cacheMs", async () => {
    node();
    const netns = locator({ cacheMs: 1000 });
    const late = { ip: "10.244.1.60", uid: TENANT };
    expect((await netns.find(late)).ok).toBe(false);
    put(600, { inode: 4026532600, pod: TENANT, fibTrie: POD_FIB.replace("10.244.1.7", "10.244.1.60"), ifInet6: "" });
    clock = 999;
    expect((await netns.find(late)).ok).toBe(false);
    clock = 1000;
    expect(await netns.find(late)).toMatchObject({ ok: true, pid: 600 });
  });

  it("refuses a pod whose processes are in two network namespaces", async () => {
    node();
    put(302, { inode: 4026532700, pod: WEB, fibTrie: POD_FIB, ifInet6: "" });
    expect(await locator().find(web())).toEqual({
      ok: false,
      reason: `the processes of pod ${WEB} are in 2 network namespaces (net:[4026532200], net:[4026532700]): ambiguous, not entering any`,
    });
  });

  it("caps the processes a scan examines, and says so", async () => {
    node();
    expect(await locator({ maxProcesses: 2 }).find(api())).toEqual({
      ok: false,
      reason: `no process of pod ${API} (cgroup pod${API}) in a network namespace of its own (scanned 2 processes in 1 network namespaces, 0 pods; scan stopped at the cap of 2 processes (of 5); only the agent's own network namespace is visible: hostPID needed?)`,
    });
  });

  it("shares one scan between lookups made at the same time", async () => {
    node();
    const netns = locator();
    const found = await Promise.all([web(), api(), web()].map((pod) => netns.find(pod)));
    expect(found.map((result) => result.ok && result.pid)).toEqual([300, 400, 300]);
  });

  it("fails with a reason when proc itself cannot be read", async () => {
    const result = await createNetnsLocator({ procRoot: join(root, "missing") }).find(web());
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/^scanning .*missing failed: no such file/) });
  });

  it("reads the pod's addresses only up to the cap, and says so: a pod with a huge routing table is not read whole", async () => {
    node();
    // A tenant with NET_ADMIN in its pod decides how many routes it has.
    put(500, { inode: 4026532500, pod: TENANT, fibTrie: POD_FIB.replace("10.244.1.7", "10.244.1.9") + " ".repeat(MAX_POD_NET_BYTES), ifInet6: "", comm: "pause" });
    expect(await locator().find({ ip: "10.244.1.9", uid: TENANT })).toEqual({
      ok: false,
      reason: `cannot tell whether pod ${TENANT}'s network namespace net:[4026532500] holds 10.244.1.9: ${root}/500/net/fib_trie: 64.6 KiB, over the limit of 64 KiB`,
    });
    // The others are still found.
    expect(await locator().find(api())).toMatchObject({ ok: true, pid: 400 });
  });

  it("refuses a /proc entry that is not a regular file instead of blocking on it", async () => {
    node();
    put(600, { inode: 4026532600, pod: TENANT, ifInet6: "", comm: "pause" });
    execFileSync("mkfifo", [join(root, "600", "net", "fib_trie")]);
    expect(await locator().find({ ip: "10.244.1.60", uid: TENANT })).toMatchObject({ ok: false, reason: expect.stringContaining("a FIFO, not a regular file") });
    expect(await locator().find(api())).toMatchObject({ ok: true, pid: 400 });
  });
});
