// A NetworkPolicy that lets selected pods reach one Zscaler cloud: egress to every published
// range on the gateway's ports, plus DNS to the cluster's resolver. Or, inbound, one that
// admits traffic from Zscaler: from ZIA's published ranges (users on ZIA reaching a published
// service) or from the ZPA App Connectors (configured addresses; ZPA traffic never comes from
// ZIA's ranges), kept apart, one source per policy. Pure: the allowlist in, a Kubernetes object
// and its YAML text out.
//
// The output is meant for GitOps: the same ranges give byte-identical YAML (fixed key order,
// CIDRs in address order, no timestamp), so a commit appears only when Zscaler's ranges change.

import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { type Cidr, compareCidrs } from "../addresses/ip.js";
import { collapseCidrs } from "../addresses/ranges.js";
import { labelKeyProblem, labelValueProblem } from "../objects/labels.js";
import { NAMESPACE_NAME_LABEL } from "../objects/model.js";
import { portNumberProblem } from "../policy/normalize.js";

export const NETWORK_POLICY_API_VERSION = "networking.k8s.io/v1";

/** The cluster DNS as kubeadm, kops, EKS, GKE and AKS label it. */
export const DEFAULT_CLUSTER_DNS: ClusterDns = { namespace: "kube-system", podSelector: { "k8s-app": "kube-dns" } };

/** The ports of a Zscaler gateway (explicit proxy, PAC and ZApp tunnels). */
export const ZSCALER_GATEWAY_PORTS: readonly number[] = [80, 443, 9400, 9480, 9443];

export const ANNOTATIONS = {
  cloud: "netcanary.io/zscaler-cloud",
  feeds: "netcanary.io/zscaler-feeds",
  rangesHash: "netcanary.io/zscaler-ranges-hash",
  /** Inbound policies: zia or zpa. */
  source: "netcanary.io/zscaler-source",
} as const;

/** Where inbound traffic from Zscaler comes from: ZIA's published egress ranges, or the ZPA App Connectors. */
export type InboundSource = "zia" | "zpa";

export interface ClusterDns {
  readonly namespace: string;
  readonly podSelector: Readonly<Record<string, string>>;
}

export interface ZscalerPolicyInput {
  /** The Zscaler cloud, e.g. "zscaler.net". */
  readonly cloud: string;
  readonly namespace: string;
  /** matchLabels of the pods that may reach Zscaler; {} selects every pod of the namespace. */
  readonly podSelector: Readonly<Record<string, string>>;
  /** Default: allow-zscaler-<cloud with dots as dashes>. */
  readonly name?: string;
  /** The allowlist (already collapsed by zscalerAllowlist); sorted and collapsed again here. */
  readonly cidrs: readonly Cidr[];
  /** TCP ports to allow to the ranges. */
  readonly ports: readonly number[];
  /** The cluster DNS to allow on UDP and TCP 53; default DEFAULT_CLUSTER_DNS; false: no DNS rule. */
  readonly dns?: ClusterDns | false;
  /** The feeds the ranges came from, for the header and an annotation, e.g. ["future", "hubs-recommended"]. */
  readonly feeds?: readonly string[];
}

export interface LabelSelectorObject {
  readonly matchLabels: Readonly<Record<string, string>>;
}

export interface IpBlockPeer {
  readonly ipBlock: { readonly cidr: string };
}

export interface PodPeer {
  readonly namespaceSelector: LabelSelectorObject;
  readonly podSelector: LabelSelectorObject;
}

export interface PortObject {
  readonly protocol: "TCP" | "UDP";
  readonly port: number;
}

export interface EgressRuleObject {
  readonly to: readonly (IpBlockPeer | PodPeer)[];
  readonly ports: readonly PortObject[];
}

