// A subscription's record as the escrow's tests see it. The escrow stores only a commitment to a
// record (`uint256(keccak256(abi.encode(record))) << 40 | expiresAt`); the record itself travels
// in its events and comes back as calldata. These helpers read the current record from the
// chain's logs, the way a client or an index does, and check it against the stored commitment, so
// a test never trusts a record the escrow would not accept.
import { expect } from "chai";
import { AbiCoder, keccak256, type BaseContract, type Contract, type Log } from "ethers";
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import { EMPTY_SUBSCRIPTION, toStoredSubscription, type StoredSubscription } from "@status/mailserver-sdk";

/** `ISubscriptionEscrow.Subscription`, field for field (the SDK's type; the commitment below is
 * computed here on its own, as an independent check of the SDK's and the contract's). */
export type SubRecord = StoredSubscription;

export const RECORD_FIELDS = [
  "owner",
  "start",
  "expiresAt",
  "cancellationFeeBps",
  "paid",
  "renewMonths",
  "renewMaxPricePerMonth",
] as const satisfies readonly (keyof SubRecord)[];

const RECORD_TUPLE =
  "tuple(address owner, uint40 start, uint40 expiresAt, uint16 cancellationFeeBps, uint96 paid, uint8 renewMonths, uint96 renewMaxPricePerMonth)";

const MASK_256 = (1n << 256n) - 1n;

/** What the escrow stores for `record`, computed here independently of the contract. */
export function commitmentOf(record: SubRecord): bigint {
  const hash = BigInt(keccak256(AbiCoder.defaultAbiCoder().encode([RECORD_TUPLE], [record])));
  return ((hash << 40n) & MASK_256) | record.expiresAt;
}

/** The ABI encoding of a record (7 static words), e.g. to build approveAndCall data by hand. */
export function encodeRecord(record: SubRecord): string {
  return AbiCoder.defaultAbiCoder().encode([RECORD_TUPLE], [record]);
}

/**
 * A `withArgs` matcher for an event's `subscription` argument: the given fields must match,
 * the others may be anything. Pass a full record to match it exactly.
 */
export function rec(fields: Partial<SubRecord>): unknown[] {
  return RECORD_FIELDS.map((f) => (fields[f] === undefined ? anyValue : fields[f]));
}

type EscrowLike = BaseContract | Contract;

async function logsOf(escrow: EscrowLike, nodeId: string): Promise<Log[]> {
  const provider = escrow.runner?.provider;
  if (!provider) throw new Error("the escrow contract has no provider");
  // Every event that creates, changes, moves or deletes a record has the node id as topic 1.
  return provider.getLogs({ address: await escrow.getAddress(), topics: [null, nodeId], fromBlock: 0, toBlock: "latest" });
}

/**
 * The record of (nodeId, clientId) as its events tell it: the `subscription` of the last
 * Subscribed / Extended / AutoRenewSet for the key or ClientIdChanged to it, unless a later
 * Cancelled or ClientIdChanged away from it removed it. Undefined when there is none.
 */
export async function recordFromEvents(escrow: EscrowLike, nodeId: string, clientId: string): Promise<SubRecord | undefined> {
  const client = clientId.toLowerCase();
  let current: SubRecord | undefined;
  for (const log of await logsOf(escrow, nodeId)) {
    const parsed = escrow.interface.parseLog(log);
    if (!parsed) continue;
    const a = parsed.args;
    switch (parsed.name) {
      case "Subscribed":
      case "Extended":
      case "AutoRenewSet":
        if (String(a.clientId).toLowerCase() === client) current = toStoredSubscription(a.subscription);
        break;
      case "ClientIdChanged":
        if (String(a.oldClientId).toLowerCase() === client) current = undefined;
        if (String(a.newClientId).toLowerCase() === client) current = toStoredSubscription(a.subscription);
        break;
      case "Cancelled":
        if (String(a.clientId).toLowerCase() === client) current = undefined;
        break;
    }
  }
  return current;
}

/**
 * The current record of (nodeId, clientId), undefined when nothing is stored. Throws when the
 * events and the stored commitment disagree (a broken event trail would be a bug worth seeing).
 */
export async function currentRecord(escrow: EscrowLike, nodeId: string, clientId: string): Promise<SubRecord | undefined> {
  const [record, stored] = await Promise.all([
    recordFromEvents(escrow, nodeId, clientId),
    escrow.getFunction("subscriptionCommitment")(nodeId, clientId) as Promise<bigint>,
  ]);
  if (stored === 0n) {
    if (record !== undefined) throw new Error(`events show a record for ${clientId} on ${nodeId} but nothing is stored`);
    return undefined;
  }
  if (record === undefined) throw new Error(`a commitment is stored for ${clientId} on ${nodeId} but no event carries its record`);
  if (commitmentOf(record) !== stored) {
    throw new Error(`the last event's record for ${clientId} on ${nodeId} does not match the stored commitment`);
  }
  return record;
}

/** The current record, asserted to exist and to be `isCurrent` on the escrow. */
export async function recordOf(escrow: EscrowLike, nodeId: string, clientId: string): Promise<SubRecord> {
  const record = await currentRecord(escrow, nodeId, clientId);
  expect(record, `no subscription for ${clientId} on ${nodeId}`).to.not.equal(undefined);
  expect(await escrow.getFunction("isCurrent")(nodeId, clientId, record!)).to.equal(true);
  return record!;
}

/** The current record, or EMPTY_SUBSCRIPTION when nothing is stored (what a short call form passes). */
export async function recordOrEmpty(escrow: EscrowLike, nodeId: string, clientId: string): Promise<SubRecord> {
  return (await currentRecord(escrow, nodeId, clientId)) ?? EMPTY_SUBSCRIPTION;
}

/** The `subscription` of the (only) `eventName` event the transaction emitted. */
export async function eventRecord(
  escrow: EscrowLike,
  tx: { wait(): Promise<unknown> } | Promise<{ wait(): Promise<unknown> }>,
  eventName: "Subscribed" | "Extended" | "AutoRenewSet" | "ClientIdChanged"
): Promise<SubRecord> {
  const receipt = (await (await tx).wait()) as { logs: Log[] };
  const address = (await escrow.getAddress()).toLowerCase();
  const found = receipt.logs
    .filter((l) => l.address.toLowerCase() === address)
    .map((l) => escrow.interface.parseLog(l))
    .filter((p) => p?.name === eventName);
  expect(found, `${eventName} events`).to.have.length(1);
  return toStoredSubscription(found[0]!.args.subscription);
}

/**
 * Records that differ from `record` in one field each (paid, expiresAt, owner, fee, and the
 * other fields), none of which the escrow may accept in its place.
 */
export function forgeries(record: SubRecord, stranger: string): [string, SubRecord][] {
  return [
    ["paid + 1", { ...record, paid: record.paid + 1n }],
    ["paid - 1", { ...record, paid: record.paid === 0n ? 1n : record.paid - 1n }],
    ["expiresAt + 1 day", { ...record, expiresAt: record.expiresAt + 86_400n }],
    ["owner", { ...record, owner: stranger }],
    ["cancellation fee", { ...record, cancellationFeeBps: record.cancellationFeeBps === 0n ? 1000n : 0n }],
    ["start", { ...record, start: record.start - 1n }],
    ["renewal months", { ...record, renewMonths: record.renewMonths === 0n ? 1n : 0n }],
    ["renewal maximum", { ...record, renewMaxPricePerMonth: record.renewMaxPricePerMonth + 1n }],
  ];
}
