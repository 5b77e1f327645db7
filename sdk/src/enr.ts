import { ENR as WakuEnr } from "@waku/enr";
import { decodeRlp, encodeRlp, getBytes, hexlify, type RlpStructuredData } from "ethers";
import { MailserverSdkError } from "./errors.js";
import { nodeIdFromPublicKey, type NodeId } from "./nodeKey.js";
import { decodeKinds, SERVICE_KIND_ENR_KEY } from "./serviceKinds.js";
import { capabilityKinds, decodeRsv, decodeWaku2, type RelayShards, type WakuCapability } from "./waku.js";

/** Longest encoded ENR (EIP-778). */
export const MAX_ENR_SIZE = 300;

/** A decoded, signature-checked ENR. */
export interface ParsedEnr {
  /** Text form, `enr:…`. */
  enr: string;
  nodeId: NodeId;
  /** Compressed secp256k1 public key (33 bytes hex), as the ENR carries it. */
  publicKey: string;
  /** libp2p peer id of the same key: what a server sees as the connection's peer. */
  peerId: string;
  seq: bigint;
  ip?: string;
  tcp?: number;
  udp?: number;
  ip6?: string;
  tcp6?: number;
  udp6?: number;
  /** Waku capabilities from the `waku2` key (empty when the key is absent). */
  capabilities: WakuCapability[];
  /** The raw `waku2` byte, when present. */
  waku2?: number;
  /** The `multiaddrs` key: where the node is dialable (e.g. `/dns4/host/tcp/443/wss`), without `/p2p/`. */
  multiaddrs: string[];
  /** Relay cluster and shards from `rs` (or, failing that, `rsv`), with which key said so. */
  shards?: RelayShards & { key: "rs" | "rsv" };
  /** Kind ids the node announces: `waku2` capabilities mapped by CAPABILITY_KINDS, then `srvkind`. */
  kinds: string[];
  /** Keys present but malformed (the record is still valid and signed; those keys are ignored). */
  malformed: string[];
  /** Raw key/values, e.g. custom keys used to tag node roles. */
  kvs: ReadonlyMap<string, Uint8Array>;
}

/** Anything that can turn itself back into ENR text (an `ENR` of any @chainsafe/enr copy). */
export interface EnrLike {
  encodeTxt(): string;
}

function isEnrLike(value: unknown): value is EnrLike {
  return typeof value === "object" && value !== null && typeof (value as EnrLike).encodeTxt === "function";
}

function invalidEnr(message: string, input: unknown, cause?: unknown): MailserverSdkError {
  return new MailserverSdkError("INVALID_ENR", message, {
    details: { enr: typeof input === "string" ? input : undefined },
    cause,
  });
}

