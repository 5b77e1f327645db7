// Automatic renewal: why a renewal cannot happen, how long an opt-in keeps renewing, and until
// when opting out is safe. Pure: the client reads the facts, these functions judge them.
import { MailserverSdkError, type ErrorCode } from "../errors.js";
import type { StoredSubscription } from "../subscriptionRecord.js";

export type RenewalBlocker =
  | "none"
  | "no-subscription"
  | "not-opted-in"
  | "outside-window"
  | "node-not-trusted"
  | "price-above-maximum"
  | "insufficient-allowance"
  | "insufficient-balance"
  | "paused";

/** The SDK code a renewal blocker is reported with by `renew`, in the escrow's enum order (RenewalBlocker). */
export const BLOCKER_CODES: Record<RenewalBlocker, ErrorCode> = {
  none: "CONTRACT_ERROR",
  "no-subscription": "NO_SUBSCRIPTION",
  "not-opted-in": "RENEWAL_NOT_POSSIBLE",
  "outside-window": "RENEWAL_NOT_POSSIBLE",
  "node-not-trusted": "UNTRUSTED_NODE",
  "price-above-maximum": "PRICE_ABOVE_MAXIMUM",
  "insufficient-allowance": "INSUFFICIENT_ALLOWANCE",
  "insufficient-balance": "INSUFFICIENT_BALANCE",
  paused: "ENFORCED_PAUSE",
};

/** The blockers in the escrow's enum order (`renewalCheck` answers an index): the table's key order. */
export const RENEWAL_BLOCKERS = Object.keys(BLOCKER_CODES) as readonly RenewalBlocker[];

export interface RenewalCheck {
  renewable: boolean;
  reason: RenewalBlocker;
  /**
   * Opted in only: how many more renewals of all the owner's opted-in subscriptions (at their
   * current prices) the owner's allowance and balance cover. The escrow renews from one shared
   * allowance, so at 0 the next renewal fails.
   */
  renewalsCovered?: number;
  /** Opted in only: "allowance-low" / "balance-low" when fewer than 2 renewals are covered: prompt the owner now, not in the window. */
  warning?: "allowance-low" | "balance-low";
  /**
   * Opted in only: until when (unix seconds) opting out is safe. From then on (the renewal
   * window) anyone may renew first, and leaving costs the cancellation fee on the renewed months.
   */
  optOutSafeUntil?: bigint;
}

/** Renewals an owner's allowance covers when `setAutoRenew` approves (default): a year of monthly renewals. */
export const DEFAULT_RENEWAL_CYCLES = 12;

/** The escrow's RENEWAL_WINDOW: renewals are possible in [expiry − window, expiry). */
export const RENEWAL_WINDOW_SECONDS = 3n * 24n * 3600n;

/** The escrow's `renewalCheck` answer (an enum index) as a reason. */
export function renewalBlockerOf(raw: bigint | number): RenewalBlocker {
  const reason = RENEWAL_BLOCKERS[Number(raw)];
  if (reason === undefined) throw new MailserverSdkError("CONTRACT_ERROR", `unknown renewal blocker ${raw}`, { details: { value: raw } });
  return reason;
}

/**
 * The check of an opted-in subscription: the owner's allowance and balance against one round of
 * all its opted-in renewals (`needed`, or this one's months × maximum price when that is 0), and
 * the start of the renewal window.
 */
export function renewalOutlook(reason: RenewalBlocker, record: StoredSubscription, owner: { needed: bigint; allowance: bigint; balance: bigint }): RenewalCheck {
  const perRound = owner.needed > 0n ? owner.needed : record.renewMonths * record.renewMaxPricePerMonth;
  const byAllowance = perRound === 0n ? Number.MAX_SAFE_INTEGER : Number(owner.allowance / perRound);
  const byBalance = perRound === 0n ? Number.MAX_SAFE_INTEGER : Number(owner.balance / perRound);
  const check: RenewalCheck = { renewable: reason === "none", reason, renewalsCovered: Math.min(byAllowance, byBalance) };
  if (byAllowance < 2) check.warning = "allowance-low";
  else if (byBalance < 2) check.warning = "balance-low";
  check.optOutSafeUntil = record.expiresAt > RENEWAL_WINDOW_SECONDS ? record.expiresAt - RENEWAL_WINDOW_SECONDS : 0n;
  return check;
}
