// Options shared by the commands that run probes (agent, once). The cluster sources are
// imported when one is chosen, not with the options: `once --help` does not load them.

import type { KubeConfig } from "@kubernetes/client-node";
import type { ClusterSource } from "../cluster/live.js";
import type { SelfIdentity } from "../daemon/identity.js";
import { redactUrl } from "../text/url-credentials.js";
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel, type Logger } from "../log/log.js";
import type { InputError } from "../documents/located.js";
import type { AgentMetrics } from "../metrics/registry.js";
import { parseOptions } from "./args.js";
import { UsageError } from "./command.js";

export interface ProbeRunOptions {
  readonly configFile?: string;
  readonly kubeconfig?: string;
  readonly manifests: readonly string[];
  readonly logger: Logger;
  readonly values: Record<string, string | boolean | string[] | undefined>;
}

export const PROBE_RUN_USAGE = `  --config <file>        configuration file (default: the built-in standalone config)
  --manifests <path>...  cluster state from manifest files or directories (repeatable),
                         instead of the Kubernetes API
  --kubeconfig <file>    the cluster to watch (default: in-cluster config inside a pod,
                         else $KUBECONFIG; neither: no cluster, nothing is isolated)
  --log-level <level>    ${LOG_LEVELS.join(", ")}
  --log-format <format>  text (one readable line per entry), json (one object per line), or
                         auto (default): text on a terminal, JSON otherwise`;

export function parseProbeRunArgs(
  argv: readonly string[],
  extra: Record<string, { type: "string" | "boolean"; multiple?: boolean; default?: string | boolean }>,
  logDestination?: NodeJS.WritableStream,
  defaultLogLevel: LogLevel = "info",
): ProbeRunOptions {
  const { values, positionals } = parseOptions({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: "string" },
      kubeconfig: { type: "string" },
      manifests: { type: "string", multiple: true },
      "log-level": { type: "string", default: defaultLogLevel },
      "log-format": { type: "string", default: "auto" },
      ...extra,
    },
  });
  const level = values["log-level"] as string;
  if (!LOG_LEVELS.includes(level as LogLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  const format = values["log-format"] as string;
  if (!LOG_FORMATS.includes(format as LogFormat)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(", ")}`);
  // "--manifests a b": extra paths arrive as positionals.
  const manifests = [...((values["manifests"] as string[] | undefined) ?? []), ...positionals];
  if (positionals.length > 0 && !values["manifests"]) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (manifests.length > 0 && values["kubeconfig"]) throw new UsageError("--manifests and --kubeconfig exclude each other");
  return {
    ...(typeof values["config"] === "string" ? { configFile: values["config"] } : {}),
    ...(typeof values["kubeconfig"] === "string" ? { kubeconfig: values["kubeconfig"] } : {}),
    manifests,
    logger: createLogger(level as LogLevel, logDestination, format as LogFormat),
    values: values as ProbeRunOptions["values"],
  };
}

/** Where the cluster state comes from: manifest files, the API, or no cluster. */
export async function clusterSourceFor(
  options: ProbeRunOptions,
  metrics: AgentMetrics,
  identity: SelfIdentity,
  pollMs?: number,
): Promise<{ ok: true; source: ClusterSource; kind: string; server?: string; kubeConfig?: KubeConfig } | { ok: false; errors: readonly InputError[] }> {
  const { ManifestCluster, NoCluster } = await import("../cluster/static.js");
  if (options.manifests.length > 0) {
    const load = await ManifestCluster.load(options.manifests, options.logger, pollMs);
    return load.ok ? { ok: true, source: load.source, kind: "manifests" } : load;
  }
  const [{ kubeConfigFor, LiveCluster }, { ClusterTrafficMetrics }] = await Promise.all([import("../cluster/live.js"), import("../cluster/traffic-metrics.js")]);
  const loaded = await kubeConfigFor(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {});
  if (!loaded.ok) return { ok: false, errors: [{ file: options.kubeconfig ?? process.env["KUBECONFIG"] ?? "kubeconfig", message: loaded.message }] };
  const { kubeConfig } = loaded;
  if (!kubeConfig) return { ok: true, source: new NoCluster(), kind: "none" };
  // Shown in logs and messages: never with the credentials a kubeconfig may put in the URL.
  const server = redactUrl(kubeConfig.getCurrentCluster()?.server ?? "");
  const traffic = new ClusterTrafficMetrics(metrics.registry);
  return { ok: true, source: new LiveCluster({ kubeConfig, logger: options.logger, nodeName: identity.nodeName, metrics, traffic }), kind: `api ${server}`, server, kubeConfig };
}
