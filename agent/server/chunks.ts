// Text written piece by piece into Buffers of 64 KiB that go on to a stream (a compressor, a
// response) as they fill, paced twice: the loop is given back when a slice is spent
// (schedule/slices.ts), and the writer waits while the stream is full. Each piece is copied
// once and no large string is ever built, so a long text leaves little garbage and never
// takes much memory at once: a chunk the stream is done with is filled again.

import type { Slices } from "../schedule/slices.js";
import type { TextSink } from "../text/sink.js";

const CHUNK_BYTES = 64 * 1024;
/** The most bytes one UTF-16 code unit takes in UTF-8. */
const MAX_BYTES_PER_UNIT = 3;

/** A writable stream's part that the writer uses (zlib streams and HTTP responses have it). */
export interface ChunkOutput {
  /** done: the stream no longer needs the chunk. false: wait for "drain" before writing more. */
  write(chunk: Buffer, done: (error?: Error | null) => void): boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
}

/** The output closed before the text was done (a client that went away): the work stops. */
export class OutputClosed extends Error {
  constructor() {
    super("the output closed before the text was written");
  }
}

export class PacedWriter implements TextSink {
  private current: Buffer;
  private used = 0;
  private bytes = 0;
  /** Chunks the output is done with, to fill again. */
  private readonly free: Buffer[] = [];
  private drained: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly slices: Slices,
    private readonly output: ChunkOutput,
  ) {
    this.current = Buffer.allocUnsafe(CHUNK_BYTES);
    output.once("close", () => {
      this.closed = true;
      this.wake?.();
    });
  }

  write(text: string): void {
    if (text.length * MAX_BYTES_PER_UNIT > CHUNK_BYTES - this.used) {
      this.emit();
      if (text.length * MAX_BYTES_PER_UNIT > CHUNK_BYTES) {
        // Larger than a chunk (a whole small family): on its own.
        this.send(Buffer.from(text, "utf8"), false);
        return;
      }
    }
    this.used += this.current.write(text, this.used, "utf8");
  }

  /** Rejects with OutputClosed once the output has closed. */
  pause(): Promise<void> | undefined {
    if (this.closed) return Promise.reject(new OutputClosed());
    if (this.drained)
      return this.drained.then(() => {
        if (this.closed) throw new OutputClosed();
      });
    if (this.slices.spent()) return this.slices.next();
    return undefined;
  }

  /** Sends what is left; the bytes written in all. The writer is not used again. */
  end(): number {
    this.emit(false);
    return this.bytes;
  }

  private emit(more = true): void {
    if (this.used === 0) return;
    const full = this.current;
    const used = this.used;
    if (more) this.current = this.free.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES);
    this.used = 0;
    this.send(full.subarray(0, used), true, full);
  }

  private send(chunk: Buffer, reuse: boolean, whole: Buffer = chunk): void {
    this.bytes += chunk.length;
    if (this.closed) return;
    const more = this.output.write(chunk, () => {
      if (reuse) this.free.push(whole);
    });
    if (!more && !this.drained) {
      this.drained = new Promise<void>((resolve) => {
        this.wake = resolve;
        this.output.once("drain", resolve);
      }).then(() => {
        this.drained = undefined;
        this.wake = undefined;
      });
    }
  }
}
