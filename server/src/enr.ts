// The node's ENR: the record a provider registers and discv5 publishes. Built in one place so that
// `mailserver-node key` prints, before the node ever runs, the very record the node announces.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { buildNodeEnr, parseEnr } from "@status/mailserver-sdk";
import type { ServerConfig } from "./config.js";

/**
 * The ENR for these dialable addresses (the node's announced multiaddrs; `/p2p/...` is dropped):
 * its WebSocket addresses go into `multiaddrs` (what Waku clients dial), the first plain TCP port
 * into `tcp`, the discovery IP and UDP port into `ip`/`udp`. Undefined without `discovery` in the
 * config, which is where the IP to announce comes from.
 */
export function serverEnr(privateKey: Uint8Array, config: ServerConfig, addresses: readonly string[], seq = 1n): string | undefined {
  const d = config.discovery;
  if (d === undefined) return undefined;
  const plain = addresses.map((a) => a.replace(/\/p2p\/[^/]+$/, ""));
  const websockets = plain.filter((a) => a.includes("/ws"));
  const tcp = plain.map((a) => /^\/ip[46]\/[^/]+\/tcp\/(\d+)$/.exec(a)?.[1]).find((p) => p !== undefined);
  return buildNodeEnr({
    privateKey,
    ip: d.ip,
    udp: d.udpPort,
    ...(tcp !== undefined ? { tcp: Number(tcp) } : {}),
    kind: "mailserver", // waku2: store
    // As nwaku's store nodes: relay with store (0x03); lightpush where relay runs it.
    capabilities: config.relay.enabled ? ["relay", "lightpush"] : [],
    multiaddrs: websockets,
    shards: { cluster: config.clusterId, shards: config.shards },
    seq,
  }).enr;
}

/** The last published record's sequence number and what it said (its key/value pairs, hex). */
interface SavedRecord {
  seq: string;
  content: string;
}

/** What a record says, whatever its sequence number and signature: its key/value pairs. */
function recordContent(privateKey: Uint8Array, config: ServerConfig, addresses: readonly string[]): string | undefined {
  const enr = serverEnr(privateKey, config, addresses);
  if (enr === undefined) return undefined;
  return [...parseEnr(enr).kvs].map(([key, value]) => `${key}=${Buffer.from(value).toString("hex")}`).join(";");
}

async function readSaved(file: string): Promise<SavedRecord | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const saved = JSON.parse(text) as Partial<SavedRecord>;
    if (typeof saved.seq === "string" && /^[1-9]\d*$/.test(saved.seq) && typeof saved.content === "string") return { seq: saved.seq, content: saved.content };
  } catch {
    // Unreadable: treated as below.
  }
  throw new Error(`${file} is not an ENR sequence file: delete it to start again from the next record`);
}

/**
 * The ENR with its sequence number: the saved one when the record says the same as last time,
 * else the saved one + 1, so that discovery peers replace the old record. Read-only (for
 * `mailserver-node key`); `publishedEnr` also saves.
 */
export async function sequencedEnr(privateKey: Uint8Array, config: ServerConfig, addresses: readonly string[]): Promise<{ enr: string; seq: bigint; changed: boolean } | undefined> {
  const content = recordContent(privateKey, config, addresses);
  if (content === undefined || config.discovery === undefined) return undefined;
  const saved = await readSaved(config.discovery.seqFile);
  const changed = saved?.content !== content;
  const seq = saved === undefined ? 1n : changed ? BigInt(saved.seq) + 1n : BigInt(saved.seq);
  return { enr: serverEnr(privateKey, config, addresses, seq)!, seq, changed };
}

/** `sequencedEnr`, with a new sequence number saved (a temporary file flushed, then renamed over the old one). */
export async function publishedEnr(privateKey: Uint8Array, config: ServerConfig, addresses: readonly string[]): Promise<{ enr: string; seq: bigint } | undefined> {
  const next = await sequencedEnr(privateKey, config, addresses);
  if (next === undefined || !next.changed) return next;
  const file = config.discovery!.seqFile;
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  const saved: SavedRecord = { seq: next.seq.toString(), content: recordContent(privateKey, config, addresses)! };
  await writeFile(temporary, `${JSON.stringify(saved)}\n`, { flush: true });
  await rename(temporary, file);
  return next;
}

/**
 * The addresses the node will announce, when they are known before it starts: `announce`, or else
 * the listen addresses if each names an IP (not 0.0.0.0 or ::) and a port (not 0). Otherwise the
 * node announces what it binds, known only once it runs (its `serving` log line).
 */
export function plannedAddresses(config: ServerConfig): string[] | undefined {
  if (config.announce !== undefined) return config.announce;
  const concrete = config.listen.every((a) => !/^\/ip[46]\/(0\.0\.0\.0|::)\//.test(a) && !/\/tcp\/0(\/|$)/.test(a));
  return concrete ? config.listen : undefined;
}
