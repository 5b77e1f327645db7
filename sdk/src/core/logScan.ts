// The one log scan: eth_getLogs over a block range, halving a range the provider refuses as too
// large, and reading a single block it still refuses another way (the caller's).
import { findInError } from "./errorWalk.js";

// What providers answer when an eth_getLogs result or range is over their cap (Alchemy, Infura,
// QuickNode, Ankr, geth's own "query returned more than 10000 results").
const RANGE_REFUSAL = /more than \d+ results|query returned more than|response size exceeded|range (is )?too (large|wide|big)|block range|exceed(s|ed)? .*(limit|range)|too many (results|logs|blocks)|limited to \d+/i;

/** Whether an eth_getLogs failure is the provider refusing the range as too large (split it and retry). */
export function isRangeRefusal(error: unknown): boolean {
  return findInError(error, ["error", "cause", "info", "payload"], (node) => (typeof node.message === "string" && RANGE_REFUSAL.test(node.message) ? true : undefined)) ?? false;
}

export interface LogScan<T> {
  /** One eth_getLogs call for the blocks [from, to]. */
  fetch(from: number, to: number): Promise<T[]>;
  /** A single block the provider still refuses: read it another way, or throw. Default: the refusal is thrown. */
  singleBlock?(block: number, refusal: unknown): Promise<T[]>;
}

/** The logs of [from, to] in chain order, halving every range the provider refuses as too large. */
export async function scanLogs<T>(from: number, to: number, scan: LogScan<T>): Promise<T[]> {
  try {
    return await scan.fetch(from, to);
  } catch (error) {
    if (!isRangeRefusal(error)) throw error;
    if (from >= to) {
      if (scan.singleBlock === undefined) throw error;
      return scan.singleBlock(from, error);
    }
    const mid = Math.floor((from + to) / 2);
    const left = await scanLogs(from, mid, scan);
    const right = await scanLogs(mid + 1, to, scan);
    return left.concat(right);
  }
}