/** A networking.k8s.io/v1 NetworkPolicy as written to the API (keys in the order they are emitted). */
export interface NetworkPolicyObject {
  readonly apiVersion: typeof NETWORK_POLICY_API_VERSION;
  readonly kind: "NetworkPolicy";
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  readonly spec: {
    readonly podSelector: LabelSelectorObject;
    readonly policyTypes: readonly ["Egress"];
    readonly egress: readonly EgressRuleObject[];
  };
}

export interface IngressRuleObject {
  readonly from: readonly IpBlockPeer[];
  readonly ports: readonly PortObject[];
}

/** An Ingress NetworkPolicy admitting one Zscaler source (keys in the order they are emitted). */
export interface IngressNetworkPolicyObject {
  readonly apiVersion: typeof NETWORK_POLICY_API_VERSION;
  readonly kind: "NetworkPolicy";
  readonly metadata: NetworkPolicyObject["metadata"];
  readonly spec: {
    readonly podSelector: LabelSelectorObject;
    readonly policyTypes: readonly ["Ingress"];
    readonly ingress: readonly IngressRuleObject[];
  };
}

export interface ZscalerIngressInput {
  readonly source: InboundSource;
  /** The ZIA cloud (source zia); for zpa, the name it goes by in the annotation (default "zpa"). */
  readonly cloud?: string;
  readonly namespace: string;
  readonly podSelector: Readonly<Record<string, string>>;
  /** Default: allow-from-zscaler-<cloud, dots as dashes>, or allow-from-zpa-connectors. */
  readonly name?: string;
  readonly cidrs: readonly Cidr[];
  /** TCP ports the pods serve (no default: inbound ports are the application's). */
  readonly ports: readonly number[];
  readonly feeds?: readonly string[];
}

export type IngressPolicyResult = { readonly ok: true; readonly value: IngressNetworkPolicyObject } | { readonly ok: false; readonly reason: string };

export type PolicyResult = { readonly ok: true; readonly value: NetworkPolicyObject } | { readonly ok: false; readonly reason: string };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why a name cannot be an object name (a DNS subdomain), or undefined when it can. */
export function objectNameProblem(name: string): string | undefined {
  return DNS_SUBDOMAIN.test(name) && name.length <= 253 ? undefined : `"${name}" is not a valid object name (lower-case letters, digits, "-" and ".", at most 253)`;
}

/** "allow-zscaler-zscaler-net" for "zscaler.net". */
export function defaultPolicyName(cloud: string): string {
  return `allow-zscaler-${cloud.trim().toLowerCase().replace(/\.$/, "").replace(/\./g, "-")}`;
}

/**
 * "sha256:<hex>" of the collapsed ranges (canonical CIDR text, address order, one per line):
 * the same addresses give the same hash, whatever the feeds' order, duplicates or nesting.
 */
export function hashRanges(cidrs: readonly Cidr[]): string {
  const text = collapseCidrs(cidrs)
    .map((c) => c.text)
    .join("\n");
  return `sha256:${createHash("sha256").update(text).digest("hex")}`;
}

function selectorProblem(selector: Readonly<Record<string, string>>, what: string): string | undefined {
  for (const [key, value] of Object.entries(selector)) {
    const problem = labelKeyProblem(key) ?? (typeof value === "string" ? labelValueProblem(value) : `label value of "${key}" must be a string`);
    if (problem) return `${what}: ${problem}`;
  }
  return undefined;
}

function sortedLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const sorted: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) sorted[key] = labels[key] as string;
  return sorted;
}

/**
 * The NetworkPolicy for one cloud: policyTypes [Egress]; one rule with an ipBlock peer for every
 * CIDR (IPv4 then IPv6, address order) on the given TCP ports; one rule to the cluster DNS on UDP
 * and TCP 53 (unless dns is false). Invalid input is an error value naming the field.
 */
