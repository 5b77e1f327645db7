// Payment paths and allowances: which path a purchase pays by, the escrow's allowance brought
// to exactly what is wanted (MiniMe refuses non-zero to non-zero changes), permits, and what
// the owner's opted-in renewals need to stay approved.
import { getAddress, Signature, zeroPadValue, type Contract, type ContractTransactionResponse, type Signer } from "ethers";
import { MailserverSdkError } from "../errors.js";
import { recordKey } from "../subscriptionRecord.js";
import { PERMIT_TYPES, readPermitDomain, type PaymentPath } from "../token.js";
import { sendAndWait } from "../core/tx.js";
import { checkAddress } from "../core/args.js";
import type { EscrowContext } from "./context.js";
import { tokenAllowance } from "./reads.js";
import { escrowLogs, escrowTopics, getSubscription, headBlock } from "./records.js";

/** A purchase: a new subscription or an extension. */
export type PurchaseAction = "subscribe" | "extend";

/**
 * The most one round of the owner's pending automatic renewals can pull: the sum of months ×
 * highest accepted price over its opted-in subscriptions that have not ended. Costs O(the
 * owner's own subscriptions), never O(the escrow's history): the keys are the owner's purchases
 * (Subscribed, whose owner is indexed) and the moves of those records to other client ids
 * (ClientIdChanged filtered by node and old client id, followed hop by hop; a record's owner
 * never changes), then each key's current record.
 */
export async function renewalAllowanceNeeded(c: EscrowContext, owner: string): Promise<bigint> {
  const address = checkAddress(owner, "owner");
  const iface = (await c.escrow()).interface;
  const topic = await escrowTopics(c);
  const from = await c.fromBlock();
  const to = await headBlock(c);
  const keys = new Map<string, { nodeId: string; clientId: string }>();
  let frontier: { nodeId: string; clientId: string }[] = [];
  const add = (nodeId: string, clientId: string) => {
    const key = recordKey(nodeId, clientId);
    if (keys.has(key)) return;
    keys.set(key, { nodeId, clientId });
    frontier.push({ nodeId, clientId });
  };
  for (const log of await escrowLogs(c, [topic.Subscribed, null, null, zeroPadValue(address, 32)], from, to)) {
    const e = iface.parseLog(log);
    if (e !== null) add(e.args.getValue("nodeId"), e.args.getValue("clientId"));
  }
  while (frontier.length > 0) {
    const hop = frontier;
    frontier = [];
    // One query per hop for all keys; the topic lists cross node and client ids, so matches are
    // checked pair by pair.
    const wanted = new Set(hop.map((k) => recordKey(k.nodeId, k.clientId)));
    const nodeIds = [...new Set(hop.map((k) => k.nodeId.toLowerCase()))];
    const clientIds = [...new Set(hop.map((k) => zeroPadValue(k.clientId, 32).toLowerCase()))];
    for (const log of await escrowLogs(c, [topic.ClientIdChanged, nodeIds, clientIds], from, to)) {
      const e = iface.parseLog(log);
      if (e === null || !wanted.has(recordKey(e.args.getValue("nodeId"), e.args.getValue("oldClientId")))) continue;
      if (getAddress(e.args.getValue("subscription").owner) === address) add(e.args.getValue("nodeId"), e.args.getValue("newClientId"));
    }
  }
  if (keys.size === 0) return 0n;
  const nowSeconds = await c.ctx.latestBlockTime();
  // Each key's current record (the owner's own keys, and keys it moved a record onto).
  const records = await Promise.all([...keys.values()].map(({ nodeId, clientId }) => getSubscription(c, nodeId, clientId)));
  let needed = 0n;
  for (const sub of records) {
    if (sub === undefined || sub.owner.toLowerCase() !== address.toLowerCase()) continue;
    if (sub.renewMonths === 0n || sub.expiresAt <= nowSeconds) continue;
    needed += sub.renewMonths * sub.renewMaxPricePerMonth;
  }
  return needed;
}

/**
 * What a purchase leaves approved for renewals: at least one round of them, and no less than
 * the owner already approved for them (`setAutoRenew` approves several rounds: a purchase must
 * not cut that back to one). Nothing when no renewal is pending.
 */
export async function renewalReserve(c: EscrowContext, token: Contract, owner: string, spender: string): Promise<bigint> {
  const needed = await renewalAllowanceNeeded(c, owner);
  if (needed === 0n) return 0n;
  const current = await tokenAllowance(c, token, owner, spender);
  return current > needed ? current : needed;
}

/**
 * Bring the escrow's allowance to exactly `target`, going through zero when needed. Returns the
 * hashes of the approvals sent (none when it already is the target).
 */
export async function resetAllowance(c: EscrowContext, token: Contract, owner: string, spender: string, target: bigint): Promise<string[]> {
  const current = await tokenAllowance(c, token, owner, spender);
  if (current === target) return [];
  const hashes: string[] = [];
  if (current !== 0n) {
    const reset = await sendAndWait("approve(0)", () => token.getFunction("approve")(spender, 0n) as Promise<ContractTransactionResponse>);
    hashes.push(reset.hash);
  }
  if (target !== 0n) {
    const set = await sendAndWait("approve", () => token.getFunction("approve")(spender, target) as Promise<ContractTransactionResponse>);
    hashes.push(set.hash);
  }
  return hashes;
}

/** The path a purchase pays by: `requested` when the token (and the action) allows it, or the best one for "auto". */
export async function choosePath(c: EscrowContext, requested: PaymentPath | "auto", action: PurchaseAction): Promise<PaymentPath> {
  const support = await c.tokenSupport();
  // The escrow has no extend-with-permit: a permit purchase can only be a new subscription.
  const permitUsable = support.permit && action === "subscribe";
  if (requested === "auto") return support.approveAndCall ? "approveAndCall" : permitUsable ? "permit" : "approve";
  const supported = requested === "approve" || (requested === "approveAndCall" ? support.approveAndCall : permitUsable);
  if (!supported) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `payment path ${requested} is not available here`, {
      details: { path: requested, support, action },
    });
  }
  return requested;
}

/** An EIP-2612 permit of `value` for `spender`, valid for an hour from the latest block. */
export async function signPermit(c: EscrowContext, signer: Signer, token: Contract, owner: string, spender: string, value: bigint) {
  const { chainId } = await c.ctx.info();
  const domain = await c.ctx.read("permit domain", () => readPermitDomain(token, chainId));
  if (domain === undefined) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the token's EIP-712 domain could not be established for a permit", {
      details: { token: await token.getAddress() },
    });
  }
  const nonce: bigint = await c.ctx.read("nonces", () => token.getFunction("nonces")(owner));
  const deadline = (await c.ctx.latestBlockTime()) + 3600n;
  let signature: string;
  try {
    signature = await signer.signTypedData(domain, PERMIT_TYPES, { owner, spender, value, nonce, deadline });
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the signer could not sign the permit", { cause: error });
  }
  const { v, r, s } = Signature.from(signature);
  return { v, r, s, deadline };
}
