// A mail server in its own process for bench/server.ts, so that the clients' work does not share
// its event loop. Argument: JSON { mode, subscriber?, admission?, gate?, listen?, shipped? }. Prints
// one JSON line { peerId, multiaddrs, nodeKey } once listening; stops on SIGTERM. `shipped`: the
// free and push limits as shipped (otherwise both are lifted, so that fills and floods measure the
// server's speed rather than its limits).
import { Wallet } from "ethers";
import { MailServerNode, SqliteArchive } from "@status/mailserver-node";
import { nodeIdFromPrivateKey } from "@status/mailserver-sdk";
import { AccessGate } from "@status/mailserver-sdk/server";

const { mode, subscriber, admission = {}, chainId, escrow, gate = "real", listen = ["/ip4/127.0.0.1/tcp/0/ws"], shipped = false } = JSON.parse(process.argv[2]);
const nodeKey = Wallet.createRandom();
const far = BigInt(Math.floor(Date.now() / 1000) + 30 * 86_400);
// The real gate; its subscription lookup is a fixed table (the index is measured in bench/sdk.ts).
const index = {
  isCaughtUp: () => true,
  expiryOf: (_node, client) => (subscriber !== undefined && client.toLowerCase() === subscriber.toLowerCase() ? far : 0n),
  readExpiry: async () => 0n,
};
// "Gate off" for the gate's cost: the same paid path, with a gate that admits every peer unchecked.
const admitAll = {
  presentGrant: async () => ({ accepted: true, clientId: subscriber, until: Number(far) }),
  checkPeer: () => ({ allowed: true, clientId: subscriber }),
  forgetPeer: () => {},
};
const archive = new SqliteArchive(":memory:");
const node = await MailServerNode.create({
  privateKey: Buffer.from(nodeKey.privateKey.slice(2), "hex"),
  listen,
  clusterId: 1,
  shards: [0, 1, 2, 3, 4, 5, 6, 7],
  mode,
  archive,
  ...(mode === "free" ? {} : { gate: gate === "admit-all" ? admitAll : new AccessGate({ nodeId: nodeIdFromPrivateKey(nodeKey.privateKey), chainId, escrow, index }) }),
  admission: shipped ? admission : { freeBurst: 1e9, freeQueriesPerMinute: 1e9, ...admission },
  // The archive's fill rate is measured, not the push rate limit.
  ...(shipped ? {} : { pushLimits: { perSecond: 0, totalPerSecond: 0 } }),
});
await node.start();
console.log(JSON.stringify({ peerId: node.peerId, multiaddrs: node.multiaddrs, nodeKey: nodeKey.privateKey }));
process.on("SIGTERM", () => {
  node.stop().then(() => archive.close()).then(() => process.exit(0));
});
