// Tenants who can run a labeled pod, trying to make the agent read, leak, crash or hang.
// Each "pod" is a network namespace whose process really runs chrooted into a root the
// tenant built (a copy of sleep and its libraries, and an /etc/resolv.conf of the tenant's
// choosing), as a container's process does; the agent runs in pod mode as the DaemonSet
// runs it (root with only CAP_SYS_ADMIN and CAP_SYS_PTRACE) and reads each pod's resolvers
// through /proc/<pid>/root. The tricks: an absolute symbolic link to a host file holding a
// private key, the pod's own /dev/zero device node, a FIFO, a 2 GiB file. Every pod's DNS
// probe must answer agent_error saying what was wrong, nothing of the host's file may appear
// anywhere the agent writes, its other probes must run, and the agent must stay responsive
// and stop when told. And an impostor: a namespace of another tenant that holds the "good"
// pod's IP (on its loopback) must neither blind the good pod's probes nor, while the good
// pod's processes are gone, receive them.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ResultEntry } from "../../agent/daemon/agent.js";
import { cliPath } from "../support/cli.js";
import { Lab, LAB_COMMANDS, type LabPod, type LabProcess, waitFor } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";

const PORT = 9714;
/** Pod addresses: host numbers in the lab's subnet (the lab picks the subnet). */
const HOSTS = { agent: 2, dns: 53, web: 20 } as const;
/** What the host's secret file holds: none of it may leave the agent. */
const SECRET_MARK = "netcanary-hostile-pod-secret";

/** The tenants: each pod's name and how its /etc/resolv.conf is made (path inside its root). */
const TENANTS: Record<string, { host: number; make: (resolvConf: string, hostSecret: string, dns: string) => void; expect: RegExp }> = {
  good: { host: 10, make: (path, _secret, dns) => writeFileSync(path, `nameserver ${dns}\noptions ndots:1\n`), expect: /^ok$/ },
  escape: { host: 11, make: (path, secret) => symlinkSync(secret, path), expect: /\/etc\/resolv\.conf in \/proc\/\d+\/root: no such file/ },
  devzero: { host: 12, make: (path) => execFileSync("mknod", [path, "c", "1", "5"]), expect: /a character device, not a regular file/ },
  fifo: { host: 13, make: (path) => execFileSync("mkfifo", [path]), expect: /a FIFO, not a regular file/ },
  huge: {
    host: 14,
    make: (path) => {
      writeFileSync(path, "");
      truncateSync(path, 2 * 1024 * 1024 * 1024);
    },
    expect: /2 GiB, over the limit of 64 KiB/,
  },
};

/** A root with `sleep` and the shared libraries it loads, as a minimal container image. */
function buildRoot(dir: string): void {
  const sleep = execFileSync("sh", ["-c", "command -v sleep"], { encoding: "utf8" }).trim();
  const libraries = execFileSync("ldd", [sleep], { encoding: "utf8" })
    .split("\n")
    .flatMap((line) => /(\/\S+) \(0x/.exec(line)?.slice(1, 2) ?? []);
  for (const file of [sleep, ...libraries]) {
    mkdirSync(join(dir, dirname(file)), { recursive: true });
    copyFileSync(file, join(dir, file));
    chmodSync(join(dir, file), 0o755);
  }
  mkdirSync(join(dir, "etc"), { recursive: true });
}

function manifests(agent: LabPod, pods: readonly LabPod[]): string {
  const pod = (name: string, namespace: string, { ip, uid }: LabPod, labels: Record<string, string>) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${namespace}, uid: ${uid}, labels: ${JSON.stringify(labels)}}
spec: {nodeName: lab-node, containers: [{name: main, image: tenant}]}
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;
  return [
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: tenant}\n",
    pod("netcanary-agent", "netcanary", agent, { app: "netcanary" }),
    ...pods.map((labPod) => pod(labPod.name, "tenant", labPod, { app: labPod.name, "netcanary.io/probe": "true" })),
  ].join("---\n");
}

