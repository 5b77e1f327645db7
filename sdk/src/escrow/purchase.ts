// Purchases: a new subscription or an extension, checked before anything is sent (trust,
// policy, price, fee, state, consent, pause, balance), then paid by the best path the token has.
import { ZeroAddress, type Contract, type ContractTransactionResponse, type Signer } from "ethers";
import { registryContract } from "../core/contracts.js";
import { decodeContractError, findRevertData, isSdkError, isTransientError, MailserverSdkError, toSdkError } from "../errors.js";
import { normalizeNodeId, type NodeId } from "../nodeKey.js";
import { encodeApprovalRequest, encodeExtensionRequest, toStoredSubscription, type StoredSubscription } from "../subscriptionRecord.js";
import type { PaymentPath } from "../token.js";
import { sendAndWait, type WriteResult } from "../core/tx.js";
import type { ISubscriptionEscrow } from "../typechain/interfaces/ISubscriptionEscrow.js";
import { checkAddress, checkUint } from "../core/args.js";
import type { TrustPolicy } from "../verify.js";
import { choosePath, renewalReserve, resetAllowance, signPermit, type PurchaseAction } from "./allowances.js";
import { consentFor, NO_CONSENT, type ClientConsent } from "./consent.js";
import { readEscrow, secondsToDate, type EscrowContext } from "./context.js";
import { balanceOf, paused, quote } from "./reads.js";
import { currentRecord, expiries, getSubscription, writtenRecord } from "./records.js";

export interface PurchaseParams {
  nodeId: string;
  /** The client key's address the subscription serves (default: the signer's address). */
  clientId?: string;
  months: bigint | number;
  /** Highest accepted monthly price (default: the quoted price, so a raise between quote and purchase reverts). */
  maxPricePerMonth?: bigint | number;
  /** Highest accepted cancellation fee in basis points (default: the quoted fee, so a raise between quote and purchase reverts). */
  maxCancellationFeeBps?: bigint | number;
  /**
   * The client key, to sign its consent when the signer is not the client key itself (new
   * subscriptions only). Or pass a `consent` signed elsewhere.
   */
  clientKey?: Signer;
  consent?: ClientConsent;
  /** Force a payment path; "auto" (default) picks the best the token supports. */
  path?: PaymentPath | "auto";
  /** Also require the node's provider to be trusted by this policy. */
  policy?: TrustPolicy;
  /**
   * Extensions: the subscription's current record, to skip looking it up (`getSubscription`).
   * Checked against the escrow's commitment before anything is sent.
   */
  subscription?: StoredSubscription;
}

export interface PurchaseResult extends WriteResult {
  /** "free" when the price is 0 and no token moves. */
  path: PaymentPath | "free";
  amount: bigint;
  pricePerMonth: bigint;
  expiresAt: Date;
  expiresAtSeconds: bigint;
  /** Hashes of the approval transactions sent before the purchase (approve path). */
  approvals: string[];
  /** The record as stored afterwards: pass it to the next management call to skip the lookup. */
  subscription: StoredSubscription;
}

/** The parameters of `simulateApproveAndCall`. */
export interface ApproveAndCallSimulation {
  action: PurchaseAction;
  from: string;
  nodeId: string;
  clientId: string;
  months: bigint | number;
  maxPricePerMonth: bigint | number;
  maxCancellationFeeBps?: bigint | number;
  consent?: ClientConsent;
  /** The approved amount (default: months × the current price, what the SDK approves). */
  amount?: bigint;
  /**
   * Extensions: the record the request carries (default: the current one, looked up; a stale
   * one shows as SUBSCRIPTION_RECORD_MISMATCH).
   */
  subscription?: StoredSubscription;
}

/** Errors a pre-flight simulation of `receiveApproval` raises only because no allowance exists yet. */
const TOKEN_SIDE_ERRORS = new Set(["TokenTransferFailed", "ERC20InsufficientAllowance", "ReceivedAmountMismatch"]);

/** ISubscriptionEscrow.ApprovalRequest's `action` of a new subscription. */
const SUBSCRIBE_ACTION = 0;

