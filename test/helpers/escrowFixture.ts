// Shared set-up for the SubscriptionEscrow tests: a registry with two approved providers and
// three mail-server nodes (added with real node-key proofs from ./nodeKeys.ts), an escrow, and a payment token.
import type { NetworkConnection } from "hardhat/types/network";
import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { expect } from "chai";
import { Wallet, type BaseContract, type Contract } from "ethers";
import { deployMiniMe } from "./minime.js";
import { nodeIdOf, publicKeyOf, signNodeKeyProof } from "./nodeKeys.js";
import { commitmentOf, currentRecord, recordOrEmpty, type SubRecord } from "./subscriptionRecords.js";

export * from "./subscriptionRecords.js";

export const DAY = 86_400n;
export const MONTH = 30n * DAY;
export const MAX_MONTHS = 24n;
export const RENEWAL_WINDOW = 3n * DAY;
/**
 * 1e13 wei per second: prices below are whole multiples of MONTH, so the release math of a
 * purchase made at a UTC midnight (whose expiry needs no rounding) is exact to the wei.
 */
export const RATE = 10n ** 13n;
/** Scale of the escrow's release rates (`rate = paid * PRECISION / (expiresAt - start)`, floored). */
export const PRECISION = 2n ** 32n;
/** Node 1's monthly price (25.92 tokens). */
export const PRICE = RATE * MONTH;
/** Node 2's monthly price. */
export const PRICE2 = 2n * PRICE;
export const SUPPLY = 10n ** 24n;

export enum Blocker {
  None,
  NoSubscription,
  NotOptedIn,
  OutsideWindow,
  NodeNotTrusted,
  PriceAboveMaximum,
  InsufficientAllowance,
  InsufficientBalance,
  Paused,
}

export enum Action {
  Subscribe,
  Extend,
}

export type TokenKind = "minime" | "snt" | "permit" | "fee" | "reentrant" | "plain";

/** Test doubles compiled here; "minime" is the real MiniMe bytecode (./minime.ts). */
const TOKEN_CONTRACT: Record<Exclude<TokenKind, "minime">, string> = {
  snt: "SNTLikeToken",
  permit: "PermitToken",
  fee: "FeeOnTransferToken",
  reentrant: "ReentrantToken",
  plain: "TestToken",
};

export function kindId(ethers: HardhatEthers, name = "mailserver"): string {
  return ethers.id(name);
}

/** Register a node for `provider` with a valid node-key proof; returns its node id. */
export async function addNode(
  ethers: HardhatEthers,
  registry: BaseContract,
  provider: HardhatEthersSigner,
  label: string,
  price: bigint,
  kind = kindId(ethers)
): Promise<string> {
  const wallet = new Wallet(ethers.id(`node-key:${label}`));
  const nodeId = nodeIdOf(wallet);
  const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
  const { chainId } = await ethers.provider.getNetwork();
  const proof = await signNodeKeyProof(wallet, {
    registry: await registry.getAddress(),
    chainId,
    provider: provider.address,
    kind,
    deadline,
  });
  await (
    await registry.connect(provider).getFunction("addNode")(publicKeyOf(wallet), kind, `enr:-${label}`, price, deadline, proof)
  ).wait();
  return nodeId;
}

/** A client consent as the escrow takes it (empty signature: the payer is the client key). */
export interface Consent {
  deadline: bigint;
  signature: string;
}
export const NO_CONSENT: Consent = { deadline: 0n, signature: "0x" };
/** The largest cancellation fee a buyer can accept: tests that are not about the fee bound accept any. */
export const ANY_FEE = 10_000n;
/** Far enough that time travel in a test never outruns a consent. */
const CONSENT_DEADLINE = 2n ** 40n;

/** Client keys the tests hold, by address (lower case), to sign consents. */
const clientKeys = new Map<string, Wallet>();

/** A fresh client key whose consents the helpers below can sign. */
export function newClient(): Wallet {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  clientKeys.set(wallet.address.toLowerCase(), wallet);
  return wallet;
}

