// Shared set-up for the mail-server tests: a `hardhat node` with the local deployment, a node
// registered by the default provider, subscriptions bought through the SDK, and real @waku/sdk
// light nodes (default settings, except that they may dial plain ws on loopback).
import { network } from "hardhat";
import { Contract, JsonRpcProvider, Wallet, type Signer } from "ethers";
import * as lp from "it-length-prefixed";
import { createLightNode, Protocols, type IDecodedMessage, type LightNode } from "@waku/sdk";
import {
  AccessSession,
  ProviderClient,
  SubscriptionClient,
  accessGrantMaker,
  buildNodeEnr,
  type AccessAnswer,
} from "@status/mailserver-sdk";
import { SubscriptionIndex } from "@status/mailserver-sdk/server";
import { deployLocal } from "../../deploy/local.js";
import { rpc, startHardhatNode, type LocalNode } from "./hardhatCli.js";

export const CHAIN_ID = 31337;
export const UNIT = 10n ** 18n;

export interface Chain {
  node: LocalNode;
  provider: JsonRpcProvider;
  addresses: { registry: string; escrow: string; token: string };
  signers: Signer[];
  /** The mail server's node key and node id (registered, 10 SNT a month). */
  nodeKey: Wallet;
  nodeId: string;
  /** Seconds of the latest block. */
  chainNow(): Promise<number>;
  /** Moves the chain's clock (and mines a block). */
  advance(seconds: number): Promise<void>;
  /** `owner` (an account of the node) buys `months` for `clientId`. */
  /** `owner` (a signer index) buys `months` for the client key, which consents. */
  subscribe(owner: number, clientKey: Wallet, months: number): Promise<void>;
  cancel(owner: number, clientId: string): Promise<void>;
  index(): SubscriptionIndex;
  stop(): Promise<void>;
}

export async function startChain(): Promise<Chain> {
  const node = await startHardhatNode(60_000);
  const connection = await network.create({ network: "localhost", override: { url: node.url } });
  const deployment = await deployLocal(connection);
  const provider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  const signers = await provider.listAccounts();
  const addresses = deployment.addresses;
  const nodeKey = Wallet.createRandom() as unknown as Wallet;
  const record = buildNodeEnr({ privateKey: nodeKey.privateKey, ip: "127.0.0.1", udp: 9000, tcp: 9000 }).enr;
  const providerClient = new ProviderClient({ runner: signers[0]!, chainId: CHAIN_ID, addresses });
  const { nodeId } = await providerClient.addNode({ nodeKey: nodeKey.privateKey, record, pricePerMonth: 10n * UNIT });
  const token = new Contract(addresses.token, ["function generateTokens(address owner, uint256 amount) returns (bool)"], signers[0]);
  const chainNow = async () => Number((await provider.getBlock("latest"))!.timestamp);
  return {
    node,
    provider,
    addresses,
    signers,
    nodeKey,
    nodeId,
    chainNow,
    async advance(seconds) {
      await rpc(node.url, "evm_increaseTime", [seconds]);
      await rpc(node.url, "evm_mine");
    },
    async subscribe(owner, clientKey, months) {
      const buyer = signers[owner]!;
      await (await token.getFunction("generateTokens")(await buyer.getAddress(), 1000n * UNIT)).wait();
      await new SubscriptionClient({ runner: buyer, chainId: CHAIN_ID, addresses }).subscribe({ nodeId, clientId: clientKey.address, clientKey, months });
    },
    async cancel(owner, clientId) {
      await new SubscriptionClient({ runner: signers[owner]!, chainId: CHAIN_ID, addresses }).cancel(nodeId, clientId);
    },
    index: () => new SubscriptionIndex({ provider, chainId: CHAIN_ID, escrow: addresses.escrow, startBlock: 0, confirmations: 0 }),
    async stop() {
      provider.destroy();
      await connection.close?.();
      await node.stop();
    },
  };
}

/** A @waku/sdk light node with its defaults, dialing the server directly. */
export async function wakuClient(
  serverAddress: string,
  protocols: Protocols[] = [Protocols.Store, Protocols.LightPush],
  networkConfig?: NonNullable<Parameters<typeof createLightNode>[0]>["networkConfig"],
): Promise<LightNode> {
  const waku = await createLightNode({ defaultBootstrap: false, libp2p: { filterMultiaddrs: false }, ...(networkConfig !== undefined ? { networkConfig } : {}) });
  await waku.start();
  await waku.dial(serverAddress);
  await waku.waitForPeers(protocols, 20_000);
  return waku;
}

/** Every stored message on `contentTopic`, through @waku/sdk's own store query (it pages until an empty page). */
export async function fetchMessages(waku: LightNode, contentTopic: string, shardId?: number): Promise<IDecodedMessage[]> {
  const got: IDecodedMessage[] = [];
  await waku.store.queryWithOrderedCallback([waku.createDecoder({ contentTopic, ...(shardId !== undefined ? { shardId } : {}) })], (message) => {
    got.push(message);
  });
  return got;
}

/** The server's PeerId object as the client's libp2p knows it (objects do not cross libp2p versions). */
export function serverPeer(waku: LightNode, serverPeerId: string): unknown {
  const connection = waku.libp2p.getConnections().find((c) => c.remotePeer.toString() === serverPeerId);
  if (connection === undefined) throw new Error(`not connected to ${serverPeerId}`);
  return connection.remotePeer;
}

/**
 * Presents a grant signed by `clientKey` for the client's peer id. `issuedAt` defaults to the
 * given clock (the tests move the chain's clock and the server's with it).
 */
export async function presentGrant(
  waku: LightNode,
  serverPeerId: string,
  clientKey: Wallet,
  nodeId: string,
  escrow: string,
  now: () => number,
): Promise<{ session: AccessSession; answer: AccessAnswer }> {
  const session = new AccessSession({
    libp2p: waku.libp2p,
    peer: serverPeer(waku, serverPeerId),
    now,
    makeGrant: accessGrantMaker({ signer: clientKey, domain: { chainId: CHAIN_ID, escrow }, nodeId, now }),
  });
  const answer = await session.start();
  return { session, answer };
}

/**
 * One raw request on a new stream of the client's own libp2p connection (bytes @waku/sdk would
 * never send). `framed: false` writes the bytes without a length prefix. Resolves to the answer,
 * or undefined when the server closed or reset the stream without one.
 */
export async function rawRequest(waku: LightNode, serverPeerId: string, codec: string, bytes: Uint8Array, options: { framed?: boolean } = {}): Promise<Uint8Array | undefined> {
  const stream = await waku.libp2p.dialProtocol(serverPeer(waku, serverPeerId) as Parameters<LightNode["libp2p"]["dialProtocol"]>[0], codec);
  try {
    await stream.sink([options.framed === false ? bytes : lp.encode.single(bytes).subarray()]);
    // Read to the end, as @waku/sdk does: leaving early makes the server's close frame arrive for
    // a stream mplex has forgotten, and a few of those make mplex drop the connection.
    let first: Uint8Array | undefined;
    for await (const chunk of lp.decode(stream.source)) first ??= chunk.subarray();
    return first;
  } catch {
    return undefined;
  }
}
