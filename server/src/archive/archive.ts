// The archive: where a store node keeps messages for offline users. One interface, two backends
// (SQLite embedded, PostgreSQL shared by several nodes); the protocol handlers see only this.

/** One archived message, as the store protocol returns it. */
export interface ArchivedMessage {
  /** Deterministic message hash (32 bytes, 14/WAKU2-MESSAGE). */
  hash: Uint8Array;
  pubsubTopic: string;
  contentTopic: string;
  /** Sender's timestamp, nanoseconds (0 when the message had none). */
  timestamp: bigint;
  /** The encoded `WakuMessage` protobuf, exactly as received. */
  message: Uint8Array;
}

export interface ArchiveQuery {
  pubsubTopic?: string;
  /** Empty: any content topic. Non-empty needs `pubsubTopic` (the indexes start with it). */
  contentTopics: readonly string[];
  /** Non-empty: a hash lookup, only these messages; still filtered, ordered and paged like any query. */
  hashes?: readonly Uint8Array[];
  /** Inclusive bounds, nanoseconds. */
  timeStart?: bigint;
  timeEnd?: bigint;
  /** Exclusive: the page starts after (forward) or before (backward) this message. */
  cursor?: Uint8Array;
  forward: boolean;
  limit: number;
  /**
   * Bound on the page's bytes (each message's encoded size plus MESSAGE_OVERHEAD_BYTES): fewer
   * messages and `more` beyond it, but never fewer than one.
   */
  maxBytes?: number;
}

/** What one message adds to a store response besides its encoded bytes (hash, pubsub topic, framing), at most. */
export const MESSAGE_OVERHEAD_BYTES = 512;

export interface ArchivePage {
  /** Oldest first, whatever the direction. */
  messages: ArchivedMessage[];
  /** More messages match beyond this page. */
  more: boolean;
}

export interface ArchiveStats {
  messages: number;
  bytes: number;
}

export interface RetentionPolicy {
  /** Drop messages received longer ago than this (seconds); 0 keeps them forever. */
  maxAgeSeconds: number;
  /**
   * Keep at most this many bytes of messages: the oldest received go first, but only those older
   * than `minAgeSeconds`; when nothing that old is left, new messages are refused. 0: no limit.
   */
  maxBytes: number;
  /**
   * Messages received less than this long ago (seconds) are never dropped to make room: the
   * retention a subscriber can count on, whatever others push. Default 0.
   */
  minAgeSeconds?: number;
  /** New messages are refused while the archive's disk has less free space than this (SQLite only). Default 0. */
  minFreeDiskBytes?: number;
}

/**
 * Thrown by `put` when the archive takes no more messages now: its size bound is reached by
 * messages still within `minAgeSeconds`, or its disk is nearly full. The handlers answer an error
 * status; nothing already archived was dropped for it.
 */
export class ArchiveFullError extends Error {
  constructor(readonly why: "size" | "disk") {
    super(why === "size" ? "archive full: every archived message is within its guaranteed retention" : "archive full: its disk is nearly full");
  }
}

/** Thrown for a cursor that names no archived message (the handler answers 400). */
export class UnknownCursorError extends Error {
  constructor() {
    super("unknown cursor");
  }
}

export interface Archive {
  readonly kind: "sqlite" | "postgres";
  /**
   * Stores messages; a hash already present is skipped. Resolves to how many were new. Within the
   * retention policy last given to `prune`: makes room by dropping the oldest messages older than
   * its `minAgeSeconds`, or rejects with ArchiveFullError.
   */
  put(messages: readonly ArchivedMessage[], receivedAtMs?: number): Promise<number>;
  /** One page of a query (filters, hash lookup, cursor), ordered by (timestamp, hash). */
  query(query: ArchiveQuery): Promise<ArchivePage>;
  /** The messages with these hashes that are archived, in (timestamp, hash) order. */
  byHashes(hashes: readonly Uint8Array[]): Promise<ArchivedMessage[]>;
  stats(): Promise<ArchiveStats>;
  /** Applies the retention policy now, and bounds `put` by it from now on; resolves to how many messages were dropped. */
  prune(policy: RetentionPolicy, nowMs?: number): Promise<number>;
  close(): Promise<void>;
}

/** Where a message sits in the order every query pages in. */
export interface MessageKey {
  hash: Uint8Array;
  timestamp: bigint;
  /** Bytes of the encoded message. */
  size: number;
}

/** One index range: a walk of an index in (timestamp, hash) order, from `after` on. */
export interface KeyRange {
  pubsubTopic?: string;
  /** One content topic (needs `pubsubTopic`). */
  contentTopic?: string;
  timeStart?: bigint;
  timeEnd?: bigint;
  /** Exclusive start of the walk, in its direction. */
  after?: { timestamp: bigint; hash: Uint8Array };
  forward: boolean;
  limit: number;
}

/**
 * What a backend answers; `readPage` builds every page from these, so that each read is an
 * index range or primary-key lookups whose size the page limit bounds.
 */
