// The source echo and the source-address test on real loopback sockets: the echo writes the
// peer's address and port and nothing else, whatever is sent to it, and caps its connections;
// the asking side bounds what it reads and how long it waits; the judgement names preserved,
// rewritten (to the node asked or another address) and failed; the built agent serves the
// result at /api/v1/inbound and as netcanary_inbound_source_echo. (The rewriting itself, by a
// NodePort's masquerade, is shown in namespaces: test/system/inbound-lab.test.ts.)

import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { parseIp } from "../../agent/addresses/ip.js";
import { sourceEchoOptions } from "../../agent/cli/agent.js";
import { chooseEchoTargets, type EchoTarget, judgeEcho, parseEchoTarget } from "../../agent/inbound/source-check.js";
import { askEcho, ECHO_MAX_CONNECTIONS, parseEcho, type SourceEcho, startSourceEcho } from "../../agent/inbound/source-echo.js";
import { cliPath, runCli } from "../support/cli.js";
import { type LabProcess, startProcess, waitFor } from "../support/lab.js";

let echo: SourceEcho | undefined;
let other: Server | undefined;
let agent: LabProcess | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await echo?.close();
  await new Promise<void>((resolve) => (other ? other.close(() => resolve()) : resolve()));
  await agent?.stop();
  echo = undefined;
  other = undefined;
  agent = undefined;
});

/** A server on loopback that does `handle` with each connection. */
async function serve(handle: (socket: Socket) => void): Promise<number> {
  other = createServer(handle);
  const server = other;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on now (held for a moment, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Everything the echo writes to a raw connection that first sends `send`. */
function rawExchange(port: number, send: string): Promise<{ text: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let text = "";
    let localPort = 0;
    socket.setEncoding("latin1");
    socket.on("connect", () => {
      localPort = socket.localPort ?? 0;
      socket.write(send);
    });
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("close", () => resolve({ text, localPort }));
    socket.on("error", reject);
  });
}

const target: EchoTarget = { service: "netcanary/echo-cluster", host: "10.0.0.12", port: 30971 };
const ip = (text: string) => {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
};

describe("the source echo", () => {
  it("answers with the peer's address and port, one line, and ignores what the client sends", async () => {
    echo = await startSourceEcho("127.0.0.1", 0);
    const { text, localPort } = await rawExchange(echo.address.port, "GET /connect?to=10.9.9.9:22 HTTP/1.1\r\n\r\n");
    expect(text).toBe(`127.0.0.1 ${localPort}\n`);
  });

  it(`holds at most ${ECHO_MAX_CONNECTIONS} connections at once; the ones beyond are closed unanswered`, async () => {
    echo = await startSourceEcho("127.0.0.1", 0);
    const port = echo.address.port;
    // Clients that never read keep their connections until the echo's own time limit.
    const held = await Promise.all(
      Array.from({ length: ECHO_MAX_CONNECTIONS + 8 }, () =>
        new Promise<{ answered: boolean }>((resolve) => {
          const socket = connect({ host: "127.0.0.1", port });
          sockets.push(socket);
          let answered = false;
          socket.on("data", () => (answered = true));
          socket.on("error", () => undefined);
          socket.on("close", () => resolve({ answered }));
        }),
      ),
    );
    expect(held.filter((h) => h.answered).length).toBeLessThanOrEqual(ECHO_MAX_CONNECTIONS);
    expect(held.filter((h) => !h.answered).length).toBeGreaterThanOrEqual(1);
  });

  it("is asked by askEcho, which says the address it sent from and what the echo saw", async () => {
    echo = await startSourceEcho("127.0.0.1", 0);
    const reply = await askEcho("127.0.0.1", echo.address.port, 2000);
    expect(reply.sent).toBe("127.0.0.1");
    expect(reply.answer.ok && reply.answer.ip.text).toBe("127.0.0.1");
    expect(judgeEcho({ ...target, host: "127.0.0.1", port: echo.address.port }, reply, new Date()).outcome).toBe("preserved");
  });
});

