// What the API server costs this agent, and this agent the server: objects and bytes
// received per resource (lists, watch events, lookups), address lookups by result, and the
// watches open per resource. Labels are the resource and the result only, never a selector
// or an address: the series stay as few as the resources. Registered on the agent's registry.

import { Counter, Gauge, type Registry } from "prom-client";
import type { LookupResult } from "./addresses.js";
import type { ClusterTrafficSink } from "./live.js";

export class ClusterTrafficMetrics implements ClusterTrafficSink {
  readonly receivedObjects: Counter<"resource">;
  readonly receivedBytes: Counter<"resource">;
  readonly lookups: Counter<"result">;
  readonly watches: Gauge<"resource">;

  constructor(registry: Registry) {
    this.receivedObjects = new Counter({
      name: "netcanary_cluster_received_objects_total",
      help: "Objects received from the API server, by resource: list items, watch events (added, modified, deleted) and lookup answers.",
      labelNames: ["resource"],
      registers: [registry],
    });
    this.receivedBytes = new Counter({
      name: "netcanary_cluster_received_bytes_total",
      help: "Response bytes received from the API server, by resource: lists, watch streams (bookmarks included) and lookups.",
      labelNames: ["resource"],
      registers: [registry],
    });
    this.lookups = new Counter({
      name: "netcanary_cluster_address_lookups_total",
      help: "Addresses looked up at the API server, by answer: pod, service, none (neither), failed.",
      labelNames: ["result"],
      registers: [registry],
    });
    this.watches = new Gauge({
      name: "netcanary_cluster_watches",
      help: "Watches the agent keeps open (or is opening), by resource: its node's pods, its targets', the cluster-wide kinds.",
      labelNames: ["resource"],
      registers: [registry],
    });
  }

  received(resource: string, objects: number, bytes: number): void {
    if (objects > 0) this.receivedObjects.inc({ resource }, objects);
    if (bytes > 0) this.receivedBytes.inc({ resource }, bytes);
  }

  lookup(result: LookupResult): void {
    this.lookups.inc({ result });
  }

  setWatches(resource: string, count: number): void {
    this.watches.set({ resource }, count);
  }
}
