// The inbound part of `netcanary check`: its options (--dataplane, --cluster-cidr,
// --zscaler-feeds, --zpa-connectors), reading the saved feeds, and how its findings print.
// Kept apart from check.ts so that the check command only wires it in.

import { opendir } from "node:fs/promises";
import { join } from "node:path";
import { type Cidr, parseCidr, parseCidrOrIp } from "../addresses/ip.js";
import type { InputError } from "../documents/located.js";
import { problemOf, readBoundedFile } from "../files/read.js";
import type { OutsideSources } from "../inbound/sources.js";
import { CLOUD_NAME, FEED_KINDS, type FeedData, type FeedKind, parseFeed } from "../zscaler/feeds.js";
import { DEFAULT_FEED_MAX_BYTES } from "../zscaler/fetch.js";
import { type Dataplane, DATAPLANE_NAMES } from "../inbound/dataplanes.js";
import type { InboundReport } from "../inbound/paths.js";
import { UsageError } from "./command.js";
import { printTable } from "./table.js";

export const INBOUND_USAGE = `  --dataplane <name>     judge inbound paths for this dataplane: ${DATAPLANE_NAMES.join(", ")}
                         (without it, what the dataplane decides is reported as such)
  --cluster-cidr <cidr>  the pod or node network (repeatable): an ipBlock inside it does not
                         stand for clients outside the cluster
  --zscaler-feeds <dir>  saved Zscaler feeds, <dir>/<cloud>/<feed>.json (feed: ${FEED_KINDS.filter((k) => k !== "zpa").join(", ")}),
                         for queries from zscaler:<cloud> and to label ipBlocks as ZIA ranges
  --zpa-connectors <list>  the ZPA App Connectors' addresses or CIDRs, comma-separated,
                         for queries from zpa and to label ipBlocks as ZPA`;

export const INBOUND_HELP = `Inbound paths: for every pod whose ingress policy admits addresses outside the cluster
by ipBlock (Zscaler's ranges, an office), the Services (NodePort, LoadBalancer,
externalIPs), Ingresses and Gateway API routes that reach it, and whether the pod will
still see the client's address: externalTrafficPolicy: Cluster lets a node replace it with
its own (the dataplane decides), a proxy always replaces it with its own pods'. Each path
that loses the address is a finding, with what to change; --strict fails on them.`;

/** Clouds read from a --zscaler-feeds directory, at most; each feed file at most DEFAULT_FEED_MAX_BYTES. */
const MAX_FEED_CLOUDS = 16;

/** Reads <dir>/<cloud>/<kind>.json for every cloud directory and known feed kind; a bad file is an error naming it. */
export async function readZscalerFeeds(dir: string | undefined): Promise<{ feeds: Map<string, Map<FeedKind, FeedData>>; errors: InputError[] }> {
  const feeds = new Map<string, Map<FeedKind, FeedData>>();
  const errors: InputError[] = [];
  if (dir === undefined) return { feeds, errors };
  const clouds: string[] = [];
  try {
    for await (const entry of await opendir(dir)) {
      if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
      if (!CLOUD_NAME.test(entry.name)) continue;
      if (clouds.length >= MAX_FEED_CLOUDS) {
        errors.push({ file: dir, message: `more than ${MAX_FEED_CLOUDS} cloud directories; not read` });
        return { feeds, errors };
      }
      clouds.push(entry.name);
    }
  } catch (error) {
    errors.push({ file: dir, message: `cannot read (${problemOf(error).words})` });
    return { feeds, errors };
  }
  for (const cloud of clouds.sort()) {
    const kinds = new Map<FeedKind, FeedData>();
    for (const kind of FEED_KINDS) {
      if (kind === "zpa") continue;
      const file = join(dir, cloud, `${kind}.json`);
      const read = await readBoundedFile(file, { maxBytes: DEFAULT_FEED_MAX_BYTES });
      if (!read.ok) {
        // A feed not saved is simply not used; one that cannot be read is an error.
        if (read.problem !== "missing") errors.push({ file, message: read.reason });
        continue;
      }
      const parsed = parseFeed(kind, cloud, read.text);
      if (parsed.ok) kinds.set(kind, parsed.value);
      else errors.push({ file, message: `not a ${kind} feed of ${cloud} (${parsed.reason.code}): ${parsed.reason.message}` });
    }
    if (kinds.size === 0) errors.push({ file: join(dir, cloud), message: `no feed file (${FEED_KINDS.filter((k) => k !== "zpa").map((k) => `${k}.json`).join(", ")})` });
    else feeds.set(cloud, kinds);
  }
  if (clouds.length === 0) errors.push({ file: dir, message: "no cloud directory (<dir>/<cloud>/<feed>.json, e.g. zscaler.net/future.json)" });
  return { feeds, errors };
}

export function readZpaConnectors(value: string | undefined): Cidr[] {
  if (value === undefined) return [];
  return value.split(",").map((part) => {
    const parsed = parseCidrOrIp(part.trim());
    if (!parsed.ok) throw new UsageError(`--zpa-connectors: ${parsed.reason}`);
    return parsed.value;
  });
}

export async function readOutsideSources(dir: string | undefined, zpa: string | undefined): Promise<{ sources: OutsideSources; errors: InputError[] }> {
  const zpaConnectors = readZpaConnectors(zpa);
  const { feeds, errors } = await readZscalerFeeds(dir);
  return { sources: { feeds, zpaConnectors }, errors };
}

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
