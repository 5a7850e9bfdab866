// A pod's own resolvers: its /etc/resolv.conf (the file the kubelet wrote for it, as the
// pod's mount namespace shows it), read through /proc/<pid>/root of a process of the pod.
// The probe worker enters only the pod's network namespace, so without these it would
// resolve with the agent's servers, not the pod's (dnsPolicy, dnsConfig).
//
// The file belongs to the pod's tenant: it is read with files/in-root.ts (resolved inside
// the pod's root, a regular file, at most MAX_RESOLV_CONF_BYTES, within a deadline), and
// what is reported when it cannot be used says what was wrong, never what it holds.
// Runs in the probe worker, a process killed at its deadline, never in the agent.

import { readFileInRoot } from "../files/in-root.js";
import { parseResolvConf } from "./network.js";

/** glibc reads any size; a kubelet's file is a few hundred bytes. */
export const MAX_RESOLV_CONF_BYTES = 64 * 1024;

export type PodResolvers = { readonly ok: true; readonly root: string; readonly nameservers: readonly string[] } | { readonly ok: false; readonly reason: string };

/**
 * The first usable resolv.conf among the roots (/proc/<pid>/root of each process of the pod:
 * the pause container of some runtimes has no /etc at all, while the app containers have
 * the kubelet's file bind-mounted). budgetMs bounds all of them together. On failure, why,
 * for each root.
 */
export async function readPodResolvers(roots: readonly string[], budgetMs: number): Promise<PodResolvers> {
  const problems: string[] = [];
  const deadline = performance.now() + budgetMs;
  for (const root of roots) {
    const left = Math.floor(deadline - performance.now());
    if (left <= 0) {
      problems.push(`${root}: not tried (${budgetMs} ms spent on the others)`);
      continue;
    }
    const read = await readFileInRoot(root, "/etc/resolv.conf", { maxBytes: MAX_RESOLV_CONF_BYTES, timeoutMs: left });
    if (!read.ok) {
      problems.push(read.message);
      continue;
    }
    const parsed = parseResolvConf(read.text);
    if (parsed.nameservers.length === 0) {
      problems.push(`/etc/resolv.conf in ${root}: no usable nameserver${parsed.ignored.length > 0 ? ` (${parsed.ignored.join("; ")})` : ""}`);
      continue;
    }
    return { ok: true, root, nameservers: parsed.nameservers };
  }
  if (problems.length === 0) return { ok: false, reason: "no process to read resolv.conf from" };
  return { ok: false, reason: `the pod's resolvers are unknown: ${problems.join("; ")}` };
}
