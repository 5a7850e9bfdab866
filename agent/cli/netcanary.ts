// netcanary's command line: one binary, a subcommand per job. A start loads only the module
// of the command it runs (none for --help and --version): loading every command's modules
// costs most of a short run's CPU, and CI pipelines and tests start the CLI many times.

import { type Command, consoleOutput, escapingOutput, EXIT, type Output, printLines, UsageError } from "./command.js";
import { nearest, suggestion } from "./suggest.js";
import { packageInfo } from "./version.js";

/** A subcommand as the overview and the suggestions know it; load() imports its module. */
interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

const COMMANDS: readonly CommandEntry[] = [
  {
    name: "agent",
    summary: "run the probing agent and serve metrics (the DaemonSet's process)",
    load: async () => (await import("./agent.js")).agentCommand,
  },
  {
    name: "once",
    summary: "probe every edge once, report; exit 1 on a signal, 3 if something went untested",
    load: async () => (await import("./once.js")).onceCommand,
  },
  {
    name: "check",
    summary: "judge connections offline against NetworkPolicies in manifests (for CI)",
    load: async () => (await import("./check.js")).checkCommand,
  },
  {
    name: "map",
    summary: "show a recorded traffic map, each flow judged against the policies in force (and staged ones)",
    load: async () => (await import("./map.js")).mapCommand,
  },
  {
    name: "advise",
    summary: "write least-privilege NetworkPolicies from recorded traffic maps, checked before printing",
    load: async () => (await import("./advise.js")).adviseCommand,
  },
  {
    name: "zscaler",
    summary: "Zscaler's published ranges: print them, generate a NetworkPolicy, audit manifests (--check)",
    load: async () => (await import("./zscaler.js")).zscalerCommand,
  },
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "Usage: netcanary <command> [options]",
    "",
    "Probes from labeled pods, judges every outcome against the cluster's NetworkPolicies,",
    "and reports unexpected blocks and allows.",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run 'netcanary <command> --help' for a command's options, 'netcanary --version' for the version.",
    "",
    "Exit status: 0 all good; 1 a finding (a signal, a failed expectation); 2 unusable input;",
    "3 inconclusive: something asked for was not tested (see each command's --help).",
  ].join("\n");
}

export async function main(argv: readonly string[], output: Output = consoleOutput): Promise<number> {
  // Whatever a command prints, no control character reaches the terminal or the CI log raw.
  const out = escapingOutput(output);
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    printLines(out.stdout, overview());
    return name === undefined ? EXIT.unusable : EXIT.ok;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    out.stdout(`netcanary ${packageInfo().version}`);
    return EXIT.ok;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    const option = name.startsWith("-");
    const guess = option ? nearest(name.replace(/^-+/, ""), ["help", "version"]) : nearest(name, COMMANDS.map((c) => c.name));
    const hint = option ? suggestion(guess, "option") : suggestion(guess);
    out.stderr(`netcanary: ${option ? `unknown option ${name}` : `unknown command "${name}"`}${hint}`);
    out.stderr("");
    printLines(out.stderr, overview());
    return EXIT.unusable;
  }
  const command = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    printLines(out.stdout, command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, out);
  } catch (error) {
    // parseArgs reports unknown or malformed options with ERR_PARSE_ARGS_* codes.
    const code = (error as NodeJS.ErrnoException).code ?? "";
    if (error instanceof UsageError || code.startsWith("ERR_PARSE_ARGS")) {
      out.stderr(`netcanary ${entry.name}: ${(error as Error).message}`);
      out.stderr("");
      printLines(out.stderr, command.usage);
      return EXIT.unusable;
    }
    throw error;
  }
}
