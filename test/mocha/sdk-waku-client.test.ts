// The SDK's Waku client side against the reference mail server on loopback with real @waku/sdk
// light nodes: `wakuClientOptions` sets a client up for a server in one call (Status's cluster 16,
// not @waku/sdk's default network), and what a refusal means to the app: 402 is "pay", a gate
// that cannot check subscriptions now is "try later" (NODE_UNAVAILABLE, retryable), never "pay".
import { expect } from "chai";
import { Wallet } from "ethers";
import { bytesToUtf8, createLightNode, Protocols, utf8ToBytes, type LightNode } from "@waku/sdk";
import { MailServerNode, SqliteArchive } from "@status/mailserver-node";
import { AccessSession, STATUS_NETWORK, accessGrantMaker, isRetryable, nodeIdFromPrivateKey, storeRefusal, wakuClientOptions } from "@status/mailserver-sdk";
import { AccessGate, type SubscriptionLookup } from "@status/mailserver-sdk/server";
import { expectSdkError } from "../helpers/sdkErrors.js";

const TOPIC = "/sdk-waku-client/1/chat/proto";
const ESCROW = "0x" + "22".repeat(20);

describe("SDK Waku client helpers against the mail server", function () {
  this.timeout(120_000);
  const nodeKey = Wallet.createRandom();
  const nodeId = nodeIdFromPrivateKey(nodeKey.privateKey);
  // The gate's view of subscriptions: nobody has one, or (down) it cannot be known now.
  const lookup = { down: false };
  const index: SubscriptionLookup = {
    isCaughtUp: () => !lookup.down,
    expiryOf: () => 0n,
    readExpiry: () => Promise.reject(new Error("RPC down")),
  };
  const servers: { node: MailServerNode; archive: SqliteArchive }[] = [];
  const clients: LightNode[] = [];

  const start = async (mode: "free" | "paid-only") => {
    const archive = new SqliteArchive(":memory:");
    const node = await MailServerNode.create({
      privateKey: Buffer.from(nodeKey.privateKey.slice(2), "hex"),
      listen: ["/ip4/127.0.0.1/tcp/0/ws", "/ip4/127.0.0.1/tcp/0"],
      clusterId: STATUS_NETWORK.cluster,
      shards: STATUS_NETWORK.shards,
      mode,
      archive,
      ...(mode === "free" ? {} : { gate: new AccessGate({ nodeId, chainId: 31337, escrow: ESCROW, index, onError: () => undefined, onModeChange: () => undefined }) }),
    });
    await node.start();
    servers.push({ node, archive });
    return node;
  };
  const client = async (server: MailServerNode) => {
    const o = wakuClientOptions({ peerId: server.peerId, multiaddrs: server.multiaddrs.map(String) }, { shards: STATUS_NETWORK, shardId: 32 });
    const waku = await createLightNode(o.createOptions);
    clients.push(waku);
    await waku.start();
    await waku.dial(o.address);
    await waku.waitForPeers([Protocols.Store, Protocols.LightPush], 20_000);
    return { waku, o };
  };

  after(async function () {
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    for (const s of servers) {
      await s.node.stop();
      await s.archive.close();
    }
  });

  it("wakuClientOptions: one call sets up a @waku/sdk light node that pushes to and fetches from the server on cluster 16", async () => {
    const server = await start("free");
    const { waku, o } = await client(server);
    // (@waku/sdk adds its own fields to the object it is given.)
    expect(o.createOptions).to.deep.include({ defaultBootstrap: false, networkConfig: { clusterId: 16, shards: [1, 32, 64, 128, 256] } });
    expect(o.createOptions.libp2p.filterMultiaddrs).to.equal(false);
    expect(o.address).to.match(/\/ws\/p2p\/16Uiu2/);
    await waku.lightPush.send(waku.createEncoder(o.routing(TOPIC)), { payload: utf8ToBytes("hello") });
    const got: string[] = [];
    await waku.store.queryWithOrderedCallback([waku.createDecoder(o.routing(TOPIC))], (m) => {
      got.push(bytesToUtf8(m.payload));
    });
    expect(got).to.deep.equal(["hello"]);
    // Bad input: no WebSocket address, unknown shards, a shard the server does not serve.
    await expectSdkError(() => wakuClientOptions({ peerId: server.peerId, multiaddrs: ["/ip4/127.0.0.1/tcp/1"] }, { shards: STATUS_NETWORK }), "INVALID_ARGUMENT");
    await expectSdkError(() => wakuClientOptions({ peerId: server.peerId, multiaddrs: ["/ip4/127.0.0.1/tcp/1/ws"] }), "INVALID_ARGUMENT");
    await expectSdkError(() => o.routing(TOPIC, 2), "INVALID_ARGUMENT");
  });

  it("a 402 store answer is ACCESS_REFUSED (pay), a 503 or 429 is retryable (try later), and a gate that cannot check is NODE_UNAVAILABLE, not ACCESS_REFUSED", async () => {
    const server = await start("paid-only");
    const { waku, o } = await client(server);
    const refused = await waku.store.queryWithOrderedCallback([waku.createDecoder(o.routing(TOPIC))], () => undefined).then(
      () => undefined,
      (error: unknown) => error,
    );
    const pay = storeRefusal(refused);
    expect(pay?.code).to.equal("ACCESS_REFUSED");
    expect(pay?.details).to.deep.include({ statusCode: 402, retryable: false });
    expect(isRetryable(pay)).to.equal(false);
    for (const statusCode of [503, 429]) {
      const later = storeRefusal({ statusCode, statusDesc: "SERVICE_UNAVAILABLE: cannot check subscriptions now" });
      expect(later?.code).to.equal("NODE_UNAVAILABLE");
      expect(isRetryable(later)).to.equal(true);
    }
    expect(storeRefusal(new Error("Store query failed with status code: 503, description: SERVICE_UNAVAILABLE: try later"))?.details).to.deep.include({ statusCode: 503, retryable: true });
    expect(storeRefusal({ statusCode: 200, statusDesc: "OK" })).to.equal(undefined);

    const session = (key = Wallet.createRandom()) =>
      new AccessSession({
        libp2p: waku.libp2p,
        peer: waku.libp2p.getConnections().find((c) => c.remotePeer.toString() === server.peerId)!.remotePeer,
        makeGrant: accessGrantMaker({ signer: key, domain: { chainId: 31337, escrow: ESCROW }, nodeId }),
      });
    const unsubscribed = await expectSdkError(session().start(), "ACCESS_REFUSED");
    expect(unsubscribed.details).to.deep.include({ reason: "no-subscription", retryable: false });
    lookup.down = true;
    const unavailable = await expectSdkError(session().start(), "NODE_UNAVAILABLE");
    expect(unavailable.details).to.deep.include({ reason: "unavailable", retryable: true });
    expect(isRetryable(unavailable)).to.equal(true);
  });
});
