// Cluster state from the Kubernetes API: one reflector per resource, snapshots assembled
// (debounced) after changes, sync status for readiness and metrics. The agent keeps
// probing whatever happens here; verdicts are unknown until the first complete sync.

import { delimiter, dirname } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { readBoundedFile } from "../files/read.js";
import { IssueList, isObject, type Json } from "../documents/fields.js";
import type { Logger } from "../daemon/log.js";
import type { NetworkPolicy } from "../policy/model.js";
import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy } from "../policy/admin-model.js";
import { normalizeAdminNetworkPolicy, normalizeBaselineAdminNetworkPolicy } from "../policy/admin-normalize.js";
import { normalizeNetworkPolicy } from "../policy/normalize.js";
import { listPage } from "./api.js";
import { kubeClient } from "./kube-client.js";
import { redactUrlsIn } from "../text/url-credentials.js";
import { readEndpointSlice, readNamespace, readPod, readService } from "./objects.js";
import { type FailureKind, Reflector, type ReflectorOptions, type Slimmed } from "./reflector.js";
import type { ClusterSnapshot, EndpointSliceInfo, NamespaceInfo, PodInfo, ServiceInfo } from "./snapshot.js";

export interface ClusterStatus {
  readonly ready: boolean;
  readonly reason?: string;
  /** Not ready: the resources not synced yet, each with its last error, if it had one. */
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
}

export type SnapshotListener = (snapshot: ClusterSnapshot, seenAt: number, changed?: ReadonlySet<string>) => void;

export interface ClusterMetricsSink {
  setObjects(resource: string, count: number): void;
  setSynced(resource: string, synced: boolean): void;
  setSyncAgeSource(age: () => ReadonlyMap<string, number | undefined>): void;
  failure(resource: string, kind: FailureKind): void;
  skipped(resource: string): void;
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

interface Resources {
  namespaces: Reflector<NamespaceInfo>;
  pods: Reflector<PodInfo>;
  networkpolicies: Reflector<NetworkPolicy>;
  services: Reflector<ServiceInfo>;
  endpointslices: Reflector<EndpointSliceInfo>;
  adminnetworkpolicies: Reflector<AdminNetworkPolicy>;
  baselineadminnetworkpolicies: Reflector<BaselineAdminNetworkPolicy>;
}

const ADMIN_GROUP = "/apis/policy.networking.k8s.io/v1alpha1";

export interface LiveClusterOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly metrics?: ClusterMetricsSink;
  /** How long after the first change of a batch the snapshot is assembled (ms). */
  readonly debounceMs?: number;
  readonly reflector?: ReflectorOptions;
  /** A list that has not answered within this long is a failure (default 60 s). */
  readonly requestTimeoutMs?: number;
}

export class LiveCluster implements ClusterSource {
  private readonly resources: Resources;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private firstChangeAt: number | undefined;
  private onSnapshot: SnapshotListener | undefined;
  /** Resources changed since the last snapshot went out. */
  private changedResources = new Set<string>();
  private readonly loggedFailures = new Set<string>();
  /** Each resource's last failure, until it changes again (for status()). */
  private readonly lastFailure = new Map<string, string>();
  private stopped = false;
  private sentFirst = false;

  constructor(private readonly options: LiveClusterOptions) {
    this.log = options.logger;
    const kc = options.kubeConfig;
    const hooks = {
      onChange: (resource: string) => {
        // Recovered: a later failure of this resource is worth saying again.
        for (const key of this.loggedFailures) if (key.startsWith(`${resource}:`) && !key.endsWith(":absent")) this.loggedFailures.delete(key);
        this.lastFailure.delete(resource);
        this.changedResources.add(resource);
        this.changed();
      },
      onFailure: (resource: string, kind: FailureKind, message: string) => this.failed(resource, kind, message),
      onSkipped: (resource: string, key: string | undefined, reason: string) => {
        options.metrics?.skipped(resource);
        this.log.warn({ resource, object: key, reason }, "malformed object skipped");
      },
    };
    const make = <T>(resource: string, path: string, slim: (object: unknown) => Slimmed<T>, optional = false) =>
      new Reflector<T>(kc, { resource, watchPath: path, optional, list: (limit, token, signal) => listPage(kc, path, limit, token, signal, options.requestTimeoutMs) }, slim, hooks, options.reflector);
    this.resources = {
      namespaces: make("namespaces", "/api/v1/namespaces", slimmer((object, _ns, name, issues) => readNamespace(object, name, issues))),
      pods: make("pods", "/api/v1/pods", slimPod),
      networkpolicies: make(
        "networkpolicies",
        "/apis/networking.k8s.io/v1/networkpolicies",
        slimmer((object, _ns, _name, issues) => normalizeNetworkPolicy(object, issues)),
      ),
      services: make("services", "/api/v1/services", slimmer((object, ns, name, issues) => readService(object, ns, name, issues))),
      endpointslices: make(
        "endpointslices",
        "/apis/discovery.k8s.io/v1/endpointslices",
        slimmer((object, ns, name, issues) => readEndpointSlice(object, ns, name, issues)),
      ),
      // Served only where the network-policy-api CRDs are installed: absent is not an error.
      adminnetworkpolicies: make(
        "adminnetworkpolicies",
        `${ADMIN_GROUP}/adminnetworkpolicies`,
        slimmer((object, _ns, _name, issues) => normalizeAdminNetworkPolicy(object, issues)),
        true,
      ),
      baselineadminnetworkpolicies: make(
        "baselineadminnetworkpolicies",
        `${ADMIN_GROUP}/baselineadminnetworkpolicies`,
        slimmer((object, _ns, _name, issues) => normalizeBaselineAdminNetworkPolicy(object, issues)),
        true,
      ),
    };
    options.metrics?.setSyncAgeSource(() => {
      const now = Date.now();
      return new Map(this.reflectors().map((r) => [r.source.resource, r.lastSyncAt === undefined ? undefined : (now - r.lastSyncAt) / 1000]));
    });
  }

