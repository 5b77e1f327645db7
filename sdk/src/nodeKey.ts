import { dataLength, dataSlice, getAddress, getBytes, hexlify, isHexString, keccak256, SigningKey, toUtf8Bytes, Wallet, type BytesLike } from "ethers";
import { MailserverSdkError } from "./errors.js";

/** A 32-byte node id as 0x-prefixed lowercase hex. */
export type NodeId = string;

/** keccak256("mailserver"): the node kind of mail (store) servers. */
export const MAILSERVER_KIND: string = keccak256(toUtf8Bytes("mailserver"));

/** The bytes32 kind id of a kind name (a bytes32 hex passes through). */
export function kindId(kind: string): string {
  return isHexString(kind, 32) ? kind.toLowerCase() : keccak256(toUtf8Bytes(kind));
}

/** Check and normalize a node id (32 bytes hex). */
export function normalizeNodeId(nodeId: string): NodeId {
  const hex = nodeId.startsWith("0x") ? nodeId : `0x${nodeId}`;
  if (!isHexString(hex, 32)) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `not a 32-byte node id: ${nodeId}`, { details: { nodeId } });
  }
  return hex.toLowerCase();
}

function invalidKey(what: string, cause?: unknown): MailserverSdkError {
  return new MailserverSdkError("INVALID_ARGUMENT", `invalid ${what}`, { cause });
}

/**
 * The ENR node id of a secp256k1 public key: keccak256 of the 64-byte uncompressed key (without
 * the 0x04 prefix). Accepts 33-byte compressed, 65-byte 0x04-prefixed and bare 64-byte keys.
 */
export function nodeIdFromPublicKey(publicKey: BytesLike): NodeId {
  return keccak256(nodePublicKey(publicKey));
}

/**
 * The 64-byte uncompressed public key (X || Y, no 0x04 prefix) that the registry's `addNode`
 * takes, from a 33-byte compressed, 65-byte prefixed or bare 64-byte key.
 */
export function nodePublicKey(publicKey: BytesLike): string {
  let bytes: Uint8Array;
  try {
    bytes = getBytes(publicKey);
  } catch (error) {
    throw invalidKey("public key", error);
  }
  // A bare 64-byte key is the ENR hashing input itself; SigningKey needs the prefix back.
  const prefixed = bytes.length === 64 ? new Uint8Array([4, ...bytes]) : bytes;
  let uncompressed: string;
  try {
    uncompressed = SigningKey.computePublicKey(prefixed, false);
  } catch (error) {
    throw invalidKey("public key", error);
  }
  return dataSlice(uncompressed, 1);
}

/** The 64-byte public key of a node private key (32 bytes), as `addNode` takes it. */
export function nodePublicKeyFromPrivateKey(privateKey: BytesLike): string {
  let key: SigningKey;
  try {
    key = new SigningKey(hexlify(privateKey));
  } catch (error) {
    throw invalidKey("private key", error);
  }
  return nodePublicKey(key.publicKey);
}

/** The node id of a node private key (32 bytes). */
export function nodeIdFromPrivateKey(privateKey: BytesLike): NodeId {
  let key: SigningKey;
  try {
    key = new SigningKey(hexlify(privateKey));
  } catch (error) {
    throw invalidKey("private key", error);
  }
  return nodeIdFromPublicKey(key.publicKey);
}

/** The Ethereum address of a node's key: the last 20 bytes of its node id. */
export function nodeAddress(nodeId: string): string {
  const id = normalizeNodeId(nodeId);
  return getAddress(dataSlice(id, dataLength(id) - 20));
}

/** The EIP-712 domain of the registry's node-key proofs. */
export function nodeKeyProofDomain(registry: string, chainId: bigint | number) {
  return { name: "MailServerRegistry", version: "1", chainId: BigInt(chainId), verifyingContract: getAddress(registry) };
}

/** The EIP-712 type of the registry's node-key proofs. */
export const NODE_KEY_PROOF_TYPES = {
  NodeKeyProof: [
    { name: "provider", type: "address" },
    { name: "nodeId", type: "bytes32" },
    { name: "kind", type: "bytes32" },
    { name: "deadline", type: "uint256" },
  ],
};

export interface NodeKeyProofRequest {
  /** The node's private key. */
  nodeKey: BytesLike;
  registry: string;
  chainId: bigint | number;
  /** The provider account that will submit `addNode`. */
  provider: string;
  /** Defaults to the id of `nodeKey`; when given it must match it. */
  nodeId?: string;
  /** bytes32 kind id or kind name (default: mail server). */
  kind?: string;
  /** Last timestamp (seconds) at which the registry accepts the proof. */
  deadline: bigint | number;
}

/**
 * Sign the proof that the provider controls the node key: an EIP-712 signature by the node key
 * of `NodeKeyProof(provider, nodeId, kind, deadline)` in the registry's domain.
 */
export async function signNodeKeyProof(request: NodeKeyProofRequest): Promise<string> {
  let wallet: Wallet;
  try {
    wallet = new Wallet(hexlify(request.nodeKey));
  } catch (error) {
    throw invalidKey("node private key", error);
  }
  const ownId = nodeIdFromPublicKey(wallet.signingKey.publicKey);
  const nodeId = request.nodeId === undefined ? ownId : normalizeNodeId(request.nodeId);
  if (nodeId !== ownId) {
    // A proof for another id would only fail on chain; say why here.
    throw new MailserverSdkError("INVALID_ARGUMENT", "nodeId does not belong to nodeKey", {
      details: { nodeId, keyNodeId: ownId },
    });
  }
  return wallet.signTypedData(nodeKeyProofDomain(request.registry, request.chainId), NODE_KEY_PROOF_TYPES, {
    provider: getAddress(request.provider),
    nodeId,
    kind: kindId(request.kind ?? MAILSERVER_KIND),
    deadline: BigInt(request.deadline),
  });
}
