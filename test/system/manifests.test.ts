// The agent run as the rendered DaemonSet runs it, as near as a test machine gets without a
// cluster: the container's arguments and environment (downward API values filled in, plus the
// image's ENV from the Dockerfile), the ConfigMap's config file, the pod's user, capability
// bounding set and no_new_privs, a read-only root filesystem with tmpfs where the pod has
// emptyDirs, in a network namespace of its own (a lab pod: loopback and a lab address, no
// route anywhere). The liveness and readiness probes must answer on the declared port.
//
// And the reason pod mode runs as root: with the pod-mode capability set, nsenter enters
// another process's network namespace under no_new_privs; without either capability, or as
// a non-root user given the same capabilities the way Kubernetes gives them (bounding set,
// no ambient set), it cannot.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Lab, LAB_COMMANDS, type LabProcess, runCommand, waitFor } from "../support/lab.js";
import { describeWith } from "../support/prerequisites.js";
import { agentContainer, type Container, find, type KubeObject, parseYamlStream, podSpec, type PodSpec, repoRoot } from "../manifests/render.js";

const CLI = join(repoRoot, "dist", "cli", "main.js");

function kustomize(path: string): KubeObject[] {
  return parseYamlStream(execFileSync("kubectl", ["kustomize", join(repoRoot, "manifests", path)], { encoding: "utf8", timeout: 60_000 }));
}

