// What providers and curators do with the escrow, as plain functions over the client context:
// withdraw, cancellation fee, expiry processing, pause.
import { escrowInterface } from "../core/contracts.js";
import { normalizeNodeId } from "../nodeKey.js";
import { eventsOf, sendAndWait, type WriteResult } from "../core/tx.js";
import { checkUint } from "../core/args.js";
import type { EscrowContext } from "./context.js";

/** The part of a client context these actions use. */
export type EscrowAccess = Pick<EscrowContext, "ctx" | "escrow" | "escrowAddress">;

/** Pay a node's released funds to its provider's payout address. */
export async function withdraw(access: EscrowAccess, nodeId: string): Promise<WriteResult & { amount: bigint; payout: string | undefined }> {
  access.ctx.signer("withdraw");
  const id = normalizeNodeId(nodeId);
  const escrow = await access.escrow();
  const result = await sendAndWait("withdraw", () => escrow.withdraw(id));
  const [event] = eventsOf(result.receipt, await access.escrowAddress(), escrowInterface(), "Withdrawn");
  return { ...result, amount: event?.args.getValue("amount") ?? 0n, payout: event?.args.getValue("payout") };
}

/** Set the caller's cancellation fee for future purchases, in basis points (at most 10%). */
export async function setCancellationFee(access: EscrowAccess, feeBps: bigint | number): Promise<WriteResult> {
  access.ctx.signer("setCancellationFee");
  const fee = checkUint(feeBps, "feeBps");
  const escrow = await access.escrow();
  return sendAndWait("setCancellationFee", () => escrow.setCancellationFee(fee));
}

/** Release funds of subscriptions that ended on past days (anyone may). */
export async function processExpiries(access: EscrowAccess, nodeId: string, maxDays: bigint | number): Promise<WriteResult> {
  access.ctx.signer("processExpiries");
  const id = normalizeNodeId(nodeId);
  const days = checkUint(maxDays, "maxDays");
  const escrow = await access.escrow();
  return sendAndWait("processExpiries", () => escrow.processExpiries(id, days));
}

/** Stop purchases, extensions and renewals (registry curator only). */
export async function pause(access: EscrowAccess): Promise<WriteResult> {
  access.ctx.signer("pause");
  const escrow = await access.escrow();
  return sendAndWait("pause", () => escrow.pause());
}

/** Resume purchases, extensions and renewals (registry curator only). */
export async function unpause(access: EscrowAccess): Promise<WriteResult> {
  access.ctx.signer("unpause");
  const escrow = await access.escrow();
  return sendAndWait("unpause", () => escrow.unpause());
}
