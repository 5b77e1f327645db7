// What the user reads when something fails: one sentence on what happened and what to do.
import { isSdkError, isUserRejection, isTransientError } from "@status/mailserver-sdk";
import { amount, type TokenInfo } from "./format.js";

export type Problem =
  | "no-wallet"
  | "wrong-chain"
  | "insufficient-balance"
  | "price-changed"
  | "rejected"
  | "rpc-down"
  | "try-later"
  | "paused"
  | "untrusted"
  | "already-subscribed"
  | "changed"
  | "record-not-found"
  | "failed";

export interface Message {
  problem: Problem;
  text: string;
}

export function noWallet(): Message {
  return { problem: "no-wallet", text: "No browser wallet found. Install one (any EIP-1193 wallet, e.g. Status or MetaMask) to pay; you can still browse the servers." };
}

export function wrongChain(actual: number, expected: number, chainName: string): Message {
  return { problem: "wrong-chain", text: `Your wallet is on chain ${actual}; these servers are paid for on ${chainName} (chain ${expected}). Switch networks to continue.` };
}

export function insufficientBalance(balance: bigint, required: bigint, token: TokenInfo): Message {
  return { problem: "insufficient-balance", text: `Not enough ${token.symbol}: the total is ${amount(required, token)} and your balance is ${amount(balance, token)}. Choose fewer months or top up.` };
}

/** The message for anything an action threw. */
export function fromError(error: unknown, token: TokenInfo, rpcUrl: string): Message {
  if (isUserRejection(error) || isSdkError(error, "USER_REJECTED")) {
    return { problem: "rejected", text: "You declined the request in your wallet. Nothing was sent." };
  }
  if (isSdkError(error)) {
    const d = error.details as Record<string, unknown>;
    switch (error.code) {
      case "INSUFFICIENT_BALANCE":
        return insufficientBalance(d.balance as bigint, d.required as bigint, token);
      case "PRICE_ABOVE_MAXIMUM":
        return {
          problem: "price-changed",
          text: `The price changed since your quote: ${amount(d.pricePerMonth as bigint, token)} a month instead of ${amount(d.maxPricePerMonth as bigint, token)}. Nothing was paid; check the new quote and pay again.`,
        };
      case "WRONG_CHAIN":
        return { problem: "wrong-chain", text: `Your wallet is on the wrong network (chain ${String(d.actual)}, expected ${String(d.expected)}). Switch networks to continue.` };
      case "RPC_UNAVAILABLE":
      case "RPC_TIMEOUT":
        return { problem: "rpc-down", text: `The network cannot be reached (${rpcUrl}). Check your connection and try again.` };
      case "NODE_UNAVAILABLE":
        // A mail server that cannot check subscriptions right now (503): paying again would not help.
        return { problem: "try-later", text: "The mail server cannot serve you right now (it is temporarily unable to check subscriptions, or unreachable). Nothing to pay: try again in a few minutes." };
      case "ENFORCED_PAUSE":
        return { problem: "paused", text: "Purchases are paused by the registry's curators for now. Try again later." };
      case "UNTRUSTED_NODE":
        return { problem: "untrusted", text: "This server is not trusted (any more). Pick another one." };
      case "SUBSCRIPTION_RECORD_MISMATCH":
        return { problem: "changed", text: "This subscription changed since the page read it (another tab, or a renewal). Nothing was sent; the list is up to date now, try again." };
      case "SUBSCRIPTION_RECORD_NOT_FOUND":
        return { problem: "record-not-found", text: `The subscription's record was not found in the escrow's events from block ${String(d.fromBlock)} on. The app's start block is set too late.` };
      case "SUBSCRIPTION_IS_ACTIVE":
        return { problem: "already-subscribed", text: "You already have an active subscription to this server: extend it below instead." };
      default:
        return { problem: "failed", text: `That did not go through: ${error.message}` };
    }
  }
  if (isTransientError(error)) return { problem: "rpc-down", text: `The network cannot be reached (${rpcUrl}). Check your connection and try again.` };
  return { problem: "failed", text: `That did not go through: ${error instanceof Error ? error.message : String(error)}` };
}
