// The Node TXT lookup for DNS trees: node:dns's Resolver, optionally pointed at given servers.
import { Resolver } from "node:dns/promises";
import type { TxtResolver } from "../dnsdisc/client.js";

export interface NodeDnsResolverOptions {
  /** Name servers as `ip` or `ip:port` (default: the system's). */
  servers?: readonly string[];
  /** Per-try timeout, ms (default 5000), and tries (default 2). */
  timeoutMs?: number;
  tries?: number;
}

/** A {@link TxtResolver} over `node:dns`; "no such name / no data" resolves to `[]`. */
export function nodeDnsResolver(options: NodeDnsResolverOptions = {}): TxtResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: options.tries ?? 2 });
  if (options.servers !== undefined && options.servers.length > 0) resolver.setServers([...options.servers]);
  return async (name, { signal } = {}) => {
    const onAbort = () => resolver.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await resolver.resolveTxt(name);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ENOTFOUND" || code === "ENODATA") return [];
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  };
}
