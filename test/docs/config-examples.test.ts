// The README and docs/ stay true: every YAML block there that is a whole agent config (it has
// top-level sources: and probes:) loads with the real parser, without a single error.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { repoRoot } from "../support/cli.js";

function yamlBlocks(file: string): { line: number; text: string }[] {
  const lines = readFileSync(file, "utf8").split("\n");
  const blocks: { line: number; text: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== "```yaml") continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]?.trim() !== "```") end++;
    blocks.push({ line: start + 1, text: lines.slice(start, end).join("\n") });
    i = end;
  }
  return blocks;
}

const files = ["README.md", ...readdirSync(join(repoRoot, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)];
const configs = files.flatMap((file) =>
  yamlBlocks(join(repoRoot, file))
    .filter((block) => /^sources:/m.test(block.text) && /^probes:/m.test(block.text))
    .map((block) => ({ where: `${file}:${block.line}`, text: block.text })),
);

describe("config examples in the docs", () => {
  it("finds the examples (README, configuration, sources)", () => {
    const where = configs.map((config) => config.where.split(":")[0]);
    for (const file of ["README.md", "docs/configuration.md", "docs/sources.md"]) expect(where).toContain(file);
  });

  it.each(configs)("$where loads", ({ where, text }) => {
    const result = parseConfig(text, where);
    expect(result.ok ? [] : result.errors.map((error) => `${error.line ?? "?"}: ${error.field ?? ""}: ${error.message}`)).toEqual([]);
  });
});
