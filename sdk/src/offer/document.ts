// A mail server's offer, the document itself: a small signed document saying what the node sells
// (price, months, mode, free limits, retention, capacity, shards, contact). Signed with the node
// key, so it is bound to the registered node id; the registry stays the source of truth for
// money, so a price that disagrees with it is reported and the registry's wins. Isomorphic: no Node built-ins.
//
// Wire format (protocol `/status/mailserver/offer/1.0.0`): the client opens a stream and may send
// nothing (or an empty length-prefixed request); the server answers with one unsigned-varint
// length-prefixed frame of at most MAX_OFFER_BYTES bytes of UTF-8 JSON:
//   {"offer":{...the document, canonical field order...},"signature":"0x<65 bytes r‖s‖v>"}
// The signature is EIP-191 (`personal_sign`) by the node key over the canonical bytes of `offer`
// (JSON.stringify of the fields in the order of OfferDocument, no whitespace). ecrecover of it
// must give the node's address, the last 20 bytes of the node id, as the registry's node-key
// proofs do. Fetching it (libp2p, HTTP) is fetch.ts.
import { getAddress, isHexString, verifyMessage, Wallet, hexlify, type BytesLike } from "ethers";
import { boundedJson, boundedUint, documentError, exactRecord } from "../core/document.js";
import { MailserverSdkError } from "../errors.js";
import { nodeAddress, nodeIdFromPublicKey, normalizeNodeId } from "../nodeKey.js";

/** Protocol id of the offer protocol (must equal the server's). */
export const OFFER_PROTOCOL = "/status/mailserver/offer/1.0.0";
/** The only document version this SDK reads. */
export const OFFER_VERSION = 1;
/** Tag that makes an offer signature useless as any other personal_sign message. */
export const OFFER_TYPE = "status-mailserver-offer";
/** Largest encoded offer (frame payload), bytes. */
export const MAX_OFFER_BYTES = 4096;

export type OfferMode = "paid-only" | "freemium" | "free";

/** The document, in its canonical field order (the order of this interface). */
export interface OfferDocument {
  type: typeof OFFER_TYPE;
  version: typeof OFFER_VERSION;
  /** The node id (32 bytes hex) the offer is for. */
  nodeId: string;
  chainId: number;
  /** Contract addresses (checksummed), null when the node does not know them. */
  registry: string | null;
  escrow: string | null;
  token: string | null;
  /** Price per month in the token's base units (decimal string), null: "see the registry". */
  pricePerMonth: string | null;
  /** Months sold in one purchase. */
  months: { min: number; max: number };
  mode: OfferMode;
  /** What a non-paying client gets (all 0 in paid-only mode). */
  free: { queriesPerMinute: number; burst: number; maxConcurrent: number };
  /** 0 means unbounded. */
  retention: { maxAgeSeconds: number; maxBytes: number };
  capacity: { maxConcurrentQueries: number; maxPaidQueue: number };
  clusterId: number;
  shards: number[];
  /** e.g. `@status/mailserver-node/0.1.0`. */
  software: string;
  /** Operator contact (e-mail, URL, handle). */
  contact: string;
  /** When it was signed, unix seconds. */
  issuedAt: number;
}

/** The fields an operator fills in; `type`, `version` and `nodeId` come from the signer. */
export type OfferFields = Omit<OfferDocument, "type" | "version" | "nodeId">;

export interface SignedOffer {
  offer: OfferDocument;
  /** 65-byte EIP-191 signature by the node key, 0x hex. */
  signature: string;
}

const MAX_STRING = 256;
const MAX_SHARDS = 1024;
const MODES: readonly OfferMode[] = ["paid-only", "freemium", "free"];

export const invalid = /* @__PURE__ */ documentError("INVALID_OFFER", "invalid offer");
const record = (value: unknown, what: string, keys: readonly string[]) => exactRecord(invalid, value, what, keys);
const uint = (value: unknown, what: string, max?: number) => boundedUint(invalid, value, what, max);

function text(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length > MAX_STRING) throw invalid(`${what} must be a string of at most ${MAX_STRING} characters`);
  return value;
}

function addressOrNull(value: unknown, what: string): string | null {
  if (value === null) return null;
  if (typeof value !== "string" || !isHexString(value, 20)) throw invalid(`${what} must be an address or null`);
  return getAddress(value);
}

/**
 * Checks a parsed document field by field and rebuilds it in canonical order: what is signed is
 * always this rebuilt form, so field order or extra whitespace on the wire cannot change it.
 */
