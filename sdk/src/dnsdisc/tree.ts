// EIP-1459 ENR trees: the entry formats, hash labels and root signatures, and building a signed
// tree from a list of ENRs (the publishing side). Isomorphic: ethers only.
import { SigningKey, concat, getBytes, hexlify, keccak256, toUtf8Bytes } from "ethers";
import { parseEnr } from "../enr.js";
import { MailserverSdkError } from "../errors.js";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 without padding, as EIP-1459 writes keys and hashes. */
export function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** Decodes unpadded base32 (either case); throws on any other character or leftover bits. */
export function base32Decode(text: string): Uint8Array {
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of text.toUpperCase()) {
    const value = BASE32.indexOf(char);
    if (value < 0) throw new Error(`not base32: ${char}`);
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  if (bits >= 5 || (buffer & ((1 << bits) - 1)) !== 0) throw new Error("base32 has leftover bits");
  return Uint8Array.from(out);
}

function base64Url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error("not base64url");
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** The label of an entry: base32(keccak256(text)[:16]), 26 characters. */
export function entryHash(text: string): string {
  return base32Encode(getBytes(keccak256(toUtf8Bytes(text))).subarray(0, 16));
}

/** A parsed `enrtree://<key>@<domain>` URL. */
export interface EnrTreeUrl {
  /** Compressed secp256k1 public key (33 bytes hex) that signs the tree's root. */
  publicKey: string;
  domain: string;
  url: string;
}

