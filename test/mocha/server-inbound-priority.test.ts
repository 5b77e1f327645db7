// Paying peers' bytes first: free peers' chunks enter the event loop a few per turn, and not while
// a paying peer's bytes arrive, but never wait longer than the bound. The clock is a test clock;
// turns of the event loop are real (setImmediate), so the tests count turns, not milliseconds.
import { expect } from "chai";
import { InboundPriority, prioritizeInbound } from "@status/mailserver-node";

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Free chunks let in so far, in order, by a label. */
function track(priority: InboundPriority) {
  const passed: number[] = [];
  const send = (label: number) => {
    const wait = priority.free();
    if (wait === undefined) passed.push(label);
    else void wait.then(() => passed.push(label));
  };
  return { passed, send };
}

describe("inbound priority: paying peers' bytes first", () => {
  it("lets free chunks in a few per turn of the event loop, oldest first", async () => {
    const priority = new InboundPriority({ freeChunksPerTurn: 3, paidQuietMs: 5, maxFreeWaitMs: 100 }, () => 1_000);
    const { passed, send } = track(priority);
    for (let i = 0; i < 8; i++) send(i);
    expect(passed, "the first turn's share goes at once").to.deep.equal([0, 1, 2]);
    expect(priority.waiting).to.equal(5);
    await turn();
    expect(passed, "the next turn, the next three, in order").to.deep.equal([0, 1, 2, 3, 4, 5]);
    await turn();
    expect(passed).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(priority.waiting).to.equal(0);
    expect(priority.waited).to.equal(5);
  });

  it("holds free chunks while a paying peer's bytes arrive, and lets them in once it has been quiet", async () => {
    let now = 1_000;
    const priority = new InboundPriority({ freeChunksPerTurn: 4, paidQuietMs: 5, maxFreeWaitMs: 100 }, () => now);
    const { passed, send } = track(priority);
    priority.paid();
    send(1);
    send(2);
    for (let i = 0; i < 5; i++) await turn();
    expect(passed, "nothing while paid work is recent").to.deep.equal([]);
    now += 3;
    priority.paid();
    now += 4;
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(passed, "still 4 ms after the last paid chunk").to.deep.equal([]);
    now += 1;
    await new Promise((resolve) => setTimeout(resolve, 10));
    await turn();
    expect(passed, "quiet for 5 ms: let in").to.deep.equal([1, 2]);
    expect(priority.longestWaitMs).to.equal(8);
  });

  it("never holds a free chunk longer than maxFreeWaitMs, even while paying peers never stop", async () => {
    let now = 1_000;
    const priority = new InboundPriority({ freeChunksPerTurn: 2, paidQuietMs: 5, maxFreeWaitMs: 50 }, () => now);
    const { passed, send } = track(priority);
    priority.paid();
    send(1);
    send(2);
    send(3);
    for (let t = 0; t < 49; t++) {
      now += 1;
      priority.paid();
      await turn();
    }
    expect(passed, "49 ms: still held").to.deep.equal([]);
    now += 1;
    priority.paid();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await turn();
    expect(passed, "50 ms: overdue, a turn's share goes whatever paid peers do").to.deep.include.members([1, 2]);
    priority.drain();
    await turn();
    expect(passed).to.deep.equal([1, 2, 3]);
  });

  it("routes a connection's bytes: a paying peer's pass at once and hold back a free peer's", async () => {
    let now = 1_000;
    const priority = new InboundPriority({ freeChunksPerTurn: 1, paidQuietMs: 5, maxFreeWaitMs: 1_000, newcomerChunks: 0 }, () => now);
    const paying = new Set(["paid-peer"]);
    const hooks = prioritizeInbound(priority, (peer) => paying.has(peer));
    const connection = (peer: string, chunks: number) => {
      const c = {
        timeline: {},
        source: (async function* () {
          for (let i = 0; i < chunks; i++) yield `${peer}-${i}`;
        })() as AsyncIterable<unknown>,
      };
      hooks.accept(c);
      // libp2p's upgrader hands the gater copies of the connection that share its timeline.
      hooks.identified(peer, { timeline: c.timeline });
      return c;
    };
    const paid = connection("paid-peer", 3);
    const free = connection("free-peer", 3);
    const read: string[] = [];
    const reading = (async () => {
      for await (const chunk of free.source) read.push(chunk as string);
    })();
    for await (const chunk of paid.source) read.push(chunk as string);
    await turn();
    expect(read.filter((c) => c.startsWith("paid")), "a paying peer's bytes never wait").to.deep.equal(["paid-peer-0", "paid-peer-1", "paid-peer-2"]);
    expect(read.filter((c) => c.startsWith("free")), "a free peer's wait while paid bytes are recent").to.have.length.below(3);
    now += 5;
    await reading;
    expect(read.filter((c) => c.startsWith("free"))).to.deep.equal(["free-peer-0", "free-peer-1", "free-peer-2"]);
  });

  it("treats a connection as free until its peer is known, and a peer as paying from its grant on", async () => {
    let now = 1_000;
    const priority = new InboundPriority({ freeChunksPerTurn: 1, paidQuietMs: 5, maxFreeWaitMs: 1_000, newcomerChunks: 0 }, () => now);
    const paying = new Set<string>();
    const hooks = prioritizeInbound(priority, (peer) => paying.has(peer));
    const c = { timeline: {}, source: (async function* () { yield* ["a", "b", "c", "d"]; })() as AsyncIterable<unknown> };
    hooks.accept(c);
    const it = c.source[Symbol.asyncIterator]();
    expect((await it.next()).value, "the turn's one free chunk").to.equal("a");
    priority.paid();
    let second = false;
    const next = it.next().then((r) => ((second = true), r));
    for (let i = 0; i < 3; i++) await turn();
    expect(second, "unknown peer: free, so held while paid bytes are recent").to.equal(false);
    now += 5;
    expect((await next).value).to.equal("b");
    hooks.identified("newcomer", c);
    paying.add("newcomer");
    priority.paid();
    // Paying now: its chunks no longer wait, although paid bytes are recent.
    expect((await it.next()).value).to.equal("c");
    expect((await it.next()).value).to.equal("d");
  });

  it("lets a new connection's first chunks through at once (handshake, identify, a grant), then holds it like any free peer", async () => {
    const now = 1_000;
    const priority = new InboundPriority({ freeChunksPerTurn: 1, paidQuietMs: 5, maxFreeWaitMs: 1_000, newcomerChunks: 3 }, () => now);
    const hooks = prioritizeInbound(priority, () => false);
    const c = { timeline: {}, source: (async function* () { yield* ["h1", "h2", "h3", "late"]; })() as AsyncIterable<unknown> };
    hooks.accept(c);
    priority.paid();
    const it = c.source[Symbol.asyncIterator]();
    for (const expected of ["h1", "h2", "h3"]) expect((await it.next()).value, "a newcomer's chunk, although paid bytes are recent").to.equal(expected);
    let late = false;
    void it.next().then(() => (late = true));
    for (let i = 0; i < 3; i++) await turn();
    expect(late, "its fourth chunk is a free peer's: held").to.equal(false);
    priority.drain();
    await turn();
    expect(late).to.equal(true);
  });
});
