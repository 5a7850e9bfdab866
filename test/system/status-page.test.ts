// The status page in a real browser (Debian's Chromium, headless, driven by playwright-core;
// no browser is downloaded), served by a real agent process that probes real loopback
// listeners under a cluster given as manifests: its own pod (127.0.0.1) may reach two
// addresses and no other. One target answers (ok), one allowed target refuses (an unexpected
// block), one denied target answers (an unexpected allow). The page must load with no console
// error and nothing from another origin, colour those three cells as the legend says, open an
// explanation on a click and from the keyboard (Tab to a cell, Enter), follow the lab as it
// changes (the refusing target starts to answer; a bad config reload is shown with its file
// and line), and pass axe-core's checks (contrast included). Screenshots are kept under
// .cache/test-artifacts/ (ignored by git): the three edges with an explanation open, and the
// page after the changes.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { loadManifests } from "../../agent/cluster/manifests.js";
import { buildPolicyIndex } from "../../agent/policy/engine.js";
import { mergeFlowMaps, parseFlowMap } from "../../agent/traffic/map-file.js";
import { judgedFlowMap, type JudgedFlowMap } from "../../agent/traffic/report.js";
import { loadStagedPolicies } from "../../agent/traffic/staged-files.js";
import { cliPath, repoRoot } from "../support/cli.js";
import { AGENT_POD } from "../support/deny-cluster.js";
import { type LabProcess, startProcess } from "../support/lab.js";
import { acceptingEndpoint, closedPort, type Endpoint } from "../support/listeners.js";
import { describeWith } from "../support/prerequisites.js";

const CHROMIUM = "/usr/bin/chromium";
const AXE = join(repoRoot, "node_modules", "axe-core", "axe.min.js");
const ARTIFACTS = join(repoRoot, ".cache", "test-artifacts");

/** The agent's pod may reach OK and BLOCKED (any port), nothing else; DENIED is outside. */
const [OK, BLOCKED, DENIED] = ["127.0.0.61", "127.0.0.62", "127.0.0.63"];

const CLUSTER = `${AGENT_POD}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-to-two, namespace: ns}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: ${OK}/32}}, {ipBlock: {cidr: ${BLOCKED}/32}}]
`;

const config = (ports: { ok: number; blocked: number; denied: number }) => `traffic: {enabled: true, interval: 1s}
defaults: {interval: 300ms, timeout: 250ms, failureThreshold: 1, successThreshold: 1}
sources: [{name: self, self: true}]
probes:
  - {name: web, sources: [self], tcp: {ip: ${OK}, port: ${ports.ok}}}
  - {name: api, sources: [self], tcp: {ip: ${BLOCKED}, port: ${ports.blocked}}}
  - {name: admin, sources: [self], tcp: {ip: ${DENIED}, port: ${ports.denied}}}
`;

/** The legend's colours (agent/server/page.ts), as the browser computes them. */
const COLOURS = { ok: "rgb(26, 127, 55)", unexpected_block: "rgb(185, 28, 28)", unexpected_allow: "rgb(111, 66, 193)" } as const;

const cell = (target: string) => `button.cell[data-key='${JSON.stringify(["self", target])}']`;

interface AxeResult {
  readonly violations: readonly { id: string; impact: string | null; help: string; nodes: readonly { target: readonly string[] }[] }[];
  readonly passes: readonly { id: string }[];
}

function hasPlaywright(): boolean {
  return existsSync(join(repoRoot, "node_modules", "playwright-core", "package.json")) && existsSync(AXE);
}

