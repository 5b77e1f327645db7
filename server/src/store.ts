// Store v3 (`/vac/waku/store-query/3.0.0`): one request in, one response out. Pure around the
// archive: admission is decided before this runs.
import { proto_store } from "@waku/proto";
import { UnknownCursorError, type Archive, type ArchivedMessage } from "./archive/archive.js";

export const STORE_CODEC = "/vac/waku/store-query/3.0.0";

/** The status codes nwaku's store answers with (300 for archive errors, cursors among them), plus 402 for the access gate. */
export const StoreStatus = {
  OK: 200,
  BAD_RESPONSE: 300,
  BAD_REQUEST: 400,
  PAYMENT_REQUIRED: 402,
  TOO_MANY_REQUESTS: 429,
  SERVICE_UNAVAILABLE: 503,
} as const;

export interface StoreLimits {
  /** Page size when the request names none (nwaku: 20). */
  defaultPageSize: number;
  /** Largest page served; larger limits are capped (nwaku: 100). */
  maxPageSize: number;
  /** More content topics get a 400; each is one index range of a page's work. */
  maxContentTopics: number;
  maxMessageHashes: number;
  /**
   * A page with its messages' data stops before this many bytes (with a cursor to the rest; one
   * message at least): 100 messages of 150 KiB would exceed the 4 MiB a libp2p length-prefixed
   * reader accepts (js-waku's), and the client would get no answer at all.
   */
  maxResponseBytes: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = { defaultPageSize: 20, maxPageSize: 100, maxContentTopics: 100, maxMessageHashes: 100, maxResponseBytes: 3 * 1024 * 1024 };

export type StoreResponse = proto_store.StoreQueryResponse;

export function storeError(requestId: string, statusCode: number, statusDesc: string): StoreResponse {
  return { requestId, statusCode, statusDesc, messages: [] };
}

/** nwaku's decoder copies a hash field into 32 bytes: shorter ones are zero-padded, longer ones cut. */
function hash32(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 32) return bytes;
  const hash = new Uint8Array(32);
  hash.set(bytes.subarray(0, 32));
  return hash;
}

/**
 * Answers one decoded request from the archive, as nwaku does where a client can tell (see
 * server/README.md for where and why it differs). Never throws: bad input gets a 400 or nwaku's
 * 300, an archive fault a 503.
 */
export async function answerStoreQuery(request: proto_store.StoreQueryRequest, archive: Archive, limits: StoreLimits = DEFAULT_STORE_LIMITS): Promise<StoreResponse> {
  const requestId = request.requestId;
  // nwaku's decoder requires the field (and its answer to a request it cannot decode names no request).
  if (requestId === "") return storeError("", StoreStatus.BAD_REQUEST, "decoding rpc failed: MissingRequiredField request_id");
  const bad = (why: string) => storeError(requestId, StoreStatus.BAD_REQUEST, `BAD_REQUEST: ${why}`);
  const archiveError = (why: string) => storeError(requestId, StoreStatus.BAD_RESPONSE, `BAD_RESPONSE: archive error: ${why}`);
  if (request.contentTopics.length > limits.maxContentTopics) return bad(`more than ${limits.maxContentTopics} content topics`);
  if (request.messageHashes.length > limits.maxMessageHashes) return bad(`more than ${limits.maxMessageHashes} message hashes`);
  // Every query walks an index that starts with the pubsub topic (js-waku never sends this shape).
  if (request.contentTopics.length > 0 && (request.pubsubTopic === undefined || request.pubsubTopic === "")) {
    return bad("content topics need a pubsub topic");
  }
  const cursor = request.paginationCursor === undefined ? undefined : hash32(request.paginationCursor);
  if (cursor !== undefined && cursor.every((b) => b === 0)) return archiveError("INVALID_QUERY: all zeroes cursor hash");
  const requested = request.paginationLimit;
  if (requested !== undefined && requested < 0n) return bad("negative page limit");
  const limit = requested === undefined || requested === 0n ? limits.defaultPageSize : Number(requested > BigInt(limits.maxPageSize) ? BigInt(limits.maxPageSize) : requested);

  try {
    // A hash lookup pages like any query (js-waku repeats it with the cursor until an empty page),
    // and every filter applies to it, as in nwaku. A start after the end matches nothing: an empty page.
    const page = await archive.query({
      ...(request.pubsubTopic ? { pubsubTopic: request.pubsubTopic } : {}),
      contentTopics: request.contentTopics,
      ...(request.messageHashes.length > 0 ? { hashes: request.messageHashes.map(hash32) } : {}),
      ...(request.timeStart !== undefined ? { timeStart: request.timeStart } : {}),
      ...(request.timeEnd !== undefined ? { timeEnd: request.timeEnd } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
      forward: request.paginationForward,
      limit,
      ...(request.includeData ? { maxBytes: limits.maxResponseBytes } : {}),
    });
    // The cursor of the next page: the last message in the direction of travel.
    const edge = page.messages.length === 0 ? undefined : request.paginationForward ? page.messages.at(-1) : page.messages[0];
    return ok(requestId, page.messages, request.includeData, page.more ? edge?.hash : undefined);
  } catch (error) {
    if (error instanceof UnknownCursorError) return archiveError("DRIVER_ERROR: cursor not found");
    return storeError(requestId, StoreStatus.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE: archive unavailable, try later");
  }
}

function ok(requestId: string, messages: ArchivedMessage[], includeData: boolean, cursor: Uint8Array | undefined): StoreResponse {
  return {
    requestId,
    statusCode: StoreStatus.OK,
    statusDesc: "OK",
    messages: messages.map((m) =>
      includeData ? { messageHash: m.hash, message: decodeStored(m.message), pubsubTopic: m.pubsubTopic } : { messageHash: m.hash },
    ),
    ...(cursor !== undefined ? { paginationCursor: cursor } : {}),
  };
}

// Archived bytes were validated on the way in; the codec re-encodes them on the way out.
function decodeStored(bytes: Uint8Array): proto_store.WakuMessage {
  return proto_store.WakuMessage.decode(bytes);
}
