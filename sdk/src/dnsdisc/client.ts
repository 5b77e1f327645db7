// The client side of EIP-1459: resolve an `enrtree://` URL through an injected TXT lookup, check
// every signature and hash, follow branches and links within bounds, and yield the leaves' ENRs
// into the same pipeline as discv5. Isomorphic: the lookup is a function (see dnsOverHttps.ts for
// browsers and the `/discovery` entry's `nodeDnsResolver` for Node). Not @waku/discovery's
// DnsNodeDiscovery: it checks no hash labels, ignores links, drops records without `waku2` and
// returns a few peers per call.
import type { DiscoverOptions, DiscoverySource } from "../sources/sources.js";
import { parseEnr } from "../enr.js";
import { MailserverSdkError, isSdkError } from "../errors.js";
import { entryHash, parseEnrTreeUrl, parseEntry, verifyRoot, type EnrTreeRoot, type EnrTreeUrl } from "./tree.js";

/**
 * A TXT lookup: the TXT records at `name`, each as its character-strings (joined by the client)
 * or already joined. Reject (or resolve `[]`) when there is none.
 */
export type TxtResolver = (name: string, options?: { signal?: AbortSignal }) => Promise<readonly (string | readonly string[])[]>;

/** Why part of a tree was skipped. */
export type TreeSkipReason =
  | "lookup-failed"
  | "no-record"
  | "hash-mismatch"
  | "bad-entry"
  | "invalid-enr"
  | "enr-in-link-tree"
  | "link-in-enr-tree"
  | "already-visited"
  | "too-deep"
  | "entry-limit"
  | "link-limit"
  /** A root (of a linked tree, or one of several URLs) that is malformed or wrongly signed. */
  | "bad-linked-root"
  | "stale-root";

export interface TreeSkip {
  /** The DNS name (or URL, for a linked tree) skipped. */
  name: string;
  reason: TreeSkipReason;
  detail?: string;
}

export interface DnsTreeStats {
  /** TXT lookups made. */
  lookups: number;
  /** Trees whose root verified (the URL's own plus linked ones). */
  trees: number;
  enrs: number;
  skipped: TreeSkip[];
  elapsedMs: number;
}

export interface DnsEnrTreeSourceOptions {
  /** One or more `enrtree://<key>@<domain>` URLs. */
  url: string | readonly string[];
  resolveTxt: TxtResolver;
  /** Follow `enrtree://` links to other trees (default true), at most `maxLinkDepth` hops (default 2). */
  followLinks?: boolean;
  maxLinkDepth?: number;
  /** Deepest branch nesting followed in one tree (default 8: 13^8 leaves). */
  maxDepth?: number;
  /** Most entries (TXT lookups) per `discover()` over all trees (default 2000). */
  maxEntries?: number;
  /** Most linked trees per `discover()` (default 16). */
  maxTrees?: number;
  /** Lookups in flight at once (default 8). */
  concurrency?: number;
  /**
   * Root seqs accepted before (e.g. saved from `seqs()` by a previous run), by `enrtree://` URL:
   * a root with a lower seq is refused from the first call on.
   */
  knownSeqs?: Readonly<Record<string, number>>;
  name?: string;
}

interface Walk {
  lookups: number;
  trees: number;
  skipped: TreeSkip[];
  enrs: string[];
  signal?: AbortSignal;
  visitedTrees: Set<string>;
}

/**
 * Discovers nodes from EIP-1459 DNS trees. The root must be signed by the key in the URL and its
 * `seq` must not go backwards between calls (a replayed older tree is refused: DNS_TREE_STALE);
 * every entry must hash to its label; `enr:` leaves only under `e=`, links only under `l=`; loops,
 * depth and size are bounded. A bad part of the tree is skipped with a reason (`lastStats.skipped`),
 * never thrown: only the URL's own root failing throws (DNS_TREE_INVALID / DNS_TREE_STALE /
 * DNS_LOOKUP_FAILED; with several URLs, only when every one fails), which `combineSources`
 * reports as a failed source.
 */
export class DnsEnrTreeSource implements DiscoverySource {
  readonly name: string;
  readonly urls: readonly EnrTreeUrl[];
  readonly #options: DnsEnrTreeSourceOptions;
  /** Highest root seq seen per tree (key@domain), for the stale-root check. */
  readonly #seqs = new Map<string, number>();
  lastStats: DnsTreeStats | undefined;

