// Free and paid service (LES-style): in `freemium` a peer without a subscription is served from
// spare capacity under a per-peer rate limit (429 beyond it), waits for that capacity, and is shed first under overload,
// while a subscriber's queries keep completing. Real @waku/sdk clients; latency goes to the bench.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet } from "ethers";
import { bytesToUtf8, utf8ToBytes, type LightNode } from "@waku/sdk";
import { proto_store } from "@waku/proto";
import { MailServerNode, SqliteArchive, STORE_CODEC, type AdmissionLimits } from "@status/mailserver-node";
import { AccessGate, type SubscriptionIndex } from "@status/mailserver-sdk/server";
import { fetchMessages, presentGrant, rawRequest, startChain, wakuClient, type Chain } from "../helpers/mailServer.js";
import { relayPeerOf, type RelayNode } from "../helpers/wakuRelay.js";

const TOPIC = "/mailserver-modes/1/chat/proto";
const TEXTS = Array.from({ length: 5 }, (_, i) => `free ${i}`);

describe("mail server modes: freemium", function () {
  this.timeout(180_000);
  let chain: Chain;
  let index: SubscriptionIndex;
  let tmp: string;
  const bobKey = Wallet.createRandom() as unknown as Wallet;
  const running: { server: MailServerNode; archive: SqliteArchive }[] = [];
  const clients: LightNode[] = [];
  const relays: RelayNode[] = [];
  const now = () => Math.floor(Date.now() / 1000);

  async function freemium(admission: Partial<AdmissionLimits>) {
    const archive = new SqliteArchive(path.join(tmp, `${running.length}.sqlite`));
    const gate = new AccessGate({ nodeId: chain.nodeId, chainId: 31337, escrow: chain.addresses.escrow, index });
    const server = await MailServerNode.create({
      privateKey: Buffer.from(chain.nodeKey.privateKey.slice(2), "hex"),
      listen: ["/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: 1,
      shards: [0, 1, 2, 3, 4, 5, 6, 7],
      mode: "freemium",
      archive,
      gate,
      admission,
    });
    await server.start();
    running.push({ server, archive });
    // The network Alice's pushes reach (without a relay peer a push is answered 505, as by nwaku).
    relays.push(await relayPeerOf(server, 1, [0, 1, 2, 3, 4, 5, 6, 7]));
    const address = server.multiaddrs[0]!;
    const alice = await client(address);
    const encoder = alice.createEncoder({ contentTopic: TOPIC });
    for (const text of TEXTS) expect((await alice.lightPush.send(encoder, { payload: utf8ToBytes(text) })).failures).to.deep.equal([]);
    return { server, address, gate };
  }
  const client = async (address: string) => {
    const waku = await wakuClient(address);
    clients.push(waku);
    return waku;
  };
  const fetchAll = async (waku: LightNode) => (await fetchMessages(waku, TOPIC)).map((m) => bytesToUtf8(m.payload));

  before(async function () {
    this.timeout(120_000);
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-modes-"));
    chain = await startChain();
    await chain.subscribe(2, bobKey, 1);
    index = chain.index();
    await index.sync();
    index.start(200);
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all([...clients, ...relays].map((c) => c.stop().catch(() => undefined)));
    for (const { server, archive } of running) {
      await server.stop();
      await archive.close();
    }
    await index?.stop();
    await chain?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it("serves Carol without a subscription, then answers 429 beyond her rate limit; Bob is not limited", async () => {
    // (event-loop lag in this shared process must not turn her queries into 503s: that is the next test)
    const { server, address } = await freemium({ freeBurst: 4, freeQueriesPerMinute: 1, maxEventLoopDelayMs: 60_000 });
    const carol = await client(address);
    // Each @waku/sdk query is two store requests here (the page, then the empty page that ends it).
    expect(await fetchAll(carol)).to.deep.equal(TEXTS);
    expect(await fetchAll(carol)).to.deep.equal(TEXTS);
    const limited = (await fetchAll(carol).catch((e: Error) => e)) as Error;
    expect(limited).to.be.instanceOf(Error);
    expect(limited.message).to.match(/status code: 429/).and.match(/rate limit/);

    const bob = await client(address);
    await presentGrant(bob, server.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now).then(({ session }) => session.stop());
    for (let i = 0; i < 6; i++) expect(await fetchAll(bob)).to.deep.equal(TEXTS);
  });

  it("a free read beyond the shared budget waits for it and completes, instead of failing on a 503", async () => {
    // One free query a second for everybody: each read is two requests (the page, then the empty
    // page that ends it), so three reads need five more tokens than the budget holds at first.
    const { address } = await freemium({ freeQueriesPerSecond: 1, maxEventLoopDelayMs: 60_000 });
    const carol = await client(address);
    const started = performance.now();
    for (let read = 0; read < 3; read++) expect(await fetchAll(carol), `read ${read}`).to.deep.equal(TEXTS);
    expect(performance.now() - started, "the requests waited for the budget to refill").to.be.greaterThan(4_000);
  });

  it("a free query that finds no spare capacity within freeQueueTimeoutMs gets 503, and costs its peer no token", async () => {
    const { server, address } = await freemium({ freeQueriesPerSecond: 0, freeQueueTimeoutMs: 300, freeBurst: 1, freeQueriesPerMinute: 1 });
    const carol = await client(address);
    for (let attempt = 0; attempt < 3; attempt++) {
      const shed = (await fetchAll(carol).catch((e: Error) => e)) as Error;
      expect(shed, `attempt ${attempt}`).to.be.instanceOf(Error);
      // Not 429: her one token was given back each time.
      expect(shed.message, `attempt ${attempt}`).to.match(/status code: 503, description: SERVICE_UNAVAILABLE: overloaded, free service shed/);
    }
    const bob = await client(address);
    await presentGrant(bob, server.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now).then(({ session }) => session.stop());
    expect(await fetchAll(bob), "paid service is outside the free budget").to.deep.equal(TEXTS);
  });

  it("under a flood of free queries Bob's queries all complete; free requests beyond the spare capacity are shed (503) or reset", async () => {
    // A shared free budget of 3 queries/s: most of the 60 flood requests must be shed.
    const { server, address, gate } = await freemium({
      freeBurst: 100_000, freeQueriesPerMinute: 1_000_000, maxConcurrent: 2, maxConcurrentFree: 1, maxFreeQueue: 2,
      freeQueriesPerSecond: 3, maxFreeStreamsPerPeer: 30, maxFreeStreams: 60,
    });
    const bob = await client(address);
    // The flood: two free peers, 30 store requests each (within the streams a connection may open), all at once.
    const floods = await Promise.all([client(address), client(address)]);
    // A fresh @waku/sdk node may replace its first connection right after connecting, and the
    // server forgets a peer's grant when its last connection closes: present until it holds.
    for (let i = 0; i === 0 || (i < 5 && !gate.checkPeer(bob.libp2p.peerId.toString()).allowed); i++) {
      const { session, answer } = await presentGrant(bob, server.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now);
      session.stop();
      expect(answer.accepted, JSON.stringify(answer)).to.equal(true);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(gate.checkPeer(bob.libp2p.peerId.toString()).allowed).to.equal(true);
    const pubsubTopic = floods[0]!.createDecoder({ contentTopic: TOPIC }).pubsubTopic;
    const query = proto_store.StoreQueryRequest.encode({ requestId: "flood", includeData: true, pubsubTopic, contentTopics: [TOPIC], messageHashes: [], paginationForward: true });
    const flood = floods.flatMap((carol) =>
      Array.from({ length: 30 }, () =>
        rawRequest(carol, server.peerId, STORE_CODEC, query).then((answer) => {
          if (answer === undefined) return "dropped";
          const { statusCode, statusDesc } = proto_store.StoreQueryResponse.decode(answer);
          return `${statusCode} ${statusDesc}`;
        }),
      ),
    );
    const bobs: string[][] = [];
    for (let i = 0; i < 5; i++) bobs.push(await fetchAll(bob).catch((e: Error) => [`query ${i}: ${e.message}`]));
    const outcomes = await Promise.all(flood);
    expect(bobs).to.deep.equal(Array.from({ length: 5 }, () => TEXTS));
    const shed = "503 SERVICE_UNAVAILABLE: overloaded, free service shed";
    // Served, shed before the archive, refused by the free queue (503 too), or reset unread.
    expect(outcomes.filter((o) => o !== "200 OK" && o !== shed && !o.startsWith("503 ") && o !== "dropped"), outcomes.join(", ")).to.deep.equal([]);
    expect(outcomes.filter((o) => o === shed).length, outcomes.join(", ")).to.be.greaterThan(30);
  });
});
