// Server side: build the node's signed ENR and keep the registry's record in step with it.
import { type Endpoint, endpointOf, parseEnr, type ParsedEnr, sameEndpoint } from "../enr.js";
import { encodeEnr, ip4Bytes, ip6Bytes } from "../enrCodec.js";
import { multiaddrBytes } from "../multiaddr.js";
import { nodeIdFromPrivateKey } from "../nodeKey.js";
import { MAILSERVER_KIND_NAME, SERVICE_KIND_ENR_KEY, encodeKinds } from "../serviceKinds.js";
import { encodeRs, encodeWaku2, kindCapability, type RelayShards, type WakuCapability } from "../waku/enrFields.js";
import { invalidArgument, privateKeyBytes } from "./util.js";

/**
 * Longest record the registry accepts (`RecordTooLong`), in bytes of the record string: the text
 * of the largest ENR (300 bytes, EIP-778) is `enr:` plus 400 base64url characters, so every valid
 * ENR fits, fleet nodes' 360–400-character records included.
 */
export const MAX_REGISTRY_RECORD_LENGTH = 404;

export interface BuildNodeEnrOptions {
  /** The node key (secp256k1, 32 bytes, hex or bytes): the same key behind the node id. */
  privateKey: string | Uint8Array;
  /** IPv4 or IPv6 address announced in the ENR (`ip` / `ip6`). */
  ip: string;
  /** discv5 UDP port. Optional: a node listed only in a DNS tree or a static list needs none. */
  udp?: number;
  /** Optional TCP port (e.g. the mail server's libp2p port). */
  tcp?: number;
  /**
   * Service kind(s), names or 32-byte ids. Default `"mailserver"`. Each kind a Waku capability
   * stands for (CAPABILITY_KINDS: mail server = store) sets that bit of `waku2`; a kind without one
   * is written under `srvkind`. `[]` announces no kind.
   */
  kind?: string | readonly string[];
  /** Waku capabilities for `waku2`, added to those the kinds imply (e.g. `["store", "lightpush"]`). */
  capabilities?: readonly WakuCapability[];
  /**
   * Dialable addresses written as the `multiaddrs` key, without `/p2p/`: what Waku clients dial,
   * e.g. `/dns4/mail.example.org/tcp/443/wss` or `/ip4/127.0.0.1/tcp/8000/ws`.
   */
  multiaddrs?: readonly string[];
  /** Relay cluster and shards, written as `rs` (e.g. STATUS_NETWORK: cluster 16, shards 1, 32, 64, 128, 256). */
  shards?: RelayShards;
  /**
   * Also write `srvkind` for kinds a capability already announces (35 bytes per kind: a fleet
   * node's record has no room for it). Default false.
   */
  srvkind?: boolean;
  /**
   * ENR sequence number. Default 1. Bump it whenever the endpoint changes, so that peers and
   * {@link recordSync} see the new record as newer.
   */
  seq?: bigint;
}

export interface NodeEnr {
  /** ENR text (`enr:...`), what goes into the registry record, DNS trees and boot lists. */
  enr: string;
  /** 0x-prefixed node id (keccak256 of the uncompressed public key) = the registry's node id. */
  nodeId: string;
  seq: bigint;
  /** Kind ids the record announces (through `waku2` and `srvkind`), as discovery reads them. */
  kinds: string[];
  /** Waku capabilities in `waku2`. */
  capabilities: WakuCapability[];
  /** The record as discovery decodes it. */
  parsed: ParsedEnr;
}

