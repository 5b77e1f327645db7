// Retention that a stranger cannot use against subscribers, on both backends: a flood of others'
// messages fills the archive to its size bound and is then refused; it never evicts messages
// younger than the guaranteed age (`minAgeSeconds`), only older ones; a nearly full disk refuses
// new messages; refusals reach a pushing peer as a status, never as a crash. The defaults bound
// the archive by size as well as by age.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  ArchiveFullError,
  DEFAULT_RETENTION,
  ArchiveWriter,
  PostgresArchive,
  SqliteArchive,
  parseConfig,
  silentLogger,
  toArchived,
  type Archive,
  type ArchivedMessage,
  type RetentionPolicy,
} from "@status/mailserver-node";
import { startPostgres, type LocalPostgres } from "../helpers/postgres.js";

const PUBSUB = "/waku/2/rs/1/3";
const HOUR = 3_600_000;

function message(contentTopic: string, i: number): ArchivedMessage {
  const wire = { payload: new TextEncoder().encode(`${contentTopic}:${i}`.padEnd(1000, ".")), contentTopic, timestamp: 1_700_000_000_000_000_000n + BigInt(i) };
  return toArchived(PUBSUB, wire);
}

const SIZE = message("/sub/1/x/proto", 0).message.length;
const ids = async (archive: Archive, contentTopic: string) =>
  (await archive.query({ pubsubTopic: PUBSUB, contentTopics: [contentTopic], forward: true, limit: 100 })).messages.length;

describe("retention: defaults", () => {
  it("bound the archive by size as well as age, with a guaranteed day and free disk", () => {
    const config = parseConfig({ nodeKeyFile: "k", mode: "free" }, "/tmp");
    expect(config.retention).to.deep.equal(DEFAULT_RETENTION);
    expect(config.retention.maxBytes).to.be.greaterThan(0);
    expect(config.retention.minAgeSeconds).to.equal(86_400);
    expect(() => parseConfig({ nodeKeyFile: "k", mode: "free", retention: { maxAgeSeconds: 60, minAgeSeconds: 120 } }, "/tmp")).to.throw(/minAgeSeconds must not exceed/);
    expect(() => parseConfig({ nodeKeyFile: "k", mode: "free", retention: { maxByte: 1 } }, "/tmp")).to.throw(/unknown field retention.maxByte/);
  });
});

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`retention under a flood: ${backend}`, function () {
    this.timeout(120_000);
    let tmp: string;
    let pgServer: LocalPostgres | undefined;
    let archive: Archive;
    let databases = 0;
    const policy: RetentionPolicy = { maxAgeSeconds: 30 * 86_400, maxBytes: 40 * SIZE, minAgeSeconds: HOUR / 1000 };

    before(async () => {
      tmp = await mkdtemp(path.join(tmpdir(), "mailserver-retention-"));
      if (backend === "postgres") pgServer = await startPostgres();
    });
    beforeEach(async () => {
      await archive?.close();
      archive = backend === "sqlite" ? new SqliteArchive(path.join(tmp, `r${databases++}.sqlite`)) : await PostgresArchive.open(await pgServer!.createDatabase(`r${databases++}`));
    });
    after(async () => {
      await archive?.close();
      await pgServer?.stop();
      await rm(tmp, { recursive: true, force: true });
    });

    /** A stranger pushes `count` messages one by one (a node prunes every minute: here every 10 puts). */
    const flood = async (count: number, now: number) => {
      let refused = 0;
      for (let i = 0; i < count; i++) {
        if (i % 10 === 0) await archive.prune(policy, now);
        await archive.put([message("/flood/1/x/proto", i)], now).catch((error: unknown) => {
          expect(error).to.be.instanceOf(ArchiveFullError);
          refused++;
        });
      }
      await archive.prune(policy, now);
      return refused;
    };

    it("a flood cannot evict a subscriber's messages within the guaranteed age: it is refused instead", async () => {
      const now = Date.now();
      await archive.prune(policy, now);
      await archive.put(Array.from({ length: 10 }, (_, i) => message("/sub/1/x/proto", i)), now - HOUR / 2);
      const refused = await flood(200, now);
      expect(await ids(archive, "/sub/1/x/proto"), "the subscriber's messages").to.equal(10);
      expect(refused, "the flood was refused once the archive was full").to.be.greaterThan(100);
      expect((await archive.stats()).bytes).to.be.at.most(policy.maxBytes + (backend === "postgres" ? 10 * SIZE : 0));
      // Once they are older than the guaranteed age, they are what goes first.
      const later = now + HOUR;
      await archive.prune(policy, later);
      await archive.put([message("/flood/1/x/proto", 1000)], later);
      await archive.prune(policy, later);
      expect(await ids(archive, "/sub/1/x/proto")).to.be.lessThan(10);
    });

    it("messages older than the guaranteed age make room for new ones, oldest first", async () => {
      const now = Date.now();
      await archive.prune(policy, now);
      await archive.put(Array.from({ length: 30 }, (_, i) => message("/old/1/x/proto", i)), now - 2 * HOUR);
      await archive.put(Array.from({ length: 5 }, (_, i) => message("/sub/1/x/proto", i)), now - HOUR / 2);
      const refused = await flood(60, now);
      expect(await ids(archive, "/old/1/x/proto"), "the old ones went").to.equal(0);
      expect(await ids(archive, "/sub/1/x/proto")).to.equal(5);
      expect(refused).to.be.greaterThan(0);
      expect(await ids(archive, "/flood/1/x/proto")).to.be.within(30, 60 - refused + 10);
    });

    it("a message arriving for a full archive (lightpush or relay, through the one writer) is reported failed, not thrown", async () => {
      const now = Date.now();
      await archive.prune(policy, now);
      await flood(60, now);
      // The lightpush service answers "failed" with an error status when no relay peer took the message either.
      expect(await new ArchiveWriter(archive, silentLogger).write(message("/late/1/x/proto", 1))).to.equal("failed");
      expect(await ids(archive, "/late/1/x/proto")).to.equal(0);
    });

    if (backend === "sqlite") {
      it("refuses new messages while the disk has less free space than minFreeDiskBytes", async () => {
        await archive.prune({ ...policy, minFreeDiskBytes: Number.MAX_SAFE_INTEGER });
        const error = await archive.put([message("/sub/1/x/proto", 1)]).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(ArchiveFullError);
        expect((error as ArchiveFullError).why).to.equal("disk");
        expect((await archive.stats()).messages).to.equal(0);
        await archive.prune({ ...policy, minFreeDiskBytes: 1 });
        expect(await archive.put([message("/sub/1/x/proto", 1)])).to.equal(1);
      });
    }
  });
}
