// What a Waku node serves, as its ENR says (`waku2`, `rs`/`rsv`), and how that maps to registry
// kinds and to the network an app runs on. Isomorphic: no Node built-ins.
import { MailserverSdkError } from "../errors.js";
import { kindId } from "../nodeKey.js";

/**
 * The `waku2` capability flags, in bit order (least significant bit first): bit 0 relay, 1 store,
 * 2 filter, 3 lightpush, 4 sync (RFC WAKU2-ENR; nwaku sets bit 4 for store sync).
 */
export const WAKU2_CAPABILITIES = ["relay", "store", "filter", "lightpush", "sync"] as const;
export type WakuCapability = (typeof WAKU2_CAPABILITIES)[number];

/**
 * The registry kind a Waku capability stands for: the one place that maps what a node serves to
 * what the registry calls it. A new server role is one line here.
 */
export const CAPABILITY_KINDS: Readonly<Partial<Record<WakuCapability, string>>> = {
  store: "mailserver",
  lightpush: "push-notification",
  filter: "light-client",
};

/** The capabilities a `waku2` byte announces (unknown high bits are ignored). */
export function decodeWaku2(byte: number): WakuCapability[] {
  return WAKU2_CAPABILITIES.filter((_, bit) => (byte >> bit) & 1);
}

/** The `waku2` byte for a set of capabilities. */
export function encodeWaku2(capabilities: readonly WakuCapability[]): number {
  let byte = 0;
  for (const capability of capabilities) {
    const bit = WAKU2_CAPABILITIES.indexOf(capability);
    if (bit < 0) throw new MailserverSdkError("INVALID_ARGUMENT", `unknown Waku capability: ${String(capability)}`, { details: { capability } });
    byte |= 1 << bit;
  }
  return byte;
}

/** Kind ids (bytes32) the capabilities stand for, per {@link CAPABILITY_KINDS}. */
export function capabilityKinds(capabilities: readonly WakuCapability[]): string[] {
  const kinds: string[] = [];
  for (const capability of capabilities) {
    const kind = CAPABILITY_KINDS[capability];
    if (kind !== undefined && !kinds.includes(kindId(kind))) kinds.push(kindId(kind));
  }
  return kinds;
}

/** The Waku capability that makes a node of `kind` (name or id), if the kind has one. */
export function kindCapability(kind: string): WakuCapability | undefined {
  const id = kindId(kind);
  for (const capability of WAKU2_CAPABILITIES) {
    const name = CAPABILITY_KINDS[capability];
    if (name !== undefined && kindId(name) === id) return capability;
  }
  return undefined;
}

/** The relay shards a node serves: its cluster and shard ids. */
export interface RelayShards {
  cluster: number;
  shards: number[];
}

/** Status's production fleet: cluster 16, shards 1, 32, 64, 128, 256. */
export const STATUS_NETWORK: Readonly<RelayShards> = Object.freeze({ cluster: 16, shards: Object.freeze([1, 32, 64, 128, 256]) as number[] });
/** The Waku Network: cluster 1, shards 0–7. */
export const THE_WAKU_NETWORK: Readonly<RelayShards> = Object.freeze({ cluster: 1, shards: Object.freeze([0, 1, 2, 3, 4, 5, 6, 7]) as number[] });

/** Status's production fleet as an EIP-1459 tree (status-go's fleet configuration). */
export const STATUS_PROD_ENRTREE = "enrtree://AMOJVZX4V6EXP7NTJPMAYJYST2QP6AJXYW76IU6VGJS7UVSNDYZG4@boot.prod.status.nodes.status.im";

/**
 * Decodes an `rsv` value (u16 cluster, 128-byte bit vector). Implementations disagree on the bit
 * order inside each byte: nwaku and go-waku (which run every store node) put shard `8i + j` at bit
 * `j` of byte `i`, least significant bit first; js-waku reads it most significant bit first. This
 * follows nwaku, the producer of the records we meet. Undefined when the value is malformed.
 */
export function decodeRsv(value: Uint8Array): RelayShards | undefined {
  if (value.length !== 130) return undefined;
  const cluster = (value[0]! << 8) | value[1]!;
  const shards: number[] = [];
  for (let i = 0; i < 128; i++) {
    const byte = value[2 + i]!;
    for (let bit = 0; bit < 8; bit++) if ((byte >> bit) & 1) shards.push(i * 8 + bit);
  }
  return { cluster, shards };
}

/** Encodes an `rs` value (u16 cluster, u8 count, count × u16 shard), the form nwaku writes for fewer than 64 shards. */
export function encodeRs({ cluster, shards }: RelayShards): Uint8Array {
  const u16 = (n: number, what: string) => {
    if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new MailserverSdkError("INVALID_ARGUMENT", `${what} must be a 16-bit unsigned integer`, { details: { [what]: n } });
    return n;
  };
  const unique = [...new Set(shards.map((s) => u16(s, "shard")))].sort((a, b) => a - b);
  if (unique.length === 0 || unique.length > 63) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "an rs value lists 1 to 63 shards", { details: { count: unique.length } });
  }
  const out = new Uint8Array(3 + 2 * unique.length);
  out[0] = u16(cluster, "cluster") >> 8;
  out[1] = cluster & 0xff;
  out[2] = unique.length;
  unique.forEach((shard, i) => {
    out[3 + 2 * i] = shard >> 8;
    out[4 + 2 * i] = shard & 0xff;
  });
  return out;
}
