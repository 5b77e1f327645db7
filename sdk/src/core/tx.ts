import type { ContractTransactionResponse, Interface, LogDescription, TransactionReceipt } from "ethers";
import { MailserverSdkError } from "../errors.js";
import { guarded } from "./rpc.js";

/** What every write returns: the mined receipt (extra decoded values are added per call). */
export interface WriteResult {
  hash: string;
  receipt: TransactionReceipt;
}

/**
 * Send a transaction and wait for it to be mined. Reverts (at gas estimation or on chain) come
 * out as MailserverSdkError with the decoded contract error. Never retried: a resend after a
 * network error could pay twice.
 */
export async function sendAndWait(label: string, send: () => Promise<ContractTransactionResponse>, confirmations = 1): Promise<WriteResult> {
  const response = await guarded(label, send);
  const receipt = await guarded(label, () => response.wait(confirmations));
  if (receipt === null) {
    throw new MailserverSdkError("CONTRACT_ERROR", `${label}: transaction ${response.hash} was not mined`, {
      details: { hash: response.hash },
    });
  }
  if (receipt.status !== 1) {
    throw new MailserverSdkError("CONTRACT_ERROR", `${label}: transaction ${response.hash} reverted`, {
      details: { hash: response.hash },
    });
  }
  return { hash: response.hash, receipt };
}

/** The events of one contract in a receipt, decoded; logs of other contracts are skipped. */
export function eventsOf(receipt: TransactionReceipt, address: string, iface: Interface, name?: string): LogDescription[] {
  const events: LogDescription[] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== address.toLowerCase()) continue;
    let parsed: LogDescription | null;
    try {
      parsed = iface.parseLog(log);
    } catch {
      continue;
    }
    if (parsed !== null && (name === undefined || parsed.name === name)) events.push(parsed);
  }
  return events;
}