export function zscalerNetworkPolicy(input: ZscalerPolicyInput): PolicyResult {
  const fail = (reason: string): PolicyResult => ({ ok: false, reason });
  const cloud = input.cloud.trim().toLowerCase().replace(/\.$/, "");
  if (!DNS_SUBDOMAIN.test(cloud) || !cloud.includes(".") || cloud.length > 253) {
    return fail(`cloud: "${input.cloud}" is not a cloud name such as zscaler.net`);
  }
  const name = input.name ?? defaultPolicyName(cloud);
  const problem = commonProblem(input, name);
  if (problem) return fail(problem);
  const dns = input.dns === undefined ? DEFAULT_CLUSTER_DNS : input.dns;
  if (dns !== false) {
    if (!DNS_LABEL.test(dns.namespace) || dns.namespace.length > 63) return fail(`dns.namespace: "${dns.namespace}" is not a valid namespace name`);
    const dnsProblem = selectorProblem(dns.podSelector, "dns.podSelector");
    if (dnsProblem) return fail(dnsProblem);
    if (Object.keys(dns.podSelector).length === 0) return fail("dns.podSelector: must select the DNS pods (an empty selector would allow port 53 to every pod of the namespace)");
  }
  const feeds = [...new Set(input.feeds ?? [])];

  // Collapsing again is harmless on collapsed input and puts the CIDRs in address order.
  const cidrs = collapseCidrs(input.cidrs).sort(compareCidrs);
  const ports = [...new Set(input.ports)].sort((a, b) => a - b);
  const egress: EgressRuleObject[] = [
    {
      to: cidrs.map((cidr) => ({ ipBlock: { cidr: cidr.text } })),
      ports: ports.map((port) => ({ protocol: "TCP", port })),
    },
  ];
  if (dns !== false) {
    egress.push({
      to: [
        {
          namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: dns.namespace } },
          podSelector: { matchLabels: sortedLabels(dns.podSelector) },
        },
      ],
      ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
      ],
    });
  }
  const annotations: Record<string, string> = { [ANNOTATIONS.cloud]: cloud };
  if (feeds.length > 0) annotations[ANNOTATIONS.feeds] = feeds.join(",");
  annotations[ANNOTATIONS.rangesHash] = hashRanges(cidrs);
  return {
    ok: true,
    value: {
      apiVersion: NETWORK_POLICY_API_VERSION,
      kind: "NetworkPolicy",
      metadata: {
        name,
        namespace: input.namespace,
        labels: { "app.kubernetes.io/managed-by": "netcanary" },
        annotations,
      },
      spec: {
        podSelector: { matchLabels: sortedLabels(input.podSelector) },
        policyTypes: ["Egress"],
        egress,
      },
    },
  };
}

/** Checks shared by both directions; the reason names the field. */
function commonProblem(input: { namespace: string; podSelector: Readonly<Record<string, string>>; cidrs: readonly Cidr[]; ports: readonly number[]; feeds?: readonly string[] }, name: string): string | undefined {
  if (!DNS_LABEL.test(input.namespace) || input.namespace.length > 63) {
    return `namespace: "${input.namespace}" is not a valid namespace name (a DNS label: lower-case letters, digits and "-", at most 63)`;
  }
  const nameProblem = objectNameProblem(name);
  if (nameProblem) return `name: ${nameProblem}`;
  const podProblem = selectorProblem(input.podSelector, "podSelector");
  if (podProblem) return podProblem;
  if (input.cidrs.length === 0) return "cidrs: no ranges to allow";
  if (input.ports.length === 0) return "ports: no ports to allow";
  for (const port of input.ports) {
    const problem = portNumberProblem(port);
    if (problem) return `ports: ${problem}`;
  }
  for (const feed of input.feeds ?? []) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(feed)) return `feeds: "${feed}" is not a feed name`;
  }
  return undefined;
}

/**
 * An Ingress policy admitting one Zscaler source to the selected pods on the given TCP ports:
 * one rule, an ipBlock peer for every CIDR (IPv4 then IPv6, address order). It works only where
 * the pods see the client's address (netcanary check reports the ways in where they do not).
 */
