// Store Resume across a real outage: two mail servers and a js-waku relay node on one shard. One
// server is stopped, 100 messages are relayed through the other, and the stopped one comes back:
// it fills its archive from its peer, exactly those 100, no duplicates of what it already had.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { utf8ToBytes } from "@waku/sdk";
import { jsonLogger, parseConfig, startServer, type RunningServer } from "@status/mailserver-node";
import { connectRelay, jsWakuRelayNode, relayEncoder, type RelayNode, until } from "../helpers/wakuRelay.js";

const CLUSTER = 16;
const SHARD = 64;
const TOPIC = `/waku/2/rs/${CLUSTER}/${SHARD}`;
const CONTENT = "/mailserver-resume/1/chat/proto";

describe("Store Resume after an outage, with relay", function () {
  this.timeout(180_000);
  let tmp: string;
  let a: RunningServer;
  let b: RunningServer | undefined;
  let relay: RelayNode;
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  const logsB: { event: string; [field: string]: unknown }[] = [];

  const config = (name: string, extra: Record<string, unknown>) =>
    parseConfig({ nodeKeyFile: `${name}.key`, mode: "free", listen: ["/ip4/127.0.0.1/tcp/0/ws"], clusterId: CLUSTER, shards: [SHARD], archive: { backend: "sqlite", path: `${name}.sqlite` }, ...extra }, tmp);
  const ws = (server: RunningServer) => server.node.multiaddrs.find((m) => m.includes("/ws/"))!;
  const hashes = async (server: RunningServer) => {
    const page = await server.archive.query({ pubsubTopic: TOPIC, contentTopics: [], forward: true, limit: 1000 });
    return page.messages.map((m) => Buffer.from(m.hash).toString("hex")).sort();
  };
  const startB = async () => {
    const logger = jsonLogger("debug", (line) => void logsB.push(JSON.parse(line)));
    b = await startServer(config("b", { resume: { peers: [ws(a)] }, relay: { peers: [ws(a)] } }), logger, { privateKey: keyB });
    return b;
  };
  const publish = async (texts: string[]) => {
    const encoder = relayEncoder(CONTENT, CLUSTER, SHARD);
    for (const text of texts) expect((await relay.relay.send(encoder, { payload: utf8ToBytes(text) })).failures ?? []).to.deep.equal([]);
  };

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-resume-relay-"));
    a = await startServer(config("a", {}), jsonLogger("error", () => undefined), { privateKey: keyA });
    relay = await jsWakuRelayNode({ clusterId: CLUSTER, shards: [SHARD] });
    await connectRelay(relay, ws(a), TOPIC);
  });

  after(async () => {
    await relay?.stop();
    await b?.stop();
    await a?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it("both servers archive what is relayed while both are up (B dials A as its static relay peer)", async () => {
    await startB();
    await until("B in A's mesh", () => a.node.relay!.meshPeers(TOPIC).includes(b!.node.peerId));
    // B had no last-online time: its first resume asked A for the full window (A had nothing).
    expect((await b!.resume!.whenResumed())?.archived).to.equal(0);
    await publish(["before 1", "before 2", "before 3", "before 4", "before 5"]);
    await until("both archives", async () => (await hashes(a)).length === 5 && (await hashes(b!)).length === 5);
  });

  it("B is stopped; 100 messages are relayed through A; B restarts and Store Resume fills exactly those 100 from A", async () => {
    await b!.stop();
    b = undefined;
    await publish(Array.from({ length: 100 }, (_, i) => `while B was down ${i}`));
    await until("A's archive", async () => (await hashes(a)).length === 105);
    const restarted = await startB();
    const report = await restarted.resume!.whenResumed();
    expect(report).to.include({ complete: true, archived: 100, rejected: 0 });
    expect(report!.peer).to.equal(ws(a));
    expect(await hashes(restarted)).to.deep.equal(await hashes(a));
    expect(logsB.some((line) => line.event === "resume-done")).to.equal(true);
  });
});
