// The lab registry: which labs exist on this machine, so that no two share addresses. A lab
// claims a slot (0..SLOT_COUNT-1) before it makes anything, and its addresses follow from
// the slot (lab-addresses.ts). The claim is an exclusive flock(2) on
// REGISTRY_DIR/slot-<n>.lock held through a file descriptor of the claiming process: the
// kernel makes it exclusive across processes (two test runs, a test run and `make demo`),
// and drops it when the process ends, however it ends (even SIGKILL), so a dead owner can
// never keep a slot. Node has no flock(), so the lock is taken by the flock(1) command of
// util-linux on that descriptor, passed to it as its fd 3: the lock belongs to the open file,
// which this process keeps open (not inherited by other children: Node opens files
// close-on-exec).
//
// The holder writes a record into the file (who it is, what it made); release() removes the
// file. A file still there when a new claimant gets the lock belongs to an owner that died
// before releasing: the claimant receives its record (`previous`) and removes what it left
// (lab.ts knows what a lab makes). Lock files are unlinked on release while locked, so a
// claimant checks, once it holds the lock, that the file it locked is still the one at the
// path, and retries if not.

import { spawn } from "node:child_process";
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SLOT_COUNT } from "./lab-addresses.ts";

/** Machine-wide (not the per-user temp dir: every lab on the machine must see it); tmpfs, emptied at boot. */
export const REGISTRY_DIR = "/run/netcanary-labs";

const RECORD_LIMIT = 64 * 1024;
const BUSY = 75;

export interface SlotClaim {
  readonly slot: number;
  /** The record of a previous holder that died without releasing: what it left to remove. */
  readonly previous: string | undefined;
  /** Replaces this holder's record (read by the next claimant if this process dies holding the slot). */
  record(text: string): void;
  /**
   * Gives the slot up. keepRecord: leave the record for the next claimant (this holder could
   * not remove everything it made). Idempotent.
   */
  release(options?: { keepRecord?: boolean }): void;
}

export interface ClaimOptions {
  /** Slots to try (default: all, starting at a random one). */
  readonly slots?: readonly number[];
  /** How long to wait for a free slot when all are taken (default 60 s). */
  readonly waitMs?: number;
}

/** flock(1) on fd: true when locked, false when another open file holds the lock. */
function lockDescriptor(fd: number, path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn("flock", ["--nonblock", "--exclusive", "--conflict-exit-code", String(BUSY), "3"], { stdio: ["ignore", "ignore", "pipe", fd] });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(error.code === "ENOENT" ? "the lab registry needs the command flock (util-linux)" : `flock ${path}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(true);
      else if (code === BUSY) resolve(false);
      else reject(new Error(`flock ${path} exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

function readRecord(fd: number): string {
  const buffer = Buffer.alloc(RECORD_LIMIT);
  const length = readSync(fd, buffer, 0, RECORD_LIMIT, 0);
  return buffer.subarray(0, length).toString("utf8");
}

function sameFile(fd: number, path: string): boolean {
  try {
    const held = fstatSync(fd);
    const there = statSync(path);
    return held.ino === there.ino && held.dev === there.dev;
  } catch {
    return false; // unlinked since we opened it
  }
}

/** One attempt at a slot: the claim, or undefined when another process holds it. */
async function tryClaim(slot: number): Promise<SlotClaim | undefined> {
  const path = join(REGISTRY_DIR, `slot-${slot}.lock`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    let locked = false;
    try {
      locked = await lockDescriptor(fd, path);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    if (!locked) {
      closeSync(fd);
      return undefined;
    }
    if (!sameFile(fd, path)) {
      closeSync(fd); // its holder released it (unlinked) between our open and our lock
      continue;
    }
    const text = readRecord(fd);
    let released = false;
    return {
      slot,
      previous: text.length > 0 ? text : undefined,
      record(next) {
        if (released) throw new Error(`lab slot ${slot} was released`);
        ftruncateSync(fd, 0);
        writeSync(fd, next, 0);
      },
      release(options = {}) {
        if (released) return;
        released = true;
        if (!options.keepRecord) {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        }
        closeSync(fd);
      },
    };
  }
  return undefined;
}

/** What the holders of taken slots recorded, for the error when none is free. */
function holders(slots: readonly number[]): string {
  const seen: string[] = [];
  for (const slot of slots) {
    try {
      const fd = openSync(join(REGISTRY_DIR, `slot-${slot}.lock`), constants.O_RDONLY);
      try {
        seen.push(`${slot}: ${readRecord(fd).slice(0, 200) || "(no record)"}`);
      } finally {
        closeSync(fd);
      }
    } catch {
      // released meanwhile
    }
  }
  return seen.join("; ");
}

/** Claims a free slot; waits (bounded) while every slot is taken. */
export async function claimSlot(options: ClaimOptions = {}): Promise<SlotClaim> {
  const all = Array.from({ length: SLOT_COUNT }, (_, slot) => slot);
  const start = Math.floor(Math.random() * SLOT_COUNT);
  const candidates = options.slots ?? [...all.slice(start), ...all.slice(0, start)];
  for (const slot of candidates) {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) throw new Error(`lab slot ${slot} is not in 0..${SLOT_COUNT - 1}`);
  }
  try {
    mkdirSync(REGISTRY_DIR, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new Error(`the lab registry ${REGISTRY_DIR}: ${(error as NodeJS.ErrnoException).code ?? String(error)} (labs need root)`);
  }
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  for (;;) {
    for (const slot of candidates) {
      const claim = await tryClaim(slot);
      if (claim) return claim;
    }
    if (Date.now() >= deadline) {
      throw new Error(`every lab slot asked for (${candidates.join(", ")}) is taken in ${REGISTRY_DIR}: too many labs at once on this machine? holders: ${holders(candidates)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(1, deadline - Date.now()))));
  }
}
