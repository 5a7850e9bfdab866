// Where long text goes piece by piece (the metrics exposition, a JSON answer), written by
// whoever builds it and taken by whoever sends it (server/chunks.ts), with pauses that give the
// event loop back. A leaf module, so that the metrics that write text and the server that
// sends it do not import each other.

/** Write freely; await pause() when it gives a promise (a slice is spent, or the output is full). */
export interface TextSink {
  write(text: string): void;
  /** undefined: go on; a promise: wait for it before writing more. */
  pause(): Promise<void> | undefined;
}
