/**
 * The whole story, told on any network a Hardhat connection points at: deploy, register mail
 * servers with real ENRs, discover them over discv5 on loopback, verify and select, buy through
 * SNT's one-transaction path, gate requests on the server, fetch offline messages from the
 * selected mail server with a @waku/sdk node (a stranger is refused), refund, withdraw.
 */
import type { NetworkConnection } from "hardhat/types/network";
import { Wallet, formatUnits, hexlify, parseUnits, randomBytes, type BaseWallet } from "ethers";
import {
  AccessSession,
  ProviderClient,
  RegistryClient,
  SubscriptionClient,
  STATUS_NETWORK,
  TrustPolicy,
  accessGrantMaker,
  buildNodeEnr,
  parseEnr,
  requestDigestOf,
  signRequest,
  subscriptionCommitment,
  verifyNodes,
  type SignedRequest,
  type VerifiedNode,
} from "@status/mailserver-sdk";
import {
  Discv5CrawlerSource,
  MailserverSelector,
  startMailserverDiscovery,
  type MailserverDiscoveryHandle,
} from "@status/mailserver-sdk/discovery";
import { AccessGate, SubscriptionIndex, type AccessDecision } from "@status/mailserver-sdk/server";
import { MailServerNode, SqliteArchive } from "@status/mailserver-node";
import { bytesToUtf8, createLightNode, Protocols, utf8ToBytes, type LightNode } from "@waku/sdk";
import { createEncoder as relayEncoder } from "waku-relay-sdk";
import { createRelayNode } from "waku-relay-sdk/relay";
import { deployLocal } from "../../deploy/local.js";
import { table } from "./table.js";

const LOOPBACK = "127.0.0.1";
const DAY = 24 * 3600;
const snt = (amount: bigint) => `${Number(formatUnits(amount, 18)).toLocaleString("en-US", { maximumFractionDigits: 4 })} SNT`;
const short = (hex: string) => `${hex.slice(0, 10)}…${hex.slice(-4)}`;
const date = (d: Date) => d.toISOString().replace("T", " ").slice(0, 16) + " UTC";

export interface DemoOptions {
  connection: NetworkConnection;
  print?: (line?: string) => void;
}

