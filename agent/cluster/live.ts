// Cluster state from the Kubernetes API, scoped to what this agent needs (DESIGN.md section
// 11, scope.ts): its node's pods, its targets' Services, EndpointSlices and pods (the pods
// behind a Service follow the Service's selector), namespaces as metadata only, and the
// policy kinds cluster-wide; one reflector per distinct watch. Addresses none of that explains
// are looked up (addresses.ts). Snapshots are assembled (debounced) after changes: the union
// of all of it, each object once. The agent keeps probing whatever happens here; verdicts
// are unknown until the first complete sync.

import { delimiter, dirname } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import type { IpAddress } from "../addresses/ip.js";
import { readBoundedFile } from "../files/read.js";
import { IssueList, isObject, type Json } from "../documents/fields.js";
import type { Logger } from "../log/log.js";
import type { NetworkPolicy } from "../policy/model.js";
import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from "../policy/admin-model.js";
import { normalizeAdminNetworkPolicy, normalizeBaselineAdminNetworkPolicy } from "../policy/admin-normalize.js";
import { normalizeNetworkPolicy } from "../policy/normalize.js";
import { ADDRESS_LOOKUP_DEFAULTS, AddressBook, type AddressState, KNOWN, type LookupAnswer, type LookupResult } from "./addresses.js";
import { ApiError, listPage, METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT, REQUEST_TIMEOUT_MS, type ReceivedSink, watchStream } from "./api.js";
import { kubeClient } from "./kube-client.js";
import { redactUrlsIn } from "../text/url-credentials.js";
import { readEndpointSlice, readNamespace, readPod, readService } from "./objects.js";
import { type FailureKind, Reflector, type ReflectorOptions, type ResourceSource, type Slimmed } from "./reflector.js";
import { addressKnowledge, assembleSnapshot, type KnownAddresses, type WatchedObjects } from "./assemble.js";
import { backendSpec, nodePodsSpec, specKey, specRequest, type TargetScope, targetSpecs, uniqueSpecs, type WatchSpec } from "./scope.js";
import type { ClusterSnapshot, EndpointSliceInfo, NamespaceInfo, PodInfo, ServiceInfo } from "./snapshot.js";

export interface ClusterStatus {
  readonly ready: boolean;
  readonly reason?: string;
  /** Not ready: what is not synced yet, each with its last error, if it had one. */
  readonly waiting?: readonly { readonly resource: string; readonly error?: string }[];
}

/** Where the agent's cluster state comes from: files, the API, or nothing. */
export interface ClusterSource {
  /** The state now; undefined until it is known (before the first sync with the API). */
  current(): ClusterSnapshot | undefined;
  /**
   * seenAt: when the change that produced this snapshot reached the agent (epoch ms);
   * changed: the resources that changed since the last snapshot, when known.
   */
  start(onSnapshot: SnapshotListener): Promise<void>;
  stop(): Promise<void>;
  status(): ClusterStatus;
  /** What the configuration targets: a source that holds less than the whole cluster fetches it. */
  setTargets?(targets: TargetScope): void;
  /**
   * Whether the state knows what the address is (a pod, a Service and the pods behind it,
   * or neither); pending: why not yet (it is being looked up). Without this, every address is known.
   */
  addressState?(ip: IpAddress): AddressState;
  /** The addresses edges point at now: what was looked up for any other may be forgotten. */
  retainAddresses?(addresses: ReadonlySet<string>): void;
  /** Asks the API what an address is (scoped requests, no cache): for callers that keep their own AddressBook (the traffic map). */
  lookupAddress?(ip: IpAddress, signal: AbortSignal): Promise<LookupAnswer>;
}

export type SnapshotListener = (snapshot: ClusterSnapshot, seenAt: number, changed?: ReadonlySet<string>) => void;

export interface ClusterMetricsSink {
  setObjects(resource: string, count: number): void;
  setSynced(resource: string, synced: boolean): void;
  setSyncAgeSource(age: () => ReadonlyMap<string, number | undefined>): void;
  failure(resource: string, kind: FailureKind): void;
  skipped(resource: string): void;
}

/** What the API server sent (by resource: bounded labels) and how lookups went. */
export interface ClusterTrafficSink {
  received(resource: string, objects: number, bytes: number): void;
  lookup(result: LookupResult): void;
  /** Watches kept per resource (resources without one are reported as 0). */
  setWatches(resource: string, count: number): void;
}

