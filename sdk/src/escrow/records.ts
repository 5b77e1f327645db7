// Subscription records and their lookup. The escrow keeps only a commitment to each record; the
// record itself comes from the escrow's events about its key, checked against the commitment.
import { zeroPadValue, type Log, type LogDescription } from "ethers";
import { escrowInterface } from "../core/contracts.js";
import { eventsOf, type WriteResult } from "../core/tx.js";
import { scanLogs } from "../core/logScan.js";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId, type NodeId } from "../nodeKey.js";
import { foldSubscriptionLogs, recordKey, subscriptionCommitment, subscriptionFromReceipt, toStoredSubscription, type StoredSubscription } from "../subscriptionRecord.js";
import { checkAddress } from "../core/args.js";
import { readEscrow, type EscrowContext } from "./context.js";

const RECORD_EVENTS = ["Subscribed", "Extended", "AutoRenewSet", "Cancelled", "ClientIdChanged"] as const;

/** The topic hashes of the escrow's record events. */
export async function escrowTopics(c: EscrowContext): Promise<Record<(typeof RECORD_EVENTS)[number], string>> {
  const iface = (await c.escrow()).interface;
  return Object.fromEntries(RECORD_EVENTS.map((name) => [name, iface.getEvent(name).topicHash])) as Record<(typeof RECORD_EVENTS)[number], string>;
}

/** A subscription's key, checked: the node id normalized and the client id checksummed (INVALID_ARGUMENT otherwise). */
export const checkKey = (nodeId: string, clientId: string): [NodeId, string] => [normalizeNodeId(nodeId), checkAddress(clientId, "clientId")];

/** The escrow's logs matching `topics` in [from, to]; hosted providers cap a range, so a refused one is halved until it passes. */
export async function escrowLogs(c: EscrowContext, topics: (string | string[] | null)[], from: number, to: number): Promise<Log[]> {
  const address = await c.escrowAddress();
  return scanLogs(from, to, { fetch: (a, b) => c.ctx.read("escrow events", () => c.ctx.provider.getLogs({ address, topics, fromBlock: a, toBlock: b })) });
}

/** The latest block number: where a scan ends. */
export const headBlock = (c: EscrowContext) => c.ctx.read("block number", () => c.ctx.provider.getBlockNumber());

/**
 * The current record of (node, client), or undefined when nothing is stored. The escrow keeps
 * only a commitment to it: the record comes from the escrow's events about the key (the last
 * Subscribed, Extended or AutoRenewSet on it, or ClientIdChanged onto it) and is checked
 * against the commitment read at the same block. A record this client learned from its own
 * receipts is used when it still matches (one read, no event scan). A lapsed subscription
 * that was not bought again is still stored and returned. SUBSCRIPTION_RECORD_NOT_FOUND when
 * something is stored but no scanned event gives it (see `fromBlock`).
 */
export async function getSubscription(c: EscrowContext, nodeId: string, clientId: string): Promise<StoredSubscription | undefined> {
  const [id, client] = checkKey(nodeId, clientId);
  const key = recordKey(id, client);
  const cached = c.records.get(key);
  if (cached !== undefined) {
    const stored = await commitmentOf(c, id, client);
    if (stored === 0n) {
      c.records.delete(key);
      return undefined;
    }
    if (stored === subscriptionCommitment(cached)) return cached;
  }
  // The commitment and the logs at one block, so that a purchase mined in between cannot make
  // a current record look stale.
  const toBlock = await headBlock(c);
  const stored = await commitmentOf(c, id, client, toBlock);
  if (stored === 0n) {
    c.records.delete(key);
    return undefined;
  }
  const fromBlock = await c.fromBlock();
  const record = (await recordLogs(c, id, client, fromBlock, toBlock)).get(key) ?? undefined;
  if (record === undefined || subscriptionCommitment(record) !== stored) {
    throw new MailserverSdkError(
      "SUBSCRIPTION_RECORD_NOT_FOUND",
      `a subscription is stored for node ${id} and client ${client} but no escrow event in blocks ${fromBlock}..${toBlock} gives its record: scan from an earlier fromBlock`,
      { details: { nodeId: id, clientId: client, fromBlock, toBlock, commitment: stored } },
    );
  }
  c.records.set(key, record);
  return record;
}

