// The gate and the subscription index against a real `npx hardhat node` on loopback, the SDK
// reaching it over HTTP (through a thin proxy where a hosted provider's refusals or an outage are
// needed): access grants, the six review findings of issue 11, range splitting, a reorg between
// ranges, node-filter changes and a process killed mid-sync.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hexlify, Interface, type Signer, JsonRpcProvider, Network, randomBytes, toQuantity, TypedDataEncoder, Wallet } from "ethers";
import { artifacts, network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import {
  MailserverSdkError,
  ProviderClient,
  SubscriptionClient,
  GRANT_TYPES,
  accessTypedDataDomain,
  decodeAccessGrant,
  encodeAccessGrant,
  grantSigningDigest,
  accessDomainSeparator,
  requestDigestOf,
  signAccessGrant,
  signRequest,
  type AccessGrant,
  type ClientOptions,
} from "@status/mailserver-sdk";
import { AccessGate, ESCROW_EVENT_TOPICS, SubscriptionIndex, type SubscriptionIndexOptions } from "@status/mailserver-sdk/server";
import { deployLocal, type LocalDeployment } from "../../deploy/local.js";
import { ROOT, startHardhatNode, type LocalNode } from "../helpers/hardhatCli.js";
import { startRpcProxy, type RpcProxy } from "../helpers/rpcProxy.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

const UNIT = 10n ** 18n;
const PRICE = 10n * UNIT;


const peerOf = () => `16Uiu2HAm${hexlify(randomBytes(20)).slice(2)}`;

describe("SDK gate and index against a hardhat node", function () {
  this.timeout(120_000);
  let node: LocalNode;
  let proxy: RpcProxy;
  let connection: NetworkConnection;
  let deployment: LocalDeployment;
  let nodeA: string;
  let nodeB: string;
  let buyer: SubscriptionClient;
  let startBlock: number;
  let provider: JsonRpcProvider;
  let dir: string;

  const rpc = (method: string, params: unknown[] = []) => connection.provider.request({ method, params });
  // One evm_mine per block: hardhat_mine reserves blocks whose parent hash is zero.
  const mineEach = async (n: number) => {
    for (let i = 0; i < n; i++) await rpc("evm_mine");
  };
  const head = async () => Number(await rpc("eth_blockNumber"));
  const chainNow = async () => Number(((await rpc("eth_getBlockByNumber", ["latest", false])) as { timestamp: string }).timestamp);
  const domain = () => ({ chainId: deployment.chainId, escrow: deployment.addresses.escrow });
  const indexOptions = (overrides: Partial<SubscriptionIndexOptions> = {}): SubscriptionIndexOptions => ({
    provider,
    chainId: deployment.chainId,
    escrow: deployment.addresses.escrow,
    startBlock,
    confirmations: 0,
    retry: { attempts: 1 },
    ...overrides,
  });
  // Each purchase for a fresh client key carries that key's consent (the escrow requires it).
  const subscribe = async (nodeId: string, clientKey: { address: string } & Parameters<typeof buyer.signConsent>[0] = Wallet.createRandom()) => {
    const clientId = clientKey.address;
    return { clientId, ...(await buyer.subscribe({ nodeId, clientId, clientKey, months: 1 })) };
  };

  before(async () => {
    node = await startHardhatNode();
    proxy = await startRpcProxy(node.url);
    connection = await network.create({ network: "localhost", override: { url: node.url } });
    deployment = await deployLocal(connection);
    startBlock = await head();
    const [deployer, alice] = await connection.ethers.getSigners();
    const snt = await connection.ethers.getContractAt("SNTLikeToken", deployment.addresses.token);
    await (await snt.generateTokens(alice!.address, 100_000n * UNIT)).wait();
    const options = (runner: ClientOptions["runner"]): ClientOptions => ({ runner, chainId: deployment.chainId, addresses: { registry: deployment.addresses.registry, escrow: deployment.addresses.escrow } });
    const operator = new ProviderClient(options(deployer));
    nodeA = (await operator.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.4.0.1/tcp/1", pricePerMonth: PRICE })).nodeId;
    nodeB = (await operator.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.4.0.2/tcp/1", pricePerMonth: PRICE })).nodeId;
    buyer = new SubscriptionClient(options(alice));
    provider = new JsonRpcProvider(proxy.url, Network.from(deployment.chainId), { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
    dir = await mkdtemp(join(tmpdir(), "sdk-index-"));
  });

  after(async () => {
    provider?.destroy();
    await connection?.close().catch(() => undefined);
    await proxy?.close();
    await node?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    proxy.maxLogs = Number.POSITIVE_INFINITY;
    proxy.down = false;
    proxy.beforeForward = undefined;
  });

  it("decodes the escrow's events by offset with the compiled interface's topics", async () => {
    const iface = new Interface((await artifacts.readArtifact("ISubscriptionEscrow")).abi);
    for (const [name, topic] of Object.entries(ESCROW_EVENT_TOPICS)) expect(iface.getEvent(name as "Subscribed")!.topicHash, name).to.equal(topic);
  });

  describe("access grants", () => {
    it("signs, encodes and decodes a grant; the digest is EIP-712's", async () => {
      const client = Wallet.createRandom();
      const grant = await signAccessGrant(client, domain(), { nodeId: nodeA, peerId: peerOf(), issuedAt: 1_000, ttlSeconds: 3_600 });
      expect(grant).to.deep.include({ nodeId: nodeA, clientId: client.address, issuedAt: 1_000, expiresAt: 4_600 });
      const digest = grantSigningDigest(grant, accessDomainSeparator(domain()));
      expect(hexlify(digest!)).to.equal(TypedDataEncoder.hash(accessTypedDataDomain(domain()), GRANT_TYPES, grant));
      const bytes = encodeAccessGrant(grant);
      expect(bytes.length).to.equal(134 + grant.peerId.length);
      expect(decodeAccessGrant(bytes)).to.deep.equal(grant);
      await expectSdkError(() => decodeAccessGrant(bytes.subarray(0, 100)), "INVALID_GRANT");
      await expectSdkError(() => decodeAccessGrant(Uint8Array.from([9, ...bytes.subarray(1)])), "INVALID_GRANT");
      await expectSdkError(() => decodeAccessGrant(Uint8Array.from([...bytes.subarray(0, 134), 0xff, 0xfe])), "INVALID_GRANT");
      await expectSdkError(() => signAccessGrant(client, domain(), { nodeId: nodeA, peerId: peerOf(), ttlSeconds: 86_401 }), "INVALID_ARGUMENT");
    });

    it("admits requests on a granted peer by a lookup, and a cancellation as soon as the index reads it", async () => {
      const index = new SubscriptionIndex(indexOptions({ nodeIds: [nodeA] }));
      const client = Wallet.createRandom();
      const bought = await subscribe(nodeA, client);
      await index.sync();
      let now = await chainNow();
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now });
      const peer = peerOf();
      const grant = await signAccessGrant(client, domain(), { nodeId: nodeA, peerId: peer, issuedAt: now });
      expect(await gate.presentGrant(decodeAccessGrant(encodeAccessGrant(grant)), { connectionPeerId: peer })).to.deep.equal({
        accepted: true, clientId: client.address, until: Math.min(grant.expiresAt, Number(bought.expiresAtSeconds)),
      });
      const calls = [...proxy.calls.values()].reduce((a, b) => a + b, 0);
      for (let i = 0; i < 1_000; i++) expect(gate.checkPeer(peer)).to.deep.equal({ allowed: true, reason: "allowed", clientId: client.address });
      expect([...proxy.calls.values()].reduce((a, b) => a + b, 0)).to.equal(calls); // no RPC
      expect(gate.checkPeer(peerOf())).to.deep.equal({ allowed: false, reason: "no-grant" });

      await buyer.cancel(nodeA, client.address);
      expect(gate.checkPeer(peer).allowed).to.equal(true); // not read yet
      await index.sync();
      expect(gate.checkPeer(peer)).to.deep.include({ allowed: false, reason: "no-subscription" });

      // The grant's own expiry, and forgetting a peer.
      const other = Wallet.createRandom();
      await subscribe(nodeA, other);
      await index.sync();
      const peer2 = peerOf();
      expect((await gate.presentGrant(await signAccessGrant(other, domain(), { nodeId: nodeA, peerId: peer2, issuedAt: now, ttlSeconds: 60 }), { connectionPeerId: peer2 })).accepted).to.equal(true);
      expect(gate.checkPeer(peer2).allowed).to.equal(true);
      now += 60;
      expect(gate.checkPeer(peer2)).to.deep.include({ allowed: false, reason: "grant-expired" });
      now -= 60;
      await gate.presentGrant(await signAccessGrant(other, domain(), { nodeId: nodeA, peerId: peer2, issuedAt: now }), { connectionPeerId: peer2 });
      gate.forgetPeer(peer2);
      expect(gate.checkPeer(peer2).reason).to.equal("no-grant");
    });

    it("refuses bad grants with a reason, never an exception; caps grants per client", async () => {
      const index = new SubscriptionIndex(indexOptions({ nodeIds: [nodeA] }));
      const client = Wallet.createRandom();
      await subscribe(nodeA, client);
      await index.sync();
      const now = await chainNow();
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now, maxGrantsPerClient: 2 });
      const peer = peerOf();
      const sign = (fields: Partial<{ nodeId: string; peerId: string; issuedAt: number; ttlSeconds: number }> = {}, signer: Signer = client) =>
        signAccessGrant(signer, domain(), { nodeId: nodeA, peerId: peer, issuedAt: now, ...fields });
      const present = (grant: unknown, connectionPeerId = peer) => gate.presentGrant(grant as AccessGrant, { connectionPeerId });
      const good = await sign();
      expect(await present(null)).to.deep.equal({ accepted: false, reason: "malformed" });
      expect(await present({ ...good, nodeId: "0x12" })).to.deep.equal({ accepted: false, reason: "malformed" });
      expect(await present({ ...good, signature: "0xzz" })).to.deep.equal({ accepted: false, reason: "malformed" });
      expect(await present({ ...good, expiresAt: good.issuedAt + 86_401 })).to.deep.equal({ accepted: false, reason: "malformed" });
      expect(await present(await sign({ nodeId: nodeB }))).to.deep.equal({ accepted: false, reason: "wrong-node" });
      expect(await present(good, peerOf())).to.deep.equal({ accepted: false, reason: "peer-mismatch" });
      expect(await present(await sign({ issuedAt: now - 7_200, ttlSeconds: 3_600 }))).to.deep.equal({ accepted: false, reason: "grant-expired" });
      expect(await present(await sign({ issuedAt: now + 600 }))).to.deep.equal({ accepted: false, reason: "not-yet-valid" });
      expect(await present({ ...good, expiresAt: good.expiresAt - 1 })).to.deep.equal({ accepted: false, reason: "bad-signature" });
      expect(await present({ ...good, clientId: Wallet.createRandom().address })).to.deep.equal({ accepted: false, reason: "bad-signature" });
      expect(await present(await sign({}, Wallet.createRandom()))).to.deep.equal({ accepted: false, reason: "no-subscription" });
      expect(gate.liveGrants).to.equal(0);

      // A peer replaces its grant; one client holds at most 2 peers (the oldest goes).
      const [p1, p2, p3] = [peerOf(), peerOf(), peerOf()];
      for (const p of [p1, p2, p3]) expect((await present(await sign({ peerId: p }), p)).accepted).to.equal(true);
      expect(gate.checkPeer(p1).reason).to.equal("no-grant");
      expect(gate.checkPeer(p3).allowed).to.equal(true);
      const stranger = Wallet.createRandom();
      await subscribe(nodeA, stranger);
      await index.sync();
      expect((await present(await sign({ peerId: p3 }, stranger), p3)).accepted).to.equal(true);
      expect(gate.checkPeer(p3)).to.deep.include({ allowed: true, clientId: stranger.address });
      expect(gate.liveGrants).to.equal(2);
    });
  });

  describe("review findings", () => {
    it("1: a stalled index stops claiming to be current; the gate then asks the contract; errors are reported by default", async () => {
      let clock = Date.now();
      const index = new SubscriptionIndex(indexOptions({ nodeIds: [nodeA], maxStalenessSeconds: 30, clock: () => clock }));
      const cancelledKey = Wallet.createRandom();
      const cancelled = await subscribe(nodeA, cancelledKey);
      await index.sync();
      expect(index.isCaughtUp()).to.equal(true);
      const now = await chainNow();
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now + 5, contractCacheSeconds: 0, onError: () => undefined });

      // The provider now refuses the logs (a cap anyone can provoke), the subscriber cancels and
      // someone else pays.
      proxy.maxLogs = -1;
      await buyer.cancel(nodeA, cancelled.clientId);
      const paid = Wallet.createRandom();
      await subscribe(nodeA, paid);
      // Even one block's logs are refused, and there are no receipts to read instead.
      await expectSdkError(() => index.sync(), "RPC_UNAVAILABLE");
      clock += 31_000;
      expect(index.isCaughtUp()).to.equal(false);
      expect(index.freshness()).to.deep.include({ fresh: false });
      expect(index.freshness().lastError).to.be.instanceOf(MailserverSdkError);
      expect(index.expiryOf(nodeA, cancelled.clientId)).to.be.greaterThan(0n); // memory is stale...
      const ask = async (signer: Signer, peerId = peerOf()) =>
        gate.check(await signRequest(signer, { nodeId: nodeA, requestDigest: requestDigestOf("q"), peerId, issuedAt: now + 5 }, domain()), { connectionPeerId: peerId });
      expect((await ask(cancelledKey)).reason).to.equal("no-subscription"); // ...but the gate reads the contract
      expect((await ask(paid)).reason).to.equal("allowed");
      const grantPeer = peerOf();
      expect(await gate.presentGrant(await signAccessGrant(paid, domain(), { nodeId: nodeA, peerId: grantPeer, issuedAt: now }), { connectionPeerId: grantPeer })).to.deep.include({ accepted: true });

      // start() without a handler reports to console.error.
      const reported: unknown[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => void reported.push(args.join(" "));
      try {
        index.start(10);
        const deadline = Date.now() + 10_000;
        while (reported.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await index.stop();
      } finally {
        console.error = original;
      }
      expect(String(reported[0])).to.match(/^\[mailserver-sdk index\] RPC_UNAVAILABLE: the RPC refuses the escrow's logs of block/);
    });

    it("1b: the cancelled subscriber is refused once the index is stale (contract read)", async () => {
      let clock = Date.now();
      const index = new SubscriptionIndex(indexOptions({ nodeIds: [nodeA], maxStalenessSeconds: 30, clock: () => clock }));
      const client = Wallet.createRandom();
      await subscribe(nodeA, client);
      await index.sync();
      const now = await chainNow();
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now + 5, contractCacheSeconds: 0 });
      const peer = peerOf();
      await gate.presentGrant(await signAccessGrant(client, domain(), { nodeId: nodeA, peerId: peer, issuedAt: now }), { connectionPeerId: peer });
      proxy.maxLogs = -1;
      await buyer.cancel(nodeA, client.address);
      await index.sync().catch(() => undefined);
      clock += 31_000;
      const request = async () => gate.check(await signRequest(client, { nodeId: nodeA, requestDigest: requestDigestOf("q"), peerId: peer, issuedAt: now + 5 }, domain()), { connectionPeerId: peer });
      expect((await request()).reason).to.equal("no-subscription");
      expect(gate.checkPeer(peer).allowed).to.equal(false);
    });

    it("2: an index saved for node A and loaded for A and B reads B's earlier subscriptions (JSON and SQLite)", async () => {
      const b = await subscribe(nodeB);
      await subscribe(nodeA);
      const path = join(dir, "filter.json");
      const onlyA = new SubscriptionIndex(indexOptions({ nodeIds: [nodeA] }));
      await onlyA.sync();
      await onlyA.save(path);
      const both = await SubscriptionIndex.load(path, indexOptions({ nodeIds: [nodeA, nodeB] }));
      await both.sync();
      expect(both.expiryOf(nodeB, b.clientId)).to.equal(b.expiresAtSeconds);
      // A version 1 file never said which nodes it covered: it is not continued.
      const v1 = join(dir, "v1.json");
      await writeFile(v1, JSON.stringify({ ...onlyA.toSnapshot(), version: 1, nodeIds: undefined }));
      const fromV1 = await SubscriptionIndex.load(v1, indexOptions({ nodeIds: [nodeA, nodeB] }));
      expect([fromV1.lastBlock, fromV1.size]).to.deep.equal([undefined, 0]);

      const db = join(dir, "filter.sqlite");
      const storedA = await SubscriptionIndex.open(db, indexOptions({ nodeIds: [nodeA] }));
      await storedA.sync();
      expect(storedA.expiryOf(nodeB, b.clientId)).to.equal(0n);
      await storedA.close();
      const storedBoth = await SubscriptionIndex.open(db, indexOptions({ nodeIds: [nodeB, nodeA] }));
      expect(storedBoth.size).to.equal(0); // another filter: re-read
      const result = await storedBoth.sync();
      expect(result.fromBlock).to.equal(startBlock);
      expect(storedBoth.expiryOf(nodeB, b.clientId)).to.equal(b.expiresAtSeconds);
      await storedBoth.close();
      const again = await SubscriptionIndex.open(db, indexOptions({ nodeIds: [nodeA, nodeB] }));
      expect(again.size).to.equal(storedBoth.size); // same filter (any order): continued
      expect((await again.sync()).fromBlock).to.equal(undefined);
      await again.close();
    });

    it("3: a reorg between two ranges of one sync is noticed (parent hash) and re-read", async () => {
      const from = await head();
      const snapshot = await rpc("evm_snapshot");
      const phantom = await subscribe(nodeA); // block from+1, in the first range
      await mineEach(5);
      const index = new SubscriptionIndex(indexOptions({ startBlock: from, maxBlockRange: 3, nodeIds: [nodeA] }));
      const secondRangeEnd = toQuantity(from + 5);
      let reorged = false;
      proxy.beforeForward = async (call) => {
        // The moment the index starts on the second range: the first one was read and checked.
        if (!reorged && call.method === "eth_getBlockByNumber" && call.params?.[0] === secondRangeEnd) {
          reorged = true;
          await fetch(node.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "evm_revert", params: [snapshot] }) });
          await fetch(node.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(Array.from({ length: 10 }, (_, id) => ({ jsonrpc: "2.0", id, method: "evm_mine", params: [] }))) });
        }
      };
      const result = await index.sync();
      expect(reorged).to.equal(true);
      expect(result.reorg).to.equal(true);
      expect(index.expiryOf(nodeA, phantom.clientId)).to.equal(0n);
      expect(index.lastBlockHash).to.equal(((await rpc("eth_getBlockByNumber", [toQuantity(index.lastBlock!), false])) as { hash: string }).hash);
    });

    it("4: nonces of requests without a subscription are not remembered", async () => {
      const index = new SubscriptionIndex(indexOptions({ nodeIds: [nodeA] }));
      const member = Wallet.createRandom();
      await subscribe(nodeA, member);
      await index.sync();
      const now = await chainNow();
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now });
      const peer = peerOf();
      const sign = (signer: Signer) => signRequest(signer, { nodeId: nodeA, requestDigest: requestDigestOf("q"), peerId: peer, issuedAt: now }, domain());
      for (let i = 0; i < 30; i++) expect((await gate.check(await sign(Wallet.createRandom()), { connectionPeerId: peer })).reason).to.equal("no-subscription");
      expect(gate.rememberedNonces).to.equal(0);
      const request = await sign(member);
      expect((await gate.check(request, { connectionPeerId: peer })).allowed).to.equal(true);
      expect((await gate.check(request, { connectionPeerId: peer })).reason).to.equal("replay");
      expect(gate.rememberedNonces).to.equal(1);
    });

    it("5: an RPC failure before catch-up denies 'unavailable' (no throw), and contract reads are rate limited", async () => {
      const index = new SubscriptionIndex(indexOptions({ nodeIds: [nodeA] }));
      const now = await chainNow();
      const errors: MailserverSdkError[] = [];
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now, contractReadsPerSecond: 5, onError: (e) => errors.push(e) });
      const peer = peerOf();
      const ask = async () => gate.check(await signRequest(Wallet.createRandom(), { nodeId: nodeA, requestDigest: requestDigestOf("q"), peerId: peer, issuedAt: now }, domain()), { connectionPeerId: peer });
      proxy.down = true;
      expect((await ask()).reason).to.equal("unavailable");
      expect(errors[0]?.code).to.equal("RPC_UNAVAILABLE");
      proxy.down = false;
      const before = proxy.calls.get("eth_call") ?? 0;
      const reasons = [];
      for (let i = 0; i < 40; i++) reasons.push((await ask()).reason);
      expect((proxy.calls.get("eth_call") ?? 0) - before).to.be.at.most(5);
      expect(reasons.filter((r) => r === "no-subscription").length).to.be.at.most(5);
      expect(reasons.filter((r) => r === "unavailable").length).to.be.at.least(35);
    });

    it("6: a snapshot or database file that is not valid gives MailserverSdkError", async () => {
      const path = join(dir, "bad.json");
      const valid = new SubscriptionIndex(indexOptions()).toSnapshot();
      const cases: unknown[] = [
        null,
        { ...valid, chainId: "not a number" },
        { ...valid, lastBlock: 5, lastBlockHash: "0x01", entries: [{ nodeId: "zz", clientId: "0x1", owner: "0x2", expiresAt: "x" }] },
        { ...valid, lastBlock: 5, lastBlockHash: "0x01", entries: null },
        { ...valid, nodeIds: ["nope"] },
      ];
      for (const body of cases) {
        await writeFile(path, JSON.stringify(body));
        await expectSdkError(() => SubscriptionIndex.load(path, indexOptions()), "INVALID_ARGUMENT");
      }
      const notDb = join(dir, "not-a-db.sqlite");
      await writeFile(notDb, "this is not an SQLite database, just some text long enough to look like a header....");
      await expectSdkError(() => SubscriptionIndex.open(notDb, indexOptions()), "INVALID_ARGUMENT");
      const other = join(dir, "other-chain.sqlite");
      (await SubscriptionIndex.open(other, indexOptions())).close();
      await expectSdkError(() => SubscriptionIndex.open(other, indexOptions({ chainId: 1, escrow: deployment.addresses.escrow })), "WRONG_CHAIN");
    });
  });

  describe("index", () => {
    it("splits a range the provider refuses as too large", async () => {
      const from = await head();
      const bought = [];
      for (let i = 0; i < 8; i++) bought.push(await subscribe(nodeA));
      proxy.maxLogs = 3;
      const index = new SubscriptionIndex(indexOptions({ startBlock: from + 1 }));
      const result = await index.sync();
      expect(proxy.refusals).to.be.greaterThan(0);
      expect(result.events).to.equal(8);
      for (const b of bought) expect(index.expiryOf(nodeA, b.clientId)).to.equal(b.expiresAtSeconds);
    });

    it("SubscriptionClient record lookups halve a refused range too; a client's own receipts need no scan", async () => {
      const { clientId, subscription } = await subscribe(nodeA);
      let record = subscription;
      for (let i = 0; i < 4; i++) record = (await buyer.extend({ nodeId: nodeA, clientId, months: 1, subscription: record })).subscription;
      const addresses = { registry: deployment.addresses.registry, escrow: deployment.addresses.escrow, startBlock };
      proxy.maxLogs = 2;
      const refusals = proxy.refusals;
      const reader = new SubscriptionClient({ runner: provider, chainId: deployment.chainId, addresses, retry: { attempts: 1 } });
      expect(await reader.getSubscription(nodeA, clientId)).to.deep.equal(record);
      expect(proxy.refusals).to.be.greaterThan(refusals);

      proxy.maxLogs = Number.POSITIVE_INFINITY;
      const owner = new SubscriptionClient({ runner: await provider.getSigner((await connection.ethers.getSigners())[1]!.address), chainId: deployment.chainId, addresses });
      const extended = await owner.extend({ nodeId: nodeA, clientId, months: 1, subscription: record });
      const scans = proxy.calls.get("eth_getLogs") ?? 0;
      const reads = proxy.calls.get("eth_call") ?? 0;
      expect(await owner.getSubscription(nodeA, clientId)).to.deep.equal(extended.subscription);
      expect(await owner.status(nodeA, clientId)).to.deep.include({ active: true, expiresAtSeconds: extended.expiresAtSeconds });
      expect(proxy.calls.get("eth_getLogs") ?? 0, "a learned record needs no event scan").to.equal(scans);
      // Each use still checks the learned record against the one-word commitment (then the view).
      expect((proxy.calls.get("eth_call") ?? 0) - reads).to.equal(3);
    });

    it("persists in SQLite (WAL) and a process killed mid-sync leaves a consistent index", async () => {
      const from = await head();
      for (let i = 0; i < 40; i++) await subscribe(i % 2 === 0 ? nodeA : nodeB);
      const path = join(dir, "crash.sqlite");
      const args = JSON.stringify({ url: node.url, path, chainId: deployment.chainId.toString(), escrow: deployment.addresses.escrow, startBlock: from + 1 });
      const child = spawn(process.execPath, [join(ROOT, "test/helpers/indexSyncChild.ts"), args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let lines = 0;
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
      child.stdout.on("data", (chunk: Buffer) => {
        lines += chunk.toString().split("\n").filter((l) => l.startsWith("range")).length;
        if (lines >= 12) child.kill("SIGKILL");
      });
      expect(await exited, stderr).to.equal("SIGKILL");

      // SQLite's header: file format write/read versions 2 = WAL.
      const header = await readFile(path);
      expect([header[18], header[19]]).to.deep.equal([2, 2]);
      const reopened = await SubscriptionIndex.open(path, indexOptions({ startBlock: from + 1 }));
      const cursor = reopened.lastBlock!;
      expect(cursor).to.be.within(from + 11, await head() - 1); // killed in the middle
      // Exactly the chain's state at the cursor: an in-memory index read up to that block.
      const reference = new SubscriptionIndex(indexOptions({ startBlock: from + 1, confirmations: (await head()) - cursor }));
      await reference.sync();
      expect(reference.lastBlock).to.equal(cursor);
      const sorted = (i: SubscriptionIndex) => i.entries().sort((a, b) => (a.clientId < b.clientId ? -1 : 1));
      expect(sorted(reopened)).to.deep.equal(sorted(reference));
      // And it continues from there to the same end as a fresh read.
      expect((await reopened.sync()).fromBlock).to.equal(cursor + 1);
      const full = new SubscriptionIndex(indexOptions({ startBlock: from + 1 }));
      await full.sync();
      expect(reopened.size).to.equal(40);
      expect(sorted(reopened)).to.deep.equal(sorted(full));
      await reopened.close();
    });
  });
});