function metadataOf(object: unknown): { namespace: string; name: string } | undefined {
  if (!isObject(object) || !isObject(object["metadata"])) return undefined;
  const { namespace, name } = object["metadata"] as Json;
  if (typeof name !== "string") return undefined;
  return { namespace: typeof namespace === "string" ? namespace : "", name };
}

/** Builds a slimmer from a converter that reports problems as issues. */
function slimmer<T>(convert: (object: Json, namespace: string, name: string, issues: IssueList) => T | undefined): (object: unknown) => Slimmed<T> {
  return (object) => {
    const meta = metadataOf(object);
    if (!meta) return { kind: "malformed", reason: "no metadata.name" };
    const key = meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
    const issues = new IssueList();
    const value = convert(object as Json, meta.namespace, meta.name, issues);
    const first = issues.issues[0];
    if (first) return { kind: "malformed", key, reason: `${first.path.join(".")}: ${first.message}` };
    return value === undefined ? { kind: "absent", key } : { kind: "item", key, value };
  };
}

const slimPod = slimmer<PodInfo>((object, namespace, name, issues) => {
  const status = isObject(object["status"]) ? object["status"] : {};
  // A finished pod keeps its IP in status, but the IP may already belong to a new pod.
  if (status["phase"] === "Succeeded" || status["phase"] === "Failed") return undefined;
  return readPod(object, namespace, name, issues);
});
const slimService = slimmer((object, ns, name, issues) => readService(object, ns, name, issues));
const slimSlice = slimmer((object, ns, name, issues) => readEndpointSlice(object, ns, name, issues));
// A PartialObjectMetadata: the namespace's labels are all there is, and all the engine reads.
const slimNamespace = slimmer((object, _ns, name, issues) => readNamespace(object, name, issues));

const SLIMMERS = { pods: slimPod, services: slimService, endpointslices: slimSlice } as const;

interface Fixed {
  namespaces: Reflector<NamespaceInfo>;
  pods: Reflector<PodInfo>;
  networkpolicies: Reflector<NetworkPolicy>;
  adminnetworkpolicies: Reflector<AdminNetworkPolicy>;
  baselineadminnetworkpolicies: Reflector<BaselineAdminNetworkPolicy>;
}

type ScopedReflector = Reflector<PodInfo> | Reflector<ServiceInfo> | Reflector<EndpointSliceInfo>;

interface Scoped {
  readonly spec: WatchSpec;
  readonly reflector: ScopedReflector;
}

const ADMIN_GROUP = "/apis/policy.networking.k8s.io/v1alpha1";

/**
 * A watch with nothing on it (no event, no bookmark) for this long has failed: kube-apiserver
 * sends each watch that asked for bookmarks one about every minute, however quiet.
 */
export const WATCH_INACTIVITY_MS = 90_000;

export interface LiveClusterOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** The agent's node: its pods are the ones watched (spec.nodeName). */
  readonly nodeName: string;
  readonly metrics?: ClusterMetricsSink;
  readonly traffic?: ClusterTrafficSink;
  /** How long after the first change of a batch the snapshot is assembled (ms). */
  readonly debounceMs?: number;
  readonly reflector?: ReflectorOptions;
  /** A list or lookup that has not answered within this long is a failure (default 60 s). */
  readonly requestTimeoutMs?: number;
  /** A watch that sent nothing for this long is a failure (default WATCH_INACTIVITY_MS). */
  readonly watchInactivityMs?: number;
  /** Address lookups: TTL, how many kept, and the rate bound (addresses.ts). */
  readonly lookups?: Partial<typeof ADDRESS_LOOKUP_DEFAULTS>;
}

export class LiveCluster implements ClusterSource {
  private readonly fixed: Fixed;
  private readonly scoped = new Map<string, Scoped>();
  private targets: TargetScope = { services: [], pods: [] };
  private readonly book: AddressBook;
  private known: KnownAddresses | undefined;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private firstChangeAt: number | undefined;
  private onSnapshot: SnapshotListener | undefined;
  /** Resources changed since the last snapshot went out. */
  private changedResources = new Set<string>();
  private readonly loggedFailures = new Set<string>();
  /** Each watch's last failure, until it changes again (for status()), by description. */
  private readonly lastFailure = new Map<string, string>();
  private started = false;
  private stopped = false;
  private sentFirst = false;
  /** Every watch synced at least once: from then on, a snapshot is always assembled. */
  private everReady = false;
  /** The API server refused spec.clusterIP field selectors (older than Kubernetes 1.31). */
  private serviceLookupUnsupported: string | undefined;

