// Reads of the escrow and the payment token: quotes, a subscription's state, earnings, balances.
import { ZeroAddress, type Contract } from "ethers";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId, type NodeId } from "../nodeKey.js";
import { EMPTY_SUBSCRIPTION, type StoredSubscription } from "../subscriptionRecord.js";
import { checkAddress, checkUint } from "../core/args.js";
import { readEscrow, secondsToDate, type EscrowContext } from "./context.js";
import { checkKey, getSubscription } from "./records.js";

export interface Quote {
  nodeId: NodeId;
  trusted: boolean;
  provider: string;
  pricePerMonth: bigint;
  months: bigint;
  total: bigint;
  /** Expiry of a new subscription bought now. */
  expiresAt: Date;
  expiresAtSeconds: bigint;
  cancellationFeeBps: bigint;
}

export interface SubscriptionState {
  active: boolean;
  /** Undefined when there is no subscription. */
  owner: string | undefined;
  /** Epoch (1970) when there is no subscription. */
  expiresAt: Date;
  expiresAtSeconds: bigint;
  /** Whole 30-day months left, a started month counted. */
  monthsLeft: bigint;
  /** What cancelling now pays back, after the fee. */
  refundableNow: bigint;
  /** The cancellation fee cancelling now would cost. */
  fee: bigint;
}

export interface Earnings {
  unreleased: bigint;
  earned: bigint;
  withdrawn: bigint;
  withdrawable: bigint;
}

/** Price of `months` of a node bought now. */
export async function quote(c: EscrowContext, nodeId: string, months: bigint | number): Promise<Quote> {
  const id = normalizeNodeId(nodeId);
  const m = checkUint(months, "months");
  const q = await readEscrow(c, "quote", (e) => e.quote(id, m));
  // An unregistered node quotes price 0: an app must never show that as "free".
  if (q.provider === ZeroAddress) throw new MailserverSdkError("UNKNOWN_NODE", `node ${id} is not registered`, { details: { nodeId: id } });
  return {
    nodeId: id,
    trusted: q.trusted,
    provider: q.provider,
    pricePerMonth: q.pricePerMonth,
    months: q.months,
    total: q.total,
    expiresAt: secondsToDate(q.expiresAt),
    expiresAtSeconds: q.expiresAt,
    cancellationFeeBps: q.cancellationFeeBps,
  };
}

/** Whether it is active, when it ends, months left, what cancelling pays back now. */
export async function status(c: EscrowContext, nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<SubscriptionState> {
  const [id, client] = checkKey(nodeId, clientId);
  const record = subscription ?? (await getSubscription(c, id, client)) ?? EMPTY_SUBSCRIPTION;
  const s = await readEscrow(c, "status", (e) => e.status(id, client, record));
  return {
    active: s.active,
    owner: s.owner === ZeroAddress ? undefined : s.owner,
    expiresAt: secondsToDate(s.expiresAt),
    expiresAtSeconds: s.expiresAt,
    monthsLeft: s.monthsLeft,
    refundableNow: s.refundableNow,
    fee: s.cancellationFeeNow,
  };
}

const toEarnings = (e: Earnings): Earnings => ({ unreleased: e.unreleased, earned: e.earned, withdrawn: e.withdrawn, withdrawable: e.withdrawable });

export async function nodeEarnings(c: EscrowContext, nodeId: string): Promise<Earnings> {
  const id = normalizeNodeId(nodeId);
  return toEarnings(await readEscrow(c, "nodeEarnings", (e) => e.nodeEarnings(id)));
}

export async function providerEarnings(c: EscrowContext, provider: string): Promise<Earnings> {
  const address = checkAddress(provider, "provider");
  return toEarnings(await readEscrow(c, "providerEarnings", (e) => e.providerEarnings(address)));
}

/** Node ids of a provider that ever sold a subscription here (where its earnings are). */
export async function soldNodes(c: EscrowContext, provider: string): Promise<string[]> {
  const address = checkAddress(provider, "provider");
  return readEscrow(c, "soldNodes", (e) => e.soldNodes(address));
}

export async function cancellationFeeBps(c: EscrowContext, provider: string): Promise<bigint> {
  const address = checkAddress(provider, "provider");
  return readEscrow(c, "cancellationFeeBps", (e) => e.cancellationFeeBps(address));
}

export function paused(c: EscrowContext): Promise<boolean> {
  return readEscrow(c, "paused", (e) => e.paused());
}

export async function balanceOf(c: EscrowContext, account: string): Promise<bigint> {
  const address = checkAddress(account, "account");
  const token = await c.token();
  return c.ctx.read("balanceOf", () => token.getFunction("balanceOf")(address));
}

/** The account's allowance to the escrow. */
export async function allowance(c: EscrowContext, owner: string): Promise<bigint> {
  const address = checkAddress(owner, "owner");
  const [token, escrow] = await Promise.all([c.token(), c.escrowAddress()]);
  return tokenAllowance(c, token, address, escrow);
}

/** `owner`'s allowance to `spender` on `token` (checked addresses). */
export const tokenAllowance = (c: EscrowContext, token: Contract, owner: string, spender: string): Promise<bigint> =>
  c.ctx.read("allowance", () => token.getFunction("allowance")(owner, spender));
