// Inbound paths: for every pod whose ingress policy admits addresses outside the cluster by
// ipBlock (Zscaler's ranges, an office, a partner), how traffic from outside reaches it, and
// whether the pod will still see the client's address when its policy is applied. A rule that
// admits 165.225.0.0/17 never matches when a node or a proxy has replaced the source address
// on the way: the traffic is then denied (or admitted by another rule, without the ranges
// restricting anything). Kubernetes leaves open whether ipBlock sees the original or the
// rewritten address; what happens is decided by the Service's externalTrafficPolicy, the
// dataplane, the cloud load balancer, and any proxy in front.
// Pure: the policy index, the snapshot and options in; one report out.

import { type Cidr, cidrContainsCidr } from "../addresses/ip.js";
import type { ClusterSnapshot, PodInfo, Protocol, ServiceInfo } from "../cluster/snapshot.js";
import { type PolicyIndex, selectingPolicies } from "../policy/engine.js";
import { compileSelector } from "../policy/selectors.js";
import { type Dataplane, dataplaneFacts, describeClusterPolicyOutcome } from "./dataplanes.js";
import type { ServiceExposure, SourceLocation } from "../objects/model.js";
import { type BackendService, NO_INBOUND_OBJECTS } from "../objects/inbound.js";

/** preserved: the pod sees the client's address; rewritten: it does not; dataplane: it depends on which runs. */
export type InboundOutcome = "preserved" | "rewritten" | "dataplane";

export type InboundCode =
  /** externalTrafficPolicy: Local: the node delivers to its own pods only, without SNAT. */
  | "local"
  /** externalTrafficPolicy: Cluster: the node may forward to another node's pod, masquerading. */
  | "cluster_snat"
  /** An AWS load balancer sends to the pod IPs itself: its own address unless client IP preservation is on. */
  | "lb_ip_targets"
  /** An AWS load balancer with instance targets whose client IP preservation is turned off. */
  | "lb_no_preservation"
  /** An Ingress controller proxies: the pod sees the controller's pods. */
  | "ingress_proxy"
  /** A Gateway API route: the Gateway's data plane proxies. */
  | "gateway_proxy";

/** A named set of ranges to recognise in ipBlocks (a Zscaler cloud's ZIA ranges, ZPA App Connectors). */
export interface NamedRanges {
  readonly label: string;
  readonly cidrs: readonly Cidr[];
}

/** An ingress rule that admits addresses outside the cluster. */
export interface ExternalAdmission {
  readonly policy: string;
  readonly rule: number;
  readonly cidr: string;
  /** Labels of the named ranges the block overlaps. */
  readonly ranges: readonly string[];
  readonly definedAt?: SourceLocation;
}

export interface InboundPath {
  readonly code: InboundCode;
  readonly outcome: InboundOutcome;
  /** What stands in front, e.g. "LoadBalancer Service shop/web (externalTrafficPolicy: Cluster)". */
  readonly via: string;
  /** The Service object (namespace/name) the path goes through. */
  readonly service: string;
  /** The address the pod's ingress policy sees. */
  readonly sourceSeen: string;
  readonly explanation: string;
  readonly fixes: readonly string[];
  /** Where the outcome depends on the dataplane: which keep the address and which do not. */
  readonly dataplane?: string;
}

export interface InboundPod {
  readonly pod: string;
  readonly admits: readonly ExternalAdmission[];
  readonly paths: readonly InboundPath[];
}

export interface InboundReport {
  readonly pods: readonly InboundPod[];
  /** Paths whose outcome is not "preserved". */
  readonly findings: number;
  /** The dataplane the outcomes were judged for, when one was given. */
  readonly dataplane?: Dataplane;
}

export interface InboundOptions {
  /** The pod and node networks: an ipBlock inside them is not "outside the cluster". */
  readonly clusterCidrs?: readonly Cidr[];
  readonly ranges?: readonly NamedRanges[];
  readonly dataplane?: Dataplane;
}

function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (cidrContainsCidr(a, b) || cidrContainsCidr(b, a));
}

/**
 * The ingress rules of the pod's policies that admit some address outside the cluster by an
 * ipBlock. A block of prefix 0 admits any address, a node's or a proxy's too: losing the
 * client's address cannot break it, so it is not listed.
 */
