// Reading a file inside a root that a tenant owns (files/in-root.ts), on a real directory
// tree: every trick a pod can play with its own /etc/resolv.conf, as a truth table. The
// root here is a plain directory; in the agent it is /proc/<pid>/root, which the kernel
// resolves to the same kind of directory (the system tests read through the real thing).
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdirSync, mkdtempSync, open, openSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileInRoot } from "../../agent/files/in-root.js";
import { describeWith } from "../support/prerequisites.js";

/** This process's descriptors open on something under dir. */
function openInto(dir: string): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

const SECRET = "BEGIN PRIVATE KEY netcanary-test-secret";
const LIMITS = { maxBytes: 64 * 1024, timeoutMs: 2000 };

describe("readFileInRoot", () => {
  let base: string;
  let root: string;
  let outside: string;
  let n = 0;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "nc-inroot-"));
    root = join(base, "pod");
    outside = join(base, "host-secret");
    mkdirSync(join(root, "etc"), { recursive: true });
    mkdirSync(join(root, "run", "deep"), { recursive: true });
    writeFileSync(join(root, "real.conf"), "nameserver 10.96.0.10\n");
    writeFileSync(join(root, "run", "deep", "resolv.conf"), "nameserver 10.96.0.11\n");
    writeFileSync(outside, `${SECRET}\n`);
    // The same secret at the path an absolute link names, but on the host's side.
    mkdirSync(join(base, "etc"), { recursive: true });
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /** A fresh pod file named `name` made by `make`, read as /etc/<name>. */
  function podFile(make: (path: string) => void): Promise<ReturnType<typeof readFileInRoot> extends Promise<infer R> ? R : never> {
    const name = `f${n++}.conf`;
    make(join(root, "etc", name));
    return readFileInRoot(root, `/etc/${name}`, LIMITS);
  }

  it("reads a regular file, and follows links the way the pod itself sees them", async () => {
    expect(await podFile((path) => writeFileSync(path, "nameserver 10.96.0.12\n"))).toEqual({ ok: true, text: "nameserver 10.96.0.12\n", bytes: 22 });
    // Absolute: from the pod's root, not the reader's.
    expect(await podFile((path) => symlinkSync("/real.conf", path))).toMatchObject({ ok: true, text: "nameserver 10.96.0.10\n" });
    expect(await podFile((path) => symlinkSync("../run/deep/resolv.conf", path))).toMatchObject({ ok: true, text: "nameserver 10.96.0.11\n" });
    // A chain: relative to an absolute to a directory link.
    symlinkSync("/run/deep", join(root, "run", "shortcut"));
    expect(await podFile((path) => symlinkSync("/run/shortcut/./resolv.conf", path))).toMatchObject({ ok: true, text: "nameserver 10.96.0.11\n" });
  });

  it.each([
    ["an absolute link to a host file", (path: string, outsideFile: string) => symlinkSync(outsideFile, path)],
    ["a relative link climbing out with ..", (path: string) => symlinkSync("../../../../../../../../host-secret", path)],
    [
      "a link through a directory link that climbs out",
      (path: string) => {
        symlinkSync("../../..", join(path, "..", "up"));
        symlinkSync("/etc/up/host-secret", path);
      },
    ],
  ])("never leaves the root: %s reads nothing of the host", async (_name, make) => {
    const result = await podFile((path) => make(path, outside));
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain("netcanary-test-secret");
    if (!result.ok) expect(result.problem).toBe("missing");
  });

  it("resolves an absolute link to a name that exists in the root to the root's file, not the host's", async () => {
    // The host has <base>/host-secret; inside the root, /host-secret is the pod's own file.
    writeFileSync(join(root, "host-secret"), "nameserver 10.96.0.13\n");
    const result = await podFile((path) => symlinkSync("/host-secret", path));
    expect(result).toMatchObject({ ok: true, text: "nameserver 10.96.0.13\n" });
    rmSync(join(root, "host-secret"));
  });

  it("refuses a link to a device without opening it", async () => {
    // /dev/zero from the pod's root does not exist here; a device node inside it is refused below.
    const result = await podFile((path) => symlinkSync("/dev/zero", path));
    expect(result).toMatchObject({ ok: false, problem: "missing" });
  });

  it("refuses a FIFO at once instead of blocking on it", async () => {
    const started = Date.now();
    const result = await podFile((path) => execFileSync("mkfifo", [path]));
    expect(result).toEqual({ ok: false, problem: "not_regular", reason: expect.any(String), message: expect.stringMatching(/: a FIFO, not a regular file$/) });
    expect(Date.now() - started).toBeLessThan(LIMITS.timeoutMs);
  });

  it("refuses a link loop, a directory, a missing file and a file under a non-directory", async () => {
    expect(await podFile((path) => symlinkSync(path.slice(root.length), path))).toMatchObject({ ok: false, problem: "not_regular", message: expect.stringMatching(/too many symbolic links$/) });
    expect(await readFileInRoot(root, "/etc", LIMITS)).toMatchObject({ ok: false, problem: "not_regular", message: expect.stringMatching(/a directory, not a regular file$/) });
    expect(await readFileInRoot(root, "/etc/absent.conf", LIMITS)).toMatchObject({ ok: false, problem: "missing" });
    expect(await readFileInRoot(root, "/real.conf/x", LIMITS)).toMatchObject({ ok: false, problem: "missing" });
  });

  it("refuses a file over the size limit, before reading it, without its content in the message", async () => {
    const result = await podFile((path) => writeFileSync(path, `${SECRET}\n`.repeat(4000)));
    expect(result).toEqual({ ok: false, problem: "too_large", reason: expect.any(String), message: expect.stringMatching(/: 156\.3 KiB, over the limit of 64 KiB$/) });
    expect(JSON.stringify(result)).not.toContain("netcanary-test-secret");
  });

  it("answers by its deadline when the filesystem does not, and stops its walk afterwards", async () => {
    // A filesystem that hangs, for real: every libuv thread blocked in open() of a FIFO
    // with no writer, so no file call of the walk can run until they are released.
    const threads = Number(process.env["UV_THREADPOOL_SIZE"] ?? 4);
    const fifos = Array.from({ length: threads }, (_, i) => join(base, `block-${i}`));
    for (const fifo of fifos) execFileSync("mkfifo", [fifo]);
    const blocked = fifos.map((fifo) => new Promise<number>((resolve, reject) => open(fifo, "r", (error, fd) => (error ? reject(error) : resolve(fd)))));
    const started = Date.now();
    const result = await readFileInRoot(root, "/real.conf", { ...LIMITS, timeoutMs: 300 });
    expect(result).toEqual({ ok: false, problem: "timeout", reason: expect.any(String), message: expect.stringMatching(/\/real\.conf in .*: no answer within 300 ms \(a filesystem that hangs\?\)$/) });
    expect(Date.now() - started).toBeLessThan(LIMITS.timeoutMs);
    // Release the threads: the abandoned walk runs on, sees it was abandoned, closes what it opened.
    const writers = fifos.map((fifo) => openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    for (const fd of [...writers, ...(await Promise.all(blocked))]) closeSync(fd);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(openInto(base)).toEqual([]);
    expect(await readFileInRoot(root, "/real.conf", LIMITS)).toMatchObject({ ok: true });
  });

  it("leaves no descriptor open, whatever the outcome", async () => {
    for (let i = 0; i < 20; i++) {
      await readFileInRoot(root, "/real.conf", LIMITS);
      await readFileInRoot(root, "/etc/absent.conf", LIMITS);
      await readFileInRoot(root, "/etc", LIMITS);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(openInto(base)).toEqual([]);
  });
});

