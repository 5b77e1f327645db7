// Lightpush v3 (`/vac/waku/lightpush/3.0.0`, what @waku/sdk 0.0.36 prefers) and v2
// (`/vac/waku/lightpush/2.0.0-beta1`): a client deposits a message; this node archives it.
import { messageHash } from "@waku/core";
import { proto_lightpush, proto_message } from "@waku/proto";
import type { Archive, ArchivedMessage } from "./archive/archive.js";

export const LIGHTPUSH_V3_CODEC = "/vac/waku/lightpush/3.0.0";
export const LIGHTPUSH_V2_CODEC = "/vac/waku/lightpush/2.0.0-beta1";

/** Lightpush v3 status codes (the spec's). */
export const PushStatus = {
  OK: 200,
  BAD_REQUEST: 400,
  PAYLOAD_TOO_LARGE: 413,
  INVALID_MESSAGE: 420,
  UNSUPPORTED_PUBSUB_TOPIC: 421,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_ERROR: 500,
} as const;

export interface PushLimits {
  /** Largest encoded WakuMessage accepted (nwaku's default: 150 KiB). */
  maxMessageBytes: number;
  /** How far in the future (or past) a message's timestamp may be, seconds (nwaku: 20). */
  maxClockDriftSeconds: number;
  /** Pubsub topics this node archives (its shards). */
  pubsubTopics: readonly string[];
}

export interface PushOutcome {
  statusCode: number;
  statusDesc: string;
  /** The archived message (also when it was a duplicate). */
  archived?: ArchivedMessage;
  duplicate?: boolean;
}

/** Validates and archives one pushed message. Never throws. */
export async function acceptPush(
  pubsubTopic: string | undefined,
  message: proto_message.WakuMessage | undefined,
  archive: Archive,
  limits: PushLimits,
  nowMs = Date.now(),
): Promise<PushOutcome> {
  if (message === undefined) return { statusCode: PushStatus.BAD_REQUEST, statusDesc: "BAD_REQUEST: no message" };
  if (pubsubTopic === undefined || !limits.pubsubTopics.includes(pubsubTopic)) {
    return { statusCode: PushStatus.UNSUPPORTED_PUBSUB_TOPIC, statusDesc: `UNSUPPORTED_PUBSUB_TOPIC: ${String(pubsubTopic).slice(0, 100)}` };
  }
  if (message.contentTopic === "" || message.payload.length === 0) {
    return { statusCode: PushStatus.INVALID_MESSAGE, statusDesc: "INVALID_MESSAGE: empty content topic or payload" };
  }
  if (message.ephemeral === true) return { statusCode: PushStatus.OK, statusDesc: "OK: ephemeral, not archived" };
  const encoded = proto_message.WakuMessage.encode(message);
  if (encoded.length > limits.maxMessageBytes) {
    return { statusCode: PushStatus.PAYLOAD_TOO_LARGE, statusDesc: `PAYLOAD_TOO_LARGE: ${encoded.length} bytes, at most ${limits.maxMessageBytes}` };
  }
  const timestamp = message.timestamp ?? 0n;
  const driftNs = BigInt(limits.maxClockDriftSeconds) * 1_000_000_000n;
  const nowNs = BigInt(nowMs) * 1_000_000n;
  if (timestamp === 0n || timestamp > nowNs + driftNs || timestamp < nowNs - driftNs) {
    return { statusCode: PushStatus.INVALID_MESSAGE, statusDesc: "INVALID_MESSAGE: timestamp missing or too far from now" };
  }
  const archived: ArchivedMessage = {
    hash: messageHash(pubsubTopic, message as unknown as Parameters<typeof messageHash>[1]),
    pubsubTopic,
    contentTopic: message.contentTopic,
    timestamp,
    message: encoded,
  };
  try {
    const added = await archive.put([archived], nowMs);
    return { statusCode: PushStatus.OK, statusDesc: "OK", archived, duplicate: added === 0 };
  } catch {
    return { statusCode: PushStatus.INTERNAL_ERROR, statusDesc: "INTERNAL_ERROR: archive unavailable" };
  }
}

/** The v3 response for an outcome. */
export function pushResponseV3(requestId: string, outcome: Pick<PushOutcome, "statusCode" | "statusDesc">): Uint8Array {
  return proto_lightpush.LightPushResponseV3.encode({ requestId, statusCode: outcome.statusCode, statusDesc: outcome.statusDesc, relayPeerCount: 0 });
}

/** The v2 response (a PushRpc carrying isSuccess/info). */
export function pushResponseV2(requestId: string, outcome: Pick<PushOutcome, "statusCode" | "statusDesc">): Uint8Array {
  return proto_lightpush.PushRpc.encode({ requestId, response: { isSuccess: outcome.statusCode === PushStatus.OK, info: outcome.statusDesc } });
}
