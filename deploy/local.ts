import { rm } from "node:fs/promises";
import path from "node:path";
import { config } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import LocalMailServerModule from "./modules/LocalMailServer.js";

export interface LocalDeployment {
  chainId: bigint;
  addresses: { registry: string; escrow: string; token: string };
}

export interface LocalDeployOptions {
  /** Seconds an admin transfer must wait (0 on a test chain). */
  adminDelay?: bigint;
  /** Defaults to the first account. */
  defaultProvider?: string;
  defaultProviderPayout?: string;
  curator?: string;
}

/**
 * Deploys the full local setup (SNT-like token, registry, escrow, default provider, mail-server
 * kind) through the project's Ignition module, exactly as `deploy/deploy.ts` does, so tests and
 * the demo exercise the real deployment code.
 */
export async function deployLocal(
  connection: NetworkConnection,
  options: LocalDeployOptions = {},
): Promise<LocalDeployment> {
  const parameters: Record<string, string | bigint> = { adminDelay: options.adminDelay ?? 0n };
  if (options.defaultProvider !== undefined) parameters.defaultProvider = options.defaultProvider;
  if (options.defaultProviderPayout !== undefined) parameters.defaultProviderPayout = options.defaultProviderPayout;
  if (options.curator !== undefined) parameters.curator = options.curator;

  const { chainId } = await connection.ethers.provider.getNetwork();
  if (connection.networkConfig.type !== "edr-simulated") {
    // A local node (`npx hardhat node`) starts from an empty chain every time, but Ignition keeps
    // its journal in ignition/deployments/chain-<id> and would take the previous node's
    // deployment as done (reusing addresses that hold no code here). Start every local
    // deployment from scratch.
    await rm(path.join(config.paths.ignition, "deployments", `chain-${chainId}`), { recursive: true, force: true });
  }
  const { registry, escrow, token } = await connection.ignition.deploy(LocalMailServerModule, {
    parameters: { LocalMailServer: parameters },
    displayUi: false,
  });
  return {
    chainId,
    addresses: {
      registry: await registry.getAddress(),
      escrow: await escrow.getAddress(),
      token: await token.getAddress(),
    },
  };
}
