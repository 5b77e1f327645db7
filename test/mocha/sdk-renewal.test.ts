// Issue 22's subscription behaviours against a real `npx hardhat node` (through a proxy that
// counts the logs it serves): automatic renewal keeps renewing and warns before it cannot (1), a
// purchase reads O(the owner's own subscriptions) of the escrow's events (2), the SDK says until
// when opting out is safe (5); and quote() of an unregistered node is an error, not "free".
import { expect } from "chai";
import { JsonRpcProvider, Network, Wallet, ZeroHash } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import { ProviderClient, SubscriptionClient, type ClientOptions } from "@status/mailserver-sdk";
import { deployLocal, type LocalDeployment } from "../../deploy/local.js";
import { startHardhatNode, type LocalNode } from "../helpers/hardhatCli.js";
import { startRpcProxy, type RpcProxy } from "../helpers/rpcProxy.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

const UNIT = 10n ** 18n;
const PRICE = 10n * UNIT;
const DAY = 24n * 3600n;
const MONTH = 30n * DAY;

describe("SDK subscriptions: renewals that keep renewing, purchases that read only the owner's events", function () {
  this.timeout(120_000);
  let node: LocalNode;
  let proxy: RpcProxy;
  let connection: NetworkConnection;
  let deployment: LocalDeployment;
  let nodeId: string;
  let provider: JsonRpcProvider;
  let signers: Awaited<ReturnType<NetworkConnection["ethers"]["getSigners"]>>;

  const rpc = (method: string, params: unknown[] = []) => connection.provider.request({ method, params });
  const timeTo = async (seconds: bigint) => {
    await rpc("evm_setNextBlockTimestamp", [Number(seconds)]);
    await rpc("evm_mine");
  };
  // Clients reach the chain through the proxy, as an app reaches its RPC.
  const clientOf = async (index: number) =>
    new SubscriptionClient({ runner: await provider.getSigner(signers[index]!.address), chainId: deployment.chainId, addresses: { registry: deployment.addresses.registry, escrow: deployment.addresses.escrow } });

  before(async () => {
    node = await startHardhatNode();
    proxy = await startRpcProxy(node.url);
    connection = await network.create({ network: "localhost", override: { url: node.url } });
    deployment = await deployLocal(connection);
    signers = await connection.ethers.getSigners();
    const snt = await connection.ethers.getContractAt("SNTLikeToken", deployment.addresses.token);
    for (const s of signers.slice(1, 4)) await (await snt.generateTokens(s.address, 10_000n * UNIT)).wait();
    const options: ClientOptions = { runner: signers[0]!, chainId: deployment.chainId, addresses: { registry: deployment.addresses.registry, escrow: deployment.addresses.escrow } };
    nodeId = (await new ProviderClient(options).addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.6.0.1/tcp/1", pricePerMonth: PRICE })).nodeId;
    provider = new JsonRpcProvider(proxy.url, Network.from(deployment.chainId), { staticNetwork: true, cacheTimeout: -1 });
  });

  after(async () => {
    provider?.destroy();
    await connection?.close().catch(() => undefined);
    await proxy?.close();
    await node?.stop();
  });

  it("1: an opted-in subscription with funds keeps renewing, a purchase in between does not cut its allowance, and renewalCheck warns in time", async () => {
    const owner = await clientOf(1);
    const keeper = await clientOf(0);
    const key = Wallet.createRandom();
    const bought = await owner.subscribe({ nodeId, clientId: key.address, clientKey: key, months: 1 });
    await owner.setAutoRenew(nodeId, key.address, { months: 1, maxPricePerMonth: PRICE, approve: true });
    // A purchase of another subscription by the same owner keeps the renewals' allowance.
    const other = Wallet.createRandom();
    await owner.subscribe({ nodeId, clientId: other.address, clientKey: other, months: 1 });
    let expiry = bought.expiresAtSeconds;
    for (let round = 1; round <= 3; round++) {
      await timeTo(expiry - DAY);
      expect((await owner.renewalCheck(nodeId, key.address)).reason, `round ${round}`).to.equal("none");
      const renewed = await keeper.renew(nodeId, key.address);
      expect(renewed.expiresAtSeconds).to.equal(expiry + MONTH);
      expiry = renewed.expiresAtSeconds;
    }
    const check = await owner.renewalCheck(nodeId, key.address);
    expect(check).to.deep.include({ renewable: false, reason: "outside-window", renewalsCovered: 9 });
    expect(check.warning).to.equal(undefined);

    // The owner chooses fewer rounds: the check warns while one is still covered.
    await owner.setAutoRenew(nodeId, key.address, { months: 1, maxPricePerMonth: PRICE, approve: true, cycles: 2 });
    await timeTo(expiry - DAY);
    await keeper.renew(nodeId, key.address);
    expect(await owner.renewalCheck(nodeId, key.address)).to.deep.include({ renewable: false, reason: "outside-window", renewalsCovered: 1, warning: "allowance-low" });
    await expectSdkError(owner.setAutoRenew(nodeId, key.address, { months: 1, maxPricePerMonth: PRICE, approve: true, cycles: 0 }), "INVALID_ARGUMENT");
  });

  it("2: renewal bookkeeping of a purchase reads the owner's own events, not a stranger's ClientIdChanged flood", async () => {
    const stranger = await clientOf(2);
    let current = Wallet.createRandom();
    await stranger.subscribe({ nodeId, clientId: current.address, clientKey: current, months: 1 });
    for (let i = 0; i < 20; i++) {
      const next = Wallet.createRandom();
      await stranger.setClientId(nodeId, current.address, next.address, { clientKey: next });
      current = next;
    }
    const owner = await clientOf(3);
    const a = Wallet.createRandom();
    await owner.subscribe({ nodeId, clientId: a.address, clientKey: a, months: 1 });
    await owner.setAutoRenew(nodeId, a.address, { months: 2, maxPricePerMonth: PRICE });
    // The owner's record moved twice: the bookkeeping follows it.
    const b = Wallet.createRandom();
    const c = Wallet.createRandom();
    await owner.setClientId(nodeId, a.address, b.address, { clientKey: b });
    await owner.setClientId(nodeId, b.address, c.address, { clientKey: c });
    const served = proxy.logsServed;
    expect(await owner.renewalAllowanceNeeded(signers[3]!.address)).to.equal(2n * PRICE);
    expect(proxy.logsServed - served, "logs read for one owner with one subscription").to.be.at.most(6);
  });

  it("5: renewalCheck says until when opting out is safe (before anyone may renew)", async () => {
    const owner = await clientOf(1);
    const key = Wallet.createRandom();
    const bought = await owner.subscribe({ nodeId, clientId: key.address, clientKey: key, months: 2 });
    expect((await owner.renewalCheck(nodeId, key.address)).optOutSafeUntil).to.equal(undefined); // not opted in
    await owner.setAutoRenew(nodeId, key.address, { months: 1, maxPricePerMonth: PRICE, approve: true });
    expect((await owner.renewalCheck(nodeId, key.address)).optOutSafeUntil).to.equal(bought.expiresAtSeconds - 3n * DAY);
  });

  it("quote() of an unregistered node throws UNKNOWN_NODE instead of a price of 0", async () => {
    const reader = await clientOf(1);
    expect((await reader.quote(nodeId, 1)).pricePerMonth).to.equal(PRICE);
    const error = await expectSdkError(reader.quote(ZeroHash.slice(0, -1) + "7", 1), "UNKNOWN_NODE");
    expect(error.details).to.have.property("nodeId");
  });
});
