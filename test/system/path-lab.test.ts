// The path check in network namespaces, with a route that bypasses Zscaler. The workload
// ("client") reaches the check page ("page") through a "zscaler" namespace that forwards and
// masquerades its traffic, as a tunnel to a Zscaler node does: the page then sees the request
// come from the Zscaler node's address and says "via" (as the real page decides: by whether
// the request came from a Zscaler IP). The agent runs in the client's namespace and probes
// with its routes. Deleting the client's route through "zscaler" makes the same request go
// straight to the page: "not via", direct, and the unexpected_path signal after
// failureThreshold rounds; restoring the route clears it. The page's pod also serves the
// cloud's CENR feed, in which the zscaler node's address is "Lab City I".
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ResultEntry } from "../../agent/daemon/results.js";
import { cliPath } from "../support/cli.js";
import { Lab, LAB_COMMANDS, type LabProcess, mustRun, waitFor } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";

const PAGE_PORT = 8080;
const AGENT_PORT = 9714;

/** The check page (via when the request comes from the Zscaler node, else not via) and the CENR feed. */
const PAGE_SERVER = `
const http = require("node:http");
const [host, port, zscaler, cenr] = process.argv.slice(1);
http.createServer((request, response) => {
  if ((request.url || "").startsWith("/api/zscaler.net/cenr/json")) {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(cenr);
    return;
  }
  const from = (request.socket.remoteAddress || "").replace(/^::ffff:/, "");
  const headline = from === zscaler
    ? "<div>You are accessing the Internet via Zscaler Cloud: Lab City I in the zscaler.net cloud.</div>"
    : "<div>The request received from you didn't come from a Zscaler IP therefore you are not going through the Zscaler proxy service.</div>";
  response.writeHead(200, { "content-type": "text/html" });
  response.end("<html><body>" + headline + "<div>Your request is arriving at this server from the IP address " + from + "</div></body></html>");
}).listen(Number(port), host, () => process.stdout.write("listening\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "sysctl"] }, "the path check in the lab", () => {
  let lab: Lab;
  let agent: LabProcess;
  let at: { client: string; zscaler: string; page: string };

  async function results(): Promise<ResultEntry[]> {
    const answer = await lab.httpGet(lab.pod("client"), `http://${at.client}:${AGENT_PORT}/api/v1/results`);
    if (answer.status !== 200) return [];
    return (JSON.parse(answer.body) as { results: ResultEntry[] }).results;
  }

  /** /metrics once it matches every pattern: the exposition is rebuilt after a change, not at it. */
  async function metricsMatching(what: string, patterns: readonly RegExp[]): Promise<string> {
    return waitFor(
      what,
      async () => {
        const { body } = await lab.httpGet(lab.pod("client"), `http://${at.client}:${AGENT_PORT}/metrics`);
        return patterns.every((pattern) => pattern.test(body)) ? body : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
  }

  async function egress(what: string, check: (result: ResultEntry) => boolean): Promise<ResultEntry> {
    return waitFor(
      what,
      async () => {
        if (!agent.running) throw new Error(`the agent exited:\n${agent.output().slice(-3000)}`);
        const found = (await results()).find((result) => result.probe === "egress");
        return found !== undefined && check(found) ? found : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
  }

  beforeAll(async () => {
    lab = await Lab.create((addresses) => {
      const client = addresses.ip(10);
      const zscaler = addresses.ip(50);
      const page = addresses.ip(30);
      return {
        pods: [
          // The client's way to the page: through the Zscaler node (a tunnel's route).
          { name: "client", ip: client, routes: [{ to: `${page}/32`, via: zscaler }] },
          { name: "zscaler", ip: zscaler },
          { name: "page", ip: page },
        ],
      };
    });
    at = { client: lab.pod("client").ip, zscaler: lab.pod("zscaler").ip, page: lab.pod("page").ip };
    // The Zscaler node forwards and sends from its own address; no redirects around itself.
    for (const setting of ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0"]) {
      await mustRun(["ip", "netns", "exec", lab.pod("zscaler").netns, "sysctl", "-qw", setting]);
    }
    await mustRun(["ip", "netns", "exec", lab.pod("client").netns, "sysctl", "-qw", "net.ipv4.conf.all.accept_redirects=0"]);
    await lab.nft(lab.pod("zscaler"), `table ip tunnel {\n  chain out {\n    type nat hook postrouting priority 100;\n    ip saddr ${at.client} ip daddr ${at.page} masquerade\n  }\n}\n`);

    const cenr = JSON.stringify({ "zscaler.net": { "continent : EMEA": { "city : Lab City I": [{ range: `${at.zscaler}/32`, vpn: "", gre: "", ext: "", hostname: "", latitude: "52.37", longitude: "4.90" }] } }, svpnIPs: [] });
    const page = lab.startProcess(lab.pod("page"), process.execPath, ["-e", PAGE_SERVER, at.page, String(PAGE_PORT), at.zscaler, cenr], { name: "check page" });
    await page.waitForOutput(/^listening$/m);

    const config = join(lab.dir, "netcanary.yaml");
    writeFileSync(
      config,
      `defaults: {interval: 400ms, timeout: 300ms, failureThreshold: 2, successThreshold: 1}
zscaler: {clouds: [zscaler.net], baseUrl: "http://${at.page}:${PAGE_PORT}/api", feeds: [cenr], audit: false}
sources: [{name: self, self: true}]
probes:
  - {name: egress, sources: [self], http: {zscalerPath: {expect: via, page: "http://${at.page}:${PAGE_PORT}/"}}}
`,
    );
    agent = lab.startProcess(lab.pod("client"), process.execPath, [cliPath, "agent", "--config", config, "--listen", `${at.client}:${AGENT_PORT}`, "--log-level", "info"], {
      name: "netcanary agent",
      env: { NODE_NAME: "lab-node" },
    });
  }, 60_000);

  afterAll(async () => {
    await lab?.teardown();
  }, 30_000);

  it("a workload whose route bypasses the Zscaler node turns the path signal on; restoring the route clears it", async () => {
    // Through the tunnel: via, placed in the published city of the Zscaler node's address.
    const via = await egress("the via page through the Zscaler node", (r) => r.status === "ok" && r.path?.observed?.path === "via" && r.path.observed.city === "Lab City I");
    expect(via.path).toEqual({
      expect: "via",
      raised: false,
      observed: { path: "via", cloud: "zscaler.net", city: "Lab City I", dataCentre: "Lab City I", egressIp: at.zscaler, detail: `egress ${at.zscaler} in Lab City I (EMEA)` },
    });

    // The route bypasses the Zscaler node: the page sees the workload's own address.
    await mustRun(["ip", "-n", lab.pod("client").netns, "route", "del", `${at.page}/32`]);
    const direct = await egress("the unexpected_path signal", (r) => r.status === "unexpected_path");
    expect(direct.signals).toEqual(["unexpected_path"]);
    expect(direct.observed?.reason).toBe("ok");
    expect(direct.path).toEqual({ expect: "via", raised: true, observed: { path: "direct", cloud: "", city: "", egressIp: at.client, detail: `egress ${at.client}` } });
    await metricsMatching("the signal in /metrics", [
      /netcanary_probe_mismatch\{[^}]*probe="egress"[^}]*kind="unexpected_path"\} 1/,
      /netcanary_zscaler_path\{[^}]*expect="via",path="direct",cloud="",city=""\} 1/,
    ]);
    expect(agent.output()).toContain("edge egress from self: ok -> unexpected_path");

    // The route restored: via again, the signal cleared on the same edge.
    await mustRun(["ip", "-n", lab.pod("client").netns, "route", "add", `${at.page}/32`, "via", at.zscaler, "dev", "eth0"]);
    const restored = await egress("the signal cleared", (r) => r.status === "ok");
    expect(restored.id).toBe(direct.id);
    expect(restored.path).toMatchObject({ raised: false, observed: { path: "via", city: "Lab City I" } });
    expect(agent.output()).toContain("edge egress from self: unexpected_path -> ok");
    await metricsMatching("the signal cleared in /metrics", [/netcanary_probe_mismatch\{[^}]*probe="egress"[^}]*kind="unexpected_path"\} 0/]);
  }, 60_000);
});