/** The `multiaddrs` value: each address as (u16 big-endian length, binary multiaddr). */
function encodeMultiaddrs(addresses: readonly string[]): Uint8Array {
  const parts = addresses.map((text) => {
    let bytes: Uint8Array;
    try {
      if (/\/(p2p|ipfs)(\/|$)/.test(text)) throw new Error("has /p2p/");
      bytes = multiaddrBytes(text);
    } catch (e) {
      throw invalidArgument(`not a location multiaddr (no /p2p/ part): ${text}`, { multiaddr: text }, e);
    }
    return bytes;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + 2 + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out[offset] = part.length >> 8;
    out[offset + 1] = part.length & 0xff;
    out.set(part, offset + 2);
    offset += 2 + part.length;
  }
  return out;
}

/**
 * Builds and signs a node's ENR: its endpoint, what it serves (`waku2`, and `srvkind` for kinds
 * no Waku capability stands for), where Waku clients dial it (`multiaddrs`) and its relay shards
 * (`rs`): the same keys nwaku publishes, so the SDK's discovery and Waku's see the node alike.
 */
export function buildNodeEnr(options: BuildNodeEnrOptions): NodeEnr {
  const key = privateKeyBytes(options.privateKey);
  const kinds = typeof options.kind === "string" ? [options.kind] : [...(options.kind ?? [MAILSERVER_KIND_NAME])];
  if (options.udp !== undefined) checkPort("udp", options.udp);
  if (options.tcp !== undefined) checkPort("tcp", options.tcp);
  const capabilities = new Set<WakuCapability>(options.capabilities ?? []);
  const srvkinds: string[] = [];
  for (const kind of kinds) {
    const capability = kindCapability(kind);
    if (capability !== undefined) capabilities.add(capability);
    if (capability === undefined || options.srvkind === true) srvkinds.push(kind);
  }

  const v6 = options.ip.includes(":");
  const ip = v6 ? ip6Bytes(options.ip) : ip4Bytes(options.ip);
  if (ip === undefined) throw invalidArgument(`not an IP address: ${options.ip}`, { ip: options.ip });
  const kvs = new Map<string, Uint8Array>([[v6 ? "ip6" : "ip", ip]]);
  if (options.udp !== undefined) kvs.set(v6 ? "udp6" : "udp", port16(options.udp));
  if (options.tcp !== undefined) kvs.set(v6 ? "tcp6" : "tcp", port16(options.tcp));
  if (capabilities.size > 0) kvs.set("waku2", Uint8Array.of(encodeWaku2([...capabilities])));
  if (options.multiaddrs !== undefined && options.multiaddrs.length > 0) kvs.set("multiaddrs", encodeMultiaddrs(options.multiaddrs));
  if (options.shards !== undefined) kvs.set("rs", encodeRs(options.shards));
  if (srvkinds.length > 0) kvs.set(SERVICE_KIND_ENR_KEY, encodeKinds(srvkinds));
  const seq = options.seq ?? 1n;
  if (seq < 1n) throw invalidArgument("ENR sequence number must be >= 1", { seq });
  let enr: string;
  try {
    enr = encodeEnr(kvs, seq, key);
  } catch (error) {
    throw invalidArgument(`cannot build the ENR: ${error instanceof Error ? error.message : String(error)}`, {}, error);
  }
  const parsed = parseEnr(enr);
  return {
    enr,
    nodeId: nodeIdFromPrivateKey(key),
    seq,
    kinds: parsed.kinds,
    capabilities: parsed.capabilities,
    parsed,
  };
}

/** Ports as two bytes, as @chainsafe/discv5 (which reads exactly two) expects them. */
function port16(port: number): Uint8Array {
  return Uint8Array.from([port >> 8, port & 0xff]);
}

function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`${name} port out of range: ${port}`, { [name]: port });
}

/** Why {@link recordSync} decided what it decided. */
export type RecordSyncReason =
  /** The registered record describes the same node, sequence number and endpoint. */
  | "in-sync"
  /** No record registered (register the node with `addNode` instead). */
  | "not-registered"
  /** The local ENR has a higher sequence number than the registered ENR. */
  | "newer-seq"
  /** Same sequence number (or a multiaddr/enode record), but the endpoint differs. */
  | "endpoint-differs"
  /** The registered ENR is newer than the local one: bump the local `seq` instead of writing. */
  | "registered-newer"
  /** The registered record names another node id / peer id. */
  | "node-mismatch"
  /** The registered record is not a valid ENR, multiaddr or enode URL. */
  | "record-unparsable"
  /** The local ENR text is longer than the registry accepts (cannot be written). */
  | "record-too-long";

