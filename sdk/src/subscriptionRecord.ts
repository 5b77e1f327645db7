/**
 * A subscription's record and what is derived from it without the chain. The escrow stores only a
 * commitment to the record (one slot); the record itself travels in the escrow's events and goes
 * back as calldata to manage the subscription. Isomorphic: ethers' ABI coder and keccak only.
 */
import { AbiCoder, getAddress, keccak256, type Log, type LogDescription, type Result } from "ethers";
import { escrowInterface } from "./core/contracts.js";

/** A subscription's record (ISubscriptionEscrow.Subscription), as the escrow's events carry it. */
export interface StoredSubscription {
  owner: string;
  /** Start of the current release segment (purchase, or the last extension), in seconds. */
  start: bigint;
  expiresAt: bigint;
  /** Cancellation fee locked at purchase, in basis points. */
  cancellationFeeBps: bigint;
  /** What is still held for the subscription, settled up to `start`. */
  paid: bigint;
  /** Automatic renewal: months per renewal (0 = off) and the highest accepted price. */
  renewMonths: bigint;
  renewMaxPricePerMonth: bigint;
}

/** The record's ABI type, field for field (a static tuple: 7 words). */
export const SUBSCRIPTION_RECORD_TYPE =
  "tuple(address owner, uint40 start, uint40 expiresAt, uint16 cancellationFeeBps, uint96 paid, uint8 renewMonths, uint96 renewMaxPricePerMonth)";

/** What the escrow accepts as "no record" where nothing is stored (status, renewalCheck). */
export const EMPTY_SUBSCRIPTION: Readonly<StoredSubscription> = Object.freeze({
  owner: "0x0000000000000000000000000000000000000000",
  start: 0n,
  expiresAt: 0n,
  cancellationFeeBps: 0n,
  paid: 0n,
  renewMonths: 0n,
  renewMaxPricePerMonth: 0n,
});

const MASK_256 = (1n << 256n) - 1n;
const EXPIRY_BITS = 40n;

/**
 * What the escrow stores for this record (`subscriptionCommitment` on chain):
 * `uint256(keccak256(abi.encode(record))) << 40 | expiresAt`, modulo 2^256.
 */
export function subscriptionCommitment(record: StoredSubscription): bigint {
  const hash = BigInt(keccak256(AbiCoder.defaultAbiCoder().encode([SUBSCRIPTION_RECORD_TYPE], [record])));
  return ((hash << EXPIRY_BITS) & MASK_256) | BigInt(record.expiresAt);
}

/** A record from an ABI-decoded struct (an event argument or a function result). */
export function toStoredSubscription(s: Readonly<StoredSubscription>): StoredSubscription {
  return {
    owner: getAddress(s.owner),
    start: BigInt(s.start),
    expiresAt: BigInt(s.expiresAt),
    cancellationFeeBps: BigInt(s.cancellationFeeBps),
    paid: BigInt(s.paid),
    renewMonths: BigInt(s.renewMonths),
    renewMaxPricePerMonth: BigInt(s.renewMaxPricePerMonth),
  };
}

// ---------------------------------------------------------------------------------------------
// approveAndCall data
// ---------------------------------------------------------------------------------------------

/**
 * The `data` of an approveAndCall purchase of a new subscription:
 * `abi.encode(ISubscriptionEscrow.ApprovalRequest)`, with `action` 0 (Subscribe; any other value
 * is refused with InvalidApprovalData).
 */
export function encodeApprovalRequest(req: {
  action: number;
  nodeId: string;
  clientId: string;
  months: bigint;
  maxPricePerMonth: bigint;
  maxFeeBps: bigint;
  /** The client key's consent (`ClientConsent`; deadline 0 and "0x" when the payer is the client key). */
  consent: { deadline: bigint; signature: string };
}): string {
  return AbiCoder.defaultAbiCoder().encode(
    ["tuple(uint8 action, bytes32 nodeId, address clientId, uint256 months, uint256 maxPricePerMonth, uint256 maxFeeBps, tuple(uint256 deadline, bytes signature) consent)"],
    [req],
  );
}

/**
 * The `data` of an approveAndCall extension: `abi.encode(ISubscriptionEscrow.ExtensionRequest)`
 * with action 1 (Extend) and the subscription's current record (12 static words).
 */
export function encodeExtensionRequest(req: {
  nodeId: string;
  clientId: string;
  months: bigint;
  maxPricePerMonth: bigint;
  subscription: StoredSubscription;
}): string {
  return AbiCoder.defaultAbiCoder().encode(
    [`tuple(uint8 action, bytes32 nodeId, address clientId, uint256 months, uint256 maxPricePerMonth, ${SUBSCRIPTION_RECORD_TYPE} subscription)`],
    [{ action: 1, ...req }],
  );
}

// ---------------------------------------------------------------------------------------------
// Records from events
// ---------------------------------------------------------------------------------------------


/** `nodeId:clientId`, lowercase: the key records are folded under. */
export const recordKey = (nodeId: string, clientId: string) => `${nodeId.toLowerCase()}:${clientId.toLowerCase()}`;

/**
 * Fold escrow logs (any order; sorted here by block and log index) into what each (node, client)
 * holds after them: the record of the last Subscribed / Extended / AutoRenewSet on the key or
 * ClientIdChanged onto it, or `null` when a later Cancelled or ClientIdChanged away from it removed
 * it. Keys the logs say nothing about are absent. Logs of other contracts and other events are
 * skipped.
 */
export function foldSubscriptionLogs(logs: readonly Log[], escrow: string): Map<string, StoredSubscription | null> {
  const iface = escrowInterface();
  const ordered = logs
    .filter((log) => log.address.toLowerCase() === escrow.toLowerCase() && log.removed !== true)
    .sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  const records = new Map<string, StoredSubscription | null>();
  for (const log of ordered) {
    let event: LogDescription | null;
    try {
      event = iface.parseLog(log);
    } catch {
      continue;
    }
    if (event === null) continue;
    const nodeId: string = event.args.getValue("nodeId");
    switch (event.name) {
      case "Subscribed":
      case "Extended":
      case "AutoRenewSet":
        records.set(recordKey(nodeId, event.args.getValue("clientId")), recordOf(event.args.getValue("subscription")));
        break;
      case "Cancelled":
        records.set(recordKey(nodeId, event.args.getValue("clientId")), null);
        break;
      case "ClientIdChanged":
        records.set(recordKey(nodeId, event.args.getValue("oldClientId")), null);
        records.set(recordKey(nodeId, event.args.getValue("newClientId")), recordOf(event.args.getValue("subscription")));
        break;
    }
  }
  return records;
}

function recordOf(struct: Result): StoredSubscription {
  return toStoredSubscription(struct.toObject() as Parameters<typeof toStoredSubscription>[0]);
}

/**
 * What a receipt (e.g. of a purchase) says (node, client) holds afterwards: the record, `null`
 * when the transaction removed it (cancel, or a move to another client id), `undefined` when the
 * receipt has no escrow event about the key.
 */
export function subscriptionFromReceipt(
  receipt: { logs: readonly Log[] },
  escrow: string,
  nodeId: string,
  clientId: string,
): StoredSubscription | null | undefined {
  return foldSubscriptionLogs(receipt.logs, escrow).get(recordKey(nodeId, clientId));
}
