// Reading a file inside another filesystem root: a pod's files as /proc/<pid>/root shows
// them. The pod's tenant owns everything under that root, so nothing in it is trusted.
//
// Why not just open("/proc/<pid>/root/etc/resolv.conf"): the kernel resolves an absolute
// symbolic link met on the way from the *opener's* root, so a pod whose etc/resolv.conf is a
// link to /etc/shadow makes the agent read the host's file. Linux's openat2(RESOLVE_IN_ROOT)
// would confine the walk, but Node exposes no openat2. So the walk is done here, one name at
// a time, the way RESOLVE_IN_ROOT does it:
// - every step opens one name relative to a directory already held open, through the
//   /proc/self/fd/<fd>/<name> path (the kernel follows the magic link to that very
//   directory), with O_PATH | O_NOFOLLOW: nothing is followed, and nothing is opened for
//   reading, so a device node or a FIFO on the way is never opened at all;
// - a symbolic link is read (readlink does not follow it) and its target walked by the same
//   rules: an absolute target starts again at the pod's root, "..", at the root, stays there
//   (popping the directories this walk itself opened; it never opens ".."), at most
//   MAX_SYMLINKS links per walk;
// - the last name must be a regular file of an ordinary filesystem (not a file of a kernel
//   filesystem mounted in the pod: /proc/kmsg is a "regular file" whose reads consume the
//   node's kernel log); only then is it opened for reading, through its own O_PATH
//   descriptor (the same inode, whatever was renamed meanwhile), with O_NONBLOCK, and read up
//   to maxBytes + 1.
// Everything runs on Node's asynchronous fs calls and the whole walk has a deadline: a
// filesystem that never answers (a FUSE mount in the pod) costs one libuv thread, not the
// process. Meant for short-lived processes (the probe worker): a call abandoned at its
// deadline may leave that thread, and a descriptor it opens later, until the process exits.
//
// Errors say what was wrong ("a FIFO, not a regular file", "too many symbolic links", "over
// the limit of 64 KiB"), never what the file or a link holds.

import { close, constants, type Stats, type StatsFs, fstat, open, read, readlink, statfs } from "node:fs";
import { startTimer, type Timer } from "../schedule/timers.js";
import { Accumulator, fileKind, type FileProblem, type FileRead, formatBytes, problemOf } from "./read.js";

/** Linux's O_PATH (generic value; Node's fs.constants does not export it). */
const O_PATH = 0o10000000;
/**
 * Kernel filesystems by statfs magic (linux/magic.h): their files are interfaces, and some
 * act when read (/proc/kmsg consumes the kernel log; tracefs's trace_pipe waits).
 */
const KERNEL_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0x27e0eb, "cgroup"],
  [0x63677270, "cgroup2"],
  [0x62656570, "configfs"],
  [0xcafe4a11, "bpf"],
  [0xde5e81e4, "efivarfs"],
  [0x6165676c, "pstore"],
  [0x1cd1, "devpts"],
  [0xf97cff8c, "selinuxfs"],
  [0x43415d53, "smackfs"],
  [0x65735543, "fusectl"],
  [0x42494e4d, "binfmt_misc"],
  [0x6e736673, "nsfs"],
  [0x50495045, "pipefs"],
  [0x534f434b, "sockfs"],
]);

/** As the kernel's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;
/** Names walked in all, symlink targets included: bounds the work of a hostile tree. */
const MAX_STEPS = 256;
const MAX_PATH = 4096;

export interface InRootOptions {
  readonly maxBytes: number;
  /** The whole walk and read; past it the call answers "timeout". */
  readonly timeoutMs: number;
}

class WalkError extends Error {
  constructor(
    readonly problem: FileProblem | "timeout",
    message: string,
  ) {
    super(message);
  }
}

function call<T>(start: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));
}

function splitPath(path: string): string[] {
  return path.split("/").filter((part) => part !== "" && part !== ".");
}

/**
 * Reads `path` (absolute, as the pod sees it) inside `root` (a directory, typically
 * /proc/<pid>/root), never leaving it. Never throws.
 */
