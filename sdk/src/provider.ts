import type { BytesLike } from "ethers";
import { parseEnr } from "./enr.js";
import { MailserverSdkError } from "./errors.js";
import { kindId, MAILSERVER_KIND, nodePublicKey, nodePublicKeyFromPrivateKey, normalizeNodeId, signNodeKeyProof, type NodeId } from "./nodeKey.js";
import { keccak256 } from "ethers";
import { RegistryClient, writeRegistry } from "./registry.js";
import type { WriteResult } from "./core/tx.js";
import { checkAddress, checkUint } from "./util.js";

export interface ApplyParams {
  name: string;
  metadataURI?: string;
  /** Defaults to the signer's address. */
  payout?: string;
}

interface AddNodeCommon {
  /** ENR text (checked against the node id) or a multiaddr. */
  record: string;
  /** Price of 30 days in token units (0 = free). */
  pricePerMonth: bigint | number;
  /** bytes32 kind id or name (default: mail server). */
  kind?: string;
}

/** Add a node by its private key: the SDK signs the proof. */
export interface AddNodeWithKey extends AddNodeCommon {
  nodeKey: BytesLike;
  /** Seconds the proof stays valid, counted from the latest block (default 3600). */
  proofTtlSeconds?: number;
}

/** Add a node with a proof signed elsewhere (the node key never leaves the node). */
export interface AddNodeWithProof extends AddNodeCommon {
  /** The node key's public key (compressed, 0x04-prefixed or bare 64 bytes); its node id is keccak256 of the 64 bytes. */
  publicKey: BytesLike;
  proof: string;
  deadline: bigint | number;
}

export type AddNodeParams = AddNodeWithKey | AddNodeWithProof;

/** Provider-side writes: apply, register and manage nodes, payout. Needs a Signer runner. */
export class ProviderClient extends RegistryClient {
  /** Apply to become a provider; pending until a curator approves. */
  async applyAsProvider(params: ApplyParams): Promise<WriteResult> {
    const payout = params.payout === undefined ? await this.ctx.signerAddress("applyAsProvider") : checkAddress(params.payout, "payout");
    return writeRegistry(this.ctx, this.contract, "applyAsProvider", (registry) => registry.applyAsProvider(params.name, params.metadataURI ?? "", payout));
  }

  /**
   * Register a node. With `nodeKey` the SDK signs the node-key proof (deadline from the latest
   * block, so it works on chains whose clock differs from this machine's).
   */
  async addNode(params: AddNodeParams): Promise<WriteResult & { nodeId: NodeId }> {
    const providerAddress = await this.ctx.signerAddress("addNode");
    const kind = kindId(params.kind ?? MAILSERVER_KIND);
    const price = checkUint(params.pricePerMonth, "pricePerMonth");
    let publicKey: string;
    let proof: string;
    let deadline: bigint;
    if ("nodeKey" in params) {
      publicKey = nodePublicKeyFromPrivateKey(params.nodeKey);
      deadline = (await this.ctx.latestBlockTime()) + BigInt(params.proofTtlSeconds ?? 3600);
      const { chainId } = await this.ctx.info();
      proof = await signNodeKeyProof({
        nodeKey: params.nodeKey,
        registry: await this.address(),
        chainId,
        provider: providerAddress,
        nodeId: keccak256(publicKey),
        kind,
        deadline,
      });
    } else {
      publicKey = nodePublicKey(params.publicKey);
      proof = params.proof;
      deadline = checkUint(params.deadline, "deadline");
    }
    // The registry computes the node id from the public key (the ENR rule), so one key has one id.
    const nodeId = keccak256(publicKey);
    checkRecord(params.record, nodeId);
    const result = await writeRegistry(this.ctx, this.contract, "addNode", (registry) => registry.addNode(publicKey, kind, params.record, price, deadline, proof));
    return { ...result, nodeId };
  }

  /** Replace a node's endpoint record. */
  async updateNodeRecord(nodeId: string, record: string): Promise<WriteResult> {
    const id = normalizeNodeId(nodeId);
    checkRecord(record, id);
    return writeRegistry(this.ctx, this.contract, "updateNodeRecord", (registry) => registry.updateNodeRecord(id, record));
  }

  /** Change a node's monthly price (existing subscriptions keep theirs). */
  async setNodePrice(nodeId: string, pricePerMonth: bigint | number): Promise<WriteResult> {
    const id = normalizeNodeId(nodeId);
    const price = checkUint(pricePerMonth, "pricePerMonth");
    return writeRegistry(this.ctx, this.contract, "setNodePrice", (registry) => registry.setNodePrice(id, price));
  }

  /** Deactivate or reactivate a node. */
  async setNodeActive(nodeId: string, active: boolean): Promise<WriteResult> {
    const id = normalizeNodeId(nodeId);
    return writeRegistry(this.ctx, this.contract, "setNodeActive", (registry) => registry.setNodeActive(id, active));
  }

  /** Remove a node for good (its id stays taken). */
  async removeNode(nodeId: string): Promise<WriteResult> {
    const id = normalizeNodeId(nodeId);
    return writeRegistry(this.ctx, this.contract, "removeNode", (registry) => registry.removeNode(id));
  }

  /** Change where earnings are paid. */
  async setPayout(payout: string): Promise<WriteResult> {
    const address = checkAddress(payout, "payout");
    return writeRegistry(this.ctx, this.contract, "setPayout", (registry) => registry.setPayout(address));
  }

  /** Change the provider's name and metadata URI. */
  async setMetadata(name: string, metadataURI = ""): Promise<WriteResult> {
    return writeRegistry(this.ctx, this.contract, "setMetadata", (registry) => registry.setProviderMetadata(name, metadataURI));
  }
}

/** An ENR record must be valid and belong to the node; other formats are left to the registry. */
function checkRecord(record: string, nodeId: NodeId): void {
  if (!record.trim().startsWith("enr:")) return;
  const parsed = parseEnr(record);
  if (parsed.nodeId !== nodeId) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the ENR record belongs to another node", {
      details: { nodeId, enrNodeId: parsed.nodeId },
    });
  }
}
