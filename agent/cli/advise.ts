// netcanary advise: least-privilege NetworkPolicies written from recorded traffic maps, checked
// with the engine before they are printed. Exit 0: printed, and the check holds; 1: the check
// fails (an observed flow the suggestion would deny, one no rule can be written for, or an
// unobserved connection it would allow), nothing printed; 2: unusable input (a map, a
// manifest, a Zscaler feed); 3: the map holds no flow.

import { flowKey } from "../traffic/flow.js";
import { advise, adviceYaml, type AdviseInput, checkAdvice, describeFlow } from "../traffic/advise.js";
import { buildPolicyIndex } from "../policy/engine.js";
import { type Command, EXIT, printLines, UsageError } from "./command.js";
import { coverageNote, readFlowInputs } from "./flow-inputs.js";
import { MANIFESTS_OPTION, parseFlowArgs, printResult } from "./flow-options.js";
import { COMMON_OPTIONS, feedOptions, fetchRanges } from "./zscaler.js";

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const USAGE = `Usage: netcanary advise <map.json>... [--manifests <file|dir>...] [--namespace <ns>...]
                        [--cloud <cloud> [--feeds <list>] [--base-url <url>] [--timeout <duration>]]
                        [--output yaml|json]

Writes least-privilege NetworkPolicies from traffic maps recorded by the agent (several are
merged): for each namespace whose workloads were observed, a default-deny of ingress and
egress, then one policy per workload, selected by the labels its pods carry, allowing
exactly the connections seen:
  - to and from other workloads: namespaceSelector kubernetes.io/metadata.name and the
    workload's labels;
  - to a Service: the pods its selector picks, on its targetPort (from --manifests, else the
    backends the map recorded); the cluster DNS is such a Service, so its rule selects the
    DNS pods as this cluster labels them (UDP 53 observed also allows TCP 53);
  - to nodes: their /32; to Zscaler: the published range holding each address (with --cloud,
    the collapsed ranges of the feeds, as 'netcanary zscaler ranges' prints them); to other
    external addresses: their configured range, else /32.
Sorted throughout, no timestamp: the same maps give byte-identical YAML.

Before printing, the suggestion is read back as manifests are and judged by the engine
(its policies alone, with the Services and pods of --manifests): every observed flow must
be allowed, and an unobserved port to each peer and an unobserved peer both ways denied.
If not, nothing is printed and each failing flow is named.

Every workload of an advised namespace that the maps did not observe is cut off by the
default-deny: record on every node that runs them, or limit the namespaces (--namespace).

Options:
  --manifests <path>...  Services, pods and namespaces (policies in them are not used)
  --namespace <ns>...    advise these namespaces only (default: every observed one)
  --cloud <cloud>        collapse addresses to this Zscaler cloud's published ranges
  --feeds <list>         the feeds for --cloud (as 'netcanary zscaler'; default future,hubs-recommended)
  --base-url <url>       where the feeds are (as 'netcanary zscaler')
  --timeout <duration>   deadline of each feed request (as 'netcanary zscaler')
  --output yaml|json     output format (default: yaml)

Exit status: 0 printed and checked, 1 the check failed (nothing printed), 2 unusable input,
3 the map holds no flow (nothing observed: inconclusive).`;

export const adviseCommand: Command = {
  usage: USAGE,
  async run(argv, out) {
    const { values, positionals, output } = parseFlowArgs(argv, { ...COMMON_OPTIONS, ...MANIFESTS_OPTION, namespace: { type: "string", multiple: true } }, ["yaml", "json"]);
    for (const ns of values.namespace ?? []) {
      if (!NAMESPACE.test(ns) || ns.length > 63) throw new UsageError(`--namespace must be a namespace name, got "${ns}"`);
    }
    const zscaler = values.cloud !== undefined ? feedOptions(values) : undefined;
    if (zscaler === undefined && (values.feeds ?? values["base-url"] ?? values.timeout) !== undefined) {
      throw new UsageError("--feeds, --base-url and --timeout go with --cloud");
    }
    const inputs = await readFlowInputs("advise", { maps: positionals, manifests: values.manifests ?? [] }, out);
    if (!inputs.ok) return inputs.exitCode;
    const { map, inForce } = inputs.value;
    // A namespace no observed workload lives in would get a default-deny and nothing else.
    const observed = new Set(map.flows.map((f) => f.local.namespace));
    const unseen = (values.namespace ?? []).filter((ns) => !observed.has(ns));
    if (unseen.length > 0) {
      out.stderr(`netcanary advise: --namespace ${unseen.join(", ")}: no workload of it was observed: its default-deny would cut off everything in it`);
      return EXIT.unusable;
    }
    let zscalerRanges: AdviseInput["zscalerRanges"];
    if (zscaler) {
      const ranges = await fetchRanges(zscaler, out);
      if (!ranges.ok) return ranges.exitCode;
      zscalerRanges = ranges.value.cidrs;
    }
    const note = coverageNote(map);
    if (note) out.stderr(note);

    const input: AdviseInput = {
      map,
      index: buildPolicyIndex({ namespaces: inForce.snapshot.namespaces, pods: inForce.snapshot.pods, services: inForce.snapshot.services, policies: [] }),
      ...(zscalerRanges ? { zscalerRanges } : {}),
      ...(values.namespace ? { namespaces: values.namespace } : {}),
    };
    const advice = advise(input);
    const yaml = adviceYaml(advice, map.flows.length);
    const failures = checkAdvice(yaml, input, inForce.snapshot);
    for (const warning of advice.warnings) out.stderr(`warning: ${warning}`);
    const unwritable = new Set(advice.unwritable.map((u) => u.key));
    if (failures.length > 0 || advice.unwritable.length > 0) {
      for (const u of advice.unwritable) {
        const flow = map.flows.find((f) => flowKey(f) === u.key);
        out.stderr(`netcanary advise: no rule can be written for ${flow ? describeFlow(flow) : u.key}: ${u.reason}`);
      }
      for (const failure of failures) {
        if (failure.judgement && unwritable.has(failure.judgement.key)) continue;
        out.stderr(`netcanary advise: check failed: ${failure.flow} would be ${failure.expected === "allow" ? "denied" : "allowed"}: ${failure.reason}`);
      }
      out.stderr("netcanary advise: the suggestion does not hold; nothing printed");
      return EXIT.failed;
    }
    printResult(out, output, { policies: advice.policies, warnings: advice.warnings }, () => printLines(out.stdout, yaml.replace(/\n$/, "")));
    out.stderr(`netcanary advise: ${advice.policies.length} policies for ${map.flows.length} observed flows; checked: every observed flow allowed, unobserved ones denied`);
    return EXIT.ok;
  },
};
