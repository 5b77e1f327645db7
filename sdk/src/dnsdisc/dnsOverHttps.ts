// TXT lookups over DNS-over-HTTPS with plain `fetch` (browsers, React Native, workers): the JSON
// API (`application/dns-json`) that Cloudflare, Google and others serve.
import type { TxtResolver } from "./client.js";

export interface DnsOverHttpsOptions {
  /** The resolver's JSON endpoint (default Cloudflare's `https://cloudflare-dns.com/dns-query`). */
  url?: string;
  /** `fetch` to use (default the global one). */
  fetch?: typeof fetch;
  /** Per-lookup timeout, ms (default 5000). */
  timeoutMs?: number;
}

/** Unquotes the `data` of a TXT answer: one or more "quoted" character-strings, with \" and \DDD escapes. */
export function parseTxtData(data: string): string[] {
  const t = data.trim();
  if (!t.startsWith('"')) return [t];
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (const m of t.matchAll(re)) {
    out.push(m[1]!.replace(/\\(\d{3}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(Number(e)) : e)));
  }
  return out;
}

/** A {@link TxtResolver} over DNS-over-HTTPS (RFC 8484 servers' JSON form). */
export function dnsOverHttpsResolver(options: DnsOverHttpsOptions = {}): TxtResolver {
  const endpoint = options.url ?? "https://cloudflare-dns.com/dns-query";
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  return async (name, { signal } = {}) => {
    const url = new URL(endpoint);
    url.searchParams.set("name", name);
    url.searchParams.set("type", "TXT");
    // One controller for the caller's signal and the timeout (AbortSignal.any is missing in some runtimes).
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new Error(`DNS-over-HTTPS lookup of ${name} timed out after ${timeoutMs} ms`)), timeoutMs);
    let body: { Status?: number; Answer?: { type?: number; data?: string }[] };
    try {
      const response = await doFetch(url, { headers: { accept: "application/dns-json" }, signal: controller.signal });
      if (!response.ok) throw new Error(`DNS-over-HTTPS answered HTTP ${response.status}`);
      body = (await response.json()) as typeof body;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    // NXDOMAIN (3) means no such entry; anything else non-zero is a resolver failure.
    if (body.Status === 3) return [];
    if (body.Status !== 0) throw new Error(`DNS-over-HTTPS status ${String(body.Status)}`);
    return (body.Answer ?? []).filter((a) => a.type === 16 && typeof a.data === "string").map((a) => parseTxtData(a.data!));
  };
}
