// The cluster as the policy engine sees it: slim, plain data. Loaded from
// manifest files (static mode) or kept current from the API (live mode). The objects it holds
// are the vocabulary of objects/model.ts, re-exported here for the readers and analyses that
// take a whole snapshot; the policy engine imports that leaf, never this file.

import type { InboundObjects } from "../objects/inbound.js";
import type { EndpointSliceInfo } from "../objects/model.js";
import type { PolicyInputs } from "../policy/engine.js";

export {
  type ContainerPort,
  type EndpointInfo,
  type EndpointSliceInfo,
  type Labels,
  NAMESPACE_NAME_LABEL,
  type NamespaceInfo,
  namespaceLabels,
  type PodInfo,
  podKey,
  type Protocol,
  PROTOCOLS,
  type ServiceInfo,
  type ServicePort,
  type WorkloadRef,
} from "../objects/model.js";

/** The engine's inputs (namespaces, pods, policies, Services, the admin tiers) and what else the analyses read. */
export interface ClusterSnapshot extends PolicyInputs {
  readonly endpointSlices?: readonly EndpointSliceInfo[];
  /** Ingresses, Gateways and routes (manifests only): the proxies in front of pods. */
  readonly inbound?: InboundObjects;
}

export const EMPTY_SNAPSHOT: ClusterSnapshot = { namespaces: [], pods: [], policies: [], services: [] };
