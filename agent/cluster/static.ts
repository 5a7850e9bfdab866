// Cluster state that does not come from the API: manifest files (watched, reloaded when
// they change, the last good state kept when they break), or no cluster at all.

import type { Logger } from "../log/log.js";
import { formatInputError, type InputError } from "../documents/located.js";
import { type FileWatch, watchFiles } from "../documents/watch.js";
import type { ClusterSource, ClusterStatus, SnapshotListener } from "./live.js";
import { loadManifests, type ManifestLoad, manifestFiles } from "./manifests.js";
import { type ClusterSnapshot, EMPTY_SNAPSHOT } from "./snapshot.js";

/** Outside any cluster: nothing isolates anything. */
export class NoCluster implements ClusterSource {
  current(): ClusterSnapshot {
    return EMPTY_SNAPSHOT;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  status(): ClusterStatus {
    return { ready: true };
  }
}

/** Policies of kinds the engine does not evaluate: the cluster may enforce what the verdicts ignore. */
function warnUnevaluated(load: ManifestLoad, log: Logger): void {
  for (const { file, line, apiVersion, kind, name } of load.unevaluated) {
    log.warn({ file, line, apiVersion, kind, name }, `${kind} ${name} is not evaluated: verdicts may differ from what the cluster enforces`);
  }
}

export class ManifestCluster implements ClusterSource {
  private watch: FileWatch | undefined;

  private constructor(
    private readonly paths: readonly string[],
    private snapshot: ClusterSnapshot,
    private readonly log: Logger,
    private readonly pollMs: number,
  ) {}

  /** Loads the files; refuses bad input at start (there is no last good state yet). */
  static async load(paths: readonly string[], log: Logger, pollMs = 1000): Promise<{ ok: true; source: ManifestCluster } | { ok: false; errors: readonly InputError[] }> {
    const load = await loadManifests(paths);
    if (load.errors.length > 0) return { ok: false, errors: load.errors };
    warnUnevaluated(load, log);
    return { ok: true, source: new ManifestCluster(paths, load.snapshot, log, pollMs) };
  }

  current(): ClusterSnapshot {
    return this.snapshot;
  }

  async start(onSnapshot: SnapshotListener): Promise<void> {
    if (this.pollMs <= 0) return;
    this.watch = await watchFiles(
      async () => (await manifestFiles(this.paths)).files,
      async () => {
        const seenAt = Date.now();
        const load = await loadManifests(this.paths);
        if (load.errors.length > 0) {
          for (const error of load.errors) {
            this.log.error({ file: error.file, line: error.line, field: error.field }, `manifests not reloaded, keeping the last good cluster state: ${formatInputError(error)}`);
          }
          return;
        }
        this.snapshot = load.snapshot;
        warnUnevaluated(load, this.log);
        this.log.info({ pods: load.snapshot.pods.length, policies: load.snapshot.policies.length }, "cluster state reloaded from manifests");
        onSnapshot(load.snapshot, seenAt);
      },
      this.pollMs,
      (error) => this.log.error({ err: error }, "manifest reload failed; the last good cluster state is kept"),
    );
  }

  async stop(): Promise<void> {
    this.watch?.close();
  }

  status(): ClusterStatus {
    return { ready: true };
  }
}
