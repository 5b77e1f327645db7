import { getAddress, Signature, ZeroAddress, zeroPadValue, type Contract, type ContractTransactionResponse, type Interface, type Log, type Signer } from "ethers";
import { ChainContext, type ClientOptions } from "./chain.js";
import { requireAddress } from "./deployments.js";
import { isSdkError, MailserverSdkError } from "./errors.js";
import { normalizeNodeId, type NodeId } from "./nodeKey.js";
import { detectTokenSupport, PERMIT_TYPES, readPermitDomain, tokenContract, type PaymentPath, type TokenSupport } from "./token.js";
import { eventsOf, sendAndWait, type WriteResult } from "./tx.js";
import { integerIn } from "./core/args.js";
import * as actions from "./escrow/providerActions.js";
import type { EscrowAccess } from "./escrow/providerActions.js";
import { scanLogs } from "./core/logScan.js";
import { NO_CONSENT, signClientConsent, type ClientConsent } from "./escrow/consent.js";
import { BLOCKER_CODES, DEFAULT_RENEWAL_CYCLES, renewalBlockerOf, renewalOutlook, type RenewalCheck } from "./escrow/renewal.js";
import { decodeContractError, findRevertData, isTransientError, toSdkError } from "./errors.js";
import { checkAddress, checkUint, onceUnlessFailed } from "./util.js";
import {
  EMPTY_SUBSCRIPTION,
  encodeApprovalRequest,
  encodeExtensionRequest,
  escrowEventsInterface,
  foldSubscriptionLogs,
  recordKey,
  subscriptionCommitment,
  subscriptionFromReceipt,
  toStoredSubscription,
  type StoredSubscription,
} from "./subscriptionRecord.js";
import type { TrustPolicy } from "./verify.js";
import type { ISubscriptionEscrow } from "./typechain/interfaces/ISubscriptionEscrow.js";
import { ISubscriptionEscrow__factory } from "./typechain/factories/interfaces/ISubscriptionEscrow__factory.js";
import { IMailServerRegistry__factory } from "./typechain/factories/interfaces/IMailServerRegistry__factory.js";

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

export type { StoredSubscription } from "./subscriptionRecord.js";
export { encodeApprovalRequest, encodeExtensionRequest } from "./subscriptionRecord.js";

export interface Earnings {
  unreleased: bigint;
  earned: bigint;
  withdrawn: bigint;
  withdrawable: bigint;
}

// Renewal reasons, outlook and constants live in escrow/renewal.ts; re-exported here for existing imports.
export { DEFAULT_RENEWAL_CYCLES, RENEWAL_WINDOW_SECONDS, type RenewalBlocker, type RenewalCheck } from "./escrow/renewal.js";

// Client-key consent lives in escrow/consent.ts; re-exported here for existing imports.
export { CLIENT_CONSENT_TYPES, clientConsentDomain, signClientConsent, type ClientConsent } from "./escrow/consent.js";

/** Errors a pre-flight simulation of `receiveApproval` raises only because no allowance exists yet. */
const TOKEN_SIDE_ERRORS = new Set(["TokenTransferFailed", "ERC20InsufficientAllowance", "ReceivedAmountMismatch"]);

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

/** A SubscriptionClient's options: the common ones and where the escrow's events start. */
export interface SubscriptionClientOptions extends ClientOptions {
  /**
   * First block of event scans (record lookups, renewal bookkeeping). Default: the deployment's
   * `startBlock`, else 0. A scan that starts after a subscription's last event cannot find its
   * record (SUBSCRIPTION_RECORD_NOT_FOUND).
   */
  fromBlock?: number;
}

const enum Action {
  Subscribe = 0,
  Extend = 1,
}

const secondsToDate = (seconds: bigint) => new Date(Number(seconds) * 1000);

/**
 * Buy, extend, manage and read subscriptions; provider earnings and curator pause. Reads work
 * with a Provider, writes need a Signer.
 */
export class SubscriptionClient {
  protected readonly ctx: ChainContext;
  readonly #fromBlock: number | undefined;
  /**
   * Records this client learned from its own receipts, by `recordKey`. Only a hint: every use is
   * checked against the escrow's commitment first, so a record changed by someone else is
   * looked up again.
   */
  readonly #records = new Map<string, StoredSubscription>();

  constructor(options: SubscriptionClientOptions) {
    this.ctx = new ChainContext(options);
    if (options.fromBlock !== undefined && (!Number.isSafeInteger(options.fromBlock) || options.fromBlock < 0)) {
      throw new MailserverSdkError("INVALID_ARGUMENT", `fromBlock must be a block number, got ${String(options.fromBlock)}`, {
        details: { fromBlock: options.fromBlock },
      });
    }
    this.#fromBlock = options.fromBlock;
  }

