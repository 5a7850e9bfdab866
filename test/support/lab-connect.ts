// One connection attempt from inside a lab pod, for tests that enforce policies by packets and
// then check what still connects: TCP (the handshake), UDP (a datagram echoed back by the
// server) or a DNS query over UDP. Shared by the lab tests so that "works" and "blocked" mean
// the same everywhere: "ok", or why not ("timeout" when a packet was dropped).
import type { Lab, LabPod } from "./lab.ts";

export type ConnectKind = "tcp" | "udp" | "dns";

/** Prints "ok" or why not; every attempt ends within its timeout. */
const CONNECT = `
const [kind, host, port, timeout] = process.argv.slice(1);
const done = (text) => { process.stdout.write(text + "\\n"); process.exit(0); };
if (kind === "tcp") {
  const socket = require("node:net").connect({ host, port: Number(port), timeout: Number(timeout) });
  socket.on("connect", () => { socket.destroy(); done("ok"); });
  socket.on("timeout", () => done("timeout"));
  socket.on("error", (error) => done(error.code || String(error)));
} else if (kind === "udp") {
  const socket = require("node:dgram").createSocket("udp4");
  setTimeout(() => done("timeout"), Number(timeout));
  socket.on("message", (message) => done(String(message) === "ping" ? "ok" : "wrong echo"));
  socket.on("error", (error) => done(error.code || String(error)));
  socket.send("ping", Number(port), host);
} else {
  const { Resolver } = require("node:dns").promises;
  const resolver = new Resolver({ timeout: Number(timeout), tries: 1 });
  resolver.setServers([host + ":" + port]);
  resolver.resolve4("api.shop.lab").then((answers) => done(answers.length > 0 ? "ok" : "empty"), (error) => done(error.code || String(error)));
}
`;

/** Connects from the pod to host:port (for "dns", asks api.shop.lab); "ok", "timeout", an error code, or how the attempt failed. */
export async function attemptFrom(lab: Lab, pod: LabPod, kind: ConnectKind, host: string, port: number, timeoutMs = 1500): Promise<string> {
  const run = await lab.exec(pod, [process.execPath, "-e", CONNECT, kind, host, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 5000 });
  return run.stdout.trim() || `exit ${run.code}: ${run.stderr.trim().slice(0, 200)}`;
}
