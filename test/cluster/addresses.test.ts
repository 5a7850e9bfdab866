// The address book (agent/cluster/addresses.ts): an address is looked up once however often
// it is asked about, at a bounded rate, answers are kept up to a bound and refreshed after
// their TTL (the old answer serving meanwhile), failures say why and are retried, and
// addresses no edge needs are forgotten. The lookups are a stand-in here; the requests they
// make are tested against the API test server (test/kube/scoped-cluster.test.ts).

import { afterEach, describe, expect, it } from "vitest";
import { type IpAddress, parseIp } from "../../agent/addresses/ip.js";
import { AddressBook, type AddressBookOptions, type LookupAnswer } from "../../agent/cluster/addresses.js";
import type { PodInfo } from "../../agent/cluster/snapshot.js";
import { waitFor } from "../support/wait.js";

const books: AddressBook[] = [];
afterEach(() => {
  for (const book of books.splice(0)) book.stop();
});

function ip(text: string): IpAddress {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function pod(name: string, address: string): PodInfo {
  return { namespace: "shop", name, labels: { app: name }, ips: [ip(address)], ports: [], hostNetwork: false, node: "node-b", phase: "Running" };
}

/** A book whose lookups are recorded and answered by `answer` (a promise the test may hold). */
function bookWith(answer: (address: string) => Promise<LookupAnswer>, options: Partial<AddressBookOptions> = {}) {
  const asked: string[] = [];
  let changes = 0;
  const book = new AddressBook({
    ttlMs: 60_000,
    maxEntries: 100,
    ratePerSecond: 1000,
    burst: 100,
    ...options,
    lookup: (address) => {
      asked.push(address.text);
      return answer(address.text);
    },
    onChange: () => changes++,
  });
  books.push(book);
  return { book, asked, changes: () => changes };
}

const none: LookupAnswer = { pods: [], services: [] };

describe("the address book", () => {
  it("asks once per address however often it is asked about; pending with the reason until the answer, then known", async () => {
    let release: (() => void) | undefined;
    const { book, asked, changes } = bookWith((address) => new Promise((resolve) => (release = () => resolve({ pods: [pod("web", address)], services: [] }))));
    expect(book.state(ip("10.0.0.5"))).toEqual({ kind: "pending", reason: "looking up whether 10.0.0.5 is a pod or a Service" });
    expect(book.state(ip("10.0.0.5"))).toEqual({ kind: "pending", reason: "looking up whether 10.0.0.5 is a pod or a Service" });
    await waitFor(() => asked.length === 1);
    expect(changes()).toBe(0);
    release?.();
    await waitFor(() => changes() === 1);
    expect(book.state(ip("10.0.0.5"))).toEqual({ kind: "known" });
    expect(asked).toEqual(["10.0.0.5"]);
    expect(book.answers().get("10.0.0.5")?.pods.map((p) => p.name)).toEqual(["web"]);
  });

  it("bounds the rate: a burst at once, then ratePerSecond", async () => {
    const { book, asked } = bookWith(async () => none, { burst: 2, ratePerSecond: 10 });
    const started = Date.now();
    for (let i = 1; i <= 5; i++) book.state(ip(`10.0.0.${i}`));
    expect(asked.length).toBe(2);
    await waitFor(() => asked.length === 5, 3000);
    // Three more at 10 a second: about 300 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(asked).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]);
  });

  it("keeps at most maxEntries addresses, forgetting the least recently asked about", async () => {
    const { book, asked } = bookWith(async (address) => ({ pods: [pod(`p${address.split(".")[3]}`, address)], services: [] }), { maxEntries: 2 });
    book.state(ip("10.0.0.1"));
    book.state(ip("10.0.0.2"));
    await waitFor(() => book.answers().size === 2);
    book.state(ip("10.0.0.1")); // used again: now the most recent
    book.state(ip("10.0.0.3"));
    await waitFor(() => book.answers().has("10.0.0.3"));
    expect([...book.answers().keys()].sort()).toEqual(["10.0.0.1", "10.0.0.3"]);
    expect(book.size).toBe(2);
    expect(asked).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });

  it("refreshes an answer after its TTL, serving the old one meanwhile; a changed answer is a change", async () => {
    let generation = 0;
    let hold: Promise<void> | undefined;
    const { book, asked, changes } = bookWith(
      async (address) => {
        await hold;
        return { pods: [pod(`gen${generation}`, address)], services: [] };
      },
      { ttlMs: 1000 },
    );
    book.state(ip("10.0.0.7"));
    await waitFor(() => changes() === 1);
    generation = 1;
    let release: () => void = () => undefined;
    hold = new Promise<void>((resolve) => (release = resolve));
    await waitFor(() => asked.length === 2, 4000, "the refresh");
    // Refreshing: the old answer still serves.
    expect(book.state(ip("10.0.0.7"))).toEqual({ kind: "known" });
    expect(book.answers().get("10.0.0.7")?.pods[0]?.name).toBe("gen0");
    release();
    await waitFor(() => changes() === 2);
    expect(book.answers().get("10.0.0.7")?.pods[0]?.name).toBe("gen1");
  });

  it("a failed lookup leaves the address pending with the error, and is tried again", async () => {
    let fail = true;
    const { book, asked } = bookWith(async () => {
      if (fail) throw new Error("GET /api/v1/services: 503 the server is shutting down");
      return none;
    });
    book.state(ip("10.0.0.9"));
    await waitFor(() => book.state(ip("10.0.0.9")).kind === "pending" && asked.length === 1 && (book.state(ip("10.0.0.9")) as { reason: string }).reason.startsWith("could not"));
    expect(book.state(ip("10.0.0.9"))).toEqual({ kind: "pending", reason: "could not look up whether 10.0.0.9 is a pod or a Service (GET /api/v1/services: 503 the server is shutting down); trying again" });
    fail = false;
    await waitFor(() => book.state(ip("10.0.0.9")).kind === "known", 4000, "the retry");
    expect(asked.length).toBe(2);
  });

  it("forgets what no edge points at any more, and asks again about a contradicted answer", async () => {
    const { book, asked, changes } = bookWith(async (address) => ({ pods: [pod("web", address)], services: [] }));
    book.state(ip("10.0.0.1"));
    book.state(ip("10.0.0.2"));
    await waitFor(() => book.answers().size === 2);
    const before = changes();
    book.retain(new Set(["10.0.0.2"]));
    expect([...book.answers().keys()]).toEqual(["10.0.0.2"]);
    expect(changes()).toBe(before + 1);
    book.retain(new Set(["10.0.0.2"]));
    expect(changes()).toBe(before + 1);
    book.invalidate("10.0.0.2");
    expect(book.state(ip("10.0.0.2")).kind).toBe("pending");
    await waitFor(() => book.state(ip("10.0.0.2")).kind === "known");
    expect(asked).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.2"]);
  });

  it("an undecidable answer keeps the address pending with its reason", async () => {
    const { book } = bookWith(async () => ({ pods: [], services: [], undecidable: "not knowable" }));
    book.state(ip("fd00::1"));
    await waitFor(() => (book.state(ip("fd00::1")) as { reason?: string }).reason === "not knowable");
  });
});