describeWith({ commands: ["chromium"], found: { "playwright-core and axe-core in node_modules (npm ci)": hasPlaywright() } }, "the status page in Chromium", () => {
  let dir: string;
  let configFile: string;
  let agent: LabProcess | undefined;
  let origin: string;
  let browser: Browser | undefined;
  let page: Page;
  const endpoints: Endpoint[] = [];
  let lateListener: Server | undefined;
  let ports: { ok: number; blocked: number; denied: number };
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "netcanary-status-page-"));
    const [ok, denied] = await Promise.all([acceptingEndpoint(OK), acceptingEndpoint(DENIED)]);
    endpoints.push(ok, denied);
    ports = { ok: ok.port, blocked: await closedPort(BLOCKED), denied: denied.port };
    configFile = join(dir, "netcanary.yaml");
    await writeFile(configFile, config(ports));
    await writeFile(join(dir, "cluster.yaml"), CLUSTER);
    agent = startProcess("agent", [process.execPath, cliPath, "agent", "--config", configFile, "--manifests", join(dir, "cluster.yaml"), "--listen", "127.0.0.1:0", "--log-level", "info"], {
      env: { POD_NAMESPACE: "ns", POD_NAME: "agent", POD_IP: "127.0.0.1", NODE_NAME: "test" },
    });
    const output = await agent.waitForOutput(/serving (http:\/\/127\.0\.0\.1:\d+)\//, 15_000);
    origin = /serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(output)?.[1] as string;
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(`${message.text()} (${message.location().url})`);
    });
    page.on("pageerror", (error) => consoleErrors.push(`page error: ${error.message}`));
    page.on("request", (request) => {
      if (!request.url().startsWith(`${origin}/`)) foreignRequests.push(request.url());
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
    await new Promise<void>((resolve) => (lateListener ? lateListener.close(() => resolve()) : resolve()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("loads with no console error and nothing from elsewhere, and colours an ok, an unexpected block and an unexpected allow edge as the legend says", async () => {
    await page.goto(`${origin}/`);
    await page.waitForFunction(
      ([ok, blocked, denied]) =>
        [
          [ok, "ok"],
          [blocked, "unexpected_block"],
          [denied, "unexpected_allow"],
        ].every(([target, status]) => document.querySelector(`button.cell[data-key='${JSON.stringify(["self", target])}']`)?.getAttribute("data-status") === status),
      [OK, BLOCKED, DENIED],
      { timeout: 15_000 },
    );
    const seen = async (target: string) =>
      page.$eval(cell(target), (button) => ({ colour: getComputedStyle(button).backgroundColor, text: button.textContent ?? "" }));
    expect(await seen(OK)).toEqual({ colour: COLOURS.ok, text: expect.stringMatching(/^ok/) });
    expect(await seen(BLOCKED)).toEqual({ colour: COLOURS.unexpected_block, text: "unexpected block refused" });
    expect(await seen(DENIED)).toEqual({ colour: COLOURS.unexpected_allow, text: "unexpected allow ok" });
    // The legend shows the same colours by name.
    const legend = await page.$$eval("#legend li", (items) => Object.fromEntries(items.map((item) => [item.textContent, getComputedStyle(item).backgroundColor])));
    expect(legend).toMatchObject({ ok: COLOURS.ok, "unexpected block": COLOURS.unexpected_block, "unexpected allow": COLOURS.unexpected_allow });
    expect(await page.textContent("#summary")).toMatch(/^Node test: 3 edges \(1 unexpected block, 1 unexpected allow, 1 ok\)/);
    // What the verdicts rest on: the config file, and the agent's health.
    expect(await page.textContent("#state")).toContain(`${configFile}; last applied`);
    expect(await page.textContent("#state")).toMatch(/Event-loop delay \d+ ms now/);
    expect(consoleErrors).toEqual([]);
    expect(foreignRequests).toEqual([]);
  }, 30_000);

  it("a click opens the explanation: the policy that admits or isolates each side, the last observations with reasons and durations, and since when", async () => {
    await page.click(cell(BLOCKED));
    await page.waitForSelector("#detail:not([hidden]) article.edge ul.lines li");
    expect(await page.textContent("#detail-title")).toBe(`self to ${BLOCKED}`);
    const detail = (await page.textContent("#detail-body")) ?? "";
    expect(detail).toContain(`api (port ${ports.blocked}, ip)`);
    expect(detail).toMatch(/unexpected block since \d+ s ago \(\d{4}-\d\d-\d\dT/);
    expect(detail).toContain("egress of ns/agent: allowed by ns/egress-to-two spec.egress[0]");
    expect(detail).toContain("Policy: allow; judged against policy.");
    const observations = await page.$$eval("#detail-body table tr", (rows) => rows.slice(1).map((row) => [...row.querySelectorAll("td")].map((td) => td.textContent)));
    expect(observations.length).toBeGreaterThanOrEqual(1);
    for (const [at, reason, duration] of observations) {
      expect(at).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
      expect(reason).toBe("refused");
      expect(duration).toMatch(/^\d+\.\d ms$/);
    }
    // The denied target: isolated, and no rule admits it.
    await page.click(cell(DENIED));
    await page.waitForFunction((title) => document.querySelector("#detail-title")?.textContent === title, `self to ${DENIED}`);
    await page.waitForSelector("#detail-body ul.lines li");
    expect(await page.textContent("#detail-body")).toContain("egress of ns/agent: denied (isolated by ns/egress-to-two; no rule admits this peer and port)");
    expect(await page.getAttribute(cell(DENIED), "aria-pressed")).toBe("true");
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "status-page.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
  }, 30_000);

  it("from the keyboard: Tab reaches a cell, Enter opens its explanation", async () => {
    await page.goto(`${origin}/`);
    await page.waitForSelector(cell(OK));
    let focused: string | null = null;
    for (let presses = 0; presses < 30 && focused === null; presses++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => (document.activeElement instanceof HTMLButtonElement ? (document.activeElement.dataset["key"] ?? null) : null));
    }
    expect(focused).not.toBeNull();
    const [, target] = JSON.parse(focused as string) as [string, string];
    await page.keyboard.press("Enter");
    await page.waitForFunction((title) => document.querySelector("#detail-title")?.textContent === title, `self to ${target}`);
    expect(await page.isVisible("#detail")).toBe(true);
    // Focus moved to the explanation, for a screen reader to read on.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("detail-title");
  }, 30_000);

  it("passes axe-core's accessibility checks, contrast included", async () => {
    await page.click(cell(BLOCKED));
    await page.waitForSelector("#detail-body ul.lines li");
    // Evaluated through the browser's debugging protocol: the page's own policy admits no injected script.
    await page.evaluate(readFileSync(AXE, "utf8"));
    const result = (await page.evaluate(() =>
      (window as unknown as { axe: { run(context: Document, options: unknown): Promise<unknown> } }).axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
      }),
    )) as AxeResult;
    expect(result.violations.map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`)).toEqual([]);
    // The checks ran on this page: contrast among them.
    expect(result.passes.map((pass) => pass.id)).toEqual(expect.arrayContaining(["color-contrast", "button-name", "th-has-data-cells"]));
  }, 30_000);

  it("follows the lab: a refusing target that starts to answer turns its cell green, and a refused config reload shows its file and line", async () => {
    await page.goto(`${origin}/`);
    await page.waitForSelector(`${cell(BLOCKED)}[data-status='unexpected_block']`);
    lateListener = createServer((socket) => socket.end());
    await new Promise<void>((resolve, reject) => {
      lateListener?.once("error", reject);
      lateListener?.listen(ports.blocked, BLOCKED, () => resolve());
    });
    await page.waitForSelector(`${cell(BLOCKED)}[data-status='ok']`, { timeout: 15_000 });
    expect(await page.$eval(cell(BLOCKED), (button) => getComputedStyle(button).backgroundColor)).toBe(COLOURS.ok);
    // A config that names a source that does not exist: refused, the last good one keeps running.
    await writeFile(configFile, `${config(ports)}  - {name: stray, sources: [nobody], tcp: {ip: ${OK}, port: 1}}\n`);
    await page.waitForFunction(() => document.querySelector("#state")?.textContent?.includes("The last reload was refused"), undefined, { timeout: 15_000 });
    const state = (await page.textContent("#state")) ?? "";
    expect(state).toMatch(new RegExp(`${configFile.replaceAll(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:8 probes\\[3\\]\\.sources\\[0\\]: `));
    expect(await page.$$eval("button.cell", (buttons) => buttons.length)).toBe(3);
    await page.click(cell(DENIED));
    await page.waitForSelector("#detail-body ul.lines li");
    await page.screenshot({ path: join(ARTIFACTS, "status-page-after-changes.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
    expect(foreignRequests).toEqual([]);
  }, 40_000);

  it("draws the traffic map the agent serves: empty as this agent observes no pod, then each flow's verdict and staged would-deny as the judged map gives them", async () => {
    await page.goto(`${origin}/`);
    // The real agent: traffic mapping on, no pod of its node selected, so no flow (the section shows, saying so).
    await page.waitForFunction(() => document.querySelector("#flows")?.hasAttribute("hidden") === false, undefined, { timeout: 15_000 });
    expect(await page.textContent("#flows-body")).toBe("No flows observed yet.");
    // A judged map from recorded ones (the bundled example's two nodes), made by the agent's own code, served in its place.
    const judged = await exampleJudgedMap();
    await page.route(`${origin}/api/v1/flows?judged`, (route) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(judged) }));
    await page.waitForSelector("#flows-body tr.flow", { timeout: 15_000 });
    const rows = await page.$$eval("#flows-body tr.flow", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")));
    expect(rows.length).toBe(judged.flows.length);
    expect(await page.$$eval("#flows-body th", (ths) => ths.map((th) => th.textContent))).toEqual(["direction", "local", "peer", "port", "verdict", "staged: would deny"]);
    expect(rows).toContainEqual(["inbound", "shop/deployment/api", "payments/statefulset/ledger", "8080/TCP", "deny, seen: not enforced", "-"]);
    const wouldDeny = judged.flows.filter((flow) => (flow.wouldDeny ?? []).length > 0);
    expect(wouldDeny.length).toBeGreaterThan(0);
    for (const flow of wouldDeny) expect(rows.map((row) => row[5])).toContain((flow.wouldDeny ?? []).join(", "));
    await page.unroute(`${origin}/api/v1/flows?judged`);
    expect(consoleErrors).toEqual([]);
  }, 40_000);
});

/** The bundled example map, judged against its policies in force and staged ones as the agent judges its own. */
async function exampleJudgedMap(): Promise<JudgedFlowMap> {
  const examples = join(repoRoot, "examples", "traffic");
  const reads = ["shop-node-a.json", "shop-node-b.json"].map((name) => parseFlowMap(readFileSync(join(examples, name), "utf8"), join(examples, name)));
  const inForce = await loadManifests([join(examples, "in-force")]);
  const staged = await loadStagedPolicies([join(examples, "staged")]);
  const maps = reads.flatMap((read) => (read.ok ? [read.map] : []));
  if (maps.length !== reads.length || inForce.errors.length > 0 || !staged.ok) throw new Error("the bundled traffic example does not load");
  return judgedFlowMap(buildPolicyIndex(inForce.snapshot), mergeFlowMaps(maps), { directory: join(examples, "staged"), policies: staged.policies, errors: [], errorCount: 0 }).document;
}
