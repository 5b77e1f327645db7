// ENR (EIP-778) "v4" records encoded, decoded and signature-checked with ethers alone. The SDK's root
// uses this instead of @chainsafe/enr, which brings libp2p's crypto, peer ids and multiaddrs
// along (about 200 KiB minified in a browser bundle) for what is an RLP list and one signature.
import {
  concat,
  decodeBase64,
  decodeRlp,
  encodeBase58,
  encodeBase64,
  encodeRlp,
  getBytes,
  hexlify,
  keccak256,
  Signature,
  SigningKey,
  toBeHex,
  toUtf8Bytes,
  toUtf8String,
  type RlpStructuredData,
} from "ethers";

/** Largest encoded record EIP-778 allows, in bytes. */
export const MAX_ENR_BYTES = 300;

// secp256k1 group order; a signature's s must be in the lower half (as libsecp256k1 and
// go-ethereum require), so that a record has exactly one valid signature.
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** A record as decoded: every key with its raw value, the sequence number, the signer's key. */
export interface DecodedEnr {
  seq: bigint;
  /** Values as bytes; a value that is itself an RLP list (e.g. `eth`) is kept as its RLP encoding. */
  kvs: Map<string, Uint8Array>;
  /** 64 bytes, r ‖ s. */
  signature: Uint8Array;
  /** Compressed secp256k1 public key (33 bytes, hex), the `secp256k1` entry. */
  publicKey: string;
}

function fromBase64url(text: string): Uint8Array {
  const body = text.replace(/=+$/, "");
  if (!/^[A-Za-z0-9_-]*$/.test(body)) throw new Error("not base64url");
  const standard = body.replace(/-/g, "+").replace(/_/g, "/");
  return decodeBase64(standard + "=".repeat((4 - (standard.length % 4)) % 4));
}

function bytesOf(item: RlpStructuredData, what: string): Uint8Array {
  if (typeof item !== "string") throw new Error(`${what} must be a byte string`);
  return getBytes(item);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Decodes `enr:…` text and checks it as go-ethereum does: at most 300 bytes, an RLP list of
 * signature, sequence number and key/value pairs with keys sorted and unique, identity scheme
 * `v4`, and a low-s secp256k1 signature by the `secp256k1` key over keccak256(rlp(content)).
 * Throws a plain Error saying what is wrong (parseEnr wraps it as INVALID_ENR).
 */
export function decodeEnrText(text: string): DecodedEnr {
  if (!text.startsWith("enr:")) throw new Error("an ENR must start with 'enr:'");
  const bytes = fromBase64url(text.slice(4));
  if (bytes.length > MAX_ENR_BYTES) throw new Error(`record is ${bytes.length} bytes, more than ${MAX_ENR_BYTES}`);
  const list = decodeRlp(bytes);
  if (!Array.isArray(list) || list.length < 2 || list.length % 2 !== 0) throw new Error("record must be an RLP list of signature, seq and key/value pairs");

  const signature = bytesOf(list[0]!, "signature");
  const seqBytes = bytesOf(list[1]!, "seq");
  if (seqBytes.length > 8 || (seqBytes.length > 0 && seqBytes[0] === 0)) throw new Error("seq must be a canonical 64-bit integer");
  const seq = seqBytes.length === 0 ? 0n : BigInt(hexlify(seqBytes));

  const kvs = new Map<string, Uint8Array>();
  let previous: Uint8Array | undefined;
  for (let i = 2; i < list.length; i += 2) {
    const keyBytes = bytesOf(list[i]!, "key");
    if (previous !== undefined && compareBytes(previous, keyBytes) >= 0) throw new Error("keys must be sorted and unique");
    previous = keyBytes;
    const value = list[i + 1]!;
    kvs.set(toUtf8String(keyBytes), typeof value === "string" ? getBytes(value) : getBytes(encodeRlp(value)));
  }

  const id = kvs.get("id");
  if (id === undefined || toUtf8String(id) !== "v4") throw new Error("identity scheme must be v4");
  const key = kvs.get("secp256k1");
  if (key === undefined || key.length !== 33 || (key[0] !== 2 && key[0] !== 3)) throw new Error("secp256k1 entry must be a 33-byte compressed key");
  const publicKey = hexlify(key);
  if (signature.length !== 64) throw new Error("signature must be 64 bytes");
  if (!signedBy(keccak256(encodeRlp(list.slice(1))), signature, publicKey)) throw new Error("bad signature");
  return { seq, kvs, signature, publicKey };
}

/** Whether `signature` (r ‖ s) over `digest` was made by the compressed `publicKey`. */
function signedBy(digest: string, signature: Uint8Array, publicKey: string): boolean {
  const r = hexlify(signature.subarray(0, 32));
  const s = hexlify(signature.subarray(32));
  const sValue = BigInt(s);
  const rValue = BigInt(r);
  if (rValue === 0n || rValue >= N || sValue === 0n || sValue > N / 2n) return false;
  // ethers recovers rather than verifies: the recovery bit is not in the record, so try both.
  for (const yParity of [0, 1] as const) {
    try {
      const recovered = SigningKey.recoverPublicKey(digest, Signature.from({ r, s, yParity }));
      if (SigningKey.computePublicKey(recovered, true) === publicKey) return true;
    } catch {
      // No point for this parity: try the other.
    }
  }
  return false;
}

/**
 * The libp2p peer id of a secp256k1 key (`16Uiu2…`): base58btc of the identity multihash of the
 * key's protobuf encoding (KeyType Secp256k1 = 2, Data = the 33-byte compressed key).
 */
export function peerIdFromPublicKey(compressedPublicKey: string): string {
  const key = getBytes(compressedPublicKey);
  if (key.length !== 33) throw new Error("a compressed secp256k1 key is 33 bytes");
  const protobuf = Uint8Array.from([0x08, 0x02, 0x12, 33, ...key]);
  return encodeBase58(Uint8Array.from([0x00, protobuf.length, ...protobuf]));
}

/** An IPv4 address from its 4 bytes, undefined for any other length. */
export function ip4Text(bytes: Uint8Array | undefined): string | undefined {
  return bytes?.length === 4 ? [...bytes].join(".") : undefined;
}

/** An IPv6 address from its 16 bytes in RFC 5952 form (`::1`), undefined for any other length. */
export function ip6Text(bytes: Uint8Array | undefined): string | undefined {
  if (bytes?.length !== 16) return undefined;
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  // The longest run of two or more zero groups (the first on a tie) becomes "::".
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j;
  }
  if (best.at < 0) return groups.join(":");
  return `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.length).join(":")}`;
}

