// The verdict model: each sample judged against the expected outcome, hysteresis,
// signals and status precedence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROBE_REASONS, type ProbeReason } from "../../agent/probes/prober.js";
import {
  activeSignals,
  edgeStatus,
  expectedOutcome,
  type HysteresisState,
  initialHysteresis,
  type Judgement,
  judgeSample,
  observe,
  type Thresholds,
  withExpectation,
} from "../../agent/verdicts/judge.js";

const REASONS: readonly ProbeReason[] = PROBE_REASONS;

// The truth table, written out: [reason, allow/tcp, allow/dns, allow/http, deny/tcp, deny/dns, deny/http].
// c = consistent, i = inconsistent, ? = inconclusive. A reason a kind never reports is judged by
// its declaration all the same (neither passed nor "never tried": consistent under a deny).
const TABLE: readonly [ProbeReason, string, string, string, string, string, string][] = [
  ["ok", "c", "c", "c", "i", "i", "i"],
  ["timeout", "i", "i", "i", "c", "c", "c"],
  ["refused", "i", "i", "i", "c", "c", "c"],
  ["reset", "i", "i", "i", "c", "c", "c"],
  ["host_unreachable", "i", "i", "i", "c", "c", "c"],
  ["net_unreachable", "i", "i", "i", "c", "c", "c"],
  // A TCP or HTTP probe whose name did not resolve never tried to connect: says nothing about a deny.
  ["dns_nxdomain", "i", "i", "i", "?", "i", "?"],
  ["dns_nodata", "i", "i", "i", "?", "i", "?"],
  ["dns_servfail", "i", "i", "i", "?", "i", "?"],
  ["dns_refused", "i", "i", "i", "?", "i", "?"],
  ["dns_timeout", "i", "i", "i", "?", "c", "?"],
  ["dns_unexpected_answer", "i", "i", "i", "?", "i", "c"],
  // Zscaler's DNS filtering answered for the name: nothing was sent to the target.
  ["dns_zscaler_block", "i", "i", "i", "c", "c", "?"],
  // Everything after an HTTP probe's TCP connection (to the target or its proxy) proves packets passed.
  ["tls_error", "i", "i", "i", "c", "c", "i"],
  ["tls_untrusted", "i", "i", "i", "c", "c", "i"],
  ["tls_issuer_mismatch", "i", "i", "i", "c", "c", "i"],
  ["http_status", "i", "i", "i", "c", "c", "i"],
  ["http_timeout", "i", "i", "i", "c", "c", "i"],
  ["http_error", "i", "i", "i", "c", "c", "i"],
  ["proxy_error", "i", "i", "i", "c", "c", "i"],
  ["zscaler_blocked", "i", "i", "i", "c", "c", "i"],
  ["agent_error", "?", "?", "?", "?", "?", "?"],
];
const CODE: Record<string, Judgement> = { c: "consistent", i: "inconsistent", "?": "inconclusive" };

describe("judgeSample", () => {
  it("the table covers every reason", () => {
    expect(TABLE.map(([reason]) => reason).sort()).toEqual([...REASONS].sort());
  });

  for (const [reason, allowTcp, allowDns, allowHttp, denyTcp, denyDns, denyHttp] of TABLE) {
    it(`${reason}: allow tcp/dns/http ${allowTcp}${allowDns}${allowHttp}, deny tcp/dns/http ${denyTcp}${denyDns}${denyHttp}`, () => {
      expect(judgeSample("allow", "tcp", reason)).toBe(CODE[allowTcp]);
      expect(judgeSample("allow", "dns", reason)).toBe(CODE[allowDns]);
      expect(judgeSample("allow", "http", reason)).toBe(CODE[allowHttp]);
      expect(judgeSample("deny", "tcp", reason)).toBe(CODE[denyTcp]);
      expect(judgeSample("deny", "dns", reason)).toBe(CODE[denyDns]);
      expect(judgeSample("deny", "http", reason)).toBe(CODE[denyHttp]);
    });
  }
});

describe("expectedOutcome", () => {
  it("policy first, then intent, else nothing", () => {
    expect(expectedOutcome("allow", "deny")).toEqual({ expected: "allow", from: "policy" });
    expect(expectedOutcome("deny", null)).toEqual({ expected: "deny", from: "policy" });
    expect(expectedOutcome("unknown", "deny")).toEqual({ expected: "deny", from: "intent" });
    expect(expectedOutcome("unknown", null)).toEqual({ expected: null, from: null });
  });
});

function run(thresholds: Thresholds, judgements: readonly Judgement[], expected: "allow" | "deny" = "allow"): HysteresisState[] {
  const states: HysteresisState[] = [];
  let state = initialHysteresis(expected);
  for (const judgement of judgements) {
    state = observe(state, judgement, thresholds);
    states.push(state);
  }
  return states;
}

const I: Judgement = "inconsistent";
const C: Judgement = "consistent";
const X: Judgement = "inconclusive";

