// Notices when files change: a signature (inode, size, mtime) of every file, polled.
// Polling catches what fs.watch misses: ConfigMap symlink swaps, editors' atomic renames.

import { stat } from "node:fs/promises";

export type FileLister = () => Promise<readonly string[]>;

async function signature(list: FileLister): Promise<string> {
  const parts: string[] = [];
  for (const file of await list()) {
    try {
      const info = await stat(file);
      parts.push(`${file}:${info.ino}:${info.size}:${info.mtimeMs}`);
    } catch {
      parts.push(`${file}:missing`);
    }
  }
  return parts.join("\n");
}

export interface FileWatch {
  close(): void;
}

/**
 * Calls onChange (never twice at once) when any listed file changes. A failure while
 * listing or reloading goes to onError: a broken reload must never stop the agent.
 */
export async function watchFiles(
  list: FileLister,
  onChange: () => Promise<void>,
  pollMs = 1000,
  onError: (error: unknown) => void = () => undefined,
): Promise<FileWatch> {
  let last = await signature(list);
  let busy = false;
  let closed = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        const next = await signature(list);
        if (next !== last && !closed) {
          last = next;
          await onChange();
        }
      } catch (error) {
        onError(error);
      } finally {
        busy = false;
      }
    })();
  }, pollMs);
  timer.unref();
  return {
    close: () => {
      closed = true;
      clearInterval(timer);
    },
  };
}