export function externalAdmissions(index: PolicyIndex, pod: PodInfo, options: InboundOptions = {}): ExternalAdmission[] {
  const admissions: ExternalAdmission[] = [];
  for (const policy of selectingPolicies(index, pod, "ingress")) {
    for (const rule of policy.ingress) {
      for (const peer of rule.peers ?? []) {
        if (peer.kind !== "ipBlock" || peer.cidr.prefix === 0) continue;
        if ((options.clusterCidrs ?? []).some((inside) => cidrContainsCidr(inside, peer.cidr))) continue;
        const ranges = (options.ranges ?? []).filter((named) => named.cidrs.some((c) => overlaps(c, peer.cidr))).map((named) => named.label);
        admissions.push({
          policy: policy.id,
          rule: rule.index,
          cidr: peer.cidr.text,
          ranges,
          ...(policy.policy.definedAt ? { definedAt: policy.policy.definedAt } : {}),
        });
      }
    }
  }
  return admissions;
}

/** Whether a Service's selector picks this pod (a Service without a selector picks none). */
export function selectsPod(service: ServiceInfo, pod: PodInfo): boolean {
  if (service.namespace !== pod.namespace || !service.selector || Object.keys(service.selector).length === 0) return false;
  return compileSelector({ matchLabels: service.selector, matchExpressions: [] })(pod.labels);
}

function protocolOf(service: ServiceInfo): Protocol {
  // UDP decides when there is any: a hybrid dataplane keeps the address for TCP only.
  return service.ports.some((p) => p.protocol === "UDP") ? "UDP" : service.ports.some((p) => p.protocol === "SCTP") ? "SCTP" : "TCP";
}

const LOCAL_COST =
  "externalTrafficPolicy: Local, at a cost: a node delivers only to its own ready pods (a load balancer must health-check the healthCheckNodePort and skip nodes without one; a NodePort on such a node answers nothing), and traffic is spread per node, not per pod";

/** The way in through one exposed Service, judged for a dataplane (undefined: not known). */
export function servicePath(service: ServiceInfo, exposure: ServiceExposure, dataplane: Dataplane | undefined): InboundPath {
  const id = `${service.namespace}/${service.name}`;
  const kind = exposure.type === "ClusterIP" ? "Service with externalIPs" : `${exposure.type} Service`;
  const via = `${kind} ${id} (externalTrafficPolicy: ${exposure.externalTrafficPolicy})`;
  const protocol = protocolOf(service);
  const lb = exposure.loadBalancer;
  if (lb?.targets === "ip") {
    const kept = lb.preserveClientIp === true;
    return {
      code: "lb_ip_targets",
      outcome: kept ? "preserved" : "rewritten",
      via: `${via}, AWS load balancer with IP targets`,
      service: id,
      sourceSeen: kept ? "the client's address" : "the load balancer's private addresses",
      explanation: kept
        ? "the load balancer sends to the pod IPs itself, with client IP preservation on: kube-proxy is not in the path"
        : "the load balancer sends to the pod IPs itself; with IP targets, client IP preservation is off by default for TCP, so the pod sees the load balancer's private addresses",
      fixes: kept
        ? []
        : [
            "turn on client IP preservation: annotation service.beta.kubernetes.io/aws-load-balancer-target-group-attributes: preserve_client_ip.enabled=true",
            "or admit the load balancer's subnets by ipBlock instead, and restrict clients on the load balancer (loadBalancerSourceRanges)",
          ],
    };
  }
  if (lb?.preserveClientIp === false) {
    return {
      code: "lb_no_preservation",
      outcome: "rewritten",
      via: `${via}, AWS load balancer with instance targets`,
      service: id,
      sourceSeen: "the load balancer's private addresses",
      explanation: "the load balancer's target group has client IP preservation turned off (preserve_client_ip.enabled=false)",
      fixes: ["remove preserve_client_ip.enabled=false from service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"],
    };
  }
  if (exposure.externalTrafficPolicy === "Local") {
    return {
      code: "local",
      outcome: "preserved",
      via,
      service: id,
      sourceSeen: "the client's address",
      explanation: "with externalTrafficPolicy: Local a node delivers only to its own pods, without source NAT",
      fixes: [],
    };
  }
  const keeps = dataplane === undefined ? undefined : dataplaneFacts(dataplane).keepsSourceWithCluster(protocol);
  const outcome: InboundOutcome = keeps === undefined ? "dataplane" : keeps ? "preserved" : "rewritten";
  return {
    code: "cluster_snat",
    outcome,
    via,
    service: id,
    sourceSeen: keeps === true ? "the client's address" : keeps === false ? "a node's address" : "a node's address, or the client's (the dataplane decides)",
    explanation:
      `with externalTrafficPolicy: Cluster the node that receives the connection may forward it to a pod on another node, and then rewrites the source to its own address so that replies come back through it` +
      (dataplane !== undefined ? ` (${dataplane}: ${keeps ? "keeps the client's address" : "rewrites it"})` : ""),
    fixes:
      keeps === true
        ? []
        : [
            `set ${LOCAL_COST}`,
            "or run a dataplane that keeps the address with Cluster: Cilium's kube-proxy replacement with loadBalancer.mode dsr or hybrid (TCP), or Calico's eBPF dataplane",
          ],
    dataplane: `${protocol}: ${describeClusterPolicyOutcome(protocol)}`,
  };
}

