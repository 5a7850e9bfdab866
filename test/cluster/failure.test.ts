// A client error as the reflector logs and reports it: with its causes (the reason a
// connection failed) and without the credentials it may repeat (text/url-credentials.ts).

import { describe, expect, it } from "vitest";
import { describeFailure } from "../../agent/cluster/reflector.js";

describe("a failure as logged and reported", () => {
  it("follows the causes: why the fetch failed, not only that it did", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });
    expect(describeFailure(new TypeError("fetch failed", { cause: refused }))).toBe("fetch failed: connect ECONNREFUSED 127.0.0.1:6443");
  });

  it("keeps the first line of each, drops repeats, stops on a cycle, and bounds the length", () => {
    const a = new Error("outer\nstack-like detail");
    const b = new Error("outer");
    (a as { cause?: unknown }).cause = b;
    (b as { cause?: unknown }).cause = a;
    expect(describeFailure(a)).toBe("outer");
    expect(describeFailure(new Error("x".repeat(2000))).length).toBe(500);
    expect(describeFailure("plain string")).toBe("plain string");
  });

  it("never repeats credentials from a URL in the message", () => {
    const error = new TypeError("Request cannot be constructed from a URL that includes credentials: http://admin:hunter2@127.0.0.1:1/api/v1/pods?limit=500");
    expect(describeFailure(error)).toBe("Request cannot be constructed from a URL that includes credentials: http://***@127.0.0.1:1/api/v1/pods?limit=***");
  });
});