/** ENV of the Dockerfile's final stage (NAME="value" or NAME=value, one per line). */
function imageEnv(): Record<string, string> {
  const text = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
  const final = text.slice(text.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  for (const match of final.matchAll(/^ENV (\w+)=(?:"([^"]*)"|(\S+))$/gm)) env[match[1] as string] = match[2] ?? match[3] ?? "";
  return env;
}

/** setpriv arguments for the container's user, capabilities and no_new_privs. */
function credentials(spec: PodSpec, container: Container): string[] {
  const pod = spec.securityContext ?? {};
  const own = container.securityContext ?? {};
  const uid = own.runAsUser ?? pod.runAsUser;
  const gid = own.runAsGroup ?? pod.runAsGroup;
  if (uid === undefined || gid === undefined) throw new Error("the test needs runAsUser and runAsGroup set");
  const dropsAll = own.capabilities?.drop?.includes("ALL") === true;
  if (!dropsAll) throw new Error("the test models containers that drop ALL capabilities");
  const added = (own.capabilities?.add ?? []).map((cap) => `+${cap.replace(/^CAP_/, "").toLowerCase()}`);
  return [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    `--bounding-set=-all${added.length > 0 ? `,${added.join(",")}` : ""}`,
    // Kubernetes runtimes clear the ambient set, and the inheritable set does not matter then.
    "--inh-caps=-all",
    ...(own.allowPrivilegeEscalation === false ? ["--no-new-privs"] : []),
  ];
}

const shellQuote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

interface Running {
  readonly process: LabProcess;
  readonly port: number;
  readonly container: Container;
  readonly dir: string;
  /** The CLI as the agent's command line names it (through the bind mount). */
  readonly cli: string;
}

/** Starts the agent in the lab pod "agent" as the rendered DaemonSet describes. */
function startAsDaemonSet(lab: Lab, objects: readonly KubeObject[]): Running {
  const spec = podSpec(objects);
  const container = agentContainer(spec);
  // Not under /tmp: the pod's /tmp is a tmpfs mounted over the machine's.
  const dir = mkdtempSync(join("/var/tmp", "netcanary-pod-"));
  chmodSync(dir, 0o755); // as a volume's directory is, for the pod's user
  // Container paths -> places here: ConfigMap volumes are their files, emptyDirs are tmpfs.
  const paths = new Map<string, string>();
  const tmpfs: Array<{ at: string; size: string }> = [];
  const configMaps: Array<{ here: string; name: string }> = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
    if (mount.mountPath === "/tmp") {
      tmpfs.push({ at: "/tmp", size: volume?.emptyDir?.sizeLimit ?? "16Mi" });
      continue;
    }
    const here = join(dir, mount.name);
    mkdirSync(here, { mode: 0o755 });
    paths.set(mount.mountPath, here);
    if (volume?.configMap) configMaps.push({ here, name: volume.configMap.name });
    else if (volume?.emptyDir) tmpfs.push({ at: here, size: volume.emptyDir.sizeLimit ?? "64Mi" });
    else throw new Error(`volume ${mount.name}: only configMap and emptyDir volumes are modelled`);
  }
  // The files as the ConfigMap holds them, container paths in them (cacheDir) mapped.
  const mapPaths = (text: string) => [...paths].reduce((out, [from, to]) => out.replaceAll(from, to), text);
  for (const { here, name } of configMaps) {
    const configMap = find(objects, "ConfigMap", name) as unknown as { data: Record<string, string> };
    for (const [file, text] of Object.entries(configMap.data)) writeFileSync(join(here, file), mapPaths(text), { mode: 0o644 });
  }
  const downward: Record<string, string> = { "metadata.namespace": "netcanary", "metadata.name": "netcanary-test", "status.podIP": lab.pod("agent").ip, "spec.nodeName": "lab-node" };
  const env = { ...imageEnv(), PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" } as Record<string, string>;
  for (const variable of container.env ?? []) {
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    env[variable.name] = variable.value ?? (field !== undefined ? (downward[field] ?? "") : "");
  }
  // The checkout (and the Node the Makefile keeps in it) may itself live under /tmp, which
  // the pod's tmpfs hides: reach it through a bind mount made before the tmpfs goes on, as
  // the image has the agent at /app.
  const app = join(dir, "app");
  mkdirSync(app, { mode: 0o755 });
  const viaApp = (path: string) => (path.startsWith(`${repoRoot}/`) ? join(app, path.slice(repoRoot.length + 1)) : path);
  const args = (container.args ?? []).map(mapPaths);
  const size = (limit: string) => `${Math.ceil(Number.parseInt(limit, 10) * (limit.endsWith("Gi") ? 1024 : 1))}m`;
  const script = [
    "set -e",
    `mount --bind ${shellQuote(repoRoot)} ${shellQuote(app)}`,
    // readOnlyRootFilesystem: every mount read-only but the kernel's and the lab's namespaces.
    `for mp in $(awk '{print $5}' /proc/self/mountinfo); do case "$mp" in /proc*|/sys*|/dev*|/run/netns*) ;; *) mount -o remount,bind,ro "$mp" 2>/dev/null || true ;; esac; done`,
    ...tmpfs.map((t) => `mount -t tmpfs -o mode=1777,size=${size(t.size)} tmpfs ${shellQuote(t.at)}`),
    `exec env -i ${Object.entries(env)
      .map(([k, v]) => shellQuote(`${k}=${v}`))
      .join(" ")} setpriv ${credentials(spec, container).join(" ")} ${shellQuote(viaApp(process.execPath))} ${shellQuote(viaApp(CLI))} ${args.map(shellQuote).join(" ")}`,
  ].join("\n");
  const started = lab.startProcess(lab.pod("agent"), "unshare", ["--mount", "--propagation", "private", "sh", "-c", script], { name: "netcanary agent", cwd: "/" });
  const port = container.ports?.find((p) => p.name === "metrics")?.containerPort ?? 0;
  return { process: started, port, container, dir, cli: viaApp(CLI) };
}

async function get(lab: Lab, port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await lab.httpGet(lab.pod("agent"), `http://${lab.pod("agent").ip}:${port}${path}`, 3000);
  return { status: response.status, body: response.body };
}

function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .filter((line) => line.includes(":"))
      .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]),
  );
}

const CAP_SYS_PTRACE = 19n;
const CAP_SYS_ADMIN = 21n;

