// Server side: build the node's signed ENR and keep the registry's record in step with it.
import { SignableENR, MAX_RECORD_SIZE } from "@chainsafe/enr";
import { multiaddr } from "@multiformats/multiaddr";
import { type Endpoint, endpointOf, parseEnr, type ParsedEnr, sameEndpoint } from "../enr.js";
import { MAILSERVER_KIND_NAME, SERVICE_KIND_ENR_KEY, encodeKinds } from "../serviceKinds.js";
import { encodeRs, encodeWaku2, kindCapability, type RelayShards, type WakuCapability } from "../waku.js";
import { enrNodeId, invalidArgument, privateKeyBytes } from "./util.js";

/** Longest record the registry accepts (`RecordTooLong`), in bytes of the record string. */
export const MAX_REGISTRY_RECORD_LENGTH = 300;

/**
 * What to register for a node: its ENR text when it fits the registry's record limit, else (a
 * fleet node's ENR is 360–400 characters) its first dialable address with its peer id, e.g.
 * `/dns4/store-01.example.org/tcp/30303/p2p/16Uiu2…`. Discovery brings the ENR itself; the
 * verifier compares it with this address (`sameEndpoint`). INVALID_ENR for an invalid ENR,
 * INVALID_ARGUMENT when the ENR names no address.
 */
export function registryRecordFor(enr: string | ParsedEnr): { record: string; form: "enr" | "multiaddr" } {
  const parsed = typeof enr === "string" ? parseEnr(enr) : enr;
  if (new TextEncoder().encode(parsed.enr).length <= MAX_REGISTRY_RECORD_LENGTH) return { record: parsed.enr, form: "enr" };
  const location =
    parsed.multiaddrs[0] ??
    (parsed.ip !== undefined && parsed.tcp !== undefined ? `/ip4/${parsed.ip}/tcp/${parsed.tcp}` : undefined) ??
    (parsed.ip6 !== undefined && (parsed.tcp6 ?? parsed.tcp) !== undefined ? `/ip6/${parsed.ip6}/tcp/${parsed.tcp6 ?? parsed.tcp}` : undefined);
  if (location === undefined) throw invalidArgument("the ENR is too long for the registry and names no TCP address to register instead", { length: parsed.enr.length });
  const record = `${location}/p2p/${parsed.peerId}`;
  if (record.length > MAX_REGISTRY_RECORD_LENGTH) throw invalidArgument("the node's address is too long for the registry", { record });
  return { record, form: "multiaddr" };
}

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
  /** The signable record (holds the private key: keep it server side), for `Discv5.create`. */
  signableEnr: SignableENR;
}

/** The `multiaddrs` value: each address as (u16 big-endian length, binary multiaddr). */
function encodeMultiaddrs(addresses: readonly string[]): Uint8Array {
  const parts = addresses.map((text) => {
    let bytes: Uint8Array;
    try {
      const m = multiaddr(text);
      if (m.getPeerId() !== null) throw new Error("has /p2p/");
      bytes = m.bytes;
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

  // The setters of SignableENR bump the sequence number, so assemble the key/values on a scratch
  // record and sign them once with the requested sequence number.
  const scratch = SignableENR.createV4(key);
  const v6 = options.ip.includes(":");
  if (v6) {
    scratch.ip6 = options.ip;
    if (options.udp !== undefined) scratch.udp6 = options.udp;
    if (options.tcp !== undefined) scratch.tcp6 = options.tcp;
  } else {
    scratch.ip = options.ip;
    if (options.udp !== undefined) scratch.udp = options.udp;
    if (options.tcp !== undefined) scratch.tcp = options.tcp;
  }
  if (capabilities.size > 0) scratch.set("waku2", Uint8Array.of(encodeWaku2([...capabilities])));
  if (options.multiaddrs !== undefined && options.multiaddrs.length > 0) scratch.set("multiaddrs", encodeMultiaddrs(options.multiaddrs));
  if (options.shards !== undefined) scratch.set("rs", encodeRs(options.shards));
  if (srvkinds.length > 0) scratch.set(SERVICE_KIND_ENR_KEY, encodeKinds(srvkinds));
  const seq = options.seq ?? 1n;
  if (seq < 1n) throw invalidArgument("ENR sequence number must be >= 1", { seq });
  const signableEnr = new SignableENR(scratch.kvs as ReadonlyMap<string, Uint8Array>, seq, key);
  const encoded = signableEnr.encode();
  if (encoded.length > MAX_RECORD_SIZE) throw invalidArgument(`ENR is ${encoded.length} bytes, more than ${MAX_RECORD_SIZE}`, { size: encoded.length });
  const enr = signableEnr.encodeTxt();
  const parsed = parseEnr(enr);
  return {
    enr,
    nodeId: enrNodeId(signableEnr),
    seq,
    kinds: parsed.kinds,
    capabilities: parsed.capabilities,
    parsed,
    signableEnr,
  };
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
