// make demo: the pod-mode lab with the agent running in it, for a person to watch.
// Builds network namespaces as pods (see test/support/pod-lab.ts), starts the agent against
// them, serves its endpoints on 127.0.0.1, then cycles through scenarios (packets dropped,
// rejected, a CNI that stops enforcing, DNS blocked, a policy change, pods coming and going)
// and prints what the agent reports for each. Ctrl-C tears everything down.
//
// Several demos (and test runs) may share the machine: the lab takes addresses no other lab
// holds, and the demo serves on DEFAULT_PORT, or on a free port when another process has it
// (DEMO_PORT set: that port, or fail).
//
// Needs root (namespaces, nftables) and ip, nft, dnsmasq, nsenter, setpriv.

import { execFileSync } from "node:child_process";
import { type AddressInfo, createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import { AGENT_PORT, INITIAL_STATE, type ClusterState, type LabResult, PodLab } from "../test/support/pod-lab.ts";

const DEFAULT_PORT = 9714;
/** undefined: DEFAULT_PORT if free, else any free port. */
const PORT = process.env["DEMO_PORT"] !== undefined && process.env["DEMO_PORT"] !== "" ? Number(process.env["DEMO_PORT"]) : undefined;
const STEP_MS = Number(process.env["DEMO_STEP_SECONDS"] ?? 15) * 1000;

function missing(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("root (network namespaces and nftables): run it as root");
  if (PORT !== undefined && !(Number.isInteger(PORT) && PORT >= 0 && PORT <= 65535)) problems.push(`a port number in DEMO_PORT (not "${process.env["DEMO_PORT"]}")`);
  for (const command of ["ip", "nft", "dnsmasq", "nsenter", "setpriv", "flock"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    } catch {
      problems.push(`the command ${command}`);
    }
  }
  return problems;
}

interface Scenario {
  readonly title: string;
  readonly expect: string;
  apply(lab: PodLab): Promise<void>;
}

const reset = async (lab: PodLab, state: Partial<ClusterState> = {}) => {
  await lab.lab.clearRules();
  await lab.setState({ ...INITIAL_STATE, ...state });
};

const SCENARIOS: readonly Scenario[] = [
  { title: "Everything as the policies say", expect: "every edge ok (db: denied by policy and dropped, which is ok)", apply: (lab) => reset(lab) },
  {
    title: "The network drops client -> web:8080, which policy allows",
    expect: "web: unexpected_block, reason timeout",
    apply: async (lab) => {
      await reset(lab);
      await lab.lab.dropTo(lab.lab.pod("client"), lab.addresses.web, 8080);
    },
  },
  {
    title: "The network rejects client -> web:8080",
    expect: "web: unexpected_block, reason refused",
    apply: async (lab) => {
      await reset(lab);
      await lab.lab.rejectTo(lab.lab.pod("client"), lab.addresses.web, 8080);
    },
  },
  { title: "The CNI stops enforcing NetworkPolicies", expect: "db: unexpected_allow (denied by policy, delivered)", apply: (lab) => reset(lab, { enforcing: false }) },
  {
    title: "DNS egress from the client is dropped",
    expect: "gateway-dns and zscaler-gateway: unexpected_block, reason dns_timeout",
    apply: async (lab) => {
      await reset(lab);
      await lab.lab.dropTo(lab.lab.pod("client"), lab.addresses.dns, 53, "udp");
    },
  },
  { title: "client-egress now allows db:5432 (and the CNI follows)", expect: "db: policy allow, observed ok", apply: (lab) => reset(lab, { dbAllowed: true }) },
  { title: "A labeled reporter pod starts on this node", expect: "new edges from deployment/reporter", apply: (lab) => reset(lab, { reporter: "running" }) },
  { title: "The reporter pod is being deleted", expect: "its edges and series go away", apply: (lab) => reset(lab, { reporter: "terminating" }) },
];

function table(results: readonly LabResult[]): string {
  const rows = results
    .map((r) => [r.sourceWorkload, r.probe, r.policy.verdict, r.observed?.reason ?? "-", r.status])
    .sort((a, b) => a.join(" ").localeCompare(b.join(" ")));
  const header = ["source workload", "probe", "policy", "observed", "status"];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]) => `  ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")}`;
  return [line(header), ...rows.map(line)].join("\n");
}

