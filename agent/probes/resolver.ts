// DNS queries shared by the probers: one node:dns Resolver per query (so no cache and no
// state is shared between probes), cancelled when the probe's deadline fires. c-ares on its
// own takes about twice its timeout to give up, so the deadline, not c-ares, ends a query.

// The default import on purpose: dns.setServers() rebinds the module's functions to a new
// default resolver, and an ESM named import of getServers keeps the old one for ever.
import dns, { Resolver } from "node:dns";
import { isIPv4, isIPv6 } from "node:net";
import { expiryOf, describeError } from "./deadline.js";

export type DnsQueryType = "A" | "AAAA" | "CNAME" | "TXT" | "MX" | "SRV" | "NS";

export const DNS_QUERY_TYPES: readonly DnsQueryType[] = ["A", "AAAA", "CNAME", "TXT", "MX", "SRV", "NS"];

export interface DnsServer {
  readonly ip: string;
  readonly port: number;
  /** The form Resolver#setServers takes: "1.2.3.4:53" or "[::1]:53". */
  readonly setting: string;
}

export type DnsServerParse = { ok: true; value: DnsServer } | { ok: false; reason: string };

/** Parses "addr", "addr:port", "[v6]" or "[v6]:port" (a bare IPv6 address is accepted too). */
export function parseDnsServer(text: string): DnsServerParse {
  if (typeof text !== "string") return { ok: false, reason: "DNS server must be a string" };
  let ip: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed !== null) {
    ip = bracketed[1] ?? "";
    portText = bracketed[2];
    if (!isIPv6(ip)) return { ok: false, reason: `"${text}": "${ip}" is not an IPv6 address` };
  } else if (isIPv4(text) || isIPv6(text)) {
    ip = text;
  } else {
    const withPort = /^([^:]+):(\d+)$/.exec(text);
    if (withPort === null || !isIPv4(withPort[1] ?? "")) {
      return { ok: false, reason: `"${text}" is not a DNS server address ("addr", "addr:port" or "[v6]:port")` };
    }
    ip = withPort[1] ?? "";
    portText = withPort[2];
  }
  if (ip.includes("%")) return { ok: false, reason: `"${text}": scoped IPv6 addresses are not supported` };
  const port = portText === undefined ? 53 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, reason: `"${text}": port must be 1-65535` };
  const setting = isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
  return { ok: true, value: { ip, port, setting } };
}

/**
 * The servers the process itself resolves with (dns.getServers(): /etc/resolv.conf unless
 * the process changed it), read at call time; or why there are none to use.
 */
export function systemDnsServers(): { ok: true; servers: DnsServer[] } | { ok: false; detail: string } {
  const servers: DnsServer[] = [];
  for (const parsed of dns.getServers().map(parseDnsServer)) {
    if (!parsed.ok) return { ok: false, detail: `system DNS server: ${parsed.reason}` };
    servers.push(parsed.value);
  }
  if (servers.length === 0) return { ok: false, detail: "the system has no DNS servers configured" };
  return { ok: true, servers };
}

/** The reasons of a failed lookup (a resolve phase reports only these, or agent_error). */
export const RESOLVE_REASONS = ["dns_nxdomain", "dns_nodata", "dns_servfail", "dns_refused", "dns_timeout"] as const;
export type ResolveReason = (typeof RESOLVE_REASONS)[number];

/** What a query can fail with: a lookup reason, "refused" (the target server's port is closed), agent_error. */
export type DnsFailure = ResolveReason | "refused" | "agent_error";

/** Which end a DNS failure is about: the probe's own target, or a resolver on the way to it. */
export type DnsRole = "target" | "resolver";

/**
 * c-ares error code to reason. ECONNREFUSED (the server's port is closed) is "refused" when
 * the DNS server is the probe's target, and "dns_refused" when it only resolves a name for
 * another probe: a resolve-phase failure is always a dns_* reason.
 */
