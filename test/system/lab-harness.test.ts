// The lab harness itself: isolation (no way out of the lab), the nft helpers on real
// packets, and a teardown that leaves nothing behind.
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWith } from "../support/prerequisites.js";
import { Lab, LAB_COMMANDS, namespacesWithPrefix, runCommand } from "../support/lab.js";

const CONNECT = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const started = Date.now();
const socket = net.connect({ host, port: Number(port) });
const timer = setTimeout(() => { console.log("timeout " + (Date.now() - started)); process.exit(0); }, 500);
socket.on("connect", () => { console.log("ok"); socket.destroy(); clearTimeout(timer); });
socket.on("error", (error) => { console.log(error.code); clearTimeout(timer); });
`;

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft"] }, "lab harness", () => {
  let lab: Lab;
  /** The lab's addresses: pods a, b, c; b's extra "outside" address; c's unreachable prefix. */
  let A: string, B: string, C: string, OUTSIDE: string, UNREACHABLE: string;

  beforeAll(async () => {
    lab = await Lab.create((at) => ({
      pods: [
        { name: "a", ip: at.ip(2) },
        { name: "b", ip: at.ip(3), addresses: [at.testNet1.at(2)] },
        { name: "c", ip: at.ip(4), routes: [{ to: at.testNet1.cidr, via: at.ip(3) }], unreachable: [at.testNet3.half(0).cidr] },
      ],
    }));
    [A, B, C] = [lab.pod("a").ip, lab.pod("b").ip, lab.pod("c").ip];
    OUTSIDE = lab.addresses.testNet1.at(2);
    UNREACHABLE = lab.addresses.testNet3.half(0).at(1);
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  const connect = async (from: string, host: string, port: number): Promise<string> =>
    (await lab.exec(lab.pod(from), [process.execPath, "-e", CONNECT, host, String(port)], { timeoutMs: 5000 })).stdout.trim();

  it("gives each pod only its lab subnet: no default route, other addresses are unreachable at once", async () => {
    const routes = await lab.exec(lab.pod("a"), ["ip", "route", "show"]);
    expect(routes.stdout).not.toMatch(/default/);
    const subnet = lab.addresses.subnet.cidr;
    expect(routes.stdout.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^${subnet.replaceAll(".", "\\.")} dev eth0 .*src ${A.replaceAll(".", "\\.")}$`))]);
    const outside = await lab.exec(lab.pod("a"), ["ip", "route", "get", "1.1.1.1"]);
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toMatch(/unreachable/i);
    // The bridge's namespace has no address and no route at all.
    const node = await lab.exec(lab.node, ["ip", "-4", "route", "show"]);
    expect(node.stdout.trim()).toBe("");
  });

  it("connects pods across the bridge, and routes to a pod's extra addresses", async () => {
    const listener = await lab.tcpListener(lab.pod("b"), "0.0.0.0", [8080]);
    expect(await connect("a", B, 8080)).toBe("ok");
    expect(await connect("c", OUTSIDE, 8080)).toBe("ok");
    expect(listener.output()).toContain(`accepted 0.0.0.0:8080 from ${A}\n`);
    expect(listener.output()).toContain(`accepted 0.0.0.0:8080 from ${C}\n`);
    // a has no route to the "Zscaler" address; c's unreachable route answers at once.
    expect(await connect("a", OUTSIDE, 8080)).toBe("ENETUNREACH");
    expect(await connect("c", UNREACHABLE, 8080)).toBe("EHOSTUNREACH");
    await listener.stop();
    expect(listener.running).toBe(false);
  });

  it("drops and rejects a pod's packets in the network (nft on its bridge port), and clears the rules", async () => {
    const listener = await lab.tcpListener(lab.pod("b"), B, [8080, 8081]);
    try {
      await lab.dropTo(lab.pod("a"), B, 8080);
      await lab.rejectTo(lab.pod("a"), B, 8081);
      expect(await connect("a", B, 8080)).toMatch(/^timeout \d+$/);
      expect(await connect("a", B, 8081)).toBe("ECONNREFUSED");
      // Another pod is not affected, and the counters prove the rules matched.
      expect(await connect("c", B, 8080)).toBe("ok");
      expect(await lab.matchedPackets(lab.pod("a"))).toBeGreaterThanOrEqual(2);
      await lab.clearRules(lab.pod("a"));
      expect(await connect("a", B, 8080)).toBe("ok");
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
    const udp = async () => (await lab.exec(lab.pod("a"), [process.execPath, "-e", send, B], { timeoutMs: 5000 })).stdout.trim();
    try {
      await lab.ensureFilter(lab.pod("a"));
      await lab.ensureFilter(lab.pod("a"));
      await lab.nft(lab.pod("a"), `add rule inet filter output ip daddr ${B} udp dport 53 drop\n`);
      // The sender's own output hook fails the send at once (c-ares then reports
      // ECONNREFUSED): the reason dropTo() drops in the network instead.
      expect(await udp()).toBe("EPERM");
      await lab.dropTo(lab.pod("a"), B, 53, "udp");
      await lab.exec(lab.pod("a"), ["nft", "flush", "table", "inet", "filter"]);
      expect(await udp()).toBe("sent");
      expect(await lab.matchedPackets(lab.pod("a"))).toBe(1);
    } finally {
      await lab.exec(lab.pod("a"), ["nft", "delete", "table", "inet", "filter"]);
      await lab.clearRules();
    }
  });

  it("tears down everything, idempotently, even with processes still running", async () => {
    const other = await Lab.create((at) => ({ pods: [{ name: "x", ip: at.ip(2), nameservers: [at.ip(53)] }] }));
    const sleeper = other.startProcess(other.pod("x"), "sleep", ["60"]);
    const resolv = await other.exec(other.pod("x"), ["cat", "/etc/resolv.conf"]);
    expect(resolv.stdout).toContain(`nameserver ${other.addresses.ip(53)}\n`);
    expect(await namespacesWithPrefix(`nc-${other.id}-`)).toHaveLength(2);
    await Promise.all([other.teardown(), other.teardown()]);
    await other.teardown();
    expect(sleeper.running).toBe(false);
    expect(await namespacesWithPrefix(`nc-${other.id}-`)).toEqual([]);
    expect((await runCommand(["ls", `/etc/netns/nc-${other.id}-x`])).code).not.toBe(0);
    expect((await runCommand(["ls", other.dir])).code).not.toBe(0);
  });
});
