// make demo's script: refuses without root, and as root builds the lab, serves the agent's
// endpoints on 127.0.0.1, runs its scenarios and removes everything on Ctrl-C.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, expect, it } from "vitest";
import { repoRoot } from "../support/cli.js";
import { LAB_COMMANDS, type LabProcess, runCommand, startProcess } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";

const DEMO = join(repoRoot, "scripts", "demo.ts");

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "dnsmasq", "nsenter", "setpriv", "unshare", "mount"] }, "make demo", () => {
  let demo: LabProcess | undefined;

  afterEach(async () => {
    await demo?.stop(20_000);
  }, 30_000);

  it("refuses clearly when not root", async () => {
    // As nobody, who may not be allowed into the directory the checkout lives in (a clone
    // under a private directory): in a mount namespace of this command alone, the checkout
    // is bind-mounted onto a fresh world-readable directory, and nobody runs the demo (and
    // Node, when it lives in the checkout) from there. Nothing changes outside.
    const view = mkdtempSync(join(tmpdir(), "nc-demo-view-"));
    try {
      chmodSync(view, 0o755);
      const inView = (path: string) => (path.startsWith(`${repoRoot}/`) ? join(view, relative(repoRoot, path)) : path);
      const script = 'mount --bind "$1" "$2" && shift 2 && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"';
      const run = await runCommand(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", repoRoot, view, inView(process.execPath), inView(DEMO)], {
        timeoutMs: 20_000,
        cwd: "/",
      });
      expect(run.stderr).toMatch(/^make demo needs root \(network namespaces and nftables\): run it as root/);
      expect(run.stdout).toBe("");
      expect(run.code).toBe(1);
    } finally {
      rmdirSync(view);
    }
  });

  it("builds the lab, serves the agent on 127.0.0.1, shows the scenarios, and tears everything down on Ctrl-C", async () => {
    const handle = startProcess("demo", [process.execPath, DEMO], { env: { DEMO_PORT: "0", DEMO_STEP_SECONDS: "2" } });
    demo = handle;
    const banner = await handle.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/api\/v1\/results[\s\S]*nc-[0-9a-f]{6}-\*/, 60_000);
    const port = Number(/http:\/\/127\.0\.0\.1:(\d+)\/api/.exec(banner)?.[1]);
    const id = /nc-([0-9a-f]{6})-\*/.exec(banner)?.[1] as string;
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).toContain(`nc-${id}-client`);

    const response = await fetch(`http://127.0.0.1:${port}/api/v1/results`, { signal: AbortSignal.timeout(5000) });
    const { results } = (await response.json()) as { results: { sourceWorkload: string; probe: string }[] };
    expect(results.filter((r) => r.sourceWorkload === "deployment/client").map((r) => r.probe).sort()).toEqual(["db", "gateway-dns", "web", "zscaler-gateway"]);
    // The first scenario's table, then the next scenario starts.
    await handle.waitForOutput(/deployment\/client\s+web\s+allow\s+ok\s+ok[\s\S]*=== The network drops client -> web:8080/, 30_000);

    process.kill(-handle.pid, "SIGINT");
    const exit = await Promise.race([handle.exited, new Promise((resolve) => setTimeout(() => resolve("still running"), 20_000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(handle.output()).toContain("Done: every namespace, process and rule the demo made is gone.");
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(`nc-${id}-`);
    await expect(fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  }, 120_000);
});