/** The client key of an address made by `newClient` (undefined for any other). */
export function clientKeyOf(address: string): Wallet | undefined {
  return clientKeys.get(address.toLowerCase());
}

/** The client key's consent to `owner` holding its subscription to `nodeId` on `escrow`. */
export async function consentFor(escrow: BaseContract, nodeId: string, clientId: string, owner: string): Promise<Consent> {
  if (clientId.toLowerCase() === owner.toLowerCase()) return NO_CONSENT;
  const key = clientKeyOf(clientId);
  if (key === undefined) return NO_CONSENT; // an unknown key: the escrow refuses, as it should
  const provider = escrow.runner?.provider;
  const { chainId } = await provider!.getNetwork();
  const signature = await key.signTypedData(
    { name: "SubscriptionEscrow", version: "1", chainId, verifyingContract: await escrow.getAddress() },
    { ClientConsent: [{ name: "nodeId", type: "bytes32" }, { name: "owner", type: "address" }, { name: "deadline", type: "uint256" }] },
    { nodeId, owner, deadline: CONSENT_DEADLINE }
  );
  return { deadline: CONSENT_DEADLINE, signature };
}

async function deploy(connection: NetworkConnection, kind: TokenKind) {
  const { ethers } = connection;
  const [admin, provider1, provider2, payout1, payout2, alice, bob, carol, stranger] = await ethers.getSigners();
  const registry = await ethers.deployContract("MailServerRegistry", [0, admin.address]);
  const token = kind === "minime" ? await deployMiniMe(admin) : await ethers.deployContract(TOKEN_CONTRACT[kind]);
  const deployed = await ethers.deployContract("SubscriptionEscrow", [
    await registry.getAddress(),
    await token.getAddress(),
  ]);
  // The admin's connection with the short call forms of `as` (views and management calls fill
  // in the current record), so `fx.escrow.status(node, client)` reads as it always did.
  const escrow = as(deployed, admin);
  const kindMail = kindId(ethers);
  await (await registry.setEscrow(await escrow.getAddress())).wait();
  await (await registry.setKindEnabled(kindMail, true)).wait();
  await (await registry.addProvider(provider1.address, "Provider One", "https://one.example", payout1.address)).wait();
  await (await registry.addProvider(provider2.address, "Provider Two", "https://two.example", payout2.address)).wait();
  const node1 = await addNode(ethers, registry, provider1, "node1", PRICE);
  const node2 = await addNode(ethers, registry, provider2, "node2", PRICE2);
  const free = await addNode(ethers, registry, provider1, "free", 0n);
  for (const s of [alice, bob, carol]) {
    if (kind === "snt" || kind === "minime") await (await token.getFunction("generateTokens")(s.address, SUPPLY)).wait();
    else await (await token.getFunction("mint")(s.address, SUPPLY)).wait();
  }
  const clientA = newClient().address;
  const clientB = newClient().address;
  const clientC = newClient().address;
  return {
    ...connection,
    registry,
    token,
    escrow,
    escrowAddress: await escrow.getAddress(),
    tokenAddress: await token.getAddress(),
    kindMail,
    node1,
    node2,
    free,
    admin,
    provider1,
    provider2,
    payout1,
    payout2,
    alice,
    bob,
    carol,
    stranger,
    clientA,
    clientB,
    clientC,
  };
}

export type Fx = Awaited<ReturnType<typeof deploy>>;

/** The real MiniMe token (SNT's family), from the npm package's bytecode. */
export async function miniMeFixture(c: NetworkConnection) {
  return deploy(c, "minime");
}
export async function sntFixture(c: NetworkConnection) {
  return deploy(c, "snt");
}
export async function permitFixture(c: NetworkConnection) {
  return deploy(c, "permit");
}
export async function feeFixture(c: NetworkConnection) {
  return deploy(c, "fee");
}
export async function reentrantFixture(c: NetworkConnection) {
  return deploy(c, "reentrant");
}
export async function plainFixture(c: NetworkConnection) {
  return deploy(c, "plain");
}

