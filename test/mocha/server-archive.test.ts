// The archive behind one interface, two backends: SQLite (a file) and PostgreSQL (a real server
// started by the test). Dedupe by hash, the store queries' filters and cursors both ways,
// retention by age and by size, reopening; and the store handler's answers on top of it.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { messageHash } from "@waku/core";
import { proto_message, proto_store } from "@waku/proto";
import { DEFAULT_STORE_LIMITS, MESSAGE_OVERHEAD_BYTES, PostgresArchive, SqliteArchive, UnknownCursorError, answerStoreQuery, type Archive, type ArchivedMessage } from "@status/mailserver-node";
import { startPostgres, type LocalPostgres } from "../helpers/postgres.js";

const PUBSUB = "/waku/2/rs/1/3";
const BASE = 1_700_000_000_000n * 1_000_000n;

function message(contentTopic: string, i: number, payload = `m${i}`, pubsubTopic = PUBSUB): ArchivedMessage {
  const wire = { payload: new TextEncoder().encode(payload), contentTopic, timestamp: BASE + BigInt(i) * 1_000_000n };
  return {
    hash: messageHash(pubsubTopic, wire as unknown as Parameters<typeof messageHash>[1]),
    pubsubTopic,
    contentTopic,
    timestamp: wire.timestamp,
    message: proto_message.WakuMessage.encode(wire),
  };
}

const payloads = (messages: ArchivedMessage[]) => messages.map((m) => new TextDecoder().decode(proto_message.WakuMessage.decode(m.message).payload));

