#!/usr/bin/env node
// The netcanary executable. It checks the Node.js version first and loads the commands only
// then: on an older Node.js, some dependencies fail while loading (with an internal
// TypeError), so every command must say plainly what it needs before anything else runs.

import { EXIT } from "./command.js";
import { nodeVersionProblem, packageInfo } from "./version.js";

async function run(): Promise<void> {
  // A reader that stops early (`| head`) closes the pipe: stop quietly, as Unix tools do.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  const { main } = await import("./netcanary.js");
  process.exitCode = await main(process.argv.slice(2));
}

const problem = nodeVersionProblem(process.versions.node, packageInfo().nodeRange);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exitCode = EXIT.unusable;
} else {
  run().catch((error: unknown) => {
    process.stderr.write(`netcanary: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT.unusable;
  });
}
