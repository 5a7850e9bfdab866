// A stand-in network plugin for the lab: NetworkPolicies (as `netcanary advise` writes them)
// compiled to nftables rules in the pods' namespaces, written independently of netcanary's engine
// so that a lab test checks the policies by packets, not by the engine judging itself.
//
// Scope: what advise emits and nothing more: podSelector matchLabels (or {}), policyTypes,
// peers that are namespaceSelector(kubernetes.io/metadata.name)+podSelector matchLabels or an
// ipBlock without except, numeric TCP/UDP ports. Anything else throws, so a test never runs
// against rules that silently mean something else.
//
// Enforcement sits in each isolated pod's own namespace (as a per-pod firewall): replies of
// admitted connections pass by connection tracking; what the pod sends goes through its egress
// chain when a policy isolates it for egress, what it receives through its ingress chain when
// one isolates it for ingress; a chain returns on a matching rule and drops at its end. (The
// bridge is not used: connection tracking in the bridge family needs a kernel module a test
// machine may lack.) Pure: policies and pods in, nft script text out.

export interface NftPod {
  readonly name: string;
  readonly ip: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

interface Selector {
  readonly matchLabels?: Readonly<Record<string, string>>;
}

interface Peer {
  readonly namespaceSelector?: Selector;
  readonly podSelector?: Selector;
  readonly ipBlock?: { readonly cidr: string; readonly except?: readonly string[] };
}

interface Port {
  readonly protocol?: string;
  readonly port?: number | string;
}

interface Rule {
  readonly from?: readonly Peer[];
  readonly to?: readonly Peer[];
  readonly ports?: readonly Port[];
}

export interface PolicyObject {
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: { readonly podSelector: Selector; readonly policyTypes: readonly string[]; readonly ingress?: readonly Rule[]; readonly egress?: readonly Rule[] };
}

export const POLICY_TABLE = "nc_policy";
const NAMESPACE_NAME = "kubernetes.io/metadata.name";

function matches(selector: Selector | undefined, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector?.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
}

/** The addresses a peer stands for: lab pods by selectors, or the ipBlock's CIDR. */
function peerAddresses(peer: Peer, policyNamespace: string, pods: readonly NftPod[]): string[] {
  if (peer.ipBlock) {
    if (peer.ipBlock.except && peer.ipBlock.except.length > 0) throw new Error("ipBlock except is not supported by the lab plugin");
    return [peer.ipBlock.cidr];
  }
  const keys = Object.keys(peer.namespaceSelector?.matchLabels ?? {});
  if (peer.namespaceSelector && keys.some((key) => key !== NAMESPACE_NAME)) throw new Error("namespaceSelector other than kubernetes.io/metadata.name is not supported by the lab plugin");
  const namespace = peer.namespaceSelector ? peer.namespaceSelector.matchLabels?.[NAMESPACE_NAME] : policyNamespace;
  return pods.filter((pod) => (namespace === undefined || pod.namespace === namespace) && matches(peer.podSelector, pod.labels)).map((pod) => pod.ip);
}

function portMatches(ports: readonly Port[] | undefined): string[] {
  if (!ports || ports.length === 0) return [""];
  return ports.map((port) => {
    const protocol = (port.protocol ?? "TCP").toLowerCase();
    if (protocol !== "tcp" && protocol !== "udp") throw new Error(`protocol ${port.protocol} is not supported by the lab plugin`);
    if (port.port === undefined) return `meta l4proto ${protocol} `;
    if (typeof port.port !== "number") throw new Error(`named port ${port.port} is not supported by the lab plugin`);
    return `${protocol} dport ${port.port} `;
  });
}

function ruleLines(rules: readonly Rule[], direction: "ingress" | "egress", policyNamespace: string, pods: readonly NftPod[]): string[] {
  const lines: string[] = [];
  for (const rule of rules) {
    const peers = direction === "ingress" ? rule.from : rule.to;
    const field = direction === "ingress" ? "saddr" : "daddr";
    const addresses = peers === undefined || peers.length === 0 ? undefined : peers.flatMap((peer) => peerAddresses(peer, policyNamespace, pods));
    // A rule whose peers match no lab pod admits nothing.
    if (addresses !== undefined && addresses.length === 0) continue;
    const match = addresses === undefined ? "" : `ip ${field} { ${addresses.join(", ")} } `;
    for (const ports of portMatches(rule.ports)) lines.push(`${match}${ports}return`);
  }
  return lines;
}

/**
 * The nft script enforcing the policies for one lab pod, loaded into the pod's own namespace
 * (undefined when no policy isolates it).
 */
export function podRuleset(policies: readonly PolicyObject[], pod: NftPod, pods: readonly NftPod[]): string | undefined {
  const lines: string[] = [`table inet ${POLICY_TABLE} {`];
  let isolated = false;
  for (const direction of ["ingress", "egress"] as const) {
    const type = direction === "ingress" ? "Ingress" : "Egress";
    const selecting = policies.filter((p) => {
      if (p.kind !== "NetworkPolicy") throw new Error(`${p.kind} is not supported by the lab plugin`);
      return p.metadata.namespace === pod.namespace && p.spec.policyTypes.includes(type) && matches(p.spec.podSelector, pod.labels);
    });
    if (selecting.length === 0) continue;
    isolated = true;
    const body = selecting.flatMap((p) => ruleLines((direction === "ingress" ? p.spec.ingress : p.spec.egress) ?? [], direction, p.metadata.namespace, pods));
    const hook = direction === "ingress" ? "input" : "output";
    const loopback = direction === "ingress" ? 'iifname "lo"' : 'oifname "lo"';
    lines.push(`  chain ${direction} {\n${[...body, "counter drop"].map((line) => `    ${line}`).join("\n")}\n  }`);
    lines.push(`  chain ${hook} {\n    type filter hook ${hook} priority filter; policy accept;\n    ct state established,related accept\n    ${loopback} accept\n    meta nfproto ipv4 jump ${direction}\n  }`);
  }
  lines.push("}", "");
  return isolated ? lines.join("\n") : undefined;
}
