// Shared by the page's Chromium tests: the browser flags and an EIP-1193 wallet injected into the
// page that forwards to a `hardhat node`, whose unlocked accounts sign.
import type { Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
export const PHONE = { width: 390, height: 844 };

/** The injected wallet: `window.ethereum` answering through a binding into this test process. */
export const WALLET_SCRIPT = `(() => {
  if (new URLSearchParams(location.search).has("nowallet")) return;
  const listeners = new Map();
  const ethereum = {
    async request({ method, params }) {
      const reply = await window.__wallet(method, params ?? []);
      if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code, data: reply.error.data });
      return reply.result;
    },
    on(event, fn) { if (!listeners.has(event)) listeners.set(event, new Set()); listeners.get(event).add(fn); return ethereum; },
    removeListener(event, fn) { listeners.get(event)?.delete(fn); return ethereum; },
    __emit(event, payload) { for (const fn of listeners.get(event) ?? []) fn(payload); },
  };
  window.ethereum = ethereum;
})();`;

export interface WalletState {
  account: string;
  chainId: number;
  connected: boolean;
  rejectNext: boolean;
  /** Hashes of the transactions the wallet sent (each one a signature the user gave). */
  sent: string[];
  switchRequests: number;
}

export type WalletReply = { result?: unknown; error?: { code: number; message: string; data?: unknown } };

/** Answers the page's wallet requests: accounts and chain from `wallet`, everything else from the node at `rpcUrl()`. */
export function walletHandler(rpcUrl: () => string, wallet: WalletState) {
  return async (target: Page, method: string, params: unknown[]): Promise<WalletReply> => {
    switch (method) {
      case "eth_requestAccounts":
        wallet.connected = true;
        return { result: [wallet.account] };
      case "eth_accounts":
        return { result: wallet.connected ? [wallet.account] : [] };
      case "eth_chainId":
        return { result: `0x${wallet.chainId.toString(16)}` };
      case "wallet_switchEthereumChain": {
        wallet.switchRequests++;
        wallet.chainId = Number(BigInt((params[0] as { chainId: string }).chainId));
        const id = `0x${wallet.chainId.toString(16)}`;
        setTimeout(() => void target.evaluate((chain) => (globalThis as unknown as { ethereum: { __emit(e: string, p: string): void } }).ethereum.__emit("chainChanged", chain), id), 0);
        return { result: null };
      }
      case "eth_sendTransaction":
        if (wallet.rejectNext) {
          wallet.rejectNext = false;
          return { error: { code: 4001, message: "User rejected the request." } };
        }
        break;
    }
    // Everything else, eth_sendTransaction included, goes to the node, which signs for its unlocked account.
    const response = await fetch(rpcUrl(), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    const body = (await response.json()) as WalletReply;
    if (method === "eth_sendTransaction" && body.result !== undefined) wallet.sent.push(body.result as string);
    return body.error !== undefined ? { error: body.error } : { result: body.result };
  };
}
