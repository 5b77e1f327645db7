// SubscriptionClient against the real deployment: the three payment paths, the checks made before
// sending, managing a subscription, renewal, earnings and pause.
import { expect } from "chai";
import { Wallet, type Contract } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import {
  CuratorClient,
  ProviderClient,
  SubscriptionClient,
  TrustPolicy,
  nodeIdFromPrivateKey,
  type ClientOptions,
} from "@status/mailserver-sdk";
import { deployLocal, type LocalDeployment } from "../../deploy/local.js";
import { clientKeyOf as keyOf, newClient } from "../helpers/escrowFixture.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

type HardhatSigner = Awaited<ReturnType<NetworkConnection["ethers"]["getSigners"]>>[number];

const UNIT = 10n ** 18n;
const PRICE = 10n * UNIT;
const MONTH = 30n * 24n * 3600n;
/** The escrow's months-left rule: a month counts once more than a day of it is left. */
const monthsLeft = (remaining: bigint) => (remaining <= 86_400n ? 1n : (remaining - 86_400n + MONTH - 1n) / MONTH);
const DAY = 24n * 3600n;


const randomClient = () => newClientAddress();
// Client keys the tests hold (escrowFixture's), so a payer can pass the key's consent.
const newClientAddress = () => newClient().address;
const freshClient = () => {
  const clientId = newClientAddress();
  return { clientId, clientKey: keyOf(clientId) };
};

/** The escrow rounds expiries up to the end of a UTC day. */
const endOfDay = (t: bigint) => ((t + DAY - 1n) / DAY) * DAY;