export async function readFileInRoot(root: string, path: string, options: InRootOptions): Promise<FileRead> {
  const what = `${path} in ${root}`;
  const held = new Set<number>();
  let abandoned = false;
  const keep = (fd: number): number => {
    if (abandoned) {
      closeQuietly(fd);
      throw new WalkError("timeout", "abandoned");
    }
    held.add(fd);
    return fd;
  };
  const release = (fd: number | undefined): void => {
    if (fd === undefined || !held.delete(fd)) return;
    closeQuietly(fd);
  };
  // After the deadline nothing new starts: the walk stops at its next step.
  const step = <T>(start: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> => {
    if (abandoned) return Promise.reject(new WalkError("timeout", "abandoned"));
    return call(start);
  };
  const openAt = async (flags: number, target: string): Promise<number> => keep(await step<number>((done) => open(target, flags, done)));

  const walk = async (): Promise<FileRead> => {
    if (path.length > MAX_PATH) throw new WalkError("not_regular", "path too long");
    const rootFd = await openAt(O_PATH | constants.O_DIRECTORY, root);
    // The directories this walk went down, the root first: ".." pops, never opens.
    const stack: number[] = [rootFd];
    const pending = splitPath(path);
    let links = 0;
    let steps = 0;
    let file: { fd: number; info: Stats } | undefined;
    while (pending.length > 0) {
      if (++steps > MAX_STEPS) throw new WalkError("not_regular", "too many path steps");
      const name = pending.shift() as string;
      if (name === "..") {
        if (stack.length > 1) release(stack.pop());
        continue;
      }
      const dir = stack[stack.length - 1] as number;
      const entry = `/proc/self/fd/${dir}/${name}`;
      const fd = await openAt(O_PATH | constants.O_NOFOLLOW, entry);
      const info = await step<Stats>((done) => fstat(fd, done));
      if (info.isSymbolicLink()) {
        release(fd);
        if (++links > MAX_SYMLINKS) throw new WalkError("not_regular", "too many symbolic links");
        const target = await step<string>((done) => readlink(entry, done));
        if (target.length > MAX_PATH) throw new WalkError("not_regular", "a symbolic link too long");
        if (target.startsWith("/")) while (stack.length > 1) release(stack.pop());
        pending.unshift(...splitPath(target));
        continue;
      }
      if (pending.length === 0) {
        file = { fd, info };
        break;
      }
      if (!info.isDirectory()) {
        release(fd);
        throw new WalkError("missing", "a component of the path is not a directory");
      }
      stack.push(fd);
    }
    if (file === undefined) throw new WalkError("not_regular", "a directory, not a regular file");
    if (!file.info.isFile()) throw new WalkError("not_regular", `${fileKind(file.info)}, not a regular file`);
    if (file.info.size > options.maxBytes) throw new WalkError("too_large", `${formatBytes(file.info.size)}, over the limit of ${formatBytes(options.maxBytes)}`);
    // A file of a kernel filesystem mounted in the pod (/proc/kmsg, a debugfs or sysfs file)
    // may act when read: only files of ordinary filesystems are opened.
    const fs = await step<StatsFs>((done) => statfs(`/proc/self/fd/${file.fd}`, done));
    const kernel = KERNEL_FILESYSTEMS.get(Number(fs.type));
    if (kernel !== undefined) throw new WalkError("not_regular", `a file of the kernel's ${kernel} filesystem, not an ordinary file`);
    // Reopen the very inode the walk found, for reading.
    const readable = await openAt(constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY, `/proc/self/fd/${file.fd}`);
    const again = await step<Stats>((done) => fstat(readable, done));
    if (again.ino !== file.info.ino || again.dev !== file.info.dev || !again.isFile()) throw new WalkError("changed", "changed while being opened");
    const bytes = new Accumulator(again.size, options.maxBytes);
    for (let room = bytes.room(); room !== undefined; room = bytes.room()) {
      const { buffer, offset, length } = room;
      const bytesRead = await step<number>((done) => read(readable, buffer, offset, length, null, done));
      if (bytesRead === 0) break;
      bytes.advance(bytesRead);
    }
    const text = bytes.text();
    if (text === undefined) throw new WalkError("too_large", `over the limit of ${formatBytes(options.maxBytes)}`);
    return { ok: true, text, bytes: Buffer.byteLength(text) };
  };

  let timer: Timer | undefined;
  const deadline = new Promise<FileRead>((resolve) => {
    timer = startTimer(() => {
      abandoned = true;
      const reason = `no answer within ${options.timeoutMs} ms (a filesystem that hangs?)`;
      resolve({ ok: false, problem: "timeout", message: `${what}: ${reason}`, reason });
    }, options.timeoutMs);
  });
  // The walk closes what it opened when it ends, even after the deadline (closing a
  // descriptor under a call still running on it would let its number be reused under it).
  const walked = walk()
    .finally(() => {
      for (const fd of held) closeQuietly(fd);
      held.clear();
    })
    .catch((error: unknown): FileRead => {
      if (error instanceof WalkError) return { ok: false, problem: error.problem, message: `${what}: ${error.message}`, reason: error.message };
      const { problem, words } = problemOf(error);
      return { ok: false, problem, message: `${what}: ${words}`, reason: words };
    });
  try {
    return await Promise.race([walked, deadline]);
  } finally {
    timer?.cancel();
    abandoned = true;
  }
}

/** Asynchronous, like every other call here: a close (a flush) may hang as a read may. */
function closeQuietly(fd: number): void {
  close(fd, () => undefined);
}
