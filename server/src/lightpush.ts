// Lightpush v3 (`/vac/waku/lightpush/3.0.0`, what @waku/sdk 0.0.36 prefers) and v2
// (`/vac/waku/lightpush/2.0.0-beta1`): the wire side, pure. A light client hands a message to this
// node, which publishes it on Waku Relay (and archives it); the answer says how many relay peers
// it reached, and with none it is a failure, as nwaku answers, so that the client tries elsewhere.
import { proto_lightpush, proto_message } from "@waku/proto";
import type { Refusal } from "./message.js";

export const LIGHTPUSH_V3_CODEC = "/vac/waku/lightpush/3.0.0";
export const LIGHTPUSH_V2_CODEC = "/vac/waku/lightpush/2.0.0-beta1";

/** The lightpush v3 status codes nwaku answers with (waku_lightpush/common.nim). */
export const PushStatus = {
  OK: 200,
  BAD_REQUEST: 400,
  INVALID_MESSAGE: 420,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
  NO_PEERS_TO_RELAY: 505,
} as const;

export interface PushOutcome {
  statusCode: number;
  statusDesc: string;
  /** Relay peers the message was published to. */
  relayPeerCount: number;
}

export interface PushRequest {
  requestId: string;
  pubsubTopic: string | undefined;
  message: proto_message.WakuMessage | undefined;
}

/** Decodes a v3 request or a v2 PushRpc; throws on malformed bytes. */
export function decodePushRequest(version: "v2" | "v3", bytes: Uint8Array): PushRequest {
  if (version === "v3") {
    const request = proto_lightpush.LightPushRequestV3.decode(bytes);
    return { requestId: request.requestId, pubsubTopic: request.pubsubTopic || undefined, message: request.message };
  }
  const rpc = proto_lightpush.PushRpc.decode(bytes);
  return { requestId: rpc.requestId, pubsubTopic: rpc.request?.pubsubTopic || undefined, message: rpc.request?.message };
}

/**
 * nwaku publishes a message without a timestamp stamped with the time it relays it (the hash
 * then covers that timestamp).
 */
export function stamped(message: proto_message.WakuMessage, nowMs: number): proto_message.WakuMessage {
  if (message.timestamp !== undefined && message.timestamp !== 0n) return message;
  return { ...message, timestamp: BigInt(nowMs) * 1_000_000n };
}

/** The status for a message the rules refused (nwaku: 420 for every invalid message, 400 for none). */
export function refusedOutcome(refusal: Refusal, reason: string): PushOutcome {
  switch (refusal) {
    case "malformed":
      return { statusCode: PushStatus.BAD_REQUEST, statusDesc: `BAD_REQUEST: ${reason}`, relayPeerCount: 0 };
    case "unsupported-topic":
      // This node neither subscribes to nor archives that shard, so it has no peers to relay it to.
      return { statusCode: PushStatus.NO_PEERS_TO_RELAY, statusDesc: `NO_PEERS_TO_RELAY: ${reason}`, relayPeerCount: 0 };
    case "too-large":
      return { statusCode: PushStatus.INVALID_MESSAGE, statusDesc: `INVALID_MESSAGE: Message size exceeded (${reason})`, relayPeerCount: 0 };
    case "invalid":
      return { statusCode: PushStatus.INVALID_MESSAGE, statusDesc: `INVALID_MESSAGE: ${reason}`, relayPeerCount: 0 };
  }
}

/** The outcome of a publish that reached `peers` relay peers. */
export function publishedOutcome(peers: number): PushOutcome {
  return peers > 0
    ? { statusCode: PushStatus.OK, statusDesc: "OK", relayPeerCount: peers }
    : { statusCode: PushStatus.NO_PEERS_TO_RELAY, statusDesc: "NO_PEERS_TO_RELAY: No peers for topic, skipping publish", relayPeerCount: 0 };
}

/** The v3 response for an outcome. */
export function pushResponseV3(requestId: string, outcome: PushOutcome): Uint8Array {
  return proto_lightpush.LightPushResponseV3.encode({
    requestId,
    statusCode: outcome.statusCode,
    statusDesc: outcome.statusDesc,
    ...(outcome.statusCode === PushStatus.OK ? { relayPeerCount: outcome.relayPeerCount } : {}),
  });
}

/** The v2 response (a PushRpc carrying isSuccess/info); nwaku's v2 info for no peers is "not_published_to_any_peer". */
export function pushResponseV2(requestId: string, outcome: PushOutcome): Uint8Array {
  const info = outcome.statusCode === PushStatus.NO_PEERS_TO_RELAY ? "not_published_to_any_peer" : outcome.statusDesc;
  return proto_lightpush.PushRpc.encode({ requestId, response: { isSuccess: outcome.statusCode === PushStatus.OK, info } });
}
