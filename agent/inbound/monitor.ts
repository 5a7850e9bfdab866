// The agent's inbound view (netcanary agent --inbound, opt-in): which dataplane handles
// Services, read from the cluster where RBAC allows (inbound/dataplane-reader.ts), and for each
// exposed Service the agent holds (NodePort, LoadBalancer, externalIPs) whether traffic from
// outside keeps its source address. Read at start and then every interval (an hour by default:
// these objects change with cluster upgrades, not by the minute); published as two gauges and
// the /api/v1/inbound document. The reads are three GETs; nothing here takes input from a
// request.

import type { Gauge } from "prom-client";
import type { ClusterSnapshot } from "../cluster/snapshot.js";
import type { Logger } from "../log/log.js";
import { type Repeating, repeat } from "../schedule/timers.js";
import { type DataplaneDetection, type DataplaneObservations, detectDataplane } from "./detect.js";
import { type InboundPath, servicePath } from "./paths.js";

export const INBOUND_INTERVAL_MS = 60 * 60 * 1000;
/** How often the per-Service gauges follow the cluster state between readings. */
export const INBOUND_PUBLISH_MS = 30 * 1000;

export interface InboundServiceView extends InboundPath {
  readonly type: string;
  readonly externalTrafficPolicy: string;
}

export interface InboundDocument {
  readonly dataplane: string;
  readonly evidence: readonly string[];
  /** When the dataplane was last read, ISO 8601; null before the first read. */
  readonly checkedAt: string | null;
  readonly services: readonly InboundServiceView[];
}

export interface InboundMonitorOptions {
  readonly read: () => Promise<DataplaneObservations>;
  readonly snapshot: () => ClusterSnapshot | undefined;
  readonly metrics: { readonly dataplane: Gauge<"dataplane">; readonly service: Gauge<"service" | "outcome"> };
  readonly logger: Logger;
  readonly intervalMs?: number;
}

export class InboundMonitor {
  private detection: DataplaneDetection = { evidence: [] };
  private checkedAt: Date | undefined;
  /** The reading and the publishing loops, while started. */
  private loops: Repeating[] = [];
  private reading: Promise<void> | undefined;

  constructor(private readonly options: InboundMonitorOptions) {}

  /** Reads now, then every interval; the gauges follow the snapshot every INBOUND_PUBLISH_MS. */
  async start(): Promise<void> {
    await this.refresh();
    const { logger } = this.options;
    this.loops = [
      // Not awaited: the next reading is armed an interval after this one began (refresh() shares
      // a reading still under way, and reports its own failures).
      repeat(this.options.intervalMs ?? INBOUND_INTERVAL_MS, () => void this.refresh(), {
        unref: true,
        onError: (error) => logger.warn({ err: error }, "inbound: starting a reading failed; the next one follows"),
      }),
      repeat(INBOUND_PUBLISH_MS, () => this.publish(), {
        unref: true,
        onError: (error) => logger.warn({ err: error }, "inbound: publishing the gauges failed; the next turn follows"),
      }),
    ];
  }

  stop(): void {
    for (const loop of this.loops) void loop.stop();
    this.loops = [];
  }

  /** One read at a time; a caller arriving meanwhile shares it. */
  refresh(): Promise<void> {
    this.reading ??= this.options
      .read()
      .then((seen) => {
        const first = this.checkedAt === undefined;
        const previous = this.detection.dataplane;
        this.detection = detectDataplane(seen);
        this.checkedAt = new Date();
        if (first || previous !== this.detection.dataplane) {
          this.options.logger.info({ dataplane: this.detection.dataplane ?? "unknown", evidence: this.detection.evidence }, "inbound: dataplane read");
        }
        this.publish();
      })
      .catch((error: unknown) => this.options.logger.warn({ err: error }, "inbound: reading the dataplane failed; the last reading stays"))
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /** The exposed Services of the current snapshot, judged for the dataplane read. */
  services(): InboundServiceView[] {
    const snapshot = this.options.snapshot();
    return (snapshot?.services ?? [])
      .filter((service) => service.exposure !== undefined)
      .map((service) => {
        const exposure = service.exposure as NonNullable<typeof service.exposure>;
        return { ...servicePath(service, exposure, this.detection.dataplane), type: exposure.type, externalTrafficPolicy: exposure.externalTrafficPolicy };
      })
      .sort((a, b) => a.service.localeCompare(b.service));
  }

  /** Gauges follow the last reading and the current snapshot (stale series removed). */
  publish(): void {
    const { dataplane, service } = this.options.metrics;
    dataplane.reset();
    dataplane.set({ dataplane: this.detection.dataplane ?? "unknown" }, 1);
    service.reset();
    for (const view of this.services()) service.set({ service: view.service, outcome: view.outcome }, 1);
  }

  document(): InboundDocument {
    return {
      dataplane: this.detection.dataplane ?? "unknown",
      evidence: this.detection.evidence,
      checkedAt: this.checkedAt?.toISOString() ?? null,
      services: this.services(),
    };
  }
}
