// Assembles a running mail server from its configuration: archive, subscription index and gate,
// the libp2p node, discv5 with the node's Waku ENR. Used by the CLI and by tests.
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { multiaddr } from "@multiformats/multiaddr";
import { nodeIdFromPrivateKey, resolveDeployment } from "@status/mailserver-sdk";
import { startDiscv5Node, type Discv5Handle } from "@status/mailserver-sdk/discovery";
import { AccessGate, SubscriptionIndex } from "@status/mailserver-sdk/server";
import { logGateMode } from "./access.js";
import type { Archive } from "./archive/archive.js";
import { PostgresArchive } from "./archive/postgres.js";
import { SqliteArchive } from "./archive/sqlite.js";
import { ConfigError, type ServerConfig } from "./config.js";
import { publishedEnr } from "./enr.js";
import { readNodeKey } from "./keyFile.js";
import type { Logger } from "./log.js";
import { MailServerNode, type MailServerNodeOptions } from "./node.js";
import { startOfferHttp } from "./offerHttp.js";
import { StoreResume } from "./resume.js";
import { AnswerCounters, startMetricsServer, type MetricsServer, type MetricsSources } from "./metrics.js";
import { RpcMonitor, WatchedProvider } from "./rpc.js";
import type { DuplexStream } from "./streams.js";

export interface RunningServer {
  node: MailServerNode;
  archive: Archive;
  index: SubscriptionIndex | undefined;
  nodeId: string;
  /** The node's ENR (when discovery runs). */
  enr: string | undefined;
  discovery: Discv5Handle | undefined;
  /** Store Resume, when `resume.peers` names peers. */
  resume: StoreResume | undefined;
  /** Where the signed offer is served over HTTP (`offer.http`). */
  offerUrl: string | undefined;
  /** The metrics endpoint (when the config asks for one). */
  metrics: MetricsServer | undefined;
  /** The chain RPC's state (when the config names one). */
  rpc: RpcMonitor | undefined;
  stop(): Promise<void>;
}

async function openArchive(config: ServerConfig): Promise<Archive> {
  if (config.archive.backend === "sqlite") {
    if (config.archive.path !== ":memory:") await mkdir(path.dirname(config.archive.path), { recursive: true });
    try {
      return new SqliteArchive(config.archive.path);
    } catch (error) {
      throw new ConfigError(`cannot open the SQLite archive ${config.archive.path}: ${(error as Error).message}`);
    }
  }
  try {
    return await PostgresArchive.open(config.archive.url, { timeoutMs: config.archive.timeoutMs });
  } catch (error) {
    throw new ConfigError(`cannot open the PostgreSQL archive: ${(error as Error).message}`);
  }
}

const LOCAL_CHAIN_ID = 31337;

/** The RPC did not answer (down or hanging), as opposed to answering something wrong. */
class RpcUnreachableError extends ConfigError {}

/** Settles with `promise`, or rejects after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The RPC must serve the configured chain, and the escrow must be known there. */
async function checkChain(rpcUrl: string, config: ServerConfig, monitor: RpcMonitor): Promise<void> {
  if (config.escrow === undefined && resolveDeployment(config.chainId).escrow === undefined) {
    throw new ConfigError(`config: escrow is required on chain ${config.chainId}, where no deployment is known: set escrow (and startBlock) to the escrow contract's address (and deployment block)`);
  }
  // Told the configured chain, so that ethers sends eth_chainId as it is instead of checking it.
  const provider = new WatchedProvider(rpcUrl, config.chainId, config.rpcTimeoutMs, monitor);
  let actual: number;
  try {
    actual = Number(await within(provider.send("eth_chainId", []), config.rpcTimeoutMs, "eth_chainId"));
  } catch (error) {
    throw new RpcUnreachableError(`cannot read the chain id from rpcUrl: ${(error as Error).message.split("\n")[0]}`);
  } finally {
    provider.destroy();
  }
  if (actual !== config.chainId) {
    throw new ConfigError(`config: chainId is ${config.chainId} but rpcUrl serves chain ${actual}: set chainId to ${actual}, or point rpcUrl at chain ${config.chainId}`);
  }
}

