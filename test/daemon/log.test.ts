// Logs: JSON for machines, one readable line per entry on a terminal, with control characters
// from outside escaped. The formatter as a pure function, the choice with a stream that says
// it is a terminal, and the compiled agent writing to a real pipe.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, formatLogLine, writesText } from "../../agent/log/log.js";
import { cliPath } from "../support/cli.js";
import { acceptingEndpoint } from "../support/listeners.js";
import { waitFor } from "../support/wait.js";

describe("the text form of a log entry", () => {
  it("shows time, level, message, then the fields as key=value", () => {
    const line = formatLogLine(
      `${JSON.stringify({ level: 40, time: "2026-01-02T03:04:05.678Z", app: "netcanary", probe: "backend", from: "ok", count: 3, flag: true, explanation: ["a b", "c"], msg: "edge backend: ok -> unexpected_block" })}\n`,
    );
    expect(line).toBe('2026-01-02T03:04:05.678Z WARN  edge backend: ok -> unexpected_block  probe=backend from=ok count=3 flag=true explanation=["a b","c"]\n');
  });

  it("quotes values with spaces or quotes, and leaves a line without fields bare", () => {
    expect(formatLogLine(JSON.stringify({ level: 30, time: "t", msg: "m", reason: 'has space and "quotes"' }))).toBe('t INFO  m  reason="has space and \\"quotes\\""\n');
    expect(formatLogLine(JSON.stringify({ level: 50, time: "t", msg: "bare" }))).toBe("t ERROR bare\n");
  });

  it("escapes terminal control characters from anywhere: message, keys and values", () => {
    const hostile = { level: 30, time: "t", msg: "pod \u001b[2J\u001b[31mred\u0007", "k\u001b]0;x": "v", detail: "line1\nline2\r\u009b1m", name: "abc\u202edef" };
    const line = formatLogLine(JSON.stringify(hostile));
    expect(line).toBe('t INFO  pod \\x1b[2J\\x1b[31mred\\x07  k\\x1b]0;x=v detail="line1\\nline2\\r\\x9b1m" name="abc\\u202edef"\n');
    // Nothing but the final newline is a control character.
    expect(line.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });

  it("escapes the same characters as every other printed text: the Arabic letter mark, the directional marks and the byte-order mark too", () => {
    const line = formatLogLine(JSON.stringify({ level: 30, time: "t", msg: "a\u061cb\u200ec\u200fd\ufeffe", pod: "x\u200fy" }));
    expect(line).toBe('t INFO  a\\u061cb\\u200ec\\u200fd\\ufeffe  pod="x\\u200fy"\n');
  });

  it("shows an error's message as a field and its stack below, indented", () => {
    const line = formatLogLine(JSON.stringify({ level: 50, time: "t", msg: "reload failed", err: { type: "Error", message: "boom", stack: "Error: boom\n    at one (a.js:1:1)\n    at two (b.js:2:2)" } }));
    expect(line).toBe("t ERROR reload failed  err=boom\n    at one (a.js:1:1)\n    at two (b.js:2:2)\n");
  });

  it("shows a line that is not a JSON object as it is, escaped", () => {
    expect(formatLogLine("not json \u001b[0m\n")).toBe("not json \\x1b[0m\n");
    expect(formatLogLine("[1,2]")).toBe("[1,2]\n");
    expect(formatLogLine("tab\there")).toBe("tab\\there\n");
  });
});

describe("the choice between text and JSON", () => {
  it("is text on a terminal and JSON elsewhere, unless asked for", () => {
    expect(writesText("auto", { isTTY: true })).toBe(true);
    expect(writesText("auto", { isTTY: false })).toBe(false);
    expect(writesText("auto", {})).toBe(false);
    expect(writesText("json", { isTTY: true })).toBe(false);
    expect(writesText("text", {})).toBe(true);
  });

  async function written(stream: PassThrough, log: (logger: ReturnType<typeof createLogger>) => void, logger: ReturnType<typeof createLogger>): Promise<string> {
    let text = "";
    stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
    log(logger);
    logger.flush();
    await new Promise((resolve) => setImmediate(resolve));
    return text;
  }

  it("writes text to a stream that is a terminal", async () => {
    const terminal = Object.assign(new PassThrough(), { isTTY: true });
    const text = await written(terminal, (logger) => logger.info({ probe: "p" }, "hello"), createLogger("info", terminal));
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  hello  probe=p\n$/);
  });

  it("writes JSON to a stream that is not", async () => {
    const pipe = new PassThrough();
    const text = await written(pipe, (logger) => logger.info({ probe: "p" }, "hello"), createLogger("info", pipe));
    expect(JSON.parse(text)).toMatchObject({ level: 30, app: "netcanary", probe: "p", msg: "hello" });
  });
});

describe("the compiled agent's logs on a pipe", () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    child = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function firstLine(extra: readonly string[]): Promise<string> {
    const endpoint = await acceptingEndpoint();
    try {
      dir = await mkdtemp(join(tmpdir(), "netcanary-log-"));
      const config = join(dir, "config.yaml");
      await writeFile(config, `sources: [{name: self, self: true}]\nprobes:\n  - {name: local, sources: [self], tcp: {ip: 127.0.0.1, port: ${endpoint.port}}}\n`);
      child = spawn(process.execPath, [cliPath, "agent", "--config", config, "--listen", "127.0.0.1:0", ...extra], {
        env: { ...process.env, KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      await waitFor(() => stdout.includes("\n"), 10_000, "the agent's first log line");
      return stdout.split("\n")[0] ?? "";
    } finally {
      await endpoint.close();
    }
  }

  it("is JSON, one object per line, by default", async () => {
    const entry = JSON.parse(await firstLine([])) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 30, app: "netcanary", cluster: "none" });
    expect(String(entry["msg"])).toContain("netcanary agent serving http://127.0.0.1:");
  });

  it("is text with --log-format text, even on a pipe", async () => {
    const line = await firstLine(["--log-format", "text"]);
    expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO  netcanary agent serving http:\/\/127\.0\.0\.1:\d+\/metrics and .*  config=\S+ cluster=none edges=1 listen=http:\/\/127\.0\.0\.1:\d+$/);
  });
});
