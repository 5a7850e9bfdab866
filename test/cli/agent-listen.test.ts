// `netcanary agent --listen` on an address it cannot have: one line naming the address and
// why, exit 2, no stack trace. A real socket holds the port.

import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ListenAddress } from "../../agent/server/http.js";
import { listenProblem } from "../../agent/cli/agent.js";
import { runCli } from "../support/cli.js";

let holder: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()));
  holder = undefined;
});

async function holdPort(host: string): Promise<number> {
  holder = createServer();
  const server = holder;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const env = { ...process.env, KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "" };

describe("netcanary agent on an address in use", () => {
  it("says so in one line and exits 2", async () => {
    const port = await holdPort("127.0.0.1");
    const run = await runCli(["agent", "--listen", `127.0.0.1:${port}`, "--log-level", "silent"], { env });
    expect(run.stderr).toBe(`netcanary agent: cannot listen on 127.0.0.1:${port}: address already in use\n`);
    expect(run.stdout).toBe("");
    expect(run.code).toBe(2);
  });

  it("names an IPv6 address in brackets, and says what a privileged port needs", () => {
    const listen: ListenAddress = { host: "::", port: 9714 };
    expect(listenProblem(Object.assign(new Error("listen EADDRINUSE"), { code: "EADDRINUSE" }), listen)).toBe("cannot listen on [::]:9714: address already in use");
    expect(listenProblem(Object.assign(new Error("listen EACCES"), { code: "EACCES" }), { host: "0.0.0.0", port: 80 })).toBe("cannot listen on 0.0.0.0:80: permission denied (a port below 1024 needs privileges)");
  });

  it("leaves errors it cannot explain to the caller", () => {
    expect(listenProblem(new Error("something else"), { host: "0.0.0.0", port: 9714 })).toBeUndefined();
  });
});
