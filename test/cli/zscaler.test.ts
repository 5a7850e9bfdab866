// netcanary zscaler, run as a user would (the compiled CLI), against a local stand-in for
// config.zscaler.com that serves the real fixture payloads at the real paths.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseCidr } from "../../agent/addresses/ip.js";
import { SMALLEST_ZIA_ALLOWLIST, zscalerAllowlist } from "../../agent/zscaler/allowlist.js";
import { hashRanges } from "../../agent/zscaler/policy.js";
import { CLI_CASE_TIMEOUT_MS, type CliRun, cliCasesTimeoutMs, runCli, runCliCases } from "../support/cli.js";
import { type ForwardProxy, fixturePayload, startForwardProxy, ZSCALER_PATHS, ZscalerServer } from "../support/zscaler-server.js";
import { cenrCities, cenrPayload, realFeeds, rebuildCenr, shuffled } from "../zscaler/helpers.js";

// No proxy from the test runner's environment: "" disables a variable (lowercase wins).
const DIRECT = { http_proxy: "", https_proxy: "", HTTP_PROXY: "", HTTPS_PROXY: "", no_proxy: "", NO_PROXY: "" };

let server: ZscalerServer;
let dir: string;
beforeAll(async () => {
  server = await ZscalerServer.start();
  dir = await mkdtemp(join(tmpdir(), "netcanary-zscaler-"));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  server.reset();
  server.clearRequests();
  for (const path of Object.values(ZSCALER_PATHS)) server.setPayload(path, fixturePayload(path));
});

function zscaler(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(["zscaler", ...args], { env: { ...DIRECT, ...env }, timeoutMs: CLI_CASE_TIMEOUT_MS });
}

const cloud = (base = server.baseUrl) => ["--cloud", "zscaler.net", "--base-url", base];
const forWeb = (base = server.baseUrl) => [...cloud(base), "--namespace", "shop", "--pod-selector", "app=web"];

