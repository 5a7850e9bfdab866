// Paths that are not what they claim to be, through the real CLI: a FIFO (opening it would wait
// for a writer for ever), a device (reading /dev/zero never ends), a sparse multi-GiB file, a
// directory that loops back on itself. Each is refused at once with exit 2 and its path named;
// a hang fails the test through runCli's timeout.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

const QUICK = { timeoutMs: 10_000 };
const MANIFEST = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nc-input-files-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
function fifo(name = `fifo-${count++}`): string {
  const path = join(dir, name);
  execFileSync("mkfifo", [path]);
  return path;
}
function sparse(bytes: number, name = `sparse-${count++}.yaml`): string {
  const path = join(dir, name);
  writeFileSync(path, "");
  truncateSync(path, bytes);
  return path;
}
function file(text: string, name = `f-${count++}.yaml`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Exit 2, and exactly these lines on stderr. */
function refused(run: { code: number | null; stdout: string; stderr: string }, lines: readonly string[]): void {
  expect(run.stdout).toBe("");
  expect(run.stderr.trimEnd().split("\n")).toEqual(lines);
  expect(run.code).toBe(2);
}

describe("netcanary check refuses manifest paths that are not manifests", () => {
  it("a FIFO given by name", async () => {
    const path = fifo();
    refused(await runCli(["check", "--manifests", path], QUICK), [`${path}: a FIFO, not a regular file`]);
  });

  it("a FIFO named like a manifest inside a directory", async () => {
    const sub = join(dir, `with-fifo-${count++}`);
    mkdirSync(sub);
    writeFileSync(join(sub, "a.yaml"), MANIFEST);
    const path = fifo(join(`with-fifo-${count - 1}`, "b.yaml"));
    refused(await runCli(["check", "--manifests", sub], QUICK), [`${path}: a FIFO, not a regular file`]);
  });

  it("a character device", async () => {
    refused(await runCli(["check", "--manifests", "/dev/zero"], QUICK), ["/dev/zero: a character device, not a regular file"]);
  });

  it("a 3 GiB file (sparse): over the 4 MiB limit of one manifest, not read", async () => {
    const path = sparse(3 * GiB);
    refused(await runCli(["check", "--manifests", path], QUICK), [`${path}: 3 GiB, over the limit of 4 MiB`]);
  });

  it("manifests that add up to more than 8 MiB, though each is under 4 MiB", async () => {
    const sub = join(dir, `big-${count++}`);
    mkdirSync(sub);
    for (const name of ["a.yaml", "b.yaml", "c.yaml"]) {
      writeFileSync(join(sub, name), "");
      truncateSync(join(sub, name), 3 * MiB);
    }
    refused(await runCli(["check", "--manifests", sub], QUICK), [`${sub}: the manifests add up to 9 MiB, over the limit of 8 MiB for all of them together`]);
  });

  it("a directory whose symbolic link loops back to it", async () => {
    const sub = join(dir, `loop-${count++}`);
    mkdirSync(sub);
    writeFileSync(join(sub, "a.yaml"), MANIFEST);
    symlinkSync(sub, join(sub, "again"));
    refused(await runCli(["check", "--manifests", sub], QUICK), [`${join(sub, "again")}: a directory already read (a symbolic link loop, or two paths to one directory)`]);
  });

  it("directories nested deeper than 16 levels", async () => {
    let deep = join(dir, `deep-${count++}`);
    const top = deep;
    for (let i = 0; i <= 17; i++) deep = join(deep, `d${i}`);
    mkdirSync(deep, { recursive: true });
    const tooDeep = join(top, ...Array.from({ length: 17 }, (_, i) => `d${i}`));
    refused(await runCli(["check", "--manifests", top], QUICK), [`${tooDeep}: more than 16 directories deep; not read`]);
  });
});

describe("netcanary check refuses a queries file that is not one", () => {
  const manifests = ["--manifests", "examples/check/manifests"];
  it("a FIFO", async () => {
    const path = fifo();
    refused(await runCli(["check", ...manifests, "--queries", path], QUICK), [`${path}: a FIFO, not a regular file`]);
  });
  it("a device", async () => {
    refused(await runCli(["check", ...manifests, "--queries", "/dev/zero"], QUICK), ["/dev/zero: a character device, not a regular file"]);
  });
  it("a 2 MiB file: over the 1 MiB limit of a queries file", async () => {
    const path = sparse(2 * MiB);
    refused(await runCli(["check", ...manifests, "--queries", path], QUICK), [`${path}: 2 MiB, over the limit of 1 MiB`]);
  });
});

describe("the agent and once refuse a config file that is not one", () => {
  it.each([["once"], ["agent"]])("%s: a FIFO, a device, and a file over the 1 MiB a ConfigMap can hold", async (command) => {
    const pipe = fifo();
    const big = sparse(2 * MiB);
    const extra = command === "agent" ? ["--listen", "127.0.0.1:0"] : [];
    refused(await runCli([command, "--config", pipe, ...extra], QUICK), [`${pipe}: a FIFO, not a regular file`]);
    refused(await runCli([command, "--config", "/dev/zero", ...extra], QUICK), ["/dev/zero: a character device, not a regular file"]);
    refused(await runCli([command, "--config", big, ...extra], QUICK), [`${big}: 2 MiB, over the limit of 1 MiB`]);
  });

  it("once: manifests that are a FIFO", async () => {
    const path = fifo();
    refused(await runCli(["once", "--manifests", path], QUICK), [`${path}: a FIFO, not a regular file`]);
  });

  it("a small config file is still read (the limits refuse only what they must)", async () => {
    // Read and judged: with no probe in it, once says it tested nothing (exit 3), which it
    // can only know from the file's content.
    const path = file("sources: [{name: self, self: true}]\nprobes: []\n");
    const run = await runCli(["once", "--config", path, "--output", "json"], QUICK);
    expect(run.stderr).toBe("netcanary once: inconclusive: the config has no probe: nothing was tested\n");
    expect(run.code).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({ results: [] });
  });
});
