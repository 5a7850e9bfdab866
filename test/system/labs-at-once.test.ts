// Several labs on one machine at once (two test runs, a test run and `make demo`): each
// takes addresses no other lab holds, from a slot of the machine-wide registry. Two pod labs
// of the same layout run side by side and each agent finds and probes from its own pods
// (with the same addresses in both, the agent's scan of the machine's namespaces would find
// every pod IP twice); a slot is held while its owner lives, freed when it dies, and what a
// killed owner left is removed by the next one; a lab accepts no address but its own.
import { statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createNetnsLocator } from "../../agent/sources/netns.js";
import { labAddresses, type LabAddresses, SLOT_COUNT } from "../support/lab-addresses.js";
import { Lab, LAB_COMMANDS, type LabProcess, namespacesWithPrefix, startProcess } from "../support/lab.js";
import { PodLab } from "../support/pod-lab.js";
import { describeWith } from "../support/prerequisites.js";

const CLIENT = "deployment/client";
const inodeOf = (netnsPath: string): string => `net:[${statSync(netnsPath).ino}]`;
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("lab addresses", () => {
  it("gives every slot its own subnets and documentation blocks: no address is in two slots", () => {
    const seen = new Map<string, number>();
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      const at = labAddresses(slot);
      const blocks = [at.subnet, at.testNet1, at.testNet2, at.testNet3];
      for (const block of blocks) {
        for (let n = 0; n < block.size; n++) {
          const address = block.at(n);
          expect(seen.get(address), `${address} of slot ${slot}`).toBeUndefined();
          seen.set(address, slot);
          expect(at.owns(address)).toBe(true);
        }
      }
      expect(seen.get(at.subnet6)).toBeUndefined();
      seen.set(at.subnet6, slot);
      expect(at.owns(at.ip6(2))).toBe(true);
    }
    // Private space for pods, documentation ranges for the "outside" (RFC 1918, RFC 5737).
    expect(labAddresses(0).subnet.cidr).toBe("10.232.0.0/24");
    expect([labAddresses(3).testNet1.cidr, labAddresses(3).testNet2.cidr, labAddresses(3).testNet3.cidr]).toEqual(["192.0.2.24/29", "198.51.100.24/29", "203.0.113.24/29"]);
    expect(labAddresses(SLOT_COUNT - 1).testNet3.at(7)).toBe("203.0.113.255");
  });

  it("owns only its own addresses and prefixes", () => {
    const at = labAddresses(5);
    expect(at.owns(at.ip(9))).toBe(true);
    expect(at.owns(at.subnet.cidr)).toBe(true);
    expect(at.owns(at.testNet3.half(0).cidr)).toBe(true);
    expect(at.owns(labAddresses(6).ip(9))).toBe(false);
    expect(at.owns("192.0.2.0/24")).toBe(false); // wider than its block
    expect(at.owns("10.232.0.0/16")).toBe(false);
    expect(at.owns(labAddresses(6).ip6(2))).toBe(false);
    expect(at.owns("not an address")).toBe(false);
    expect(() => at.testNet1.at(8)).toThrow(/outside 192\.0\.2\.40\/29/);
    expect(() => labAddresses(SLOT_COUNT)).toThrow(/not in 0\.\.31/);
  });
});

