// Long work on the agent's own behalf (a /metrics build, a large results document) shares
// the event loop with the probes: it runs in slices of a few milliseconds, one slice per turn
// of the loop whoever asks, first come first served. Between slices the loop runs timers and
// sockets, so a probe never waits longer than a slice, and the starvation monitor
// (starvation.ts) never sees the agent's own work as a stall, however much of it there is.
//
// Usage, inside a long loop:  if (slices.spent()) await slices.next();

/** The longest a slice runs before giving the loop back. */
export const SLICE_MS = 4;

export class Slices {
  private readonly waiting: Array<() => void> = [];
  private started = Number.NEGATIVE_INFINITY;
  private scheduled = false;

  constructor(private readonly budgetMs: number = SLICE_MS) {}

  /** Has the current slice used its time? (Outside a slice: yes, work starts with one.) */
  spent(): boolean {
    return performance.now() - this.started >= this.budgetMs;
  }

  /** Resolves at the caller's next slice: in a later turn of the loop, after those queued before it. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    // setImmediate runs after the loop's I/O and timers: one slice per turn, never two in a row.
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.scheduled = false;
    const next = this.waiting.shift();
    this.started = performance.now();
    next?.();
    this.schedule();
  }
}

/** The agent's one queue of slices: every long task takes its turn in it. */
export const slices = new Slices();
