// Reading files that come from outside, with bounds: a config, a manifest, a kubeconfig, a
// cached feed, a /proc entry. Whatever the path names, the read is refused at once unless it
// is a regular file under the size cap: a FIFO would block a libuv thread for ever, a device
// such as /dev/zero would fill the heap, a 2 GiB "config" would abort the process.
//
// How: stat() the path without opening it (opening a device can have side effects, and
// opening a FIFO blocks), then open it with O_NONBLOCK | O_NOCTTY and check with fstat()
// that the descriptor is the same regular file (a swap between the two calls is refused),
// then read at most maxBytes + 1 bytes (a file that grows past the cap, or a /proc file whose
// size stat() reports as 0, is still bounded). Errors are values naming the path and what is
// wrong with it, never a byte of its content.
//
// Leaf module: no imports from the rest of the agent.

import { constants, type Stats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";

export type FileProblem = "missing" | "permission" | "not_regular" | "too_large" | "changed" | "timeout" | "io";

export type FileRead =
  | { readonly ok: true; readonly text: string; readonly bytes: number }
  | {
      readonly ok: false;
      readonly problem: FileProblem;
      /** "<path>: <reason>". */
      readonly message: string;
      /** What is wrong, without the path: "a FIFO, not a regular file". */
      readonly reason: string;
    };

export interface ReadLimits {
  /** Larger files are refused before parsing. */
  readonly maxBytes: number;
}

/** 1 MiB: a ConfigMap (and so a config file mounted from one) can hold no more. */
export const CONFIGMAP_MAX_BYTES = 1024 * 1024;

/** What kind of file this is, in words, for "is a FIFO: not a regular file". */
export function fileKind(info: Stats): string {
  if (info.isDirectory()) return "a directory";
  if (info.isFIFO()) return "a FIFO";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isSocket()) return "a socket";
  if (info.isSymbolicLink()) return "a symbolic link";
  if (info.isFile()) return "a regular file";
  return "not a regular file";
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 * 1024) return `${+(bytes / (1024 * 1024 * 1024)).toFixed(1)} GiB`;
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

function failure(problem: FileProblem, path: string, reason: string): FileRead {
  return { ok: false, problem, message: `${path}: ${reason}`, reason };
}

/** An errno from a failed call, as a problem and plain words. */
export function problemOf(error: unknown): { problem: FileProblem; words: string } {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
    case "ESRCH":
      return { problem: "missing", words: "no such file" };
    case "EACCES":
    case "EPERM":
      return { problem: "permission", words: "permission denied" };
    case "ELOOP":
      return { problem: "not_regular", words: "too many symbolic links" };
    case "EISDIR":
      return { problem: "not_regular", words: "a directory" };
    default:
      return { problem: "io", words: code ?? (error instanceof Error ? error.message : String(error)) };
  }
}

function checkInfo(path: string, info: Stats, limits: ReadLimits): FileRead | undefined {
  if (!info.isFile()) return failure("not_regular", path, `${fileKind(info)}, not a regular file`);
  if (info.size > limits.maxBytes) return failure("too_large", path, `${formatBytes(info.size)}, over the limit of ${formatBytes(limits.maxBytes)}`);
  return undefined;
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * The bytes read so far, in a buffer that starts at the size stat() reported (or 16 KiB for
 * /proc files, which report 0) and doubles up to maxBytes + 1: a small file costs a small
 * buffer, and one byte past the cap is enough to know the file is too large.
 */
export class Accumulator {
  private buffer: Buffer;
  private length = 0;
  private readonly cap: number;

  constructor(statSize: number, maxBytes: number) {
    this.cap = maxBytes + 1;
    this.buffer = Buffer.allocUnsafe(Math.min(this.cap, Math.max(statSize + 1, 16 * 1024)));
  }

  /** Where the next read goes; undefined once the cap is reached. */
  room(): { buffer: Buffer; offset: number; length: number } | undefined {
    if (this.length >= this.cap) return undefined;
    if (this.length === this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.cap, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    return { buffer: this.buffer, offset: this.length, length: this.buffer.length - this.length };
  }

  advance(bytes: number): void {
    this.length += bytes;
  }

  /** The text read, or undefined when more than maxBytes came. */
  text(): string | undefined {
    return this.length >= this.cap ? undefined : this.buffer.toString("utf8", 0, this.length);
  }

  result(path: string, limits: ReadLimits): FileRead {
    const text = this.text();
    if (text === undefined) return failure("too_large", path, `more than ${formatBytes(limits.maxBytes)} (it grew while being read?), over the limit`);
    return { ok: true, text, bytes: this.length };
  }
}

/** Reads a regular file of at most maxBytes. Never throws; never blocks on a FIFO or a device. */
export async function readBoundedFile(path: string, limits: ReadLimits): Promise<FileRead> {
  let before: Stats;
  try {
    before = await stat(path);
  } catch (error) {
    return failure(problemOf(error).problem, path, `cannot read (${problemOf(error).words})`);
  }
  const refused = checkInfo(path, before, limits);
  if (refused) return refused;
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, OPEN_FLAGS);
    const after = await handle.stat();
    if (!sameFile(before, after)) return failure("changed", path, `replaced while being opened; not read`);
    const again = checkInfo(path, after, limits);
    if (again) return again;
    const bytes = new Accumulator(after.size, limits.maxBytes);
    for (let room = bytes.room(); room !== undefined; room = bytes.room()) {
      const { bytesRead } = await handle.read(room.buffer, room.offset, room.length, null);
      if (bytesRead === 0) break;
      bytes.advance(bytesRead);
    }
    return bytes.result(path, limits);
  } catch (error) {
    return failure(problemOf(error).problem, path, `cannot read (${problemOf(error).words})`);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
