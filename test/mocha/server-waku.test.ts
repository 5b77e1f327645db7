// The mail server end to end with the Waku project's own client: real @waku/sdk 0.0.36 light
// nodes (their defaults, plain ws allowed on loopback) against the server on loopback, the
// registry and escrow on a `hardhat node`. Alice lightpushes while Bob is offline; Bob presents
// his grant and gets exactly her messages, in order, across pages; Carol, who has not paid, is
// refused; Bob is refused after his subscription expired and after he cancelled.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet } from "ethers";
import { bytesToUtf8, utf8ToBytes, type IDecodedMessage, type LightNode } from "@waku/sdk";
import { MailServerNode, SqliteArchive } from "@status/mailserver-node";
import { AccessSession, MailserverSdkError, accessGrantMaker } from "@status/mailserver-sdk";
import { AccessGate, type SubscriptionIndex } from "@status/mailserver-sdk/server";
import { fetchMessages, presentGrant, serverPeer, startChain, wakuClient, type Chain } from "../helpers/mailServer.js";
import { relayPeerOf, type RelayNode } from "../helpers/wakuRelay.js";

const TOPIC = "/mailserver-test/1/chat/proto";

describe("mail server with @waku/sdk clients", function () {
  this.timeout(180_000);

  let chain: Chain;
  let index: SubscriptionIndex;
  let tmp: string;
  let archive: SqliteArchive;
  let server: MailServerNode;
  let relayPeer: RelayNode;
  let clockOffset = 0;
  const clients: LightNode[] = [];
  const bobKey = Wallet.createRandom() as unknown as Wallet;
  const now = () => Math.floor(Date.now() / 1000) + clockOffset;

  // The index also syncs on a timer: a sync already running may predate the last transaction.
  const synced = async () => {
    await index.sync();
    await index.sync();
  };
  const wsAddress = () => server.multiaddrs.find((a) => a.includes("/ws/"))!;
  const client = async () => {
    const waku = await wakuClient(wsAddress());
    clients.push(waku);
    return waku;
  };
  const fetchAll = (waku: LightNode) => fetchMessages(waku, TOPIC);

  before(async function () {
    this.timeout(120_000);
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-waku-"));
    chain = await startChain();
    await chain.subscribe(2, bobKey, 1);
    index = chain.index();
    await index.sync();
    index.start(200);
    archive = new SqliteArchive(path.join(tmp, "archive.sqlite"));
    server = await MailServerNode.create({
      privateKey: Buffer.from(chain.nodeKey.privateKey.slice(2), "hex"),
      listen: ["/ip4/127.0.0.1/tcp/0/ws", "/ip4/127.0.0.1/tcp/0"],
      clusterId: 1,
      shards: [0, 1, 2, 3, 4, 5, 6, 7],
      mode: "paid-only",
      archive,
      gate: new AccessGate({ nodeId: chain.nodeId, chainId: 31337, escrow: chain.addresses.escrow, index, now }),
    });
    await server.start();
    // The network Alice's pushes reach: a js-waku relay node in the server's mesh.
    relayPeer = await relayPeerOf(server, 1, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await relayPeer?.stop();
    await server?.stop();
    await archive?.close();
    await index?.stop();
    await chain?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  const sent: string[] = [];

  it("has the node key's secp256k1 peer id and serves relay, store v3, lightpush, metadata and access", () => {
    expect(server.peerId).to.match(/^16Uiu2/);
    const protocols = server.libp2p.getProtocols();
    for (const p of ["/vac/waku/relay/2.0.0", "/vac/waku/store-query/3.0.0", "/vac/waku/lightpush/3.0.0", "/vac/waku/metadata/1.0.0", "/status/mailserver/access/1.0.0"]) {
      expect(protocols).to.include(p);
    }
  });

  it("Alice lightpushes 45 messages through @waku/sdk; the server relays and archives them", async () => {
    const alice = await client();
    const encoder = alice.createEncoder({ contentTopic: TOPIC });
    for (let i = 0; i < 45; i++) {
      const text = `message ${String(i).padStart(2, "0")}`;
      const result = await alice.lightPush.send(encoder, { payload: utf8ToBytes(text) });
      expect(result.failures, text).to.deep.equal([]);
      expect(result.successes.map(String)).to.deep.equal([server.peerId]);
      sent.push(text);
    }
    expect((await archive.stats()).messages).to.equal(45);
    await alice.stop();
  });

  it("Bob presents his grant and gets exactly Alice's messages, in order, across pages", async () => {
    const bob = await client();
    const { session, answer } = await presentGrant(bob, server.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now);
    session.stop();
    expect(answer).to.include({ accepted: true, clientId: bobKey.address });
    const got = await fetchAll(bob);
    expect(got.map((m) => bytesToUtf8(m.payload))).to.deep.equal(sent);
    expect(new Set(got.map((m) => m.contentTopic))).to.deep.equal(new Set([TOPIC]));
  });

  it("Bob's AccessSession presents a fresh grant before the accepted one ends", async () => {
    const bob = await client();
    const session = new AccessSession({
      libp2p: bob.libp2p,
      peer: serverPeer(bob, server.peerId),
      now,
      // 31 s grants: renewed 30 s before the end, i.e. after one second.
      makeGrant: accessGrantMaker({ signer: bobKey, domain: { chainId: 31337, escrow: chain.addresses.escrow }, nodeId: chain.nodeId, ttlSeconds: 31, now }),
    });
    try {
      const first = await session.start();
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(session.until).to.be.greaterThan(first.until);
      expect((await fetchAll(bob)).map((m) => bytesToUtf8(m.payload))).to.deep.equal(sent);
    } finally {
      session.stop();
    }
  });

  it("Bob's AccessSession presents its grant again when his connection to the mail server is made anew", async () => {
    const bob = await client();
    const session = (libp2p: ConstructorParameters<typeof AccessSession>[0]["libp2p"]) =>
      new AccessSession({
        libp2p,
        peer: serverPeer(bob, server.peerId),
        now,
        makeGrant: accessGrantMaker({ signer: bobKey, domain: { chainId: 31337, escrow: chain.addresses.escrow }, nodeId: chain.nodeId, now }),
      });
    // A new connection, only once the server has seen the old one end (and forgotten its grant).
    const reconnect = async () => {
      await bob.libp2p.hangUp(serverPeer(bob, server.peerId) as Parameters<LightNode["libp2p"]["hangUp"]>[0]);
      const bobId = bob.libp2p.peerId.toString();
      for (let i = 0; i < 100 && server.libp2p.getConnections().some((c) => c.remotePeer.toString() === bobId); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      await bob.dial(wsAddress());
    };

    // Without libp2p's events a session cannot know: the server forgot the grant with the connection.
    const blind = session({ peerId: bob.libp2p.peerId, dialProtocol: (peer, protocol, options) => bob.libp2p.dialProtocol(peer, protocol, options) });
    await blind.start();
    expect((await fetchAll(bob)).length).to.equal(sent.length);
    await reconnect();
    const refused = (await fetchAll(bob).catch((e: Error) => e)) as Error;
    blind.stop();
    expect(refused).to.be.instanceOf(Error);
    expect(refused.message).to.match(/402/);

    // With them, the new connection gets the grant again at once.
    const live = session(bob.libp2p);
    try {
      await live.start();
      await reconnect();
      let got: IDecodedMessage[] | Error = new Error("not queried");
      for (let attempt = 0; attempt < 40; attempt++) {
        got = await fetchAll(bob).catch((e: Error) => e);
        if (!(got instanceof Error)) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(got).to.not.be.instanceOf(Error);
      expect((got as IDecodedMessage[]).map((m) => bytesToUtf8(m.payload))).to.deep.equal(sent);
    } finally {
      live.stop();
    }
  });

  it("Carol, with no subscription, is refused with 402 subscription required", async () => {
    const carol = await client();
    const error = await fetchAll(carol).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/status code: 402/).and.match(/subscription required/);
  });

  it("Carol's grant is refused: her key has no subscription", async () => {
    const carol = await client();
    const error = await presentGrant(carol, server.peerId, Wallet.createRandom() as unknown as Wallet, chain.nodeId, chain.addresses.escrow, now).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(MailserverSdkError);
    expect((error as MailserverSdkError).code).to.equal("ACCESS_REFUSED");
    expect((error as MailserverSdkError).details.reason).to.equal("no-subscription");
    expect((await fetchAll(carol).catch((e: Error) => e)) as Error).to.be.instanceOf(Error);
  });

  it("Bob is refused once his subscription expired, even with a fresh grant", async () => {
    const bob = await client();
    await presentGrant(bob, server.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now).then(({ session }) => session.stop());
    expect((await fetchAll(bob)).length).to.equal(45);
    // Past the expiry on the chain and on the server's clock.
    const skip = 40 * 86_400;
    await chain.advance(skip);
    clockOffset += skip;
    const error = (await fetchAll(bob).catch((e: Error) => e)) as Error;
    expect(error.message).to.match(/status code: 402/).and.match(/grant-expired|expired/);
    const refused = await presentGrant(bob, server.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now).catch((e: MailserverSdkError) => e);
    expect((refused as MailserverSdkError).details.reason).to.equal("expired");
  });

  it("Bob is refused after he cancelled, once the index saw it", async () => {
    const bob = await client();
    await chain.subscribe(2, bobKey, 1);
    await synced();
    await presentGrant(bob, server.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now).then(({ session }) => session.stop());
    expect((await fetchAll(bob)).length).to.equal(45);
    await chain.cancel(2, bobKey.address);
    await synced();
    const error = (await fetchAll(bob).catch((e: Error) => e)) as Error;
    expect(error.message).to.match(/status code: 402/).and.match(/no-subscription/);
  });
});