  constructor(private readonly options: LiveClusterOptions) {
    this.log = options.logger;
    const fixed = <T>(resource: string, path: string, slim: (object: unknown) => Slimmed<T>, extra: { optional?: boolean; metadataOnly?: boolean; fieldSelector?: string; description?: string } = {}) =>
      new Reflector<T>(this.source(resource, path, extra), slim, this.hooks, options.reflector);
    const node = nodePodsSpec(options.nodeName);
    const nodeRequest = specRequest(node);
    this.fixed = {
      namespaces: fixed("namespaces", "/api/v1/namespaces", slimNamespace, { metadataOnly: true }),
      pods: fixed("pods", nodeRequest.path, slimPod, { ...(nodeRequest.fieldSelector ? { fieldSelector: nodeRequest.fieldSelector } : {}), description: node.purpose }),
      networkpolicies: fixed("networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies", slimmer((object, _ns, _name, issues) => normalizeNetworkPolicy(object, issues))),
      // Served only where the network-policy-api CRDs are installed: absent is not an error.
      adminnetworkpolicies: fixed("adminnetworkpolicies", `${ADMIN_GROUP}/adminnetworkpolicies`, slimmer((object, _ns, _name, issues) => normalizeAdminNetworkPolicy(object, issues)), { optional: true }),
      baselineadminnetworkpolicies: fixed(
        "baselineadminnetworkpolicies",
        `${ADMIN_GROUP}/baselineadminnetworkpolicies`,
        slimmer((object, _ns, _name, issues) => normalizeBaselineAdminNetworkPolicy(object, issues)),
        { optional: true },
      ),
    };
    this.book = new AddressBook({
      ...ADDRESS_LOOKUP_DEFAULTS,
      ...options.lookups,
      lookup: (ip, signal) => this.lookup(ip, signal),
      onChange: () => {
        this.changedResources.add("pods");
        this.changedResources.add("services");
        this.changed();
      },
      onLookup: (result) => options.traffic?.lookup(result),
    });
    options.metrics?.setSyncAgeSource(() => {
      // Per resource, the stalest of its watches: the resource is as current as that one.
      const now = Date.now();
      const ages = new Map<string, number | undefined>();
      for (const reflector of this.reflectors()) {
        const resource = reflector.source.resource;
        const age = reflector.lastSyncAt === undefined ? undefined : (now - reflector.lastSyncAt) / 1000;
        if (!ages.has(resource)) ages.set(resource, age);
        else {
          const before = ages.get(resource);
          ages.set(resource, before === undefined || age === undefined ? undefined : Math.max(before, age));
        }
      }
      return ages;
    });
  }

  private readonly hooks = {
    onChange: (source: ResourceSource) => {
      const what = describeSource(source);
      // Recovered: a later failure of this watch is worth saying again.
      for (const key of this.loggedFailures) if (key.startsWith(`${what}:`) && !key.endsWith(":absent")) this.loggedFailures.delete(key);
      this.lastFailure.delete(what);
      this.changedResources.add(source.resource);
      // A Service's selector decides which pods stand behind it: the watches follow it.
      if (source.resource === "services") this.reconcile();
      this.changed();
    },
    onFailure: (source: ResourceSource, kind: FailureKind, message: string) => this.failed(source, kind, message),
    onSkipped: (source: ResourceSource, key: string | undefined, reason: string) => {
      this.options.metrics?.skipped(source.resource);
      this.log.warn({ resource: source.resource, object: key, reason }, "malformed object skipped");
    },
  };