/** Buy (`subscribe`) or extend a subscription: see `SubscriptionClient.subscribe` and `extend`. */
export async function purchase(c: EscrowContext, action: PurchaseAction, params: PurchaseParams): Promise<PurchaseResult> {
  const signer = c.ctx.signer(action);
  const payer = await c.ctx.signerAddress(action);
  const nodeId = normalizeNodeId(params.nodeId);
  const clientId = params.clientId === undefined ? payer : checkAddress(params.clientId, "clientId");
  const months = checkUint(params.months, "months");
  const escrow = await c.escrow();
  const escrowAddress = await c.escrowAddress();

  const q = await quote(c, nodeId, months);
  if (!q.trusted) throw new MailserverSdkError("UNTRUSTED_NODE", `node ${nodeId} is not trusted by the registry`, { details: { nodeId } });
  if (params.policy !== undefined) await checkPolicy(c, params.policy, nodeId, q.provider);
  const maxPrice = params.maxPricePerMonth === undefined ? q.pricePerMonth : checkUint(params.maxPricePerMonth, "maxPricePerMonth");
  if (q.pricePerMonth > maxPrice) {
    throw new MailserverSdkError("PRICE_ABOVE_MAXIMUM", `price ${q.pricePerMonth} is above the maximum ${maxPrice}`, {
      details: { nodeId, pricePerMonth: q.pricePerMonth, maxPricePerMonth: maxPrice },
    });
  }
  // Extensions: the current record, checked on chain (it goes back to the escrow as calldata).
  const record = await checkSubscriptionState(c, action, nodeId, clientId, payer, params.subscription);
  const maxFee = params.maxCancellationFeeBps === undefined ? q.cancellationFeeBps : checkUint(params.maxCancellationFeeBps, "maxCancellationFeeBps");
  if (action === "subscribe" && q.cancellationFeeBps > maxFee) {
    throw new MailserverSdkError("CANCELLATION_FEE_ABOVE_MAXIMUM", `cancellation fee ${q.cancellationFeeBps} bps is above the maximum ${maxFee}`, {
      details: { nodeId, provider: q.provider, feeBps: q.cancellationFeeBps, maxFeeBps: maxFee },
    });
  }
  const consent = action === "subscribe" ? await consentFor(c, params, { nodeId, clientId, payer, escrow: escrowAddress }) : NO_CONSENT;
  // Checked here so that no approval is sent for a purchase that cannot happen.
  if (await paused(c)) throw new MailserverSdkError("ENFORCED_PAUSE", "the escrow is paused: purchases and extensions are stopped", { details: { nodeId } });

  const total = q.total;
  const paid = (result: WriteResult, path: PurchaseResult["path"], approvals: string[]) => purchaseResult(c, action, escrowAddress, result, path, approvals, { nodeId, clientId });
  const send = () => (record === undefined ? escrow.subscribe(nodeId, clientId, months, maxPrice, maxFee, consent) : escrow.extend(nodeId, clientId, record, months, maxPrice));

  if (total === 0n) return paid(await sendAndWait(action, send), "free", []);

  const balance = await balanceOf(c, payer);
  if (balance < total) {
    throw new MailserverSdkError("INSUFFICIENT_BALANCE", `balance ${balance} is below the total ${total}`, { details: { account: payer, balance, required: total } });
  }

  const token = (await c.token()).connect(signer) as Contract;
  // The allowance is shared by every opted-in renewal of this owner: keep what they need.
  const reserved = await renewalReserve(c, token, payer, escrowAddress);
  // approveAndCall and permit set the allowance to the purchase's total, wiping the renewals'
  // share, so with renewals pending "auto" pays by approve (which keeps it in one approval).
  const path = await choosePath(c, params.path ?? (reserved > 0n ? "approve" : "auto"), action);
  const settle = (target: bigint) => resetAllowance(c, token, payer, escrowAddress, target);

  if (path === "approveAndCall") {
    const data =
      record === undefined
        ? encodeApprovalRequest({ action: SUBSCRIBE_ACTION, nodeId, clientId, months, maxPricePerMonth: maxPrice, maxFeeBps: maxFee, consent })
        : encodeExtensionRequest({ nodeId, clientId, months, maxPricePerMonth: maxPrice, subscription: record });
    const tokenAddress = await c.tokenAddress();
    // Old MiniMe tokens drop the escrow's revert data: simulate the escrow's side first so that
    // a refused purchase fails here with its own error, before any gas is spent.
    await simulateApproval(c, action, escrow, tokenAddress, payer, total, data);
    const approvals = await settle(0n);
    let result: WriteResult;
    try {
      result = await sendAndWait(action, () => token.getFunction("approveAndCall")(escrowAddress, total, data) as Promise<ContractTransactionResponse>);
    } catch (error) {
      if (reserved > 0n) await settle(reserved).catch(() => undefined);
      // No revert data (the token lost it): find out what the escrow refused, if anything.
      if (findRevertData(error) === undefined || findRevertData(error) === "0x") await simulateApproval(c, action, escrow, tokenAddress, payer, total, data);
      throw error;
    }
    approvals.push(...(await settle(reserved)));
    return paid(result, path, approvals);
  }

  if (path === "permit") {
    const { v, r, s, deadline } = await signPermit(c, signer, token, payer, escrowAddress, total);
    const result = await sendAndWait(action, () => escrow.subscribeWithPermit(nodeId, clientId, months, maxPrice, maxFee, consent, { deadline, v, r, s }));
    // The permit replaced the allowance: give the pending renewals theirs back.
    return paid(result, path, await settle(reserved));
  }

  // One approval for the renewals' share plus this purchase; afterwards exactly the share is
  // left, also when the escrow pulled less (a price drop between the approval and the purchase).
  const approvals = await settle(reserved + total);
  let result: WriteResult;
  try {
    result = await sendAndWait(action, send);
  } catch (error) {
    // Do not leave an allowance behind that the next purchase would trip over.
    if (approvals.length > 0) await settle(reserved).catch(() => undefined);
    throw error;
  }
  approvals.push(...(await settle(reserved)));
  return paid(result, path, approvals);
}

