// Writes are bounded: a peer that asks for a large answer and never reads it has its stream
// aborted after the write deadline (instead of holding the handler and the answer's buffers for
// as long as it likes), and everyone else keeps being served.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import * as lp from "it-length-prefixed";
import { createLibp2p, type Libp2p } from "libp2p";
import { proto_message, proto_store } from "@waku/proto";
import { MailServerNode, SqliteArchive, STORE_CODEC, pubsubTopicOf, toArchived, type Logger } from "@status/mailserver-node";

const TOPIC = "/mailserver-operator/1/writes/proto";
const MESSAGES = 100;
// it-length-prefixed encodes at most 4 MB in one frame: the answer stays under it.
const PAYLOAD_BYTES = 36 * 1024;

describe("mail server operator: bounded writes", function () {
  this.timeout(120_000);
  let tmp: string;
  let archive: SqliteArchive;
  let server: MailServerNode;
  let client: Libp2p;
  const logs: { level: string; event: string; fields: Record<string, unknown> }[] = [];
  const logger: Logger = { log: (level, event, fields) => void logs.push({ level, event, fields: fields ?? {} }) };
  const pubsubTopic = pubsubTopicOf(1, 0);

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-operator-writes-"));
    archive = new SqliteArchive(path.join(tmp, "archive.sqlite"));
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    // About 3.6 MB in one page: far more than the stream's window.
    await archive.put(
      Array.from({ length: MESSAGES }, (_, i) =>
        toArchived(pubsubTopic, { payload: randomBytes(PAYLOAD_BYTES), contentTopic: TOPIC, timestamp: nowNs + BigInt(i), version: 0 } as proto_message.WakuMessage),
      ),
    );
    server = await MailServerNode.create({
      privateKey: randomBytes(32),
      listen: ["/ip4/127.0.0.1/tcp/0"],
      clusterId: 1,
      shards: [0],
      mode: "free",
      archive,
      relay: { enabled: false },
      nodeLimits: { writeTimeoutMs: 1500 },
      logger,
    });
    await server.start();
    client = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] });
    await client.start();
  });

  after(async function () {
    this.timeout(60_000);
    await client.stop();
    await server.stop();
    await archive.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const query = (requestId: string) =>
    lp.encode.single(
      proto_store.StoreQueryRequest.encode({ requestId, includeData: true, pubsubTopic, contentTopics: [TOPIC], messageHashes: [], paginationForward: true, paginationLimit: BigInt(MESSAGES) }),
    ).subarray();

  it("a peer that never reads a large answer has its stream aborted; the next query is answered", async () => {
    const stream = await client.dialProtocol(multiaddr(server.multiaddrs[0]!), STORE_CODEC);
    await stream.sink([query("never-read")]);
    // The peer reads nothing. Before the deadline existed the server's write waited forever.
    const until = Date.now() + 30_000;
    while (stream.status !== "reset" && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect(stream.status, "the server reset the stream").to.equal("reset");
    // The peer's doing, not the node's: info, not warn or error.
    expect(logs.find((l) => l.event === "answer-not-read")).to.include({ level: "info" });
    expect(logs.filter((l) => l.level === "warn" || l.level === "error")).to.deep.equal([]);

    // A peer that reads gets the whole answer.
    const reader = await client.dialProtocol(multiaddr(server.multiaddrs[0]!), STORE_CODEC);
    await reader.sink([query("read")]);
    let answer: Uint8Array | undefined;
    for await (const chunk of lp.decode(reader.source, { maxDataLength: 64 * 1024 * 1024 })) answer ??= chunk.subarray();
    const decoded = proto_store.StoreQueryResponse.decode(answer!);
    expect(decoded.statusCode).to.equal(200);
    // A page is bounded by bytes as well as count (limits.maxResponseBytes): what does not fit
    // comes with a cursor to the rest.
    expect(decoded.messages.length).to.be.within(1, MESSAGES);
    if (decoded.messages.length < MESSAGES) expect(decoded.paginationCursor).to.have.length(32);
  });
});
