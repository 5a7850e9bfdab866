// Turns for the answers that cost the agent the most to write (the results document, an
// uncompressed /metrics): a few at once, a few more waiting in line, in order. A request that
// finds the turns taken and the line full is answered at once ("full": the server says 503),
// so the line, and the connections waiting in it, stay bounded.
//
// A turn is not held by a client that does not take the answer: while someone waits in line,
// a turn whose client has fallen behind (the connection guard says so: its output not taken
// up for a while) is ended, its connection closed, and the turn passes to the next in line at
// once. Without that, a few clients that ask and never read would hold every turn, renewably,
// until their request deadline. A request whose connection closes while it waits leaves the
// line.

import type { ServerResponse } from "node:http";

/** What a gate asks of the connection guard (connections.ts). */
export interface TurnKeeper {
  /** The response waits in line until the returned function is called. */
  waiting(response: ServerResponse): () => void;
  /** Has the client of this response fallen behind: its output not taken up for a while? */
  behind(response: ServerResponse): boolean;
  /** Closes the response's connection at once, its output dropped. */
  evict(response: ServerResponse): void;
  /** How often the turns are looked at while someone waits (ms). */
  readonly reviewMs: number;
}

/** How a request fared: it had its turn, it found no room, or its client left while it waited. */
export type Turn = "done" | "full" | "gone";

interface Waiter {
  readonly response: ServerResponse;
  readonly admit: (admitted: boolean) => void;
}

export class Gate {
  /** The responses holding a turn. */
  private readonly running = new Set<ServerResponse>();
  private readonly line: Waiter[] = [];
  private review: NodeJS.Timeout | undefined;

  constructor(
    readonly turns: number,
    readonly places: number,
    private readonly keeper: TurnKeeper,
  ) {}

  async run(response: ServerResponse, task: () => Promise<void>): Promise<Turn> {
    if (this.running.size >= this.turns) {
      this.endTurnsBehind(1);
      if (this.running.size >= this.turns) {
        if (this.line.length >= this.places) return "full";
        if (!(await this.wait(response))) return "gone";
      }
    }
    this.running.add(response);
    try {
      await task();
      return "done";
    } finally {
      this.release(response);
    }
  }

  /** Ends up to `most` turns whose clients have fallen behind; their turns pass on at once. */
  private endTurnsBehind(most: number): void {
    let ended = 0;
    for (const response of [...this.running]) {
      if (ended >= most) return;
      if (!this.keeper.behind(response)) continue;
      this.keeper.evict(response);
      this.release(response);
      ended++;
    }
  }

  private wait(response: ServerResponse): Promise<boolean> {
    const done = this.keeper.waiting(response);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        response,
        admit: (admitted) => {
          response.off("close", leave);
          done();
          resolve(admitted);
        },
      };
      const leave = () => {
        const at = this.line.indexOf(waiter);
        if (at >= 0) this.line.splice(at, 1);
        this.reviewWhileWaiting();
        waiter.admit(false);
      };
      response.once("close", leave);
      this.line.push(waiter);
      this.reviewWhileWaiting();
    });
  }

  /** Gives up a turn (once) and admits the next in line. */
  private release(response: ServerResponse): void {
    if (!this.running.delete(response)) return;
    const next = this.line.shift();
    if (next) {
      // Admitted: it holds the turn from now on, before its task resumes.
      this.running.add(next.response);
      next.admit(true);
    }
    this.reviewWhileWaiting();
  }

  /** While anyone waits, turns whose clients have fallen behind are ended as they are found. */
  private reviewWhileWaiting(): void {
    if (this.line.length > 0 && !this.review) {
      this.review = setInterval(() => this.endTurnsBehind(this.line.length), this.keeper.reviewMs);
      this.review.unref();
    } else if (this.line.length === 0 && this.review) {
      clearInterval(this.review);
      this.review = undefined;
    }
  }
}
