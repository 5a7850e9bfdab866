// Renders the plain Prometheus rules file (alerts/netcanary.rules.yaml, the single source of
// truth) into the PrometheusRule object the Prometheus Operator loads
// (manifests/components/prometheus-operator/prometheusrule.yaml): spec.groups is the file's
// groups, comments included.
//
//   node scripts/sync-rules.mjs            write the PrometheusRule
//   node scripts/sync-rules.mjs --check    exit 1 if the file on disk differs (CI)
//   --rules <file> and --output <file> replace the default paths.
import { readFileSync, writeFileSync } from "node:fs";
import { isDeepStrictEqual, parseArgs } from "node:util";
import { join, relative } from "node:path";
import YAML from "yaml";

const root = join(import.meta.dirname, "..");
const DEFAULT_RULES = join(root, "alerts", "netcanary.rules.yaml");
const DEFAULT_OUTPUT = join(root, "manifests", "components", "prometheus-operator", "prometheusrule.yaml");
const HEADER = [
  " Generated from alerts/netcanary.rules.yaml by scripts/sync-rules.mjs: do not edit.",
  " Change the rules file, then run `node scripts/sync-rules.mjs`.",
].join("\n");

/** The PrometheusRule text for a rules file's text. Throws on a file without groups. */
function render(rulesText, rulesName = "rules file") {
  const source = YAML.parseDocument(rulesText, { prettyErrors: true });
  if (source.errors.length > 0) throw new Error(`${rulesName}: ${source.errors.map((e) => e.message).join("\n")}`);
  const groups = source.get("groups", true);
  if (!YAML.isSeq(groups) || groups.items.length === 0) throw new Error(`${rulesName}: no groups`);

  const out = new YAML.Document({
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "netcanary", namespace: "netcanary", labels: { "app.kubernetes.io/name": "netcanary" } },
    spec: {},
  });
  out.setIn(["spec", "groups"], groups.clone());
  out.commentBefore = HEADER;
  const text = out.toString({ lineWidth: 0 });

  // The rendering must carry exactly the rules: compare the data, not the text.
  const rendered = YAML.parse(text);
  if (!isDeepStrictEqual(rendered.spec.groups, source.toJS().groups)) {
    throw new Error(`${rulesName}: the rendered PrometheusRule does not hold the same groups`);
  }
  return text;
}

function firstDifference(a, b) {
  const left = a.split("\n");
  const right = b.split("\n");
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i]) return { line: i + 1, expected: right[i] ?? "(end of file)", actual: left[i] ?? "(end of file)" };
  }
  return undefined;
}

function main() {
  const { values } = parseArgs({
    options: {
      check: { type: "boolean", default: false },
      rules: { type: "string" },
      output: { type: "string" },
    },
  });
  const rulesPath = values.rules ?? DEFAULT_RULES;
  const outputPath = values.output ?? DEFAULT_OUTPUT;
  const shown = (path) => relative(process.cwd(), path) || path;

  const expected = render(readFileSync(rulesPath, "utf8"), shown(rulesPath));
  if (!values.check) {
    writeFileSync(outputPath, expected);
    console.log(`wrote ${shown(outputPath)}`);
    return 0;
  }
  let actual;
  try {
    actual = readFileSync(outputPath, "utf8");
  } catch (error) {
    console.error(`${shown(outputPath)}: cannot read (${error.code ?? error.message}); run node scripts/sync-rules.mjs`);
    return 1;
  }
  const difference = firstDifference(actual, expected);
  if (difference) {
    console.error(
      `${shown(outputPath)} is out of date with ${shown(rulesPath)} (line ${difference.line}: expected ${JSON.stringify(difference.expected)}, found ${JSON.stringify(difference.actual)}); run node scripts/sync-rules.mjs`,
    );
    return 1;
  }
  console.log(`${shown(outputPath)} is up to date`);
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 2;
}
