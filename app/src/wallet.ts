// The browser wallet, through EIP-1193 only: any injected provider (window.ethereum) works.
import { toQuantity, type Eip1193Provider } from "ethers";
import type { AppConfig } from "./config.js";

export interface Wallet extends Eip1193Provider {
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** The injected wallet, if the browser has one. */
export function findWallet(): Wallet | undefined {
  const injected = (globalThis as { ethereum?: Wallet }).ethereum;
  return injected !== undefined && typeof injected.request === "function" ? injected : undefined;
}

/** Asks the wallet for an account (the wallet shows its own prompt). */
export async function requestAccount(wallet: Wallet): Promise<string | undefined> {
  const accounts = (await wallet.request({ method: "eth_requestAccounts" })) as string[];
  return accounts[0];
}

/** An account the wallet already granted this page, without prompting. */
export async function knownAccount(wallet: Wallet): Promise<string | undefined> {
  const accounts = (await wallet.request({ method: "eth_accounts" })) as string[];
  return accounts[0];
}

export async function walletChainId(wallet: Wallet): Promise<number> {
  return Number(BigInt((await wallet.request({ method: "eth_chainId" })) as string));
}

/** Asks the wallet to switch to the page's chain, adding it first when the wallet does not know it (EIP-3085, error 4902). */
export async function switchChain(wallet: Wallet, config: AppConfig): Promise<void> {
  const chainId = toQuantity(config.chainId);
  try {
    await wallet.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (error) {
    if ((error as { code?: unknown }).code !== 4902) throw error;
    await wallet.request({
      method: "wallet_addEthereumChain",
      params: [{ chainId, chainName: config.chainName, rpcUrls: [config.rpcUrl], nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } }],
    });
  }
}