export function parseOfferDocument(value: unknown): OfferDocument {
  const o = record(value, "offer", [
    "type", "version", "nodeId", "chainId", "registry", "escrow", "token", "pricePerMonth", "months", "mode", "free",
    "retention", "capacity", "clusterId", "shards", "software", "contact", "issuedAt",
  ]);
  if (o.type !== OFFER_TYPE) throw invalid(`type must be ${OFFER_TYPE}`);
  if (o.version !== OFFER_VERSION) throw invalid(`unsupported version ${String(o.version)} (this SDK reads ${OFFER_VERSION})`, { version: o.version });
  if (typeof o.nodeId !== "string" || !isHexString(o.nodeId, 32)) throw invalid("nodeId must be 32 bytes hex");
  const price = o.pricePerMonth;
  if (price !== null && (typeof price !== "string" || !/^(0|[1-9][0-9]{0,77})$/.test(price))) throw invalid("pricePerMonth must be a decimal string or null");
  const months = record(o.months, "months", ["min", "max"]);
  const free = record(o.free, "free", ["queriesPerMinute", "burst", "maxConcurrent"]);
  const retention = record(o.retention, "retention", ["maxAgeSeconds", "maxBytes"]);
  const capacity = record(o.capacity, "capacity", ["maxConcurrentQueries", "maxPaidQueue"]);
  if (typeof o.mode !== "string" || !MODES.includes(o.mode as OfferMode)) throw invalid(`mode must be one of ${MODES.join(", ")}`);
  if (!Array.isArray(o.shards) || o.shards.length > MAX_SHARDS) throw invalid(`shards must be a list of at most ${MAX_SHARDS}`);
  const doc: OfferDocument = {
    type: OFFER_TYPE,
    version: OFFER_VERSION,
    nodeId: o.nodeId.toLowerCase(),
    chainId: uint(o.chainId, "chainId"),
    registry: addressOrNull(o.registry, "registry"),
    escrow: addressOrNull(o.escrow, "escrow"),
    token: addressOrNull(o.token, "token"),
    pricePerMonth: price as string | null,
    months: { min: uint(months.min, "months.min"), max: uint(months.max, "months.max") },
    mode: o.mode as OfferMode,
    free: {
      queriesPerMinute: uint(free.queriesPerMinute, "free.queriesPerMinute"),
      burst: uint(free.burst, "free.burst"),
      maxConcurrent: uint(free.maxConcurrent, "free.maxConcurrent"),
    },
    retention: { maxAgeSeconds: uint(retention.maxAgeSeconds, "retention.maxAgeSeconds"), maxBytes: uint(retention.maxBytes, "retention.maxBytes") },
    capacity: {
      maxConcurrentQueries: uint(capacity.maxConcurrentQueries, "capacity.maxConcurrentQueries"),
      maxPaidQueue: uint(capacity.maxPaidQueue, "capacity.maxPaidQueue"),
    },
    clusterId: uint(o.clusterId, "clusterId", 65535),
    shards: o.shards.map((s, i) => uint(s, `shards[${i}]`, 1023)),
    software: text(o.software, "software"),
    contact: text(o.contact, "contact"),
    issuedAt: uint(o.issuedAt, "issuedAt"),
  };
  if (doc.months.min < 1 || doc.months.max < doc.months.min) throw invalid("months must satisfy 1 <= min <= max");
  return doc;
}

/** The bytes the node key signs: the document in canonical order, UTF-8 JSON without whitespace. */
export function canonicalOfferBytes(offer: OfferDocument): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(parseOfferDocument(offer)));
}

/** Signs an offer with the node's private key (32 bytes); `nodeId` is the key's own. */
export async function signOffer(nodeKey: BytesLike, fields: OfferFields): Promise<SignedOffer> {
  let wallet: Wallet;
  try {
    wallet = new Wallet(hexlify(nodeKey));
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "invalid node private key", { cause: error });
  }
  const offer = parseOfferDocument({ type: OFFER_TYPE, version: OFFER_VERSION, nodeId: nodeIdFromPublicKey(wallet.signingKey.publicKey), ...fields });
  const signature = await wallet.signMessage(canonicalOfferBytes(offer));
  const signed = { offer, signature };
  // Refuse to sign what no client could read.
  encodeOffer(signed);
  return signed;
}

/** The frame payload: `{"offer":…,"signature":…}` as UTF-8 JSON. Throws INVALID_OFFER above MAX_OFFER_BYTES. */
export function encodeOffer(signed: SignedOffer): Uint8Array {
  const offer = parseOfferDocument(signed.offer);
  if (!isHexString(signed.signature, 65)) throw invalid("signature must be 65 bytes hex");
  const bytes = new TextEncoder().encode(JSON.stringify({ offer, signature: signed.signature.toLowerCase() }));
  if (bytes.length > MAX_OFFER_BYTES) throw invalid(`encoded offer is ${bytes.length} bytes, above ${MAX_OFFER_BYTES}`, { size: bytes.length });
  return bytes;
}

