// The store as the Waku project's own client uses it: a real @waku/sdk 0.0.36 light node against
// the real server on loopback (mode free, default limits unless a test says otherwise). js-waku
// pages every query until it gets an empty page, whatever the cursor, so every query shape must
// end, and a whole history read must not hit the free rate limit.
import { expect } from "chai";
import { proto_store } from "@waku/proto";
import { bytesToUtf8, utf8ToBytes, type IDecodedMessage, type LightNode } from "@waku/sdk";
import { MailServerNode, SqliteArchive, STORE_CODEC, toArchived, type ArchivedMessage, type MailServerNodeOptions } from "@status/mailserver-node";
import { Wallet } from "ethers";
import { rawRequest, wakuClient } from "../helpers/mailServer.js";

const TOPIC = "/mailserver-store/1/chat/proto";

describe("store with @waku/sdk clients (nwaku's behaviour)", function () {
  this.timeout(180_000);
  const clients: LightNode[] = [];
  const servers: { server: MailServerNode; archive: SqliteArchive }[] = [];

  const serve = async (options: Partial<MailServerNodeOptions> = {}) => {
    const archive = new SqliteArchive(":memory:");
    const server = await MailServerNode.create({
      privateKey: Buffer.from(Wallet.createRandom().privateKey.slice(2), "hex"),
      listen: ["/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: 1,
      shards: [0, 1, 2, 3, 4, 5, 6, 7],
      mode: "free",
      archive,
      ...options,
    });
    await server.start();
    servers.push({ server, archive });
    return server;
  };
  const client = async (server: MailServerNode) => {
    const waku = await wakuClient(server.multiaddrs[0]!);
    clients.push(waku);
    return waku;
  };
  /** Archived as if pushed (straight into the archive: the pushes are not what is tested). */
  const archived = (pubsubTopic: string, texts: string[], contentTopic = TOPIC, payload = (text: string) => utf8ToBytes(text), startMs = Date.now() - 60_000): ArchivedMessage[] => {
    // Half a millisecond in: js-waku sends a Date's milliseconds times 10^6 as a double (256 ns steps).
    const start = BigInt(startMs) * 1_000_000n + 500_000n;
    return texts.map((text, i) => {
      const wire = { payload: payload(text), contentTopic, timestamp: start + BigInt(i) * 1_000_000n };
      return toArchived(pubsubTopic, wire);
    });
  };
  /** The pages @waku/sdk's queryGenerator yields; fails instead of looping forever. */
  const pages = async (waku: LightNode, options: Parameters<LightNode["store"]["queryGenerator"]>[1], contentTopic = TOPIC, maxPages = 50) => {
    const got: string[][] = [];
    for await (const page of waku.store.queryGenerator([waku.createDecoder({ contentTopic })], options)) {
      const messages = (await Promise.all(page)).filter((m): m is IDecodedMessage => m !== undefined);
      got.push(messages.map((m) => bytesToUtf8(m.payload)));
      if (got.length > maxPages) throw new Error(`still paging after ${maxPages} pages: ${JSON.stringify(got.slice(-3))}`);
    }
    return got;
  };

  after(async function () {
    this.timeout(60_000);
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    for (const { server, archive } of servers) {
      await server.stop();
      await archive.close();
    }
  });

  it("hash lookups honour cursor, page limit, direction and pubsub topic, so queryGenerator({ messageHashes }) ends", async () => {
    // (no rate limit in the way: a loop must show as a loop)
    const server = await serve({ admission: { freeBurst: 100_000, freeQueriesPerMinute: 100_000 } });
    const alice = await client(server);
    const texts = Array.from({ length: 30 }, (_, i) => `h${String(i).padStart(2, "0")}`);
    await servers.at(-1)!.archive.put(archived(alice.createDecoder({ contentTopic: TOPIC }).pubsubTopic, texts));
    const all = (await alice.store.queryGenerator([alice.createDecoder({ contentTopic: TOPIC })]).next()).value as Promise<IDecodedMessage | undefined>[];
    const first20 = (await Promise.all(all)).map((m) => m!);
    expect(first20.map((m) => bytesToUtf8(m.payload))).to.deep.equal(texts.slice(0, 20));
    const hashes = first20.map((m) => m.hash);

    // 20 hashes, pages of 7: three pages then the empty page that ends it.
    expect(await pages(alice, { messageHashes: hashes, paginationLimit: 7 })).to.deep.equal([texts.slice(0, 7), texts.slice(7, 14), texts.slice(14, 20)]);
    expect(await pages(alice, { messageHashes: hashes, paginationLimit: 8, paginationForward: false })).to.deep.equal([
      texts.slice(12, 20),
      texts.slice(4, 12),
      texts.slice(0, 4),
    ]);
    // What ReliableChannel does every 10 s for a missing message: one hash, default page.
    expect(await pages(alice, { messageHashes: [hashes[3]!] })).to.deep.equal([[texts[3]]]);
    // The pubsub topic is a filter too: the same hashes on another shard match nothing.
    expect(await pages(alice, { messageHashes: hashes, pubsubTopic: "/waku/2/rs/1/6" })).to.deep.equal([]);

    // Raw: the answer carries the cursor of its last message, and the cursor's page is the next one.
    const pubsubTopic = alice.createDecoder({ contentTopic: TOPIC }).pubsubTopic;
    const ask = async (fields: Partial<proto_store.StoreQueryRequest>) =>
      proto_store.StoreQueryResponse.decode(
        (await rawRequest(alice, server.peerId, STORE_CODEC, proto_store.StoreQueryRequest.encode({ requestId: "r", includeData: true, pubsubTopic, contentTopics: [], messageHashes: hashes, paginationForward: true, ...fields })))!,
      );
    const first = await ask({ paginationLimit: 5n });
    expect(first.messages.map((m) => m.messageHash)).to.deep.equal(hashes.slice(0, 5));
    expect(first.paginationCursor).to.deep.equal(hashes[4]);
    const last = await ask({ paginationLimit: 50n, paginationCursor: hashes[17]! });
    expect(last.messages.map((m) => m.messageHash)).to.deep.equal(hashes.slice(18));
    expect(last.paginationCursor).to.equal(undefined);
  });

  it("with the default free limits, @waku/sdk reads 250 messages and polls by hash without a 429", async () => {
    const server = await serve();
    const reader = await client(server);
    const pubsubTopic = reader.createDecoder({ contentTopic: TOPIC }).pubsubTopic;
    const texts = Array.from({ length: 250 }, (_, i) => `r${String(i).padStart(3, "0")}`);
    const messages = archived(pubsubTopic, texts);
    await servers.at(-1)!.archive.put(messages);
    const got: string[] = [];
    await reader.store.queryWithOrderedCallback([reader.createDecoder({ contentTopic: TOPIC })], (m) => {
      got.push(bytesToUtf8(m.payload));
    });
    expect(got).to.deep.equal(texts);
    // ReliableChannel's lookups of missing messages right after (each is a page and an empty page).
    for (let i = 0; i < 5; i++) expect(await pages(reader, { messageHashes: [messages[i * 7]!.hash] })).to.deep.equal([[texts[i * 7]]]);
  });

  it("answers as nwaku does: a reversed time range is an empty page, more than 10 content topics are served, bad cursors get nwaku's 300s, a request without request_id a 400", async () => {
    const server = await serve();
    const reader = await client(server);
    const pubsubTopic = reader.createDecoder({ contentTopic: TOPIC }).pubsubTopic;
    const topics = Array.from({ length: 12 }, (_, i) => `/mailserver-store/1/t${i}/proto`);
    const texts = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, "0")}`);
    const { archive } = servers.at(-1)!;
    const start = Date.now() - 60_000;
    const messages = [...archived(pubsubTopic, texts.slice(0, 15), topics[0], undefined, start), ...archived(pubsubTopic, texts.slice(15), topics[11], undefined, start + 15)];
    await archive.put(messages);
    const decoders = topics.map((contentTopic) => reader.createDecoder({ contentTopic }));
    const read = async (options: Parameters<LightNode["store"]["queryWithOrderedCallback"]>[2] = {}) => {
      const got: string[] = [];
      await reader.store.queryWithOrderedCallback(decoders, (m) => {
        got.push(bytesToUtf8(m.payload));
      }, options);
      return got;
    };

    // 12 content topics, 30 messages, pages of 20: all of them (nwaku serves the first page; see server/README.md).
    expect((await read()).sort()).to.deep.equal([...texts].sort());
    // js-waku's time-filter test: start after end is no error, just nothing.
    const at = (i: number) => new Date(Number(messages[i]!.timestamp / 1_000_000n));
    expect(await read({ timeStart: at(20), timeEnd: at(10) })).to.deep.equal([]);
    expect((await read({ timeStart: at(10), timeEnd: at(20) })).sort()).to.deep.equal(texts.slice(10, 20));

    // js-waku's cursor test accepts an error that says "cursor not found" (nwaku pads a short cursor to 32 bytes).
    const failure = async (paginationCursor: Uint8Array) => ((await read({ paginationCursor }).catch((e: Error) => e)) as Error).message;
    expect(await failure(new Uint8Array([2, 3]))).to.equal(
      "Store query failed with status code: 300, description: BAD_RESPONSE: archive error: DRIVER_ERROR: cursor not found",
    );
    expect(await failure(new Uint8Array(32).fill(9))).to.match(/status code: 300, description: .*cursor not found$/);
    expect(await failure(new Uint8Array(32))).to.equal(
      "Store query failed with status code: 300, description: BAD_RESPONSE: archive error: INVALID_QUERY: all zeroes cursor hash",
    );

    // A request without request_id: nwaku's decoder refuses it.
    const answer = await rawRequest(
      reader,
      server.peerId,
      STORE_CODEC,
      proto_store.StoreQueryRequest.encode({ requestId: "", includeData: true, pubsubTopic, contentTopics: [topics[0]!], messageHashes: [], paginationForward: true }),
    );
    expect(proto_store.StoreQueryResponse.decode(answer!)).to.include({ statusCode: 400, statusDesc: "decoding rpc failed: MissingRequiredField request_id" });
  });

  it("a page of large messages is cut by bytes: 100 messages of 100 KiB come back in shorter pages, each answered", async () => {
    const server = await serve();
    const reader = await client(server);
    const pubsubTopic = reader.createDecoder({ contentTopic: TOPIC }).pubsubTopic;
    const texts = Array.from({ length: 100 }, (_, i) => `big${String(i).padStart(3, "0")}`);
    // 100 KiB payloads that start with their name.
    const big = (text: string) => {
      const payload = new Uint8Array(100 * 1024).fill(0x61);
      payload.set(utf8ToBytes(text));
      return payload;
    };
    await servers.at(-1)!.archive.put(archived(pubsubTopic, texts, TOPIC, big));
    const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no answer within 60 s")), 60_000).unref());
    const got = await Promise.race([pages(reader, { paginationLimit: 100 }), deadline]);
    expect(got.flat().map((t) => t.slice(0, 6))).to.deep.equal(texts);
    expect(got.length, "more than one page").to.be.greaterThan(1);
    for (const page of got) expect(page.length * 100 * 1024, "a page fits the response bound").to.be.at.most(3 * 1024 * 1024);
  });
});
