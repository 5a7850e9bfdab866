// TCP connect prober: optionally resolves a host name, then opens one TCP connection and
// closes it as soon as the handshake completes. It is a connect-level probe: a server that
// accepts and then resets the connection gives "ok", because the handshake succeeded.
// That needs care: when the peer's RST lands before the event loop sees the connect
// complete, libuv reports the connect itself as failed with ECONNRESET (or EPIPE after a
// FIN). On Linux a connect can only fail that way from ESTABLISHED or later (an RST to our
// SYN is ECONNREFUSED), so those codes from the connect mean "handshake done, then reset":
// they give "ok" with the code in detail, so the outcome does not depend on timing.
//
// Resolution uses a fresh node:dns Resolver per probe, never getaddrinfo (dns.lookup):
// pointed at target.dnsServer when given, else at the servers this process uses
// (dns.getServers(), i.e. /etc/resolv.conf). That keeps NXDOMAIN, NODATA, SERVFAIL and
// REFUSED apart (getaddrinfo folds them into ENOTFOUND/EAI_AGAIN) and lets the deadline
// cancel the query. The cost: /etc/hosts is not read and the name is queried as given, so
// targets should be fully qualified names. A is asked first; AAAA only when A has no data.

import { Socket } from "node:net";
import { isIpLiteral } from "../addresses/ip.js";
import { contextProblem, Deadline, describeError, expiryOf, Stopwatch } from "./deadline.js";
import type { ProbeContext, ProbeOutcome, Prober, ProberModule, ReasonDeclaration } from "./prober.js";
import { resolveHost, resolverFor } from "./resolve-host.js";
import { RESOLVE_REASONS, type DnsServer } from "./resolver.js";

/** Every reason a TCP probe reports: its resolve phase's, then its connect phase's. */
export const TCP_REASONS = ["ok", "timeout", "refused", "reset", "host_unreachable", "net_unreachable", ...RESOLVE_REASONS, "agent_error"] as const;
export type TcpReason = (typeof TCP_REASONS)[number];

/**
 * Under an expected deny: only a completed handshake proves packets passed. A name that did
 * not resolve (any dns_ reason) never tried to connect. timeout and unreachable: dropped as
 * policy says; refused and reset: some network plugins reject denied traffic instead.
 */
export const TCP_REASON_DECLARATION: ReasonDeclaration<TcpReason> = {
  reports: TCP_REASONS,
  passed: ["ok"],
  notTried: ["dns_nxdomain", "dns_nodata", "dns_servfail", "dns_refused", "dns_timeout", "dns_unexpected_answer"],
};

export interface TcpTarget {
  /** A name to resolve (an IP literal here is used as is, without a resolve phase). */
  readonly host?: string;
  /** The address to connect to; when given, host is not resolved. */
  readonly ip?: string;
  readonly port: number;
  /** Resolver for host: "addr", "addr:port" or "[v6]:port". Default: the system's servers. */
  readonly dnsServer?: string;
}

/**
 * errno code of a failed socket operation to reason. The connect phase never reports
 * ECONNRESET/EPIPE as "reset" (see above); "reset" is for errors after the handshake.
 */
export function tcpReasonFor(code: string | undefined): TcpReason {
  switch (code) {
    case "ECONNREFUSED":
      return "refused";
    case "ECONNRESET":
    case "EPIPE":
      return "reset";
    case "EHOSTUNREACH":
    case "EHOSTDOWN":
    // A local firewall refusing the packet (a netfilter drop on the output path gives
    // EPERM at once): blocked on the way, like an administratively prohibited reject.
    case "EPERM":
    case "EACCES":
      return "host_unreachable";
    case "ENETUNREACH":
    case "ENETDOWN":
      return "net_unreachable";
    case "ETIMEDOUT": // the kernel gave up on SYN retransmits before our deadline did
      return "timeout";
    default:
      return "agent_error";
  }
}

type Plan =
  | { ok: true; ip: string; port: number }
  | { ok: true; host: string; port: number; servers: readonly DnsServer[] }
  | { ok: false; detail: string };