function invalidTree(message: string, details: Record<string, unknown> = {}, cause?: unknown): MailserverSdkError {
  return new MailserverSdkError("DNS_TREE_INVALID", message, { details, cause });
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;

/** Parses an `enrtree://` URL (DNS_TREE_INVALID when malformed). */
export function parseEnrTreeUrl(url: string): EnrTreeUrl {
  const match = /^enrtree:\/\/([A-Z2-7]+)@([^\s/]+)$/i.exec(url.trim());
  if (match === null) throw invalidTree(`not an enrtree:// URL: ${url}`, { url });
  const [, key, domain] = match as unknown as [string, string, string];
  if (!DOMAIN.test(domain)) throw invalidTree(`bad domain in ${url}`, { url });
  let publicKey: string;
  try {
    const bytes = base32Decode(key);
    if (bytes.length !== 33) throw new Error(`key is ${bytes.length} bytes, not 33`);
    publicKey = SigningKey.computePublicKey(bytes, true);
  } catch (error) {
    throw invalidTree(`bad public key in ${url}`, { url }, error);
  }
  return { publicKey, domain: domain.toLowerCase(), url: `enrtree://${key.toUpperCase()}@${domain.toLowerCase()}` };
}

/** The `enrtree://` URL of a tree signed by `publicKey` (any secp256k1 form) at `domain`. */
export function formatEnrTreeUrl(publicKey: string | Uint8Array, domain: string): string {
  const compressed = getBytes(SigningKey.computePublicKey(publicKey, true));
  return parseEnrTreeUrl(`enrtree://${base32Encode(compressed)}@${domain}`).url;
}

/** A tree's root record. */
export interface EnrTreeRoot {
  /** Hash of the root of the ENR subtree. */
  enrRoot: string;
  /** Hash of the root of the link subtree. */
  linkRoot: string;
  seq: number;
  /** 65 bytes hex: r ‖ s ‖ v (v = 0 or 1). */
  signature: string;
}

const ROOT = /^enrtree-root:v1 e=([A-Z2-7]{26}) l=([A-Z2-7]{26}) seq=(\d{1,10}) sig=([A-Za-z0-9_-]+)$/;

function rootSigningText(root: Omit<EnrTreeRoot, "signature">): string {
  return `enrtree-root:v1 e=${root.enrRoot} l=${root.linkRoot} seq=${root.seq}`;
}

/**
 * Parses a root record and checks that `publicKey` (compressed hex) signed it. DNS_TREE_INVALID
 * when it is malformed or signed by another key.
 */
export function verifyRoot(text: string, publicKey: string): EnrTreeRoot {
  const match = ROOT.exec(text.trim());
  if (match === null) throw invalidTree(`not an enrtree-root:v1 record: ${text.slice(0, 120)}`, { text });
  const [, enrRoot, linkRoot, seqText, sig] = match as unknown as [string, string, string, string, string];
  const seq = Number(seqText);
  if (seq > 0xffffffff) throw invalidTree("root seq out of range", { seq: seqText });
  let signature: Uint8Array;
  try {
    signature = fromBase64Url(sig);
  } catch (error) {
    throw invalidTree("root signature is not base64url", {}, error);
  }
  if (signature.length !== 65 || signature[64]! > 1) throw invalidTree(`root signature must be 65 bytes r‖s‖v, got ${signature.length}`);
  const digest = keccak256(toUtf8Bytes(rootSigningText({ enrRoot, linkRoot, seq })));
  let signer: string;
  try {
    signer = SigningKey.recoverPublicKey(digest, { r: hexlify(signature.subarray(0, 32)), s: hexlify(signature.subarray(32, 64)), v: 27 + signature[64]! });
  } catch (error) {
    throw invalidTree("root signature does not recover", {}, error);
  }
  if (SigningKey.computePublicKey(signer, true) !== SigningKey.computePublicKey(publicKey, true)) {
    throw invalidTree("root is not signed by the URL's key", { expected: publicKey, signer: SigningKey.computePublicKey(signer, true) });
  }
  return { enrRoot, linkRoot, seq, signature: hexlify(signature) };
}

/** One entry of a tree, as its TXT text says. */
export type TreeEntry =
  | { type: "branch"; children: string[] }
  | { type: "enr"; enr: string }
  | { type: "link"; url: EnrTreeUrl };

/** Parses a non-root entry; throws DNS_TREE_INVALID when it is none of branch, ENR, link. */
export function parseEntry(text: string): TreeEntry {
  const t = text.trim();
  if (t.startsWith("enrtree-branch:")) {
    const list = t.slice("enrtree-branch:".length);
    const children = list === "" ? [] : list.split(",");
    for (const child of children) if (!/^[A-Z2-7]{26}$/i.test(child)) throw invalidTree(`bad hash in branch: ${child}`, { text: t });
    return { type: "branch", children: children.map((c) => c.toUpperCase()) };
  }
  if (t.startsWith("enr:")) return { type: "enr", enr: t };
  if (t.startsWith("enrtree://")) return { type: "link", url: parseEnrTreeUrl(t) };
  throw invalidTree(`unknown tree entry: ${t.slice(0, 60)}`, { text: t });
}

// ---------------------------------------------------------------------------------------------
// Publishing
// ---------------------------------------------------------------------------------------------

/** Children per branch: keeps a branch entry within one 255-byte TXT string plus headroom (geth uses 13). */
export const MAX_BRANCH_CHILDREN = 13;

export interface BuildEnrTreeOptions {
  /** The tree's domain, e.g. `nodes.example.org`. */
  domain: string;
  /** ENR texts of the leaves (each is decoded and its signature checked; duplicates by node id keep the highest seq). */
  enrs: readonly string[];
  /** `enrtree://` URLs of other trees to link. */
  links?: readonly string[];
  /** The root's sequence number: bump it on every publication (clients refuse a lower one). */
  seq: number;
  /** The signing key (secp256k1, 32 bytes hex): its public key is in the tree's URL. */
  privateKey: string;
}

/** A built, signed tree. */
export interface EnrTree {
  url: string;
  domain: string;
  root: EnrTreeRoot;
  /** The root record text (TXT at the domain itself). */
  rootText: string;
  /** Every other entry: subdomain label -> TXT text. */
  entries: Map<string, string>;
}

function subtree(leaves: string[], entries: Map<string, string>): string {
  if (leaves.length === 0) {
    const empty = "enrtree-branch:";
    entries.set(entryHash(empty), empty);
    return entryHash(empty);
  }
  let level = leaves.map((leaf) => {
    const hash = entryHash(leaf);
    entries.set(hash, leaf);
    return hash;
  });
  if (level.length === 1) return level[0]!;
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += MAX_BRANCH_CHILDREN) {
      const branch = `enrtree-branch:${level.slice(i, i + MAX_BRANCH_CHILDREN).join(",")}`;
      entries.set(entryHash(branch), branch);
      next.push(entryHash(branch));
    }
    level = next;
  }
  return level[0]!;
}

