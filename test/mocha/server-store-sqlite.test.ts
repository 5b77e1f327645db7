// The SQLite archive runs on Node's built-in `node:sqlite`: a fresh process that opens, writes and
// reads an archive loads no native addon (better-sqlite3 needed building against the right Node's
// headers) and prints no ExperimentalWarning; the file is in WAL mode.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

const CHILD = `
import { createRequire } from "node:module";
import { SqliteArchive } from "@status/mailserver-node";
const file = process.argv[1];
const archive = new SqliteArchive(file);
const message = { hash: new Uint8Array(32).fill(1), pubsubTopic: "/waku/2/rs/1/0", contentTopic: "/a/1/b/proto", timestamp: 5n, message: new Uint8Array([10, 1, 120]) };
const added = await archive.put([message]);
const page = await archive.query({ pubsubTopic: "/waku/2/rs/1/0", contentTopics: ["/a/1/b/proto"], forward: true, limit: 10 });
const native = Object.keys(createRequire(import.meta.url).cache).filter((k) => /better-sqlite3|\\.node$/.test(k));
const { DatabaseSync } = createRequire(import.meta.url)("node:sqlite");
const db = new DatabaseSync(file);
const journal = db.prepare("PRAGMA journal_mode").get().journal_mode;
db.close();
await archive.close();
console.log(JSON.stringify({ added, read: page.messages.length, timestamp: String(page.messages[0].timestamp), native, journal }));
`;

describe("SQLite archive on node:sqlite", function () {
  this.timeout(60_000);
  let tmp: string;
  before(async () => (tmp = await mkdtemp(path.join(tmpdir(), "mailserver-sqlite-"))));
  after(async () => rm(tmp, { recursive: true, force: true }));

  it("loads no native addon, prints no warning, and keeps its file in WAL mode", async () => {
    const { stdout, stderr } = await run(process.execPath, ["--input-type=module", "-e", CHILD, path.join(tmp, "archive.sqlite")], { cwd: process.cwd() });
    expect(JSON.parse(stdout)).to.deep.equal({ added: 1, read: 1, timestamp: "5", native: [], journal: "wal" });
    expect(stderr).to.equal("");
  });
});
