import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { Signer } from "ethers";
import { isAddress, getAddress, keccak256, toUtf8Bytes, isHexString } from "ethers";
import { isSdkError, resolveDeployment, type DeploymentOverrides } from "@status/mailserver-sdk";
import { readLocalDeployment } from "../deploy/deployments.js";
import { refusalSentence } from "./errors.js";

/** A task's bad input or refused action: printed as one line, never as a stack trace. */
export class TaskInputError extends Error {}

export interface CommonArgs {
  registry: string;
  escrow: string;
  account: string;
}

export interface TaskContext {
  signer: Signer;
  chainId: bigint;
  addresses: DeploymentOverrides;
  networkName: string;
}

/**
 * Connects to the selected network and finds the contracts: explicit --registry/--escrow first,
 * then the SDK's known deployments, then (on chain 31337) the last local deployment.
 */
export async function taskContext(args: CommonArgs, hre: HardhatRuntimeEnvironment): Promise<TaskContext> {
  const connection = await hre.network.getOrCreate();
  const { ethers, networkName, networkConfig } = connection;
  // Without --network, Hardhat runs an empty in-process chain that ends with the task: nothing is
  // deployed there and nothing done there would last.
  if (networkConfig.type === "edr-simulated") {
    throw new TaskInputError(
      "name the chain to act on: add --network localhost (a running `npx hardhat node`, deployed with `npx hardhat run deploy/deploy.ts --network localhost`) or --network <name> from hardhat.config.ts",
    );
  }
  let chainId: bigint;
  try {
    chainId = (await ethers.provider.getNetwork()).chainId;
  } catch {
    // Not the URL itself: a real network's holds an API key.
    throw new TaskInputError(`cannot reach network ${networkName}: start it (for localhost: npx hardhat node) or check its url in hardhat.config.ts`);
  }
  const signers = await ethers.getSigners();
  const signer = pickSigner(signers, args.account);

  const known = resolveDeployment(chainId);
  const addresses: DeploymentOverrides = {
    ...(known.registry === undefined ? await readLocalDeployment() : known),
    ...(args.registry ? { registry: address(args.registry, "--registry") } : {}),
    ...(args.escrow ? { escrow: address(args.escrow, "--escrow") } : {}),
  };
  const deployHint = `deploy first (npx hardhat run deploy/deploy.ts --network ${networkName}) or pass --registry`;
  if (addresses.registry === undefined) {
    throw new TaskInputError(`no registry known on ${networkName} (chain ${chainId}): ${deployHint}`);
  }
  // A local record outlives the `hardhat node` it was made on: a new node has no code there.
  if ((await ethers.provider.getCode(addresses.registry)) === "0x") {
    throw new TaskInputError(`no registry contract at ${addresses.registry} on ${networkName} (chain ${chainId}): ${deployHint}`);
  }
  return { signer, chainId, addresses, networkName };
}

function pickSigner(signers: Signer[], account: string): Signer {
  if (signers.length === 0) throw new TaskInputError("this network has no accounts configured");
  if (account === "") return signers[0];
  if (/^\d+$/.test(account)) {
    const signer = signers[Number(account)];
    if (signer === undefined) throw new TaskInputError(`--account ${account}: only ${signers.length} accounts`);
    return signer;
  }
  throw new TaskInputError(`--account must be an account index (got ${account})`);
}

/** A checked, checksummed address or a one-line error naming the argument. */
export function address(value: string, name: string): string {
  if (!isAddress(value)) throw new TaskInputError(`${name}: not an address: ${value}`);
  return getAddress(value);
}

/** A bytes32 node id or a one-line error. */
export function nodeIdArg(value: string): string {
  if (!isHexString(value, 32)) throw new TaskInputError(`not a node id (32-byte hex): ${value}`);
  return value.toLowerCase();
}

/** A kind given by name ("mailserver") or as its bytes32 id. */
export function kindArg(value: string): string {
  if (value === "") throw new TaskInputError("kind is empty");
  return isHexString(value, 32) ? value.toLowerCase() : keccak256(toUtf8Bytes(value));
}

/** Runs a task body; any failure becomes one line on stderr and a non-zero exit code. */
export async function runTask(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    console.error(`Error: ${describe(error)}`);
    process.exitCode = 1;
  }
}

function describe(error: unknown): string {
  if (error instanceof TaskInputError) return error.message;
  if (isSdkError(error)) return refusalSentence(error.code, error.details) ?? error.message.split("\n")[0];
  if (error instanceof Error) return error.message.split("\n")[0];
  return String(error);
}

/** Prints a transaction outcome the same way in every task. */
export function printTx(what: string, hash: string): void {
  console.log(`${what}\n  tx ${hash}`);
}