function plan(target: TcpTarget): Plan {
  if (typeof target !== "object" || target === null) return { ok: false, detail: "TCP target is missing" };
  const { port, ip, host, dnsServer } = target;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    return { ok: false, detail: `port must be an integer 1-65535, got ${String(port)}` };
  }
  if (ip !== undefined) {
    if (typeof ip !== "string" || !isIpLiteral(ip)) return { ok: false, detail: `ip "${String(ip)}" is not an IP address` };
    return { ok: true, ip, port };
  }
  if (typeof host !== "string" || host.trim() === "") return { ok: false, detail: "TCP target needs a host or an ip" };
  const name = host.trim();
  if (isIpLiteral(name)) return { ok: true, ip: name, port };
  const resolver = resolverFor(dnsServer);
  return resolver.ok ? { ok: true, host: name, port, servers: resolver.servers } : resolver;
}

interface ConnectResult {
  readonly reason: TcpReason;
  readonly detail?: string;
}

/** One connection attempt; the socket is destroyed on every path, by the deadline at the latest. */
function connect(ip: string, port: number, signal: AbortSignal): Promise<ConnectResult> {
  if (signal.aborted) return Promise.resolve(interrupted(signal));
  return new Promise<ConnectResult>((settle) => {
    const socket = new Socket();
    let settled = false;
    const finish = (result: ConnectResult): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      settle(result);
    };
    const onAbort = (): void => finish(interrupted(signal));
    socket.once("connect", () => finish({ reason: "ok" }));
    // Stays attached after finish: a late error on a destroyed socket must not go unhandled.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET" || error.code === "EPIPE") {
        finish({ reason: "ok", detail: `${error.code} after the handshake` });
        return;
      }
      const reason = tcpReasonFor(error.code);
      finish({ reason, detail: reason === "agent_error" ? describeError(error) : (error.code ?? "unknown") });
    });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      socket.connect({ host: ip, port });
    } catch (error) {
      finish({ reason: "agent_error", detail: describeError(error) });
    }
  });
}

function interrupted(signal: AbortSignal): ConnectResult {
  return expiryOf(signal) === "timeout" ? { reason: "timeout", detail: "deadline" } : { reason: "agent_error", detail: "aborted" };
}

export const tcpProber: Prober<TcpTarget> = async (target: TcpTarget, context: ProbeContext): Promise<ProbeOutcome> => {
  const clock = new Stopwatch<TcpReason>();
  let deadline: Deadline | undefined;
  try {
    const problem = contextProblem(context);
    if (problem !== undefined) return clock.outcome("agent_error", { detail: problem });
    const steps = plan(target);
    if (!steps.ok) return clock.outcome("agent_error", { detail: steps.detail });
    deadline = new Deadline(context.timeoutMs, context.signal);
    const active = deadline;
    let ip: string;
    if ("host" in steps) {
      const resolved = await clock.phase("resolve", () => resolveHost(steps.host, steps.servers, active));
      if (!resolved.ok) return clock.outcome(resolved.reason, { detail: resolved.detail });
      const first = resolved.answers[0];
      if (first === undefined) return clock.outcome("dns_nodata", { detail: "no addresses" });
      ip = first;
    } else {
      ip = steps.ip;
    }
    const connected = await clock.phase("connect", () => connect(ip, steps.port, active.signal));
    return clock.outcome(connected.reason, { address: ip, detail: connected.detail });
  } catch (error) {
    return clock.outcome("agent_error", { detail: describeError(error) });
  } finally {
    deadline?.dispose();
  }
};

/** A TCP check has no settings of its own: it connects to the address, or to what its name resolves to. */
export type TcpCheck = object;

export const tcpProbe: ProberModule<TcpTarget, TcpReason, TcpCheck> = {
  run: tcpProber,
  reasons: TCP_REASON_DECLARATION,
  check: {
    protocol: "TCP",
    target: (_check, address) => (address.ip !== undefined ? { ip: address.ip, port: address.port } : { host: address.host ?? "", port: address.port }),
  },
  // A host name with neither an address nor a DNS server of its own.
  usesSourceResolvers: (target) => target.ip === undefined && target.dnsServer === undefined && target.host !== undefined && !isIpLiteral(target.host),
};
