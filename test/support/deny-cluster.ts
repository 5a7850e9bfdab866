// Clusters for agents that run with --manifests on loopback: the agent's own pod at 127.0.0.1
// in namespace ns; DENYING_CLUSTER adds a default-deny egress policy, so every edge from it is
// denied. Tests that need other policies add theirs after AGENT_POD.

export const AGENT_POD = `kind: Namespace
metadata: {name: ns}
---
kind: Pod
metadata: {name: agent, namespace: ns, labels: {app: netcanary}}
spec: {nodeName: test, containers: [{name: agent}]}
status: {phase: Running, podIP: 127.0.0.1, podIPs: [{ip: 127.0.0.1}]}
`;

export const DENYING_CLUSTER = `${AGENT_POD}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-egress, namespace: ns}
spec:
  podSelector: {}
  policyTypes: [Egress]
`;