/** A port from its big-endian bytes (RLP integers drop leading zeros), undefined if not 1–2 bytes. */
export function portNumber(bytes: Uint8Array | undefined): number | undefined {
  if (bytes === undefined || bytes.length === 0 || bytes.length > 2) return undefined;
  return bytes.length === 1 ? bytes[0]! : (bytes[0]! << 8) | bytes[1]!;
}

function toBase64url(bytes: Uint8Array): string {
  return encodeBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Encodes and signs a v4 record with `privateKey`: `id` and `secp256k1` are set from the key,
 * keys are sorted by their bytes, the signature is low-s r ‖ s over keccak256(rlp(content)).
 * Throws when the result is longer than 300 bytes.
 */
export function encodeEnr(entries: ReadonlyMap<string, Uint8Array>, seq: bigint, privateKey: Uint8Array): string {
  if (seq < 0n || seq >= 1n << 64n) throw new Error("seq must be a 64-bit unsigned integer");
  const signer = new SigningKey(privateKey);
  const kvs = new Map(entries);
  kvs.set("id", toUtf8Bytes("v4"));
  kvs.set("secp256k1", getBytes(signer.compressedPublicKey));
  const keys = [...kvs.keys()].map((k) => ({ k, bytes: toUtf8Bytes(k) })).sort((a, b) => compareBytes(a.bytes, b.bytes));
  const content = [seq === 0n ? "0x" : toBeHex(seq), ...keys.flatMap(({ k, bytes }) => [hexlify(bytes), hexlify(kvs.get(k)!)])];
  const signature = signer.sign(keccak256(encodeRlp(content)));
  const encoded = getBytes(encodeRlp([concat([signature.r, signature.s]), ...content]));
  if (encoded.length > MAX_ENR_BYTES) throw new Error(`record is ${encoded.length} bytes, more than ${MAX_ENR_BYTES}`);
  return `enr:${toBase64url(encoded)}`;
}

/** The 4 bytes of a dotted IPv4 address, undefined when it is not one. */
export function ip4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return Uint8Array.from(parts.map(Number));
}

/** The 16 bytes of an IPv6 address (with `::` and an optional dotted IPv4 tail), undefined when it is not one. */
export function ip6Bytes(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = ip4Bytes(piece);
        if (v4 === undefined) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) out.push(parseInt(piece, 16));
      else return undefined;
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
}
