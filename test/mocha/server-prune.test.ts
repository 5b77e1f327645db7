// Retention by age runs in slices that yield to the event loop: a node with a large expired
// backlog keeps answering while it prunes (the time it takes is measured in the bench).
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { proto_message } from "@waku/proto";
import { SqliteArchive, toArchived } from "@status/mailserver-node";

const TOPIC = "/waku/2/rs/16/32";

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
});
