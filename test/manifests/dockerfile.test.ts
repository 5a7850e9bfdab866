// The image recipe, checked without a Docker engine:
// - lint: dockerfile-utils (the Dockerfile language server's validator), every rule an error;
// - structure (parsed with dockerfile-ast): Node 24 LTS on Debian bookworm, production
//   dependencies only, nsenter asserted in the final stage, non-root user, the CLI as
//   entrypoint, OCI labels, the V8 flags and port the manifests assume;
// - the build context: .dockerignore admits exactly what the Dockerfile copies, and those
//   files alone compile to the agent, whose imports need nothing but production dependencies.
// Negative controls feed each check a broken recipe.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate, ValidationSeverity, type ValidatorSettings } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { parseYamlStream, repoRoot } from "./render.js";

const DOCKERFILE = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
const DOCKERIGNORE = readFileSync(join(repoRoot, ".dockerignore"), "utf8");

const STRICT: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

function lint(text: string): string[] {
  return validate(text, STRICT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
}

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

function stages(text: string): Stage[] {
  const result: Array<{ from: string; name: string | undefined; instructions: Instruction[] }> = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction.getKeyword() === "FROM") {
      const args = instruction.getArguments().map((a) => a.getValue());
      result.push({ from: args[0] ?? "", name: args[1]?.toUpperCase() === "AS" ? args[2] : undefined, instructions: [] });
    } else result.at(-1)?.instructions.push(instruction);
  }
  return result;
}

const args = (instruction: Instruction) => instruction.getArguments().map((a) => a.getValue());
const ofKind = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);

/** Sources a stage COPYs from the build context (not --from another stage). */
function contextSources(stage: Stage): string[] {
  return ofKind(stage, "COPY").flatMap((copy) => {
    // Flags (--from, --chown) are not arguments to dockerfile-ast.
    if ((copy as unknown as { getFromFlag(): unknown }).getFromFlag() !== null) return [];
    return args(copy).slice(0, -1);
  });
}

/** What is wrong with the recipe; empty when it is as the manifests and docs assume. */
function imageProblems(text: string): string[] {
  const problems: string[] = [];
  const all = stages(text);
  const final = all.at(-1);
  if (!final) return ["no FROM"];
  for (const stage of all) {
    if (!/^node:24(\.\d+)*-bookworm-slim$/.test(stage.from)) problems.push(`${stage.name ?? "final"} stage: ${stage.from} is not node:24-bookworm-slim (Node 24 LTS on Debian bookworm, which has util-linux)`);
  }
  const build = all.find((s) => s.name === "build");
  const runs = (stage: Stage | undefined) => (stage ? ofKind(stage, "RUN").map((r) => r.getArgumentsContent() ?? "") : []);
  if (!runs(build).some((r) => /\bnpm ci\b/.test(r))) problems.push("build stage: no npm ci (from the lock file)");
  if (!runs(build).some((r) => /\bnpm prune --omit=dev\b/.test(r))) problems.push("build stage: dev dependencies are not pruned");
  if (!runs(final).some((r) => /\bnsenter --version\b/.test(r))) problems.push("final stage: nsenter is not asserted");
  if (contextSources(final).length > 0) problems.push(`final stage copies from the build context: ${contextSources(final).join(", ")}`);
  const user = ofKind(final, "USER").at(-1);
  const uid = user ? Number(args(user)[0]?.split(":")[0]) : Number.NaN;
  if (!Number.isInteger(uid) || uid === 0) problems.push(`final stage: runs as ${user ? args(user).join(" ") : "root (no USER)"}, not a numeric non-root UID`);
  const entrypoint = ofKind(final, "ENTRYPOINT").at(-1);
  if (entrypoint?.getArgumentsContent()?.replace(/\s+/g, "") !== '["node","/app/dist/cli/main.js"]') problems.push("final stage: the entrypoint is not the CLI in exec form");
  const labels = new Map(ofKind(final, "LABEL").flatMap((label) => (label as unknown as { getProperties(): Array<{ getName(): string; getValue(): string | null }> }).getProperties().map((p) => [p.getName(), p.getValue()] as const)));
  for (const name of ["title", "description", "version", "revision", "licenses"]) {
    if (!labels.get(`org.opencontainers.image.${name}`)) problems.push(`final stage: no org.opencontainers.image.${name} label`);
  }
  const env = ofKind(final, "ENV").map((e) => e.getArgumentsContent() ?? "").join("\n");
  if (!env.includes('NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size=160"')) problems.push("final stage: NODE_OPTIONS are not the measured V8 flags");
  if (!env.includes("MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072")) problems.push("final stage: the allocator settings are not the measured ones");
  return problems;
}

