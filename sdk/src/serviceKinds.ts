// The `srvkind` ENR key: kinds announced as registry kind ids. Kept as an extra hint beside Waku's
// `waku2` capabilities (see waku/enrFields.ts): a node need not carry it. Isomorphic.
import { getBytes, hexlify } from "ethers";
import { MailserverSdkError } from "./errors.js";
import { kindId } from "./nodeKey.js";

/**
 * ENR key under which a node may list the service kinds it serves.
 *
 * Value: the concatenation of one or more 32-byte kind ids, each `keccak256(utf8(kindName))`, i.e.
 * exactly the registry's `bytes32 kind`, so a discovered ENR matches on-chain records without a
 * mapping table. 35 bytes per kind: too big beside a fleet node's other keys under the 300-byte
 * ENR limit, which is why Waku nodes are recognized by `waku2` instead.
 */
export const SERVICE_KIND_ENR_KEY = "srvkind";

/** Name of the mail-server (store node) kind. */
export const MAILSERVER_KIND_NAME = "mailserver";

/** Encodes kinds (names or ids) as the value of {@link SERVICE_KIND_ENR_KEY}. */
export function encodeKinds(kinds: readonly string[]): Uint8Array {
  if (kinds.length === 0) throw new MailserverSdkError("INVALID_ARGUMENT", "at least one kind is required");
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