function proxyFixes(proxy: string): string[] {
  return [
    `admit the ${proxy}'s pods (namespaceSelector and podSelector) in this pod's policy, and move the ipBlock to an ingress policy on the ${proxy}'s pods`,
    `there, keep the client's address up to the ${proxy}: its own Service with ${LOCAL_COST}`,
    `an address the ${proxy} passes on in a header (X-Forwarded-For, PROXY protocol) is for the application to check: NetworkPolicy never sees it`,
  ];
}

function key(backend: BackendService): string {
  return `${backend.namespace}/${backend.name}`;
}

/** Each way in from outside to this pod that the snapshot shows: exposed Services selecting it, and proxies in front of them. */
export function inboundPaths(snapshot: ClusterSnapshot, pod: PodInfo, options: Pick<InboundOptions, "dataplane"> = {}): InboundPath[] {
  const inbound = snapshot.inbound ?? NO_INBOUND_OBJECTS;
  const services = snapshot.services.filter((service) => selectsPod(service, pod));
  const names = new Set(services.map((s) => `${s.namespace}/${s.name}`));
  const paths: InboundPath[] = [];
  for (const service of services) if (service.exposure) paths.push(servicePath(service, service.exposure, options.dataplane));
  for (const ingress of inbound.ingresses) {
    for (const backend of ingress.backends.filter((b) => names.has(key(b)))) {
      const className = ingress.className ? `, class ${ingress.className}` : "";
      paths.push({
        code: "ingress_proxy",
        outcome: "rewritten",
        via: `Ingress ${ingress.namespace}/${ingress.name} (hosts ${ingress.hosts.join(", ")}${className}) -> Service ${key(backend)}`,
        service: key(backend),
        sourceSeen: "the Ingress controller's pod addresses",
        explanation: "an Ingress controller ends the client's connection and opens its own to the pod: the pod's policy sees the controller, never the client",
        fixes: proxyFixes("Ingress controller"),
      });
    }
  }
  for (const route of inbound.routes) {
    for (const backend of route.backends.filter((b) => names.has(key(b)))) {
      const gateways = route.gateways.map((g) => {
        const gateway = inbound.gateways.find((x) => `${x.namespace}/${x.name}` === g);
        return gateway ? `${g} (class ${gateway.className})` : `${g} (not in the manifests)`;
      });
      paths.push({
        code: "gateway_proxy",
        outcome: "rewritten",
        via: `${route.kind} ${route.namespace}/${route.name}${route.hostnames.length > 0 ? ` (hosts ${route.hostnames.join(", ")})` : ""} -> Service ${key(backend)}, through Gateway ${gateways.join(", ") || "(none named)"}`,
        service: key(backend),
        sourceSeen: "the Gateway's data plane pod addresses",
        explanation: `a Gateway's data plane proxies ${route.kind === "HTTPRoute" || route.kind === "GRPCRoute" ? "each request" : "each connection"} and connects to the pod itself: the pod's policy sees the Gateway's pods, never the client`,
        fixes: proxyFixes("Gateway"),
      });
    }
  }
  return paths;
}

/** Every pod with an external admission, and each way in that the snapshot shows. */
export function inboundReport(index: PolicyIndex, snapshot: ClusterSnapshot, options: InboundOptions = {}): InboundReport {
  const pods: InboundPod[] = [];
  const sorted = [...index.podsByKey.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [id, pod] of sorted) {
    if (pod.hostNetwork) continue;
    const admits = externalAdmissions(index, pod, options);
    if (admits.length === 0) continue;
    pods.push({ pod: id, admits, paths: inboundPaths(snapshot, pod, options) });
  }
  const findings = pods.reduce((n, p) => n + p.paths.filter((path) => path.outcome !== "preserved").length, 0);
  return { pods, findings, ...(options.dataplane ? { dataplane: options.dataplane } : {}) };
}
