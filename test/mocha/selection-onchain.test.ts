// The whole client story on the local deployment with real discv5 nodes on loopback:
// mail servers registered by the default provider, one unregistered, one whose provider was
// suspended, one whose ENR endpoint differs from its registered record, and a plain discv5 node.
// The client crawls, verifies against the registry (one batched call), selects only trusted
// nodes, graylists a node that went down and moves on, and uses a pinned node directly.
import { expect } from "chai";
import { network } from "hardhat";
import { ethers } from "ethers";
import {
  CuratorClient,
  MailserverSdkError,
  ProviderClient,
  RegistryClient,
  RegistrySource,
  TrustPolicy,
  buildNodeEnr,
  recordSync,
  verifyNodes,
  type VerifiedNode,
} from "@status/mailserver-sdk";
import {
  Discv5CrawlerSource,
  MailserverSelector,
  findFreeUdpPort,
  startDiscv5Node,
  startMailserverDiscovery,
  type Discv5Handle,
  type MailserverDiscoveryHandle,
  type SelectorEvents,
} from "@status/mailserver-sdk/discovery";
import { deployLocal } from "../../deploy/local.js";

const LOOPBACK = "127.0.0.1";
const QUICK = { requestTimeout: 400 };

describe("selection on chain: crawl, verify against the registry, select", function () {
  this.timeout(120_000);

  const running: { stop(): Promise<void> }[] = [];
  let registry: RegistryClient;
  let policy: TrustPolicy;
  let defaultProvider: ProviderClient;
  let otherProvider: ProviderClient;
  let plain: Discv5Handle;
  let trusted: MailserverDiscoveryHandle[];
  let unregistered: MailserverDiscoveryHandle;
  let suspended: MailserverDiscoveryHandle;
  let moved: MailserverDiscoveryHandle;
  let movedRegisteredRecord: string;

  const key = () => ethers.Wallet.createRandom().privateKey;
  const verify = (enrs: string[]): Promise<VerifiedNode[]> => verifyNodes(registry, enrs, { policy, kind: "mailserver" });

  async function mailServer(privateKey: string, boot: string[], seq?: bigint): Promise<MailserverDiscoveryHandle> {
    const node = await startMailserverDiscovery({
      privateKey,
      ip: LOOPBACK,
      port: 0,
      bootEnrs: boot,
      lookupIntervalMs: 0,
      config: QUICK,
      ...(seq !== undefined ? { seq } : {}),
    });
    running.push(node);
    return node;
  }

  before(async () => {
    const connection = await network.create();
    const deployment = await deployLocal(connection);
    const [deployer, other] = await connection.ethers.getSigners();
    const addresses = deployment.addresses;
    registry = new RegistryClient({ runner: connection.ethers.provider, addresses });
    defaultProvider = new ProviderClient({ runner: deployer!, addresses }); // the default provider
    otherProvider = new ProviderClient({ runner: other!, addresses });
    const curator = new CuratorClient({ runner: deployer!, addresses });
    await curator.addProvider({ provider: other!.address, name: "Other" });
    // The user trusts the other provider too: its node is refused only because of the suspension.
    policy = new TrustPolicy({ providers: [other!.address] });

    // The network: a plain discv5 node (boot node, no mail-server key) and six mail servers.
    const plainKey = key();
    const plainPort = await findFreeUdpPort(LOOPBACK);
    const plainEnr = buildNodeEnr({ privateKey: plainKey, ip: LOOPBACK, udp: plainPort, kind: [] });
    plain = await startDiscv5Node({ privateKey: plainKey, enr: plainEnr.signableEnr, bindIp: LOOPBACK, port: plainPort, config: QUICK });
    running.push(plain);
    const boot = () => [plain.enr, ...running.slice(1).map((n) => (n as MailserverDiscoveryHandle).enr)];

    const trustedKeys = [key(), key(), key()];
    trusted = [];
    for (const k of trustedKeys) trusted.push(await mailServer(k, boot()));
    unregistered = await mailServer(key(), boot());
    const suspendedKey = key();
    suspended = await mailServer(suspendedKey, boot());
    // The moved node runs at a new port with ENR seq 2; the registry still has its seq-1 record.
    const movedKey = key();
    moved = await mailServer(movedKey, boot(), 2n);
    movedRegisteredRecord = buildNodeEnr({ privateKey: movedKey, ip: LOOPBACK, udp: 9, seq: 1n }).enr;
    for (const node of running.slice(1) as MailserverDiscoveryHandle[]) await node.lookup();

    // Registration, with node-key proofs signed by the SDK.
    for (const [i, k] of trustedKeys.entries()) {
      await defaultProvider.addNode({ nodeKey: k, record: trusted[i]!.enr, pricePerMonth: 0n });
    }
    await defaultProvider.addNode({ nodeKey: movedKey, record: movedRegisteredRecord, pricePerMonth: 0n });
    await otherProvider.addNode({ nodeKey: suspendedKey, record: suspended.enr, pricePerMonth: 0n });
    await curator.suspendProvider(other!.address, "misbehaving");
  });

  after(async () => {
    await Promise.all(running.splice(0).map((n) => n.stop()));
  });

  function recordEvents(selector: MailserverSelector<VerifiedNode>) {
    const rejected: Parameters<SelectorEvents<VerifiedNode>["rejected"]>[0][] = [];
    const graylisted: string[] = [];
    const discovered: string[][] = [];
    selector.on("rejected", (r) => rejected.push(r));
    selector.on("graylisted", (g) => graylisted.push(g.nodeId));
    selector.on("discovered", (d) => discovered.push(d.nodes.map((n) => n.nodeId)));
    return { rejected, graylisted, discovered };
  }

  const crawler = () => new Discv5CrawlerSource({ bootEnrs: [plain.enr], bindIp: LOOPBACK, rounds: 4, timeoutMs: 15_000, config: QUICK });

  it("selects only trusted nodes; a node that goes down is graylisted and the selector moves on", async () => {
    let verifyCalls = 0;
    const selector = new MailserverSelector<VerifiedNode>({
      sources: [crawler()],
      verify: async (enrs) => (verifyCalls++, verify(enrs)),
      probeBindIp: LOOPBACK,
      probeTimeoutMs: 500,
    });
    const events = recordEvents(selector);
    const trustedIds = new Set(trusted.map((n) => n.nodeId));

    const first = await selector.select();
    expect(trustedIds.has(first.nodeId)).to.equal(true);
    expect(first.status).to.equal("trusted");
    expect(first.verification.provider).to.equal(await registry.defaultProvider());
    expect(verifyCalls).to.equal(1);

    const all = [...trusted, unregistered, suspended, moved].map((n) => n.nodeId).sort();
    expect([...events.discovered[0]!].sort()).to.deep.equal(all); // the plain node is not a mail server
    const reasons = new Map(events.rejected.map((r) => [r.nodeId, r.reasons]));
    expect(reasons.get(unregistered.nodeId)).to.deep.equal(["not-registered"]);
    expect(reasons.get(suspended.nodeId)).to.deep.equal(["provider-not-approved"]);
    expect(reasons.get(moved.nodeId)).to.include("endpoint-mismatch");
    expect(reasons.size).to.equal(3);
    expect(selector.candidates.map((c) => c.nodeId).sort()).to.deep.equal([...trustedIds].sort());

    // The selected server goes down: two failed requests graylist it, the next pick is another one.
    const down = trusted.find((n) => n.nodeId === first.nodeId)!;
    await down.stop();
    selector.reportFailure(first.nodeId);
    selector.reportFailure(first.nodeId);
    expect(events.graylisted).to.deep.equal([first.nodeId]);
    const second = await selector.select();
    expect(second.nodeId).to.not.equal(first.nodeId);
    expect(trustedIds.has(second.nodeId)).to.equal(true);
    const third = await selector.select({ refresh: true });
    expect([first.nodeId, unregistered.nodeId, suspended.nodeId, moved.nodeId]).to.not.include(third.nodeId);
  });

  it("uses a pinned node directly, and refuses a pinned node of a suspended provider", async () => {
    const live = trusted.find((n) => (n.discv5 as { isStarted(): boolean }).isStarted())!;
    let probed = false;
    const pinned = new MailserverSelector<VerifiedNode>({
      sources: [crawler()],
      verify,
      probe: async () => ((probed = true), []),
      pinned: live.nodeId, // by id: found by discovery, verified on chain
    });
    expect(await pinned.select()).to.include({ nodeId: live.nodeId, pinned: true, status: "trusted" });
    expect(probed).to.equal(false);

    const refused = new MailserverSelector<VerifiedNode>({ sources: [crawler()], verify, pinned: suspended.nodeId, probe: async () => [] });
    let error: unknown;
    try {
      await refused.select();
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(MailserverSdkError).with.property("code", "UNTRUSTED_NODE");
  });

  it("the registry is a discovery source too", async () => {
    const source = new RegistrySource({ registry, kind: "mailserver" });
    const enrs = await source.discover();
    // Every registered node with an ENR record: the moved node's stale record included.
    expect(enrs).to.have.length(5);
    expect(enrs).to.include(movedRegisteredRecord);
    const selector = new MailserverSelector<VerifiedNode>({ sources: [source, crawler()], verify, probeBindIp: LOOPBACK, probeTimeoutMs: 500 });
    const events = recordEvents(selector);
    await selector.select();
    // Registry and crawl merged: the moved node's newer crawled ENR wins and still mismatches.
    expect(events.rejected.find((r) => r.nodeId === moved.nodeId)?.reasons).to.include("endpoint-mismatch");
  });

  it("recordSync brings the moved node's record up to date; then it is selectable", async () => {
    const before = await registry.getNode(moved.nodeId);
    const sync = await recordSync(moved.enr, before!, { update: (record) => defaultProvider.updateNodeRecord(moved.nodeId, record) });
    expect(sync).to.include({ needsUpdate: true, reason: "newer-seq", updated: true });
    expect((await registry.getNode(moved.nodeId))!.record).to.equal(moved.enr);
    expect((await recordSync(moved.enr, (await registry.getNode(moved.nodeId))!)).reason).to.equal("in-sync");

    const selector = new MailserverSelector<VerifiedNode>({ sources: [crawler()], verify, probeBindIp: LOOPBACK, probeTimeoutMs: 500 });
    await selector.select();
    expect(selector.candidates.map((c) => c.nodeId)).to.include(moved.nodeId);
  });
});
