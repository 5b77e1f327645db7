// Retention by age runs in slices that yield to the event loop: a node with a large expired
// backlog keeps answering while it prunes (the time it takes is measured in the bench).
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { proto_message } from "@waku/proto";
import { SqliteArchive, toArchived } from "@status/mailserver-node";

const TOPIC = "/waku/2/rs/16/32";

const messages = (n: number, timestampMs: number, bytes = 16) =>
  Array.from({ length: n }, (_, i) =>
    toArchived(TOPIC, { payload: randomBytes(bytes), contentTopic: "/a/1/b/proto", timestamp: BigInt(timestampMs + i) * 1_000_000n, version: 0 } as proto_message.WakuMessage),
  );

describe("SQLite retention in slices", function () {
  this.timeout(120_000);

  it("drops 10,000 expired messages in slices, the event loop turning between them, and keeps the young ones", async () => {
    const archive = new SqliteArchive(":memory:");
    try {
      const now = Date.now();
      const batch = (n: number, from: number) =>
        Array.from({ length: n }, (_, i) =>
          toArchived(TOPIC, { payload: randomBytes(16), contentTopic: "/a/1/b/proto", timestamp: BigInt(now - 1000 + from + i) * 1_000_000n, version: 0 } as proto_message.WakuMessage),
        );
      await archive.put(batch(10_000, 0), now - 2 * 86_400_000);
      await archive.put(batch(50, 20_000), now);

      let turns = 0;
      let pruning = true;
      const ticker = (async () => {
        while (pruning) {
          await new Promise((resolve) => setImmediate(resolve));
          turns++;
        }
      })();
      const dropped = await archive.prune({ maxAgeSeconds: 86_400, maxBytes: 0 }, now);
      pruning = false;
      await ticker;
      expect(dropped).to.equal(10_000);
      expect((await archive.stats()).messages).to.equal(50);
      // 10,000 rows in slices of 100: the loop ran between the slices (one DELETE would allow none).
      expect(turns).to.be.at.least(4);
    } finally {
      await archive.close();
    }
  });

  // SQLite's automatic checkpoints run inside the commit that crosses 1,000 WAL pages, on the
  // event loop; they were the longest stalls while pruning a million rows (see the bench). The
  // archive turns them off and a worker thread checkpoints on a connection of its own.
  it("moves the WAL into the database file on its checkpoint thread, every second and on demand, and closes cleanly", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mailserver-wal-"));
    const file = path.join(dir, "archive.db");
    try {
      const archive = new SqliteArchive(file);
      const now = Date.now();
      // About 6 MB: well past the 1,000 pages at which the connection would checkpoint itself.
      for (let i = 0; i < 6; i++) await archive.put(messages(500, now + i * 1000, 2048), now);
      const first = await archive.checkpoint();
      expect(first, "a checkpoint result").to.not.equal(undefined);
      expect(first!.busy).to.equal(0);
      expect(first!.checkpointed).to.equal(first!.log);
      expect((await stat(file)).size, "the rows are in the database file").to.be.above(5_000_000);

      // Without asking: the periodic checkpoint takes new writes into the file within seconds.
      const before = (await stat(file)).size;
      await archive.put(messages(1500, now + 10_000, 2048), now);
      const deadline = Date.now() + 20_000;
      while ((await stat(file)).size < before + 2_500_000) {
        expect(Date.now(), "the periodic checkpoint moved the new rows").to.be.below(deadline);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await archive.close();
      await archive.close();

      const reopened = new SqliteArchive(file);
      expect((await reopened.stats()).messages).to.equal(4500);
      await reopened.close();
      const memory = new SqliteArchive(":memory:");
      expect(await memory.checkpoint(), "no WAL in memory").to.equal(undefined);
      await memory.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