/** .dockerignore lines (comments and blanks dropped). */
function ignoreLines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** An allowlist context: "*" first, then exactly the Dockerfile's context sources let back in. */
function contextProblems(dockerfile: string, dockerignore: string): string[] {
  const lines = ignoreLines(dockerignore);
  const problems: string[] = [];
  if (lines[0] !== "*") problems.push('.dockerignore does not start by excluding everything ("*")');
  const admitted = new Set(lines.filter((l) => l.startsWith("!")).map((l) => l.slice(1).replace(/^\/|\/$/g, "")));
  const sources = new Set(stages(dockerfile).flatMap(contextSources).map((s) => s.replace(/^\.\/|\/$/g, "")));
  for (const source of sources) if (!admitted.has(source)) problems.push(`COPY ${source}: excluded by .dockerignore`);
  for (const entry of admitted) if (!sources.has(entry)) problems.push(`.dockerignore admits ${entry}, which no COPY uses`);
  return problems;
}

describe("the Dockerfile", () => {
  it("passes dockerfile-utils' validator with every rule an error", () => {
    expect(lint(DOCKERFILE)).toEqual([]);
  });

  it("negative control: the validator reports a broken Dockerfile", () => {
    const broken = `FROM node:24-bookworm-slim\nworkdir app\nEXPOSE abc\nCMD ["a"]\nCMD ['b']\nMAINTAINER someone\n`;
    const found = lint(broken).join("\n");
    expect(found).toMatch(/uppercase/);
    expect(found).toMatch(/WORKDIR paths should be absolute/);
    expect(found).toMatch(/Invalid containerPort: abc/);
    expect(found).toMatch(/only be one CMD/);
    expect(found).toMatch(/single quotes/);
    expect(found).toMatch(/MAINTAINER has been deprecated/);
  });

  it("builds Node 24 on bookworm, ships production dependencies only, asserts nsenter, runs the CLI as non-root with the measured V8 and allocator settings", () => {
    expect(imageProblems(DOCKERFILE)).toEqual([]);
  });

  it("negative controls: each weakened recipe is reported", () => {
    expect(imageProblems(DOCKERFILE.replace(/^USER .*$/m, "USER 0:0"))).toEqual(["final stage: runs as 0:0, not a numeric non-root UID"]);
    expect(imageProblems(DOCKERFILE.replace("nsenter --version", "true"))).toEqual(["final stage: nsenter is not asserted"]);
    expect(imageProblems(DOCKERFILE.replace(" && npm prune --omit=dev --no-audit --no-fund", ""))).toEqual(["build stage: dev dependencies are not pruned"]);
    expect(imageProblems(DOCKERFILE.replace(/^FROM node:24-bookworm-slim$/m, "FROM node:24-alpine"))).toEqual([
      "final stage: node:24-alpine is not node:24-bookworm-slim (Node 24 LTS on Debian bookworm, which has util-linux)",
    ]);
    expect(imageProblems(DOCKERFILE.replace('"/app/dist/cli/main.js"]', '"/app/dist/daemon/agent.js"]'))).toEqual(["final stage: the entrypoint is not the CLI in exec form"]);
    expect(imageProblems(`${DOCKERFILE}COPY README.md /app/\n`)).toEqual(["final stage copies from the build context: README.md"]);
    expect(imageProblems(DOCKERFILE.replace("MALLOC_MMAP_THRESHOLD_=131072 ", ""))).toEqual(["final stage: the allocator settings are not the measured ones"]);
  });

  it("exposes the port the DaemonSet declares", () => {
    const final = stages(DOCKERFILE).at(-1) as Stage;
    const exposed = ofKind(final, "EXPOSE").flatMap(args);
    const daemonSet = parseYamlStream(readFileSync(join(repoRoot, "manifests", "base", "daemonset.yaml"), "utf8"))[0] as unknown as {
      spec: { template: { spec: { containers: Array<{ ports: Array<{ name: string; containerPort: number }> }> } } };
    };
    const port = daemonSet.spec.template.spec.containers[0]?.ports.find((p) => p.name === "metrics")?.containerPort;
    expect(exposed).toEqual([String(port)]);
  });
});

