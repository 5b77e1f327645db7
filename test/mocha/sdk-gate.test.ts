// Server side against the real deployment: SubscriptionIndex (events, confirmations, restart from
// its file, reorgs) and the AccessGate on top of it.
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignableENR } from "@chainsafe/enr";
import { getBytes, hexlify, randomBytes, Wallet, type Provider } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import {
  MailserverSdkError,
  ProviderClient,
  SubscriptionClient,
  parseEnr,
  requestDigestOf,
  signRequest,
  type ClientOptions,
} from "@status/mailserver-sdk";
import { AccessGate, SubscriptionIndex, type SubscriptionIndexOptions } from "@status/mailserver-sdk/server";
import { deployLocal, type LocalDeployment } from "../../deploy/local.js";
import { clientKeyOf as keyOf, newClient } from "../helpers/escrowFixture.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

// Client keys the tests hold (escrowFixture's), so a payer can pass the key's consent.
const newClientAddress = () => newClient().address;

type HardhatSigner = Awaited<ReturnType<NetworkConnection["ethers"]["getSigners"]>>[number];

const UNIT = 10n ** 18n;
const PRICE = 10n * UNIT;
const MONTH = 30n * 24n * 3600n;


const peerIdOf = (privateKey: string) => parseEnr(SignableENR.createV4(getBytes(privateKey)).encodeTxt()).peerId;

function countingProvider(inner: Provider) {
  const counter = { calls: 0 };
  const proxy: Provider = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "provider") return receiver;
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        counter.calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { proxy, counter };
}

