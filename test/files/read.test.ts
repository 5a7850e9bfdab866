// Reading outside input with bounds (files/read.ts), on real files: what a config, manifest
// or /proc path may turn out to be, as a truth table. Nothing here may block or fill the heap.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBoundedFile } from "../../agent/files/read.js";

const LIMIT = { maxBytes: 1024 * 1024 };

describe("readBoundedFile", () => {
  const read = readBoundedFile;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "nc-read-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a regular file, and one through a symbolic link (the user's own path)", async () => {
    writeFileSync(join(dir, "config.yaml"), "probes: []\n");
    symlinkSync(join(dir, "config.yaml"), join(dir, "link.yaml"));
    expect(await read(join(dir, "config.yaml"), LIMIT)).toEqual({ ok: true, text: "probes: []\n", bytes: 11 });
    expect(await read(join(dir, "link.yaml"), LIMIT)).toEqual({ ok: true, text: "probes: []\n", bytes: 11 });
  });

  it("refuses a FIFO at once, naming the path (opening it would wait for a writer for ever)", async () => {
    const fifo = join(dir, `fifo-${Math.random().toString(16).slice(2)}`);
    execFileSync("mkfifo", [fifo]);
    expect(await read(fifo, LIMIT)).toEqual({ ok: false, problem: "not_regular", reason: expect.any(String), message: `${fifo}: a FIFO, not a regular file` });
  });

  it("refuses a device (reading /dev/zero would never end) and a directory", async () => {
    expect(await read("/dev/zero", LIMIT)).toEqual({ ok: false, problem: "not_regular", reason: expect.any(String), message: "/dev/zero: a character device, not a regular file" });
    expect(await read(dir, LIMIT)).toEqual({ ok: false, problem: "not_regular", reason: expect.any(String), message: `${dir}: a directory, not a regular file` });
  });

  it("refuses a file over the limit before reading a byte of it", async () => {
    const huge = join(dir, "huge.yaml");
    writeFileSync(huge, "");
    truncateSync(huge, 3 * 1024 * 1024 * 1024); // sparse: 3 GiB that take no disk
    expect(await read(huge, LIMIT)).toEqual({ ok: false, problem: "too_large", reason: expect.any(String), message: `${huge}: 3 GiB, over the limit of 1 MiB` });
  });

  it("says what is missing or forbidden, without a stack", async () => {
    expect(await read(join(dir, "absent.yaml"), LIMIT)).toEqual({ ok: false, problem: "missing", reason: expect.any(String), message: `${join(dir, "absent.yaml")}: cannot read (no such file)` });
  });

  it("bounds a /proc file, whose size stat() reports as 0, while reading it", async () => {
    const small = await read("/proc/self/status", LIMIT);
    expect(small.ok && small.text).toMatch(/^Name:/);
    expect(await read("/proc/self/status", { maxBytes: 64 })).toMatchObject({ ok: false, problem: "too_large" });
  });
});