export function zscalerIngressPolicy(input: ZscalerIngressInput): IngressPolicyResult {
  const fail = (reason: string): IngressPolicyResult => ({ ok: false, reason });
  let cloud = "zpa";
  if (input.source === "zia") {
    cloud = (input.cloud ?? "").trim().toLowerCase().replace(/\.$/, "");
    if (!DNS_SUBDOMAIN.test(cloud) || !cloud.includes(".") || cloud.length > 253) return fail(`cloud: "${input.cloud ?? ""}" is not a cloud name such as zscaler.net`);
  }
  const name = input.name ?? (input.source === "zia" ? `allow-from-zscaler-${cloud.replace(/\./g, "-")}` : "allow-from-zpa-connectors");
  const problem = commonProblem(input, name);
  if (problem) return fail(problem);
  const cidrs = collapseCidrs(input.cidrs).sort(compareCidrs);
  const ports = [...new Set(input.ports)].sort((a, b) => a - b);
  const feeds = [...new Set(input.feeds ?? [])];
  const annotations: Record<string, string> = { [ANNOTATIONS.source]: input.source, [ANNOTATIONS.cloud]: cloud };
  if (feeds.length > 0) annotations[ANNOTATIONS.feeds] = feeds.join(",");
  annotations[ANNOTATIONS.rangesHash] = hashRanges(cidrs);
  return {
    ok: true,
    value: {
      apiVersion: NETWORK_POLICY_API_VERSION,
      kind: "NetworkPolicy",
      metadata: { name, namespace: input.namespace, labels: { "app.kubernetes.io/managed-by": "netcanary" }, annotations },
      spec: {
        podSelector: { matchLabels: sortedLabels(input.podSelector) },
        policyTypes: ["Ingress"],
        ingress: [{ from: cidrs.map((cidr) => ({ ipBlock: { cidr: cidr.text } })), ports: ports.map((port) => ({ protocol: "TCP", port })) }],
      },
    },
  };
}

/**
 * The policy as YAML: a header comment (cloud, feeds, ranges and their hash; no timestamp), then
 * the object with its keys in a fixed order. Scalars that YAML 1.1 readers would take for
 * booleans or numbers ("yes", "on", "1") are quoted, so kubectl and every YAML library read
 * back the same strings.
 */
export function toYaml(policy: NetworkPolicyObject | IngressNetworkPolicyObject): string {
  const annotations = policy.metadata.annotations;
  const peers = "egress" in policy.spec ? (policy.spec.egress[0]?.to ?? []) : (policy.spec.ingress[0]?.from ?? []);
  const cidrs = peers.filter((peer): peer is IpBlockPeer => "ipBlock" in peer);
  const ipv6 = cidrs.filter((peer) => peer.ipBlock.cidr.includes(":")).length;
  const header = [
    "# Generated by netcanary (netcanary zscaler policy); do not edit by hand, regenerate.",
    `# cloud: ${annotations[ANNOTATIONS.cloud] ?? "unknown"}`,
    `# feeds: ${(annotations[ANNOTATIONS.feeds] ?? "unknown").split(",").join(", ")}`,
    `# ranges: ${cidrs.length} (${cidrs.length - ipv6} IPv4, ${ipv6} IPv6), generated from ${annotations[ANNOTATIONS.rangesHash] ?? "unknown"}`,
  ];
  if ("ingress" in policy.spec) {
    header.splice(1, 0, `# inbound from ${annotations[ANNOTATIONS.source] === "zpa" ? "the ZPA App Connectors" : "ZIA's published ranges"}: it admits them only where the pods see the client's address (check the ways in with netcanary check)`);
  }
  const body = stringify(policy, { version: "1.1", lineWidth: 0, indentSeq: true });
  return `${header.join("\n")}\n${body}`;
}