function base64UrlBytes(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * RLP-decodes the record and has @waku/enr build it. @waku/enr's own decoder is async and
 * @chainsafe/enr 5.0.0 throws on a record with sequence number 0 (an empty byte string, which
 * is what a fresh nwaku or js-waku node publishes), so the list is taken apart here and the
 * record, its keys and its signature check are @waku/enr's.
 */
function decodeRecord(bytes: Uint8Array): WakuEnr {
  if (bytes.length > MAX_ENR_SIZE) throw new Error(`record is ${bytes.length} bytes, more than ${MAX_ENR_SIZE}`);
  let items: RlpStructuredData;
  try {
    items = decodeRlp(bytes);
  } catch {
    throw new Error("record is not valid RLP");
  }
  if (!Array.isArray(items) || items.length < 2 || items.length % 2 !== 0) throw new Error("record must be an RLP list of signature, seq and key/value pairs");
  const [signature, seq, ...content] = items as RlpStructuredData[];
  if (typeof signature !== "string" || typeof seq !== "string") throw new Error("signature and seq must be byte strings");
  if (getBytes(seq).length > 8) throw new Error("seq is larger than 64 bits");
  const kvs: Record<string, Uint8Array> = {};
  for (let i = 0; i < content.length; i += 2) {
    const key = content[i];
    const value = content[i + 1]!;
    if (typeof key !== "string") throw new Error("a key must be a byte string");
    const name = new TextDecoder("utf-8", { fatal: true }).decode(getBytes(key));
    if (name in kvs) throw new Error(`duplicate key ${name}`);
    // A list value (e.g. `eth` in Ethereum records) is kept as its RLP encoding.
    kvs[name] = getBytes(typeof value === "string" ? value : encodeRlp(value));
  }
  const record = WakuEnr.create(kvs, seq === "0x" ? 0n : BigInt(seq), getBytes(signature));
  if (!record.verify(getBytes(encodeRlp([seq, ...content])), getBytes(signature))) throw new Error("bad signature");
  return record;
}

function optional<T>(malformed: string[], key: string, read: () => T | undefined): T | undefined {
  try {
    return read();
  } catch {
    malformed.push(key);
    return undefined;
  }
}

/**
 * Decode an ENR (text or an `ENR` object), checking its signature. Anything malformed or badly
 * signed is INVALID_ENR, never a crash; a malformed optional key (`multiaddrs`, `rs`, …) is listed
 * in `malformed` and ignored. Objects are re-decoded from their encoding so that a hand-built
 * record is held to the same signature check.
 */
export function parseEnr(input: string | EnrLike): ParsedEnr {
  let text: string;
  try {
    const encoded: unknown = typeof input === "string" ? input.trim() : isEnrLike(input) ? input.encodeTxt() : "";
    text = typeof encoded === "string" ? encoded.trim() : "";
  } catch (error) {
    throw invalidEnr("cannot encode ENR", input, error);
  }
  if (!text.startsWith("enr:")) throw invalidEnr("an ENR must be text starting with 'enr:'", input);

  let record: WakuEnr;
  try {
    record = decodeRecord(base64UrlBytes(text.slice(4)));
  } catch (error) {
    throw invalidEnr(`invalid ENR: ${error instanceof Error ? error.message : String(error)}`, input, error);
  }
  try {
    const key = record.publicKey;
    if (key === undefined) throw new Error("no secp256k1 key");
    const publicKey = hexlify(key);
    const nodeId = nodeIdFromPublicKey(publicKey);
    const peerId = record.peerId?.toString();
    if (peerId === undefined) throw new Error("no libp2p peer id for the key");
    const malformed: string[] = [];
    const waku2 = record.get("waku2");
    const capabilities = waku2 !== undefined && waku2.length === 1 ? decodeWaku2(waku2[0]!) : [];
    if (waku2 !== undefined && waku2.length !== 1) malformed.push("waku2");
    const multiaddrs = optional(malformed, "multiaddrs", () => record.multiaddrs?.map((m) => m.toString())) ?? [];
    let shards: ParsedEnr["shards"];
    const rs = record.get("rs");
    if (rs !== undefined) {
      const decoded = optional(malformed, "rs", () => {
        if (rs.length < 3 || rs.length !== 3 + 2 * rs[2]!) throw new Error("bad rs length");
        return record.rs;
      });
      if (decoded !== undefined) shards = { cluster: decoded.clusterId, shards: [...decoded.shards], key: "rs" };
    }
    const rsv = record.get("rsv");
    if (rsv !== undefined) {
      const decoded = decodeRsv(rsv);
      if (decoded === undefined) malformed.push("rsv");
      else shards ??= { ...decoded, key: "rsv" };
    }
    const kinds = capabilityKinds(capabilities);
    for (const k of decodeKinds(record.get(SERVICE_KIND_ENR_KEY))) if (!kinds.includes(k)) kinds.push(k);
    const parsed: ParsedEnr = { enr: text, nodeId, publicKey, peerId, seq: record.seq, capabilities, multiaddrs, kinds, malformed, kvs: record };
    if (waku2 !== undefined && waku2.length === 1) parsed.waku2 = waku2[0]!;
    if (shards !== undefined) parsed.shards = shards;
    const location = {
      ip: optional(malformed, "ip", () => record.ip),
      tcp: optional(malformed, "tcp", () => record.tcp),
      udp: optional(malformed, "udp", () => record.udp),
      ip6: optional(malformed, "ip6", () => record.ip6),
      tcp6: optional(malformed, "tcp6", () => record.tcp6),
      udp6: optional(malformed, "udp6", () => record.udp6),
    };
    for (const [key, value] of Object.entries(location)) {
      if (value !== undefined) (parsed as unknown as Record<string, unknown>)[key] = value;
    }
    return parsed;
  } catch (error) {
    throw invalidEnr(`invalid ENR: ${error instanceof Error ? error.message : String(error)}`, input, error);
  }
}

/** Whether a text looks like an ENR and decodes with a valid signature. */
export function isValidEnr(text: string): boolean {
  try {
    parseEnr(text);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Endpoints: comparing what discovery found with what the provider registered.
// ---------------------------------------------------------------------------------------------

/** One place a node listens: a host (IP address or DNS name) and its ports. */
export interface EndpointAddress {
  host: string;
  tcp?: number;
  udp?: number;
}

/** Where a node listens and who it is, as far as a record says. */
export interface Endpoint {
  ip4?: string;
  ip6?: string;
  dns?: string;
  tcp?: number;
  udp?: number;
  nodeId?: NodeId;
  peerId?: string;
  /**
   * Every address the record names: an ENR's `ip`/`ip6` with their ports and each of its
   * `multiaddrs` (where Waku nodes put their DNS names and WebSocket ports); a multiaddr or
   * enode URL names one.
   */
  addresses?: EndpointAddress[];
}

function fromParsed(parsed: ParsedEnr): Endpoint {
  const endpoint: Endpoint = { nodeId: parsed.nodeId, peerId: parsed.peerId };
  const addresses: EndpointAddress[] = [];
  const add = (host: string, tcp: number | undefined, udp: number | undefined) => {
    const address: EndpointAddress = { host };
    if (tcp !== undefined) address.tcp = tcp;
    if (udp !== undefined) address.udp = udp;
    addresses.push(address);
  };
  if (parsed.ip !== undefined) {
    endpoint.ip4 = parsed.ip;
    add(parsed.ip, parsed.tcp, parsed.udp);
  }
  if (parsed.ip6 !== undefined) {
    endpoint.ip6 = parsed.ip6;
    add(parsed.ip6, parsed.tcp6 ?? parsed.tcp, parsed.udp6 ?? parsed.udp);
  }
  for (const text of parsed.multiaddrs) {
    const m = fromMultiaddr(text);
    if (m?.addresses !== undefined) addresses.push(...m.addresses);
    if (m?.dns !== undefined) endpoint.dns ??= m.dns;
  }
  const tcp = parsed.tcp ?? parsed.tcp6;
  const udp = parsed.udp ?? parsed.udp6;
  if (tcp !== undefined) endpoint.tcp = tcp;
  if (udp !== undefined) endpoint.udp = udp;
  if (addresses.length > 0) endpoint.addresses = addresses;
  return endpoint;
}

function port(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= 65535 ? value : undefined;
}

function fromMultiaddr(text: string): Endpoint | undefined {
  const parts = text.split("/").slice(1);
  const endpoint: Endpoint = {};
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i];
    const value = parts[i + 1];
    switch (name) {
      case "ip4":
        endpoint.ip4 = value;
        i++;
        break;
      case "ip6":
        endpoint.ip6 = value;
        i++;
        break;
      case "dns":
      case "dns4":
      case "dns6":
      case "dnsaddr":
        endpoint.dns = value?.toLowerCase();
        i++;
        break;
      case "tcp":
        endpoint.tcp = port(value);
        if (endpoint.tcp === undefined) return undefined;
        i++;
        break;
      case "udp":
        endpoint.udp = port(value);
        if (endpoint.udp === undefined) return undefined;
        i++;
        break;
      case "p2p":
      case "ipfs":
        if (value === undefined || value === "") return undefined;
        endpoint.peerId = value;
        i++;
        break;
      default:
        // Protocols without a value that matter little here (ws, wss, quic, quic-v1, tls…).
        break;
    }
  }
  const host = endpoint.ip4 ?? endpoint.ip6 ?? endpoint.dns;
  if (host !== undefined) {
    const address: EndpointAddress = { host };
    if (endpoint.tcp !== undefined) address.tcp = endpoint.tcp;
    if (endpoint.udp !== undefined) address.udp = endpoint.udp;
    endpoint.addresses = [address];
  }
  return host ?? endpoint.peerId ? endpoint : undefined;
}

function fromEnode(text: string): Endpoint | undefined {
  const match = /^enode:\/\/([0-9a-fA-F]{128})@([^:?]+|\[[^\]]+\]):(\d{1,5})(?:\?discport=(\d{1,5}))?$/.exec(text);
  if (match === null) return undefined;
  const [, key, host, tcp, discport] = match as unknown as [string, string, string, string, string | undefined];
  const endpoint: Endpoint = { nodeId: nodeIdFromPublicKey(`0x${key}`) };
  if (host.startsWith("[")) endpoint.ip6 = host.slice(1, -1);
  else if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) endpoint.ip4 = host;
  else endpoint.dns = host.toLowerCase();
  endpoint.tcp = port(tcp);
  endpoint.udp = port(discport ?? tcp);
  const address: EndpointAddress = { host: endpoint.ip4 ?? endpoint.ip6 ?? endpoint.dns! };
  if (endpoint.tcp !== undefined) address.tcp = endpoint.tcp;
  if (endpoint.udp !== undefined) address.udp = endpoint.udp;
  endpoint.addresses = [address];
  return endpoint;
}

