import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { Contract, formatUnits, parseUnits, type Signer } from "ethers";
import { SubscriptionClient } from "@status/mailserver-sdk";
import { LOCAL_CHAIN_ID } from "../deploy/deployments.js";
import { address, printTx, runTask, taskContext, TaskInputError, type CommonArgs } from "./context.js";

const TOKEN_ABI = [
  "function controller() view returns (address)",
  "function generateTokens(address to, uint256 amount) returns (bool)",
  "function balanceOf(address owner) view returns (uint256)",
];

/** An address, or the index of one of the network's accounts. */
async function recipient(value: string, signers: Signer[]): Promise<string> {
  if (/^\d+$/.test(value)) {
    const signer = signers[Number(value)];
    if (signer === undefined) throw new TaskInputError(`--to ${value}: only ${signers.length} accounts`);
    return signer.getAddress();
  }
  return address(value, "--to");
}

/**
 * Test SNT on a local chain: the deployment's SNT-like token mints for its controller (the
 * deployer, account 0). Refused on any other chain, whose token is the real one.
 */
export async function mint(args: CommonArgs & { to: string; amount: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    if (args.to === "") throw new TaskInputError("--to is required: an address or an account index");
    let amount: bigint;
    try {
      amount = parseUnits(args.amount, 18);
    } catch {
      throw new TaskInputError(`--amount must be a token amount such as 1000 or 0.5 (got ${args.amount})`);
    }
    if (amount <= 0n) throw new TaskInputError(`--amount must be more than 0 (got ${args.amount})`);
    const ctx = await taskContext(args, hre);
    if (ctx.chainId !== LOCAL_CHAIN_ID) {
      throw new TaskInputError(`test SNT is minted only on a local chain (31337); ${ctx.networkName} is chain ${ctx.chainId}, whose token is real`);
    }
    if (ctx.addresses.escrow === undefined) throw new TaskInputError(`no escrow known on ${ctx.networkName}: deploy first or pass --escrow`);
    const to = await recipient(args.to, await (await hre.network.getOrCreate()).ethers.getSigners());
    const tokenAddress = await new SubscriptionClient({ runner: ctx.signer, addresses: ctx.addresses }).tokenAddress();
    const token = new Contract(tokenAddress, TOKEN_ABI, ctx.signer);
    const me = await ctx.signer.getAddress();
    const controller: string = await token.getFunction("controller")().catch(() => {
      throw new TaskInputError(`the token at ${tokenAddress} is not the local test token (no controller): it cannot mint`);
    });
    if (controller.toLowerCase() !== me.toLowerCase()) {
      throw new TaskInputError(`${me} cannot mint: the token's controller is ${controller} (account 0 of the deployment; drop --account)`);
    }
    const tx = await token.getFunction("generateTokens")(to, amount);
    await tx.wait();
    const balance: bigint = await token.getFunction("balanceOf")(to);
    printTx(`minted ${formatUnits(amount, 18)} test SNT to ${to} (balance ${formatUnits(balance, 18)} SNT)`, tx.hash);
  });
}
