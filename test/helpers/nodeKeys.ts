// Node keys and node-key proofs for MailServerRegistry, built the way a provider's tooling
// builds them: the node key is a secp256k1 wallet, the node id is the ENR node id
// (keccak256 of the 64-byte uncompressed public key), and the proof is an EIP-712 signature
// by the node key.
import { ethers } from "ethers";

/** EIP-712 types of a node-key proof (must match `NODE_KEY_PROOF_TYPEHASH`). */
export const NODE_KEY_PROOF_TYPES = {
  NodeKeyProof: [
    { name: "provider", type: "address" },
    { name: "nodeId", type: "bytes32" },
    { name: "kind", type: "bytes32" },
    { name: "deadline", type: "uint256" },
  ],
} as const satisfies Record<string, ethers.TypedDataField[]>;

export const REGISTRY_DOMAIN_NAME = "MailServerRegistry";
export const REGISTRY_DOMAIN_VERSION = "1";

/** keccak256("mailserver"). */
export const MAILSERVER_KIND = ethers.id("mailserver");

/** ENR node id of a public key (compressed or uncompressed, hex). */
export function nodeIdOfPublicKey(publicKey: string): string {
  const uncompressed = ethers.SigningKey.computePublicKey(publicKey, false); // 0x04 || X || Y
  return ethers.keccak256(ethers.dataSlice(uncompressed, 1));
}

/** The 64-byte uncompressed public key (X || Y) that the registry's `addNode` takes. */
export function publicKeyOf(nodeKey: ethers.BaseWallet | ethers.SigningKey): string {
  const signingKey = nodeKey instanceof ethers.SigningKey ? nodeKey : nodeKey.signingKey;
  return ethers.dataSlice(signingKey.publicKey, 1);
}

/** ENR node id of a node key. */
export function nodeIdOf(nodeKey: ethers.BaseWallet | ethers.SigningKey): string {
  const signingKey = nodeKey instanceof ethers.SigningKey ? nodeKey : nodeKey.signingKey;
  return nodeIdOfPublicKey(signingKey.publicKey);
}

/** The Ethereum address of a node id's key: its last 20 bytes. */
export function nodeAddressOf(nodeId: string): string {
  return ethers.getAddress(ethers.dataSlice(nodeId, 12));
}

export interface NodeKey {
  wallet: ethers.HDNodeWallet | ethers.Wallet;
  nodeId: string;
}

/** A fresh random node key with its node id. */
export function randomNodeKey(): NodeKey {
  const wallet = ethers.Wallet.createRandom();
  return { wallet, nodeId: nodeIdOf(wallet) };
}

export function registryDomain(registry: string, chainId: bigint | number): ethers.TypedDataDomain {
  return {
    name: REGISTRY_DOMAIN_NAME,
    version: REGISTRY_DOMAIN_VERSION,
    chainId,
    verifyingContract: registry,
  };
}

export interface NodeKeyProofRequest {
  /** Registry address. */
  registry: string;
  chainId: bigint | number;
  /** The provider account that will call `addNode`. */
  provider: string;
  kind: string;
  deadline: bigint | number;
  /** Node id to sign for; defaults to the node key's own id. */
  nodeId?: string;
}

/** The EIP-712 digest a node key signs (equals the registry's `nodeKeyProofDigest`). */
export function nodeKeyProofDigest(nodeId: string, req: Omit<NodeKeyProofRequest, "nodeId">): string {
  return ethers.TypedDataEncoder.hash(registryDomain(req.registry, req.chainId), NODE_KEY_PROOF_TYPES, {
    provider: req.provider,
    nodeId,
    kind: req.kind,
    deadline: req.deadline,
  });
}

/** Sign a node-key proof with `nodeKey`. */
export async function signNodeKeyProof(
  nodeKey: ethers.BaseWallet,
  req: NodeKeyProofRequest,
): Promise<string> {
  const nodeId = req.nodeId ?? nodeIdOf(nodeKey);
  return nodeKey.signTypedData(registryDomain(req.registry, req.chainId), NODE_KEY_PROOF_TYPES, {
    provider: req.provider,
    nodeId,
    kind: req.kind,
    deadline: req.deadline,
  });
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** The malleable twin of a 65-byte signature (s -> n - s, v flipped): same signer, rejected by the registry. */
export function malleateSignature(signature: string): string {
  const sig = ethers.Signature.from(signature);
  const highS = SECP256K1_N - BigInt(sig.s);
  const v = sig.v === 27 ? 28 : 27;
  return ethers.concat([sig.r, ethers.toBeHex(highS, 32), ethers.toBeHex(v, 1)]);
}