export function dnsReasonFor(code: string | undefined, role: DnsRole): DnsFailure {
  switch (code) {
    case "ENOTFOUND":
      return "dns_nxdomain";
    case "ENODATA":
      return "dns_nodata";
    case "ESERVFAIL":
      return "dns_servfail";
    case "EREFUSED":
      return "dns_refused";
    case "ETIMEOUT":
    case "ECANCELLED":
      return "dns_timeout";
    case "ECONNREFUSED":
      return role === "target" ? "refused" : "dns_refused";
    default:
      return "agent_error";
  }
}

export type DnsQueryResult =
  | { readonly ok: true; readonly answers: readonly string[] }
  | { readonly ok: false; readonly reason: DnsFailure; readonly detail: string };

type Resolve = (resolver: Resolver, name: string) => Promise<string[]>;

function promised<T>(start: (callback: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));
}

/** Each query type, with its answers rendered as text. */
const RESOLVE: Record<DnsQueryType, Resolve> = {
  A: (r, name) => promised<string[]>((cb) => r.resolve4(name, cb)),
  AAAA: (r, name) => promised<string[]>((cb) => r.resolve6(name, cb)),
  CNAME: (r, name) => promised<string[]>((cb) => r.resolveCname(name, cb)),
  NS: (r, name) => promised<string[]>((cb) => r.resolveNs(name, cb)),
  TXT: async (r, name) => (await promised<string[][]>((cb) => r.resolveTxt(name, cb))).map((chunks) => chunks.join("")),
  MX: async (r, name) =>
    (await promised<{ priority: number; exchange: string }[]>((cb) => r.resolveMx(name, cb))).map((mx) => `${mx.priority} ${mx.exchange}`),
  SRV: async (r, name) =>
    (await promised<{ priority: number; weight: number; port: number; name: string }[]>((cb) => r.resolveSrv(name, cb))).map(
      (srv) => `${srv.priority} ${srv.weight} ${srv.port} ${srv.name}`,
    ),
};

export interface DnsQuery {
  readonly servers: readonly DnsServer[];
  readonly name: string;
  readonly type: DnsQueryType;
  /** The probe's deadline signal: when it fires, the query is cancelled at once. */
  readonly signal: AbortSignal;
  /** Time left for this query; split across the servers as c-ares' per-try timeout. */
  readonly budgetMs: number;
  readonly role: DnsRole;
}

function interrupted(signal: AbortSignal): DnsQueryResult {
  return expiryOf(signal) === "timeout"
    ? { ok: false, reason: "dns_timeout", detail: "deadline" }
    : { ok: false, reason: "agent_error", detail: "aborted" };
}

/** One query through a fresh Resolver ({ tries: 1 }); settles by the deadline at the latest. */
export function queryDns(query: DnsQuery): Promise<DnsQueryResult> {
  if (query.signal.aborted) return Promise.resolve(interrupted(query.signal));
  let resolver: Resolver;
  try {
    const perServer = Math.floor(query.budgetMs / Math.max(1, query.servers.length));
    resolver = new Resolver({ timeout: Math.min(2 ** 31 - 1, Math.max(1, perServer)), tries: 1 });
    resolver.setServers(query.servers.map((server) => server.setting));
  } catch (error) {
    return Promise.resolve({ ok: false, reason: "agent_error", detail: describeError(error) });
  }
  const { signal } = query;
  return new Promise<DnsQueryResult>((settle) => {
    let settled = false;
    const finish = (result: DnsQueryResult): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      settle(result);
    };
    const onAbort = (): void => {
      finish(interrupted(signal));
      resolver.cancel();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    let pending: Promise<string[]>;
    try {
      pending = RESOLVE[query.type](resolver, query.name);
    } catch (error) {
      // Node validates arguments synchronously (e.g. a non-string name).
      finish({ ok: false, reason: "agent_error", detail: describeError(error) });
      return;
    }
    pending.then(
      (answers) => finish({ ok: true, answers }),
      (error: unknown) => {
        const code = (error as NodeJS.ErrnoException | undefined)?.code;
        const reason = dnsReasonFor(code, query.role);
        finish({ ok: false, reason, detail: reason === "agent_error" ? describeError(error) : (code ?? "unknown") });
      },
    );
  });
}
