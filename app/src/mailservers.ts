// Every call the page makes into the SDK, in one module: listing and judging servers, quotes,
// the user's subscriptions, and the writes (buy, extend, cancel, auto-renew). When the SDK's
// purchase parameters change, this is the file to adapt.
import {
  AbstractSigner,
  BrowserProvider,
  JsonRpcProvider,
  type Eip1193Provider,
  type Provider,
  type Signer,
  type TransactionRequest,
  type TransactionResponse,
  type TypedDataDomain,
  type TypedDataField,
} from "ethers";
import {
  RegistryClient,
  SubscriptionClient,
  TrustPolicy,
  endpointOf,
  verifyNodes,
  type NodeQuality,
  type NodeVerdict,
  type OfferVerdict,
  type Quote,
  type RankPolicy,
  type Ranking,
  type RenewalCheck,
  type StoredSubscription,
  type UntrustReason,
} from "@status/mailserver-sdk";
import type { AppConfig } from "./config.js";
import type { Offers, Quality } from "./quality.js";

/** Read-only clients over the configured RPC endpoint (no wallet needed to browse). */
export interface Reads {
  registry: RegistryClient;
  subscriptions: SubscriptionClient;
}

export function connectReads(config: AppConfig): Reads {
  const provider = new JsonRpcProvider(config.rpcUrl, config.chainId, { staticNetwork: true });
  const options = { runner: provider, chainId: config.chainId, addresses: config.addresses };
  return { registry: new RegistryClient(options), subscriptions: new SubscriptionClient(options) };
}

export interface Server {
  nodeId: string;
  provider: string;
  providerName: string;
  isDefaultProvider: boolean;
  pricePerMonth: bigint;
  verdict: NodeVerdict;
  reasons: UntrustReason[];
  /** Where it listens, from its registered record (e.g. "127.0.0.1:30401"). */
  endpoint: string;
  /** Removed from the registry: not offered, but its subscribers can still take their refund. */
  removed: boolean;
  /** Its signed offer checked against the registry (absent: no offer URL configured or it did not answer). */
  offer?: OfferVerdict;
  /** Why its configured offer URL gave nothing. */
  offerUnreadable?: string;
  /** The trusted probes' summary (null: not measured); absent without report URLs. */
  quality?: NodeQuality | null;
  /** Its place and why, when offers or probes are configured. */
  ranking?: Ranking;
}

/** What ranks servers beyond the registry (see quality.ts). */
export interface RankInputs {
  offers?: Offers;
  quality?: Quality;
  rank?: RankPolicy;
}

/** The registry's mail server ids (the offers are read for these). */
export function serverIds(reads: Reads): Promise<string[]> {
  return reads.registry.allNodesByKind("mailserver");
}

/**
 * The registry's mail servers (removed ones included, flagged) with the user's verdict on each: one `getNodeTrust` batch for the
 * lot (through `verifyNodes`) plus one read per provider for its name. With offers or probe
 * reports, in rank order (`verifyNodes` ranks them, each with its reasons); without, default
 * provider first, then trusted ones, then by price.
 */
export async function listServers(reads: Reads, policy: TrustPolicy, ids: readonly string[], inputs: RankInputs = {}): Promise<Server[]> {
  const ranked = inputs.offers !== undefined || inputs.quality !== undefined;
  const options = {
    policy,
    kind: "mailserver",
    ...(inputs.offers !== undefined ? { offers: inputs.offers.signed } : {}),
    ...(inputs.quality !== undefined ? { quality: inputs.quality.byNode } : {}),
    ...(ranked && inputs.rank !== undefined ? { rank: inputs.rank } : {}),
  };
  const [defaultProvider, verdicts] = await Promise.all([reads.registry.defaultProvider(), verifyNodes(reads.registry, ids, options)]);
  const listed = verdicts.filter((v) => v.nodeId !== undefined && v.provider !== undefined);
  const providers = [...new Set(listed.map((v) => v.provider!))];
  const infos = await Promise.all(providers.map((p) => reads.registry.getProvider(p)));
  const names = new Map(providers.map((p, i) => [p, infos[i]?.name || p]));
  const servers = listed.map((v): Server => {
    const endpoint = v.record === undefined ? undefined : endpointOf(v.record);
    return {
      nodeId: v.nodeId!,
      provider: v.provider!,
      providerName: names.get(v.provider!)!,
      isDefaultProvider: v.provider === defaultProvider,
      pricePerMonth: v.pricePerMonth ?? 0n,
      verdict: v.status,
      reasons: v.reasons,
      endpoint: endpoint === undefined ? "unknown endpoint" : `${endpoint.ip4 ?? endpoint.ip6 ?? endpoint.dns ?? "?"}${endpoint.tcp === undefined ? "" : `:${endpoint.tcp}`}`,
      removed: v.reasons.includes("removed"),
      ...(v.offer !== undefined ? { offer: v.offer } : {}),
      ...(inputs.offers?.unreadable.has(v.nodeId!) ? { offerUnreadable: inputs.offers.unreadable.get(v.nodeId!)! } : {}),
      ...(v.quality !== undefined ? { quality: v.quality } : {}),
      ...(v.ranking !== undefined ? { ranking: v.ranking } : {}),
    };
  });
  if (ranked) return servers; // verifyNodes' order: best first
  const rank = (s: Server) => (s.isDefaultProvider ? 0 : s.verdict === "trusted" ? 1 : 2);
  return servers.sort((a, b) => rank(a) - rank(b) || (a.pricePerMonth < b.pricePerMonth ? -1 : a.pricePerMonth > b.pricePerMonth ? 1 : 0));
}