  /** A list and a watch of one path, narrowed by selectors, counted by resource. */
  private source(resource: string, path: string, extra: { optional?: boolean; metadataOnly?: boolean; fieldSelector?: string; labelSelector?: string; description?: string }): ResourceSource {
    const kc = this.options.kubeConfig;
    const received: ReceivedSink = (objects, bytes) => this.options.traffic?.received(resource, objects, bytes);
    const selectors = {
      ...(extra.labelSelector ? { labelSelector: extra.labelSelector } : {}),
      ...(extra.fieldSelector ? { fieldSelector: extra.fieldSelector } : {}),
    };
    const timeoutMs = this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    return {
      resource,
      ...(extra.optional ? { optional: true } : {}),
      ...(extra.description ? { description: extra.description } : {}),
      list: (limit, continueToken, signal) =>
        listPage(kc, path, { limit, ...(continueToken ? { continueToken } : {}), ...selectors, ...(extra.metadataOnly ? { accept: METADATA_LIST_ACCEPT } : {}), signal, timeoutMs, received }),
      watch: (resourceVersion, timeoutSeconds, signal, onEvent) =>
        watchStream(
          kc,
          path,
          {
            query: { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
            ...(extra.metadataOnly ? { accept: METADATA_WATCH_ACCEPT } : {}),
            signal,
            inactivityMs: this.options.watchInactivityMs ?? WATCH_INACTIVITY_MS,
            connectTimeoutMs: timeoutMs,
            received,
          },
          onEvent,
        ),
    };
  }

  private reflectors(): Reflector<unknown>[] {
    return [...(Object.values(this.fixed) as Reflector<unknown>[]), ...[...this.scoped.values()].map((s) => s.reflector as Reflector<unknown>)];
  }

  setTargets(targets: TargetScope): void {
    this.targets = targets;
    this.reconcile();
  }

  /**
   * The scoped watches the targets need now (the pods behind each Service by its current
   * selector): new ones start, ones no longer needed stop, the others go on untouched.
   */
  private reconcile(): void {
    if (this.stopped) return;
    const specs = targetSpecs(this.targets);
    const targeted = uniqueSpecs(specs);
    for (const [key, { reflector }] of this.scoped) {
      // The pods behind the Services still targeted: a Service no longer targeted takes that watch with it.
      if (reflector.source.resource !== "services" || !targeted.has(key)) continue;
      for (const service of (reflector as Reflector<ServiceInfo>).items.values()) {
        const spec = backendSpec(service);
        if (spec) specs.push(spec);
      }
    }
    const wanted = uniqueSpecs(specs);
    let changed = false;
    for (const [key, scoped] of this.scoped) {
      if (wanted.has(key)) continue;
      this.scoped.delete(key);
      this.lastFailure.delete(scoped.spec.purpose);
      for (const logged of this.loggedFailures) if (logged.startsWith(`${scoped.spec.purpose}:`)) this.loggedFailures.delete(logged);
      if (scoped.reflector.items.size > 0) {
        this.changedResources.add(scoped.spec.resource);
        changed = true;
      }
      void scoped.reflector.stop();
    }
    for (const [key, spec] of wanted) {
      if (this.scoped.has(key)) continue;
      const request = specRequest(spec);
      const source = this.source(spec.resource, request.path, {
        ...(request.labelSelector ? { labelSelector: request.labelSelector } : {}),
        ...(request.fieldSelector ? { fieldSelector: request.fieldSelector } : {}),
        description: spec.purpose,
      });
      const reflector = new Reflector(source, SLIMMERS[spec.resource] as (object: unknown) => Slimmed<never>, this.hooks, this.options.reflector) as ScopedReflector;
      this.scoped.set(key, { spec, reflector });
      if (this.started) reflector.start();
    }
    if (changed) this.changed();
  }

  async start(onSnapshot: SnapshotListener): Promise<void> {
    this.onSnapshot = onSnapshot;
    this.started = true;
    for (const reflector of this.reflectors()) reflector.start();
  }

  async stop(): Promise<void> {
    // No snapshot may reach the agent once it stops, whatever is still in flight.
    this.stopped = true;
    this.onSnapshot = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.book.stop();
    await Promise.all(this.reflectors().map((r) => r.stop()));
  }

  status(): ClusterStatus {
    // An optional resource the cluster does not serve does not hold up the verdicts.
    const waiting = this.reflectors().filter((r) => !r.everSynced && !(r.source.optional && r.state === "absent"));
    if (waiting.length === 0) return { ready: true };
    return {
      ready: false,
      reason: `waiting for the cluster state: ${waiting.map((r) => `${describeSource(r.source)} (${r.state})`).join(", ")}`,
      waiting: waiting.map((r) => {
        const error = this.lastFailure.get(describeSource(r.source));
        return { resource: describeSource(r.source), ...(error !== undefined ? { error } : {}) };
      }),
    };
  }

  /**
   * The current snapshot, once every watch has synced at least once. After that, a watch
   * started later (a new target) adds its objects when it has them; until then the
   * addresses that need them are pending (addressState).
   */
  current(): ClusterSnapshot | undefined {
    if (!this.everReady) {
      if (!this.status().ready) return undefined;
      this.everReady = true;
    }
    return this.assemble();
  }

  addressState(ip: IpAddress): AddressState {
    // Before the first snapshot nothing is judged: nothing to look up yet.
    if (!this.known) return KNOWN;
    const knowledge = addressKnowledge(this.known, ip, (spec) => this.scoped.get(specKey(spec))?.reflector.everSynced === true);
    return knowledge === "lookup" ? this.book.state(ip) : knowledge;
  }

  retainAddresses(addresses: ReadonlySet<string>): void {
    this.book.retain(addresses);
  }

  /** Every watch's objects and every lookup's answer, each object once (assemble.ts). */
  private assemble(): ClusterSnapshot {
    const { namespaces, pods, networkpolicies, adminnetworkpolicies, baselineadminnetworkpolicies } = this.fixed;
    // There is at most one BaselineAdminNetworkPolicy, named "default".
    const baseline = baselineadminnetworkpolicies.items.get("default");
    const watches: WatchedObjects[] = [
      { spec: nodePodsSpec(this.options.nodeName), synced: pods.everSynced, objects: pods.items.values() },
      ...[...this.scoped.values()].map(({ spec, reflector }) => ({ spec, synced: reflector.everSynced, objects: (reflector as Reflector<PodInfo | ServiceInfo | EndpointSliceInfo>).items.values() })),
    ];
    const assembled = assembleSnapshot(
      {
        namespaces: [...namespaces.items.values()],
        policies: [...networkpolicies.items.values()],
        adminPolicies: [...adminnetworkpolicies.items.values()],
        ...(baseline ? { baselinePolicy: baseline } : {}),
        watches,
      },
      this.book.answers(),
    );
    this.known = assembled.known;
    // Asked again after this assembly (invalidating starts a new one).
    for (const address of assembled.contradicted) queueMicrotask(() => this.book.invalidate(address));
    return assembled.snapshot;
  }

  lookupAddress(ip: IpAddress, signal: AbortSignal): Promise<LookupAnswer> {
    return this.lookup(ip, signal);
  }

  /**
   * What the API says an address is, from its watch cache (resourceVersion=0): a Service
   * whose cluster IP it is (and the pods behind it), else pods whose address it is. Services
   * first: a cluster IP is never a pod's, and the pod query is the dearer one for the server
   * (no index on status.podIP).
   */
  private async lookup(ip: IpAddress, signal: AbortSignal): Promise<LookupAnswer> {
    let services: ServiceInfo[] = [];
    if (this.serviceLookupUnsupported === undefined) {
      try {
        services = await this.lookupList("services", "/api/v1/services", { fieldSelector: `spec.clusterIP=${ip.text}` }, slimService, signal);
      } catch (error) {
        // Before Kubernetes 1.31 Services have no spec.clusterIP field selector (400): pods can still be found.
        if (!(error instanceof ApiError && error.code === 400)) throw error;
        this.serviceLookupUnsupported = error.message;
        this.log.warn({ reason: error.message }, "the API server cannot look Services up by cluster IP (Kubernetes 1.31 and later can): addresses that are no pod stay unknown");
      }
    }
    if (services.length > 0) {
      const pods: PodInfo[] = [];
      for (const service of services) {
        const spec = backendSpec(service);
        if (!spec) continue;
        const request = specRequest(spec);
        pods.push(...(await this.lookupList("pods", request.path, { ...(request.labelSelector ? { labelSelector: request.labelSelector } : {}) }, slimPod, signal)));
      }
      return { pods, services };
    }
    const pods = await this.lookupList("pods", "/api/v1/pods", { fieldSelector: `status.podIP=${ip.text}` }, slimPod, signal);
    if (pods.length > 0) return { pods, services };
    if (this.serviceLookupUnsupported !== undefined) {
      return { pods, services, undecidable: `whether ${ip.text} is a Service is not known: the API server cannot look Services up by cluster IP (Kubernetes 1.31 and later can)` };
    }
    const order = this.known?.familyOrder;
    if (order && ip.family === order[1] && order[0] !== order[1]) {
      return {
        pods,
        services,
        undecidable: `whether ${ip.text} is a pod or a Service is not known: it is of the cluster's second address family, and the API finds pods and Services by their first address only`,
      };
    }
    return { pods, services };
  }

  private async lookupList<T>(resource: string, path: string, selectors: { labelSelector?: string; fieldSelector?: string }, slim: (object: unknown) => Slimmed<T>, signal: AbortSignal): Promise<T[]> {
    const page = await listPage(this.options.kubeConfig, path, {
      ...selectors,
      resourceVersion: "0",
      signal,
      timeoutMs: this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      received: (objects, bytes) => this.options.traffic?.received(resource, objects, bytes),
    });
    const found: T[] = [];
    for (const item of page.items) {
      const slimmed = slim(item);
      if (slimmed.kind === "item") found.push(slimmed.value);
    }
    return found;
  }

  private changed(): void {
    if (this.stopped) return;
    this.firstChangeAt ??= Date.now();
    if (this.timer) return;
    // Debounced: a burst of events (a rollout, a relist) becomes one snapshot.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const seenAt = this.firstChangeAt ?? Date.now();
      this.firstChangeAt = undefined;
      const snapshot = this.current();
      this.reportObjects(snapshot);
      if (!snapshot) return;
      const changed = this.changedResources;
      this.changedResources = new Set();
      // The first snapshot, or one after a resource went absent: say nothing about what changed.
      this.onSnapshot?.(snapshot, seenAt, this.sentFirst ? changed : undefined);
      this.sentFirst = true;
    }, this.options.debounceMs ?? 50);
    this.timer.unref();
  }

  /** Objects held per resource, and whether each resource's watches are all current. */
  private reportObjects(snapshot: ClusterSnapshot | undefined): void {
    const metrics = this.options.metrics ?? NO_METRICS;
    const synced = new Map<string, boolean>();
    for (const reflector of this.reflectors()) {
      const resource = reflector.source.resource;
      synced.set(resource, (synced.get(resource) ?? true) && reflector.state === "synced");
    }
    for (const [resource, value] of synced) metrics.setSynced(resource, value);
    const watches = new Map<string, number>();
    for (const reflector of this.reflectors()) watches.set(reflector.source.resource, (watches.get(reflector.source.resource) ?? 0) + 1);
    for (const resource of ["pods", "services", "endpointslices"]) watches.set(resource, watches.get(resource) ?? 0);
    for (const [resource, count] of watches) this.options.traffic?.setWatches(resource, count);
    const counts: Record<string, number> = snapshot
      ? {
          namespaces: snapshot.namespaces.length,
          pods: snapshot.pods.length,
          services: snapshot.services.length,
          endpointslices: snapshot.endpointSlices?.length ?? 0,
          networkpolicies: snapshot.policies.length,
          adminnetworkpolicies: snapshot.adminPolicies?.length ?? 0,
          baselineadminnetworkpolicies: snapshot.baselinePolicy ? 1 : 0,
        }
      : this.reflectors().reduce<Record<string, number>>((sums, r) => ({ ...sums, [r.source.resource]: (sums[r.source.resource] ?? 0) + r.items.size }), {});
    for (const [resource, count] of Object.entries(counts)) metrics.setObjects(resource, count);
  }

  private failed(source: ResourceSource, kind: FailureKind, message: string): void {
    const resource = source.resource;
    const what = describeSource(source);
    // An optional API that the cluster does not serve is not a failure to alert on.
    if (!(source.optional && kind === "absent")) {
      this.lastFailure.set(what, message);
      this.options.metrics?.failure(resource, kind);
      this.options.metrics?.setSynced(resource, false);
    } else if (!this.loggedFailures.has(`${what}:absent`)) {
      // The first time only: it may have been the last thing the first snapshot waited for.
      this.changedResources.add(resource);
      this.changed();
    }
    // Said once per watch and kind until it recovers, not on every retry.
    const key = `${what}:${kind}`;
    if (this.loggedFailures.has(key)) return;
    this.loggedFailures.add(key);
    if (kind === "absent") {
      this.log.info({ resource }, `${resource} not served by this cluster (policy.networking.k8s.io/v1alpha1 not installed): ignored, checked again later`);
    } else if (kind === "forbidden") {
      this.log.error({ resource, reason: kind }, `cannot read ${what}: forbidden by RBAC (${message}); verdicts that need it stay unknown or stale, everything else keeps working`);
    } else {
      this.log.warn({ resource, reason: kind }, `lost ${what} (${message}); retrying with backoff, last known state kept`);
    }
  }
}

