// Which dataplane handles a cluster's Services, from what it keeps in the API: kube-proxy's
// ConfigMap (kube-system/kube-proxy, its KubeProxyConfiguration in config.conf: mode), Cilium's
// (kube-system/cilium-config: kube-proxy-replacement and bpf-lb-mode), and Calico's
// FelixConfiguration "default" (spec.bpfEnabled). Each may be absent or unreadable (RBAC):
// the answer then says what it could not see instead of guessing. Pure: what was read in,
// a dataplane (or none) and the evidence out.

import { parse } from "yaml";
import { isObject } from "../documents/fields.js";
import type { Dataplane } from "./dataplanes.js";

/** One object the agent tried to read: its data, or why there is none. */
export type Observed<T> = { readonly state: "found"; readonly value: T } | { readonly state: "absent" } | { readonly state: "forbidden" } | { readonly state: "failed"; readonly reason: string };

export interface DataplaneObservations {
  /** kube-system/kube-proxy ConfigMap's data. */
  readonly kubeProxy: Observed<Readonly<Record<string, string>>>;
  /** kube-system/cilium-config ConfigMap's data. */
  readonly cilium: Observed<Readonly<Record<string, string>>>;
  /** FelixConfiguration default's spec. */
  readonly felix: Observed<Readonly<Record<string, unknown>>>;
}

export interface DataplaneDetection {
  /** The dataplane, or undefined when what was readable does not settle it. */
  readonly dataplane?: Dataplane;
  /** What was seen, one line each, e.g. "cilium-config: kube-proxy-replacement true, bpf-lb-mode dsr". */
  readonly evidence: readonly string[];
}

/** kube-proxy's mode from its KubeProxyConfiguration ("" means iptables on Linux). */
function kubeProxyMode(data: Readonly<Record<string, string>>): string | undefined {
  const text = data["config.conf"];
  if (text === undefined || text.length > 256 * 1024) return undefined;
  try {
    const config: unknown = parse(text, { maxAliasCount: 10 });
    if (!isObject(config)) return undefined;
    const mode = config["mode"];
    return typeof mode === "string" ? mode || "iptables" : "iptables";
  } catch {
    return undefined;
  }
}

/**
 * A value read from the cluster as the evidence says it: one of the values that mean something,
 * or "unrecognised" (a ConfigMap's value can be a megabyte of anything: never echoed).
 */
function known(value: string, meaningful: readonly string[]): string {
  return meaningful.includes(value) ? value : `unrecognised (${value.length} characters)`;
}

const CILIUM_REPLACEMENT = ["true", "strict", "false", "disabled", "partial", "probe"] as const;
const CILIUM_LB_MODE = ["snat", "dsr", "hybrid"] as const;
const KUBE_PROXY_MODE = ["iptables", "ipvs", "nftables", "kernelspace", "userspace"] as const;

function describe(name: string, observed: Observed<unknown>): string | undefined {
  if (observed.state === "absent") return `${name}: absent`;
  if (observed.state === "forbidden") return `${name}: not readable (RBAC: the opt-in role is not bound)`;
  if (observed.state === "failed") return `${name}: not read (${observed.reason})`;
  return undefined;
}

export function detectDataplane(seen: DataplaneObservations): DataplaneDetection {
  const evidence: string[] = [];
  let dataplane: Dataplane | undefined;
  /** Something may handle Services that the values read do not say: kube-proxy is then not assumed. */
  let undecided = false;
  // Cilium first: with its kube-proxy replacement on, it handles Services whatever else runs.
  if (seen.cilium.state === "found") {
    const replacement = known((seen.cilium.value["kube-proxy-replacement"] ?? "false").toLowerCase(), CILIUM_REPLACEMENT);
    const mode = known((seen.cilium.value["bpf-lb-mode"] ?? "snat").toLowerCase(), CILIUM_LB_MODE);
    evidence.push(`cilium-config: kube-proxy-replacement ${replacement}, bpf-lb-mode ${mode}`);
    if (replacement === "true" || replacement === "strict") {
      if (mode === "dsr") dataplane = "cilium-dsr";
      else if (mode === "hybrid") dataplane = "cilium-hybrid";
      else if (mode === "snat") dataplane = "cilium-snat";
      else undecided = true;
    } else if (replacement !== "false" && replacement !== "disabled") {
      // partial/probe (older Cilium) may take NodePort over from kube-proxy, or a value we do not know: never guessed.
      undecided = true;
    }
  } else evidence.push(describe("cilium-config", seen.cilium) ?? "");
  if (seen.felix.state === "found") {
    const bpf = seen.felix.value["bpfEnabled"] === true;
    evidence.push(`FelixConfiguration default: bpfEnabled ${bpf}`);
    dataplane ??= bpf ? "calico-ebpf" : undefined;
  } else evidence.push(describe("FelixConfiguration default", seen.felix) ?? "");
  if (seen.kubeProxy.state === "found") {
    const mode = kubeProxyMode(seen.kubeProxy.value);
    evidence.push(`kube-proxy: mode ${mode === undefined ? "unreadable config.conf" : known(mode, KUBE_PROXY_MODE)}`);
    // Only when nothing that could replace kube-proxy went unseen: an unreadable cilium-config
    // or FelixConfiguration may hide a kube-proxy replacement.
    const unseen = [seen.cilium, seen.felix].some((o) => o.state === "forbidden" || o.state === "failed");
    if (mode !== undefined && !unseen && !undecided) dataplane ??= seen.felix.state === "found" ? "calico-iptables" : "kube-proxy";
  } else evidence.push(describe("kube-proxy", seen.kubeProxy) ?? "");
  return { ...(dataplane ? { dataplane } : {}), evidence: evidence.filter((line) => line !== "") };
}
