// SubscriptionClient: every method is a one-line delegation to a plain function over the
// client's context (escrow/*.ts, one module per concern, as viem's actions); the class holds no
// logic of its own. The functions are not public API (yet): the class is.
import type { Contract, Signer } from "ethers";
import type { ChainContext } from "./core/chain.js";
import type { StoredSubscription } from "./subscriptionRecord.js";
import type { TokenSupport } from "./token.js";
import type { WriteResult } from "./core/tx.js";
import type { ISubscriptionEscrow } from "./typechain/interfaces/ISubscriptionEscrow.js";
import { signConsent, type ClientConsent } from "./escrow/consent.js";
import { createEscrowContext, readEscrow, type EscrowContext, type SubscriptionClientOptions } from "./escrow/context.js";
import type { RenewalCheck } from "./escrow/renewal.js";
import { renewalAllowanceNeeded } from "./escrow/allowances.js";
import { cancel, renew, renewalCheck, setAutoRenew, setClientId, type AutoRenewParams } from "./escrow/management.js";
import { pause, processExpiries, setCancellationFee, unpause, withdraw } from "./escrow/providerActions.js";
import { purchase, simulateApproveAndCall, type ApproveAndCallSimulation, type PurchaseParams, type PurchaseResult } from "./escrow/purchase.js";
import { allowance, balanceOf, cancellationFeeBps, nodeEarnings, paused, providerEarnings, quote, soldNodes, status, type Earnings, type Quote, type SubscriptionState } from "./escrow/reads.js";
import { expiries, getSubscription } from "./escrow/records.js";

// Each concern's types live with its functions; re-exported here for existing imports.
export type { SubscriptionClientOptions } from "./escrow/context.js";
export type { Quote, SubscriptionState, Earnings } from "./escrow/reads.js";
export type { PurchaseParams, PurchaseResult } from "./escrow/purchase.js";
export type { StoredSubscription } from "./subscriptionRecord.js";
export { encodeApprovalRequest, encodeExtensionRequest } from "./subscriptionRecord.js";
export { DEFAULT_RENEWAL_CYCLES, RENEWAL_WINDOW_SECONDS, type RenewalBlocker, type RenewalCheck } from "./escrow/renewal.js";
export { CLIENT_CONSENT_TYPES, clientConsentDomain, signClientConsent, type ClientConsent } from "./escrow/consent.js";

/**
 * Buy, extend, manage and read subscriptions; provider earnings and curator pause. Reads work
 * with a Provider, writes need a Signer.
 */
export class SubscriptionClient {
  readonly #c: EscrowContext;
  protected readonly ctx: ChainContext;
  protected readonly escrow: () => Promise<ISubscriptionEscrow>;
  protected readonly token: () => Promise<Contract>;
  /** What the payment token supports, from its bytecode (read once). */
  readonly tokenSupport: () => Promise<TokenSupport>;

  constructor(options: SubscriptionClientOptions) {
    this.#c = createEscrowContext(options);
    this.ctx = this.#c.ctx;
    this.escrow = this.#c.escrow;
    this.token = this.#c.token;
    this.tokenSupport = this.#c.tokenSupport;
  }

