// Where the agent's code and libraries go in resident memory: one Node process, under the
// agent's V8 flags, that loads the agent's parts one after another, as the agent does, and
// reads its own RSS (anonymous and file-backed apart, /proc/self/status) after each, once
// the heap is collected. What a part adds is what it costs on top of those before it
// (the order is the agent's: Node's modules, the libraries, the agent's own modules, then
// the Kubernetes client only live mode loads), so the parts add up to the whole. Node
// compiles each script and touches more of its own binary as more code runs: the
// file-backed column is mostly those pages of the `node` binary (docs/benchmarks.md,
// "Memory, part by part").
//
//   make build && node bench/memory-parts.mjs [--node-options "..."]
//
// The default flags are the shipped ones (--max-semi-space-size=2 --max-old-space-size=160),
// and the allocator settings the image's (bench/support.mjs, imageEnv).
// Each step is read three times a second apart, and the last read is kept.

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { allocatorSettings, imageEnv, reportHeader } from "./support.mjs";

const { values } = parseArgs({ options: { "node-options": { type: "string", default: "--max-semi-space-size=2 --max-old-space-size=160" } } });
const ROOT = join(import.meta.dirname, "..");
const dist = (path) => JSON.stringify(join(ROOT, "dist", path));

// The steps, in the agent's order; each is code run in the measured process.
const STEPS = [
  ["Node alone (an ES module that imports nothing)", ""],
  [
    "Node's modules the agent imports",
    `for (const m of ["node:net", "node:tls", "node:dns", "node:crypto", "node:zlib", "node:fs", "node:fs/promises", "node:child_process", "node:stream", "node:os", "node:path", "node:url", "node:util", "node:events", "node:timers/promises", "node:module", "node:perf_hooks", "node:v8"]) await import(m); await import(${dist("runtime/http.js")});`,
  ],
  ["yaml", `await import("yaml");`],
  ["zod", `await import("zod");`],
  ["prom-client", `await import("prom-client");`],
  ["pino", `await import("pino");`],
  ["node-cron", `await import("node-cron");`],
  ["the agent's own modules (dist/, the agent command's graph)", `await import(${dist("cli/agent.js")});`],
  ["live mode only: the Kubernetes client (slim) and undici", `await (await import(${dist("cluster/kube-client.js")})).kubeClient(); await import("undici");`],
];

const child = `
import { readFileSync } from "node:fs";
const read = () => {
  const status = readFileSync("/proc/self/status", "utf8");
  const kib = (name) => Number(new RegExp("^" + name + ":\\\\s+(\\\\d+)", "m").exec(status)?.[1] ?? 0) / 1024;
  const heap = process.memoryUsage();
  return { rss: kib("VmRSS"), anon: kib("RssAnon"), file: kib("RssFile"), heapUsed: heap.heapUsed / 1048576, heapTotal: heap.heapTotal / 1048576 };
};
const settle = async () => {
  let last;
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    last = read();
  }
  return last;
};
const steps = ${JSON.stringify(STEPS.map(([, code]) => code))};
const out = [];
for (const code of steps) {
  await (0, eval)("(async () => { " + code + " })()");
  out.push(await settle());
}
console.log(JSON.stringify(out));
`;

for (const line of reportHeader("bench/memory-parts.mjs: the agent's parts, loaded one after another")) console.log(line);
const flags = values["node-options"].split(/\s+/).filter(Boolean);
console.log(`process: node ${flags.join(" ")} --expose-gc, ${allocatorSettings()}, no memory limit; each read 3 s after the step, the heap collected\n`);
const run = spawnSync(process.execPath, [...flags, "--expose-gc", "--input-type=module", "-e", child], {
  cwd: ROOT,
  encoding: "utf8",
  env: imageEnv({ KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "" }),
  timeout: 120_000,
});
if (run.status !== 0) throw new Error(`the measured process failed (${run.status ?? run.signal}):\n${run.stderr}`);
const reads = JSON.parse(run.stdout.trim().split("\n").at(-1));
const f = (value) => value.toFixed(1).padStart(6);
console.log(`${"".padEnd(62)}  ${"RSS".padStart(6)} ${"anon".padStart(6)} ${"file".padStart(6)}   ${"heap used".padStart(9)}   added: RSS   anon   file`);
let previous;
for (const [index, [name]] of STEPS.entries()) {
  const r = reads[index];
  const added = previous ? `${f(r.rss - previous.rss)} ${f(r.anon - previous.anon)} ${f(r.file - previous.file)}` : "";
  console.log(`${name.padEnd(62)}  ${f(r.rss)} ${f(r.anon)} ${f(r.file)}   ${f(r.heapUsed).padStart(9)}        ${added}`);
  previous = r;
}
console.log("\n(MiB; 'added' is what the step adds to the ones above it)");
