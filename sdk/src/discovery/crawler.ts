// The discv5 crawler source (Node-only: it runs a discv5 node over UDP).
import { ENR } from "@chainsafe/enr";
import { parseEnr } from "../enr.js";
import { kindId } from "../nodeKey.js";
import { MAILSERVER_KIND_NAME } from "../serviceKinds.js";
import { startDiscv5Node, type Discv5ConfigOverrides, type Discv5Handle } from "./node.js";
import type { DiscoverOptions, DiscoverySource } from "../sources/sources.js";
import { enrNodeId, withTimeout } from "../sources/util.js";

export interface Discv5CrawlerOptions {
  /** ENRs to start from (bootstrap nodes). */
  bootEnrs: readonly string[];
  /** Keep ENRs that announce this kind (name or id; default `"mailserver"`). `null` keeps every ENR. */
  kind?: string | null;
  /** Address for the crawler's own ephemeral node. Default "0.0.0.0"; use "127.0.0.1" in tests. */
  bindIp?: string;
  /** UDP port of the ephemeral node (default 0: any). */
  port?: number;
  /** At most this many `findRandomNode` lookups (default 5). */
  rounds?: number;
  /** Stop after this many consecutive lookups that found nothing new (default 2). */
  idleRounds?: number;
  /**
   * FINDNODE requests sent to every newly seen node besides the random lookups, each a list of
   * log-distances (a node answers at most 16 ENRs per request). Default
   * `[[256], [255], [254], [253, 252, 251, 250]]`: the buckets holding almost all of a node's
   * peers. `[]` only runs random lookups.
   */
  walkDistances?: readonly (readonly number[])[];
  /** Time budget of one crawl in ms (default 15000). */
  timeoutMs?: number;
  /** Crawl with an already running node instead of an ephemeral one (it is not stopped). */
  node?: Discv5Handle;
  /** discv5 settings of the ephemeral node (default here: requestTimeout 1000 ms, enrUpdate off). */
  config?: Discv5ConfigOverrides;
  name?: string;
}

/** What the last crawl did. */
export interface CrawlStats {
  rounds: number;
  /** Distinct node ids seen (boot nodes included). */
  seen: number;
  /** Of which announce the kind. */
  matched: number;
  elapsedMs: number;
  /** Boot ENRs that did not decode. */
  invalidBootEnrs: string[];
}

const WALK_PARALLELISM = 4;
const DEFAULT_WALK_DISTANCES: readonly (readonly number[])[] = [[256], [255], [254], [253, 252, 251, 250]];

/**
 * Crawls the discv5 network: starts an ephemeral discv5 node (or uses `node`), adds the boot
 * ENRs, then runs rounds of one random-target lookup plus a FINDNODE to every newly seen node
 * (bounded by `rounds`, `idleRounds` and `timeoutMs`), and returns the ENRs seen (boot nodes
 * included) that announce `kind` (the `waku2` store bit for mail servers, or `srvkind`).
 */
export class Discv5CrawlerSource implements DiscoverySource {
  readonly name: string;
  readonly #options: Discv5CrawlerOptions;
  readonly #kind: string | null;
  lastStats: CrawlStats | undefined;

  constructor(options: Discv5CrawlerOptions) {
    this.#options = options;
    this.#kind = options.kind === null ? null : kindId(options.kind ?? MAILSERVER_KIND_NAME);
    this.name = options.name ?? "discv5";
  }

  async discover(options: DiscoverOptions = {}): Promise<string[]> {
    const started = Date.now();
    const o = this.#options;
    const timeoutMs = o.timeoutMs ?? 15_000;
    const deadline = started + timeoutMs;
    const owned = o.node === undefined;
    const node =
      o.node ??
      (await startDiscv5Node({
        bindIp: o.bindIp ?? "0.0.0.0",
        port: o.port ?? 0,
        config: { requestTimeout: 1000, lookupTimeout: Math.min(timeoutMs, 30_000), enrUpdate: false, ...o.config },
      }));
    const seen = new Map<string, ENR>();
    const note = (enr: ENR): boolean => {
      const prev = seen.get(enr.nodeId);
      if (prev !== undefined && prev.seq >= enr.seq) return false;
      seen.set(enr.nodeId, enr);
      return prev === undefined;
    };
    const onEnr = (enr: ENR) => {
      note(enr);
    };
    node.events.on("discovered", onEnr);
    node.events.on("enrAdded", onEnr);
    let rounds = 0;
    const invalidBootEnrs: string[] = [];
    try {
      for (const text of o.bootEnrs) {
        try {
          note(parseEnrObject(text));
        } catch {
          invalidBootEnrs.push(text);
        }
      }
      node.addEnrs(o.bootEnrs.filter((t) => !invalidBootEnrs.includes(t)));

      const maxRounds = o.rounds ?? 5;
      const maxIdle = o.idleRounds ?? 2;
      const walkDistances = o.walkDistances ?? DEFAULT_WALK_DISTANCES;
      const queried = new Set<string>([node.discv5.enr.nodeId]);
      const timeLeft = () => deadline - Date.now();
      let idle = 0;
      while (rounds < maxRounds && !options.signal?.aborted && timeLeft() > 0) {
        const before = seen.size;
        rounds++;
        // 1. A random-target lookup (a lookup without any known peer would idle until its timeout).
        if (node.discv5.kadValues().length > 0) {
          try {
            const found = await withTimeout(node.discv5.findRandomNode(), timeLeft(), () => new Error("crawl time budget used up"));
            for (const enr of found) note(enr);
          } catch {
            break;
          }
        }
        for (const enr of node.discv5.kadValues()) note(enr);
        // 2. Walk the table: ask every node not asked yet for its outermost buckets, where almost
        //    all of its peers sit (random lookups alone miss nodes in small networks).
        if (walkDistances.length > 0) {
          const pending = [...seen.values()].filter((e) => !queried.has(e.nodeId) && (e.udp !== undefined || e.udp6 !== undefined));
          for (let i = 0; i < pending.length && timeLeft() > 0 && !options.signal?.aborted; i += WALK_PARALLELISM) {
            await Promise.all(
              pending.slice(i, i + WALK_PARALLELISM).map(async (enr) => {
                queried.add(enr.nodeId);
                for (const distances of walkDistances) {
                  if (timeLeft() <= 0) return;
                  try {
                    const nodes = await withTimeout(node.discv5.sendFindNode(enr, [...distances]), timeLeft(), () => new Error("timeout"));
                    for (const n of nodes) note(n);
                  } catch {
                    return; // Unreachable or slow node: the crawl goes on without it.
                  }
                }
              }),
            );
          }
        }
        idle = seen.size > before ? 0 : idle + 1;
        if (idle >= maxIdle) break;
      }
    } finally {
      node.events.off("discovered", onEnr);
      node.events.off("enrAdded", onEnr);
      if (owned) await node.stop();
    }
    const selfId = node.nodeId;
    const matches = [...seen.values()].filter((enr) => enrNodeId(enr) !== selfId && this.#matches(enr));
    this.lastStats = { rounds, seen: seen.size, matched: matches.length, elapsedMs: Date.now() - started, invalidBootEnrs };
    return matches.map((enr) => enr.encodeTxt());
  }

  #matches(enr: ENR): boolean {
    if (this.#kind === null) return true;
    try {
      return parseEnr(enr.encodeTxt()).kinds.includes(this.#kind);
    } catch {
      return false;
    }
  }
}

function parseEnrObject(text: string): ENR {
  parseEnr(text); // same validity rule as everywhere else in the SDK (throws INVALID_ENR)
  return ENR.decodeTxt(text.trim());
}