  protected read<T>(label: string, call: (escrow: ISubscriptionEscrow) => Promise<T>): Promise<T> {
    return readEscrow(this.#c, label, call);
  }

  /** Where event scans start: the `fromBlock` option, else the deployment's `startBlock`, else 0. */
  fromBlock(): Promise<number> {
    return this.#c.fromBlock();
  }

  async chainId(): Promise<bigint> {
    return (await this.ctx.info()).chainId;
  }

  escrowAddress(): Promise<string> {
    return this.#c.escrowAddress();
  }

  /** The payment token: the configured address, else what the escrow says. */
  tokenAddress(): Promise<string> {
    return this.#c.tokenAddress();
  }

  // ---- reads (escrow/reads.ts, escrow/records.ts) ---------------------------------------------

  /** Price of `months` of a node bought now. */
  quote(nodeId: string, months: bigint | number): Promise<Quote> {
    return quote(this.#c, nodeId, months);
  }

  /**
   * Whether it is active, when it ends, months left, what cancelling pays back now. Looks the
   * record up unless `subscription` is given (SUBSCRIPTION_RECORD_MISMATCH when that is stale).
   */
  status(nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<SubscriptionState> {
    return status(this.#c, nodeId, clientId, subscription);
  }

  /** The current record of (node, client), or undefined when nothing is stored (see `getSubscription` in escrow/records.ts). */
  getSubscription(nodeId: string, clientId: string): Promise<StoredSubscription | undefined> {
    return getSubscription(this.#c, nodeId, clientId);
  }

  /** Expiry seconds for many (node, client) pairs in one call (0 when none). */
  expiries(pairs: readonly { nodeId: string; clientId: string }[]): Promise<bigint[]> {
    return expiries(this.#c, pairs);
  }

  nodeEarnings(nodeId: string): Promise<Earnings> {
    return nodeEarnings(this.#c, nodeId);
  }

  providerEarnings(provider: string): Promise<Earnings> {
    return providerEarnings(this.#c, provider);
  }

  /** Node ids of a provider that ever sold a subscription here (where its earnings are). */
  soldNodes(provider: string): Promise<string[]> {
    return soldNodes(this.#c, provider);
  }

  cancellationFeeBps(provider: string): Promise<bigint> {
    return cancellationFeeBps(this.#c, provider);
  }

  paused(): Promise<boolean> {
    return paused(this.#c);
  }

  balanceOf(account: string): Promise<bigint> {
    return balanceOf(this.#c, account);
  }

  /** The account's allowance to the escrow. */
  allowance(owner: string): Promise<bigint> {
    return allowance(this.#c, owner);
  }

  /** The most one round of the owner's pending automatic renewals can pull; O(the owner's own subscriptions). */
  renewalAllowanceNeeded(owner: string): Promise<bigint> {
    return renewalAllowanceNeeded(this.#c, owner);
  }

  // ---- buying (escrow/purchase.ts, escrow/consent.ts) ------------------------------------------

  /**
   * Buy a subscription. Checks trust, price and balance before sending anything, then pays by
   * `approveAndCall` (one transaction) when the token has it, else by EIP-2612 permit (one
   * transaction), else approve + subscribe. Allowances are set to exactly the total, reset to
   * zero first when a stale one exists (MiniMe refuses non-zero to non-zero changes).
   */
  subscribe(params: PurchaseParams): Promise<PurchaseResult> {
    return purchase(this.#c, "subscribe", params);
  }

  /** Add months at the node's current price, at any time (owner only). No permit path on chain. */
  extend(params: PurchaseParams): Promise<PurchaseResult> {
    return purchase(this.#c, "extend", params);
  }

  /** Sign a client key's consent for `owner`, valid for an hour from the latest block. */
  signConsent(clientKey: Signer, nodeId: string, owner: string, escrow?: string): Promise<ClientConsent> {
    return signConsent(this.#c, clientKey, nodeId, owner, escrow);
  }

  /** Throw the escrow's own error when it would refuse this `approveAndCall` purchase (SNT drops it); sends nothing. */
  simulateApproveAndCall(params: ApproveAndCallSimulation): Promise<void> {
    return simulateApproveAndCall(this.#c, params);
  }

  // ---- managing (escrow/management.ts) ---------------------------------------------------------

  /**
   * Cancel and take back the unserved part minus the fee locked at purchase. Looks the record up
   * unless `subscription` is given (checked on chain first).
   */
  cancel(nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<WriteResult & { refund: bigint; fee: bigint }> {
    return cancel(this.#c, nodeId, clientId, subscription);
  }

  /**
   * Move a subscription to another client key, with that key's consent (its `clientKey` signs
   * here, or pass a `consent` signed elsewhere; none is needed when the signer is the new key).
   * Looks the record up unless `subscription` is given. The record moves unchanged.
   */
  setClientId(
    nodeId: string,
    clientId: string,
    newClientId: string,
    options: { clientKey?: Signer; consent?: ClientConsent; subscription?: StoredSubscription } = {},
  ): Promise<WriteResult & { subscription: StoredSubscription }> {
    return setClientId(this.#c, nodeId, clientId, newClientId, options);
  }

  /**
   * Opt in to automatic renewal (months > 0, with `approve`: `cycles` rounds approved) or out
   * (months = 0). Opting out is only safe before `renewalCheck().optOutSafeUntil`.
   */
  setAutoRenew(nodeId: string, clientId: string, params: AutoRenewParams): Promise<WriteResult & { approvals: string[]; subscription: StoredSubscription }> {
    return setAutoRenew(this.#c, nodeId, clientId, params);
  }

  /**
   * Whether `renew` would go through now, and why not. Looks the record up unless
   * `subscription` is given (SUBSCRIPTION_RECORD_MISMATCH when that is stale).
   */
  renewalCheck(nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<RenewalCheck> {
    return renewalCheck(this.#c, nodeId, clientId, subscription);
  }

  /**
   * Renew an opted-in subscription (anyone may). Checks `renewalCheck` first so a blocked renewal
   * fails with its reason (e.g. INSUFFICIENT_ALLOWANCE) without spending gas. Looks the record up
   * unless `subscription` is given.
   */
  renew(nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<WriteResult & { expiresAt: Date; expiresAtSeconds: bigint; amount: bigint; subscription: StoredSubscription }> {
    return renew(this.#c, nodeId, clientId, subscription);
  }

  // ---- providers and curators (escrow/providerActions.ts) --------------------------------------

  /** Pay a node's released funds to its provider's payout address. */
  withdraw(nodeId: string): Promise<WriteResult & { amount: bigint; payout: string | undefined }> {
    return withdraw(this.#c, nodeId);
  }

  /** Set the caller's cancellation fee for future purchases, in basis points (at most 10%). */
  setCancellationFee(feeBps: bigint | number): Promise<WriteResult> {
    return setCancellationFee(this.#c, feeBps);
  }

  /** Release funds of subscriptions that ended on past days (anyone may). */
  processExpiries(nodeId: string, maxDays: bigint | number): Promise<WriteResult> {
    return processExpiries(this.#c, nodeId, maxDays);
  }

  /** Stop purchases, extensions and renewals (registry curator only). */
  pause(): Promise<WriteResult> {
    return pause(this.#c);
  }

  /** Resume purchases, extensions and renewals (registry curator only). */
  unpause(): Promise<WriteResult> {
    return unpause(this.#c);
  }
}
