// What a mail server's store answer means to an app: pay, or try later. Isomorphic.
import { MailserverSdkError } from "../errors.js";

/**
 * Store refusals (`status_code` of a store v3 response) that paying cannot fix: the server is
 * overloaded or cannot check subscriptions now (503), or rate limits this peer (429).
 */
const RETRYABLE = new Set([429, 503]);

/** The status code and description of a store refusal, from a `@waku/sdk` query error ("status code: 402, description: …"). */
export function storeStatusOf(error: unknown): { statusCode: number; statusDesc: string } | undefined {
  const message = error instanceof Error ? error.message : typeof error === "string" ? error : undefined;
  const match = message === undefined ? null : /status code:\s*(\d{3}),\s*description:\s*(.*)$/is.exec(message);
  return match === null ? undefined : { statusCode: Number(match[1]), statusDesc: match[2]!.trim() };
}

/**
 * A store query's refusal as a MailserverSdkError an app can act on, from the status code and
 * description (or a `@waku/sdk` query error carrying them):
 * - 402, or a 400 whose `eligibility` (field 30, see `queryStoreWithProof`) is 402: ACCESS_REFUSED,
 *   `details.retryable` false: a subscription (or a grant) is needed;
 * - 503 and 429: NODE_UNAVAILABLE, `details.retryable` true: try later (or another node), do not
 *   ask the user to pay — the server could not check the subscription, or is overloaded;
 * - anything else: NODE_UNAVAILABLE with `details.retryable` false.
 * Undefined when `answer` is not a store refusal.
 */
export function storeRefusal(answer: unknown): MailserverSdkError | undefined {
  const status =
    typeof answer === "object" && answer !== null && typeof (answer as { statusCode?: unknown }).statusCode === "number"
      ? { statusCode: (answer as { statusCode: number }).statusCode, statusDesc: String((answer as { statusDesc?: unknown }).statusDesc ?? "") }
      : storeStatusOf(answer);
  if (status === undefined || status.statusCode < 300) return undefined;
  const details = { statusCode: status.statusCode, statusDesc: status.statusDesc, retryable: RETRYABLE.has(status.statusCode) };
  const cause = answer instanceof Error ? answer : undefined;
  // A proof of payment in field 30 that was refused: a 400 whose verdict (402) is in the answer's `eligibility`.
  const eligibility = typeof answer === "object" && answer !== null ? (answer as { eligibility?: { statusCode?: unknown; statusDesc?: unknown } }).eligibility : undefined;
  if (eligibility?.statusCode === 402) {
    return new MailserverSdkError("ACCESS_REFUSED", `the mail server refused the proof of payment: ${String(eligibility.statusDesc ?? status.statusDesc)}`, { details: { ...details, eligibility }, cause });
  }
  if (status.statusCode === 402) return new MailserverSdkError("ACCESS_REFUSED", `the mail server requires a subscription: ${status.statusDesc}`, { details, cause });
  if (details.retryable) return new MailserverSdkError("NODE_UNAVAILABLE", `the mail server cannot serve this now, try again later: ${status.statusDesc}`, { details, cause });
  return new MailserverSdkError("NODE_UNAVAILABLE", `the mail server refused the query (${status.statusCode}): ${status.statusDesc}`, { details, cause });
}

/** Whether an SDK error says "try again later" rather than "pay" or "fix the input". */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof MailserverSdkError)) return false;
  if (typeof error.details.retryable === "boolean") return error.details.retryable;
  return error.code === "RPC_UNAVAILABLE" || error.code === "RPC_TIMEOUT" || error.code === "NODE_UNAVAILABLE";
}
