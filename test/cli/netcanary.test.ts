// The command line's manners: --version, and a typo answered with the nearest known option or
// command. The suggestion as a pure function, and the compiled CLI as a user runs it.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { editDistance, nearest } from "../../agent/cli/suggest.js";
import { repoRoot, runCli } from "../support/cli.js";

const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

describe("nearest known word", () => {
  it("counts insertions, deletions, substitutions and swapped neighbours as one edit each", () => {
    expect(editDistance("manifest", "manifests")).toBe(1);
    expect(editDistance("qeuries", "queries")).toBe(1);
    expect(editDistance("kube-config", "kubeconfig")).toBe(1);
    expect(editDistance("chek", "check")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("same", "same")).toBe(0);
  });

  it("suggests the nearest within reach, the only word a prefix leads to, or nothing", () => {
    const options = ["config", "kubeconfig", "manifests", "log-level", "log-format", "output", "sync-timeout"];
    expect(nearest("manifest", options)).toBe("manifests");
    expect(nearest("kube-config", options)).toBe("kubeconfig");
    expect(nearest("ouptut", options)).toBe("output");
    expect(nearest("sync", options)).toBe("sync-timeout");
    // Two options start with "log": no guess from the prefix, and both are too far.
    expect(nearest("log", options)).toBeUndefined();
    expect(nearest("frobnicate", options)).toBeUndefined();
  });
});

describe("netcanary --version", () => {
  it.each(["--version", "-V"])("%s prints the package version and exits 0", async (flag) => {
    const run = await runCli([flag]);
    expect(run.stdout).toBe(`netcanary ${version}\n`);
    expect(run.code).toBe(0);
  });

  it("is named in the overview", async () => {
    const run = await runCli(["--help"]);
    expect(run.stdout).toContain("'netcanary --version'");
    expect(run.stdout).toContain("3 inconclusive");
  });
});

describe("a mistyped option or command", () => {
  it.each([
    [["check", "--manifest", "examples/check/manifests"], "netcanary check: unknown option --manifest (did you mean --manifests?)"],
    [["check", "--manifests", "examples/check/manifests", "--qeuries", "q.yaml"], "netcanary check: unknown option --qeuries (did you mean --queries?)"],
    [["once", "--kube-config", "kc"], "netcanary once: unknown option --kube-config (did you mean --kubeconfig?)"],
    [["agent", "--lsiten", ":0"], "netcanary agent: unknown option --lsiten (did you mean --listen?)"],
    [["zscaler", "ranges", "--clod", "zscaler.net"], "netcanary zscaler: unknown option --clod (did you mean --cloud?)"],
    [["zscaler", "rangse"], 'netcanary zscaler: unknown subcommand "rangse" (did you mean "ranges"?) (ranges or policy)'],
    [["chek"], 'netcanary: unknown command "chek" (did you mean "check"?)'],
    [["--verison"], "netcanary: unknown option --verison (did you mean --version?)"],
  ])("%j: one line with the nearest, then the usage, exit 2", async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")[0]).toBe(message);
    expect(run.stderr).toContain("Usage:");
  });

  it("suggests nothing when nothing is close", async () => {
    const run = await runCli(["check", "--frobnicate"]);
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")[0]).toBe("netcanary check: unknown option --frobnicate");
  });
});