/** Why a server is (not) trusted, in a sentence. */
export function verdictReason(server: Server): string {
  if (server.verdict === "trusted") {
    return server.isDefaultProvider
      ? `Registered and approved; run by ${server.providerName}, the default provider.`
      : `Registered and approved; run by ${server.providerName}, a provider you trust.`;
  }
  if (server.verdict === "custom") return "Added by you by hand.";
  const why: Record<UntrustReason, string> = {
    "not-registered": "not in the registry",
    inactive: "switched off by its provider",
    removed: "removed from the registry",
    "kind-disabled": "mail servers are disabled in the registry",
    "provider-not-approved": `${server.providerName} is not approved (pending or suspended)`,
    "provider-not-trusted": `${server.providerName} is approved by the registry, but not a provider you trust`,
    "wrong-kind": "registered as another kind of server",
    "invalid-enr": "its record does not decode",
  };
  return `Not trusted: ${server.reasons.map((r) => why[r]).join("; ")}.`;
}

export interface QuoteView extends Quote {
  balance: bigint | undefined;
  /** Signatures the purchase takes with this token (SNT: one, through approveAndCall). */
  signatures: number;
  path: "approveAndCall" | "permit" | "approve";
}

/** The price of `months` bought now, the buyer's balance and how many signatures paying takes. */
export async function quote(reads: Reads, nodeId: string, months: number, account: string | undefined): Promise<QuoteView> {
  const [q, support, balance, allowance] = await Promise.all([
    reads.subscriptions.quote(nodeId, months),
    reads.subscriptions.tokenSupport(),
    account === undefined ? undefined : reads.subscriptions.balanceOf(account),
    account === undefined ? undefined : reads.subscriptions.allowance(account),
  ]);
  const path = support.approveAndCall ? "approveAndCall" : support.permit ? "permit" : "approve";
  // A stale allowance costs one more signature (MiniMe refuses non-zero to non-zero approvals).
  const stale = allowance !== undefined && allowance !== 0n ? 1 : 0;
  // A permit is a signed message plus the transaction: two prompts in the wallet, one transaction.
  const signatures = path === "approve" ? 2 + stale : path === "approveAndCall" ? 1 + stale : 2;
  return { ...q, balance, signatures, path };
}

export interface MySubscription {
  server: Server;
  active: boolean;
  expiresAt: Date;
  monthsLeft: bigint;
  refundableNow: bigint;
  fee: bigint;
  autoRenewMonths: bigint;
  autoRenewMaxPrice: bigint;
  renewal: RenewalCheck;
  /** The record the escrow holds a commitment to: the writes pass it back. */
  record: StoredSubscription;
}

