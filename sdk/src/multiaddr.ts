// Binary multiaddrs (as in a Waku ENR's `multiaddrs` key) to text and back, for the protocols
// node records use. Small on purpose: @multiformats/multiaddr would bring libp2p's stack into
// the isomorphic root. An unknown protocol is an error (the caller marks the key malformed).
import { encodeBase58, decodeBase58, getBytes, toBeArray, toUtf8Bytes, toUtf8String } from "ethers";
import { ip4Bytes, ip4Text, ip6Bytes, ip6Text } from "./enrCodec.js";

type Value = "none" | "ip4" | "ip6" | "port" | "text" | "p2p" | "onion" | "onion3";

// name -> [multicodec code, value]
const PROTOCOLS: Record<string, [number, Value]> = {
  ip4: [4, "ip4"],
  tcp: [6, "port"],
  ip6: [41, "ip6"],
  dns: [53, "text"],
  dns4: [54, "text"],
  dns6: [55, "text"],
  dnsaddr: [56, "text"],
  udp: [273, "port"],
  "webrtc-direct": [280, "none"],
  webrtc: [281, "none"],
  "p2p-circuit": [290, "none"],
  p2p: [421, "p2p"],
  https: [443, "none"],
  onion: [444, "onion"],
  onion3: [445, "onion3"],
  tls: [448, "none"],
  sni: [449, "text"],
  noise: [454, "none"],
  quic: [460, "none"],
  "quic-v1": [461, "none"],
  webtransport: [465, "none"],
  ws: [477, "none"],
  wss: [478, "none"],
  http: [480, "none"],
};
const BY_CODE = new Map(Object.entries(PROTOCOLS).map(([name, [code, value]]) => [code, [name, value] as const]));

function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let shift = 0, i = at; i < bytes.length && shift < 35; shift += 7, i++) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    if ((bytes[i]! & 0x80) === 0) return [value, i + 1];
  }
  throw new Error("bad varint");
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** `/dns4/host/tcp/443/wss` from its binary form. Throws on anything it does not know. */
export function multiaddrText(bytes: Uint8Array): string {
  let text = "";
  for (let at = 0; at < bytes.length; ) {
    const [code, next] = readVarint(bytes, at);
    at = next;
    const protocol = BY_CODE.get(code);
    if (protocol === undefined) throw new Error(`unknown multiaddr protocol ${code}`);
    const [name, kind] = protocol;
    text += `/${name}`;
    if (kind === "none") continue;
    let value: Uint8Array;
    if (kind === "onion" || kind === "onion3") {
      // Tor: the address (10 or 35 bytes) in lowercase base32, then ":" and a u16 port.
      const size = kind === "onion" ? 12 : 37;
      value = bytes.subarray(at, at + size);
      if (value.length !== size) throw new Error(`truncated ${name}`);
      at += size;
      text += `/${base32(value.subarray(0, size - 2))}:${(value[size - 2]! << 8) | value[size - 1]!}`;
      continue;
    }
    if (kind === "ip4" || kind === "ip6" || kind === "port") {
      const size = kind === "ip4" ? 4 : kind === "ip6" ? 16 : 2;
      value = bytes.subarray(at, at + size);
      if (value.length !== size) throw new Error(`truncated ${name}`);
      at += size;
    } else {
      const [length, start] = readVarint(bytes, at);
      value = bytes.subarray(start, start + length);
      if (value.length !== length) throw new Error(`truncated ${name}`);
      at = start + length;
    }
    text += `/${kind === "ip4" ? ip4Text(value) : kind === "ip6" ? ip6Text(value) : kind === "port" ? (value[0]! << 8) | value[1]! : kind === "p2p" ? encodeBase58(value) : toUtf8String(value)}`;
  }
  if (text === "") throw new Error("empty multiaddr");
  return text;
}

/** The binary form of a text multiaddr. Throws on an unknown protocol or a bad value. */
export function multiaddrBytes(text: string): Uint8Array {
  const parts = text.split("/");
  if (parts[0] !== "" || parts.length < 2) throw new Error("a multiaddr starts with /");
  const out: number[] = [];
  for (let i = 1; i < parts.length; i++) {
    const name = parts[i]!;
    const protocol = PROTOCOLS[name];
    if (protocol === undefined) throw new Error(`unknown multiaddr protocol ${name}`);
    const [code, kind] = protocol;
    out.push(...varint(code));
    if (kind === "none") continue;
    const value = parts[++i];
    if (value === undefined || value === "") throw new Error(`${name} needs a value`);
    if (kind === "onion" || kind === "onion3") {
      throw new Error(`writing ${name} addresses is not supported`);
    } else if (kind === "ip4" || kind === "ip6") {
      const ip = kind === "ip4" ? ip4Bytes(value) : ip6Bytes(value);
      if (ip === undefined) throw new Error(`bad ${name} address ${value}`);
      out.push(...ip);
    } else if (kind === "port") {
      if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new Error(`bad ${name} port ${value}`);
      out.push(Number(value) >> 8, Number(value) & 0xff);
    } else {
      const bytes = kind === "p2p" ? withLeadingZeros(value) : toUtf8Bytes(value);
      out.push(...varint(bytes.length), ...bytes);
    }
  }
  return Uint8Array.from(out);
}

/** RFC 4648 base32, lowercase, no padding (how onion addresses are written). */
function base32(bytes: Uint8Array): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** base58btc to bytes, keeping leading zero bytes ("1"s). */
function withLeadingZeros(text: string): Uint8Array {
  const zeros = /^1*/.exec(text)![0].length;
  const rest = text.slice(zeros);
  const body = rest === "" ? new Uint8Array(0) : getBytes(toBeArray(decodeBase58(rest)));
  return Uint8Array.from([...new Array<number>(zeros).fill(0), ...body]);
}
