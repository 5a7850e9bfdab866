// The lab harness itself: isolation (no way out of the lab), the nft helpers on real
// packets, and a teardown that leaves nothing behind.
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWith } from "../support/prerequisites.js";
import { Lab, namespacesWithPrefix, runCommand } from "../support/lab.js";

const CONNECT = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const started = Date.now();
const socket = net.connect({ host, port: Number(port) });
const timer = setTimeout(() => { console.log("timeout " + (Date.now() - started)); process.exit(0); }, 500);
socket.on("connect", () => { console.log("ok"); socket.destroy(); clearTimeout(timer); });
socket.on("error", (error) => { console.log(error.code); clearTimeout(timer); });
`;

describeWith({ root: true, commands: ["ip", "nft"] }, "lab harness", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({
      pods: [
        { name: "a", ip: "10.213.0.2" },
        { name: "b", ip: "10.213.0.3", addresses: ["192.0.2.10"] },
        { name: "c", ip: "10.213.0.4", routes: [{ to: "192.0.2.0/24", via: "10.213.0.3" }], unreachable: ["203.0.113.0/25"] },
      ],
    });
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  const connect = async (from: string, host: string, port: number): Promise<string> =>
    (await lab.exec(lab.pod(from), [process.execPath, "-e", CONNECT, host, String(port)], { timeoutMs: 5000 })).stdout.trim();

  it("gives each pod only its lab subnet: no default route, other addresses are unreachable at once", async () => {
    const routes = await lab.exec(lab.pod("a"), ["ip", "route", "show"]);
    expect(routes.stdout).not.toMatch(/default/);
    expect(routes.stdout.trim().split("\n")).toEqual([expect.stringMatching(/^10\.213\.0\.0\/24 dev eth0 .*src 10\.213\.0\.2/)]);
    const outside = await lab.exec(lab.pod("a"), ["ip", "route", "get", "1.1.1.1"]);
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toMatch(/unreachable/i);
    // The bridge's namespace has no address and no route at all.
    const node = await lab.exec(lab.node, ["ip", "-4", "route", "show"]);
    expect(node.stdout.trim()).toBe("");
  });

  it("connects pods across the bridge, and routes to a pod's extra addresses", async () => {
    const listener = await lab.tcpListener(lab.pod("b"), "0.0.0.0", [8080]);
    expect(await connect("a", "10.213.0.3", 8080)).toBe("ok");
    expect(await connect("c", "192.0.2.10", 8080)).toBe("ok");
    expect(listener.output()).toMatch(/accepted 0\.0\.0\.0:8080 from 10\.213\.0\.2/);
    expect(listener.output()).toMatch(/accepted 0\.0\.0\.0:8080 from 10\.213\.0\.4/);
    // a has no route to the "Zscaler" address; c's unreachable route answers at once.
    expect(await connect("a", "192.0.2.10", 8080)).toBe("ENETUNREACH");
    expect(await connect("c", "203.0.113.9", 8080)).toBe("EHOSTUNREACH");
    await listener.stop();
    expect(listener.running).toBe(false);
  });

  it("drops and rejects a pod's packets in the network (nft on its bridge port), and clears the rules", async () => {
    const listener = await lab.tcpListener(lab.pod("b"), "10.213.0.3", [8080, 8081]);
    try {
      await lab.dropTo(lab.pod("a"), "10.213.0.3", 8080);
      await lab.rejectTo(lab.pod("a"), "10.213.0.3", 8081);
      expect(await connect("a", "10.213.0.3", 8080)).toMatch(/^timeout \d+$/);
      expect(await connect("a", "10.213.0.3", 8081)).toBe("ECONNREFUSED");
      // Another pod is not affected, and the counters prove the rules matched.
      expect(await connect("c", "10.213.0.3", 8080)).toBe("ok");
      expect(await lab.matchedPackets(lab.pod("a"))).toBeGreaterThanOrEqual(2);
      await lab.clearRules(lab.pod("a"));
      expect(await connect("a", "10.213.0.3", 8080)).toBe("ok");
      expect(await lab.matchedPackets(lab.pod("a"))).toBe(0);
    } finally {
      await lab.clearRules();
      await listener.stop();
    }
  });

  it("loads any ruleset into a pod's own namespace (where a drop is not silent for UDP)", async () => {
    const send = `
      const socket = require("node:dgram").createSocket("udp4");
      socket.send("x", 53, process.argv[1], (error) => { console.log(error ? error.code : "sent"); socket.close(); });`;
    const udp = async () => (await lab.exec(lab.pod("a"), [process.execPath, "-e", send, "10.213.0.3"], { timeoutMs: 5000 })).stdout.trim();
    try {
      await lab.ensureFilter(lab.pod("a"));
      await lab.ensureFilter(lab.pod("a"));
      await lab.nft(lab.pod("a"), "add rule inet filter output ip daddr 10.213.0.3 udp dport 53 drop\n");
      // The sender's own output hook fails the send at once (c-ares then reports
      // ECONNREFUSED): the reason dropTo() drops in the network instead.
      expect(await udp()).toBe("EPERM");
      await lab.dropTo(lab.pod("a"), "10.213.0.3", 53, "udp");
      await lab.exec(lab.pod("a"), ["nft", "flush", "table", "inet", "filter"]);
      expect(await udp()).toBe("sent");
      expect(await lab.matchedPackets(lab.pod("a"))).toBe(1);
    } finally {
      await lab.exec(lab.pod("a"), ["nft", "delete", "table", "inet", "filter"]);
      await lab.clearRules();
    }
  });

  it("tears down everything, idempotently, even with processes still running", async () => {
    const other = await Lab.create({ pods: [{ name: "x", ip: "10.213.0.2", nameservers: ["10.213.0.53"] }] });
    const sleeper = other.startProcess(other.pod("x"), "sleep", ["60"]);
    const resolv = await other.exec(other.pod("x"), ["cat", "/etc/resolv.conf"]);
    expect(resolv.stdout).toContain("nameserver 10.213.0.53");
    expect(await namespacesWithPrefix(`nc-${other.id}-`)).toHaveLength(2);
    await Promise.all([other.teardown(), other.teardown()]);
    await other.teardown();
    expect(sleeper.running).toBe(false);
    expect(await namespacesWithPrefix(`nc-${other.id}-`)).toEqual([]);
    expect((await runCommand(["ls", `/etc/netns/nc-${other.id}-x`])).code).not.toBe(0);
    expect((await runCommand(["ls", other.dir])).code).not.toBe(0);
  });
});
