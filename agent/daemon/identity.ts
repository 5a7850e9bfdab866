// Who the agent is, from the downward API (environment variables set in its pod spec).

import { hostname } from "node:os";
import { type IpAddress, parseIp } from "../addresses/ip.js";

export interface SelfIdentity {
  readonly podNamespace?: string;
  readonly podName?: string;
  readonly podIp?: IpAddress;
  readonly nodeName: string;
}

export function identityFromEnvironment(env: NodeJS.ProcessEnv = process.env): SelfIdentity {
  const ip = env["POD_IP"] ? parseIp(env["POD_IP"]) : undefined;
  return {
    ...(env["POD_NAMESPACE"] ? { podNamespace: env["POD_NAMESPACE"] } : {}),
    ...(env["POD_NAME"] ? { podName: env["POD_NAME"] } : {}),
    ...(ip?.ok ? { podIp: ip.value } : {}),
    // Outside a cluster the machine's host name stands in for the node.
    nodeName: env["NODE_NAME"] || hostname(),
  };
}
