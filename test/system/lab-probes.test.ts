// `netcanary once` run inside a lab pod on real packets: nft drops give timeouts, nft
// rejects give refused, missing routes give unreachable, a real dnsmasq answers DNS; then
// the same run judged against NetworkPolicies from manifests that describe the lab.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cliPath } from "../support/cli.js";
import { Lab, LAB_COMMANDS, type LabProcess } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";

const TIMEOUT_MS = 600;
/** How far past its timeout a timed-out probe may report (timer and event-loop slack). */
const MARGIN_S = 0.25;

interface Result {
  probe: string;
  policy: { verdict: string; explanation: { summary: string; lines: string[]; egressRule: string } };
  observed: { reason: string; durationSeconds: number; address?: string; detail?: string } | null;
  signals: string[];
  status: string;
}

interface OnceRun {
  code: number | null;
  results: Result[];
  stderr: string;
  get(probe: string): Result;
}

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "dnsmasq"] }, "netcanary once in the lab", () => {
  let lab: Lab;
  let listeners: LabProcess[];
  let dnsmasq: LabProcess;
  let runs = 0;
  // The lab's addresses (its slot's): pods, and "outside" ones in its documentation blocks.
  let AGENT: string, WEB: string, BLOCKED: string, DNS: string;
  /** "Zscaler" gateway addresses, held by the zscaler pod, in the lab's "Zscaler" ranges. */
  let GATEWAY: string, GATEWAY_2: string, ZSCALER_RANGE: string;
  /** Inside the agent's unreachable route, and outside every route. */
  let UNREACHABLE: string, NO_ROUTE: string;

  beforeAll(async () => {
    lab = await Lab.create((at) => ({
      pods: [
        {
          name: "agent",
          ip: at.ip(2),
          // The "Zscaler" ranges are reached through the zscaler pod; the first half of the
          // third documentation block has an unreachable route; everything else (the second
          // half among it) has no route at all.
          routes: [
            { to: at.testNet1.cidr, via: at.ip(50) },
            { to: at.testNet2.cidr, via: at.ip(50) },
          ],
          unreachable: [at.testNet3.half(0).cidr],
          nameservers: [at.ip(53)],
        },
        { name: "web", ip: at.ip(20) },
        { name: "blocked", ip: at.ip(21) },
        { name: "zscaler", ip: at.ip(50), addresses: [at.testNet1.at(2), at.testNet2.at(2)] },
        { name: "dns", ip: at.ip(53) },
      ],
    }));
    [AGENT, WEB, BLOCKED, DNS] = [lab.pod("agent").ip, lab.pod("web").ip, lab.pod("blocked").ip, lab.pod("dns").ip];
    [GATEWAY, GATEWAY_2, ZSCALER_RANGE] = [lab.addresses.testNet1.at(2), lab.addresses.testNet2.at(2), lab.addresses.testNet1.cidr];
    [UNREACHABLE, NO_ROUTE] = [lab.addresses.testNet3.half(0).at(1), lab.addresses.testNet3.half(1).at(1)];
    listeners = await Promise.all([
      lab.tcpListener(lab.pod("web"), WEB, [8080]),
      lab.tcpListener(lab.pod("blocked"), BLOCKED, [8080]),
      lab.tcpListener(lab.pod("zscaler"), "0.0.0.0", [443, 9400]),
    ]);
    dnsmasq = await lab.dnsmasq(lab.pod("dns"), {
      listen: DNS,
      records: { "gateway.zscaler.lab.test": GATEWAY, "web.lab.test": WEB },
      local: ["lab.test"],
    });
  });

  afterEach(async () => {
    await lab?.clearRules(lab.pod("agent"));
  });

  afterAll(async () => {
    await lab?.teardown();
  });

  function config(probes: string, defaults = `{interval: 2s, timeout: ${TIMEOUT_MS}ms, failureThreshold: 1, successThreshold: 1}`): string {
    return `defaults: ${defaults}\nsources: [{name: self, self: true}]\nprobes:\n${probes}`;
  }

  /** netcanary once --output json, run inside the agent pod's namespace. */
  async function once(configText: string, options: { manifests?: string; env?: NodeJS.ProcessEnv } = {}): Promise<OnceRun> {
    const file = join(lab.dir, `config-${++runs}.yaml`);
    await writeFile(file, configText);
    const args = [cliPath, "once", "--config", file, "--output", "json", ...(options.manifests ? ["--manifests", options.manifests] : [])];
    const run = await lab.exec(lab.pod("agent"), [process.execPath, ...args], { env: { NODE_NAME: "lab-node", ...options.env }, timeoutMs: 20_000 });
    let results: Result[];
    try {
      results = (JSON.parse(run.stdout) as { results: Result[] }).results;
    } catch {
      throw new Error(`netcanary once exited ${run.code} without a JSON report\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
    }
    return {
      code: run.code,
      results,
      stderr: run.stderr,
      get(probe: string): Result {
        const found = results.find((r) => r.probe === probe);
        if (!found) throw new Error(`no result for probe ${probe}: ${JSON.stringify(results, null, 2)}`);
        return found;
      },
    };
  }

  const expectTimedOut = (result: Result, reason: "timeout" | "dns_timeout"): void => {
    expect(result.observed?.reason).toBe(reason);
    expect(result.observed?.durationSeconds).toBeGreaterThanOrEqual(TIMEOUT_MS / 1000 - 0.01);
    expect(result.observed?.durationSeconds).toBeLessThanOrEqual(TIMEOUT_MS / 1000 + MARGIN_S);
  };

  it("allowed and delivered: ok, exit 0, and the listeners saw the pod's own address", async () => {
    const run = await once(
      config(`  - {name: web, sources: [self], tcp: {ip: ${WEB}, port: 8080}}
  - {name: gateway, sources: [self], tcp: {host: gateway.zscaler.lab.test, port: 443}}
  - {name: gateway-2, sources: [self], tcp: {ip: ${GATEWAY_2}, port: 9400}}
`),
    );
    expect(run.stderr).toBe("");
    const summary = run.results.map((r) => [r.probe, r.observed?.reason, r.status, r.signals]);
    expect(summary.sort()).toEqual([
      ["gateway", "ok", "ok", []],
      ["gateway-2", "ok", "ok", []],
      ["web", "ok", "ok", []],
    ]);
    // The host name was resolved by the lab's dnsmasq through the pod's resolv.conf.
    expect(run.get("gateway").observed?.address).toBe(GATEWAY);
    expect(dnsmasq.output()).toContain(`query[A] gateway.zscaler.lab.test from ${AGENT}\n`);
    expect(listeners[0]?.output()).toContain(`accepted ${WEB}:8080 from ${AGENT}\n`);
    expect(listeners[2]?.output()).toContain(`accepted 0.0.0.0:443 from ${AGENT}\n`);
    expect(listeners[2]?.output()).toContain(`accepted 0.0.0.0:9400 from ${AGENT}\n`);
    expect(run.code).toBe(0);
  });

  it("dropped by nft: timeout within the configured timeout, unexpected_block, exit 1", async () => {
    await lab.dropTo(lab.pod("agent"), WEB, 8080);
    const run = await once(config(`  - {name: web, sources: [self], tcp: {ip: ${WEB}, port: 8080}}\n`));
    const web = run.get("web");
    expectTimedOut(web, "timeout");
    expect(web.observed?.address).toBe(WEB);
    expect(web.status).toBe("unexpected_block");
    expect(web.signals).toEqual(["unexpected_block"]);
    expect(await lab.matchedPackets(lab.pod("agent"))).toBeGreaterThan(0);
    expect(run.code).toBe(1);
  });

  it("rejected by nft with a TCP reset: refused at once, unexpected_block, exit 1", async () => {
    await lab.rejectTo(lab.pod("agent"), WEB, 8080);
    const run = await once(config(`  - {name: web, sources: [self], tcp: {ip: ${WEB}, port: 8080}}\n`));
    const web = run.get("web");
    expect(web.observed).toMatchObject({ reason: "refused", detail: "ECONNREFUSED", address: WEB });
    expect(web.observed?.durationSeconds).toBeLessThan(0.2);
    expect(web.status).toBe("unexpected_block");
    expect(run.code).toBe(1);
  });

  it("unreachable: no route gives net_unreachable, an unreachable route host_unreachable, a silent on-link address a timeout", async () => {
    // Linux decides at route lookup, before any packet leaves: connect() to an address no
    // route covers fails with ENETUNREACH ("Network is unreachable"); a route of type
    // unreachable fails it with EHOSTUNREACH. An address on the pod's own subnet that nobody
    // holds goes through ARP instead, which gives up (EHOSTUNREACH) only after about 3 s of
    // probes: longer than the probe's timeout, so that one is reported as a timeout.
    const run = await once(
      config(`  - {name: no-route, sources: [self], tcp: {ip: ${NO_ROUTE}, port: 443}}
  - {name: unreachable-route, sources: [self], tcp: {ip: ${UNREACHABLE}, port: 443}}
  - {name: on-link-nobody, sources: [self], tcp: {ip: ${lab.addresses.ip(99)}, port: 443}}
`),
    );
    expect(run.get("no-route").observed).toMatchObject({ reason: "net_unreachable", detail: "ENETUNREACH" });
    expect(run.get("unreachable-route").observed).toMatchObject({ reason: "host_unreachable", detail: "EHOSTUNREACH" });
    expect(run.get("no-route").observed?.durationSeconds).toBeLessThan(0.2);
    expect(run.get("unreachable-route").observed?.durationSeconds).toBeLessThan(0.2);
    expectTimedOut(run.get("on-link-nobody"), "timeout");
    expect(run.results.every((r) => r.status === "unexpected_block")).toBe(true);
    expect(run.code).toBe(1);
  });

  it("DNS through the lab's dnsmasq: answers, NXDOMAIN, NODATA, REFUSED outside its domain, unexpected answers", async () => {
    // dnsmasq 2.90 with --no-resolv has no upstream: a name outside its records and
    // --local domains is answered REFUSED (logged "config error is REFUSED (EDE: not
    // ready)"), not NXDOMAIN. Under --local=/lab.test/ an unknown name is NXDOMAIN, and a
    // --host-record name's other types are NODATA, as a cluster DNS answers for its zone.
    // (With --address=/name/ip instead, an AAAA query is NXDOMAIN under --local, and
    // REFUSED without it.)
    const run = await once(
      config(`  - {name: answer, sources: [self], dns: {query: gateway.zscaler.lab.test, server: "${DNS}", answersIn: [${ZSCALER_RANGE}]}}
  - {name: cluster-resolver, sources: [self], dns: {query: web.lab.test, server: cluster}}
  - {name: nxdomain, sources: [self], dns: {query: missing.lab.test, server: "${DNS}"}}
  - {name: nodata, sources: [self], dns: {query: web.lab.test, type: AAAA, server: "${DNS}"}}
  - {name: outside, sources: [self], dns: {query: unknown.example, server: "${DNS}"}}
  - {name: unexpected, sources: [self], dns: {query: web.lab.test, server: "${DNS}:53", answersIn: [${ZSCALER_RANGE}]}}
`),
    );
    const reasons = Object.fromEntries(run.results.map((r) => [r.probe, r.observed?.reason]));
    expect(reasons).toEqual({
      answer: "ok",
      "cluster-resolver": "ok",
      nxdomain: "dns_nxdomain",
      nodata: "dns_nodata",
      outside: "dns_refused",
      unexpected: "dns_unexpected_answer",
    });
    expect(run.get("unexpected").observed?.detail).toBe(`outside answersIn: ${WEB}`);
    expect(run.get("cluster-resolver").observed?.address).toBe(DNS);
    expect(dnsmasq.output()).toMatch(new RegExp(`query\\[A\\] unknown\\.example from ${AGENT.replaceAll(".", "\\.")}\n.*config error is REFUSED`));
    expect(run.get("answer").status).toBe("ok");
    // Without a NetworkPolicy every edge is expected to get through: a DNS error is a block.
    expect(run.get("nxdomain").status).toBe("unexpected_block");
    expect(run.code).toBe(1);
  });

  it("DNS egress dropped by nft: dns_timeout within the timeout", async () => {
    await lab.dropTo(lab.pod("agent"), DNS, 53, "udp");
    const run = await once(
      config(`  - {name: answer, sources: [self], dns: {query: gateway.zscaler.lab.test, server: "${DNS}"}}
  - {name: gateway, sources: [self], tcp: {host: gateway.zscaler.lab.test, port: 443}}
`),
    );
    expectTimedOut(run.get("answer"), "dns_timeout");
    // A TCP target whose name cannot be resolved fails in its resolve phase, with a dns_ reason.
    expectTimedOut(run.get("gateway"), "dns_timeout");
    expect(run.get("answer").status).toBe("unexpected_block");
    expect(await lab.matchedPackets(lab.pod("agent"))).toBeGreaterThanOrEqual(2);
    expect(run.code).toBe(1);
  });

  describe("judged against NetworkPolicies from manifests", () => {
    let manifests: string;
    // A function: the addresses exist once the lab does (beforeAll), not when this is collected.
    const probes = () => `  - {name: to-web, sources: [self], tcp: {ip: ${WEB}, port: 8080}}
  - {name: to-blocked, sources: [self], tcp: {ip: ${BLOCKED}, port: 8080}}
`;
    const asAgent = { POD_NAMESPACE: "lab", POD_NAME: "agent" };

    beforeAll(async () => {
      manifests = join(lab.dir, "cluster.yaml");
      const pod = (name: string, ip: string, labels: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: lab, labels: ${labels}}
spec:
  nodeName: lab-node
  containers: [{name: main, image: lab, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;
      await writeFile(
        manifests,
        [
          "apiVersion: v1\nkind: Namespace\nmetadata: {name: lab}\n",
          pod("agent", AGENT, "{app: netcanary}"),
          pod("web", WEB, "{app: web, role: allowed}"),
          pod("blocked", BLOCKED, "{app: blocked}"),
          `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agent-egress, namespace: lab}
spec:
  podSelector: {matchLabels: {app: netcanary}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {role: allowed}}}]
      ports: [{port: 8080, protocol: TCP}]
`,
        ].join("---\n"),
      );
    });

    it("a denied target that the network drops: expected deny, observed timeout, status ok, exit 0", async () => {
      await lab.dropTo(lab.pod("agent"), BLOCKED, 8080);
      const run = await once(config(probes()), { manifests, env: asAgent });
      expect(run.stderr).toBe("");
      const blocked = run.get("to-blocked");
      expect(blocked.policy.verdict).toBe("deny");
      expect(blocked.policy.explanation.summary).toMatch(/lab\/agent-egress/);
      expectTimedOut(blocked, "timeout");
      expect(blocked.status).toBe("ok");
      expect(blocked.signals).toEqual([]);
      const web = run.get("to-web");
      expect(web.policy.verdict).toBe("allow");
      expect(web.policy.explanation.egressRule).toMatch(/agent-egress/);
      expect([web.observed?.reason, web.status]).toEqual(["ok", "ok"]);
      expect(run.code).toBe(0);
    });

    it("a denied target the network rejects (as some CNIs do): refused is also a pass", async () => {
      await lab.rejectTo(lab.pod("agent"), BLOCKED, 8080);
      const run = await once(config(probes()), { manifests, env: asAgent });
      expect([run.get("to-blocked").observed?.reason, run.get("to-blocked").status]).toEqual(["refused", "ok"]);
      expect(run.code).toBe(0);
    });

    it("the same denied target NOT dropped: observed ok, unexpected_allow, exit 1", async () => {
      const run = await once(config(probes()), { manifests, env: asAgent });
      const blocked = run.get("to-blocked");
      expect(blocked.policy.verdict).toBe("deny");
      expect(blocked.observed?.reason).toBe("ok");
      expect(blocked.status).toBe("unexpected_allow");
      expect(blocked.signals).toEqual(["unexpected_allow"]);
      expect(run.get("to-web").status).toBe("ok");
      expect(listeners[1]?.output()).toContain(`accepted ${BLOCKED}:8080 from ${AGENT}\n`);
      expect(run.code).toBe(1);
    });
  });
});
