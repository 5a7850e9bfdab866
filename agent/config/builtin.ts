// The built-in standalone configuration, used when the agent is started without --config.
// It needs no cluster: the agent probes from its own identity, so it runs on any machine
// and shows exactly what that machine can reach. Documented in docs/configuration.md.

export const BUILTIN_CONFIG_NAME = "<built-in config>";

export const BUILTIN_CONFIG = `# netcanary built-in standalone configuration
defaults: {interval: 30s, timeout: 3s, failureThreshold: 3, successThreshold: 1}
sources:
  - {name: self, self: true}
probes:
  # Resolve and connect to the Zscaler gateway of the default cloud (explicit proxy port).
  - name: zscaler-gateway-443
    sources: [self]
    tcp: {host: gateway.zscaler.net, port: 443}
  - name: zscaler-gateway-9400
    sources: [self]
    tcp: {host: gateway.zscaler.net, port: 9400}
  # Resolve the gateway name, and a public name, with the resolver this machine uses.
  - name: zscaler-gateway-dns
    sources: [self]
    dns: {query: gateway.zscaler.net, type: A, server: cluster}
  - name: public-dns
    sources: [self]
    dns: {query: kubernetes.io, type: A, server: cluster}
`;