/** The offer's terms: the operator's, and the chain's contracts as the node knows them. */
function offerTerms(config: ServerConfig, escrow: string | undefined): NonNullable<MailServerNodeOptions["offer"]> {
  const offer = config.offer!;
  const known = resolveDeployment(config.chainId);
  const registry = config.registry ?? known.registry;
  const token = offer.token ?? known.token;
  escrow ??= config.escrow ?? known.escrow;
  return {
    contact: offer.contact,
    chainId: config.chainId,
    ...(registry !== undefined ? { registry } : {}),
    ...(escrow !== undefined ? { escrow } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(offer.pricePerMonth !== undefined ? { pricePerMonth: offer.pricePerMonth } : {}),
    months: offer.months,
    refreshSeconds: offer.refreshSeconds,
  };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

export async function startServer(config: ServerConfig, baseLogger: Logger, options: { privateKey?: Uint8Array } = {}): Promise<RunningServer> {
  // Answers are counted from the services' log events, for the metrics.
  const answers = new AnswerCounters();
  const logger = answers.wrap(baseLogger);
  const privateKey = options.privateKey ?? (await readNodeKey(config.nodeKeyFile));
  const nodeId = nodeIdFromPrivateKey(privateKey);
  const rpc = new RpcMonitor(logger, config.rpcTimeoutMs);
  // Before anything is opened or created: a wrong chain must not leave files behind. An RPC that
  // does not answer is no reason to stay down when a saved index can serve meanwhile.
  let rpcUnreachable: RpcUnreachableError | undefined;
  if (config.rpcUrl !== undefined) {
    try {
      await checkChain(config.rpcUrl, config, rpc);
    } catch (error) {
      if (!(error instanceof RpcUnreachableError) || !(await exists(config.indexFile))) throw error;
      rpcUnreachable = error;
      logger.log("warn", "rpc-unavailable", { error: error.message, note: "starting from the saved index; the chain is checked and read again in the background" });
    }
  }
  const archive = await openArchive(config);
  const cleanup: (() => Promise<unknown>)[] = [() => archive.close()];
  const undo = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  try {
    let index: SubscriptionIndex | undefined;
    let gate: AccessGate | undefined;
    if (config.rpcUrl !== undefined) {
      const provider = new WatchedProvider(config.rpcUrl, config.chainId, config.rpcTimeoutMs, rpc, { pollingInterval: 1000 });
      cleanup.push(async () => {
        provider.destroy();
        rpc.stop();
      });
      const options = {
        provider,
        chainId: config.chainId,
        ...(config.escrow !== undefined ? { escrow: config.escrow } : {}),
        ...(config.startBlock !== undefined ? { startBlock: config.startBlock } : {}),
        confirmations: config.confirmations,
        nodeIds: [nodeId],
      };
      try {
        // SQLite: every synced range is committed with its cursor, so a crash loses nothing
        // and a restart continues where the last commit ended.
        index = await SubscriptionIndex.open(config.indexFile, options);
      } catch (error) {
        throw new ConfigError(`cannot load the subscription index: ${(error as Error).message}`);
      }
      logger.log("info", "index-loaded", { file: config.indexFile, lastBlock: index.lastBlock ?? null, entries: index.entries().length });
      // A purchase grants access only once the index has read it, `confirmations` blocks behind
      // the head: say so, since a local chain mines a block only per transaction.
      logger.log("info", "index-waits", {
        confirmations: config.confirmations,
        note:
          config.confirmations === 0
            ? "a purchase grants access as soon as its block is read"
            : `a purchase grants access once ${config.confirmations} more blocks are mined on top of it${config.chainId === LOCAL_CHAIN_ID ? "; a local chain mines only on transactions: set confirmations to 0" : ""}`,
      });
      const saved = index.lastBlock !== undefined;
      if (rpcUnreachable !== undefined && !saved) {
        throw new ConfigError(`${rpcUnreachable.message}; the saved index ${config.indexFile} holds nothing to serve from: start once the RPC answers`);
      }
      try {
        // With a saved index, start-up waits a bounded time: a node serving a slightly old index
        // beats a node that is down until the RPC comes back.
        const synced = await (saved ? within(index.sync(), config.indexStartTimeoutMs, "index sync") : index.sync());
        logger.log("info", "index-synced", { toBlock: synced.toBlock ?? index.lastBlock ?? null, events: synced.events, entries: index.entries().length });
      } catch (error) {
        if (!saved) throw new ConfigError(`cannot sync the subscription index from ${config.rpcUrl}: ${(error as Error).message.split("\n")[0]}`);
        logger.log("warn", "index-stale", { lastBlock: index.lastBlock ?? null, error: (error as Error).message.split("\n")[0], note: "serving from the saved index; syncing goes on in the background" });
      }
      const running = index;
      running.start(config.indexIntervalMs, (error) => logger.log("warn", "index-sync-failed", { error: error.message.split("\n")[0] }));
      // Stopping must not wait on a hung RPC call: the index is saved with every synced range.
      cleanup.push(async () => within(running.close(), config.rpcTimeoutMs, "closing the index").catch((error: Error) => logger.log("warn", "index-close-timeout", { error: error.message })));
      gate = new AccessGate({
        nodeId,
        chainId: config.chainId,
        escrow: running.escrow,
        index: running,
        onError: (error) => logger.log("warn", "gate-error", { error: error.message }),
        onModeChange: logGateMode(logger),
      });
    }

    const node = await MailServerNode.create({
      privateKey,
      listen: config.listen,
      ...(config.announce !== undefined ? { announce: config.announce } : {}),
      clusterId: config.clusterId,
      shards: config.shards,
      mode: config.mode,
      archive,
      ...(gate !== undefined ? { gate } : {}),
      storeLimits: config.store,
      pushLimits: { maxMessageBytes: config.maxMessageBytes },
      relay: { enabled: config.relay.enabled, peers: config.relay.peers, redialIntervalMs: config.relay.redialIntervalMs },
      admission: config.admission,
      nodeLimits: config.node,
      retention: config.retention,
      ...(config.offer !== undefined ? { offer: offerTerms(config, index?.escrow) } : {}),
      logger,
    });
    try {
      await node.start();
    } catch (error) {
      throw new ConfigError(`cannot listen on ${config.listen.join(", ")}: ${(error as Error).message}`);
    }
    cleanup.push(() => node.stop());

    let offerUrl: string | undefined;
    const offer = node.offer;
    if (config.offer?.http !== undefined && offer !== undefined) {
      const { host, port } = config.offer.http;
      let http;
      try {
        http = await startOfferHttp({ host, port, offer: () => offer.current(), logger });
      } catch (error) {
        throw new ConfigError(`cannot serve the offer over HTTP on ${host}:${port}: ${(error as Error).message}`);
      }
      cleanup.push(() => http.close());
      offerUrl = http.url;
    }

    let resume: StoreResume | undefined;
    if (config.resume.peers.length > 0) {
      const running = new StoreResume({
        dial: async (peer, protocol, { signal }) => (await node.libp2p.dialProtocol(multiaddr(peer), protocol, { signal })) as unknown as DuplexStream,
        archive,
        pubsubTopics: node.pubsubTopics,
        peers: config.resume.peers,
        lastOnlineFile: config.resume.lastOnlineFile,
        windowMs: config.resume.windowSeconds * 1000,
        maxMessageBytes: config.maxMessageBytes,
        logger,
      });
      // In the background: the node serves what it has while it fills the gap.
      running.start();
      cleanup.push(() => running.stop());
      resume = running;
    }

    let discovery: Discv5Handle | undefined;
    // A record that says something new gets the next sequence number, or discovery peers keep the old one.
    let published: { enr: string; seq: bigint } | undefined;
    try {
      published = await publishedEnr(privateKey, config, node.multiaddrs);
    } catch (error) {
      throw new ConfigError(`cannot keep the ENR's sequence number: ${(error as Error).message}`);
    }
    const enr = published?.enr;
    if (config.discovery !== undefined && enr !== undefined) {
      const d = config.discovery;
      discovery = await startDiscv5Node({ privateKey, enr, bindIp: d.bindIp ?? d.ip, port: d.udpPort, config: { enrUpdate: false } });
      const handle = discovery;
      const lookup = () => void handle.lookup().catch(() => undefined);
      // Get known to the boot nodes at once, then keep the routing table fresh.
      const timer = setInterval(lookup, 5 * 60_000);
      timer.unref();
      cleanup.push(async () => {
        clearInterval(timer);
        await handle.stop();
      });
      const boot = handle.addEnrs(d.bootEnrs);
      for (const bad of boot.invalid) logger.log("warn", "bad-boot-enr", { enr: bad.enr.slice(0, 60), error: bad.error });
      lookup();
      logger.log("info", "discovery-started", { enr, seq: published!.seq.toString(), udp: d.udpPort });
    }

    let metrics: MetricsServer | undefined;
    if (config.metrics !== undefined) {
      const sources: MetricsSources = { node, archive, retention: config.retention, answers, ...(index !== undefined ? { index, rpc } : {}), ...(gate !== undefined ? { gate } : {}) };
      try {
        metrics = await startMetricsServer(config.metrics.host, config.metrics.port, sources, logger);
      } catch (error) {
        throw new ConfigError(`cannot serve metrics on ${config.metrics.host}:${config.metrics.port}: ${(error as Error).message}`);
      }
      const running = metrics;
      cleanup.push(() => running.close());
      logger.log("info", "metrics-serving", { url: metrics.url });
    }

    logger.log("info", "serving", {
      nodeId,
      peerId: node.peerId,
      enr: enr ?? null,
      mode: config.mode,
      multiaddrs: node.multiaddrs,
      archive: config.archive.backend,
      chainId: config.chainId,
      escrow: index?.escrow ?? null,
      offerUrl: offerUrl ?? null,
    });
    let stopping: Promise<void> | undefined;
    return {
      node,
      archive,
      index,
      nodeId,
      enr,
      discovery,
      resume,
      offerUrl,
      rpc: config.rpcUrl !== undefined ? rpc : undefined,
      metrics,
      stop: () => (stopping ??= undo()),
    };
  } catch (error) {
    await undo();
    throw error;
  }
}