describe("asking an echo that is not one", () => {
  it("stops reading after 64 bytes from a server that never stops talking", async () => {
    const port = await serve((socket) => {
      socket.on("error", () => undefined);
      const spew = () => socket.write("x".repeat(4096), () => (socket.destroyed ? undefined : setImmediate(spew)));
      spew();
    });
    const reply = await askEcho("127.0.0.1", port, 2000);
    expect(reply.answer).toEqual({ ok: false, reason: "the echo's answer is longer than 64 bytes" });
  });

  it("gives up after its timeout on a server that never answers", async () => {
    const port = await serve((socket) => sockets.push(socket));
    const reply = await askEcho("127.0.0.1", port, 300);
    expect(reply.answer).toEqual({ ok: false, reason: "no answer within 300 ms" });
  });

  it("says connecting failed where nothing listens", async () => {
    const reply = await askEcho("127.0.0.1", await freePort(), 2000);
    expect(reply.answer).toEqual({ ok: false, reason: "connecting: ECONNREFUSED" });
  });

  it("accepts only an address, a space, a port and a newline", () => {
    expect(parseEcho("10.1.2.3 4567\n")).toMatchObject({ ok: true, port: 4567 });
    expect(parseEcho("2001:db8::7 80\n")).toMatchObject({ ok: true, port: 80 });
    for (const bad of ["10.1.2.3 4567", "10.1.2.3 4567\nmore", "nothost 80\n", "10.1.2.3 0\n", "10.1.2.3 99999\n", ""]) {
      expect(parseEcho(bad).ok, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe("judging the echo", () => {
  const at = new Date("2026-01-01T00:00:00Z");
  it("is preserved when the echo saw the address sent from", () => {
    expect(judgeEcho(target, { sent: "10.244.1.5", answer: { ok: true, ip: ip("10.244.1.5"), port: 40000 } }, at)).toMatchObject({ outcome: "preserved", seen: "10.244.1.5", rewrittenTo: null });
  });
  it("is rewritten to the node asked when the echo saw that node's address (a NodePort's SNAT)", () => {
    expect(judgeEcho(target, { sent: "10.244.1.5", answer: { ok: true, ip: ip("10.0.0.12"), port: 40000 } }, at)).toMatchObject({ outcome: "rewritten", seen: "10.0.0.12", rewrittenTo: "the-node-asked" });
  });
  it("compares addresses, not their spelling", () => {
    const v6 = { ...target, host: "2001:db8:0:0::12" };
    expect(judgeEcho(v6, { sent: "2001:DB8:0:0::5", answer: { ok: true, ip: ip("2001:db8::5"), port: 40000 } }, at)).toMatchObject({ outcome: "preserved", sent: "2001:db8::5" });
    expect(judgeEcho(v6, { sent: "2001:db8::5", answer: { ok: true, ip: ip("2001:db8::12"), port: 40000 } }, at)).toMatchObject({ outcome: "rewritten", rewrittenTo: "the-node-asked", target: "[2001:db8:0:0::12]:30971" });
  });
  it("is rewritten to another address when the echo saw neither", () => {
    expect(judgeEcho(target, { sent: "10.244.1.5", answer: { ok: true, ip: ip("10.244.3.1"), port: 40000 } }, at)).toMatchObject({ outcome: "rewritten", rewrittenTo: "another-address" });
  });
  it("is failed, with the reason, without an answer", () => {
    expect(judgeEcho(target, { sent: "", answer: { ok: false, reason: "no answer within 3000 ms" } }, at)).toMatchObject({ outcome: "failed", sent: null, reason: "no answer within 3000 ms", target: "10.0.0.12:30971" });
  });
});

describe("the targets", () => {
  const nodes = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"];
  const targets = ["netcanary/echo-cluster", "netcanary/echo-local"].flatMap((service) => nodes.map((host) => ({ service, host, port: 30971 })));

  it("are parsed from <namespace>/<service>=<host>:<port>, and a mistake is named", () => {
    expect(parseEchoTarget("netcanary/echo-local=10.0.0.12:30972")).toEqual({ ok: true, target: { service: "netcanary/echo-local", host: "10.0.0.12", port: 30972 } });
    expect(parseEchoTarget("netcanary/echo-local=[2001:db8::1]:30972")).toMatchObject({ ok: true, target: { host: "2001:db8::1" } });
    expect(parseEchoTarget("echo-local=10.0.0.12:30972")).toEqual({ ok: false, reason: '--source-echo-target "echo-local=10.0.0.12:30972": must be <namespace>/<service>=<host>:<port>' });
    expect(parseEchoTarget("netcanary/echo-local=10.0.0.12")).toMatchObject({ ok: false });
    expect(parseEchoTarget("netcanary/echo-local=10.0.0.12:70000")).toMatchObject({ ok: false });
    expect(() => sourceEchoOptions({ "source-echo-target": Array.from({ length: 17 }, (_, i) => `a/b=10.0.0.${i}:1`) })).toThrow("at most 16, not 17");
    expect(() => sourceEchoOptions({ "source-echo-port": "0" })).toThrow('--source-echo-port must be a port number (1-65535), not "0"');
  });

  it("are one per Service for each node, stable, spread over the nodes, and never the node's own", () => {
    const chosen = chooseEchoTargets(targets, "node-a", "10.0.0.11");
    expect(chosen.map((t) => t.service)).toEqual(["netcanary/echo-cluster", "netcanary/echo-local"]);
    expect(chooseEchoTargets([...targets].reverse(), "node-a", "10.0.0.11")).toEqual(chosen);
    for (const name of ["a", "b", "c", "d", "e", "f"]) expect(chooseEchoTargets(targets, name, "10.0.0.12").some((t) => t.host === "10.0.0.12")).toBe(false);
    const hosts = new Set(["a", "b", "c", "d", "e", "f", "g", "h"].map((name) => chooseEchoTargets(targets, name)[0]?.host));
    expect(hosts.size).toBeGreaterThan(1);
  });
});

describe("netcanary agent --source-echo-port and --source-echo-target", () => {
  const env = { ...process.env, KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "" };

  it("echoes, tests the path to its own echo, and serves the outcome at /api/v1/inbound and in /metrics", async () => {
    const [listenPort, echoPort] = [await freePort(), await freePort()];
    agent = startProcess("netcanary agent", [process.execPath, cliPath, "agent", "--listen", `127.0.0.1:${listenPort}`, "--source-echo-port", String(echoPort), "--source-echo-target", `lab/echo=127.0.0.1:${echoPort}`, "--source-echo-target", `lab/nothing=127.0.0.1:${await freePort()}`, "--log-level", "warn"], { env });
    const running = agent;
    const document = await waitFor(
      "the agent's /api/v1/inbound",
      async () => {
        if (!running.running) throw new Error(`the agent exited:\n${running.output()}`);
        const response = await fetch(`http://127.0.0.1:${listenPort}/api/v1/inbound`).catch(() => undefined);
        return response?.ok ? ((await response.json()) as { sourceEcho: { service: string; outcome: string; seen: string | null }[] }) : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(document.sourceEcho.map((r) => [r.service, r.outcome, r.seen])).toEqual([
      ["lab/echo", "preserved", "127.0.0.1"],
      ["lab/nothing", "failed", null],
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${listenPort}/metrics`)).text();
    expect(metrics).toContain('netcanary_inbound_source_echo{service="lab/echo",outcome="preserved"} 1');
    expect(metrics).toContain('netcanary_inbound_source_echo{service="lab/nothing",outcome="failed"} 1');
  }, 30_000);

  it("names the echo's port when it is in use, and exits 2", async () => {
    const port = await serve(() => undefined);
    const run = await runCli(["agent", "--listen", `127.0.0.1:${await freePort()}`, "--source-echo-port", String(port), "--log-level", "silent"], { env });
    expect(run.stderr).toBe(`netcanary agent: cannot listen on 127.0.0.1:${port}: address already in use\n`);
    expect(run.code).toBe(2);
  });
});