/** UNTRUSTED_NODE unless `policy` trusts the node's provider. */
async function checkPolicy(c: EscrowContext, policy: TrustPolicy, nodeId: NodeId, provider: string): Promise<void> {
  const registryAddress = await readEscrow(c, "registry", (e) => e.registry());
  const registry = registryContract(registryAddress, c.ctx.runner);
  const defaultProvider = await c.ctx.read("defaultProvider", () => registry.defaultProvider());
  if (!policy.isProviderTrusted(provider, defaultProvider === ZeroAddress ? undefined : defaultProvider)) {
    throw new MailserverSdkError("UNTRUSTED_NODE", `the provider of node ${nodeId} is not trusted by the policy`, {
      details: { nodeId, provider, reason: "provider-not-trusted" },
    });
  }
}

/**
 * Catch the obvious reverts before any approval is sent. Extensions: returns the current
 * record (`given` once checked against the escrow's commitment).
 */
async function checkSubscriptionState(
  c: EscrowContext,
  action: PurchaseAction,
  nodeId: NodeId,
  clientId: string,
  payer: string,
  given: StoredSubscription | undefined,
): Promise<StoredSubscription | undefined> {
  if (action === "subscribe") {
    // A key is taken while its stored expiry is ahead: the low 40 bits of the commitment.
    const [expiresAt] = await expiries(c, [{ nodeId, clientId }]);
    if (expiresAt! > (await c.ctx.latestBlockTime())) {
      throw new MailserverSdkError("SUBSCRIPTION_IS_ACTIVE", "an active subscription exists: extend it instead", { details: { nodeId, clientId, expiresAt } });
    }
    return undefined;
  }
  let stored: StoredSubscription;
  try {
    stored = await currentRecord(c, nodeId, clientId, given);
  } catch (error) {
    if (isSdkError(error, "NO_SUBSCRIPTION")) throw new MailserverSdkError("NO_SUBSCRIPTION", "no subscription to extend", { details: { nodeId, clientId } });
    throw error;
  }
  if (stored.owner !== payer) {
    throw new MailserverSdkError("NOT_SUBSCRIPTION_OWNER", "only the owner can extend", { details: { nodeId, clientId, caller: payer, owner: stored.owner } });
  }
  return stored;
}

