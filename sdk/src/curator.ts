import type { ContractTransactionResponse } from "ethers";
import type { IMailServerRegistry } from "./typechain/interfaces/IMailServerRegistry.js";
import { kindId, normalizeNodeId } from "./nodeKey.js";
import { RegistryClient, writeRegistry } from "./registry.js";
import type { WriteResult } from "./core/tx.js";
import { checkAddress } from "./util.js";

export interface AddProviderParams {
  provider: string;
  name: string;
  metadataURI?: string;
  /** Defaults to the provider's address. */
  payout?: string;
}

/** Curator writes on the registry. Needs a Signer runner holding the curator role. */
export class CuratorClient extends RegistryClient {
  /** Add an approved provider directly. */
  async addProvider(params: AddProviderParams): Promise<WriteResult> {
    const provider = checkAddress(params.provider, "provider");
    const payout = params.payout === undefined ? provider : checkAddress(params.payout, "payout");
    return writeRegistry(this.ctx, this.contract, "addProvider", (registry) => registry.addProvider(provider, params.name, params.metadataURI ?? "", payout));
  }

  /** Approve a pending provider. */
  async approveProvider(provider: string): Promise<WriteResult> {
    return this.#providerAction("approveProvider", provider, (r, p) => r.approveProvider(p));
  }

  /** Suspend an approved provider: its nodes stop being trusted, subscribers may cancel fee-free. */
  async suspendProvider(provider: string, reason = ""): Promise<WriteResult> {
    return this.#providerAction("suspendProvider", provider, (r, p) => r.suspendProvider(p, reason));
  }

  /** Reinstate a suspended provider. */
  async reinstateProvider(provider: string): Promise<WriteResult> {
    return this.#providerAction("reinstateProvider", provider, (r, p) => r.reinstateProvider(p));
  }

  /** Remove a provider for good (also how a pending application is rejected). */
  async removeProvider(provider: string, reason = ""): Promise<WriteResult> {
    return this.#providerAction("removeProvider", provider, (r, p) => r.removeProvider(p, reason));
  }

  /** Make an approved provider the one clients trust out of the box. */
  async setDefaultProvider(provider: string): Promise<WriteResult> {
    return this.#providerAction("setDefaultProvider", provider, (r, p) => r.setDefaultProvider(p));
  }

  /** Enable or disable a node kind (bytes32 id or name). */
  async setKindEnabled(kind: string, enabled: boolean): Promise<WriteResult> {
    const id = kindId(kind);
    return writeRegistry(this.ctx, this.contract, "setKindEnabled", (registry) => registry.setKindEnabled(id, enabled));
  }

  /** Give an account the curator role (needs the role's admin). */
  async grantCurator(account: string): Promise<WriteResult> {
    return this.#providerAction("grantCurator", account, async (r, a) => r.grantRole(await r.CURATOR_ROLE(), a));
  }

  /** Take the curator role from an account (needs the role's admin). */
  async revokeCurator(account: string): Promise<WriteResult> {
    return this.#providerAction("revokeCurator", account, async (r, a) => r.revokeRole(await r.CURATOR_ROLE(), a));
  }

  /** Remove any provider's node for good. */
  async removeNode(nodeId: string): Promise<WriteResult> {
    const id = normalizeNodeId(nodeId);
    return writeRegistry(this.ctx, this.contract, "removeNode", (registry) => registry.removeNode(id));
  }

  async #providerAction(
    label: string,
    account: string,
    send: (registry: IMailServerRegistry, address: string) => Promise<ContractTransactionResponse>,
  ): Promise<WriteResult> {
    const address = checkAddress(account, "account");
    return writeRegistry(this.ctx, this.contract, label, (registry) => send(registry, address));
  }
}
