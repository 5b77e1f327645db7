// Paid first at the byte level. Every inbound byte costs the one event loop that also serves
// subscribers (Noise decrypts it, the muxer demultiplexes it, multistream-select and the handlers
// parse it) even when the answer is only a 429 or a 503: in the bench, free peers' refused requests
// were what kept a subscriber's p99 at 3-4x. So free peers' bytes are not pulled from their sockets
// while a paying peer's bytes arrived in the last few milliseconds, and otherwise only a few chunks
// (`freeChunksPerTurn`) per turn of the event loop: whatever else is ready (a subscriber's next request) waits behind at
// most that much free work. Bytes not pulled stay in the kernel: TCP flow control slows the free
// peer down instead of it retrying refusals. A free chunk waits at most `maxFreeWaitMs`, so free
// peers always progress and their keep-alives do not time out. A new connection's first chunks do
// not wait at all: its handshake, identify and access grant (a subscriber reconnecting is free
// until it presents one) must not queue behind every free peer's reads (a newcomer took 2.4 s to
// connect under 200 free clients when they did). Those first chunks cost a handshake each, which
// the pending-handshake bounds already limit.

export interface InboundPriorityLimits {
  /** Free peers' chunks let into the event loop per turn. */
  freeChunksPerTurn: number;
  /** Free chunks wait until no paying peer's bytes arrived for this long, ms. */
  paidQuietMs: number;
  /** A free chunk waits at most this long, whatever paying peers do, ms. */
  maxFreeWaitMs: number;
  /** A connection's first chunks (its handshake and first requests) never wait. */
  newcomerChunks: number;
}

export const DEFAULT_INBOUND_PRIORITY: InboundPriorityLimits = { freeChunksPerTurn: 4, paidQuietMs: 3, maxFreeWaitMs: 50, newcomerChunks: 64 };

/** The scheduler: pure but for its timers; the clock is injectable for tests. */
export class InboundPriority {
  readonly limits: InboundPriorityLimits;
  readonly #now: () => number;
  #lastPaidAt = Number.NEGATIVE_INFINITY;
  /** Free chunks let in during this turn. */
  #admitted = 0;
  #turnScheduled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Waiting free chunks, oldest first (a queue with a moving head). */
  #queue: { since: number; go: () => void }[] = [];
  #head = 0;
  /** Counters for metrics: free chunks that waited, and the longest wait, ms. */
  waited = 0;
  longestWaitMs = 0;

  constructor(limits: Partial<InboundPriorityLimits> = {}, now: () => number = () => performance.now()) {
    this.limits = { ...DEFAULT_INBOUND_PRIORITY, ...limits };
    this.#now = now;
  }

  /** A paying peer's chunk arrived. */
  paid(): void {
    this.#lastPaidAt = this.#now();
  }

  /** Free chunks waiting now. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** A free peer's chunk arrived: undefined to process it now, else a promise to wait for first. */
  free(): Promise<void> | undefined {
    const now = this.#now();
    if (this.waiting === 0 && this.#admitted < this.limits.freeChunksPerTurn && now - this.#lastPaidAt >= this.limits.paidQuietMs) {
      this.#admitted++;
      this.#scheduleTurn();
      return undefined;
    }
    return new Promise<void>((go) => {
      this.#queue.push({ since: now, go });
      this.#scheduleTurn();
    });
  }

  #scheduleTurn(): void {
    if (this.#turnScheduled || this.#timer !== undefined) return;
    this.#turnScheduled = true;
    setImmediate(this.#turn);
  }

  /** Once per turn of the event loop (after its I/O): a new budget, spent first on who waits longest. */
  readonly #turn = (): void => {
    this.#turnScheduled = false;
    this.#admitted = 0;
    if (this.waiting === 0) return;
    const now = this.#now();
    const oldest = this.#queue[this.#head]!.since;
    const quietIn = this.limits.paidQuietMs - (now - this.#lastPaidAt);
    const overdueIn = this.limits.maxFreeWaitMs - (now - oldest);
    if (quietIn > 0 && overdueIn > 0) {
      // Paid work is under way: look again when it has been quiet long enough, or when the oldest is overdue.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#turn();
      }, Math.ceil(Math.min(quietIn, overdueIn)));
      return;
    }
    // Overdue while paid work goes on: one chunk a turn, enough that free peers progress.
    const share = quietIn > 0 ? 1 : this.limits.freeChunksPerTurn;
    while (this.waiting > 0 && this.#admitted < share) {
      const next = this.#queue[this.#head++]!;
      this.#admitted++;
      this.waited++;
      this.longestWaitMs = Math.max(this.longestWaitMs, now - next.since);
      next.go();
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.waiting > 0) this.#scheduleTurn();
  };

  /** Lets every waiting chunk go (on stop: the connections are closing anyway). */
  drain(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.waiting > 0) this.#queue[this.#head++]!.go();
    this.#queue = [];
    this.#head = 0;
  }
}

type Source = AsyncIterable<unknown>;

/** The part of libp2p's MultiaddrConnection this needs (TCP and WebSockets alike). */
export interface PrioritizedConnection {
  source: Source;
  /** Shared, by reference, by every view of the connection libp2p's upgrader makes. */
  timeline: object;
}

/**
 * Connection-gater hooks that route each inbound connection's bytes through `priority`: the
 * connection counts as paying once its peer (known after Noise) is one `isPaying` names. A "yes"
 * is trusted for `recheckMs` (for a paying peer the check reads its subscription's expiry); a "no"
 * is asked again on the next chunk (a lookup that finds no grant), so a grant counts at once.
 * Until the peer is known the connection is free; its first `newcomerChunks` chunks never wait.
 */
export function prioritizeInbound(priority: InboundPriority, isPaying: (peer: string) => boolean, recheckMs = 250) {
  const peers = new WeakMap<object, { peer?: string; paying: boolean; checkedAt: number }>();
  return {
    /** Call from `denyInboundConnection`, before anything reads the connection. */
    accept(connection: PrioritizedConnection): void {
      const state: { peer?: string; paying: boolean; checkedAt: number } = { paying: false, checkedAt: Number.NEGATIVE_INFINITY };
      peers.set(connection.timeline, state);
      const paying = () => {
        if (state.peer === undefined) return false;
        const now = performance.now();
        if (!state.paying || now - state.checkedAt >= recheckMs) {
          state.paying = isPaying(state.peer);
          state.checkedAt = now;
        }
        return state.paying;
      };
      const source = connection.source;
      let newcomer = priority.limits.newcomerChunks;
      connection.source = (async function* () {
        for await (const chunk of source) {
          if (paying()) priority.paid();
          else if (newcomer > 0) newcomer--;
          else {
            const wait = priority.free();
            if (wait !== undefined) await wait;
          }
          yield chunk;
        }
      })();
    },
    /** Call from `denyInboundEncryptedConnection`: the peer is known now. */
    identified(peer: string, connection: { timeline: object }): void {
      const state = peers.get(connection.timeline);
      if (state !== undefined) state.peer = peer;
    },
  };
}
