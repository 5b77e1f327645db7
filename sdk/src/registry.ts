import { ZeroAddress, type ContractTransactionResponse } from "ethers";
import { sendAndWait, type WriteResult } from "./core/tx.js";
import { ChainContext, type ClientOptions } from "./core/chain.js";
import { requireAddress } from "./deployments.js";
import { MailserverSdkError } from "./errors.js";
import { kindId, normalizeNodeId, type NodeId } from "./nodeKey.js";
import { checkAddress, checkUint, onceUnlessFailed } from "./util.js";
import type { IMailServerRegistry } from "./typechain/interfaces/IMailServerRegistry.js";
import { registryContract } from "./core/contracts.js";

export type ProviderStatus = "none" | "pending" | "approved" | "suspended" | "removed";
export type NodeStatus = "none" | "active" | "inactive" | "removed";

const PROVIDER_STATUSES: readonly ProviderStatus[] = ["none", "pending", "approved", "suspended", "removed"];
const NODE_STATUSES: readonly NodeStatus[] = ["none", "active", "inactive", "removed"];

/** Solidity enum value -> name; an unknown value means the contract is newer than the SDK. */
function enumName<T extends string>(names: readonly T[], value: bigint, what: string): T {
  const name = names[Number(value)];
  if (name === undefined) {
    throw new MailserverSdkError("CONTRACT_ERROR", `unknown ${what} ${value} returned by the registry`, { details: { value } });
  }
  return name;
}

export interface ProviderInfo {
  address: string;
  payout: string;
  status: ProviderStatus;
  nodeCount: number;
  /** Seconds; 0 when unknown. */
  appliedAt: bigint;
  /** Seconds; 0 while not removed. */
  removedAt: bigint;
  name: string;
  metadataURI: string;
}

export interface NodeInfo {
  nodeId: NodeId;
  provider: string;
  pricePerMonth: bigint;
  kind: string;
  status: NodeStatus;
  registeredAt: bigint;
  removedAt: bigint;
  /** ENR text or multiaddr, as registered. */
  record: string;
}

/** The batched trust facts of one node (status "none" for an unknown id). */
export interface NodeTrust {
  nodeId: NodeId;
  /** Active, kind enabled and provider approved, per the registry. */
  trusted: boolean;
  status: NodeStatus;
  kindEnabled: boolean;
  providerStatus: ProviderStatus;
  provider: string;
  kind: string;
  pricePerMonth: bigint;
  record: string;
}

export interface Page<T> {
  items: T[];
  total: bigint;
}

export interface PageOptions {
  offset?: bigint | number;
  /** Default 100; the registry caps it (PAGE_LIMIT_TOO_LARGE beyond). */
  limit?: bigint | number;
}

const DEFAULT_PAGE = 100n;

/**
 * Read access to the registry. Provider and curator writes live in `ProviderClient` and
 * `CuratorClient`, which extend this class.
 */
export class RegistryClient {
  protected readonly ctx: ChainContext;

  constructor(options: ClientOptions) {
    this.ctx = new ChainContext(options);
  }

  /** The checked chain id (reads it on first use). */
  async chainId(): Promise<bigint> {
    return (await this.ctx.info()).chainId;
  }

  /** The registry address of this chain (MISSING_ADDRESS when unknown). */
  async address(): Promise<string> {
    const { chainId, deployment } = await this.ctx.info();
    return requireAddress(deployment, "registry", chainId);
  }

  /** The typed contract, bound to the client's runner. */
  protected readonly contract = onceUnlessFailed(() =>
    this.address().then((address) => registryContract(address, this.ctx.runner)),
  );

  /** A read with retries; failures become MailserverSdkError. */
  protected async read<T>(label: string, call: (registry: IMailServerRegistry) => Promise<T>): Promise<T> {
    const registry = await this.contract();
    return this.ctx.read(label, () => call(registry));
  }

  /** The provider that clients trust out of the box (undefined when none is set). */
  async defaultProvider(): Promise<string | undefined> {
    const address = await this.read("defaultProvider", (r) => r.defaultProvider());
    return address === ZeroAddress ? undefined : address;
  }

  /** A provider's record, or undefined when the account never applied nor was added. */
  async getProvider(provider: string): Promise<ProviderInfo | undefined> {
    const address = checkAddress(provider, "provider");
    const p = await this.read("getProvider", (r) => r.getProvider(address));
    const status = enumName(PROVIDER_STATUSES, p.status, "provider status");
    if (status === "none") return undefined;
    return {
      address,
      payout: p.payout,
      status,
      nodeCount: Number(p.nodeCount),
      appliedAt: p.appliedAt,
      removedAt: p.removedAt,
      name: p.name,
      metadataURI: p.metadataURI,
    };
  }

  /** A node's record, or undefined when the id was never registered. */
  async getNode(nodeId: string): Promise<NodeInfo | undefined> {
    const id = normalizeNodeId(nodeId);
    const n = await this.read("getNode", (r) => r.getNode(id));
    const status = enumName(NODE_STATUSES, n.status, "node status");
    if (status === "none") return undefined;
    return {
      nodeId: id,
      provider: n.provider,
      pricePerMonth: n.pricePerMonth,
      kind: n.kind,
      status,
      registeredAt: n.registeredAt,
      removedAt: n.removedAt,
      record: n.record,
    };
  }

  /** Whether the registry trusts the node (active, kind enabled, provider approved). */
  async isTrusted(nodeId: string): Promise<boolean> {
    const id = normalizeNodeId(nodeId);
    return this.read("isTrusted", (r) => r.isTrusted(id));
  }

