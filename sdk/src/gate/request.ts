import { getAddress, getBytes, hexlify, isHexString, keccak256, randomBytes, TypedDataEncoder, type BytesLike, type Signer, toUtf8Bytes } from "ethers";
import { eip712Digest, hexInto, keccak, uintWordInto, utf8 } from "./bytes.js";
import { nonNegativeInteger } from "../core/args.js";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId } from "../nodeKey.js";
import { recoverInJs, type RecoverFn } from "./recovery.js";

/** Which escrow (and chain) a request is signed for. */
export interface AccessDomain {
  chainId: bigint | number;
  /** The escrow address: requests are bound to one deployment. */
  escrow: string;
}

export const REQUEST_TYPES = {
  Request: [
    { name: "nodeId", type: "bytes32" },
    { name: "clientId", type: "address" },
    { name: "requestDigest", type: "bytes32" },
    { name: "issuedAt", type: "uint64" },
    { name: "nonce", type: "bytes32" },
    { name: "peerId", type: "string" },
  ],
};

/** The EIP-712 domain of access requests. */
export function accessTypedDataDomain(domain: AccessDomain) {
  return { name: "MailServerAccess", version: "1", chainId: BigInt(domain.chainId), verifyingContract: getAddress(domain.escrow) };
}

/** A request as sent over the wire: plain JSON-friendly fields. */
export interface SignedRequest {
  nodeId: string;
  /** Address of the client key that signed; the subscription's client id. */
  clientId: string;
  /** Hash of the request payload (see `requestDigestOf`). */
  requestDigest: string;
  /** Seconds since the epoch. */
  issuedAt: number;
  /** 32 random bytes, hex. */
  nonce: string;
  /** The libp2p peer id the client connects from: binds the request to the connection. */
  peerId: string;
  signature: string;
}

export interface RequestFields {
  nodeId: string;
  requestDigest: string;
  peerId: string;
  nonce?: string;
  /** Default: now. */
  issuedAt?: number;
}

/** keccak256 of a request payload (bytes, or a string taken as UTF-8). */
export function requestDigestOf(payload: BytesLike | string): string {
  return keccak256(typeof payload === "string" && !isHexString(payload) ? toUtf8Bytes(payload) : payload);
}

/** Sign a request with the client key (an ethers Signer, e.g. a Wallet). */
export async function signRequest(clientSigner: Signer, fields: RequestFields, domain: AccessDomain): Promise<SignedRequest> {
  if (!isHexString(fields.requestDigest, 32)) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "requestDigest must be 32 bytes hex", { details: { requestDigest: fields.requestDigest } });
  }
  const nonce = fields.nonce ?? hexlify(randomBytes(32));
  if (!isHexString(nonce, 32)) throw new MailserverSdkError("INVALID_ARGUMENT", "nonce must be 32 bytes hex", { details: { nonce } });
  const issuedAt = fields.issuedAt ?? Math.floor(Date.now() / 1000);
  nonNegativeInteger("issuedAt", issuedAt);
  let clientId: string;
  let signature: string;
  try {
    clientId = getAddress(await clientSigner.getAddress());
    const value = { nodeId: normalizeNodeId(fields.nodeId), clientId, requestDigest: fields.requestDigest, issuedAt, nonce, peerId: fields.peerId };
    signature = await clientSigner.signTypedData(accessTypedDataDomain(domain), REQUEST_TYPES, value);
  } catch (error) {
    if (error instanceof MailserverSdkError) throw error;
    throw new MailserverSdkError("INVALID_ARGUMENT", "the client signer could not sign the request", { cause: error });
  }
  return {
    nodeId: normalizeNodeId(fields.nodeId),
    clientId,
    requestDigest: fields.requestDigest.toLowerCase(),
    issuedAt,
    nonce: nonce.toLowerCase(),
    peerId: fields.peerId,
    signature,
  };
}

const REQUEST_TYPEHASH = keccak(utf8("Request(bytes32 nodeId,address clientId,bytes32 requestDigest,uint64 issuedAt,bytes32 nonce,string peerId)"));

/**
 * The EIP-712 digest of `request` as bytes, from the domain separator as bytes; undefined when
 * a field is malformed. One buffer, parsed from hex by offset: the gate's hot path.
 */
export function requestSigningDigest(
  request: SignedRequest,
  domainSeparator: Uint8Array,
  requestDigest: string = request.requestDigest,
  /** keccak256 of the UTF-8 peer id, when the caller keeps it per connection. */
  peerIdHash?: Uint8Array,
): Uint8Array | undefined {
  const buffer = new Uint8Array(224);
  buffer.set(REQUEST_TYPEHASH, 0);
  if (
    !hexInto(request.nodeId, 32, buffer, 32) ||
    !hexInto(request.clientId, 20, buffer, 76) ||
    !hexInto(requestDigest, 32, buffer, 96) ||
    !Number.isSafeInteger(request.issuedAt) ||
    request.issuedAt < 0 ||
    !hexInto(request.nonce, 32, buffer, 160) ||
    typeof request.peerId !== "string"
  ) {
    return undefined;
  }
  uintWordInto(request.issuedAt, buffer, 128);
  buffer.set(peerIdHash ?? keccak(utf8(request.peerId)), 192);
  return eip712Digest(domainSeparator, keccak(buffer));
}

/**
 * The EIP-712 digest a client signs, from a precomputed domain separator
 * (`TypedDataEncoder.hashDomain(accessTypedDataDomain(...))`): the same value as
 * `TypedDataEncoder.hash`, without re-deriving the type encoding on every request.
 */
export function requestSigningHash(request: SignedRequest, domainSeparator: string, requestDigest: string = request.requestDigest): string {
  const digest = requestSigningDigest(request, getBytes(domainSeparator), requestDigest);
  if (digest === undefined) throw new MailserverSdkError("INVALID_ARGUMENT", "malformed signed request", { details: { request } });
  return hexlify(digest);
}

/**
 * The address that signed `request` (with `requestDigest` substituted when the server computed
 * the digest itself), or undefined when the request is malformed. Never throws: a server must
 * not crash on hostile input.
 */
export function recoverRequestSigner(
  request: SignedRequest,
  domain: ReturnType<typeof accessTypedDataDomain>,
  requestDigest: string = request.requestDigest,
  recover: RecoverFn = recoverInJs,
): string | undefined {
  try {
    return recover(requestSigningHash(request, TypedDataEncoder.hashDomain(domain), requestDigest), request.signature);
  } catch {
    return undefined;
  }
}
