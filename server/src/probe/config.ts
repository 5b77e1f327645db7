// The probe's configuration: one JSON file, one typed object, checked field by field with the
// server's one-line errors (config.ts).
import path from "node:path";
import { address, fail, integer, integers, object, oneOf, peerAddresses, readConfigFile, string, strings, url } from "../config.js";
import type { LogLevel } from "../log.js";

/** A node to measure when the probe is given a list instead of the registry (tests, private fleets). */
export interface ProbeTargetConfig {
  /** Registry node id (32 bytes hex): the dialled peer's key must be this node's. */
  nodeId: string;
  /** Multiaddrs to dial (with or without `/p2p/`). */
  addresses: string[];
}

export interface ProbeConfig {
  /** The probe's node key (32 bytes hex): its registry identity as a node of kind `probe`; it signs the reports. */
  nodeKeyFile: string;
  chainId: number;
  /** The registry whose trusted mail servers are measured, and that reports name. */
  registry: string;
  /** JSON-RPC of the registry's chain; required unless `nodes` lists the nodes. */
  rpcUrl?: string;
  rpcTimeoutMs: number;
  /** Measure these instead of the registry's trusted mail servers. */
  nodes?: ProbeTargetConfig[];
  /** The network markers and reports are published on. */
  clusterId: number;
  shards: number[];
  /** Shard reports are published on (default: the first of `shards`). */
  reportShard: number;
  /** Relay nodes markers and reports are pushed to by lightpush (multiaddrs with `/p2p/`), tried in order. */
  publishPeers: string[];
  /** Time between the starts of two rounds, seconds (default 300). */
  intervalSeconds: number;
  /** How long a node has to get a marker from the network before it counts as missing, ms (default 20 s). */
  graceMs: number;
  /** How often a node is asked for markers it does not have yet during the grace period, ms (default 2 s). */
  pollIntervalMs: number;
  /** Deadline of one dial + metadata attempt, ms (default 5 s), and how many attempts (default 3), how far apart (1 s). */
  dialTimeoutMs: number;
  attempts: number;
  retryDelayMs: number;
  /** Deadline of one store query, offer fetch or push, ms (default 5 s). */
  queryTimeoutMs: number;
  /** Store queries timed per node per round (default 5). */
  latencySamples: number;
  /** Nodes measured at once (default 8). */
  concurrency: number;
  /** Older markers checked per node per round for retention (default 100). */
  retentionChecks: number;
  /** Markers remembered for retention checks (default 10,000; the oldest go first). */
  maxMarkers: number;
  /** Where markers are kept across restarts (JSON, written atomically); retention history needs it. */
  stateFile?: string;
  /**
   * A client key (32 bytes hex, a file) holding subscriptions to the nodes that sell access: the
   * probe presents grants signed by it, so paid-only nodes can be measured (off unless set).
   */
  access?: { clientKeyFile: string };
  /** Serve the latest signed reports at `http://<host>:<port>/reports` (off unless set). */
  http?: { host: string; port: number; keep: number };
  logLevel: LogLevel;
}

const KNOWN = [
  "nodeKeyFile", "chainId", "registry", "rpcUrl", "rpcTimeoutMs", "nodes", "clusterId", "shards", "reportShard", "publishPeers", "intervalSeconds", "graceMs",
  "pollIntervalMs", "dialTimeoutMs", "attempts", "retryDelayMs", "queryTimeoutMs", "latencySamples", "concurrency", "retentionChecks", "maxMarkers", "stateFile", "access", "http", "logLevel",
];

export async function loadProbeConfig(file: string): Promise<ProbeConfig> {
  return readConfigFile(file, parseProbeConfig);
}