  /** Trust facts for many nodes in one call (the caller chunks very large lists). */
  async getNodeTrust(nodeIds: readonly string[]): Promise<NodeTrust[]> {
    const ids = nodeIds.map(normalizeNodeId);
    if (ids.length === 0) return [];
    const rows = await this.read("getNodeTrust", (r) => r.getNodeTrust(ids));
    return rows.map((row, i) => ({
      nodeId: ids[i] as NodeId,
      trusted: row.trusted,
      status: enumName(NODE_STATUSES, row.status, "node status"),
      kindEnabled: row.kindEnabled,
      providerStatus: enumName(PROVIDER_STATUSES, row.providerStatus, "provider status"),
      provider: row.provider,
      kind: row.kind,
      pricePerMonth: row.pricePerMonth,
      record: row.record,
    }));
  }

  /** Whether a node kind (bytes32 id or name) is enabled. */
  async isKindEnabled(kind: string): Promise<boolean> {
    const id = kindId(kind);
    return this.read("isKindEnabled", (r) => r.isKindEnabled(id));
  }

  /** One page of the (not removed) node ids of a kind. */
  async nodesByKind(kind: string, page: PageOptions = {}): Promise<Page<NodeId>> {
    const id = kindId(kind);
    const [offset, limit] = pageArgs(page);
    const result = await this.read("nodesByKind", (r) => r.nodesByKind(id, offset, limit));
    return { items: result.nodeIds.map((n) => n.toLowerCase()), total: result.total };
  }

  /** One page of the (not removed) node ids of a provider. */
  async nodesByProvider(provider: string, page: PageOptions = {}): Promise<Page<NodeId>> {
    const address = checkAddress(provider, "provider");
    const [offset, limit] = pageArgs(page);
    const result = await this.read("nodesByProvider", (r) => r.nodesByProvider(address, offset, limit));
    return { items: result.nodeIds.map((n) => n.toLowerCase()), total: result.total };
  }

  /** One page of every account that ever applied or was added as a provider. */
  async providers(page: PageOptions = {}): Promise<Page<string>> {
    const [offset, limit] = pageArgs(page);
    const result = await this.read("providers", (r) => r.providers(offset, limit));
    return { items: [...result.accounts], total: result.total };
  }

  /** Every node id of a kind, page by page. */
  async allNodesByKind(kind: string, pageSize: bigint | number = DEFAULT_PAGE): Promise<NodeId[]> {
    return collectPages((page) => this.nodesByKind(kind, page), checkUint(pageSize, "pageSize"));
  }

  /** Every node id of a provider, page by page. */
  async allNodesByProvider(provider: string, pageSize: bigint | number = DEFAULT_PAGE): Promise<NodeId[]> {
    return collectPages((page) => this.nodesByProvider(provider, page), checkUint(pageSize, "pageSize"));
  }

  /** Every provider account, page by page. */
  async allProviders(pageSize: bigint | number = DEFAULT_PAGE): Promise<string[]> {
    return collectPages((page) => this.providers(page), checkUint(pageSize, "pageSize"));
  }

  /** Moves on every state change: cache views until it moves. */
  async revision(): Promise<bigint> {
    return this.read("revision", (r) => r.revision());
  }

  /**
   * The EIP-712 digest a node key signs for `addNode`, as the registry computes it: for signers
   * that only sign raw digests (HSMs, remote nodes).
   */
  async nodeKeyProofDigest(provider: string, nodeId: string, kind: string, deadline: bigint | number): Promise<string> {
    const address = checkAddress(provider, "provider");
    const id = normalizeNodeId(nodeId);
    const k = kindId(kind);
    const d = checkUint(deadline, "deadline");
    return this.read("nodeKeyProofDigest", (r) => r.nodeKeyProofDigest(address, id, k, d));
  }

  /** Whether an account holds the curator role. */
  async isCurator(account: string): Promise<boolean> {
    const address = checkAddress(account, "account");
    return this.read("isCurator", async (r) => r.hasRole(await r.CURATOR_ROLE(), address));
  }
}

function pageArgs(page: PageOptions): [bigint, bigint] {
  const offset = checkUint(page.offset ?? 0n, "offset");
  const limit = checkUint(page.limit ?? DEFAULT_PAGE, "limit");
  if (limit === 0n) throw new MailserverSdkError("INVALID_ARGUMENT", "limit must be positive");
  return [offset, limit];
}

async function collectPages<T>(fetch: (page: PageOptions) => Promise<Page<T>>, pageSize: bigint): Promise<T[]> {
  if (pageSize === 0n) throw new MailserverSdkError("INVALID_ARGUMENT", "pageSize must be positive");
  const items: T[] = [];
  let offset = 0n;
  for (;;) {
    const page = await fetch({ offset, limit: pageSize });
    items.push(...page.items);
    offset += BigInt(page.items.length);
    // Stop on a short page as well, so a list shrinking while we read cannot loop forever.
    if (offset >= page.total || page.items.length === 0) return items;
  }
}

/**
 * One registry write: the signer check and the transaction under one label, the method's name
 * (a read-only client gets INVALID_ARGUMENT naming it; a revert names it too). For the provider
 * and curator clients; a module function, so apps that only read never bundle it.
 */
export async function writeRegistry(
  ctx: ChainContext,
  contract: () => Promise<IMailServerRegistry>,
  label: string,
  call: (registry: IMailServerRegistry) => Promise<ContractTransactionResponse>,
): Promise<WriteResult> {
  ctx.signer(label);
  const registry = await contract();
  return sendAndWait(label, () => call(registry));
}
