// Issue 22's gate and index behaviours against a real `npx hardhat node`, the SDK reaching it
// through a thin proxy that can hang, go down, refuse a block's logs or answer a header with
// null: deadlines (7), outages (6), re-reads built aside (4), over-full blocks and read budgets
// (3). The client side's deadlines use a libp2p double whose stream is accepted and never answered.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hexlify, JsonRpcProvider, Network, randomBytes, toQuantity, Wallet, type Signer } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import {
  AccessSession,
  ProviderClient,
  SubscriptionClient,
  encodeAccessGrant,
  presentAccessGrant,
  requestDigestOf,
  signAccessGrant,
  signClientConsent,
  signRequest,
  type ClientOptions,
} from "@status/mailserver-sdk";
import { AccessGate, SubscriptionIndex, type GateModeChange, type SubscriptionIndexOptions } from "@status/mailserver-sdk/server";
import { deployLocal, type LocalDeployment } from "../../deploy/local.js";
import { startHardhatNode, type LocalNode } from "../helpers/hardhatCli.js";
import { startRpcProxy, type RpcProxy } from "../helpers/rpcProxy.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

const UNIT = 10n ** 18n;
const PRICE = 10n * UNIT;
const peerOf = () => `16Uiu2HAm${hexlify(randomBytes(20)).slice(2)}`;

