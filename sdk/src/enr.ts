import { decodeEnrText, ip4Text, ip6Text, peerIdFromPublicKey, portNumber, type DecodedEnr } from "./enrCodec.js";
import { MailserverSdkError } from "./errors.js";
import { nodeIdFromPublicKey, type NodeId } from "./nodeKey.js";

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
  /** Raw key/values, e.g. custom keys used to tag node roles. */
  kvs: ReadonlyMap<string, Uint8Array>;
}

/** Anything that can turn itself back into ENR text (e.g. an `ENR` of @chainsafe/enr). */
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

/**
 * Decode an ENR (text or an `ENR` object), checking its signature. Anything malformed or badly
 * signed is INVALID_ENR, never a crash. Objects are re-decoded from their encoding so that a
 * hand-built record is held to the same signature check.
 */
export function parseEnr(input: string | EnrLike): ParsedEnr {
  let text: string;
  try {
    text = typeof input === "string" ? input.trim() : isEnrLike(input) ? input.encodeTxt() : "";
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
  const parsed: ParsedEnr = {
    enr: text,
    nodeId: nodeIdFromPublicKey(record.publicKey),
    publicKey: record.publicKey,
    peerId: peerIdFromPublicKey(record.publicKey),
    seq: record.seq,
    kvs: record.kvs,
  };
  const kv = record.kvs;
  const optional = {
    ip: ip4Text(kv.get("ip")),
    tcp: portNumber(kv.get("tcp")),
    udp: portNumber(kv.get("udp")),
    ip6: ip6Text(kv.get("ip6")),
    tcp6: portNumber(kv.get("tcp6")),
    udp6: portNumber(kv.get("udp6")),
  };
  for (const [key, value] of Object.entries(optional)) {
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

/** Where a node listens and who it is, as far as a record says. */
export interface Endpoint {
  ip4?: string;
  ip6?: string;
  dns?: string;
  tcp?: number;
  udp?: number;
  nodeId?: NodeId;
  peerId?: string;
}

function fromParsed(parsed: ParsedEnr): Endpoint {
  const endpoint: Endpoint = { nodeId: parsed.nodeId, peerId: parsed.peerId };
  if (parsed.ip !== undefined) endpoint.ip4 = parsed.ip;
  if (parsed.ip6 !== undefined) endpoint.ip6 = parsed.ip6;
  const tcp = parsed.tcp ?? parsed.tcp6;
  const udp = parsed.udp ?? parsed.udp6;
  if (tcp !== undefined) endpoint.tcp = tcp;
  if (udp !== undefined) endpoint.udp = udp;
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
        endpoint.dns = value;
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
  return endpoint.ip4 ?? endpoint.ip6 ?? endpoint.dns ?? endpoint.peerId ? endpoint : undefined;
}

function fromEnode(text: string): Endpoint | undefined {
  const match = /^enode:\/\/([0-9a-fA-F]{128})@([^:?]+|\[[^\]]+\]):(\d{1,5})(?:\?discport=(\d{1,5}))?$/.exec(text);
  if (match === null) return undefined;
  const [, key, host, tcp, discport] = match as unknown as [string, string, string, string, string | undefined];
  const endpoint: Endpoint = { nodeId: nodeIdFromPublicKey(`0x${key}`) };
  if (host.startsWith("[")) endpoint.ip6 = host.slice(1, -1);
  else if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) endpoint.ip4 = host;
  else endpoint.dns = host;
  endpoint.tcp = port(tcp);
  endpoint.udp = port(discport ?? tcp);
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

/**
 * Whether two endpoints can be the same node: nothing present in both disagrees (identity,
 * ports), and if both name IP addresses they share one. Fields only one side has are not held
 * against it (a multiaddr usually names one transport, an ENR several).
 */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  const differs = <T>(x: T | undefined, y: T | undefined) => x !== undefined && y !== undefined && x !== y;
  if (differs(a.nodeId, b.nodeId) || differs(a.peerId, b.peerId)) return false;
  if (differs(a.tcp, b.tcp) || differs(a.udp, b.udp)) return false;
  if (differs(a.dns, b.dns)) return false;
  const ipsA = [a.ip4, a.ip6].filter((ip) => ip !== undefined);
  const ipsB = [b.ip4, b.ip6].filter((ip) => ip !== undefined);
  if (ipsA.length > 0 && ipsB.length > 0 && !ipsA.some((ip) => ipsB.includes(ip))) return false;
  return true;
}
