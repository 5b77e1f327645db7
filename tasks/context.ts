import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { Signer } from "ethers";
import { isAddress, getAddress, keccak256, toUtf8Bytes, isHexString } from "ethers";
import { isSdkError, resolveDeployment, type DeploymentOverrides } from "@status/mailserver-sdk";
import { readLocalDeployment } from "../deploy/deployments.js";

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
  const { ethers } = connection;
  const chainId = (await ethers.provider.getNetwork()).chainId;
  const signers = await ethers.getSigners();
  const signer = pickSigner(signers, args.account);

  const known = resolveDeployment(chainId);
  const addresses: DeploymentOverrides = {
    ...(known.registry === undefined ? await readLocalDeployment() : known),
    ...(args.registry ? { registry: address(args.registry, "--registry") } : {}),
    ...(args.escrow ? { escrow: address(args.escrow, "--escrow") } : {}),
  };
  if (addresses.registry === undefined) {
    throw new TaskInputError(`no registry known on chain ${chainId}: deploy first or pass --registry`);
  }
  return { signer, chainId, addresses, networkName: connection.networkName };
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
  if (isSdkError(error)) return `${error.message} [${error.code}]`;
  if (error instanceof Error) return error.message.split("\n")[0];
  return String(error);
}

/** Prints a transaction outcome the same way in every task. */
export function printTx(what: string, hash: string): void {
  console.log(`${what}\n  tx ${hash}`);
}
