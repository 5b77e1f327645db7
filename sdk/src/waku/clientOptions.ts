// Everything a `@waku/sdk` light node needs to reach one mail server, as plain options: the SDK
// does not depend on @waku/sdk (nor on its libp2p), so apps pass these to their own copy.
// Isomorphic.
import { MailserverSdkError } from "../errors.js";
import type { RelayShards } from "./enrFields.js";

/** A mail server as the client knows it: a parsed ENR fits, or the fields by hand. */
export interface MailserverEndpoint {
  /** The server's libp2p peer id (`16Uiu2…`). */
  peerId: string;
  /** Where it listens; a WebSocket one (`/ws` or `/wss`) is picked, secure first. */
  multiaddrs: readonly string[];
  /** Its cluster and shards (an ENR's `rs`); or give them in the options. */
  shards?: RelayShards;
}

export interface WakuClientOptions {
  /** For `createLightNode(createOptions)`. */
  createOptions: {
    defaultBootstrap: false;
    networkConfig: { clusterId: number; shards: number[] };
    libp2p: { filterMultiaddrs: false };
  };
  /** For `waku.dial(address)`: the server's WebSocket multiaddr with its `/p2p/` peer id. */
  address: string;
  /** The server's peer id (for `AccessSession`'s `peer`, compare with connections' remotePeer). */
  peerId: string;
  clusterId: number;
  shards: number[];
  /** For `waku.createEncoder(...)` / `waku.createDecoder(...)`: a content topic on the server's shard. */
  routing(contentTopic: string, shardId?: number): { contentTopic: string; shardId: number };
}

const WEBSOCKET = /\/(wss|ws|tls\/ws)(\/|$)/;

/**
 * Set up a `@waku/sdk` light node for one mail server in one call: no default bootstrap (it
 * would dial other fleets), the server's cluster and shards (the server refuses peers of another
 * network in its metadata handshake), `filterMultiaddrs: false` (otherwise @waku/sdk drops
 * non-`wss` addresses such as a local `/ws`), the WebSocket address to dial (@waku/sdk's only
 * transport) and encoder/decoder routing on one of its shards.
 *
 * ```ts
 * const o = wakuClientOptions(parseEnr(enr));
 * const waku = await createLightNode(o.createOptions);
 * await waku.start();
 * await waku.dial(o.address);
 * const decoder = waku.createDecoder(o.routing("/my-app/1/chat/proto"));
 * ```
 * INVALID_ARGUMENT when the server has no WebSocket address or no shards are known.
 */
export function wakuClientOptions(server: MailserverEndpoint, options: { shards?: RelayShards; shardId?: number } = {}): WakuClientOptions {
  const network = options.shards ?? server.shards;
  if (network === undefined || network.shards.length === 0) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the mail server's cluster and shards are not known: pass options.shards (e.g. STATUS_NETWORK)", { details: { peerId: server.peerId } });
  }
  if (typeof server.peerId !== "string" || server.peerId.length === 0) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the mail server's peer id is missing", {});
  }
  const sockets = server.multiaddrs.filter((a) => WEBSOCKET.test(a));
  const chosen = sockets.find((a) => /\/(wss|tls\/ws)(\/|$)/.test(a)) ?? sockets[0];
  if (chosen === undefined) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the mail server has no WebSocket address (/ws or /wss), which @waku/sdk needs", { details: { multiaddrs: [...server.multiaddrs] } });
  }
  const suffix = `/p2p/${server.peerId}`;
  const address = chosen.includes("/p2p/") ? chosen : `${chosen}${suffix}`;
  const shards = [...network.shards];
  const defaultShard = options.shardId ?? shards[0]!;
  if (!shards.includes(defaultShard)) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `shard ${defaultShard} is not one of the mail server's (${shards.join(", ")})`, { details: { shardId: defaultShard, shards } });
  }
  return {
    createOptions: { defaultBootstrap: false, networkConfig: { clusterId: network.cluster, shards }, libp2p: { filterMultiaddrs: false } },
    address,
    peerId: server.peerId,
    clusterId: network.cluster,
    shards,
    routing(contentTopic, shardId = defaultShard) {
      if (!shards.includes(shardId)) {
        throw new MailserverSdkError("INVALID_ARGUMENT", `shard ${shardId} is not one of the mail server's (${shards.join(", ")})`, { details: { shardId, shards } });
      }
      return { contentTopic, shardId };
    },
  };
}
