// Every query shape the store protocol allows is served from an index, on both backends: the plan
// of every statement a query runs is an index range (or key lookups) walked in the page's order,
// never a full scan and never a sort of the matches (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL
// `EXPLAIN` on an analyzed table big enough for the planner to care). With the LIMIT of every
// range, that bounds the work of one query by the page size and the number of content topics.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { PostgresArchive, SqliteArchive, toArchived, type ArchivedMessage, type ArchiveQuery } from "@status/mailserver-node";
import { startPostgres, type LocalPostgres } from "../helpers/postgres.js";

const BASE = 1_700_000_000_000n * 1_000_000n;
const SHARDS = ["/waku/2/rs/1/0", "/waku/2/rs/1/1", "/waku/2/rs/1/2", "/waku/2/rs/1/3"];
const TOPICS = Array.from({ length: 20 }, (_, i) => `/plans/1/t${i}/proto`);

function message(i: number): ArchivedMessage {
  const pubsubTopic = SHARDS[i % SHARDS.length]!;
  const wire = { payload: new TextEncoder().encode(`m${i}`), contentTopic: TOPICS[i % TOPICS.length]!, timestamp: BASE + BigInt(i) * 1_000_000n };
  return toArchived(pubsubTopic, wire);
}

const COUNT = 20_000;
const messages = Array.from({ length: COUNT }, (_, i) => message(i));
const mid = messages[COUNT / 2]!;
const shard = mid.pubsubTopic;

/** The shapes the store handler sends to the archive. */
const SHAPES: [string, ArchiveQuery][] = [
  ["newest page of a content topic", { pubsubTopic: shard, contentTopics: [mid.contentTopic], forward: false, limit: 21 }],
  ["deep page with a cursor, forward", { pubsubTopic: shard, contentTopics: [mid.contentTopic], cursor: mid.hash, forward: true, limit: 21 }],
  ["deep page with a cursor, backward", { pubsubTopic: shard, contentTopics: [mid.contentTopic], cursor: mid.hash, forward: false, limit: 101 }],
  ["time range of a content topic", { pubsubTopic: shard, contentTopics: [mid.contentTopic], timeStart: BASE + 1000n * 1_000_000n, timeEnd: BASE + 9000n * 1_000_000n, forward: true, limit: 21 }],
  ["time range of a shard", { pubsubTopic: shard, contentTopics: [], timeStart: BASE + 1000n * 1_000_000n, timeEnd: BASE + 9000n * 1_000_000n, forward: false, limit: 21 }],
  ["time range, no other filter", { contentTopics: [], timeStart: BASE + 1000n * 1_000_000n, timeEnd: BASE + 9000n * 1_000_000n, forward: true, limit: 21 }],
  ["10 content topics with a cursor", { pubsubTopic: shard, contentTopics: TOPICS.slice(0, 10), cursor: mid.hash, forward: false, limit: 21 }],
  ["100 hashes with a cursor", { pubsubTopic: shard, contentTopics: [], hashes: messages.slice(9_000, 9_100).map((m) => m.hash), cursor: messages[9_050]!.hash, forward: true, limit: 21 }],
  ["pubsub topic only", { pubsubTopic: shard, contentTopics: [], forward: false, limit: 21 }],
  ["pubsub topic only, deep page", { pubsubTopic: shard, contentTopics: [], cursor: mid.hash, forward: true, limit: 101 }],
  ["no filter", { contentTopics: [], forward: false, limit: 21 }],
  ["no filter, deep page", { contentTopics: [], cursor: mid.hash, forward: true, limit: 21 }],
];

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`store query plans: ${backend}`, function () {
    this.timeout(120_000);
    let tmp: string;
    let pgServer: LocalPostgres | undefined;
    let archive: SqliteArchive | PostgresArchive;

    before(async () => {
      tmp = await mkdtemp(path.join(tmpdir(), "mailserver-plans-"));
      if (backend === "sqlite") {
        archive = new SqliteArchive(path.join(tmp, "archive.sqlite"));
      } else {
        pgServer = await startPostgres();
        const url = await pgServer.createDatabase("plans");
        archive = await PostgresArchive.open(url);
      }
      for (let i = 0; i < COUNT; i += 500) await archive.put(messages.slice(i, i + 500));
      if (backend === "postgres") {
        const client = new pg.Client({ connectionString: pgServer!.url("plans") });
        await client.connect();
        await client.query("ANALYZE messages");
        await client.end();
      }
    });
    after(async () => {
      await archive?.close();
      await pgServer?.stop();
      await rm(tmp, { recursive: true, force: true });
    });

    for (const [name, query] of SHAPES) {
      it(`${name}: index ranges and key lookups only`, async () => {
        const plan = await archive.explain(query);
        const text = plan.join("\n");
        expect(plan.length, "a plan was recorded").to.be.greaterThan(0);
        if (backend === "sqlite") {
          // A full scan is "SCAN messages" without an index; a sort of the matches is a temp b-tree.
          expect(text).to.not.match(/TEMP B-TREE/);
          expect(plan.filter((step) => /^SCAN messages(?! USING (COVERING )?INDEX)/.test(step)), text).to.deep.equal([]);
          // Walks that are not key lookups are LIMITed ranges of a named index.
          for (const step of plan) expect(step, text).to.match(/^(SEARCH|SCAN) messages USING (PRIMARY KEY|(COVERING )?INDEX messages_\w+)/);
        } else {
          // The planner may walk the time index filtering a busy shard when its statistics say
          // that reads fewer rows; it never scans the table nor sorts the matches.
          expect(text, text).to.not.match(/Seq Scan|Sort/);
          for (const step of plan.filter((s) => /Index.*Scan/.test(s))) expect(step, text).to.match(/Index (Only )?Scan( Backward)? using messages_\w+|Bitmap Index Scan on messages_pkey/);
        }
        // The query still answers (the plan was taken on the statements that ran).
        const page = await archive.query(query);
        expect(page.messages.length).to.be.greaterThan(0);
      });
    }

    it("the cursor of a deep page bounds the range in the index, not in a filter", async () => {
      const plan = (await archive.explain(SHAPES[1]![1])).join("\n");
      if (backend === "sqlite") expect(plan).to.match(/USING INDEX messages_topic_time \(pubsub_topic=\? AND content_topic=\? AND \(timestamp,hash\)>\(\?,\?\)\)/);
      else expect(plan).to.match(/Index Cond: \(\(pubsub_topic = '[^']+'::text\) AND \(content_topic = '[^']+'::text\) AND \(ROW\("timestamp", hash\) > ROW\('\d+'::bigint, '\\x[0-9a-f]{64}'::bytea\)\)\)/);
    });
  });
}