export function parseProbeConfig(raw: unknown, baseDir: string): ProbeConfig {
  const o = object(raw, "config");
  for (const key of Object.keys(o)) if (!KNOWN.includes(key)) fail(`unknown field ${key}`);
  const resolve = (p: string) => path.resolve(baseDir, p);
  const nodes = o.nodes === undefined ? undefined : targets(o.nodes);
  if (o.rpcUrl === undefined && nodes === undefined) fail("rpcUrl is required to read the registry's mail servers (or list them in nodes)");
  const shards = integers(o.shards ?? [0, 1, 2, 3, 4, 5, 6, 7], "shards", 0, 1023);
  const config: ProbeConfig = {
    nodeKeyFile: resolve(string(o.nodeKeyFile, "nodeKeyFile")),
    chainId: integer(o.chainId ?? 1, "chainId", 1),
    registry: address(o.registry, "registry"),
    ...(o.rpcUrl !== undefined ? { rpcUrl: url(o.rpcUrl, "rpcUrl") } : {}),
    rpcTimeoutMs: integer(o.rpcTimeoutMs ?? 10_000, "rpcTimeoutMs", 100),
    ...(nodes !== undefined ? { nodes } : {}),
    clusterId: integer(o.clusterId ?? 1, "clusterId", 0, 65535),
    shards,
    reportShard: integer(o.reportShard ?? shards[0], "reportShard", 0, 1023),
    publishPeers: peerAddresses(o.publishPeers ?? [], "publishPeers"),
    intervalSeconds: integer(o.intervalSeconds ?? 300, "intervalSeconds", 1),
    graceMs: integer(o.graceMs ?? 20_000, "graceMs", 0),
    pollIntervalMs: integer(o.pollIntervalMs ?? 2_000, "pollIntervalMs", 50),
    dialTimeoutMs: integer(o.dialTimeoutMs ?? 5_000, "dialTimeoutMs", 100),
    attempts: integer(o.attempts ?? 3, "attempts", 1, 10),
    retryDelayMs: integer(o.retryDelayMs ?? 1_000, "retryDelayMs", 0),
    queryTimeoutMs: integer(o.queryTimeoutMs ?? 5_000, "queryTimeoutMs", 100),
    latencySamples: integer(o.latencySamples ?? 5, "latencySamples", 1, 100),
    concurrency: integer(o.concurrency ?? 8, "concurrency", 1, 256),
    retentionChecks: integer(o.retentionChecks ?? 100, "retentionChecks", 0, 10_000),
    maxMarkers: integer(o.maxMarkers ?? 10_000, "maxMarkers", 1, 1_000_000),
    ...(o.stateFile !== undefined ? { stateFile: resolve(string(o.stateFile, "stateFile")) } : {}),
    logLevel: oneOf(o.logLevel ?? "info", ["debug", "info", "warn", "error"] as const, "logLevel"),
  };
  if (!config.shards.includes(config.reportShard)) fail(`reportShard ${config.reportShard} must be one of shards (${config.shards.join(", ")})`);
  if (config.publishPeers.length === 0) fail("publishPeers must name at least one relay node (multiaddr with /p2p/) to push markers and reports to");
  const rounds = config.graceMs + config.attempts * (config.dialTimeoutMs + config.retryDelayMs);
  if (rounds >= config.intervalSeconds * 1000) fail(`intervalSeconds must leave room for a round: graceMs plus attempts × (dialTimeoutMs + retryDelayMs) is ${rounds} ms`);
  if (o.access !== undefined) {
    const a = object(o.access, "access");
    for (const key of Object.keys(a)) if (key !== "clientKeyFile") fail(`unknown field access.${key}`);
    config.access = { clientKeyFile: resolve(string(a.clientKeyFile, "access.clientKeyFile")) };
  }
  if (o.http !== undefined) {
    const h = object(o.http, "http");
    for (const key of Object.keys(h)) if (!["host", "port", "keep"].includes(key)) fail(`unknown field http.${key}`);
    config.http = { host: string(h.host ?? "127.0.0.1", "http.host"), port: integer(h.port, "http.port", 0, 65535), keep: integer(h.keep ?? 100, "http.keep", 1, 1000) };
  }
  return config;
}

function targets(value: unknown): ProbeTargetConfig[] {
  if (!Array.isArray(value)) fail("nodes must be a list of { nodeId, addresses }");
  return value.map((entry, i) => {
    const n = object(entry, `nodes[${i}]`);
    for (const key of Object.keys(n)) if (!["nodeId", "addresses"].includes(key)) fail(`unknown field nodes[${i}].${key}`);
    const nodeId = string(n.nodeId, `nodes[${i}].nodeId`);
    if (!/^0x[0-9a-fA-F]{64}$/.test(nodeId)) fail(`nodes[${i}].nodeId must be 32 bytes hex`);
    return { nodeId: nodeId.toLowerCase(), addresses: strings(n.addresses, `nodes[${i}].addresses`, true) };
  });
}