describe("hysteresis", () => {
  it("threshold 1: one inconsistent sample raises, one consistent clears", () => {
    const states = run({ failureThreshold: 1, successThreshold: 1 }, [I, C, I]);
    expect(states.map((s) => s.raised)).toEqual([true, false, true]);
    expect(states.every((s) => s.settled)).toBe(true);
  });

  it("raises only on failureThreshold consecutive inconsistent samples", () => {
    const states = run({ failureThreshold: 3, successThreshold: 1 }, [I, I, I]);
    expect(states.map((s) => s.raised)).toEqual([false, false, true]);
    expect(states.map((s) => s.settled)).toEqual([false, false, true]);
    expect(states.map((s) => s.consecutiveInconsistent)).toEqual([1, 2, 3]);
  });

  it("flapping never raises with failureThreshold 3", () => {
    const states = run({ failureThreshold: 3, successThreshold: 1 }, [I, C, I, I, C, I, C, I, I, C]);
    expect(states.some((s) => s.raised)).toBe(false);
    expect(Math.max(...states.map((s) => s.consecutiveInconsistent))).toBe(2);
  });

  it("clearing needs successThreshold consecutive consistent samples", () => {
    const states = run({ failureThreshold: 2, successThreshold: 3 }, [I, I, C, C, I, C, C, C]);
    expect(states.map((s) => s.raised)).toEqual([false, true, true, true, true, true, true, false]);
  });

  it("an inconclusive sample neither resets nor advances the counters", () => {
    const thresholds = { failureThreshold: 3, successThreshold: 2 };
    const raising = run(thresholds, [I, I, X, X, I]);
    expect(raising.map((s) => s.consecutiveInconsistent)).toEqual([1, 2, 2, 2, 3]);
    expect(raising.at(-1)?.raised).toBe(true);
    expect(raising[2]).toBe(raising[1]); // the very same state: nothing moved
    const clearing = run(thresholds, [I, I, I, C, X, C]);
    expect(clearing.map((s) => s.raised)).toEqual([false, false, true, true, true, false]);
  });

  it("a pending edge settles on successThreshold consistent samples", () => {
    const states = run({ failureThreshold: 3, successThreshold: 2 }, [C, C]);
    expect(states.map((s) => s.settled)).toEqual([false, true]);
    expect(states.map((s) => edgeStatus(s, []))).toEqual(["pending", "ok"]);
  });

  it("samples without an expectation change nothing", () => {
    const state = initialHysteresis(null);
    expect(observe(state, I, { failureThreshold: 1, successThreshold: 1 })).toBe(state);
  });

  it("a changed expectation starts the count again; the same one keeps it", () => {
    const [, raised] = run({ failureThreshold: 2, successThreshold: 1 }, [I, I]);
    expect(raised?.raised).toBe(true);
    expect(withExpectation(raised as HysteresisState, "allow")).toBe(raised);
    expect(withExpectation(raised as HysteresisState, "deny")).toEqual(initialHysteresis("deny"));
    expect(withExpectation(raised as HysteresisState, null)).toEqual(initialHysteresis(null));
  });

  it("property: raised exactly when the last failureThreshold-run of inconsistent samples was not cleared by successThreshold consistent ones", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.constantFrom(I, C, X), { maxLength: 40 }),
        (failureThreshold, successThreshold, judgements) => {
          const states = run({ failureThreshold, successThreshold }, judgements);
          // Reference model over the conclusive samples only.
          let raised = false;
          let settled = false;
          let runI = 0;
          let runC = 0;
          judgements.forEach((j, k) => {
            if (j === I) {
              runI++;
              runC = 0;
              if (runI >= failureThreshold) raised = settled = true;
            } else if (j === C) {
              runC++;
              runI = 0;
              if (runC >= successThreshold) {
                raised = false;
                settled = true;
              }
            }
            expect(states[k]?.raised).toBe(raised);
            expect(states[k]?.settled).toBe(settled);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("signals and status", () => {
  const raisedAllow: HysteresisState = { expected: "allow", consecutiveConsistent: 0, consecutiveInconsistent: 3, raised: true, settled: true };
  const raisedDeny: HysteresisState = { ...raisedAllow, expected: "deny" };
  const settledOk: HysteresisState = { expected: "allow", consecutiveConsistent: 1, consecutiveInconsistent: 0, raised: false, settled: true };

  it("a raised state is a block when allow was expected, an allow when deny was", () => {
    expect(activeSignals(raisedAllow, "allow", null)).toEqual(["unexpected_block"]);
    expect(activeSignals(raisedDeny, "deny", null)).toEqual(["unexpected_allow"]);
    expect(activeSignals(settledOk, "allow", null)).toEqual([]);
  });

  it("intent_violation comes from policy alone, with no samples", () => {
    const fresh = initialHysteresis("deny");
    expect(activeSignals(fresh, "deny", "allow")).toEqual(["intent_violation"]);
    expect(edgeStatus(fresh, ["intent_violation"])).toBe("intent_violation");
    expect(activeSignals(initialHysteresis("allow"), "allow", "deny")).toEqual(["intent_violation"]);
    // Policy agreeing with intent, or unknown: no violation.
    expect(activeSignals(fresh, "deny", "deny")).toEqual([]);
    expect(activeSignals(initialHysteresis("allow"), "unknown", "allow")).toEqual([]);
  });

  it("precedence: unexpected_block, unexpected_allow, intent_violation, whatever the order given", () => {
    expect(edgeStatus(raisedAllow, ["intent_violation", "unexpected_block"])).toBe("unexpected_block");
    expect(edgeStatus(raisedDeny, ["intent_violation", "unexpected_allow"])).toBe("unexpected_allow");
    expect(edgeStatus(raisedDeny, ["intent_violation", "unexpected_allow", "unexpected_block"])).toBe("unexpected_block");
    const both = activeSignals(raisedAllow, "allow", "deny");
    expect(both).toEqual(["unexpected_block", "intent_violation"]);
    expect(edgeStatus(raisedAllow, both)).toBe("unexpected_block");
  });

  it("no signal: pending until settled, then ok; unknown when nothing to judge against", () => {
    expect(edgeStatus(initialHysteresis("allow"), [])).toBe("pending");
    expect(edgeStatus(settledOk, [])).toBe("ok");
    expect(edgeStatus(initialHysteresis(null), [])).toBe("unknown");
  });
});
