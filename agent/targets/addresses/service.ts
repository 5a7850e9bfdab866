// Address kind "service" (tcp: {service: {namespace, name, port}, via}): the Service's cluster
// IP (via: clusterIP), or each ready endpoint on the port its EndpointSlices publish for that
// Service port (via: endpoints; this node's share beyond agent.maxEndpointsPerTarget).

import type { ClusterSnapshot, ServiceInfo, ServicePort } from "../../cluster/snapshot.js";
import type { ServiceTargetConfig } from "../../config/model.js";
import { type AddressKindModule, atAddress, type ConcreteAddress, firstIp, oneOfMany, shareOf, UNKNOWN_STATE } from "./address.js";

/** The Service a target names, and its TCP port by number or name (either may be missing). */
export function serviceOf(target: ServiceTargetConfig, snapshot: ClusterSnapshot | undefined): { service?: ServiceInfo; servicePort?: ServicePort } {
  const service = snapshot?.services.find((s) => s.namespace === target.namespace && s.name === target.name);
  const servicePort = service?.ports.find((p) => (typeof target.port === "number" ? p.port === target.port : p.name === target.port) && p.protocol === "TCP");
  return { ...(service ? { service } : {}), ...(servicePort ? { servicePort } : {}) };
}

function readyEndpoints(service: ServiceInfo, servicePort: ServicePort, name: string, snapshot: ClusterSnapshot | undefined): ConcreteAddress[] {
  const found: ConcreteAddress[] = [];
  const seen = new Set<string>();
  for (const slice of snapshot?.endpointSlices ?? []) {
    if (slice.namespace !== service.namespace || slice.service !== service.name) continue;
    const port = slice.ports.find((p) => (servicePort.name ? p.name === servicePort.name : true) && p.protocol === "TCP");
    if (!port) continue;
    for (const endpoint of slice.endpoints) {
      const ip = firstIp(endpoint.addresses);
      if (!endpoint.ready || !ip || seen.has(`${ip.text}:${port.port}`)) continue;
      seen.add(`${ip.text}:${port.port}`);
      found.push(oneOfMany(atAddress(ip, port.port, name, "service_endpoint", endpoint.pod)));
    }
  }
  return found;
}

export const serviceAddress: AddressKindModule<ServiceTargetConfig> = {
  expand: (target, { snapshot, fanOut }) => {
    const { service, servicePort } = serviceOf(target, snapshot);
    if (!service || !servicePort) return [];
    const name = `${target.namespace}/${target.name}`;
    if (target.via === "clusterIP") {
      const ip = firstIp(service.clusterIps);
      return ip ? [atAddress(ip, servicePort.port, name, "service")] : [];
    }
    return shareOf(readyEndpoints(service, servicePort, name, snapshot), fanOut);
  },
  whyEmpty: (target, { snapshot }) => {
    const name = `Service ${target.namespace}/${target.name}`;
    if (!snapshot) return `${name}: ${UNKNOWN_STATE}`;
    const { service, servicePort } = serviceOf(target, snapshot);
    if (!service) return `${name} not found`;
    if (!servicePort) {
      const ports = service.ports.map((p) => `${p.name ? `${p.name}=` : ""}${p.port}/${p.protocol}`).join(", ");
      return `${name} has no TCP port ${target.port} (its ports: ${ports || "none"})`;
    }
    if (target.via === "clusterIP") return `${name} has no cluster IP (a headless Service: probe it via: endpoints)`;
    return `${name} has no ready endpoint for port ${target.port}`;
  },
};
