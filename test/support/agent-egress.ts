// The cluster the derived-probe tests run against, as manifests: one namespace, pods labelled
// app=<name> that each declare one named container port ("serve"), and the agent's
// "agent-egress" NetworkPolicy: egress isolation for app=agent with one allow rule per
// destination label. The CLI, daemon and lab tests differ only in namespace, node, addresses,
// ports and rules, so they build it here rather than each writing its own copy.

export interface EgressPod {
  readonly name: string;
  /** The pod's app label; its name when absent. */
  readonly app?: string;
  readonly ip: string;
  /** The container port named "serve". */
  readonly port: number;
}

export interface EgressRule {
  /** The destination pods' app label. */
  readonly app: string;
  /** A number or a port name; absent: the rule admits every port. */
  readonly port?: number | string;
  readonly endPort?: number;
}

export interface AgentEgressCluster {
  readonly namespace: string;
  readonly node: string;
  /** The containers' image, when the test sets one. */
  readonly image?: string;
  readonly pods: readonly EgressPod[];
  readonly rules: readonly EgressRule[];
}

/** One pod of the cluster (a test that needs a pod without the policy uses it alone). */
export function podManifest(cluster: Pick<AgentEgressCluster, "namespace" | "node" | "image">, pod: EgressPod): string {
  const image = cluster.image === undefined ? "" : `image: ${cluster.image}, `;
  return `apiVersion: v1
kind: Pod
metadata: {name: ${pod.name}, namespace: ${cluster.namespace}, labels: {app: ${pod.app ?? pod.name}}}
spec: {nodeName: ${cluster.node}, containers: [{name: main, ${image}ports: [{name: serve, containerPort: ${pod.port}}]}]}
status: {phase: Running, podIP: ${pod.ip}, podIPs: [{ip: ${pod.ip}}]}
`;
}

function ruleManifest(rule: EgressRule): string {
  const to = `    - to: [{podSelector: {matchLabels: {app: ${rule.app}}}}]\n`;
  if (rule.port === undefined) return to;
  const endPort = rule.endPort === undefined ? "" : `, endPort: ${rule.endPort}`;
  return `${to}      ports: [{port: ${rule.port}${endPort}}]\n`;
}

/** The namespace, the pods and the agent-egress policy, as one multi-document YAML text. */
export function agentEgressManifests(cluster: AgentEgressCluster): string {
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${cluster.namespace}}\n`,
    ...cluster.pods.map((pod) => podManifest(cluster, pod)),
    `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agent-egress, namespace: ${cluster.namespace}}
spec:
  podSelector: {matchLabels: {app: agent}}
  policyTypes: [Egress]
  egress:
${cluster.rules.map(ruleManifest).join("")}`,
  ].join("---\n");
}