/** Set `spender`'s allowance to exactly `amount` (resetting to 0 first, as MiniMe requires). */
export async function setAllowance(fx: Fx, owner: HardhatEthersSigner, amount: bigint, spender = fx.escrowAddress) {
  const current: bigint = await fx.token.allowance(owner.address, spender);
  if (current === amount) return;
  if (current !== 0n) await (await fx.token.connect(owner).getFunction("approve")(spender, 0n)).wait();
  if (amount !== 0n) await (await fx.token.connect(owner).getFunction("approve")(spender, amount)).wait();
}

/** Approve exactly and subscribe; returns the block timestamp of the purchase. */
export async function buy(
  fx: Fx,
  payer: HardhatEthersSigner,
  nodeId: string,
  clientId: string,
  months: bigint,
  price: bigint,
  at?: bigint
): Promise<bigint> {
  await setAllowance(fx, payer, price * months);
  if (at !== undefined) await fx.networkHelpers.time.setNextBlockTimestamp(at);
  const consent = await consentFor(fx.escrow, nodeId, clientId, payer.address);
  const tx = await fx.escrow.connect(payer).getFunction("subscribe")(nodeId, clientId, months, price, ANY_FEE, consent);
  return txTime(fx, tx);
}

export async function txTime(fx: { ethers: HardhatEthers }, tx: { wait(): Promise<unknown> }): Promise<bigint> {
  const receipt = (await tx.wait()) as { blockNumber: number };
  return BigInt((await fx.ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
}

export async function now(fx: { ethers: HardhatEthers }): Promise<bigint> {
  return BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp);
}

/** Midday (12:00 UTC) of a day at least one full day after the latest block. */
export async function middayAhead(fx: { ethers: HardhatEthers }, days = 2n): Promise<bigint> {
  const t = await now(fx);
  return t - (t % DAY) + days * DAY + DAY / 2n;
}

export function dayStart(t: bigint): bigint {
  return t - (t % DAY);
}

/** Midnight (00:00 UTC) `days` days after the start of the latest block's day (at least a day ahead). */
export async function midnightAhead(fx: { ethers: HardhatEthers }, days = 2n): Promise<bigint> {
  return dayStart(await now(fx)) + days * DAY;
}

/** The next UTC midnight at or after `t`: every expiry falls on one. */
export function endOfDay(t: bigint): bigint {
  return ((t + DAY - 1n) / DAY) * DAY;
}

/** Expiry of `months` bought (or, once lapsed, extended) at `t`: rounded up to a midnight. */
export function expiryOf(t: bigint, months: bigint): bigint {
  return endOfDay(t + months * MONTH);
}

/**
 * What one subscription's segment (`paid` spread over [start, end]) still holds at `t`: its
 * refundable part before the fee, rounded down as the escrow rounds it (the rate is floored,
 * then the product). Never more than the exact `paid * (end - t) / (end - start)`, and less
 * than it by under 1 + (end - t) / 2^32 wei.
 */
export function unservedAt(paid: bigint, start: bigint, end: bigint, t: bigint): bigint {
  if (t >= end) return 0n;
  const rate = (paid * PRECISION) / (end - start);
  const unserved = (rate * (end - t)) / PRECISION;
  return unserved < paid ? unserved : paid;
}

/** The exact pro-rata unserved part, rounded down (no rate flooring). */
export function exactUnserved(paid: bigint, start: bigint, end: bigint, t: bigint): bigint {
  return t >= end ? 0n : (paid * (end - t)) / (end - start);
}

export function approvalData(
  ethers: HardhatEthers,
  action: Action,
  nodeId: string,
  clientId: string,
  months: bigint,
  maxPrice: bigint,
  consent: Consent = NO_CONSENT,
  maxFeeBps: bigint = ANY_FEE
): string {
  return ethers.AbiCoder.defaultAbiCoder().encode(
    [
      "tuple(uint8 action, bytes32 nodeId, address clientId, uint256 months, uint256 maxPricePerMonth, uint256 maxFeeBps, tuple(uint256 deadline, bytes signature) consent)",
    ],
    [{ action, nodeId, clientId, months, maxPricePerMonth: maxPrice, maxFeeBps, consent }]
  );
}

/**
 * The `data` of an approveAndCall extension: `abi.encode(ExtensionRequest)`, a static struct of
 * 12 words (action, node, client, months, maximum price, the 7 words of the current record).
 * `action` is Extend unless a test wants a wrong one.
 */
export function extensionData(
  ethers: HardhatEthers,
  nodeId: string,
  clientId: string,
  months: bigint,
  maxPrice: bigint,
  subscription: SubRecord,
  action: number = Action.Extend
): string {
  return ethers.AbiCoder.defaultAbiCoder().encode(
    [
      "tuple(uint8 action, bytes32 nodeId, address clientId, uint256 months, uint256 maxPricePerMonth, tuple(address owner, uint40 start, uint40 expiresAt, uint16 cancellationFeeBps, uint96 paid, uint8 renewMonths, uint96 renewMaxPricePerMonth) subscription)",
    ],
    [{ action, nodeId, clientId, months, maxPricePerMonth: maxPrice, subscription }]
  );
}

/** Name of the custom error a reverting call raised (decoded with `contract`'s ABI). */
export async function revertName(call: () => Promise<unknown>, contract: BaseContract): Promise<string> {
  try {
    await call();
  } catch (e: unknown) {
    const err = e as { revert?: { name: string }; data?: string };
    if (err.revert?.name) return err.revert.name;
    if (typeof err.data === "string" && err.data.length >= 10) {
      const parsed = contract.interface.parseError(err.data);
      if (parsed) return parsed.name;
      return err.data.slice(0, 10);
    }
    return `unknown: ${String(e).slice(0, 200)}`;
  }
  return "no revert";
}

/** Assert a call reverts with one of several acceptable custom errors. */
export async function expectRevertOneOf(call: () => Promise<unknown>, contract: BaseContract, names: string[]) {
  const name = await revertName(call, contract);
  expect(names, `reverted with ${name}`).to.include(name);
}

/** Everything a failing call must leave untouched. */
export async function snapshotState(fx: Fx, keys: [string, string][]) {
  const accounts = [fx.alice, fx.bob, fx.carol, fx.payout1, fx.payout2].map((s) => s.address);
  const balances: bigint[] = [];
  for (const a of [...accounts, fx.escrowAddress]) balances.push(await fx.token.balanceOf(a));
  // The commitment is everything stored for a subscription; the record must match it too.
  const subs: string[] = [];
  for (const [n, c] of keys) {
    const stored: bigint = await fx.escrow.subscriptionCommitment(n, c);
    const record = await currentRecord(fx.escrow, n, c);
    subs.push(`${stored}:${record === undefined ? "none" : commitmentOf(record)}`);
  }
  const allowances: bigint[] = [];
  for (const a of accounts) allowances.push(await fx.token.allowance(a, fx.escrowAddress));
  return { balances, subs, allowances };
}

const OVERRIDE_KEYS = ["blockTag", "from", "gasLimit", "gasPrice", "maxFeePerGas", "nonce", "value"];

/** A trailing ethers overrides object (`{ blockTag: "pending" }`), told apart from a record or a consent. */
function isOverrides(arg: unknown): boolean {
  if (typeof arg !== "object" || arg === null || Array.isArray(arg)) return false;
  const keys = Object.keys(arg);
  return keys.some((k) => OVERRIDE_KEYS.includes(k)) && !keys.includes("owner") && !keys.includes("signature");
}

/**
 * A contract method whose arguments `complete` fills in (a trailing overrides object is kept
 * aside), with the method's `staticCall` & co.
 */
function completing(target: Contract, name: string, complete: (args: unknown[]) => Promise<unknown[]>) {
  const fn = target.getFunction(name);
  const full = async (args: unknown[]) => {
    const overrides = args.length > 0 && isOverrides(args[args.length - 1]) ? [args[args.length - 1]] : [];
    return [...(await complete(args.slice(0, args.length - overrides.length))), ...overrides];
  };
  const call = async (...args: unknown[]) => fn(...(await full(args)));
  return Object.assign(call, {
    staticCall: async (...args: unknown[]) => fn.staticCall(...(await full(args))),
    send: async (...args: unknown[]) => fn.send(...(await full(args))),
    estimateGas: async (...args: unknown[]) => fn.estimateGas(...(await full(args))),
    populateTransaction: async (...args: unknown[]) => fn.populateTransaction(...(await full(args))),
  });
}

/**
 * Escrow calls that take the subscription's current record after (nodeId, clientId), with the
 * number of arguments of their short form (without the record).
 */
const RECORD_CALLS: Record<string, number> = {
  extend: 4,
  cancel: 2,
  setAutoRenew: 4,
  renew: 2,
  status: 2,
  renewalCheck: 2,
};

/**
 * `contract.connect(signer)` keeping the untyped method index of `Contract`. For the escrow,
 * the short call forms of tests that are not about consent, the fee bound or the record:
 * - `subscribe(node, client, months, maxPrice)` and `subscribeWithPermit(node, client, months,
 *   maxPrice, deadline, v, r, s)` sign the client key's consent (for keys made by `newClient`)
 *   and accept any fee;
 * - `extend(node, client, months, maxPrice)`, `cancel(node, client)`, `setAutoRenew(node,
 *   client, months, max)`, `renew(node, client)`, `status(node, client)`, `renewalCheck(node,
 *   client)` insert the current record (read from the events and checked against the stored
 *   commitment; EMPTY_SUBSCRIPTION when nothing is stored);
 * - `setClientId(node, client, newClient[, consent])` inserts the record and, when missing, the
 *   new key's consent; `setClientId(node, client, record, newClient)` only the consent.
 * Full argument lists go through unchanged.
 */
export function as(contract: BaseContract, signer: HardhatEthersSigner): Contract {
  const connected = contract.connect(signer) as unknown as Contract;
  if (connected.interface.getFunction("clientConsentDigest") === null) return connected;
  const withRecord = (target: Contract, shortLength: number) => async (args: unknown[]) => {
    if (args.length !== shortLength) return args;
    const [nodeId, clientId, ...rest] = args as [string, string, ...unknown[]];
    return [nodeId, clientId, await recordOrEmpty(target, nodeId, clientId), ...rest];
  };
  return new Proxy(connected, {
    get(target, prop, receiver) {
      if (typeof prop === "string" && Object.hasOwn(RECORD_CALLS, prop)) {
        return completing(target, prop, withRecord(target, RECORD_CALLS[prop]));
      }
      if (prop === "subscribe") {
        return completing(target, "subscribe", async (args) => {
          if (args.length !== 4) return args;
          const [nodeId, clientId] = args as [string, string];
          return [...args, ANY_FEE, await consentFor(target, nodeId, clientId, signer.address)];
        });
      }
      if (prop === "setClientId") {
        return completing(target, "setClientId", async (args) => {
          if (args.length === 5) return args;
          const [nodeId, clientId, third, ...rest] = args as [string, string, unknown, ...unknown[]];
          // A string third argument is the new client id: the record is missing.
          const full =
            typeof third === "string" ? [nodeId, clientId, await recordOrEmpty(target, nodeId, clientId), third, ...rest] : args;
          if (full.length === 4) full.push(await consentFor(target, nodeId, full[3] as string, signer.address));
          return full;
        });
      }
      if (prop === "subscribeWithPermit") {
        return completing(target, "subscribeWithPermit", async (args) => {
          if (args.length !== 8) return args;
          const [nodeId, clientId, months, maxPrice, deadline, v, r, s] = args as [string, string, bigint, bigint, bigint, number, string, string];
          const consent = await consentFor(target, nodeId, clientId, signer.address);
          return [nodeId, clientId, months, maxPrice, ANY_FEE, consent, { deadline, v, r, s }];
        });
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}
