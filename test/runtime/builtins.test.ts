// The agent's module graph, as compiled, must not load what it never uses from Node itself.
// An ES module import of node:http reads every export of it, and three of them are getters
// that load Node's bundled undici (WebSocket and its events): about 3 MiB of the agent's
// resident memory at start, more in a bare process (agent/runtime/http.ts). This runs the
// compiled agent command's imports in a fresh process and reads what Node loaded.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.ts";
import { runCommand } from "../support/lab.ts";

describe("what the agent loads from Node", () => {
  it("the agent command's modules leave Node's bundled undici unloaded", async () => {
    const entry = join(repoRoot, "dist", "cli", "agent.js");
    const script = `await import(${JSON.stringify(entry)}); console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes("undici"))));`;
    const { code, stdout, stderr } = await runCommand([process.execPath, "--input-type=module", "-e", script], { timeoutMs: 30_000 });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout.trim())).toEqual([]);
  });
});