  /** Where event scans start: the `fromBlock` option, else the deployment's `startBlock`, else 0. */
  async fromBlock(): Promise<number> {
    if (this.#fromBlock !== undefined) return this.#fromBlock;
    const { deployment } = await this.ctx.info();
    return deployment.startBlock ?? 0;
  }

  async chainId(): Promise<bigint> {
    return (await this.ctx.info()).chainId;
  }

  async escrowAddress(): Promise<string> {
    const { chainId, deployment } = await this.ctx.info();
    return requireAddress(deployment, "escrow", chainId);
  }

  /** The payment token: the configured address, else what the escrow says. */
  async tokenAddress(): Promise<string> {
    const { deployment } = await this.ctx.info();
    if (deployment.token !== undefined) return deployment.token;
    const escrow = await this.escrow();
    return this.ctx.read("token", () => escrow.token());
  }

  protected readonly escrow: () => Promise<ISubscriptionEscrow> = onceUnlessFailed(() =>
    this.escrowAddress().then((address) => ISubscriptionEscrow__factory.connect(address, this.ctx.runner)),
  );

  protected readonly token: () => Promise<Contract> = onceUnlessFailed(() =>
    this.tokenAddress().then((address) => tokenContract(address, this.ctx.runner)),
  );

  protected async read<T>(label: string, call: (escrow: ISubscriptionEscrow) => Promise<T>): Promise<T> {
    const escrow = await this.escrow();
    return this.ctx.read(label, () => call(escrow));
  }

  // -------------------------------------------------------------------------------------------
  // Reads
  // -------------------------------------------------------------------------------------------

  /** Price of `months` of a node bought now. */
  async quote(nodeId: string, months: bigint | number): Promise<Quote> {
    const id = normalizeNodeId(nodeId);
    const m = checkUint(months, "months");
    const q = await this.read("quote", (e) => e.quote(id, m));
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

  /**
   * Whether it is active, when it ends, months left, what cancelling pays back now. Looks the
   * record up unless `subscription` is given (SUBSCRIPTION_RECORD_MISMATCH when that is stale).
   */
  async status(nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<SubscriptionState> {
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const record = subscription ?? (await this.getSubscription(id, client)) ?? EMPTY_SUBSCRIPTION;
    const s = await this.read("status", (e) => e.status(id, client, record));
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

  /**
   * The current record of (node, client), or undefined when nothing is stored. The escrow keeps
   * only a commitment to it: the record comes from the escrow's events about the key (the last
   * Subscribed, Extended or AutoRenewSet on it, or ClientIdChanged onto it) and is checked
   * against the commitment read at the same block. A record this client learned from its own
   * receipts is used when it still matches (one read, no event scan). A lapsed subscription
   * that was not bought again is still stored and returned. SUBSCRIPTION_RECORD_NOT_FOUND when
   * something is stored but no scanned event gives it (see `fromBlock`).
   */
  async getSubscription(nodeId: string, clientId: string): Promise<StoredSubscription | undefined> {
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const key = recordKey(id, client);
    const escrow = await this.escrow();
    const cached = this.#records.get(key);
    if (cached !== undefined) {
      const stored = await this.ctx.read("subscriptionCommitment", () => escrow.subscriptionCommitment(id, client));
      if (stored === 0n) {
        this.#records.delete(key);
        return undefined;
      }
      if (stored === subscriptionCommitment(cached)) return cached;
    }
    // The commitment and the logs at one block, so that a purchase mined in between cannot make
    // a current record look stale.
    const toBlock = await this.ctx.read("block number", () => this.ctx.provider.getBlockNumber());
    const stored = await this.ctx.read("subscriptionCommitment", () => escrow.subscriptionCommitment(id, client, { blockTag: toBlock }));
    if (stored === 0n) {
      this.#records.delete(key);
      return undefined;
    }
    const fromBlock = await this.fromBlock();
    const record = (await this.#recordLogs(id, client, fromBlock, toBlock)).get(key) ?? undefined;
    if (record === undefined || subscriptionCommitment(record) !== stored) {
      throw new MailserverSdkError(
        "SUBSCRIPTION_RECORD_NOT_FOUND",
        `a subscription is stored for node ${id} and client ${client} but no escrow event in blocks ${fromBlock}..${toBlock} gives its record: scan from an earlier fromBlock`,
        { details: { nodeId: id, clientId: client, fromBlock, toBlock, commitment: stored } },
      );
    }
    this.#records.set(key, record);
    return record;
  }

  /** The folded escrow events about (node, client) in [fromBlock, toBlock]: two topic-filtered eth_getLogs. */
  async #recordLogs(nodeId: NodeId, clientId: string, fromBlock: number, toBlock: number) {
    const topic = await this.#topics();
    const client = zeroPadValue(clientId, 32);
    const [onKey, movedHere] = await Promise.all([
      // Events whose second indexed argument is the client id (ClientIdChanged: the old one).
      this.#logs([[topic.Subscribed, topic.Extended, topic.AutoRenewSet, topic.Cancelled, topic.ClientIdChanged], nodeId, client], fromBlock, toBlock),
      // Records moved onto the client id.
      this.#logs([topic.ClientIdChanged, nodeId, null, client], fromBlock, toBlock),
    ]);
    return foldSubscriptionLogs([...onKey, ...movedHere], await this.escrowAddress());
  }

  async #topics() {
    const iface = (await this.escrow()).interface;
    const of = (name: "Subscribed" | "Extended" | "AutoRenewSet" | "Cancelled" | "ClientIdChanged") => iface.getEvent(name).topicHash;
    return { Subscribed: of("Subscribed"), Extended: of("Extended"), AutoRenewSet: of("AutoRenewSet"), Cancelled: of("Cancelled"), ClientIdChanged: of("ClientIdChanged") };
  }

  /** The escrow's logs matching `topics` in [from, to]; hosted providers cap a range, so a refused one is halved until it passes. */
  async #logs(topics: (string | string[] | null)[], from: number, to: number): Promise<Log[]> {
    const address = await this.escrowAddress();
    return scanLogs(from, to, { fetch: (a, b) => this.ctx.read("escrow events", () => this.ctx.provider.getLogs({ address, topics, fromBlock: a, toBlock: b })) });
  }

  /** The record to manage (node, client) with: `given` once checked on chain, else looked up. */
  async #currentRecord(nodeId: NodeId, clientId: string, given: StoredSubscription | undefined): Promise<StoredSubscription> {
    if (given === undefined) {
      const found = await this.getSubscription(nodeId, clientId);
      if (found === undefined) throw new MailserverSdkError("NO_SUBSCRIPTION", "no subscription", { details: { nodeId, clientId } });
      return found;
    }
    const record = toStoredSubscription(given);
    const escrow = await this.escrow();
    const stored = await this.ctx.read("subscriptionCommitment", () => escrow.subscriptionCommitment(nodeId, clientId));
    if (stored === 0n) throw new MailserverSdkError("NO_SUBSCRIPTION", "no subscription", { details: { nodeId, clientId } });
    if (stored !== subscriptionCommitment(record)) {
      throw new MailserverSdkError(
        "SUBSCRIPTION_RECORD_MISMATCH",
        "the subscription record given is not the one stored (it changed since it was read): look it up again",
        { details: { nodeId, clientId, commitment: stored } },
      );
    }
    return record;
  }

  /** Learn what a receipt of this client says about (node, client): the record, or its removal. */
  #learn(receipt: { logs: readonly Log[] }, escrow: string, nodeId: string, clientId: string): StoredSubscription | undefined {
    const record = subscriptionFromReceipt(receipt, escrow, nodeId, clientId);
    const key = recordKey(nodeId, clientId);
    if (record === null) this.#records.delete(key);
    else if (record !== undefined) this.#records.set(key, record);
    return record ?? undefined;
  }