/** Builds and signs an EIP-1459 tree. Bad input (an invalid ENR, a bad link, a bad key) is INVALID_ARGUMENT. */
export function buildEnrTree(options: BuildEnrTreeOptions): EnrTree {
  const bad = (message: string, details: Record<string, unknown> = {}, cause?: unknown) =>
    new MailserverSdkError("INVALID_ARGUMENT", message, { details, cause });
  if (!Number.isInteger(options.seq) || options.seq < 0 || options.seq > 0xffffffff) throw bad("seq must be an integer from 0 to 2^32-1", { seq: options.seq });
  let key: SigningKey;
  try {
    key = new SigningKey(options.privateKey.startsWith("0x") ? options.privateKey : `0x${options.privateKey}`);
  } catch (error) {
    throw bad("the tree key must be a 32-byte secp256k1 private key (hex)", {}, error);
  }
  let url: string;
  try {
    url = formatEnrTreeUrl(key.publicKey, options.domain);
  } catch (error) {
    throw bad(`bad domain: ${options.domain}`, { domain: options.domain }, error);
  }
  const byId = new Map<string, { enr: string; seq: bigint }>();
  for (const text of options.enrs) {
    let parsed;
    try {
      parsed = parseEnr(text);
    } catch (error) {
      throw bad(`invalid ENR in the tree: ${error instanceof Error ? error.message : String(error)}`, { enr: text }, error);
    }
    const prev = byId.get(parsed.nodeId);
    if (prev === undefined || parsed.seq > prev.seq) byId.set(parsed.nodeId, { enr: parsed.enr, seq: parsed.seq });
  }
  const links = (options.links ?? []).map((link) => {
    try {
      return parseEnrTreeUrl(link).url;
    } catch (error) {
      throw bad(`bad link: ${link}`, { link }, error);
    }
  });
  const entries = new Map<string, string>();
  const enrRoot = subtree([...byId.values()].map((v) => v.enr).sort(), entries);
  const linkRoot = subtree([...new Set(links)].sort(), entries);
  const { root, text } = signEnrTreeRoot({ enrRoot, linkRoot, seq: options.seq }, key);
  const domain = parseEnrTreeUrl(url).domain;
  return { url, domain, root, rootText: text, entries };
}

/** Signs a root record over the given subtree hashes; `text` is the TXT to publish at the domain. */
export function signEnrTreeRoot(unsigned: Omit<EnrTreeRoot, "signature">, key: SigningKey): { root: EnrTreeRoot; text: string } {
  const sig = key.sign(keccak256(toUtf8Bytes(rootSigningText(unsigned))));
  const signature = concat([sig.r, sig.s, Uint8Array.of(sig.yParity)]);
  return { root: { ...unsigned, signature }, text: `${rootSigningText(unsigned)} sig=${base64Url(getBytes(signature))}` };
}

/** Splits a TXT text into DNS character-strings of at most 255 bytes (ASCII here). */
export function txtStrings(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 255) out.push(text.slice(i, i + 255));
  return out.length > 0 ? out : [""];
}

/** The tree as zone-file TXT records (root first), each long text split into quoted 255-byte strings. */
export function toZoneFile(tree: EnrTree, ttl = 3600): string {
  const line = (name: string, text: string) => `${name}\t${ttl}\tIN\tTXT\t${txtStrings(text).map((s) => `"${s}"`).join(" ")}`;
  const lines = [`; ${tree.url}  (seq ${tree.root.seq}, ${tree.entries.size} entries)`, line(`${tree.domain}.`, tree.rootText)];
  for (const [label, text] of [...tree.entries].sort(([a], [b]) => a.localeCompare(b))) lines.push(line(`${label}.${tree.domain}.`, text));
  return `${lines.join("\n")}\n`;
}
