// The probe's side of the Waku protocols it measures with: metadata (is the node up and on our
// network), store v3 (a cheap query for latency, hash lookups for presence) and lightpush (to
// publish its markers and reports). Each call is one exchange with a deadline (exchange.ts), and
// every byte that crosses is counted, so the probe's cost per node is known.
import { randomUUID } from "node:crypto";
import { proto_lightpush, proto_message, proto_metadata, proto_store } from "@waku/proto";
import { exchange, RequestError, type Dial } from "../exchange.js";
import { LIGHTPUSH_V3_CODEC } from "../lightpush.js";
import { METADATA_CODEC } from "../services/metadata.js";
import { STORE_CODEC, StoreStatus } from "../store.js";
import type { Chunk, DuplexStream } from "../streams.js";

/** What crossed the wire, for the probe's cost. */
export interface Traffic {
  /** Streams opened (one per query). */
  queries: number;
  bytesSent: number;
  bytesReceived: number;
}

export const emptyTraffic = (): Traffic => ({ queries: 0, bytesSent: 0, bytesReceived: 0 });

const size = (chunk: Chunk) => (chunk instanceof Uint8Array ? chunk.length : chunk.byteLength);

/** `dial` whose streams count into `traffic` (payload bytes, framing included; not libp2p's own). */
export function countingDial(dial: Dial, traffic: (peer: string) => Traffic): Dial {
  return async (peer, protocol, options) => {
    const stream = await dial(peer, protocol, options);
    const t = traffic(peer);
    t.queries += 1;
    const counted: DuplexStream = {
      source: (async function* () {
        for await (const chunk of stream.source) {
          t.bytesReceived += size(chunk);
          yield chunk;
        }
      })(),
      sink: (source) =>
        stream.sink(
          (async function* () {
            for await (const chunk of source) {
              t.bytesSent += size(chunk);
              yield chunk;
            }
          })(),
        ),
      close: () => stream.close(),
      abort: (error) => stream.abort(error),
    };
    return counted;
  };
}

export interface CallOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Small answers only: a metadata or lightpush answer is a few bytes. */
const SMALL_ANSWER = 64 * 1024;

/** The node's metadata answer: its cluster and shards. */
export async function askMetadata(dial: Dial, peer: string, ours: { clusterId: number; shards: readonly number[] }, options: CallOptions): Promise<{ clusterId: number | undefined; shards: number[] }> {
  const bytes = await exchange(dial, peer, METADATA_CODEC, proto_metadata.WakuMetadataRequest.encode({ clusterId: ours.clusterId, shards: [...ours.shards] }), { ...options, maxResponseBytes: SMALL_ANSWER });
  try {
    const answer = proto_metadata.WakuMetadataResponse.decode(bytes);
    return { clusterId: answer.clusterId, shards: answer.shards };
  } catch {
    throw new RequestError("malformed", "undecodable metadata answer");
  }
}

/** Lightpush v3: hands `message` to `peer` for relay on `pubsubTopic`; throws RequestError "status" unless 200. */
export async function pushMessage(dial: Dial, peer: string, pubsubTopic: string, message: proto_message.WakuMessage, options: CallOptions): Promise<{ relayPeerCount: number }> {
  const requestId = randomUUID();
  const bytes = await exchange(dial, peer, LIGHTPUSH_V3_CODEC, proto_lightpush.LightPushRequestV3.encode({ requestId, pubsubTopic, message }), { ...options, maxResponseBytes: SMALL_ANSWER });
  let answer: proto_lightpush.LightPushResponseV3;
  try {
    answer = proto_lightpush.LightPushResponseV3.decode(bytes);
  } catch {
    throw new RequestError("malformed", "undecodable lightpush answer");
  }
  if (answer.statusCode !== 200) throw new RequestError("status", `lightpush status ${answer.statusCode}: ${(answer.statusDesc ?? "").slice(0, 200)}`, answer.statusCode);
  return { relayPeerCount: answer.relayPeerCount ?? 0 };
}

async function store(dial: Dial, peer: string, request: Omit<proto_store.StoreQueryRequest, "requestId">, options: CallOptions & { maxResponseBytes: number }): Promise<proto_store.StoreQueryResponse> {
  const requestId = randomUUID();
  const bytes = await exchange(dial, peer, STORE_CODEC, proto_store.StoreQueryRequest.encode({ ...request, requestId }), options);
  let answer: proto_store.StoreQueryResponse;
  try {
    answer = proto_store.StoreQueryResponse.decode(bytes);
  } catch {
    throw new RequestError("malformed", "undecodable store answer");
  }
  if (answer.requestId !== requestId) throw new RequestError("malformed", "answer to another request id");
  if (answer.statusCode !== StoreStatus.OK) throw new RequestError("status", `store status ${answer.statusCode ?? "none"}: ${(answer.statusDesc ?? "").slice(0, 200)}`, answer.statusCode);
  return answer;
}

/** The cheapest store query a node serves: one page of one hash on `contentTopic` (the probe's own marker topic). */
export async function cheapQuery(dial: Dial, peer: string, pubsubTopic: string, contentTopic: string, options: CallOptions): Promise<void> {
  await store(dial, peer, { includeData: false, pubsubTopic, contentTopics: [contentTopic], messageHashes: [], paginationForward: false, paginationLimit: 1n }, { ...options, maxResponseBytes: SMALL_ANSWER });
}

/** Most hashes asked in one lookup (nwaku's and our store's page bound). */
export const HASHES_PER_QUERY = 100;

/**
 * Which of `hashes` (32 bytes each) the node holds: store v3 hash lookups without data, 100 per
 * query. Resolves to the hex of those found.
 */
export async function presentHashes(dial: Dial, peer: string, hashes: readonly Uint8Array[], options: CallOptions): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < hashes.length; i += HASHES_PER_QUERY) {
    const chunk = hashes.slice(i, i + HASHES_PER_QUERY);
    const answer = await store(
      dial,
      peer,
      { includeData: false, contentTopics: [], messageHashes: [...chunk], paginationForward: true, paginationLimit: BigInt(chunk.length) },
      // 32-byte hashes and little framing each, nothing more.
      { ...options, maxResponseBytes: SMALL_ANSWER },
    );
    for (const entry of answer.messages) if (entry.messageHash !== undefined) found.add(Buffer.from(entry.messageHash).toString("hex"));
  }
  return found;
}
