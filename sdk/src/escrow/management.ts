// Managing a subscription: cancel, move to another client key, automatic renewal (opt in or
// out, check, renew).
import { ZeroAddress, type Contract, type Signer } from "ethers";
import { checkAddress, checkUint, integerIn } from "../core/args.js";
import { escrowInterface } from "../core/contracts.js";
import { MailserverSdkError } from "../errors.js";
import { EMPTY_SUBSCRIPTION, type StoredSubscription } from "../subscriptionRecord.js";
import { eventsOf, type WriteResult } from "../core/tx.js";
import { renewalAllowanceNeeded, resetAllowance } from "./allowances.js";
import { consentFor, type ClientConsent } from "./consent.js";
import { readEscrow, secondsToDate, writeEscrow, type EscrowContext } from "./context.js";
import { allowance, balanceOf } from "./reads.js";
import { checkKey, currentRecord, getSubscription, learn, writtenRecord } from "./records.js";
import { BLOCKER_CODES, DEFAULT_RENEWAL_CYCLES, renewalBlockerOf, renewalOutlook, type RenewalCheck } from "./renewal.js";

/** The parameters of `setAutoRenew`. */
export interface AutoRenewParams {
  months: bigint | number;
  maxPricePerMonth: bigint | number;
  approve?: boolean;
  cycles?: number;
  subscription?: StoredSubscription;
}

/** Cancel and take back the unserved part minus the fee locked at purchase. */
export async function cancel(c: EscrowContext, nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<WriteResult & { refund: bigint; fee: bigint }> {
  c.ctx.signer("cancel");
  const [id, client] = checkKey(nodeId, clientId);
  const record = await currentRecord(c, id, client, subscription);
  const escrowAddress = await c.escrowAddress();
  const result = await writeEscrow(c, "cancel", (e) => e.cancel(id, client, record));
  learn(c, result.receipt, escrowAddress, id, client);
  const [event] = eventsOf(result.receipt, escrowAddress, escrowInterface(), "Cancelled");
  return { ...result, refund: event?.args.getValue("refund") ?? 0n, fee: event?.args.getValue("fee") ?? 0n };
}

/** Move a subscription to another client key, with that key's consent. The record moves unchanged. */
export async function setClientId(
  c: EscrowContext,
  nodeId: string,
  clientId: string,
  newClientId: string,
  options: { clientKey?: Signer; consent?: ClientConsent; subscription?: StoredSubscription } = {},
): Promise<WriteResult & { subscription: StoredSubscription }> {
  const owner = await c.ctx.signerAddress("setClientId");
  const [id, client] = checkKey(nodeId, clientId);
  const next = checkAddress(newClientId, "newClientId");
  const escrowAddress = await c.escrowAddress();
  const record = await currentRecord(c, id, client, options.subscription);
  const consent = await consentFor(c, options, { nodeId: id, clientId: next, payer: owner, escrow: escrowAddress });
  const result = await writeEscrow(c, "setClientId", (e) => e.setClientId(id, client, record, next, consent));
  learn(c, result.receipt, escrowAddress, id, client);
  return { ...result, subscription: learn(c, result.receipt, escrowAddress, id, next) ?? record };
}

/**
 * Opt in to automatic renewal (months > 0) or out (months = 0). With `approve`, also sets the
 * escrow's allowance to `cycles` rounds (default {@link DEFAULT_RENEWAL_CYCLES}) of all the
 * owner's opted-in renewals (each months × maxPricePerMonth), so it keeps renewing that many
 * times; `renewalCheck` warns (`warning`) when fewer than 2 are left. Looks the record up unless
 * `subscription` is given.
 *
 * Opting out is only safe before the renewal window (`renewalCheck().optOutSafeUntil`): inside
 * it anyone may renew first, and leaving then costs the cancellation fee on the renewed months.
 */
export async function setAutoRenew(
  c: EscrowContext,
  nodeId: string,
  clientId: string,
  params: AutoRenewParams,
): Promise<WriteResult & { approvals: string[]; subscription: StoredSubscription }> {
  const signer = c.ctx.signer("setAutoRenew");
  const [id, client] = checkKey(nodeId, clientId);
  const months = checkUint(params.months, "months");
  const maxPrice = checkUint(params.maxPricePerMonth, "maxPricePerMonth");
  const cycles = integerIn("cycles", params.cycles ?? DEFAULT_RENEWAL_CYCLES, 1, 120);
  const record = await currentRecord(c, id, client, params.subscription);
  const escrowAddress = await c.escrowAddress();
  const result = await writeEscrow(c, "setAutoRenew", (e) => e.setAutoRenew(id, client, record, months, maxPrice));
  const { subscription } = writtenRecord(c, result, escrowAddress, id, client, "AutoRenewSet");
  let approvals: string[] = [];
  if (params.approve === true) {
    // What every opted-in renewal of the owner needs, this one included: one allowance serves all.
    const owner = await c.ctx.signerAddress("setAutoRenew");
    const token = (await c.token()).connect(signer) as Contract;
    approvals = await resetAllowance(c, token, owner, escrowAddress, (await renewalAllowanceNeeded(c, owner)) * BigInt(cycles));
  }
  return { ...result, approvals, subscription };
}

/** Whether `renew` would go through now, and why not. */
export async function renewalCheck(c: EscrowContext, nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<RenewalCheck> {
  const [id, client] = checkKey(nodeId, clientId);
  const record = subscription ?? (await getSubscription(c, id, client)) ?? EMPTY_SUBSCRIPTION;
  const reason = renewalBlockerOf(await readEscrow(c, "renewalCheck", (e) => e.renewalCheck(id, client, record)));
  if (record.renewMonths === 0n || record.owner === ZeroAddress || reason === "no-subscription") return { renewable: reason === "none", reason };
  const [needed, approved, balance] = await Promise.all([renewalAllowanceNeeded(c, record.owner), allowance(c, record.owner), balanceOf(c, record.owner)]);
  return renewalOutlook(reason, record, { needed, allowance: approved, balance });
}

/** Renew an opted-in subscription (anyone may), after `renewalCheck` so a blocked renewal costs no gas. */
export async function renew(
  c: EscrowContext,
  nodeId: string,
  clientId: string,
  subscription?: StoredSubscription,
): Promise<WriteResult & { expiresAt: Date; expiresAtSeconds: bigint; amount: bigint; subscription: StoredSubscription }> {
  c.ctx.signer("renew");
  const [id, client] = checkKey(nodeId, clientId);
  const record = subscription ?? (await getSubscription(c, id, client));
  const check = await renewalCheck(c, id, client, record ?? EMPTY_SUBSCRIPTION);
  if (!check.renewable || record === undefined) {
    throw new MailserverSdkError(BLOCKER_CODES[check.reason], `renewal not possible: ${check.reason}`, { details: { nodeId: id, clientId: client, reason: check.reason } });
  }
  const escrowAddress = await c.escrowAddress();
  const result = await writeEscrow(c, "renew", (e) => e.renew(id, client, record));
  const { subscription: renewed, event } = writtenRecord(c, result, escrowAddress, id, client, "Extended");
  return { ...result, expiresAt: secondsToDate(renewed.expiresAt), expiresAtSeconds: renewed.expiresAt, amount: event.args.getValue("amount"), subscription: renewed };
}
