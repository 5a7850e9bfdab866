// Address kind "resolver" (dns: {server}): the DNS server a DNS check asks, one address or
// "cluster", the source's own resolvers (its resolv.conf, read by the prober at probe time;
// the first of this process's servers stands for them in the policy verdict).

import { type IpAddress, parseIp } from "../../addresses/ip.js";
import type { ResolverAddressConfig } from "../../config/model.js";
import { systemDnsServers } from "../../probes/resolver.js";
import { type AddressKindModule, STANDS_FOR_NOTHING } from "./address.js";

function clusterDnsAddress(): IpAddress | undefined {
  const system = systemDnsServers();
  const first = system.ok ? system.servers[0] : undefined;
  if (!first) return undefined;
  const parsed = parseIp(first.ip);
  return parsed.ok ? parsed.value : undefined;
}

export const resolverAddress: AddressKindModule<ResolverAddressConfig> = {
  expand: (address) => {
    const server = address.server.kind === "address" ? address.server.server : undefined;
    const parsed = server ? parseIp(server.ip) : undefined;
    const ip = parsed?.ok ? parsed.value : server ? undefined : clusterDnsAddress();
    // Named by the check (its query); the address only says where the question goes.
    return [{ ...(ip ? { ip } : {}), server: server ? server.setting : "cluster", port: server?.port ?? 53, targetName: "", targetKind: "resolver" }];
  },
  whyEmpty: () => STANDS_FOR_NOTHING,
};
