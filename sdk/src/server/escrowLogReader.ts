// Reading the escrow's subscription events from an RPC: eth_getLogs over ranges (halved while
// refused), and a single over-full block from its receipts or one event type at a time. Raw
// JSON-RPC logs where the provider speaks JSON-RPC (no per-log ethers objects).
import { toQuantity, type Provider } from "ethers";
import { isRangeRefusal, scanLogs } from "../core/logScan.js";
import { MailserverSdkError } from "../errors.js";
import { ESCROW_EVENT_FILTER, type RawLog } from "../gate/escrowLogs.js";

export interface EscrowLogReaderOptions {
  provider: Provider;
  escrow: string;
  /** Node ids (lowercase, sorted) whose events are read, or null for all. */
  nodeFilter: string[] | null;
  /** How each RPC call is made (the index's retry policy and deadline). */
  read<T>(label: string, call: () => Promise<T>): Promise<T>;
}

const logIndexOf = (log: RawLog & { logIndex?: string | number }): number => (typeof log.logIndex === "number" ? log.logIndex : Number.parseInt(log.logIndex ?? "0", 16));

export class EscrowLogReader {
  readonly #options: EscrowLogReaderOptions;

  constructor(options: EscrowLogReaderOptions) {
    this.#options = options;
  }

  /**
   * eth_getLogs for the range, split in halves while the provider refuses it as too large. A
   * single block it still refuses (more events than it returns in one answer) is read another
   * way: its receipts, else one event type at a time.
   */
  async logs(from: number, to: number): Promise<RawLog[]> {
    const filter = { address: this.#options.escrow, topics: this.#options.nodeFilter === null ? [ESCROW_EVENT_FILTER] : [ESCROW_EVENT_FILTER, this.#options.nodeFilter] };
    return scanLogs(from, to, {
      fetch: (a, b) => this.#options.read("getLogs", () => this.#rawLogs(filter, a, b)),
      singleBlock: (block, refusal) => this.#blockLogs(block, refusal),
    });
  }

  /** The escrow's logs of one block the provider refuses to return by eth_getLogs. */
  async #blockLogs(block: number, refusal: unknown): Promise<RawLog[]> {
    const wanted = (log: RawLog & { address?: string }) =>
      typeof log.address === "string" &&
      log.address.toLowerCase() === this.#options.escrow.toLowerCase() &&
      ESCROW_EVENT_FILTER.includes(log.topics[0]?.toLowerCase() ?? "") &&
      (this.#options.nodeFilter === null || this.#options.nodeFilter.includes(log.topics[1]?.toLowerCase() ?? ""));
    const send = (this.#options.provider as { send?: (method: string, params: unknown[]) => Promise<unknown> }).send;
    if (typeof send === "function") {
      try {
        const receipts = await this.#options.read("eth_getBlockReceipts", () => send.call(this.#options.provider, "eth_getBlockReceipts", [toQuantity(block)]));
        if (Array.isArray(receipts)) return (receipts as { logs?: (RawLog & { address?: string })[] }[]).flatMap((r) => r.logs ?? []).filter(wanted);
      } catch {
        // Not every provider has eth_getBlockReceipts: try one event type at a time.
      }
    }
    const logs: RawLog[] = [];
    for (const topic of ESCROW_EVENT_FILTER) {
      const filter = { address: this.#options.escrow, topics: this.#options.nodeFilter === null ? [topic] : [topic, this.#options.nodeFilter] };
      try {
        logs.push(...(await this.#options.read("getLogs", () => this.#rawLogs(filter, block, block))));
      } catch (error) {
        if (!isRangeRefusal(error)) throw error;
        throw new MailserverSdkError("RPC_UNAVAILABLE", `the RPC refuses the escrow's logs of block ${block} even one event type at a time, and has no eth_getBlockReceipts; use an RPC with a higher log limit`, { cause: refusal, details: { block } });
      }
    }
    // Events are applied in chain order: a cancellation after a purchase in the same block.
    return logs.sort((x, y) => logIndexOf(x) - logIndexOf(y));
  }

  /** Raw JSON-RPC logs when the provider speaks JSON-RPC (no per-log ethers objects), else getLogs. */
  async #rawLogs(filter: { address: string; topics: (string[] | string)[] }, from: number, to: number): Promise<RawLog[]> {
    const send = (this.#options.provider as { send?: (method: string, params: unknown[]) => Promise<unknown> }).send;
    if (typeof send === "function") {
      const logs = await send.call(this.#options.provider, "eth_getLogs", [{ ...filter, fromBlock: toQuantity(from), toBlock: toQuantity(to) }]);
      if (!Array.isArray(logs)) throw new MailserverSdkError("CONTRACT_ERROR", "eth_getLogs returned no list");
      return logs as RawLog[];
    }
    return (await this.#options.provider.getLogs({ ...filter, fromBlock: from, toBlock: to })) as unknown as RawLog[];
  }
}
