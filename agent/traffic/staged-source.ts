// The agent's staged policies: the directory the `traffic.staged` setting names (a ConfigMap
// mounted into the pod, typically), read with the same loader as `netcanary map --staged`
// (staged-files.ts: bounded as manifests are, errors with file, line and field) and followed
// for changes by polling (documents/watch.ts: a ConfigMap update swaps a symbolic link, which
// fs.watch misses). A set that does not load is logged and refused, and the last good set
// keeps being evaluated; its errors are kept (bounded) for /api/v1/flows?judged to show.
// An empty directory stages nothing: not an error for the agent (an empty ConfigMap is a
// state a person passes through), unlike on the command line, where it is a wrong path.

import { manifestFiles } from "../cluster/manifests.js";
import { formatInputError, type InputError } from "../documents/located.js";
import { type FileWatch, watchFiles } from "../documents/watch.js";
import type { Logger } from "../log/log.js";
import type { NetworkPolicy } from "../policy/model.js";
import { loadStagedPolicies } from "./staged-files.js";

/** Errors of a refused set kept at most (the count is always exact). */
export const MAX_STAGED_ERRORS = 20;

export interface StagedState {
  /** The last good set (empty before one loaded). */
  readonly policies: readonly NetworkPolicy[];
  /** Why the files as they are now were refused (the last good set is evaluated meanwhile); empty when they loaded. */
  readonly errors: readonly string[];
  readonly errorCount: number;
}

export class StagedSource {
  private policies: readonly NetworkPolicy[] = [];
  private errors: readonly InputError[] = [];
  private watch: FileWatch | undefined;
  private closed = false;

  constructor(
    readonly directory: string,
    private readonly log: Logger,
  ) {}

  /** Loads the set once, then follows its files (pollMs 0: no following). */
  async start(pollMs: number): Promise<void> {
    // A first read that fails (a directory not there yet, a mount still arriving) is said, and
    // the files are followed all the same: the set appears when they do.
    const first = await this.reload().then(
      () => undefined,
      (error: unknown) => error,
    );
    if (first !== undefined) this.log.error({ file: this.directory, err: first }, "staged policies not read yet; following the directory");
    if (pollMs <= 0 || this.closed) return;
    const watch = await watchFiles(
      async () => [this.directory, ...(await manifestFiles([this.directory])).files],
      () => this.reload(),
      pollMs,
      (error) => this.log.error({ file: this.directory, err: error }, "staged policies not reloaded; the last good set is kept"),
    );
    if (this.closed) watch.close();
    else this.watch = watch;
  }

  stop(): void {
    this.closed = true;
    this.watch?.close();
    this.watch = undefined;
  }

  state(): StagedState {
    return { policies: this.policies, errors: this.errors.slice(0, MAX_STAGED_ERRORS).map(formatInputError), errorCount: this.errors.length };
  }

  private async reload(): Promise<void> {
    const listed = await manifestFiles([this.directory]);
    const empty = listed.files.length === 0 && listed.errors.every((error) => error.message.startsWith("no manifest file"));
    if (empty) {
      this.accept([]);
      return;
    }
    const load = await loadStagedPolicies([this.directory]);
    if (this.closed) return;
    if (!load.ok) {
      this.errors = load.errors;
      for (const error of load.errors.slice(0, MAX_STAGED_ERRORS)) {
        this.log.error({ file: error.file, line: error.line, field: error.field }, `staged policies not reloaded, keeping the last good set: ${formatInputError(error)}`);
      }
      return;
    }
    this.accept(load.policies);
  }

  private accept(policies: readonly NetworkPolicy[]): void {
    if (this.closed) return;
    this.policies = policies;
    this.errors = [];
    this.log.info({ file: this.directory, policies: policies.length }, "staged policies loaded");
  }
}