describe("SDK subscriptions", function () {
  let connection: NetworkConnection;
  let deployment: LocalDeployment;
  let deployer: HardhatSigner;
  let alice: HardhatSigner;
  let bob: HardhatSigner;
  let provider2: HardhatSigner;
  let poor: HardhatSigner;
  let snt: Contract;
  let node: string; // default provider's node, PRICE
  let freeNode: string;
  let otherNode: string; // provider2's node
  let inactiveNode: string;

  const options = (runner: ClientOptions["runner"], addresses: ClientOptions["addresses"] = {}): ClientOptions => ({
    runner,
    chainId: deployment.chainId,
    addresses: { registry: deployment.addresses.registry, escrow: deployment.addresses.escrow, ...addresses },
  });
  const now = async () => BigInt(await connection.networkHelpers.time.latest());

  before(async () => {
    connection = await network.create();
    deployment = await deployLocal(connection);
    [deployer, alice, bob, provider2, poor] = (await connection.ethers.getSigners()) as HardhatSigner[] as [HardhatSigner, HardhatSigner, HardhatSigner, HardhatSigner, HardhatSigner];
    snt = (await connection.ethers.getContractAt("SNTLikeToken", deployment.addresses.token)) as unknown as Contract;
    for (const account of [alice, bob]) await snt.getFunction("generateTokens")(account.address, 1000n * UNIT);

    const p1 = new ProviderClient(options(deployer));
    node = (await p1.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.2.0.1/tcp/30303", pricePerMonth: PRICE })).nodeId;
    freeNode = (await p1.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.2.0.2/tcp/30303", pricePerMonth: 0 })).nodeId;
    inactiveNode = (await p1.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.2.0.3/tcp/30303", pricePerMonth: PRICE })).nodeId;
    await p1.setNodeActive(inactiveNode, false);
    await new CuratorClient(options(deployer)).addProvider({ provider: provider2.address, name: "Two" });
    otherNode = (await new ProviderClient(options(provider2)).addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.2.0.4/tcp/1", pricePerMonth: PRICE })).nodeId;
  });

  it("quotes, detects the token's payment paths and reads balances", async () => {
    const client = new SubscriptionClient(options(connection.ethers.provider));
    const quote = await client.quote(node, 3);
    const t = await now();
    expect(quote).to.deep.include({ nodeId: node, trusted: true, provider: deployer.address, pricePerMonth: PRICE, months: 3n, total: 3n * PRICE, cancellationFeeBps: 0n });
    expect(quote.expiresAtSeconds).to.equal(endOfDay(t + 3n * MONTH));
    expect(quote.expiresAt.getTime()).to.equal(Number(quote.expiresAtSeconds) * 1000);
    expect(await client.tokenAddress()).to.equal(deployment.addresses.token);
    expect(await client.tokenSupport()).to.deep.equal({ approveAndCall: true, permit: false });
    expect(await client.balanceOf(alice.address)).to.equal(1000n * UNIT);
    expect(await client.allowance(alice.address)).to.equal(0n);
    expect(await client.paused()).to.equal(false);
  });

  describe("SNT-like token (approveAndCall)", () => {
    it("subscribes and extends in one transaction each, leaving no allowance", async () => {
      const client = new SubscriptionClient(options(alice));
      const clientId = randomClient();
      const nonce = await alice.getNonce();
      const bought = await client.subscribe({ nodeId: node, clientId, clientKey: keyOf(clientId), months: 2 });
      expect(bought).to.deep.include({ path: "approveAndCall", amount: 2n * PRICE, pricePerMonth: PRICE });
      expect(bought.approvals).to.deep.equal([]);
      expect(await alice.getNonce()).to.equal(nonce + 1);
      const t = await now();
      const expiry = endOfDay(t + 2n * MONTH);
      expect(bought.expiresAtSeconds).to.equal(expiry);
      expect(bought.expiresAt.getTime()).to.equal(Number(expiry) * 1000);
      expect(await client.balanceOf(alice.address)).to.equal(1000n * UNIT - 2n * PRICE);
      expect(await client.allowance(alice.address)).to.equal(0n);

      const state = await client.status(node, clientId);
      expect(state).to.deep.include({ active: true, owner: alice.address, expiresAtSeconds: expiry, monthsLeft: monthsLeft(expiry - t), fee: 0n });
      expect(state.refundableNow).to.be.closeTo(2n * PRICE, PRICE / 1000n);

      const extended = await client.extend({ nodeId: node, clientId, months: 1 });
      expect(extended).to.deep.include({ path: "approveAndCall", amount: PRICE, expiresAtSeconds: expiry + MONTH });
      expect(await client.allowance(alice.address)).to.equal(0n);
      expect((await client.getSubscription(node, clientId))?.owner).to.equal(alice.address);
      expect(await client.expiries([{ nodeId: node, clientId }, { nodeId: node, clientId: randomClient() }])).to.deep.equal([expiry + MONTH, 0n]);
    });

    it("resets a stale non-zero allowance first (MiniMe approve rule)", async () => {
      await snt.connect(alice).getFunction("approve")(deployment.addresses.escrow, 5n);
      const client = new SubscriptionClient(options(alice));
      const bought = await client.subscribe({ nodeId: node, ...freshClient(), months: 1 });
      expect(bought.path).to.equal("approveAndCall");
      expect(bought.approvals).to.have.length(1);
      expect(await client.allowance(alice.address)).to.equal(0n);
    });

    it("can be forced onto the approve path, approving exactly the total", async () => {
      await snt.connect(alice).getFunction("approve")(deployment.addresses.escrow, 7n);
      const client = new SubscriptionClient(options(alice));
      const bought = await client.subscribe({ nodeId: node, ...freshClient(), months: 1, path: "approve" });
      expect(bought.path).to.equal("approve");
      expect(bought.approvals).to.have.length(2); // approve(0), approve(total)
      expect(await client.allowance(alice.address)).to.equal(0n);
      await expectSdkError(client.subscribe({ nodeId: node, ...freshClient(), months: 1, path: "permit" }), "INVALID_ARGUMENT");
    });

    it("subscribes to a free node without moving tokens", async () => {
      const client = new SubscriptionClient(options(bob));
      const balance = await client.balanceOf(bob.address);
      const bought = await client.subscribe({ nodeId: freeNode, months: 1 });
      expect(bought).to.deep.include({ path: "free", amount: 0n });
      expect((await client.status(freeNode, bob.address)).active).to.equal(true);
      expect(await client.balanceOf(bob.address)).to.equal(balance);
    });
  });

  describe("permit and plain ERC-20 tokens", () => {
    let permitEscrow: string;
    let plainEscrow: string;
    let permitToken: Contract;
    let plainToken: Contract;

    before(async () => {
      const { ethers } = connection;
      permitToken = (await ethers.deployContract("PermitToken")) as unknown as Contract;
      plainToken = (await ethers.deployContract("TestToken")) as unknown as Contract;
      permitEscrow = await (await ethers.deployContract("SubscriptionEscrow", [deployment.addresses.registry, await permitToken.getAddress()])).getAddress();
      plainEscrow = await (await ethers.deployContract("SubscriptionEscrow", [deployment.addresses.registry, await plainToken.getAddress()])).getAddress();
      for (const token of [permitToken, plainToken]) await token.getFunction("mint")(alice.address, 1000n * UNIT);
    });

    it("pays by EIP-2612 permit in one transaction; extends by approve", async () => {
      // The token comes from the escrow when not configured.
      const client = new SubscriptionClient(options(alice, { escrow: permitEscrow }));
      expect(await client.tokenAddress()).to.equal(await permitToken.getAddress());
      expect(await client.tokenSupport()).to.deep.equal({ approveAndCall: false, permit: true });
      const clientId = randomClient();
      const nonce = await alice.getNonce();
      const bought = await client.subscribe({ nodeId: node, clientId, clientKey: keyOf(clientId), months: 2 });
      expect(bought).to.deep.include({ path: "permit", amount: 2n * PRICE });
      expect(bought.approvals).to.deep.equal([]);
      expect(await alice.getNonce()).to.equal(nonce + 1);
      expect(await client.allowance(alice.address)).to.equal(0n);
      expect(await client.balanceOf(alice.address)).to.equal(1000n * UNIT - 2n * PRICE);

      const extended = await client.extend({ nodeId: node, clientId, months: 1 });
      expect(extended.path).to.equal("approve");
      expect(extended.approvals).to.have.length(1);
      expect(await client.allowance(alice.address)).to.equal(0n);
      await expectSdkError(client.subscribe({ nodeId: node, ...freshClient(), months: 1, path: "approveAndCall" }), "INVALID_ARGUMENT");
      await expectSdkError(client.extend({ nodeId: node, clientId, months: 1, path: "permit" }), "INVALID_ARGUMENT");
    });

    it("pays by approve + subscribe when the token has neither", async () => {
      const client = new SubscriptionClient(options(alice, { escrow: plainEscrow }));
      expect(await client.tokenSupport()).to.deep.equal({ approveAndCall: false, permit: false });
      const clientId = randomClient();
      const bought = await client.subscribe({ nodeId: node, clientId, clientKey: keyOf(clientId), months: 1 });
      expect(bought.path).to.equal("approve");
      expect(bought.approvals).to.have.length(1);
      expect(await client.allowance(alice.address)).to.equal(0n);
      const extended = await client.extend({ nodeId: node, clientId, months: 2 });
      expect(extended).to.deep.include({ path: "approve", amount: 2n * PRICE });
      const state = await client.status(node, clientId);
      expect(state.expiresAtSeconds).to.equal(bought.expiresAtSeconds + 2n * MONTH);
      expect(state.monthsLeft).to.equal(monthsLeft(state.expiresAtSeconds - (await now())));
    });
  });

  describe("checks before sending", () => {
    it("refuses what would fail, without sending a transaction", async () => {
      const client = new SubscriptionClient(options(alice));
      const nonce = await alice.getNonce();
      const above = await expectSdkError(client.subscribe({ nodeId: node, ...freshClient(), months: 1, maxPricePerMonth: PRICE - 1n }), "PRICE_ABOVE_MAXIMUM");
      expect(above.details).to.deep.include({ pricePerMonth: PRICE, maxPricePerMonth: PRICE - 1n });
      await expectSdkError(client.subscribe({ nodeId: inactiveNode, months: 1 }), "UNTRUSTED_NODE");
      await expectSdkError(client.subscribe({ nodeId: nodeIdFromPrivateKey(Wallet.createRandom().privateKey), months: 1 }), "UNKNOWN_NODE");
      const policy = new TrustPolicy(); // trusts the default provider only
      await expectSdkError(client.subscribe({ nodeId: otherNode, months: 1, policy }), "UNTRUSTED_NODE");
      const poorClient = new SubscriptionClient(options(poor));
      const broke = await expectSdkError(poorClient.subscribe({ nodeId: node, months: 1 }), "INSUFFICIENT_BALANCE");
      expect(broke.details).to.deep.include({ balance: 0n, required: PRICE });
      await expectSdkError(client.extend({ nodeId: node, ...freshClient(), months: 1 }), "NO_SUBSCRIPTION");
      expect(await alice.getNonce()).to.equal(nonce);

      const clientId = randomClient();
      await client.subscribe({ nodeId: node, clientId, clientKey: keyOf(clientId), months: 1 });
      await expectSdkError(client.subscribe({ nodeId: node, clientId, clientKey: keyOf(clientId), months: 1 }), "SUBSCRIPTION_IS_ACTIVE");
      await expectSdkError(new SubscriptionClient(options(bob)).extend({ nodeId: node, clientId, months: 1 }), "NOT_SUBSCRIPTION_OWNER");
      // With the policy trusting provider2, the purchase goes through.
      policy.trustProvider(provider2.address);
      expect((await client.subscribe({ nodeId: otherNode, months: 1, policy })).path).to.equal("approveAndCall");
    });

    it("decodes contract errors that only the chain can see (months out of range)", async () => {
      const client = new SubscriptionClient(options(alice));
      const error = await expectSdkError(client.quote(node, 25), "INVALID_MONTHS");
      expect(error.details).to.deep.include({ months: 25n, maxMonths: 24n });
    });

    it("refuses a wrong chain and a missing escrow address", async () => {
      await expectSdkError(new SubscriptionClient({ ...options(alice), chainId: 5 }).quote(node, 1), "WRONG_CHAIN");
      await expectSdkError(new SubscriptionClient({ runner: alice }).quote(node, 1), "MISSING_ADDRESS");
    });
  });

  describe("managing", () => {
    it("cancels with the provider's fee and refunds the rest", async () => {
      const provider = new SubscriptionClient(options(deployer));
      await provider.setCancellationFee(500);
      expect(await provider.cancellationFeeBps(deployer.address)).to.equal(500n);
      const client = new SubscriptionClient(options(alice));
      const clientId = randomClient();
      await client.subscribe({ nodeId: node, clientId, clientKey: keyOf(clientId), months: 2 });
      await connection.networkHelpers.time.increase(Number(10n * DAY));
      const before = await client.status(node, clientId);
      expect(before.fee).to.be.greaterThan(0n);
      const balance = await client.balanceOf(alice.address);
      const cancelled = await client.cancel(node, clientId);
      expect(cancelled.fee).to.be.greaterThan(0n);
      expect(cancelled.refund).to.be.closeTo(before.refundableNow, PRICE / 1000n);
      expect(cancelled.fee * 9500n / 500n).to.be.closeTo(cancelled.refund, 10n ** 6n);
      expect(await client.balanceOf(alice.address)).to.equal(balance + cancelled.refund);
      expect(await client.status(node, clientId)).to.deep.include({ active: false, owner: undefined, expiresAtSeconds: 0n });
      await expectSdkError(client.cancel(node, clientId), "NO_SUBSCRIPTION");
      await expectSdkError(provider.setCancellationFee(1001), "FEE_TOO_HIGH");
      await provider.setCancellationFee(0);
    });

    it("moves a subscription to another client key", async () => {
      const client = new SubscriptionClient(options(alice));
      const [from, to] = [randomClient(), randomClient()];
      await client.subscribe({ nodeId: node, clientId: from, clientKey: keyOf(from), months: 1 });
      await client.setClientId(node, from, to, { clientKey: keyOf(to) });
      expect((await client.status(node, to)).active).to.equal(true);
      expect((await client.status(node, from)).owner).to.equal(undefined);
      await expectSdkError(new SubscriptionClient(options(bob)).setClientId(node, to, from, { clientKey: keyOf(from) }), "NOT_SUBSCRIPTION_OWNER");
    });

    it("auto-renewal: checkable in advance with a reason, then renewed by anyone", async () => {
      const client = new SubscriptionClient(options(bob));
      const clientId = randomClient();
      const bought = await client.subscribe({ nodeId: node, clientId, clientKey: keyOf(clientId), months: 1 });
      expect(await client.renewalCheck(node, clientId)).to.deep.equal({ renewable: false, reason: "not-opted-in" });
      expect(await client.renewalCheck(node, randomClient())).to.deep.equal({ renewable: false, reason: "no-subscription" });
      await client.setAutoRenew(node, clientId, { months: 1, maxPricePerMonth: PRICE });
      expect((await client.renewalCheck(node, clientId)).reason).to.equal("outside-window");
      await connection.networkHelpers.time.increaseTo(bought.expiresAtSeconds - 2n * DAY);
      expect((await client.renewalCheck(node, clientId)).reason).to.equal("insufficient-allowance");
      const keeper = new SubscriptionClient(options(deployer));
      await expectSdkError(keeper.renew(node, clientId), "INSUFFICIENT_ALLOWANCE");

      const optedIn = await client.setAutoRenew(node, clientId, { months: 1, maxPricePerMonth: PRICE, approve: true });
      expect(optedIn.approvals).to.have.length(1);
      expect(await client.renewalCheck(node, clientId)).to.deep.include({ renewable: true, reason: "none", renewalsCovered: 12 });
      const renewed = await keeper.renew(node, clientId);
      expect(renewed.expiresAtSeconds).to.equal(bought.expiresAtSeconds + MONTH);
      expect(renewed.amount).to.equal(PRICE);
      // The default approval covers 12 renewals: 11 are left.
      expect(await client.allowance(bob.address)).to.equal(11n * PRICE);

      await new ProviderClient(options(deployer)).setNodePrice(node, PRICE * 2n);
      await client.setAutoRenew(node, clientId, { months: 1, maxPricePerMonth: PRICE });
      await connection.networkHelpers.time.increaseTo(renewed.expiresAtSeconds - DAY);
      expect((await client.renewalCheck(node, clientId)).reason).to.equal("price-above-maximum");
      await expectSdkError(keeper.renew(node, clientId), "PRICE_ABOVE_MAXIMUM");
      await new ProviderClient(options(deployer)).setNodePrice(node, PRICE);
      await client.setAutoRenew(node, clientId, { months: 0, maxPricePerMonth: 0 });
      expect((await client.renewalCheck(node, clientId)).reason).to.equal("not-opted-in");
    });

    it("earnings, withdraw and expiry processing for the provider", async () => {
      const provider = new SubscriptionClient(options(deployer));
      await connection.networkHelpers.time.increase(Number(5n * DAY));
      const earnings = await provider.nodeEarnings(node);
      expect(earnings.withdrawable).to.be.greaterThan(0n);
      expect(earnings.earned).to.equal(earnings.withdrawn + earnings.withdrawable);
      const total = await provider.providerEarnings(deployer.address);
      expect(total.earned).to.be.greaterThanOrEqual(earnings.earned);
      const balance = await provider.balanceOf(deployer.address);
      const withdrawn = await provider.withdraw(node);
      expect(withdrawn.amount).to.be.greaterThanOrEqual(earnings.withdrawable);
      expect(withdrawn.payout).to.equal(deployer.address);
      expect(await provider.balanceOf(deployer.address)).to.equal(balance + withdrawn.amount);
      expect((await provider.nodeEarnings(node)).withdrawn).to.be.greaterThanOrEqual(withdrawn.amount);
      await expectSdkError(new SubscriptionClient(options(alice)).withdraw(node), "NOT_NODE_PROVIDER");
      expect((await provider.processExpiries(node, 10)).receipt.status).to.equal(1);
    });

    it("pause and unpause by a curator; purchases fail with ENFORCED_PAUSE meanwhile", async () => {
      const curator = new SubscriptionClient(options(deployer));
      await expectSdkError(new SubscriptionClient(options(alice)).pause(), "NOT_CURATOR");
      await curator.pause();
      expect(await curator.paused()).to.equal(true);
      const client = new SubscriptionClient(options(alice));
      await expectSdkError(client.subscribe({ nodeId: node, ...freshClient(), months: 1 }), "ENFORCED_PAUSE");
      expect(await client.allowance(alice.address)).to.equal(0n);
      await curator.unpause();
      expect(await curator.paused()).to.equal(false);
      expect((await client.subscribe({ nodeId: node, ...freshClient(), months: 1 })).path).to.equal("approveAndCall");
    });
  });
});
