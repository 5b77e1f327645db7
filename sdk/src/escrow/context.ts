// The client context every escrow action runs over (viem's "client" in the actions pattern):
// the checked chain, the escrow and token handles (made once, on first use), where event scans
// start, and the records this client learned from its own receipts. No global state: one
// context per client.
import type { Contract, ContractTransactionResponse } from "ethers";
import { ChainContext, type ClientOptions } from "../core/chain.js";
import { integerIn } from "../core/args.js";
import { escrowContract, tokenContract } from "../core/contracts.js";
import { sendAndWait, type WriteResult } from "../core/tx.js";
import { requireAddress } from "../deployments.js";
import type { StoredSubscription } from "../subscriptionRecord.js";
import { detectTokenSupport, type TokenSupport } from "../token.js";
import type { ISubscriptionEscrow } from "../typechain/interfaces/ISubscriptionEscrow.js";
import { onceUnlessFailed } from "../util.js";

/** A SubscriptionClient's options: the common ones and where the escrow's events start. */
export interface SubscriptionClientOptions extends ClientOptions {
  /**
   * First block of event scans (record lookups, renewal bookkeeping). Default: the deployment's
   * `startBlock`, else 0. A scan that starts after a subscription's last event cannot find its
   * record (SUBSCRIPTION_RECORD_NOT_FOUND).
   */
  fromBlock?: number;
}

/** What the escrow's actions (escrow/*.ts) run over. */
export interface EscrowContext {
  ctx: ChainContext;
  /** Where event scans start: the `fromBlock` option, else the deployment's `startBlock`, else 0. */
  fromBlock(): Promise<number>;
  escrowAddress(): Promise<string>;
  /** The typed escrow, bound to the client's runner (made once). */
  escrow(): Promise<ISubscriptionEscrow>;
  /** The payment token: the configured address, else what the escrow says. */
  tokenAddress(): Promise<string>;
  /** The payment token, bound to the client's runner (made once). */
  token(): Promise<Contract>;
  /** What the payment token supports, from its bytecode (read once). */
  tokenSupport(): Promise<TokenSupport>;
  /**
   * Records this client learned from its own receipts, by `recordKey`. Only a hint: every use is
   * checked against the escrow's commitment first, so a record changed by someone else is
   * looked up again.
   */
  records: Map<string, StoredSubscription>;
}

/** The context of a new client (synchronous and offline: the chain is checked on first use). */
export function createEscrowContext(options: SubscriptionClientOptions): EscrowContext {
  const ctx = new ChainContext(options);
  const fromBlockOption = options.fromBlock === undefined ? undefined : integerIn("fromBlock", options.fromBlock, 0);
  const escrowAddress = async () => {
    const { chainId, deployment } = await ctx.info();
    return requireAddress(deployment, "escrow", chainId);
  };
  const escrow = onceUnlessFailed(() => escrowAddress().then((address) => escrowContract(address, ctx.runner)));
  const tokenAddress = async () => {
    const { deployment } = await ctx.info();
    if (deployment.token !== undefined) return deployment.token;
    const contract = await escrow();
    return ctx.read("token", () => contract.token());
  };
  return {
    ctx,
    async fromBlock() {
      if (fromBlockOption !== undefined) return fromBlockOption;
      return (await ctx.info()).deployment.startBlock ?? 0;
    },
    escrowAddress,
    escrow,
    tokenAddress,
    token: onceUnlessFailed(() => tokenAddress().then((address) => tokenContract(address, ctx.runner))),
    tokenSupport: onceUnlessFailed(() => tokenAddress().then((token) => ctx.read("token code", () => detectTokenSupport(ctx.provider, token)))),
    records: new Map(),
  };
}

/** One escrow read with the client's retry policy. */
export async function readEscrow<T>(c: EscrowContext, label: string, call: (escrow: ISubscriptionEscrow) => Promise<T>): Promise<T> {
  const escrow = await c.escrow();
  return c.ctx.read(label, () => call(escrow));
}

/**
 * One write to the escrow: the signer check and the transaction under one label, the action's
 * name (a read-only client gets INVALID_ARGUMENT naming it; a revert names it too).
 */
export async function writeEscrow(c: Pick<EscrowContext, "ctx" | "escrow">, label: string, call: (escrow: ISubscriptionEscrow) => Promise<ContractTransactionResponse>): Promise<WriteResult> {
  c.ctx.signer(label);
  const escrow = await c.escrow();
  return sendAndWait(label, () => call(escrow));
}

/** Unix seconds as a Date. */
export const secondsToDate = (seconds: bigint) => new Date(Number(seconds) * 1000);