const config = (webIp: string) => `defaults: {interval: 1s, timeout: 500ms, failureThreshold: 1, successThreshold: 1}
sources:
  - name: labeled
probes:
  - {name: web-dns, sources: [labeled], dns: {query: web.lab.test, server: cluster}}
  - {name: web-tcp, sources: [labeled], tcp: {ip: ${webIp}, port: 8080}}
`;

describeWith({ root: true, commands: [...LAB_COMMANDS, "nsenter", "setpriv", "dnsmasq", "chroot", "ldd", "mknod", "mkfifo"] }, "hostile labeled pods", () => {
  let lab: Lab;
  let agent: LabProcess;
  let secretPath: string;
  let goodPod: LabProcess;

  const get = (path: string) => lab.httpGet(lab.pod("agent"), `http://${lab.pod("agent").ip}:${PORT}${path}`, 5000);
  const results = async (): Promise<ResultEntry[]> => {
    const response = await get("/api/v1/results");
    if (response.status !== 200) throw new Error(`results: ${response.status} ${response.error ?? ""}`);
    return (JSON.parse(response.body) as { results: ResultEntry[] }).results;
  };

  beforeAll(async () => {
    lab = await Lab.create((addresses) => ({
      pods: [
        ...Object.entries(HOSTS).map(([name, host]) => ({ name, ip: addresses.ip(host) })),
        ...Object.entries(TENANTS).map(([name, tenant]) => ({ name, ip: addresses.ip(tenant.host) })),
        // Not a cluster pod of the manifests: its own cgroup, and the good pod's address on lo.
        { name: "impostor", ip: addresses.ip(30), addresses: [addresses.ip(TENANTS["good"]?.host ?? 0)] },
      ],
    }));
    // It must not answer ARP for the good pod's address on the bridge (that would be another attack).
    await lab.exec(lab.pod("impostor"), ["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"]);
    lab.startProcess(lab.pod("impostor"), "sleep", ["3600"], { name: "impostor pod" });
    const [agentIp, dnsIp, webIp] = [lab.pod("agent").ip, lab.pod("dns").ip, lab.pod("web").ip];
    await lab.dnsmasq(lab.pod("dns"), { listen: dnsIp, records: { "web.lab.test": webIp }, local: ["lab.test"] });
    await lab.tcpListener(lab.pod("web"), webIp, [8080]);
    // The host's secret: where an absolute link in a pod's root points, from the host's side.
    secretPath = join(lab.dir, "host-secret.key");
    writeFileSync(secretPath, `-----BEGIN PRIVATE KEY----- ${SECRET_MARK}\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC ${SECRET_MARK}\n`, { mode: 0o600 });
    for (const [name, tenant] of Object.entries(TENANTS)) {
      const root = join(lab.dir, `root-${name}`);
      buildRoot(root);
      tenant.make(join(root, "etc", "resolv.conf"), secretPath, dnsIp);
      const pod = lab.startProcess(lab.pod(name), "chroot", [root, execFileSync("sh", ["-c", "command -v sleep"], { encoding: "utf8" }).trim(), "3600"], { name: `${name} pod` });
      if (name === "good") goodPod = pod;
    }
    const clusterFile = join(lab.dir, "cluster.yaml");
    const configFile = join(lab.dir, "netcanary.yaml");
    writeFileSync(clusterFile, manifests(lab.pod("agent"), Object.keys(TENANTS).map((name) => lab.pod(name))));
    writeFileSync(configFile, config(webIp));
    agent = lab.startProcess(
      lab.pod("agent"),
      "setpriv",
      ["--no-new-privs", "--bounding-set=-all,+sys_admin,+sys_ptrace", "--inh-caps=-all", process.execPath, cliPath, "agent", "--config", configFile, "--manifests", clusterFile, "--listen", `${agentIp}:${PORT}`],
      { name: "netcanary agent", env: { NODE_NAME: "lab-node", POD_NAMESPACE: "netcanary", POD_NAME: "netcanary-agent", POD_IP: agentIp } },
    );
  }, 60_000);

  afterAll(async () => {
    await lab?.teardown();
  }, 30_000);

  it("answers every tenant's DNS probe with what was wrong, runs its other probes, and never reads the host's file", async () => {
    const expected = Object.keys(TENANTS).length;
    const settled = await waitFor(
      "every tenant's DNS and TCP edge observed",
      async () => {
        if (!agent.running) throw new Error(`the agent exited:\n${agent.output().slice(-4000)}`);
        const all = await results().catch(() => []);
        const observed = all.filter((result) => result.observed !== null && result.observed !== undefined);
        return observed.length === expected * 2 ? all : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const byPod = (probe: string, pod: string) => settled.find((result) => result.probe === probe && result.sourceWorkload === `pod/${pod}`);
    for (const [name, tenant] of Object.entries(TENANTS)) {
      const dns = byPod("web-dns", name);
      const observed = dns?.observed?.reason === "ok" ? "ok" : `${dns?.observed?.reason}: ${dns?.observed?.detail}`;
      expect(observed, `web-dns from ${name}`).toMatch(name === "good" ? /^ok$/ : new RegExp(`^agent_error: the pod's resolvers are unknown: .*${tenant.expect.source}`));
      expect(byPod("web-tcp", name)?.observed?.reason, `web-tcp from ${name}`).toBe("ok");
    }
    // Nothing of the secret anywhere the agent writes: results, metrics, its logs.
    const everything = [JSON.stringify(await results()), (await get("/metrics")).body, agent.output()].join("\n");
    expect(everything).not.toContain(SECRET_MARK);
    expect(everything).not.toContain("PRIVATE KEY");
  });

  it("never probes a pod's edges from the impostor's namespace, though it holds the pod's address", async () => {
    // The good pod's processes die (a restart): its namespace is gone with them.
    await goodPod.stop();
    const [after] = [Date.now()];
    const gone = await waitFor(
      "the good pod's edges observed after its processes died",
      async () => {
        const all = await results().catch(() => []);
        // Probes begun well after the processes died (a worker spawned just before may still
        // have found them and probed from the pod's own namespace: a genuine outcome).
        const begunAfter = (observed: { at: string; durationSeconds: number }) => Date.parse(observed.at) - observed.durationSeconds * 1000 > after + 2000;
        const edges = all.filter((result) => result.sourceWorkload === "pod/good" && result.observed !== null && result.observed !== undefined && begunAfter(result.observed));
        return edges.length === 2 ? edges : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    // agent_error saying the pod has no namespace now, never an outcome from the impostor's
    // (which has no route to web: a probe from there would read as a network fault). A probe
    // whose worker entered the pod's namespace just before its processes died finds them gone
    // there: that says so too, and is the same refusal, seen from inside.
    const noNamespace = `cannot enter the network namespace of tenant/good: no process of pod ${lab.pod("good").uid} `;
    const leftInside = "every process of the pod the agent found has left its network namespace";
    for (const edge of gone) {
      const seen = `${edge.observed?.reason}: ${edge.observed?.detail}`;
      expect(seen.startsWith(`agent_error: ${noNamespace}`) || (seen.startsWith("agent_error: ") && seen.endsWith(leftInside)), seen).toBe(true);
    }
  });

  it("stays responsive round after round, and stops at once when told", async () => {
    // Several more rounds with every trick in place: libuv's threads never block on a
    // tenant's file, so health checks answer and a reload would run.
    for (let i = 0; i < 5; i++) {
      expect((await get("/healthz")).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const stopped = Date.now();
    await agent.stop(10_000);
    expect(Date.now() - stopped).toBeLessThan(5000);
    expect(await agent.exited).toEqual({ code: 0, signal: null });
  });
});