export interface RecordSyncResult {
  /** True when the registry's record should be replaced by `record`. */
  needsUpdate: boolean;
  reason: RecordSyncReason;
  /** The record to write: the local ENR text. */
  record: string;
  nodeId: string;
  localSeq: bigint;
  localEndpoint: Endpoint;
  /** Sequence number of the registered ENR (absent for a multiaddr/enode record). */
  registeredSeq?: bigint;
  registeredEndpoint?: Endpoint;
  /** True when `update` was called and resolved. */
  updated: boolean;
}

export interface RecordSyncOptions {
  /** Called with the local ENR text when an update is needed, e.g. `registry.updateNodeRecord(nodeId, record)`. */
  update?: (record: string) => unknown;
}

/**
 * Compares the node's current ENR with the record registered on chain (ENR text, a multiaddr or
 * an enode URL; pass `undefined`, `""` or a node view with an empty record when not registered)
 * and says whether the on-chain record must be updated; calls `update(record)` when it must.
 * Endpoints are compared with the same rule the verifier uses (`sameEndpoint` in enr.ts).
 * Throws INVALID_ENR only when `enrText`, the local ENR, is invalid.
 */
export async function recordSync(
  enrText: string,
  registeredRecord: string | { record: string } | undefined | null,
  options: RecordSyncOptions = {},
): Promise<RecordSyncResult> {
  const local = parseEnr(enrText);
  const localEndpoint = endpointOf(local) ?? {};
  const registered = (typeof registeredRecord === "string" ? registeredRecord : (registeredRecord?.record ?? "")).trim();
  const base = { record: local.enr, nodeId: local.nodeId, localSeq: local.seq, localEndpoint, updated: false };

  const decide = async (needsUpdate: boolean, reason: RecordSyncReason, extra: Partial<RecordSyncResult> = {}) => {
    const result: RecordSyncResult = { ...base, ...extra, needsUpdate, reason };
    if (needsUpdate && options.update) {
      await options.update(local.enr);
      result.updated = true;
    }
    return result;
  };

  if (new TextEncoder().encode(local.enr).length > MAX_REGISTRY_RECORD_LENGTH) return decide(false, "record-too-long");
  if (registered === "") return decide(false, "not-registered");

  if (registered.startsWith("enr:")) {
    let reg: ParsedEnr;
    try {
      reg = parseEnr(registered);
    } catch {
      return decide(true, "record-unparsable");
    }
    const extra = { registeredSeq: reg.seq, registeredEndpoint: endpointOf(reg) ?? {} };
    if (reg.nodeId !== local.nodeId) return decide(true, "node-mismatch", extra);
    if (local.seq > reg.seq) return decide(true, "newer-seq", extra);
    if (local.seq < reg.seq) return decide(false, "registered-newer", extra);
    if (!sameEndpoint(localEndpoint, extra.registeredEndpoint)) return decide(true, "endpoint-differs", extra);
    return decide(false, "in-sync", extra);
  }

  const registeredEndpoint = endpointOf(registered);
  if (registeredEndpoint === undefined) return decide(true, "record-unparsable");
  const extra = { registeredEndpoint };
  if (
    (registeredEndpoint.nodeId !== undefined && registeredEndpoint.nodeId !== local.nodeId) ||
    (registeredEndpoint.peerId !== undefined && registeredEndpoint.peerId !== local.peerId)
  ) {
    return decide(true, "node-mismatch", extra);
  }
  if (!sameEndpoint(localEndpoint, registeredEndpoint)) return decide(true, "endpoint-differs", extra);
  return decide(false, "in-sync", extra);
}
