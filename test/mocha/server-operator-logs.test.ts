// A client that goes away mid-answer is routine, not a fault of the node: its stream's failure is
// logged at info with the peer and the reason (never warn or error), and the node keeps serving.
// So is a stream left idle without a request (what @waku/sdk does with the streams it opens ahead).
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { noise } from "@chainsafe/libp2p-noise";
import { mplex } from "@libp2p/mplex";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import * as lp from "it-length-prefixed";
import { createLibp2p, type Libp2p } from "libp2p";
import { proto_message, proto_store } from "@waku/proto";
import { MailServerNode, SqliteArchive, STORE_CODEC, jsonLogger, pubsubTopicOf, toArchived, type Archive } from "@status/mailserver-node";

const TOPIC = "/mailserver-operator/1/logs/proto";

describe("mail server operator: a client that goes away mid-answer is logged at info", function () {
  this.timeout(120_000);
  let tmp: string;
  let archive: SqliteArchive;
  let server: MailServerNode;
  let client: Libp2p;
  // The node's own structured log, as an operator reads it (JSON lines, debug and up).
  const lines: Record<string, unknown>[] = [];
  const pubsubTopic = pubsubTopicOf(1, 0);

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-operator-logs-"));
    archive = new SqliteArchive(path.join(tmp, "archive.sqlite"));
    const nowNs = BigInt(Date.now()) * 1_000_000n;
        await archive.put(
      Array.from({ length: 80 }, (_, i) =>
        toArchived(pubsubTopic, { payload: randomBytes(36 * 1024), contentTopic: TOPIC, timestamp: nowNs + BigInt(i), version: 0 } as proto_message.WakuMessage),
      ),
    );
    server = await MailServerNode.create({
      privateKey: randomBytes(32),
      listen: ["/ip4/127.0.0.1/tcp/0"],
      clusterId: 1,
      shards: [0],
      mode: "free",
      // Queries take a moment, so that the client's reset arrives while its answer is being made.
      archive: slowed(archive, 300),
      relay: { enabled: false },
      nodeLimits: { requestTimeoutMs: 1_000 },
      logger: jsonLogger("debug", (line) => void lines.push(JSON.parse(line) as Record<string, unknown>)),
    });
    await server.start();
    // mplex, as @waku/sdk speaks it (its streams are where "ended pushable" came from).
    client = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [mplex({ disconnectThreshold: 1_000_000 })] });
    await client.start();
  });

  after(async function () {
    this.timeout(60_000);
    await client?.stop();
    await server?.stop();
    await archive?.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  const query = (requestId: string) =>
    lp.encode.single(
      proto_store.StoreQueryRequest.encode({ requestId, includeData: true, pubsubTopic, contentTopics: [TOPIC], messageHashes: [], paginationForward: true, paginationLimit: 100n }),
    ).subarray();

  it("a client resetting its stream while the answer is written: info with peer and reason, nothing at warn or error", async () => {
    for (let i = 0; i < 3; i++) {
      const stream = await client.dialProtocol(multiaddr(server.multiaddrs[0]!), STORE_CODEC);
      await stream.sink([query(`reset-${i}`)]);
      await new Promise((r) => setTimeout(r, 50));
      stream.abort(new Error("client gave up"));
    }
    const end = Date.now() + 30_000;
    while (lines.filter((l) => l.event === "peer-went-away").length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const gone = lines.filter((l) => l.event === "peer-went-away");
    expect(gone, JSON.stringify(lines.map((l) => [l.level, l.event, l.error ?? l.kind ?? ""]))).to.have.length(3);
    for (const line of gone) {
      expect(line).to.include({ level: "info", codec: STORE_CODEC, peer: client.peerId.toString() });
      expect(line.reason).to.be.a("string").and.not.equal("");
    }
    expect(lines.filter((l) => l.level === "warn" || l.level === "error")).to.deep.equal([]);

    // Everyone else (and this client, on a new stream) is served.
    const stream = await client.dialProtocol(multiaddr(server.multiaddrs[0]!), STORE_CODEC);
    await stream.sink([query("after")]);
    let answer: Uint8Array | undefined;
    for await (const chunk of lp.decode(stream.source, { maxDataLength: 64 * 1024 * 1024 })) answer ??= chunk.subarray();
    expect(proto_store.StoreQueryResponse.decode(answer!).statusCode).to.equal(200);
  });

  it("a client resetting its stream in the middle of its request: info (bad-stream, broken), nothing at warn or error", async () => {
    const before = lines.length;
    const stream = await client.dialProtocol(multiaddr(server.multiaddrs[0]!), STORE_CODEC);
    // A length prefix announcing 100 bytes, and 10 of them.
    const partial = new Uint8Array(11);
    partial[0] = 100;
    const writing = stream.sink([partial]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    stream.abort(new Error("client gave up"));
    await writing;
    const end = Date.now() + 30_000;
    while (!lines.slice(before).some((l) => l.event === "bad-stream") && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const logged = lines.slice(before);
    expect(logged.find((l) => l.event === "bad-stream"), JSON.stringify(logged)).to.include({ level: "info", peer: client.peerId.toString() });
    expect(logged.filter((l) => l.level === "warn" || l.level === "error")).to.deep.equal([]);
  });

  it("a stream opened ahead of a query and left idle (as @waku/sdk does) past the request deadline: info, nothing at warn or error", async () => {
    const before = lines.length;
    const stream = await client.dialProtocol(multiaddr(server.multiaddrs[0]!), STORE_CODEC);
    const end = Date.now() + 30_000;
    while (!lines.slice(before).some((l) => l.event === "bad-stream") && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const logged = lines.slice(before);
    expect(logged.find((l) => l.event === "bad-stream"), JSON.stringify(logged)).to.include({ level: "info", kind: "timeout", peer: client.peerId.toString() });
    expect(logged.filter((l) => l.level === "warn" || l.level === "error")).to.deep.equal([]);
    stream.abort(new Error("done"));
  });
});

/** The archive, with every query answered `ms` later. */
function slowed(archive: Archive, ms: number): Archive {
  return new Proxy(archive, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (key === "query") return async (...args: Parameters<Archive["query"]>) => {
        await new Promise((r) => setTimeout(r, ms));
        return target.query(...args);
      };
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
