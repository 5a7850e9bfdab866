// The source-address test (agent --source-echo-target, opt-in): the agent connects to a peer
// agent's source echo (inbound/source-echo.ts) through a Service's path, a NodePort or a
// LoadBalancer address given per Service, and compares the address echoed with the one it sent
// from. Same address: the path keeps source addresses (`preserved`); the address of the node it
// connected to, or another: the path rewrites them (`rewritten`, and to what); no answer:
// `failed`, with the reason. So a team learns from its own nodes whether an ipBlock admitting
// outside ranges can match traffic through that Service. Bounded: at most MAX_ECHO_TARGETS
// addresses configured; per Service one is asked each round, chosen by rendezvous hashing on the
// node name (each node asks its own peer, stably), never the agent's own node when it is known;
// one round at a time, every SOURCE_ECHO_INTERVAL_MS, each ask within SOURCE_ECHO_TIMEOUT_MS.

import type { Gauge } from "prom-client";
import { parseIp } from "../addresses/ip.js";
import type { Logger } from "../log/log.js";
import { type Repeating, repeat } from "../schedule/timers.js";
import { chooseByRendezvous } from "../hashing/rendezvous.js";
import { askEcho, type EchoReply } from "./source-echo.js";

export const MAX_ECHO_TARGETS = 16;
export const SOURCE_ECHO_INTERVAL_MS = 60 * 1000;
export const SOURCE_ECHO_TIMEOUT_MS = 3000;

export interface EchoTarget {
  /** The Service whose path is tested, namespace/name (a metric label: bounded by the flags). */
  readonly service: string;
  readonly host: string;
  readonly port: number;
}

export type EchoTargetParse = { readonly ok: true; readonly target: EchoTarget } | { readonly ok: false; readonly reason: string };

const SERVICE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** "netcanary/netcanary-echo-local=10.0.0.12:30972" (a host name or [v6] also do). */
export function parseEchoTarget(text: string): EchoTargetParse {
  const equals = text.indexOf("=");
  const service = text.slice(0, equals);
  const where = text.slice(equals + 1);
  if (equals < 0 || !SERVICE.test(service)) return { ok: false, reason: `--source-echo-target "${text}": must be <namespace>/<service>=<host>:<port>` };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]{1,253})):(\d{1,5})$/.exec(where);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) return { ok: false, reason: `--source-echo-target "${text}": the address must be <host>:<port> or [v6]:<port>` };
  return { ok: true, target: { service, host: match[1] ?? match[2] ?? "", port } };
}

export type EchoOutcome = "preserved" | "rewritten" | "failed";
/** What a rewritten source became: the node asked (a NodePort's SNAT), or another address. */
export type RewrittenTo = "the-node-asked" | "another-address";

export interface EchoResult {
  readonly service: string;
  readonly target: string;
  readonly outcome: EchoOutcome;
  /** The address this agent sent from; null when it never connected. */
  readonly sent: string | null;
  /** The address the echo saw; null when it did not answer. */
  readonly seen: string | null;
  readonly rewrittenTo: RewrittenTo | null;
  readonly reason: string | null;
  readonly checkedAt: string;
}

/** An address in parseIp's spelling; anything else (a host name) as it is. */
function canonical(text: string): string {
  const ip = parseIp(text);
  return ip.ok ? ip.value.text : text;
}

/** Pure: one reply judged. */
export function judgeEcho(target: EchoTarget, reply: EchoReply, at: Date): EchoResult {
  const base = { service: target.service, target: `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`, checkedAt: at.toISOString() };
  if (!reply.answer.ok) return { ...base, outcome: "failed", sent: reply.sent || null, seen: null, rewrittenTo: null, reason: reply.answer.reason };
  const seen = reply.answer.ip.text;
  // Both sides in one spelling (2001:db8:0::5 is 2001:db8::5).
  const sent = canonical(reply.sent);
  if (seen === sent) return { ...base, outcome: "preserved", sent, seen, rewrittenTo: null, reason: null };
  const rewrittenTo: RewrittenTo = seen === canonical(target.host) ? "the-node-asked" : "another-address";
  return { ...base, outcome: "rewritten", sent, seen, rewrittenTo, reason: null };
}

/** Per Service, the one address this node asks: rendezvous on the node name, its own node left out. */
export function chooseEchoTargets(targets: readonly EchoTarget[], nodeName: string, ownNodeAddress?: string): EchoTarget[] {
  const services = [...new Set(targets.map((t) => t.service))].sort();
  return services.flatMap((service) => {
    const candidates = targets.filter((t) => t.service === service);
    const peers = candidates.filter((t) => t.host !== ownNodeAddress);
    return chooseByRendezvous(peers.length > 0 ? peers : candidates, (t) => `${t.host}:${t.port}`, nodeName, 1);
  });
}

export interface SourceCheckOptions {
  readonly targets: readonly EchoTarget[];
  readonly nodeName: string;
  readonly ownNodeAddress?: string;
  readonly gauge: Gauge<"service" | "outcome">;
  readonly logger: Logger;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
}

export class SourceCheck {
  private readonly chosen: EchoTarget[];
  private results: EchoResult[] = [];
  private loop: Repeating | undefined;
  private stopped = false;

  constructor(private readonly options: SourceCheckOptions) {
    this.chosen = chooseEchoTargets(options.targets, options.nodeName, options.ownNodeAddress);
  }

  /** One round now, then an interval after each round has ended. */
  async start(): Promise<void> {
    await this.round();
    if (this.stopped) return;
    this.loop = repeat(this.options.intervalMs ?? SOURCE_ECHO_INTERVAL_MS, () => this.round(), {
      unref: true,
      onError: (error) => this.options.logger.warn({ err: error }, "source echo: a round failed; the next one follows"),
    });
  }

  /** No round starts after this; one under way finishes, and none follows it. */
  stop(): void {
    this.stopped = true;
    void this.loop?.stop();
  }

  /** Asks every chosen echo (at most one per Service, all at once), publishes the results. */
  async round(): Promise<void> {
    const replies = await Promise.all(this.chosen.map((t) => askEcho(t.host, t.port, this.options.timeoutMs ?? SOURCE_ECHO_TIMEOUT_MS)));
    const now = new Date();
    const results = this.chosen.map((target, i) => judgeEcho(target, replies[i] as EchoReply, now));
    for (const result of results) {
      const before = this.results.find((r) => r.service === result.service);
      if (before?.outcome !== result.outcome) this.options.logger.info({ ...result }, `inbound: source address through ${result.service}: ${result.outcome}`);
    }
    this.results = results;
    this.options.gauge.reset();
    for (const result of results) this.options.gauge.set({ service: result.service, outcome: result.outcome }, 1);
  }

  document(): readonly EchoResult[] {
    return this.results;
  }
}
