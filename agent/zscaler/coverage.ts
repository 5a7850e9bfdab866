// The coverage audit as the agent runs it: for every source pod and cloud, the published
// ranges of the audited feeds its egress policies leave uncovered (zscaler/audit.ts does the
// set arithmetic), and the sentence an edge's explanation gets for such a gap.

import { type Cidr, parseCidr } from "../addresses/ip.js";
import type { PodInfo } from "../objects/model.js";
import type { Endpoint, PolicyIndex } from "../policy/engine.js";
import { uncoveredRanges } from "./audit.js";
import type { CenrFeed, FeedKind } from "./feeds.js";
import type { ZscalerSettings } from "./settings.js";

/** What the audit needs of a source identity (verdicts/policy.ts SourceIdentity). */
export interface AuditedSource {
  readonly name: string;
  /** Outside the cluster (no pod) no policy applies: not audited. */
  readonly pod?: PodInfo;
}

/** Published ranges of one feed, svpn addresses of CENR included. */
function rangesOf(data: { cidrs: readonly string[] }, kind: FeedKind): Cidr[] {
  const texts = kind === "cenr" ? [...data.cidrs, ...(data as CenrFeed).svpnIps.map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`))] : data.cidrs;
  return texts.flatMap((text) => {
    const parsed = parseCidr(text);
    return parsed.ok ? [parsed.value] : [];
  });
}

/** What the audit found for one source and cloud: the uncovered published ranges per feed. */
export interface CoverageFinding {
  readonly source: string;
  readonly cloud: string;
  readonly uncovered: ReadonlyMap<FeedKind, readonly string[]>;
}

/**
 * For every source that is a pod (outside the cluster no policy applies) and every cloud:
 * the ranges of the audited feeds its egress does not allow on every audited port.
 */
export function auditCoverage(
  index: PolicyIndex,
  sources: readonly AuditedSource[],
  settings: ZscalerSettings,
  current: (cloud: string, kind: FeedKind) => { cidrs: readonly string[] } | undefined,
): CoverageFinding[] {
  if (!settings.audit) return [];
  const findings: CoverageFinding[] = [];
  for (const source of sources) {
    if (!source.pod) continue;
    const endpoint: Endpoint = { kind: "pod", pod: source.pod };
    for (const cloud of settings.clouds) {
      const uncovered = new Map<FeedKind, readonly string[]>();
      for (const kind of settings.audit.feeds) {
        const data = current(cloud, kind);
        if (!data) continue;
        uncovered.set(kind, uncoveredRanges(index, endpoint, rangesOf(data, kind), settings.audit.ports).map((cidr) => cidr.text));
      }
      findings.push({ source: source.name, cloud, uncovered });
    }
  }
  return findings;
}

/** One sentence for an edge's explanation, or undefined when nothing is uncovered. */
export function describeGap(finding: CoverageFinding | undefined, ports: readonly number[]): string | undefined {
  if (!finding) return undefined;
  const missing = [...finding.uncovered.entries()].filter(([, ranges]) => ranges.length > 0);
  if (missing.length === 0) return undefined;
  const all = [...new Set(missing.flatMap(([, ranges]) => ranges))];
  const shown = all.slice(0, 5).join(", ");
  return `the egress policies of ${finding.source} leave ${all.length} published range(s) of ${finding.cloud} uncovered on ports ${ports.join(",")} (${missing.map(([kind]) => kind).join(", ")}): ${shown}${all.length > 5 ? ", ..." : ""}`;
}
