// Who probes: one identity a configured source stands for (the agent's own pod, or one
// labeled pod on this node). A leaf: targets, verdicts and the daemon share it.

import type { IpAddress } from "../addresses/ip.js";
import type { PodInfo } from "../cluster/snapshot.js";

export interface SourceIdentity {
  /** The source's name in the config. */
  readonly name: string;
  /** The pod the source is, when the cluster state knows it. */
  readonly pod?: PodInfo;
  /** Its address, when known without a pod (e.g. POD_IP of a pod missing from the snapshot). */
  readonly ip?: IpAddress;
  readonly namespace?: string;
  readonly node?: string;
  /** "kind/name" of its workload, for metrics and results (never the pod name). */
  readonly workload?: string;
  /**
   * A labeled pod probed from inside its own network namespace (the pod's "namespace/name",
   * which tells apart the pods of one workload on one node); absent for the agent itself.
   */
  readonly podSource?: string;
}
