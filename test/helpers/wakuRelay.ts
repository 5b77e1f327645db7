// js-waku's own relay node (`createRelayNode` of @waku/sdk 0.0.27, with @waku/relay 0.0.14 and
// its gossipsub): the real peer a mail server meets on the Waku network. Its defaults are kept,
// except that it may dial plain ws on loopback and, when asked, listen for other relay nodes.
import { createDecoder, createEncoder, type DecodedMessage, type RelayNode } from "waku-relay-sdk";
import { createRelayNode } from "waku-relay-sdk/relay";

export type { RelayNode } from "waku-relay-sdk";

export interface RelayPeerOptions {
  clusterId: number;
  shards: number[];
  /** Listen on a loopback ws port so that other relay nodes can dial this one. */
  listen?: boolean;
}

export async function jsWakuRelayNode(options: RelayPeerOptions): Promise<RelayNode> {
  const node = await createRelayNode({
    defaultBootstrap: false,
    networkConfig: { clusterId: options.clusterId, shards: options.shards },
    libp2p: { filterMultiaddrs: false, hideWebSocketInfo: true, ...(options.listen ? { addresses: { listen: ["/ip4/127.0.0.1/tcp/0/ws"] } } : {}) },
  } as Parameters<typeof createRelayNode>[0]);
  await node.start();
  // js-waku 0.0.27 keeps a keep-alive timer per connected peer until that peer disconnects, not
  // until stop(): end the connections first, so a stopped node leaves nothing running.
  const stop = node.stop.bind(node);
  node.stop = async () => {
    for (const connection of node.libp2p.getConnections()) connection.abort(new Error("stopping"));
    await stop();
  };
  return node;
}

/** Dials `address` (a multiaddr string) and waits until the peer is in the node's relay mesh topic. */
export async function connectRelay(node: RelayNode, address: string, pubsubTopic: string, timeoutMs = 20_000): Promise<void> {
  await node.dial(address);
  const peer = address.split("/p2p/")[1]!;
  const deadline = Date.now() + timeoutMs;
  // Gossipsub learns the peer's subscriptions, then grafts it at a heartbeat (1 s).
  while (!node.relay.getMeshPeers(pubsubTopic).includes(peer)) {
    if (Date.now() > deadline) throw new Error(`${peer} not in the mesh of ${pubsubTopic} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function relayEncoder(contentTopic: string, clusterId: number, shard: number) {
  return createEncoder({ contentTopic, pubsubTopicShardInfo: { clusterId, shard } });
}

/** Publishes raw bytes as the node's gossipsub data, as a misbehaving peer would (no Waku checks). */
export async function publishRaw(node: RelayNode, pubsubTopic: string, data: Uint8Array): Promise<number> {
  const result = await node.libp2p.services.pubsub!.publish(pubsubTopic, data, { allowPublishToZeroTopicPeers: true });
  return result.recipients.length;
}

/** Collects every message the node receives on `contentTopic` of the shard. */
export function collect(node: RelayNode, contentTopic: string, clusterId: number, shard: number): DecodedMessage[] {
  const got: DecodedMessage[] = [];
  const decoder = createDecoder(contentTopic, { clusterId, shard });
  void node.relay.subscribeWithUnsubscribe([decoder], (message: DecodedMessage) => void got.push(message));
  return got;
}

/**
 * A js-waku relay node in a mail server's mesh on every shard it serves: the network a lightpush
 * to that server reaches (without one, the server answers pushes with 505, as nwaku does).
 */
export async function relayPeerOf(server: string | { multiaddrs: string[] }, clusterId: number, shards: number[]): Promise<RelayNode> {
  const node = await jsWakuRelayNode({ clusterId, shards });
  const ws = typeof server === "string" ? server : server.multiaddrs.find((a) => a.includes("/ws/"));
  if (ws === undefined) throw new Error("the server has no ws address for js-waku's relay node");
  for (const topic of shards.map((s) => `/waku/2/rs/${clusterId}/${s}`)) await connectRelay(node, ws, topic);
  return node;
}

/** Polls `check` every 50 ms until it holds; fails with `what` after `timeoutMs` (a deadline, not a timing assertion). */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