export interface ArchiveReader {
  /** The timestamp of an archived message (a cursor), or undefined. */
  cursorTimestamp(hash: Uint8Array): Promise<bigint | undefined>;
  /** At most `range.limit` keys of one index range, in the range's direction. */
  keys(range: KeyRange): Promise<MessageKey[]>;
  /** The keys (with topics) of those of these hashes that are archived, in any order. */
  keysOf(hashes: readonly Uint8Array[]): Promise<(MessageKey & { pubsubTopic: string; contentTopic: string })[]>;
  /** The archived messages with these hashes, in any order. */
  bodies(hashes: readonly Uint8Array[]): Promise<ArchivedMessage[]>;
}

/** Orders keys by (timestamp, hash): the order of every index the queries walk (bytes compare as memcmp). */
export function compareKeys(a: { timestamp: bigint; hash: Uint8Array }, b: { timestamp: bigint; hash: Uint8Array }): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return Buffer.compare(a.hash, b.hash);
}

const hex = (hash: Uint8Array) => Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString("hex");

/**
 * The first `want` keys of several ranges in order: a k-way merge that reads each range in chunks
 * of about want / k keys, and reads on only from the ranges still in contention, so the keys read
 * are about 2 × want + k, not k × want (100 content topics, page of 100: ~400 index entries).
 */
async function mergeRanges(reader: ArchiveReader, ranges: KeyRange[], want: number, inOrder: (a: MessageKey, b: MessageKey) => number): Promise<MessageKey[]> {
  const chunk = ranges.length === 1 ? want : Math.max(2, Math.ceil(want / ranges.length) + 1);
  const walks = await Promise.all(
    ranges.map(async (range) => {
      const keys = await reader.keys({ ...range, limit: chunk });
      return { range, keys, at: 0, done: keys.length < chunk };
    }),
  );
  const merged: MessageKey[] = [];
  while (merged.length < want) {
    let best: (typeof walks)[number] | undefined;
    for (const walk of walks) if (walk.at < walk.keys.length && (best === undefined || inOrder(walk.keys[walk.at]!, best.keys[best.at]!) < 0)) best = walk;
    if (best === undefined) break;
    const key = best.keys[best.at++]!;
    merged.push(key);
    if (best.at === best.keys.length && !best.done) {
      best.keys = await reader.keys({ ...best.range, after: { timestamp: key.timestamp, hash: key.hash }, limit: chunk });
      best.at = 0;
      best.done = best.keys.length < chunk;
    }
  }
  return merged;
}

/**
 * One page, from index ranges only. Several content topics are one range each (a single range
 * over several topics would come out of the index unordered and need a sort of every match),
 * merged here (mergeRanges); so a page costs about (2 × (limit + 1) + topics) index entries plus
 * `limit` message bodies, whatever the archive holds.
 */
export async function readPage(reader: ArchiveReader, query: ArchiveQuery): Promise<ArchivePage> {
  if (query.contentTopics.length > 0 && query.pubsubTopic === undefined) throw new Error("content topics need a pubsub topic");
  let after: KeyRange["after"];
  if (query.cursor !== undefined) {
    const timestamp = await reader.cursorTimestamp(query.cursor);
    if (timestamp === undefined) throw new UnknownCursorError();
    after = { timestamp, hash: query.cursor };
  }
  const direction = query.forward ? 1 : -1;
  const inOrder = (a: MessageKey, b: MessageKey) => direction * compareKeys(a, b);
  const want = query.limit + 1;
  let keys: MessageKey[];
  if (query.hashes !== undefined && query.hashes.length > 0) {
    const topics = new Set(query.contentTopics);
    keys = (await reader.keysOf(query.hashes)).filter(
      (k) =>
        (query.pubsubTopic === undefined || k.pubsubTopic === query.pubsubTopic) &&
        (topics.size === 0 || topics.has(k.contentTopic)) &&
        (query.timeStart === undefined || k.timestamp >= query.timeStart) &&
        (query.timeEnd === undefined || k.timestamp <= query.timeEnd) &&
        (after === undefined || inOrder(k, after as MessageKey) > 0),
    );
  } else {
    const base: KeyRange = {
      ...(query.pubsubTopic !== undefined ? { pubsubTopic: query.pubsubTopic } : {}),
      ...(query.timeStart !== undefined ? { timeStart: query.timeStart } : {}),
      ...(query.timeEnd !== undefined ? { timeEnd: query.timeEnd } : {}),
      ...(after !== undefined ? { after } : {}),
      forward: query.forward,
      limit: want,
    };
    const ranges = query.contentTopics.length === 0 ? [base] : [...new Set(query.contentTopics)].map((contentTopic) => ({ ...base, contentTopic }));
    keys = await mergeRanges(reader, ranges, want, inOrder);
  }
  keys.sort(inOrder);
  let more = keys.length > query.limit;
  let page = keys.slice(0, query.limit);
  if (query.maxBytes !== undefined) {
    // At least one message, so that every page moves the cursor on.
    let bytes = 0;
    const fits = page.findIndex((k, i) => (bytes += k.size + MESSAGE_OVERHEAD_BYTES) > query.maxBytes! && i > 0);
    if (fits >= 0) {
      page = page.slice(0, fits);
      more = true;
    }
  }
  const bodies = new Map((await reader.bodies(page.map((k) => k.hash))).map((m) => [hex(m.hash), m]));
  // A message pruned between the two reads is left out.
  const messages = page.map((k) => bodies.get(hex(k.hash))).filter((m): m is ArchivedMessage => m !== undefined);
  if (!query.forward) messages.reverse();
  return { messages, more };
}