describe("SDK gate: subscription index and access gate on chain", function () {
  let connection: NetworkConnection;
  let deployment: LocalDeployment;
  let alice: HardhatSigner;
  let bob: HardhatSigner;
  let node: string;
  let otherNode: string;
  let buyer: SubscriptionClient;
  let startBlock: number;
  let dir: string;

  const options = (runner: ClientOptions["runner"]): ClientOptions => ({
    runner,
    chainId: deployment.chainId,
    addresses: { registry: deployment.addresses.registry, escrow: deployment.addresses.escrow },
  });
  const indexOptions = (overrides: Partial<SubscriptionIndexOptions> = {}): SubscriptionIndexOptions => ({
    provider: connection.ethers.provider,
    escrow: deployment.addresses.escrow,
    chainId: deployment.chainId,
    startBlock,
    confirmations: 0,
    ...overrides,
  });
  const chainNow = async () => connection.networkHelpers.time.latest();
  const rpc = (method: string, params: unknown[] = []) => connection.provider.request({ method, params });

  before(async () => {
    connection = await network.create();
    deployment = await deployLocal(connection);
    startBlock = await connection.ethers.provider.getBlockNumber();
    const [deployer, a, b] = (await connection.ethers.getSigners()) as [HardhatSigner, HardhatSigner, HardhatSigner];
    alice = a;
    bob = b;
    const snt = await connection.ethers.getContractAt("SNTLikeToken", deployment.addresses.token);
    await snt.generateTokens(alice.address, 1000n * UNIT);
    await snt.generateTokens(bob.address, 1000n * UNIT);
    const p1 = new ProviderClient(options(deployer));
    node = (await p1.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.3.0.1/tcp/1", pricePerMonth: PRICE })).nodeId;
    otherNode = (await p1.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.3.0.2/tcp/1", pricePerMonth: PRICE })).nodeId;
    buyer = new SubscriptionClient(options(alice));
    dir = await mkdtemp(join(tmpdir(), "sdk-gate-"));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("follows Subscribed, Extended, ClientIdChanged and Cancelled in block ranges", async () => {
    const index = new SubscriptionIndex(indexOptions({ maxBlockRange: 3 }));
    expect(index.isCaughtUp()).to.equal(false);
    const [c1, c2, c3] = [newClientAddress(), newClientAddress(), newClientAddress()];
    const bought = await buyer.subscribe({ nodeId: node, clientId: c1, clientKey: keyOf(c1), months: 1 });
    await buyer.subscribe({ nodeId: otherNode, clientId: c1, clientKey: keyOf(c1), months: 2 });
    const first = await index.sync();
    expect(index.isCaughtUp()).to.equal(true);
    expect(first.events).to.equal(2);
    expect(first.reorg).to.equal(false);
    expect(index.expiryOf(node, c1)).to.equal(bought.expiresAtSeconds);
    expect(index.entry(node, c1)).to.deep.include({ owner: alice.address, clientId: c1 });

    const extended = await buyer.extend({ nodeId: node, clientId: c1, months: 2 });
    await buyer.setClientId(node, c1, c2, { clientKey: keyOf(c2) });
    await buyer.subscribe({ nodeId: node, clientId: c3, clientKey: keyOf(c3), months: 1 });
    await buyer.cancel(node, c3);
    const second = await index.sync();
    expect(second.fromBlock).to.equal(first.toBlock! + 1);
    expect(second.events).to.equal(4);
    expect(index.expiryOf(node, c1)).to.equal(0n);
    expect(index.expiryOf(node, c2)).to.equal(extended.expiresAtSeconds);
    expect(index.expiryOf(node, c3)).to.equal(0n);
    expect(index.lastBlock).to.equal(await connection.ethers.provider.getBlockNumber());
    // Nothing new: an empty sync.
    expect((await index.sync()).events).to.equal(0);
  });

  it("only indexes the nodes asked for, and waits for the confirmation depth", async () => {
    const index = new SubscriptionIndex(indexOptions({ nodeIds: [node], confirmations: 3 }));
    const client = newClientAddress();
    await buyer.subscribe({ nodeId: otherNode, clientId: client, clientKey: keyOf(client), months: 1 });
    await buyer.subscribe({ nodeId: node, clientId: client, clientKey: keyOf(client), months: 1 });
    await index.sync();
    expect(index.expiryOf(node, client)).to.equal(0n); // not 3 blocks deep yet
    await connection.networkHelpers.mine(3);
    await index.sync();
    expect(index.expiryOf(node, client)).to.be.greaterThan(0n);
    expect(index.expiryOf(otherNode, client)).to.equal(0n);
    expect(index.entries().every((e) => e.nodeId === node)).to.equal(true);
  });

  it("gate: reads the contract before catch-up, then answers from memory with no RPC", async () => {
    const client = Wallet.createRandom();
    const peer = peerIdOf(Wallet.createRandom().privateKey);
    const { proxy, counter } = countingProvider(connection.ethers.provider);
    const index = new SubscriptionIndex(indexOptions({ provider: proxy, nodeIds: [node] }));
    let now = await chainNow();
    // No contract cache here: the same client is asked again right after it subscribed.
    const gate = new AccessGate({ nodeId: node, escrow: deployment.addresses.escrow, chainId: deployment.chainId, index, now: () => now, contractCacheSeconds: 0 });
    const ask = async (signer = client, peerId = peer) => {
      const digest = requestDigestOf(hexlify(randomBytes(16)));
      const request = await signRequest(signer, { nodeId: node, requestDigest: digest, peerId, issuedAt: now }, { chainId: deployment.chainId, escrow: deployment.addresses.escrow });
      return gate.check(request, { connectionPeerId: peer, requestDigest: digest });
    };

    expect((await ask()).reason).to.equal("no-subscription");
    expect(counter.calls).to.be.greaterThan(0); // fell back to a contract read
    const bought = await buyer.subscribe({ nodeId: node, clientId: client.address, clientKey: client, months: 1 });
    now = await chainNow();
    expect(await ask()).to.deep.include({ allowed: true, reason: "allowed", clientId: client.address });

    await index.sync();
    expect(index.isCaughtUp()).to.equal(true);
    const calls = counter.calls;
    for (let i = 0; i < 25; i++) expect((await ask()).allowed).to.equal(true);
    expect((await ask(Wallet.createRandom())).reason).to.equal("no-subscription");
    expect((await ask(client, peerIdOf(Wallet.createRandom().privateKey))).reason).to.equal("peer-mismatch");
    expect(counter.calls).to.equal(calls);

    await connection.networkHelpers.time.increaseTo(bought.expiresAtSeconds);
    now = await chainNow();
    const expired = await ask();
    expect(expired).to.deep.include({ allowed: false, reason: "expired" });
    expect(expired.expiresAt?.getTime()).to.equal(Number(bought.expiresAtSeconds) * 1000);
  });

  it("saves to a file and, restarted, catches up from where it stopped", async () => {
    const path = join(dir, "index.json");
    const index = new SubscriptionIndex(indexOptions());
    await index.sync();
    await index.save(path);
    const saved = JSON.parse(await readFile(path, "utf8"));
    expect(saved).to.deep.include({ version: 2, nodeIds: null, chainId: deployment.chainId.toString(), escrow: deployment.addresses.escrow, lastBlock: index.lastBlock, lastBlockHash: index.lastBlockHash });
    expect(saved.entries.length).to.equal(index.entries().length);

    // While the server is down, someone subscribes.
    const client = newClientAddress();
    const bought = await buyer.subscribe({ nodeId: node, clientId: client, clientKey: keyOf(client), months: 1 });

    const restarted = await SubscriptionIndex.load(path, indexOptions());
    expect(restarted.isCaughtUp()).to.equal(false);
    expect(restarted.lastBlock).to.equal(index.lastBlock);
    expect(restarted.entries()).to.deep.equal(index.entries());
    const caughtUp = await restarted.sync();
    expect(caughtUp.fromBlock).to.equal(index.lastBlock! + 1); // not from the start block
    expect(caughtUp.events).to.equal(1);
    expect(restarted.expiryOf(node, client)).to.equal(bought.expiresAtSeconds);

    const fresh = await SubscriptionIndex.load(join(dir, "missing.json"), indexOptions());
    expect(fresh.lastBlock).to.equal(undefined);
    await expectSdkError(SubscriptionIndex.load(path, indexOptions({ chainId: 1 })), "WRONG_CHAIN");
    await expectSdkError(SubscriptionIndex.load(path, indexOptions({ escrow: newClientAddress() })), "INVALID_ARGUMENT");
    await writeFile(join(dir, "bad.json"), "{ not json");
    await expectSdkError(SubscriptionIndex.load(join(dir, "bad.json"), indexOptions()), "INVALID_ARGUMENT");
  });

  it("drops and re-reads everything when a reorg removes a subscription event", async () => {
    const index = new SubscriptionIndex(indexOptions());
    const kept = newClientAddress();
    await buyer.subscribe({ nodeId: node, clientId: kept, clientKey: keyOf(kept), months: 1 });
    await index.sync();
    const keptExpiry = index.expiryOf(node, kept);

    const snapshot = await rpc("evm_snapshot");
    const lost = newClientAddress();
    await new SubscriptionClient(options(bob)).subscribe({ nodeId: node, clientId: lost, clientKey: keyOf(lost), months: 1 });
    await connection.networkHelpers.mine(2);
    await index.sync();
    expect(index.expiryOf(node, lost)).to.be.greaterThan(0n);
    const orphaned = index.lastBlockHash;

    // Another history: the purchase never happened and more blocks were mined instead.
    expect(await rpc("evm_revert", [snapshot])).to.equal(true);
    await connection.networkHelpers.mine(5);
    const result = await index.sync();
    expect(result.reorg).to.equal(true);
    expect(result.fromBlock).to.equal(startBlock);
    expect(index.lastBlockHash).to.not.equal(orphaned);
    expect(index.expiryOf(node, lost)).to.equal(0n);
    expect(index.expiryOf(node, kept)).to.equal(keptExpiry);
    expect((await index.sync()).reorg).to.equal(false);
  });

  it("notices a chain that became shorter than its last block", async () => {
    const index = new SubscriptionIndex(indexOptions());
    const snapshot = await rpc("evm_snapshot");
    const lost = newClientAddress();
    await buyer.subscribe({ nodeId: node, clientId: lost, clientKey: keyOf(lost), months: 1 });
    await connection.networkHelpers.mine(3);
    await index.sync();
    expect(index.expiryOf(node, lost)).to.be.greaterThan(0n);
    await rpc("evm_revert", [snapshot]);
    const result = await index.sync();
    expect(result.reorg).to.equal(true);
    expect(index.expiryOf(node, lost)).to.equal(0n);
  });

  it("refuses a wrong chain and runs as a background loop", async () => {
    await expectSdkError(new SubscriptionIndex(indexOptions({ chainId: 5 })).sync(), "WRONG_CHAIN");
    await expectSdkError((async () => new SubscriptionIndex({ provider: connection.ethers.provider, chainId: deployment.chainId }))(), "MISSING_ADDRESS");
    const index = new SubscriptionIndex(indexOptions({ nodeIds: [node] }));
    const errors: MailserverSdkError[] = [];
    index.start(20, (error) => errors.push(error));
    const client = newClientAddress();
    await buyer.subscribe({ nodeId: node, clientId: client, clientKey: keyOf(client), months: 1 });
    const deadline = Date.now() + 10_000;
    while (index.expiryOf(node, client) === 0n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await index.stop();
    expect(index.expiryOf(node, client)).to.be.greaterThan(0n);
    expect(errors).to.deep.equal([]);
    expect(index.entry(node, client)?.expiresAt).to.equal((await buyer.status(node, client)).expiresAtSeconds);
    expect((await buyer.status(node, client)).expiresAtSeconds - BigInt(await chainNow())).to.be.closeTo(MONTH, 24n * 3600n);
  });
});
