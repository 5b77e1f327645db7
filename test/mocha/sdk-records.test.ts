// Subscription records (issue #15): the escrow stores one commitment per subscription and the SDK
// finds the record itself in the escrow's events. Against the real deployment on the in-process
// chain: the commitment computed locally, record lookup after every kind of change, the cache of
// a client's own receipts, stale records, fromBlock, extension by approveAndCall with the real
// MiniMe bytecode, and the index's by-offset decoding of each event layout.
import { expect } from "chai";
import { Interface, Wallet, type Contract, type Log } from "ethers";
import { artifacts, network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import {
  EMPTY_SUBSCRIPTION,
  MailserverSdkError,
  ProviderClient,
  SubscriptionClient,
  encodeApprovalRequest,
  encodeExtensionRequest,
  foldSubscriptionLogs,
  subscriptionCommitment,
  subscriptionFromReceipt,
  toSdkError,
  type ClientOptions,
  type StoredSubscription,
} from "@status/mailserver-sdk";
import { decodeEscrowLog, ESCROW_EVENT_TOPICS } from "@status/mailserver-sdk/server";
import { ISubscriptionEscrow__factory } from "../../sdk/src/typechain/factories/interfaces/ISubscriptionEscrow__factory.js";
import { deployLocal, type LocalDeployment } from "../../deploy/local.js";
import { clientKeyOf as keyOf, miniMeFixture, newClient, PRICE as FX_PRICE, type Fx } from "../helpers/escrowFixture.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

type HardhatSigner = Awaited<ReturnType<NetworkConnection["ethers"]["getSigners"]>>[number];

const UNIT = 10n ** 18n;
const PRICE = 10n * UNIT;
const DAY = 24n * 3600n;
const MONTH = 30n * DAY;
const endOfDay = (t: bigint) => ((t + DAY - 1n) / DAY) * DAY;


const fresh = () => {
  const clientId = newClient().address;
  return { clientId, clientKey: keyOf(clientId)! };
};

describe("SDK subscription records (commitment ABI)", function () {
  let connection: NetworkConnection;
  let deployment: LocalDeployment;
  let deployer: HardhatSigner;
  let alice: HardhatSigner;
  let bob: HardhatSigner;
  let snt: Contract;
  let node: string;
  let escrow: ReturnType<typeof ISubscriptionEscrow__factory.connect>;

  const options = (runner: ClientOptions["runner"], extra: { fromBlock?: number } = {}) => ({
    runner,
    chainId: deployment.chainId,
    addresses: { registry: deployment.addresses.registry, escrow: deployment.addresses.escrow },
    ...extra,
  });
  /** A client with no records learned: every lookup goes to the events. */
  const reader = () => new SubscriptionClient(options(connection.ethers.provider));
  const minedAt = async (receipt: { blockNumber: number }) => BigInt((await connection.ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
  const onChain = (clientId: string) => escrow.subscriptionCommitment(node, clientId);

  before(async () => {
    connection = await network.create();
    deployment = await deployLocal(connection);
    [deployer, alice, bob] = (await connection.ethers.getSigners()) as HardhatSigner[] as [HardhatSigner, HardhatSigner, HardhatSigner];
    snt = (await connection.ethers.getContractAt("SNTLikeToken", deployment.addresses.token)) as unknown as Contract;
    for (const account of [alice, bob]) await snt.getFunction("generateTokens")(account.address, 1000n * UNIT);
    node = (await new ProviderClient(options(deployer)).addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.5.0.1/tcp/1", pricePerMonth: PRICE })).nodeId;
    escrow = ISubscriptionEscrow__factory.connect(deployment.addresses.escrow, connection.ethers.provider);
  });

  it("computes the commitment locally exactly as the escrow stores it", async () => {
    const client = new SubscriptionClient(options(alice));
    const { clientId, clientKey } = fresh();
    const bought = await client.subscribe({ nodeId: node, clientId, clientKey, months: 2 });
    const stored = await onChain(clientId);
    expect(stored).to.not.equal(0n);
    expect(subscriptionCommitment(bought.subscription)).to.equal(stored);
    // The low 40 bits are the expiry (what `expiries` reads).
    expect(stored & ((1n << 40n) - 1n)).to.equal(bought.expiresAtSeconds);
    expect(await escrow.isCurrent(node, clientId, bought.subscription)).to.equal(true);
    // Every field is committed to: change any one and neither side accepts it.
    for (const field of ["start", "cancellationFeeBps", "paid", "renewMonths", "renewMaxPricePerMonth"] as const) {
      const changed = { ...bought.subscription, [field]: bought.subscription[field] + 1n };
      expect(subscriptionCommitment(changed), field).to.not.equal(stored);
      expect(await escrow.isCurrent(node, clientId, changed), field).to.equal(false);
    }
    const otherOwner = { ...bought.subscription, owner: bob.address };
    expect(subscriptionCommitment(otherOwner)).to.not.equal(stored);
    expect(await escrow.isCurrent(node, clientId, otherOwner)).to.equal(false);
  });

  it("finds the current record in the events after subscribe, extend, setAutoRenew, setClientId, cancel, lapse and re-buy", async () => {
    const client = new SubscriptionClient(options(alice));
    const { clientId: a, clientKey } = fresh();
    const { clientId: b, clientKey: keyB } = fresh();
    const expectCurrent = async (clientId: string, expected: StoredSubscription | undefined) => {
      const found = await reader().getSubscription(node, clientId);
      expect(found).to.deep.equal(expected);
      expect(await onChain(clientId)).to.equal(expected === undefined ? 0n : subscriptionCommitment(expected));
    };

    expect(await reader().getSubscription(node, a)).to.equal(undefined);
    const bought = await client.subscribe({ nodeId: node, clientId: a, clientKey, months: 1 });
    const t0 = await minedAt(bought.receipt);
    expect(bought.subscription).to.deep.equal({
      owner: alice.address,
      start: t0,
      expiresAt: endOfDay(t0 + MONTH),
      cancellationFeeBps: 0n,
      paid: PRICE,
      renewMonths: 0n,
      renewMaxPricePerMonth: 0n,
    });
    await expectCurrent(a, bought.subscription);

    const extended = await client.extend({ nodeId: node, clientId: a, months: 2 });
    expect(extended.subscription.expiresAt).to.equal(endOfDay(bought.expiresAtSeconds + 2n * MONTH));
    expect(extended.subscription.start).to.equal(await minedAt(extended.receipt));
    await expectCurrent(a, extended.subscription);

    const renewing = await client.setAutoRenew(node, a, { months: 3, maxPricePerMonth: 2n * PRICE });
    expect(renewing.subscription).to.deep.equal({ ...extended.subscription, renewMonths: 3n, renewMaxPricePerMonth: 2n * PRICE });
    await expectCurrent(a, renewing.subscription);

    // The record moves unchanged; moving it back needs the ClientIdChanged scan by new client id.
    const moved = await client.setClientId(node, a, b, { clientKey: keyB });
    expect(moved.subscription).to.deep.equal(renewing.subscription);
    await expectCurrent(a, undefined);
    await expectCurrent(b, renewing.subscription);
    await client.setClientId(node, b, a, { clientKey });
    await expectCurrent(b, undefined);
    await expectCurrent(a, renewing.subscription);

    const cancelled = await client.cancel(node, a);
    expect(cancelled.refund).to.be.greaterThan(0n);
    await expectCurrent(a, undefined);

    // Lapse: a record whose time ran out stays stored (and found) until the key is bought again.
    const again = await client.subscribe({ nodeId: node, clientId: a, clientKey, months: 1 });
    await connection.networkHelpers.time.increaseTo(again.expiresAtSeconds + 1n);
    await expectCurrent(a, again.subscription);
    expect((await reader().status(node, a)).active).to.equal(false);
    // Someone else buys the lapsed key: their Subscribed replaces the old record.
    const rebought = await new SubscriptionClient(options(bob)).subscribe({ nodeId: node, clientId: a, clientKey, months: 1 });
    expect(rebought.subscription.owner).to.equal(bob.address);
    await expectCurrent(a, rebought.subscription);
    expect(await reader().status(node, a)).to.deep.include({ active: true, owner: bob.address, expiresAtSeconds: rebought.expiresAtSeconds });
  });

  it("uses the records of its own receipts (checked on chain) and otherwise names the fromBlock it scanned from", async () => {
    const { clientId, clientKey } = fresh();
    const bought = await new SubscriptionClient(options(alice)).subscribe({ nodeId: node, clientId, clientKey, months: 1 });
    const after = bought.receipt.blockNumber + 1;
    await connection.networkHelpers.mine(1);

    // A scan that starts after the purchase cannot find the record...
    const late = new SubscriptionClient(options(alice, { fromBlock: after }));
    const error = await expectSdkError(late.getSubscription(node, clientId), "SUBSCRIPTION_RECORD_NOT_FOUND");
    expect(error.details).to.include({ nodeId: node, clientId, fromBlock: after });
    expect(error.message).to.include(`blocks ${after}..`);
    // ...and every management call that needs it says so, before sending anything.
    await expectSdkError(late.cancel(node, clientId), "SUBSCRIPTION_RECORD_NOT_FOUND");
    await expectSdkError(late.status(node, clientId), "SUBSCRIPTION_RECORD_NOT_FOUND");
    // The deployment's startBlock is the default start.
    const viaDeployment = new SubscriptionClient({ ...options(alice), addresses: { ...options(alice).addresses, startBlock: after } });
    expect(await viaDeployment.fromBlock()).to.equal(after);
    await expectSdkError(viaDeployment.getSubscription(node, clientId), "SUBSCRIPTION_RECORD_NOT_FOUND");
    expect(await reader().fromBlock()).to.equal(0);

    // A client that made the change knows the record from its receipt, even with that scan start.
    const owner = new SubscriptionClient(options(alice, { fromBlock: after }));
    const extended = await owner.extend({ nodeId: node, clientId, months: 1, subscription: bought.subscription });
    expect(await owner.getSubscription(node, clientId)).to.deep.equal(extended.subscription);
    // Changed by someone else (another client instance): the commitment no longer matches the
    // learned record, so it scans again and finds the newer event.
    const optedIn = await new SubscriptionClient(options(alice)).setAutoRenew(node, clientId, { months: 1, maxPricePerMonth: PRICE, subscription: extended.subscription });
    expect(await owner.getSubscription(node, clientId)).to.deep.equal(optedIn.subscription);
    await owner.cancel(node, clientId);
    expect(await owner.getSubscription(node, clientId)).to.equal(undefined);

    expect(() => new SubscriptionClient(options(alice, { fromBlock: -1 }))).to.throw(MailserverSdkError, /fromBlock/);
  });

  it("renewal bookkeeping reads the owner's opted-in records from the events, moved ones under their new key", async () => {
    const carol = (await connection.ethers.getSigners())[3]!;
    await snt.getFunction("generateTokens")(carol.address, 1000n * UNIT);
    const client = new SubscriptionClient(options(carol));
    expect(await reader().renewalAllowanceNeeded(carol.address)).to.equal(0n);
    const [k1, k2, k3] = [fresh(), fresh(), fresh()];
    await client.subscribe({ nodeId: node, ...k1, months: 1 });
    await client.setAutoRenew(node, k1.clientId, { months: 2, maxPricePerMonth: PRICE });
    await client.subscribe({ nodeId: node, ...k2, months: 1 });
    await client.setAutoRenew(node, k2.clientId, { months: 1, maxPricePerMonth: 3n * PRICE });
    expect(await reader().renewalAllowanceNeeded(carol.address)).to.equal(5n * PRICE);
    // ClientIdChanged names no owner in its topics: the owner comes from the record it carries.
    await client.setClientId(node, k2.clientId, k3.clientId, { clientKey: k3.clientKey });
    expect(await reader().renewalAllowanceNeeded(carol.address)).to.equal(5n * PRICE);
    await client.cancel(node, k1.clientId);
    expect(await reader().renewalAllowanceNeeded(carol.address)).to.equal(3n * PRICE);
    await client.setAutoRenew(node, k3.clientId, { months: 0, maxPricePerMonth: 0 });
    expect(await reader().renewalAllowanceNeeded(carol.address)).to.equal(0n);
  });

  it("refuses a stale record passed explicitly with SUBSCRIPTION_RECORD_MISMATCH, sending nothing", async () => {
    const client = new SubscriptionClient(options(alice));
    const { clientId, clientKey } = fresh();
    const bought = await client.subscribe({ nodeId: node, clientId, clientKey, months: 1 });
    const stale = bought.subscription;
    const current = (await client.extend({ nodeId: node, clientId, months: 1 })).subscription;
    const nonce = await connection.ethers.provider.getTransactionCount(alice.address);
    const balance = await client.balanceOf(alice.address);

    await expectSdkError(client.cancel(node, clientId, stale), "SUBSCRIPTION_RECORD_MISMATCH");
    await expectSdkError(client.extend({ nodeId: node, clientId, months: 1, subscription: stale }), "SUBSCRIPTION_RECORD_MISMATCH");
    await expectSdkError(client.extend({ nodeId: node, clientId, months: 1, subscription: stale, path: "approve" }), "SUBSCRIPTION_RECORD_MISMATCH");
    await expectSdkError(client.setAutoRenew(node, clientId, { months: 1, maxPricePerMonth: PRICE, subscription: stale }), "SUBSCRIPTION_RECORD_MISMATCH");
    await expectSdkError(client.setClientId(node, clientId, fresh().clientId, { subscription: stale }), "SUBSCRIPTION_RECORD_MISMATCH");
    await expectSdkError(client.renew(node, clientId, stale), "SUBSCRIPTION_RECORD_MISMATCH");
    // The views revert with the escrow's error; the decoder gives it the same code.
    await expectSdkError(client.status(node, clientId, stale), "SUBSCRIPTION_RECORD_MISMATCH");
    await expectSdkError(client.renewalCheck(node, clientId, stale), "SUBSCRIPTION_RECORD_MISMATCH");
    const simulated = await expectSdkError(
      client.simulateApproveAndCall({ action: "extend", from: alice.address, nodeId: node, clientId, months: 1, maxPricePerMonth: PRICE, subscription: stale }),
      "SUBSCRIPTION_RECORD_MISMATCH",
    );
    expect(simulated.details).to.include({ contractError: "SubscriptionRecordMismatch", nodeId: node, clientId });
    expect(await connection.ethers.provider.getTransactionCount(alice.address)).to.equal(nonce);
    expect(await client.balanceOf(alice.address)).to.equal(balance);

    // A transaction sent around the SDK's checks reverts with it too.
    try {
      await escrow.connect(alice).cancel.estimateGas(node, clientId, stale);
      expect.fail("a stale record was accepted");
    } catch (error) {
      const sdkError = toSdkError(error, "cancel");
      expect(sdkError.code).to.equal("SUBSCRIPTION_RECORD_MISMATCH");
      expect(sdkError.details).to.include({ contractError: "SubscriptionRecordMismatch", nodeId: node, clientId });
    }
    // With nothing stored the views answer "none" whatever record is passed; writes say NO_SUBSCRIPTION.
    const nobody = fresh().clientId;
    expect(await client.status(node, nobody, current)).to.deep.include({ active: false, owner: undefined });
    expect(await client.renewalCheck(node, nobody, current)).to.deep.equal({ renewable: false, reason: "no-subscription" });
    await expectSdkError(client.cancel(node, nobody, current), "NO_SUBSCRIPTION");
    // The current record works.
    expect((await client.status(node, clientId, current)).active).to.equal(true);
    expect((await client.cancel(node, clientId, current)).refund).to.be.greaterThan(0n);
  });

  it("folds a receipt's and a log list's events by key, latest wins", async () => {
    const client = new SubscriptionClient(options(alice));
    const { clientId: a, clientKey } = fresh();
    const { clientId: b, clientKey: keyB } = fresh();
    const bought = await client.subscribe({ nodeId: node, clientId: a, clientKey, months: 1 });
    expect(subscriptionFromReceipt(bought.receipt, deployment.addresses.escrow, node, a)).to.deep.equal(bought.subscription);
    expect(subscriptionFromReceipt(bought.receipt, deployment.addresses.escrow, node, b)).to.equal(undefined);
    // Logs of another address are not the escrow's.
    expect(subscriptionFromReceipt(bought.receipt, deployment.addresses.token, node, a)).to.equal(undefined);
    const moved = await client.setClientId(node, a, b, { clientKey: keyB });
    expect(subscriptionFromReceipt(moved.receipt, deployment.addresses.escrow, node, a)).to.equal(null);
    expect(subscriptionFromReceipt(moved.receipt, deployment.addresses.escrow, node, b)).to.deep.equal(bought.subscription);
    const cancelled = await client.cancel(node, b);
    // Out of order on purpose: the fold sorts by block and log index.
    const logs = [...cancelled.receipt.logs, ...moved.receipt.logs, ...bought.receipt.logs] as Log[];
    const folded = foldSubscriptionLogs(logs, deployment.addresses.escrow);
    expect(folded.get(`${node}:${a.toLowerCase()}`)).to.equal(null);
    expect(folded.get(`${node}:${b.toLowerCase()}`)).to.equal(null);
    const upToMove = foldSubscriptionLogs([...moved.receipt.logs, ...bought.receipt.logs] as Log[], deployment.addresses.escrow);
    expect(upToMove.get(`${node}:${b.toLowerCase()}`)).to.deep.equal(bought.subscription);
  });

  it("the index decodes each event layout by offset as the compiled interface does", async () => {
    const iface = new Interface((await artifacts.readArtifact("ISubscriptionEscrow")).abi);
    for (const [name, topic] of Object.entries(ESCROW_EVENT_TOPICS)) expect(iface.getEvent(name)!.topicHash, name).to.equal(topic);

    const client = new SubscriptionClient(options(alice));
    const { clientId: a, clientKey } = fresh();
    const { clientId: b, clientKey: keyB } = fresh();
    const txs = [
      await client.subscribe({ nodeId: node, clientId: a, clientKey, months: 1 }),
      await client.extend({ nodeId: node, clientId: a, months: 2 }),
      await client.setAutoRenew(node, a, { months: 1, maxPricePerMonth: PRICE }),
      await client.setClientId(node, a, b, { clientKey: keyB }),
      await client.cancel(node, b),
    ];
    const logs = txs.flatMap((tx) => tx.receipt.logs.filter((log) => log.address === deployment.addresses.escrow));
    const seen = new Set<string>();
    for (const log of logs) {
      const parsed = iface.parseLog(log)!;
      const decoded = decodeEscrowLog(log);
      const record = parsed.args.getValue("subscription") as StoredSubscription | undefined;
      const lower = (s: string) => s.toLowerCase();
      switch (parsed.name) {
        case "Subscribed":
          expect(decoded).to.deep.equal({ kind: "subscribed", nodeId: lower(node), clientId: lower(a), owner: lower(alice.address), expiresAt: record!.expiresAt });
          break;
        case "Extended":
          expect(decoded).to.deep.equal({ kind: "extended", nodeId: lower(node), clientId: lower(a), payer: lower(alice.address), expiresAt: record!.expiresAt });
          break;
        case "ClientIdChanged":
          expect(decoded).to.deep.equal({ kind: "clientIdChanged", nodeId: lower(node), oldClientId: lower(a), newClientId: lower(b), owner: lower(alice.address), expiresAt: record!.expiresAt });
          break;
        case "Cancelled":
          expect(decoded).to.deep.equal({ kind: "cancelled", nodeId: lower(node), clientId: lower(b) });
          break;
        case "AutoRenewSet":
          // Changes neither owner nor expiry: not the index's business.
          expect(decoded).to.equal(undefined);
          break;
        default:
          continue;
      }
      seen.add(parsed.name);
      // A log cut short of its record is not decoded (never read past the data).
      if (parsed.name !== "Cancelled" && parsed.name !== "AutoRenewSet") {
        const cut = { topics: log.topics, data: log.data.slice(0, -64), blockNumber: log.blockNumber, blockHash: log.blockHash };
        expect(decodeEscrowLog(cut), parsed.name).to.equal(undefined);
      }
    }
    expect([...seen].sort()).to.deep.equal(["AutoRenewSet", "Cancelled", "ClientIdChanged", "Extended", "Subscribed"]);
  });

  describe("with the real MiniMe token", () => {
    let fx: Fx;
    let mini: SubscriptionClient;
    const miniOptions = (runner: ClientOptions["runner"]) => ({ runner, addresses: { registry: fx.registry.target as string, escrow: fx.escrowAddress } });

    before(async () => {
      fx = await miniMeFixture(connection);
      mini = new SubscriptionClient(miniOptions(fx.alice));
    });

    it("extends in one approveAndCall whose data is encodeExtensionRequest", async () => {
      const { clientId, clientKey } = fresh();
      const bought = await mini.subscribe({ nodeId: fx.node1, clientId, clientKey, months: 1 });
      expect(bought.path).to.equal("approveAndCall");

      // By hand: the token calls receiveApproval with the 12-word ExtensionRequest.
      const data = encodeExtensionRequest({ nodeId: fx.node1, clientId, months: 2n, maxPricePerMonth: FX_PRICE, subscription: bought.subscription });
      expect((data.length - 2) / 64).to.equal(12);
      const receipt = await (await fx.token.connect(fx.alice).getFunction("approveAndCall")(fx.escrowAddress, 2n * FX_PRICE, data)).wait();
      const extended = subscriptionFromReceipt(receipt, fx.escrowAddress, fx.node1, clientId);
      expect(extended).to.deep.include({ owner: fx.alice.address, expiresAt: endOfDay(bought.expiresAtSeconds + 2n * MONTH) });
      expect(await fx.escrow.getFunction("subscriptionCommitment")(fx.node1, clientId)).to.equal(subscriptionCommitment(extended!));

      // The same data with the record now stale: MiniMe drops the escrow's revert data, the
      // SDK's simulation names it.
      const staleData = encodeExtensionRequest({ nodeId: fx.node1, clientId, months: 1n, maxPricePerMonth: FX_PRICE, subscription: bought.subscription });
      let sent = false;
      try {
        await (await fx.token.connect(fx.alice).getFunction("approveAndCall")(fx.escrowAddress, FX_PRICE, staleData)).wait();
        sent = true;
      } catch {
        // expected: the escrow refused and the token reverted
      }
      expect(sent, "approveAndCall with a stale record went through").to.equal(false);
      await expectSdkError(
        mini.simulateApproveAndCall({ action: "extend", from: fx.alice.address, nodeId: fx.node1, clientId, months: 1, maxPricePerMonth: FX_PRICE, subscription: bought.subscription }),
        "SUBSCRIPTION_RECORD_MISMATCH",
      );
      // A new-subscription request on the running key is still refused as before.
      await expectSdkError(
        mini.simulateApproveAndCall({
          action: "subscribe",
          from: fx.alice.address,
          nodeId: fx.node1,
          clientId,
          months: 1,
          maxPricePerMonth: FX_PRICE,
          consent: await mini.signConsent(clientKey, fx.node1, fx.alice.address),
        }),
        "SUBSCRIPTION_IS_ACTIVE",
      );
      // An ApprovalRequest with the Extend action is no longer an extension.
      const oldStyle = encodeApprovalRequest({ action: 1, nodeId: fx.node1, clientId, months: 1n, maxPricePerMonth: FX_PRICE, maxFeeBps: 0n, consent: { deadline: 0n, signature: "0x" } });
      const call = { to: fx.escrowAddress, from: fx.tokenAddress, data: fx.escrow.interface.encodeFunctionData("receiveApproval", [fx.alice.address, FX_PRICE, fx.tokenAddress, oldStyle]) };
      try {
        await fx.ethers.provider.call(call);
        expect.fail("an ApprovalRequest with action Extend was accepted");
      } catch (error) {
        expect(toSdkError(error, "receiveApproval").code).to.equal("INVALID_APPROVAL_DATA");
      }

      // Through the SDK, by a client that never saw the record: it looks it up in the events.
      const extendedAgain = await new SubscriptionClient(miniOptions(fx.alice)).extend({ nodeId: fx.node1, clientId, months: 1 });
      expect(extendedAgain.path).to.equal("approveAndCall");
      expect(extendedAgain.amount).to.equal(FX_PRICE);
      expect(extendedAgain.subscription.expiresAt).to.equal(endOfDay(extended!.expiresAt + MONTH));
      expect(await new SubscriptionClient(miniOptions(fx.ethers.provider)).getSubscription(fx.node1, clientId)).to.deep.equal(extendedAgain.subscription);
      expect(await fx.token.getFunction("allowance")(fx.alice.address, fx.escrowAddress)).to.equal(0n);
    });
  });

  it("EMPTY_SUBSCRIPTION is what the views take when nothing is stored", async () => {
    const nobody = fresh().clientId;
    expect([...(await escrow.status(node, nobody, EMPTY_SUBSCRIPTION))]).to.deep.equal([false, "0x0000000000000000000000000000000000000000", 0n, 0n, 0n, 0n]);
    expect(await escrow.renewalCheck(node, nobody, EMPTY_SUBSCRIPTION)).to.equal(1n);
  });
});
