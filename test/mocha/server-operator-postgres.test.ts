// Every PostgreSQL call has a deadline (`archive.timeoutMs`): a database that hangs (a lock held by
// another session, or a server that stops answering) gets pushes and store queries an error
// status within it, a push told it failed is not archived later, and once the database is back
// every client is served again.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import * as lp from "it-length-prefixed";
import { createLibp2p, type Libp2p } from "libp2p";
import pg from "pg";
import { proto_lightpush, proto_store } from "@waku/proto";
import { LIGHTPUSH_V3_CODEC, MailServerNode, PostgresArchive, PushStatus, STORE_CODEC, StoreStatus, parseConfig, pubsubTopicOf, type Logger } from "@status/mailserver-node";
import { startPostgres, type LocalPostgres } from "../helpers/postgres.js";

const TOPIC = "/mailserver-operator/1/postgres/proto";
const TIMEOUT_MS = 1_000;
/** Far beyond the deadline: an answer later than this counts as none (the database is released only after it). */
const NO_ANSWER_MS = 30_000;

describe("mail server operator: PostgreSQL calls have deadlines", function () {
  this.timeout(120_000);
  let pgServer: LocalPostgres;
  let url: string;
  let archive: PostgresArchive;
  let server: MailServerNode;
  let client: Libp2p;
  const logs: { level: string; event: string; fields: Record<string, unknown> }[] = [];
  const logger: Logger = { log: (level, event, fields) => void logs.push({ level, event, fields: fields ?? {} }) };
  const pubsubTopic = pubsubTopicOf(1, 0);
  let n = 0;

  before(async () => {
    pgServer = await startPostgres();
    url = await pgServer.createDatabase("deadlines");
    archive = await PostgresArchive.open(url, { timeoutMs: TIMEOUT_MS });
    server = await MailServerNode.create({
      privateKey: randomBytes(32),
      listen: ["/ip4/127.0.0.1/tcp/0"],
      clusterId: 1,
      shards: [0],
      mode: "free",
      archive,
      // Relay on (lightpush is mounted with it), with no relay peer: a push is only archived.
      relay: { enabled: true },
      logger,
    });
    await server.start();
    client = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] });
    await client.start();
  });

  after(async function () {
    this.timeout(60_000);
    await client?.stop();
    await server?.stop();
    await archive?.close();
    await pgServer?.stop();
  });

  /** One request, one answer; undefined when none came within NO_ANSWER_MS. */
  async function ask(codec: string, bytes: Uint8Array): Promise<Uint8Array | undefined> {
    const stream = await client.dialProtocol(multiaddr(server.multiaddrs[0]!), codec);
    const answer = (async () => {
      await stream.sink([lp.encode.single(bytes).subarray()]);
      let first: Uint8Array | undefined;
      for await (const chunk of lp.decode(stream.source)) first ??= chunk.subarray();
      return first;
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const none = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), NO_ANSWER_MS)));
    try {
      return await Promise.race([answer, none]);
    } finally {
      clearTimeout(timer);
      answer.catch(() => undefined);
      stream.abort(new Error("done"));
    }
  }

  async function push(text: string): Promise<proto_lightpush.LightPushResponseV3 | undefined> {
    const message = { payload: new TextEncoder().encode(text), contentTopic: TOPIC, timestamp: BigInt(Date.now()) * 1_000_000n, version: 0 };
    const answer = await ask(LIGHTPUSH_V3_CODEC, proto_lightpush.LightPushRequestV3.encode({ requestId: `push-${n++}`, pubsubTopic, message }));
    return answer === undefined ? undefined : proto_lightpush.LightPushResponseV3.decode(answer);
  }

  async function query(): Promise<proto_store.StoreQueryResponse | undefined> {
    const request = proto_store.StoreQueryRequest.encode({ requestId: `query-${n++}`, includeData: true, pubsubTopic, contentTopics: [TOPIC], messageHashes: [], paginationForward: true, paginationLimit: 100n });
    const answer = await ask(STORE_CODEC, request);
    return answer === undefined ? undefined : proto_store.StoreQueryResponse.decode(answer);
  }

  const texts = (response: proto_store.StoreQueryResponse) => response.messages.map((m) => new TextDecoder().decode(m.message!.payload));

  it("a table locked by another session: the push gets 500 and the query 503 within the deadline, and nothing is committed later", async () => {
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE");
      const pushed = await push("while locked");
      const queried = await query();
      // Answered while the lock is still held: before the deadline existed both waited for it.
      expect(pushed, "the push is answered while the database hangs").to.not.equal(undefined);
      expect(pushed!.statusCode).to.equal(PushStatus.INTERNAL_ERROR);
      expect(queried, "the query is answered while the database hangs").to.not.equal(undefined);
      expect(queried!.statusCode).to.equal(StoreStatus.SERVICE_UNAVAILABLE);
      expect(queried!.statusDesc).to.match(/try later/);
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      await holder.end();
    }
    // Back: served again, and the push that was told it failed was not archived after all.
    const after = await push("after the lock");
    expect(after!.statusCode).to.equal(PushStatus.NO_PEERS_TO_RELAY);
    const page = await query();
    expect(page!.statusCode).to.equal(StoreStatus.OK);
    expect(texts(page!)).to.deep.equal(["after the lock"]);
    // (the running totals agree)
    expect((await archive.stats()).messages).to.equal(1);
    expect(logs.filter((l) => l.event === "archive-write-failed")).to.have.length.greaterThan(0);
  });

  it("a database server that stops answering (SIGSTOP): answered within the deadline, the hung connection dropped, served again after SIGCONT", async () => {
    const admin = new pg.Client({ connectionString: url });
    admin.on("error", () => undefined);
    await admin.connect();
    try {
      // The backends of the archive's pooled connections; the postmaster keeps accepting new ones.
      const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'mailserver-archive'");
      expect(rows.length).to.be.greaterThan(0);
      const pids = rows.map((r) => r.pid);
      for (const pid of pids) process.kill(pid, "SIGSTOP");
      let pushed: proto_lightpush.LightPushResponseV3 | undefined;
      let queried: proto_store.StoreQueryResponse | undefined;
      try {
        pushed = await push("while stopped");
        queried = await query();
      } finally {
        for (const pid of pids) process.kill(pid, "SIGCONT");
      }
      // The push took a pooled connection whose server had stopped: it gave up at the deadline
      // and dropped that connection. The query is answered too: from a fresh connection (200), or
      // at its deadline if it also met a stopped one (503).
      expect(pushed, "the push is answered while the database hangs").to.not.equal(undefined);
      expect(pushed!.statusCode).to.equal(PushStatus.INTERNAL_ERROR);
      expect(queried, "the query is answered while the database hangs").to.not.equal(undefined);
      expect(queried!.statusCode).to.be.oneOf([StoreStatus.OK, StoreStatus.SERVICE_UNAVAILABLE]);
      // The woken backends find their client gone and end: what they had begun never commits.
      const until = Date.now() + 20_000;
      while ((await admin.query("SELECT pid FROM pg_stat_activity WHERE pid = ANY($1) AND state <> 'idle'", [pids])).rows.length > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await admin.end();
    }
    const after = await push("after SIGCONT");
    expect(after!.statusCode).to.equal(PushStatus.NO_PEERS_TO_RELAY);
    const page = await query();
    expect(page!.statusCode).to.equal(StoreStatus.OK);
    expect(texts(page!)).to.deep.equal(["after the lock", "after SIGCONT"]);
    expect((await archive.stats()).messages).to.equal(2);
  });

  it("the running totals: retention and metrics read them instead of counting the table; an archive made before them is counted once at open", async () => {
    const other = await pgServer.createDatabase("legacy");
    const first = await PostgresArchive.open(other);
    const pushedAt = Date.now();
    for (const i of [1, 2, 3]) await first.put([{ hash: randomBytes(32), pubsubTopic, contentTopic: TOPIC, timestamp: BigInt(i), message: randomBytes(100 * i) }], pushedAt + i);
    expect(await first.stats()).to.deep.equal({ messages: 3, bytes: 600 });
    await first.close();
    // As an archive of the previous version: no totals.
    const admin = new pg.Client({ connectionString: other });
    await admin.connect();
    await admin.query("DROP TABLE totals");
    await admin.end();
    const reopened = await PostgresArchive.open(other);
    try {
      expect(await reopened.stats()).to.deep.equal({ messages: 3, bytes: 600 });
      expect(await reopened.prune({ maxAgeSeconds: 0, maxBytes: 350 }, pushedAt + 10)).to.equal(2);
      expect(await reopened.stats()).to.deep.equal({ messages: 1, bytes: 300 });
    } finally {
      await reopened.close();
    }
    // Opening again counts nothing twice.
    const again = await PostgresArchive.open(other);
    expect(await again.stats()).to.deep.equal({ messages: 1, bytes: 300 });
    await again.close();
  });

  it("size retention over more messages than one statement sums (50,000) works in windows, each within the deadline", async () => {
    const other = await pgServer.createDatabase("windows");
    const big = await PostgresArchive.open(other, { timeoutMs: 5_000 });
    try {
      const receivedAt = Date.now() - 86_400_000;
      for (let batch = 0; batch < 60; batch++) {
        await big.put(Array.from({ length: 1000 }, (_, i) => ({ hash: randomBytes(32), pubsubTopic, contentTopic: TOPIC, timestamp: BigInt(batch * 1000 + i), message: randomBytes(10) })), receivedAt + batch);
      }
      expect(await big.stats()).to.deep.equal({ messages: 60_000, bytes: 600_000 });
      expect(await big.prune({ maxAgeSeconds: 0, maxBytes: 95, minAgeSeconds: 60 })).to.equal(59_991);
      expect(await big.stats()).to.deep.equal({ messages: 9, bytes: 90 });
    } finally {
      await big.close();
    }
  });

  it("archive.timeoutMs is a typed config key with a default and a one-line error", () => {
    const base = { nodeKeyFile: "k", mode: "free", archive: { backend: "postgres", url: "postgres://u@127.0.0.1/db" } };
    expect(parseConfig(base, "/tmp").archive).to.deep.equal({ backend: "postgres", url: "postgres://u@127.0.0.1/db", timeoutMs: 5_000 });
    expect(parseConfig({ ...base, archive: { ...base.archive, timeoutMs: 2_000 } }, "/tmp").archive).to.include({ timeoutMs: 2_000 });
    expect(() => parseConfig({ ...base, archive: { ...base.archive, timeoutMs: 0 } }, "/tmp")).to.throw("config: archive.timeoutMs must be an integer from 100 to 600000 (got 0)");
    expect(() => parseConfig({ ...base, archive: { backend: "sqlite", path: "a.sqlite", timeoutMs: 2_000 } }, "/tmp")).to.throw("config: unknown field archive.timeoutMs for backend sqlite");
  });
});