describe("readFileInRoot and the kernel's own filesystems", () => {
  // A pod may mount proc or sysfs in its root: their "regular files" are interfaces, and
  // some act when read (/proc/kmsg consumes the node's kernel log).
  it.each([
    ["/proc", "/self/status", "proc"],
    ["/proc", "/self/cgroup", "proc"],
    ["/sys", "/kernel/uevent_seqnum", "sysfs"],
  ])("refuses %s%s without reading it: a file of the kernel's %s filesystem", async (root, path, kind) => {
    expect(await readFileInRoot(root, path, LIMITS)).toEqual({
      ok: false,
      problem: "not_regular",
      reason: `a file of the kernel's ${kind} filesystem, not an ordinary file`,
      message: `${path} in ${root}: a file of the kernel's ${kind} filesystem, not an ordinary file`,
    });
  });
});

describeWith({ root: true, commands: ["mknod"] }, "readFileInRoot and device nodes", () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "nc-inroot-dev-"));
    mkdirSync(join(base, "etc"));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("refuses a character device (a tenant's own /dev/zero) without opening it", async () => {
    execFileSync("mknod", [join(base, "etc", "resolv.conf"), "c", "1", "5"]);
    expect(await readFileInRoot(base, "/etc/resolv.conf", LIMITS)).toEqual({ ok: false, problem: "not_regular", reason: expect.any(String), message: expect.stringMatching(/: a character device, not a regular file$/) });
  });
});
