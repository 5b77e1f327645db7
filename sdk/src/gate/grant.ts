/**
 * Access grants (client side, isomorphic): one EIP-712 signature per connection instead of one
 * per request. A client signs, with its client key, that the libp2p peer id of its connection may
 * act for it at one node until an expiry (24 h at most); the server verifies it once
 * (`AccessGate.presentGrant`) and then admits every request on that connection by a lookup.
 */
import { getAddress, type Signer, TypedDataEncoder } from "ethers";
import { integerIn, nonNegativeInteger } from "../core/args.js";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId } from "../nodeKey.js";
import { eip712Digest, hexInto, keccak, toHex, uintWordInto, utf8 } from "./bytes.js";
import { accessTypedDataDomain, type AccessDomain } from "./request.js";

export interface AccessGrantFields {
  /** 0x bytes32. */
  nodeId: string;
  /** Address of the client key (the signer): the subscription's client id. */
  clientId: string;
  /** libp2p peer id string of the client's connection (e.g. "12D3Koo..." or "16Uiu2..."). */
  peerId: string;
  /** Unix seconds. */
  issuedAt: number;
  /** Unix seconds, at most issuedAt + 24 h. */
  expiresAt: number;
}

export interface AccessGrant extends AccessGrantFields {
  /** 65-byte 0x hex. */
  signature: string;
}

export const MAX_GRANT_TTL_SECONDS = 86_400;
/** Longest peer id accepted (libp2p ids are 46–53 characters; room for other key types). */
export const MAX_GRANT_PEER_ID_BYTES = 128;

export const GRANT_TYPES = {
  AccessGrant: [
    { name: "nodeId", type: "bytes32" },
    { name: "clientId", type: "address" },
    { name: "peerId", type: "string" },
    { name: "issuedAt", type: "uint64" },
    { name: "expiresAt", type: "uint64" },
  ],
};

const GRANT_TYPEHASH = keccak(utf8("AccessGrant(bytes32 nodeId,address clientId,string peerId,uint64 issuedAt,uint64 expiresAt)"));

const invalid = (message: string, details: Record<string, unknown> = {}, cause?: unknown) =>
  new MailserverSdkError("INVALID_GRANT", message, { details, cause });

/** Sign a grant for `peerId` at `nodeId` with the client key (default: valid from now for 24 h). */
export async function signAccessGrant(
  signer: Signer,
  domain: AccessDomain,
  fields: { nodeId: string; peerId: string; issuedAt?: number; ttlSeconds?: number },
): Promise<AccessGrant> {
  const nodeId = normalizeNodeId(fields.nodeId);
  const issuedAt = fields.issuedAt ?? Math.floor(Date.now() / 1000);
  const ttl = fields.ttlSeconds ?? MAX_GRANT_TTL_SECONDS;
  nonNegativeInteger("issuedAt", issuedAt);
  integerIn("ttlSeconds", ttl, 1, MAX_GRANT_TTL_SECONDS);
  if (typeof fields.peerId !== "string" || fields.peerId.length === 0 || utf8(fields.peerId).length > MAX_GRANT_PEER_ID_BYTES) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `peerId must be a non-empty string of at most ${MAX_GRANT_PEER_ID_BYTES} bytes`, { details: { peerId: fields.peerId } });
  }
  let clientId: string;
  let signature: string;
  try {
    clientId = getAddress(await signer.getAddress());
    const value = { nodeId, clientId, peerId: fields.peerId, issuedAt, expiresAt: issuedAt + ttl };
    signature = await signer.signTypedData(accessTypedDataDomain(domain), GRANT_TYPES, value);
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the client signer could not sign the access grant", { cause: error });
  }
  return { nodeId, clientId, peerId: fields.peerId, issuedAt, expiresAt: issuedAt + ttl, signature: signature.toLowerCase() };
}

/** The EIP-712 domain separator of access requests and grants, as bytes (compute once). */
export function accessDomainSeparator(domain: AccessDomain): Uint8Array {
  return hexBytesOrThrow(TypedDataEncoder.hashDomain(accessTypedDataDomain(domain)));
}

function hexBytesOrThrow(hex: string): Uint8Array {
  const out = new Uint8Array(32);
  if (!hexInto(hex, 32, out, 0)) throw new MailserverSdkError("INVALID_ARGUMENT", "not 32 bytes of hex", { details: { hex } });
  return out;
}

