// Preloaded with `node --import` by loadedModules() (cli.ts): appends the URL of every module
// the process loads, ESM or CommonJS, one a line, to the file NETCANARY_MODULE_TRACE names.
// Plain JavaScript, so that Node.js can preload it before anything else is loaded.

import { appendFileSync } from "node:fs";
import { registerHooks } from "node:module";

const file = process.env.NETCANARY_MODULE_TRACE;
if (file) {
  registerHooks({
    load(url, context, nextLoad) {
      appendFileSync(file, `${url}\n`);
      return nextLoad(url, context);
    },
  });
}
