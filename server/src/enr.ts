// The node's Waku-style ENR: `waku2` (store + lightpush), `multiaddrs` (its dialable libp2p
// addresses), `rs` (cluster and shards) and the registry's service-kind key, signed with the node
// key. TEMPORARY: built here with @chainsafe/enr until the SDK's buildNodeEnr takes these keys
// (discovery issue); then call that and delete the encoders below.
import { SignableENR } from "@chainsafe/enr";
import { multiaddr } from "@multiformats/multiaddr";
import { encodeKinds, MAILSERVER_KIND_NAME, SERVICE_KIND_ENR_KEY } from "@status/mailserver-sdk";

/** `waku2` capability bits, least significant first: relay, store, filter, lightpush, sync. */
export const WAKU2_STORE = 0x02;
export const WAKU2_LIGHTPUSH = 0x08;

export interface WakuEnrOptions {
  privateKey: Uint8Array;
  ip: string;
  /** discv5 UDP port. */
  udp: number;
  /** libp2p TCP port. */
  tcp?: number;
  /** Multiaddrs without `/p2p/` (e.g. the WebSocket one), as a browser client dials them. */
  multiaddrs: readonly string[];
  clusterId: number;
  shards: readonly number[];
  seq?: bigint;
}

export function buildWakuEnr(options: WakuEnrOptions): SignableENR {
  const scratch = SignableENR.createV4(options.privateKey);
  scratch.ip = options.ip;
  scratch.udp = options.udp;
  if (options.tcp !== undefined) scratch.tcp = options.tcp;
  scratch.set("waku2", Uint8Array.of(WAKU2_STORE | WAKU2_LIGHTPUSH));
  if (options.multiaddrs.length > 0) scratch.set("multiaddrs", encodeMultiaddrs(options.multiaddrs));
  scratch.set("rs", encodeRelayShards(options.clusterId, options.shards));
  scratch.set(SERVICE_KIND_ENR_KEY, encodeKinds([MAILSERVER_KIND_NAME]));
  // The setters bumped the sequence number: sign the key/values once with the one asked for.
  return new SignableENR(scratch.kvs as ReadonlyMap<string, Uint8Array>, options.seq ?? 1n, options.privateKey);
}

/** (u16 big-endian length, binary multiaddr) for each address. */
export function encodeMultiaddrs(addresses: readonly string[]): Uint8Array {
  const parts = addresses.map((a) => multiaddr(a).bytes);
  const out = new Uint8Array(parts.reduce((n, p) => n + 2 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out[at] = p.length >> 8;
    out[at + 1] = p.length & 0xff;
    out.set(p, at + 2);
    at += 2 + p.length;
  }
  return out;
}

/** (u16 cluster, u8 count, count × u16 shard), big-endian. */
export function encodeRelayShards(clusterId: number, shards: readonly number[]): Uint8Array {
  const out = new Uint8Array(3 + 2 * shards.length);
  out[0] = clusterId >> 8;
  out[1] = clusterId & 0xff;
  out[2] = shards.length;
  shards.forEach((s, i) => {
    out[3 + 2 * i] = s >> 8;
    out[4 + 2 * i] = s & 0xff;
  });
  return out;
}
