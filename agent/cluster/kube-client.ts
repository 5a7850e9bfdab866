// The parts of @kubernetes/client-node the agent uses at run time: KubeConfig (kubeconfig
// files, in-cluster config, every auth method) and the authenticated request context (the
// agent's own client, api.ts, does the requests, watches included). Loaded lazily (standalone and manifest modes never pay for it), and without
// the library's generated API: its entry point loads about a thousand generated modules,
// roughly 80 MiB of RSS, which alone would break the agent's memory budget. A resolve hook
// maps config.js's import of that index to a shim with the two exports it uses; when the
// hook or those files are not there (another library version), the full import is used.
// The same hook gives the library's modules (and agent-base's, one of its proxy agents)
// node:http without its ES module facade (runtime/http.ts): building that facade loads
// Node's bundled undici, which nothing here uses.

import * as module from "node:module";
import type { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";

export interface KubeClient {
  readonly KubeConfig: typeof KubeConfig;
  readonly RequestContext: typeof RequestContext;
  readonly HttpMethod: typeof HttpMethod;
  /** false when the slim load failed and the whole library was imported. */
  readonly slim: boolean;
}

let loading: Promise<KubeClient> | undefined;

const SHIM = new URL("./kube-client-shim.js", import.meta.url).href;
const HTTP = new URL("../runtime/http.js", import.meta.url).href;
const CONFIG_JS = "/@kubernetes/client-node/dist/config.js";
const HTTP_IMPORTERS = ["/node_modules/@kubernetes/client-node/dist/", "/node_modules/agent-base/dist/"];

function registerSlimHook(): boolean {
  const register = (module as { registerHooks?: (hooks: { resolve: ResolveHook }) => unknown }).registerHooks;
  if (typeof register !== "function") return false;
  register({
    resolve(specifier, context, next) {
      const parent = context.parentURL;
      if (specifier === "./gen/index.js" && parent?.endsWith(CONFIG_JS)) return { url: SHIM, format: "module", shortCircuit: true };
      if ((specifier === "node:http" || specifier === "http") && parent !== undefined && HTTP_IMPORTERS.some((dir) => parent.includes(dir))) {
        return { url: HTTP, format: "module", shortCircuit: true };
      }
      return next(specifier, context);
    },
  });
  return true;
}

type ResolveHook = (
  specifier: string,
  context: { parentURL?: string },
  next: (specifier: string, context: { parentURL?: string }) => unknown,
) => unknown;

async function load(): Promise<KubeClient> {
  if (registerSlimHook()) {
    try {
      const [config, http] = await Promise.all([import("@kubernetes/client-node/dist/config.js"), import("@kubernetes/client-node/dist/gen/http/http.js")]);
      return { KubeConfig: config.KubeConfig, RequestContext: http.RequestContext, HttpMethod: http.HttpMethod, slim: true };
    } catch {
      // A library version laid out differently: take the whole of it.
    }
  }
  const full = await import("@kubernetes/client-node");
  return { KubeConfig: full.KubeConfig, RequestContext: full.RequestContext, HttpMethod: full.HttpMethod, slim: false };
}

export function kubeClient(): Promise<KubeClient> {
  loading ??= load();
  return loading;
}
