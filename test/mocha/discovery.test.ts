// Mail-server discovery: signed ENRs with the service-kind key, on-chain record sync, sources and
// their merge, and a real discv5 crawl on loopback.
import { expect } from "chai";
import { ethers } from "ethers";
import { ENR } from "@chainsafe/enr";
import {
  MailserverSdkError,
  RegistrySource,
  SERVICE_KIND_ENR_KEY,
  StaticEnrSource,
  buildNodeEnr,
  combineSources,
  decodeKinds,
  enrHasKind,
  enrKinds,
  mergeEnrs,
  recordSync,
  type DiscoverySource,
} from "@status/mailserver-sdk";
import {
  Discv5CrawlerSource,
  findFreeUdpPort,
  startDiscv5Node,
  startMailserverDiscovery,
  type MailserverDiscoveryHandle,
} from "@status/mailserver-sdk/discovery";
import { MAILSERVER_KIND, nodeIdOf } from "../helpers/nodeKeys.js";

const LOOPBACK = "127.0.0.1";

function newKey(): ethers.Wallet {
  return new ethers.Wallet(ethers.Wallet.createRandom().privateKey);
}

describe("discovery: node ENR", () => {
  it("builds a signed ENR with endpoint, kind key and the registry's node id", () => {
    const key = newKey();
    const built = buildNodeEnr({ privateKey: key.privateKey, ip: "10.1.2.3", udp: 30303, tcp: 30304 });
    const enr = ENR.decodeTxt(built.enr); // checks the signature
    expect(built.nodeId).to.equal(nodeIdOf(key));
    expect(`0x${enr.nodeId}`).to.equal(built.nodeId);
    expect(enr.ip).to.equal("10.1.2.3");
    expect(enr.udp).to.equal(30303);
    expect(enr.tcp).to.equal(30304);
    expect(enr.seq).to.equal(1n);
    // A mail server is a Waku store node: the `waku2` store bit, no 35-byte `srvkind`.
    expect([...enr.kvs.get("waku2")!]).to.deep.equal([0x02]);
    expect(enr.kvs.has(SERVICE_KIND_ENR_KEY)).to.equal(false);
    expect(built.kinds).to.deep.equal([MAILSERVER_KIND]);
    expect(built.capabilities).to.deep.equal(["store"]);
    expect(enrHasKind(built.enr)).to.equal(true);
    expect(enrHasKind(built.enr, "push-notifications")).to.equal(false);
    expect(built.enr.length).to.be.at.most(300); // fits the registry's record limit
  });

  it("announces several kinds, a chosen sequence number, IPv6, or no kind at all", () => {
    const key = newKey();
    const multi = buildNodeEnr({ privateKey: key.privateKey, ip: "::1", udp: 9000, kind: ["mailserver", "push"], seq: 7n });
    const enr = ENR.decodeTxt(multi.enr);
    expect(enr.seq).to.equal(7n);
    expect(enr.ip6).to.equal("::1");
    expect(enr.udp6).to.equal(9000);
    expect(enrKinds(enr)).to.deep.equal([MAILSERVER_KIND, ethers.id("push")]);
    expect(enrHasKind(multi.enr, ethers.id("push"))).to.equal(true);

    const plain = buildNodeEnr({ privateKey: key.privateKey, ip: LOOPBACK, udp: 9000, kind: [] });
    expect(ENR.decodeTxt(plain.enr).kvs.has(SERVICE_KIND_ENR_KEY)).to.equal(false);
    expect(enrHasKind(plain.enr)).to.equal(false);
  });

  it("builds a Waku-style ENR: waku2 store+lightpush, multiaddrs, rs, decoded alike by @waku/enr", async () => {
    const key = newKey();
    const built = buildNodeEnr({
      privateKey: key.privateKey,
      ip: "203.0.113.7",
      tcp: 30303,
      udp: 9000,
      capabilities: ["lightpush"],
      multiaddrs: ["/dns4/mail.example.org/tcp/443/wss", "/ip4/203.0.113.7/tcp/8000/ws"],
      shards: { cluster: 16, shards: [32, 1, 64] },
    });
    const { EnrDecoder } = await import("@waku/enr");
    const waku = await EnrDecoder.fromString(built.enr); // js-waku's own decoder
    expect(waku.waku2).to.deep.equal({ relay: false, store: true, filter: false, lightPush: true });
    expect(waku.multiaddrs!.map(String)).to.deep.equal(["/dns4/mail.example.org/tcp/443/wss", "/ip4/203.0.113.7/tcp/8000/ws"]);
    expect(waku.rs).to.deep.equal({ clusterId: 16, shards: [1, 32, 64] });
    expect(waku.peerId!.toString()).to.equal(built.parsed.peerId);
    expect(built.parsed.multiaddrs).to.deep.equal(["/dns4/mail.example.org/tcp/443/wss", "/ip4/203.0.113.7/tcp/8000/ws"]);
    expect(built.parsed.shards).to.deep.equal({ cluster: 16, shards: [1, 32, 64], key: "rs" });
    expect(built.capabilities).to.deep.equal(["store", "lightpush"]);
    expect(built.kinds).to.include(MAILSERVER_KIND);
    expect(built.kinds).to.include(ethers.id("push-notification"));
    expect(built.parsed.kvs.has(SERVICE_KIND_ENR_KEY)).to.equal(false);
    // A kind no Waku capability stands for still goes under srvkind; srvkind: true forces it.
    expect(buildNodeEnr({ privateKey: key.privateKey, ip: LOOPBACK, kind: "bridge" }).parsed.kvs.has(SERVICE_KIND_ENR_KEY)).to.equal(true);
    expect(decodeKinds(buildNodeEnr({ privateKey: key.privateKey, ip: LOOPBACK, srvkind: true }).parsed.kvs.get(SERVICE_KIND_ENR_KEY))).to.deep.equal([MAILSERVER_KIND]);
    // A multiaddr with /p2p/ is not a location address.
    expect(() => buildNodeEnr({ privateKey: key.privateKey, ip: LOOPBACK, multiaddrs: [`/ip4/1.2.3.4/tcp/1/p2p/${built.parsed.peerId}`] }))
      .to.throw(MailserverSdkError).with.property("code", "INVALID_ARGUMENT");
    expect(() => buildNodeEnr({ privateKey: key.privateKey, ip: LOOPBACK, shards: { cluster: 70000, shards: [1] } }))
      .to.throw(MailserverSdkError).with.property("code", "INVALID_ARGUMENT");
  });

  it("rejects bad input with MailserverSdkError INVALID_ARGUMENT", () => {
    const key = newKey();
    const attempts = [
      () => buildNodeEnr({ privateKey: "0x1234", ip: LOOPBACK, udp: 1 }),
      () => buildNodeEnr({ privateKey: key.privateKey, ip: LOOPBACK, udp: 0 }),
      () => buildNodeEnr({ privateKey: key.privateKey, ip: LOOPBACK, udp: 70000 }),
      () => buildNodeEnr({ privateKey: key.privateKey, ip: LOOPBACK, udp: 1, seq: 0n }),
    ];
    for (const attempt of attempts) {
      expect(attempt).to.throw(MailserverSdkError).with.property("code", "INVALID_ARGUMENT");
    }
  });
});