/**
 * The endpoint a record describes: an ENR (text or parsed), a multiaddr or an enode URL.
 * Undefined when the record is none of these or is invalid.
 */
export function endpointOf(record: string | ParsedEnr): Endpoint | undefined {
  if (typeof record !== "string") return fromParsed(record);
  const text = record.trim();
  try {
    if (text.startsWith("enr:")) return fromParsed(parseEnr(text));
    if (text.startsWith("/")) return fromMultiaddr(text);
    if (text.startsWith("enode://")) return fromEnode(text);
  } catch {
    return undefined;
  }
  return undefined;
}

function sameAddress(a: EndpointAddress, b: EndpointAddress): boolean {
  if (a.host.toLowerCase() !== b.host.toLowerCase()) return false;
  if (a.tcp !== undefined && b.tcp !== undefined && a.tcp !== b.tcp) return false;
  if (a.udp !== undefined && b.udp !== undefined && a.udp !== b.udp) return false;
  return true;
}

/**
 * Whether two endpoints can be the same node: their identities (node id, peer id) do not
 * disagree, and when both name addresses, one address of each names the same host with no
 * conflicting port. An ENR names several addresses (`ip`, `ip6`, each `multiaddrs` entry: a Waku
 * node's DNS names and WebSocket ports), a multiaddr one; fields only one side has are not held
 * against it.
 */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  const differs = <T>(x: T | undefined, y: T | undefined) => x !== undefined && y !== undefined && x !== y;
  if (differs(a.nodeId, b.nodeId) || differs(a.peerId, b.peerId)) return false;
  const addressesA = a.addresses ?? legacyAddresses(a);
  const addressesB = b.addresses ?? legacyAddresses(b);
  if (addressesA.length === 0 || addressesB.length === 0) return true;
  return addressesA.some((x) => addressesB.some((y) => sameAddress(x, y)));
}

/** Addresses of an endpoint built by hand without `addresses`. */
function legacyAddresses(e: Endpoint): EndpointAddress[] {
  const out: EndpointAddress[] = [];
  for (const host of [e.ip4, e.ip6, e.dns]) {
    if (host === undefined) continue;
    const address: EndpointAddress = { host };
    if (e.tcp !== undefined) address.tcp = e.tcp;
    if (e.udp !== undefined) address.udp = e.udp;
    out.push(address);
  }
  return out;
}