  /** Expiry seconds for many (node, client) pairs in one call (0 when none). */
  async expiries(pairs: readonly { nodeId: string; clientId: string }[]): Promise<bigint[]> {
    if (pairs.length === 0) return [];
    const nodeIds = pairs.map((p) => normalizeNodeId(p.nodeId));
    const clientIds = pairs.map((p) => checkAddress(p.clientId, "clientId"));
    const result = await this.read("expiries", (e) => e.expiries(nodeIds, clientIds));
    return [...result];
  }

  /**
   * Whether `renew` would go through now, and why not. Looks the record up unless
   * `subscription` is given (SUBSCRIPTION_RECORD_MISMATCH when that is stale).
   */
  async renewalCheck(nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<RenewalCheck> {
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const record = subscription ?? (await this.getSubscription(id, client)) ?? EMPTY_SUBSCRIPTION;
    const reason = renewalBlockerOf(await this.read("renewalCheck", (e) => e.renewalCheck(id, client, record)));
    if (record.renewMonths === 0n || record.owner === ZeroAddress || reason === "no-subscription") return { renewable: reason === "none", reason };
    const [needed, allowance, balance] = await Promise.all([this.renewalAllowanceNeeded(record.owner), this.allowance(record.owner), this.balanceOf(record.owner)]);
    return renewalOutlook(reason, record, { needed, allowance, balance });
  }

  async nodeEarnings(nodeId: string): Promise<Earnings> {
    const id = normalizeNodeId(nodeId);
    return toEarnings(await this.read("nodeEarnings", (e) => e.nodeEarnings(id)));
  }

  async providerEarnings(provider: string): Promise<Earnings> {
    const address = checkAddress(provider, "provider");
    return toEarnings(await this.read("providerEarnings", (e) => e.providerEarnings(address)));
  }

  /** Node ids of a provider that ever sold a subscription here (where its earnings are). */
  async soldNodes(provider: string): Promise<string[]> {
    const address = checkAddress(provider, "provider");
    return this.read("soldNodes", (e) => e.soldNodes(address));
  }

  async cancellationFeeBps(provider: string): Promise<bigint> {
    const address = checkAddress(provider, "provider");
    return this.read("cancellationFeeBps", (e) => e.cancellationFeeBps(address));
  }

  async paused(): Promise<boolean> {
    return this.read("paused", (e) => e.paused());
  }

  async balanceOf(account: string): Promise<bigint> {
    const address = checkAddress(account, "account");
    const token = await this.token();
    return this.ctx.read("balanceOf", () => token.getFunction("balanceOf")(address));
  }

  /** The account's allowance to the escrow. */
  async allowance(owner: string): Promise<bigint> {
    const address = checkAddress(owner, "owner");
    const [token, escrow] = await Promise.all([this.token(), this.escrowAddress()]);
    return this.ctx.read("allowance", () => token.getFunction("allowance")(address, escrow));
  }

  /**
   * The most one round of the owner's pending automatic renewals can pull: the sum of months ×
   * highest accepted price over its opted-in subscriptions that have not ended. Costs O(the
   * owner's own subscriptions), never O(the escrow's history): the keys are the owner's purchases
   * (Subscribed, whose owner is indexed) and the moves of those records to other client ids
   * (ClientIdChanged filtered by node and old client id, followed hop by hop; a record's owner
   * never changes), then each key's current record.
   */
  async renewalAllowanceNeeded(owner: string): Promise<bigint> {
    const address = checkAddress(owner, "owner");
    const iface = (await this.escrow()).interface;
    const topic = await this.#topics();
    const from = await this.fromBlock();
    const to = await this.ctx.read("block number", () => this.ctx.provider.getBlockNumber());
    const keys = new Map<string, { nodeId: string; clientId: string }>();
    let frontier: { nodeId: string; clientId: string }[] = [];
    const add = (nodeId: string, clientId: string) => {
      const key = recordKey(nodeId, clientId);
      if (keys.has(key)) return;
      keys.set(key, { nodeId, clientId });
      frontier.push({ nodeId, clientId });
    };
    for (const log of await this.#logs([topic.Subscribed, null, null, zeroPadValue(address, 32)], from, to)) {
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
      for (const log of await this.#logs([topic.ClientIdChanged, nodeIds, clientIds], from, to)) {
        const e = iface.parseLog(log);
        if (e === null || !wanted.has(recordKey(e.args.getValue("nodeId"), e.args.getValue("oldClientId")))) continue;
        if (getAddress(e.args.getValue("subscription").owner) === address) add(e.args.getValue("nodeId"), e.args.getValue("newClientId"));
      }
    }
    if (keys.size === 0) return 0n;
    const nowSeconds = await this.ctx.latestBlockTime();
    // Each key's current record (the owner's own keys, and keys it moved a record onto).
    const records = await Promise.all([...keys.values()].map(({ nodeId, clientId }) => this.getSubscription(nodeId, clientId)));
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
  async #renewalReserve(token: Contract, owner: string, spender: string): Promise<bigint> {
    const needed = await this.renewalAllowanceNeeded(owner);
    if (needed === 0n) return 0n;
    const current: bigint = await this.ctx.read("allowance", () => token.getFunction("allowance")(owner, spender));
    return current > needed ? current : needed;
  }

  /** What the payment token supports, from its bytecode (read once). */
  readonly tokenSupport: () => Promise<TokenSupport> = onceUnlessFailed(() =>
    this.tokenAddress().then((token) => this.ctx.read("token code", () => detectTokenSupport(this.ctx.provider, token))),
  );

  // -------------------------------------------------------------------------------------------
  // Buying
  // -------------------------------------------------------------------------------------------

  /**
   * Buy a subscription. Checks trust, price and balance before sending anything, then pays by
   * `approveAndCall` (one transaction) when the token has it, else by EIP-2612 permit (one
   * transaction), else approve + subscribe. Allowances are set to exactly the total, reset to
   * zero first when a stale one exists (MiniMe refuses non-zero to non-zero changes).
   */
  async subscribe(params: PurchaseParams): Promise<PurchaseResult> {
    return this.#purchase(Action.Subscribe, params);
  }

  /** Add months at the node's current price, at any time (owner only). No permit path on chain. */
  async extend(params: PurchaseParams): Promise<PurchaseResult> {
    return this.#purchase(Action.Extend, params);
  }

  async #purchase(action: Action, params: PurchaseParams): Promise<PurchaseResult> {
    const label = action === Action.Subscribe ? "subscribe" : "extend";
    const signer = this.ctx.signer(label);
    const payer = await this.ctx.signerAddress(label);
    const nodeId = normalizeNodeId(params.nodeId);
    const clientId = params.clientId === undefined ? payer : checkAddress(params.clientId, "clientId");
    const months = checkUint(params.months, "months");
    const escrow = await this.escrow();
    const escrowAddress = await this.escrowAddress();

    const quote = await this.quote(nodeId, months);
    if (!quote.trusted) {
      throw new MailserverSdkError("UNTRUSTED_NODE", `node ${nodeId} is not trusted by the registry`, { details: { nodeId } });
    }
    if (params.policy !== undefined) await this.#checkPolicy(params.policy, nodeId, quote.provider);
    const maxPrice = params.maxPricePerMonth === undefined ? quote.pricePerMonth : checkUint(params.maxPricePerMonth, "maxPricePerMonth");
    if (quote.pricePerMonth > maxPrice) {
      throw new MailserverSdkError("PRICE_ABOVE_MAXIMUM", `price ${quote.pricePerMonth} is above the maximum ${maxPrice}`, {
        details: { nodeId, pricePerMonth: quote.pricePerMonth, maxPricePerMonth: maxPrice },
      });
    }
    // Extensions: the current record, checked on chain (it goes back to the escrow as calldata).
    const record = await this.#checkSubscriptionState(action, nodeId, clientId, payer, params.subscription);
    const maxFee = params.maxCancellationFeeBps === undefined ? quote.cancellationFeeBps : checkUint(params.maxCancellationFeeBps, "maxCancellationFeeBps");
    if (action === Action.Subscribe && quote.cancellationFeeBps > maxFee) {
      throw new MailserverSdkError("CANCELLATION_FEE_ABOVE_MAXIMUM", `cancellation fee ${quote.cancellationFeeBps} bps is above the maximum ${maxFee}`, {
        details: { nodeId, provider: quote.provider, feeBps: quote.cancellationFeeBps, maxFeeBps: maxFee },
      });
    }
    const consent = action === Action.Subscribe ? await this.#consent(params, nodeId, clientId, payer, escrowAddress) : NO_CONSENT;
    // Checked here so that no approval is sent for a purchase that cannot happen.
    if (await this.paused()) {
      throw new MailserverSdkError("ENFORCED_PAUSE", "the escrow is paused: purchases and extensions are stopped", { details: { nodeId } });
    }

    const total = quote.total;
    const paid = (result: WriteResult, path: PurchaseResult["path"], approvals: string[]) =>
      this.#purchaseResult(action, escrowAddress, escrowEventsInterface(), result, path, approvals, { nodeId, clientId, total, pricePerMonth: quote.pricePerMonth });
    const send = () =>
      record === undefined
        ? escrow.subscribe(nodeId, clientId, months, maxPrice, maxFee, consent)
        : escrow.extend(nodeId, clientId, record, months, maxPrice);

    if (total === 0n) {
      const result = await sendAndWait(label, send);
      return paid(result, "free", []);
    }

    const balance = await this.balanceOf(payer);
    if (balance < total) {
      throw new MailserverSdkError("INSUFFICIENT_BALANCE", `balance ${balance} is below the total ${total}`, {
        details: { account: payer, balance, required: total },
      });
    }

    const token = (await this.token()).connect(signer) as Contract;
    // The allowance is shared by every opted-in renewal of this owner: keep what they need.
    const reserved = await this.#renewalReserve(token, payer, escrowAddress);
    // approveAndCall and permit set the allowance to the purchase's total, wiping the renewals'
    // share, so with renewals pending "auto" pays by approve (which keeps it in one approval).
    const path = await this.#choosePath(params.path ?? (reserved > 0n ? "approve" : "auto"), action);

    if (path === "approveAndCall") {
      const data =
        record === undefined
          ? encodeApprovalRequest({ action, nodeId, clientId, months, maxPricePerMonth: maxPrice, maxFeeBps: maxFee, consent })
          : encodeExtensionRequest({ nodeId, clientId, months, maxPricePerMonth: maxPrice, subscription: record });
      const tokenAddress = await this.tokenAddress();
      // Old MiniMe tokens drop the escrow's revert data: simulate the escrow's side first so that
      // a refused purchase fails here with its own error, before any gas is spent.
      await this.#simulateApproval(label, escrow, tokenAddress, payer, total, data);
      const approvals = await this.#resetAllowance(token, payer, escrowAddress, 0n);
      let result: WriteResult;
      try {
        result = await sendAndWait(label, () => token.getFunction("approveAndCall")(escrowAddress, total, data) as Promise<ContractTransactionResponse>);
      } catch (error) {
        if (reserved > 0n) await this.#resetAllowance(token, payer, escrowAddress, reserved).catch(() => undefined);
        // No revert data (the token lost it): find out what the escrow refused, if anything.
        if (findRevertData(error) === undefined || findRevertData(error) === "0x") {
          await this.#simulateApproval(label, escrow, tokenAddress, payer, total, data);
        }
        throw error;
      }
      approvals.push(...(await this.#resetAllowance(token, payer, escrowAddress, reserved)));
      return paid(result, path, approvals);
    }

    if (path === "permit") {
      const { v, r, s, deadline } = await this.#signPermit(signer, token, payer, escrowAddress, total);
      const result = await sendAndWait(label, () =>
        escrow.subscribeWithPermit(nodeId, clientId, months, maxPrice, maxFee, consent, { deadline, v, r, s }),
      );
      // The permit replaced the allowance: give the pending renewals theirs back.
      return paid(result, path, await this.#resetAllowance(token, payer, escrowAddress, reserved));
    }

    // One approval for the renewals' share plus this purchase; afterwards exactly the share is
    // left, also when the escrow pulled less (a price drop between the approval and the purchase).
    const approvals = await this.#resetAllowance(token, payer, escrowAddress, reserved + total);
    let result: WriteResult;
    try {
      result = await sendAndWait(label, send);
    } catch (error) {
      // Do not leave an allowance behind that the next purchase would trip over.
      if (approvals.length > 0) await this.#resetAllowance(token, payer, escrowAddress, reserved).catch(() => undefined);
      throw error;
    }
    approvals.push(...(await this.#resetAllowance(token, payer, escrowAddress, reserved)));
    return paid(result, path, approvals);
  }

  /** The consent for a new subscription: none when the payer is the client key. */
  async #consent(params: PurchaseParams, nodeId: NodeId, clientId: string, payer: string, escrow: string): Promise<ClientConsent> {
    if (clientId === payer) return NO_CONSENT;
    if (params.consent !== undefined) return params.consent;
    if (params.clientKey === undefined) {
      throw new MailserverSdkError("INVALID_CLIENT_CONSENT", "paying for another client key needs that key's consent: pass clientKey or consent", {
        details: { nodeId, clientId, owner: payer },
      });
    }
    return this.signConsent(params.clientKey, nodeId, payer, escrow);
  }

  /** Sign a client key's consent for `owner`, valid for an hour from the latest block. */
  async signConsent(clientKey: Signer, nodeId: string, owner: string, escrow?: string): Promise<ClientConsent> {
    const { chainId } = await this.ctx.info();
    const deadline = (await this.ctx.latestBlockTime()) + 3600n;
    return signClientConsent(clientKey, { escrow: escrow ?? (await this.escrowAddress()), chainId, nodeId, owner, deadline });
  }

  /**
   * Check an `approveAndCall` purchase (by `from`, the payer) against the escrow without sending
   * anything: throws the escrow's own error (e.g. PRICE_ABOVE_MAXIMUM, EXPIRY_TOO_FAR,
   * ENFORCED_PAUSE) when it would refuse. Old MiniMe tokens such as SNT drop that error from a
   * failed `approveAndCall`; `subscribe` and `extend` run this before sending and again after a
   * failure without revert data.
   */
  async simulateApproveAndCall(params: {
    action: "subscribe" | "extend";
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
  }): Promise<void> {
    const nodeId = normalizeNodeId(params.nodeId);
    const clientId = checkAddress(params.clientId, "clientId");
    const months = checkUint(params.months, "months");
    const maxPricePerMonth = checkUint(params.maxPricePerMonth, "maxPricePerMonth");
    const amount = params.amount ?? (await this.quote(nodeId, months)).total;
    let data: string;
    if (params.action === "subscribe") {
      data = encodeApprovalRequest({
        action: Action.Subscribe,
        nodeId,
        clientId,
        months,
        maxPricePerMonth,
        maxFeeBps: params.maxCancellationFeeBps === undefined ? 10_000n : checkUint(params.maxCancellationFeeBps, "maxCancellationFeeBps"),
        consent: params.consent ?? NO_CONSENT,
      });
    } else {
      // Not checked here: the simulation is what tells a stale record from a current one.
      const subscription = params.subscription ?? (await this.getSubscription(nodeId, clientId));
      if (subscription === undefined) throw new MailserverSdkError("NO_SUBSCRIPTION", "no subscription to extend", { details: { nodeId, clientId } });
      data = encodeExtensionRequest({ nodeId, clientId, months, maxPricePerMonth, subscription: toStoredSubscription(subscription) });
    }
    await this.#simulateApproval(params.action, await this.escrow(), await this.tokenAddress(), checkAddress(params.from, "from"), amount, data);
  }

  /**
   * Run the escrow's `receiveApproval` as the token would call it (an eth_call from the token's
   * address) and throw the escrow's own error if it refuses. Errors that only say the allowance
   * is not there yet mean every escrow check passed.
   */
  async #simulateApproval(label: string, escrow: ISubscriptionEscrow, token: string, from: string, amount: bigint, data: string): Promise<void> {
    const call = {
      to: await escrow.getAddress(),
      from: token,
      data: escrow.interface.encodeFunctionData("receiveApproval", [from, amount, token, data]),
    };
    try {
      await this.ctx.provider.call(call);
    } catch (error) {
      if (isTransientError(error)) throw toSdkError(error, label);
      const revert = findRevertData(error);
      const decoded = revert === undefined ? undefined : decodeContractError(revert);
      if (decoded !== undefined && TOKEN_SIDE_ERRORS.has(decoded.name)) return;
      if (decoded === undefined) return; // nothing better to say than the token's own failure
      throw toSdkError(error, label);
    }
  }

  async #checkPolicy(policy: TrustPolicy, nodeId: NodeId, provider: string): Promise<void> {
    const escrow = await this.escrow();
    const registryAddress = await this.ctx.read("registry", () => escrow.registry());
    const registry = IMailServerRegistry__factory.connect(registryAddress, this.ctx.runner);
    const defaultProvider = await this.ctx.read("defaultProvider", () => registry.defaultProvider());
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
  async #checkSubscriptionState(
    action: Action,
    nodeId: NodeId,
    clientId: string,
    payer: string,
    given: StoredSubscription | undefined,
  ): Promise<StoredSubscription | undefined> {
    if (action === Action.Subscribe) {
      // A key is taken while its stored expiry is ahead: the low 40 bits of the commitment.
      const [expiresAt] = await this.expiries([{ nodeId, clientId }]);
      if (expiresAt > (await this.ctx.latestBlockTime())) {
        throw new MailserverSdkError("SUBSCRIPTION_IS_ACTIVE", "an active subscription exists: extend it instead", {
          details: { nodeId, clientId, expiresAt },
        });
      }
      return undefined;
    }
    let stored: StoredSubscription;
    try {
      stored = await this.#currentRecord(nodeId, clientId, given);
    } catch (error) {
      if (isSdkError(error, "NO_SUBSCRIPTION")) {
        throw new MailserverSdkError("NO_SUBSCRIPTION", "no subscription to extend", { details: { nodeId, clientId } });
      }
      throw error;
    }
    if (stored.owner !== payer) {
      throw new MailserverSdkError("NOT_SUBSCRIPTION_OWNER", "only the owner can extend", {
        details: { nodeId, clientId, caller: payer, owner: stored.owner },
      });
    }
    return stored;
  }

  async #choosePath(requested: PaymentPath | "auto", action: Action): Promise<PaymentPath> {
    const support = await this.tokenSupport();
    // The escrow has no extend-with-permit: a permit purchase can only be a new subscription.
    const permitUsable = support.permit && action === Action.Subscribe;
    if (requested === "auto") return support.approveAndCall ? "approveAndCall" : permitUsable ? "permit" : "approve";
    const supported = requested === "approve" || (requested === "approveAndCall" ? support.approveAndCall : permitUsable);
    if (!supported) {
      throw new MailserverSdkError("INVALID_ARGUMENT", `payment path ${requested} is not available here`, {
        details: { path: requested, support, action: action === Action.Subscribe ? "subscribe" : "extend" },
      });
    }
    return requested;
  }

  /**
   * Bring the escrow's allowance to exactly `target`, going through zero when needed. Returns the
   * hashes of the approvals sent (none when it already is the target).
   */
  async #resetAllowance(token: Contract, owner: string, spender: string, target: bigint): Promise<string[]> {
    const current: bigint = await this.ctx.read("allowance", () => token.getFunction("allowance")(owner, spender));
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

  async #signPermit(signer: Signer, token: Contract, owner: string, spender: string, value: bigint) {
    const { chainId } = await this.ctx.info();
    const domain = await this.ctx.read("permit domain", () => readPermitDomain(token, chainId));
    if (domain === undefined) {
      throw new MailserverSdkError("INVALID_ARGUMENT", "the token's EIP-712 domain could not be established for a permit", {
        details: { token: await token.getAddress() },
      });
    }
    const nonce: bigint = await this.ctx.read("nonces", () => token.getFunction("nonces")(owner));
    const deadline = (await this.ctx.latestBlockTime()) + 3600n;
    let signature: string;
    try {
      signature = await signer.signTypedData(domain, PERMIT_TYPES, { owner, spender, value, nonce, deadline });
    } catch (error) {
      throw new MailserverSdkError("INVALID_ARGUMENT", "the signer could not sign the permit", { cause: error });
    }
    const { v, r, s } = Signature.from(signature);
    return { v, r, s, deadline };
  }

