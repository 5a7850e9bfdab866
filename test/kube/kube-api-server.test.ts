// The Kubernetes API test server, driven by the real @kubernetes/client-node over HTTP:
// discovery, informers (list+watch), bookmarks, 410 relists, 403s, server restarts,
// chunked lists, Events. These tests also pin down how client-node 2.0.1 informers
// behave, which the agent's watch layer relies on.

import {
  ApiException,
  ApisApi,
  CoreApi,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  KubeConfig,
  ListWatch,
  NetworkingV1Api,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { KubeApiServer, type KubeApiServerOptions, type KubeObjectInput } from "../support/kube-api-server.js";
import { waitFor } from "../support/wait.js";

// ---------------------------------------------------------------------------------
// Helpers

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const server = await KubeApiServer.start(options);
  cleanups.push(() => server.stop());
  return server;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls predicate until it holds; fails after timeoutMs. */

type AnyInformer = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

interface Tracked {
  readonly informer: AnyInformer;
  /** "add ns/name", "update ns/name", "delete ns/name" in order. */
  readonly events: string[];
  readonly errors: unknown[];
  names(): string[];
}

function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ""}` : (obj.metadata?.name ?? "");
}

/**
 * Starts an informer and records what it reports. With restartAfterMs it follows
 * client-node's documented pattern: on 'error', start() again after a pause.
 * Stopped in afterEach.
 */
async function track(informer: AnyInformer, options: { readonly restartAfterMs?: number } = {}): Promise<Tracked> {
  const events: string[] = [];
  const errors: unknown[] = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  informer.on("add", (obj) => events.push(`add ${objectKey(obj)}`));
  informer.on("update", (obj) => events.push(`update ${objectKey(obj)}`));
  informer.on("delete", (obj) => events.push(`delete ${objectKey(obj)}`));
  informer.on("error", (err) => {
    if (stopped) return;
    errors.push(err);
    const restartAfterMs = options.restartAfterMs;
    if (restartAfterMs !== undefined) {
      timer = setTimeout(() => {
        if (!stopped) void informer.start();
      }, restartAfterMs);
    }
  });
  cleanups.push(async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await informer.stop();
  });
  await informer.start();
  return { informer, events, errors, names: () => informer.list().map(objectKey).sort() };
}

function namespace(name: string, labels: Record<string, string> = {}): KubeObjectInput {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } }
}

function pod(ns: string, name: string, options: { readonly node?: string; readonly labels?: Record<string, string>; readonly ip?: string } = {}): KubeObjectInput {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: ns, name, labels: options.labels ?? { app: name } },
    spec: { nodeName: options.node ?? "node-a", containers: [{ name: "main", image: "registry.example/app:1" }] },
    status: { phase: "Running", podIP: options.ip ?? "10.0.0.1" },
  }
}

function service(ns: string, name: string): KubeObjectInput {
  return { apiVersion: "v1", kind: "Service", metadata: { namespace: ns, name }, spec: { selector: { app: name }, ports: [{ port: 80, protocol: "TCP" }] } }
}

function networkPolicy(ns: string, name: string): KubeObjectInput {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace: ns, name }, spec: { podSelector: {}, policyTypes: ["Ingress"] } }
}

function endpointSlice(ns: string, name: string): KubeObjectInput {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { namespace: ns, name, labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.0.0.9"], conditions: { ready: true } }],
    ports: [{ port: 80, protocol: "TCP" }],
  }
}

function adminNetworkPolicy(name: string, priority = 10): KubeObjectInput {
  return {
    apiVersion: "policy.networking.k8s.io/v1alpha1",
    kind: "AdminNetworkPolicy",
    metadata: { name },
    spec: { priority, subject: { namespaces: {} }, ingress: [{ action: "Deny", from: [{ namespaces: {} }] }] },
  }
}

function baselineAdminNetworkPolicy(name: string): KubeObjectInput {
  return {
    apiVersion: "policy.networking.k8s.io/v1alpha1",
    kind: "BaselineAdminNetworkPolicy",
    metadata: { name },
    spec: { subject: { namespaces: {} }, ingress: [{ action: "Deny", from: [{ namespaces: {} }] }] },
  }
}

const ANP_GROUP = "policy.networking.k8s.io";

function customList(kc: KubeConfig, plural: string): () => Promise<KubernetesListObject<KubernetesObject>> {
  const api = kc.makeApiClient(CustomObjectsApi);
  return () => api.listClusterCustomObject({ group: ANP_GROUP, version: "v1alpha1", plural }) as Promise<KubernetesListObject<KubernetesObject>>;
}

async function rejection(promise: Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ApiException) return err;
    throw err;
  }
  throw new Error("expected the request to fail");
}

function statusCodeOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err === "object" && err !== null && "statusCode" in err && typeof err.statusCode === "number") return err.statusCode;
  return undefined;
}

// ---------------------------------------------------------------------------------

describe("discovery", () => {
  it("serves core, group and resource discovery; policy.networking.k8s.io is absent by default", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();

    expect((await kc.makeApiClient(CoreApi).getAPIVersions()).versions).toEqual(["v1"]);
    const core = await kc.makeApiClient(CoreV1Api).getAPIResources();
    expect(core.groupVersion).toBe("v1");
    expect(core.resources.map((r) => r.name)).toEqual(expect.arrayContaining(["namespaces", "pods", "services", "events"]));
    expect(core.resources.find((r) => r.name === "namespaces")?.namespaced).toBe(false);

    const groups = await kc.makeApiClient(ApisApi).getAPIVersions();
    const names = groups.groups.map((g) => g.name);
    expect(names).toEqual(expect.arrayContaining(["networking.k8s.io", "discovery.k8s.io", "events.k8s.io"]));
    expect(names).not.toContain(ANP_GROUP);

    expect((await kc.makeApiClient(NetworkingV1Api).getAPIResources()).resources.map((r) => r.name)).toEqual(["networkpolicies"]);
    expect((await kc.makeApiClient(DiscoveryV1Api).getAPIResources()).resources.map((r) => r.name)).toEqual(["endpointslices"]);
    expect((await kc.makeApiClient(EventsV1Api).getAPIResources()).resources.map((r) => r.kind)).toEqual(["Event"]);

    const custom = kc.makeApiClient(CustomObjectsApi);
    const absent = await rejection(custom.getAPIResources({ group: ANP_GROUP, version: "v1alpha1" }));
    expect(absent.code).toBe(404);
    expect(JSON.parse(String(absent.body))).toMatchObject({ kind: "Status", reason: "NotFound", code: 404 });
    expect((await rejection(customList(kc, "adminnetworkpolicies")())).code).toBe(404);
  });

  it("serves AdminNetworkPolicy and BaselineAdminNetworkPolicy (cluster-scoped) when enabled", async () => {
    const server = await startServer({ adminNetworkPolicies: true });
    const kc = server.kubeConfig();

    const groups = await kc.makeApiClient(ApisApi).getAPIVersions();
    const group = groups.groups.find((g) => g.name === ANP_GROUP);
    expect(group?.preferredVersion?.groupVersion).toBe(`${ANP_GROUP}/v1alpha1`);
    const resources = await kc.makeApiClient(CustomObjectsApi).getAPIResources({ group: ANP_GROUP, version: "v1alpha1" });
    expect(resources.resources.map((r) => [r.name, r.kind, r.namespaced])).toEqual([
      ["adminnetworkpolicies", "AdminNetworkPolicy", false],
      ["baselineadminnetworkpolicies", "BaselineAdminNetworkPolicy", false],
    ]);

    server.setAdminNetworkPoliciesServed(false);
    expect((await rejection(kc.makeApiClient(CustomObjectsApi).getAPIResources({ group: ANP_GROUP, version: "v1alpha1" }))).code).toBe(404);
  });
});

describe("informers", () => {
  interface KindCase {
    readonly kind: string;
    readonly path: string;
    readonly make: (name: string) => KubeObjectInput;
    readonly list: (kc: KubeConfig) => () => Promise<KubernetesListObject<KubernetesObject>>;
    readonly key: (name: string) => string;
    readonly remove: [string | undefined, string];
    readonly change: (obj: KubeObjectInput) => KubeObjectInput;
  }
  const relabel = (obj: KubeObjectInput): KubeObjectInput => ({ ...obj, metadata: { ...obj.metadata, labels: { changed: "yes" } } })
  const cases: KindCase[] = [
    { kind: "Namespace", path: "/api/v1/namespaces", make: (n) => namespace(n), list: (kc) => () => kc.makeApiClient(CoreV1Api).listNamespace(), key: (n) => n, remove: [undefined, "two"], change: relabel },
    { kind: "Pod", path: "/api/v1/pods", make: (n) => pod("apps", n), list: (kc) => () => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces(), key: (n) => `apps/${n}`, remove: ["apps", "two"], change: relabel },
    { kind: "Service", path: "/api/v1/services", make: (n) => service("apps", n), list: (kc) => () => kc.makeApiClient(CoreV1Api).listServiceForAllNamespaces(), key: (n) => `apps/${n}`, remove: ["apps", "two"], change: relabel },
    { kind: "NetworkPolicy", path: "/apis/networking.k8s.io/v1/networkpolicies", make: (n) => networkPolicy("apps", n), list: (kc) => () => kc.makeApiClient(NetworkingV1Api).listNetworkPolicyForAllNamespaces(), key: (n) => `apps/${n}`, remove: ["apps", "two"], change: relabel },
    { kind: "EndpointSlice", path: "/apis/discovery.k8s.io/v1/endpointslices", make: (n) => endpointSlice("apps", n), list: (kc) => () => kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces(), key: (n) => `apps/${n}`, remove: ["apps", "two"], change: relabel },
    { kind: "AdminNetworkPolicy", path: `/apis/${ANP_GROUP}/v1alpha1/adminnetworkpolicies`, make: (n) => adminNetworkPolicy(n), list: (kc) => customList(kc, "adminnetworkpolicies"), key: (n) => n, remove: [undefined, "two"], change: (o) => adminNetworkPolicy(o.metadata.name ?? "", 20) },
    { kind: "BaselineAdminNetworkPolicy", path: `/apis/${ANP_GROUP}/v1alpha1/baselineadminnetworkpolicies`, make: (n) => baselineAdminNetworkPolicy(n), list: (kc) => customList(kc, "baselineadminnetworkpolicies"), key: (n) => n, remove: [undefined, "two"], change: relabel },
  ];

  it.each(cases)("$kind: lists, then watches from the list's resourceVersion; add, modify and delete arrive", async (c) => {
    const server = await startServer({ adminNetworkPolicies: true });
    const kc = server.kubeConfig();
    server.apply(c.make("one"));
    server.apply(c.make("two"));
    const listRv = server.resourceVersion;

    const tracked = await track(makeInformer(kc, c.path, c.list(kc)));
    expect(tracked.names()).toEqual([c.key("one"), c.key("two")]);
    await waitFor(() => server.openWatches({ path: c.path }) === 1, 2000, "the watch");
    const watches = server.requests.filter((r) => r.path === c.path && r.watch);
    expect(watches.map((r) => r.query["resourceVersion"])).toEqual([listRv]);

    server.apply(c.make("three"));
    server.apply(c.change(c.make("one")));
    server.remove(c.kind, c.remove[0], c.remove[1]);
    await waitFor(() => tracked.events.length === 5, 2000, "three watch events");
    expect(tracked.events).toEqual([`add ${c.key("one")}`, `add ${c.key("two")}`, `add ${c.key("three")}`, `update ${c.key("one")}`, `delete ${c.key("two")}`]);
    expect(tracked.names()).toEqual([c.key("one"), c.key("three")]);
    expect(server.countRequests({ path: c.path, watch: false })).toBe(1);
    expect(tracked.errors).toEqual([]);
  });

  it("list items are client-node models without kind; watch objects are plain JSON with kind (as from kube-apiserver)", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();
    server.apply(pod("apps", "listed"));
    const seen: KubernetesObject[] = [];
    const informer = makeInformer(kc, "/api/v1/pods", () => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces());
    informer.on("add", (obj) => seen.push(obj));
    await track(informer);
    await waitFor(() => server.openWatches() === 1);
    server.apply(pod("apps", "watched"));
    await waitFor(() => seen.length === 2);
    const [listed, watched] = seen as [KubernetesObject, KubernetesObject];
    expect(listed.kind).toBeUndefined();
    expect(listed.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(watched.kind).toBe("Pod");
    expect(typeof watched.metadata?.creationTimestamp).toBe("string");
    expect(watched.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("applies field and label selectors to lists and watches; objects moving across a selector are added and deleted", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    server.apply(pod("apps", "here", { node: "node-a" }));
    server.apply(pod("apps", "there", { node: "node-b" }));

    const list = await core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=node-a" });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(["here"]);
    expect((await core.listPodForAllNamespaces({ labelSelector: "app in (there, other)" })).items.map((p) => p.metadata?.name)).toEqual(["there"]);
    expect((await core.listPodForAllNamespaces({ labelSelector: "app!=there,!missing" })).items.map((p) => p.metadata?.name)).toEqual(["here"]);
    expect((await rejection(core.listPodForAllNamespaces({ fieldSelector: "spec.bogus=x" }))).code).toBe(400);

    // makeInformer has no fieldSelector parameter; ListWatch does.
    const nodeInformer = new ListWatch<KubernetesObject>(
      "/api/v1/pods",
      new Watch(kc),
      () => core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=node-a" }),
      false,
      undefined,
      "spec.nodeName=node-a",
    );
    const tracked = await track(nodeInformer);
    expect(tracked.names()).toEqual(["apps/here"]);
    await waitFor(() => server.openWatches() === 1);
    expect(server.requests.find((r) => r.watch)?.query["fieldSelector"]).toBe("spec.nodeName=node-a");

    server.apply(pod("apps", "there", { node: "node-a" }));
    server.apply(pod("apps", "here", { node: "node-c" }));
    server.apply(pod("apps", "elsewhere", { node: "node-b" }));
    await waitFor(() => tracked.events.length === 3);
    expect(tracked.events).toEqual(["add apps/here", "add apps/there", "delete apps/here"]);
    expect(tracked.names()).toEqual(["apps/there"]);

    const labelled = await track(makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces({ labelSelector: "app=elsewhere" }), "app=elsewhere"));
    expect(labelled.names()).toEqual(["apps/elsewhere"]);
  });

  it("bookmarks advance the informer's resourceVersion without events, only when the path asks for them", async () => {
    const server = await startServer({ bookmarkIntervalMs: 30 });
    const kc = server.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    server.apply(pod("apps", "a"));

    // ListWatch never sends allowWatchBookmarks; a query string in the path is kept.
    const withBookmarks = new ListWatch<KubernetesObject>("/api/v1/pods?allowWatchBookmarks=true", new Watch(kc), () => core.listPodForAllNamespaces(), false);
    const without = new ListWatch<KubernetesObject>("/api/v1/pods", new Watch(kc), () => core.listPodForAllNamespaces(), false);
    const a = await track(withBookmarks);
    const b = await track(without);
    await waitFor(() => server.openWatches() === 2);
    const listRv = server.resourceVersion;
    expect(withBookmarks.latestResourceVersion()).toBe(listRv);

    // Other kinds move the global resourceVersion; pods see no event.
    server.apply(namespace("elsewhere"));
    server.apply(namespace("elsewhere-too"));
    await waitFor(() => withBookmarks.latestResourceVersion() === server.resourceVersion, 2000, "a bookmark");
    expect(Number(server.resourceVersion)).toBeGreaterThan(Number(listRv));
    await sleep(100);
    expect(without.latestResourceVersion()).toBe(listRv);
    expect(a.events).toEqual(["add apps/a"]);
    expect(b.events).toEqual(["add apps/a"]);
    const bookmarked = server.requests.find((r) => r.watch && r.query["allowWatchBookmarks"] === "true");
    expect(bookmarked?.query).toMatchObject({ watch: "true", resourceVersion: listRv });
  });

  it("a 410 ERROR event on a resumed watch (history compacted) makes the informer relist and reconcile", async () => {
    const server = await startServer({ historyLimit: 5 });
    const kc = server.kubeConfig();
    server.apply(pod("apps", "a"));
    server.apply(pod("apps", "b"));
    const tracked = await track(makeInformer(kc, "/api/v1/pods", () => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces()));
    await waitFor(() => server.openWatches() === 1);

    // Hold the reconnect, change state and compact history meanwhile, then let it through.
    const hold = server.hold({ resource: "pods", verb: "watch" });
    server.dropWatches();
    await waitFor(() => hold.waiting === 1, 2000, "the reconnecting watch");
    server.remove("Pod", "apps", "a");
    server.apply(pod("apps", "c"));
    server.compact();
    hold.release();

    await waitFor(() => server.countRequests({ resource: "pods", verb: "list" }) === 2, 3000, "the relist");
    await waitFor(() => tracked.names().join() === "apps/b,apps/c", 2000, "reconciled state");
    expect(tracked.events).toEqual(["add apps/a", "add apps/b", "delete apps/a", "add apps/c"]);
    expect(tracked.errors).toEqual([]);
    // The informer watches again from the relist's resourceVersion (after its 1 s backoff).
    const relistRv = server.resourceVersion;
    await waitFor(() => server.openWatches() === 1, 3000, "the new watch");
    const watches = server.requests.filter((r) => r.verb === "watch");
    expect(watches).toHaveLength(3);
    expect(watches[2]?.query["resourceVersion"]).toBe(relistRv);
    server.apply(pod("apps", "d"));
    await waitFor(() => tracked.names().includes("apps/d"));
  });

  it.each(["event", "http"] as const)("an injected 410 (%s form) makes the informer relist without an error", async (form) => {
    const server = await startServer();
    const kc = server.kubeConfig();
    server.apply(pod("apps", "a"));
    const tracked = await track(makeInformer(kc, "/api/v1/pods", () => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces()));
    await waitFor(() => server.openWatches() === 1);
    server.expireNextWatch({ resource: "pods" }, { form });
    server.dropWatches();
    await waitFor(() => server.countRequests({ resource: "pods", verb: "list" }) === 2, 3000, "the relist");
    const expired = server.requests.filter((r) => r.verb === "watch")[1];
    expect(expired?.status).toBe(form === "http" ? 410 : 200);
    expect(tracked.errors).toEqual([]);
    expect(tracked.names()).toEqual(["apps/a"]);
  });

  it("403 on one resource surfaces as an error on that informer only, which then stays stopped", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    server.forbid({ resource: "networkpolicies" });
    server.forbid({ resource: "services", verb: "watch" });
    server.apply(service("apps", "web"));

    const pods = await track(makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()));
    const policies = await track(makeInformer(kc, "/apis/networking.k8s.io/v1/networkpolicies", () => kc.makeApiClient(NetworkingV1Api).listNetworkPolicyForAllNamespaces()));
    const services = await track(makeInformer(kc, "/api/v1/services", () => core.listServiceForAllNamespaces()));

    await waitFor(() => policies.errors.length === 1 && services.errors.length === 1);
    const listError = policies.errors[0];
    expect(listError).toBeInstanceOf(ApiException);
    expect(statusCodeOf(listError)).toBe(403);
    expect(JSON.parse(String((listError as ApiException<unknown>).body))).toMatchObject({
      kind: "Status",
      reason: "Forbidden",
      code: 403,
      message: expect.stringContaining('cannot list resource "networkpolicies" in API group "networking.k8s.io" at the cluster scope'),
    });
    // A failed watch start is a plain Error with statusCode, not an ApiException.
    expect(services.errors[0]).not.toBeInstanceOf(ApiException);
    expect(statusCodeOf(services.errors[0])).toBe(403);
    expect(services.names()).toEqual(["apps/web"]);

    server.apply(pod("apps", "p"));
    await waitFor(() => pods.names().includes("apps/p"));
    expect(pods.errors).toEqual([]);
    await sleep(150);
    expect(server.countRequests({ resource: "networkpolicies" })).toBe(1);
    expect(server.countRequests({ resource: "services", verb: "watch" })).toBe(1);
  });

  it("stop() of an informer reports an AbortError through its error callbacks", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();
    const informer = makeInformer(kc, "/api/v1/pods", () => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces());
    const errors: unknown[] = [];
    informer.on("error", (err) => errors.push(err));
    await informer.start();
    await waitFor(() => server.openWatches() === 1);
    await informer.stop();
    await waitFor(() => errors.length === 1);
    expect((errors[0] as Error).name).toBe("AbortError");
    await waitFor(() => server.openWatches() === 0);
  });

  it("survives the API server stopping and restarting on the same port: resumes the watch and sees changes made while down", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();
    const url = server.url;
    server.apply(pod("apps", "a"));
    server.apply(pod("apps", "b"));
    const tracked = await track(makeInformer(kc, "/api/v1/pods", () => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces()), { restartAfterMs: 50 });
    await waitFor(() => server.openWatches() === 1);
    const rvBefore = server.resourceVersion;

    await server.stop();
    await waitFor(() => tracked.errors.length >= 1, 2000, "the informer to notice");
    server.remove("Pod", "apps", "a");
    server.apply(pod("apps", "c"));
    await sleep(120);
    await server.start();
    expect(server.url).toBe(url);

    await waitFor(() => tracked.names().join() === "apps/b,apps/c", 3000, "the changes made while down");
    expect(tracked.events.slice(2)).toEqual(["delete apps/a", "add apps/c"]);
    // Resumed from the old resourceVersion: no relist.
    expect(server.countRequests({ resource: "pods", verb: "list" })).toBe(1);
    const resumed = server.requests.filter((r) => r.verb === "watch" && r.status === 200);
    expect(resumed.at(-1)?.query["resourceVersion"]).toBe(rvBefore);
  });

  it("relists after a restart that lost the store (resumed watch gets 410)", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();
    server.apply(pod("apps", "a"));
    const tracked = await track(makeInformer(kc, "/api/v1/pods", () => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces()), { restartAfterMs: 50 });
    await waitFor(() => server.openWatches() === 1);

    await server.stop();
    await waitFor(() => tracked.errors.length >= 1);
    await server.start({ resetStore: true });
    server.apply(pod("apps", "fresh"));
    await waitFor(() => tracked.names().join() === "apps/fresh", 3000, "the relisted state");
    expect(server.countRequests({ resource: "pods", verb: "list" })).toBe(2);
    expect(tracked.events).toEqual(["add apps/a", "delete apps/a", "add apps/fresh"]);
  });

  it("a watch cut mid-stream is an error (restart needed); a cleanly ended watch is resumed silently", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();
    const tracked = await track(makeInformer(kc, "/api/v1/pods", () => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces()));
    await waitFor(() => server.openWatches() === 1);
    expect(server.dropWatches()).toBe(1);
    await waitFor(() => server.countRequests({ verb: "watch" }) === 2 && server.openWatches() === 1, 2000, "a silent reconnect");
    expect(tracked.errors).toEqual([]);

    server.dropWatches({ abrupt: true });
    await waitFor(() => tracked.errors.length === 1, 2000, "the error");
    await sleep(100);
    expect(server.countRequests({ verb: "watch" })).toBe(2);
    expect(server.countRequests({ verb: "list" })).toBe(1);
  });
});

describe("server controls", () => {
  it("delays, injected statuses, tokens and kubeconfig YAML", async () => {
    const server = await startServer({ token: "s3cret" });
    const core = server.kubeConfig().makeApiClient(CoreV1Api);

    server.delay({ resource: "pods", verb: "list" }, 150, { times: 1 });
    const began = Date.now();
    await core.listPodForAllNamespaces();
    expect(Date.now() - began).toBeGreaterThanOrEqual(140);

    const fault = server.failWith({ resource: "pods" }, 503, { times: 1, reason: "ServiceUnavailable", message: "etcd is down" });
    const failed = await rejection(core.listPodForAllNamespaces());
    expect(failed.code).toBe(503);
    expect(JSON.parse(String(failed.body))).toMatchObject({ kind: "Status", reason: "ServiceUnavailable", message: "etcd is down", code: 503 });
    expect(fault.hits).toBe(1);
    await core.listPodForAllNamespaces();

    const fromYaml = new KubeConfig();
    fromYaml.loadFromString(server.kubeconfigYaml());
    expect((await fromYaml.makeApiClient(CoreApi).getAPIVersions()).versions).toEqual(["v1"]);
    const anonymous = new KubeConfig();
    anonymous.loadFromOptions({ clusters: [{ name: "c", server: server.url, skipTLSVerify: true }], users: [{ name: "u" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
    expect((await rejection(anonymous.makeApiClient(CoreV1Api).listNamespace())).code).toBe(401);
    expect(server.requests.at(-1)).toMatchObject({ method: "GET", path: "/api/v1/namespaces", verb: "list", resource: "namespaces", status: 401 });
  });
});

describe("lists and watches on the wire", () => {
  it("chunks lists with limit/continue from one consistent snapshot", async () => {
    const server = await startServer();
    const core = server.kubeConfig().makeApiClient(CoreV1Api);
    const names = Array.from({ length: 25 }, (_, i) => `p${String(i).padStart(2, "0")}`);
    for (const name of names) server.apply(pod(name < "p13" ? "aaa" : "bbb", name));
    const snapshotRv = server.resourceVersion;

    const first = await core.listPodForAllNamespaces({ limit: 10 });
    expect(first.items).toHaveLength(10);
    expect(first.metadata?.remainingItemCount).toBe(15);
    expect(first.metadata?.resourceVersion).toBe(snapshotRv);
    // Changes between pages do not show up in later pages.
    server.apply(pod("bbb", "p99"));
    server.remove("Pod", "bbb", "p20");
    const seen = first.items.map((p) => p.metadata?.name);
    let token = first.metadata?._continue;
    let pages = 1;
    while (token) {
      const page = await core.listPodForAllNamespaces({ limit: 10, _continue: token });
      expect(page.metadata?.resourceVersion).toBe(snapshotRv);
      seen.push(...page.items.map((p) => p.metadata?.name));
      token = page.metadata?._continue;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(names);

    // Without limit: the live state.
    expect((await core.listPodForAllNamespaces()).items).toHaveLength(25);
    // Exact reads of an older resourceVersion are served from history.
    const exact = await core.listPodForAllNamespaces({ resourceVersion: snapshotRv, resourceVersionMatch: "Exact" });
    expect(exact.items.map((p) => p.metadata?.name)).toEqual(names);

    // Once history before the token's snapshot is compacted, the token is expired (410 with a fresh token).
    const stale = (await core.listNamespacedPod({ namespace: "aaa", limit: 5 })).metadata?._continue as string;
    server.apply(pod("aaa", "later"));
    server.compact();
    const expired = await rejection(core.listNamespacedPod({ namespace: "aaa", limit: 5, _continue: stale }));
    expect(expired.code).toBe(410);
    expect(JSON.parse(String(expired.body))).toMatchObject({ reason: "Expired", metadata: { continue: expect.any(String) } });
    expect((await rejection(core.listPodForAllNamespaces({ resourceVersion: snapshotRv, resourceVersionMatch: "Exact" }))).code).toBe(410);
  });

  it("streams watch events over chunked JSON: replay after a resourceVersion, initial ADDED events, 410 for expired, timeoutSeconds", async () => {
    const server = await startServer({ historyLimit: 3, bookmarkIntervalMs: 60_000 });
    const kc = server.kubeConfig();
    server.apply(pod("apps", "a"));
    const afterA = server.resourceVersion;
    server.apply(pod("apps", "b"));
    server.remove("Pod", "apps", "a");

    const watch = new Watch(kc);
    const run = async (query: Record<string, string | number>): Promise<{ events: Array<[string, Record<string, unknown>]>; err: unknown; ms: number }> => {
      const events: Array<[string, Record<string, unknown>]> = [];
      const began = Date.now();
      return await new Promise((resolve) => {
        void watch.watch("/api/v1/namespaces/apps/pods", query, (phase, obj: Record<string, unknown>) => events.push([phase, obj]), (err) => resolve({ events, err, ms: Date.now() - began }));
      });
    };

    const [replay, initial, streamed] = await Promise.all([
      run({ resourceVersion: afterA, timeoutSeconds: 1 }),
      run({ timeoutSeconds: 1 }),
      run({ sendInitialEvents: "true", resourceVersionMatch: "NotOlderThan", allowWatchBookmarks: "true", timeoutSeconds: 1 }),
    ]);
    expect(replay.err).toBeNull();
    expect(replay.ms).toBeGreaterThanOrEqual(900);
    expect(replay.ms).toBeLessThan(2500);
    expect(replay.events.map(([type, obj]) => `${type} ${String((obj["metadata"] as { name: string }).name)}`)).toEqual(["ADDED b", "DELETED a"]);
    const deleted = replay.events[1]?.[1] as { metadata: { resourceVersion: string } };
    expect(deleted.metadata.resourceVersion).toBe(server.resourceVersion);

    expect(initial.events.map(([type, obj]) => `${type} ${String((obj["metadata"] as { name: string }).name)}`)).toEqual(["ADDED b"]);

    expect(streamed.events.map(([type]) => type)).toEqual(["ADDED", "BOOKMARK"]);
    expect(streamed.events[1]?.[1]).toMatchObject({ kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: server.resourceVersion, annotations: { "k8s.io/initial-events-end": "true" } } });

    for (let i = 0; i < 5; i++) server.apply(pod("apps", `x${i}`));
    const expired = await run({ resourceVersion: afterA });
    expect(expired.err).toBeNull();
    expect(expired.events).toHaveLength(1);
    expect(expired.events[0]?.[0]).toBe("ERROR");
    expect(expired.events[0]?.[1]).toMatchObject({ kind: "Status", code: 410, reason: "Expired", message: expect.stringMatching(/^too old resource version: /) });
  });
});

describe("events", () => {
  it("stores Events created through CoreV1Api and EventsV1Api, patches them, and validates like kube-apiserver", async () => {
    const server = await startServer();
    const kc = server.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    server.apply(namespace("netcanary"));

    const created = await core.createNamespacedEvent({
      namespace: "netcanary",
      body: {
        metadata: { generateName: "probe-web." },
        involvedObject: { kind: "Pod", namespace: "netcanary", name: "canary-x", apiVersion: "v1" },
        reason: "UnexpectedBlock",
        message: "tcp 10.0.0.1 -> 10.0.0.2:80 was blocked; policy allows it",
        type: "Warning",
        source: { component: "netcanary" },
        firstTimestamp: new Date("2025-01-01T00:00:00Z"),
        lastTimestamp: new Date("2025-01-01T00:00:00Z"),
        count: 1,
      },
    });
    const name = created.metadata?.name ?? "";
    expect(name).toMatch(/^probe-web\.[a-z0-9]{5}$/);
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.metadata?.resourceVersion).toBe(server.resourceVersion);

    const stored = server.get("Event", "netcanary", name);
    expect(stored).toMatchObject({ apiVersion: "v1", kind: "Event", reason: "UnexpectedBlock", type: "Warning", count: 1, involvedObject: { name: "canary-x" } });
    const post = server.requests.find((r) => r.method === "POST");
    expect(post?.path).toBe("/api/v1/namespaces/netcanary/events");
    expect(post?.body).toMatchObject({ reason: "UnexpectedBlock", metadata: { generateName: "probe-web." } });

    // The same Event through events.k8s.io/v1.
    const viaEventsApi = await kc.makeApiClient(EventsV1Api).readNamespacedEvent({ namespace: "netcanary", name });
    expect(viaEventsApi.note).toBe("tcp 10.0.0.1 -> 10.0.0.2:80 was blocked; policy allows it");
    expect(viaEventsApi.regarding?.name).toBe("canary-x");
    expect(viaEventsApi.deprecatedCount).toBe(1);

    // PATCH: client-node defaults to JSON Patch; merge patch needs the Content-Type override.
    const jsonPatched = await core.patchNamespacedEvent({ namespace: "netcanary", name, body: [{ op: "replace", path: "/count", value: 2 }] });
    expect(jsonPatched.count).toBe(2);
    const merged = await core.patchNamespacedEvent(
      { namespace: "netcanary", name, body: { count: 3, lastTimestamp: "2025-01-01T00:05:00Z" } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    expect(merged.count).toBe(3);
    expect(server.requests.filter((r) => r.method === "PATCH").map((r) => r.headers["content-type"])).toEqual([
      "application/json-patch+json",
      "application/merge-patch+json",
    ]);

    // Legacy validation: the involved object's namespace must be the Event's.
    const mismatch = await rejection(
      core.createNamespacedEvent({ namespace: "netcanary", body: { metadata: { name: "x" }, involvedObject: { kind: "Pod", namespace: "other", name: "p" }, reason: "R", message: "m" } }),
    );
    expect(mismatch.code).toBe(422);
    expect(JSON.parse(String(mismatch.body))).toMatchObject({ reason: "Invalid", details: { causes: [{ field: "involvedObject.namespace" }] } });
    // The namespace must exist.
    expect((await rejection(core.createNamespacedEvent({ namespace: "missing", body: { metadata: { name: "x" }, involvedObject: {} } }))).code).toBe(404);

    // events.k8s.io/v1 create (strict validation) lands in the same store.
    const modern = await kc.makeApiClient(EventsV1Api).createNamespacedEvent({
      namespace: "netcanary",
      body: {
        metadata: { name: "modern" },
        eventTime: new Date("2025-01-01T00:00:00.000000Z"),
        reportingController: "netcanary.io/agent",
        reportingInstance: "netcanary-node-a",
        action: "Probe",
        reason: "UnexpectedAllow",
        note: "allowed",
        type: "Normal",
        regarding: { kind: "Pod", namespace: "netcanary", name: "canary-x" },
      },
    });
    expect(modern.metadata?.resourceVersion).toBe(server.resourceVersion);
    expect(server.get("Event", "netcanary", "modern")).toMatchObject({ message: "allowed", reportingComponent: "netcanary.io/agent", involvedObject: { name: "canary-x" } });
    const strict = await rejection(
      kc.makeApiClient(EventsV1Api).createNamespacedEvent({ namespace: "netcanary", body: { metadata: { name: "bad" }, eventTime: new Date(), reason: "R", type: "Normal" } }),
    );
    expect(strict.code).toBe(422);
    expect(server.list("Event", "netcanary").map((e) => e.metadata.name).sort()).toEqual(["modern", name].sort());
  });
});

// ---------------------------------------------------------------------------------
// What a scoped client asks for (the agent's own client, api.ts), on the wire

/** A GET as the agent's client sends it (plain HTTP; the server needs no auth here). */
async function raw(server: KubeApiServer, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; bytes: number }> {
  const response = await fetch(`${server.url}${path}`, { headers });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, bytes: Buffer.byteLength(text) };
}

/** The first `count` lines of a watch, then the connection closed. */
async function watchLines(server: KubeApiServer, path: string, count: number, headers: Record<string, string> = {}, during?: () => void): Promise<{ status: number; events: { type: string; object: Record<string, unknown> }[] }> {
  const controller = new AbortController();
  const response = await fetch(`${server.url}${path}`, { headers, signal: controller.signal });
  if (response.status !== 200) return { status: response.status, events: [JSON.parse(await response.text()) as { type: string; object: Record<string, unknown> }] };
  const events: { type: string; object: Record<string, unknown> }[] = [];
  let buffer = "";
  const decoder = new TextDecoder();
  during?.();
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const deadline = setTimeout(() => controller.abort(), 5000);
  try {
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
        events.push(JSON.parse(buffer.slice(0, newline)) as { type: string; object: Record<string, unknown> });
        buffer = buffer.slice(newline + 1);
      }
    }
  } finally {
    clearTimeout(deadline);
    controller.abort();
  }
  return { status: response.status, events };
}

const METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const METADATA_ITEM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

function labelledPod(name: string, labels: Record<string, string>): KubeObjectInput {
  return pod("apps", name, { labels });
}

describe("what a scoped client asks for", () => {
  it("metadata only: a list is a PartialObjectMetadataList of PartialObjectMetadata, a watch sends PartialObjectMetadata events and bookmarks", async () => {
    const server = await startServer({ bookmarkIntervalMs: 100 });
    server.apply(namespace("shop", { team: "a" }));
    server.apply(namespace("bank", { team: "b" }));

    const full = await raw(server, "/api/v1/namespaces");
    const list = await raw(server, "/api/v1/namespaces", { accept: METADATA_LIST });
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ kind: "PartialObjectMetadataList", apiVersion: "meta.k8s.io/v1", metadata: { resourceVersion: server.resourceVersion } });
    const items = list.body["items"] as Record<string, unknown>[];
    expect(items.map((item) => Object.keys(item).sort())).toEqual([["apiVersion", "kind", "metadata"], ["apiVersion", "kind", "metadata"]]);
    expect(items[1]).toMatchObject({ kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: { name: "shop", labels: { team: "a", "kubernetes.io/metadata.name": "shop" } } });
    // No spec or status: for pods, the metadata-only answer is much smaller than the objects.
    expect(JSON.stringify(items)).not.toContain("finalizers");
    expect(JSON.stringify(full.body)).toContain("finalizers");
    server.apply(pod("shop", "web"));
    expect((await raw(server, "/api/v1/pods", { accept: METADATA_LIST })).bytes).toBeLessThan((await raw(server, "/api/v1/pods")).bytes);
    const again = await raw(server, "/api/v1/namespaces", { accept: METADATA_LIST });
    expect(server.requests.at(-1)).toMatchObject({ verb: "list", representation: "metadata", objects: 2, bytes: again.bytes });

    // Clients offer several representations, best first: the first one served wins.
    const offered = await raw(server, "/api/v1/namespaces", { accept: `application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,${METADATA_LIST},application/json` });
    expect(offered.body["kind"]).toBe("PartialObjectMetadataList");
    // q=0 refuses a representation; a Table is not served here, JSON is.
    expect((await raw(server, "/api/v1/namespaces", { accept: `${METADATA_LIST};q=0,application/json` })).body["kind"]).toBe("NamespaceList");
    // The singular form on a list, the list form on a watch, or nothing acceptable: 406, as kube-apiserver answers.
    const singular = await raw(server, "/api/v1/namespaces", { accept: METADATA_ITEM });
    expect(singular).toMatchObject({ status: 406, body: { kind: "Status", reason: "NotAcceptable", message: "you requested PartialObjectMetadata, but the requested object is a list (*v1.NamespaceList)" } });
    expect((await raw(server, "/api/v1/namespaces", { accept: "application/vnd.kubernetes.protobuf" })).status).toBe(406);
    expect((await raw(server, "/api/v1/namespaces?watch=true", { accept: METADATA_LIST })).status).toBe(406);
    // A single object: PartialObjectMetadata.
    expect((await raw(server, "/api/v1/namespaces/shop", { accept: METADATA_ITEM })).body).toEqual({ kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: expect.objectContaining({ name: "shop" }) });

    const watched = await watchLines(server, `/api/v1/namespaces?watch=true&allowWatchBookmarks=true&resourceVersion=${server.resourceVersion}`, 2, { accept: METADATA_ITEM }, () => {
      server.apply(namespace("shop", { team: "c" }));
    });
    expect(watched.events[0]).toEqual({ type: "MODIFIED", object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: expect.objectContaining({ name: "shop", labels: expect.objectContaining({ team: "c" }) }) } });
    expect(watched.events[1]).toEqual({ type: "BOOKMARK", object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: { resourceVersion: server.resourceVersion } } });
  });

  it("resourceVersion=0 lists are served from the cache: the state now, every item at once (limit ignored)", async () => {
    const server = await startServer();
    for (let i = 0; i < 7; i++) server.apply(pod("apps", `p${i}`));
    const paged = await raw(server, "/api/v1/pods?limit=3");
    expect((paged.body["items"] as unknown[]).length).toBe(3);
    expect((paged.body["metadata"] as Record<string, unknown>)["continue"]).toEqual(expect.any(String));
    const cached = await raw(server, "/api/v1/pods?limit=3&resourceVersion=0");
    expect((cached.body["items"] as unknown[]).length).toBe(7);
    expect(cached.body["metadata"]).toEqual({ resourceVersion: server.resourceVersion });
  });

  it("set-based label selectors: in, notin (which an absent key satisfies), exists, !key, and their conjunction", async () => {
    const server = await startServer();
    server.apply(labelledPod("a", { app: "web", tier: "front" }));
    server.apply(labelledPod("b", { app: "api", tier: "back" }));
    server.apply(labelledPod("c", { app: "db" }));
    server.apply(labelledPod("d", { app: "web", legacy: "yes" }));
    const names = async (selector: string) => ((await raw(server, `/api/v1/pods?labelSelector=${encodeURIComponent(selector)}`)).body["items"] as { metadata: { name: string } }[]).map((p) => p.metadata.name);
    expect(await names("app in (web,api)")).toEqual(["a", "b", "d"]);
    expect(await names("app in ( web , api )")).toEqual(["a", "b", "d"]);
    expect(await names("tier notin (back)")).toEqual(["a", "c", "d"]);
    expect(await names("tier")).toEqual(["a", "b"]);
    expect(await names("!tier")).toEqual(["c", "d"]);
    expect(await names("app=web,!legacy")).toEqual(["a"]);
    expect(await names("app in (web),tier notin (front),!legacy")).toEqual([]);
    expect(await names("app!=web")).toEqual(["b", "c"]);
    for (const bad of ["app in ()", "app in (a", "in (a)", "app=bad value"]) {
      expect((await raw(server, `/api/v1/pods?labelSelector=${encodeURIComponent(bad)}`)).status).toBe(400);
    }
  });

  it("field selectors: spec.nodeName, status.podIP (the first address only), metadata.name, spec.clusterIP (the first cluster IP only)", async () => {
    const server = await startServer();
    server.apply({ ...pod("apps", "dual", { node: "node-a" }), status: { phase: "Running", podIP: "10.0.0.5", podIPs: [{ ip: "10.0.0.5" }, { ip: "fd00::5" }] } });
    server.apply(pod("apps", "other", { node: "node-b", ip: "10.0.0.6" }));
    server.apply({ apiVersion: "v1", kind: "Service", metadata: { namespace: "apps", name: "web" }, spec: { clusterIP: "10.96.0.10", clusterIPs: ["10.96.0.10", "fd00:96::10"], selector: { app: "web" }, ports: [{ port: 80 }] } });
    server.apply({ apiVersion: "v1", kind: "Service", metadata: { namespace: "apps", name: "api" }, spec: { clusterIP: "10.96.0.11", selector: { app: "api" }, ports: [{ port: 80 }] } });
    const names = async (path: string) => ((await raw(server, path)).body["items"] as { metadata: { name: string } }[]).map((p) => p.metadata.name);
    expect(await names("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-b")).toEqual(["other"]);
    expect(await names("/api/v1/pods?fieldSelector=status.podIP%3D10.0.0.5&resourceVersion=0")).toEqual(["dual"]);
    expect(await names("/api/v1/pods?fieldSelector=status.podIP%3Dfd00%3A%3A5")).toEqual([]);
    expect(await names("/api/v1/namespaces/apps/services?fieldSelector=metadata.name%3Dapi")).toEqual(["api"]);
    expect(await names("/api/v1/services?fieldSelector=spec.clusterIP%3D10.96.0.10")).toEqual(["web"]);
    expect(await names("/api/v1/services?fieldSelector=spec.clusterIP%3Dfd00%3A%3A96%3A%3A10")).toEqual([]);
    const unsupported = await raw(server, "/api/v1/pods?fieldSelector=status.hostIP%3D10.0.0.1");
    expect(unsupported).toMatchObject({ status: 400, body: { reason: "BadRequest", message: "field label not supported: status.hostIP" } });
  });

  it("a watch filtered by status.podIP sends DELETED when the pod stops holding the address, and nothing for other pods", async () => {
    const server = await startServer();
    server.apply(pod("apps", "holder", { ip: "10.0.0.7" }));
    const rv = server.resourceVersion;
    const watched = await watchLines(server, `/api/v1/pods?watch=true&fieldSelector=status.podIP%3D10.0.0.7&resourceVersion=${rv}`, 2, {}, () => {
      server.apply(pod("apps", "bystander", { ip: "10.0.0.8" }));
      server.apply(pod("apps", "holder", { ip: "10.0.0.9" }));
      server.apply(pod("apps", "newcomer", { ip: "10.0.0.7" }));
    });
    expect(watched.events.map((event) => `${event.type} ${(event.object["metadata"] as { name: string }).name}`)).toEqual(["DELETED holder", "ADDED newcomer"]);
  });

  it("accounts for what each request was sent: objects and bytes, lists, gets and watches", async () => {
    const server = await startServer({ bookmarkIntervalMs: 60_000 });
    server.apply(pod("apps", "a", { node: "node-a" }));
    server.apply(pod("apps", "b", { node: "node-b" }));
    const list = await raw(server, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a");
    expect(server.sent({ resource: "pods", verb: "list" })).toEqual({ requests: 1, objects: 1, bytes: list.bytes });
    await raw(server, "/api/v1/namespaces/apps/pods/b");
    expect(server.sent({ verb: "get" })).toMatchObject({ requests: 1, objects: 1 });
    await watchLines(server, `/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dnode-a&resourceVersion=${server.resourceVersion}`, 1, {}, () => {
      server.apply(pod("apps", "c", { node: "node-b" }));
      server.apply(pod("apps", "d", { node: "node-a" }));
    });
    const watched = server.sent({ resource: "pods", verb: "watch" });
    // Only the pod on the watched node was sent; the other node's pod cost the watch nothing.
    expect(watched.objects).toBe(1);
    expect(watched.bytes).toBe(Buffer.byteLength(`${JSON.stringify({ type: "ADDED", object: server.get("Pod", "apps", "d") })}\n`));
  });
});
