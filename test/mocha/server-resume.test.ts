// Store Resume on loopback between real mail-server nodes: node B fills its archive from node A
// by store v3 (exactly the window's messages, across pages, once), respects its last-online time,
// and survives peers that never answer, lie, page forever or are dead, staying within its bounds.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { multiaddr } from "@multiformats/multiaddr";
import { messageHash } from "@waku/core";
import { proto_message, proto_store } from "@waku/proto";
import * as lp from "it-length-prefixed";
import {
  MailServerNode,
  SqliteArchive,
  STORE_CODEC,
  StoreClientError,
  StoreResume,
  queryStore,
  readLastOnline,
  writeLastOnline,
  type ArchivedMessage,
  type Dial,
  type DuplexStream,
  type Logger,
  type StoreResumeInit,
} from "@status/mailserver-node";

const CLUSTER = 16;
const TOPICS = [`/waku/2/rs/${CLUSTER}/1`, `/waku/2/rs/${CLUSTER}/32`];
const OTHER_SHARD = `/waku/2/rs/${CLUSTER}/2`;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let counter = 0;
function wire(timestampMs: number, payloadBytes = 40): proto_message.WakuMessage {
  const payload = new Uint8Array(payloadBytes).fill(counter % 251);
  new DataView(payload.buffer).setUint32(0, counter++);
  return { payload, contentTopic: "/resume-test/1/chat/proto", timestamp: BigInt(timestampMs) * 1_000_000n };
}