describeWith({ root: true, commands: [...LAB_COMMANDS, "kubectl", "unshare", "setpriv", "nsenter"] }, "the agent as the DaemonSet runs it", () => {
  let lab: Lab;
  let holder: LabProcess;

  beforeAll(async () => {
    lab = await Lab.create((at) => ({ pods: [{ name: "agent", ip: at.ip(2) }, { name: "source", ip: at.ip(3) }] }));
    // A pod's process, as root with every capability (as a pause process or an app is to us).
    holder = lab.startProcess(lab.pod("source"), "sleep", ["600"], { name: "source pod" });
  }, 60_000);

  afterAll(async () => {
    await lab?.teardown();
  }, 30_000);

  it.each([
    ["variants/self-only", { uid: "65532", caps: 0n }],
    ["variants/pod-mode", { uid: "0", caps: (1n << CAP_SYS_ADMIN) | (1n << CAP_SYS_PTRACE) }],
  ] as const)(
    "%s: starts with its config, answers liveness and readiness, with the pod's credentials and a read-only root",
    async (path, expected) => {
      const running = startAsDaemonSet(lab, kustomize(path));
      try {
        const liveness = running.container.livenessProbe?.httpGet?.path as string;
        const readiness = running.container.readinessProbe?.httpGet?.path as string;
        await waitFor(
          "liveness",
          async () => {
            if (!running.process.running) throw new Error(`the agent exited:\n${running.process.output().slice(-4000)}`);
            return (await get(lab, running.port, liveness).catch(() => ({ status: 0 }))).status === 200 ? true : undefined;
          },
          { timeoutMs: 20_000, intervalMs: 200 },
        );
        await waitFor("readiness", async () => ((await get(lab, running.port, readiness)).status === 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
        const metrics = await get(lab, running.port, "/metrics");
        expect(metrics.body).toMatch(/^netcanary_config_last_reload_successful 1$/m);

        // The process is the agent, with the pod's credentials.
        const own = status(running.process.pid);
        expect(readFileSync(`/proc/${running.process.pid}/cmdline`, "utf8").split("\0")).toContain(running.cli);
        expect(own["Uid"]?.split(/\s+/)).toEqual([expected.uid, expected.uid, expected.uid, expected.uid]);
        expect(BigInt(`0x${own["CapEff"]}`)).toBe(expected.caps);
        expect(BigInt(`0x${own["CapBnd"]}`)).toBe(expected.caps);
        expect(own["NoNewPrivs"]).toBe("1");
        const root = readFileSync(`/proc/${running.process.pid}/mountinfo`, "utf8")
          .split("\n")
          .find((line) => line.split(" ")[4] === "/");
        expect(root?.split(" ")[5]?.split(",")).toContain("ro");
        // Nothing it needed to write was refused.
        expect(running.process.output()).not.toMatch(/EROFS|read-only file system|EACCES|permission denied/i);
      } finally {
        await running.process.stop(5000);
        rmSync(running.dir, { recursive: true, force: true });
      }
    },
    90_000,
  );

  it("pod mode's credentials enter another pod's network namespace; fewer, or a non-root user, cannot", async () => {
    const spec = podSpec(kustomize("variants/pod-mode"));
    const podMode = credentials(spec, agentContainer(spec));
    const target = `--net=/proc/${holder.pid}/ns/net`;
    // What the worker does: enter, then run a program inside (here: print the namespace's addresses).
    const enter = (creds: readonly string[]) => runCommand(["setpriv", ...creds, "nsenter", target, "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0"], { timeoutMs: 10_000 });

    const allowed = await enter(podMode);
    expect(allowed.stderr).toBe("");
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain(` ${lab.pod("source").ip}/`);
    expect(podMode).toContain("--no-new-privs");

    const withOnly = (cap: string) => podMode.map((arg) => (arg.startsWith("--bounding-set=") ? `--bounding-set=-all,+${cap}` : arg));
    const noPtrace = await enter(withOnly("sys_admin"));
    expect(noPtrace.code).not.toBe(0);
    expect(noPtrace.stderr).toMatch(/cannot open .*Permission denied/i);
    const noAdmin = await enter(withOnly("sys_ptrace"));
    expect(noAdmin.code).not.toBe(0);
    expect(noAdmin.stderr).toMatch(/Operation not permitted/i);
    // Non-root with the same capabilities added, as Kubernetes would run it: none effective.
    const nonRoot = podMode.map((arg) => (arg === "--reuid=0" ? "--reuid=65532" : arg === "--regid=0" ? "--regid=65532" : arg));
    expect(nonRoot).toContain("--reuid=65532");
    const asUser = await enter(nonRoot);
    expect(asUser.code).not.toBe(0);
    expect(asUser.stderr).toMatch(/Permission denied|Operation not permitted/i);
  }, 60_000);
});
