// Secrets in a kubeconfig never reach the output: the compiled CLI (`once` and `agent`) with a
// kubeconfig whose server URL carries a user, a password and a query token (pointing at a
// closed loopback port), and with a kubeconfig that fails to parse next to a token. Neither the
// password, the query token nor the user's token appears in stdout, stderr or the logs; the
// server is still named, with its credentials hidden.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { truncateSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cliPath, runCli } from "../support/cli.js";
import { closedPort } from "../support/listeners.js";
import { waitFor } from "../support/wait.js";

const PASSWORD = "hunter2-PASSWORD-1f3a";
const QUERY_TOKEN = "QUERY-TOKEN-77c2";
const USER_TOKEN = "USER-TOKEN-9b1e";
const SECRETS = [PASSWORD, QUERY_TOKEN, USER_TOKEN];
/** Not the kubeconfig's: the cluster comes from --kubeconfig alone. */
const ENV = { KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "" };

let dir: string;
let port: number;
let child: ChildProcess | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "netcanary-kubeconfig-secrets-"));
  port = await closedPort();
});

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  child = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function files(): Promise<{ config: string; kubeconfig: string; broken: string }> {
  const config = join(dir, "config.yaml");
  await writeFile(config, "sources: [{name: self, self: true}]\nprobes: []\n");
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://admin:${PASSWORD}@127.0.0.1:${port}/?token=${QUERY_TOKEN}
    insecure-skip-tls-verify: true
users:
- name: u
  user: {token: ${USER_TOKEN}}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`,
  );
  // A quote left open on the token's line: the parser's own message quotes these lines.
  const broken = join(dir, "broken-kubeconfig");
  await writeFile(
    broken,
    `apiVersion: v1
kind: Config
users:
- name: u
  user:
    token: ${USER_TOKEN}
    client-key-data: "${PASSWORD}
  : : [
`,
  );
  return { config, kubeconfig, broken };
}

function expectNoSecrets(output: string): void {
  for (const secret of SECRETS) expect(output).not.toContain(secret);
}

describe("a kubeconfig whose server URL carries credentials", () => {
  it("once: the connection failures are logged with the server's credentials hidden", async () => {
    const { config, kubeconfig } = await files();
    const run = await runCli(["once", "--config", config, "--kubeconfig", kubeconfig, "--sync-timeout", "2", "--log-level", "debug"], { env: ENV, timeoutMs: 30_000 });
    const output = run.stdout + run.stderr;
    expectNoSecrets(output);
    // The failures are there, and still say which server.
    expect(output).toContain(`https://***@127.0.0.1:${port}/?token=***`);
    expect(output).toMatch(/lost namespaces \(/);
    expect(run.stderr).toContain("every policy verdict is unknown");
  });

  it("agent: the cluster it watches is logged as the server with its credentials hidden", async () => {
    const { config, kubeconfig } = await files();
    let output = "";
    child = spawn(process.execPath, [cliPath, "agent", "--config", config, "--kubeconfig", kubeconfig, "--listen", "127.0.0.1:0"], {
      env: { ...process.env, ...ENV },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(() => output.includes('"cluster":"api ') && output.includes("lost pods on node "), 15_000, "the start line and a lost resource").catch((error: Error) => {
      throw new Error(`${error.message}; output:\n${output.slice(-2000)}`);
    });
    const started = output.split("\n").find((line) => line.includes('"cluster":"api '));
    expect(JSON.parse(started as string)).toMatchObject({ cluster: `api https://***@127.0.0.1:${port}/?token=***` });
    expectNoSecrets(output);
  });
});

describe("a kubeconfig that does not parse", () => {
  it("once: names the file, the line and the column, quotes none of it, exits 2", async () => {
    const { config, broken } = await files();
    const run = await runCli(["once", "--config", config, "--kubeconfig", broken], { env: ENV, timeoutMs: 30_000 });
    expect(run.code).toBe(2);
    expectNoSecrets(run.stdout + run.stderr);
    expect(run.stderr.trim()).toMatch(new RegExp(`^${broken.replaceAll(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: cannot parse \\(line \\d+, column \\d+: [a-z][a-z ,'-]*\\)$`));
  });

  it("agent: the same one line, and no start", async () => {
    const { config, broken } = await files();
    const run = await runCli(["agent", "--config", config, "--kubeconfig", broken, "--listen", "127.0.0.1:0"], { env: ENV, timeoutMs: 30_000 });
    expect(run.code).toBe(2);
    expectNoSecrets(run.stdout + run.stderr);
    expect(run.stderr).toContain(`${broken}: cannot parse (line `);
    expect(run.stdout + run.stderr).not.toContain("serving");
  });
});

describe("a kubeconfig that is not a file to read", () => {
  it.each([
    ["a FIFO (reading it would wait for a writer for ever)", (path: string) => execFileSync("mkfifo", [path]), "a FIFO, not a regular file"],
    ["a huge file", (path: string) => truncateSync((writeFileSync(path, ""), path), 64 * 1024 * 1024), "64 MiB, over the limit of 4 MiB"],
  ])("once: %s is refused at once, naming the file, exit 2", async (_name, make, reason) => {
    const { config } = await files();
    const path = join(dir, "odd-kubeconfig");
    make(path);
    const run = await runCli(["once", "--config", config, "--kubeconfig", path], { env: ENV, timeoutMs: 10_000 });
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(`${path}: ${reason}`);
  });
});