/**
 * The EIP-712 digest of a grant (what the client signed), from the domain separator; undefined
 * when a field is malformed. Equal to `TypedDataEncoder.hash(domain, GRANT_TYPES, fields)`.
 */
export function grantSigningDigest(grant: AccessGrantFields, domainSeparator: Uint8Array): Uint8Array | undefined {
  const buffer = new Uint8Array(192);
  buffer.set(GRANT_TYPEHASH, 0);
  if (
    !hexInto(grant.nodeId, 32, buffer, 32) ||
    !hexInto(grant.clientId, 20, buffer, 76) ||
    typeof grant.peerId !== "string" ||
    !isUint64Seconds(grant.issuedAt) ||
    !isUint64Seconds(grant.expiresAt)
  ) {
    return undefined;
  }
  buffer.set(keccak(utf8(grant.peerId)), 96);
  uintWordInto(grant.issuedAt, buffer, 128);
  uintWordInto(grant.expiresAt, buffer, 160);
  return eip712Digest(domainSeparator, keccak(buffer));
}

const isUint64Seconds = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

// Wire form: version ‖ nodeId ‖ clientId ‖ issuedAt (u64 BE) ‖ expiresAt (u64 BE) ‖ signature ‖ peerId (UTF-8, the rest).
const GRANT_WIRE_VERSION = 1;
const FIXED_BYTES = 1 + 32 + 20 + 8 + 8 + 65;

/** The grant in its compact binary wire form (134 bytes + the peer id). */
export function encodeAccessGrant(grant: AccessGrant): Uint8Array {
  const peer = typeof grant?.peerId === "string" ? utf8(grant.peerId) : undefined;
  if (peer === undefined || peer.length === 0 || peer.length > MAX_GRANT_PEER_ID_BYTES) throw invalid("grant peerId must be a non-empty string of at most 128 bytes", { peerId: grant?.peerId });
  if (!isUint64Seconds(grant.issuedAt) || !isUint64Seconds(grant.expiresAt)) throw invalid("grant times must be non-negative integers of seconds", { issuedAt: grant.issuedAt, expiresAt: grant.expiresAt });
  const out = new Uint8Array(FIXED_BYTES + peer.length);
  out[0] = GRANT_WIRE_VERSION;
  if (!hexInto(grant.nodeId, 32, out, 1)) throw invalid("grant nodeId must be 32 bytes of hex", { nodeId: grant.nodeId });
  if (!hexInto(grant.clientId, 20, out, 33)) throw invalid("grant clientId must be an address", { clientId: grant.clientId });
  const view = new DataView(out.buffer);
  view.setBigUint64(53, BigInt(grant.issuedAt));
  view.setBigUint64(61, BigInt(grant.expiresAt));
  if (!hexInto(grant.signature, 65, out, 69)) throw invalid("grant signature must be 65 bytes of hex", { signature: grant.signature });
  out.set(peer, FIXED_BYTES);
  return out;
}

/** Parse the wire form; throws MailserverSdkError `INVALID_GRANT` when it is not one. */
export function decodeAccessGrant(bytes: Uint8Array): AccessGrant {
  if (!(bytes instanceof Uint8Array)) throw invalid("an access grant must be bytes");
  if (bytes.length <= FIXED_BYTES || bytes.length > FIXED_BYTES + MAX_GRANT_PEER_ID_BYTES) {
    throw invalid(`an access grant is ${FIXED_BYTES + 1}..${FIXED_BYTES + MAX_GRANT_PEER_ID_BYTES} bytes, got ${bytes.length}`, { length: bytes.length });
  }
  if (bytes[0] !== GRANT_WIRE_VERSION) throw invalid(`unknown access grant version ${bytes[0]}`, { version: bytes[0] });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const issuedAt = view.getBigUint64(53);
  const expiresAt = view.getBigUint64(61);
  if (issuedAt > BigInt(Number.MAX_SAFE_INTEGER) || expiresAt > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid("access grant times out of range", { issuedAt, expiresAt });
  let peerId: string;
  try {
    peerId = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(FIXED_BYTES));
  } catch (error) {
    throw invalid("access grant peer id is not UTF-8", {}, error);
  }
  return {
    nodeId: toHex(bytes, 1, 33),
    clientId: getAddress(toHex(bytes, 33, 53)),
    peerId,
    issuedAt: Number(issuedAt),
    expiresAt: Number(expiresAt),
    signature: toHex(bytes, 69, 134),
  };
}