describe("SDK gate and index: deadlines, outages, re-reads, over-full blocks", function () {
  this.timeout(120_000);
  let node: LocalNode;
  let proxy: RpcProxy;
  let connection: NetworkConnection;
  let deployment: LocalDeployment;
  let nodeA: string;
  let buyer: SubscriptionClient;
  let startBlock: number;
  let provider: JsonRpcProvider;

  const rpc = (method: string, params: unknown[] = []) => connection.provider.request({ method, params });
  const head = async () => Number(await rpc("eth_blockNumber"));
  const chainNow = async () => Number(((await rpc("eth_getBlockByNumber", ["latest", false])) as { timestamp: string }).timestamp);
  const domain = () => ({ chainId: deployment.chainId, escrow: deployment.addresses.escrow });
  const indexOptions = (overrides: Partial<SubscriptionIndexOptions> = {}): SubscriptionIndexOptions => ({
    provider,
    chainId: deployment.chainId,
    escrow: deployment.addresses.escrow,
    startBlock,
    confirmations: 0,
    nodeIds: [nodeA],
    retry: { attempts: 1, timeoutMs: 1_000 },
    ...overrides,
  });
  const subscribe = async (clientKey = Wallet.createRandom()) => ({ key: clientKey, clientId: clientKey.address, ...(await buyer.subscribe({ nodeId: nodeA, clientId: clientKey.address, clientKey, months: 3 })) });
  const ask = (gate: AccessGate, signer: Signer, now: number, peerId = peerOf()) =>
    signRequest(signer, { nodeId: nodeA, requestDigest: requestDigestOf("q"), peerId, issuedAt: now }, domain()).then((request) => gate.check(request, { connectionPeerId: peerId }));
  const grant = async (gate: AccessGate, signer: Signer, now: number, peerId = peerOf()) =>
    ({ peerId, decision: await gate.presentGrant(await signAccessGrant(signer, domain(), { nodeId: nodeA, peerId, issuedAt: now }), { connectionPeerId: peerId }) });

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
    nodeA = (await new ProviderClient(options(deployer)).addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.5.0.1/tcp/1", pricePerMonth: PRICE })).nodeId;
    buyer = new SubscriptionClient(options(alice));
    provider = new JsonRpcProvider(proxy.url, Network.from(deployment.chainId), { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
  });

  after(async () => {
    provider?.destroy();
    await connection?.close().catch(() => undefined);
    await proxy?.close();
    await node?.stop();
  });

  afterEach(() => {
    proxy.maxLogs = Number.POSITIVE_INFINITY;
    proxy.down = false;
    proxy.hang = false;
    proxy.answer = undefined;
    proxy.blockReceipts = false;
    proxy.beforeForward = undefined;
  });

  describe("7: deadlines", () => {
    it("a hanging RPC fails a sync with RPC_TIMEOUT, a stale gate answers 'unavailable' in time, and the next sync recovers at once", async () => {
      const index = new SubscriptionIndex(indexOptions());
      const member = await subscribe();
      await index.sync();
      proxy.hang = true;
      const error = await expectSdkError(index.sync(), "RPC_TIMEOUT");
      expect(error.details).to.deep.include({ timeoutMs: 1_000 });
      // A gate in front of an index that never synced (a restart during the hang) must answer.
      const fresh = new SubscriptionIndex(indexOptions());
      const now = await chainNow();
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index: fresh, now: () => now, onError: () => undefined, onModeChange: () => undefined });
      expect((await grant(gate, member.key, now)).decision).to.deep.equal({ accepted: false, reason: "unavailable" });
      // Whatever the index's retry policy (here 4 attempts of 10 s), a decision waits no longer than the gate's deadline.
      const patient = new SubscriptionIndex(indexOptions({ retry: {} }));
      const errors: { code: string; details: Readonly<Record<string, unknown>> }[] = [];
      const quick = new AccessGate({ nodeId: nodeA, ...domain(), index: patient, now: () => now, contractReadTimeoutMs: 500, onError: (e) => errors.push(e), onModeChange: () => undefined });
      expect((await grant(quick, member.key, now)).decision).to.deep.equal({ accepted: false, reason: "unavailable" });
      expect(errors.map((e) => [e.code, e.details.timeoutMs]), "the gate's deadline ended it, not the index's").to.deep.equal([["RPC_TIMEOUT", 500]]);
      proxy.hang = false;
      expect((await index.sync()).reorg).to.equal(false);
      await fresh.sync();
      expect((await grant(gate, member.key, now)).decision.accepted).to.equal(true);
    });

    it("stop() does not wait for a sync hanging on the RPC (a shutdown during an outage)", async () => {
      const index = new SubscriptionIndex(indexOptions({ retry: { timeoutMs: 2_000 }, stopWaitMs: 200 }));
      await index.sync();
      proxy.hang = true;
      let settled = false;
      const running = index.sync().finally(() => (settled = true)).catch(() => undefined);
      await index.stop();
      expect(settled, "stop() returned while the sync still waits for the RPC").to.equal(false);
      proxy.hang = false;
      await running;
    });

    it("presentAccessGrant and AccessSession.start end with NODE_UNAVAILABLE when the server accepts the stream and never answers", async () => {
      // libp2p 2 streams (`sink`/`source`, as in @waku/sdk) and libp2p 3 streams (`send`, iterable).
      const silent = <T>() => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<T>>(() => undefined) }) });
      const streams = [
        () => ({ source: silent<Uint8Array>(), sink: async () => undefined, close: () => new Promise<void>(() => undefined) }),
        () => ({ ...silent<Uint8Array>(), send: () => true }),
        // A server that never even reads what it is sent.
        () => ({ source: silent<Uint8Array>(), sink: () => new Promise<void>(() => undefined) }),
      ];
      for (const stream of streams) {
        const libp2p = { peerId: { toString: () => peerOf() }, dialProtocol: async () => stream() };
        const error = await expectSdkError(presentAccessGrant(libp2p, "server", new Uint8Array([1, 2, 3]), { timeoutMs: 300 }), "NODE_UNAVAILABLE");
        expect(error.details).to.deep.include({ timedOut: true, timeoutMs: 300 });
        const session = new AccessSession({
          libp2p,
          peer: "server",
          makeGrant: async (peerId) => ({ bytes: encodeAccessGrant(await signAccessGrant(Wallet.createRandom(), domain(), { nodeId: nodeA, peerId })), expiresAt: 0 }),
          timeoutMs: 300,
        });
        await expectSdkError(session.start(), "NODE_UNAVAILABLE");
      }
      // A dial that never completes.
      const stuck = { peerId: { toString: () => peerOf() }, dialProtocol: () => new Promise<never>(() => undefined) };
      expect((await expectSdkError(presentAccessGrant(stuck, "server", new Uint8Array([1]), { timeoutMs: 300 }), "NODE_UNAVAILABLE")).details).to.deep.include({ timedOut: true });
    });
  });

  describe("6: an RPC outage", () => {
    it("keeps admitting what the last good index knew active (bounded by the grace), refuses what it cannot know, and says so", async () => {
      let clock = Date.now();
      const index = new SubscriptionIndex(indexOptions({ maxStalenessSeconds: 60, clock: () => clock }));
      const member = await subscribe();
      await index.sync();
      const late = await subscribe(); // paid after the last good sync
      const now = await chainNow();
      const changes: GateModeChange[] = [];
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now, staleGraceSeconds: 3_600, onError: () => undefined, onModeChange: (c) => changes.push(c) });
      const held = await grant(gate, member.key, now);
      expect(held.decision.accepted).to.equal(true);
      expect(gate.health()).to.deep.include({ mode: "fresh", graceAdmissions: 0 });

      proxy.down = true;
      await index.sync().catch(() => undefined);
      clock += 10 * 60_000; // ten minutes into the outage
      expect(index.isCaughtUp()).to.equal(false);
      expect(gate.checkPeer(held.peerId)).to.deep.include({ allowed: true });
      expect((await ask(gate, member.key, now)).reason).to.equal("allowed");
      expect((await grant(gate, member.key, now)).decision.accepted).to.equal(true);
      expect((await ask(gate, late.key, now)).reason).to.equal("unavailable");
      expect((await ask(gate, Wallet.createRandom(), now)).reason).to.equal("unavailable");
      const health = gate.health();
      expect(health).to.deep.include({ mode: "stale", staleGraceSeconds: 3_600 });
      expect(health.staleForSeconds).to.be.at.least(600);
      expect(health.graceAdmissions).to.be.at.least(3);
      expect(health.unavailable).to.be.at.least(2);
      expect(health.contractReadFailures).to.be.at.least(1);
      expect(changes.map((c) => c.mode)).to.deep.equal(["stale"]);

      // Beyond the grace the last index no longer admits.
      clock += 3_600_000;
      expect(gate.checkPeer(held.peerId)).to.deep.include({ allowed: false, reason: "unavailable" });
      expect(gate.health().mode).to.equal("degraded");

      // The RPC is back: one sync and the gate decides from the index again.
      proxy.down = false;
      clock = Date.now() + 4_300_000;
      await index.sync();
      expect((await ask(gate, late.key, now)).reason).to.equal("allowed");
      expect(gate.health().mode).to.equal("fresh");
      expect(changes.map((c) => c.mode)).to.deep.equal(["stale", "degraded", "fresh"]);
    });
  });

  describe("6b: a restart during an outage", () => {
    it("serves from the saved index within the grace (SQLite and JSON), and not beyond it", async () => {
      const dir = await mkdtemp(join(tmpdir(), "sdk-resilience-"));
      try {
        const member = await subscribe();
        let clock = Date.now();
        const saved = await SubscriptionIndex.open(join(dir, "index.sqlite"), indexOptions({ clock: () => clock }));
        await saved.sync();
        await saved.save(join(dir, "index.json"));
        await saved.close();
        proxy.down = true;
        clock += 30 * 60_000; // restarted half an hour into the outage
        const now = await chainNow();
        for (const restarted of [
          await SubscriptionIndex.open(join(dir, "index.sqlite"), indexOptions({ clock: () => clock })),
          await SubscriptionIndex.load(join(dir, "index.json"), indexOptions({ clock: () => clock })),
        ]) {
          await expectSdkError(restarted.sync(), "RPC_UNAVAILABLE");
          expect(restarted.isCaughtUp()).to.equal(false);
          const gate = new AccessGate({ nodeId: nodeA, ...domain(), index: restarted, now: () => now, staleGraceSeconds: 3_600, onError: () => undefined, onModeChange: () => undefined });
          expect((await ask(gate, member.key, now)).reason).to.equal("allowed");
          expect((await ask(gate, Wallet.createRandom(), now)).reason).to.equal("unavailable");
          expect(gate.health()).to.deep.include({ mode: "stale" });
          const strict = new AccessGate({ nodeId: nodeA, ...domain(), index: restarted, now: () => now, staleGraceSeconds: 600, onError: () => undefined, onModeChange: () => undefined });
          expect((await ask(strict, member.key, now)).reason).to.equal("unavailable");
          await restarted.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe("4: re-reads", () => {
    it("a null header from a lagging RPC is a transient error: the index keeps its state and continues", async () => {
      const index = new SubscriptionIndex(indexOptions());
      const member = await subscribe();
      await index.sync();
      const size = index.size;
      const last = toQuantity(index.lastBlock!);
      proxy.answer = (call) => (call.method === "eth_getBlockByNumber" && call.params?.[0] === last ? { result: null } : undefined);
      await expectSdkError(index.sync(), "RPC_UNAVAILABLE");
      expect(index.size).to.equal(size);
      expect(index.expiryOf(nodeA, member.clientId)).to.equal(member.expiresAtSeconds);
      proxy.answer = undefined;
      const result = await index.sync();
      expect(result.reorg).to.equal(false);
      expect(index.size).to.equal(size);
    });

    it("a reorg re-reads aside: while it reads, the previous state still answers; then the new one is swapped in", async () => {
      const survivor = await subscribe();
      const snapshot = await rpc("evm_snapshot");
      const phantom = await subscribe();
      const index = new SubscriptionIndex(indexOptions({ maxBlockRange: 2 }));
      await index.sync();
      expect(index.expiryOf(nodeA, phantom.clientId)).to.equal(phantom.expiresAtSeconds);
      await rpc("evm_revert", [snapshot]);
      for (let i = 0; i < 6; i++) await rpc("evm_mine");
      const seen: bigint[] = [];
      proxy.beforeForward = (call) => {
        if (call.method === "eth_getLogs") seen.push(index.expiryOf(nodeA, survivor.clientId));
      };
      const result = await index.sync();
      expect(result.reorg).to.equal(true);
      expect(seen.length).to.be.greaterThan(1);
      expect(seen.every((e) => e === survivor.expiresAtSeconds), "the survivor stays admitted during the re-read").to.equal(true);
      expect(index.expiryOf(nodeA, phantom.clientId)).to.equal(0n);
      expect(index.expiryOf(nodeA, survivor.clientId)).to.equal(survivor.expiresAtSeconds);
    });
  });

  describe("3: over-full blocks and read budgets", () => {
    it("reads a one-block range the RPC refuses from the block's receipts", async () => {
      const from = await head();
      const [deployer] = await connection.ethers.getSigners();
      const bulk = await connection.ethers.deployContract("BulkSubscriber", [deployment.addresses.escrow, deployment.addresses.token], deployer);
      const bulkAddress = await bulk.getAddress();
      const snt = await connection.ethers.getContractAt("SNTLikeToken", deployment.addresses.token);
      await (await snt.generateTokens(bulkAddress, 3n * PRICE)).wait();
      await (await bulk.approveEscrow(3n * PRICE)).wait();
      const clients = [Wallet.createRandom(), Wallet.createRandom(), Wallet.createRandom()];
      const consents = await Promise.all(clients.map((c) => signClientConsent(c, { ...domain(), nodeId: nodeA, owner: bulkAddress, deadline: 2n ** 40n })));
      await (await bulk.subscribeMany(nodeA, clients.map((c) => c.address), 1, PRICE, consents)).wait();
      proxy.maxLogs = 1;
      const refusals = proxy.refusals;
      // Without eth_getBlockReceipts and one event type still too many: a clear error, not a loop.
      const index = new SubscriptionIndex(indexOptions({ startBlock: from + 1 }));
      const error = await expectSdkError(index.sync(), "RPC_UNAVAILABLE");
      expect(error.message).to.match(/use an RPC with a higher log limit/);
      proxy.blockReceipts = true;
      const result = await index.sync();
      expect(proxy.refusals).to.be.greaterThan(refusals);
      expect(proxy.calls.get("eth_getBlockReceipts") ?? 0).to.be.greaterThan(0);
      expect(result.events).to.equal(3);
      for (const c of clients) expect(index.expiryOf(nodeA, c.address)).to.be.greaterThan(0n);
    });

    it("without eth_getBlockReceipts, reads such a block one event type at a time, in chain order", async () => {
      const from = await head();
      const [deployer, alice] = await connection.ethers.getSigners();
      const leaving = await subscribe(); // alice owns it
      const bulk = await connection.ethers.deployContract("BulkSubscriber", [deployment.addresses.escrow, deployment.addresses.token], deployer);
      const bulkAddress = await bulk.getAddress();
      const snt = await connection.ethers.getContractAt("SNTLikeToken", deployment.addresses.token);
      await (await snt.generateTokens(bulkAddress, 2n * PRICE)).wait();
      await (await bulk.approveEscrow(2n * PRICE)).wait();
      const clients = [Wallet.createRandom(), Wallet.createRandom()];
      const consents = await Promise.all(clients.map((c) => signClientConsent(c, { ...domain(), nodeId: nodeA, owner: bulkAddress, deadline: 2n ** 40n })));
      const escrow = await connection.ethers.getContractAt("ISubscriptionEscrow", deployment.addresses.escrow, alice);
      // One block: two Subscribed and a Cancelled.
      await rpc("evm_setAutomine", [false]);
      let sent;
      try {
        sent = [await bulk.subscribeMany(nodeA, clients.map((c) => c.address), 1, PRICE, consents), await escrow.cancel(nodeA, leaving.clientId, leaving.subscription)];
        await rpc("evm_mine");
      } finally {
        await rpc("evm_setAutomine", [true]);
      }
      const blocks = await Promise.all(sent.map(async (tx) => (await tx.wait())!.blockNumber));
      expect(blocks[0]).to.equal(blocks[1]);
      proxy.maxLogs = 2;
      const index = new SubscriptionIndex(indexOptions({ startBlock: from + 1 }));
      const refusals = proxy.refusals;
      const asked = proxy.calls.get("eth_getBlockReceipts") ?? 0;
      const result = await index.sync();
      expect(proxy.refusals).to.be.greaterThan(refusals);
      expect(proxy.calls.get("eth_getBlockReceipts") ?? 0).to.be.greaterThan(asked); // asked, refused
      expect(result.events).to.equal(4); // the purchase of `leaving` in its own block, then 3
      for (const c of clients) expect(index.expiryOf(nodeA, c.address)).to.be.greaterThan(0n);
      expect(index.expiryOf(nodeA, leaving.clientId)).to.equal(0n);
    });

    it("while stale, strangers cannot spend the contract reads of known subscribers; each peer has its own budget", async () => {
      let clock = Date.now();
      const index = new SubscriptionIndex(indexOptions({ maxStalenessSeconds: 60, clock: () => clock }));
      const member = await subscribe();
      await index.sync();
      proxy.maxLogs = -1; // the logs are refused; contract reads still work
      await index.sync().catch(() => undefined);
      clock += 120_000;
      const now = await chainNow();
      const gate = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now, staleGraceSeconds: 0, contractCacheSeconds: 0, contractReadsPerSecond: 5, onError: () => undefined, onModeChange: () => undefined });
      const reads = proxy.calls.get("eth_call") ?? 0;
      // 40 fresh keys from 40 peers, then 20 from one peer.
      for (let i = 0; i < 40; i++) await ask(gate, Wallet.createRandom(), now);
      const onePeer = peerOf();
      for (let i = 0; i < 20; i++) await ask(gate, Wallet.createRandom(), now, onePeer);
      expect((proxy.calls.get("eth_call") ?? 0) - reads, "strangers' reads are capped").to.be.at.most(4);
      expect((await ask(gate, member.key, now)).reason, "a known subscriber still gets a read").to.equal("allowed");
      // One peer asking again and again gets its own budget (6 a minute), not the whole of it.
      const roomy = new AccessGate({ nodeId: nodeA, ...domain(), index, now: () => now, staleGraceSeconds: 0, contractCacheSeconds: 0, contractReadsPerSecond: 100, onError: () => undefined, onModeChange: () => undefined });
      const before = proxy.calls.get("eth_call") ?? 0;
      const greedy = peerOf();
      const reasons = [];
      for (let i = 0; i < 12; i++) reasons.push((await ask(roomy, member.key, now, greedy)).reason);
      expect((proxy.calls.get("eth_call") ?? 0) - before).to.equal(6);
      expect(reasons.filter((r) => r === "unavailable").length).to.equal(6);
      expect((await ask(roomy, member.key, now)).reason, "another peer is not held back").to.equal("allowed");
    });
  });
});