export async function runDemo({ connection, print = (line = "") => console.log(line) }: DemoOptions): Promise<void> {
  const { ethers, networkHelpers } = connection;
  const servers: MailserverDiscoveryHandle[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];
  const chainNow = async () => (await ethers.provider.getBlock("latest"))!.timestamp;
  const step = (n: number, title: string) => {
    print();
    print(`${n}. ${title}`);
  };

  try {
    const [deployer, user, otherUser] = await ethers.getSigners();
    print(`Mail servers, paid for: the whole story on "${connection.networkName}"`);

    // ------------------------------------------------------------------------------------------
    step(1, "Deploy the registry, the escrow and an SNT-like token (MiniMe behaviour)");
    const { addresses, chainId } = await deployLocal(connection);
    const provider = new ProviderClient({ runner: deployer, addresses }); // the deployer is the default provider
    const registry = new RegistryClient({ runner: ethers.provider, addresses });
    const defaultProvider = (await registry.defaultProvider())!;
    const providerName = (await registry.getProvider(defaultProvider))!.name;
    print(table(["contract", "address"], [
      ["registry", addresses.registry], ["escrow", addresses.escrow], ["token", addresses.token],
      ["default provider", `${defaultProvider} ("${providerName}")`],
    ]));

    // ------------------------------------------------------------------------------------------
    step(2, "Three mail servers start on loopback and publish Waku-style ENRs (waku2 store bit, Status's shards); the default provider registers them");
    const prices = [parseUnits("25", 18), parseUnits("20", 18), parseUnits("30", 18)];
    const keys = prices.map(() => Wallet.createRandom().privateKey);
    for (const key of keys) {
      servers.push(await startMailserverDiscovery({
        privateKey: key, ip: LOOPBACK, port: 0, shards: STATUS_NETWORK, bootEnrs: servers.map((s) => s.enr), lookupIntervalMs: 0,
      }));
    }
    for (const server of servers) await server.lookup();
    const rows: string[][] = [];
    for (const [i, key] of keys.entries()) {
      const added = await provider.addNode({ nodeKey: key, record: servers[i].enr, pricePerMonth: prices[i] });
      rows.push([`mail-${i + 1}`, short(added.nodeId), `${LOOPBACK}:${servers[i].port}`, snt(prices[i]), short(added.hash)]);
    }
    print(table(["server", "node id", "endpoint", "price / month", "tx"], rows));

    // A stranger advertises a mail server it never registered; it is on the network all the same.
    const strangerServer = await startMailserverDiscovery({
      privateKey: Wallet.createRandom().privateKey, ip: LOOPBACK, port: 0, shards: STATUS_NETWORK, bootEnrs: [servers[0].enr], lookupIntervalMs: 0,
    });
    servers.push(strangerServer);
    await strangerServer.lookup();
    // And the user runs a node of their own, added to the app by hand.
    const custom = buildNodeEnr({ privateKey: Wallet.createRandom().privateKey, ip: LOOPBACK, udp: 30399, tcp: 30399 });
    print("   A stranger also runs an unregistered mail server on the network, and the user has a node of their own.");

    // ------------------------------------------------------------------------------------------
    step(3, "The user's app discovers mail servers over discv5 (by their waku2 store bit), verifies them in one batched call, and selects one");
    const policy = new TrustPolicy({ customNodes: [custom.enr] });
    const verified = new Map<string, VerifiedNode>();
    const selector = new MailserverSelector({
      // A small loopback network answers at once: a short crawl finds everything.
      sources: [new Discv5CrawlerSource({ bootEnrs: [servers[1].enr], bindIp: LOOPBACK, rounds: 3, idleRounds: 1, timeoutMs: 8_000 })],
      verify: async (enrs) => {
        const result = await verifyNodes(registry, enrs, { policy, kind: "mailserver" });
        for (const v of result) if (v.nodeId) verified.set(v.nodeId, v);
        return result;
      },
      customNodes: [custom.enr],
      probeBindIp: LOOPBACK,
      probeTimeoutMs: 1_000,
    });
    const selected = await selector.select();
    const names = new Map(keys.map((_, i) => [servers[i].nodeId, `mail-${i + 1}`]));
    names.set(strangerServer.nodeId, "stranger");
    names.set(custom.nodeId, "my node");
    const order = [...servers.map((s) => s.nodeId), custom.nodeId];
    print(table(["server", "node id", "provider", "price / month", "verdict", "why"], order.map((id) => {
      const v = verified.get(id);
      const who = v?.provider === defaultProvider ? `${providerName} (default)` : v?.provider ? short(v.provider) : "-";
      const why = v === undefined ? "not discovered" : v.status === "custom" ? "added by hand" : v.reasons.join(", ") || "registered, approved";
      return [names.get(id)!, short(id), who, v?.pricePerMonth === undefined ? "-" : snt(v.pricePerMonth), v?.status ?? "-", why];
    })));
    print(`   Selected ${names.get(selected.nodeId)} (${short(selected.nodeId)}), round trip ${selected.rttMs?.toFixed(1) ?? "?"} ms, drawn at random among the fastest quarter.`);
    // The user pays for a registered server: if the pick was the custom node, take the fastest trusted one.
    const chosen = selected.status === "trusted" ? selected : selector.candidates.find((c) => c.status === "trusted")!;
    const nodeId = chosen.nodeId;

    // ------------------------------------------------------------------------------------------
    step(4, `The user buys 2 months of ${names.get(nodeId)} in one transaction (SNT approveAndCall)`);
    const snTokens = await ethers.getContractAt("SNTLikeToken", addresses.token);
    for (const account of [user, otherUser]) await (await snTokens.generateTokens(account.address, parseUnits("1000", 18))).wait();
    // The chat key that signs requests is not the wallet key.
    const clientKey = Wallet.createRandom();
    const userEscrow = new SubscriptionClient({ runner: user, addresses });
    const quote = await userEscrow.quote(nodeId, 2);
    // The chat key consents to the wallet owning its subscription (one signature, no gas).
    const bought = await userEscrow.subscribe({ nodeId, clientId: clientKey.address, clientKey, months: 2, maxPricePerMonth: quote.pricePerMonth });
    // The escrow keeps one word per subscription, a commitment to the record its event carries;
    // the SDK hands the record back (bought.subscription) for the next call.
    const status = await userEscrow.status(nodeId, clientKey.address, bought.subscription);
    const escrowContract = await ethers.getContractAt("SubscriptionEscrow", addresses.escrow);
    const stored: bigint = await escrowContract.subscriptionCommitment(nodeId, clientKey.address);
    print(table(["", ""], [
      ["payment path", `${bought.path} (one transaction, allowance left: ${snt(await snTokens.allowance(user.address, addresses.escrow))})`],
      ["paid", `${snt(bought.amount)} (${snt(bought.pricePerMonth)} x 2, price locked)`],
      ["client key", clientKey.address],
      ["active until", `${date(bought.expiresAt)} (${status.monthsLeft} months left)`],
      ["refundable now", snt(status.refundableNow)],
      ["stored by the escrow", `one word ${short(`0x${stored.toString(16).padStart(64, "0")}`)}, the record's commitment computed locally: ${stored === subscriptionCommitment(bought.subscription) ? "yes" : "NO"}`],
      ["tx", bought.hash],
    ]));

    // ------------------------------------------------------------------------------------------
    step(5, `${names.get(nodeId)}'s access gate answers from an index synced from the escrow's events`);
    const index = new SubscriptionIndex({ provider: ethers.provider, escrow: addresses.escrow, chainId, startBlock: 0, confirmations: 0, nodeIds: [nodeId] });
    const synced = await index.sync();
    // The gate runs on the chain's clock, so the demo can move time forward.
    let clock = await chainNow();
    const gate = new AccessGate({ nodeId, escrow: addresses.escrow, chainId, index, now: () => clock });
    const domain = { chainId, escrow: addresses.escrow };
    // Each side of a connection is identified by its libp2p peer id (the same key as its ENR).
    const userPeer = parseEnr(buildNodeEnr({ privateKey: clientKey.privateKey, ip: LOOPBACK, udp: 1 }).enr).peerId;
    const strangerKey = Wallet.createRandom();
    const strangerPeer = parseEnr(buildNodeEnr({ privateKey: strangerKey.privateKey, ip: LOOPBACK, udp: 1 }).enr).peerId;
    const ask = (key: BaseWallet, peerId: string): Promise<SignedRequest> =>
      signRequest(key, { nodeId, requestDigest: requestDigestOf(`history since ${clock}`), peerId, nonce: hexlify(randomBytes(32)), issuedAt: clock }, domain);
    const show = (d: AccessDecision) => (d.allowed ? "allowed" : `refused: ${d.reason}`);

    const request = await ask(clientKey, userPeer);
    const decisions: string[][] = [];
    decisions.push(["the user's signed request", show(await gate.check(request, { connectionPeerId: userPeer }))]);
    decisions.push(["the same request replayed", show(await gate.check(request, { connectionPeerId: userPeer }))]);
    decisions.push(["the user's request, sent over another connection",
      show(await gate.check(await ask(clientKey, userPeer), { connectionPeerId: strangerPeer }))]);
    decisions.push(["a stranger's signed request", show(await gate.check(await ask(strangerKey, strangerPeer), { connectionPeerId: strangerPeer }))]);
    print(`   index: ${synced.events} event(s) read up to block ${synced.toBlock}, no RPC per request from here on`);
    print(table(["request", "decision"], decisions));

    // The same gate in front of the selected server's real store: a Waku store node on loopback.
    print(`   ${names.get(nodeId)} runs the mail server (Waku relay + store v3 + lightpush + access grants); a friend's app is a js-waku relay node, the user's app a @waku/sdk light node.`);
    const mailKey = keys[servers.findIndex((server) => server.nodeId === nodeId)]!;
    const archive = new SqliteArchive(":memory:");
    const mail = await MailServerNode.create({
      privateKey: Uint8Array.from(Buffer.from(mailKey.slice(2), "hex")),
      listen: [`/ip4/${LOOPBACK}/tcp/0/ws`],
      clusterId: STATUS_NETWORK.cluster,
      shards: STATUS_NETWORK.shards,
      mode: "paid-only",
      archive,
      gate,
    });
    await mail.start();
    cleanup.push(async () => {
      await mail.stop();
      await archive.close();
    });
    const wakuNode = async () => {
      const waku = await createLightNode({ defaultBootstrap: false, networkConfig: { clusterId: STATUS_NETWORK.cluster }, libp2p: { filterMultiaddrs: false } });
      cleanup.push(() => waku.stop());
      await waku.start();
      await waku.dial(mail.multiaddrs[0]!);
      await waku.waitForPeers([Protocols.Store, Protocols.LightPush], 20_000);
      return waku;
    };
    const contentTopic = "/status-demo/1/chat/proto";
    const shardId = STATUS_NETWORK.shards[1]!;
    // A friend's app on the network: a js-waku relay node in the mail server's mesh. Its messages
    // travel by Waku Relay; the mail server, a relay node of the shard, archives what passes.
    const friend = await createRelayNode({
      defaultBootstrap: false,
      networkConfig: { clusterId: STATUS_NETWORK.cluster, shards: [shardId] },
      libp2p: { filterMultiaddrs: false, hideWebSocketInfo: true },
    } as Parameters<typeof createRelayNode>[0]);
    cleanup.push(async () => {
      // js-waku 0.0.27 keeps a keep-alive timer per connected peer until that peer disconnects,
      // not until stop(): end the connections first, or the demo would not exit.
      for (const connection of friend.libp2p.getConnections()) connection.abort(new Error("demo over"));
      await friend.stop();
    });
    await friend.start();
    await friend.dial(mail.multiaddrs[0]!);
    const pubsubTopic = `/waku/2/rs/${STATUS_NETWORK.cluster}/${shardId}`;
    for (let waited = 0; !friend.relay.getMeshPeers(pubsubTopic).includes(mail.peerId) && waited < 20_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const offline = ["hi, are you there?", "call me when you are back", "see you tomorrow"];
    const encoder = relayEncoder({ contentTopic, pubsubTopicShardInfo: { clusterId: STATUS_NETWORK.cluster, shard: shardId } });
    for (const text of offline) {
      // js-waku stamps messages to the millisecond, and a store orders by timestamp (then hash):
      // typed one after another, not within the same millisecond.
      const sent = await friend.relay.send(encoder, { payload: utf8ToBytes(text) });
      if ((sent.successes ?? []).length === 0) throw new Error(`the friend's message did not reach the mail server: ${String(sent.failures?.[0]?.error)}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (let waited = 0; (await archive.stats()).messages < offline.length && waited < 20_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const fetchHistory = async (waku: LightNode) => {
      const got: string[] = [];
      await waku.store.queryWithOrderedCallback([waku.createDecoder({ contentTopic, shardId })], (m) => {
        got.push(bytesToUtf8(m.payload));
      });
      return got;
    };
    const app = await wakuNode();
    const session = new AccessSession({
      libp2p: app.libp2p,
      peer: app.libp2p.getConnections().find((c) => c.remotePeer.toString() === mail.peerId)!.remotePeer,
      makeGrant: accessGrantMaker({ signer: clientKey, domain, nodeId, now: () => clock }),
    });
    const accepted = await session.start();
    session.stop();
    const history = await fetchHistory(app);
    const strangerApp = await wakuNode();
    const strangerOutcome = await fetchHistory(strangerApp).then(
      (got) => `served ${got.length} message(s)`,
      (error: Error) => `refused: ${/status code: (\d+), description: (.*)$/.exec(error.message)?.slice(1).join(" ") ?? error.message}`,
    );
    print(table(["while the user was offline", "store query result"], [
      [`a friend's app relayed ${offline.length} messages on shard ${shardId}`, `archived by ${names.get(nodeId)} from the relay mesh`],
      ["the user's app presents its access grant", `accepted until ${date(new Date(accepted.until * 1000))}`],
      ["the user's app fetches its messages", history.map((m) => `"${m}"`).join(", ")],
      ["a stranger's app asks for them", strangerOutcome],
    ]));

    // ------------------------------------------------------------------------------------------
    step(6, "61 days later the subscription has run out");
    await networkHelpers.time.increase(61 * DAY);
    clock = await chainNow();
    await index.sync();
    print(table(["request", "decision"], [["the user's signed request", show(await gate.check(await ask(clientKey, userPeer), { connectionPeerId: userPeer }))]]));

    // ------------------------------------------------------------------------------------------
    const other = servers[[0, 1, 2].find((i) => servers[i].nodeId !== nodeId)!];
    step(7, `Another user buys 3 months of ${names.get(other.nodeId)} and cancels after 10 days`);
    const otherClientKey = Wallet.createRandom();
    const otherClient = otherClientKey.address;
    const otherEscrow = new SubscriptionClient({ runner: otherUser, addresses });
    const second = await otherEscrow.subscribe({ nodeId: other.nodeId, clientId: otherClient, clientKey: otherClientKey, months: 3 });
    await networkHelpers.time.increase(10 * DAY);
    const before = await snTokens.balanceOf(otherUser.address);
    const cancelled = await otherEscrow.cancel(other.nodeId, otherClient);
    const after = await snTokens.balanceOf(otherUser.address);
    print(table(["", ""], [
      ["paid", snt(second.amount)],
      ["refunded (the unserved part)", `${snt(cancelled.refund)} (fee ${snt(cancelled.fee)}; balance +${snt(after - before)})`],
      ["tx", cancelled.hash],
    ]));

    // ------------------------------------------------------------------------------------------
    step(8, "The provider withdraws what was served, to its payout address");
    const providerEscrow = new SubscriptionClient({ runner: deployer, addresses });
    const withdrawals: string[][] = [];
    for (const id of await providerEscrow.soldNodes(defaultProvider)) {
      const earnings = await providerEscrow.nodeEarnings(id);
      if (earnings.withdrawable === 0n) continue;
      const paid = await providerEscrow.withdraw(id);
      withdrawals.push([names.get(id) ?? short(id), snt(paid.amount), short(paid.payout ?? ""), short(paid.hash)]);
    }
    print(table(["server", "withdrawn", "to", "tx"], withdrawals));
    const escrowBalance = await snTokens.balanceOf(addresses.escrow);
    print(`   The escrow now holds ${snt(escrowBalance)}: every subscription was served and withdrawn, or refunded.`);
  } finally {
    for (const stop of cleanup.reverse()) await stop().catch(() => undefined);
    await Promise.all(servers.map((s) => s.stop()));
  }
}
