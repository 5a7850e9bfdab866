// The agent's module graph, as compiled, must not load what it never uses from Node itself.
// An ES module import of node:http reads every export of it, and three of them are getters
// that load Node's bundled undici (WebSocket and its events): about 3 MiB of the agent's
// resident memory (agent/runtime/http.ts). These run the compiled agent command's imports,
// and the Kubernetes client as live mode loads it, in a fresh process, and read what Node
// loaded.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as shim from "../../agent/runtime/http.js";
import { repoRoot } from "../support/cli.ts";
import { runCommand } from "../support/lab.ts";

async function undiciLoadedAfter(body: string): Promise<string[]> {
  const script = `${body}; console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes("undici/undici"))));`;
  const { code, stdout, stderr } = await runCommand([process.execPath, "--input-type=module", "-e", script], { timeoutMs: 30_000, cwd: repoRoot });
  expect(stderr).toBe("");
  expect(code).toBe(0);
  return JSON.parse(stdout.trim()) as string[];
}

describe("what the agent loads from Node", () => {
  it("the agent command's modules leave Node's bundled undici unloaded", async () => {
    const entry = join(repoRoot, "dist", "cli", "agent.js");
    expect(await undiciLoadedAfter(`await import(${JSON.stringify(entry)})`)).toEqual([]);
  });

  it("the Kubernetes client, loaded as live mode loads it, leaves it unloaded too, and is the slim load", async () => {
    const entry = join(repoRoot, "dist", "cluster", "kube-client.js");
    const body = `const client = await (await import(${JSON.stringify(entry)})).kubeClient(); if (!client.slim || typeof client.KubeConfig !== "function") throw new Error("not the slim client")`;
    expect(await undiciLoadedAfter(body)).toEqual([]);
  });

  it("node:http without its facade exports all that node:http does but the three getters that load undici", () => {
    const http = process.getBuiltinModule("node:http");
    const expected = Object.keys(http).filter((name) => !["WebSocket", "CloseEvent", "MessageEvent"].includes(name));
    expect(Object.keys(shim).filter((name) => name !== "default").sort()).toEqual(expected.sort());
    for (const name of expected) expect(shim[name as keyof typeof shim]).toBe(http[name as keyof typeof http]);
    expect(shim.default).toBe(http);
  });
});
