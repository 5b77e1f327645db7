// What makes a Waku message acceptable to this node, whichever way it arrives (relay, lightpush):
// one set of rules, so that relay and lightpush archive exactly the same messages. The rules are
// nwaku's: the size bound of its relay (150 KiB by default), its archive's timestamp window
// (±20 s), and the content-topic form that js-waku's encoders enforce.
import { messageHash } from "@waku/core";
import { proto_message } from "@waku/proto";
import type { ArchivedMessage } from "./archive/archive.js";

export interface MessageRules {
  /** Largest encoded WakuMessage accepted (nwaku's default: 150 KiB). */
  maxMessageBytes: number;
  /** How far a message's timestamp may be from now, seconds (nwaku: 20). */
  maxClockDriftSeconds: number;
  /** Pubsub topics this node relays and archives (its shards). */
  pubsubTopics: readonly string[];
}

export const DEFAULT_MESSAGE_RULES: Omit<MessageRules, "pubsubTopics"> = { maxMessageBytes: 150 * 1024, maxClockDriftSeconds: 20 };

/** Why a message was refused; lightpush maps each to its status code. */
export type Refusal = "malformed" | "unsupported-topic" | "too-large" | "invalid";

export type Checked =
  | { ok: true; archived: ArchivedMessage; ephemeral: boolean }
  | { ok: false; refusal: Refusal; reason: string };

/** `/waku/2/rs/<cluster>/<shard>`: the static-sharding pubsub topic. */
export const pubsubTopicOf = (clusterId: number, shard: number) => `/waku/2/rs/${clusterId}/${shard}`;

/**
 * 23/WAKU2-TOPICS: `/{application}/{version}/{name}/{encoding}`, optionally preceded by a numeric
 * generation. Every js-waku encoder refuses other forms, so nothing honest sends them.
 */
export function isValidContentTopic(topic: string): boolean {
  if (topic.length === 0 || topic.length > 512) return false;
  const parts = topic.split("/");
  if (parts[0] !== "") return false;
  const fields = parts.length === 6 ? parts.slice(2) : parts.length === 5 ? parts.slice(1) : undefined;
  if (fields === undefined) return false;
  if (parts.length === 6 && !/^\d+$/.test(parts[1]!)) return false;
  return fields.every((field) => field.length > 0);
}

/**
 * Checks one decoded message against the rules. `encoded` is its wire form (relay's data) when
 * the caller has it, so that the size counted is the size received. Never throws.
 */
export function checkMessage(
  pubsubTopic: string | undefined,
  message: proto_message.WakuMessage | undefined,
  rules: MessageRules,
  nowMs: number,
  encoded?: Uint8Array,
): Checked {
  if (message === undefined) return { ok: false, refusal: "malformed", reason: "no message" };
  if (pubsubTopic === undefined || !rules.pubsubTopics.includes(pubsubTopic)) {
    return { ok: false, refusal: "unsupported-topic", reason: `not a shard of this node: ${String(pubsubTopic).slice(0, 100)}` };
  }
  const bytes = encoded ?? proto_message.WakuMessage.encode(message);
  if (bytes.length > rules.maxMessageBytes) return { ok: false, refusal: "too-large", reason: `${bytes.length} bytes, at most ${rules.maxMessageBytes}` };
  if (!isValidContentTopic(message.contentTopic)) return { ok: false, refusal: "invalid", reason: "content topic is not /app/version/name/encoding" };
  if (message.payload.length === 0) return { ok: false, refusal: "invalid", reason: "empty payload" };
  const timestamp = message.timestamp ?? 0n;
  const driftNs = BigInt(rules.maxClockDriftSeconds) * 1_000_000_000n;
  const nowNs = BigInt(nowMs) * 1_000_000n;
  if (timestamp === 0n) return { ok: false, refusal: "invalid", reason: "no timestamp" };
  if (timestamp > nowNs + driftNs) return { ok: false, refusal: "invalid", reason: "timestamp in the future" };
  if (timestamp < nowNs - driftNs) return { ok: false, refusal: "invalid", reason: "timestamp too old" };
  return { ok: true, archived: toArchived(pubsubTopic, message, bytes), ephemeral: message.ephemeral === true };
}

/** Decodes relay data and checks it. */
export function checkRelayData(pubsubTopic: string, data: Uint8Array, rules: MessageRules, nowMs: number): Checked {
  // The size bound comes before decoding: an oversized message costs no protobuf work.
  if (data.length > rules.maxMessageBytes) return { ok: false, refusal: "too-large", reason: `${data.length} bytes, at most ${rules.maxMessageBytes}` };
  let message: proto_message.WakuMessage;
  try {
    message = proto_message.WakuMessage.decode(data);
  } catch {
    return { ok: false, refusal: "malformed", reason: "not a WakuMessage" };
  }
  return checkMessage(pubsubTopic, message, rules, nowMs, data);
}

/** The archive's row for a message (hash per 14/WAKU2-MESSAGE, over the pubsub topic). */
export function toArchived(pubsubTopic: string, message: proto_message.WakuMessage, encoded = proto_message.WakuMessage.encode(message)): ArchivedMessage {
  return {
    hash: messageHash(pubsubTopic, message as unknown as Parameters<typeof messageHash>[1]),
    pubsubTopic,
    contentTopic: message.contentTopic,
    timestamp: message.timestamp ?? 0n,
    message: encoded,
  };
}
