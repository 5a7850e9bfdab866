// Lab pods' cgroups. The agent ties a pod's network namespace to the pod by the pod's cgroup,
// whose path names the pod's UID ("kubepods/besteffort/pod<uid>/..."), as the kubelet makes
// it (agent/sources/netns.ts). A lab pod's processes therefore join a cgroup named the same
// way, netcanary-lab-<lab id>/pod<uid>, in a hierarchy of the machine's (cgroup v2 where it is
// mounted, else v1's pids hierarchy); nothing is limited, the cgroup only names the pod.
// The lab removes its cgroups on teardown, and the next holder of a dead lab's slot removes
// what it left (lab.ts).
//
// Plain TypeScript without the agent's modules: `make demo` runs these support files with
// Node's type stripping.

import { existsSync, readFileSync, readdirSync, rmdirSync, statfsSync } from "node:fs";
import { join } from "node:path";

const CGROUP2_MAGIC = 0x63677270;

/** Where lab cgroups go: a cgroup v2 mount (unified or hybrid), else the v1 pids hierarchy. */
export function labCgroupRoot(): string {
  for (const candidate of ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]) {
    try {
      if (Number(statfsSync(candidate).type) === CGROUP2_MAGIC) return candidate;
    } catch {
      // not mounted here
    }
  }
  if (existsSync("/sys/fs/cgroup/pids/cgroup.procs")) return "/sys/fs/cgroup/pids";
  throw new Error("no cgroup hierarchy to put lab pods in (neither cgroup v2 nor v1's pids is mounted under /sys/fs/cgroup)");
}

/** The lab's own cgroup directory. */
export function labCgroupDir(labId: string): string {
  return join(labCgroupRoot(), `netcanary-lab-${labId}`);
}

/** A pod's cgroup directory, as the kubelet would name it (cgroupfs driver). */
export function podCgroupDir(labId: string, uid: string): string {
  return join(labCgroupDir(labId), `pod${uid}`);
}

/**
 * The argv that runs argv inside the cgroup: a shell writes its own pid to cgroup.procs (the
 * process is in the pod's cgroup before it does anything else), then execs argv.
 */
export function inCgroup(dir: string, argv: readonly string[]): string[] {
  return ["sh", "-c", 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', "sh", dir, ...argv];
}

/** Kills what is left in the lab's cgroups and removes them; returns what it removed. */
export function removeLabCgroups(labId: string): string[] {
  let root: string;
  try {
    root = labCgroupDir(labId);
  } catch {
    return [];
  }
  if (!existsSync(root)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(root, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name)) {
    const dir = join(root, name);
    killMembers(dir);
    rmdirWhenEmpty(dir);
    removed.push(dir);
  }
  rmdirWhenEmpty(root);
  removed.push(root);
  return removed;
}

function killMembers(dir: string): void {
  let text = "";
  try {
    text = readFileSync(join(dir, "cgroup.procs"), "utf8");
  } catch {
    return;
  }
  for (const pid of text.split("\n").filter((line) => /^\d+$/.test(line))) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // gone
    }
  }
}

/** rmdir of a cgroup fails while a member is still exiting: a few tries, briefly apart. */
function rmdirWhenEmpty(dir: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || attempt >= 50) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}