  constructor(options: DnsEnrTreeSourceOptions) {
    this.#options = options;
    this.urls = (typeof options.url === "string" ? [options.url] : [...options.url]).map(parseEnrTreeUrl);
    if (this.urls.length === 0) throw new MailserverSdkError("INVALID_ARGUMENT", "at least one enrtree:// URL is required");
    this.name = options.name ?? `dns(${this.urls.map((u) => u.domain).join(",")})`;
    for (const [url, seq] of Object.entries(options.knownSeqs ?? {})) this.#seqs.set(parseEnrTreeUrl(url).url, seq);
  }

  /** Root seqs accepted so far, by URL (linked trees included): save them to refuse replays after a restart. */
  seqs(): Record<string, number> {
    return Object.fromEntries(this.#seqs);
  }

  /** The highest root seq accepted so far for a URL's tree. */
  lastSeq(url: string): number | undefined {
    return this.#seqs.get(parseEnrTreeUrl(url).url);
  }

  async discover(options: DiscoverOptions = {}): Promise<string[]> {
    const started = Date.now();
    const walk: Walk = { lookups: 0, trees: 0, skipped: [], enrs: [], visitedTrees: new Set() };
    if (options.signal !== undefined) walk.signal = options.signal;
    try {
      // With several URLs one bad tree does not hide the others: it throws only when all fail.
      const errors: unknown[] = [];
      for (const url of this.urls) {
        try {
          await this.#tree(url, 0, walk, true);
        } catch (error) {
          if (this.urls.length === 1) throw error;
          errors.push(error);
          const reason = isSdkError(error, "DNS_TREE_STALE") ? "stale-root" : isSdkError(error, "DNS_LOOKUP_FAILED") ? "lookup-failed" : "bad-linked-root";
          walk.skipped.push({ name: url.url, reason, detail: error instanceof Error ? error.message : String(error) });
        }
      }
      if (errors.length === this.urls.length) throw errors[0];
    } finally {
      this.lastStats = { lookups: walk.lookups, trees: walk.trees, enrs: walk.enrs.length, skipped: walk.skipped, elapsedMs: Date.now() - started };
    }
    return [...new Set(walk.enrs)];
  }

  async #lookup(name: string, walk: Walk): Promise<string | undefined> {
    const max = this.#options.maxEntries ?? 2000;
    if (walk.lookups >= max) {
      walk.skipped.push({ name, reason: "entry-limit", detail: `more than ${max} entries` });
      return undefined;
    }
    walk.lookups++;
    let records: readonly (string | readonly string[])[];
    try {
      records = await this.#options.resolveTxt(name, walk.signal ? { signal: walk.signal } : {});
    } catch (error) {
      throw new MailserverSdkError("DNS_LOOKUP_FAILED", `TXT lookup of ${name} failed: ${error instanceof Error ? error.message : String(error)}`, { details: { name }, cause: error });
    }
    if (!Array.isArray(records) || !records.every((r) => typeof r === "string" || (Array.isArray(r) && r.every((x) => typeof x === "string")))) {
      throw new MailserverSdkError("DNS_LOOKUP_FAILED", `TXT lookup of ${name} returned something other than TXT strings`, { details: { name } });
    }
    // Long entries come back as several character-strings: join them. Several records: take the
    // first that looks like a tree entry (a domain may carry unrelated TXT records).
    const texts = records.map((r) => (typeof r === "string" ? r : r.join("")));
    return texts.find((t) => /^(enrtree-root:|enrtree-branch:|enr:|enrtree:\/\/)/.test(t)) ?? texts[0];
  }