  private reflectors(): Reflector<unknown>[] {
    return Object.values(this.resources) as Reflector<unknown>[];
  }

  async start(onSnapshot: SnapshotListener): Promise<void> {
    this.onSnapshot = onSnapshot;
    for (const reflector of this.reflectors()) reflector.start();
  }

  async stop(): Promise<void> {
    // No snapshot may reach the agent once it stops, whatever is still in flight.
    this.stopped = true;
    this.onSnapshot = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all(this.reflectors().map((r) => r.stop()));
  }

  status(): ClusterStatus {
    // An optional resource the cluster does not serve does not hold up the verdicts.
    const waiting = this.reflectors().filter((r) => !r.everSynced && !(r.source.optional && r.state === "absent"));
    if (waiting.length === 0) return { ready: true };
    return {
      ready: false,
      reason: `waiting for the cluster state: ${waiting.map((r) => `${r.source.resource} (${r.state})`).join(", ")}`,
      waiting: waiting.map((r) => {
        const error = this.lastFailure.get(r.source.resource);
        return { resource: r.source.resource, ...(error !== undefined ? { error } : {}) };
      }),
    };
  }

  /** The current snapshot, once every resource has synced at least once. */
  current(): ClusterSnapshot | undefined {
    if (!this.status().ready) return undefined;
    const { namespaces, pods, networkpolicies, services, endpointslices, adminnetworkpolicies, baselineadminnetworkpolicies } = this.resources;
    // There is at most one BaselineAdminNetworkPolicy, named "default".
    const baseline = baselineadminnetworkpolicies.items.get("default");
    return {
      namespaces: [...namespaces.items.values()],
      pods: [...pods.items.values()],
      policies: [...networkpolicies.items.values()],
      services: [...services.items.values()],
      endpointSlices: [...endpointslices.items.values()],
      adminPolicies: [...adminnetworkpolicies.items.values()],
      ...(baseline ? { baselinePolicy: baseline } : {}),
    };
  }

  private changed(): void {
    if (this.stopped) return;
    this.firstChangeAt ??= Date.now();
    for (const reflector of this.reflectors()) {
      this.options.metrics?.setObjects(reflector.source.resource, reflector.items.size);
      this.options.metrics?.setSynced(reflector.source.resource, reflector.state === "synced");
    }
    if (this.timer) return;
    // Debounced: a burst of events (a rollout, a relist) becomes one snapshot.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const seenAt = this.firstChangeAt ?? Date.now();
      this.firstChangeAt = undefined;
      const snapshot = this.current();
      if (!snapshot) return;
      const changed = this.changedResources;
      this.changedResources = new Set();
      // The first snapshot, or one after a resource went absent: say nothing about what changed.
      this.onSnapshot?.(snapshot, seenAt, this.sentFirst ? changed : undefined);
      this.sentFirst = true;
    }, this.options.debounceMs ?? 50);
    this.timer.unref();
  }

  private failed(resource: string, kind: FailureKind, message: string): void {
    const optional = this.reflectors().some((r) => r.source.resource === resource && r.source.optional);
    // An optional API that the cluster does not serve is not a failure to alert on.
    if (!(optional && kind === "absent")) {
      this.lastFailure.set(resource, message);
      this.options.metrics?.failure(resource, kind);
      this.options.metrics?.setSynced(resource, false);
    } else if (!this.loggedFailures.has(`${resource}:absent`)) {
      // The first time only: it may have been the last thing the first snapshot waited for.
      this.changedResources.add(resource);
      this.changed();
    }
    // Said once per resource and kind until it recovers, not on every retry.
    const key = `${resource}:${kind}`;
    if (this.loggedFailures.has(key)) return;
    this.loggedFailures.add(key);
    if (kind === "absent") {
      this.log.info({ resource }, `${resource} not served by this cluster (policy.networking.k8s.io/v1alpha1 not installed): ignored, checked again later`);
    } else if (kind === "forbidden") {
      this.log.error({ resource, reason: kind }, `cannot read ${resource}: forbidden by RBAC (${message}); verdicts that need it stay unknown or stale, everything else keeps working`);
    } else {
      this.log.warn({ resource, reason: kind }, `lost ${resource} (${message}); retrying with backoff, last known state kept`);
    }
  }
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
