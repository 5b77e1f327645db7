// The server's configuration: one JSON file, one typed object, validated field by field with
// one-line errors ("config: mode must be one of paid-only, free, freemium (got "paid")"). The field
// checks are exported for the probe's configuration (probe/config.ts), which reads the same way.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { DEFAULT_ADMISSION_LIMITS, type AdmissionLimits, type ServiceMode } from "./admission.js";
import type { RetentionPolicy } from "./archive/archive.js";
import { DEFAULT_PG_TIMEOUT_MS } from "./archive/postgres.js";
import type { LogLevel } from "./log.js";
import { DEFAULT_NODE_LIMITS, type NodeLimits } from "./node.js";
import { DEFAULT_STORE_LIMITS, type StoreLimits } from "./store.js";

/**
 * Retention by default: 30 days at most, 10 GiB at most, and within that a day that a flood of
 * others' messages cannot shorten (new messages are refused instead), and 1 GiB of disk left free.
 */
export const DEFAULT_RETENTION: Required<RetentionPolicy> = {
  maxAgeSeconds: 30 * 86_400,
  maxBytes: 10 * 1024 ** 3,
  minAgeSeconds: 86_400,
  minFreeDiskBytes: 1024 ** 3,
};

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export type ArchiveConfig =
  | { backend: "sqlite"; path: string }
  /** `timeoutMs`: deadline of every database call (a connection, each statement), default 5 s. */
  | { backend: "postgres"; url: string; timeoutMs: number };

export interface DiscoveryConfig {
  /** IP announced in the ENR (and bound unless `bindIp`). */
  ip: string;
  bindIp?: string;
  /** discv5 UDP port. */
  udpPort: number;
  bootEnrs: string[];
  /** Where the ENR's sequence number and the record it numbers are kept across restarts. */
  seqFile: string;
}

export interface RelayConfig {
  /** Run Waku Relay (default true): the node archives what the network carries on its shards. */
  enabled: boolean;
  /** Static relay peers, multiaddrs with `/p2p/<peer id>`, dialled at start and kept. */
  peers: string[];
  /** How often static peers that went away are dialled again, ms. */
  redialIntervalMs: number;
}

export interface ResumeConfig {
  /** Store nodes asked for what this node missed while offline (multiaddrs with `/p2p/`); empty: no resume. */
  peers: string[];
  /** Where the last-online time is kept. */
  lastOnlineFile: string;
  /** How far back a resume may reach, seconds (nwaku: 6 h). */
  windowSeconds: number;
}

export interface OfferConfig {
  /** Operator contact published in the offer (e-mail, URL, handle). */
  contact: string;
  /** Price per month in token base units, as set on the registry (the registry stays the source of truth). */
  pricePerMonth?: bigint;
  /** Token address (default: the chain's known deployment). */
  token?: string;
  /** Months sold in one purchase (default 1..12). */
  months: { min: number; max: number };
  /** How often the offer is signed again, seconds (default 1 h). */
  refreshSeconds: number;
  /** Also serve it at `http://<host>:<port>/offer` (off unless set). */
  http?: { host: string; port: number };
}

export interface ServerConfig {
  /** File holding the node key: 32 bytes hex (with or without 0x). */
  nodeKeyFile: string;
  listen: string[];
  announce?: string[];
  /** JSON-RPC endpoint of the chain the escrow lives on (not needed in `free` mode). */
  rpcUrl?: string;
  chainId: number;
  /** Default: the chain's known deployment. */
  registry?: string;
  escrow?: string;
  /** Block the index starts reading at (default: the known deployment's). */
  startBlock?: number;
  /** Blocks behind head the index waits for (default 6; 0 on the local chain 31337). */
  confirmations: number;
  /** How often the index reads new events, ms (default 12 s; 1 s on the local chain 31337). */
  indexIntervalMs: number;
  /** Where the index is saved so a restart continues where it stopped. */
  indexFile: string;
  /** Deadline of one chain RPC call, ms (default 10 s); a call waiting half of it is logged. */
  rpcTimeoutMs: number;
  /** How long start-up waits for the index to catch up when a saved index could serve, ms (default 30 s). */
  indexStartTimeoutMs: number;
  mode: ServiceMode;
  clusterId: number;
  shards: number[];
  archive: ArchiveConfig;
  retention: RetentionPolicy;
  store: StoreLimits;
  admission: AdmissionLimits;
  node: NodeLimits;
  maxMessageBytes: number;
  discovery?: DiscoveryConfig;
  /** Prometheus text endpoint (`GET /metrics`); off when absent. */
  metrics?: { host: string; port: number };
  relay: RelayConfig;
  resume: ResumeConfig;
  /** Serve a signed offer over `/status/mailserver/offer/1.0.0` (off unless set). */
  offer?: OfferConfig;
  logLevel: LogLevel;
}

