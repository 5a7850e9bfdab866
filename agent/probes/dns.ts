// DNS prober: asks one DNS server one question through a fresh node:dns Resolver
// ({ tries: 1 }) and judges the answer. The deadline is hard: the Resolver is cancelled
// when it fires (c-ares alone would take about twice its timeout to give up).

import { cidrContainsIp, parseCidr, parseIp, type Cidr } from "../addresses/ip.js";
import { contextProblem, Deadline, describeError, Stopwatch } from "./deadline.js";
import type { ProbeContext, ProbeOutcome, Prober, ProberModule, ReasonDeclaration } from "./prober.js";
import { DNS_QUERY_TYPES, parseDnsServer, queryDns, RESOLVE_REASONS, systemDnsServers, type DnsQueryType, type DnsServer } from "./resolver.js";

/** Every reason a DNS probe reports; "refused": the server's port is closed (ICMP port unreachable). */
export const DNS_REASONS = ["ok", ...RESOLVE_REASONS, "dns_unexpected_answer", "refused", "agent_error"] as const;
export type DnsReason = (typeof DNS_REASONS)[number];

/**
 * Under an expected deny: any answer proves the server was reached and replied, whatever it
 * said (NXDOMAIN, SERVFAIL, REFUSED, an unexpected address). dns_timeout and refused: no
 * answer came back, as a drop or a reject would do.
 */
export const DNS_REASON_DECLARATION: ReasonDeclaration<DnsReason> = {
  reports: DNS_REASONS,
  passed: ["ok", "dns_nxdomain", "dns_nodata", "dns_servfail", "dns_refused", "dns_unexpected_answer"],
  notTried: [],
};

export interface DnsTarget {
  readonly query: string;
  readonly type: DnsQueryType;
  /**
   * "cluster": the servers this process resolves with (dns.getServers() at probe time,
   * i.e. /etc/resolv.conf, all of them, in order). Otherwise one server: "addr",
   * "addr:port" or "[v6]:port".
   */
  readonly server: "cluster" | string;
  /** A/AAAA only: every answer must fall inside one of these, else "dns_unexpected_answer". */
  readonly answersIn?: readonly Cidr[];
}

type Checked = { ok: true; servers: readonly DnsServer[] } | { ok: false; detail: string };

function checkTarget(target: DnsTarget): Checked {
  if (typeof target !== "object" || target === null) return { ok: false, detail: "DNS target is missing" };
  if (typeof target.query !== "string" || target.query.trim() === "") return { ok: false, detail: "DNS query name is empty" };
  if (!DNS_QUERY_TYPES.includes(target.type)) return { ok: false, detail: `unsupported DNS type ${String(target.type)}` };
  if (target.answersIn !== undefined && target.type !== "A" && target.type !== "AAAA") {
    return { ok: false, detail: `answersIn applies to A and AAAA queries, not ${target.type}` };
  }
  if (target.server === "cluster") return systemDnsServers();
  const parsed = parseDnsServer(target.server);
  return parsed.ok ? { ok: true, servers: [parsed.value] } : { ok: false, detail: parsed.reason };
}

/** Answers outside every CIDR (an answer that is not an address counts as outside). */
function unexpectedAnswers(answers: readonly string[], allowed: readonly Cidr[]): string[] {
  return answers.filter((answer) => {
    const ip = parseIp(answer);
    return !ip.ok || !allowed.some((cidr) => cidrContainsIp(cidr, ip.value));
  });
}

export const dnsProber: Prober<DnsTarget> = async (target: DnsTarget, context: ProbeContext): Promise<ProbeOutcome> => {
  const clock = new Stopwatch<DnsReason>();
  let deadline: Deadline | undefined;
  try {
    const problem = contextProblem(context);
    if (problem !== undefined) return clock.outcome("agent_error", { detail: problem });
    const checked = checkTarget(target);
    if (!checked.ok) return clock.outcome("agent_error", { detail: checked.detail });
    const address = checked.servers[0]?.ip;
    deadline = new Deadline(context.timeoutMs, context.signal);
    const active = deadline;
    const result = await clock.phase("resolve", () =>
      queryDns({
        servers: checked.servers,
        name: target.query.trim(),
        type: target.type,
        signal: active.signal,
        budgetMs: active.remainingMs(),
        role: "target",
      }),
    );
    if (!result.ok) return clock.outcome(result.reason, { address, detail: result.detail });
    if (target.answersIn !== undefined) {
      const outside = unexpectedAnswers(result.answers, target.answersIn);
      if (outside.length > 0) {
        return clock.outcome("dns_unexpected_answer", {
          address,
          answers: result.answers,
          detail: `outside answersIn: ${outside.join(", ")}`.slice(0, 200),
        });
      }
    }
    return clock.outcome("ok", { address, answers: result.answers });
  } catch (error) {
    return clock.outcome("agent_error", { detail: describeError(error) });
  } finally {
    deadline?.dispose();
  }
};

/** A DNS check's settings: the question, and the ranges its answers must lie in (empty: not checked). */
export interface DnsCheck {
  readonly query: string;
  readonly type: DnsQueryType;
  readonly answersIn: readonly Cidr[];
}

export const dnsProbe: ProberModule<DnsTarget, DnsReason, DnsCheck> = {
  run: dnsProber,
  reasons: DNS_REASON_DECLARATION,
  check: {
    protocol: "UDP",
    target: (check, address) => ({
      query: check.query,
      type: check.type,
      server: address.server ?? "cluster",
      ...(check.answersIn.length > 0 ? { answersIn: check.answersIn } : {}),
    }),
    naming: (check) => ({ targetName: check.query, targetKind: "dns" }),
  },
  usesSourceResolvers: (target) => target.server === "cluster",
  fromWire: (target) => {
    const answersIn = target["answersIn"];
    if (answersIn === undefined) return { ok: true, value: target as unknown as DnsTarget };
    if (!Array.isArray(answersIn)) return { ok: false, reason: "answersIn must be a list of CIDRs" };
    const cidrs: Cidr[] = [];
    for (const text of answersIn) {
      const parsed = typeof text === "string" ? parseCidr(text) : undefined;
      if (parsed === undefined || !parsed.ok) return { ok: false, reason: `answersIn: ${parsed?.ok === false ? parsed.reason : "must be CIDR text"}` };
      cidrs.push(parsed.value);
    }
    return { ok: true, value: { ...(target as unknown as DnsTarget), answersIn: cidrs } };
  },
};
