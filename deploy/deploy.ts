/**
 * Deploys the registry and the escrow with the project's Ignition modules and records the
 * addresses where the SDK and the tasks find them by chain id.
 *
 *   npx hardhat run deploy/deploy.ts                      # in-process chain (addresses printed)
 *   npx hardhat run deploy/deploy.ts --network localhost  # a separately started `npx hardhat node`
 *   npx hardhat run deploy/deploy.ts --network sepolia    # real chain: needs deploy/parameters/sepolia.json
 *
 * On chain 31337 (local) an SNT-like test token is deployed too and the addresses go to
 * deploy/deployments/31337.json (not committed: local chains are thrown away). On any other
 * chain the token comes from the parameters file and the addresses are written into the SDK
 * (sdk/src/deployments.ts), so that they ship with the package.
 */
import { network } from "hardhat";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import MailServerModule from "./modules/MailServer.js";
import { deployLocal } from "./local.js";
import { LOCAL_CHAIN_ID, recordDeployment } from "./deployments.js";

const root = path.resolve(import.meta.dirname, "..");

async function main(): Promise<void> {
  const connection = await network.create();
  const { ethers, ignition, networkName } = connection;
  const chainId = (await ethers.provider.getNetwork()).chainId;
  const startBlock = await ethers.provider.getBlockNumber();

  // The in-process chain vanishes with this process: nothing worth recording.
  const inProcess = connection.networkConfig.type === "edr-simulated";

  let addresses: { registry: string; escrow: string; token: string };
  if (chainId === LOCAL_CHAIN_ID) {
    ({ addresses } = await deployLocal(connection, { adminDelay: 0n }));
  } else {
    const parametersFile = path.join(root, "deploy", "parameters", `${networkName}.json`);
    if (!existsSync(parametersFile)) {
      throw new Error(`missing ${path.relative(root, parametersFile)} (it must name at least the token address)`);
    }
    const parameters = JSON.parse(await readFile(parametersFile, "utf8"));
    const { registry, escrow } = await ignition.deploy(MailServerModule, { parameters, displayUi: false });
    addresses = {
      registry: await registry.getAddress(),
      escrow: await escrow.getAddress(),
      token: parameters.MailServer.token,
    };
  }

  const file = inProcess ? undefined : await recordDeployment(chainId, { ...addresses, startBlock });
  console.log(`network    ${networkName} (chain ${chainId})`);
  console.log(`registry   ${addresses.registry}`);
  console.log(`escrow     ${addresses.escrow}`);
  console.log(`token      ${addresses.token}`);
  console.log(`recorded   ${file ? path.relative(root, file) : "(in-process chain: not recorded)"}`);
}

main().catch((error: unknown) => {
  console.error(`deploy failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