async function collect(archive: Archive, forward: boolean, limit: number, extra: { timeStart?: bigint; timeEnd?: bigint } = {}): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: Uint8Array | undefined;
  for (;;) {
    const page = await archive.query({ pubsubTopic: PUBSUB, contentTopics: ["/a/1/x/proto"], forward, limit, ...extra, ...(cursor ? { cursor } : {}) });
    pages.push(payloads(page.messages));
    if (!page.more) return pages;
    cursor = (forward ? page.messages.at(-1) : page.messages[0])!.hash;
  }
}

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`archive: ${backend}`, function () {
    this.timeout(60_000);
    let tmp: string;
    let pgServer: LocalPostgres | undefined;
    let url: string;
    let archive: Archive;
    let databases = 0;

    const open = async (): Promise<Archive> => (backend === "sqlite" ? new SqliteArchive(url) : PostgresArchive.open(url));
    const fresh = async () => {
      await archive?.close();
      url = backend === "sqlite" ? path.join(tmp, `a${databases++}.sqlite`) : await pgServer!.createDatabase(`a${databases++}`);
      archive = await open();
    };

    before(async () => {
      tmp = await mkdtemp(path.join(tmpdir(), "mailserver-archive-"));
      if (backend === "postgres") pgServer = await startPostgres();
    });
    after(async () => {
      await archive?.close();
      await pgServer?.stop();
      await rm(tmp, { recursive: true, force: true });
    });
    beforeEach(fresh);

    it("stores each message once (dedupe by hash) and counts messages and bytes", async () => {
      const a = message("/a/1/x/proto", 1);
      const b = message("/a/1/x/proto", 2);
      expect(await archive.put([a, b])).to.equal(2);
      expect(await archive.put([a])).to.equal(0);
      expect(await archive.stats()).to.deep.equal({ messages: 2, bytes: a.message.length + b.message.length });
    });

    it("pages forward and backward with exclusive cursors, oldest first within a page, filtered by topic and time", async () => {
      const wanted = Array.from({ length: 7 }, (_, i) => message("/a/1/x/proto", i));
      await archive.put([...wanted, message("/b/1/y/proto", 3, "other topic"), message("/a/1/x/proto", 4, "other shard", "/waku/2/rs/1/4")]);
      expect(await collect(archive, true, 3)).to.deep.equal([["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]);
      expect(await collect(archive, false, 3)).to.deep.equal([["m4", "m5", "m6"], ["m1", "m2", "m3"], ["m0"]]);
      expect(await collect(archive, true, 10, { timeStart: wanted[2]!.timestamp, timeEnd: wanted[4]!.timestamp })).to.deep.equal([["m2", "m3", "m4"]]);
      const hashes = [wanted[5]!.hash, wanted[1]!.hash, new Uint8Array(32), wanted[3]!.hash];
      const found = await archive.query({ contentTopics: [], hashes, forward: true, limit: 10 });
      expect(payloads(found.messages)).to.deep.equal(["m1", "m3", "m5"]);
      expect(payloads(await archive.byHashes(hashes))).to.deep.equal(["m1", "m3", "m5"]);
      // A byte bound cuts the page (never below one message) and says there is more.
      const size = wanted[0]!.message.length + MESSAGE_OVERHEAD_BYTES;
      const cut = await archive.query({ pubsubTopic: PUBSUB, contentTopics: ["/a/1/x/proto"], forward: true, limit: 5, maxBytes: 2 * size + 1 });
      expect([payloads(cut.messages), cut.more]).to.deep.equal([["m0", "m1"], true]);
      const one = await archive.query({ pubsubTopic: PUBSUB, contentTopics: ["/a/1/x/proto"], forward: false, limit: 5, maxBytes: 1 });
      expect([payloads(one.messages), one.more]).to.deep.equal([["m6"], true]);
      // A hash lookup pages like any query: limit, cursor, direction.
      const first = await archive.query({ contentTopics: [], hashes, forward: false, limit: 2 });
      expect([payloads(first.messages), first.more]).to.deep.equal([["m3", "m5"], true]);
      const next = await archive.query({ contentTopics: [], hashes, forward: false, limit: 2, cursor: first.messages[0]!.hash });
      expect([payloads(next.messages), next.more]).to.deep.equal([["m1"], false]);
    });

    it("merges several content topics into one ordered page sequence, both ways, however the topics interleave", async () => {
      // Topic a every message, b every 5th, c only near the end, d never: pages of 4 across a, b, c, d.
      const all = Array.from({ length: 40 }, (_, i) => message(i % 5 === 0 ? "/b/1/x/proto" : i >= 36 ? "/c/1/x/proto" : "/a/1/x/proto", i));
      await archive.put([...all, message("/e/1/x/proto", 100)]);
      const topics = ["/a/1/x/proto", "/b/1/x/proto", "/c/1/x/proto", "/d/1/x/proto", "/a/1/x/proto"];
      for (const forward of [true, false]) {
        const seen: string[] = [];
        let cursor: Uint8Array | undefined;
        for (let pages = 0; pages < 20; pages++) {
          const page = await archive.query({ pubsubTopic: PUBSUB, contentTopics: topics, forward, limit: 4, ...(cursor ? { cursor } : {}) });
          expect(page.messages.length).to.be.at.most(4);
          seen.push(...(forward ? payloads(page.messages) : payloads(page.messages).reverse()));
          if (!page.more) break;
          cursor = (forward ? page.messages.at(-1) : page.messages[0])!.hash;
        }
        const expected = payloads(all);
        expect(seen).to.deep.equal(forward ? expected : expected.reverse());
      }
    });

    it("rejects a cursor that names no archived message", async () => {
      await archive.put([message("/a/1/x/proto", 1)]);
      const error = await archive.query({ contentTopics: [], forward: true, limit: 5, cursor: new Uint8Array(32).fill(7) }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(UnknownCursorError);
    });

    it("retention drops messages received too long ago, then the oldest beyond the size limit", async () => {
      const now = Date.now();
      await archive.put([message("/a/1/x/proto", 1)], now - 3_600_000);
      await archive.put([message("/a/1/x/proto", 2)], now - 2000);
      await archive.put([message("/a/1/x/proto", 3)], now - 1000);
      await archive.put([message("/a/1/x/proto", 4)], now);
      expect(await archive.prune({ maxAgeSeconds: 600, maxBytes: 0 }, now)).to.equal(1);
      const size = message("/a/1/x/proto", 4).message.length;
      // Room for two messages: the one received earliest goes.
      expect(await archive.prune({ maxAgeSeconds: 0, maxBytes: 2 * size }, now)).to.equal(1);
      expect((await archive.stats()).messages).to.equal(2);
      expect(payloads((await archive.query({ contentTopics: [], forward: true, limit: 10 })).messages)).to.deep.equal(["m3", "m4"]);
    });

    it("survives closing and reopening", async () => {
      await archive.put([message("/a/1/x/proto", 1), message("/a/1/x/proto", 2)]);
      await archive.close();
      archive = await open();
      expect((await archive.stats()).messages).to.equal(2);
      expect(await archive.put([message("/a/1/x/proto", 2)])).to.equal(0);
    });

    it("the store handler: pages, hash lookups, data-less answers, nwaku's statuses for bad requests", async () => {
      await archive.put(Array.from({ length: 5 }, (_, i) => message("/a/1/x/proto", i)));
      const request = (fields: Partial<proto_store.StoreQueryRequest>): proto_store.StoreQueryRequest => ({
        requestId: "r1",
        includeData: true,
        pubsubTopic: PUBSUB,
        contentTopics: ["/a/1/x/proto"],
        messageHashes: [],
        paginationForward: true,
        ...fields,
      });
      const first = await answerStoreQuery(request({ paginationLimit: 2n }), archive);
      expect(first.statusCode).to.equal(200);
      expect(first.requestId).to.equal("r1");
      expect(first.messages.map((m) => new TextDecoder().decode(m.message!.payload))).to.deep.equal(["m0", "m1"]);
      expect(first.paginationCursor).to.deep.equal(first.messages[1]!.messageHash);
      const last = await answerStoreQuery(request({ paginationLimit: 5n, paginationCursor: first.paginationCursor! }), archive);
      expect(last.messages).to.have.length(3);
      expect(last.paginationCursor).to.equal(undefined);
      const bare = await answerStoreQuery(request({ includeData: false }), archive);
      expect(bare.messages.every((m) => m.message === undefined && m.messageHash?.length === 32)).to.equal(true);
      const byHash = await answerStoreQuery(request({ contentTopics: [], messageHashes: [first.messages[0]!.messageHash!] }), archive);
      expect(byHash.messages).to.have.length(1);
      // As nwaku: a start after the end is an empty page; a hash lookup takes every other filter too.
      expect(await answerStoreQuery(request({ timeStart: 10n, timeEnd: 5n }), archive)).to.deep.equal({ requestId: "r1", statusCode: 200, statusDesc: "OK", messages: [] });
      const hashes = first.messages.map((m) => m.messageHash!);
      expect((await answerStoreQuery(request({ messageHashes: hashes, contentTopics: ["/b/1/y/proto"] }), archive)).messages).to.deep.equal([]);
      expect((await answerStoreQuery(request({ messageHashes: hashes, timeStart: BASE + 1_000_000n }), archive)).messages.map((m) => m.messageHash)).to.deep.equal([hashes[1]]);
      const capped = await answerStoreQuery(request({ paginationLimit: 10_000n }), archive, { ...DEFAULT_STORE_LIMITS, maxPageSize: 3 });
      expect(capped.messages).to.have.length(3);

      const bad: [Partial<proto_store.StoreQueryRequest>, number, RegExp][] = [
        [{ paginationCursor: new Uint8Array(5).fill(1) }, 300, /^BAD_RESPONSE: archive error: DRIVER_ERROR: cursor not found$/],
        [{ paginationCursor: new Uint8Array(32).fill(1) }, 300, /cursor not found/],
        [{ paginationCursor: new Uint8Array(32) }, 300, /^BAD_RESPONSE: archive error: INVALID_QUERY: all zeroes cursor hash$/],
        [{ paginationCursor: new Uint8Array(3) }, 300, /all zeroes cursor hash/],
        [{ pubsubTopic: undefined }, 400, /need a pubsub topic/],
        [{ contentTopics: Array.from({ length: 101 }, (_, i) => `/t/${i}`) }, 400, /more than 100 content topics/],
        [{ requestId: "" }, 400, /^decoding rpc failed: MissingRequiredField request_id$/],
      ];
      for (const [fields, status, why] of bad) {
        const answer = await answerStoreQuery(request(fields), archive);
        expect(answer.statusCode, String(why)).to.equal(status);
        expect(answer.statusDesc).to.match(why);
        expect(answer.messages).to.deep.equal([]);
      }
    });
  });
}
