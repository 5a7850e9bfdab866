// The inbound part of `netcanary check`: its options (--dataplane, --cluster-cidr) and how its
// findings print. Kept apart from check.ts so that the check command only wires it in.

import { type Cidr, parseCidr } from "../addresses/ip.js";
import { type Dataplane, DATAPLANE_NAMES } from "../inbound/dataplanes.js";
import type { InboundReport } from "../inbound/paths.js";
import { UsageError } from "./command.js";
import { printTable } from "./table.js";

export const INBOUND_USAGE = `  --dataplane <name>     judge inbound paths for this dataplane: ${DATAPLANE_NAMES.join(", ")}
                         (without it, what the dataplane decides is reported as such)
  --cluster-cidr <cidr>  the pod or node network (repeatable): an ipBlock inside it does not
                         stand for clients outside the cluster`;

export const INBOUND_HELP = `Inbound paths: for every pod whose ingress policy admits addresses outside the cluster
by ipBlock (Zscaler's ranges, an office), the Services (NodePort, LoadBalancer,
externalIPs), Ingresses and Gateway API routes that reach it, and whether the pod will
still see the client's address: externalTrafficPolicy: Cluster lets a node replace it with
its own (the dataplane decides), a proxy always replaces it with its own pods'. Each path
that loses the address is a finding, with what to change; --strict fails on them.`;

export function readDataplane(value: string | undefined): Dataplane | undefined {
  if (value === undefined) return undefined;
  if (!DATAPLANE_NAMES.includes(value as Dataplane)) throw new UsageError(`--dataplane must be one of ${DATAPLANE_NAMES.join(", ")}, got "${value}"`);
  return value as Dataplane;
}

export function readClusterCidrs(values: readonly string[] | undefined): Cidr[] {
  return (values ?? []).map((text) => {
    const parsed = parseCidr(text.trim());
    if (!parsed.ok) throw new UsageError(`--cluster-cidr: ${parsed.reason}`);
    return parsed.value;
  });
}

const OUTCOME_WORDS = { preserved: "client address kept", rewritten: "REWRITTEN", dataplane: "DATAPLANE DECIDES" } as const;

/** The table of paths, then each finding with its explanation and fixes. Nothing when no pod admits outside ranges. */
export function renderInbound(report: InboundReport, print: (line: string) => void): void {
  if (report.pods.length === 0) return;
  print("");
  print(`Inbound paths to pods that admit addresses outside the cluster${report.dataplane ? ` (dataplane: ${report.dataplane})` : ""}:`);
  const rows = report.pods.flatMap((pod) => {
    const admits = pod.admits.map((a) => (a.ranges.length > 0 ? `${a.cidr} (${a.ranges.join(", ")})` : a.cidr));
    const shown = admits.length > 2 ? `${admits.slice(0, 2).join(", ")} and ${admits.length - 2} more` : admits.join(", ");
    if (pod.paths.length === 0) return [[pod.pod, shown, "(no NodePort, LoadBalancer, Ingress or route in the manifests)", "-"]];
    return pod.paths.map((path) => [pod.pod, shown, path.via, OUTCOME_WORDS[path.outcome]]);
  });
  printTable(print, ["POD OR WORKLOAD", "ADMITS", "REACHED THROUGH", "SOURCE ADDRESS"], rows);
  let n = 0;
  for (const pod of report.pods) {
    for (const path of pod.paths) {
      if (path.outcome === "preserved") continue;
      n += 1;
      const rules = [...new Set(pod.admits.map((a) => `${a.policy} spec.ingress[${a.rule}]`))].join(", ");
      print("");
      const match = path.outcome === "rewritten" ? "never matches" : "may never match";
      print(`inbound finding ${n}: ${pod.pod} via ${path.via}: the pod sees ${path.sourceSeen}, so ${rules} ${match} this traffic`);
      print(`    why: ${path.explanation}`);
      if (path.dataplane) print(`    dataplane: ${path.dataplane}`);
      for (const fix of path.fixes) print(`    fix: ${fix}`);
    }
  }
  print("");
  print(`${report.findings} inbound ${report.findings === 1 ? "finding" : "findings"}${report.findings > 0 ? " (--strict makes them a failure)" : ""}`);
}