function archived(pubsubTopic: string, message: proto_message.WakuMessage): ArchivedMessage {
  return {
    hash: messageHash(pubsubTopic, message as unknown as Parameters<typeof messageHash>[1]),
    pubsubTopic,
    contentTopic: message.contentTopic,
    timestamp: message.timestamp!,
    message: proto_message.WakuMessage.encode(message),
  };
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

async function allHashes(archive: SqliteArchive): Promise<string[]> {
  const hashes: string[] = [];
  let cursor: Uint8Array | undefined;
  for (;;) {
    const page = await archive.query({ contentTopics: [], forward: true, limit: 500, ...(cursor ? { cursor } : {}) });
    hashes.push(...page.messages.map((m) => hex(m.hash)));
    if (!page.more) return hashes.sort();
    cursor = page.messages.at(-1)!.hash;
  }
}

type Behaviour = (request: proto_store.StoreQueryRequest) => Promise<proto_store.StoreQueryResponse | undefined>;

describe("server: Store Resume", function () {
  this.timeout(120_000);
  let tmp: string;
  let a: MailServerNode;
  let b: MailServerNode;
  let c: MailServerNode;
  let aArchive: SqliteArchive;
  let bArchive: SqliteArchive;
  let cBehaviour: Behaviour;
  let cRequests: proto_store.StoreQueryRequest[];
  const resumes: StoreResume[] = [];
  const window: ArchivedMessage[] = [];
  const old: ArchivedMessage[] = [];
  let deadPeers: string[];
  const fileOf = new Map<StoreResume, string>();

  const node = async (archive: SqliteArchive, shards: number[]) => {
    const n = await MailServerNode.create({
      privateKey: randomBytes(32),
      listen: ["/ip4/127.0.0.1/tcp/0"],
      clusterId: CLUSTER,
      shards,
      mode: "free",
      archive,
      admission: { freeBurst: 1e6, freeQueriesPerMinute: 1e6, freeQueriesPerSecond: 1e6 },
    });
    await n.start();
    return n;
  };
  const dial: Dial = async (peer, protocol, { signal }) => (await b.libp2p.dialProtocol(multiaddr(peer), protocol, { signal })) as unknown as DuplexStream;
  const addressOf = (n: MailServerNode) => n.multiaddrs[0]!;
  const events: { level: string; event: string; fields: Record<string, unknown> }[] = [];
  const logger: Logger = { log: (level, event, fields = {}) => void events.push({ level, event, fields }) };
  const resume = (init: Partial<StoreResumeInit> & Pick<StoreResumeInit, "peers">) => {
    const lastOnlineFile = path.join(tmp, `last-online-${fileOf.size}.json`);
    const r = new StoreResume({ dial, archive: bArchive, pubsubTopics: TOPICS, lastOnlineFile, logger, ...init });
    resumes.push(r);
    fileOf.set(r, lastOnlineFile);
    return r;
  };

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-resume-"));
    const now = Date.now();
    // 100 messages of the last 4 hours on our two shards, 5 older than the 6-hour window, and
    // messages of a shard B does not serve: A serves them all.
    for (let i = 0; i < 100; i++) window.push(archived(TOPICS[i % 5 < 3 ? 0 : 1]!, wire(now - 10 * MINUTE - i * 2 * MINUTE)));
    for (let i = 0; i < 5; i++) old.push(archived(TOPICS[0]!, wire(now - 7 * HOUR - i * MINUTE)));
    const foreign = Array.from({ length: 10 }, (_, i) => archived(OTHER_SHARD, wire(now - 20 * MINUTE - i * MINUTE)));
    aArchive = new SqliteArchive(":memory:");
    expect(await aArchive.put([...window, ...old, ...foreign])).to.equal(115);
    a = await node(aArchive, [1, 2, 32]);
    b = await node(new SqliteArchive(":memory:"), [1, 32]);
    c = await node(new SqliteArchive(":memory:"), [1, 32]);
    // C answers store queries as each test says (silent, lying, endless).
    await c.libp2p.unhandle(STORE_CODEC);
    await c.libp2p.handle(STORE_CODEC, ({ stream }) => {
      void (async () => {
        let request: proto_store.StoreQueryRequest | undefined;
        for await (const chunk of lp.decode(stream.source)) {
          request = proto_store.StoreQueryRequest.decode(chunk.subarray());
          break;
        }
        if (request === undefined) return;
        cRequests.push(request);
        const response = await cBehaviour(request);
        if (response === undefined) return; // never answers
        await stream.sink([lp.encode.single(proto_store.StoreQueryResponse.encode(response)).subarray()]);
      })().catch(() => undefined);
    });
    // Dead peers: one that was stopped, one that never listened.
    const gone = await node(new SqliteArchive(":memory:"), [1]);
    const never = await MailServerNode.create({ privateKey: randomBytes(32), listen: ["/ip4/127.0.0.1/tcp/0"], clusterId: CLUSTER, shards: [1], mode: "free", archive: new SqliteArchive(":memory:") });
    deadPeers = [addressOf(gone), `/ip4/127.0.0.1/tcp/9/p2p/${never.peerId}`];
    await gone.stop();
    // Connected up front, so that short request deadlines below time the answer, not a handshake.
    await b.libp2p.dial(multiaddr(addressOf(a)));
    await b.libp2p.dial(multiaddr(addressOf(c)));
  });

  beforeEach(() => {
    bArchive = new SqliteArchive(":memory:");
    cRequests = [];
    cBehaviour = async () => undefined;
    events.length = 0;
  });

  afterEach(async () => {
    for (const r of resumes.splice(0)) await r.stop();
    await bArchive.close();
  });

  after(async () => {
    for (const n of [a, b, c]) await n?.stop();
    await aArchive?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it("recovers exactly the window's 100 messages of our shards from a peer, following its cursor page by page", async () => {
    const report = await resume({ peers: [addressOf(a)], pageSize: 30 }).resume();
    expect(report).to.deep.include({ peer: addressOf(a), complete: true, stoppedBy: undefined, received: 100, archived: 100, duplicates: 0, rejected: 0, lastOnline: undefined });
    // 60 messages on one shard and 40 on the other, 30 a page: 30+30 and 30+10.
    expect(report.pages).to.equal(4);
    expect(report.failures).to.deep.equal([]);
    expect(await allHashes(bArchive)).to.deep.equal(window.map((m) => hex(m.hash)).sort());
    // Archived as received: the very bytes, topic and timestamp A holds.
    const [first] = await bArchive.byHashes([window[0]!.hash]);
    expect(first).to.deep.equal(window[0]);
    expect(events.map((e) => e.event)).to.include.members(["resume-started", "resume-done"]);
  });

  it("run twice, archives nothing twice: the second run finds only duplicates", async () => {
    const r = resume({ peers: [addressOf(a)] });
    expect((await r.resume()).archived).to.equal(100);
    const again = await r.resume();
    expect(again).to.deep.include({ complete: true, received: 100, archived: 0, duplicates: 100, rejected: 0 });
    expect((await bArchive.stats()).messages).to.equal(100);
  });

  it("fetches nothing older than the window: 6 h by default, or as configured", async () => {
    const r = resume({ peers: [addressOf(a)] });
    await r.resume();
    expect(await bArchive.byHashes(old.map((m) => m.hash))).to.deep.equal([]);
    const recent = window.filter((m) => m.timestamp >= BigInt(Date.now() - HOUR) * 1_000_000n);
    const short = await resume({ peers: [addressOf(a)], windowMs: HOUR, archive: new SqliteArchive(":memory:") }).resume();
    expect(short.received).to.equal(recent.length);
    expect(short.from).to.be.closeTo(Date.now() - HOUR, 5 * MINUTE);
  });

  it("asks only for the time since it was last online (less the clock-drift overlap)", async () => {
    const r = resume({ peers: [addressOf(a)] });
    const lastOnline = Date.now() - 90 * MINUTE - 30_000;
    await writeLastOnline(lastFile(r), lastOnline);
    const report = await r.resume();
    expect(report.lastOnline).to.equal(lastOnline);
    expect(report.from).to.equal(lastOnline - 20_000);
    const expected = window.filter((m) => m.timestamp >= BigInt(lastOnline - 20_000) * 1_000_000n).map((m) => hex(m.hash));
    expect(expected.length).to.be.within(35, 45);
    expect(report.archived).to.equal(expected.length);
    expect(await allHashes(bArchive)).to.deep.equal(expected.sort());
  });

  it("a missing or corrupt last-online file means never online: the full window", async () => {
    const r = resume({ peers: [addressOf(a)] });
    await writeFile(lastFile(r), "{not json");
    expect(await readLastOnline(lastFile(r))).to.equal(undefined);
    expect((await r.resume()).archived).to.equal(100);
    expect(events.find((e) => e.event === "resume-last-online-unreadable")?.fields).to.include({ problem: "not JSON" });
    await writeFile(lastFile(r), JSON.stringify({ lastOnlineMs: -5 }));
    expect((await r.resume()).lastOnline).to.equal(undefined);
  });

  it("start() resumes in the background, then saves the last-online time (atomically) on its interval and at stop", async () => {
    const r = resume({ peers: [addressOf(a)], saveIntervalMs: 50 });
    const before = Date.now();
    r.start();
    const report = await r.whenResumed();
    expect(report).to.deep.include({ complete: true, archived: 100 });
    const saved = await readLastOnline(lastFile(r));
    expect(saved).to.be.at.least(before);
    // The interval moves it forward.
    let later = saved!;
    for (let i = 0; i < 200 && later === saved; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      later = (await readLastOnline(lastFile(r)))!;
    }
    expect(later).to.be.above(saved!);
    await r.stop();
    expect(await readLastOnline(lastFile(r))).to.be.at.least(later);
    expect((await readdir(tmp)).filter((f) => f.endsWith(".tmp"))).to.deep.equal([]);
  });

  it("after a stop and a restart, asks only for what came since the stop", async () => {
    const dArchive = new SqliteArchive(":memory:");
    await dArchive.put(window);
    const d = await node(dArchive, [1, 32]);
    try {
      const first = resume({ peers: [addressOf(d)] });
      first.start();
      expect(await first.whenResumed()).to.deep.include({ archived: 100 });
      await first.stop();
      const stoppedAt = (await readLastOnline(lastFile(first)))!;
      // While this node is down, 10 messages arrive at the other.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const missed = Array.from({ length: 10 }, (_, i) => archived(TOPICS[i % 2]!, wire(Date.now() + i)));
      await dArchive.put(missed);
      const restarted = resume({ peers: [addressOf(d)], lastOnlineFile: lastFile(first) });
      const report = await restarted.resume();
      expect(report).to.deep.include({ lastOnline: stoppedAt, from: stoppedAt - 20_000, complete: true, received: 10, archived: 10, duplicates: 0 });
      expect((await bArchive.stats()).messages).to.equal(110);
    } finally {
      await d.stop();
      await dArchive.close();
    }
  });

  it("a peer that never answers hits the request deadline and the next peer is tried", async () => {
    const report = await resume({ peers: [addressOf(c), addressOf(a)], requestTimeoutMs: 1500 }).resume();
    expect(cRequests.length).to.equal(1);
    expect(report.failures).to.have.length(1);
    expect(report.failures[0]).to.deep.include({ peer: addressOf(c) });
    expect(report.failures[0]!.error).to.match(/no answer within 1500 ms/);
    expect(report).to.deep.include({ peer: addressOf(a), complete: true, archived: 100 });
    expect(events.find((e) => e.event === "resume-peer-failed")?.fields).to.include({ peer: addressOf(c) });
  });

  it("a peer that sends other shards' messages, wrong hashes, out-of-range, oversized or empty entries: those are dropped and counted", async () => {
    const now = Date.now();
    cBehaviour = async (request) => {
      const topic = request.pubsubTopic!;
      const good = [archived(topic, wire(now - MINUTE)), archived(topic, wire(now - 2 * MINUTE))];
      const foreign = archived(OTHER_SHARD, wire(now - MINUTE));
      const lying = archived(topic, wire(now - MINUTE));
      const stale = archived(topic, wire(now - 8 * HOUR));
      const big = archived(topic, wire(now - MINUTE, 3000));
      const entry = (m: ArchivedMessage, hash = m.hash) => ({ messageHash: hash, pubsubTopic: m.pubsubTopic, message: proto_message.WakuMessage.decode(m.message) });
      return {
        requestId: request.requestId,
        statusCode: 200,
        statusDesc: "OK",
        messages: [
          ...good.map((m) => entry(m)),
          entry(foreign),
          entry(lying, good[0]!.hash), // claims the hash of a real message, to shadow it
          entry(stale),
          entry(big),
          { messageHash: lying.hash, pubsubTopic: topic },
        ],
      };
    };
    const report = await resume({ peers: [addressOf(c)], maxMessageBytes: 2048 }).resume();
    expect(report).to.deep.include({ peer: addressOf(c), complete: true, received: 14, archived: 4, duplicates: 0, rejected: 10 });
    expect(report.rejectedBy).to.deep.equal({ topic: 2, hash: 2, time: 2, size: 2, invalid: 2 });
    const stored = await bArchive.query({ contentTopics: [], forward: true, limit: 100 });
    expect(stored.messages.map((m) => m.pubsubTopic).sort()).to.deep.equal([TOPICS[0], TOPICS[0], TOPICS[1], TOPICS[1]]);
    for (const m of stored.messages) expect(hex(m.hash)).to.equal(hex(messageHash(m.pubsubTopic, proto_message.WakuMessage.decode(m.message) as unknown as Parameters<typeof messageHash>[1])));
  });

  describe("a peer that would keep us busy forever", () => {
    // Every page full of fresh valid messages, always with a new cursor.
    const endless = (delayMs = 0): Behaviour => async (request) => {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const n = Number(request.paginationLimit ?? 20n);
      const messages = Array.from({ length: n }, () => archived(request.pubsubTopic!, wire(Date.now() - MINUTE)));
      return {
        requestId: request.requestId,
        statusCode: 200,
        messages: messages.map((m) => ({ messageHash: m.hash, pubsubTopic: m.pubsubTopic, message: proto_message.WakuMessage.decode(m.message) })),
        paginationCursor: randomBytes(32),
      };
    };

    it("is cut at maxPages", async () => {
      cBehaviour = endless();
      const report = await resume({ peers: [addressOf(c)], pageSize: 3, maxPages: 7 }).resume();
      expect(report).to.deep.include({ complete: false, stoppedBy: "max-pages", pages: 7, received: 21, archived: 21, peer: undefined });
      expect(cRequests).to.have.length(7);
      expect(events.map((e) => e.event)).to.include("resume-incomplete");
    });

    it("is cut at maxMessages, the last page asked only for what is left", async () => {
      cBehaviour = endless();
      const report = await resume({ peers: [addressOf(c)], pageSize: 4, maxMessages: 10 }).resume();
      expect(report).to.deep.include({ stoppedBy: "max-messages", pages: 3, received: 10 });
      expect(cRequests.map((r) => Number(r.paginationLimit))).to.deep.equal([4, 4, 2]);
    });

    it("is cut by the run's time budget", async () => {
      cBehaviour = endless(100);
      const report = await resume({ peers: [addressOf(c)], budgetMs: 800 }).resume();
      expect(report).to.deep.include({ complete: false, stoppedBy: "budget" });
    });

    it("a page larger than asked, or a cursor that does not move, fails that peer and the next one serves", async () => {
      cBehaviour = async (request) => {
        const page = await endless()({ ...request, paginationLimit: 200n });
        return page;
      };
      const report = await resume({ peers: [addressOf(c), addressOf(a)] }).resume();
      expect(report.failures[0]!.error).to.match(/a page of 200 messages, asked for 100/);
      expect(report).to.deep.include({ peer: addressOf(a), complete: true, archived: 100 });
      const stuck = randomBytes(32);
      cBehaviour = async (request) => ({ ...(await endless()(request))!, paginationCursor: stuck });
      const again = await resume({ peers: [addressOf(c)], archive: new SqliteArchive(":memory:") }).resume();
      expect(again.failures[0]!.error).to.match(/cursor did not move/);
      expect(again.pages).to.equal(2);
    });

    it("an answer over the size bound fails that peer", async () => {
      const report = await resume({ peers: [addressOf(a)], maxResponseBytes: 1000 }).resume();
      expect(report).to.deep.include({ complete: false, stoppedBy: "no-peer", archived: 0 });
      expect(report.failures[0]!.error).to.match(/answer over 1000 bytes/);
    });
  });

  it("waits out a 429 from a rate-limited peer, then carries on", async () => {
    let refused = 0;
    cBehaviour = async (request) => {
      if (refused++ < 2) return { requestId: request.requestId, statusCode: 429, statusDesc: "TOO_MANY_REQUESTS", messages: [] };
      return { requestId: request.requestId, statusCode: 200, messages: [] };
    };
    const report = await resume({ peers: [addressOf(c)], rateLimitDelayMs: 20 }).resume();
    expect(report).to.deep.include({ complete: true, peer: addressOf(c) });
    expect(cRequests).to.have.length(4); // two refused, then one page per topic
    // Beyond rateLimitRetries in a row, the peer has failed.
    refused = -100;
    const gaveUp = await resume({ peers: [addressOf(c)], rateLimitDelayMs: 1, rateLimitRetries: 2 }).resume();
    expect(gaveUp).to.deep.include({ complete: false, stoppedBy: "no-peer" });
    expect(gaveUp.failures[0]!.error).to.match(/status 429/);
  });

  it("a dead peer list logs and returns without throwing; start() retries, then gives up without saving", async () => {
    const report = await resume({ peers: deadPeers, requestTimeoutMs: 2000 }).resume();
    expect(report).to.deep.include({ peer: undefined, complete: false, stoppedBy: "no-peer", pages: 0, archived: 0 });
    expect(report.failures.map((f) => f.peer)).to.deep.equal(deadPeers);
    expect(events.find((e) => e.event === "resume-no-peer")?.fields).to.include({ why: "no store peer answered" });

    events.length = 0;
    const r = resume({ peers: deadPeers, requestTimeoutMs: 2000, attempts: 2, retryDelayMs: 10 });
    r.start();
    expect(await r.whenResumed()).to.deep.include({ stoppedBy: "no-peer" });
    expect(events.filter((e) => e.event === "resume-started")).to.have.length(2);
    expect(events.map((e) => e.event)).to.include("resume-gave-up");
    await r.stop();
    // The gap is not filled: the old last-online time stays (none here), so a restart asks again.
    expect(await readLastOnline(lastFile(r))).to.equal(undefined);

    const none = await resume({ peers: [] }).resume();
    expect(none).to.deep.include({ stoppedBy: "no-peer", complete: false });
    expect(events.at(-1)?.fields).to.include({ why: "no store peers configured" });
  });

  it("stop() aborts a run in flight", async () => {
    const asked = new Promise<void>((resolve) => {
      cBehaviour = async () => {
        resolve();
        return undefined;
      };
    });
    const r = resume({ peers: [addressOf(c)], requestTimeoutMs: 60_000 });
    r.start();
    await asked;
    await r.stop();
    expect(await r.whenResumed()).to.deep.include({ stoppedBy: "stopped", complete: false });
  });

  it("takes its peers from a function (e.g. discovery), skipping addresses it cannot dial", async () => {
    const report = await resume({ peers: async () => ["/ip4/127.0.0.1/tcp/1", addressOf(a)] }).resume();
    expect(report).to.deep.include({ peer: addressOf(a), complete: true, archived: 100 });
    expect(events.find((e) => e.event === "resume-bad-peer")?.fields).to.include({ peer: "/ip4/127.0.0.1/tcp/1" });
  });

  it("refuses a peer address without /p2p/ and bad limits with a clear error", () => {
    expect(() => resume({ peers: ["/ip4/127.0.0.1/tcp/60000"] })).to.throw(/must be a multiaddr ending in \/p2p\/<peer id>/);
    expect(() => resume({ peers: [], pageSize: 0 })).to.throw(/pageSize must be an integer >= 1/);
  });

  const lastFile = (r: StoreResume) => fileOf.get(r)!;
});

// The store client's deadline holds whatever the transport does: a dial that never resolves and
// ignores its signal, a stream that ignores abort and never sends, an answer that never ends.
describe("server: store v3 client deadline", () => {
  const request: proto_store.StoreQueryRequest = { requestId: "r", includeData: true, contentTopics: [], messageHashes: [], paginationForward: true };
  const options = { timeoutMs: 200, maxResponseBytes: 1024 };
  const never = new Promise<never>(() => undefined);
  const deafStream = (source: AsyncIterable<Uint8Array>): DuplexStream => ({
    source,
    sink: async () => undefined,
    close: async () => undefined,
    abort: () => undefined,
  });
  const expectError = async (promise: Promise<unknown>, kind: string) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(StoreClientError);
    expect((error as StoreClientError).kind).to.equal(kind);
  };

  it("a dial that never resolves", async () => {
    let signalled = false;
    const dial: Dial = async (_peer, _protocol, { signal }) => {
      signal.addEventListener("abort", () => (signalled = true));
      return never;
    };
    await expectError(queryStore(dial, "/ip4/127.0.0.1/tcp/1/p2p/x", request, options), "timeout");
    expect(signalled).to.equal(true);
  });

  it("a stream that ignores abort and never answers, or trickles an endless frame", async () => {
    await expectError(queryStore(async () => deafStream((async function* () { await never; })()), "p", request, options), "timeout");
    const trickle = async function* () {
      yield Uint8Array.of(0xff, 0x07); // a frame of 1023 bytes announced, never completed
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        yield Uint8Array.of(1);
      }
    };
    await expectError(queryStore(async () => deafStream(trickle()), "p", request, options), "timeout");
  });

  it("an answer whose stream never finishes closing is still the answer", async () => {
    const frame = lp.encode.single(proto_store.StoreQueryResponse.encode({ requestId: "r", statusCode: 200, messages: [] })).subarray();
    const stream = { ...deafStream((async function* () { yield frame; })()), close: () => never };
    expect(await queryStore(async () => stream, "p", request, options)).to.deep.include({ requestId: "r", statusCode: 200 });
  });

  it("a frame over the bound, an empty stream, garbage, and a stop", async () => {
    await expectError(queryStore(async () => deafStream((async function* () { yield Uint8Array.of(0x80, 0x10); })()), "p", request, options), "too-large");
    await expectError(queryStore(async () => deafStream((async function* () {})()), "p", request, options), "empty");
    await expectError(queryStore(async () => deafStream((async function* () { yield Uint8Array.of(3, 0xff, 0xff, 0xff); })()), "p", request, options), "malformed");
    await expectError(queryStore(async () => { throw new Error("connection refused"); }, "p", request, options), "dial");
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 20);
    await expectError(queryStore(async () => deafStream((async function* () { await never; })()), "p", request, { ...options, timeoutMs: 60_000, signal: stop.signal }), "aborted");
  });
});
