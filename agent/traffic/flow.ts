// The traffic map's vocabulary: one observed flow, aggregated by (local workload, peer, port,
// protocol, direction), and the map a node records. This is a leaf module shared by the observer
// (which fills it from socket tables), the judge (which adds verdicts), the advisor (which writes
// policies from it) and the CLI (which reads a recorded map offline). It is plain JSON-able data:
// a recorded map is written by one agent and read by `netcanary map` / `netcanary advise` elsewhere,
// so every field here is part of a file format and only grows (new fields optional).

/** Labels as the engine reads them. */
export type FlowLabels = Readonly<Record<string, string>>;

export type FlowDirection = "outbound" | "inbound";

/** What socket tables and connection tracking show; SCTP is not observed. */
export type FlowProtocol = "TCP" | "UDP";

/**
 * A workload as policies see it: its namespace and the labels its pods carry. `kind` is the
 * controlling workload's lower-case kind (deployment, statefulset, daemonset, job, cronjob), or
 * "pod" for a bare pod; `name` is the workload's name (the pod's for a bare pod). `labels` are
 * the labels common to the workload's observed pods, without per-pod ones (pod-template-hash,
 * controller-revision-hash, statefulset.kubernetes.io/pod-name, ...).
 */
export interface FlowWorkload {
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
  readonly labels: FlowLabels;
}

/** A Service's backend as the dataplane chose it: the workload and the port it listens on. */
export interface FlowBackend {
  readonly workload: FlowWorkload;
  readonly port: number;
}

/** Who the remote end is, as named by the observer. Exhaustive: add a kind here and everywhere it is switched on. */
export type FlowPeer =
  /** A pod of the cluster (looked up by address, never from a cluster-wide cache). */
  | { readonly kind: "workload"; readonly workload: FlowWorkload }
  /**
   * A Service's ClusterIP (seen before the dataplane translated it). `backends`: the workloads
   * and ports the dataplane translated it to, when the observer saw them (connection tracking's
   * reply tuple); optional, as socket tables show only the Service address.
   */
  | { readonly kind: "service"; readonly namespace: string; readonly name: string; readonly backends?: readonly FlowBackend[] }
  /** A node's address (host-network pods, kubelet, NodePort traffic). */
  | { readonly kind: "node"; readonly name: string }
  /** An address in Zscaler's published ranges: the cloud, the data centre's city when known, the smallest range holding it. */
  | { readonly kind: "zscaler"; readonly cloud: string; readonly city?: string; readonly range: string }
  /** Any other address, grouped by the smallest configured range holding it (`name` from the config), else its /32 or /128. */
  | { readonly kind: "external"; readonly range: string; readonly name?: string }
  /** Not yet named (lookup pending, rate-bounded, or failed): never guessed. */
  | { readonly kind: "unnamed"; readonly address: string; readonly reason: string };

/** Where the observer saw a flow. */
export type FlowEvidence = "socket-table" | "conntrack";

export interface ObservedFlow {
  readonly direction: FlowDirection;
  readonly protocol: FlowProtocol;
  /** The workload on this node whose pod made (outbound) or accepted (inbound) the connection. */
  readonly local: FlowWorkload;
  readonly peer: FlowPeer;
  /** The destination port: the remote's for outbound, the local pod's for inbound. */
  readonly port: number;
  /** Up to MAX_SAMPLE_ADDRESSES remote addresses seen for this flow (the engine judges ipBlocks by address). */
  readonly remoteAddresses: readonly string[];
  /** Up to MAX_SAMPLE_ADDRESSES local pod addresses (the engine judges the local side by pod). */
  readonly localAddresses: readonly string[];
  /** RFC 3339 times of the first and last observation. */
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** Samples in which it was seen (a long connection counts once per sample). */
  readonly observations: number;
  readonly evidence: readonly FlowEvidence[];
  /**
   * Set when every observation was only a connection attempt (TCP SYN_SENT, no answer seen):
   * evidence that the workload tried, not that traffic got through. Absent otherwise.
   */
  readonly attemptOnly?: true;
}

export const MAX_SAMPLE_ADDRESSES = 8;

/** What the observer could and could not see: reported with every map, never hidden. */
export interface FlowCoverage {
  /** Pods on the node the config selects for observation, and those actually read. */
  readonly podsSelected: number;
  readonly podsObserved: number;
  /** Why some were not (pod name -> reason), bounded. */
  readonly missed: readonly { readonly pod: string; readonly reason: string }[];
  /** Sources of truth in use, and the limits each has (human sentences, fixed per source). */
  readonly sources: readonly { readonly evidence: FlowEvidence; readonly limits: string }[];
  /** Flows not recorded because the budget was full. */
  readonly droppedFlows: number;
}

export interface FlowMap {
  readonly apiVersion: "netcanary/v1";
  readonly kind: "FlowMap";
  /** The node the map was recorded on; absent for a merged map. */
  readonly node?: string;
  readonly from: string;
  readonly until: string;
  /** Namespace labels of every namespace named in the flows (namespaceSelectors need them). */
  readonly namespaces: readonly { readonly name: string; readonly labels: FlowLabels }[];
  readonly flows: readonly ObservedFlow[];
  readonly coverage: FlowCoverage;
}

/** The aggregation key: one flow per (direction, protocol, local workload, peer, port). */
export function flowKey(flow: Pick<ObservedFlow, "direction" | "protocol" | "local" | "peer" | "port">): string {
  return [flow.direction, flow.protocol, workloadKey(flow.local), peerKey(flow.peer), String(flow.port)].join("|");
}

export function workloadKey(workload: FlowWorkload): string {
  return `${workload.kind}/${workload.namespace}/${workload.name}`;
}

export function peerKey(peer: FlowPeer): string {
  switch (peer.kind) {
    case "workload":
      return `workload:${workloadKey(peer.workload)}`;
    case "service":
      return `service:${peer.namespace}/${peer.name}`;
    case "node":
      return `node:${peer.name}`;
    case "zscaler":
      return `zscaler:${peer.cloud}:${peer.range}`;
    case "external":
      return `external:${peer.range}`;
    case "unnamed":
      return `unnamed:${peer.address}`;
  }
}
