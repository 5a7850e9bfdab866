// netcanary's command line: one binary, a subcommand per job.

import { adviseCommand } from "./advise.js";
import { agentCommand } from "./agent.js";
import { checkCommand } from "./check.js";
import { mapCommand } from "./map.js";
import { onceCommand } from "./once.js";
import { zscalerCommand } from "./zscaler.js";
import { type Command, consoleOutput, escapingOutput, EXIT, type Output, printLines, UsageError } from "./command.js";
import { nearest, suggestion } from "./suggest.js";
import { packageInfo } from "./version.js";

const COMMANDS: readonly Command[] = [agentCommand, onceCommand, checkCommand, mapCommand, adviseCommand, zscalerCommand];

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
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const option = name.startsWith("-");
    const guess = option ? nearest(name.replace(/^-+/, ""), ["help", "version"]) : nearest(name, COMMANDS.map((c) => c.name));
    const hint = option ? suggestion(guess, "option") : suggestion(guess);
    out.stderr(`netcanary: ${option ? `unknown option ${name}` : `unknown command "${name}"`}${hint}`);
    out.stderr("");
    printLines(out.stderr, overview());
    return EXIT.unusable;
  }
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
      out.stderr(`netcanary ${command.name}: ${(error as Error).message}`);
      out.stderr("");
      printLines(out.stderr, command.usage);
      return EXIT.unusable;
    }
    throw error;
  }
}