describe("discovery: recordSync", () => {
  const key = newKey();
  const v1 = buildNodeEnr({ privateKey: key.privateKey, ip: "10.0.0.1", udp: 30303 });
  const v2 = buildNodeEnr({ privateKey: key.privateKey, ip: "10.0.0.2", udp: 30303, seq: 2n });

  it("reports in-sync, not-registered and record-unparsable", async () => {
    expect((await recordSync(v1.enr, v1.enr)).reason).to.equal("in-sync");
    expect((await recordSync(v1.enr, { record: v1.enr })).needsUpdate).to.equal(false);
    const missing = await recordSync(v1.enr, undefined);
    expect([missing.reason, missing.needsUpdate]).to.deep.equal(["not-registered", false]);
    expect((await recordSync(v1.enr, "")).reason).to.equal("not-registered");
    const garbage = await recordSync(v1.enr, "enr:not-an-enr");
    expect([garbage.reason, garbage.needsUpdate]).to.deep.equal(["record-unparsable", true]);
    expect((await recordSync(v1.enr, "hello")).reason).to.equal("record-unparsable");
  });

  it("asks for an update when the local ENR is newer and calls update()", async () => {
    const written: string[] = [];
    const result = await recordSync(v2.enr, v1.enr, { update: (record) => void written.push(record) });
    expect(result).to.include({ needsUpdate: true, reason: "newer-seq", updated: true, record: v2.enr, nodeId: v2.nodeId });
    expect(result.localSeq).to.equal(2n);
    expect(result.registeredSeq).to.equal(1n);
    expect(written).to.deep.equal([v2.enr]);
  });

  it("does not overwrite a newer registered ENR", async () => {
    let called = false;
    const result = await recordSync(v1.enr, v2.enr, { update: () => (called = true) });
    expect([result.needsUpdate, result.reason, called]).to.deep.equal([false, "registered-newer", false]);
  });

  it("compares endpoints of a multiaddr or enode record", async () => {
    expect((await recordSync(v1.enr, "/ip4/10.0.0.1/udp/30303")).reason).to.equal("in-sync");
    const moved = await recordSync(v1.enr, "/ip4/10.0.0.9/udp/30303");
    expect([moved.needsUpdate, moved.reason]).to.deep.equal([true, "endpoint-differs"]);
    expect((await recordSync(v1.enr, "/ip4/10.0.0.1/udp/4000")).reason).to.equal("endpoint-differs");
    const other = newKey();
    const enode = `enode://${other.signingKey.publicKey.slice(4)}@10.0.0.1:30303`;
    expect((await recordSync(v1.enr, enode)).reason).to.equal("node-mismatch");
  });

  it("flags a registered ENR of another node and a same-seq endpoint change", async () => {
    const stranger = buildNodeEnr({ privateKey: newKey().privateKey, ip: "10.0.0.1", udp: 30303 });
    expect((await recordSync(v1.enr, stranger.enr)).reason).to.equal("node-mismatch");
    const sameSeqMoved = buildNodeEnr({ privateKey: key.privateKey, ip: "10.0.0.3", udp: 30303 });
    expect((await recordSync(sameSeqMoved.enr, v1.enr)).reason).to.equal("endpoint-differs");
  });

  it("throws INVALID_ENR for an invalid local ENR", async () => {
    let error: unknown;
    try {
      await recordSync("enr:garbage", v1.enr);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(MailserverSdkError).with.property("code", "INVALID_ENR");
  });
});

describe("discovery: sources and merge", () => {
  const a = newKey();
  const b = newKey();
  const a1 = buildNodeEnr({ privateKey: a.privateKey, ip: "10.0.0.1", udp: 1000 });
  const a3 = buildNodeEnr({ privateKey: a.privateKey, ip: "10.0.0.1", udp: 1001, seq: 3n });
  const b1 = buildNodeEnr({ privateKey: b.privateKey, ip: "10.0.0.2", udp: 1000, kind: [] });

  it("merges by node id, keeps the newest sequence number and reports invalid ENRs", () => {
    const tampered = a1.enr.slice(0, -3) + (a1.enr.endsWith("A") ? "BBB" : "AAA");
    const merged = mergeEnrs([
      { source: "s1", enrs: [a1.enr, b1.enr, "enr:bogus"] },
      { source: "s2", enrs: [a3.enr, a1.enr, tampered] },
    ]);
    expect(merged.nodes.map((n) => n.nodeId)).to.deep.equal([a1.nodeId, b1.nodeId]);
    const nodeA = merged.nodes[0]!;
    expect(nodeA.seq).to.equal(3n);
    expect(nodeA.enr).to.equal(a3.enr);
    expect(nodeA.sources).to.deep.equal(["s1", "s2"]);
    expect(nodeA.kinds).to.deep.equal([MAILSERVER_KIND]);
    expect(merged.nodes[1]!.kinds).to.deep.equal([]);
    expect(merged.invalid.map((i) => [i.source, i.enr])).to.deep.equal([
      ["s1", "enr:bogus"],
      ["s2", tampered],
    ]);
  });

  it("combines sources in parallel; a failing source is reported, not thrown", async () => {
    const failing: DiscoverySource = {
      name: "broken",
      discover: async () => {
        throw new Error("rpc down");
      },
    };
    const combined = combineSources(new StaticEnrSource([a1.enr], "one"), failing, new StaticEnrSource([a3.enr, b1.enr], "two"));
    const detailed = await combined.discoverDetailed();
    expect(detailed.failures).to.deep.equal([{ source: "broken", error: "rpc down" }]);
    expect(detailed.nodes).to.have.length(2);
    expect(await combined.discover()).to.deep.equal([a3.enr, b1.enr]);
  });

  it("registry source: keeps ENR records of the kind, skips multiaddrs, bad ENRs and id mismatches", async () => {
    const asked: string[] = [];
    const skipped: string[] = [];
    const source = new RegistrySource({
      records: async (kind) => {
        asked.push(kind);
        return [
          { nodeId: a3.nodeId, record: a3.enr },
          { nodeId: b1.nodeId, record: "/ip4/10.0.0.2/udp/1000" },
          { nodeId: ethers.id("x"), record: "enr:bogus" },
          { nodeId: ethers.id("y"), record: b1.enr },
        ];
      },
      onSkip: (s) => skipped.push(s.reason),
    });
    expect(await source.discover()).to.deep.equal([a3.enr]);
    expect(asked).to.deep.equal([MAILSERVER_KIND]);
    expect(skipped).to.deep.equal(["not-an-enr", "invalid-enr", "node-id-mismatch"]);
    expect(source.lastSkipped).to.have.length(3);
  });

  it("registry source over a RegistryClient-shaped reader, in chunks", async () => {
    const calls: number[] = [];
    const source = new RegistrySource({
      registry: {
        allNodesByKind: async () => [a3.nodeId, b1.nodeId],
        getNodeTrust: async (ids) => {
          calls.push(ids.length);
          return ids.map((id) => ({ nodeId: id, record: id === a3.nodeId ? a3.enr : b1.enr }));
        },
      },
      chunkSize: 1,
    });
    expect(await source.discover()).to.deep.equal([a3.enr, b1.enr]);
    expect(calls).to.deep.equal([1, 1]);
  });
});

describe("discovery: discv5 on loopback", function () {
  this.timeout(60_000);
  const started: { stop(): Promise<void> }[] = [];

  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.stop()));
  });

  async function mailServers(count: number, boot: string[] = []): Promise<MailserverDiscoveryHandle[]> {
    const nodes: MailserverDiscoveryHandle[] = [];
    for (let i = 0; i < count; i++) {
      const node = await startMailserverDiscovery({
        privateKey: newKey().privateKey,
        ip: LOOPBACK,
        port: 0,
        bootEnrs: [...boot, ...nodes.map((n) => n.enr)],
        lookupIntervalMs: 0,
        config: { requestTimeout: 500 },
      });
      started.push(node);
      nodes.push(node);
    }
    return nodes;
  }

  it("runs a mail server's discv5 node whose ENR carries the kind key", async () => {
    const key = newKey();
    const port = await findFreeUdpPort(LOOPBACK);
    const node = await startMailserverDiscovery({ privateKey: key.privateKey, ip: LOOPBACK, port, tcp: 30303, lookupIntervalMs: 0 });
    started.push(node);
    const enr = ENR.decodeTxt(node.enr);
    expect(node.nodeId).to.equal(nodeIdOf(key));
    expect([enr.ip, enr.udp, enr.tcp]).to.deep.equal([LOOPBACK, port, 30303]);
    expect(enrHasKind(node.enr)).to.equal(true);
    expect(node.kinds).to.deep.equal([MAILSERVER_KIND]);
    expect(node.addEnrs(["enr:bogus"]).invalid).to.have.length(1);
    await node.stop();
    await node.stop(); // idempotent
  });

  it("crawler finds every mail server several hops away and ignores plain discv5 nodes", async () => {
    // A plain discv5 node (no kind key) in the middle of the network.
    const plainKey = newKey();
    const plainPort = await findFreeUdpPort(LOOPBACK);
    const plainEnr = buildNodeEnr({ privateKey: plainKey.privateKey, ip: LOOPBACK, udp: plainPort, kind: [] });
    const plain = await startDiscv5Node({ privateKey: plainKey.privateKey, enr: plainEnr.signableEnr, bindIp: LOOPBACK, port: plainPort });
    started.push(plain);
    const servers = await mailServers(4, [plain.enr]);
    // Each node looks itself up once so that the others learn about it.
    for (const s of servers) await s.lookup();

    // The crawler only knows the plain node.
    const crawler = new Discv5CrawlerSource({ bootEnrs: [plain.enr], bindIp: LOOPBACK, rounds: 6, timeoutMs: 20_000, config: { requestTimeout: 500 } });
    const found = await crawler.discover();
    const ids = found.map((e) => `0x${ENR.decodeTxt(e).nodeId}`).sort();
    expect(ids).to.deep.equal(servers.map((s) => s.nodeId).sort());
    expect(crawler.lastStats!.seen).to.be.at.least(5);
    expect(crawler.lastStats!.matched).to.equal(4);

    // kind: null keeps every node seen (the plain one too).
    const everything = await new Discv5CrawlerSource({ bootEnrs: [plain.enr], bindIp: LOOPBACK, kind: null, rounds: 3, config: { requestTimeout: 500 } }).discover();
    expect(everything.map((e) => `0x${ENR.decodeTxt(e).nodeId}`)).to.include(plain.nodeId);
  });

  it("crawler stays within its time budget when boot nodes are gone, and reports invalid boot ENRs", async () => {
    const [gone] = await mailServers(1);
    await gone!.stop();
    const crawler = new Discv5CrawlerSource({ bootEnrs: [gone!.enr, "enr:bogus"], bindIp: LOOPBACK, rounds: 50, idleRounds: 50, timeoutMs: 1500, config: { requestTimeout: 300 } });
    const t0 = Date.now();
    const found = await crawler.discover();
    expect(Date.now() - t0).to.be.below(4000);
    // The boot ENR itself carries the kind key: it is reported (verification and probing decide the rest).
    expect(found).to.deep.equal([gone!.enr]);
    expect(crawler.lastStats!.invalidBootEnrs).to.deep.equal(["enr:bogus"]);
  });

  it("crawler can reuse a running node, which it leaves running", async () => {
    const servers = await mailServers(2);
    for (const s of servers) await s.lookup();
    const own = await startDiscv5Node({ bindIp: LOOPBACK, config: { requestTimeout: 500 } });
    started.push(own);
    const found = await new Discv5CrawlerSource({ bootEnrs: [servers[0]!.enr], node: own, rounds: 2 }).discover();
    expect(found).to.have.length(2);
    expect(own.discv5.isStarted()).to.equal(true);
  });
});
