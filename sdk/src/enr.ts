import { decodeEnrText, ip4Text, ip6Text, MAX_ENR_BYTES, peerIdFromPublicKey, portNumber, type DecodedEnr } from "./enrCodec.js";
import { MailserverSdkError } from "./errors.js";
import { multiaddrText } from "./multiaddr.js";
import { nodeIdFromPublicKey, type NodeId } from "./nodeKey.js";
import { decodeKinds, SERVICE_KIND_ENR_KEY } from "./serviceKinds.js";
import { capabilityKinds, decodeRsv, decodeWaku2, type RelayShards, type WakuCapability } from "./waku/enrFields.js";

/** Longest encoded ENR (EIP-778). */
export const MAX_ENR_SIZE = MAX_ENR_BYTES;

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

/** The `multiaddrs` value: (u16 big-endian length, binary multiaddr) repeated. */
function decodeMultiaddrs(value: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0; at < value.length; ) {
    if (at + 2 > value.length) throw new Error("truncated multiaddrs");
    const length = (value[at]! << 8) | value[at + 1]!;
    const bytes = value.subarray(at + 2, at + 2 + length);
    if (bytes.length !== length) throw new Error("truncated multiaddrs");
    out.push(multiaddrText(bytes));
    at += 2 + length;
  }
  return out;
}

/** The `rs` value: u16 cluster, u8 count, count × u16 shard. */
function decodeRs(value: Uint8Array): RelayShards {
  if (value.length < 3 || value.length !== 3 + 2 * value[2]!) throw new Error("bad rs length");
  const shards: number[] = [];
  for (let i = 0; i < value[2]!; i++) shards.push((value[3 + 2 * i]! << 8) | value[4 + 2 * i]!);
  return { cluster: (value[0]! << 8) | value[1]!, shards };
}

/** A location key (`ip`, `tcp`…): undefined when absent, malformed (and ignored) when it does not decode. */
function located<T>(malformed: string[], kvs: ReadonlyMap<string, Uint8Array>, key: string, read: (v: Uint8Array) => T | undefined): T | undefined {
  const value = kvs.get(key);
  if (value === undefined) return undefined;
  const decoded = read(value);
  if (decoded === undefined) malformed.push(key);
  return decoded;
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

  let record: DecodedEnr;
  try {
    record = decodeEnrText(text);
  } catch (error) {
    throw invalidEnr(`invalid ENR: ${error instanceof Error ? error.message : String(error)}`, input, error);
  }
  const kvs = record.kvs;
  const publicKey = record.publicKey;
  const nodeId = nodeIdFromPublicKey(publicKey);
  const peerId = peerIdFromPublicKey(publicKey);
  const malformed: string[] = [];
  const waku2 = kvs.get("waku2");
  const capabilities = waku2 !== undefined && waku2.length === 1 ? decodeWaku2(waku2[0]!) : [];
  if (waku2 !== undefined && waku2.length !== 1) malformed.push("waku2");
  const rawMultiaddrs = kvs.get("multiaddrs");
  const multiaddrs = (rawMultiaddrs === undefined ? undefined : optional(malformed, "multiaddrs", () => decodeMultiaddrs(rawMultiaddrs))) ?? [];
  let shards: ParsedEnr["shards"];
  const rs = kvs.get("rs");
  if (rs !== undefined) {
    const decoded = optional(malformed, "rs", () => decodeRs(rs));
    if (decoded !== undefined) shards = { ...decoded, key: "rs" };
  }
  const rsv = kvs.get("rsv");
  if (rsv !== undefined) {
    const decoded = decodeRsv(rsv);
    if (decoded === undefined) malformed.push("rsv");
    else shards ??= { ...decoded, key: "rsv" };
  }
  const kinds = capabilityKinds(capabilities);
  for (const k of decodeKinds(kvs.get(SERVICE_KIND_ENR_KEY))) if (!kinds.includes(k)) kinds.push(k);
  const parsed: ParsedEnr = { enr: text, nodeId, publicKey, peerId, seq: record.seq, capabilities, multiaddrs, kinds, malformed, kvs };
  if (waku2 !== undefined && waku2.length === 1) parsed.waku2 = waku2[0]!;
  if (shards !== undefined) parsed.shards = shards;
  const location = {
    ip: located(malformed, kvs, "ip", ip4Text),
    tcp: located(malformed, kvs, "tcp", portNumber),
    udp: located(malformed, kvs, "udp", portNumber),
    ip6: located(malformed, kvs, "ip6", ip6Text),
    tcp6: located(malformed, kvs, "tcp6", portNumber),
    udp6: located(malformed, kvs, "udp6", portNumber),
  };
  for (const [key, value] of Object.entries(location)) {
    if (value !== undefined) (parsed as unknown as Record<string, unknown>)[key] = value;
  }
  return parsed;
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
