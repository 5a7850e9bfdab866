// A cluster for agents that run with --manifests on loopback: the agent's own pod at 127.0.0.1
// in namespace ns, under a default-deny egress policy, so every edge from it is denied.

export const DENYING_CLUSTER = `kind: Namespace
metadata: {name: ns}
---
kind: Pod
metadata: {name: agent, namespace: ns, labels: {app: netcanary}}
spec: {nodeName: test, containers: [{name: agent}]}
status: {phase: Running, podIP: 127.0.0.1, podIPs: [{ip: 127.0.0.1}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-egress, namespace: ns}
spec:
  podSelector: {}
  policyTypes: [Egress]
`;
