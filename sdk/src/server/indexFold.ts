// The index's fold: one range of decoded escrow events into the changes it makes to the
// entries, checked to belong to the blocks the range was read for. Pure.
import type { RawLog } from "../gate/escrowLogs.js";
import { blockNumberOf, decodeEscrowLog } from "../gate/escrowLogs.js";
import { entryKey, type StoredEntry } from "./indexStore.js";

/** A reorg detected while reading: start over. */
export class ReorgDuringSync extends Error {}

/** The range's first and last blocks, as their headers were read before the logs. */
export interface RangeBounds {
  start: number;
  end: number;
  startHash: string;
  endHash: string;
}

/**
 * The changes `logs` make, by entry key (null: removed), given what each key holds before
 * (`current`). Throws ReorgDuringSync when a log of the first or last block is of another
 * block than the one read. `intern` shares one string per node id.
 */
export function foldRange(
  logs: readonly RawLog[],
  bounds: RangeBounds,
  current: (key: string) => StoredEntry | undefined,
  intern: (nodeId: string) => string,
): { changes: Map<string, StoredEntry | null>; events: number } {
  const changes = new Map<string, StoredEntry | null>();
  const now = (key: string) => (changes.has(key) ? (changes.get(key) ?? undefined) : current(key));
  let events = 0;
  for (const log of logs) {
    if (log.removed === true) continue;
    const block = blockNumberOf(log);
    if ((block === bounds.end && log.blockHash !== bounds.endHash) || (block === bounds.start && log.blockHash !== bounds.startHash)) throw new ReorgDuringSync();
    const event = decodeEscrowLog(log);
    if (event === undefined) continue;
    event.nodeId = intern(event.nodeId);
    events++;
    switch (event.kind) {
      case "subscribed":
        changes.set(entryKey(event.nodeId, event.clientId), { nodeId: event.nodeId, clientId: event.clientId, owner: event.owner, expiresAt: event.expiresAt });
        break;
      case "extended": {
        const key = entryKey(event.nodeId, event.clientId);
        changes.set(key, { nodeId: event.nodeId, clientId: event.clientId, owner: now(key)?.owner ?? event.payer, expiresAt: event.expiresAt });
        break;
      }
      case "cancelled":
        changes.set(entryKey(event.nodeId, event.clientId), null);
        break;
      case "clientIdChanged":
        // The event carries the moved record, so the new key's entry needs nothing from the old one.
        changes.set(entryKey(event.nodeId, event.oldClientId), null);
        changes.set(entryKey(event.nodeId, event.newClientId), { nodeId: event.nodeId, clientId: event.newClientId, owner: event.owner, expiresAt: event.expiresAt });
        break;
    }
  }
  return { changes, events };
}