  async #tree(url: EnrTreeUrl, linkDepth: number, walk: Walk, own: boolean): Promise<void> {
    const skip = (reason: TreeSkipReason, detail: string) => {
      if (own) {
        const code = reason === "stale-root" ? "DNS_TREE_STALE" : reason === "lookup-failed" ? "DNS_LOOKUP_FAILED" : "DNS_TREE_INVALID";
        throw new MailserverSdkError(code, `${url.url}: ${detail}`, { details: { url: url.url, reason } });
      }
      walk.skipped.push({ name: url.url, reason, detail });
    };
    if (walk.visitedTrees.has(url.url)) {
      walk.skipped.push({ name: url.url, reason: "already-visited", detail: "link loop" });
      return;
    }
    walk.visitedTrees.add(url.url);
    let text: string | undefined;
    try {
      text = await this.#lookup(url.domain, walk);
    } catch (error) {
      return skip("lookup-failed", error instanceof Error ? error.message : String(error));
    }
    if (text === undefined) return skip("no-record", `no TXT record at ${url.domain}`);
    let root: EnrTreeRoot;
    try {
      root = verifyRoot(text, url.publicKey);
    } catch (error) {
      return skip("bad-linked-root", error instanceof Error ? error.message : String(error));
    }
    const last = this.#seqs.get(url.url);
    if (last !== undefined && root.seq < last) return skip("stale-root", `root seq ${root.seq} is lower than ${last} seen before`);
    this.#seqs.set(url.url, root.seq);
    walk.trees++;

    const links: EnrTreeUrl[] = [];
    await this.#subtree(url.domain, root.enrRoot, "enr", walk, links);
    if (this.#options.followLinks !== false) {
      await this.#subtree(url.domain, root.linkRoot, "link", walk, links);
      const maxLinkDepth = this.#options.maxLinkDepth ?? 2;
      const maxTrees = this.#options.maxTrees ?? 16;
      for (const link of links) {
        if (linkDepth + 1 > maxLinkDepth) {
          walk.skipped.push({ name: link.url, reason: "too-deep", detail: `more than ${maxLinkDepth} link hops` });
          continue;
        }
        if (walk.trees >= maxTrees) {
          walk.skipped.push({ name: link.url, reason: "link-limit", detail: `more than ${maxTrees} trees` });
          continue;
        }
        await this.#tree(link, linkDepth + 1, walk, false);
      }
    }
  }

  /** Walks one subtree breadth first, `concurrency` lookups at a time. */
  async #subtree(domain: string, rootHash: string, kind: "enr" | "link", walk: Walk, links: EnrTreeUrl[]): Promise<void> {
    const maxDepth = this.#options.maxDepth ?? 8;
    const concurrency = Math.max(1, this.#options.concurrency ?? 8);
    const seen = new Set<string>();
    let level: string[] = [rootHash];
    for (let depth = 0; level.length > 0; depth++) {
      const next: string[] = [];
      for (let i = 0; i < level.length && !walk.signal?.aborted; i += concurrency) {
        await Promise.all(
          level.slice(i, i + concurrency).map(async (hash) => {
            const name = `${hash}.${domain}`;
            if (seen.has(hash)) {
              walk.skipped.push({ name, reason: "already-visited", detail: "entry referenced twice (loop)" });
              return;
            }
            seen.add(hash);
            let text: string | undefined;
            try {
              text = await this.#lookup(name, walk);
            } catch (error) {
              walk.skipped.push({ name, reason: "lookup-failed", detail: error instanceof Error ? error.message : String(error) });
              return;
            }
            if (text === undefined) {
              if (!walk.skipped.some((s) => s.name === name)) walk.skipped.push({ name, reason: "no-record", detail: "no TXT record" });
              return;
            }
            if (entryHash(text) !== hash.toUpperCase()) {
              walk.skipped.push({ name, reason: "hash-mismatch", detail: `content hashes to ${entryHash(text)}` });
              return;
            }
            let entry;
            try {
              entry = parseEntry(text);
            } catch (error) {
              walk.skipped.push({ name, reason: "bad-entry", detail: error instanceof Error ? error.message : String(error) });
              return;
            }
            if (entry.type === "branch") {
              if (depth + 1 > maxDepth) {
                walk.skipped.push({ name, reason: "too-deep", detail: `branches nested more than ${maxDepth} deep` });
                return;
              }
              next.push(...entry.children);
            } else if (entry.type === "enr") {
              if (kind !== "enr") {
                walk.skipped.push({ name, reason: "enr-in-link-tree", detail: "an ENR under the link root" });
                return;
              }
              try {
                walk.enrs.push(parseEnr(entry.enr).enr);
              } catch (error) {
                walk.skipped.push({ name, reason: "invalid-enr", detail: isSdkError(error) ? error.message : String(error) });
              }
            } else if (kind !== "link") {
              walk.skipped.push({ name, reason: "link-in-enr-tree", detail: "a link under the ENR root" });
            } else {
              links.push(entry.url);
            }
          }),
        );
      }
      level = next;
    }
  }
}