describeWith({ root: true, commands: [...LAB_COMMANDS, "nft", "dnsmasq", "nsenter", "setpriv"] }, "labs at once", () => {
  const labs: { teardown(): Promise<void> }[] = [];
  const processes: LabProcess[] = [];

  afterAll(async () => {
    await Promise.all(processes.map((handle) => handle.stop()));
    await Promise.all(labs.map((lab) => lab.teardown()));
  }, 60_000);

  it("two pod labs of the same layout at once: each agent finds and probes from its own client pod", async () => {
    const [one, two] = await Promise.all([PodLab.create(), PodLab.create()]);
    labs.push(one, two);
    const [clientOne, clientTwo] = [one.lab.pod("client"), two.lab.pod("client")];
    expect(clientOne.ip).not.toBe(clientTwo.ip);

    // The machine-wide scan the agent does finds each client in its own lab's namespace.
    const locator = createNetnsLocator();
    for (const client of [clientOne, clientTwo]) {
      const found = await locator.find({ ip: client.ip, uid: client.uid });
      if (!found.ok) throw new Error(`${client.netns}: ${found.reason}`);
      expect(found.inode).toBe(inodeOf(client.netnsPath));
    }

    // Each agent probes from its own client: its web listener sees that client, never the other.
    for (const [pods, own, other] of [
      [one, clientOne, clientTwo],
      [two, clientTwo, clientOne],
    ] as const) {
      const web = await pods.waitForResult("web", CLIENT, "ok", (r) => r.status === "ok" && r.observed?.reason === "ok");
      expect(web.policy.verdict).toBe("allow");
      expect(pods.listeners.web.output()).toContain(`from ${own.ip}\n`);
      expect(pods.listeners.web.output()).not.toContain(`from ${other.ip}\n`);
    }
  }, 120_000);

  it("holds a slot while its owner lives, frees it when the owner is killed, and removes what the owner left", async () => {
    // Another process makes a lab with a pod held by a process, then is killed (SIGKILL: no
    // teardown, no exit hook); the pod's process lives on, as it would after a crash.
    const owner = startProcess("lab owner", [
      process.execPath,
      "--input-type=module",
      "-e",
      `const { Lab } = await import(${JSON.stringify(join(import.meta.dirname, "..", "support", "lab.ts"))});
const lab = await Lab.create((at) => ({ pods: [{ name: "x", ip: at.ip(2), nameservers: [at.ip(53)] }] }));
const pause = lab.startProcess(lab.pod("x"), "sleep", ["600"]);
console.log(JSON.stringify({ slot: lab.addresses.slot, id: lab.id, pause: pause.pid }));
process.stdin.resume();`,
    ]);
    processes.push(owner);
    const line = await owner.waitForOutput(/^\{.*\}$/m, 30_000);
    const left = JSON.parse(/^\{.*\}$/m.exec(line)?.[0] as string) as { slot: number; id: string; pause: number };
    const layout = (at: LabAddresses) => ({ pods: [{ name: "x", ip: at.ip(2) }] });

    await expect(Lab.create(layout, { slots: [left.slot], waitMs: 0 })).rejects.toThrow(new RegExp(`every lab slot asked for \\(${left.slot}\\) is taken.*"id":"${left.id}"`));

    process.kill(-owner.pid, "SIGKILL");
    await owner.exited;
    expect((await namespacesWithPrefix(`nc-${left.id}-`)).sort()).toEqual([`nc-${left.id}-node`, `nc-${left.id}-x`]);
    expect(alive(left.pause)).toBe(true);

    // The kernel dropped the dead owner's lock: the slot is free, and its leftovers go first.
    const next = await Lab.create(layout, { slots: [left.slot], waitMs: 10_000 });
    labs.push(next);
    expect(next.addresses.slot).toBe(left.slot);
    expect(next.id).not.toBe(left.id);
    expect(await namespacesWithPrefix(`nc-${left.id}-`)).toEqual([]);
    await expect.poll(() => alive(left.pause), { timeout: 5000 }).toBe(false);
    expect((await next.exec(next.pod("x"), ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])).stdout).toContain(` ${next.addresses.ip(2)}/24 `);
    await next.teardown();
    // Released on teardown: claimable at once.
    const again = await Lab.create(layout, { slots: [left.slot], waitMs: 0 });
    labs.push(again);
    await again.teardown();
  }, 90_000);

  it("refuses an address that is not its own, and frees its slot", async () => {
    const error = await Lab.create(() => ({ pods: [{ name: "x", ip: "10.213.0.2" }] })).catch((caught: unknown) => caught as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^lab pod "x": ip 10\.213\.0\.2 is not an address of the lab's slot (\d+) \(10\.232\.\1\.0\/24\): take it from the lab's addresses$/);
    const slot = Number(/slot (\d+)/.exec((error as Error).message)?.[1]);
    const after = await Lab.create((at) => ({ pods: [{ name: "x", ip: at.ip(2), routes: [{ to: at.testNet1.cidr, via: at.ip(3) }] }] }), { slots: [slot], waitMs: 10_000 });
    labs.push(after);
    await after.teardown();
    await expect(Lab.create((at) => ({ pods: [{ name: "x", ip: at.ip(2), routes: [{ to: "192.0.2.0/24", via: at.ip(3) }] }] }))).rejects.toThrow(/routes\.to 192\.0\.2\.0\/24 is not an address of the lab's slot/);
  }, 60_000);
});