const NO_METRICS: ClusterMetricsSink = { setObjects() {}, setSynced() {}, setSyncAgeSource() {}, failure() {}, skipped() {} };

function describeSource(source: ResourceSource): string {
  return source.description ?? source.resource;
}

export type KubeConfigLoad = { readonly ok: true; readonly kubeConfig: KubeConfig | undefined } | { readonly ok: false; readonly message: string };

/**
 * The kubeconfig to use: in-cluster when running in a pod, otherwise an explicit file or
 * $KUBECONFIG. kubeConfig undefined: no cluster (standalone). A file that cannot be loaded is
 * a message that quotes none of it (describeKubeconfigError).
 */
export async function kubeConfigFor(options: { kubeconfig?: string; env?: NodeJS.ProcessEnv }): Promise<KubeConfigLoad> {
  const env = options.env ?? process.env;
  if (!options.kubeconfig && !env["KUBERNETES_SERVICE_HOST"] && !env["KUBECONFIG"]) return { ok: true, kubeConfig: undefined };
  // The library reads its files whole and blocks on a FIFO: each file it would read is
  // checked first (a regular file, bounded), and an explicit file is read here and handed over.
  const explicit = options.kubeconfig;
  const files = explicit !== undefined ? [explicit] : env["KUBERNETES_SERVICE_HOST"] ? [] : (env["KUBECONFIG"] ?? "").split(delimiter).filter((file) => file !== "");
  const texts: string[] = [];
  for (const file of files) {
    const read = await readBoundedFile(file, { maxBytes: KUBECONFIG_MAX_BYTES });
    if (!read.ok) return { ok: false, message: explicit !== undefined ? read.reason : read.message };
    texts.push(read.text);
  }
  let kc: KubeConfig;
  try {
    kc = new (await kubeClient()).KubeConfig();
    if (explicit !== undefined) {
      kc.loadFromString(texts[0] ?? "");
      kc.makePathsAbsolute(dirname(explicit));
    } else if (env["KUBERNETES_SERVICE_HOST"]) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (error: unknown) {
    return { ok: false, message: describeKubeconfigError(error) };
  }
  return { ok: true, kubeConfig: kc };
}

/** A kubeconfig with many clusters and embedded certificates is tens of KiB; 4 MiB is not one. */
export const KUBECONFIG_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Why a kubeconfig could not be loaded, quoting none of its text. The YAML parser's message
 * shows the lines around the error, and a kubeconfig holds tokens and client keys: only the
 * position and the first words of the parser's reason are kept ("cannot parse (line 8,
 * column 3: bad indentation of a mapping entry)"). Other errors (a missing file, a missing
 * field) say no more than a path or a field name; they are cut to one line, URLs redacted.
 */
export function describeKubeconfigError(error: unknown): string {
  if (isYamlError(error)) {
    // Reasons may end with text from the file (unknown tag !<...>, unknown directive "..."): cut there.
    const kind = /^[A-Za-z][A-Za-z -]*/.exec(error.reason ?? "")?.[0]?.trim() || "invalid YAML";
    const { line, column } = error.mark ?? {};
    const at = typeof line === "number" && typeof column === "number" ? `line ${line + 1}, column ${column + 1}: ` : "";
    return `cannot parse (${at}${kind})`;
  }
  const text = error instanceof Error ? error.message : String(error);
  const line = redactUrlsIn(text.split("\n")[0] ?? "");
  return `cannot load: ${line.length > 200 ? `${line.slice(0, 199)}…` : line}`;
}

interface YamlError {
  readonly name: string;
  readonly reason?: string;
  readonly mark?: { readonly line?: unknown; readonly column?: unknown };
}

/** js-yaml's YAMLException, which @kubernetes/client-node's loadFromString throws. */
function isYamlError(error: unknown): error is YamlError {
  return error instanceof Error && error.name === "YAMLException";
}
