// Hostile input against the mail server, sent as raw protocol bytes over real @waku/sdk
// connections: malformed protobufs, requests and messages over the size limits, invalid
// cursors, bad pushes, garbage grants, a stream that never sends, a flood of streams. Each gets an
// error status or a dropped stream, and the server keeps serving everyone else.
import { expect } from "chai";
import { proto_lightpush, proto_store } from "@waku/proto";
import { bytesToUtf8, utf8ToBytes, type LightNode } from "@waku/sdk";
import {
  ACCESS_CODEC,
  LIGHTPUSH_V3_CODEC,
  MailServerNode,
  SqliteArchive,
  STORE_CODEC,
} from "@status/mailserver-node";
import { AccessGate } from "@status/mailserver-sdk/server";
import { Wallet } from "ethers";
import * as lp from "it-length-prefixed";
import { rawRequest, serverPeer, wakuClient } from "../helpers/mailServer.js";
import { relayPeerOf, type RelayNode } from "../helpers/wakuRelay.js";

const TOPIC = "/mailserver-hostile/1/chat/proto";
const MAX_MESSAGE = 2048;

describe("mail server under hostile input", function () {
  this.timeout(120_000);
  let archive: SqliteArchive;
  let server: MailServerNode;
  let mallory: LightNode;
  let pubsubTopic: string;
  let relayPeer: RelayNode;
  const clients: LightNode[] = [];

  const client = async () => {
    const waku = await wakuClient(server.multiaddrs[0]!);
    clients.push(waku);
    return waku;
  };
  const store = async (fields: Partial<proto_store.StoreQueryRequest>) => {
    const bytes = proto_store.StoreQueryRequest.encode({ requestId: "h", includeData: true, pubsubTopic, contentTopics: [TOPIC], messageHashes: [], paginationForward: true, ...fields });
    const answer = await rawRequest(mallory, server.peerId, STORE_CODEC, bytes);
    return answer === undefined ? undefined : proto_store.StoreQueryResponse.decode(answer);
  };
  const push = async (message: Partial<proto_lightpush.WakuMessage> | undefined, topic = pubsubTopic) => {
    const bytes = proto_lightpush.LightPushRequestV3.encode({ requestId: "p", pubsubTopic: topic, ...(message ? { message: message as proto_lightpush.WakuMessage } : {}) });
    const answer = await rawRequest(mallory, server.peerId, LIGHTPUSH_V3_CODEC, bytes);
    return answer === undefined ? undefined : proto_lightpush.LightPushResponseV3.decode(answer);
  };
  /** Everyone else is still served: a fresh @waku/sdk client pushes and reads back. */
  const stillServing = async (text: string) => {
    const other = await client();
    const result = await other.lightPush.send(other.createEncoder({ contentTopic: TOPIC }), { payload: utf8ToBytes(text) });
    expect(result.failures).to.deep.equal([]);
    const got: string[] = [];
    await other.store.queryWithOrderedCallback([other.createDecoder({ contentTopic: TOPIC })], (m) => {
      got.push(bytesToUtf8(m.payload));
    });
    expect(got).to.include(text);
  };

  before(async () => {
    archive = new SqliteArchive(":memory:");
    // The real gate over an index that knows no subscriptions: every free peer is a stranger.
    const index = { isCaughtUp: () => true, expiryOf: () => 0n, readExpiry: async () => 0n };
    const nodeKey = Wallet.createRandom();
    const { nodeIdFromPrivateKey } = await import("@status/mailserver-sdk");
    server = await MailServerNode.create({
      privateKey: Buffer.from(nodeKey.privateKey.slice(2), "hex"),
      listen: ["/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: 1,
      shards: [0, 1, 2, 3, 4, 5, 6, 7],
      mode: "freemium",
      archive,
      gate: new AccessGate({ nodeId: nodeIdFromPrivateKey(nodeKey.privateKey), chainId: 31337, escrow: Wallet.createRandom().address, index }),
      // Hostile input, not load: no load shedding or shared free budget in the way (server-modes tests those).
      admission: { freeBurst: 1000, freeQueriesPerMinute: 100_000, freeQueriesPerSecond: 100_000, maxEventLoopDelayMs: 60_000 },
      pushLimits: { maxMessageBytes: MAX_MESSAGE },
      nodeLimits: { maxStoreRequestBytes: 1024, requestTimeoutMs: 500, maxStreamsPerProtocol: 8 },
    });
    await server.start();
    // A relay peer, so that pushes reach the network (the server answers 505 without one).
    relayPeer = await relayPeerOf(server, 1, [0, 1, 2, 3, 4, 5, 6, 7]);
    mallory = await client();
    pubsubTopic = mallory.createDecoder({ contentTopic: TOPIC }).pubsubTopic;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await relayPeer?.stop();
    await server?.stop();
    await archive?.close();
  });

  it("store: malformed protobuf → 400; unknown or short cursor → nwaku's 300; a huge page limit is capped", async () => {
    const garbage = await rawRequest(mallory, server.peerId, STORE_CODEC, Uint8Array.from([0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
    expect(proto_store.StoreQueryResponse.decode(garbage!)).to.include({ statusCode: 400, statusDesc: "BAD_REQUEST: malformed request" });
    expect(await store({ paginationCursor: new Uint8Array(32).fill(9) })).to.include({ statusCode: 300, statusDesc: "BAD_RESPONSE: archive error: DRIVER_ERROR: cursor not found" });
    expect(await store({ paginationCursor: new Uint8Array(7) })).to.include({ statusCode: 300, statusDesc: "BAD_RESPONSE: archive error: INVALID_QUERY: all zeroes cursor hash" });
    const capped = await store({ paginationLimit: 10n ** 15n });
    expect(capped).to.include({ statusCode: 200 });
    await stillServing("after bad store requests");
  });

  it("store: a request over the size limit, or a length prefix of 2 GB, gets the stream dropped", async () => {
    const big = proto_store.StoreQueryRequest.encode({ requestId: "x".repeat(5000), includeData: true, contentTopics: [], messageHashes: [], paginationForward: true });
    expect(await rawRequest(mallory, server.peerId, STORE_CODEC, big)).to.equal(undefined);
    expect(await rawRequest(mallory, server.peerId, STORE_CODEC, Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x07, 1, 2, 3]), { framed: false })).to.equal(undefined);
    await stillServing("after oversized store requests");
  });

  it("lightpush, as nwaku answers: malformed → 400, no message → 400, another shard → 505, bad timestamp, empty payload or just too large → 420, far too large → dropped; no timestamp → stamped", async () => {
    const garbage = await rawRequest(mallory, server.peerId, LIGHTPUSH_V3_CODEC, Uint8Array.from([0x0a, 0xff, 0x01]));
    expect(proto_lightpush.LightPushResponseV3.decode(garbage!).statusCode).to.equal(400);
    expect((await push(undefined))?.statusCode).to.equal(400);
    const ok = { contentTopic: TOPIC, payload: utf8ToBytes("x"), timestamp: BigInt(Date.now()) * 1_000_000n };
    expect((await push(ok, "/waku/2/rs/9/9"))?.statusCode).to.equal(505);
    expect((await push({ ...ok, contentTopic: "no-form" }))?.statusCode).to.equal(420);
    expect((await push({ ...ok, timestamp: ok.timestamp + 3_600_000_000_000n }))?.statusCode).to.equal(420);
    expect((await push({ ...ok, payload: new Uint8Array(0) }))?.statusCode).to.equal(420);
    const tooLarge = await push({ ...ok, payload: new Uint8Array(MAX_MESSAGE + 100) });
    expect(tooLarge?.statusCode).to.equal(420);
    expect(tooLarge?.statusDesc).to.match(new RegExp(`^INVALID_MESSAGE: Message size exceeded \\(\\d+ bytes, at most ${MAX_MESSAGE}\\)$`));
    expect(await push({ ...ok, payload: new Uint8Array(MAX_MESSAGE + 100_000) })).to.equal(undefined);
    const before = (await archive.stats()).messages;
    expect((await push({ ...ok, payload: utf8ToBytes("no timestamp"), timestamp: undefined }))?.statusCode).to.equal(200);
    await server.ingest.drain();
    expect((await archive.stats()).messages, "only the stamped message was archived").to.equal(before + 1);
    await stillServing("after bad pushes");
  });

  it("access: garbage instead of a grant is refused as malformed", async () => {
    const answer = await rawRequest(mallory, server.peerId, ACCESS_CODEC, utf8ToBytes("not a grant"));
    expect(JSON.parse(bytesToUtf8(answer!))).to.deep.equal({ accepted: false, reason: "malformed" });
  });

  it("a stream that never sends its request is dropped after the request timeout", async () => {
    const stream = await mallory.libp2p.dialProtocol(serverPeer(mallory, server.peerId) as Parameters<LightNode["libp2p"]["dialProtocol"]>[0], STORE_CODEC);
    const started = Date.now();
    const chunks: unknown[] = [];
    try {
      for await (const chunk of stream.source) chunks.push(chunk);
    } catch {
      // reset: also a drop
    }
    expect(chunks).to.deep.equal([]);
    expect(Date.now() - started).to.be.within(300, 5_000);
  });

  it("a flood of streams on one connection: those beyond the limit are dropped, the rest answered, others served", async () => {
    // Its own node (mode free: no free-stream caps, so the per-protocol limit is the one at work) with
    // a request timeout far beyond the test's duration: every stream is opened before any request
    // is sent, so the server holds each accepted one until its request comes, and how many it
    // accepts does not depend on how fast this machine answers.
    const LIMIT = 8;
    const flooded = await MailServerNode.create({
      privateKey: Buffer.from(Wallet.createRandom().privateKey.slice(2), "hex"),
      listen: ["/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: 1,
      shards: [0, 1, 2, 3, 4, 5, 6, 7],
      mode: "free",
      archive,
      admission: { freeBurst: 1000, freeQueriesPerMinute: 100_000 },
      nodeLimits: { requestTimeoutMs: 120_000, maxStreamsPerProtocol: LIMIT },
    });
    await flooded.start();
    try {
      const flooder = await wakuClient(flooded.multiaddrs[0]!);
      clients.push(flooder);
      const peer = serverPeer(flooder, flooded.peerId) as Parameters<LightNode["libp2p"]["dialProtocol"]>[0];
      const streams = [];
      for (let i = 0; i < 60; i++) streams.push(await flooder.libp2p.dialProtocol(peer, STORE_CODEC).catch(() => undefined));
      const query = proto_store.StoreQueryRequest.encode({ requestId: "f", includeData: true, pubsubTopic, contentTopics: [TOPIC], messageHashes: [], paginationForward: true });
      const outcomes = await Promise.all(
        streams.map(async (stream) => {
          if (stream === undefined) return "dropped";
          try {
            await stream.sink([lp.encode.single(query).subarray()]);
            let first: Uint8Array | undefined;
            for await (const chunk of lp.decode(stream.source)) first ??= chunk.subarray();
            return first === undefined ? "dropped" : String(proto_store.StoreQueryResponse.decode(first).statusCode);
          } catch {
            return "dropped";
          }
        }),
      );
      // At most LIMIT were accepted (fewer by the store streams js-waku opens ahead of use), each answered.
      const answered = outcomes.filter((o) => o === "200").length;
      expect(answered, outcomes.join(" ")).to.be.within(1, LIMIT);
      expect(outcomes.filter((o) => o === "dropped").length, outcomes.join(" ")).to.equal(60 - answered);
      // The connection and the node still serve: the flooder itself, and everyone else.
      expect(proto_store.StoreQueryResponse.decode((await rawRequest(flooder, flooded.peerId, STORE_CODEC, query))!).statusCode).to.equal(200);
      await stillServing("after a stream flood");
    } finally {
      await flooded.stop();
    }
  });
});
