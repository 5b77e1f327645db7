import { formatUnits } from "ethers";

export interface TokenInfo {
  symbol: string;
  decimals: number;
}

/** "47.5 SNT": at most 4 decimals, thousands separated. */
export function amount(value: bigint, token: TokenInfo): string {
  const text = Number(formatUnits(value, token.decimals)).toLocaleString("en-US", { maximumFractionDigits: 4 });
  return `${text} ${token.symbol}`;
}

/** "12 Mar 2027, 14:05" in the user's time zone. */
export function date(value: Date): string {
  return value.toLocaleString("en-GB", { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** Basis points as a percentage: 500 -> "5%". */
export function percent(bps: bigint): string {
  return `${(Number(bps) / 100).toLocaleString("en-US", { maximumFractionDigits: 2 })}%`;
}

/** 0x1234…abcd */
export function short(hex: string): string {
  return hex.length <= 14 ? hex : `${hex.slice(0, 6)}…${hex.slice(-4)}`;
}

export function plural(n: bigint | number, word: string): string {
  return `${n} ${word}${BigInt(n) === 1n ? "" : "s"}`;
}
