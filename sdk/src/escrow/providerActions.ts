// What providers and curators do with the escrow, as plain functions over the client context:
// withdraw, cancellation fee, expiry processing, pause.
import { escrowInterface } from "../core/contracts.js";
import { normalizeNodeId } from "../nodeKey.js";
import { eventsOf, type WriteResult } from "../core/tx.js";
import { checkUint } from "../core/args.js";
import { writeEscrow, type EscrowContext } from "./context.js";

/** The part of a client context these actions use. */
export type EscrowAccess = Pick<EscrowContext, "ctx" | "escrow" | "escrowAddress">;

/** Pay a node's released funds to its provider's payout address. */
export async function withdraw(access: EscrowAccess, nodeId: string): Promise<WriteResult & { amount: bigint; payout: string | undefined }> {
  const id = normalizeNodeId(nodeId);
  const result = await writeEscrow(access, "withdraw", (e) => e.withdraw(id));
  const [event] = eventsOf(result.receipt, await access.escrowAddress(), escrowInterface(), "Withdrawn");
  return { ...result, amount: event?.args.getValue("amount") ?? 0n, payout: event?.args.getValue("payout") };
}

/** Set the caller's cancellation fee for future purchases, in basis points (at most 10%). */
export function setCancellationFee(access: EscrowAccess, feeBps: bigint | number): Promise<WriteResult> {
  const fee = checkUint(feeBps, "feeBps");
  return writeEscrow(access, "setCancellationFee", (e) => e.setCancellationFee(fee));
}

/** Release funds of subscriptions that ended on past days (anyone may). */
export function processExpiries(access: EscrowAccess, nodeId: string, maxDays: bigint | number): Promise<WriteResult> {
  const id = normalizeNodeId(nodeId);
  const days = checkUint(maxDays, "maxDays");
  return writeEscrow(access, "processExpiries", (e) => e.processExpiries(id, days));
}

/** Stop purchases, extensions and renewals (registry curator only). */
export function pause(access: EscrowAccess): Promise<WriteResult> {
  return writeEscrow(access, "pause", (e) => e.pause());
}

/** Resume purchases, extensions and renewals (registry curator only). */
export function unpause(access: EscrowAccess): Promise<WriteResult> {
  return writeEscrow(access, "unpause", (e) => e.unpause());
}
