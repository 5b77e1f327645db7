// The mail server as a node of the network it serves: js-waku's own relay nodes (createRelayNode
// of @waku/sdk 0.0.27, their defaults but plain ws on loopback) and the server form a mesh on a
// Status-like cluster and shard; what the network carries is archived and served by store to a
// @waku/sdk 0.0.36 light node; lightpush publishes on the mesh and tells the truth about it;
// invalid messages are neither forwarded nor archived and cost their sender score.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { proto_lightpush, proto_message } from "@waku/proto";
import { bytesToUtf8, utf8ToBytes, type LightNode } from "@waku/sdk";
import { LIGHTPUSH_V2_CODEC, LIGHTPUSH_V3_CODEC, MailServerNode, SqliteArchive, pubsubTopicOf } from "@status/mailserver-node";
import { fetchMessages, rawRequest, wakuClient } from "../helpers/mailServer.js";
import { collect, connectRelay, jsWakuRelayNode, publishRaw, relayEncoder, type RelayNode, until } from "../helpers/wakuRelay.js";

const CLUSTER = 16;
const SHARD = 32;
const TOPIC = pubsubTopicOf(CLUSTER, SHARD);
const CONTENT = "/mailserver-relay/1/chat/proto";

describe("mail server on Waku Relay, with js-waku relay nodes", function () {
  this.timeout(180_000);
  let archive: SqliteArchive;
  let server: MailServerNode;
  const stops: (() => Promise<unknown>)[] = [];
  const ws = (node: MailServerNode) => node.multiaddrs.find((a) => a.includes("/ws/"))!;

  const startServer = async () => {
    archive = new SqliteArchive(":memory:");
    server = await MailServerNode.create({
      privateKey: randomBytes(32),
      listen: ["/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: CLUSTER,
      shards: [1, SHARD, 64],
      mode: "free",
      archive,
    });
    await server.start();
  };
  const relayNode = async (listen = false) => {
    const node = await jsWakuRelayNode({ clusterId: CLUSTER, shards: [SHARD], listen });
    stops.push(() => node.stop());
    return node;
  };
  const lightNode = async () => {
    const waku = await wakuClient(ws(server), undefined, { clusterId: CLUSTER });
    stops.push(() => waku.stop());
    return waku;
  };

  before(startServer);
  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await server?.stop();
    await archive?.close();
  });

  let alice: RelayNode;
  let bob: RelayNode;

  it("identify lists relay, and two js-waku relay nodes mesh with the server on the shard", async () => {
    expect(server.libp2p.getProtocols()).to.include("/vac/waku/relay/2.0.0");
    alice = await relayNode();
    bob = await relayNode();
    await connectRelay(alice, ws(server), TOPIC);
    await connectRelay(bob, ws(server), TOPIC);
    await until("the server's mesh", () => server.relay!.meshPeers(TOPIC).length === 2);
  });

  it("a message one js-waku node publishes reaches the other through the server, which archives it; a light node gets it by store", async () => {
    const received = collect(bob, CONTENT, CLUSTER, SHARD);
    const sent = await alice.relay.send(relayEncoder(CONTENT, CLUSTER, SHARD), { payload: utf8ToBytes("hello over relay") });
    expect(sent.failures ?? []).to.deep.equal([]);
    await until("bob's message", () => received.length === 1);
    expect(bytesToUtf8(received[0]!.payload)).to.equal("hello over relay");
    await until("the archive", async () => (await archive.stats()).messages === 1);
    const reader: LightNode = await lightNode();
    const stored = await fetchMessages(reader, CONTENT, SHARD);
    expect(stored.map((m) => bytesToUtf8(m.payload))).to.deep.equal(["hello over relay"]);
  });

  let reader: LightNode;
  const v3 = async (message: proto_message.WakuMessage, pubsubTopic = TOPIC) => {
    const bytes = proto_lightpush.LightPushRequestV3.encode({ requestId: "r", pubsubTopic, message });
    return proto_lightpush.LightPushResponseV3.decode((await rawRequest(reader, server.peerId, LIGHTPUSH_V3_CODEC, bytes))!);
  };
  const message = (text: string, extra: Partial<proto_message.WakuMessage> = {}): proto_message.WakuMessage => ({
    payload: utf8ToBytes(text),
    contentTopic: CONTENT,
    timestamp: BigInt(Date.now()) * 1_000_000n,
    ...extra,
  });

  it("lightpush from a @waku/sdk light node is published on the mesh: the relay nodes get it, the answer counts them", async () => {
    reader = await lightNode();
    const received = collect(bob, CONTENT, CLUSTER, SHARD);
    const result = await reader.lightPush.send(reader.createEncoder({ contentTopic: CONTENT, shardId: SHARD }), { payload: utf8ToBytes("pushed by a light node") });
    expect(result.failures).to.deep.equal([]);
    expect(result.successes).to.have.length(1);
    await until("bob's copy", () => received.some((m) => bytesToUtf8(m.payload) === "pushed by a light node"));
    const answer = await v3(message("counted"));
    expect(answer.statusCode).to.equal(200);
    expect(answer.relayPeerCount).to.equal(2);
    await until("the archive", async () => (await archive.stats()).messages === 3);
  });

  it("a message without a timestamp is stamped and relayed; one pushed again is not archived twice", async () => {
    const received = collect(bob, CONTENT, CLUSTER, SHARD);
    const answer = await v3(message("no timestamp", { timestamp: undefined }));
    expect(answer.statusCode).to.equal(200);
    await until("bob's copy", () => received.some((m) => bytesToUtf8(m.payload) === "no timestamp"));
    expect(received.find((m) => bytesToUtf8(m.payload) === "no timestamp")!.timestamp).to.be.instanceOf(Date);
    const same = message("twice");
    expect((await v3(same)).statusCode).to.equal(200);
    await until("the archive", async () => (await archive.stats()).messages === 5);
    await v3(same);
    await server.ingest.drain();
    expect((await archive.stats()).messages).to.equal(5);
  });

  it("invalid messages on relay (too large, stale or future timestamp, bad content topic, not a WakuMessage) are neither forwarded nor archived, and cost their sender score", async () => {
    const mallory = await relayNode();
    await connectRelay(mallory, ws(server), TOPIC);
    const malloryId = mallory.libp2p.peerId.toString();
    const before = (await archive.stats()).messages;
    const received = collect(bob, CONTENT, CLUSTER, SHARD);
    const encode = (m: proto_message.WakuMessage) => proto_message.WakuMessage.encode(m);
    const hourNs = 3600n * 1_000_000_000n;
    const invalid = [
      encode(message("x".repeat(151 * 1024))),
      encode(message("stale", { timestamp: BigInt(Date.now()) * 1_000_000n - hourNs })),
      encode(message("future", { timestamp: BigInt(Date.now()) * 1_000_000n + hourNs })),
      encode(message("no timestamp", { timestamp: undefined })),
      encode(message("bad topic", { contentTopic: "not-a-content-topic" })),
      Uint8Array.from([0x0a, 0xff, 0xff, 0x01]),
    ];
    for (const data of invalid) expect(await publishRaw(mallory, TOPIC, data)).to.equal(1);
    await until("the server's verdicts", () => Object.values(server.relay!.stats.refused).reduce((a, b) => a + b, 0) >= invalid.length);
    expect(server.relay!.stats.refused).to.deep.equal({ "too-large": 1, invalid: 4, malformed: 1 });
    // P4: invalid deliveries squared × −100 (nwaku's weight); gossipsub caches a score for up to a heartbeat.
    await until("mallory's score", () => server.relay!.score(malloryId) < -1000);
    // A valid message from bob's side still flows, and is the only one bob sees.
    const valid = await alice.relay.send(relayEncoder(CONTENT, CLUSTER, SHARD), { payload: utf8ToBytes("still valid") });
    expect(valid.failures ?? []).to.deep.equal([]);
    await until("bob's copy", () => received.length === 1);
    await server.ingest.drain();
    expect(bytesToUtf8(received[0]!.payload)).to.equal("still valid");
    expect((await archive.stats()).messages).to.equal(before + 1);
    await mallory.stop();
  });

  it("a message on a shard the server does not serve is neither archived nor forwarded", async () => {
    const other = pubsubTopicOf(CLUSTER, 2);
    const before = (await archive.stats()).messages;
    const received = collect(bob, CONTENT, CLUSTER, 2);
    expect(await publishRaw(alice, other, proto_message.WakuMessage.encode(message("elsewhere")))).to.equal(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(received).to.deep.equal([]);
    expect((await archive.stats()).messages).to.equal(before);
  });

  it("with no relay peers, lightpush answers as nwaku does: v3 505 NO_PEERS_TO_RELAY, v2 is_success false; @waku/sdk reports the failure", async () => {
    await alice.stop();
    await bob.stop();
    await until("no relay peers", () => server.relay!.peerCount(TOPIC) === 0);
    const answer = await v3(message("nobody online"));
    expect(answer.statusCode).to.equal(505);
    expect(answer.statusDesc).to.match(/^NO_PEERS_TO_RELAY/);
    const v2 = proto_lightpush.PushRpc.decode(
      (await rawRequest(reader, server.peerId, LIGHTPUSH_V2_CODEC, proto_lightpush.PushRpc.encode({ requestId: "v2", request: { pubsubTopic: TOPIC, message: message("v2") } })))!,
    );
    expect(v2.response).to.deep.include({ isSuccess: false, info: "not_published_to_any_peer" });
    const result = await reader.lightPush.send(reader.createEncoder({ contentTopic: CONTENT, shardId: SHARD }), { payload: utf8ToBytes("nobody") });
    expect(result.successes).to.deep.equal([]);
    expect(result.failures).to.have.length(1);
    // Archived all the same: a subscriber who comes online later still gets it.
    const stored = await fetchMessages(reader, CONTENT, SHARD);
    expect(stored.map((m) => bytesToUtf8(m.payload))).to.include("nobody online");
  });
});
