// Object names as the API server validates them: which names each kind accepts.
import { describe, expect, it } from "vitest";
import { namespaceNameProblem, objectNameProblem } from "../../agent/objects/names.js";

const valid = (kind: string, name: string) => objectNameProblem(kind, name) === undefined;

describe("object names", () => {
  it("most kinds take a DNS subdomain: dots allowed, 253 characters at most, lower case only", () => {
    for (const kind of ["Pod", "NetworkPolicy", "Deployment", "StatefulSet", "AdminNetworkPolicy"]) {
      expect([valid(kind, "web-0"), valid(kind, "web.v2"), valid(kind, "0web"), valid(kind, "a".repeat(253))]).toEqual([true, true, true, true]);
      expect([valid(kind, "Web"), valid(kind, "web_0"), valid(kind, "-web"), valid(kind, "web-"), valid(kind, "web..v2"), valid(kind, "a".repeat(254)), valid(kind, "")]).toEqual([
        false, false, false, false, false, false, false,
      ]);
    }
  });

  it("a Namespace takes a DNS label: no dots, 63 characters at most", () => {
    expect([valid("Namespace", "shop"), valid("Namespace", "0shop"), valid("Namespace", "a".repeat(63))]).toEqual([true, true, true]);
    expect([valid("Namespace", "shop.eu"), valid("Namespace", "a".repeat(64))]).toEqual([false, false]);
    expect([namespaceNameProblem("shop"), namespaceNameProblem("shop.eu") !== undefined]).toEqual([undefined, true]);
  });

  it("a Service takes a DNS-1035 label: it must start with a letter", () => {
    expect([valid("Service", "api"), valid("Service", "api-2")]).toEqual([true, true]);
    expect([valid("Service", "2api"), valid("Service", "api.v2"), valid("Service", "a".repeat(64))]).toEqual([false, false, false]);
  });

  it("a CronJob name is 52 characters at most (its Jobs append 11)", () => {
    expect([valid("CronJob", "a".repeat(52)), valid("CronJob", "a".repeat(53))]).toEqual([true, false]);
  });

  it("names the rule, and quotes the name with its control characters escaped", () => {
    expect(objectNameProblem("Pod", "web\n0\u001b[2J")).toBe(
      '"web\\n0\\u001b[2J" is not a valid Pod name: it must be a DNS subdomain: at most 253 characters, lower-case letters, digits, "-" and ".", starting and ending with a letter or digit',
    );
  });
});
