// CLI start-up cost: wall time, CPU (user + system) and peak RSS of one `netcanary` process,
// for the invocations CI pipelines and the test suite make most (--version, --help, a
// command's --help, a Zscaler policy made without fetching, a full `check` of the example
// manifests). A CLI run is short: most of what it costs is Node.js loading modules, so what
// a start loads is what this measures.
//
//   npm run build && node bench/cli-start.mjs [--runs 10] [--baseline <dir>]
//
// Each process runs under /usr/bin/time (GNU time, Debian's `time` package): a parent cannot
// read a child's rusage from Node, and /proc/<pid> is gone once the child has exited.
// --baseline <dir>: a second build of dist/ (e.g. `cp -r dist dist-main` on the commit to
// compare with; it must sit next to package.json and node_modules, as dist/ does), run
// alternately with this one, run by run, so that both meet the same load; each invocation's
// exit code and output must be the same from both, and the report gives this build's median
// over the baseline's. Medians of --runs runs; the machine's load is printed with them.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fmt, reportHeader, ROOT, tempFile } from "./support.mjs";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" }, baseline: { type: "string" } } });
const RUNS = Number(values.runs);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 1000) throw new Error(`--runs: a whole number from 1 to 1000, not ${values.runs}`);
const TIME = "/usr/bin/time";
if (!existsSync(TIME)) throw new Error(`${TIME} is missing (Debian: apt-get install time)`);

const builds = [{ label: "dist", main: path.join(ROOT, "dist", "cli", "main.js") }];
if (values.baseline !== undefined) {
  const dir = path.resolve(values.baseline);
  builds.unshift({ label: path.relative(ROOT, dir) || dir, main: path.join(dir, "cli", "main.js") });
}
for (const build of builds) if (!existsSync(build.main)) throw new Error(`${build.main} is missing: build it first (npm run build)`);

/** The invocations: what a user types after `netcanary`, and the exit code it must end with. */
const CASES = [
  { name: "--version", args: ["--version"], exit: 0 },
  { name: "--help", args: ["--help"], exit: 0 },
  { name: "zscaler --help", args: ["zscaler", "--help"], exit: 0 },
  {
    name: "zscaler policy (ZPA, no fetch)",
    args: ["zscaler", "policy", "--direction", "ingress", "--source", "zpa", "--zpa-connectors", "10.0.0.1/32", "--ports", "443", "--namespace", "shop", "--pod-selector", "app=web"],
    exit: 0,
  },
  { name: "check --help", args: ["check", "--help"], exit: 0 },
  { name: "once --help", args: ["once", "--help"], exit: 0 },
  { name: "check (examples/check)", args: ["check", "--manifests", "examples/check/manifests", "--queries", "examples/check/queries.yaml"], exit: 0 },
];

const timeFile = tempFile("time.txt", "");

/** One process under GNU time: its exit code, output, and elapsed, user, system seconds and peak RSS (KiB). */
function measure(main, args) {
  rmSync(timeFile, { force: true });
  const run = spawnSync(TIME, ["-o", timeFile, "-f", "%e %U %S %M", process.execPath, main, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (run.error) throw run.error;
  // GNU time writes "Command exited with non-zero status N" before the figures when the command fails.
  const figures = readFileSync(timeFile, "utf8").trim().split("\n").at(-1)?.split(" ").map(Number) ?? [];
  if (figures.length !== 4 || figures.some((n) => !Number.isFinite(n))) throw new Error(`unreadable GNU time output for ${args.join(" ")}`);
  const [wall, user, system, rssKiB] = figures;
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, wall, cpu: user + system, rssMiB: rssKiB / 1024 };
}

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

console.log(reportHeader(`netcanary CLI start: wall, CPU and peak RSS of one process (median of ${RUNS} runs)`).join("\n"));
console.log(`builds:   ${builds.map((b) => `${b.label} (${path.relative(ROOT, b.main)})`).join(", ")}${builds.length > 1 ? ", alternately" : ""}`);
console.log("");

const rows = [];
for (const testCase of CASES) {
  const samples = builds.map(() => []);
  let reference;
  for (let i = 0; i < RUNS; i++) {
    // Alternate which build goes first, so that neither always follows the other.
    const order = builds.map((_, index) => index);
    if (i % 2 === 1) order.reverse();
    for (const index of order) {
      const run = measure(builds[index].main, testCase.args);
      if (run.code !== testCase.exit) throw new Error(`${builds[index].label}: netcanary ${testCase.args.join(" ")} exited ${run.code}, not ${testCase.exit}:\n${run.stderr}`);
      if (reference === undefined) reference = run;
      else if (run.stdout !== reference.stdout || run.stderr !== reference.stderr) {
        throw new Error(`${builds[index].label}: netcanary ${testCase.args.join(" ")} printed something else than the first run`);
      }
      samples[index].push(run);
    }
  }
  const summary = samples.map((list) => ({
    wall: median(list.map((r) => r.wall)),
    cpu: median(list.map((r) => r.cpu)),
    rss: median(list.map((r) => r.rssMiB)),
  }));
  rows.push({ name: testCase.name, summary });
}

const head = ["invocation", ...builds.flatMap((b) => [`${b.label} wall s`, `${b.label} CPU s`, `${b.label} RSS MiB`])];
if (builds.length > 1) head.push("wall ratio", "CPU ratio", "RSS ratio");
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const row of rows) {
  const cells = [row.name, ...row.summary.flatMap((s) => [fmt(s.wall), fmt(s.cpu), fmt(s.rss, 1)])];
  if (builds.length > 1) {
    const [before, after] = row.summary;
    cells.push(fmt(after.wall / before.wall), fmt(after.cpu / before.cpu), fmt(after.rss / before.rss));
  }
  console.log(`| ${cells.join(" | ")} |`);
}
if (builds.length > 1) console.log(`\nratio: ${builds[1].label} / ${builds[0].label} (below 1: ${builds[1].label} is cheaper); every invocation printed the same from both builds`);
