/**
 * The escrow's subscription events, decoded by fixed offsets. Every field the index needs is a
 * static ABI type (indexed topics, 32-byte data words), so a log decodes by slicing strings:
 * no `Interface.parseLog` (fragment lookup, ABI decoder, Result objects) per log, which is what
 * bounded catch-up speed. This is the one place that knows the event layouts: a change to an
 * event in ISubscriptionEscrow.sol means a change here (a test compares these topics with the
 * compiled interface).
 */
import { id } from "ethers";

// ISubscriptionEscrow.Subscription, a static struct: inlined in the data as its 7 words
// (owner, start, expiresAt, cancellationFeeBps, paid, renewMonths, renewMaxPricePerMonth).
const RECORD = "(address,uint40,uint40,uint16,uint96,uint8,uint96)";

export const ESCROW_EVENT_SIGNATURES = {
  Subscribed: `Subscribed(bytes32,address,address,uint256,uint256,${RECORD})`,
  Extended: `Extended(bytes32,address,address,uint256,uint256,uint256,${RECORD})`,
  Cancelled: "Cancelled(bytes32,address,address,uint256,uint256)",
  ClientIdChanged: `ClientIdChanged(bytes32,address,address,${RECORD})`,
} as const;

export const ESCROW_EVENT_TOPICS = {
  Subscribed: id(ESCROW_EVENT_SIGNATURES.Subscribed),
  Extended: id(ESCROW_EVENT_SIGNATURES.Extended),
  Cancelled: id(ESCROW_EVENT_SIGNATURES.Cancelled),
  ClientIdChanged: id(ESCROW_EVENT_SIGNATURES.ClientIdChanged),
} as const;

/** A log as `eth_getLogs` returns it (quantities as hex strings or numbers). */
export interface RawLog {
  topics: readonly string[];
  data: string;
  blockNumber: string | number;
  blockHash: string;
  removed?: boolean;
}

/** Addresses and ids are lowercase hex. */
export type EscrowEvent =
  | { kind: "subscribed"; nodeId: string; clientId: string; owner: string; expiresAt: bigint }
  | { kind: "extended"; nodeId: string; clientId: string; payer: string; expiresAt: bigint }
  | { kind: "cancelled"; nodeId: string; clientId: string }
  | { kind: "clientIdChanged"; nodeId: string; oldClientId: string; newClientId: string; owner: string; expiresAt: bigint };

// Data words of the record's fields: Subscribed = months, pricePerMonth, record (owner word 2,
// expiresAt word 4); Extended = months, pricePerMonth, amount, record (expiresAt word 5);
// ClientIdChanged = record (owner word 0, expiresAt word 2). Each event's data is at least as
// long as its last record word, checked before slicing.
const SUBSCRIBED_EXPIRES_AT_WORD = 4;
const EXTENDED_EXPIRES_AT_WORD = 5;
const CHANGED_OWNER_WORD = 0;
const CHANGED_EXPIRES_AT_WORD = 2;
const RECORD_WORDS = 7;
const hasWords = (data: string, n: number) => data.length >= 2 + 64 * n;
const word = (data: string, i: number) => data.slice(2 + 64 * i, 66 + 64 * i);
const addressOfTopic = (topic: string) => `0x${topic.slice(26).toLowerCase()}`;
const addressOfWord = (data: string, i: number) => `0x${word(data, i).slice(24).toLowerCase()}`;
const uintOfWord = (data: string, i: number) => BigInt(`0x${word(data, i)}`);

const T_SUBSCRIBED = ESCROW_EVENT_TOPICS.Subscribed;
const T_EXTENDED = ESCROW_EVENT_TOPICS.Extended;
const T_CANCELLED = ESCROW_EVENT_TOPICS.Cancelled;
const T_CLIENT_ID_CHANGED = ESCROW_EVENT_TOPICS.ClientIdChanged;

/** Decode one escrow log; undefined for other events and for logs too short to be these. */
export function decodeEscrowLog(log: RawLog): EscrowEvent | undefined {
  const topics = log.topics;
  if (topics.length !== 4) return undefined;
  const topic0 = topics[0].toLowerCase();
  const nodeId = topics[1].toLowerCase();
  const data = log.data;
  switch (topic0) {
    case T_SUBSCRIBED:
      if (!hasWords(data, 2 + RECORD_WORDS)) return undefined;
      return { kind: "subscribed", nodeId, clientId: addressOfTopic(topics[2]), owner: addressOfTopic(topics[3]), expiresAt: uintOfWord(data, SUBSCRIBED_EXPIRES_AT_WORD) };
    case T_EXTENDED:
      if (!hasWords(data, 3 + RECORD_WORDS)) return undefined;
      return { kind: "extended", nodeId, clientId: addressOfTopic(topics[2]), payer: addressOfTopic(topics[3]), expiresAt: uintOfWord(data, EXTENDED_EXPIRES_AT_WORD) };
    case T_CANCELLED:
      return { kind: "cancelled", nodeId, clientId: addressOfTopic(topics[2]) };
    case T_CLIENT_ID_CHANGED:
      if (!hasWords(data, RECORD_WORDS)) return undefined;
      return {
        kind: "clientIdChanged",
        nodeId,
        oldClientId: addressOfTopic(topics[2]),
        newClientId: addressOfTopic(topics[3]),
        owner: addressOfWord(data, CHANGED_OWNER_WORD),
        expiresAt: uintOfWord(data, CHANGED_EXPIRES_AT_WORD),
      };
    default:
      return undefined;
  }
}

/**
 * The topic-0 filter for the four events. AutoRenewSet is left out on purpose: it changes
 * neither the owner nor the expiry, which is all the index keeps.
 */
export const ESCROW_EVENT_FILTER: string[] = [T_SUBSCRIBED, T_EXTENDED, T_CANCELLED, T_CLIENT_ID_CHANGED];

/** `blockNumber` of a raw log as a number. */
export const blockNumberOf = (log: RawLog): number => (typeof log.blockNumber === "number" ? log.blockNumber : Number.parseInt(log.blockNumber, 16));
