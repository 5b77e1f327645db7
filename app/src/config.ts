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
}

export async function loadConfig(url = "./config.json"): Promise<AppConfig> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = (await response.json()) as Partial<AppConfig>;
  for (const key of ["chainId", "chainName", "rpcUrl", "addresses", "token"] as const) {
    if (config[key] === undefined) throw new Error(`config.json lacks "${key}"`);
  }
  return config as AppConfig;
}
