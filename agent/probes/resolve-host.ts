// A probe's resolve phase: a host name to addresses through the probe's own resolver (A
// first, AAAA only when the name has no A records), cancelled by the probe's deadline.
// One place for every prober that connects to a named host (tcp.ts, http.ts).

import type { Deadline } from "./deadline.js";
import { parseDnsServer, queryDns, systemDnsServers, type DnsQueryResult, type DnsServer } from "./resolver.js";

export type ResolverChoice = { readonly ok: true; readonly servers: readonly DnsServer[] } | { readonly ok: false; readonly detail: string };

/** The servers to ask: `dnsServer` ("addr", "addr:port", "[v6]:port") when given, else the system's. */
export function resolverFor(dnsServer: string | undefined): ResolverChoice {
  if (dnsServer === undefined) return systemDnsServers();
  const server = parseDnsServer(dnsServer);
  return server.ok ? { ok: true, servers: [server.value] } : { ok: false, detail: `dnsServer: ${server.reason}` };
}

/** A first, then AAAA when the name has no A records. */
export async function resolveHost(host: string, servers: readonly DnsServer[], deadline: Deadline): Promise<DnsQueryResult> {
  const ask = (type: "A" | "AAAA"): Promise<DnsQueryResult> =>
    queryDns({ servers, name: host, type, signal: deadline.signal, budgetMs: deadline.remainingMs(), role: "resolver" });
  const v4 = await ask("A");
  if (v4.ok || v4.reason !== "dns_nodata") return v4;
  return ask("AAAA");
}
