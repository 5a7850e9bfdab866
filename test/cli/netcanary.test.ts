// The command line's manners: --version, and a typo answered with the nearest known option or
// command. The suggestion as a pure function, and the compiled CLI as a user runs it. A start
// loads only the command it runs: what it loaded is recorded by a preloaded hook.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { editDistance, nearest } from "../../agent/cli/suggest.js";
import { loadedModules, repoRoot, runCli } from "../support/cli.js";

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

describe("what a start loads", () => {
  // The dispatcher, the shared vocabulary it prints with, and the version: nothing else.
  const DISPATCH = ["cli/command.js", "cli/main.js", "cli/netcanary.js", "cli/suggest.js", "cli/version.js", "text/printable.js"];
  const COMMAND_MODULES = ["cli/advise.js", "cli/agent.js", "cli/check.js", "cli/map.js", "cli/once.js", "cli/zscaler.js"];

  it.each([[["--version"]], [["--help"]], [["chek"]]])("%j loads the dispatcher only: no command and no package", async (args) => {
    const loaded = await loadedModules(args);
    expect(loaded.run.code).toBe(args[0] === "chek" ? 2 : 0);
    expect(loaded.dist).toEqual(DISPATCH);
    expect(loaded.packages).toEqual([]);
  });

  it.each([
    [["zscaler", "--help"], "cli/zscaler.js"],
    [["check", "--manifests", "examples/check/manifests", "--queries", "examples/check/queries.yaml"], "cli/check.js"],
  ])("%j loads its own command and not the agent's modules", async (args, own) => {
    const loaded = await loadedModules(args);
    expect(loaded.run.code).toBe(0);
    expect(loaded.dist).toContain(own);
    expect(loaded.dist.filter((file) => COMMAND_MODULES.includes(file))).toEqual([own]);
    expect(loaded.dist.filter((file) => file.startsWith("daemon/") || file.startsWith("metrics/"))).toEqual([]);
    expect(loaded.packages).not.toContain("prom-client");
    expect(loaded.packages).not.toContain("pino");
  });

  it.each([[["once", "--help"], 0], [["once", "--kube-config", "kc"], 2]])("%j loads neither the agent nor a cluster source: they come once the options are read", async (args, code) => {
    const loaded = await loadedModules(args);
    expect(loaded.run.code).toBe(code);
    expect(loaded.dist).toContain("cli/once.js");
    expect(loaded.dist.filter((file) => /^(daemon|metrics|cluster|config)\//.test(file))).toEqual([]);
    for (const name of ["prom-client", "zod", "yaml", "@kubernetes/client-node"]) expect(loaded.packages).not.toContain(name);
  });
});