/** Decodes a frame payload; anything oversized, not JSON or not an offer throws INVALID_OFFER. The signature is not checked here. */
export function decodeOffer(bytes: Uint8Array): SignedOffer {
  const o = record(boundedJson(invalid, bytes, MAX_OFFER_BYTES), "answer", ["offer", "signature"]);
  if (typeof o.signature !== "string" || !isHexString(o.signature, 65)) throw invalid("signature must be 65 bytes hex");
  return { offer: parseOfferDocument(o.offer), signature: o.signature.toLowerCase() };
}

/** Why an offer is not accepted. */
export type OfferRejection =
  /** The signature does not recover to any key, or not to the offer's own node id. */
  | "bad-signature"
  /** Validly signed, but for another node than the one asked. */
  | "wrong-node"
  /** Signed longer ago than `maxAgeSeconds`. */
  | "expired"
  /** Signed in the future (beyond `maxClockSkewSeconds`). */
  | "not-yet-valid"
  /** For another chain than the one expected. */
  | "wrong-chain";

/** A fact of the offer that disagrees with the registry; the registry's value is the one in force. */
export interface OfferMismatch {
  field: "pricePerMonth";
  offered: string | null;
  registry: string;
}

export type OfferVerdict =
  | {
      valid: true;
      offer: OfferDocument;
      /** The price in force: the registry's when given, else the offer's. */
      pricePerMonth: bigint | null;
      mismatches: OfferMismatch[];
    }
  | { valid: false; reason: OfferRejection; message: string; offer: OfferDocument };

export interface VerifyOfferOptions {
  /** The node id the caller expects (e.g. a registered node's). */
  nodeId: string;
  /** The node's price per month on the registry: when given it wins over the offer's. */
  registryPrice?: bigint;
  /** Expected chain id. */
  chainId?: bigint | number;
  /** Oldest acceptable offer, seconds (default 7 days: a server re-signs hourly). */
  maxAgeSeconds?: number;
  maxClockSkewSeconds?: number;
  /** Clock in unix seconds (default: this machine's). */
  now?: number;
}

export const DEFAULT_OFFER_MAX_AGE_SECONDS = 7 * 86_400;

/**
 * Checks an offer's signature (EIP-191 by the node key), node id, age and chain, and compares its
 * price with the registry's. Never throws for a bad offer: the verdict says why.
 */
export function verifyOffer(signed: SignedOffer, options: VerifyOfferOptions): OfferVerdict {
  const offer = signed.offer;
  const expected = normalizeNodeId(options.nodeId);
  let signer: string;
  try {
    signer = verifyMessage(canonicalOfferBytes(offer), signed.signature);
  } catch {
    return { valid: false, reason: "bad-signature", message: "the signature does not recover", offer };
  }
  if (signer !== nodeAddress(offer.nodeId)) {
    return { valid: false, reason: "bad-signature", message: `signed by ${signer}, not by the key of node ${offer.nodeId}`, offer };
  }
  if (offer.nodeId !== expected) {
    return { valid: false, reason: "wrong-node", message: `the offer is for node ${offer.nodeId}, not ${expected}`, offer };
  }
  if (options.chainId !== undefined && BigInt(offer.chainId) !== BigInt(options.chainId)) {
    return { valid: false, reason: "wrong-chain", message: `the offer is for chain ${offer.chainId}, not ${options.chainId}`, offer };
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const maxAge = options.maxAgeSeconds ?? DEFAULT_OFFER_MAX_AGE_SECONDS;
  if (offer.issuedAt > now + (options.maxClockSkewSeconds ?? 300)) {
    return { valid: false, reason: "not-yet-valid", message: `signed at ${offer.issuedAt}, in the future`, offer };
  }
  if (now - offer.issuedAt > maxAge) {
    return { valid: false, reason: "expired", message: `signed at ${offer.issuedAt}, more than ${maxAge} s ago`, offer };
  }
  const offered = offer.pricePerMonth === null ? null : BigInt(offer.pricePerMonth);
  const mismatches: OfferMismatch[] = [];
  if (options.registryPrice !== undefined && offered !== options.registryPrice) {
    mismatches.push({ field: "pricePerMonth", offered: offer.pricePerMonth, registry: options.registryPrice.toString() });
  }
  return { valid: true, offer, pricePerMonth: options.registryPrice ?? offered, mismatches };
}
