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
  /** Empty: any content topic. */
  contentTopics: readonly string[];
  /** Inclusive bounds, nanoseconds. */
  timeStart?: bigint;
  timeEnd?: bigint;
  /** Exclusive: the page starts after (forward) or before (backward) this message. */
  cursor?: Uint8Array;
  forward: boolean;
  limit: number;
}

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
  /** Drop the oldest messages while the archive holds more bytes of messages than this; 0: no limit. */
  maxBytes: number;
}

/** Thrown for a cursor that names no archived message (the handler answers 400). */
export class UnknownCursorError extends Error {
  constructor() {
    super("unknown cursor");
  }
}

export interface Archive {
  readonly kind: "sqlite" | "postgres";
  /** Stores messages; a hash already present is skipped. Resolves to how many were new. */
  put(messages: readonly ArchivedMessage[], receivedAtMs?: number): Promise<number>;
  /** One page of a content-filtered query, ordered by (timestamp, hash). */
  query(query: ArchiveQuery): Promise<ArchivePage>;
  /** The messages with these hashes that are archived (in timestamp order). */
  byHashes(hashes: readonly Uint8Array[]): Promise<ArchivedMessage[]>;
  stats(): Promise<ArchiveStats>;
  /** Applies the retention policy now; resolves to how many messages were dropped. */
  prune(policy: RetentionPolicy, nowMs?: number): Promise<number>;
  close(): Promise<void>;
}
