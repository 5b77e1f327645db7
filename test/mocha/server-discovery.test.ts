// The server publishes a Waku-style ENR (waku2 with store and lightpush, multiaddrs with its
// WebSocket address, rs with its cluster and shards, the mail-server kind) and answers discv5:
// the SDK's crawler finds it, verifyNodes trusts it once registered, and a @waku/sdk client
// dials the address the ENR carries.
import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet } from "ethers";
import { EnrDecoder } from "@waku/enr";
import { ProviderClient, RegistryClient, verifyNodes } from "@status/mailserver-sdk";
import { Discv5CrawlerSource, findFreeUdpPort, startMailserverDiscovery, type Discv5Handle } from "@status/mailserver-sdk/discovery";
import { parseConfig, silentLogger, startServer, type RunningServer } from "@status/mailserver-node";
import { startChain, wakuClient, type Chain } from "../helpers/mailServer.js";

describe("mail server discovery: Waku ENR and discv5", function () {
  this.timeout(120_000);
  let chain: Chain;
  let tmp: string;
  let boot: Discv5Handle;
  let running: RunningServer;
  const nodeKey = Wallet.createRandom();

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-disc-"));
    chain = await startChain();
    // A plain discv5 boot node (no mail-server kind) with an endpoint in its ENR.
    boot = await startMailserverDiscovery({ privateKey: Wallet.createRandom().privateKey, ip: "127.0.0.1", port: 0, kind: [], lookupIntervalMs: 0 });
    await writeFile(path.join(tmp, "node.key"), nodeKey.privateKey);
    const config = parseConfig(
      {
        nodeKeyFile: "node.key",
        listen: ["/ip4/127.0.0.1/tcp/0/ws", "/ip4/127.0.0.1/tcp/0"],
        mode: "free",
        archive: { backend: "sqlite", path: ":memory:" },
        clusterId: 16,
        shards: [1, 32, 64],
        discovery: { ip: "127.0.0.1", udpPort: await findFreeUdpPort("127.0.0.1"), bootEnrs: [boot.enr] },
      },
      tmp,
    );
    running = await startServer(config, silentLogger);
  });

  after(async () => {
    await running?.stop();
    await boot?.stop();
    await chain?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it("publishes waku2 (relay, store, lightpush), its ws multiaddr, rs (cluster 16, its shards) under its node id and peer id", async () => {
    const enr = await EnrDecoder.fromString(running.enr!);
    expect(enr.waku2).to.include({ store: true, lightPush: true, relay: true, filter: false });
    // Status's store nodes announce 0x03 (relay + store); lightpush adds bit 3.
    expect(enr.get("waku2")).to.deep.equal(Uint8Array.of(0x0b));
    expect(enr.peerId?.toString()).to.equal(running.node.peerId);
    const ws = running.node.multiaddrs.find((a) => a.includes("/ws/"))!.replace(/\/p2p\/.*$/, "");
    expect(enr.multiaddrs?.map(String)).to.deep.equal([ws]);
    expect(enr.shardInfo).to.deep.equal({ clusterId: 16, shards: [1, 32, 64] });
    expect(`0x${enr.nodeId}`).to.equal(running.nodeId);
    expect(running.enr!.length).to.be.at.most(300);
  });

  it("the SDK's crawler finds it through a boot node; verifyNodes trusts it once registered", async () => {
    const crawler = new Discv5CrawlerSource({ bootEnrs: [boot.enr], bindIp: "127.0.0.1", rounds: 4, timeoutMs: 15_000, config: { requestTimeout: 400 } });
    const found = await crawler.discover();
    expect(found).to.include(running.enr);

    const registry = new RegistryClient({ runner: chain.provider, chainId: 31337, addresses: chain.addresses });
    expect((await verifyNodes(registry, [running.enr!], { kind: "mailserver" }))[0]!.status).to.not.equal("trusted");
    await new ProviderClient({ runner: chain.signers[0]!, chainId: 31337, addresses: chain.addresses }).addNode({ nodeKey: nodeKey.privateKey, record: running.enr!, pricePerMonth: 0n });
    const [verdict] = await verifyNodes(registry, [running.enr!], { kind: "mailserver" });
    expect(verdict).to.include({ status: "trusted", nodeId: running.nodeId });
  });

  it("a @waku/sdk client dials the multiaddr from the ENR and queries the store", async () => {
    const enr = await EnrDecoder.fromString(running.enr!);
    const waku = await wakuClient(`${enr.multiaddrs![0]!.toString()}/p2p/${running.node.peerId}`, undefined, { clusterId: 16 });
    try {
      const got: unknown[] = [];
      await waku.store.queryWithOrderedCallback([waku.createDecoder({ contentTopic: "/x/1/y/proto", shardId: 1 })], (m) => {
        got.push(m);
      });
      expect(got).to.deep.equal([]);
    } finally {
      await waku.stop();
    }
  });
});