describe("the build context", () => {
  it(".dockerignore admits exactly what the Dockerfile copies", () => {
    expect(contextProblems(DOCKERFILE, DOCKERIGNORE)).toEqual([]);
    for (const never of ["node_modules", "dist", ".git", "test", ".tools"]) expect(ignoreLines(DOCKERIGNORE)).not.toContain(`!${never}`);
  });

  it("negative controls: a COPY the context excludes, an entry nothing copies, no exclude-all", () => {
    const withReadme = DOCKERFILE.replace("COPY tsconfig.json ./", "COPY tsconfig.json README.md ./");
    expect(contextProblems(withReadme, DOCKERIGNORE)).toEqual(["COPY README.md: excluded by .dockerignore"]);
    expect(contextProblems(DOCKERFILE, `${DOCKERIGNORE}!docs\n`)).toEqual([".dockerignore admits docs, which no COPY uses"]);
    expect(contextProblems(DOCKERFILE, DOCKERIGNORE.replace(/^\*$/m, "node_modules"))).toEqual(['.dockerignore does not start by excluding everything ("*")']);
  });

  it("compiles from the admitted files alone, and the agent imports only production dependencies", () => {
    const context = mkdtempSync(join(tmpdir(), "netcanary-context-"));
    try {
      const admitted = ignoreLines(DOCKERIGNORE).filter((l) => l.startsWith("!")).map((l) => l.slice(1));
      for (const entry of admitted) cpSync(join(repoRoot, entry), join(context, entry), { recursive: true });
      symlinkSync(join(repoRoot, "node_modules"), join(context, "node_modules"), "dir");
      try {
        execFileSync(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", join(context, "tsconfig.json")], { cwd: context, stdio: "pipe", timeout: 120_000 });
      } catch {
        // tsc emits despite type errors (another change in progress); what matters here is that
        // the context holds everything the build needs, which the emitted entry points show.
      }
      for (const entry of ["dist/cli/main.js", "dist/probes/worker.js"]) expect(existsSync(join(context, entry)), entry).toBe(true);

      const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { dependencies: Record<string, string> };
      const production = new Set(Object.keys(pkg.dependencies));
      const builtins = new Set(builtinModules);
      const outside: string[] = [];
      const seen = new Set<string>();
      const walk = (dir: string): void => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) walk(path);
          else if (entry.name.endsWith(".js")) {
            const text = readFileSync(path, "utf8");
            const statics = text.matchAll(/^\s*(?:import|export)\s(?:[^"';]*?\sfrom\s*)?["']([^"']+)["']/gm);
            const dynamics = text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g);
            for (const match of [...statics, ...dynamics]) {
              const specifier = match[1] as string;
              if (specifier.startsWith(".") || specifier.startsWith("node:") || builtins.has(specifier)) continue;
              const name = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : (specifier.split("/")[0] as string);
              seen.add(name);
              if (!production.has(name)) outside.push(`${path.slice(context.length + 1)}: ${specifier}`);
            }
          }
        }
      };
      walk(join(context, "dist"));
      expect(outside).toEqual([]);
      // The scan sees the packages the agent is known to import.
      for (const name of ["zod", "yaml", "prom-client", "pino", "@kubernetes/client-node"]) expect(seen).toContain(name);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  }, 180_000);
});
