// Store v3 (`/vac/waku/store-query/3.0.0`): one request in, one response out. Pure around the
// archive: admission is decided before this runs.
import { proto_store } from "@waku/proto";
import { UnknownCursorError, type Archive, type ArchivedMessage } from "./archive/archive.js";

export const STORE_CODEC = "/vac/waku/store-query/3.0.0";

/** The status codes of the store v3 spec, plus 402 for the access gate. */
export const StoreStatus = {
  OK: 200,
  BAD_REQUEST: 400,
  PAYMENT_REQUIRED: 402,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export interface StoreLimits {
  /** Page size when the request names none (nwaku: 20). */
  defaultPageSize: number;
  /** Largest page served; larger limits are capped (nwaku: 100). */
  maxPageSize: number;
  maxContentTopics: number;
  maxMessageHashes: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = { defaultPageSize: 20, maxPageSize: 100, maxContentTopics: 10, maxMessageHashes: 100 };

export type StoreResponse = proto_store.StoreQueryResponse;

export function storeError(requestId: string, statusCode: number, statusDesc: string): StoreResponse {
  return { requestId, statusCode, statusDesc, messages: [] };
}

/** Answers one decoded request from the archive. Never throws: bad input gets a 400, faults a 500. */
export async function answerStoreQuery(request: proto_store.StoreQueryRequest, archive: Archive, limits: StoreLimits = DEFAULT_STORE_LIMITS): Promise<StoreResponse> {
  const requestId = request.requestId;
  const bad = (why: string) => storeError(requestId, StoreStatus.BAD_REQUEST, `BAD_REQUEST: ${why}`);
  if (request.contentTopics.length > limits.maxContentTopics) return bad(`more than ${limits.maxContentTopics} content topics`);
  if (request.messageHashes.length > limits.maxMessageHashes) return bad(`more than ${limits.maxMessageHashes} message hashes`);
  if (request.messageHashes.some((h) => h.length !== 32)) return bad("a message hash is not 32 bytes");
  if (request.paginationCursor !== undefined && request.paginationCursor.length !== 32) return bad("invalid cursor");
  if (request.messageHashes.length > 0 && (request.contentTopics.length > 0 || request.timeStart !== undefined || request.timeEnd !== undefined)) {
    return bad("a hash lookup takes no content topics or time range");
  }
  if (request.contentTopics.length > 0 && (request.pubsubTopic === undefined || request.pubsubTopic === "")) {
    return bad("content topics need a pubsub topic");
  }
  if (request.timeStart !== undefined && request.timeEnd !== undefined && request.timeStart > request.timeEnd) return bad("time start after time end");
  const requested = request.paginationLimit;
  if (requested !== undefined && requested < 0n) return bad("negative page limit");
  const limit = requested === undefined || requested === 0n ? limits.defaultPageSize : Number(requested > BigInt(limits.maxPageSize) ? BigInt(limits.maxPageSize) : requested);

  try {
    // A hash lookup pages like any query (js-waku repeats it with the cursor until an empty page).
    const page = await archive.query({
      ...(request.pubsubTopic ? { pubsubTopic: request.pubsubTopic } : {}),
      contentTopics: request.contentTopics,
      ...(request.messageHashes.length > 0 ? { hashes: request.messageHashes } : {}),
      ...(request.timeStart !== undefined ? { timeStart: request.timeStart } : {}),
      ...(request.timeEnd !== undefined ? { timeEnd: request.timeEnd } : {}),
      ...(request.paginationCursor !== undefined ? { cursor: request.paginationCursor } : {}),
      forward: request.paginationForward,
      limit,
    });
    // The cursor of the next page: the last message in the direction of travel.
    const edge = page.messages.length === 0 ? undefined : request.paginationForward ? page.messages.at(-1) : page.messages[0];
    return ok(requestId, page.messages, request.includeData, page.more ? edge?.hash : undefined);
  } catch (error) {
    if (error instanceof UnknownCursorError) return bad("invalid cursor");
    return storeError(requestId, StoreStatus.INTERNAL_ERROR, "INTERNAL_ERROR: archive unavailable");
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
