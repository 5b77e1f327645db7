// Retention runs in slices: on a file archive, on its maintenance worker thread (with the WAL
// checkpoints), the archive's own puts going first between slices; in memory, on the event loop
// with a turn between slices. A node with a large expired backlog keeps answering while it prunes
// (the stalls and the time it takes are measured in the bench).
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

/** Runs `work` on an archive file in a folder of its own, removed afterwards. */
async function withArchiveFile(prefix: string, work: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  try {
    await work(path.join(dir, "archive.db"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

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
    await withArchiveFile("mailserver-wal-", async (file) => {
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
    });
  });

  it("prunes a file archive on its maintenance thread: the event loop turns, puts during the prune are kept, size retention drops only what is over", async () => {
    await withArchiveFile("mailserver-prune-", async (file) => {
      const archive = new SqliteArchive(file);
      const now = Date.now();
      for (let i = 0; i < 4; i++) await archive.put(messages(5_000, now - 3_600_000 + i * 5_000), now - 2 * 86_400_000);
      let written = 0;
      let pruning = true;
      // A writer on the event loop during the prune: every put must succeed (SQLite's write lock is
      // shared with the worker's slices) and none of them expired, so none may be dropped.
      const writer = (async () => {
        while (pruning) {
          written += await archive.put(messages(1, now + written), now);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const dropped = await archive.prune({ maxAgeSeconds: 86_400, maxBytes: 0 }, now);
      pruning = false;
      await writer;
      expect(dropped).to.equal(20_000);
      expect(written, "puts went on during the prune").to.be.at.least(4);
      expect((await archive.stats()).messages, "every put made during the prune is kept").to.equal(written);

      // Size: over the bound by three messages' worth, with more room than that to drop: exactly three go, oldest first.
      const size = (await archive.stats()).bytes / written;
      // Ten older than the protected age (the ones written during the prune are younger).
      await archive.put(messages(10, now + 1_000_000), now - 3_600_000);
      const before = (await archive.stats()).messages;
      const bound = (await archive.stats()).bytes - 3 * size;
      expect(await archive.prune({ maxAgeSeconds: 0, maxBytes: bound, minAgeSeconds: 60 }, now)).to.equal(3);
      expect((await archive.stats()).messages).to.equal(before - 3);
      await archive.close();
    });
  });

  it("a prune under way ends at its next slice when the archive closes, and a second call joins the first", async () => {
    await withArchiveFile("mailserver-prune-", async (file) => {
      const archive = new SqliteArchive(file);
      const now = Date.now();
      for (let i = 0; i < 10; i++) await archive.put(messages(5_000, now + i * 5_000), now - 2 * 86_400_000);
      const policy = { maxAgeSeconds: 86_400, maxBytes: 0 };
      const first = archive.prune(policy, now);
      const second = archive.prune(policy, now);
      expect(second, "joins the run under way").to.equal(first);
      // Let a few slices run, then close.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await archive.close();
      const dropped = await first;
      expect(dropped, "stopped early").to.be.below(50_000);
      const reopened = new SqliteArchive(file);
      expect((await reopened.stats()).messages, "what it had not reached is still there, and the totals agree").to.equal(50_000 - dropped);
      expect(await reopened.prune(policy, now)).to.equal(50_000 - dropped);
      await reopened.close();
    });
  });
});