/**
 * The agent listens on its lab address, which only the lab's namespaces can reach. A relay
 * inside the agent pod listens on a Unix socket (a file, so any namespace can connect to
 * it), and this process forwards 127.0.0.1:PORT to that socket.
 */
async function serveLocally(lab: PodLab): Promise<Server> {
  const socket = join(lab.lab.dir, "agent.sock");
  const relay = lab.lab.startProcess(
    lab.lab.pod("agent"),
    process.execPath,
    [
      "-e",
      `const net = require("node:net");
const [path, host, port] = process.argv.slice(1);
net.createServer((client) => {
  const agent = net.connect(Number(port), host);
  client.pipe(agent).pipe(client);
  const close = () => { client.destroy(); agent.destroy(); };
  client.on("error", close); agent.on("error", close);
}).listen(path, () => process.stdout.write("listening\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();`,
      socket,
      lab.addresses.agent,
      String(AGENT_PORT),
    ],
    { name: "relay" },
  );
  await relay.waitForOutput(/^listening$/m);
  const server = createServer((client) => {
    const upstream = createConnection(socket);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  if (PORT !== undefined) {
    await listen(PORT);
    return server;
  }
  try {
    await listen(DEFAULT_PORT);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    console.log(`(127.0.0.1:${DEFAULT_PORT} is taken, another demo? serving on a free port instead)`);
    await listen(0);
  }
  return server;
}

async function main(): Promise<void> {
  const problems = missing();
  if (problems.length > 0) {
    console.error(`make demo needs ${problems.join(", ")}.`);
    process.exit(1);
  }
  console.log("Building the lab (network namespaces as pods, dnsmasq, nftables) and starting the agent...");
  const lab = await PodLab.create({ intervalMs: 2000, timeoutMs: 1000, failureThreshold: 2, logLevel: "warn" });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\nTearing the lab down...");
    server?.close();
    await lab.teardown();
    console.log("Done: every namespace, process and rule the demo made is gone.");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  let server: Server | undefined;
  try {
    server = await serveLocally(lab);
  } catch (error) {
    console.error(`cannot serve on 127.0.0.1:${PORT ?? DEFAULT_PORT} (${error instanceof Error ? error.message : String(error)}); set DEMO_PORT`);
    await stop(1);
    return;
  }
  const port = (server.address() as AddressInfo).port;
  console.log(`
The agent is probing from two labeled pods of namespace "shop" (client, reporter) in the lab.
Look at:
  http://127.0.0.1:${port}/api/v1/results   every edge: policy verdict, explanation, observation, status
  http://127.0.0.1:${port}/metrics          Prometheus metrics
  http://127.0.0.1:${port}/readyz
The lab's namespaces are nc-${lab.lab.id}-* (ip netns list; ip netns exec nc-${lab.lab.id}-client ...).
A new scenario every ${STEP_MS / 1000} s. Ctrl-C stops the demo and removes the lab.`);

  for (let round = 0; !stopping; round++) {
    const scenario = SCENARIOS[round % SCENARIOS.length] as Scenario;
    console.log(`\n=== ${scenario.title}\n    expect: ${scenario.expect}`);
    try {
      await scenario.apply(lab);
    } catch (error) {
      // Ctrl-C tears the lab down while this scenario may still be changing it, so its nft or
      // ip command can fail: that is the stop we asked for, not a failure; stop() finishes
      // the teardown and exits.
      if (stopping) break;
      throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, STEP_MS));
    if (stopping) break;
    try {
      console.log(table(await lab.results()));
    } catch (error) {
      console.log(`  (results unavailable: ${error instanceof Error ? error.message : String(error)})`);
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