/** The account's subscriptions (client key = the account) on the listed servers: one batched expiry read, then details for those it has. */
export async function mySubscriptions(reads: Reads, account: string, servers: readonly Server[]): Promise<MySubscription[]> {
  const expiries = await reads.subscriptions.expiries(servers.map((s) => ({ nodeId: s.nodeId, clientId: account })));
  const held = servers.filter((_, i) => expiries[i] !== 0n);
  const found = await Promise.all(
    held.map(async (server) => {
      // One record lookup (the escrow's events), then both views read with it.
      const stored = await reads.subscriptions.getSubscription(server.nodeId, account);
      if (stored === undefined) return undefined; // cancelled since the expiry read
      const [state, renewal] = await Promise.all([
        reads.subscriptions.status(server.nodeId, account, stored),
        reads.subscriptions.renewalCheck(server.nodeId, account, stored),
      ]);
      return {
        server,
        active: state.active,
        expiresAt: state.expiresAt,
        monthsLeft: state.monthsLeft,
        refundableNow: state.refundableNow,
        fee: state.fee,
        autoRenewMonths: stored.renewMonths,
        autoRenewMaxPrice: stored.renewMaxPricePerMonth,
        renewal,
        record: stored,
      };
    }),
  );
  return found.filter((sub) => sub !== undefined);
}

// ---------------------------------------------------------------------------------------------
// Writes, signed in the user's wallet
// ---------------------------------------------------------------------------------------------

/** Passes everything to the wallet's signer, and reports each transaction hash once the wallet has sent it. */
class ReportingSigner extends AbstractSigner {
  constructor(
    private readonly inner: Signer,
    private readonly onSent: (hash: string) => void,
  ) {
    super(inner.provider);
  }
  override connect(provider: Provider | null): Signer {
    return new ReportingSigner(this.inner.connect(provider), this.onSent);
  }
  override getAddress(): Promise<string> {
    return this.inner.getAddress();
  }
  override signTransaction(tx: TransactionRequest): Promise<string> {
    return this.inner.signTransaction(tx);
  }
  override signMessage(message: string | Uint8Array): Promise<string> {
    return this.inner.signMessage(message);
  }
  override signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string> {
    return this.inner.signTypedData(domain, types, value);
  }
  override async sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    const response = await this.inner.sendTransaction(tx);
    this.onSent(response.hash);
    return response;
  }
}

/** The subscription client over the wallet, reporting sent transactions to `onSent`. */
async function writer(wallet: Eip1193Provider, config: AppConfig, account: string, onSent: (hash: string) => void): Promise<SubscriptionClient> {
  const provider = new BrowserProvider(wallet, "any");
  // Receipts on a local chain come at once; a public chain is polled every second.
  provider.pollingInterval = 1000;
  const signer = new ReportingSigner(await provider.getSigner(account), onSent);
  return new SubscriptionClient({ runner: signer, chainId: config.chainId, addresses: config.addresses });
}

export interface WriteContext {
  wallet: Eip1193Provider;
  config: AppConfig;
  account: string;
  onSent: (hash: string) => void;
}

/**
 * Buys `months` at no more than the quoted monthly price and cancellation fee (a raise of either
 * since the quote fails before anything is sent, and the escrow refuses it too).
 */
export async function buy(ctx: WriteContext, nodeId: string, months: number, quoted: Quote, policy: TrustPolicy) {
  const subs = await writer(ctx.wallet, ctx.config, ctx.account, ctx.onSent);
  return subs.subscribe({ nodeId, months, maxPricePerMonth: quoted.pricePerMonth, maxCancellationFeeBps: quoted.cancellationFeeBps, policy });
}

// The writes below take the record shown on the page: if the subscription changed meanwhile
// (another tab, a renewal), the SDK refuses with SUBSCRIPTION_RECORD_MISMATCH before sending.
export async function extend(ctx: WriteContext, nodeId: string, months: number, quoted: Quote, subscription?: StoredSubscription) {
  const subs = await writer(ctx.wallet, ctx.config, ctx.account, ctx.onSent);
  return subs.extend({ nodeId, months, maxPricePerMonth: quoted.pricePerMonth, subscription });
}

export async function cancel(ctx: WriteContext, nodeId: string, subscription?: StoredSubscription) {
  const subs = await writer(ctx.wallet, ctx.config, ctx.account, ctx.onSent);
  return subs.cancel(nodeId, ctx.account, subscription);
}

/**
 * On: renew one month at a time at no more than today's price, approving a year of such renewals
 * (the SDK's default cycles). Off: opt out and clear the allowance.
 */
export async function setAutoRenew(ctx: WriteContext, nodeId: string, on: boolean, pricePerMonth: bigint, subscription?: StoredSubscription) {
  const subs = await writer(ctx.wallet, ctx.config, ctx.account, ctx.onSent);
  const terms = on ? { months: 1, maxPricePerMonth: pricePerMonth } : { months: 0, maxPricePerMonth: 0 };
  return subs.setAutoRenew(nodeId, ctx.account, { ...terms, approve: true, subscription });
}
