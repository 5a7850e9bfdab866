// Runs a command under a memory limit, in a cgroup of its own, as a pod's container would
// (Node sizes its heap from the limit it sees). cgroup v2 or v1; needs root.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Creates the cgroup and returns the command to spawn in it, how to remove it, and the most
 * memory it was charged (MiB). `suffix` tells apart cgroups of one benchmark process.
 */
export function inMemoryLimit(mib, command, args, suffix = "") {
  const name = `netcanary-bench-${process.pid}${suffix}`;
  const v2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
  const dir = v2 ? join("/sys/fs/cgroup", name) : join("/sys/fs/cgroup/memory", name);
  mkdirSync(dir, { recursive: true });
  const bytes = String(mib * 1024 * 1024);
  if (v2) writeFileSync(join(dir, "memory.max"), bytes);
  else writeFileSync(join(dir, "memory.limit_in_bytes"), bytes);
  const quoted = [command, ...args].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(" ");
  return {
    command: "sh",
    args: ["-c", `echo $$ > ${join(dir, "cgroup.procs")} && exec ${quoted}`],
    /** true once the cgroup is gone. */
    remove() {
      try {
        rmdirSync(dir);
        return true;
      } catch (error) {
        // ENOENT: already gone; EBUSY: a process is still in it
        return error?.code === "ENOENT";
      }
    },
    describe: `cgroup ${v2 ? "v2" : "v1"} memory limit ${mib} MiB`,
    /** memory.peak (v2) or memory.max_usage_in_bytes (v1), in MiB; NaN when unreadable. */
    peakMiB() {
      try {
        return Number(readFileSync(join(dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes"), "utf8").trim()) / (1024 * 1024);
      } catch {
        return Number.NaN;
      }
    },
  };
}