/** The folded escrow events about (node, client) in [fromBlock, toBlock]: two topic-filtered eth_getLogs. */
async function recordLogs(c: EscrowContext, nodeId: NodeId, clientId: string, fromBlock: number, toBlock: number) {
  const topic = await escrowTopics(c);
  const client = zeroPadValue(clientId, 32);
  const [onKey, movedHere] = await Promise.all([
    // Events whose second indexed argument is the client id (ClientIdChanged: the old one).
    escrowLogs(c, [[topic.Subscribed, topic.Extended, topic.AutoRenewSet, topic.Cancelled, topic.ClientIdChanged], nodeId, client], fromBlock, toBlock),
    // Records moved onto the client id.
    escrowLogs(c, [topic.ClientIdChanged, nodeId, null, client], fromBlock, toBlock),
  ]);
  return foldSubscriptionLogs([...onKey, ...movedHere], await c.escrowAddress());
}

/** The record to manage (node, client) with: `given` once checked on chain, else looked up. */
export async function currentRecord(c: EscrowContext, nodeId: NodeId, clientId: string, given: StoredSubscription | undefined): Promise<StoredSubscription> {
  if (given === undefined) {
    const found = await getSubscription(c, nodeId, clientId);
    if (found === undefined) throw new MailserverSdkError("NO_SUBSCRIPTION", "no subscription", { details: { nodeId, clientId } });
    return found;
  }
  const record = toStoredSubscription(given);
  const stored = await commitmentOf(c, nodeId, clientId);
  if (stored === 0n) throw new MailserverSdkError("NO_SUBSCRIPTION", "no subscription", { details: { nodeId, clientId } });
  if (stored !== subscriptionCommitment(record)) {
    throw new MailserverSdkError(
      "SUBSCRIPTION_RECORD_MISMATCH",
      "the subscription record given is not the one stored (it changed since it was read): look it up again",
      { details: { nodeId, clientId, commitment: stored } },
    );
  }
  return record;
}

/** What the escrow stores for (node, client), at `blockTag` (default latest): 0 when nothing. */
const commitmentOf = (c: EscrowContext, nodeId: string, clientId: string, blockTag?: number) =>
  readEscrow(c, "subscriptionCommitment", (e) => (blockTag === undefined ? e.subscriptionCommitment(nodeId, clientId) : e.subscriptionCommitment(nodeId, clientId, { blockTag })));

/**
 * What a mined write of this client left stored for (node, client), learned, and its `name`
 * event. CONTRACT_ERROR when the receipt lacks either: a mined write always emits its event, so
 * the receipt is not the escrow's.
 */
export function writtenRecord(c: EscrowContext, result: WriteResult, escrow: string, nodeId: string, clientId: string, name: string): { subscription: StoredSubscription; event: LogDescription } {
  const [event] = eventsOf(result.receipt, escrow, escrowInterface(), name);
  const subscription = learn(c, result.receipt, escrow, nodeId, clientId);
  if (event === undefined || subscription === undefined) {
    throw new MailserverSdkError("CONTRACT_ERROR", `transaction ${result.hash} has no ${name} event of the escrow`, { details: { hash: result.hash, escrow } });
  }
  return { subscription, event };
}

/** Learn what a receipt of this client says about (node, client): the record, or its removal. */
export function learn(c: EscrowContext, receipt: { logs: readonly Log[] }, escrow: string, nodeId: string, clientId: string): StoredSubscription | undefined {
  const record = subscriptionFromReceipt(receipt, escrow, nodeId, clientId);
  const key = recordKey(nodeId, clientId);
  if (record === null) c.records.delete(key);
  else if (record !== undefined) c.records.set(key, record);
  return record ?? undefined;
}

/** Expiry seconds for many (node, client) pairs in one call (0 when none). */
export async function expiries(c: EscrowContext, pairs: readonly { nodeId: string; clientId: string }[]): Promise<bigint[]> {
  if (pairs.length === 0) return [];
  const nodeIds = pairs.map((p) => normalizeNodeId(p.nodeId));
  const clientIds = pairs.map((p) => checkAddress(p.clientId, "clientId"));
  return [...(await readEscrow(c, "expiries", (e) => e.expiries(nodeIds, clientIds)))];
}
