// Finding a pod's network namespace: the /proc parsers on text captured from real
// namespaces (test/fixtures/proc/), and the locator's logic (grouping by namespace, cache,
// re-validation, refusals, not-found reasons) over a fake proc tree of plain files and
// symlinks: readlink() returns "net:[N]" from a symlink just as from the kernel's magic link.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_PROC_NET_BYTES, parseFibTrieLocal, parseIfInet6, parseResolvConf } from "../../agent/procfs/network.js";
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
// The locator over a fake proc tree

interface FakeProcess {
  readonly inode: number;
  readonly fibTrie?: string;
  readonly ifInet6?: string;
  readonly comm?: string;
  readonly resolvConf?: string;
}

const HOST_FIB = fixture("host-fib_trie.txt");
const HOST_V6 = fixture("host-if_inet6.txt");
const POD_FIB = fixture("pod-fib_trie.txt");
const POD_V6 = fixture("pod-if_inet6.txt");

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
    mkdirSync(join(dir, "ns"), { recursive: true });
    mkdirSync(join(dir, "net"), { recursive: true });
    symlinkSync(`net:[${process.inode}]`, join(dir, "ns", "net"));
    if (process.fibTrie !== undefined) writeFileSync(join(dir, "net", "fib_trie"), process.fibTrie);
    if (process.ifInet6 !== undefined) writeFileSync(join(dir, "net", "if_inet6"), process.ifInet6);
    if (process.comm !== undefined) writeFileSync(join(dir, "comm"), `${process.comm}\n`);
    if (process.resolvConf !== undefined) {
      mkdirSync(join(dir, "root", "etc"), { recursive: true });
      writeFileSync(join(dir, "root", "etc", "resolv.conf"), process.resolvConf);
    }
  }

  /** A node: the agent in the node's namespace (4026531833), two pods, one with two processes. */
  function node(): void {
    put("self", { inode: 4026531833 });
    put(1, { inode: 4026531833, fibTrie: HOST_FIB, ifInet6: HOST_V6, comm: "systemd" });
    put(2, { inode: 4026531833, fibTrie: HOST_FIB, ifInet6: HOST_V6, comm: "kthreadd" });
    put(300, { inode: 4026532200, fibTrie: POD_FIB, ifInet6: POD_V6, comm: "pause" });
    put(301, { inode: 4026532200, fibTrie: POD_FIB, ifInet6: POD_V6, comm: "app", resolvConf: fixture("pod-resolv.conf") });
    put(400, { inode: 4026532300, fibTrie: POD_FIB.replace("10.244.1.7", "10.244.1.8"), ifInet6: "", comm: "pause" });
  }

  const locator = (options: { cacheMs?: number; maxProcesses?: number } = {}) => createNetnsLocator({ procRoot: root, now: () => clock, ...options });

  it("finds a pod's namespace by IPv4 and IPv6 address, every process of it listed", async () => {
    node();
    const find = locator().find;
    expect(await find("10.244.1.7")).toEqual({ ok: true, pid: 300, netns: `${root}/300/ns/net`, inode: "net:[4026532200]", pids: [300, 301] });
    expect(await find("10.244.1.8")).toMatchObject({ ok: true, pid: 400 });
    // Any spelling of the address: it is compared in canonical form.
    expect(await find("FD00:10:244:1:0:0:0:7")).toMatchObject({ ok: true, pid: 300 });
    expect(await find("2001:db8::10")).toMatchObject({ ok: true, pid: 300 });
  });

  it("scans once for a round of lookups, and says what it scanned", async () => {
    node();
    const netns = locator();
    await netns.find("10.244.1.7");
    const first = netns.lastScan();
    expect(first).toMatchObject({ processes: 5, namespaces: 3, denied: 0 });
    clock = 100;
    await netns.find("10.244.1.8");
    await netns.find("10.9.9.9");
    expect(netns.lastScan()).toEqual(first);
  });

  it("refuses addresses that are not a pod's own", async () => {
    node();
    const find = locator().find;
    expect(await find("192.0.2.2")).toEqual({ ok: false, reason: expect.stringMatching(/^192\.0\.2\.2 is an address of the agent's own network namespace \(net:\[4026531833\]\).*hostNetwork/) });
    expect(await find("127.0.0.1")).toEqual({ ok: false, reason: "127.0.0.1 is a loopback address (every namespace has it), not a pod address" });
    expect(await find("::1")).toMatchObject({ ok: false, reason: expect.stringContaining("loopback") });
    expect(await find("fe80::4469:f7ff:fe94:f772")).toMatchObject({ ok: false, reason: expect.stringContaining("link-local") });
    expect(await find("224.0.0.1")).toMatchObject({ ok: false, reason: expect.stringContaining("multicast") });
    expect(await find("pod-a")).toEqual({ ok: false, reason: '"pod-a" is not an IP address' });
  });

  it("tells the node's namespace (a hostNetwork pod) from the agent's own", async () => {
    node();
    rmSync(join(root, "self"), { recursive: true });
    put("self", { inode: 4026532999 }); // the agent in a pod of its own, not hostNetwork
    put(500, { inode: 4026532999, fibTrie: POD_FIB.replace("10.244.1.7", "10.244.1.50"), ifInet6: "" });
    const find = locator().find;
    expect(await find("192.0.2.2")).toEqual({ ok: false, reason: "192.0.2.2 is an address of the node's network namespace: a hostNetwork pod shares it; skip it" });
    expect(await find("10.244.1.50")).toMatchObject({ ok: false, reason: expect.stringContaining("the agent's own network namespace") });
  });

  it("explains a miss, with a hint when only one namespace is visible (no hostPID)", async () => {
    node();
    expect(await locator().find("10.9.9.9")).toEqual({
      ok: false,
      reason: "no process in a network namespace holding 10.9.9.9 (scanned 5 processes in 3 network namespaces; is the pod on this node and running?)",
    });
    rmSync(root, { recursive: true });
    mkdirSync(root);
    put("self", { inode: 4026532999 });
    put(1, { inode: 4026532999, fibTrie: POD_FIB, ifInet6: "" });
    put(7, { inode: 4026532999 });
    expect(await locator().find("10.9.9.9")).toEqual({
      ok: false,
      reason: "no process in a network namespace holding 10.9.9.9 (scanned 2 processes in 1 network namespaces; only the agent's own network namespace is visible: hostPID needed?)",
    });
  });

  it("re-validates a hit: the next process of the namespace when one is gone, a fresh scan when all are", async () => {
    node();
    const netns = locator({ cacheMs: 60_000 });
    expect(await netns.find("10.244.1.7")).toMatchObject({ ok: true, pid: 300 });
    rmSync(join(root, "300"), { recursive: true }); // the pause process died
    expect(await netns.find("10.244.1.7")).toMatchObject({ ok: true, pid: 301, pids: [301] });
    // The last process moved to another namespace (pid reused): the cached hit is stale.
    unlinkSync(join(root, "301", "ns", "net"));
    symlinkSync("net:[4026532777]", join(root, "301", "ns", "net"));
    writeFileSync(join(root, "301", "net", "fib_trie"), POD_FIB.replace("10.244.1.7", "10.244.1.99"));
    clock = 10;
    const gone = await netns.find("10.244.1.7");
    expect(gone).toMatchObject({ ok: false, reason: expect.stringMatching(/^no process in a network namespace holding 10\.244\.1\.7/) });
    expect(netns.lastScan()?.at).toBe(10); // rescanned at once, though the cache was fresh
    expect(await netns.find("10.244.1.99")).toMatchObject({ ok: true, pid: 301, inode: "net:[4026532777]" });
  });

  it("sees a new pod once the scan that missed it is older than cacheMs", async () => {
    node();
    const netns = locator({ cacheMs: 1000 });
    expect((await netns.find("10.244.1.60")).ok).toBe(false);
    put(600, { inode: 4026532600, fibTrie: POD_FIB.replace("10.244.1.7", "10.244.1.60"), ifInet6: "" });
    clock = 999;
    expect((await netns.find("10.244.1.60")).ok).toBe(false);
    clock = 1000;
    expect(await netns.find("10.244.1.60")).toMatchObject({ ok: true, pid: 600 });
  });

  it("refuses an address two pod namespaces both hold", async () => {
    node();
    put(700, { inode: 4026532700, fibTrie: POD_FIB, ifInet6: "" });
    expect(await locator().find("10.244.1.7")).toEqual({
      ok: false,
      reason: "10.244.1.7 is local to 2 network namespaces (net:[4026532200], net:[4026532700]): ambiguous, not entering any",
    });
  });

  it("caps the processes a scan examines, and says so", async () => {
    node();
    const netns = locator({ maxProcesses: 2 });
    expect(await netns.find("10.244.1.8")).toEqual({
      ok: false,
      reason: "no process in a network namespace holding 10.244.1.8 (scanned 2 processes in 1 network namespaces; scan stopped at the cap of 2 processes (of 5); only the agent's own network namespace is visible: hostPID needed?)",
    });
  });

  it("shares one scan between lookups made at the same time", async () => {
    node();
    const netns = locator();
    const found = await Promise.all(["10.244.1.7", "10.244.1.8", "10.244.1.7"].map((ip) => netns.find(ip)));
    expect(found.map((result) => result.ok && result.pid)).toEqual([300, 400, 300]);
  });

  it("fails with a reason when proc itself cannot be read", async () => {
    const result = await createNetnsLocator({ procRoot: join(root, "missing") }).find("10.244.1.7");
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/^scanning .*missing failed: no such file/) });
  });

  it("reads a namespace's addresses only up to the cap: a pod with a huge routing table is not read whole", async () => {
    node();
    // A tenant with NET_ADMIN in its pod decides how many routes it has; its fib_trie is
    // left unread (the pod is not found) rather than filling the agent's heap.
    const huge = POD_FIB.replace("10.244.1.7", "10.244.1.9") + " ".repeat(MAX_PROC_NET_BYTES);
    put(500, { inode: 4026532500, fibTrie: huge, ifInet6: "", comm: "pause" });
    expect(await locator().find("10.244.1.9")).toMatchObject({ ok: false, reason: expect.stringMatching(/^no process in a network namespace holding 10\.244\.1\.9/) });
    // The others are still found.
    expect(await locator().find("10.244.1.8")).toMatchObject({ ok: true, pid: 400 });
  });

  it("refuses a /proc entry that is not a regular file instead of blocking on it", async () => {
    node();
    put(600, { inode: 4026532600, ifInet6: "", comm: "pause" });
    execFileSync("mkfifo", [join(root, "600", "net", "fib_trie")]);
    expect(await locator().find("10.244.1.8")).toMatchObject({ ok: true, pid: 400 });
  });
});