const MODES: readonly ServiceMode[] = ["paid-only", "free", "freemium"];
const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const KNOWN = new Set([
  "nodeKeyFile", "listen", "announce", "rpcUrl", "chainId", "registry", "escrow", "startBlock", "confirmations", "indexIntervalMs",
  "indexFile", "rpcTimeoutMs", "indexStartTimeoutMs", "mode", "clusterId", "shards", "archive", "retention", "limits", "maxMessageBytes", "discovery", "relay", "resume", "offer", "logLevel", "metrics",
]);

/**
 * Reads a JSON config file and hands it to `parse` with the file's folder, against which relative
 * paths are taken; a missing or unreadable file, or one that is not JSON, is a one-line ConfigError.
 */
export async function readConfigFile<T>(file: string, parse: (raw: unknown, baseDir: string) => T): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not JSON: ${(error as Error).message}`);
  }
  return parse(raw, path.dirname(path.resolve(file)));
}

/** Reads and validates a config file; relative paths are taken from the file's folder. */
export async function loadConfig(file: string): Promise<ServerConfig> {
  return readConfigFile(file, parseConfig);
}

/** Validates a parsed config object. */
export function parseConfig(raw: unknown, baseDir: string): ServerConfig {
  const o = object(raw, "config");
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) fail(`unknown field ${key}`);
  const resolve = (p: string) => path.resolve(baseDir, p);
  const mode = oneOf(o.mode ?? "paid-only", MODES, "mode");
  const rpcUrl = o.rpcUrl === undefined ? undefined : url(o.rpcUrl, "rpcUrl");
  if (mode !== "free" && rpcUrl === undefined) fail(`rpcUrl is required in mode ${mode}`);
  const limits = object(o.limits ?? {}, "limits");
  const archive = object(o.archive ?? { backend: "sqlite", path: "archive.sqlite" }, "archive");
  const backend = oneOf(archive.backend, ["sqlite", "postgres"] as const, "archive.backend");
  for (const key of Object.keys(archive)) {
    if (!["backend", backend === "sqlite" ? "path" : "url", ...(backend === "postgres" ? ["timeoutMs"] : [])].includes(key)) fail(`unknown field archive.${key} for backend ${backend}`);
  }
  const retention = object(o.retention ?? {}, "retention");
  const relay = object(o.relay ?? {}, "relay");
  for (const key of Object.keys(relay)) if (!["enabled", "peers", "redialIntervalMs"].includes(key)) fail(`unknown field relay.${key}`);
  const resume = object(o.resume ?? {}, "resume");
  for (const key of Object.keys(resume)) if (!["peers", "lastOnlineFile", "windowSeconds"].includes(key)) fail(`unknown field resume.${key}`);
  const config: ServerConfig = {
    nodeKeyFile: resolve(string(o.nodeKeyFile, "nodeKeyFile")),
    listen: strings(o.listen ?? ["/ip4/0.0.0.0/tcp/60000", "/ip4/0.0.0.0/tcp/8000/ws"], "listen", true),
    ...(o.announce !== undefined ? { announce: strings(o.announce, "announce", false) } : {}),
    ...(rpcUrl !== undefined ? { rpcUrl } : {}),
    chainId: integer(o.chainId ?? 1, "chainId", 1),
    ...(o.registry !== undefined ? { registry: address(o.registry, "registry") } : {}),
    ...(o.escrow !== undefined ? { escrow: address(o.escrow, "escrow") } : {}),
    ...(o.startBlock !== undefined ? { startBlock: integer(o.startBlock, "startBlock", 0) } : {}),
    // A local chain (31337) mines a block only per transaction: waiting for blocks there would
    // keep a paying client out until someone else sends something.
    confirmations: integer(o.confirmations ?? (o.chainId === 31337 ? 0 : 6), "confirmations", 0),
    // And blocks come when a test sends a transaction, not every 12 s: read them soon after.
    indexIntervalMs: integer(o.indexIntervalMs ?? (o.chainId === 31337 ? 1_000 : 12_000), "indexIntervalMs", 50),
    indexFile: resolve(o.indexFile === undefined ? "index.sqlite" : string(o.indexFile, "indexFile")),
    rpcTimeoutMs: integer(o.rpcTimeoutMs ?? 10_000, "rpcTimeoutMs", 100),
    indexStartTimeoutMs: integer(o.indexStartTimeoutMs ?? 30_000, "indexStartTimeoutMs", 100),
    mode,
    clusterId: integer(o.clusterId ?? 1, "clusterId", 0, 65535),
    shards: integers(o.shards ?? [0, 1, 2, 3, 4, 5, 6, 7], "shards", 0, 1023),
    archive:
      backend === "sqlite"
        ? { backend, path: archive.path === ":memory:" ? ":memory:" : resolve(string(archive.path ?? "archive.sqlite", "archive.path")) }
        : { backend, url: postgresUrl(archive.url, "archive.url"), timeoutMs: integer(archive.timeoutMs ?? DEFAULT_PG_TIMEOUT_MS, "archive.timeoutMs", 100, 600_000) },
    retention: {
      maxAgeSeconds: integer(retention.maxAgeSeconds ?? DEFAULT_RETENTION.maxAgeSeconds, "retention.maxAgeSeconds", 0),
      maxBytes: integer(retention.maxBytes ?? DEFAULT_RETENTION.maxBytes, "retention.maxBytes", 0),
      minAgeSeconds: integer(retention.minAgeSeconds ?? DEFAULT_RETENTION.minAgeSeconds, "retention.minAgeSeconds", 0),
      minFreeDiskBytes: integer(retention.minFreeDiskBytes ?? DEFAULT_RETENTION.minFreeDiskBytes, "retention.minFreeDiskBytes", 0),
    },
    store: {
      defaultPageSize: integer(limits.defaultPageSize ?? DEFAULT_STORE_LIMITS.defaultPageSize, "limits.defaultPageSize", 1, 1000),
      maxPageSize: integer(limits.maxPageSize ?? DEFAULT_STORE_LIMITS.maxPageSize, "limits.maxPageSize", 1, 1000),
      maxContentTopics: integer(limits.maxContentTopics ?? DEFAULT_STORE_LIMITS.maxContentTopics, "limits.maxContentTopics", 1, 100),
      maxMessageHashes: integer(limits.maxMessageHashes ?? DEFAULT_STORE_LIMITS.maxMessageHashes, "limits.maxMessageHashes", 1, 1000),
      // Under the 4 MiB a libp2p length-prefixed reader accepts; at least one largest message.
      maxResponseBytes: integer(limits.maxResponseBytes ?? DEFAULT_STORE_LIMITS.maxResponseBytes, "limits.maxResponseBytes", 64 * 1024, 4 * 1024 * 1024 - 64 * 1024),
    },
    admission: {
      freeQueriesPerMinute: integer(limits.freeQueriesPerMinute ?? DEFAULT_ADMISSION_LIMITS.freeQueriesPerMinute, "limits.freeQueriesPerMinute", 0),
      freeBurst: integer(limits.freeBurst ?? DEFAULT_ADMISSION_LIMITS.freeBurst, "limits.freeBurst", 0),
      maxFreePeers: integer(limits.maxFreePeers ?? DEFAULT_ADMISSION_LIMITS.maxFreePeers, "limits.maxFreePeers", 1),
      maxConcurrent: integer(limits.maxConcurrent ?? DEFAULT_ADMISSION_LIMITS.maxConcurrent, "limits.maxConcurrent", 1),
      maxConcurrentFree: integer(limits.maxConcurrentFree ?? DEFAULT_ADMISSION_LIMITS.maxConcurrentFree, "limits.maxConcurrentFree", 0),
      maxFreeQueue: integer(limits.maxFreeQueue ?? DEFAULT_ADMISSION_LIMITS.maxFreeQueue, "limits.maxFreeQueue", 0),
      freeQueueTimeoutMs: integer(limits.freeQueueTimeoutMs ?? DEFAULT_ADMISSION_LIMITS.freeQueueTimeoutMs, "limits.freeQueueTimeoutMs", 0, 60_000),
      maxPaidQueue: integer(limits.maxPaidQueue ?? DEFAULT_ADMISSION_LIMITS.maxPaidQueue, "limits.maxPaidQueue", 0),
      freeQueriesPerSecond: integer(limits.freeQueriesPerSecond ?? DEFAULT_ADMISSION_LIMITS.freeQueriesPerSecond, "limits.freeQueriesPerSecond", 0),
      maxEventLoopDelayMs: integer(limits.maxEventLoopDelayMs ?? DEFAULT_ADMISSION_LIMITS.maxEventLoopDelayMs, "limits.maxEventLoopDelayMs", 1),
      maxFreeStreamsPerPeer: integer(limits.maxFreeStreamsPerPeer ?? DEFAULT_ADMISSION_LIMITS.maxFreeStreamsPerPeer, "limits.maxFreeStreamsPerPeer", 0),
      maxFreeStreams: integer(limits.maxFreeStreams ?? DEFAULT_ADMISSION_LIMITS.maxFreeStreams, "limits.maxFreeStreams", 0),
    },
    node: {
      maxStoreRequestBytes: integer(limits.maxStoreRequestBytes ?? DEFAULT_NODE_LIMITS.maxStoreRequestBytes, "limits.maxStoreRequestBytes", 64),
      requestTimeoutMs: integer(limits.requestTimeoutMs ?? DEFAULT_NODE_LIMITS.requestTimeoutMs, "limits.requestTimeoutMs", 10),
      maxStreamsPerProtocol: integer(limits.maxStreamsPerProtocol ?? DEFAULT_NODE_LIMITS.maxStreamsPerProtocol, "limits.maxStreamsPerProtocol", 1),
      writeTimeoutMs: integer(limits.writeTimeoutMs ?? DEFAULT_NODE_LIMITS.writeTimeoutMs, "limits.writeTimeoutMs", 100),
      maxConnections: integer(limits.maxConnections ?? DEFAULT_NODE_LIMITS.maxConnections, "limits.maxConnections", 1),
      maxPendingConnections: integer(limits.maxPendingConnections ?? DEFAULT_NODE_LIMITS.maxPendingConnections, "limits.maxPendingConnections", 1),
      maxPendingPerAddress: integer(limits.maxPendingPerAddress ?? DEFAULT_NODE_LIMITS.maxPendingPerAddress, "limits.maxPendingPerAddress", 1),
      handshakeTimeoutMs: integer(limits.handshakeTimeoutMs ?? DEFAULT_NODE_LIMITS.handshakeTimeoutMs, "limits.handshakeTimeoutMs", 100),
      // By default a fifth of the connections stays for paying and relay peers.
      maxFreeConnections: integer(limits.maxFreeConnections ?? Math.floor((Number.isSafeInteger(limits.maxConnections) ? (limits.maxConnections as number) : DEFAULT_NODE_LIMITS.maxConnections) * 0.8), "limits.maxFreeConnections", 0),
      freeIdleMs: integer(limits.freeIdleMs ?? DEFAULT_NODE_LIMITS.freeIdleMs, "limits.freeIdleMs", 1000),
      connectionGraceMs: integer(limits.connectionGraceMs ?? DEFAULT_NODE_LIMITS.connectionGraceMs, "limits.connectionGraceMs", 100),
      freeChunksPerTurn: integer(limits.freeChunksPerTurn ?? DEFAULT_NODE_LIMITS.freeChunksPerTurn, "limits.freeChunksPerTurn", 1),
      paidQuietMs: integer(limits.paidQuietMs ?? DEFAULT_NODE_LIMITS.paidQuietMs, "limits.paidQuietMs", 0),
      maxFreeWaitMs: integer(limits.maxFreeWaitMs ?? DEFAULT_NODE_LIMITS.maxFreeWaitMs, "limits.maxFreeWaitMs", 1),
      newcomerChunks: integer(limits.newcomerChunks ?? DEFAULT_NODE_LIMITS.newcomerChunks, "limits.newcomerChunks", 0),
    },
    maxMessageBytes: integer(o.maxMessageBytes ?? 150 * 1024, "maxMessageBytes", 64, 16 * 1024 * 1024),
    relay: {
      enabled: boolean(relay.enabled ?? true, "relay.enabled"),
      peers: peerAddresses(relay.peers ?? [], "relay.peers"),
      redialIntervalMs: integer(relay.redialIntervalMs ?? 10_000, "relay.redialIntervalMs", 1000),
    },
    resume: {
      peers: peerAddresses(resume.peers ?? [], "resume.peers"),
      lastOnlineFile: resolve(resume.lastOnlineFile === undefined ? "last-online.json" : string(resume.lastOnlineFile, "resume.lastOnlineFile")),
      windowSeconds: integer(resume.windowSeconds ?? 6 * 3600, "resume.windowSeconds", 60, 7 * 86_400),
    },
    logLevel: oneOf(o.logLevel ?? "info", LEVELS, "logLevel"),
  };
  for (const key of Object.keys(retention)) if (!(key in config.retention)) fail(`unknown field retention.${key}`);
  if (config.retention.maxAgeSeconds > 0 && config.retention.minAgeSeconds! > config.retention.maxAgeSeconds) {
    fail("retention.minAgeSeconds must not exceed retention.maxAgeSeconds");
  }
  for (const key of Object.keys(limits)) {
    if (!(key in config.store) && !(key in config.admission) && !(key in config.node)) fail(`unknown field limits.${key}`);
  }
  if (config.store.defaultPageSize > config.store.maxPageSize) fail("limits.defaultPageSize must not exceed limits.maxPageSize");
  if (config.node.maxFreeConnections > config.node.maxConnections) fail("limits.maxFreeConnections must not exceed limits.maxConnections");
  if (o.offer !== undefined) config.offer = offerConfig(o.offer);
  if (o.metrics !== undefined) {
    const m = object(o.metrics, "metrics");
    config.metrics = { host: string(m.host ?? "127.0.0.1", "metrics.host"), port: integer(m.port, "metrics.port", 0, 65535) };
  }
  if (o.discovery !== undefined) {
    const d = object(o.discovery, "discovery");
    config.discovery = {
      ip: string(d.ip, "discovery.ip"),
      ...(d.bindIp !== undefined ? { bindIp: string(d.bindIp, "discovery.bindIp") } : {}),
      udpPort: integer(d.udpPort, "discovery.udpPort", 0, 65535),
      bootEnrs: strings(d.bootEnrs ?? [], "discovery.bootEnrs", false),
      seqFile: resolve(d.seqFile === undefined ? "enr-seq.json" : string(d.seqFile, "discovery.seqFile")),
    };
  }
  return config;
}

function offerConfig(value: unknown): OfferConfig {
  const offer = object(value, "offer");
  for (const key of Object.keys(offer)) if (!["contact", "pricePerMonth", "token", "months", "refreshSeconds", "http"].includes(key)) fail(`unknown field offer.${key}`);
  const contact = string(offer.contact, "offer.contact");
  if (contact.length > 256) fail("offer.contact must be at most 256 characters");
  if (offer.pricePerMonth !== undefined && (typeof offer.pricePerMonth !== "string" || !/^(0|[1-9][0-9]{0,77})$/.test(offer.pricePerMonth))) {
    fail(`offer.pricePerMonth must be a decimal string of token base units, e.g. "1000000000000000000" (got ${shown(offer.pricePerMonth)})`);
  }
  const months = object(offer.months ?? { min: 1, max: 12 }, "offer.months");
  const min = integer(months.min ?? 1, "offer.months.min", 1);
  const max = integer(months.max ?? 12, "offer.months.max", min);
  return {
    contact,
    ...(offer.pricePerMonth !== undefined ? { pricePerMonth: BigInt(offer.pricePerMonth as string) } : {}),
    ...(offer.token !== undefined ? { token: address(offer.token, "offer.token") } : {}),
    months: { min, max },
    refreshSeconds: integer(offer.refreshSeconds ?? 3600, "offer.refreshSeconds", 60),
    ...(offer.http !== undefined ? { http: offerHttp(offer.http) } : {}),
  };
}

function offerHttp(value: unknown): { host: string; port: number } {
  const http = object(value, "offer.http");
  for (const key of Object.keys(http)) if (!["host", "port"].includes(key)) fail(`unknown field offer.http.${key}`);
  return { host: string(http.host ?? "0.0.0.0", "offer.http.host"), port: integer(http.port, "offer.http.port", 0, 65535) };
}

export function fail(message: string): never {
  throw new ConfigError(`config: ${message}`);
}

export const shown = (value: unknown) => (typeof value === "string" ? JSON.stringify(value) : String(JSON.stringify(value) ?? value)).slice(0, 80);

export function object(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`${name} must be an object (got ${shown(value)})`);
  return value as Record<string, unknown>;
}

export function string(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") fail(`${name} must be a non-empty string (got ${shown(value)})`);
  return value;
}

export function strings(value: unknown, name: string, nonEmpty: boolean): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v === "")) fail(`${name} must be a list of strings (got ${shown(value)})`);
  if (nonEmpty && value.length === 0) fail(`${name} must not be empty`);
  return value as string[];
}

export function boolean(value: unknown, name: string): boolean {
  if (typeof value !== "boolean") fail(`${name} must be true or false (got ${shown(value)})`);
  return value;
}

/** Multiaddrs of peers: each must name the peer (`/p2p/<peer id>`), or it could not be verified. */
export function peerAddresses(value: unknown, name: string): string[] {
  const list = strings(value, name, false);
  for (const [i, address] of list.entries()) {
    if (!/^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d+(\/(ws|wss|tls\/ws))?\/p2p\/\w+$/.test(address)) {
      fail(`${name}[${i}] must be a multiaddr ending in /p2p/<peer id>, e.g. /ip4/203.0.113.2/tcp/60000/p2p/16Uiu2... (got ${shown(address)})`);
    }
  }
  return list;
}

export function integer(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(`${name} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? "" : ` to ${max}`} (got ${shown(value)})`);
  }
  return value;
}

export function integers(value: unknown, name: string, min: number, max: number): number[] {
  if (!Array.isArray(value) || value.length === 0) fail(`${name} must be a non-empty list of integers (got ${shown(value)})`);
  return value.map((v, i) => integer(v, `${name}[${i}]`, min, max));
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string): T {
  if (!allowed.includes(value as T)) fail(`${name} must be one of ${allowed.join(", ")} (got ${shown(value)})`);
  return value as T;
}

export function address(value: unknown, name: string): string {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value)) fail(`${name} must be an address (got ${shown(value)})`);
  return value;
}

export function url(value: unknown, name: string): string {
  const text = string(value, name);
  try {
    const parsed = new URL(text);
    if (!["http:", "https:", "ws:", "wss:"].includes(parsed.protocol)) throw new Error();
  } catch {
    fail(`${name} must be an http(s) or ws(s) URL (got ${shown(value)})`);
  }
  return text;
}

function postgresUrl(value: unknown, name: string): string {
  const text = string(value, name);
  if (!/^postgres(ql)?:\/\//.test(text)) fail(`${name} must be a postgres:// URL (got ${shown(value)})`);
  return text;
}