  #purchaseResult(
    action: Action,
    escrowAddress: string,
    iface: Interface,
    result: WriteResult,
    path: PurchaseResult["path"],
    approvals: string[],
    asked: { nodeId: NodeId; clientId: string; total: bigint; pricePerMonth: bigint },
  ): PurchaseResult {
    const [event] = eventsOf(result.receipt, escrowAddress, iface, action === Action.Subscribe ? "Subscribed" : "Extended");
    const subscription = this.#learn(result.receipt, escrowAddress, asked.nodeId, asked.clientId);
    if (event === undefined || subscription === undefined) {
      // A mined purchase always emits its event: its absence means the receipt is not the escrow's.
      throw new MailserverSdkError("CONTRACT_ERROR", `transaction ${result.hash} has no ${action === Action.Subscribe ? "Subscribed" : "Extended"} event of the escrow`, {
        details: { hash: result.hash, escrow: escrowAddress },
      });
    }
    // Subscribed's `paid` is the amount pulled; Extended names it.
    const amount: bigint = action === Action.Subscribe ? subscription.paid : event.args.getValue("amount");
    const price: bigint = event.args.getValue("pricePerMonth");
    return { ...result, path, amount, pricePerMonth: price, expiresAt: secondsToDate(subscription.expiresAt), expiresAtSeconds: subscription.expiresAt, approvals, subscription };
  }

  // -------------------------------------------------------------------------------------------
  // Managing
  // -------------------------------------------------------------------------------------------

  /**
   * Cancel and take back the unserved part minus the fee locked at purchase. Looks the record up
   * unless `subscription` is given (checked on chain first).
   */
  async cancel(nodeId: string, clientId: string, subscription?: StoredSubscription): Promise<WriteResult & { refund: bigint; fee: bigint }> {
    this.ctx.signer("cancel");
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const record = await this.#currentRecord(id, client, subscription);
    const escrow = await this.escrow();
    const escrowAddress = await this.escrowAddress();
    const result = await sendAndWait("cancel", () => escrow.cancel(id, client, record));
    this.#learn(result.receipt, escrowAddress, id, client);
    const [event] = eventsOf(result.receipt, escrowAddress, escrowEventsInterface(), "Cancelled");
    return { ...result, refund: event?.args.getValue("refund") ?? 0n, fee: event?.args.getValue("fee") ?? 0n };
  }

  /**
   * Move a subscription to another client key, with that key's consent (its `clientKey` signs
   * here, or pass a `consent` signed elsewhere; none is needed when the signer is the new key).
   * Looks the record up unless `subscription` is given. The record moves unchanged.
   */
  async setClientId(
    nodeId: string,
    clientId: string,
    newClientId: string,
    options: { clientKey?: Signer; consent?: ClientConsent; subscription?: StoredSubscription } = {},
  ): Promise<WriteResult & { subscription: StoredSubscription }> {
    this.ctx.signer("setClientId");
    const owner = await this.ctx.signerAddress("setClientId");
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const next = checkAddress(newClientId, "newClientId");
    const escrowAddress = await this.escrowAddress();
    const record = await this.#currentRecord(id, client, options.subscription);
    const consent = await this.#consent(options as PurchaseParams, id, next, owner, escrowAddress);
    const escrow = await this.escrow();
    const result = await sendAndWait("setClientId", () => escrow.setClientId(id, client, record, next, consent));
    this.#learn(result.receipt, escrowAddress, id, client);
    return { ...result, subscription: this.#learn(result.receipt, escrowAddress, id, next) ?? record };
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
  async setAutoRenew(
    nodeId: string,
    clientId: string,
    params: { months: bigint | number; maxPricePerMonth: bigint | number; approve?: boolean; cycles?: number; subscription?: StoredSubscription },
  ): Promise<WriteResult & { approvals: string[]; subscription: StoredSubscription }> {
    const signer = this.ctx.signer("setAutoRenew");
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const months = checkUint(params.months, "months");
    const maxPrice = checkUint(params.maxPricePerMonth, "maxPricePerMonth");
    const cycles = integerIn("cycles", params.cycles ?? DEFAULT_RENEWAL_CYCLES, 1, 120);
    const record = await this.#currentRecord(id, client, params.subscription);
    const escrow = await this.escrow();
    const escrowAddress = await this.escrowAddress();
    const result = await sendAndWait("setAutoRenew", () => escrow.setAutoRenew(id, client, record, months, maxPrice));
    const subscription = this.#learn(result.receipt, escrowAddress, id, client);
    if (subscription === undefined) {
      throw new MailserverSdkError("CONTRACT_ERROR", `transaction ${result.hash} has no AutoRenewSet event of the escrow`, { details: { hash: result.hash } });
    }
    let approvals: string[] = [];
    if (params.approve === true) {
      // What every opted-in renewal of the owner needs, this one included: one allowance serves all.
      const owner = await this.ctx.signerAddress("setAutoRenew");
      const token = (await this.token()).connect(signer) as Contract;
      approvals = await this.#resetAllowance(token, owner, escrowAddress, (await this.renewalAllowanceNeeded(owner)) * BigInt(cycles));
    }
    return { ...result, approvals, subscription };
  }

  /**
   * Renew an opted-in subscription (anyone may). Checks `renewalCheck` first so a blocked renewal
   * fails with its reason (e.g. INSUFFICIENT_ALLOWANCE) without spending gas. Looks the record up
   * unless `subscription` is given.
   */
  async renew(
    nodeId: string,
    clientId: string,
    subscription?: StoredSubscription,
  ): Promise<WriteResult & { expiresAt: Date; expiresAtSeconds: bigint; amount: bigint; subscription: StoredSubscription }> {
    this.ctx.signer("renew");
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const record = subscription ?? (await this.getSubscription(id, client));
    const check = await this.renewalCheck(id, client, record ?? EMPTY_SUBSCRIPTION);
    if (!check.renewable || record === undefined) {
      throw new MailserverSdkError(BLOCKER_CODES[check.reason], `renewal not possible: ${check.reason}`, {
        details: { nodeId: id, clientId: client, reason: check.reason },
      });
    }
    const escrow = await this.escrow();
    const escrowAddress = await this.escrowAddress();
    const result = await sendAndWait("renew", () => escrow.renew(id, client, record));
    const renewed = this.#learn(result.receipt, escrowAddress, id, client);
    const [event] = eventsOf(result.receipt, escrowAddress, escrowEventsInterface(), "Extended");
    if (renewed === undefined || event === undefined) {
      throw new MailserverSdkError("CONTRACT_ERROR", `transaction ${result.hash} has no Extended event of the escrow`, { details: { hash: result.hash } });
    }
    return { ...result, expiresAt: secondsToDate(renewed.expiresAt), expiresAtSeconds: renewed.expiresAt, amount: event.args.getValue("amount"), subscription: renewed };
  }

  // -------------------------------------------------------------------------------------------
  // Providers and curators (escrow/providerActions.ts)
  // -------------------------------------------------------------------------------------------

  /** Pay a node's released funds to its provider's payout address. */
  withdraw(nodeId: string): Promise<WriteResult & { amount: bigint; payout: string | undefined }> {
    return actions.withdraw(this.#access, nodeId);
  }

  /** Set the caller's cancellation fee for future purchases, in basis points (at most 10%). */
  setCancellationFee(feeBps: bigint | number): Promise<WriteResult> {
    return actions.setCancellationFee(this.#access, feeBps);
  }

  /** Release funds of subscriptions that ended on past days (anyone may). */
  processExpiries(nodeId: string, maxDays: bigint | number): Promise<WriteResult> {
    return actions.processExpiries(this.#access, nodeId, maxDays);
  }

  /** Stop purchases, extensions and renewals (registry curator only). */
  pause(): Promise<WriteResult> {
    return actions.pause(this.#access);
  }

  unpause(): Promise<WriteResult> {
    return actions.unpause(this.#access);
  }

  /** What the actions in escrow/ need of this client. */
  get #access(): EscrowAccess {
    return { ctx: this.ctx, escrow: this.escrow, escrowAddress: () => this.escrowAddress() };
  }
}

function toEarnings(e: { unreleased: bigint; earned: bigint; withdrawn: bigint; withdrawable: bigint }): Earnings {
  return { unreleased: e.unreleased, earned: e.earned, withdrawn: e.withdrawn, withdrawable: e.withdrawable };
}
