// An unexpected error as the agent shows it (text/errors.ts): in a probe's detail, a log line,
// an Event, a feed's failure. With its causes (the reason a connection failed), its code once,
// and without the credentials it may repeat (text/url-credentials.ts).

import { describe, expect, it } from "vitest";
import { describeError, errorCode } from "../../agent/text/errors.js";

describe("a failure as logged and reported", () => {
  it("follows the causes: why the fetch failed, not only that it did", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });
    expect(describeError(new TypeError("fetch failed", { cause: refused }))).toBe("fetch failed: connect ECONNREFUSED 127.0.0.1:6443");
  });

  it("keeps the first line of each, drops repeats, stops on a cycle, and bounds the length", () => {
    const a = new Error("outer\nstack-like detail");
    const b = new Error("outer");
    (a as { cause?: unknown }).cause = b;
    (b as { cause?: unknown }).cause = a;
    expect(describeError(a)).toBe("outer");
    expect(describeError(new Error("x".repeat(2000))).length).toBe(500);
    expect(describeError("plain string")).toBe("plain string");
    expect(describeError(new Error("y".repeat(300)), 200)).toBe(`${"y".repeat(197)}...`);
  });

  it("says the code in front when the message does not, found on the error or a cause", () => {
    const reset = Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" });
    expect(describeError(new TypeError("fetch failed", { cause: reset }))).toBe("UND_ERR_SOCKET: fetch failed: other side closed");
    expect(errorCode(new Error("a", { cause: new Error("b", { cause: reset }) }))).toBe("UND_ERR_SOCKET");
    expect(errorCode(new Error("no code"))).toBeUndefined();
  });

  it("finds no code past a cycle and names an error with no message by its name", () => {
    const a = new Error("a");
    (a as { cause?: unknown }).cause = a;
    expect(errorCode(a)).toBeUndefined();
    expect(describeError(new RangeError())).toBe("RangeError");
  });

  it("never repeats credentials from a URL in the message", () => {
    const error = new TypeError("Request cannot be constructed from a URL that includes credentials: http://admin:hunter2@127.0.0.1:1/api/v1/pods?limit=500");
    expect(describeError(error)).toBe("Request cannot be constructed from a URL that includes credentials: http://***@127.0.0.1:1/api/v1/pods?limit=***");
  });
});
