// What the page needs to know about its chain, served beside it as config.json so that one
// build can point at any deployment (`npm run app` serves the local one).

export interface AppConfig {
  chainId: number;
  chainName: string;
  /** JSON-RPC endpoint the page reads from, and offers to a wallet that does not know the chain. */
  rpcUrl: string;
  /**
   * `startBlock`: the escrow's deployment block, where the SDK's scans for subscription records
   * start (default 0, which public RPCs may refuse to scan from or answer slowly).
   */
  addresses: { registry: string; escrow: string; token: string; startBlock?: number };
  token: { symbol: string; decimals: number };
  /**
   * Independent quality probes (issue 23): URLs answering `GET` with `{"reports":[…]}` (the
   * `mailserver-probe` HTTP endpoint). Each report is verified against the registry's trusted
   * probes (nodes of kind "probe"); only those count. `windowSeconds`: how far back reports are
   * folded (default one day).
   */
  quality?: { reportUrls: string[]; windowSeconds?: number };
  /**
   * Where each server's signed offer is read over HTTP (the server's `offer.http`), by node id.
   * The registry holds no web address, so the deployment lists them here.
   */
  offerUrls?: Record<string, string>;
  /**
   * The ranking's floors (see the SDK's `rankNodes`): e.g. `{ "minRetentionSeconds": 2592000 }`
   * for a month of messages; defaults: availability and completeness floors of 90%.
   */
  rank?: { minAvailability?: number; minCompleteness?: number; minRetentionSeconds?: number; minRetentionBytes?: number; belowFloor?: "exclude" | "last" };
  /** Days before a subscription ends from which the page warns that it is ending (default 7). */
  paidUntilWarningDays?: number;
  /** Deadline of each offer or report read, ms (default 5000). */
  fetchTimeoutMs?: number;
}

export const DEFAULT_PAID_UNTIL_WARNING_DAYS = 7;

export async function loadConfig(url = "./config.json"): Promise<AppConfig> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = (await response.json()) as Partial<AppConfig>;
  for (const key of ["chainId", "chainName", "rpcUrl", "addresses", "token"] as const) {
    if (config[key] === undefined) throw new Error(`config.json lacks "${key}"`);
  }
  const reportUrls = config.quality?.reportUrls;
  if (config.quality !== undefined && (!Array.isArray(reportUrls) || reportUrls.some((u) => typeof u !== "string"))) throw new Error('config.json: "quality.reportUrls" must be a list of URLs');
  const days = config.paidUntilWarningDays;
  if (days !== undefined && !(Number.isFinite(days) && days >= 0)) throw new Error('config.json: "paidUntilWarningDays" must be a number of days >= 0');
  return config as AppConfig;
}