function purchaseResult(
  c: EscrowContext,
  action: PurchaseAction,
  escrowAddress: string,
  result: WriteResult,
  path: PurchaseResult["path"],
  approvals: string[],
  asked: { nodeId: NodeId; clientId: string },
): PurchaseResult {
  const { subscription, event } = writtenRecord(c, result, escrowAddress, asked.nodeId, asked.clientId, action === "subscribe" ? "Subscribed" : "Extended");
  // Subscribed's `paid` is the amount pulled; Extended names it.
  const amount: bigint = action === "subscribe" ? subscription.paid : event.args.getValue("amount");
  const price: bigint = event.args.getValue("pricePerMonth");
  return { ...result, path, amount, pricePerMonth: price, expiresAt: secondsToDate(subscription.expiresAt), expiresAtSeconds: subscription.expiresAt, approvals, subscription };
}

/**
 * Check an `approveAndCall` purchase (by `from`, the payer) against the escrow without sending
 * anything: throws the escrow's own error (e.g. PRICE_ABOVE_MAXIMUM, EXPIRY_TOO_FAR,
 * ENFORCED_PAUSE) when it would refuse. Old MiniMe tokens such as SNT drop that error from a
 * failed `approveAndCall`; `subscribe` and `extend` run this before sending and again after a
 * failure without revert data.
 */
export async function simulateApproveAndCall(c: EscrowContext, params: ApproveAndCallSimulation): Promise<void> {
  const nodeId = normalizeNodeId(params.nodeId);
  const clientId = checkAddress(params.clientId, "clientId");
  const months = checkUint(params.months, "months");
  const maxPricePerMonth = checkUint(params.maxPricePerMonth, "maxPricePerMonth");
  const amount = params.amount ?? (await quote(c, nodeId, months)).total;
  let data: string;
  if (params.action === "subscribe") {
    const maxFeeBps = params.maxCancellationFeeBps === undefined ? 10_000n : checkUint(params.maxCancellationFeeBps, "maxCancellationFeeBps");
    data = encodeApprovalRequest({ action: SUBSCRIBE_ACTION, nodeId, clientId, months, maxPricePerMonth, maxFeeBps, consent: params.consent ?? NO_CONSENT });
  } else {
    // Not checked here: the simulation is what tells a stale record from a current one.
    const subscription = params.subscription ?? (await getSubscription(c, nodeId, clientId));
    if (subscription === undefined) throw new MailserverSdkError("NO_SUBSCRIPTION", "no subscription to extend", { details: { nodeId, clientId } });
    data = encodeExtensionRequest({ nodeId, clientId, months, maxPricePerMonth, subscription: toStoredSubscription(subscription) });
  }
  await simulateApproval(c, params.action, await c.escrow(), await c.tokenAddress(), checkAddress(params.from, "from"), amount, data);
}

/**
 * Run the escrow's `receiveApproval` as the token would call it (an eth_call from the token's
 * address) and throw the escrow's own error if it refuses. Errors that only say the allowance
 * is not there yet mean every escrow check passed.
 */
async function simulateApproval(c: EscrowContext, label: string, escrow: ISubscriptionEscrow, token: string, from: string, amount: bigint, data: string): Promise<void> {
  const call = { to: await escrow.getAddress(), from: token, data: escrow.interface.encodeFunctionData("receiveApproval", [from, amount, token, data]) };
  try {
    await c.ctx.provider.call(call);
  } catch (error) {
    if (isTransientError(error)) throw toSdkError(error, label);
    const revert = findRevertData(error);
    const decoded = revert === undefined ? undefined : decodeContractError(revert);
    if (decoded !== undefined && TOKEN_SIDE_ERRORS.has(decoded.name)) return;
    if (decoded === undefined) return; // nothing better to say than the token's own failure
    throw toSdkError(error, label);
  }
}
