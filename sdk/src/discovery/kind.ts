// Service kinds in ENRs. discv5 has no topic registration, so a node announces which server roles
// it plays with a custom ENR key, and discovery filters on it.
import { getBytes, hexlify } from "ethers";
import { parseEnr } from "../enr.js";
import { kindId } from "../nodeKey.js";
import { invalidArgument } from "./util.js";

/**
 * ENR key under which a node lists the service kinds it serves.
 *
 * Value: the concatenation of one or more 32-byte kind ids, each `keccak256(utf8(kindName))`, i.e.
 * exactly the registry's `bytes32 kind` (`MAILSERVER_KIND() == keccak256("mailserver")`, see `kindId`), so a
 * discovered ENR can be matched against on-chain records without any mapping table.
 */
export const SERVICE_KIND_ENR_KEY = "srvkind";

/** Name of the mail-server (store node) kind. */
export const MAILSERVER_KIND_NAME = "mailserver";

/** Encodes kinds (names or ids) as the value of {@link SERVICE_KIND_ENR_KEY}. */
export function encodeKinds(kinds: readonly string[]): Uint8Array {
  if (kinds.length === 0) throw invalidArgument("at least one kind is required");
  const ids = [...new Set(kinds.map(kindId))];
  const out = new Uint8Array(ids.length * 32);
  ids.forEach((k, i) => out.set(getBytes(k), i * 32));
  return out;
}

/** Decodes a {@link SERVICE_KIND_ENR_KEY} value; malformed values (length not a multiple of 32) give `[]`. */
export function decodeKinds(value: Uint8Array | undefined): string[] {
  if (value === undefined || value.length === 0 || value.length % 32 !== 0) return [];
  const ids: string[] = [];
  for (let i = 0; i < value.length; i += 32) ids.push(hexlify(value.subarray(i, i + 32)));
  return ids;
}

/** A decoded record: a `ParsedEnr`, or an `ENR` of @chainsafe/enr. */
export interface EnrWithKvs {
  readonly kvs: ReadonlyMap<string, Uint8Array>;
}

/** Kind ids an ENR (text or decoded record) announces. Invalid ENR text throws INVALID_ENR. */
export function enrKinds(enr: EnrWithKvs | string): string[] {
  const decoded = typeof enr === "string" ? parseEnr(enr) : enr;
  return decodeKinds(decoded.kvs.get(SERVICE_KIND_ENR_KEY));
}

/** Whether an ENR announces `kind` (name or id). */
export function enrHasKind(enr: EnrWithKvs | string, kind: string = MAILSERVER_KIND_NAME): boolean {
  return enrKinds(enr).includes(kindId(kind));
}