/** Invocations with a bad or missing option, and what each must say (with exit 2 and the usage). */
function badOptions(base: string): [string[], RegExp][] {
  return [
    [[], /a subcommand is required/],
    [["frobnicate"], /unknown subcommand "frobnicate"/],
    [["ranges"], /--cloud is required/],
    [["ranges", "--cloud", "not a cloud"], /--cloud must be a Zscaler cloud name/],
    [["ranges", ...cloud(base), "--feeds", "future,zpa"], /unknown feed "zpa"/],
    [["ranges", ...cloud(base), "--output", "yaml"], /--output must be text or json/],
    [["ranges", ...cloud(base), "--timeout", "soon"], /--timeout must be a duration/],
    [["ranges", "--cloud", "zscaler.net", "--base-url", "ftp://example.test/"], /--base-url must be an http or https URL/],
    [["policy", ...cloud(base), "--pod-selector", "app=web"], /--namespace is required/],
    [["policy", ...cloud(base), "--namespace", "shop"], /--pod-selector must name at least one label/],
    [["policy", ...cloud(base), "--namespace", "shop", "--pod-selector", "app"], /expected key=value, got "app"/],
    [["policy", ...cloud(base), "--namespace", "shop", "--pod-selector", "app=not valid"], /label value "not valid" is invalid/],
    [["policy", ...forWeb(base), "--ports", "443,99999"], /--ports: 99999 is not a valid port/],
    [["policy", ...forWeb(base), "--name", "Bad_Name"], /--name: "Bad_Name" is not a valid object name/],
    [["policy", ...forWeb(base), "--check", "x.yaml", "--no-dns"], /do not go with --check/],
    [["policy", ...forWeb(base), "--frobnicate"], /unknown option --frobnicate\n/],
  ];
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

function expectedAllowlist(): string[] {
  const result = zscalerAllowlist(realFeeds(), SMALLEST_ZIA_ALLOWLIST);
  if (!result.ok) throw new Error(result.reason);
  return [...result.value.cidrs];
}

function hashOf(cidrs: readonly string[]): string {
  return hashRanges(cidrs.map((text) => {
    const parsed = parseCidr(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.value;
  }));
}

describe("netcanary zscaler: help and usage", () => {
  it("is listed in the overview and documents its subcommands", async () => {
    const overview = await runCli(["--help"]);
    expect(overview.stdout).toMatch(/\n {2}zscaler\s+\S/);
    const help = await runCli(["zscaler", "--help"]);
    expect(help.code).toBe(0);
    for (const text of ["zscaler ranges --cloud", "zscaler policy --cloud", "--check <file|dir>", "--pod-selector", "--no-dns", "--timeout", "HTTPS_PROXY", "Exit status"]) {
      expect(help.stdout).toContain(text);
    }
  });

  it("refuses bad or missing options with exit 2 and the usage", async () => {
    const cases = badOptions(server.baseUrl);
    const runs = await runCliCases(cases, ([args]) => zscaler(args));
    cases.forEach(([args, message], index) => {
      const run = runs[index] as CliRun;
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr, args.join(" ")).toMatch(message);
      expect(run.stderr, args.join(" ")).toContain("Usage:");
    });
  }, cliCasesTimeoutMs(badOptions("").length));

  it("refuses a --timeout outside 1s to 5m (a longer one would overflow the request's timers)", async () => {
    const run = await zscaler(["ranges", ...cloud(), "--timeout", "1000h"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--timeout must be a duration from 1s to 5m such as 15s, got "1000h"');
  });
});

describe("netcanary zscaler ranges", () => {
  it("prints the collapsed ranges of future + hubs-recommended, one per line, with a summary on stderr", async () => {
    const run = await zscaler(["ranges", ...cloud()]);
    expect(run.code).toBe(0);
    const expected = expectedAllowlist();
    expect(run.stdout).toBe(`${expected.join("\n")}\n`);
    expect(run.stderr).toBe(`zscaler.net: 60 ranges (57 IPv4, 3 IPv6) from future, hubs-recommended; ${hashOf(expected)}\n`);
    expect(server.requests().map((r) => r.path).sort()).toEqual([ZSCALER_PATHS.future, ZSCALER_PATHS["hubs-recommended"]].sort());
  });

  it("prints one JSON document with --output json", async () => {
    const run = await zscaler(["ranges", ...cloud(), "--output", "json"]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as { cloud: string; feeds: string[]; hash: string; ranges: string[]; ipv4: number; ipv6: number };
    const expected = expectedAllowlist();
    expect(doc).toEqual({ cloud: "zscaler.net", feeds: ["future", "hubs-recommended"], hash: hashOf(expected), ranges: expected, ipv4: 57, ipv6: 3 });
  });

  it("takes other feeds, in any order, and adding CENR, svpn and required to the smallest list changes nothing", async () => {
    const all = await zscaler(["ranges", ...cloud(), "--feeds", "svpn,cenr,hubs-required,hubs-recommended,future", "--output", "json"]);
    expect(all.code).toBe(0);
    const doc = JSON.parse(all.stdout) as { feeds: string[]; ranges: string[] };
    expect(doc.feeds).toEqual(["future", "hubs-recommended", "hubs-required", "cenr", "svpn"]);
    expect(doc.ranges).toEqual(expectedAllowlist());
  });

  it("honours HTTP_PROXY / HTTPS_PROXY (here http_proxy, for an http base URL)", async () => {
    const proxy: ForwardProxy = await startForwardProxy();
    try {
      const run = await zscaler(["ranges", ...cloud()], { http_proxy: proxy.url });
      expect(run.code).toBe(0);
      expect(proxy.targets.sort()).toEqual([`${server.baseUrl}/zscaler.net/future/json`, `${server.baseUrl}/zscaler.net/hubs/cidr/json/recommended`].sort());
      // NO_PROXY excludes the host: a direct connection.
      const direct = await zscaler(["ranges", ...cloud()], { http_proxy: proxy.url, no_proxy: "127.0.0.1" });
      expect(direct.code).toBe(0);
      expect(proxy.targets).toHaveLength(2);
    } finally {
      await proxy.close();
    }
  });

  it("exits 2 with a clear message when the base URL is unreachable", async () => {
    const closed = await ZscalerServer.start();
    const base = closed.baseUrl;
    await closed.close();
    const run = await zscaler(["ranges", "--cloud", "zscaler.net", "--base-url", base, "--timeout", "2s"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(`netcanary zscaler: cannot fetch the future feed of zscaler.net from ${base}/zscaler.net/future/json:`);
    expect(run.stderr).toMatch(/ECONNREFUSED/);
  });

  it("exits 2 when a feed answers with an HTML page", async () => {
    server.control(ZSCALER_PATHS["hubs-recommended"], { html: true });
    const run = await zscaler(["ranges", ...cloud()]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("the hubs-recommended feed of zscaler.net");
    expect(run.stderr).toContain("is refused (not_json): got an HTML page titled \"Sign in to continue\"");
  });
});

describe("netcanary zscaler policy", () => {
  it("prints a NetworkPolicy whose YAML is byte-identical across runs and reordered payloads", async () => {
    const first = await zscaler(["policy", ...forWeb()]);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe("");
    const expected = expectedAllowlist();
    expect(first.stdout).toContain("# cloud: zscaler.net\n# feeds: future, hubs-recommended\n");
    expect(first.stdout).toContain(`generated from ${hashOf(expected)}`);
    expect(first.stdout).toContain("  name: allow-zscaler-zscaler-net\n  namespace: shop\n");
    for (const range of expected) expect(first.stdout).toContain(`            cidr: ${range}\n`);
    for (const port of [80, 443, 9400, 9480, 9443]) expect(first.stdout).toContain(`        - protocol: TCP\n          port: ${port}\n`);
    expect(first.stdout).toContain("k8s-app: kube-dns");

    const second = await zscaler(["policy", ...forWeb()]);
    expect(second.stdout).toBe(first.stdout);

    // The feeds reorder their rows between fetches (and repeat some): the YAML must not change.
    const future = JSON.parse(fixturePayload(ZSCALER_PATHS.future)) as { cloudName: string; prefixes: string[] };
    server.setPayload(ZSCALER_PATHS.future, JSON.stringify({ ...future, prefixes: [...shuffled(future.prefixes, 42), ...future.prefixes.slice(0, 5)] }));
    const hubs = JSON.parse(fixturePayload(ZSCALER_PATHS["hubs-recommended"])) as { hubPrefixes: string[] };
    server.setPayload(ZSCALER_PATHS["hubs-recommended"], JSON.stringify({ ...hubs, hubPrefixes: shuffled(hubs.hubPrefixes, 7) }, null, 2));
    const reordered = await zscaler(["policy", ...forWeb(), "--feeds", "hubs-recommended,future"]);
    expect(reordered.code).toBe(0);
    expect(reordered.stdout).toBe(first.stdout);
  });

  it("takes --ports, --name and --no-dns", async () => {
    const run = await zscaler(["policy", ...forWeb(), "--pod-selector", "tier=front", "--ports", "443,9400", "--name", "zscaler-egress", "--no-dns"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("  name: zscaler-egress\n");
    expect(run.stdout).toContain("    matchLabels:\n      app: web\n      tier: front\n");
    expect(run.stdout).not.toContain("kube-dns");
    expect(run.stdout).not.toContain("port: 80\n");
    expect(run.stdout).toContain("port: 9400\n");
  });

  it("exits 2 when a feed cannot be fetched", async () => {
    server.control(ZSCALER_PATHS.future, { status: 404 });
    const run = await zscaler(["policy", ...forWeb()]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/cannot fetch the future feed of zscaler\.net from http:\/\/127\.0\.0\.1:\d+\/api\/zscaler\.net\/future\/json: HTTP 404/);
  });
});

describe("netcanary zscaler policy --check", () => {
  const manifests = (policies: string) => `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
${policies}`;

  const defaultDeny = `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
`;

  it("exits 0 when the generated policy is in the manifests", async () => {
    const generated = await zscaler(["policy", ...forWeb()]);
    expect(generated.code).toBe(0);
    const path = await file("generated.yaml", `${manifests(defaultDeny)}---\n${generated.stdout}`);
    const run = await zscaler(["policy", ...forWeb(), "--check", path]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("ok: all 110 ranges of zscaler.net (future, hubs-recommended) are allowed on TCP 80, 443, 9400, 9443, 9480 for pods app=web in namespace shop\n");
    // The generated policy covers CENR's ranges and svpnIPs as well.
    const cenr = await zscaler(["policy", ...forWeb(), "--feeds", "cenr,svpn", "--check", path]);
    expect(cenr.code).toBe(0);
  });

  it("exits 0 when no policy isolates the pods", async () => {
    const path = await file("open.yaml", manifests(""));
    const run = await zscaler(["policy", ...forWeb(), "--check", path]);
    expect(run.code).toBe(0);
  });

  it("exits 1 naming the ranges that are not allowed, and on which ports", async () => {
    const partial = `${defaultDeny}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-zscaler, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [165.225.8.0/23]}}, {ipBlock: {cidr: "::/0"}}]
      ports: [{port: 443}, {port: 9400}]
    - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
      ports: [{port: 9480}]
`;
    const path = await file("partial.yaml", manifests(partial));
    const run = await zscaler(["policy", ...forWeb(), "--ports", "443,9400,9480", "--check", path]);
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^FAIL: \d+ of 110 ranges of zscaler\.net \(future, hubs-recommended\) are not allowed on every port for pods app=web in namespace shop:$/);
    // The hole in 165.225.0.0/17 on 443 and 9400; every IPv6 range on 9480.
    expect(lines).toContain("  165.225.0.0/17       future,hubs-recommended  denied on TCP 443, 9400");
    expect(run.stdout).toMatch(/\n {2}2400:7aa0::\/32 +future +denied on TCP 9480\n/);
    expect(run.stdout).toMatch(/\n {2}2a03:eec0:322e::\/48 +hubs-recommended +denied on TCP 9480\n/);
    expect(run.stdout).not.toMatch(/136\.226\.0\.0\/16/);
    expect(lines.at(-1)).toMatch(/^addresses denied, per port: 443: 1 block\(s\); 9400: 1 block\(s\); 9480: \d+ block\(s\)$/);
  });

  it("exits 1 when a default deny has no rule for Zscaler", async () => {
    const path = await file("deny.yaml", manifests(defaultDeny));
    const run = await zscaler(["policy", ...forWeb(), "--check", path]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL: 110 of 110 ranges/);
  });

  it("exits 2 for unusable manifests, an unreachable base URL, and an HTML payload", async () => {
    const broken = await file("broken.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec:\n  podSelector: {}\n  egress: [{ports: [{port: 80, endPort: 70}]}]\n");
    const bad = await zscaler(["policy", ...forWeb(), "--check", broken]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("broken.yaml:6:");
    expect(bad.stderr).toContain("endPort: must be greater than or equal to port (70 < 80)");
    expect(bad.stderr).toContain("the manifests are unusable");

    const missing = await zscaler(["policy", ...forWeb(), "--check", join(dir, "no-such-dir")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read (no such file)");

    const good = await file("good.yaml", manifests(defaultDeny));
    const closed = await ZscalerServer.start();
    const base = closed.baseUrl;
    await closed.close();
    const unreachable = await zscaler(["policy", "--cloud", "zscaler.net", "--base-url", base, "--namespace", "shop", "--pod-selector", "app=web", "--check", good]);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stdout).toBe("");
    expect(unreachable.stderr).toContain(`cannot fetch the future feed of zscaler.net from ${base}/zscaler.net/future/json`);

    server.control(ZSCALER_PATHS.future, { html: true });
    const html = await zscaler(["policy", ...forWeb(), "--check", good]);
    expect(html.code).toBe(2);
    expect(html.stdout).toBe("");
    expect(html.stderr).toContain("the future feed of zscaler.net");
    expect(html.stderr).toContain("(not_json): got an HTML page");
  });

  it("refuses a CENR payload for another cloud with exit 2", async () => {
    const payload = cenrPayload();
    const other = rebuildCenr({ svpnIPs: payload["svpnIPs"] }, cenrCities(payload), "zscalertwo.net");
    server.setPayload(ZSCALER_PATHS.cenr, JSON.stringify(other));
    const good = await file("good2.yaml", manifests(""));
    const run = await zscaler(["policy", ...forWeb(), "--feeds", "cenr", "--check", good]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("the cenr feed of zscaler.net");
    expect(run.stderr).toMatch(/refused \((wrong_cloud|wrong_shape)\)/);
  });
});
