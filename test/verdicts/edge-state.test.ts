// One edge over time: records, policy changes, outcomes (starved or not), status changes.
import { describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import type { ProbeConfig } from "../../agent/config/model.js";
import type { ProbeOutcome, ProbeReason } from "../../agent/probes/prober.js";
import { concreteTargets, edgeFor } from "../../agent/targets/edges.js";
import { type EdgeRecord, newEdgeRecord, type StatusChange, withOutcome, withPolicy } from "../../agent/verdicts/edge-state.js";
import type { EdgePolicy } from "../../agent/verdicts/policy.js";

function ip(text: string) {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function probe(overrides: Partial<ProbeConfig> = {}): ProbeConfig {
  return {
    name: "web",
    sources: ["self"],
    expect: null,
    schedule: { kind: "interval", intervalMs: 1000 },
    timeoutMs: 500,
    failureThreshold: 3,
    successThreshold: 2,
    target: { kind: "tcp", ip: ip("192.0.2.10"), port: 443 },
    ...overrides,
  };
}

function policy(stance: EdgePolicy["stance"]): EdgePolicy {
  return { stance, summary: `${stance}: test`, lines: [`${stance}: test`], egressRule: "none", ingressRule: "none", cniDependent: false };
}

const AT = new Date("2030-01-02T03:04:05.678Z");

function outcome(reason: ProbeReason, extra: Partial<ProbeOutcome> = {}): ProbeOutcome {
  return { reason, durationSeconds: 0.012, phases: { connect: 0.012 }, address: "192.0.2.10", ...extra };
}

function record(stance: EdgePolicy["stance"], overrides: Partial<ProbeConfig> = {}): EdgeRecord {
  const config = probe(overrides);
  const [target] = concreteTargets(config.target, undefined);
  if (!target) throw new Error("no concrete target");
  return newEdgeRecord(edgeFor(config, { name: "self", node: "n1" }, target), policy(stance), ip("192.0.2.10"));
}

/** Feeds samples, returning the final record and every status change on the way. */
function feed(start: EdgeRecord, reasons: readonly ProbeReason[], options: { starved?: boolean; stance?: EdgePolicy["stance"] } = {}) {
  let current = start;
  const changes: StatusChange[] = [];
  for (const reason of reasons) {
    const step = withOutcome(current, outcome(reason), options.starved ?? false, options.stance ? policy(options.stance) : current.policy, current.address, AT);
    current = step.record;
    if (step.change) changes.push(step.change);
  }
  return { record: current, changes: changes.map((c) => `${c.from}->${c.to}`) };
}

describe("a new edge", () => {
  it("is pending against a known policy, judged against it", () => {
    const r = record("allow");
    expect([r.status, r.expectedFrom, r.signals, r.hysteresis.expected]).toEqual(["pending", "policy", [], "allow"]);
    expect(r.address?.text).toBe("192.0.2.10");
    expect(r.observed).toBeUndefined();
  });

  it("is unknown with neither a policy nor an intent", () => {
    const r = record("unknown");
    expect([r.status, r.expectedFrom, r.hysteresis.expected]).toEqual(["unknown", null, null]);
  });

  it("falls back to the intent when the policy is unknown", () => {
    const r = record("unknown", { expect: "deny" });
    expect([r.status, r.expectedFrom, r.hysteresis.expected]).toEqual(["pending", "intent", "deny"]);
  });

  it("shows intent_violation at once when policy contradicts intent", () => {
    const r = record("deny", { expect: "allow" });
    expect([r.status, r.signals]).toEqual(["intent_violation", ["intent_violation"]]);
    const forbidden = record("allow", { expect: "deny" });
    expect([forbidden.status, forbidden.signals]).toEqual(["intent_violation", ["intent_violation"]]);
  });
});

describe("outcomes", () => {
  it("records the observation and raises unexpected_block after failureThreshold failures", () => {
    const { record: r, changes } = feed(record("allow"), ["refused", "refused", "refused"]);
    expect(r.status).toBe("unexpected_block");
    expect(changes).toEqual(["pending->unexpected_block"]);
    expect(r.observed).toEqual({ reason: "refused", durationSeconds: 0.012, at: "2030-01-02T03:04:05.678Z", starved: false, address: "192.0.2.10" });
  });

  it("raises unexpected_allow on a deny edge that gets through, and clears after successThreshold timeouts", () => {
    const raised = feed(record("deny"), ["ok", "ok", "ok"]);
    expect(raised.record.status).toBe("unexpected_allow");
    const cleared = feed(raised.record, ["timeout", "timeout"]);
    expect(cleared.changes).toEqual(["unexpected_allow->ok"]);
  });

  it("a timeout on an expected-deny edge is a pass", () => {
    const { record: r } = feed(record("deny"), ["timeout", "timeout"]);
    expect([r.status, r.signals]).toEqual(["ok", []]);
  });

  it("a starved failure becomes agent_error and counts for nothing", () => {
    const base = feed(record("allow"), ["refused", "refused"]).record;
    const starved = withOutcome(base, outcome("timeout", { detail: "connect timed out" }), true, base.policy, base.address, AT);
    expect(starved.record.observed).toMatchObject({ reason: "agent_error", starved: true });
    expect(starved.record.observed?.detail).toBe("agent starved (event loop blocked); network outcome was timeout");
    expect(starved.record.hysteresis).toEqual(base.hysteresis);
    expect(starved.change).toBeUndefined();
    // The run of failures goes on from where it was.
    expect(feed(starved.record, ["refused"]).record.status).toBe("unexpected_block");
  });

  it("a starved success is still a success", () => {
    const base = record("allow");
    const step = withOutcome(base, outcome("ok", { detail: "connected" }), true, base.policy, base.address, AT);
    expect(step.record.observed).toMatchObject({ reason: "ok", starved: false, detail: "connected" });
    expect(step.record.hysteresis.consecutiveConsistent).toBe(1);
  });

  it("an agent_error in the middle neither resets nor advances the count", () => {
    const { record: r } = feed(record("allow"), ["refused", "agent_error", "refused", "agent_error", "refused"]);
    expect(r.status).toBe("unexpected_block");
    expect(r.observed?.reason).toBe("refused");
    const notYet = feed(record("allow"), ["refused", "agent_error", "agent_error", "agent_error", "refused"]);
    expect(notYet.record.status).toBe("pending");
  });

  it("an outcome with no expectation is recorded and judged against nothing", () => {
    const { record: r, changes } = feed(record("unknown"), ["refused", "refused", "refused", "refused"]);
    expect([r.status, r.observed?.reason, changes]).toEqual(["unknown", "refused", []]);
  });

  it("a sample whose address has another policy is judged against that policy; the other count is kept aside", () => {
    const raised = feed(record("allow"), ["timeout", "timeout", "timeout"]).record;
    expect(raised.status).toBe("unexpected_block");
    const step = withOutcome(raised, outcome("timeout", { address: "192.0.2.11" }), false, policy("deny"), ip("192.0.2.11"), AT);
    expect(step.record.address?.text).toBe("192.0.2.11");
    expect(step.record.hysteresis).toMatchObject({ expected: "deny", consecutiveConsistent: 1, raised: false, aside: { expected: "allow", raised: true } });
    // The block seen on the allowed address is not cleared by a denied address dropping packets.
    expect(step.change).toBeUndefined();
    expect(step.record.status).toBe("unexpected_block");
  });

  it("a name whose addresses alternate between allowed and denied ranges still raises (no count is reset by the other)", () => {
    const allowed = (r: EdgeRecord) => withOutcome(r, outcome("timeout", { address: "192.0.2.10" }), false, policy("allow"), ip("192.0.2.10"), AT).record;
    const denied = (r: EdgeRecord) => withOutcome(r, outcome("timeout", { address: "192.0.2.11" }), false, policy("deny"), ip("192.0.2.11"), AT).record;
    let r = record("allow");
    // failureThreshold is 3: three failing samples on the allowed address, interleaved.
    for (const step of [allowed, denied, allowed, denied]) r = step(r);
    expect(r.signals).toEqual([]);
    r = allowed(r);
    expect(r.signals).toEqual(["unexpected_block"]);
    // And it clears only when the allowed address gets through again (successThreshold 2).
    r = denied(r);
    expect(r.signals).toEqual(["unexpected_block"]);
    const through = (x: EdgeRecord) => withOutcome(x, outcome("ok", { address: "192.0.2.10" }), false, policy("allow"), ip("192.0.2.10"), AT).record;
    r = through(r);
    expect(r.signals).toEqual(["unexpected_block"]);
    r = through(r);
    expect(r.signals).toEqual([]);
  });
});

describe("policy changes", () => {
  it("a changed expectation resets the hysteresis and reports the status change", () => {
    const raised = feed(record("allow"), ["refused", "refused", "refused"]).record;
    const step = withPolicy(raised, policy("deny"));
    expect(step.record.hysteresis).toEqual({ expected: "deny", consecutiveConsistent: 0, consecutiveInconsistent: 0, raised: false, settled: false });
    expect(step.change).toMatchObject({ from: "unexpected_block", to: "pending" });
    // The last observation is kept for display.
    expect(step.record.observed?.reason).toBe("refused");
  });

  it("the same stance keeps the counts, and no change is reported", () => {
    const partway = feed(record("allow"), ["refused", "refused"]).record;
    const step = withPolicy(partway, { ...policy("allow"), summary: "allow: another explanation" });
    expect(step.change).toBeUndefined();
    expect(step.record.policy.summary).toBe("allow: another explanation");
    expect(feed(step.record, ["refused"]).record.status).toBe("unexpected_block");
  });

  it("policy turning against intent raises intent_violation without a probe", () => {
    const r = record("allow", { expect: "allow" });
    const step = withPolicy(r, policy("deny"));
    expect(step.record.status).toBe("intent_violation");
    expect(step.change).toMatchObject({ from: "pending", to: "intent_violation" });
    // A network signal outranks it once raised: the path is open although policy denies.
    expect(feed(step.record, ["ok", "ok", "ok"]).record.signals).toEqual(["unexpected_allow", "intent_violation"]);
    expect(feed(step.record, ["ok", "ok", "ok"]).record.status).toBe("unexpected_allow");
  });

  it("policy becoming unknown falls back to the intent", () => {
    const step = withPolicy(record("allow", { expect: "deny" }), policy("unknown"));
    expect([step.record.status, step.record.expectedFrom, step.record.signals]).toEqual(["pending", "intent", []]);
  });
});
